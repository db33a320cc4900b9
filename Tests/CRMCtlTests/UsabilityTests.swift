import ArgumentParser
import CRMDomain
import CRMJSON
import CRMProtocol
import CRMTesting
import Foundation
import Testing

@testable import CRMCtl

/// What a newcomer trips over in crmctl and `crmd import`: the version, history commands, hints that
/// name flags, clear connection and usage errors, aligned `events tail` columns, help examples that
/// copy and paste.
@Suite struct UsabilityTests {
    @Test func versionIsPrinted() throws {
        #expect(CRMCtl.configuration.version == CRMVersion.current)
        #expect {
            try CRMCtl.parseAsRoot(["--version"])
        } throws: { error in
            CRMCtl.exitCode(for: error) == .success && CRMCtl.message(for: error) == CRMVersion.current
        }
    }

    @Test func methodsListsTheTableAndRefusesAnUnknownKind() throws {
        let command = try #require(try CRMCtl.parseAsRoot(["methods", "--kind", "query", "--json"]) as? Methods)
        #expect(command.kind == "query" && command.global.json)
        #expect {
            try CRMCtl.parseAsRoot(["methods", "--kind", "queries"])
        } throws: { error in
            CRMCtl.exitCode(for: error) == .validationFailure
                && CRMCtl.message(for: error).contains("--kind must be command, query or system")
        }
    }

    @Test func dealAndTicketHistory() throws {
        var (method, params) = try request(["deal", "history", "d1"])
        #expect(method == "deal.history")
        #expect(params == ["deal_id": "d1"])
        (method, params) = try request(["ticket", "history", "t1"])
        #expect(method == "ticket.history")
        #expect(params == ["ticket_id": "t1"])
        let text = Output.history([
            "deal_id": "d1",
            "events": [
                [
                    "seq": 7, "type": "DealStageChanged", "occurred_at": "2025-03-07T15:30:00.000Z",
                    "actor": ["kind": "unix", "uid": 1000, "gid": 1000],
                    "changes": ["stage": ["from": "prospecting", "to": "won"]],
                ]
            ],
        ])
        let expected = "2025-03-07T15:30:00.000Z  seq 7  DealStageChanged  uid 1000\n"
            + "    stage: \"prospecting\" → \"won\""
        #expect(text == expected)
    }

    /// crmd's message names the protocol param `allow_backward`; crmctl names its flag.
    @Test func lifecycleBackwardNamesTheFlag() throws {
        let command = try #require(
            try CRMCtl.parseAsRoot(["customer", "set-lifecycle-stage", "c1", "--stage", "lead"]) as? any RPCCommand
        )
        let error = RPCError(
            reason: "lifecycle_backward",
            message: "lead is before opportunity; pass allow_backward:true to move back",
            field: "stage",
            details: ["from": "opportunity", "to": "lead"]
        )
        let lines = command.errorLines(error)
        #expect(lines.first == "crmctl: lead is before opportunity; pass --allow-backward to move back "
            + "[lifecycle_backward] (field stage)")
        // Other commands print crmd's message as it is.
        let other = try #require(try CRMCtl.parseAsRoot(["customer", "get", "c1"]) as? any RPCCommand)
        #expect(other.errorLines(error).first?.contains("allow_backward:true") == true)
    }

    @Test func aSocketPathThatIsNoSocketSaysSo() throws {
        let directory = TemporaryDirectory()
        let file = directory.path + "/plain"
        #expect(FileManager.default.createFile(atPath: file, contents: Data("x".utf8)))
        for (path, kind) in [(file, "a regular file"), (directory.path, "a directory")] {
            #expect {
                _ = try Invocation.call(method: "system.ping", params: nil, socket: path, timeout: .seconds(2))
            } throws: { error in
                guard let failure = error as? CtlFailure, case .unreachable(let message, _) = failure else {
                    return false
                }
                return failure.exitCode == 2 && message == "cannot connect to \(path): not a socket (it is \(kind))"
            }
        }
        // A missing path is still "no such socket".
        let missing = Invocation.failure(
            connecting: UnixSocketClientError(.connect(errno: ENOENT), path: directory.path + "/none"),
            socket: directory.path + "/none"
        )
        #expect(missing.lines.first == "crmctl: cannot connect to \(directory.path)/none: no such socket")
    }

    /// Every `--limit` is checked by crmctl, and the usage error names the option and the range.
    @Test(arguments: [
        (["events", "read"], 1000), (["customer", "find", "--tag", "vip"], 200), (["customer", "timeline", "c1"], 200),
        (["deal", "list"], 200), (["ticket", "list"], 200), (["sla", "breaching"], 200),
    ])
    func limitOutOfRangeNamesTheOption(command: [String], maximum: Int) throws {
        for value in ["0", String(maximum + 1), "many"] {
            #expect {
                try CRMCtl.parseAsRoot(command + ["--limit", value])
            } throws: { error in
                let message = CRMCtl.message(for: error)
                return CRMCtl.exitCode(for: error).rawValue == 64 && message.contains("'--limit <n>'")
                    && message.contains("between 1 and \(maximum)")
            }
        }
        #expect(try request(command + ["--limit", String(maximum)]).params?["limit"] == .int(Int64(maximum)))
    }

    /// `events tail` lines up its columns with its header whatever the lengths of seq and stream.
    @Test func tailColumnsAreAligned() {
        let events: [JSON] = [
            [
                "seq": 1, "occurred_at": "2025-03-07T15:29:02.114Z", "stream": "pipeline-sales",
                "type": "PipelineDefined", "actor": ["kind": "unix", "uid": 1000, "gid": 1000],
            ],
            [
                "seq": 123_456, "occurred_at": "2025-03-07T15:30:51.554Z",
                "stream": "activity-01a20ae4-1d22-7009-b281-029a10aa01ed", "type": "ActivityLogged",
                "actor": ["kind": "unix", "uid": 0, "gid": 0],
            ],
        ]
        let lines = [CRMCtl.Events.Tail.header] + events.map(CRMCtl.Events.Tail.line)
        for title in ["OCCURRED AT", "STREAM", "TYPE", "ACTOR"] {
            let column = CRMCtl.Events.Tail.header.range(of: title)!.lowerBound.utf16Offset(
                in: CRMCtl.Events.Tail.header
            )
            for line in lines.dropFirst() {
                let before = line.utf16.index(line.utf16.startIndex, offsetBy: column - 2)
                let slice = String(line[before...])
                #expect(slice.hasPrefix("  ") && !slice.dropFirst(2).hasPrefix(" "), "\(title) in \(line)")
            }
        }
        #expect(lines[2].hasSuffix("ActivityLogged          uid 0"))
    }

    /// Every example in a help text fits an 80-column terminal, so it is printed as written and a
    /// copied command still runs (long ones continue with ` \` on the next line).
    @Test func helpExamplesAreNotWrapped() throws {
        var pending: [any ParsableCommand.Type] = [CRMCtl.self]
        var checked = 0
        while let command = pending.popLast() {
            pending += command.configuration.subcommands
            let discussion = command.configuration.discussion
            let help = CRMCtl.helpMessage(for: command, columns: 80)
            var inExamples = false
            for line in discussion.split(separator: "\n", omittingEmptySubsequences: false) {
                if line.hasPrefix("Example") {
                    inExamples = true
                    continue
                }
                guard inExamples, !line.isEmpty else {
                    inExamples = inExamples && !line.isEmpty
                    continue
                }
                checked += 1
                #expect(line.count <= 78, "\(command._commandName): \(line)")
                #expect(help.contains(line + "\n"), "\(command._commandName) wraps: \(line)")
            }
        }
        #expect(checked > 30)
    }

    /// `crmd import` of a file it cannot read says why, without the usage text, and exits 1.
    @Test func importSaysWhyItCannotReadTheFile() throws {
        let directory = TemporaryDirectory()
        for (file, reason) in [
            (directory.path + "/missing.ndjson", "No such file or directory"), (directory.path, "it is a directory"),
        ] {
            let run = try ProcessRun(
                DaemonProcess.executablePath,
                ["import", file, "--data-dir", directory.path + "/data"]
            )
            #expect(run.status == 1)
            #expect(run.output == "crmd import: cannot read \(file): \(reason)\n")
        }
    }
}

/// A child process run to its end, with stdout and stderr captured together.
struct ProcessRun {
    var status: Int32
    var output: String

    /// Held while a process is spawned: Foundation's `Process.run()` crashed once in CI (a bad copy
    /// inside it) while another test thread spawned a process at the same moment.
    static let spawning = NSLock()

    init(
        _ executable: String,
        _ arguments: [String],
        environment: [String: String]? = nil,
        currentDirectory: String? = nil
    ) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let currentDirectory { process.currentDirectoryURL = URL(fileURLWithPath: currentDirectory) }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try ProcessRun.spawning.withLock { try process.run() }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        self.status = process.terminationStatus
        self.output = String(decoding: data, as: UTF8.self)
    }
}
