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
    static let initialActivityCounts = ActivityCounts(activityTypes.map { ($0, Int64(0)) })

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
        for (type, count) in self.activityCounts {
            row.string(type)
            row.int(count)
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
                let type = try row.string()
                stats.activityCounts[type] = try row.int()
            }
            if try row.bool() {
                let count = try row.count()
                var deals: [String: DealFact] = [:]
                deals.reserveCapacity(count)
                for _ in 0..<count {
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

/// Activities logged, by type, in the order of the types (the order of the stored row): a handful of
/// types, kept as a sorted list, since a dictionary spent more on hashing, growing and sorting its keys
/// than the fold of an activity did on anything else.
struct ActivityCounts: Sendable, Hashable, Sequence, ExpressibleByDictionaryLiteral {
    /// A type and its count.
    private struct Entry: Sendable, Hashable {
        var type: String
        var count: Int64
    }

    /// Sorted by type, each type once.
    private var entries: [Entry] = []

    /// The counts of `pairs` (a type given twice keeps its last count).
    init(_ pairs: [(String, Int64)]) {
        self.entries.reserveCapacity(pairs.count)
        for (type, count) in pairs { self[type] = count }
    }

    init(dictionaryLiteral elements: (String, Int64)...) { self.init(elements) }

    /// The number of types counted.
    var count: Int { self.entries.count }

    /// Where `type` is, or where it would go.
    private func position(of type: String) -> (index: Int, found: Bool) {
        var low = 0
        var high = self.entries.count
        while low < high {
            let middle = (low + high) / 2
            if self.entries[middle].type < type { low = middle + 1 } else { high = middle }
        }
        return (low, low < self.entries.count && self.entries[low].type == type)
    }

    /// The count of `type`; setting `nil` removes it.
    subscript(type: String) -> Int64? {
        get {
            let (index, found) = self.position(of: type)
            return found ? self.entries[index].count : nil
        }
        set {
            let (index, found) = self.position(of: type)
            switch (found, newValue) {
            case (true, let count?): self.entries[index].count = count
            case (true, nil): self.entries.remove(at: index)
            case (false, let count?): self.entries.insert(Entry(type: type, count: count), at: index)
            case (false, nil): break
            }
        }
    }

    /// The count of `type`, or `value` when it has none.
    subscript(type: String, default value: Int64) -> Int64 {
        get { self[type] ?? value }
        set { self[type] = newValue }
    }

    /// Adds the counts of `other`, combining the counts of a type both have with `combine`.
    mutating func merge(_ other: ActivityCounts, uniquingKeysWith combine: (Int64, Int64) -> Int64) {
        for (type, count) in other { self[type] = self[type].map { combine($0, count) } ?? count }
    }

    /// The counts transformed, by type.
    func mapValues<Value>(_ transform: (Int64) -> Value) -> [String: Value] {
        Dictionary(uniqueKeysWithValues: self.entries.map { ($0.type, transform($0.count)) })
    }

    func makeIterator() -> some IteratorProtocol<(type: String, count: Int64)> {
        self.entries.lazy.map { (type: $0.type, count: $0.count) }.makeIterator()
    }
}
