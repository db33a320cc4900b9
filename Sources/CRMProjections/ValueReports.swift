import CRMDomain
import CRMEventStore
import CRMJSON
import CRMParams
import Foundation
import LMDB

/// RFM scoring: recency, frequency and monetary value of every buyer, each scored 1–5 by its rank
/// among all buyers, with ties sharing a score.
enum RFM {
    /// `1 + floor(5 × below / N)` for every value, where `below` counts the values strictly worse
    /// (smaller when `higherIsBetter`, larger otherwise): equal values get equal scores.
    static func scores<Value: Comparable>(_ values: [Value], higherIsBetter: Bool) -> [Int] {
        let sorted = values.sorted()
        let n = values.count
        return values.map { value in
            // Strictly smaller: the index of the first element ≥ value; strictly larger: n − the index
            // of the first element > value.
            let below: Int
            if higherIsBetter {
                below = sorted.partitioningIndex { $0 >= value }
            } else {
                below = n - sorted.partitioningIndex { $0 > value }
            }
            return 1 + (5 * below) / n
        }
    }
}

extension Array {
    /// The first index whose element satisfies `belongs` in an array partitioned by it (binary search).
    func partitioningIndex(where belongs: (Element) -> Bool) -> Int {
        var low = 0
        var high = self.count
        while low < high {
            let middle = (low + high) / 2
            if belongs(self[middle]) { high = middle } else { low = middle + 1 }
        }
        return low
    }
}

extension ValueProjector {
    /// Every customer that was not merged, with its orders, in customer id order.
    ///
    /// Walks the customers and the orders tables side by side (both are in customer-id order), so no
    /// order needs a lookup by id.
    func everyCustomer(_ txn: Transaction) throws -> [ValueCustomer] {
        var marks: [String: ChurnMark] = [:]
        try txn.withCursor(self.churn) { cursor in
            var entry = try cursor.first()
            while let found = entry {
                marks[String(decoding: found.key, as: UTF8.self)] = try ChurnMark(decoding: found.valueBytes)
                entry = try cursor.next()
            }
        }
        var customers: [ValueCustomer] = []
        try txn.withCursor(self.customers) { people in
            try txn.withCursor(self.orders) { orders in
                var order = try orders.first()
                var person = try people.first()
                while let customer = person {
                    try QueryCancellation.check()
                    var own: [ValueOrder] = []
                    while let current = order {
                        let owner = UnsafeRawBufferPointer(
                            rebasing: current.key[..<(current.key.firstIndex(of: 0) ?? 0)])
                        if owner.lexicographicallyPrecedes(customer.key) {
                            order = try orders.next()
                            continue
                        }
                        guard owner.elementsEqual(customer.key) else { break }
                        own.append(try ValueOrder(decoding: current.valueBytes))
                        order = try orders.next()
                    }
                    // A merged customer's marker names its survivor; its orders moved there.
                    if customer.value.isEmpty {
                        let id = String(decoding: customer.key, as: UTF8.self)
                        customers.append(ValueCustomer(id: id, orders: own, mark: marks.isEmpty ? nil : marks[id]))
                    }
                    person = try people.next()
                }
            }
        }
        return customers
    }

    /// A business date member (`YYYY-MM-DD`), or `nil` when absent.
    static func day(_ params: inout Params, _ key: String, required: Bool = false) throws -> BusinessDay? {
        try params.date(key, required: required).flatMap(BusinessDay.init)
    }

    // MARK: - rfm.report

    /// One buyer's RFM figures and scores.
    struct RfmRow {
        var id: String
        var last: BusinessDay
        var recency: Int64
        var frequency: Int
        var monetary: Int128
        var r = 0
        var f = 0
        var m = 0
        var segment = ""
    }

    /// Every buyer (a customer, not merged, with a counted order by `day`) scored for the window of
    /// `window` days ending on `day`, M in `currency`, segments by `rules`; in customer-id order.
    func rfmScores(
        asOf day: BusinessDay,
        window: Int,
        currency: String,
        _ clock: ValueClock,
        _ rules: [RfmRule],
        _ txn: Transaction
    ) throws -> [RfmRow] {
        let start = BusinessDay(days: day.days - Int64(window) + 1)
        var rows: [RfmRow] = []
        for customer in try self.everyCustomer(txn) {
            let counted = CustomerValue.counted(customer.orders, asOf: day, clock)
            guard let last = counted.map(\.date).max() else { continue }
            let inWindow = counted.filter { $0.date >= start }
            let monetary = inWindow.filter { $0.order.currency == currency }.reduce(Int128(0)) { $0 + $1.net }
            rows.append(
                RfmRow(
                    id: customer.id, last: last, recency: day.days - last.days, frequency: inWindow.count,
                    monetary: monetary))
        }
        let r = RFM.scores(rows.map(\.recency), higherIsBetter: false)
        let f = RFM.scores(rows.map(\.frequency), higherIsBetter: true)
        let m = RFM.scores(rows.map(\.monetary), higherIsBetter: true)
        for index in rows.indices {
            (rows[index].r, rows[index].f, rows[index].m) = (r[index], f[index], m[index])
            rows[index].segment = RfmRule.segment(rules, r: r[index], f: f[index], m: m[index])
        }
        return rows
    }

    /// `rfm.report {as_of_date?, window_days?, currency?, customers? = true}`: every buyer (a customer
    /// with a counted order on or before the date) with its recency (days since its last order),
    /// frequency (counted orders in the window ending on the date) and monetary value (their net
    /// amounts in `currency`), the three scores and the segment (the list is `null` with `customers:
    /// false`), the count per segment, and the 25 cells of the R×F grid (R 5 first) with their buyers
    /// and segment.
    func rfmReport(_ json: JSON?, _ txn: Transaction) throws -> JSON {
        var params = try Params(json)
        let clock = try self.clock(txn)
        let day = try Self.day(&params, "as_of_date") ?? clock.today()
        let window = try params.int("window_days") ?? Int64(clock.settings.rfmWindowDays)
        guard (1...3650).contains(window) else { throw Rejection.invalid("window_days", "must be 1 to 3650") }
        let currency = try params.currency("currency") ?? clock.settings.reportingCurrency
        guard let currency else { throw Rejection.missing("currency") }
        let listed = try params.bool("customers") ?? true
        try params.finish()
        let start = BusinessDay(days: day.days - window + 1)
        let (rules, _) = try self.segmentMap(txn)
        let rows = try self.rfmScores(asOf: day, window: Int(window), currency: currency, clock, rules, txn)
        var counts = Dictionary(uniqueKeysWithValues: rules.map { ($0.name, 0) })
        var customers: [JSON] = []
        for row in rows {
            counts[row.segment, default: 0] += 1
            guard listed else { continue }
            customers.append([
                "customer_id": .string(row.id), "last_order_date": .string(row.last.text),
                "recency_days": .int(row.recency), "frequency": .int(Int64(row.frequency)),
                "monetary": .string(CustomerValue.format(row.monetary)), "r": .int(Int64(row.r)),
                "f": .int(Int64(row.f)), "m": .int(Int64(row.m)), "rfm": .string("\(row.r)\(row.f)\(row.m)"),
                "segment": .string(row.segment),
            ])
        }
        var grid: [JSON] = []
        for rScore in stride(from: 5, through: 1, by: -1) {
            for fScore in 1...5 {
                let buyers = rows.count { $0.r == rScore && $0.f == fScore }
                grid.append([
                    "r": .int(Int64(rScore)), "f": .int(Int64(fScore)), "customers": .int(Int64(buyers)),
                    "segment": .string(RfmRule.segment(rules, r: rScore, f: fScore, m: nil)),
                ])
            }
        }
        return [
            "settings": clock.json,
            "as_of_date": .string(day.text), "window_days": .int(window), "window_start": .string(start.text),
            "currency": .string(currency), "population": .int(Int64(rows.count)),
            "customers": listed ? .array(customers) : .null,
            "segments": .object(counts.mapValues { .int(Int64($0)) }), "grid": .array(grid),
        ]
    }
}

/// Percentages for reports: `part ÷ whole × 100` to two decimals, half to even; `nil` when `whole` is 0.
func percentage(_ part: Int, of whole: Int) -> String? {
    guard whole > 0, part >= 0 else { return nil }
    let hundredths = CustomerValue.divided(Int128(part) * 10_000, by: Int128(whole))
    let fraction = hundredths % 100
    return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
}

/// A business month: year × 12 + month − 1.
struct BusinessMonth: Hashable, Comparable {
    var index: Int64

    init(index: Int64) { self.index = index }

    /// The month of `day`.
    init(_ day: BusinessDay) {
        let date = Timestamp.civilFromDays(Int(day.days))
        self.index = Int64(date.year * 12 + date.month - 1)
    }

    /// Parses `YYYY-MM`.
    init?(_ text: String) {
        guard let day = BusinessDay(text + "-01") else { return nil }
        self.init(day)
    }

    /// Its first day.
    var firstDay: BusinessDay {
        let days = Timestamp.daysFromCivil(year: Int(self.index / 12), month: Int(self.index % 12) + 1, day: 1)
        return BusinessDay(days: Int64(days))
    }

    /// `YYYY-MM`.
    var text: String { String(self.firstDay.text.prefix(7)) }

    /// Its last day.
    var lastDay: BusinessDay { BusinessDay(days: BusinessMonth(index: self.index + 1).firstDay.days - 1) }

    static func < (lhs: BusinessMonth, rhs: BusinessMonth) -> Bool { lhs.index < rhs.index }
}

/// The churn figures of a period `(start, end]` over every customer's orders.
struct ChurnFigures {
    var start = 0
    var end = 0
    var lost = 0
    var new = 0
    var reactivated = 0
    var retained = 0

    init(_ customers: [ValueCustomer], start: BusinessDay, end: BusinessDay, _ clock: ValueClock = .utc) {
        for customer in customers {
            let before = CustomerValue(orders: customer.orders, mark: customer.mark, asOf: start, clock)
            let after = CustomerValue(orders: customer.orders, mark: customer.mark, asOf: end, clock)
            let (startStatus, endStatus) = (before.status.name, after.status.name)
            let inStart = startStatus != "prospect" && startStatus != "churned"
            let inEnd = endStatus != "prospect" && endStatus != "churned"
            if inStart { self.start += 1 }
            if inEnd { self.end += 1 }
            if inStart, endStatus == "churned" { self.lost += 1 }
            if inStart, inEnd { self.retained += 1 }
            if inEnd, let first = after.first, first > start { self.new += 1 }
            if inEnd, startStatus == "churned" { self.reactivated += 1 }
        }
    }

    var json: JSON {
        let net = self.start > 0 ? percentageSigned(self.start - self.end, of: self.start) : nil
        return [
            "start": .int(Int64(self.start)), "end": .int(Int64(self.end)), "lost": .int(Int64(self.lost)),
            "new": .int(Int64(self.new)), "reactivated": .int(Int64(self.reactivated)),
            "retained": .int(Int64(self.retained)), "churn_rate": .string(percentage(self.lost, of: self.start)),
            "churn_rate_net": .string(net), "retention_rate": .string(percentage(self.retained, of: self.start)),
        ]
    }
}

/// ``percentage(_:of:)`` of a part that may be negative.
func percentageSigned(_ part: Int, of whole: Int) -> String? {
    guard let magnitude = percentage(abs(part), of: whole) else { return nil }
    return part < 0 ? "-" + magnitude : magnitude
}

extension ValueProjector {
    // MARK: - churn.report

    /// `churn.report {start_date, end_date}`: customers at the start (not prospects, not churned), at
    /// the end, lost (at the start, churned at the end), new (first order in the period), reactivated
    /// (churned at the start, back at the end), and the rates: `churn_rate` = lost ÷ start,
    /// `churn_rate_net` = (start − end) ÷ start, `retention_rate` = retained ÷ start (percentages).
    func churnReport(_ json: JSON?, _ txn: Transaction) throws -> JSON {
        var params = try Params(json)
        let start = try Self.day(&params, "start_date", required: true)!
        let end = try Self.day(&params, "end_date", required: true)!
        try params.finish()
        guard start < end else { throw Rejection.invalid("end_date", "must be after start_date") }
        let clock = try self.clock(txn)
        var figures = ChurnFigures(try self.everyCustomer(txn), start: start, end: end, clock).json
        figures["start_date"] = .string(start.text)
        figures["end_date"] = .string(end.text)
        figures["settings"] = clock.json
        return figures
    }

    // MARK: - cohort.report

    /// `cohort.report {from_month, to_month, months? = 12, cumulative? = false, as_of_date?}`: one row
    /// per month of first counted orders from `from_month` to `to_month`, with its size and, for
    /// k = 0…months − 1, the share of it with a counted order in month k after it (cumulative: with a
    /// repeat order in any of months 1…k). Months after the `as_of_date` month are left out; that
    /// month is `partial` unless `as_of_date` is its last day.
    func cohortReport(_ json: JSON?, _ txn: Transaction) throws -> JSON {
        var params = try Params(json)
        guard let fromText = try params.string("from_month", required: true), let from = BusinessMonth(fromText) else {
            throw Rejection.invalid("from_month", "expected a month YYYY-MM")
        }
        guard let toText = try params.string("to_month", required: true), let to = BusinessMonth(toText), from <= to
        else { throw Rejection.invalid("to_month", "expected a month YYYY-MM, not before from_month") }
        let months = try params.int("months") ?? 12
        guard (1...120).contains(months) else { throw Rejection.invalid("months", "must be 1 to 120") }
        let cumulative = try params.bool("cumulative") ?? false
        let clock = try self.clock(txn)
        let day = try Self.day(&params, "as_of_date") ?? clock.today()
        try params.finish()
        let current = BusinessMonth(day)
        // Per customer: the month of its first counted order and the months it ordered in.
        var cohorts: [BusinessMonth: [Set<BusinessMonth>]] = [:]
        for customer in try self.everyCustomer(txn) {
            let counted = CustomerValue.counted(customer.orders, asOf: day, clock)
            guard let first = counted.map(\.date).min() else { continue }
            let cohort = BusinessMonth(first)
            guard cohort >= from, cohort <= to else { continue }
            cohorts[cohort, default: []].append(Set(counted.map { BusinessMonth($0.date) }))
        }
        var rows: [JSON] = []
        for index in from.index...to.index {
            let cohort = BusinessMonth(index: index)
            let members = cohorts[cohort] ?? []
            var cells: [JSON] = []
            for k in 0..<months where cohort.index + k <= current.index {
                let count: Int
                if k == 0 {
                    count = members.count
                } else if cumulative {
                    count =
                        members.filter { ordered in
                            (1...k).contains { ordered.contains(BusinessMonth(index: cohort.index + $0)) }
                        }.count
                } else {
                    count = members.filter { $0.contains(BusinessMonth(index: cohort.index + k)) }.count
                }
                cells.append(.string(percentage(count, of: members.count)))
            }
            rows.append([
                "cohort": .string(cohort.text), "size": .int(Int64(members.count)), "retention": .array(cells),
            ])
        }
        return [
            "settings": clock.json,
            "as_of_date": .string(day.text), "months": .int(months), "cumulative": .bool(cumulative),
            "partial_month": day == current.lastDay ? .null : .string(current.text), "cohorts": .array(rows),
        ]
    }
}

extension ValueProjector {
    // MARK: - value.clv_simple

    /// `value.clv_simple {aov, purchases_per_month, lifespan_years, margin_rate?}` → `aov ×
    /// purchases_per_month × 12 × lifespan_years × margin_rate` (exact decimals, rounded half to even
    /// to cents at the end); or `{derive: {as_of_date?, window_days? = 365, currency, lifespan_years}}`,
    /// which takes the inputs from the orders of the window: `aov` = revenue ÷ orders,
    /// `purchases_per_month` = orders ÷ (buyers × window_days × 12 ÷ 365), and `clv` = revenue ÷ buyers ×
    /// 365 ÷ window_days × lifespan_years.
    func clvSimple(_ json: JSON?, _ txn: Transaction) throws -> JSON {
        var params = try Params(json)
        if var derive = try params.object("derive") {
            let clock = try self.clock(txn)
            let day = try Self.day(&derive, "as_of_date") ?? clock.today()
            let window = try derive.int("window_days") ?? 365
            guard (1...3650).contains(window) else {
                throw Rejection.invalid("derive.window_days", "must be 1 to 3650")
            }
            guard let currency = try derive.currency("currency") ?? clock.settings.reportingCurrency else {
                throw Rejection.missing("derive.currency")
            }
            let years = try Self.decimal(&derive, "lifespan_years", required: true)!
            try derive.finish()
            try params.finish()
            let start = BusinessDay(days: day.days - window + 1)
            var revenue: Int128 = 0
            var orders = 0
            var buyers = 0
            for customer in try self.everyCustomer(txn) {
                let inWindow = CustomerValue.counted(customer.orders, asOf: day, clock).filter {
                    $0.date >= start && $0.order.currency == currency
                }
                guard !inWindow.isEmpty else { continue }
                buyers += 1
                orders += inWindow.count
                revenue += inWindow.reduce(Int128(0)) { $0 + $1.net }
            }
            guard buyers > 0 else {
                throw Rejection(.invalidField, field: "derive", "no customer ordered in \(currency) in the window")
            }
            let money = Decimal(string: MoneyAmount.format(revenue, scale: MoneyAmount.scale))!
            let aov = money / Decimal(orders)
            let perMonth = Decimal(orders) / (Decimal(buyers) * Decimal(window) * 12 / 365)
            let clv = money / Decimal(buyers) * 365 / Decimal(window) * years
            return [
                "settings": clock.json,
                "clv": .string(Self.rounded(clv, 2)), "currency": .string(currency), "as_of_date": .string(day.text),
                "window_days": .int(window), "revenue": .string(CustomerValue.format(revenue)),
                "orders": .int(Int64(orders)), "buyers": .int(Int64(buyers)), "aov": .string(Self.rounded(aov, 2)),
                "purchases_per_month": .string(Self.rounded(perMonth, 4)), "lifespan_years": .string("\(years)"),
            ]
        }
        let aov = try Self.decimal(&params, "aov", required: true)!
        let perMonth = try Self.decimal(&params, "purchases_per_month", required: true)!
        let years = try Self.decimal(&params, "lifespan_years", required: true)!
        let marginRate = try Self.decimal(&params, "margin_rate") ?? 1
        try params.finish()
        return ["clv": .string(Self.rounded(aov * perMonth * 12 * years * marginRate, 2))]
    }

    /// A decimal member ≥ 0 (a decimal string or a number).
    static func decimal(_ params: inout Params, _ key: String, required: Bool = false) throws -> Decimal? {
        guard let value = try params.raw(key, required: required) else { return nil }
        let text = value.stringValue ?? value.serializedString()
        guard let amount = MoneyAmount(json: value) ?? MoneyAmount(decimal: text) else {
            throw Rejection.invalid(params.fieldPath(key), "must be a decimal number ≥ 0")
        }
        return Decimal(string: amount.description)!
    }

    /// `value` rounded half to even to `places` decimals, with exactly that many.
    static func rounded(_ value: Decimal, _ places: Int) -> String {
        var input = value
        var output = Decimal()
        NSDecimalRound(&output, &input, places, .bankers)
        var text = "\(output)"
        if !text.contains(".") { text += "." }
        let decimals = text.count - 1 - text.distance(from: text.startIndex, to: text.firstIndex(of: ".")!)
        return text + String(repeating: "0", count: max(0, places - decimals))
    }
}

// MARK: - RFM segment maps and snapshots

/// A buyer's scores in one snapshot.
struct SnapshotScore: Sendable, Hashable {
    var r: Int
    var f: Int
    var m: Int
    var segment: String

    func encoded() -> [UInt8] {
        var row = BinaryRowWriter(capacity: 24)
        row.byte(UInt8(self.r))
        row.byte(UInt8(self.f))
        row.byte(UInt8(self.m))
        row.string(self.segment)
        return row.bytes
    }

    init(r: Int, f: Int, m: Int, segment: String) {
        (self.r, self.f, self.m, self.segment) = (r, f, m, segment)
    }

    init(decoding bytes: [UInt8]) throws(StateDecodingError) {
        var row = BinaryRowReader(bytes, what: "rfm snapshot score")
        self.r = Int(try row.byte())
        self.f = Int(try row.byte())
        self.m = Int(try row.byte())
        self.segment = try row.string()
        try row.finish()
    }
}

/// A snapshot fold that scored another number of buyers than the command did: the fold is not
/// deterministic, and the value read model stops here.
struct SnapshotMismatch: Error, CustomStringConvertible {
    var snapshotID: String
    var recorded: Int
    var folded: Int

    var description: String {
        "RFM snapshot \(snapshotID) recorded \(recorded) buyers, the fold scored \(folded)"
    }
}

extension ValueProjector {
    /// `#rfm-map` and `#rfm-map-version`: the rules and version of the segment map.
    static let segmentMapKey = "#rfm-map"
    /// `#rfm-snapshots`: every snapshot's as-of date (days) and id, in log order.
    static let snapshotsKey = "#rfm-snapshots"

    /// The current segment map and its version (0: the default map).
    public func segmentMap(_ txn: Transaction) throws -> (rules: [RfmRule], version: Int) {
        guard let bytes = try txn.get(self.models, Self.segmentMapKey),
            let versionBytes = try txn.get(self.models, Self.segmentMapKey + "-version")
        else { return (RfmRule.defaults, 0) }
        var row = BinaryRowReader(versionBytes, what: "rfm segment map version")
        return (try RfmRule.decoded(bytes), Int(try row.int()))
    }

    /// The number of buyers an `rfm.snapshot` would score, with the map version it would name.
    public func rfmPopulation(
        asOfDate: String,
        window: Int?,
        currency: String?,
        _ txn: Transaction
    ) throws -> (population: Int, window: Int, currency: String, mapVersion: Int) {
        let clock = try self.clock(txn)
        guard let day = BusinessDay(asOfDate) else { throw Rejection.invalid("as_of_date", "expected YYYY-MM-DD") }
        guard let currency = currency ?? clock.settings.reportingCurrency else { throw Rejection.missing("currency") }
        let window = window ?? clock.settings.rfmWindowDays
        let (rules, version) = try self.segmentMap(txn)
        let rows = try self.rfmScores(asOf: day, window: window, currency: currency, clock, rules, txn)
        return (rows.count, window, currency, version)
    }

    /// Scores every buyer as the snapshot says and stores the scores; a different population is a
    /// ``SnapshotMismatch``.
    func snapshotTaken(_ snapshot: RfmSnapshotTaken, _ txn: Transaction) throws {
        guard let day = BusinessDay(snapshot.asOfDate) else { return }
        let rows = try self.rfmScores(
            asOf: day, window: snapshot.windowDays, currency: snapshot.currency, try self.clock(txn),
            try self.segmentMap(txn).rules, txn
        )
        guard rows.count == snapshot.population else {
            throw SnapshotMismatch(snapshotID: snapshot.snapshotID, recorded: snapshot.population, folded: rows.count)
        }
        for row in rows {
            let score = SnapshotScore(r: row.r, f: row.f, m: row.m, segment: row.segment)
            try txn.put(self.rfm, Array(snapshot.snapshotID.utf8) + [0] + Array(row.id.utf8), score.encoded())
        }
        var list = try txn.get(self.models, Self.snapshotsKey) ?? []
        var entry = BinaryRowWriter(capacity: 32)
        entry.int(day.days)
        entry.string(snapshot.snapshotID)
        list += entry.bytes
        try txn.put(self.models, Self.snapshotsKey, list)
    }

    /// The profile's `rfm` block as of `day`: the customer's scores in the latest snapshot dated on or
    /// before it that scored the customer, or `null`.
    func snapshotBlock(of customerID: String, asOf day: BusinessDay, _ txn: Transaction) throws -> JSON {
        guard let bytes = try txn.get(self.models, Self.snapshotsKey) else { return .null }
        var reader = BinaryRowReader(bytes, what: "rfm snapshot list")
        var snapshots: [(days: Int64, id: String)] = []
        while !reader.isAtEnd { snapshots.append((try reader.int(), try reader.string())) }
        for snapshot in snapshots.reversed() where snapshot.days <= day.days {
            let key = Array(snapshot.id.utf8) + [0] + Array(customerID.utf8)
            guard let row = try txn.get(self.rfm, key) else { continue }
            let score = try SnapshotScore(decoding: row)
            return [
                "snapshot_id": .string(snapshot.id), "as_of_date": .string(BusinessDay(days: snapshot.days).text),
                "r": .int(Int64(score.r)), "f": .int(Int64(score.f)), "m": .int(Int64(score.m)),
                "segment": .string(score.segment),
            ]
        }
        return .null
    }
}
