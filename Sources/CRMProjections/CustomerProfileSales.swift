import CRMDomain
import LMDB

extension CustomerProfileProjector {
    /// Folds deal events into the profiles of the deal's customers: `stats.open_deals`, `won_deals` and
    /// `won_amount{currency: decimal string}`, plus `deal.created` / `deal.stage_changed` timeline
    /// entries. The profile keeps a `deals` member `{deal_id: {kind, amount, currency}}` from which
    /// those stats are computed, and the profiles table keeps one extra row per deal (key
    /// `#deal#<deal_id>`, never a valid customer id) listing the deal's customers.
    func applySalesEvent(_ event: RecordedEvent, _ txn: Transaction) throws {
        guard case .sales(let sales) = event.event else { return }
        switch sales {
        case .pipelineDefined, .orderRecorded, .orderRefunded, .orderCancelled, .valueModelFitted, .churnMarked,
            .churnUnmarked, .valueSettingsChanged, .rfmSegmentMapDefined, .rfmSnapshotTaken:
            // Orders are the value read model's.
            return
        case .dealCreated(let created):
            let dealID = created.dealID
            let fact = ProfileStats.DealFact(kind: created.kind, amount: created.amount, currency: created.currency)
            let note = TimelineNote.dealCreated(dealID: dealID, name: created.name, stageID: created.stageID)
            for customerID in created.customerIDs {
                try self.updateDealFact(customerID, dealID, event, note, txn) { _ in fact }
            }
        case .dealStageChanged(let changed):
            let dealID = changed.dealID
            let note = TimelineNote.dealStageChanged(dealID: dealID, from: changed.from ?? "?", to: changed.to)
            for customerID in try self.customersHolding(dealID, txn) {
                try self.updateDealFact(customerID, dealID, event, note, txn) { fact in
                    var fact = fact ?? ProfileStats.DealFact(kind: changed.toKind)
                    fact.kind = changed.toKind
                    return fact
                }
            }
        case .dealUpdated(let updated):
            let dealID = updated.dealID
            let holders = try self.customersHolding(dealID, txn)
            var current: ProfileStats.DealFact? = nil
            for customerID in holders {
                if let fact = try self.loadStats(customerID, txn)?.deals?[dealID] {
                    current = fact
                    break
                }
            }
            var fact = current ?? ProfileStats.DealFact(kind: "open")
            if let change = updated.amount { fact.amount = change.to }
            if let change = updated.currency { fact.currency = change.to }
            let newCustomers = updated.customerIDs.map { $0.to ?? holders } ?? holders
            for customerID in holders where !newCustomers.contains(customerID) {
                try self.updateDealFact(customerID, dealID, event, nil, txn) { _ in nil }
            }
            for customerID in newCustomers {
                try self.updateDealFact(customerID, dealID, event, nil, txn) { _ in fact }
            }
        }
    }

    /// The format byte of a deal-holders row.
    static let dealHoldersFormat: UInt8 = 1

    /// The customers whose profile lists `dealID` (from the `#deal#<deal_id>` row).
    func customersHolding(_ dealID: String, _ txn: Transaction) throws -> [String] {
        guard let bytes = try txn.get(self.profiles, Self.dealKey(dealID)) else { return [] }
        let what = "customer list of deal \(dealID)"
        return try ProfileStorageError.reading(bytes, format: Self.dealHoldersFormat, what: what) {
            row throws(StateDecodingError) in try row.strings()
        }
    }

    /// Stores `holders` as the customers whose profile lists `dealID`.
    func storeHolders(_ holders: [String], of dealID: String, _ txn: Transaction) throws {
        var row = BinaryRowWriter(capacity: 16 + 32 * holders.count)
        row.byte(Self.dealHoldersFormat)
        row.strings(holders)
        try txn.put(self.profiles, Self.dealKey(dealID), row.bytes)
    }

    /// The profiles-table key of the customer list of a deal. Customer ids never contain `#`.
    private static func dealKey(_ dealID: String) -> String { "#deal#\(dealID)" }

    /// Replaces the deal fact of one customer with `change(old)` (`nil` removes it), which changes the
    /// customer's deal stats, and adds `note` to the timeline.
    private func updateDealFact(
        _ customerID: String,
        _ dealID: String,
        _ event: RecordedEvent,
        _ note: TimelineNote?,
        _ txn: Transaction,
        _ change: (ProfileStats.DealFact?) -> ProfileStats.DealFact?
    ) throws {
        guard var stats = try self.loadStats(customerID, txn) else { return }
        var facts = stats.deals ?? [:]
        let new = change(facts[dealID])
        facts[dealID] = new
        stats.deals = facts
        try self.storeStats(stats, of: customerID, txn)
        var holders = try self.customersHolding(dealID, txn)
        if new == nil {
            holders.removeAll { $0 == customerID }
        } else if !holders.contains(customerID) {
            holders.append(customerID)
        }
        try self.storeHolders(holders, of: dealID, txn)
        if let note {
            try self.putTimelineEntry(note, for: event, customerID: customerID, txn)
        }
    }
}
