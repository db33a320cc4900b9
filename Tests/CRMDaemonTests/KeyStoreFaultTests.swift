import CRMApplication
import CRMJSON
import CRMProtocol
import CRMTesting
import Foundation
import LMDB
import Testing

/// A damaged entry of the key store, with the real process: that person's personal data reads as
/// unavailable, everything else works, and the log still verifies.
@Suite struct KeyStoreFaultTests {
    /// Flips a bit of the wrapped data key of subject `kid` in the stopped crmd's key store (the number
    /// comes from the main environment's `pii_keys` table).
    static func damageKey(of kid: String, dataDirectory: String) throws {
        let main = try Environment(path: dataDirectory)
        let stored = try main.read { txn in
            try txn.get(try txn.openDatabase("pii_keys", create: false), kid)
        }
        let number = try #require(stored)
        let keys = try Environment(path: dataDirectory + "/keys")
        let found = try keys.read { txn in try txn.get(try txn.openDatabase("dek", create: false), number) }
        var row = try #require(found)
        row[row.count - 1] ^= 0x01
        try keys.write { txn in try txn.put(try txn.openDatabase("dek", create: false), number, row) }
    }

    /// The stored row (KEK epoch and wrapped key) of subject `kid`'s data key in a stopped crmd's key
    /// store.
    static func wrappedKey(of kid: String, dataDirectory: String) throws -> [UInt8] {
        let main = try Environment(path: dataDirectory)
        let number = try #require(try main.read { txn in try txn.get(try txn.openDatabase("pii_keys"), kid) })
        let keys = try Environment(path: dataDirectory + "/keys")
        return try #require(try keys.read { txn in try txn.get(try txn.openDatabase("dek", create: false), number) })
    }

    @Test func afterAnErasureTheKeyStoreFileHoldsNoCopyOfTheDeletedKey() async throws {
        let directory = TemporaryDirectory()
        let data = directory.appending("data")
        let socket = directory.appending("crmd.sock")
        var daemon = try DaemonProcess(socketPath: socket, dataDirectory: data)
        var client = try RPCClient(socketPath: socket)
        for id in ["a", "b", "c"] {
            _ = try await client.result("customer.create", ["customer_id": .string(id), "first_name": "X"])
        }
        #expect(daemon.stop() == 0)
        let erasedKey = try Self.wrappedKey(of: "c:b", dataDirectory: data)
        let keptKey = try Self.wrappedKey(of: "c:a", dataDirectory: data)
        let file = data + "/keys/data.mdb"
        let before = try Data(contentsOf: URL(fileURLWithPath: file))
        #expect(before.range(of: Data(erasedKey.suffix(40))) != nil, "the test looks for the right bytes")

        daemon = try DaemonProcess(socketPath: socket, dataDirectory: data)
        client = try RPCClient(socketPath: socket)
        _ = try await client.result("customer.erase", ["customer_id": "b"])
        #expect(try await ErasureTests.waitUntilComplete(client, "b")["complete"] == true)
        #expect(try await client.result("customer.get", ["customer_id": "a"])["name"]?["first"] == "X")
        #expect(daemon.stop() == 0)
        // Neither the deleted key nor the rows the rotation replaced are left in free pages.
        let after = try Data(contentsOf: URL(fileURLWithPath: file))
        #expect(after.range(of: Data(erasedKey.suffix(40))) == nil)
        #expect(after.range(of: Data(keptKey.suffix(40))) == nil, "a's key is wrapped anew; its old row is gone")
        #expect(try Self.wrappedKey(of: "c:a", dataDirectory: data) != keptKey)

        // The compacted store opens and serves: a's data reads after a restart.
        daemon = try DaemonProcess(socketPath: socket, dataDirectory: data)
        client = try RPCClient(socketPath: socket)
        #expect(try await client.result("customer.get", ["customer_id": "a"])["name"]?["first"] == "X")
        _ = try await client.result("customer.create", ["customer_id": "d", "first_name": "Y"])
        #expect(daemon.stop() == 0)
    }

    @Test func aDamagedKeyLeavesOnlyThatPersonUnreadable() async throws {
        let directory = TemporaryDirectory()
        let data = directory.appending("data")
        let socket = directory.appending("crmd.sock")
        var daemon = try DaemonProcess(socketPath: socket, dataDirectory: data)
        var client = try RPCClient(socketPath: socket)
        _ = try await client.result("customer.create", ["customer_id": "first", "first_name": "First"])
        _ = try await client.result(
            "customer.create",
            [
                "customer_id": "v", "first_name": "Vesper", "emails": [["address": "vesper@example.org"]],
                "tags": ["vip"], "tier": "gold",
            ]
        )
        _ = try await client.result("customer.create", ["customer_id": "o", "first_name": "Otto"])
        _ = try await client.result(
            "ticket.open", ["ticket_id": "t1", "customer_id": "v", "subject": "Vesper's order", "channel": "email"]
        )
        _ = try await client.result(
            "activity.log",
            ["activity_id": "a1", "type": "note", "customer_ids": ["v"], "subject": "Vesper called back"]
        )
        let verified = try await client.result("audit.verify")
        #expect(daemon.stop() == 0)
        try Self.damageKey(of: "c:v", dataDirectory: data)

        daemon = try DaemonProcess(socketPath: socket, dataDirectory: data)
        client = try RPCClient(socketPath: socket)
        let profile = try await client.result("customer.get", ["customer_id": "v"])
        #expect(profile["pii_unavailable"] == true)
        #expect(profile["name"]?["first"] == .null && profile["emails"] == [])
        #expect(profile["tags"] == ["vip"] && profile["tier"] == "gold", "what is not personal is all there")
        #expect(profile["stats"]?["tickets_total"] == 1)
        let timeline = try await client.result("customer.timeline", ["customer_id": "v"])
        #expect(timeline["entries"]?.arrayValue?.count == 3)
        #expect(!timeline.serialized().contains(Array("Vesper".utf8)))
        let events = try await client.result("events.read", ["stream": "customer-v"])
        #expect(events["events"]?[0]?["pii"]?["$pii"] == "unavailable")
        #expect(try await client.result("ticket.get", ["ticket_id": "t1"])["subject"] == .null)
        // A reader that needs the personal data opened is told it cannot be, rather than given a header.
        let refused = try await client.error("events.read", ["stream": "customer-v", "decrypt": true])
        #expect(refused.reason == "pii_unavailable" && refused.code == -32038)
        #expect(refused.data?["details"]?["kid"] == "c:v")
        let whole = try await client.result("events.read", ["stream": "customer-o", "decrypt": true])
        #expect(whole["events"]?[0]?["pii"]?["first_name"] == "Otto")

        // Everyone else is whole, and every command still works, on the damaged customer too.
        #expect(try await client.result("customer.get", ["customer_id": "o"])["name"]?["first"] == "Otto")
        _ = try await client.result("customer.tag", ["customer_id": "v", "add": ["checked"]])
        _ = try await client.result("customer.update", ["customer_id": "o", "set": ["last_name": "Lilienthal"]])
        #expect(try await client.result("customer.get", ["customer_id": "v"])["tags"] == ["checked", "vip"])
        let after = try await client.result("audit.verify")
        #expect(after["ok"] == true)
        #expect(
            try await client.result("audit.verify", ["to": verified["head_position"] ?? 0])["hash"]
                == verified["head_hash"])
        #expect(daemon.stop() == 0)

        // A start that refolds the decision state from the first event reads every key at once; the
        // damaged one is left out there too, and the start goes on.
        let main = try Environment(path: data)
        try main.write { txn in try txn.put(try txn.openDatabase("meta"), "proj.state.version", Array("1".utf8)) }
        daemon = try DaemonProcess(socketPath: socket, dataDirectory: data)
        client = try RPCClient(socketPath: socket)
        let status = try await client.result("projection.status")["projections"]?.arrayValue ?? []
        #expect(status.first { $0["name"] == "state" }?["last_rebuild"]?["events"] == after["head_position"])
        #expect(try await client.result("customer.get", ["customer_id": "v"])["pii_unavailable"] == true)
        _ = try await client.result("customer.update", ["customer_id": "o", "set": ["last_name": "Anschütz"]])
        let otto = try await client.result("customer.get", ["customer_id": "o"])
        #expect(otto["name"]?["first"] == "Otto" && otto["name"]?["last"] == "Anschütz")
        #expect(daemon.stop() == 0)
    }
}
