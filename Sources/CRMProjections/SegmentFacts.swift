import CRMDomain
import CRMJSON
import Foundation

/// What the segment read model knows of one customer: every non-personal field a filter can name, as
/// of the customer's last event (`at`). Between two events of a customer only the clock moves, so
/// membership between them changes only at the instants ``SegmentEvaluator/breakpoints`` lists.
struct SegmentFacts: Sendable, Hashable {
    /// Not merged into another customer and not erased.
    var active = true
    /// Merged into another customer (its orders count there).
    var merged = false
    /// The business time of the last event folded (membership before it is in the stored intervals).
    var at: Int64
    var createdAt: Int64
    var lifecycleStage: String
    var leadStatus: String?
    var tier: String?
    var source: String?
    var ownerID: String?
    var tags: [String]
    var lastActivityAt: Int64?
    var lastContactedAt: Int64?
    /// The status of the latest email consent change (`not_set` before any).
    var emailConsent = Validation.consentNotSet
    /// Whether the latest phone consent change opted out.
    var doNotCall = false
    var openTickets: Int64 = 0
    var openDeals: Int64 = 0
    var wonDeals: Int64 = 0
    var lastCsat: Int64?
    var lastNps: Int64?
    var lastNpsAt: Int64?
    /// Orders by id.
    var orders: [String: ValueOrder] = [:]
    var churnMark: ChurnMark?
    /// The static lists it is on, sorted.
    var lists: [String] = []
    /// Its scores and segment in the latest RFM snapshot, or `nil` when that snapshot did not score it.
    var rfm: (r: Int, f: Int, m: Int, segment: String)?

    static func == (lhs: SegmentFacts, rhs: SegmentFacts) -> Bool { lhs.encoded() == rhs.encoded() }
    func hash(into hasher: inout Hasher) { hasher.combine(self.encoded()) }

    init(customerID: String, created: CustomerCreated, at: Int64) {
        self.at = at
        self.createdAt = at
        self.lifecycleStage = created.lifecycleStage
        self.leadStatus = created.leadStatus
        self.tier = created.tier
        self.source = created.source
        self.ownerID = created.ownerID
        self.tags = created.tags.sorted()
    }

    static let rowFormat: UInt8 = 1

    func encoded() -> [UInt8] {
        var row = BinaryRowWriter(capacity: 128 + 48 * self.orders.count)
        row.byte(Self.rowFormat)
        row.bool(self.active)
        row.bool(self.merged)
        row.int(self.at)
        row.int(self.createdAt)
        row.string(self.lifecycleStage)
        row.optionalString(self.leadStatus)
        row.optionalString(self.tier)
        row.optionalString(self.source)
        row.optionalString(self.ownerID)
        row.strings(self.tags)
        row.optionalInt(self.lastActivityAt)
        row.optionalInt(self.lastContactedAt)
        row.string(self.emailConsent)
        row.bool(self.doNotCall)
        row.int(self.openTickets)
        row.int(self.openDeals)
        row.int(self.wonDeals)
        row.optionalInt(self.lastCsat)
        row.optionalInt(self.lastNps)
        row.optionalInt(self.lastNpsAt)
        row.strings(self.lists)
        row.bool(self.rfm != nil)
        if let rfm = self.rfm {
            row.byte(UInt8(rfm.r))
            row.byte(UInt8(rfm.f))
            row.byte(UInt8(rfm.m))
            row.string(rfm.segment)
        }
        row.bool(self.churnMark != nil)
        if let mark = self.churnMark {
            row.int(mark.day.days)
            row.optionalString(mark.reason)
        }
        row.count(self.orders.count)
        for id in self.orders.keys.sorted() {
            row.string(id)
            self.orders[id]!.write(to: &row)
        }
        return row.bytes
    }

    init(decoding bytes: [UInt8]) throws(StateDecodingError) {
        var row = BinaryRowReader(bytes, what: "segment facts")
        try row.format(Self.rowFormat)
        self.active = try row.bool()
        self.merged = try row.bool()
        self.at = try row.int()
        self.createdAt = try row.int()
        self.lifecycleStage = try row.string()
        self.leadStatus = try row.optionalString()
        self.tier = try row.optionalString()
        self.source = try row.optionalString()
        self.ownerID = try row.optionalString()
        self.tags = try row.strings()
        self.lastActivityAt = try row.optionalInt()
        self.lastContactedAt = try row.optionalInt()
        self.emailConsent = try row.string()
        self.doNotCall = try row.bool()
        self.openTickets = try row.int()
        self.openDeals = try row.int()
        self.wonDeals = try row.int()
        self.lastCsat = try row.optionalInt()
        self.lastNps = try row.optionalInt()
        self.lastNpsAt = try row.optionalInt()
        self.lists = try row.strings()
        if try row.bool() {
            self.rfm = (Int(try row.byte()), Int(try row.byte()), Int(try row.byte()), try row.string())
        }
        if try row.bool() {
            self.churnMark = ChurnMark(day: BusinessDay(days: try row.int()), reason: try row.optionalString())
        }
        for _ in 0..<(try row.count()) {
            let id = try row.string()
            self.orders[id] = try ValueOrder(reading: &row)
        }
        try row.finish()
    }
}

/// Evaluates filters on facts at an instant, and lists the instants between two events at which an
/// evaluation can change with the clock alone.
struct SegmentEvaluator {
    let clock: ValueClock
    /// The filter of segment `id` in force at an instant (for `segment member_of`), or `nil`.
    let segmentFilter: (String, Int64) -> SegmentFilter?

    /// The customer's value as of the business date of `instant`, computed once per evaluation.
    private func value(_ facts: SegmentFacts, _ instant: Int64) -> CustomerValue {
        CustomerValue(
            orders: Array(facts.orders.values), mark: facts.churnMark, asOf: self.clock.day(instant), self.clock)
    }

    /// Whether `facts` (an active customer) pass `filter` at `instant`.
    func holds(_ filter: SegmentFilter, _ facts: SegmentFacts, at instant: Int64, depth: Int = 0) -> Bool {
        guard facts.active else { return false }
        var value: CustomerValue?
        func lazyValue() -> CustomerValue {
            if let value { return value }
            let computed = self.value(facts, instant)
            value = computed
            return computed
        }
        return filter.groups.contains { group in
            group.allSatisfy { self.holds($0, facts, instant, lazyValue, depth) }
        }
    }

    private func holds(
        _ condition: SegmentCondition, _ facts: SegmentFacts, _ instant: Int64, _ value: () -> CustomerValue,
        _ depth: Int
    ) -> Bool {
        let op = condition.op
        switch condition.field {
        case "lifecycle.stage":
            let index = Validation.lifecycleRank(facts.lifecycleStage) ?? -1
            switch (op, condition.value) {
            case ("at_least", .string(let stage)): return index >= (Validation.lifecycleRank(stage) ?? Int.max)
            case ("at_most", .string(let stage)): return index <= (Validation.lifecycleRank(stage) ?? -1)
            default: return Self.text(facts.lifecycleStage, op, condition.value)
            }
        case "lead_status": return Self.text(facts.leadStatus, op, condition.value)
        case "tier": return Self.text(facts.tier, op, condition.value)
        case "source": return Self.text(facts.source, op, condition.value)
        case "owner_id": return Self.text(facts.ownerID, op, condition.value)
        case "tags":
            switch condition.value {
            case .string(let tag): return facts.tags.contains(tag)
            case .strings(let tags):
                switch op {
                case "has_any": return tags.contains(where: facts.tags.contains)
                case "has_all": return tags.allSatisfy(facts.tags.contains)
                default: return !tags.contains(where: facts.tags.contains)
                }
            default: return false
            }
        case "created_at": return self.date(self.clock.day(facts.createdAt), op, condition.value, instant)
        case "last_activity_at":
            return self.date(facts.lastActivityAt.map(self.clock.day), op, condition.value, instant)
        case "last_contacted_at":
            return self.date(facts.lastContactedAt.map(self.clock.day), op, condition.value, instant)
        case "feedback.last_nps_at": return self.date(facts.lastNpsAt.map(self.clock.day), op, condition.value, instant)
        case "value.first_order_date": return self.date(value().first, op, condition.value, instant)
        case "value.last_order_date": return self.date(value().last, op, condition.value, instant)
        case "value.status": return Self.choice(value().status.name, op, condition.value)
        case "value.orders": return Self.number(Int128(value().orders), op, condition.value)
        case "consent.email":
            let sendable = facts.emailConsent == "opted_in" || facts.emailConsent == "confirmed_opt_in"
            guard case .strings(let states) = condition.value else { return false }
            let matches = states.contains(facts.emailConsent) || (sendable && states.contains("sendable"))
            return op == "in" ? matches : !matches
        case "do_not_call":
            if case .bool(let flag) = condition.value { return facts.doNotCall == flag }
            return false
        case "stats.open_tickets": return Self.number(Int128(facts.openTickets), op, condition.value)
        case "stats.open_deals": return Self.number(Int128(facts.openDeals), op, condition.value)
        case "stats.won_deals": return Self.number(Int128(facts.wonDeals), op, condition.value)
        case "feedback.last_nps_category":
            guard let nps = facts.lastNps else { return op == "not_in" }
            return Self.choice(SurveyKind.nps.category(Int(nps)), op, condition.value)
        case "feedback.last_csat":
            guard let csat = facts.lastCsat else { return false }
            return Self.number(Int128(csat), op, condition.value)
        case "rfm.segment":
            guard let rfm = facts.rfm else { return op == "not_in" }
            return Self.choice(rfm.segment, op, condition.value)
        case "rfm.r", "rfm.f", "rfm.m":
            guard let rfm = facts.rfm else { return false }
            let score = condition.field == "rfm.r" ? rfm.r : condition.field == "rfm.f" ? rfm.f : rfm.m
            return Self.number(Int128(score), op, condition.value)
        case "list":
            guard case .string(let list) = condition.value else { return false }
            return facts.lists.contains(list) == (op == "member_of")
        case "segment":
            guard case .string(let id) = condition.value, depth < 16 else { return false }
            let member = self.segmentFilter(id, instant).map { self.holds($0, facts, at: instant, depth: depth + 1) }
            return (member ?? false) == (op == "member_of")
        default:
            guard condition.field.hasPrefix("value.revenue.") else { return false }
            let currency = String(condition.field.dropFirst("value.revenue.".count))
            let sums = value().byCurrency[currency]
            let revenue = sums.map { $0.gross - $0.refunds } ?? 0
            return Self.number(revenue, op, condition.value)
        }
    }

    private static func text(_ field: String?, _ op: String, _ value: SegmentValue) -> Bool {
        switch (op, value) {
        case ("is_set", _): return field != nil
        case ("is_not_set", _): return field == nil
        case ("eq", .string(let text)): return field == text
        case ("ne", .string(let text)): return field != text
        default: return Self.choice(field, op, value)
        }
    }

    private static func choice(_ field: String?, _ op: String, _ value: SegmentValue) -> Bool {
        guard case .strings(let values) = value else { return false }
        let contained = field.map(values.contains) ?? false
        return op == "in" ? contained : !contained
    }

    private static func number(_ field: Int128, _ op: String, _ value: SegmentValue) -> Bool {
        let operand: Int128
        switch value {
        case .int(let number): operand = Int128(number)
        case .money(let amount):
            return Self.compare(field, op, amount.units)
        default: return false
        }
        return Self.compare(field, op, operand)
    }

    private static func compare(_ field: Int128, _ op: String, _ operand: Int128) -> Bool {
        switch op {
        case "eq": field == operand
        case "gt": field > operand
        case "gte": field >= operand
        case "lt": field < operand
        case "lte": field <= operand
        default: false
        }
    }

    /// A date condition on the business date `day` (`nil`: unset) at `instant`.
    private func date(_ day: BusinessDay?, _ op: String, _ value: SegmentValue, _ instant: Int64) -> Bool {
        switch op {
        case "is_set": return day != nil
        case "is_not_set": return day == nil
        default: break
        }
        guard let day else { return false }
        switch value {
        case .date(let text):
            guard let bound = BusinessDay(text) else { return false }
            return op == "before" ? day < bound : day > bound
        case .int(let days):
            let age = self.clock.day(instant).days - day.days
            return op == "within_last_days" ? age <= days : age > days
        default:
            return false
        }
    }

    // MARK: - Breakpoints

    /// The instants in `(after, before)` at which `filter` may change on `facts` with the clock alone:
    /// the starts of the business dates on which a relative date condition, the value status, a
    /// future-dated order or a churn mark turns. Extra instants are harmless (nothing changes there).
    func breakpoints(_ filter: SegmentFilter, _ facts: SegmentFacts, after: Int64, before: Int64) -> [Int64] {
        guard facts.active, after < before else { return [] }
        var days: Set<Int64> = []
        self.collect(filter, facts, &days, depth: 0)
        return days.map(self.clock.start(of:)).filter { $0 > after && $0 < before }.sorted()
    }

    private func collect(_ filter: SegmentFilter, _ facts: SegmentFacts, _ days: inout Set<Int64>, depth: Int) {
        let settings = self.clock.settings
        var usesValue = false
        var valueOffsets: Set<Int64> = [0]
        for condition in filter.groups.joined() {
            var offset: Int64 = 0
            if case .int(let n) = condition.value,
                condition.op == "within_last_days" || condition.op == "more_than_days_ago"
            {
                offset = n + 1
            }
            switch condition.field {
            case "created_at": days.insert(self.clock.day(facts.createdAt).days + offset)
            case "last_activity_at": if let at = facts.lastActivityAt { days.insert(self.clock.day(at).days + offset) }
            case "last_contacted_at":
                if let at = facts.lastContactedAt { days.insert(self.clock.day(at).days + offset) }
            case "feedback.last_nps_at": if let at = facts.lastNpsAt { days.insert(self.clock.day(at).days + offset) }
            case "value.first_order_date", "value.last_order_date":
                usesValue = true
                valueOffsets.insert(offset)
            case "value.status":
                usesValue = true
                for threshold in [settings.newCustomerDays, settings.inactiveAfterDays, settings.churnAfterDays] {
                    valueOffsets.insert(Int64(threshold) + 1)
                }
            case "segment":
                guard case .string(let id) = condition.value, depth < 16,
                    let other = self.segmentFilter(id, facts.at)
                else { continue }
                self.collect(other, facts, &days, depth: depth + 1)
            default:
                if condition.field.hasPrefix("value.") { usesValue = true }
            }
        }
        guard usesValue else { return }
        // Order dates (a future-dated order counts from its date) and the churn mark, each shifted by
        // every offset a value condition uses.
        var anchors = facts.orders.values.map { self.clock.day($0.orderedAt).days }
        if let mark = facts.churnMark { anchors.append(mark.day.days) }
        for anchor in anchors { for offset in valueOffsets { days.insert(anchor + offset) } }
    }
}

extension ValueClock {
    /// The first instant of business date `days` (days since 1970-01-01) in the reporting time zone.
    func start(of days: Int64) -> Int64 {
        let midnight = days * BusinessDay.millisPerDay
        guard self.settings.reportingTimezone != "UTC", let zone = TimeZone(identifier: self.settings.reportingTimezone)
        else { return midnight }
        var guess =
            midnight - Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(midnight) / 1000))) * 1000
        // Across an offset change the first guess may land on the neighbouring day: step to the day's start.
        while self.day(guess).days < days { guess += 3_600_000 }
        while self.day(guess - 1).days >= days { guess -= 3_600_000 }
        return guess
    }
}
