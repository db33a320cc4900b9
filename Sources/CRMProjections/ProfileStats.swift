import CRMDomain

/// What the events of other records (activities, tickets, deals) change about a customer: the
/// `stats` and `deals` members of the profile document. It is a row of its own, stored right after
/// the customer's profile row (``ProfileKeys/statsKey(_:)``), so an activity, a ticket or a deal
/// rewrites a few dozen bytes and never reads or writes the customer's personal fields.
///
/// `stats.open_deals`, `stats.won_deals` and `stats.won_amount` are not stored: they are computed from
/// ``deals`` when the row is rendered.
struct ProfileStats: Sendable, Hashable {
    /// What the stats keep about one deal of the customer, to recompute the deal stats.
    struct DealFact: Sendable, Hashable {
        /// `open`, `won` or `lost`.
        var kind: String
        /// The deal's amount.
        var amount: MoneyAmount?
        /// The deal's currency.
        var currency: String?

        /// A fact about a deal.
        init(kind: String, amount: MoneyAmount? = nil, currency: String? = nil) {
            self.kind = kind
            self.amount = amount
            self.currency = currency
        }
    }

    /// The activity types counted in `stats.activity_counts`, all present from creation.
    static let activityTypes = ["call", "email", "meeting", "note", "task"]

    /// The activity counts of a new profile: every type of ``activityTypes`` at 0.
    static let initialActivityCounts = Dictionary(uniqueKeysWithValues: activityTypes.map { ($0, Int64(0)) })

    /// Tickets neither solved nor closed.
    var openTickets: Int64 = 0
    var ticketsTotal: Int64 = 0
    var lastActivityAt: Int64?
    var lastContactedAt: Int64?
    /// Activities logged, by type.
    var activityCounts = ProfileStats.initialActivityCounts
    /// The customer's deals by id, once a deal event has named the customer (the document shows the
    /// `deals` member from then on).
    var deals: [String: DealFact]?

    /// The stats of a new customer: no tickets, no activities, no deals.
    init() {}
}

// MARK: - Binary row

extension ProfileStats {
    /// The format byte of a stats row; a new layout comes with a new read-model version.
    static let rowFormat: UInt8 = 1

    /// The compact binary row stored under ``ProfileKeys/statsKey(_:)``. Dictionaries are written in
    /// key order, so equal stats give equal bytes.
    func encoded() -> [UInt8] {
        var row = BinaryRowWriter(capacity: 64)
        row.byte(Self.rowFormat)
        row.int(self.openTickets)
        row.int(self.ticketsTotal)
        row.optionalInt(self.lastActivityAt)
        row.optionalInt(self.lastContactedAt)
        row.count(self.activityCounts.count)
        for key in self.activityCounts.keys.sorted() {
            row.string(key)
            row.int(self.activityCounts[key]!)
        }
        row.bool(self.deals != nil)
        if let deals = self.deals {
            row.count(deals.count)
            for dealID in deals.keys.sorted() {
                let fact = deals[dealID]!
                row.string(dealID)
                row.string(fact.kind)
                row.money(fact.amount)
                row.optionalString(fact.currency)
            }
        }
        return row.bytes
    }

    /// Decodes a row written by ``encoded()``; `what` names the row in the error (e.g. `stats of
    /// customer c1`). A row of another format, cut short or with bytes left over is a
    /// ``ProfileStorageError``.
    init(decoding bytes: [UInt8], what: String) throws(ProfileStorageError) {
        self = try ProfileStorageError.reading(bytes, format: Self.rowFormat, what: what) {
            row throws(StateDecodingError) in
            var stats = ProfileStats()
            stats.openTickets = try row.int()
            stats.ticketsTotal = try row.int()
            stats.lastActivityAt = try row.optionalInt()
            stats.lastContactedAt = try row.optionalInt()
            stats.activityCounts = [:]
            for _ in 0..<(try row.count()) {
                let key = try row.string()
                stats.activityCounts[key] = try row.int()
            }
            if try row.bool() {
                var deals: [String: DealFact] = [:]
                for _ in 0..<(try row.count()) {
                    let dealID = try row.string()
                    deals[dealID] = DealFact(
                        kind: try row.string(), amount: try row.money(), currency: try row.optionalString()
                    )
                }
                stats.deals = deals
            }
            return stats
        }
    }
}
