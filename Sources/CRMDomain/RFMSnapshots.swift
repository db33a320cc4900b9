// RFM segment maps and snapshots: `rfm.configure` defines the ordered rules that name a buyer's
// segment from its R, F and M scores; `rfm.snapshot` records the scores of every buyer as of a date
// in the log, so that profiles and segments can read them later exactly as they were.

/// One rule of a segment map: the segment `name` for scores within `r`, `f` and `m` (first match wins).
public struct RfmRule: Sendable, Hashable {
    public var name: String
    public var r: ClosedRange<Int>
    public var f: ClosedRange<Int>
    public var m: ClosedRange<Int>

    public init(name: String, r: ClosedRange<Int>, f: ClosedRange<Int>, m: ClosedRange<Int> = 1...5) {
        self.name = name
        self.r = r
        self.f = f
        self.m = m
    }

    /// The default map: the R×F grid of public RFM practice; it covers all 25 R×F cells once and
    /// ignores M.
    public static let defaults: [RfmRule] = [
        RfmRule(name: "hibernating", r: 1...2, f: 1...2), RfmRule(name: "at_risk", r: 1...2, f: 3...4),
        RfmRule(name: "cant_lose", r: 1...2, f: 5...5), RfmRule(name: "about_to_sleep", r: 3...3, f: 1...2),
        RfmRule(name: "need_attention", r: 3...3, f: 3...3), RfmRule(name: "loyal_customers", r: 3...4, f: 4...5),
        RfmRule(name: "promising", r: 4...4, f: 1...1), RfmRule(name: "new_customers", r: 5...5, f: 1...1),
        RfmRule(name: "potential_loyalists", r: 4...5, f: 2...3), RfmRule(name: "champions", r: 5...5, f: 4...5),
    ]

    /// The segment of scores under `rules` (`m` nil: the R×F cell, whatever M), else `other`.
    public static func segment(_ rules: [RfmRule], r: Int, f: Int, m: Int?) -> String {
        rules.first { $0.r.contains(r) && $0.f.contains(f) && (m.map($0.m.contains) ?? true) }?.name ?? "other"
    }

    /// A binary row of `rules`.
    public static func encoded(_ rules: [RfmRule]) -> [UInt8] {
        var row = BinaryRowWriter(capacity: 16 + 24 * rules.count)
        row.byte(1)
        row.varint(UInt64(rules.count))
        for rule in rules {
            row.string(rule.name)
            for range in [rule.r, rule.f, rule.m] {
                row.int(Int64(range.lowerBound))
                row.int(Int64(range.upperBound))
            }
        }
        return row.bytes
    }

    public static func decoded(_ bytes: [UInt8]) throws(StateDecodingError) -> [RfmRule] {
        var row = BinaryRowReader(bytes, what: "rfm segment map")
        try row.format(1)
        var rules: [RfmRule] = []
        for _ in 0..<(try row.varint()) {
            let name = try row.string()
            var ranges: [ClosedRange<Int>] = []
            for _ in 0..<3 {
                let low = Int(try row.int())
                let high = Int(try row.int())
                guard low <= high else { throw StateDecodingError("rfm rule \(name) has a range \(low)…\(high)") }
                ranges.append(low...high)
            }
            rules.append(RfmRule(name: name, r: ranges[0], f: ranges[1], m: ranges[2]))
        }
        try row.finish()
        return rules
    }
}

/// `RfmSegmentMapDefined{version, rules}` (stream `settings-rfm`): the segment map from now on.
public struct RfmSegmentMapDefined: Sendable, Hashable {
    public var version: Int
    public var rules: [RfmRule]

    public init(version: Int, rules: [RfmRule]) {
        self.version = version
        self.rules = rules
    }

    /// The decision-state record of the current map's version.
    static let versionKey = "rfm-map-version"

    /// The version of the current map in `state` (0: the default map).
    static func currentVersion(_ state: any DecisionState) throws -> Int {
        guard let bytes = try state.record(.sales, Self.versionKey) else { return 0 }
        var row = BinaryRowReader(bytes, what: "rfm map version")
        return Int(try row.int())
    }
}

/// `rfm.configure {segment_map: [{name, r: [lo, hi], f: [lo, hi], m?: [lo, hi]}]}` (admin): the rules
/// the RFM report and snapshots name segments by (checked by the RPC edge: names
/// `^[a-z][a-z0-9_]{0,39}$`, bounds 1–5, lo ≤ hi). Each definition gets the next version.
public struct DefineRfmSegmentMap: DomainCommand {
    /// `rfm.configure`.
    public static let method = "rfm.configure"

    public let rules: [RfmRule]

    public init(rules: [RfmRule]) { self.rules = rules }

    /// `settings-rfm`.
    public func targetStream(_ context: CommandContext) -> String? { "settings-rfm" }

    public func decide(_ state: any DecisionState, _ context: CommandContext) throws -> Decision {
        let version = try RfmSegmentMapDefined.currentVersion(state) + 1
        let event = RfmSegmentMapDefined(version: version, rules: self.rules)
        return Decision(
            events: [NewEvent(.sales(.rfmSegmentMapDefined(event)), stream: "settings-rfm")],
            result: CommandResult(.settings, "rfm", version: Int64(version))
        )
    }
}

/// `RfmSnapshotTaken{snapshot_id, as_of_date, window_days, currency, map_version, population}`
/// (stream `rfm-<snapshot_id>`): the RFM scores of every buyer as of `as_of_date`, computed by the
/// value read model from the orders in the log up to this event. `population` is the number of
/// buyers scored when the command was decided; a fold that finds another number fails loudly.
public struct RfmSnapshotTaken: Sendable, Hashable {
    public var snapshotID: String
    public var asOfDate: String
    public var windowDays: Int
    public var currency: String
    public var mapVersion: Int
    public var population: Int

    public init(
        snapshotID: String,
        asOfDate: String,
        windowDays: Int,
        currency: String,
        mapVersion: Int,
        population: Int
    ) {
        self.snapshotID = snapshotID
        self.asOfDate = asOfDate
        self.windowDays = windowDays
        self.currency = currency
        self.mapVersion = mapVersion
        self.population = population
    }
}

/// `rfm.snapshot`, once computed: the application scores the buyers on a read snapshot of the log at
/// `basedOnSeq` and appends the result through this command, which holds only while the log has not
/// moved on since (else `version_conflict`, and the application scores again).
public struct TakeRfmSnapshot: DomainCommand {
    /// `rfm.snapshot`.
    public static let method = "rfm.snapshot"

    public let snapshot: RfmSnapshotTaken
    public let basedOnSeq: UInt64

    public init(snapshot: RfmSnapshotTaken, basedOnSeq: UInt64) {
        self.snapshot = snapshot
        self.basedOnSeq = basedOnSeq
    }

    /// `rfm-<snapshot_id>`.
    public func targetStream(_ context: CommandContext) -> String? { "rfm-\(self.snapshot.snapshotID)" }

    /// The scores were read at `basedOnSeq`.
    public func expectedHead() -> UInt64? { self.basedOnSeq }

    public func decide(_ state: any DecisionState, _ context: CommandContext) throws -> Decision {
        let id = self.snapshot.snapshotID
        guard try state.record(.sales, "rfm:" + id) == nil else {
            throw Rejection(.alreadyExists, field: "snapshot_id", "snapshot \(id) exists", details: ["id": .string(id)])
        }
        guard try RfmSegmentMapDefined.currentVersion(state) == self.snapshot.mapVersion else {
            throw Rejection(.versionConflict, field: "based_on_seq", "the segment map changed while scoring")
        }
        return Decision(
            events: [NewEvent(.sales(.rfmSnapshotTaken(self.snapshot)), stream: "rfm-\(id)")],
            result: CommandResult(.snapshot, id)
        )
    }
}
