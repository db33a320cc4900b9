import CRMApplication
import CRMJSON
import CRMProtocol
import CRMTesting
import Foundation
import Testing

/// `system.migrate`: a log whose personal data is in plain text copied into an encrypted one, the two
/// chains linked by `LogMigrated`.
@Suite struct LogMigrationTests {
    @Test func theOldSchemaFixtureCopiedIntoAnEncryptedLogReadsTheSame() async throws {
        let source = try await SchemaV1FixtureTests.importedDaemon()
        let client = try source.client()
        let before = try await client.result("events.read", ["limit": 1000])
        let events = try #require(before["events"]?.arrayValue)
        let customers = Set(events.compactMap { $0["stream"]?.stringValue }.filter { $0.hasPrefix("customer-") })
        var profiles: [String: JSON] = [:]
        for stream in customers {
            let id = String(stream.dropFirst("customer-".count))
            profiles[id] = try await client.result("customer.get", ["customer_id": .string(id)])
        }
        let oldHead = try await client.result("system.stats")["head"]

        let target = TemporaryDirectory()
        let to = target.appending("data")
        let result = try await client.result("system.migrate", ["to": .string(to), "encrypt_pii": true])
        #expect(result["events"] == 25)
        #expect(result["from_head"] == oldHead)
        #expect(result["head"]?["position"] == 26)
        #expect(result["kek_dir"] == .string(to + "-keys"))
        // A second copy into the same place is refused; so are bad params.
        #expect(try await client.error("system.migrate", ["to": .string(to), "encrypt_pii": true]).reason == "already_exists")
        #expect(try await client.error("system.migrate", ["to": "relative/dir", "encrypt_pii": true]).field == "to")
        #expect(try await client.error("system.migrate", ["to": .string(to + "2"), "encrypt_pii": false]).field == "encrypt_pii")
        #expect(try await client.error("system.migrate", ["encrypt_pii": true]).reason == "missing_field")
        try await source.stop()

        let copy = try await TestDaemon(directory: target)
        let copyClient = try copy.client()
        // Every event at its position with the same payloads (opened for the admin), times and actor.
        let after = try #require(try await copyClient.result("events.read", ["limit": 1000])["events"]?.arrayValue)
        #expect(after.count == 26)
        for (old, new) in zip(events, after) {
            for member in ["seq", "stream", "stream_version", "type", "data", "pii", "occurred_at", "recorded_at", "actor"] {
                #expect(old[member] == new[member], "\(member) of \(old["seq"] ?? nil)")
            }
        }
        let link = after[25]
        #expect(link["type"] == "LogMigrated")
        #expect(link["stream"] == "system-log")
        #expect(link["data"]?["old_head_seq"] == oldHead?["position"])
        #expect(link["data"]?["old_head_hash"] == oldHead?["hash"])
        #expect(link["data"]?["new_head_hash"] == after[24]["hash"])
        // Stored, every personal part is an envelope.
        let stored = try #require(
            try await copyClient.result("events.read", ["limit": 1000, "upcast": false])["events"]?.arrayValue
        )
        for event in stored where event["pii"] != .null {
            #expect(event["pii"]?["alg"] == "A256GCM", "\(event["seq"] ?? nil)")
        }
        for (id, profile) in profiles {
            #expect(try await copyClient.result("customer.get", ["customer_id": .string(id)]) == profile)
        }
        #expect(try await copyClient.result("audit.verify")["ok"] == true)
        // The copy is encrypted: migrating it again is refused.
        let again = try await copyClient.error("system.migrate", ["to": .string(target.appending("x")), "encrypt_pii": true])
        #expect(again.field == "encrypt_pii")
        try await copy.stop()
    }
}
