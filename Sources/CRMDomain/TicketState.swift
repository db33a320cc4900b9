/// What the ticket commands need to decide: kept in the `tickets` table.
public struct TicketState: Sendable, Hashable {
    /// The ticket id.
    public var ticketID: String
    /// The requester.
    public var customerID: String
    /// One of ``SlaVocabulary/channels``.
    public var channel: String
    /// Current priority.
    public var priority: String
    /// Current status.
    public var status: String
    /// Ticket tags, sorted.
    public var tags: [String]
    /// Messages so far (numbers the next `message_id`).
    public var messageCount: Int64
    /// The applied policy `(policy_id, policy_version, priority)`, or `nil` when none is applied.
    public var appliedPolicyID: String?
    /// Version of the applied policy.
    public var appliedPolicyVersion: Int64?
    /// Priority the applied snapshot was taken for.
    public var appliedPriority: String?
    /// The agent the ticket is assigned to, or `nil`.
    public var assigneeID: String?
    /// The author id of the latest public agent message, credited with feedback when no one is
    /// assigned.
    public var lastAgentID: String?
    /// The ticket's type (``TicketType/all``), or `nil`.
    public var ticketType: String?
    /// Its category, or `nil`.
    public var category: String?

    /// A ticket state.
    public init(
        ticketID: String,
        customerID: String,
        channel: String,
        priority: String,
        status: String,
        tags: [String],
        messageCount: Int64 = 0,
        appliedPolicyID: String? = nil,
        appliedPolicyVersion: Int64? = nil,
        appliedPriority: String? = nil
    ) {
        self.ticketID = ticketID
        self.customerID = customerID
        self.channel = channel
        self.priority = priority
        self.status = status
        self.tags = tags
        self.messageCount = messageCount
        self.appliedPolicyID = appliedPolicyID
        self.appliedPolicyVersion = appliedPolicyVersion
        self.appliedPriority = appliedPriority
    }

    /// Format of the binary row; bump it with the decision state's version.
    static let rowFormat: UInt8 = 1

    /// The compact binary row stored in the `tickets` table.
    public func encoded() -> [UInt8] {
        var row = BinaryRowWriter(capacity: 96)
        row.byte(TicketState.rowFormat)
        row.string(self.ticketID)
        row.string(self.customerID)
        row.string(self.channel)
        row.string(self.priority)
        row.string(self.status)
        row.strings(self.tags)
        row.int(self.messageCount)
        row.optionalString(self.appliedPolicyID)
        row.optionalInt(self.appliedPolicyVersion)
        row.optionalString(self.appliedPriority)
        row.optionalString(self.assigneeID)
        row.optionalString(self.lastAgentID)
        row.optionalString(self.ticketType)
        row.optionalString(self.category)
        return row.bytes
    }

    /// Decodes a row written by ``encoded()``.
    public init(decoding bytes: [UInt8]) throws(StateDecodingError) {
        var row = BinaryRowReader(bytes, what: "ticket record")
        try row.format(TicketState.rowFormat)
        self.init(
            ticketID: try row.string(),
            customerID: try row.string(),
            channel: try row.string(),
            priority: try row.string(),
            status: try row.string(),
            tags: try row.strings(),
            messageCount: try row.int(),
            appliedPolicyID: try row.optionalString(),
            appliedPolicyVersion: try row.optionalInt(),
            appliedPriority: try row.optionalString()
        )
        self.assigneeID = try row.optionalString()
        self.lastAgentID = try row.optionalString()
        self.ticketType = try row.optionalString()
        self.category = try row.optionalString()
        try row.finish()
    }
}

extension DecisionState {
    /// Ticket `id`, or `nil`.
    public func ticket(_ id: String) throws -> TicketState? {
        try self.record(.tickets, id).map(TicketState.init(decoding:))
    }

    /// Ticket `id`, or `not_found` naming `ticket_id`.
    func existingTicket(_ id: String) throws -> TicketState {
        guard let ticket = try self.ticket(id) else { throw Rejection.notFound("ticket_id", "ticket", id) }
        return ticket
    }
}

extension DecisionStateStore {
    /// Stores `ticket` as the ticket `id`.
    func setTicket(_ id: String, _ ticket: TicketState) throws {
        try self.setRecord(.tickets, id, ticket.encoded())
    }
}

/// Folds service events into decision state.
public enum ServiceEvolver {
    /// Applies `event` if it is a service event; ignores everything else.
    public static func apply(_ event: RecordedEvent, to store: any DecisionStateStore) throws {
        guard let service = event.event.service else { return }
        switch service {
        case .scheduleDefined(let defined):
            try store.setSchedule(defined.schedule)
        case .slaPolicyDefined(let defined):
            try store.setSlaPolicy(defined.policy)
        case .slaPolicyRetired(let retired):
            guard var policy = try store.slaPolicy(retired.policyID) else { return }
            policy.retired = true
            try store.setSlaPolicy(policy)
        case .ticketOpened(let opened):
            guard !opened.customerID.isEmpty else { return }
            var ticket = TicketState(
                ticketID: opened.ticketID,
                customerID: opened.customerID,
                channel: opened.channel,
                priority: opened.priority,
                status: opened.status,
                tags: opened.tags
            )
            ticket.ticketType = opened.ticketType
            ticket.category = opened.category
            try store.setTicket(opened.ticketID, ticket)
            try store.setLink(opened.customerID, .ticket, opened.ticketID, linked: true)
        case .ticketMessageAdded(let added):
            try ServiceEvolver.update(added.ticketID, store) { ticket in
                ticket.messageCount += 1
                if added.author == "agent", added.isPublic, let author = added.authorID { ticket.lastAgentID = author }
            }
        case .ticketAssigned(let assigned):
            try ServiceEvolver.update(assigned.ticketID, store) { $0.assigneeID = assigned.to }
        case .ticketTypeChanged(let changed):
            try ServiceEvolver.update(changed.ticketID, store) { ticket in
                ticket.ticketType = changed.to
                ticket.category = changed.category
            }
        case .complaintResolved:
            return
        case .ticketStatusChanged(let changed):
            try ServiceEvolver.update(changed.ticketID, store) { $0.status = changed.to }
        case .ticketPriorityChanged(let changed):
            try ServiceEvolver.update(changed.ticketID, store) { $0.priority = changed.to }
        case .ticketTagged(let tagged):
            try ServiceEvolver.update(tagged.ticketID, store) { ticket in
                ticket.tags = Set(ticket.tags).union(tagged.added).subtracting(tagged.removed).sorted()
            }
        case .slaPolicyApplied(let applied):
            try ServiceEvolver.update(applied.ticketID, store) { ticket in
                ticket.appliedPolicyID = applied.snapshot.policyID
                ticket.appliedPolicyVersion = applied.snapshot.policyVersion
                ticket.appliedPriority = applied.snapshot.priority
            }
        case .slaPolicyRemoved(let removed):
            try ServiceEvolver.update(removed.ticketID, store) { ticket in
                ticket.appliedPolicyID = nil
                ticket.appliedPolicyVersion = nil
                ticket.appliedPriority = nil
            }
        }
    }

    private static func update(
        _ id: String,
        _ store: any DecisionStateStore,
        _ change: (inout TicketState) -> Void
    ) throws {
        guard var ticket = try store.ticket(id) else { return }
        change(&ticket)
        try store.setTicket(id, ticket)
    }
}
