@testable import CRMApplication
import CRMJSON
import CRMProjections
import CRMProtocol
import CRMTesting
import LMDB
import Foundation
import Testing

/// `audit.verify` over part of the log: what a range past the head, a reversed range and a range
/// ending before the head answer.
@Suite struct AuditRangeTests {
    @Test func aRangeIsReportedWithTheHashAtItsEndAndBadRangesAreRefused() async throws {
        let daemon = try await TestDaemon()
        let client = try daemon.client()
        for index in 1...4 { _ = try await client.createCustomer(["first_name": .string("P\(index)")]) }
        let whole = try await client.result("audit.verify")
        let head = try #require(whole["head_position"]?.intValue)
        #expect(whole["hash"] == whole["head_hash"])
        #expect(whole["to"] == .int(head))

        // to: P reports the chain's hash at P, not the head's.
        let part = try await client.result("audit.verify", ["to": .int(head - 1)])
        #expect(part["ok"] == true)
        #expect(part["to"] == .int(head - 1))
        #expect(part["hash"] != whole["head_hash"])
        let events = try await client.result("events.read", ["from": .int(head - 1), "limit": 1])
        #expect(part["hash"] == events["events"]?[0]?["hash"])

        // from past the head is a bad request, not a broken chain.
        let before = try await Snapshot.take(client)
        let past = try await client.error("audit.verify", ["from": .int(head + 5)])
        #expect(past.code == -32602)
        #expect(past.reason == "invalid_field")
        #expect(past.data?["field"] == "from")
        #expect(past.data?["details"]?["head"] == .int(head))
        let reversed = try await client.error("audit.verify", ["from": 5, "to": 2])
        #expect(reversed.reason == "invalid_field")
        #expect(reversed.data?["field"] == "to")
        let key = try await client.error("audit.verify", ["public_key": "not a key"])
        #expect(key.reason == "invalid_field")
        #expect(key.data?["field"] == "public_key")
        #expect(try await Snapshot.take(client) == before)

        // crmctl refuses a reversed range itself, as a usage error.
        let (status, output) = try ExportImportTests.runTool(
            "crmctl",
            ["audit", "verify", "--from", "10", "--to", "5", "--socket", daemon.socketPath]
        )
        #expect(status == 64)
        #expect(output.contains("--to (5) must not be before --from (10)"))
        try await daemon.stop()
    }
}

/// `audit.verify {read_models: true}`: every live read model equals a fresh fold of the log, and a
/// changed row is named.
@Suite struct ReadModelAuditTests {
    @Test func aChangedReadModelRowIsNamedByTheReadModelAudit() async throws {
        let daemon = try await TestDaemon()
        let client = try daemon.client()
        let ada = try await client.createCustomer(["first_name": "Ada", "tags": ["vip"]])
        _ = try await client.createCustomer(["first_name": "Bob"])
        _ = try await client.result(
            "activity.log",
            ["type": "note", "customer_ids": [.string(ada)], "body": "Called", "activity_id": "n1"]
        )
        let clean = try await client.result("audit.verify", ["read_models": true])
        #expect(clean["ok"] == true)
        let models = try #require(clean["read_models"]?["projections"]?.arrayValue)
        #expect(models.count == daemon.core.runner.readModels.count)
        #expect(models.allSatisfy { $0["equal"] == true })

        // Flip the last byte of one row of the live customer read model, behind crmd's back.
        let core = daemon.core
        let index = try #require(core.runner.readModels.firstIndex { $0.name == "customers" })
        let changedKey = try core.environment.write { txn -> [UInt8] in
            let slot = try #require(try core.runner.servingSlot(index, txn)?.slot)
            let table = core.runner.readModels[index].slots[slot].databases[0]
            let (key, value) = try txn.withCursor(table) { cursor in
                let row = try #require(try cursor.first())
                return (row.keyBytes, row.valueBytes)
            }
            var changed = value
            changed[changed.count - 1] ^= 0x01
            try txn.put(table, key, changed)
            return key
        }
        let report = try await client.result("audit.verify", ["read_models": true])
        #expect(report["ok"] == false)
        #expect(report["broken_at"] == .null)
        let customers = try #require(report["read_models"]?["projections"]?.arrayValue?.first { $0["name"] == "customers" })
        #expect(customers["equal"] == false)
        #expect(customers["first_difference"]?["table"] == 0)
        #expect(customers["first_difference"]?["key"] == .string(LogQueries.printable(changedKey)))
        #expect(customers["first_difference"]?["problem"] == "the row differs from a fresh fold of the log")
        try await daemon.stop()
    }
}
