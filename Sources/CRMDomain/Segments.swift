// Marketing segments: saved filters over the non-personal fields of a customer's profile (an OR of
// AND groups). The segment read model keeps each customer's membership as intervals while it folds
// the log, so membership has an exact history.

/// A segment filter: an OR of AND groups of conditions (`{"any":[{"all":[…]},…]}`).
public struct SegmentFilter: Sendable, Hashable {
    /// The groups; the filter holds when every condition of at least one group holds.
    public var groups: [[SegmentCondition]]

    public init(groups: [[SegmentCondition]]) { self.groups = groups }

    /// At most this many groups, and conditions per group.
    public static let maximumGroups = 10
    public static let maximumConditions = 20

    /// The segments the filter refers to (`segment member_of …`), sorted.
    public var referencedSegments: [String] { self.references("segment") }
    /// The static lists the filter refers to, sorted.
    public var referencedLists: [String] { self.references("list") }

    private func references(_ field: String) -> [String] {
        Set(
            self.groups.joined().filter { $0.field == field }.compactMap { condition -> String? in
                if case .string(let id) = condition.value { return id }
                return nil
            }
        ).sorted()
    }
}

/// One condition: a field, an operator and its operand.
public struct SegmentCondition: Sendable, Hashable {
    public var field: String
    public var op: String
    public var value: SegmentValue

    public init(field: String, op: String, value: SegmentValue) {
        self.field = field
        self.op = op
        self.value = value
    }
}

/// The operand of a condition, typed by its field and operator.
public enum SegmentValue: Sendable, Hashable {
    /// No operand (`is_set`, `is_not_set`).
    case none
    case string(String)
    case strings([String])
    /// A count, a score or a number of days.
    case int(Int64)
    case money(MoneyAmount)
    case bool(Bool)
    /// A business date, `YYYY-MM-DD`.
    case date(String)
}

/// The filterable fields, their kinds and operators. Personal fields are refused: segments never
/// read personal data, so they survive erasure and rebuild without keys.
public enum SegmentFields {
    /// How a field is compared.
    public enum Kind: Sendable, Hashable {
        /// `lifecycle.stage`: an ordered enum.
        case stage
        /// A string that may be unset.
        case text
        /// `tags`.
        case set
        /// An instant or business date, compared as business dates.
        case date
        /// An enum with `in` / `not_in`.
        case choice([String])
        /// A count ≥ 0.
        case count
        /// A score with a fixed range.
        case score(ClosedRange<Int>)
        /// `value.revenue.<CUR>`.
        case money
        case bool
        /// `list`, `segment`.
        case membership
        /// Names (`rfm.segment`: the names of the RFM segment map, which may change).
        case names
    }

    /// The operators of each kind.
    public static func operators(_ kind: Kind) -> [String] {
        switch kind {
        case .stage: ["eq", "ne", "in", "not_in", "at_least", "at_most"]
        case .text: ["eq", "ne", "in", "not_in", "is_set", "is_not_set"]
        case .set: ["has", "has_any", "has_all", "has_none"]
        case .date: ["before", "after", "within_last_days", "more_than_days_ago", "is_set", "is_not_set"]
        case .choice: ["in", "not_in"]
        case .count: ["eq", "gt", "gte", "lt", "lte"]
        case .score: ["eq", "gte", "lte"]
        case .money: ["gt", "gte", "lt", "lte"]
        case .bool: ["eq"]
        case .membership: ["member_of", "not_member_of"]
        case .names: ["in", "not_in"]
        }
    }

    /// The value statuses (`value.status`).
    public static let valueStatuses = ["prospect", "new", "active", "inactive", "churned"]
    /// `consent.email`: a consent status, or `sendable` (opted in or confirmed).
    public static let emailConsent = ["sendable", "not_set", "opted_in", "confirmed_opt_in", "opted_out"]

    static let kinds: [String: Kind] = [
        "lifecycle.stage": .stage,
        "lead_status": .text, "tier": .text, "source": .text, "owner_id": .text,
        "tags": .set,
        "created_at": .date, "last_activity_at": .date, "last_contacted_at": .date,
        "value.first_order_date": .date, "value.last_order_date": .date, "feedback.last_nps_at": .date,
        "value.status": .choice(valueStatuses),
        "value.orders": .count,
        "consent.email": .choice(emailConsent),
        "do_not_call": .bool,
        "stats.open_tickets": .count, "stats.open_deals": .count, "stats.won_deals": .count,
        "feedback.last_nps_category": .choice(["promoter", "passive", "detractor"]),
        "feedback.last_csat": .score(1...5),
        "list": .membership, "segment": .membership,
        "rfm.segment": .names, "rfm.r": .score(1...5), "rfm.f": .score(1...5), "rfm.m": .score(1...5),
    ]

    /// Fields that hold personal data (and every `custom.*` field).
    public static let personal: Set<String> = [
        "name", "first_name", "last_name", "company", "company_name", "title", "job_title", "email", "emails",
        "email_domain", "phone", "phones", "address",
    ]

    /// The kind of `field`, or `nil` for an unknown field. `value.revenue.<CUR>` is money.
    public static func kind(of field: String) -> Kind? {
        if let kind = SegmentFields.kinds[field] { return kind }
        if field.hasPrefix("value.revenue."), field.count == 17,
            field.dropFirst(14).utf8.allSatisfy({ (65...90).contains($0) })
        {
            return .money
        }
        return nil
    }

    /// Whether `field` is personal data.
    public static func isPersonal(_ field: String) -> Bool {
        SegmentFields.personal.contains(field) || field.hasPrefix("custom.")
    }

    /// Every field name, for error messages.
    public static var names: [String] { SegmentFields.kinds.keys.sorted() + ["value.revenue.<CUR>"] }
}

/// A segment as its definition events left it.
public struct SegmentDefinition: Sendable, Hashable {
    public var segmentID: String
    public var version: Int64
    public var name: String
    public var description: String?
    public var filter: SegmentFilter

    public init(segmentID: String, version: Int64, name: String, description: String?, filter: SegmentFilter) {
        self.segmentID = segmentID
        self.version = version
        self.name = name
        self.description = description
        self.filter = filter
    }
}

/// The events of marketing (segments for now), typed.
public enum MarketingEvent: Sendable, Hashable {
    /// `SegmentDefined` (stream `segment-<id>`).
    case segmentDefined(SegmentDefined)
    /// `SegmentRetired` (stream `segment-<id>`).
    case segmentRetired(SegmentRetired)
    /// `ListCreated` (stream `list-<id>`).
    case listCreated(ListCreated)
    /// `ListMembersChanged` (stream `list-<id>`).
    case listMembersChanged(ListMembersChanged)
    /// `CampaignCreated` (stream `campaign-<id>`).
    case campaignCreated(CampaignCreated)
    /// `CampaignSent`.
    case campaignSent(CampaignSent)
    /// `CampaignRecipientsAdded`.
    case campaignRecipientsAdded(CampaignRecipientsAdded)
    /// `CampaignInteractionRecorded`.
    case campaignInteractionRecorded(CampaignInteraction)
    /// `CampaignCostRecorded`.
    case campaignCostRecorded(CampaignCostRecorded)
    /// `EmailFlagged` (stream `customer-<id>`).
    case emailFlagged(EmailFlagged)

    public var type: String {
        switch self {
        case .segmentDefined: MarketingEventType.segmentDefined
        case .segmentRetired: MarketingEventType.segmentRetired
        case .listCreated: MarketingEventType.listCreated
        case .listMembersChanged: MarketingEventType.listMembersChanged
        case .campaignCreated: MarketingEventType.campaignCreated
        case .campaignSent: MarketingEventType.campaignSent
        case .campaignRecipientsAdded: MarketingEventType.campaignRecipientsAdded
        case .campaignInteractionRecorded: MarketingEventType.campaignInteractionRecorded
        case .campaignCostRecorded: MarketingEventType.campaignCostRecorded
        case .emailFlagged: MarketingEventType.emailFlagged
        }
    }

    /// The customer the event is about: an interaction's recipient, a flagged address's owner.
    public var customerID: String? {
        switch self {
        case .campaignInteractionRecorded(let interaction): interaction.customerID
        case .emailFlagged(let flagged): flagged.customerID
        default: nil
        }
    }
}

/// Event type names of marketing.
public enum MarketingEventType {
    public static let segmentDefined = "SegmentDefined"
    public static let segmentRetired = "SegmentRetired"
    public static let listCreated = "ListCreated"
    public static let listMembersChanged = "ListMembersChanged"
    public static let campaignCreated = "CampaignCreated"
    public static let campaignSent = "CampaignSent"
    public static let campaignRecipientsAdded = "CampaignRecipientsAdded"
    public static let campaignInteractionRecorded = "CampaignInteractionRecorded"
    public static let campaignCostRecorded = "CampaignCostRecorded"
    public static let emailFlagged = "EmailFlagged"
}

extension DomainEvent {
    /// The marketing event, or `nil` for any other (or an untyped) event.
    public var marketing: MarketingEvent? {
        if case .marketing(let event) = self { return event }
        return nil
    }
}

/// `SegmentDefined{segment_id, version, name, description, filter}`.
public struct SegmentDefined: Sendable, Hashable {
    public var segment: SegmentDefinition

    public init(_ segment: SegmentDefinition) { self.segment = segment }
}

/// `SegmentRetired{segment_id, version}`: the segment stops being maintained; its history stays.
public struct SegmentRetired: Sendable, Hashable {
    public var segmentID: String
    /// The version that was in force.
    public var version: Int64

    public init(segmentID: String, version: Int64) {
        self.segmentID = segmentID
        self.version = version
    }
}

// MARK: - Decision state and commands

/// What the segment commands know of a segment: its version, whether it is retired, and the segments
/// its filter refers to (for cycles). Kept in the `service` table under `segment:<id>`.
struct SegmentState: Sendable, Hashable {
    var version: Int64
    var retired: Bool
    var references: [String]

    func encoded() -> [UInt8] {
        var row = BinaryRowWriter(capacity: 32)
        row.int(self.version)
        row.bool(self.retired)
        row.strings(self.references)
        return row.bytes
    }

    init(version: Int64, retired: Bool, references: [String]) {
        self.version = version
        self.retired = retired
        self.references = references
    }

    init(decoding bytes: [UInt8]) throws(StateDecodingError) {
        var row = BinaryRowReader(bytes, what: "segment")
        self.version = try row.int()
        self.retired = try row.bool()
        self.references = try row.strings()
        try row.finish()
    }

    static func key(_ id: String) -> String { "segment:" + id }
}

extension DecisionState {
    func segment(_ id: String) throws -> SegmentState? {
        try self.record(.service, SegmentState.key(id)).map(SegmentState.init(decoding:))
    }

    /// The segment `id`, or `unknown_segment` naming `field`.
    func existingSegment(_ id: String, field: String) throws -> SegmentState {
        guard let segment = try self.segment(id) else {
            throw Rejection(
                .unknownSegment, field: field, "segment \(id) is not defined", details: ["segment_id": .string(id)]
            )
        }
        return segment
    }
}

/// Folds marketing events into decision state.
enum MarketingEvolver {
    static func apply(_ event: RecordedEvent, to store: any DecisionStateStore) throws {
        guard let marketing = event.event.marketing else { return }
        switch marketing {
        case .segmentDefined(let defined):
            let segment = defined.segment
            let state = SegmentState(
                version: segment.version, retired: false, references: segment.filter.referencedSegments
            )
            try store.setRecord(.service, SegmentState.key(segment.segmentID), state.encoded())
        case .segmentRetired(let retired):
            guard var state = try store.segment(retired.segmentID) else { return }
            state.retired = true
            try store.setRecord(.service, SegmentState.key(retired.segmentID), state.encoded())
        case .listCreated, .listMembersChanged:
            try MarketingEvolver.apply(list: marketing, to: store)
        default:
            try MarketingEvolver.apply(campaign: marketing, event, to: store)
        }
    }
}

/// `segment.define {segment_id, name, filter, description?}`: a segment, or a new version of one. The
/// RPC edge has checked the filter's fields, operators and values; here the segments it refers to
/// must exist and must not refer back to it (`invalid_filter`, `cycle`). The same definition again
/// writes nothing; a retired segment is defined afresh in a new version.
public struct DefineSegment: DomainCommand {
    public static let method = "segment.define"

    public let segment: SegmentDefinition

    public init(_ segment: SegmentDefinition) { self.segment = segment }

    public func targetStream(_ context: CommandContext) -> String? { "segment-" + self.segment.segmentID }

    public func decide(_ state: any DecisionState, _ context: CommandContext) throws -> Decision {
        var segment = self.segment
        let id = segment.segmentID
        for (index, group) in segment.filter.groups.enumerated() {
            for (position, condition) in group.enumerated() where condition.field == "segment" {
                guard case .string(let other) = condition.value else { continue }
                let path = "filter.any[\(index)].all[\(position)].value"
                guard other != id, try !Self.reaches(other, id, state) else {
                    throw Rejection(
                        .invalidFilter, field: "filter", "segment \(other) refers back to \(id)",
                        details: ["path": .string(path), "reason": "cycle"]
                    )
                }
                guard try state.segment(other) != nil else {
                    throw Rejection(
                        .unknownSegment, field: "filter", "segment \(other) is not defined",
                        details: ["segment_id": .string(other), "path": .string(path)]
                    )
                }
            }
        }
        segment.version = 1
        if let current = try state.segment(id) {
            segment.version = current.version + 1
        }
        return Decision(
            events: [NewEvent(.marketing(.segmentDefined(SegmentDefined(segment))), stream: "segment-" + id)],
            result: CommandResult(.segment, id, version: segment.version)
        )
    }

    /// Whether `from`'s filter refers, directly or through other segments, to `target`.
    static func reaches(_ from: String, _ target: String, _ state: any DecisionState) throws -> Bool {
        var seen: Set<String> = []
        var pending = [from]
        while let next = pending.popLast() {
            guard seen.insert(next).inserted, let segment = try state.segment(next) else { continue }
            if segment.references.contains(target) { return true }
            pending += segment.references
        }
        return false
    }
}

/// `segment.retire {segment_id}`: stops maintaining the segment; its history stays readable. Retiring
/// a retired segment writes nothing.
public struct RetireSegment: DomainCommand {
    public static let method = "segment.retire"

    public let segmentID: String

    public init(segmentID: String) { self.segmentID = segmentID }

    public func targetStream(_ context: CommandContext) -> String? { "segment-" + self.segmentID }

    public func decide(_ state: any DecisionState, _ context: CommandContext) throws -> Decision {
        let segment = try state.existingSegment(self.segmentID, field: "segment_id")
        let result = CommandResult(.segment, self.segmentID, version: segment.version)
        guard !segment.retired else { return Decision(events: [], result: result) }
        let retired = SegmentRetired(segmentID: self.segmentID, version: segment.version)
        return Decision(
            events: [NewEvent(.marketing(.segmentRetired(retired)), stream: "segment-" + self.segmentID)],
            result: result
        )
    }
}
