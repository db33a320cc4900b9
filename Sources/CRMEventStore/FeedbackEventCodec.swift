import CRMDomain
import CRMJSON

/// ``FeedbackEvent`` ⇄ the `data` and `pii` payloads of the survey event types. Times are RFC 3339;
/// a response's comment is its only personal data.
enum FeedbackEventCodec {
    static func encode(_ event: FeedbackEvent) -> (data: JSON, pii: JSON) {
        switch event {
        case .surveyDefined(let defined):
            let survey = defined.survey
            let data: JSON = [
                "survey_id": .string(survey.surveyID), "version": .int(survey.version),
                "kind": .string(survey.kind.rawValue),
                "scale": ["min": .int(survey.kind.scale.lowerBound), "max": .int(survey.kind.scale.upperBound)],
                "auto_offer_on": .strings(survey.offersOnSolve ? SurveyDefinition.triggers : []),
                "response_window_days": .int(survey.responseWindowDays), "channels": .strings(survey.channels),
                "name": .string(survey.name), "question": .string(survey.question),
            ]
            return (data, .null)
        case .surveyOffered(let offered):
            let data: JSON = [
                "request_id": .string(offered.requestID), "survey_id": .string(offered.surveyID),
                "survey_version": .int(offered.surveyVersion), "kind": .string(offered.kind.rawValue),
                "customer_id": .string(offered.customerID), "ticket_id": .string(offered.ticketID),
                "channel": .string(offered.channel), "agent_id": .string(offered.agentID),
                "offered_at": .string(Timestamp.format(offered.offeredAt)),
                "expires_at": .string(Timestamp.format(offered.expiresAt)),
            ]
            return (data, .null)
        case .surveyResponded(let responded):
            let data: JSON = [
                "request_id": .string(responded.requestID), "survey_id": .string(responded.surveyID),
                "kind": .string(responded.kind.rawValue), "customer_id": .string(responded.customerID),
                "ticket_id": .string(responded.ticketID), "score": .int(responded.score),
                "category": .string(responded.category), "reason_code": .string(responded.reasonCode),
                "agent_id": .string(responded.agentID), "channel": .string(responded.channel),
                "supersedes_seq": responded.supersedesSeq.map { .int(Int64($0)) } ?? .null,
            ]
            return (data, responded.comment.map { ["comment": .string($0)] } ?? .null)
        }
    }

    /// The typed event, or `nil` for another type or a payload without the members a fold needs.
    static func decode(_ event: EventPayload) -> FeedbackEvent? {
        let data = event.data
        func string(_ key: String) -> String? { data[key]?.stringValue }
        func time(_ key: String) -> Int64? { data[key]?.stringValue.flatMap(Timestamp.parse) }
        switch event.type {
        case FeedbackEventType.surveyDefined:
            guard let id = string("survey_id"), let kind = string("kind").flatMap(SurveyKind.init(rawValue:)) else {
                return nil
            }
            let triggers = data["auto_offer_on"]?.arrayValue?.compactMap(\.stringValue) ?? []
            let survey = SurveyDefinition(
                surveyID: id, version: data["version"]?.intValue ?? 1, kind: kind, name: string("name"),
                question: string("question"), offersOnSolve: triggers.contains("ticket_solved"),
                responseWindowDays: Int(data["response_window_days"]?.intValue ?? 28),
                channels: data["channels"]?.arrayValue?.compactMap(\.stringValue) ?? []
            )
            return .surveyDefined(SurveyDefined(survey))
        case FeedbackEventType.surveyOffered:
            guard let id = string("request_id"), let survey = string("survey_id"),
                let kind = string("kind").flatMap(SurveyKind.init(rawValue:)), let customer = string("customer_id"),
                let offeredAt = time("offered_at"), let expiresAt = time("expires_at")
            else { return nil }
            return .surveyOffered(
                SurveyOffered(
                    requestID: id, surveyID: survey, surveyVersion: data["survey_version"]?.intValue ?? 1, kind: kind,
                    customerID: customer, ticketID: string("ticket_id"), channel: string("channel"),
                    agentID: string("agent_id"), offeredAt: offeredAt, expiresAt: expiresAt
                )
            )
        case FeedbackEventType.surveyResponded:
            guard let id = string("request_id"), let survey = string("survey_id"),
                let kind = string("kind").flatMap(SurveyKind.init(rawValue:)), let customer = string("customer_id"),
                let score = data["score"]?.intValue
            else { return nil }
            return .surveyResponded(
                SurveyResponded(
                    requestID: id, surveyID: survey, kind: kind, customerID: customer, ticketID: string("ticket_id"),
                    score: Int(score), reasonCode: string("reason_code"), agentID: string("agent_id"),
                    channel: string("channel"),
                    supersedesSeq: data["supersedes_seq"]?.intValue.map { UInt64(max(0, $0)) },
                    comment: event.pii["comment"]?.stringValue
                )
            )
        default:
            return nil
        }
    }
}
