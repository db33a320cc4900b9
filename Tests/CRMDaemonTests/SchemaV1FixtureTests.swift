import CRMApplication
import CRMJSON
import CRMTesting
import Foundation
import Logging
import Testing

/// Today's crmd reads, projects and verifies a log written when every event type was at schema
/// version 1 (Tests/Fixtures/schema-v1, recorded by an older crmd and never regenerated).
@Suite struct SchemaV1FixtureTests {
    /// The committed export.
    static let fixturePath = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/schema-v1/export.ndjson").path

    /// The head hash of the fixture's log.
    static let headHash = "2d4edc43c463ae5af39a150641c8cd086dae351b851dc7e9519918a72c7548a8"

    /// A daemon over a data directory imported from the fixture.
    static func importedDaemon() async throws -> TestDaemon {
        let directory = TemporaryDirectory()
        let input = try #require(FileHandle(forReadingAtPath: SchemaV1FixtureTests.fixturePath))
        defer { try? input.close() }
        let summary = try LogImport.run(
            input: input,
            dataDirectory: directory.appending("data"),
            logger: Logger(label: "schema-v1-fixture")
        )
        #expect(summary.events == 25)
        #expect(summary.headHash == SchemaV1FixtureTests.headHash)
        return try await TestDaemon(directory: directory)
    }

    /// The fixture's envelopes, one per line.
    static func fixtureEnvelopes() throws -> [JSON] {
        let text = try String(contentsOfFile: SchemaV1FixtureTests.fixturePath, encoding: .utf8)
        return try text.split(separator: "\n").map { try JSON.parse(Array($0.utf8)) }
    }

    @Test func theFixtureIsOfTheOldSchema() throws {
        let envelopes = try SchemaV1FixtureTests.fixtureEnvelopes()
        #expect(envelopes.count == 25)
        #expect(envelopes.allSatisfy { $0["schema_version"] == 1 && $0["stored_schema_version"] == nil })
        let types = envelopes.compactMap { $0["type"]?.stringValue }
        #expect(types.filter { $0 == "ActivityLogged" }.count == 6)
        #expect(types.filter { $0 == "ConsentChanged" }.count == 5)
    }

    @Test func importedLogVerifies() async throws {
        let daemon = try await SchemaV1FixtureTests.importedDaemon()
        let client = try daemon.client()
        let verify = try await client.result("audit.verify")
        #expect(verify["ok"] == true)
        #expect(verify["checked"] == 25)
        #expect(verify["head_position"] == 25)
        #expect(verify["head_hash"] == .string(SchemaV1FixtureTests.headHash))
        try await daemon.stop()
    }

    @Test func profilesAreFoldedFromTheUpcastEvents() async throws {
        let daemon = try await SchemaV1FixtureTests.importedDaemon()
        let client = try daemon.client()

        // ConsentChanged v1 named the email or phone in `pii.address`; v2 in `pii.contact_point`.
        let grace = try await client.result("customer.get", ["customer_id": "grace"])
        let emails = grace["emails"]?.arrayValue ?? []
        #expect(emails.map { $0["address"] } == ["grace@example.com", "hopper@example.org"])
        #expect(emails.map { $0["consent"] } == ["confirmed_opt_in", "opted_out"])
        #expect(emails.map { $0["opted_out"] } == [false, true])
        #expect(emails[1]["legal_basis"] == "consent")
        #expect(grace["phones"]?[0]?["consent"] == "opted_in")
        #expect(grace["do_not_call"] == false)
        let ada = try await client.result("customer.get", ["customer_id": "ada"])
        #expect(ada["emails"]?[0]?["consent"] == "opted_in")
        #expect(ada["phones"]?[0]?["consent"] == "opted_out")
        #expect(ada["do_not_call"] == true)

        // ActivityLogged v1 called the activity's kind `type`; v2 calls it `kind`.
        #expect(
            grace["stats"]?["activity_counts"]
                == ["call": 0, "email": 1, "meeting": 1, "note": 0, "task": 2]
        )
        #expect(
            ada["stats"]?["activity_counts"]
                == ["call": 1, "email": 1, "meeting": 0, "note": 1, "task": 0]
        )
        #expect(ada["stats"]?["last_contacted_at"] == "2025-03-04T09:00:00.000Z")

        let timeline = try await client.result("customer.timeline", ["customer_id": "grace"])
        let entries = timeline["entries"]?.arrayValue ?? []
        let kinds = entries.compactMap { $0["kind"]?.stringValue }
        #expect(kinds.filter { $0 == "activity.task" }.count == 2)
        #expect(kinds.contains("activity.meeting"))
        let summaries = entries.compactMap { $0["summary"]?.stringValue }
        #expect(summaries.contains("Send COBOL proposal"))
        #expect(summaries.contains("Email consent not_set → opted_out"))

        // customer.history shows the consent under the contact it is about.
        let history = try await client.result("customer.history", ["customer_id": "grace"])
        let changes = (history["events"]?.arrayValue ?? []).compactMap { $0["changes"]?.objectValue }
        #expect(changes.contains { $0["consent.email:hopper@example.org"] == ["from": nil, "to": "opted_out"] })
        try await daemon.stop()
    }

    @Test func eventsReadShowsTheCurrentShapeAndTheStoredVersion() async throws {
        let daemon = try await SchemaV1FixtureTests.importedDaemon()
        let client = try daemon.client()

        let task = try #require(
            try await client.result("events.read", ["from": 16, "limit": 1])["events"]?[0]
        )
        #expect(task["type"] == "ActivityLogged")
        #expect(task["schema_version"] == 2)
        #expect(task["stored_schema_version"] == 1)
        #expect(task["data"]?["kind"] == "task")
        #expect(task["data"]?["task"] == ["due_at": "2025-03-10T17:00:00.000Z", "status": "NOT_STARTED"])
        #expect(task["data"]?["type"] == nil)
        #expect(task["data"]?["task_status"] == nil)
        let consent = try #require(
            try await client.result("events.read", ["from": 11, "limit": 1])["events"]?[0]
        )
        #expect(consent["type"] == "ConsentChanged")
        #expect(consent["schema_version"] == 2)
        #expect(consent["pii"] == ["contact_point": "hopper@example.org", "evidence": "msg-881"])
        // A type still at version 1 says so too.
        let created = try #require(try await client.result("events.read", ["from": 2, "limit": 1])["events"]?[0])
        #expect(created["schema_version"] == 1)
        #expect(created["stored_schema_version"] == 1)
        // Reading a stream (through the stream index) upcasts the same way.
        let activity = try await client.result("events.read", ["stream": "activity-act-call-1"])
        #expect(activity["events"]?[0]?["data"]?["kind"] == "call")
        #expect(activity["events"]?[0]?["data"]?["task"] == .null)

        // upcast: false gives every event exactly as the fixture holds it.
        let fixture = try SchemaV1FixtureTests.fixtureEnvelopes()
        let stored = try await client.result("events.read", ["upcast": false])["events"]?.arrayValue ?? []
        #expect(stored == fixture)
        let backward = try await client.result("events.read", ["upcast": false, "direction": "backward", "limit": 5])
        #expect(backward["events"]?.arrayValue == Array(fixture.reversed().prefix(5)))
        try await daemon.stop()
    }

    @Test func exportOfTheImportedLogIsTheFixture() async throws {
        let daemon = try await SchemaV1FixtureTests.importedDaemon()
        let output = daemon.directory.appending("export.ndjson")
        let socket = daemon.socketPath
        let (status, _) = try await onOwnThread {
            try ExportImportTests.runTool("crmctl", ["export", "--socket", socket, "--output", output])
        }
        #expect(status == 0)
        let exported = try #require(FileManager.default.contents(atPath: output))
        let fixture = try #require(FileManager.default.contents(atPath: SchemaV1FixtureTests.fixturePath))
        #expect(exported == fixture)
        try await daemon.stop()
    }

    @Test func anUpcastReadIsRefusedByImport() async throws {
        let daemon = try await SchemaV1FixtureTests.importedDaemon()
        let client = try daemon.client()
        let events = try await client.result("events.read")["events"]?.arrayValue ?? []
        try await daemon.stop()
        var text: [UInt8] = []
        for event in events {
            event.write(into: &text)
            text.append(0x0A)
        }
        let directory = TemporaryDirectory()
        let file = directory.appending("upcast.ndjson")
        #expect(FileManager.default.createFile(atPath: file, contents: Data(text)))
        let input = try #require(FileHandle(forReadingAtPath: file))
        defer { try? input.close() }
        let error = #expect(throws: (any Error).self) {
            try LogImport.run(input: input, dataDirectory: directory.appending("data"), logger: Logger(label: "t"))
        }
        #expect("\(error.map { "\($0)" } ?? "")".contains("line 3: event 3 was read upcast from schema version 1 to 2"))
    }
}
