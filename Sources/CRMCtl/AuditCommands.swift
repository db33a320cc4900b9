import ArgumentParser
import CRMEventStore
import CRMJSON
import Foundation

extension CRMCtl.Audit {
    /// `crmctl audit verify`: the hash chain and the signed checkpoints, through crmd or offline on an
    /// export.
    struct Verify: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recompute the hash chain and check the signed checkpoints (audit.verify).",
            discussion: """
                Prints a summary; with --json the report as JSON: ok, checked, from, to, hash (the chain's hash at \
                `to`), head_position, head_hash, and when the chain is broken broken_at (the altered \
                record), expected_hash and found_hash. With --read-models, read_models tells for each \
                read model whether it equals a fresh fold of the log, and names its first difference. `signatures` tells how the signed checkpoints in \
                the range fared: last_signed_position is the last position a good signature covers, \
                unsigned_after how many events follow it, first_bad the first checkpoint that does not \
                match (the log was changed up to it, or the checkpoint was forged). A long log is checked \
                in chunks of 100,000 events with progress on stderr (when it is a terminal). Exit status \
                3 when the chain is broken or a checkpoint fails.

                With --input, crmd is not needed: the export written by `crmctl export` is checked on \
                its own, against --public-key (the signing key's .pub file, which crmd writes beside the \
                key), which is required then.

                Examples:
                  crmctl audit verify
                  crmctl audit verify --public-key /var/lib/crmd-keys/signing.key.pub
                  crmctl audit verify --input log.ndjson --public-key signing.key.pub
                """
        )

        @Option(help: ArgumentHelp("First seq to check (default: the first event).", valueName: "seq"))
        var from: Int?

        @Option(help: ArgumentHelp("Last seq to check (default: the head).", valueName: "seq"))
        var to: Int?

        @Option(
            name: .customLong("public-key"),
            help: ArgumentHelp("Check checkpoints against this public key file (default: crmd's own key).", valueName: "file")
        )
        var publicKey: String?

        @Option(help: ArgumentHelp("Check this export offline instead of asking crmd (- for stdin).", valueName: "file"))
        var input: String?

        @Flag(name: .customLong("read-models"), help: "Also compare every read model with a fresh fold of the log.")
        var readModels = false

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "audit.verify" }

        func validate() throws {
            if let from = self.from, from < 1 { throw ValidationError("--from must be ≥ 1") }
            if let to = self.to, to < 1 { throw ValidationError("--to must be ≥ 1") }
            if let from = self.from, let to = self.to, to < from {
                throw ValidationError("--to (\(to)) must not be before --from (\(from))")
            }
            if self.input != nil, self.publicKey == nil {
                throw ValidationError("--input needs --public-key: an export is checked against the signing key")
            }
            if self.input != nil, self.from != nil || self.to != nil || self.readModels {
                throw ValidationError("--from, --to and --read-models apply to crmd's log; an export is checked whole")
            }
        }

        func params() throws -> JSON? {
            var params: [String: JSON] = [:]
            if let value = self.from { params["from"] = .int(value) }
            if let value = self.to { params["to"] = .int(value) }
            return .object(params)
        }

        func render(_ result: JSON) -> String { Verify.summary(result) }

        /// The report as labelled lines: the chain, the signatures and (when asked) the read models.
        static func summary(_ report: JSON) -> String {
            func number(_ value: JSON?) -> Int64 { value?.intValue ?? 0 }
            func short(_ value: JSON?) -> String { value?.stringValue.map { String($0.prefix(16)) + "…" } ?? "-" }
            func count(_ value: JSON?, _ noun: String) -> String {
                let n = number(value)
                return "\(n) \(noun)\(n == 1 ? "" : "s")"
            }
            var rows: [(String, [String])] = []
            let range = "\(number(report["from"]))–\(number(report["to"]))"
            if let broken = report["broken_at"]?.intValue {
                rows.append((
                    "chain",
                    [
                        "BROKEN at position \(broken): the record there was altered",
                        "\(count(report["checked"], "event")) checked before it (\(range))",
                        "expected hash \(Output.plain(report["expected_hash"]))",
                        "found hash    \(Output.plain(report["found_hash"]))",
                    ]
                ))
            } else {
                rows.append(("chain", ["ok, \(count(report["checked"], "event")) checked (\(range))"]))
                rows.append(("hash at \(number(report["to"]))", [Output.plain(report["hash"])]))
            }
            rows.append(("head", ["\(number(report["head_position"])) \(Output.plain(report["head_hash"]))"]))
            if let signatures = report["signatures"], signatures != .null {
                let last = number(signatures["last_signed_position"])
                let unsigned = number(signatures["unsigned_after"])
                var lines: [String] = []
                if let bad = signatures["first_bad"], bad != .null {
                    lines.append("BAD at position \(number(bad["position"])): \(Output.plain(bad["problem"]))")
                } else {
                    lines.append("ok, \(count(signatures["checked"], "checkpoint")) checked")
                }
                var covered = "last signed position \(last)"
                if let at = signatures["last_signed_at"]?.stringValue { covered += " (\(at))" }
                if unsigned > 0 { covered += ", \(count(signatures["unsigned_after"], "event")) after it not signed yet" }
                lines.append(covered)
                lines.append("key \(short(signatures["public_key"]))")
                for (key, count) in (signatures["other_keys"]?.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
                    lines.append("\(Output.plain(count)) checkpoints by another key \(key.prefix(16))…, not checked")
                }
                rows.append(("signatures", lines))
            } else {
                rows.append(("signatures", ["none checked (crmd signs nothing; pass --public-key)"]))
            }
            if let models = report["read_models"], models != .null {
                for model in models["projections"]?.arrayValue ?? [] {
                    let name = Output.plain(model["name"])
                    if model["checked"] != .bool(true) {
                        rows.append(("read model \(name)", ["not checked (rebuilding, failed or behind)"]))
                    } else if model["equal"] == .bool(true) {
                        rows.append(("read model \(name)", ["equals a fresh fold of the log"]))
                    } else {
                        let difference = model["first_difference"] ?? .null
                        rows.append((
                            "read model \(name)",
                            ["DIFFERS at table \(Output.plain(difference["table"])), key \(Output.plain(difference["key"])): "
                                + Output.plain(difference["problem"])]
                        ))
                    }
                }
            }
            rows.append(("result", [report["ok"] == .bool(true) ? "ok" : "FAILED"]))
            return Output.labelled(rows).joined(separator: "\n")
        }

        /// The text of the public key file, or exit 1 with the reason.
        func publicKeyText() throws -> String? {
            guard let path = self.publicKey else { return nil }
            do {
                let text = try String(contentsOfFile: path, encoding: .utf8)
                guard signingPublicKey(text: text) != nil else {
                    Output.printError(["crmctl: \(path) does not hold an Ed25519 public key (crmd-ed25519 <64 hex digits>)"])
                    throw ExitCode(1)
                }
                return text
            } catch let error as ExitCode {
                throw error
            } catch {
                Output.printError(["crmctl: cannot read \(path): \(error.localizedDescription)"])
                throw ExitCode(1)
            }
        }

        mutating func run() throws {
            let keyText = try self.publicKeyText()
            let report = try self.input.map { try self.verifyExport($0, keyText: keyText ?? "") }
                ?? self.verifyThroughCrmd(keyText: keyText)
            print(self.global.json ? report.serializedString() : self.render(report))
            if report["ok"] != .bool(true) { throw ExitCode(3) }
        }

        /// Checks an export file offline.
        func verifyExport(_ path: String, keyText: String) throws -> JSON {
            guard let key = signingPublicKey(text: keyText) else { throw ExitCode(1) }
            let handle: FileHandle
            if path == "-" {
                handle = FileHandle.standardInput
            } else {
                guard let file = FileHandle(forReadingAtPath: path) else {
                    Output.printError(["crmctl: cannot read \(path): \(String(cString: strerror(errno)))"])
                    throw ExitCode(1)
                }
                handle = file
            }
            var verifier = ExportVerifier(trustedKey: key)
            var lines = LineReader(handle: handle)
            var number = 0
            do {
                while let line = try lines.next() {
                    number += 1
                    if let parsed = try ExportedLog.parse(line, number: number) { verifier.add(parsed) }
                }
            } catch {
                Output.printError(["crmctl: \(path): \(error)"])
                throw ExitCode(1)
            }
            return verifier.report()
        }

        /// Verifies through crmd in chunks, so a long log shows progress, and combines the reports.
        func verifyThroughCrmd(keyText: String?) throws -> JSON {
            let call = self.callOrExit
            let head = try call("system.stats", nil)["head"]?["position"]?.intValue ?? 0
            let first = Int64(self.from ?? 1)
            let last = max(min(self.to.map(Int64.init) ?? head, head), first)
            let chunk: Int64 = 100_000
            let showProgress = isatty(STDERR_FILENO) != 0 && last - first >= chunk
            func verify(_ from: Int64) throws -> JSON {
                let to = min(from + chunk - 1, last)
                var params: [String: JSON] = ["from": .int(from), "to": .int(to)]
                if let keyText { params["public_key"] = .string(keyText) }
                // The read models are compared once, at the head, with the last chunk.
                if self.readModels, to == last { params["read_models"] = true }
                return try call("audit.verify", .object(params))
            }
            var report = try verify(first)
            var combined = report
            var position = first + chunk
            while report["ok"] == .bool(true), position <= last {
                if showProgress {
                    FileHandle.standardError.write(Data("\rverified \(position - 1) of \(last)".utf8))
                }
                report = try verify(position)
                combined = Verify.combine(combined, report)
                position += chunk
            }
            if showProgress { FileHandle.standardError.write(Data("\n".utf8)) }
            return combined
        }

        /// The report of two consecutive ranges: counts add up, the later range's end and outcome win,
        /// and the last signed position is the later one's unless it has none.
        static func combine(_ earlier: JSON, _ later: JSON) -> JSON {
            var result = later
            result["from"] = earlier["from"]
            result["checked"] = .int((earlier["checked"]?.intValue ?? 0) + (later["checked"]?.intValue ?? 0))
            if var signatures = later["signatures"], let before = earlier["signatures"], signatures != .null {
                signatures["checked"] = .int(
                    (before["checked"]?.intValue ?? 0) + (signatures["checked"]?.intValue ?? 0)
                )
                if signatures["last_signed_position"] == .int(0) {
                    signatures["last_signed_position"] = before["last_signed_position"]
                    signatures["last_signed_at"] = before["last_signed_at"]
                    let to = later["to"]?.intValue ?? 0
                    signatures["unsigned_after"] = .int(to - (before["last_signed_position"]?.intValue ?? 0))
                }
                var keys = before["other_keys"]?.objectValue ?? [:]
                for (key, count) in signatures["other_keys"]?.objectValue ?? [:] {
                    keys[key] = .int((keys[key]?.intValue ?? 0) + (count.intValue ?? 0))
                }
                signatures["other_keys"] = .object(keys)
                result["signatures"] = signatures
            }
            return result
        }
    }
}
