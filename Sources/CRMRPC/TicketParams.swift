public import CRMDomain
import CRMEventStore
import CRMJSON
public import CRMParams

extension OpenTicket {
    /// Parses and validates the params.
    public init(params: inout Params) throws(Rejection) {
        let ticketID: String?
        let customerID: String
        let channel: String
        let priority: String
        let createdBy: String
        let firstMessage: (body: String, isPublic: Bool)?
        let tags: [String]
        ticketID = try params.identifier("ticket_id")
        customerID = try params.identifier("customer_id", required: true)!
        guard let subject = try CustomerInput.text(&params, "subject", limit: TicketRules.subjectLimit) else {
            throw Rejection.missing("subject")
        }
        channel = try params.oneOf("channel", SlaVocabulary.channels, required: true)!
        priority = try params.oneOf("priority", SlaVocabulary.priorities) ?? "normal"
        createdBy = try params.oneOf("created_by", ["customer", "agent"]) ?? "customer"
        if var message = try params.object("first_message") {
            let body = try TicketRules.body(&message, "body")
            let isPublic = try message.bool("public") ?? true
            try message.finish()
            if createdBy == "customer", !isPublic {
                throw Rejection.invalid("first_message.public", "a customer's message is always public")
            }
            firstMessage = (body, isPublic)
        } else {
            firstMessage = nil
        }
        tags = try CustomerInput.tags(&params, "tags") ?? []
        let ticketType = try params.oneOf("type", TicketType.all)
        let category = try params.ticketCategory()
        try params.finish()
        self.init(
            ticketID: ticketID,
            customerID: customerID,
            subject: subject,
            channel: channel,
            priority: priority,
            createdBy: createdBy,
            firstMessage: firstMessage,
            tags: tags,
            ticketType: ticketType,
            category: category
        )
    }
}

extension ReplyToTicket {
    /// Parses and validates the params.
    public init(params: inout Params) throws(Rejection) {
        let ticketID: String
        let author: String
        let authorID: String?
        let isPublic: Bool
        let body: String
        let setStatus: String?
        ticketID = try params.identifier("ticket_id", required: true)!
        author = try params.oneOf("author", ["customer", "agent"], required: true)!
        authorID = try params.identifier("author_id")
        isPublic = try params.bool("public", required: true)!
        body = try TicketRules.body(&params, "body")
        setStatus = try params.oneOf("set_status", SlaVocabulary.statuses)
        try params.finish()
        if author == "customer", !isPublic {
            throw Rejection.invalid("public", "a customer's message is always public")
        }
        if setStatus == "new" {
            throw Rejection(.invalidTransition, field: "set_status", "a ticket cannot go back to new")
        }
        self.init(
            ticketID: ticketID,
            author: author,
            authorID: authorID,
            isPublic: isPublic,
            body: body,
            setStatus: setStatus
        )
    }
}

extension SetTicketStatus {
    /// Parses and validates the params.
    public init(params: inout Params) throws(Rejection) {
        let ticketID: String
        let status: String
        let reason: String?
        ticketID = try params.identifier("ticket_id", required: true)!
        status = try params.oneOf("status", SlaVocabulary.statuses, required: true)!
        reason = try CustomerInput.text(&params, "reason", limit: TicketRules.subjectLimit)
        try params.finish()
        self.init(ticketID: ticketID, status: status, reason: reason)
    }
}

extension SetTicketPriority {
    /// Parses and validates the params.
    public init(params: inout Params) throws(Rejection) {
        let ticketID: String
        let priority: String
        ticketID = try params.identifier("ticket_id", required: true)!
        priority = try params.oneOf("priority", SlaVocabulary.priorities, required: true)!
        try params.finish()
        self.init(ticketID: ticketID, priority: priority)
    }
}

extension TagTicket {
    /// Parses and validates the params; `add` and `remove` must not share a tag.
    public init(params: inout Params) throws(Rejection) {
        let ticketID: String
        let add: [String]
        let remove: [String]
        ticketID = try params.identifier("ticket_id", required: true)!
        add = try CustomerInput.tags(&params, "add") ?? []
        remove = try CustomerInput.tags(&params, "remove") ?? []
        try params.finish()
        if add.isEmpty, remove.isEmpty { throw Rejection.missing("add") }
        if let both = add.first(where: remove.contains) {
            throw Rejection.invalid("remove", "\(both) is both added and removed")
        }
        self.init(ticketID: ticketID, add: add, remove: remove)
    }
}

extension TicketRules {
    /// A message body: a non-empty string of at most 64 KiB.
    public static func body(_ params: inout Params, _ key: String) throws(Rejection) -> String {
        let body = try params.string(key, required: true)!
        guard !body.isEmpty else { throw Rejection.invalid(params.fieldPath(key), "must not be empty") }
        guard body.utf8.count <= TicketRules.bodyLimit else {
            throw Rejection.invalid(params.fieldPath(key), "must be at most \(TicketRules.bodyLimit) bytes")
        }
        return body
    }
}
