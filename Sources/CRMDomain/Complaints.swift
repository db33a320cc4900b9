// Who handles a ticket and what kind of ticket it is: assignment (feedback is credited to the
// assignee), the ticket type and category, and the resolution of a complaint (a ticket of type
// `complaint`).

/// `ticket.assign {ticket_id, assignee_id}`: assigns the ticket to an agent (`null`: unassigns).
/// The same assignee again writes nothing.
public struct AssignTicket: DomainCommand {
    public static let method = "ticket.assign"

    public let ticketID: String
    public let assigneeID: String?

    public init(ticketID: String, assigneeID: String?) {
        self.ticketID = ticketID
        self.assigneeID = assigneeID
    }

    public func targetStream(_ context: CommandContext) -> String? { ServiceStream.ticket(self.ticketID) }

    /// `not_found`, `ticket_closed`.
    public func decide(_ state: any DecisionState, _ context: CommandContext) throws -> Decision {
        let ticket = try state.existingTicket(self.ticketID)
        try TicketRules.requireNotClosed(ticket)
        guard ticket.assigneeID != self.assigneeID else {
            return Decision(events: [], result: CommandResult(.ticket, ticket.ticketID))
        }
        let assigned = TicketAssigned(
            ticketID: ticket.ticketID, customerID: ticket.customerID, from: ticket.assigneeID, to: self.assigneeID
        )
        return Decision(
            events: [NewEvent(.service(.ticketAssigned(assigned)), stream: ServiceStream.ticket(ticket.ticketID))],
            result: CommandResult(.ticket, ticket.ticketID)
        )
    }
}

/// `ticket.set_type {ticket_id, type, category?}`: the ticket's type and category (a category not given
/// is kept). Nothing changes → no event.
public struct SetTicketType: DomainCommand {
    public static let method = "ticket.set_type"

    public let ticketID: String
    /// One of ``TicketType/all``.
    public let ticketType: String
    public let category: String?

    public init(ticketID: String, ticketType: String, category: String?) {
        self.ticketID = ticketID
        self.ticketType = ticketType
        self.category = category
    }

    public func targetStream(_ context: CommandContext) -> String? { ServiceStream.ticket(self.ticketID) }

    /// `not_found`, `ticket_closed`.
    public func decide(_ state: any DecisionState, _ context: CommandContext) throws -> Decision {
        let ticket = try state.existingTicket(self.ticketID)
        try TicketRules.requireNotClosed(ticket)
        let category = self.category ?? ticket.category
        guard ticket.ticketType != self.ticketType || ticket.category != category else {
            return Decision(events: [], result: CommandResult(.ticket, ticket.ticketID))
        }
        let changed = TicketTypeChanged(
            ticketID: ticket.ticketID, customerID: ticket.customerID, from: ticket.ticketType, to: self.ticketType,
            category: category
        )
        return Decision(
            events: [NewEvent(.service(.ticketTypeChanged(changed)), stream: ServiceStream.ticket(ticket.ticketID))],
            result: CommandResult(.ticket, ticket.ticketID)
        )
    }
}

/// `complaint.resolve {ticket_id, outcome, remedy?}`: the outcome of a complaint; a later resolution
/// replaces it. A refund given as remedy is recorded separately (`order.refund`). Allowed on a closed
/// ticket too: the assessment may come after the ticket is closed.
public struct ResolveComplaint: DomainCommand {
    public static let method = "complaint.resolve"

    public let ticketID: String
    public let outcome: String
    public let remedy: ComplaintResolved.Remedy?

    public init(ticketID: String, outcome: String, remedy: ComplaintResolved.Remedy?) {
        self.ticketID = ticketID
        self.outcome = outcome
        self.remedy = remedy
    }

    public func targetStream(_ context: CommandContext) -> String? { ServiceStream.ticket(self.ticketID) }

    /// `not_found`; `invalid_field` (`ticket_id`) when the ticket is not a complaint.
    public func decide(_ state: any DecisionState, _ context: CommandContext) throws -> Decision {
        let ticket = try state.existingTicket(self.ticketID)
        guard ticket.ticketType == TicketType.complaint else {
            throw Rejection(
                .invalidField, field: "ticket_id", "ticket \(ticket.ticketID) is not a complaint",
                details: ["type": .string(ticket.ticketType)]
            )
        }
        let resolved = ComplaintResolved(
            ticketID: ticket.ticketID, customerID: ticket.customerID, outcome: self.outcome, remedy: self.remedy
        )
        return Decision(
            events: [NewEvent(.service(.complaintResolved(resolved)), stream: ServiceStream.ticket(ticket.ticketID))],
            result: CommandResult(.ticket, ticket.ticketID)
        )
    }
}
