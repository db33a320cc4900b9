import ArgumentParser
import CRMJSON
import Foundation

#if canImport(Glibc)
import Glibc
#endif

// MARK: - activity

extension CRMCtl.Activity {
    /// `crmctl activity log`.
    struct Log: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "Record an activity on customers' timelines (activity.log).",
            discussion: """
                Calls and emails need --direction. Call outcomes: connected, no_answer, busy, \
                left_voicemail, wrong_number. Meeting outcomes: SCHEDULED, COMPLETED, RESCHEDULED, \
                NO_SHOW, CANCELED. Only tasks take --due-at and --task-status (NOT_STARTED, IN_PROGRESS, \
                WAITING, COMPLETED, DEFERRED). Times are RFC 3339.

                Example:
                  crmctl activity log --type call --customer ID --direction outbound \\
                    --duration-sec 420 --outcome connected --subject "Intro call"
                """
        )

        @Option(help: ArgumentHelp("call, email, meeting, note or task.", valueName: "type"))
        var type: String

        @Option(
            name: [.customLong("customer"), .customLong("customer-id")],
            help: ArgumentHelp("Customer the activity belongs to; repeatable, at least one.", valueName: "id")
        )
        var customerIDs: [String] = []

        @Option(help: ArgumentHelp("Id of the new activity (default: generated).", valueName: "id"))
        var activityID: String?

        @Option(help: ArgumentHelp("When it happened (default: the command's --at).", valueName: "time"))
        var occurredAt: String?

        @Option(help: ArgumentHelp("inbound or outbound (required for calls and emails).", valueName: "direction"))
        var direction: String?

        @Option(help: ArgumentHelp("Duration in seconds.", valueName: "seconds"))
        var durationSec: Int?

        @Option(help: ArgumentHelp("Start of a meeting.", valueName: "time"))
        var startAt: String?

        @Option(help: ArgumentHelp("End of a meeting (not before its start).", valueName: "time"))
        var endAt: String?

        @Option(help: ArgumentHelp("Subject (at most 255 characters).", valueName: "text"))
        var subject: String?

        @Option(help: ArgumentHelp("Body (at most 64 KiB).", valueName: "text"))
        var body: String?

        @Option(help: ArgumentHelp("Outcome of a call or meeting.", valueName: "outcome"))
        var outcome: String?

        @Option(
            name: [.customLong("owner-id"), .customLong("owner")],
            help: ArgumentHelp("Owner (user) id.", valueName: "id")
        )
        var ownerID: String?

        @Option(help: ArgumentHelp("Related deal id.", valueName: "id"))
        var dealID: String?

        @Option(help: ArgumentHelp("Related ticket id.", valueName: "id"))
        var ticketID: String?

        @Option(help: ArgumentHelp("Due time of a task.", valueName: "time"))
        var dueAt: String?

        @Option(help: ArgumentHelp("Status of a task.", valueName: "status"))
        var taskStatus: String?

        @OptionGroup(title: "Command options")
        var common: CommandOptions

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "activity.log" }

        func validate() throws {
            if self.customerIDs.isEmpty { throw ValidationError("give at least one --customer") }
        }

        func params() throws -> JSON? {
            var params: [String: JSON] = ["type": .string(self.type), "customer_ids": .strings(self.customerIDs)]
            let texts: [(String, String?)] = [
                ("activity_id", self.activityID), ("occurred_at", self.occurredAt), ("direction", self.direction),
                ("start_at", self.startAt), ("end_at", self.endAt), ("subject", self.subject), ("body", self.body),
                ("outcome", self.outcome), ("owner_id", self.ownerID), ("deal_id", self.dealID),
                ("ticket_id", self.ticketID), ("due_at", self.dueAt), ("task_status", self.taskStatus),
            ]
            for (key, value) in texts {
                if let value { params[key] = .string(value) }
            }
            if let value = self.durationSec { params["duration_sec"] = .int(value) }
            try self.common.apply(to: &params)
            return .object(params)
        }

        func render(_ result: JSON) -> String {
            Output.commandSummary(noun: "activity", verb: "logged", idKey: "activity_id", result: result)
        }
    }
}

// MARK: - events

extension CRMCtl.Events {
    /// `crmctl events read`.
    struct Read: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "Read events from the log in order (events.read).",
            discussion: """
                Prints a table of seq, stream, stream version, type, business time and actor; --json \
                prints the whole envelopes with data, pii and hash. The last line gives the --from value \
                of the next page.

                By default every event is shown in the current schema of its type: an event stored with \
                an older schema version is upcast, its schema_version is the current one and \
                stored_schema_version the one it was stored with. --stored shows the events exactly as \
                stored instead (events.read with upcast: false), each with its stored schema_version; \
                that is for export and verification, as only the stored payload re-encodes to its hash. The \
                table looks the same either way; add --json to see the envelopes.

                Examples:
                  crmctl events read --from 1 --limit 20 --stream customer-ID
                  crmctl events read --stored --json --from 1 --limit 20
                """
        )

        @Option(help: ArgumentHelp("First seq to read (default 1).", valueName: "seq"))
        var from: Int?

        @Option(
            help: ArgumentHelp("Most events to return, 1 to 1000 (default 100).", valueName: "n"),
            transform: ParamParsing.limit(1000)
        )
        var limit: Int?

        @Option(help: ArgumentHelp("Only events of this stream, e.g. customer-<id>.", valueName: "stream"))
        var stream: String?

        @Option(help: ArgumentHelp("Last seq to read (the first, with --backward).", valueName: "seq"))
        var to: Int?

        @Flag(help: "Read from --from (default: the head) towards the start of the log.")
        var backward = false

        @Option(help: ArgumentHelp("Only streams starting with this, e.g. customer-.", valueName: "prefix"))
        var streamPrefix: String?

        @Option(help: ArgumentHelp("Only this event type (repeatable).", valueName: "type"))
        var type: [String] = []

        @Option(help: ArgumentHelp("Only events caused by this uid.", valueName: "uid"))
        var actorUID: Int?

        @Option(help: ArgumentHelp("Only events at or after this RFC 3339 time.", valueName: "time"))
        var fromTime: String?

        @Option(help: ArgumentHelp("Only events before this RFC 3339 time.", valueName: "time"))
        var toTime: String?

        @Flag(help: "Apply --from-time/--to-time to recorded_at instead of occurred_at.")
        var recordedTime = false

        @Flag(help: "Show events exactly as stored, in their stored schema version (upcast: false).")
        var stored = false

        @Flag(
            help: ArgumentHelp(
                "Fail (pii_unavailable) rather than show personal data whose key is missing or damaged "
                    + "as a header (decrypt: true; admin role)."
            )
        )
        var decrypt = false

        func validate() throws {
            if self.decrypt, self.stored { throw ValidationError("--decrypt shows events opened; --stored as stored.") }
        }

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "events.read" }

        func params() throws -> JSON? {
            var params: [String: JSON] = [:]
            if let value = self.from { params["from"] = .int(value) }
            if let value = self.limit { params["limit"] = .int(value) }
            if let value = self.stream { params["stream"] = .string(value) }
            if let value = self.to { params["to"] = .int(value) }
            if self.backward { params["direction"] = "backward" }
            if let value = self.streamPrefix { params["stream_prefix"] = .string(value) }
            if !self.type.isEmpty { params["type"] = .strings(self.type) }
            if let value = self.actorUID { params["actor_uid"] = .int(value) }
            if let value = self.fromTime { params["from_time"] = .string(value) }
            if let value = self.toTime { params["to_time"] = .string(value) }
            if self.recordedTime { params["time_field"] = "recorded_at" }
            if self.stored { params["upcast"] = false }
            if self.decrypt { params["decrypt"] = true }
            return .object(params)
        }

        func render(_ result: JSON) -> String { Output.events(result) }
    }
}

// MARK: - system

extension CRMCtl.System {
    /// `crmctl system ping`.
    struct Ping: RPCCommand {
        static let configuration = CommandConfiguration(abstract: "Check that crmd answers (system.ping).")

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "system.ping" }

        func params() throws -> JSON? { nil }

        func render(_ result: JSON) -> String { Output.prettyJSON(result) }
    }

    /// `crmctl system stats`.
    struct Stats: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show log head, sizes, projection checkpoints and uptime (system.stats)."
        )

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "system.stats" }

        func params() throws -> JSON? { nil }

        func render(_ result: JSON) -> String { Output.stats(result) }
    }

    /// `crmctl system metrics`.
    struct Metrics: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print crmd's metrics in the Prometheus text format (system.metrics).",
            discussion: """
                The same text the optional HTTP listener (metrics_listen) serves at GET /metrics: \
                request counts and latencies, writer batches, the log head, the LMDB file, projections. \
                Without the listener, scrape it with node_exporter's textfile collector: \
                crmctl system metrics > DIR/crmd.prom.tmp && mv DIR/crmd.prom.tmp DIR/crmd.prom
                """
        )

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "system.metrics" }

        func params() throws -> JSON? { nil }

        func render(_ result: JSON) -> String {
            let text = result["text"]?.stringValue ?? ""
            // The exposition ends with a newline; the output adds its own.
            return text.hasSuffix("\n") ? String(text.dropLast()) : text
        }
    }

    /// `crmctl system backup`.
    struct Backup: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "Take a consistent hot copy of the data directory (system.backup, admin role).",
            discussion: """
                crmd writes a compacted copy of its LMDB environment into <backup_dir>/<name>/ \
                (backup_dir from its config, default <data_dir>-backups) while it keeps serving. Start crmd \
                with --data-dir on that directory to restore it.
                """
        )

        @Option(help: ArgumentHelp("Name of the backup directory (default: backup-<time>).", valueName: "id"))
        var name: String?

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "system.backup" }

        func params() throws -> JSON? { self.name.map { ["name": .string($0)] } }

        func render(_ result: JSON) -> String {
            let path = result["path"]?.stringValue ?? "?"
            let bytes = result["bytes"]?.intValue ?? 0
            let position = result["head"]?["position"]?.intValue ?? 0
            return "backup written to \(path) (\(bytes) bytes, log head \(position))"
        }
    }

    /// `crmctl system backup-keys`.
    struct BackupKeys: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy the key store of personal data (keys.backup, admin role).",
            discussion: """
                crmd writes a compacted copy of its key store (<data_dir>/keys) to \
                <backup_dir>/keys-<epoch>/ while it keeps serving. The copy opens only with the \
                key-encryption key of that epoch: keep it apart from that key file and from the data's \
                backups. Restore: put it back as <data_dir>/keys before starting crmd.
                """
        )

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "keys.backup" }

        func params() throws -> JSON? { nil }

        func render(_ result: JSON) -> String {
            let path = result["path"]?.stringValue ?? "?"
            return "key store copied to \(path) (opens with kek-\(result["kek_epoch"]?.intValue ?? 0).key)"
        }
    }

    /// `crmctl system rotate-keys`.
    struct RotateKeys: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replace the key-encryption key of personal data (keys.rotate, admin role).",
            discussion: """
                crmd writes a new key-encryption key (kek-<epoch+1>.key in kek_dir), re-wraps every data \
                key with it in one key-store transaction, overwrites and deletes the old key file, and \
                copies the key store to <backup_dir>/keys-<epoch>/. Copies of the key store taken \
                before no longer open: keep the new copy and the new key file where keys are kept, apart \
                from each other and from the data's backups.
                """
        )

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "keys.rotate" }

        func params() throws -> JSON? { nil }

        func render(_ result: JSON) -> String {
            let from = result["kek_epoch_from"]?.intValue ?? 0
            let to = result["kek_epoch_to"]?.intValue ?? 0
            let keys = result["keys"]?.intValue ?? 0
            var text = "key-encryption key rotated from epoch \(from) to \(to): \(keys) data keys re-wrapped; "
                + "new key file \(result["kek_file"]?.stringValue ?? "?")"
            if let backup = result["key_store_backup"]?.stringValue { text += "\nkey store copied to \(backup)" }
            return text
        }
    }

    /// `crmctl projection status`.
    struct ProjectionStatus: RPCCommand {
        static let configuration = CommandConfiguration(
            commandName: "status",
            abstract: "List every projection with its version, state, checkpoint and lag (projection.status)."
        )

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "projection.status" }

        func params() throws -> JSON? { nil }

        func render(_ result: JSON) -> String {
            var lines = ["NAME       VERSION  STATE       CHECKPOINT  LAG       DETAIL"]
            for projection in result["projections"]?.arrayValue ?? [] {
                let columns = [
                    (projection["name"]?.stringValue ?? "?", 11),
                    (String(projection["version"]?.intValue ?? 0), 9),
                    (projection["state"]?.stringValue ?? "?", 12),
                    (String(projection["checkpoint"]?.intValue ?? 0), 12),
                    (String(projection["lag"]?.intValue ?? 0), 10),
                ]
                let line = columns.map { text, width in text.padding(toLength: max(width, text.count + 1), withPad: " ", startingAt: 0) }
                    .joined()
                lines.append((line + ProjectionRebuild.detail(projection)).trimmingCharacters(in: .whitespaces))
            }
            return lines.joined(separator: "\n")
        }
    }

    /// `crmctl projection rebuild NAME`.
    struct ProjectionRebuild: RPCCommand {
        static let configuration = CommandConfiguration(
            commandName: "rebuild",
            abstract: "Rebuild a projection from the log while crmd keeps serving (projection.rebuild, admin role).",
            discussion: """
                crmd folds the whole log into fresh tables beside the live ones, in chunks between \
                commands, then switches queries over and empties the old tables. Commands and queries \
                keep working meanwhile. A projection that failed on an event is rebuilt the same way once \
                the fix is deployed. Without --no-wait, crmctl follows the rebuild (a progress bar on \
                stderr when it is a terminal) and prints the final status; exit status 1 when a \
                projection ends failed.

                Examples:
                  crmctl projection rebuild customers
                  crmctl projection rebuild all --no-wait
                """
        )

        @Argument(help: ArgumentHelp("Projection to rebuild (see projection status), or all.", valueName: "name"))
        var name: String

        @Flag(help: "Return once the rebuild has started instead of following it.")
        var noWait = false

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "projection.rebuild" }

        func params() throws -> JSON? { ["name": .string(self.name)] }

        func render(_ result: JSON) -> String {
            (result["projections"]?.arrayValue ?? []).map { projection in
                let name = projection["name"]?.stringValue ?? "?"
                let detail = ProjectionRebuild.detail(projection)
                if projection["state"] == "failed" { return "\(name): \(detail)" }
                let state = projection["state"]?.stringValue ?? "?"
                return detail.isEmpty ? "\(name): \(state)" : "\(name): \(state) \(detail)"
            }.joined(separator: "\n")
        }

        /// Progress and ETA of a rebuild, or the reason of a failure.
        static func detail(_ projection: JSON) -> String {
            if let failure = projection["failure"], !failure.isNull {
                return "failed at \(failure["position"]?.intValue ?? 0): \(failure["error"]?.stringValue ?? "")"
            }
            guard let rebuild = projection["rebuild"], !rebuild.isNull else {
                guard let done = projection["last_rebuild"], !done.isNull else { return "" }
                let seconds = String(format: "%.1f", done["seconds"]?.doubleValue ?? 0)
                return "rebuilt (\(done["reason"]?.stringValue ?? "?")) up to \(done["head"]?.intValue ?? 0) in \(seconds) s"
            }
            var text = "\(rebuild["percent"]?.doubleValue ?? 0)% (\(rebuild["checkpoint"]?.intValue ?? 0)/\(rebuild["head"]?.intValue ?? 0))"
            if let eta = rebuild["eta_seconds"]?.doubleValue { text += ", about \(Int(eta.rounded(.up))) s left" }
            return text
        }

        /// Starts the rebuild, then polls projection.status until the named projections settle.
        mutating func run() throws {
            let call = self.callOrExit
            let started = try call(self.method, try self.params())
            guard !self.noWait else {
                print(self.global.json ? started.serializedString() : self.render(started))
                return
            }
            let names = Set((started["projections"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue })
            let showProgress = isatty(STDERR_FILENO) != 0
            var rows: [JSON] = []
            while true {
                let status = try call("projection.status", nil)
                rows = (status["projections"]?.arrayValue ?? []).filter { names.contains($0["name"]?.stringValue ?? "") }
                let building = rows.filter { $0["state"] == "rebuilding" }
                if building.isEmpty { break }
                if showProgress {
                    let line = building.map { row in
                        let percent = row["rebuild"]?["percent"]?.doubleValue ?? 0
                        let filled = Int((percent / 5).rounded(.down))
                        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: 20 - filled)
                        return "\(row["name"]?.stringValue ?? "?") [\(bar)] " + ProjectionRebuild.detail(row)
                    }.joined(separator: "  ")
                    FileHandle.standardError.write(Data("\r\u{1B}[K\(line)".utf8))
                }
                usleep(200_000)
            }
            if showProgress { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
            let result: JSON = ["projections": .array(rows)]
            print(self.global.json ? result.serializedString() : self.render(result))
            if rows.contains(where: { $0["state"] == "failed" }) { throw ExitCode(1) }
        }
    }
}

// MARK: - call

extension CRMCtl {
    /// `crmctl call`: any method with raw JSON params.
    struct Call: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "Call any JSON-RPC method with raw JSON params.",
            discussion: """
                PARAMS is a JSON object; give - to read it from standard input. The result is printed as \
                indented JSON (one line with --json).

                Examples:
                  crmctl call system.ping
                  crmctl call customer.get '{"customer_id":"ID"}'
                  echo '{"type":"note","customer_ids":["ID"],"body":"Met at a fair"}' \\
                    | crmctl call activity.log -
                """
        )

        @Argument(help: ArgumentHelp("Method name, e.g. customer.get.", valueName: "method"))
        var methodName: String

        @Argument(help: ArgumentHelp("Params as a JSON object, or - to read them from stdin.", valueName: "params"))
        var paramsText: String?

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { self.methodName }

        func validate() throws {
            if let text = self.paramsText, text != "-" { _ = try ParamParsing.callParams(text) }
        }

        func params() throws -> JSON? {
            guard let text = self.paramsText else { return nil }
            if text == "-" {
                var input = ""
                while let line = readLine(strippingNewline: false) { input += line }
                return try ParamParsing.callParams(input)
            }
            return try ParamParsing.callParams(text)
        }

        func render(_ result: JSON) -> String { Output.prettyJSON(result) }
    }
}
