import CRMJSON
import CRMTesting
import Foundation
import Testing

/// The samples in the docs come from a real run: the README tour is run with the real crmd and
/// crmctl, and every output it shows must be what crmctl printed (ids, times, hashes, uids and sizes
/// normalised). Then docs/PROTOCOL.md's python3 example runs twice against the same daemon, and its
/// JSON samples of `system.stats` and `customer.get` must have the members crmd answers with.
///
/// To rewrite the README's outputs from a run after a deliberate change, run this suite with
/// `CRMD_UPDATE_DOC_SAMPLES=1` and review the diff.
@Suite struct DocSampleTests {
    /// One `$ command` of a ```console block, and the output shown below it.
    struct Sample {
        /// The command after `$ `, continuation lines included.
        var command: String
        /// Index of the command's first line in the document.
        var line: Int
        /// Lines of the document holding its output (no trailing blank lines).
        var output: Range<Int>
    }

    // MARK: - Reading the document

    /// Every `$ …` command of the ```console blocks of `lines`, with its output lines.
    static func samples(_ lines: [String]) -> [Sample] {
        var samples: [Sample] = []
        var index = 0
        var inConsole = false
        while index < lines.count {
            let line = lines[index]
            if !inConsole {
                inConsole = line == "```console"
                index += 1
                continue
            }
            if line == "```" {
                inConsole = false
                index += 1
                continue
            }
            guard line.hasPrefix("$ ") else {
                index += 1
                continue
            }
            let first = index
            var command = String(line.dropFirst(2))
            while !DocSampleTests.isComplete(command), index + 1 < lines.count {
                index += 1
                command += "\n" + lines[index]
            }
            index += 1
            let start = index
            while index < lines.count, !lines[index].hasPrefix("$ "), lines[index] != "```" { index += 1 }
            var end = index
            while end > start, lines[end - 1].isEmpty { end -= 1 }
            samples.append(Sample(command: command, line: first, output: start..<end))
        }
        return samples
    }

    /// Whether a command needs no further line: no quote left open and no trailing backslash.
    static func isComplete(_ command: String) -> Bool {
        var quote: Character?
        var escaped = false
        for character in command {
            if escaped {
                escaped = false
            } else if let open = quote {
                if character == open { quote = nil } else if open == "\"", character == "\\" { escaped = true }
            } else if character == "'" || character == "\"" {
                quote = character
            } else if character == "\\" {
                escaped = true
            }
        }
        return quote == nil && !command.hasSuffix("\\")
    }

    /// A command line split into words the way a POSIX shell does for these samples: single and
    /// double quotes, backslash escapes and backslash-newline continuations.
    static func words(_ command: String) -> [String] {
        var words: [String] = []
        var current = ""
        var inWord = false
        var quote: Character?
        var characters = command.makeIterator()
        while let character = characters.next() {
            if let open = quote {
                if character == open {
                    quote = nil
                } else if open == "\"", character == "\\", let next = characters.next() {
                    current.append(next)
                } else {
                    current.append(character)
                }
                continue
            }
            switch character {
            case "'", "\"":
                quote = character
                inWord = true
            case "\\":
                if let next = characters.next(), next != "\n" {
                    current.append(next)
                    inWord = true
                }
            case " ", "\n", "\t":
                if inWord { words.append(current) }
                current = ""
                inWord = false
            default:
                current.append(character)
                inWord = true
            }
        }
        if inWord { words.append(current) }
        return words
    }

    /// `text` with what differs from run to run replaced by placeholders, and runs of spaces (column
    /// padding, which follows the lengths of uids and sizes) made two spaces.
    static func normalise(_ text: String) -> String {
        var text = text
        text = text.replacing(#/[0-9a-f]{64}/#, with: "<hash>")
        text = text.replacing(#/[0-9a-f]{16}…/#, with: "<key>…")
        text = text.replacing(#/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/#, with: "<uuid>")
        text = text.replacing(#/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)/#, with: "<time>")
        text = text.replacing(#/\d{4}-\d\d-\d\d \d\d:\d\dZ/#, with: "<time>")
        text = text.replacing(#/uid \d+/#, with: "uid <uid>")
        text = text.replacing(#/(uptime_seconds|file_size_bytes|data_dir):( +)\S+/#) { match in
            "\(match.output.1):\(match.output.2)<\(match.output.1)>"
        }
        text = text.replacing(#/ {2,}/#, with: "  ")
        return text.split(separator: "\n", omittingEmptySubsequences: false)
            .map { line in String(line.reversed().drop { $0 == " " }.reversed()) }
            .joined(separator: "\n")
    }

    /// Objects whose keys are data (custom fields, currencies, deal ids), not members.
    static let maps: Set<String> = ["custom", "stats.won_amount", "deals"]

    /// The members of `documented` that `real` lacks and those `real` has that are not documented,
    /// recursively through objects and the first element of arrays; `null` on either side matches
    /// anything, and so does any key of the ``maps``.
    static func differences(_ documented: JSON, _ real: JSON, path: String = "") -> [String] {
        switch (documented, real) {
        case (.object, .object) where DocSampleTests.maps.contains(path):
            return []
        case (.object(let doc), .object(let live)):
            var found: [String] = []
            for key in Set(doc.keys).union(live.keys).sorted() {
                let member = path.isEmpty ? key : "\(path).\(key)"
                switch (doc[key], live[key]) {
                case (nil, _?): found.append("\(member) is not documented")
                case (_?, nil): found.append("\(member) is documented but not answered")
                case (let a?, let b?): found += DocSampleTests.differences(a, b, path: member)
                default: break
                }
            }
            return found
        case (.array(let doc), .array(let live)):
            guard let a = doc.first, let b = live.first else { return [] }
            return DocSampleTests.differences(a, b, path: path + "[0]")
        default:
            return []
        }
    }

    /// The first ```json block after the line starting with `heading` in `document`, parsed.
    static func jsonSample(after heading: String, in document: String) throws -> JSON {
        let lines = document.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let start = try #require(lines.firstIndex { $0.hasPrefix(heading) }, "no \(heading)")
        let open = try #require(lines[start...].firstIndex(of: "```json"))
        let close = try #require(lines[(open + 1)...].firstIndex(of: "```"))
        return try JSON.parse(Array(lines[(open + 1)..<close].joined(separator: "\n").utf8))
    }

    /// The docs and the code's comments stand on their own: no pointer to design notes that are not in
    /// the repository.
    @Test func theDocsPointToNothingOutsideTheRepository() throws {
        var files = ["README.md"]
        for (folder, suffix) in [("docs", ".md"), ("Sources", ".swift"), ("Tests", ".swift")] {
            let directory = OperationsTests.root + "/" + folder
            for case let path as String in FileManager.default.enumerator(atPath: directory)!
            where path.hasSuffix(suffix) && !path.hasSuffix("DocSampleTests.swift") {
                files.append(folder + "/" + path)
            }
        }
        #expect(files.count >= 100)
        for file in files {
            let text = try OperationsTests.text(file)
            for name in ["DESIGN.md", "DOMAIN.md", "DESIGN §", "DOMAIN §", "../shared", "DOMAIN-2"] {
                #expect(!text.contains(name), "\(file) mentions \(name)")
            }
        }
    }

    // MARK: - The run

    @Test func wordsAndNormalisation() {
        #expect(
            DocSampleTests.words(#"crmctl a --name "Acme \"x\"" 'b c' \"# + "\n    --d e")
                == ["crmctl", "a", "--name", #"Acme "x""#, "b c", "--d", "e"]
        )
        #expect(DocSampleTests.isComplete("a 'b") == false)
        #expect(DocSampleTests.isComplete("a \\") == false)
        #expect(
            DocSampleTests.normalise("2025-03-07T15:30:51.250Z  uid 1000    x  \nuptime_seconds:  95")
                == "<time>  uid <uid>  x\nuptime_seconds:  <uptime_seconds>"
        )
    }

    @Test func theReadmeTourAndTheProtocolSamplesComeFromARealRun() async throws {
        let directory = TemporaryDirectory()
        // No checkpoint is signed while idle: the samples show a log signed only every 1,000 events,
        // however long this run takes (five idle seconds on a slow machine would sign the head).
        let daemon = try DaemonProcess(
            socketPath: directory.appending("var/crmd.sock"),
            dataDirectory: directory.appending("var/data"),
            environment: ["CRMD_CHECKPOINT_EVERY_SECONDS": "3600"]
        )
        defer { daemon.stop() }
        let crmctl = URL(fileURLWithPath: DaemonProcess.executablePath).deletingLastPathComponent()
            .appendingPathComponent("crmctl").path
        var environment = ProcessInfo.processInfo.environment
        environment["CRMD_SOCKET"] = nil
        let update = environment["CRMD_UPDATE_DOC_SAMPLES"] == "1"

        // The README tour, in the README's own working directory layout (./var/crmd.sock).
        let readmePath = OperationsTests.root + "/README.md"
        var lines = try OperationsTests.text("README.md").split(separator: "\n", omittingEmptySubsequences: false)
            .map(String.init)
        let samples = DocSampleTests.samples(lines)
        #expect(samples.count > 20)
        var outputs: [(Sample, [String])] = []
        for sample in samples {
            let words = DocSampleTests.words(sample.command)
            try #require(words.first == "crmctl", "README.md:\(sample.line + 1) runs \(words.first ?? "nothing")")
            let run = try ProcessRun(
                crmctl,
                Array(words.dropFirst()),
                environment: environment,
                currentDirectory: directory.path
            )
            var actual = run.output
            while actual.hasSuffix("\n") { actual.removeLast() }
            #expect(run.status == 0 || actual.hasPrefix("crmctl: "), "README.md:\(sample.line + 1): \(actual)")
            let shown = lines[sample.output].joined(separator: "\n")
            if !update {
                #expect(
                    DocSampleTests.normalise(actual) == DocSampleTests.normalise(shown),
                    "README.md:\(sample.line + 1) $ \(sample.command)\n--- crmctl printed:\n\(actual)"
                )
            }
            let printed = actual.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            outputs.append((sample, actual.isEmpty ? [] : printed))
        }
        if update {
            // Only outputs that differ beyond the normalised parts are replaced.
            for (sample, output) in outputs.reversed()
            where DocSampleTests.normalise(output.joined(separator: "\n"))
                != DocSampleTests.normalise(lines[sample.output].joined(separator: "\n"))
            {
                lines.replaceSubrange(sample.output, with: output)
            }
            try lines.joined(separator: "\n").write(toFile: readmePath, atomically: true, encoding: .utf8)
        }

        // docs/PROTOCOL.md §9.2 (python3) runs, and runs again: nothing it does collides with the
        // tour or with its own earlier run.
        let protocolText = try OperationsTests.text("docs/PROTOCOL.md")
        let python = try #require(
            protocolText.split(separator: "```python\n").dropFirst().first?.split(separator: "```").first
        )
        let script = directory.appending("example.py")
        try String(python).write(toFile: script, atomically: true, encoding: .utf8)
        for round in 1...2 {
            let run = try ProcessRun(
                "/usr/bin/env",
                ["python3", script],
                environment: environment,
                currentDirectory: directory.path
            )
            #expect(run.status == 0, "python example, run \(round): \(run.output)")
            #expect(run.output.contains("rejected: "), "python example, run \(round): \(run.output)")
            #expect(run.output.contains("[duplicate_email]"), "python example, run \(round): \(run.output)")
        }

        // The JSON samples of docs/PROTOCOL.md have exactly the members crmd answers with.
        let client = try RPCClient(socketPath: daemon.socketPath)
        for (heading, method, params) in [
            ("### 7.1", "customer.get", ["customer_id": "ada"]), ("### 8.2", "system.stats", nil),
        ] as [(String, String, JSON?)] {
            let documented = try DocSampleTests.jsonSample(after: heading, in: protocolText)
            let real = try await client.result(method, params)
            #expect(DocSampleTests.differences(documented, real) == [], "PROTOCOL.md \(heading) \(method)")
        }
    }
}
