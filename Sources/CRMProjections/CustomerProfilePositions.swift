import CRMDomain
import CRMJSON
import LMDB

/// The per-customer position index of the customer-profile read model: the positions of the events
/// that concern a customer, so that time travel (`customer.get` with `as_of`) folds those events
/// only, not the whole log.
///
/// An event concerns a customer when it is in the customer's own stream (`customer-<id>`), names
/// the customer (`customer_id`, or an element of `customer_ids`, in its data), or is in a deal or
/// ticket stream that named the customer at or before it.
extension CustomerProfileProjector {
    /// Records the position of `event` under every customer it concerns (`positions`), and the
    /// customers a deal or ticket stream names (`stream_customers`). Notifications concern no one here:
    /// no read model depends on them.
    func indexPosition(_ event: RecordedEvent, _ txn: Transaction) throws {
        guard !event.event.isNotification else { return }
        let named = event.event.namedCustomerIDs
        var customers = named
        if event.stream.hasPrefix(Self.ownStreamPrefix) {
            // Nearly always named by the event too.
            let own = String(event.stream.dropFirst(Self.ownStreamPrefix.count))
            if !customers.contains(own) { customers.append(own) }
        }
        if event.stream.hasPrefix("deal-") || event.stream.hasPrefix("ticket-") {
            let stream = Array(event.stream.utf8)
            for id in named { try txn.put(self.streamCustomers, ProfileKeys.pairKey(stream, id), [UInt8]()) }
            customers += try self.scanPairs(self.streamCustomers, stream, after: nil, limit: .max, txn).0
        }
        for id in customers.uniqued() {
            try txn.put(self.profiles, ProfileKeys.positionKey(id, event.seq), [UInt8]())
        }
    }

    /// The stream of a customer's own events is `customer-<id>`.
    static let ownStreamPrefix = "customer-"

    /// The positions, in log order, of the events up to `position` that concern `customerID`.
    package func positions(of customerID: String, through position: UInt64, _ txn: Transaction) throws -> [UInt64] {
        let prefix = ProfileKeys.positionsPrefix(customerID)
        return try txn.withCursor(self.profiles) { cursor in
            // Newest first: start at `position` and walk to the oldest.
            var result: [UInt64] = []
            var entry = try cursor.seek(atOrAfter: ProfileKeys.positionKey(customerID, position))
            while let found = entry, found.key.starts(with: prefix),
                let seq = ProfileKeys.decodePositionKey(found.key, prefixLength: prefix.count)
            {
                result.append(seq)
                entry = try cursor.next()
            }
            return result.reversed()
        }
    }
}
