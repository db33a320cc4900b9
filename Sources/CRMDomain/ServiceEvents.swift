/// The events of the service desk (schedules, SLA policies, tickets) as typed values.
///
/// Ticket facts from the SLA vocabulary (channels, priorities, statuses, authors) stay strings, as in
/// ``TicketState`` and ``SlaVocabulary``: the folds pass whatever a stored event holds on.
public enum ServiceEvent: Sendable, Hashable {
    /// `ScheduleDefined`.
    case scheduleDefined(ScheduleDefined)
    /// `SlaPolicyDefined`.
    case slaPolicyDefined(SlaPolicyDefined)
    /// `SlaPolicyRetired`.
    case slaPolicyRetired(SlaPolicyRetired)
    /// `TicketOpened`.
    case ticketOpened(TicketOpened)
    /// `TicketMessageAdded`.
    case ticketMessageAdded(TicketMessageAdded)
    /// `TicketStatusChanged`.
    case ticketStatusChanged(TicketStatusChanged)
    /// `TicketPriorityChanged`.
    case ticketPriorityChanged(TicketPriorityChanged)
    /// `TicketTagged`.
    case ticketTagged(TicketTagged)
    /// `SlaPolicyApplied`.
    case slaPolicyApplied(SlaPolicyApplied)
    /// `SlaPolicyRemoved`.
    case slaPolicyRemoved(SlaPolicyRemoved)
    /// `TicketAssigned`.
    case ticketAssigned(TicketAssigned)
    /// `TicketTypeChanged`.
    case ticketTypeChanged(TicketTypeChanged)
    /// `ComplaintResolved`.
    case complaintResolved(ComplaintResolved)

    /// The event type name, e.g. `TicketOpened`.
    public var type: String {
        switch self {
        case .scheduleDefined: ServiceEventType.scheduleDefined
        case .slaPolicyDefined: ServiceEventType.slaPolicyDefined
        case .slaPolicyRetired: ServiceEventType.slaPolicyRetired
        case .ticketOpened: ServiceEventType.ticketOpened
        case .ticketMessageAdded: ServiceEventType.ticketMessageAdded
        case .ticketStatusChanged: ServiceEventType.ticketStatusChanged
        case .ticketPriorityChanged: ServiceEventType.ticketPriorityChanged
        case .ticketTagged: ServiceEventType.ticketTagged
        case .slaPolicyApplied: ServiceEventType.slaPolicyApplied
        case .slaPolicyRemoved: ServiceEventType.slaPolicyRemoved
        case .ticketAssigned: ServiceEventType.ticketAssigned
        case .ticketTypeChanged: ServiceEventType.ticketTypeChanged
        case .complaintResolved: ServiceEventType.complaintResolved
        }
    }

    /// The ticket of a ticket event (`nil` for schedule and policy events).
    public var ticketID: String? { self.ticketFacts?.ticketID }

    /// The requester of a ticket event (`nil` for schedule and policy events, and for a stored ticket
    /// event without a `customer_id`).
    public var customerID: String? { self.ticketFacts.flatMap { $0.customerID.isEmpty ? nil : $0.customerID } }

    private var ticketFacts: (ticketID: String, customerID: String)? {
        switch self {
        case .scheduleDefined, .slaPolicyDefined, .slaPolicyRetired: nil
        case .ticketOpened(let event): (event.ticketID, event.customerID)
        case .ticketMessageAdded(let event): (event.ticketID, event.customerID)
        case .ticketStatusChanged(let event): (event.ticketID, event.customerID)
        case .ticketPriorityChanged(let event): (event.ticketID, event.customerID)
        case .ticketTagged(let event): (event.ticketID, event.customerID)
        case .slaPolicyApplied(let event): (event.ticketID, event.customerID)
        case .slaPolicyRemoved(let event): (event.ticketID, event.customerID)
        case .ticketAssigned(let event): (event.ticketID, event.customerID)
        case .ticketTypeChanged(let event): (event.ticketID, event.customerID)
        case .complaintResolved(let event): (event.ticketID, event.customerID)
        }
    }
}

extension DomainEvent {
    /// The service event, or `nil` for any other (or an untyped) event.
    public var service: ServiceEvent? {
        if case .service(let event) = self { return event }
        return nil
    }
}

/// `ScheduleDefined`: a business-hours schedule, in a new version.
public struct ScheduleDefined: Sendable, Hashable {
    /// The schedule as defined, with its version.
    public var schedule: BusinessSchedule

    /// The event for `schedule`.
    public init(schedule: BusinessSchedule) {
        self.schedule = schedule
    }
}

/// `SlaPolicyDefined`: an SLA policy, in a new version.
public struct SlaPolicyDefined: Sendable, Hashable {
    /// The policy as defined, with its version; never retired (retiring is ``SlaPolicyRetired``).
    public var policy: SlaPolicy

    /// The event defining `policy` (its `retired` flag is not part of a definition).
    public init(_ policy: SlaPolicy) {
        self.policy = policy
        self.policy.retired = false
    }
}

/// `SlaPolicyRetired`: the policy stops matching tickets.
public struct SlaPolicyRetired: Sendable, Hashable {
    /// The policy id.
    public var policyID: String
    /// The version that was retired.
    public var version: Int64

    /// The event.
    public init(policyID: String, version: Int64) {
        self.policyID = policyID
        self.version = version
    }
}

/// `TicketOpened`: a new ticket.
public struct TicketOpened: Sendable, Hashable {
    /// The ticket id.
    public var ticketID: String
    /// The requester.
    public var customerID: String
    /// One of ``SlaVocabulary/channels``.
    public var channel: String
    /// Initial priority, one of ``SlaVocabulary/priorities``.
    public var priority: String
    /// Initial status (`new`).
    public var status: String
    /// Initial tags, sorted and unique.
    public var tags: [String]
    /// `customer` or `agent`.
    public var createdBy: String
    /// Subject (personal data); `nil` when the stored event has none.
    public var subject: String?
    /// One of ``TicketType/all``, or `nil` for a ticket opened without one (the member is then absent
    /// from the payload, as in tickets opened before types existed).
    public var ticketType: String?
    /// A category such as `delivery` (``TicketType/categoryPattern``), or `nil` (absent).
    public var category: String?

    /// The event.
    public init(
        ticketID: String,
        customerID: String,
        channel: String,
        priority: String,
        status: String,
        tags: [String],
        createdBy: String,
        subject: String?,
        ticketType: String? = nil,
        category: String? = nil
    ) {
        self.ticketType = ticketType
        self.category = category
        self.ticketID = ticketID
        self.customerID = customerID
        self.channel = channel
        self.priority = priority
        self.status = status
        self.tags = tags
        self.createdBy = createdBy
        self.subject = subject
    }
}

/// `TicketMessageAdded`: a public message or an internal note on a ticket.
public struct TicketMessageAdded: Sendable, Hashable {
    /// The ticket id.
    public var ticketID: String
    /// The requester.
    public var customerID: String
    /// `<ticket_id>-m<n>`.
    public var messageID: String
    /// `customer` or `agent`.
    public var author: String
    /// Who wrote it (e.g. the agent id), if given.
    public var authorID: String?
    /// Public message (`true`) or internal note.
    public var isPublic: Bool
    /// Size of the body in UTF-8 bytes.
    public var length: Int64
    /// Whether it is the ticket's opening message.
    public var opening: Bool
    /// The message body (personal data).
    public var body: String

    /// The event.
    public init(
        ticketID: String,
        customerID: String,
        messageID: String,
        author: String,
        authorID: String?,
        isPublic: Bool,
        length: Int64,
        opening: Bool,
        body: String
    ) {
        self.ticketID = ticketID
        self.customerID = customerID
        self.messageID = messageID
        self.author = author
        self.authorID = authorID
        self.isPublic = isPublic
        self.length = length
        self.opening = opening
        self.body = body
    }
}

/// `TicketStatusChanged`: the ticket moved from one status to another.
public struct TicketStatusChanged: Sendable, Hashable {
    /// The ticket id.
    public var ticketID: String
    /// The requester.
    public var customerID: String
    /// The previous status.
    public var from: String
    /// The new status.
    public var to: String
    /// `manual`, `agent_reply` or `customer_reply`.
    public var cause: String
    /// Free-text reason (personal data), if given.
    public var reason: String?

    /// The event.
    public init(ticketID: String, customerID: String, from: String, to: String, cause: String, reason: String?) {
        self.ticketID = ticketID
        self.customerID = customerID
        self.from = from
        self.to = to
        self.cause = cause
        self.reason = reason
    }
}

/// `TicketPriorityChanged`: the ticket's priority changed.
public struct TicketPriorityChanged: Sendable, Hashable {
    /// The ticket id.
    public var ticketID: String
    /// The requester.
    public var customerID: String
    /// The previous priority.
    public var from: String
    /// The new priority.
    public var to: String

    /// The event.
    public init(ticketID: String, customerID: String, from: String, to: String) {
        self.ticketID = ticketID
        self.customerID = customerID
        self.from = from
        self.to = to
    }
}

/// `TicketTagged`: tags added to and removed from a ticket (only effective changes).
public struct TicketTagged: Sendable, Hashable {
    /// The ticket id.
    public var ticketID: String
    /// The requester.
    public var customerID: String
    /// Tags added, sorted.
    public var added: [String]
    /// Tags removed, sorted.
    public var removed: [String]

    /// The event.
    public init(ticketID: String, customerID: String, added: [String], removed: [String]) {
        self.ticketID = ticketID
        self.customerID = customerID
        self.added = added
        self.removed = removed
    }
}

/// `SlaPolicyApplied`: a snapshot of the policy, schedule and targets now in force for a ticket.
public struct SlaPolicyApplied: Sendable, Hashable {
    /// The ticket id.
    public var ticketID: String
    /// The requester.
    public var customerID: String
    /// The policy, schedule and targets in force from this event on.
    public var snapshot: SlaPolicySnapshot
    /// `created`, `priority_changed` or `policy_changed`.
    public var reason: String

    /// The event.
    public init(ticketID: String, customerID: String, snapshot: SlaPolicySnapshot, reason: String) {
        self.ticketID = ticketID
        self.customerID = customerID
        self.snapshot = snapshot
        self.reason = reason
    }
}

/// What `SlaPolicyApplied` fixes for a ticket: the policy version, the ticket priority its targets are
/// for, the policy's schedule as it was then, and those targets. ``SlaClock`` evaluates a ticket
/// against the snapshots applied to it, so later policy or schedule versions never change a past clock.
public struct SlaPolicySnapshot: Sendable, Hashable {
    /// The applied policy.
    public var policyID: String
    /// Its version.
    public var policyVersion: Int64
    /// The ticket priority the targets are for.
    public var priority: String
    /// The policy's schedule as it was then, or `nil` when the policy has none.
    public var schedule: BusinessSchedule?
    /// The policy's targets for ``priority``, at most one per metric, sorted by metric.
    public var targets: [SlaTarget]

    /// A snapshot.
    public init(
        policyID: String,
        policyVersion: Int64,
        priority: String,
        schedule: BusinessSchedule?,
        targets: [SlaTarget]
    ) {
        self.policyID = policyID
        self.policyVersion = policyVersion
        self.priority = priority
        self.schedule = schedule
        self.targets = targets
    }

    /// The target for `metric`, or `nil` when the snapshot has none.
    public func target(_ metric: String) -> SlaTarget? {
        self.targets.first { $0.metric == metric }
    }
}

/// `SlaPolicyRemoved`: no policy matches the ticket any more.
public struct SlaPolicyRemoved: Sendable, Hashable {
    /// The ticket id.
    public var ticketID: String
    /// The requester.
    public var customerID: String
    /// The policy that applied until now.
    public var policyID: String
    /// Its version, when known.
    public var policyVersion: Int64?
    /// Why: `no_matching_policy`.
    public var reason: String

    /// The event.
    public init(ticketID: String, customerID: String, policyID: String, policyVersion: Int64?, reason: String) {
        self.ticketID = ticketID
        self.customerID = customerID
        self.policyID = policyID
        self.policyVersion = policyVersion
        self.reason = reason
    }
}

/// `TicketAssigned{ticket_id, customer_id, from, to}`: the agent responsible for the ticket changed
/// (`to` `nil`: unassigned). Feedback is credited to the assignee at the time of a response.
public struct TicketAssigned: Sendable, Hashable {
    public var ticketID: String
    public var customerID: String
    /// The previous assignee, or `nil`.
    public var from: String?
    /// The new assignee, or `nil`.
    public var to: String?

    public init(ticketID: String, customerID: String, from: String?, to: String?) {
        self.ticketID = ticketID
        self.customerID = customerID
        self.from = from
        self.to = to
    }
}

/// `TicketTypeChanged{ticket_id, customer_id, from, to, category}`: the ticket's type (and category)
/// changed; a change to `complaint` starts the complaint's clock.
public struct TicketTypeChanged: Sendable, Hashable {
    public var ticketID: String
    public var customerID: String
    /// The previous type, or `nil` when it had none.
    public var from: String?
    public var to: String
    /// The category from now on (`nil`: none).
    public var category: String?

    public init(ticketID: String, customerID: String, from: String?, to: String, category: String?) {
        self.ticketID = ticketID
        self.customerID = customerID
        self.from = from
        self.to = to
        self.category = category
    }
}

/// `ComplaintResolved{ticket_id, customer_id, outcome, remedy}`: the assessment of a complaint (the
/// latest one counts).
public struct ComplaintResolved: Sendable, Hashable {
    /// What was offered to put things right.
    public struct Remedy: Sendable, Hashable {
        /// One of ``ComplaintResolved/remedyKinds``.
        public var kind: String
        public var amount: MoneyAmount?
        public var currency: String?
        public var orderID: String?

        public init(kind: String, amount: MoneyAmount?, currency: String?, orderID: String?) {
            self.kind = kind
            self.amount = amount
            self.currency = currency
            self.orderID = orderID
        }
    }

    /// `upheld`, `partially_upheld`, `rejected`.
    public static let outcomes = ["upheld", "partially_upheld", "rejected"]
    /// `refund`, `replacement`, `credit`, `apology`, `none`.
    public static let remedyKinds = ["refund", "replacement", "credit", "apology", "none"]

    public var ticketID: String
    public var customerID: String
    public var outcome: String
    public var remedy: Remedy?

    public init(ticketID: String, customerID: String, outcome: String, remedy: Remedy?) {
        self.ticketID = ticketID
        self.customerID = customerID
        self.outcome = outcome
        self.remedy = remedy
    }

    /// Whether the outcome upholds the complaint at least in part.
    public var upheld: Bool { self.outcome != "rejected" }
}

/// Ticket types (Zendesk's four, plus `complaint`) and categories.
public enum TicketType {
    /// `question`, `incident`, `problem`, `task`, `complaint`.
    public static let all = ["question", "incident", "problem", "task", "complaint"]
    /// `complaint`.
    public static let complaint = "complaint"
    /// A category: a lower-case letter, then up to 39 lower-case letters, digits or `_`.
    public static func isCategory(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard let first = bytes.first, (97...122).contains(first), bytes.count <= 40 else { return false }
        return bytes.allSatisfy { (97...122).contains($0) || (48...57).contains($0) || $0 == 95 }
    }
}
