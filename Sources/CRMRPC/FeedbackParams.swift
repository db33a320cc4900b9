public import CRMDomain
import CRMJSON
public import CRMParams

extension Params {
    /// `category`: `^[a-z][a-z0-9_]{0,39}$`, or `nil`.
    mutating func ticketCategory() throws(Rejection) -> String? {
        guard let category = try self.string("category") else { return nil }
        guard TicketType.isCategory(category) else {
            throw Rejection.invalid(self.fieldPath("category"), "must match ^[a-z][a-z0-9_]{0,39}$")
        }
        return category
    }
}

extension AssignTicket {
    /// `assignee_id` is required; `null` unassigns.
    public init(params: inout Params) throws(Rejection) {
        let ticketID = try params.identifier("ticket_id", required: true)!
        guard params.contains("assignee_id") else { throw Rejection.missing("assignee_id") }
        let assigneeID = try params.identifier("assignee_id")
        try params.finish()
        self.init(ticketID: ticketID, assigneeID: assigneeID)
    }
}

extension SetTicketType {
    public init(params: inout Params) throws(Rejection) {
        let ticketID = try params.identifier("ticket_id", required: true)!
        let ticketType = try params.oneOf("type", TicketType.all, required: true)!
        let category = try params.ticketCategory()
        try params.finish()
        self.init(ticketID: ticketID, ticketType: ticketType, category: category)
    }
}

extension ResolveComplaint {
    /// A remedy's `amount` needs a `currency`.
    public init(params: inout Params) throws(Rejection) {
        let ticketID = try params.identifier("ticket_id", required: true)!
        let outcome = try params.oneOf("outcome", ComplaintResolved.outcomes, required: true)!
        var remedy: ComplaintResolved.Remedy?
        if var object = try params.object("remedy") {
            let kind = try object.oneOf("kind", ComplaintResolved.remedyKinds, required: true)!
            let amount = try object.money("amount")
            let currency = try object.currency("currency")
            let orderID = try object.identifier("order_id")
            try object.finish()
            if amount != nil, currency == nil {
                throw Rejection.invalid("remedy.currency", "an amount needs a currency")
            }
            remedy = ComplaintResolved.Remedy(kind: kind, amount: amount, currency: currency, orderID: orderID)
        }
        try params.finish()
        self.init(ticketID: ticketID, outcome: outcome, remedy: remedy)
    }
}

extension DefineSurvey {
    public init(params: inout Params) throws(Rejection) {
        let surveyID = try params.identifier("survey_id", required: true)!
        let kindName = try params.oneOf("kind", SurveyKind.allCases.map(\.rawValue), required: true)!
        let name = try CustomerInput.text(&params, "name", limit: CustomerInput.nameLimit)
        let question = try CustomerInput.text(&params, "question", limit: CustomerInput.longTextLimit)
        let triggers = try params.strings("auto_offer_on") ?? []
        for (index, trigger) in triggers.enumerated() where !SurveyDefinition.triggers.contains(trigger) {
            throw Rejection.invalid("auto_offer_on[\(index)]", "must be one of: ticket_solved")
        }
        let window = try params.int("response_window_days") ?? Int64(SurveyDefinition.defaultWindowDays)
        guard (1...365).contains(window) else { throw Rejection.invalid("response_window_days", "must be 1…365") }
        let channels = try params.strings("channels") ?? []
        for (index, channel) in channels.enumerated() where !SlaVocabulary.channels.contains(channel) {
            throw Rejection.invalid(
                "channels[\(index)]", "must be one of: \(SlaVocabulary.channels.joined(separator: ", "))"
            )
        }
        try params.finish()
        self.init(
            SurveyDefinition(
                surveyID: surveyID, version: 1, kind: SurveyKind(rawValue: kindName)!, name: name, question: question,
                offersOnSolve: !triggers.isEmpty, responseWindowDays: Int(window),
                channels: Array(Set(channels)).sorted()
            )
        )
    }
}

extension OfferSurvey {
    /// `ticket_id` or `customer_id` is required.
    public init(params: inout Params) throws(Rejection) {
        let surveyID = try params.identifier("survey_id", required: true)!
        let ticketID = try params.identifier("ticket_id")
        let customerID = try params.identifier("customer_id")
        let requestID = try params.identifier("request_id")
        let channel = try params.oneOf("channel", SlaVocabulary.channels)
        try params.finish()
        guard ticketID != nil || customerID != nil else {
            throw Rejection(.missingField, field: "ticket_id", "ticket_id or customer_id is required")
        }
        self.init(
            surveyID: surveyID, ticketID: ticketID, customerID: customerID, requestID: requestID, channel: channel)
    }
}

extension RespondToSurvey {
    /// `request_id`, or `survey_id` with `customer_id`; `score` a number (its scale is the survey's).
    public init(params: inout Params) throws(Rejection) {
        let requestID = try params.identifier("request_id")
        let surveyID = try params.identifier("survey_id")
        let customerID = try params.identifier("customer_id")
        let ticketID = try params.identifier("ticket_id")
        let scoreJSON = try params.raw("score", required: true)!
        guard let score = scoreJSON.doubleValue ?? scoreJSON.intValue.map(Double.init), score.isFinite else {
            throw Rejection(.invalidScore, field: "score", "score must be an integer on the survey's scale")
        }
        let comment = try CustomerInput.text(&params, "comment", limit: TicketRules.bodyLimit)
        let reasonCode = try params.string("reason_code")
        if let reasonCode, !TicketType.isCategory(reasonCode) {
            throw Rejection.invalid("reason_code", "must match ^[a-z][a-z0-9_]{0,39}$")
        }
        try params.finish()
        if requestID == nil {
            guard surveyID != nil else {
                throw Rejection(
                    .missingField, field: "request_id", "request_id, or survey_id and customer_id, required")
            }
            guard customerID != nil else { throw Rejection.missing("customer_id") }
        }
        self.init(
            requestID: requestID, surveyID: surveyID, customerID: customerID, ticketID: ticketID, score: score,
            comment: comment, reasonCode: reasonCode
        )
    }
}
