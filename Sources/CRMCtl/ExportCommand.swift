import ArgumentParser
import CRMJSON
import Foundation

/// `crmctl export`: the log as NDJSON: first one `{"checkpoint": …}` line per signed checkpoint, then
/// one `events.read` envelope (with its hash) per line, each event exactly as stored (`upcast: false`):
/// an event of an older schema version keeps that version and its payload, which is what re-encodes
/// to its hash on import.
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the event log as NDJSON (signed checkpoints, then one envelope with its hash per line).",
        discussion: """
            Pages through audit.checkpoints and events.read, so memory use stays flat on a long log. \
            The file is created readable by its owner only (0600). It can be loaded into an empty data \
            directory with `crmd import FILE --data-dir DIR`, which re-checks every hash and keeps the \
            signed checkpoints, or checked offline with `crmctl audit verify --input FILE --public-key \
            KEY.pub`. Events are written exactly as stored, each with the schema version it was recorded \
            with (events.read with upcast: false), so an old event keeps its old shape and its hash. \
            With --output, progress is shown on stderr.
            """
    )

    @OptionGroup(title: "Global options")
    var global: GlobalOptions

    @Option(name: .shortAndLong, help: ArgumentHelp("Write to this file instead of stdout.", valueName: "file"))
    var output: String?

    @Option(name: .long, help: "First position to export (default 1).")
    var from: Int = 1

    @Option(name: .long, help: "Events per request (1–1000).")
    var pageSize: Int = 1000

    func validate() throws {
        guard self.from >= 1 else { throw ValidationError("--from must be ≥ 1") }
        guard (1...1000).contains(self.pageSize) else { throw ValidationError("--page-size must be 1–1000") }
    }

    mutating func run() throws {
        // The export holds the whole log: readable by its owner only, whatever the umask.
        let sink = try self.output.map(PrivateOutput.create) ?? FileHandle.standardOutput
        defer { if self.output != nil { try? sink.close() } }
        func call(_ method: String, _ params: JSON) throws -> JSON {
            do {
                return try Invocation.call(
                    method: method,
                    params: params,
                    socket: self.global.resolvedSocketPath,
                    timeout: self.global.timeoutDuration
                )
            } catch let failure {
                Output.printError(failure.lines)
                throw ExitCode(failure.exitCode)
            }
        }
        // Signed checkpoints first, so that a reader checks each when the chain reaches it.
        var nextCheckpoint: Int64? = Int64(self.from)
        while let from = nextCheckpoint {
            let page = try call("audit.checkpoints", ["from": .int(from), "limit": 1000])
            var chunk: [UInt8] = []
            for checkpoint in page["checkpoints"]?.arrayValue ?? [] {
                JSON.object(["checkpoint": checkpoint]).write(into: &chunk)
                chunk.append(0x0A)
            }
            try sink.write(contentsOf: chunk)
            nextCheckpoint = page["next_from"]?.intValue
        }
        var next: Int64? = Int64(self.from)
        var written = 0
        while let from = next {
            let page = try call(
                "events.read",
                ["from": .int(from), "limit": .int(Int64(self.pageSize)), "upcast": false]
            )
            var chunk: [UInt8] = []
            for event in page["events"]?.arrayValue ?? [] {
                event.write(into: &chunk)
                chunk.append(0x0A)
                written += 1
            }
            try sink.write(contentsOf: chunk)
            next = page["next_from"]?.intValue
            if self.output != nil {
                let head = page["head"]?.intValue ?? 0
                FileHandle.standardError.write(Data("\rexported \(written) events (head \(head))".utf8))
            }
        }
        if self.output != nil { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}

/// `crmctl migrate --encrypt-pii --to DIR`: copies a log whose personal data is in plain text into a
/// new data directory whose log encrypts it (`system.migrate`).
struct Migrate: RPCCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy a plain-text log into a new, encrypted one (system.migrate, admin role).",
        discussion: """
            crmd copies every event of its log, at the same positions and times, into a new data \
            directory DIR (absolute; missing or empty) whose log stores personal data encrypted, with a \
            new key store in DIR/keys and a new key-encryption key in DIR-keys. The hash chain of the \
            copy is new; its last event, LogMigrated, names the old head (position and hash), so the two \
            chains stay linked. Events committed while the copy runs are not in it: stop writing first, \
            and compare from_head with `crmctl system stats`. Then stop crmd, start it with --data-dir \
            DIR, and destroy the old directory and its backups (they still hold the plain text). A long \
            log needs a longer --timeout.

            Example:
              crmctl migrate --encrypt-pii --to /var/lib/crmd-encrypted --timeout 3600
            """
    )

    @Flag(help: "Encrypt the personal data of the copy (required: the one migration there is).")
    var encryptPii = false

    @Option(help: ArgumentHelp("The new data directory (absolute path, missing or empty).", valueName: "dir"))
    var to: String

    @OptionGroup(title: "Global options")
    var global: GlobalOptions

    var method: String { "system.migrate" }

    func validate() throws {
        guard self.encryptPii else { throw ValidationError("--encrypt-pii is required") }
    }

    func params() throws -> JSON? { ["to": .string(self.to), "encrypt_pii": .bool(self.encryptPii)] }

    func render(_ result: JSON) -> String {
        let to = result["to"]?.stringValue ?? "?"
        let events = result["events"]?.intValue ?? 0
        let from = result["from_head"]
        let head = result["head"]
        return [
            "copied \(events) events into \(to), personal data encrypted",
            "  old head  position \(from?["position"]?.intValue ?? 0), hash \(from?["hash"]?.stringValue ?? "?")",
            "  new head  position \(head?["position"]?.intValue ?? 0), hash \(head?["hash"]?.stringValue ?? "?") "
                + "(LogMigrated)",
            "  key-encryption key in \(result["kek_dir"]?.stringValue ?? "?") (keep it out of the data's backups)",
            "next: stop crmd, start it with --data-dir \(to), then destroy the old directory and its backups",
        ].joined(separator: "\n")
    }
}

/// Output files that hold personal data (log exports, subject exports): created readable and writable
/// by their owner only (0600), whatever the umask, replacing a file of that name.
enum PrivateOutput {
    /// The file `path`, created or truncated with mode 0600; prints why and exits 1 when it cannot be.
    static func create(_ path: String) throws -> FileHandle {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0, fchmod(descriptor, 0o600) == 0 else {
            Output.printError(["crmctl: cannot create \(path): \(String(cString: strerror(errno)))"])
            throw ExitCode(1)
        }
        return FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
    }
}
