import CRMApplication
import CRMJSON
import CRMProtocol
import CRMTesting
import Foundation
import Testing

/// A hot backup taken before an erasure, restored with the current key store: the erasure comes back,
/// because the key store is the record of erasures.
@Suite struct RestoreErasureTests {
    @Test func anErasureAfterTheBackupIsAppendedAgainAtStart() async throws {
        let directory = TemporaryDirectory()
        let data = directory.appending("data")
        let socket = directory.appending("crmd.sock")
        var daemon = try DaemonProcess(socketPath: socket, dataDirectory: data)
        var client = try RPCClient(socketPath: socket)
        try await ErasureTests.populate(client)
        let backup = try await client.result("system.backup", ["name": "before"])
        let backupPath = try #require(backup["path"]?.stringValue)
        let backupHead = try #require(backup["head"]?["position"]?.intValue)
        _ = try await client.result("customer.erase", ["customer_id": "c7", "reason": "art17_1a"])
        _ = try await ErasureTests.waitUntilComplete(client, "c7")
        let erasedProfile = try await client.result("customer.get", ["customer_id": "c7"])
        #expect(daemon.stop() == 0)

        // Restore: the backup's log in place of the data directory's, the current key store kept.
        try FileManager.default.removeItem(atPath: data + "/data.mdb")
        try? FileManager.default.removeItem(atPath: data + "/lock.mdb")
        try FileManager.default.copyItem(atPath: backupPath + "/data.mdb", toPath: data + "/data.mdb")

        daemon = try DaemonProcess(socketPath: socket, dataDirectory: data)
        client = try RPCClient(socketPath: socket)
        _ = try await ProjectionLifecycleTests.waitUntilSettled(client)
        let appended = try await client.result("events.read", ["from": .int(backupHead + 1)])
        let events = try #require(appended["events"]?.arrayValue)
        #expect(events.count == 1, "one erasure appended again, nothing else")
        let event = try #require(events.first)
        #expect(event["type"] == "CustomerErased")
        #expect(event["data"]?["reapplied_after_restore"] == true)
        #expect(event["data"]?["customer_id"] == "c7")
        #expect(event["data"]?["key_ids"] == ["c:c7"])
        #expect(event["data"]?["erased_fields"]?.arrayValue?.contains("first_name") == true)

        // The profile is the tombstone again, the address blocked, the other customer whole.
        let profile = try await client.result("customer.get", ["customer_id": "c7"])
        #expect(profile["state"] == "erased")
        #expect(profile["pii_unavailable"] == nil)
        for member in ["name", "emails", "phones", "tags", "lifecycle", "stats"] {
            #expect(profile[member] == erasedProfile[member], "\(member)")
        }
        let blocked = try await client.error(
            "customer.create", ["first_name": "Z", "emails": [["address": "zebulon.q@example.org"]]]
        )
        #expect(blocked.reason == "email_erased")
        #expect(try await client.result("customer.get", ["customer_id": "bo"])["name"]?["first"] == "Bo")
        #expect(try await client.result("audit.verify")["ok"] == true)
        #expect(try await client.result("audit.verify", ["read_models": true])["read_models"]?["ok"] == true)
        let head = try await client.result("system.stats")["head"]
        #expect(daemon.stop() == 0)

        // The next start finds nothing to do.
        daemon = try DaemonProcess(socketPath: socket, dataDirectory: data)
        client = try RPCClient(socketPath: socket)
        #expect(try await client.result("system.stats")["head"] == head)
        #expect(daemon.stop() == 0)
        #expect(try PersonalDataEncryptionTests.secretsFound(inFile: data + "/data.mdb") == [])
    }
}
