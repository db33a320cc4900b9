import CRMDomain

/// One version of a segment as the segment read model keeps it.
struct SegmentVersion: Sendable, Hashable {
    var segmentID: String
    var version: Int64
    var name: String
    var filter: SegmentFilter
    /// When it came into force (its event's business time).
    var definedAt: Int64
    /// Every customer's membership was last evaluated at this instant (definition, a settings
    /// change, a change of a segment it refers to); membership after it and after the customer's last
    /// event is evaluated directly.
    var settledAt: Int64
    /// When a newer version or the retirement ended it.
    var endedAt: Int64?
    /// Whether it ended by retirement (no newer version).
    var retired = false

    /// Whether it is in force at `instant`.
    func inForce(at instant: Int64) -> Bool {
        self.definedAt <= instant && self.endedAt.map { instant < $0 } ?? true
    }

    func write(to row: inout BinaryRowWriter) {
        row.string(self.segmentID)
        row.int(self.version)
        row.string(self.name)
        row.int(self.definedAt)
        row.int(self.settledAt)
        row.optionalInt(self.endedAt)
        row.bool(self.retired)
        SegmentFilterRow.write(self.filter, to: &row)
    }

    init(segmentID: String, version: Int64, name: String, filter: SegmentFilter, definedAt: Int64) {
        self.segmentID = segmentID
        self.version = version
        self.name = name
        self.filter = filter
        self.definedAt = definedAt
        self.settledAt = definedAt
    }

    init(reading row: inout BinaryRowReader) throws(StateDecodingError) {
        self.segmentID = try row.string()
        self.version = try row.int()
        self.name = try row.string()
        self.definedAt = try row.int()
        self.settledAt = try row.int()
        self.endedAt = try row.optionalInt()
        self.retired = try row.bool()
        self.filter = try SegmentFilterRow.read(&row)
    }

    /// The versions of one segment, oldest first, as one row.
    static func encoded(_ versions: [SegmentVersion]) -> [UInt8] {
        var row = BinaryRowWriter(capacity: 128 * versions.count)
        row.count(versions.count)
        for version in versions { version.write(to: &row) }
        return row.bytes
    }

    static func decoded(_ bytes: [UInt8]) throws(StateDecodingError) -> [SegmentVersion] {
        var row = BinaryRowReader(bytes, what: "segment versions")
        var versions: [SegmentVersion] = []
        for _ in 0..<(try row.count()) { versions.append(try SegmentVersion(reading: &row)) }
        try row.finish()
        return versions
    }
}

/// A filter as a binary row.
enum SegmentFilterRow {
    static func write(_ filter: SegmentFilter, to row: inout BinaryRowWriter) {
        row.count(filter.groups.count)
        for group in filter.groups {
            row.count(group.count)
            for condition in group {
                row.string(condition.field)
                row.string(condition.op)
                switch condition.value {
                case .none: row.byte(0)
                case .string(let text):
                    row.byte(1)
                    row.string(text)
                case .strings(let texts):
                    row.byte(2)
                    row.strings(texts)
                case .int(let number):
                    row.byte(3)
                    row.int(number)
                case .money(let amount):
                    row.byte(4)
                    row.int128(amount.units)
                case .bool(let flag):
                    row.byte(5)
                    row.bool(flag)
                case .date(let text):
                    row.byte(6)
                    row.string(text)
                }
            }
        }
    }

    static func read(_ row: inout BinaryRowReader) throws(StateDecodingError) -> SegmentFilter {
        var groups: [[SegmentCondition]] = []
        for _ in 0..<(try row.count()) {
            var group: [SegmentCondition] = []
            for _ in 0..<(try row.count()) {
                let field = try row.string()
                let op = try row.string()
                let value: SegmentValue
                switch try row.byte() {
                case 0: value = .none
                case 1: value = .string(try row.string())
                case 2: value = .strings(try row.strings())
                case 3: value = .int(try row.int())
                case 4: value = .money(MoneyAmount(units: try row.int128()))
                case 5: value = .bool(try row.bool())
                case 6: value = .date(try row.string())
                default: throw row.malformed("unknown condition value")
                }
                group.append(SegmentCondition(field: field, op: op, value: value))
            }
            groups.append(group)
        }
        return SegmentFilter(groups: groups)
    }
}

/// A customer's membership of one segment version: closed intervals `[from, to)` and, while a member,
/// the start of the open one.
struct SegmentMembership: Sendable, Hashable {
    var intervals: [(from: Int64, to: Int64)] = []
    var openSince: Int64?

    static func == (lhs: SegmentMembership, rhs: SegmentMembership) -> Bool { lhs.encoded() == rhs.encoded() }
    func hash(into hasher: inout Hasher) { hasher.combine(self.encoded()) }

    var isMember: Bool { self.openSince != nil }

    /// Enters at `instant` (a member from then on) or leaves at it.
    mutating func set(_ member: Bool, at instant: Int64) {
        if member, self.openSince == nil {
            self.openSince = instant
        } else if !member, let since = self.openSince {
            if since < instant { self.intervals.append((since, instant)) }
            self.openSince = nil
        }
    }

    /// Whether the intervals hold `instant` (the open one counting as open-ended).
    func contains(_ instant: Int64) -> Bool {
        if let since = self.openSince, since <= instant { return true }
        return self.intervals.contains { $0.from <= instant && instant < $0.to }
    }

    func encoded() -> [UInt8] {
        var row = BinaryRowWriter(capacity: 8 + 16 * self.intervals.count)
        row.count(self.intervals.count)
        for interval in self.intervals {
            row.int(interval.from)
            row.int(interval.to)
        }
        row.optionalInt(self.openSince)
        return row.bytes
    }

    init() {}

    init(decoding bytes: [UInt8]) throws(StateDecodingError) {
        var row = BinaryRowReader(bytes, what: "segment membership")
        for _ in 0..<(try row.count()) { self.intervals.append((try row.int(), try row.int())) }
        self.openSince = try row.optionalInt()
        try row.finish()
    }
}

/// A deal's customers and stage kind (`open`, `won`, `lost`), for the deal counts of the facts.
struct SegmentDeal: Sendable, Hashable {
    var customers: [String]
    var kind: String

    func encoded() -> [UInt8] {
        var row = BinaryRowWriter(capacity: 32)
        row.strings(self.customers)
        row.string(self.kind)
        return row.bytes
    }

    init(customers: [String], kind: String) {
        self.customers = customers
        self.kind = kind
    }

    init(decoding bytes: [UInt8]) throws(StateDecodingError) {
        var row = BinaryRowReader(bytes, what: "segment deal")
        self.customers = try row.strings()
        self.kind = try row.string()
        try row.finish()
    }
}

/// A static list: its name, kind and (for a snapshot) where its members came from.
struct SegmentList: Sendable, Hashable {
    var name: String
    var kind: String
    var source: ListSource?
    var createdAt: Int64

    func encoded() -> [UInt8] {
        var row = BinaryRowWriter(capacity: 48)
        row.string(self.name)
        row.string(self.kind)
        row.int(self.createdAt)
        row.bool(self.source != nil)
        if let source = self.source {
            row.string(source.segmentID)
            row.optionalInt(source.version)
            row.int(source.asOf)
        }
        return row.bytes
    }

    init(name: String, kind: String, source: ListSource?, createdAt: Int64) {
        self.name = name
        self.kind = kind
        self.source = source
        self.createdAt = createdAt
    }

    init(decoding bytes: [UInt8]) throws(StateDecodingError) {
        var row = BinaryRowReader(bytes, what: "list")
        self.name = try row.string()
        self.kind = try row.string()
        self.createdAt = try row.int()
        if try row.bool() {
            self.source = ListSource(segmentID: try row.string(), version: try row.optionalInt(), asOf: try row.int())
        }
        try row.finish()
    }
}
