import ArgumentParser
import CRMJSON
import Foundation

/// `crmctl export`: the log as NDJSON, one `events.read` envelope (with its hash) per line, each event
/// exactly as stored (`upcast: false`): an event of an older schema version keeps that version and its
/// payload, which is what re-encodes to its hash on import.
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the event log as NDJSON (one envelope with its hash per line).",
        discussion: """
            Pages through events.read, so memory use stays flat on a long log. The file can be loaded \
            into an empty data directory with `crmd import FILE --data-dir DIR`, which re-checks every \
            hash. Events are written exactly as stored, each with the schema version it was recorded \
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
        let sink: FileHandle
        if let output = self.output {
            guard FileManager.default.createFile(atPath: output, contents: nil) else {
                Output.printError(["crmctl: cannot create \(output)"])
                throw ExitCode(1)
            }
            sink = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
        } else {
            sink = FileHandle.standardOutput
        }
        defer { if self.output != nil { try? sink.close() } }
        var next: Int64? = Int64(self.from)
        var written = 0
        while let from = next {
            let page: JSON
            do {
                page = try Invocation.call(
                    method: "events.read",
                    params: ["from": .int(from), "limit": .int(Int64(self.pageSize)), "upcast": false],
                    socket: self.global.resolvedSocketPath,
                    timeout: self.global.timeoutDuration
                )
            } catch let failure {
                Output.printError(failure.lines)
                throw ExitCode(failure.exitCode)
            }
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
