/// What the SLA read model keeps of one ticket: its current facts (``SlaTicket``) and its log, the
/// entries ``SlaClock`` computes every metric from. Both are folded from the ticket's typed events;
/// the read model stores them as binary rows and renders the answers of queries from them.
public struct SlaTicketRecord: Sendable, Hashable {
    /// The ticket's current facts.
    public var ticket: SlaTicket
    /// The entries the clock reads, in event order.
    public var log: [SlaTicketLogEntry]

    /// A record of `ticket` with `log`.
    public init(ticket: SlaTicket, log: [SlaTicketLogEntry]) {
        self.ticket = ticket
        self.log = log
    }

    /// Folds one event into `record` (`nil` before `TicketOpened`; a `TicketOpened` starts a new
    /// record). Returns the new record, or `nil` when the event is not a ticket event or the ticket is
    /// unknown.
    public static func fold(_ record: SlaTicketRecord?, _ event: RecordedEvent) -> SlaTicketRecord? {
        guard let (ticket, entry) = SlaTicket.fold(record?.ticket, event) else { return nil }
        var log = SlaTicket.opens(event) ? [] : record?.log ?? []
        if let entry { log.append(entry) }
        return SlaTicketRecord(ticket: ticket, log: log)
    }
}

/// A ticket's current facts in the SLA read model (what `ticket.get` and `ticket.list` show).
public struct SlaTicket: Sendable, Hashable {
    /// The ticket id.
    public var ticketID: String
    /// The requester, or `nil` for a stored ticket event without one.
    public var customerID: String?
    /// The channel it came in on.
    public var channel: String
    /// The current priority.
    public var priority: String
    /// The current status.
    public var status: String
    /// The current tags, sorted and unique.
    public var tags: [String]
    /// `customer` or `agent`.
    public var createdBy: String
    /// The subject (personal data), if the opening event has one.
    public var subject: String?
    /// When the ticket was opened (UTC ms, business time).
    public var createdAt: Int64
    /// When its last event occurred (UTC ms).
    public var updatedAt: Int64
    /// Messages and notes added, the opening message included.
    public var messageCount: Int64
    /// The policy applied now, or `nil`.
    public var policy: SlaPolicyReference?
    /// The agent it is assigned to, or `nil`.
    public var assigneeID: String?
    /// Its type (``TicketType/all``), or `nil`.
    public var ticketType: String?
    /// Its category, or `nil`.
    public var category: String?

    /// A ticket's facts.
    public init(
        ticketID: String,
        customerID: String?,
        channel: String,
        priority: String,
        status: String,
        tags: [String],
        createdBy: String,
        subject: String?,
        createdAt: Int64,
        updatedAt: Int64,
        messageCount: Int64,
        policy: SlaPolicyReference?
    ) {
        self.ticketID = ticketID
        self.customerID = customerID
        self.channel = channel
        self.priority = priority
        self.status = status
        self.tags = tags
        self.createdBy = createdBy
        self.subject = subject
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.messageCount = messageCount
        self.policy = policy
    }

    /// Whether the ticket is neither solved nor closed (it may still breach).
    public var isOpen: Bool { self.status != "solved" && self.status != "closed" }

    /// Whether `event` is a `TicketOpened` (which starts a ticket afresh).
    public static func opens(_ event: RecordedEvent) -> Bool {
        if case .ticketOpened = event.event.service { return true }
        return false
    }

    /// Folds one event into `ticket` (`nil` before `TicketOpened`): the new facts, and the log entry
    /// the event adds for the clock, if any. `nil` when the event is not a ticket event or the ticket
    /// is unknown. Internal notes and the opening message add no entry: the clock ignores them.
    public static func fold(
        _ ticket: SlaTicket?,
        _ event: RecordedEvent
    ) -> (ticket: SlaTicket, entry: SlaTicketLogEntry?)? {
        guard let service = event.event.service else { return nil }
        let at = event.occurredAt
        if case .ticketOpened(let opened) = service {
            var ticket = SlaTicket(
                ticketID: opened.ticketID,
                customerID: service.customerID,
                channel: opened.channel,
                priority: opened.priority,
                status: opened.status,
                tags: opened.tags,
                createdBy: opened.createdBy,
                subject: opened.subject,
                createdAt: at,
                updatedAt: at,
                messageCount: 0,
                policy: nil
            )
            ticket.ticketType = opened.ticketType
            ticket.category = opened.category
            return (ticket, nil)
        }
        guard var ticket else { return nil }
        var entry: SlaTicketLogEntry?
        switch service {
        case .ticketMessageAdded(let added):
            ticket.messageCount += 1
            if added.isPublic, !added.opening { entry = .reply(at: at, byAgent: added.author == "agent") }
        case .ticketStatusChanged(let changed):
            ticket.status = changed.to
            entry = .status(at: at, to: changed.to)
        case .ticketPriorityChanged(let changed):
            ticket.priority = changed.to
        case .ticketTagged(let tagged):
            ticket.tags = Set(ticket.tags).union(tagged.added).subtracting(tagged.removed).sorted()
        case .slaPolicyApplied(let applied):
            let snapshot = applied.snapshot
            ticket.policy = SlaPolicyReference(policyID: snapshot.policyID, version: snapshot.policyVersion)
            entry = .applied(at: at, snapshot)
        case .slaPolicyRemoved:
            ticket.policy = nil
            entry = .removed(at: at)
        case .ticketAssigned(let assigned):
            ticket.assigneeID = assigned.to
        case .ticketTypeChanged(let changed):
            ticket.ticketType = changed.to
            ticket.category = changed.category
        case .scheduleDefined, .slaPolicyDefined, .slaPolicyRetired, .ticketOpened, .complaintResolved:
            return nil
        }
        ticket.updatedAt = at
        return (ticket, entry)
    }
}

/// The policy a ticket is under: its id and version.
public struct SlaPolicyReference: Sendable, Hashable {
    /// The policy id.
    public var policyID: String
    /// The applied version.
    public var version: Int64

    /// A reference to version `version` of policy `policyID`.
    public init(policyID: String, version: Int64) {
        self.policyID = policyID
        self.version = version
    }
}

/// One entry of a ticket's SLA log: what ``SlaClock`` needs of a ticket event, at its business time.
public enum SlaTicketLogEntry: Sendable, Hashable {
    /// A public reply after the opening message, by an agent or by the requester.
    case reply(at: Int64, byAgent: Bool)
    /// The status changed to `to`.
    case status(at: Int64, to: String)
    /// A policy snapshot applied.
    case applied(at: Int64, SlaPolicySnapshot)
    /// The policy was removed.
    case removed(at: Int64)

    /// When the event occurred (UTC ms).
    public var at: Int64 {
        switch self {
        case .reply(let at, _), .status(let at, _), .applied(let at, _), .removed(let at): at
        }
    }
}
