public import CRMJSON

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

    /// The stored form.
    public var json: JSON {
        [
            "ticket_id": .string(self.ticketID), "customer_id": .string(self.customerID),
            "channel": .string(self.channel), "priority": .string(self.priority), "status": .string(self.status),
            "tags": .strings(self.tags), "message_count": .int(self.messageCount),
            "applied_policy_id": .string(self.appliedPolicyID),
            "applied_policy_version": self.appliedPolicyVersion.map { .int($0) } ?? .null,
            "applied_priority": .string(self.appliedPriority),
        ]
    }

    /// Decodes ``json``.
    public init?(json: JSON) {
        guard let id = json["ticket_id"]?.stringValue, let customerID = json["customer_id"]?.stringValue else {
            return nil
        }
        self.init(
            ticketID: id,
            customerID: customerID,
            channel: json["channel"]?.stringValue ?? "api",
            priority: json["priority"]?.stringValue ?? "normal",
            status: json["status"]?.stringValue ?? "new",
            tags: json["tags"]?.arrayValue?.compactMap(\.stringValue) ?? [],
            messageCount: json["message_count"]?.intValue ?? 0,
            appliedPolicyID: json["applied_policy_id"]?.stringValue,
            appliedPolicyVersion: json["applied_policy_version"]?.intValue,
            appliedPriority: json["applied_priority"]?.stringValue
        )
    }
}

extension DecisionState {
    /// Ticket `id`, or `nil`.
    public func ticket(_ id: String) throws -> TicketState? {
        try self.decodedRecord(.tickets, id, DecodedState.tickets) { bytes in
            try DecodedRecords.fromJSON(bytes, "ticket \(id)", TicketState.init(json:))
        }
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
        try self.setDecodedRecord(.tickets, id, ticket, encoded: ticket.json.serialized(), DecodedState.tickets)
    }
}

/// Folds service events into decision state.
public enum ServiceEvolver {
    /// Applies `event` if it is a service event; ignores everything else.
    public static func apply(_ event: RecordedEvent, to store: any DecisionStateStore) throws {
        guard let service = event.event.service else { return }
        switch service {
        case .scheduleDefined(let defined):
            try store.setRecord(.schedules, defined.schedule.scheduleID, defined.schedule.json.serialized())
        case .slaPolicyDefined(let defined):
            let id = defined.policy.policyID
            try store.setRecord(.slaPolicies, id, defined.policy.json.serialized())
            var ids =
                try store.record(.service, policyIndexKey).map { try JSON.parse($0) }?.arrayValue?
                .compactMap(\.stringValue) ?? []
            if !ids.contains(id) {
                ids.append(id)
                try store.setRecord(.service, policyIndexKey, JSON.strings(ids.sorted()).serialized())
            }
            try PolicySetFingerprint.advance(store, type: service.type, data: defined.data)
        case .slaPolicyRetired(let retired):
            guard var policy = try store.slaPolicy(retired.policyID) else { return }
            policy.retired = true
            try store.setRecord(.slaPolicies, retired.policyID, policy.json.serialized())
            try PolicySetFingerprint.advance(store, type: service.type, data: retired.data)
        case .ticketOpened(let opened):
            guard !opened.customerID.isEmpty else { return }
            let ticket = TicketState(
                ticketID: opened.ticketID,
                customerID: opened.customerID,
                channel: opened.channel,
                priority: opened.priority,
                status: opened.status,
                tags: opened.tags
            )
            try store.setTicket(opened.ticketID, ticket)
        case .ticketMessageAdded(let added):
            try ServiceEvolver.update(added.ticketID, store) { $0.messageCount += 1 }
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
                ticket.appliedPolicyID = applied.policyID
                ticket.appliedPolicyVersion = applied.policyVersion
                ticket.appliedPriority = applied.priority
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
