// MARK: - Shared helpers

/// Ticket limits and the SLA re-evaluation every ticket command runs.
public enum TicketRules {
    /// Maximum length of `subject`, in characters.
    public static let subjectLimit = 255
    /// Maximum size of a message body, in UTF-8 bytes (64 KiB).
    public static let bodyLimit = 65_536

    /// Rejects commands on a closed ticket with `ticket_closed`.
    static func requireNotClosed(_ ticket: TicketState) throws(Rejection) {
        guard ticket.status != "closed" else {
            throw Rejection(
                .ticketClosed,
                field: "ticket_id",
                "ticket \(ticket.ticketID) is closed",
                details: ["ticket_id": .string(ticket.ticketID)]
            )
        }
    }

    /// Re-resolves the policy for `ticket` (its state after the command) and returns
    /// `SlaPolicyApplied` or `SlaPolicyRemoved` when `(policy_id, policy_version, priority)` changed.
    static func reevaluate(
        _ ticket: TicketState,
        _ state: any DecisionState,
        causedBy: Int,
        created: Bool = false
    ) throws -> NewEvent? {
        if ticket.status == "closed" { return nil }
        let tier = try state.customer(ticket.customerID, personal: false)?.tier
        let stream = ServiceStream.ticket(ticket.ticketID)
        guard let policy = try state.resolvePolicy(tier: tier, channel: ticket.channel, tags: ticket.tags) else {
            guard let previous = ticket.appliedPolicyID else { return nil }
            let removed = SlaPolicyRemoved(
                ticketID: ticket.ticketID,
                customerID: ticket.customerID,
                policyID: previous,
                policyVersion: ticket.appliedPolicyVersion,
                reason: "no_matching_policy"
            )
            return NewEvent(.service(.slaPolicyRemoved(removed)), stream: stream, causedBy: causedBy)
        }
        if policy.policyID == ticket.appliedPolicyID, policy.version == ticket.appliedPolicyVersion,
            ticket.priority == ticket.appliedPriority
        {
            return nil
        }
        let reason: String
        if created {
            reason = "created"
        } else if policy.policyID == ticket.appliedPolicyID, policy.version == ticket.appliedPolicyVersion {
            reason = "priority_changed"
        } else {
            reason = "policy_changed"
        }
        let snapshot = SlaPolicySnapshot(
            policyID: policy.policyID,
            policyVersion: policy.version,
            priority: ticket.priority,
            schedule: try policy.scheduleID.flatMap { try state.schedule($0) },
            targets: policy.targets.filter { $0.priority == ticket.priority }.sorted { $0.metric < $1.metric }
        )
        let applied = SlaPolicyApplied(
            ticketID: ticket.ticketID,
            customerID: ticket.customerID,
            snapshot: snapshot,
            reason: reason
        )
        return NewEvent(.service(.slaPolicyApplied(applied)), stream: stream, causedBy: causedBy)
    }

    /// Appends the re-evaluation event (if any) to `events`, caused by the first event.
    static func finish(
        _ events: [NewEvent],
        _ ticket: TicketState,
        _ state: any DecisionState
    ) throws -> Decision {
        var events = events
        if var event = try TicketRules.reevaluate(ticket, state, causedBy: 0) {
            if events.isEmpty { event.causedBy = nil }
            events.append(event)
        }
        return Decision(events: events, result: CommandResult(.ticket, ticket.ticketID))
    }

    /// `TicketStatusChanged{ticket_id, customer_id, from, to, cause}` (the free-text reason is in `pii`).
    static func statusChanged(
        _ ticket: TicketState,
        from: String,
        to: String,
        cause: String,
        reason: String? = nil
    ) -> NewEvent {
        let changed = TicketStatusChanged(
            ticketID: ticket.ticketID,
            customerID: ticket.customerID,
            from: from,
            to: to,
            cause: cause,
            reason: reason
        )
        return NewEvent(.service(.ticketStatusChanged(changed)), stream: ServiceStream.ticket(ticket.ticketID))
    }

    /// `TicketMessageAdded{ticket_id, customer_id, message_id, author, author_id, public, length}`.
    static func messageAdded(
        _ ticket: TicketState,
        author: String,
        authorID: String?,
        isPublic: Bool,
        body: String,
        opening: Bool = false
    ) -> NewEvent {
        let added = TicketMessageAdded(
            ticketID: ticket.ticketID,
            customerID: ticket.customerID,
            messageID: "\(ticket.ticketID)-m\(ticket.messageCount + 1)",
            author: author,
            authorID: authorID,
            isPublic: isPublic,
            length: Int64(body.utf8.count),
            opening: opening,
            body: body
        )
        return NewEvent(.service(.ticketMessageAdded(added)), stream: ServiceStream.ticket(ticket.ticketID))
    }
}

// MARK: - ticket.open

/// `ticket.open`: a new ticket in status `new`.
///
/// Emits `TicketOpened`, `TicketMessageAdded` for a `first_message`, and `SlaPolicyApplied` when a
/// policy matches.
public struct OpenTicket: DomainCommand {
    /// `ticket.open`.
    public static let method = "ticket.open"

    /// The client-supplied id, or `nil` to use the generated one.
    public let ticketID: String?
    /// The requester, an active customer.
    public let customerID: String
    /// Subject (personal data).
    public let subject: String
    /// One of ``SlaVocabulary/channels``.
    public let channel: String
    /// Initial priority.
    public let priority: String
    /// `customer` or `agent`.
    public let createdBy: String
    /// The opening message, if any.
    public let firstMessage: (body: String, isPublic: Bool)?
    /// Initial tags.
    public let tags: [String]
    /// One of ``TicketType/all``, or `nil`.
    public let ticketType: String?
    /// A category, or `nil`.
    public let category: String?

    /// The command with every field given; the RPC edge builds it from the params.
    public init(
        ticketID: String?,
        customerID: String,
        subject: String,
        channel: String,
        priority: String,
        createdBy: String,
        firstMessage: (body: String, isPublic: Bool)?,
        tags: [String],
        ticketType: String? = nil,
        category: String? = nil
    ) {
        self.ticketType = ticketType
        self.category = category
        self.ticketID = ticketID
        self.customerID = customerID
        self.subject = subject
        self.channel = channel
        self.priority = priority
        self.createdBy = createdBy
        self.firstMessage = firstMessage
        self.tags = tags
    }

    /// `ticket-<ticket_id>`.
    public func targetStream(_ context: CommandContext) -> String? {
        ServiceStream.ticket(self.ticketID ?? context.generatedID)
    }

    /// Rejects an existing ticket id and a missing, merged or erased customer.
    public func decide(_ state: any DecisionState, _ context: CommandContext) throws -> Decision {
        let id = self.ticketID ?? context.generatedID
        if try state.ticket(id) != nil {
            throw Rejection(
                .alreadyExists,
                field: "ticket_id",
                "ticket \(id) already exists",
                details: ["id": .string(id)]
            )
        }
        _ = try state.activeCustomer(self.customerID, field: "customer_id", personal: false)
        var ticket = TicketState(
            ticketID: id,
            customerID: self.customerID,
            channel: self.channel,
            priority: self.priority,
            status: "new",
            tags: Set(self.tags).sorted()
        )
        var events = [
            NewEvent(
                .service(
                    .ticketOpened(
                        TicketOpened(
                            ticketID: id,
                            customerID: self.customerID,
                            channel: self.channel,
                            priority: self.priority,
                            status: "new",
                            tags: ticket.tags,
                            createdBy: self.createdBy,
                            subject: self.subject,
                            ticketType: self.ticketType,
                            category: self.category
                        )
                    )
                ),
                stream: ServiceStream.ticket(id)
            )
        ]
        if let message = self.firstMessage {
            events.append(
                TicketRules.messageAdded(
                    ticket,
                    author: self.createdBy,
                    authorID: nil,
                    isPublic: message.isPublic,
                    body: message.body,
                    opening: true
                )
            )
            ticket.messageCount = 1
        }
        if let applied = try TicketRules.reevaluate(ticket, state, causedBy: 0, created: true) {
            events.append(applied)
        }
        return Decision(events: events, result: CommandResult(.ticket, id))
    }
}

// MARK: - ticket.reply

/// `ticket.reply`: a message from the customer or an agent, with the automatic status rules (an
/// agent's public reply opens a new ticket; a customer's message reopens a pending, on-hold or solved
/// one; `set_status` overrides).
///
/// Emits `TicketMessageAdded`, then `TicketStatusChanged` when the status moves.
public struct ReplyToTicket: DomainCommand {
    /// `ticket.reply`.
    public static let method = "ticket.reply"

    /// The ticket.
    public let ticketID: String
    /// `customer` or `agent`.
    public let author: String
    /// Who wrote it (e.g. the agent id).
    public let authorID: String?
    /// Public message or internal note.
    public let isPublic: Bool
    /// Message body (personal data).
    public let body: String
    /// Explicit status after the message.
    public let setStatus: String?

    /// The command with every field given; the RPC edge builds it from the params.
    public init(
        ticketID: String,
        author: String,
        authorID: String?,
        isPublic: Bool,
        body: String,
        setStatus: String?
    ) {
        self.ticketID = ticketID
        self.author = author
        self.authorID = authorID
        self.isPublic = isPublic
        self.body = body
        self.setStatus = setStatus
    }

    /// `ticket-<ticket_id>`.
    public func targetStream(_ context: CommandContext) -> String? { ServiceStream.ticket(self.ticketID) }

    /// `not_found`, `ticket_closed`.
    public func decide(_ state: any DecisionState, _ context: CommandContext) throws -> Decision {
        var ticket = try state.existingTicket(self.ticketID)
        try TicketRules.requireNotClosed(ticket)
        var events = [
            TicketRules.messageAdded(
                ticket,
                author: self.author,
                authorID: self.authorID,
                isPublic: self.isPublic,
                body: self.body
            )
        ]
        ticket.messageCount += 1
        var target = ticket.status
        var cause = "manual"
        if self.isPublic, self.author == "agent", ticket.status == "new" {
            target = "open"
            cause = "agent_reply"
        } else if self.isPublic, self.author == "customer", ["pending", "on_hold", "solved"].contains(ticket.status) {
            target = "open"
            cause = "customer_reply"
        }
        if let setStatus = self.setStatus {
            target = setStatus
            cause = "manual"
        }
        let solved = target == "solved" && ticket.status != "solved"
        if target != ticket.status {
            var event = TicketRules.statusChanged(ticket, from: ticket.status, to: target, cause: cause)
            event.causedBy = 0
            events.append(event)
            ticket.status = target
        }
        var decision = try TicketRules.finish(events, ticket, state)
        if solved { decision.events += try SurveyRules.offersOnSolve(ticket, state, context, causedBy: 1) }
        return decision
    }
}

// MARK: - ticket.set_status

/// `ticket.set_status`: moves a ticket to another status; `closed` is terminal and nothing goes back to
/// `new`.
///
/// Emits `TicketStatusChanged{from, to, cause:"manual"}`, or nothing for the current status.
public struct SetTicketStatus: DomainCommand {
    /// `ticket.set_status`.
    public static let method = "ticket.set_status"

    /// The ticket.
    public let ticketID: String
    /// The new status.
    public let status: String
    /// Free-text reason (personal data).
    public let reason: String?

    /// The command with every field given; the RPC edge builds it from the params.
    public init(
        ticketID: String,
        status: String,
        reason: String?
    ) {
        self.ticketID = ticketID
        self.status = status
        self.reason = reason
    }

    /// `ticket-<ticket_id>`.
    public func targetStream(_ context: CommandContext) -> String? { ServiceStream.ticket(self.ticketID) }

    /// `not_found`, `ticket_closed`, `invalid_transition` (→ `new`).
    public func decide(_ state: any DecisionState, _ context: CommandContext) throws -> Decision {
        var ticket = try state.existingTicket(self.ticketID)
        try TicketRules.requireNotClosed(ticket)
        if self.status == "new" {
            throw Rejection(
                .invalidTransition,
                field: "status",
                "a ticket cannot go back to new",
                details: ["from": .string(ticket.status), "to": "new"]
            )
        }
        var events: [NewEvent] = []
        let solved = self.status == "solved" && ticket.status != "solved"
        if self.status != ticket.status {
            events.append(
                TicketRules.statusChanged(
                    ticket,
                    from: ticket.status,
                    to: self.status,
                    cause: "manual",
                    reason: self.reason
                )
            )
            ticket.status = self.status
        }
        var decision = try TicketRules.finish(events, ticket, state)
        if solved { decision.events += try SurveyRules.offersOnSolve(ticket, state, context, causedBy: 0) }
        return decision
    }
}

// MARK: - ticket.set_priority

/// `ticket.set_priority`: changes the priority; the SLA targets follow.
///
/// Emits `TicketPriorityChanged`, then `SlaPolicyApplied` when the targets change.
public struct SetTicketPriority: DomainCommand {
    /// `ticket.set_priority`.
    public static let method = "ticket.set_priority"

    /// The ticket.
    public let ticketID: String
    /// Initial priority.
    public let priority: String

    /// The command with every field given; the RPC edge builds it from the params.
    public init(
        ticketID: String,
        priority: String
    ) {
        self.ticketID = ticketID
        self.priority = priority
    }

    /// `ticket-<ticket_id>`.
    public func targetStream(_ context: CommandContext) -> String? { ServiceStream.ticket(self.ticketID) }

    /// `not_found`, `ticket_closed`.
    public func decide(_ state: any DecisionState, _ context: CommandContext) throws -> Decision {
        var ticket = try state.existingTicket(self.ticketID)
        try TicketRules.requireNotClosed(ticket)
        var events: [NewEvent] = []
        if self.priority != ticket.priority {
            events.append(
                NewEvent(
                    .service(
                        .ticketPriorityChanged(
                            TicketPriorityChanged(
                                ticketID: ticket.ticketID,
                                customerID: ticket.customerID,
                                from: ticket.priority,
                                to: self.priority
                            )
                        )
                    ),
                    stream: ServiceStream.ticket(ticket.ticketID)
                )
            )
            ticket.priority = self.priority
        }
        return try TicketRules.finish(events, ticket, state)
    }
}

// MARK: - ticket.tag

/// `ticket.tag {ticket_id, add?, remove?}`: adds and removes ticket tags (tags can select a policy).
///
/// Emits `TicketTagged{added, removed}` with only the effective changes, or nothing.
public struct TagTicket: DomainCommand {
    /// `ticket.tag`.
    public static let method = "ticket.tag"

    /// The ticket.
    public let ticketID: String
    /// Tags to add.
    public let add: [String]
    /// Tags to remove.
    public let remove: [String]

    /// The command with every field given; the RPC edge builds it from the params.
    public init(
        ticketID: String,
        add: [String],
        remove: [String]
    ) {
        self.ticketID = ticketID
        self.add = add
        self.remove = remove
    }

    /// `ticket-<ticket_id>`.
    public func targetStream(_ context: CommandContext) -> String? { ServiceStream.ticket(self.ticketID) }

    /// `not_found`, `ticket_closed`.
    public func decide(_ state: any DecisionState, _ context: CommandContext) throws -> Decision {
        var ticket = try state.existingTicket(self.ticketID)
        try TicketRules.requireNotClosed(ticket)
        let current = Set(ticket.tags)
        let added = Set(self.add).subtracting(current).sorted()
        let removed = Set(self.remove).intersection(current).sorted()
        var events: [NewEvent] = []
        if !added.isEmpty || !removed.isEmpty {
            events.append(
                NewEvent(
                    .service(
                        .ticketTagged(
                            TicketTagged(
                                ticketID: ticket.ticketID,
                                customerID: ticket.customerID,
                                added: added,
                                removed: removed
                            )
                        )
                    ),
                    stream: ServiceStream.ticket(ticket.ticketID)
                )
            )
            ticket.tags = current.union(added).subtracting(removed).sorted()
        }
        return try TicketRules.finish(events, ticket, state)
    }
}
