import ArgumentParser
import CRMJSON
import CRMProtocol
import Foundation

extension CRMCtl.Events {
    /// `crmctl events tail`: follow the log live (events.subscribe).
    struct Tail: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print events as they are committed, until interrupted (events.subscribe).",
            discussion: """
                Starts at --from (default: the next event to be committed), first catching up on the \
                events already in the log, then following new ones, in order. --json prints every \
                envelope as one line. A reader that falls too far behind is dropped by crmd with a \
                reason; crmctl then says so and exits with status 1.

                Example:
                  crmctl events tail --stream-prefix customer- --type CustomerUpdated
                """
        )

        /// Column widths of the readable form: a position up to 10 digits, an RFC 3339 time, a stream
        /// up to `activity-` plus a UUID, the longest event type. Longer values push their line only.
        static let widths = [10, 24, 45, 22]

        /// The column titles printed before the first event.
        static var header: String { Tail.columns(["SEQ", "OCCURRED AT", "STREAM", "TYPE", "ACTOR"]) }

        /// One event as a line whose columns line up with ``header``.
        static func line(_ event: JSON) -> String {
            Tail.columns([
                Output.plain(event["seq"]), Output.plain(event["occurred_at"]), Output.plain(event["stream"]),
                Output.plain(event["type"]), Output.actor(event["actor"]),
            ])
        }

        /// `values` padded to ``widths``, two spaces apart; the last one unpadded.
        static func columns(_ values: [String]) -> String {
            var line = ""
            for (index, value) in values.enumerated() {
                if index > 0 { line += "  " }
                line += value
                if index < Tail.widths.count, value.count < Tail.widths[index] {
                    line += String(repeating: " ", count: Tail.widths[index] - value.count)
                }
            }
            return line
        }

        @Option(help: ArgumentHelp("First position to print (default: new events only).", valueName: "seq"))
        var from: Int?

        @Option(help: ArgumentHelp("Only events of this stream.", valueName: "stream"))
        var stream: String?

        @Option(help: ArgumentHelp("Only streams starting with this.", valueName: "prefix"))
        var streamPrefix: String?

        @Option(help: ArgumentHelp("Only this event type (repeatable).", valueName: "type"))
        var type: [String] = []

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        func run() throws {
            var params: [String: JSON] = ["subscription": "tail"]
            if let value = self.from { params["from"] = .int(Int64(value)) }
            if let value = self.stream { params["stream"] = .string(value) }
            if let value = self.streamPrefix { params["stream_prefix"] = .string(value) }
            if !self.type.isEmpty { params["type"] = .strings(self.type) }
            let socket = self.global.resolvedSocketPath
            let client: UnixSocketClient
            do {
                client = try UnixSocketClient(path: socket, timeout: self.global.timeoutDuration)
            } catch {
                let failure = Invocation.failure(connecting: error, socket: socket)
                Output.printError(failure.lines)
                throw ExitCode(failure.exitCode)
            }
            defer { client.close() }
            let id = Invocation.makeID()
            try client.sendLine(Invocation.requestLine(id: id, method: "events.subscribe", params: .object(params)))
            if !self.global.json { FileHandle.standardOutput.write(Data((Tail.header + "\n").utf8)) }
            while true {
                let line: [UInt8]?
                do {
                    line = try client.readLine()
                } catch let error as UnixSocketClientError where error.kind == .timedOut {
                    continue  // Nothing happened for a while: keep following.
                }
                guard let line else {
                    Output.printError(["crmctl: crmd closed the connection"])
                    throw ExitCode(1)
                }
                let message = try JSON.parse(line)
                if message["id"] != nil {
                    do {
                        _ = try Invocation.result(ofReply: line, id: id)
                    } catch let failure {
                        Output.printError(failure.lines)
                        throw ExitCode(failure.exitCode)
                    }
                    continue
                }
                switch message["method"]?.stringValue {
                case "events.event":
                    guard let event = message["params"]?["event"] else { continue }
                    let text: String
                    if self.global.json {
                        text = event.serializedString()
                    } else {
                        text = Tail.line(event)
                    }
                    // Unbuffered, so a pipe sees each event at once.
                    FileHandle.standardOutput.write(Data((text + "\n").utf8))
                case "events.dropped":
                    let reason = message["params"]?["message"]?.stringValue ?? "dropped"
                    let next = Output.plain(message["params"]?["next_from"])
                    Output.printError(["crmctl: crmd dropped the subscription: \(reason); resume with --from \(next)"])
                    throw ExitCode(1)
                default:
                    continue
                }
            }
        }
    }
}
