import CRMDomain
import CRMEventStore
import CRMJSON
import CRMProjections
import Foundation
import LMDB
import Testing

/// The customer read model's position index lists exactly the events that concern a customer.
@Suite struct CustomerPositionIndexTests {
    /// The events of `log` that concern `id`, by the definition the index follows.
    static func concerning(_ id: String, _ log: [RecordedEvent]) -> [UInt64] {
        var streams: Set<String> = []
        var result: [UInt64] = []
        for event in log {
            let names = event.payloadData["customer_ids"]?.arrayValue?.contains(.string(id)) == true
                || event.payloadData["customer_id"] == .string(id)
            if names, event.stream.hasPrefix("deal-") || event.stream.hasPrefix("ticket-") {
                streams.insert(event.stream)
            }
            if event.stream == "customer-\(id)" || names || streams.contains(event.stream) { result.append(event.seq) }
        }
        return result
    }

    @Test func theIndexListsTheEventsThatConcernEachCustomer() throws {
        let harness = try SlaHarness()
        try SlaProjectionTests.seed(harness)
        try SlaProjectionTests.workload(harness, seed: 5, steps: 150)
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("crmd-positions-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var options = Environment.Options()
        options.noSync = true
        let environment = try Environment(path: directory, options: options)
        let projector = try environment.write { txn in try CustomerProfileProjector(txn) }
        try environment.write { txn in
            for event in harness.log { try projector.apply(event, txn) }
        }
        let head = try #require(harness.log.last?.seq)
        for id in ["c0", "c1", "c2", "nobody"] {
            for through in [head / 3, head / 2, head] {
                let indexed = try environment.read { txn in try projector.positions(of: id, through: through, txn) }
                let expected = Self.concerning(id, harness.log.filter { $0.seq <= through })
                #expect(indexed == expected, "\(id) through \(through)")
            }
        }
        let all = try environment.read { txn in try projector.positions(of: "c1", through: head, txn) }
        #expect(all.count > 10)
    }
}
