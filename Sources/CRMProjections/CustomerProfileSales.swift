import CRMDomain
import CRMJSON
import LMDB

extension CustomerProfileProjector {
    /// Folds deal events into the profiles of the deal's customers: `stats.open_deals`, `won_deals` and
    /// `won_amount{currency: decimal string}`, plus `deal.created` / `deal.stage_changed` timeline
    /// entries. The profile keeps a `deals` member `{deal_id: {kind, amount, currency}}` so that later
    /// stage changes and updates can recompute the stats, and the profiles table keeps one extra row per
    /// deal (key `#deal#<deal_id>`, never a valid customer id) listing the deal's customers.
    func applySalesEvent(_ event: RecordedEvent, _ txn: Transaction) throws {
        guard case .sales(let sales) = event.event else { return }
        switch sales {
        case .pipelineDefined:
            return
        case .dealCreated(let created):
            let dealID = created.dealID
            let fact: JSON = [
                "kind": .string(created.kind), "amount": created.amount?.json ?? .null,
                "currency": .string(created.currency),
            ]
            let note = TimelineNote(
                kind: "deal.created",
                refID: dealID,
                summary: "Deal \(created.name.map { "\"\($0)\" " } ?? "")created in \(created.stageID)",
                extra: ["deal_id": .string(dealID), "stage_id": .string(created.stageID)]
            )
            for customerID in created.customerIDs {
                try self.updateDealFact(customerID, dealID, event, note, txn) { _ in fact }
            }
        case .dealStageChanged(let changed):
            let dealID = changed.dealID
            let from = changed.from ?? "?"
            let note = TimelineNote(
                kind: "deal.stage_changed",
                refID: dealID,
                summary: "Deal moved from \(from) to \(changed.to)",
                extra: ["deal_id": .string(dealID), "from": .string(from), "to": .string(changed.to)]
            )
            for customerID in try self.customersHolding(dealID, txn) {
                try self.updateDealFact(customerID, dealID, event, note, txn) { fact in
                    var fact = fact ?? [:]
                    fact["kind"] = .string(changed.toKind)
                    return fact
                }
            }
        case .dealUpdated(let updated):
            let dealID = updated.dealID
            let holders = try self.customersHolding(dealID, txn)
            var current: JSON? = nil
            for customerID in holders {
                if let fact = try self.loadProfile(customerID, txn)?["deals"]?[dealID] {
                    current = fact
                    break
                }
            }
            var fact = current ?? ["kind": "open", "amount": nil, "currency": nil]
            if let change = updated.amount { fact["amount"] = change.to?.json ?? .null }
            if let change = updated.currency { fact["currency"] = .string(change.to) }
            let newCustomers = updated.customerIDs.map { $0.to ?? holders } ?? holders
            for customerID in holders where !newCustomers.contains(customerID) {
                try self.updateDealFact(customerID, dealID, event, nil, txn) { _ in nil }
            }
            for customerID in newCustomers {
                try self.updateDealFact(customerID, dealID, event, nil, txn) { _ in fact }
            }
        }
    }

    /// The customers whose profile lists `dealID` (from the `#deal#<deal_id>` row).
    private func customersHolding(_ dealID: String, _ txn: Transaction) throws -> [String] {
        guard let bytes = try txn.get(self.profiles, Self.dealKey(dealID)), let json = try? JSON.parse(bytes) else {
            return []
        }
        return Self.strings(json)
    }

    /// The profiles-table key of the customer list of a deal. Customer ids never contain `#`.
    private static func dealKey(_ dealID: String) -> String { "#deal#\(dealID)" }

    /// Replaces the deal fact of one customer with `change(old)` (`nil` removes it), recomputes the
    /// customer's deal stats and adds `note` to the timeline.
    private func updateDealFact(
        _ customerID: String,
        _ dealID: String,
        _ event: RecordedEvent,
        _ note: TimelineNote?,
        _ txn: Transaction,
        _ change: (JSON?) -> JSON?
    ) throws {
        guard var profile = try self.loadProfile(customerID, txn) else { return }
        var facts = profile["deals"]?.objectValue ?? [:]
        let new = change(facts[dealID])
        facts[dealID] = new
        if new == nil { facts.removeValue(forKey: dealID) }
        profile["deals"] = .object(facts)
        var open = 0
        var won = 0
        var wonAmount: [String: MoneyAmount] = [:]
        for fact in facts.values {
            switch fact["kind"]?.stringValue {
            case "open": open += 1
            case "won":
                won += 1
                if let amount = fact["amount"].flatMap(MoneyAmount.init(json:)),
                    let currency = fact["currency"]?.stringValue
                {
                    wonAmount[currency] = (wonAmount[currency] ?? .zero) + amount
                }
            default: break
            }
        }
        var stats = profile["stats"]?.objectValue ?? [:]
        stats["open_deals"] = .int(open)
        stats["won_deals"] = .int(won)
        stats["won_amount"] = .object(wonAmount.mapValues(\.json))
        profile["stats"] = .object(stats)
        try self.storeProfile(profile, customerID, txn)
        var holders = try self.customersHolding(dealID, txn)
        if new == nil {
            holders.removeAll { $0 == customerID }
        } else if !holders.contains(customerID) {
            holders.append(customerID)
        }
        try txn.put(self.profiles, Self.dealKey(dealID), JSON.strings(holders).serialized())
        if let note {
            try self.putTimelineEntry(note, for: event, customerID: customerID, txn)
        }
    }
}
