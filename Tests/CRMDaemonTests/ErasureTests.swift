import CRMApplication
import CRMJSON
import CRMProtocol
import CRMTesting
import Foundation
import Testing

/// Erasure by crypto-shredding, through the socket of the real daemon: the event first, the keys
/// second, the hash chain untouched, every reader told `shredded`, every report number unchanged, and
/// a rebuild ending with the same read models.
@Suite struct ErasureTests {
    /// Customer `c7` (with a ticket, an activity of its own, a shared activity with `bo` and a deal
    /// both hold, `c7` first), and `bo`.
    static func populate(_ client: RPCClient) async throws {
        _ = try await client.result(
            "customer.create",
            [
                "at": "2026-03-01T10:01:00Z", "customer_id": "c7", "first_name": "Zebulon", "last_name": "Quixotewood",
                "tags": ["vip"],
                "emails": [["address": "zebulon.q@example.org"]], "phones": [["number": "+44 20 7946 0123"]],
            ]
        )
        _ = try await client.result(
            "customer.create", ["at": "2026-03-01T10:02:00Z", "customer_id": "bo", "first_name": "Bo"])
        _ = try await client.result(
            "activity.log",
            [
                "at": "2026-03-01T10:03:00Z", "activity_id": "a1", "type": "call", "direction": "outbound",
                "customer_ids": ["c7"],
                "subject": "Call with Zebulon",
            ]
        )
        _ = try await client.result(
            "activity.log",
            [
                "at": "2026-03-01T10:04:00Z", "activity_id": "a2", "type": "meeting", "customer_ids": ["c7", "bo"],
                "subject": "Quixotewood visit",
            ]
        )
        _ = try await client.result(
            "deal.create",
            [
                "at": "2026-03-01T10:05:00Z", "deal_id": "d1", "pipeline_id": "sales", "name": "Quixotewood renewal",
                "customer_ids": ["c7", "bo"],
            ]
        )
        _ = try await client.result(
            "deal.move", ["at": "2026-03-01T10:06:00Z", "deal_id": "d1", "stage_id": "qualification"])
        _ = try await client.result(
            "ticket.open",
            [
                "at": "2026-03-01T10:07:00Z", "ticket_id": "t1", "customer_id": "c7", "subject": "Zebulon's printer",
                "channel": "email",
            ]
        )
    }

    /// Every report number, for comparing before and after an erasure.
    static func reports(_ client: RPCClient) async throws -> [JSON] {
        [
            try await client.result(
                "funnel.report",
                ["pipeline_id": "sales", "from": "2026-03-01T00:00:00Z", "to": "2026-04-01T00:00:00Z"]
            ),
            try await client.result("funnel.snapshot", ["pipeline_id": "sales"]),
            try await client.result("sla.report", ["from": "2026-03-01T00:00:00Z", "to": "2026-04-01T00:00:00Z"]),
        ]
    }

    /// Asks `customer.erasure_status` until the erasure of `customer` is complete (the key-encryption
    /// key is replaced right after the reply), at most `attempts` times.
    static func waitUntilComplete(_ client: RPCClient, _ customer: String, attempts: Int = 500) async throws -> JSON {
        var status: JSON = .null
        for _ in 0..<attempts {
            status = try await client.result("customer.erasure_status", ["customer_id": .string(customer)])
            if status["complete"] == true { break }
        }
        return status
    }

    @Test func theWorkedExampleErasesThePersonAndKeepsTheChainTheNumbersAndTheReadModels() async throws {
        let directory = TemporaryDirectory()
        let data = directory.appending("data")
        let socket = directory.appending("crmd.sock")
        let daemon = try DaemonProcess(socketPath: socket, dataDirectory: data)
        let client = try RPCClient(socketPath: socket)
        try await Self.populate(client)
        let before = try await client.result("audit.verify")
        let head = try #require(before["head_position"]?.intValue)
        let reports = try await Self.reports(client)
        let stats = try await client.result("customer.get", ["customer_id": "c7"])

        let erased = try await client.result(
            "customer.erase", ["customer_id": "c7", "reason": "art17_1a", "request_ref": "DSR-42"]
        )
        #expect(erased["events"]?[0]?["type"] == "CustomerErased")
        let erasedSeq = try #require(erased["events"]?[0]?["seq"]?.intValue)

        // The chain is untouched: up to the event before, the chain's hash is the head hash it was.
        #expect(try await client.result("audit.verify", ["to": .int(head)])["hash"] == before["head_hash"])
        #expect(try await client.result("audit.verify")["ok"] == true)

        // Every reader is told the data is shredded, with the erasure's position.
        let created = try await client.result("events.read", ["stream": "customer-c7", "limit": 1])
        let pii = try #require(created["events"]?[0]?["pii"])
        #expect(pii["$pii"] == "shredded")
        #expect(pii["kid"] == "c:c7")
        #expect(pii["erased_seq"] == .int(erasedSeq))
        #expect(pii["fields"]?.arrayValue?.contains("first_name") == true)
        let event = try await client.result("events.read", ["from": .int(erasedSeq), "limit": 1])
        // The shared activity keeps its key while `bo` is not erased.
        #expect(event["events"]?[0]?["data"]?["key_ids"] == ["c:c7"])

        // As of before the erasure: what was not personal then, and word that the rest is shredded.
        let past = try await client.result("customer.get", ["customer_id": "c7", "as_of": .int(head)])
        #expect(past["pii_shredded"] == true && past["state"] == "active")
        #expect(past["name"]?["first"] == .null && past["tags"] == ["vip"])
        // Shredded data is no error for a reader that asks for it opened.
        let opened = try await client.result("events.read", ["stream": "customer-c7", "limit": 1, "decrypt": true])
        #expect(opened["events"]?[0]?["pii"]?["$pii"] == "shredded")

        // The profile is a tombstone: personal fields gone, the rest kept.
        let profile = try await client.result("customer.get", ["customer_id": "c7"])
        #expect(profile["state"] == "erased")
        #expect(profile["name"]?["first"] == .null)
        #expect(profile["emails"] == [])
        #expect(profile["phones"] == [])
        #expect(profile["tags"] == ["vip"])
        #expect(profile["lifecycle_stage"] == stats["lifecycle_stage"])
        let timeline = try await client.result("customer.timeline", ["customer_id": "c7"])
        #expect(timeline["entries"]?[0]?["kind"] == "customer.erased")
        #expect(!timeline.serialized().contains(Array("Zebulon".utf8)))
        // The deal and the ticket stay, without their personal texts; the other customer is whole.
        #expect(try await client.result("deal.get", ["deal_id": "d1"])["name"] == .null)
        #expect(try await client.result("ticket.get", ["ticket_id": "t1"])["subject"] == .null)
        #expect(try await client.result("customer.get", ["customer_id": "bo"])["name"]?["first"] == "Bo")
        let shared = try await client.result("customer.timeline", ["customer_id": "bo"])
        #expect(shared.serialized().contains(Array("Quixotewood visit".utf8)), "the shared activity is still read")
        #expect(!shared.serialized().contains(Array("Quixotewood renewal".utf8)), "the deal was named under c7's key")
        #expect(try await Self.reports(client) == reports, "every report number is unchanged")

        let status = try await Self.waitUntilComplete(client, "c7")
        #expect(status["complete"] == true)
        #expect(status["erased_seq"] == .int(erasedSeq))
        #expect(status["keys_deleted_at"]?.stringValue != nil)
        #expect(status["kek_rotated_at"]?.stringValue != nil)

        // The address is blocked, unless the person asked to come back; a second erasure is a no-op.
        let blocked = try await client.error(
            "customer.create", ["first_name": "Z", "emails": [["address": "Zebulon.Q@example.org"]]]
        )
        #expect(blocked.reason == "email_erased")
        #expect(blocked.field == "emails[0].address")
        _ = try await client.result(
            "customer.create",
            ["customer_id": "z2", "emails": [["address": "zebulon.q@example.org"]], "allow_previously_erased": true]
        )
        #expect(try await client.result("customer.erase", ["customer_id": "c7"])["events"] == [])

        // Rebuilt from the log after the erasure, the read models are the live ones, byte for byte.
        _ = try await client.result("projection.rebuild", ["name": "all"])
        _ = try await ProjectionLifecycleTests.waitUntilSettled(client)
        #expect(try await client.result("audit.verify", ["read_models": true])["read_models"]?["ok"] == true)
        #expect(try await client.result("customer.get", ["customer_id": "c7"]) == profile)

        // Erasing the last customer of the shared activity destroys its key too.
        let last = try await client.result("customer.erase", ["customer_id": "bo"])
        let lastSeq = try #require(last["events"]?[0]?["seq"]?.intValue)
        let lastEvent = try await client.result("events.read", ["from": .int(lastSeq), "limit": 1])
        #expect(lastEvent["events"]?[0]?["data"]?["key_ids"] == ["c:bo", "a:a2"])
        let activity = try await client.result("events.read", ["stream": "activity-a2"])
        #expect(activity["events"]?[0]?["pii"]?["$pii"] == "shredded")
        _ = try await client.result("projection.rebuild", ["name": "all"])
        _ = try await ProjectionLifecycleTests.waitUntilSettled(client)
        #expect(try await client.result("audit.verify", ["read_models": true])["read_models"]?["ok"] == true)
        #expect(daemon.stop() == 0)
        #expect(try PersonalDataEncryptionTests.secretsFound(inFile: data + "/data.mdb") == [])
    }

    @Test func aLegalHoldRefusesErasureAndNothingIsWritten() async throws {
        let daemon = try await TestDaemon()
        let client = try daemon.client()
        _ = try await client.result("customer.create", ["customer_id": "c7", "first_name": "Zebulon"])
        _ = try await client.result("customer.set_legal_hold", ["customer_id": "c7", "on": true, "reason": "case 12"])
        let before = try await Snapshot.take(client, customer: "c7")
        let refused = try await client.error("customer.erase", ["customer_id": "c7"])
        #expect(refused.reason == "legal_hold")
        #expect(refused.code == -32037)
        #expect(refused.field == "customer_id")
        #expect(try await Snapshot.take(client, customer: "c7") == before)
        #expect(try await client.result("customer.erasure_status", ["customer_id": "c7"])["legal_hold"] == true)

        #expect(try await client.error("customer.erase", ["customer_id": "nobody"]).reason == "not_found")
        #expect(try await client.error("customer.erase", ["customer_id": "c7", "why": "x"]).reason == "invalid_field")
        #expect(try await client.error("customer.erase", ["reason": "art17_1a"]).reason == "missing_field")
        #expect(try await client.error("customer.set_legal_hold", ["customer_id": "c7"]).reason == "missing_field")
        #expect(try await Snapshot.take(client, customer: "c7") == before)

        _ = try await client.result("customer.set_legal_hold", ["customer_id": "c7", "on": false])
        _ = try await client.result("customer.erase", ["customer_id": "c7"])
        #expect(
            try await client.error("customer.update", ["customer_id": "c7", "set": ["first_name": "Z"]]).reason
                == "customer_erased")
    }

    @Test func keysStillHeldAfterACrashBetweenTheCommitAndTheirDeletionAreDeletedAtStart() async throws {
        let directory = TemporaryDirectory()
        let data = directory.appending("data")
        let socket = directory.appending("crmd.sock")
        var daemon = try DaemonProcess(socketPath: socket, dataDirectory: data)
        var client = try RPCClient(socketPath: socket)
        try await Self.populate(client)
        #expect(daemon.stop() == 0)
        // The key store and its key-encryption key as they were before the erasure: what a crash right
        // after the erasure's commit leaves behind.
        let keys = directory.appending("keys-before")
        let kek = directory.appending("kek-before")
        try FileManager.default.copyItem(atPath: data + "/keys", toPath: keys)
        try FileManager.default.copyItem(atPath: data + "-keys", toPath: kek)

        daemon = try DaemonProcess(socketPath: socket, dataDirectory: data)
        client = try RPCClient(socketPath: socket)
        _ = try await client.result("customer.erase", ["customer_id": "c7"])
        _ = try await Self.waitUntilComplete(client, "c7")
        #expect(daemon.stop() == 0)
        try FileManager.default.removeItem(atPath: data + "/keys")
        try FileManager.default.removeItem(atPath: data + "-keys")
        try FileManager.default.copyItem(atPath: keys, toPath: data + "/keys")
        try FileManager.default.copyItem(atPath: kek, toPath: data + "-keys")

        daemon = try DaemonProcess(socketPath: socket, dataDirectory: data)
        client = try RPCClient(socketPath: socket)
        let status = try await client.result("customer.erasure_status", ["customer_id": "c7"])
        #expect(status["keys_deleted_at"]?.stringValue != nil, "the start-up repair deleted the keys")
        let created = try await client.result("events.read", ["stream": "customer-c7", "limit": 1])
        #expect(created["events"]?[0]?["pii"]?["$pii"] == "shredded")
        #expect(try await client.result("customer.get", ["customer_id": "bo"])["name"]?["first"] == "Bo")
        #expect(try await client.result("audit.verify")["ok"] == true)
        #expect(daemon.stop() == 0)
    }

    @Test func sigkillBetweenTheErasureCommitAndTheKeyDeletionIsRepairedAtStart() async throws {
        let directory = TemporaryDirectory()
        let data = directory.appending("data")
        let socket = directory.appending("crmd.sock")
        var daemon = try DaemonProcess(
            socketPath: socket, dataDirectory: data, environment: ["CRMD_TEST_CRASH_AT": "after-erasure-commit"]
        )
        var client = try RPCClient(socketPath: socket)
        try await Self.populate(client)
        // The erasure commits, then crmd dies before deleting the keys: no reply comes.
        await #expect(throws: (any Error).self) { try await client.result("customer.erase", ["customer_id": "c7"]) }
        #expect(daemon.stop() == SIGKILL, "killed by the crash point")

        daemon = try DaemonProcess(socketPath: socket, dataDirectory: data)
        client = try RPCClient(socketPath: socket)
        let status = try await Self.waitUntilComplete(client, "c7")
        #expect(status["erased_seq"]?.intValue != nil, "the erasure was committed")
        #expect(status["keys_deleted_at"]?.stringValue != nil, "the start-up repair deleted the keys")
        #expect(status["complete"] == true)
        let created = try await client.result("events.read", ["stream": "customer-c7", "limit": 1])
        #expect(created["events"]?[0]?["pii"]?["$pii"] == "shredded")
        #expect(try await client.result("customer.get", ["customer_id": "c7"])["state"] == "erased")
        #expect(try await client.result("customer.get", ["customer_id": "bo"])["name"]?["first"] == "Bo")
        #expect(try await client.result("audit.verify")["ok"] == true)
        #expect(daemon.stop() == 0)
    }

    @Test func aPlainTextLogCannotEraseAnything() async throws {
        let daemon = try await TestDaemon { $0.encryptPersonalData = false }
        let client = try daemon.client()
        _ = try await client.result("customer.create", ["customer_id": "c7", "first_name": "Zebulon"])
        let before = try await Snapshot.take(client, customer: "c7")
        let refused = try await client.error("customer.erase", ["customer_id": "c7"])
        #expect(refused.reason == "bad_request")
        #expect(refused.message.contains("migrate --encrypt-pii"))
        #expect(try await Snapshot.take(client, customer: "c7") == before)
    }
}
