import CRMDomain
import CRMEventStore
import CRMJSON
import CRMProjections
import Foundation
import LMDB

/// Time travel: answers as the daemon would have given them at an earlier point of the log.
extension CRMCore {
    /// The position an `as_of` param names: a position (capped at the head), or an RFC 3339 time,
    /// meaning the last event recorded at or before it (0 when none was).
    func position(asOf value: JSON, head: UInt64, _ txn: Transaction) throws -> UInt64 {
        if let number = value.intValue {
            guard number >= 0 else { throw Rejection.invalid("as_of", "must be a position ≥ 0 or an RFC 3339 time") }
            return min(UInt64(number), head)
        }
        guard let text = value.stringValue, let millis = Timestamp.parse(text) else {
            throw Rejection.invalid("as_of", "must be a position ≥ 0 or an RFC 3339 time")
        }
        // recorded_at grows with the position, so a binary search finds the last event at or before it.
        var low: UInt64 = 0
        var high = head
        while low < high {
            let middle = low + (high - low + 1) / 2
            let recordedAt = try self.store.event(at: middle, txn)?.recordedAt ?? Int64.max
            if recordedAt <= millis { low = middle } else { high = middle - 1 }
        }
        return low
    }

    /// `customer.get {customer_id, as_of}`: the profile as it was at that point, folded afresh from
    /// the events up to it that touch the customer (its own stream, activities naming it, its deals
    /// and tickets) with the same projector that serves the live answer, in a scratch environment.
    ///
    /// It reads the log up to `as_of` once; a per-customer index of positions would make it
    /// independent of the log's length.
    func customerAsOf(_ params: JSON?) throws -> JSON {
        var reader = try Params(params)
        let id = try reader.identifier("customer_id", required: true)!
        let asOf = try reader.raw("as_of", required: true)!
        try reader.finish()
        let (position, events) = try self.environment.read { txn -> (UInt64, [RecordedEvent]) in
            let head = try self.store.head(txn).seq
            let position = try self.position(asOf: asOf, head: head, txn)
            var events: [RecordedEvent] = []
            var deals: Set<String> = []
            var tickets: Set<String> = []
            let own = "customer-\(id)"
            try self.store.forEachRecord(from: 1, txn) { seq, record in
                guard seq <= position else { return false }
                let event = try EventRecord.decode(record)
                let names = event.data["customer_ids"]?.arrayValue?.contains(.string(id)) == true
                    || event.data["customer_id"] == .string(id)
                if event.stream.hasPrefix("deal-"), names { deals.insert(event.stream) }
                if event.stream.hasPrefix("ticket-"), names { tickets.insert(event.stream) }
                if event.stream == own || names || deals.contains(event.stream) || tickets.contains(event.stream) {
                    events.append(event)
                }
                return true
            }
            return (position, events)
        }
        guard events.contains(where: { $0.stream == "customer-\(id)" }) else {
            throw Rejection(
                .notFound,
                field: "customer_id",
                "customer \(id) did not exist at position \(position)",
                details: ["id": .string(id), "position": .int(Int64(position))]
            )
        }
        let scratch = FileManager.default.temporaryDirectory
            .appendingPathComponent("crmd-asof-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        var options = Environment.Options()
        options.mapSize = 256 << 20
        options.noSync = true  // a throwaway fold, never acknowledged to anyone
        let environment = try Environment(path: scratch, options: options)
        var profile = try environment.write { txn -> JSON in
            let projector = try CustomerProfileProjector(txn)
            for event in events { try projector.apply(event, txn) }
            guard let get = projector.queries["customer.get"] else { return .null }
            return try get(["customer_id": .string(id)], txn)
        }
        profile["as_of"] = ["position": .int(Int64(position))]
        return profile
    }
}
