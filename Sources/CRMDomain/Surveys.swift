// Service feedback: CSAT, NPS and CES surveys. A survey is defined once (in versions); each request
// asks one customer, about one ticket or about the relationship, and holds one current response,
// which the customer may change until the request is closed (its ticket closed) or expires.

/// The three survey kinds and their fixed scales.
public enum SurveyKind: String, Sendable, Hashable, CaseIterable {
    /// Customer satisfaction, 1–5: satisfied 4–5, neutral 3, dissatisfied 1–2.
    case csat
    /// Net promoter score, 0–10: promoter 9–10, passive 7–8, detractor 0–6.
    case nps
    /// Customer effort, 1–7 (7 = very easy): easy 5–7, neutral 4, difficult 1–3.
    case ces

    /// The scores a response may give.
    public var scale: ClosedRange<Int> {
        switch self {
        case .csat: 1...5
        case .nps: 0...10
        case .ces: 1...7
        }
    }

    /// The category of `score`.
    public func category(_ score: Int) -> String {
        switch self {
        case .csat: score >= 4 ? "satisfied" : score == 3 ? "neutral" : "dissatisfied"
        case .nps: score >= 9 ? "promoter" : score >= 7 ? "passive" : "detractor"
        case .ces: score >= 5 ? "easy" : score == 4 ? "neutral" : "difficult"
        }
    }
}

/// A survey definition, in the version the latest `SurveyDefined` gave it.
public struct SurveyDefinition: Sendable, Hashable {
    public var surveyID: String
    public var version: Int64
    public var kind: SurveyKind
    public var name: String?
    public var question: String?
    /// Whether solving a ticket offers the survey (`auto_offer_on: ["ticket_solved"]`).
    public var offersOnSolve: Bool
    /// Days a request stays open for a response (1…365, default 28).
    public var responseWindowDays: Int
    /// The ticket channels the automatic offer is made on (empty: every channel).
    public var channels: [String]

    /// The default response window, in days (Zendesk's).
    public static let defaultWindowDays = 28
    /// The events that can trigger an automatic offer.
    public static let triggers = ["ticket_solved"]

    public init(
        surveyID: String, version: Int64, kind: SurveyKind, name: String?, question: String?, offersOnSolve: Bool,
        responseWindowDays: Int, channels: [String]
    ) {
        self.surveyID = surveyID
        self.version = version
        self.kind = kind
        self.name = name
        self.question = question
        self.offersOnSolve = offersOnSolve
        self.responseWindowDays = responseWindowDays
        self.channels = channels
    }

    /// Whether solving a ticket on `channel` offers this survey.
    func offers(onSolveOf channel: String) -> Bool {
        self.offersOnSolve && (self.channels.isEmpty || self.channels.contains(channel))
    }
}

/// The events of service feedback (surveys), typed.
public enum FeedbackEvent: Sendable, Hashable {
    /// `SurveyDefined` (stream `survey-<id>`).
    case surveyDefined(SurveyDefined)
    /// `SurveyOffered` (stream `surveyreq-<request_id>`).
    case surveyOffered(SurveyOffered)
    /// `SurveyResponded` (stream `surveyreq-<request_id>`).
    case surveyResponded(SurveyResponded)

    /// The event type name.
    public var type: String {
        switch self {
        case .surveyDefined: FeedbackEventType.surveyDefined
        case .surveyOffered: FeedbackEventType.surveyOffered
        case .surveyResponded: FeedbackEventType.surveyResponded
        }
    }

    /// The customer the event is about (`nil` for a definition).
    public var customerID: String? {
        switch self {
        case .surveyDefined: nil
        case .surveyOffered(let offered): offered.customerID
        case .surveyResponded(let responded): responded.customerID
        }
    }
}

/// Event type names of service feedback.
public enum FeedbackEventType {
    public static let surveyDefined = "SurveyDefined"
    public static let surveyOffered = "SurveyOffered"
    public static let surveyResponded = "SurveyResponded"
}

/// Stream names of service feedback.
public enum FeedbackStream {
    /// `survey-<id>`.
    public static func survey(_ id: String) -> String { "survey-\(id)" }
    /// `surveyreq-<id>`.
    public static func request(_ id: String) -> String { "surveyreq-\(id)" }
}

extension DomainEvent {
    /// The feedback event, or `nil` for any other (or an untyped) event.
    public var feedback: FeedbackEvent? {
        if case .feedback(let event) = self { return event }
        return nil
    }
}

/// `SurveyDefined{survey_id, version, kind, scale, auto_offer_on, response_window_days, channels, name,
/// question}`.
public struct SurveyDefined: Sendable, Hashable {
    public var survey: SurveyDefinition

    public init(_ survey: SurveyDefinition) { self.survey = survey }
}

/// `SurveyOffered{request_id, survey_id, survey_version, customer_id, ticket_id, channel, agent_id,
/// offered_at, expires_at}`: a request for a response.
public struct SurveyOffered: Sendable, Hashable {
    public var requestID: String
    public var surveyID: String
    public var surveyVersion: Int64
    public var kind: SurveyKind
    public var customerID: String
    public var ticketID: String?
    public var channel: String?
    /// The ticket's assignee (or last answering agent) when offered.
    public var agentID: String?
    /// UTC milliseconds.
    public var offeredAt: Int64
    /// UTC milliseconds; a response after it is `survey_expired`.
    public var expiresAt: Int64

    public init(
        requestID: String, surveyID: String, surveyVersion: Int64, kind: SurveyKind, customerID: String,
        ticketID: String?, channel: String?, agentID: String?, offeredAt: Int64, expiresAt: Int64
    ) {
        self.requestID = requestID
        self.surveyID = surveyID
        self.surveyVersion = surveyVersion
        self.kind = kind
        self.customerID = customerID
        self.ticketID = ticketID
        self.channel = channel
        self.agentID = agentID
        self.offeredAt = offeredAt
        self.expiresAt = expiresAt
    }
}

/// `SurveyResponded{request_id, survey_id, customer_id, ticket_id, score, category, reason_code,
/// agent_id, channel, supersedes_seq}`, `pii: {comment}`: the request's current response from now on.
public struct SurveyResponded: Sendable, Hashable {
    public var requestID: String
    public var surveyID: String
    public var kind: SurveyKind
    public var customerID: String
    public var ticketID: String?
    public var score: Int
    public var category: String
    public var reasonCode: String?
    /// The ticket's assignee at response time, else the author of its last public agent message.
    public var agentID: String?
    public var channel: String?
    /// The position of the response this one replaces, if any.
    public var supersedesSeq: UInt64?
    /// Free text (personal data).
    public var comment: String?

    public init(
        requestID: String, surveyID: String, kind: SurveyKind, customerID: String, ticketID: String?, score: Int,
        reasonCode: String?, agentID: String?, channel: String?, supersedesSeq: UInt64?, comment: String?
    ) {
        self.requestID = requestID
        self.surveyID = surveyID
        self.kind = kind
        self.customerID = customerID
        self.ticketID = ticketID
        self.score = score
        self.category = kind.category(score)
        self.reasonCode = reasonCode
        self.agentID = agentID
        self.channel = channel
        self.supersedesSeq = supersedesSeq
        self.comment = comment
    }
}

// MARK: - Decision state

/// What the survey commands know of a request: kept in the `service` table under `surveyreq:<id>`.
struct SurveyRequestState: Sendable, Hashable {
    var surveyID: String
    var customerID: String
    var ticketID: String?
    var channel: String?
    var expiresAt: Int64
    /// Position of the current response, if any.
    var responseSeq: UInt64?

    func encoded() -> [UInt8] {
        var row = BinaryRowWriter(capacity: 64)
        row.string(self.surveyID)
        row.string(self.customerID)
        row.optionalString(self.ticketID)
        row.optionalString(self.channel)
        row.int(self.expiresAt)
        row.optionalInt(self.responseSeq.map { Int64($0) })
        return row.bytes
    }

    init(surveyID: String, customerID: String, ticketID: String?, channel: String?, expiresAt: Int64) {
        self.surveyID = surveyID
        self.customerID = customerID
        self.ticketID = ticketID
        self.channel = channel
        self.expiresAt = expiresAt
    }

    init(decoding bytes: [UInt8]) throws(StateDecodingError) {
        var row = BinaryRowReader(bytes, what: "survey request")
        self.surveyID = try row.string()
        self.customerID = try row.string()
        self.ticketID = try row.optionalString()
        self.channel = try row.optionalString()
        self.expiresAt = try row.int()
        self.responseSeq = try row.optionalInt().map { UInt64($0) }
        try row.finish()
    }
}

extension SurveyDefinition {
    func encoded() -> [UInt8] {
        var row = BinaryRowWriter(capacity: 64)
        row.string(self.surveyID)
        row.int(self.version)
        row.string(self.kind.rawValue)
        row.optionalString(self.name)
        row.optionalString(self.question)
        row.bool(self.offersOnSolve)
        row.int(Int64(self.responseWindowDays))
        row.strings(self.channels)
        return row.bytes
    }

    init(decoding bytes: [UInt8]) throws(StateDecodingError) {
        var row = BinaryRowReader(bytes, what: "survey")
        self.surveyID = try row.string()
        self.version = try row.int()
        guard let kind = SurveyKind(rawValue: try row.string()) else { throw row.malformed("unknown survey kind") }
        self.kind = kind
        self.name = try row.optionalString()
        self.question = try row.optionalString()
        self.offersOnSolve = try row.bool()
        self.responseWindowDays = Int(try row.int())
        self.channels = try row.strings()
        try row.finish()
    }
}

/// Keys of survey state in the `service` table.
enum SurveyKeys {
    static func survey(_ id: String) -> String { "survey:" + id }
    static func request(_ id: String) -> String { "surveyreq:" + id }
    /// The latest request of a survey about a ticket.
    static func ticketRequest(_ surveyID: String, _ ticketID: String) -> String {
        "surveyticket:" + surveyID + "\u{0}" + ticketID
    }
    /// Surveys offered when a ticket is solved: `surveyauto:<id>`.
    static let autoPrefix = "surveyauto:"
}

extension DecisionState {
    /// The survey `id`, or `unknown_survey` naming `field`.
    func survey(_ id: String, field: String) throws -> SurveyDefinition {
        guard let bytes = try self.record(.service, SurveyKeys.survey(id)) else {
            throw Rejection(
                .unknownSurvey, field: field, "survey \(id) is not defined", details: ["survey_id": .string(id)]
            )
        }
        return try SurveyDefinition(decoding: bytes)
    }

    func surveyRequest(_ id: String) throws -> SurveyRequestState? {
        try self.record(.service, SurveyKeys.request(id)).map(SurveyRequestState.init(decoding:))
    }

    /// The request of `surveyID` about `ticketID` that is still open at `at`, with its id.
    func openRequest(_ surveyID: String, ticket: TicketState, at: Int64) throws -> (String, SurveyRequestState)? {
        guard ticket.status != "closed",
            let id = try self.record(.service, SurveyKeys.ticketRequest(surveyID, ticket.ticketID)),
            let request = try self.surveyRequest(String(decoding: id, as: UTF8.self)), at <= request.expiresAt
        else { return nil }
        return (String(decoding: id, as: UTF8.self), request)
    }
}

/// Folds feedback events into decision state.
enum FeedbackEvolver {
    static func apply(_ event: RecordedEvent, to store: any DecisionStateStore) throws {
        guard let feedback = event.event.feedback else { return }
        switch feedback {
        case .surveyDefined(let defined):
            let survey = defined.survey
            try store.setRecord(.service, SurveyKeys.survey(survey.surveyID), survey.encoded())
            try store.setRecord(.service, SurveyKeys.autoPrefix + survey.surveyID, survey.offersOnSolve ? [] : nil)
        case .surveyOffered(let offered):
            let request = SurveyRequestState(
                surveyID: offered.surveyID, customerID: offered.customerID, ticketID: offered.ticketID,
                channel: offered.channel, expiresAt: offered.expiresAt
            )
            try store.setRecord(.service, SurveyKeys.request(offered.requestID), request.encoded())
            if let ticketID = offered.ticketID {
                try store.setRecord(
                    .service, SurveyKeys.ticketRequest(offered.surveyID, ticketID), Array(offered.requestID.utf8)
                )
            }
        case .surveyResponded(let responded):
            guard var request = try store.surveyRequest(responded.requestID) else { return }
            request.responseSeq = event.seq
            try store.setRecord(.service, SurveyKeys.request(responded.requestID), request.encoded())
        }
    }
}

// MARK: - Commands

/// `survey.define {survey_id, kind, name?, question?, auto_offer_on?, response_window_days?,
/// channels?}`: a survey, or a new version of one. The kind of a defined survey cannot change.
public struct DefineSurvey: DomainCommand {
    public static let method = "survey.define"

    public let survey: SurveyDefinition

    /// `survey` with any version (the command numbers it).
    public init(_ survey: SurveyDefinition) { self.survey = survey }

    public func targetStream(_ context: CommandContext) -> String? { FeedbackStream.survey(self.survey.surveyID) }

    public func decide(_ state: any DecisionState, _ context: CommandContext) throws -> Decision {
        var survey = self.survey
        survey.version = 1
        if let bytes = try state.record(.service, SurveyKeys.survey(survey.surveyID)) {
            let current = try SurveyDefinition(decoding: bytes)
            guard current.kind == survey.kind else {
                throw Rejection(
                    .invalidField, field: "kind", "survey \(survey.surveyID) is a \(current.kind.rawValue) survey",
                    details: ["kind": .string(current.kind.rawValue)]
                )
            }
            survey.version = current.version
            let result = CommandResult(.survey, survey.surveyID, version: current.version)
            if survey == current { return Decision(events: [], result: result) }
            survey.version = current.version + 1
        }
        return Decision(
            events: [NewEvent(.feedback(.surveyDefined(SurveyDefined(survey))), stream: self.targetStream(context)!)],
            result: CommandResult(.survey, survey.surveyID, version: survey.version)
        )
    }
}

/// `survey.offer {survey_id, ticket_id | customer_id, request_id?, channel?}`: asks for a response.
/// While a request of the survey about the ticket is open, offering again writes nothing and returns it.
public struct OfferSurvey: DomainCommand {
    public static let method = "survey.offer"

    public let surveyID: String
    public let ticketID: String?
    public let customerID: String?
    public let requestID: String?
    public let channel: String?

    public init(surveyID: String, ticketID: String?, customerID: String?, requestID: String?, channel: String?) {
        self.surveyID = surveyID
        self.ticketID = ticketID
        self.customerID = customerID
        self.requestID = requestID
        self.channel = channel
    }

    public func targetStream(_ context: CommandContext) -> String? {
        FeedbackStream.request(self.requestID ?? context.generatedID)
    }

    public func decide(_ state: any DecisionState, _ context: CommandContext) throws -> Decision {
        let survey = try state.survey(self.surveyID, field: "survey_id")
        let requestID = self.requestID ?? context.generatedID
        if try state.surveyRequest(requestID) != nil {
            throw Rejection(
                .alreadyExists, field: "request_id", "survey request \(requestID) already exists",
                details: ["id": .string(requestID)]
            )
        }
        var ticket: TicketState?
        if let ticketID = self.ticketID {
            let found = try state.existingTicket(ticketID)
            try SurveyRules.requireOpen(found)
            if let customerID = self.customerID, customerID != found.customerID {
                throw Rejection.invalid("customer_id", "ticket \(ticketID) belongs to customer \(found.customerID)")
            }
            if let (openID, _) = try state.openRequest(survey.surveyID, ticket: found, at: context.at) {
                return Decision(events: [], result: CommandResult(.request, openID))
            }
            ticket = found
        }
        let customerID = ticket?.customerID ?? self.customerID!
        _ = try state.activeCustomer(customerID, field: ticket == nil ? "customer_id" : "ticket_id", personal: false)
        let offered = SurveyRules.offer(
            survey, requestID: requestID, customerID: customerID, ticket: ticket, channel: self.channel,
            at: context.at
        )
        return Decision(events: [offered], result: CommandResult(.request, requestID))
    }
}

/// `survey.respond {request_id | survey_id + customer_id, score, ticket_id?, comment?, reason_code?}`:
/// the request's current response (replacing an earlier one). Without a request (an import, a web
/// form), the response comes with an implicit request offered at the same instant.
public struct RespondToSurvey: DomainCommand {
    public static let method = "survey.respond"

    public let requestID: String?
    public let surveyID: String?
    public let customerID: String?
    public let ticketID: String?
    /// As given: the scale is checked against the survey's kind.
    public let score: Double
    public let comment: String?
    public let reasonCode: String?

    public init(
        requestID: String?, surveyID: String?, customerID: String?, ticketID: String?, score: Double,
        comment: String?, reasonCode: String?
    ) {
        self.requestID = requestID
        self.surveyID = surveyID
        self.customerID = customerID
        self.ticketID = ticketID
        self.score = score
        self.comment = comment
        self.reasonCode = reasonCode
    }

    public func targetStream(_ context: CommandContext) -> String? {
        self.requestID.map(FeedbackStream.request)
    }

    public func decide(_ state: any DecisionState, _ context: CommandContext) throws -> Decision {
        var events: [NewEvent] = []
        let requestID: String
        let request: SurveyRequestState
        let survey: SurveyDefinition
        if let id = self.requestID {
            guard let found = try state.surveyRequest(id) else {
                throw Rejection.notFound("request_id", "survey request", id)
            }
            if let surveyID = self.surveyID, surveyID != found.surveyID {
                throw Rejection.invalid("survey_id", "request \(id) is for survey \(found.surveyID)")
            }
            if let ticketID = self.ticketID, ticketID != found.ticketID {
                throw Rejection.invalid("ticket_id", "request \(id) is not about ticket \(ticketID)")
            }
            (requestID, request) = (id, found)
            survey = try state.survey(found.surveyID, field: "request_id")
        } else {
            survey = try state.survey(self.surveyID!, field: "survey_id")
            var ticket: TicketState?
            if let ticketID = self.ticketID {
                ticket = try state.existingTicket(ticketID)
                try SurveyRules.requireOpen(ticket!)
            }
            if let ticket, let (openID, open) = try state.openRequest(survey.surveyID, ticket: ticket, at: context.at) {
                (requestID, request) = (openID, open)
            } else {
                requestID = context.generatedID
                let offered = SurveyRules.offer(
                    survey, requestID: requestID, customerID: ticket?.customerID ?? self.customerID!, ticket: ticket,
                    channel: nil, at: context.at
                )
                events.append(offered)
                guard case .feedback(.surveyOffered(let made)) = offered.event else { preconditionFailure() }
                request = SurveyRequestState(
                    surveyID: made.surveyID, customerID: made.customerID, ticketID: made.ticketID,
                    channel: made.channel, expiresAt: made.expiresAt
                )
            }
        }
        let scale = survey.kind.scale
        guard self.score.rounded() == self.score, self.score >= Double(scale.lowerBound),
            self.score <= Double(scale.upperBound)
        else {
            throw Rejection(
                .invalidScore, field: "score",
                "a \(survey.kind.rawValue) score is an integer from \(scale.lowerBound) to \(scale.upperBound)",
                details: ["min": .int(scale.lowerBound), "max": .int(scale.upperBound)]
            )
        }
        var ticket: TicketState?
        if let ticketID = request.ticketID {
            ticket = try state.ticket(ticketID)
            if let ticket { try SurveyRules.requireOpen(ticket) }
        }
        // A ticket's request follows the ticket to the survivor of a merge.
        let customerID = ticket?.customerID ?? request.customerID
        if let given = self.customerID, given != customerID {
            throw Rejection.invalid("customer_id", "only the request's own customer may respond")
        }
        _ = try state.activeCustomer(customerID, field: "customer_id", personal: false)
        guard context.at <= request.expiresAt else {
            throw Rejection(
                .surveyExpired, field: "request_id", "survey request \(requestID) expired",
                details: ["request_id": .string(requestID), "expires_at": .string(Timestamp.format(request.expiresAt))]
            )
        }
        let responded = SurveyResponded(
            requestID: requestID, surveyID: survey.surveyID, kind: survey.kind, customerID: customerID,
            ticketID: request.ticketID, score: Int(self.score), reasonCode: self.reasonCode,
            agentID: ticket.flatMap { $0.assigneeID ?? $0.lastAgentID }, channel: ticket?.channel ?? request.channel,
            supersedesSeq: request.responseSeq, comment: self.comment
        )
        events.append(NewEvent(.feedback(.surveyResponded(responded)), stream: FeedbackStream.request(requestID)))
        return Decision(events: events, result: CommandResult(.request, requestID))
    }
}

/// The rules the survey commands and the automatic offer share.
enum SurveyRules {
    /// `survey_closed` for a closed ticket.
    static func requireOpen(_ ticket: TicketState) throws(Rejection) {
        guard ticket.status != "closed" else {
            throw Rejection(
                .surveyClosed, field: "ticket_id", "ticket \(ticket.ticketID) is closed: responses are not recorded",
                details: ["ticket_id": .string(ticket.ticketID)]
            )
        }
    }

    /// `SurveyOffered` for a new request.
    static func offer(
        _ survey: SurveyDefinition, requestID: String, customerID: String, ticket: TicketState?, channel: String?,
        at: Int64, causedBy: Int? = nil
    ) -> NewEvent {
        let offered = SurveyOffered(
            requestID: requestID, surveyID: survey.surveyID, surveyVersion: survey.version, kind: survey.kind,
            customerID: customerID, ticketID: ticket?.ticketID, channel: channel ?? ticket?.channel,
            agentID: ticket.flatMap { $0.assigneeID ?? $0.lastAgentID }, offeredAt: at,
            expiresAt: at + Int64(survey.responseWindowDays) * 86_400_000
        )
        return NewEvent(
            .feedback(.surveyOffered(offered)), stream: FeedbackStream.request(requestID), causedBy: causedBy)
    }

    /// The automatic offers when `ticket` (its state after the command) was just solved by the event at
    /// index `causedBy`: one per survey offered on solve (and on the ticket's channel) that has no open
    /// request about the ticket. Request ids are the command's generated id, then `-2`, `-3`, ….
    static func offersOnSolve(
        _ ticket: TicketState, _ state: any DecisionState, _ context: CommandContext, causedBy: Int
    ) throws -> [NewEvent] {
        var events: [NewEvent] = []
        for key in try state.keys(.service, prefix: SurveyKeys.autoPrefix) {
            let survey = try state.survey(String(key.dropFirst(SurveyKeys.autoPrefix.count)), field: "ticket_id")
            guard survey.offers(onSolveOf: ticket.channel),
                try state.openRequest(survey.surveyID, ticket: ticket, at: context.at) == nil
            else { continue }
            let id = events.isEmpty ? context.generatedID : "\(context.generatedID)-\(events.count + 1)"
            events.append(
                SurveyRules.offer(
                    survey, requestID: id, customerID: ticket.customerID, ticket: ticket, channel: nil, at: context.at,
                    causedBy: causedBy
                )
            )
        }
        return events
    }
}
