public import CRMDomain
import CRMEventStore
public import CRMJSON
import CRMParams
import Foundation
public import LMDB

// `campaign.report` and `campaign.get`: the funnel of a send and the orders it is credited with.

extension CampaignProjector {
    /// `campaign.get {campaign_id}`: the definition and, once sent, the send's counts.
    func getQuery(_ json: JSON?, _ txn: Transaction) throws -> JSON {
        var params = try Params(json)
        let id = try params.identifier("campaign_id", required: true)!
        try params.finish()
        let (definition, _) = try self.definition(id, txn)
        let row = try self.campaign(id, txn)!
        var json = Self.json(definition)
        json["sent"] = row.sent.map(Self.json) ?? .null
        return json
    }

    /// The definition as its event holds it, the cost with two decimals.
    static func json(_ campaign: CampaignDefinition) -> JSON {
        var json = EventCodec.payload(.marketing(.campaignCreated(CampaignCreated(campaign)))).data
        if let cost = campaign.cost { json["cost"]?["amount"] = .string(money(cost.amount.units)) }
        return json
    }

    static func json(_ sent: CampaignSent) -> JSON {
        [
            "sent_at": .string(Timestamp.format(sent.sentAt)),
            "audience_version": sent.audienceVersion.map { .int($0) } ?? .null,
            "audience_size": .int(Int64(sent.audienceSize)), "recipient_count": .int(Int64(sent.recipientCount)),
            "suppressed": .object(
                Dictionary(
                    uniqueKeysWithValues: SuppressionReason.allCases.map {
                        ($0.rawValue, JSON.int(Int64(sent.suppressed[$0] ?? 0)))
                    })
            ),
        ]
    }

    /// `campaign.report {campaign_id, as_of?, attribution?}`: the report at instant `as_of` (default
    /// now: interactions that occurred by then, orders placed by then with the refunds and
    /// cancellations known by then), with orders credited by last touch (or `attribution`, a what-if
    /// for this campaign). `value` holds the orders; `nil` (not serving) leaves the order figures `null`.
    public func campaignReport(_ json: JSON?, value: ValueProjector?, _ txn: Transaction) throws -> JSON {
        var params = try Params(json)
        let id = try params.identifier("campaign_id", required: true)!
        let instant = try SegmentProjector.instant(&params)
        var whatIf: CampaignAttribution?
        if var attribution = try params.object("attribution") {
            let touch = try attribution.oneOf("touch", CampaignAttribution.touches) ?? "click"
            let window = try attribution.int("window_days") ?? 5
            guard (1...90).contains(window) else { throw Rejection.invalid("attribution.window_days", "must be 1…90") }
            try attribution.finish()
            whatIf = CampaignAttribution(touch: touch, windowDays: Int(window))
        }
        try params.finish()
        let (definition, _) = try self.definition(id, txn)
        let row = try self.campaign(id, txn)!
        var report = Self.json(definition)
        report["as_of"] = .string(Timestamp.format(instant))
        report["attribution"] = Self.json(definition).objectValue?["attribution"] ?? .null
        if let whatIf {
            report["attribution"] = [
                "touch": .string(whatIf.touch), "window_days": .int(Int64(whatIf.windowDays)), "what_if": true,
            ]
        }
        guard let sent = row.sent, sent.sentAt <= instant else {
            report["sent"] = .null
            return report
        }
        let recipients = try self.recipientList(id, txn)
        var funnel = CampaignFunnel()
        var attributed = Attributed()
        let others = try self.allCampaigns(txn)
        let memo = RecipientSets()
        for recipient in recipients {
            let activity = try self.activity(id, recipient, txn)
            funnel.add(activity, at: instant)
            var credited = false
            if let value {
                let orders = try self.creditedOrders(
                    recipient, to: id, whatIf: whatIf, at: instant, others: others, memo, value, txn
                )
                for (currency, net) in orders { attributed.add(currency, net) }
                credited = !orders.isEmpty
            }
            let convertedInteraction = activity?.any(["converted"], by: instant) ?? false
            if credited || convertedInteraction { funnel.converters += 1 }
            if credited || convertedInteraction || (activity?.any(["clicked", "replied"], by: instant) ?? false) {
                funnel.responders += 1
            }
        }
        let sentCount = recipients.count
        report["sent"] = Self.json(sent)
        report["metrics"] = funnel.json(audience: sent.audienceSize, sent: sentCount)
        var cost = definition.cost?.amount.units ?? 0
        for extra in row.extraCosts { cost += extra.units }
        let costCurrency = definition.cost?.currency
        report["cost"] = costCurrency.map { ["amount": .string(money(cost)), "currency": .string($0)] } ?? .null
        guard value != nil else {
            report["attributed"] = .null
            return report
        }
        let revenue = attributed.revenue
        report["attributed"] = [
            "orders": .int(Int64(attributed.orders)),
            "revenue": .object(revenue.mapValues { .string(money($0)) }),
            "revenue_per_recipient": .object(
                revenue.mapValues { .string(decimal2($0, Int128(100_000_000) * Int128(max(1, sentCount)))) }),
            "roi": .string(
                costCurrency.flatMap { currency in
                    cost > 0 ? decimal2(((revenue[currency] ?? 0) - cost) * 100, cost) : nil
                }),
        ]
        return report
    }

    /// Every sent campaign: id → (attribution, sent at).
    private func allCampaigns(_ txn: Transaction) throws -> [String: (CampaignAttribution, Int64)] {
        var campaigns: [String: (CampaignAttribution, Int64)] = [:]
        try txn.withCursor(self.campaigns) { cursor in
            var entry = try cursor.first()
            while let found = entry {
                let row = try CampaignRow(decoding: found.valueBytes)
                if let sent = row.sent {
                    campaigns[row.definition.campaignID] = (row.definition.attribution, sent.sentAt)
                }
                entry = try cursor.next()
            }
        }
        return campaigns
    }

    /// The net amounts (per currency) of `customerID`'s orders credited to `campaignID` as of
    /// `instant`: an order naming a campaign (or named by a `converted` interaction) goes to that
    /// campaign; any other to the campaign of the customer's latest matching touch before it, within
    /// that campaign's window (a tie to the smaller campaign id).
    private func creditedOrders(
        _ customerID: String, to campaignID: String, whatIf: CampaignAttribution?, at instant: Int64,
        others: [String: (CampaignAttribution, Int64)], _ memo: RecipientSets, _ value: ValueProjector,
        _ txn: Transaction
    ) throws -> [(String, Int128)] {
        let clock = try value.clock(txn)
        let day = clock.day(instant)
        let orders = try value.ordersWithIDs(of: customerID, txn).filter { $0.order.orderedAt <= instant }
        guard !orders.isEmpty else { return [] }
        // Refunds and cancellations recorded after the instant are not known then.
        let known = orders.map { id, order -> (String, ValueOrder) in
            var order = order
            order.refunds = order.refunds.filter { $0.at <= instant }
            if let cancelled = order.cancelledAt, cancelled > instant { order.cancelledAt = nil }
            return (id, order)
        }
        var touched = Set(try self.touchedCampaigns(customerID, txn))
        for (id, campaign) in others where campaign.0.touch == "delivery" { touched.insert(id) }
        touched.insert(campaignID)
        var credited: [(String, Int128)] = []
        for (orderID, order) in known {
            guard let net = CustomerValue.counted([order], asOf: day, clock).first?.net else { continue }
            let owner: String?
            if let named = try txn.get(self.explicit, "o" + orderID) ?? txn.get(self.explicit, "c" + orderID) {
                owner = String(decoding: named, as: UTF8.self)
            } else {
                owner = try self.lastTouch(
                    customerID, before: order.orderedAt, among: touched, whatIf: (campaignID, whatIf), at: instant,
                    others: others, memo, txn)
            }
            if owner == campaignID { credited.append((order.currency, net)) }
        }
        return credited
    }

    /// The campaign of the latest touch of `customerID` at or before `orderedAt` whose window holds
    /// the order.
    private func lastTouch(
        _ customerID: String, before orderedAt: Int64, among campaigns: Set<String>,
        whatIf: (String, CampaignAttribution?), at instant: Int64, others: [String: (CampaignAttribution, Int64)],
        _ memo: RecipientSets, _ txn: Transaction
    ) throws -> String? {
        var best: (at: Int64, campaign: String)?
        for campaign in campaigns.sorted() {
            guard let (own, sentAt) = others[campaign] else { continue }
            let rule = campaign == whatIf.0 ? whatIf.1 ?? own : own
            var touches: [Int64]
            switch rule.touch {
            case "delivery":
                touches = try self.recipients(of: campaign, memo, txn).contains(customerID) ? [sentAt] : []
            case "open_or_click":
                touches =
                    try self.activity(campaign, customerID, txn)?.instants(
                        ["opened", "clicked", "replied"], by: instant) ?? []
            default:
                touches = try self.activity(campaign, customerID, txn)?.instants(["clicked"], by: instant) ?? []
            }
            let window = Int64(rule.windowDays) * 86_400_000
            for touch in touches where touch <= orderedAt && orderedAt <= touch + window {
                if best.map({ touch > $0.at }) ?? true { best = (touch, campaign) }
            }
        }
        return best?.campaign
    }

    /// The recipients of `campaignID` as a set, read once per report (a report asks for a `delivery`
    /// campaign's set once per order).
    private func recipients(of campaignID: String, _ memo: RecipientSets, _ txn: Transaction) throws -> Set<String> {
        if let cached = memo.sets[campaignID] { return cached }
        let set = Set(try self.recipientList(campaignID, txn))
        memo.sets[campaignID] = set
        return set
    }
}

/// The counts of a send's funnel as of an instant.
struct CampaignFunnel {
    var bouncedHard = 0
    var bouncedSoft = 0
    var opened = 0
    var clicked = 0
    var unsubscribed = 0
    var complained = 0
    var responders = 0
    var converters = 0

    mutating func add(_ activity: RecipientActivity?, at instant: Int64) {
        guard let activity else { return }
        switch activity.bounce(by: instant) {
        case "hard": self.bouncedHard += 1
        case "soft": self.bouncedSoft += 1
        default: break
        }
        if activity.any(["opened", "clicked", "replied"], by: instant) { self.opened += 1 }
        if activity.any(["clicked"], by: instant) { self.clicked += 1 }
        if activity.any(["unsubscribed"], by: instant) { self.unsubscribed += 1 }
        if activity.any(["complained"], by: instant) { self.complained += 1 }
    }

    func json(audience: Int, sent: Int) -> JSON {
        let delivered = sent - self.bouncedHard - self.bouncedSoft
        return [
            "audience_size": .int(Int64(audience)), "sent": .int(Int64(sent)),
            "reach_pct": .string(percent2(sent, audience)),
            "bounced": ["hard": .int(Int64(self.bouncedHard)), "soft": .int(Int64(self.bouncedSoft))],
            "delivered": .int(Int64(delivered)), "delivered_pct": .string(percent2(delivered, sent)),
            "unique_opens": .int(Int64(self.opened)), "open_rate": .string(percent2(self.opened, delivered)),
            "unique_clicks": .int(Int64(self.clicked)), "click_rate": .string(percent2(self.clicked, delivered)),
            "click_to_open": .string(percent2(self.clicked, self.opened)),
            "unsubscribes": .int(Int64(self.unsubscribed)),
            "unsubscribe_rate": .string(percent2(self.unsubscribed, delivered)),
            "complaints": .int(Int64(self.complained)),
            "responders": .int(Int64(self.responders)), "response_rate": .string(percent2(self.responders, sent)),
            "converters": .int(Int64(self.converters)),
            "conversion_rate": .string(percent2(self.converters, delivered)),
        ]
    }
}

/// Orders credited to a campaign: how many, and their net amounts per currency.
struct Attributed {
    var orders = 0
    var revenue: [String: Int128] = [:]

    mutating func add(_ currency: String, _ net: Int128) {
        self.orders += 1
        self.revenue[currency, default: 0] += net
    }
}

/// An amount in 10⁻⁸ units with two decimals, half up.
func money(_ units: Int128) -> String { decimal2(units, 100_000_000) ?? "0.00" }

/// The recipient sets a report has read, by campaign.
final class RecipientSets {
    var sets: [String: Set<String>] = [:]
}
