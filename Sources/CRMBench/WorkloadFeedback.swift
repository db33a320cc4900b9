import CRMJSON

/// Service feedback: each connection defines a CSAT survey offered when a ticket is solved, and its
/// tickets are assigned, typed (some as complaints, later resolved), offered the survey and answered.
enum FeedbackWorkload {
    static let entries: [WorkloadEntry] = [
        WorkloadEntry(method: "survey.define", weight: 1, make: define),
        WorkloadEntry(method: "ticket.assign", weight: 2, make: assign),
        WorkloadEntry(method: "ticket.set_type", weight: 1, make: setType),
        WorkloadEntry(method: "complaint.resolve", weight: 1, make: resolve),
        WorkloadEntry(method: "survey.offer", weight: 1, make: offer),
        WorkloadEntry(method: "survey.respond", weight: 2, make: respond),
    ]

    static func define(_ context: inout WorkloadContext) -> JSON? {
        guard !context.definedSurvey else { return nil }
        context.definedSurvey = true
        return [
            "survey_id": .string("\(context.prefix)csat"), "kind": "csat", "name": "After a ticket",
            "auto_offer_on": ["ticket_solved"],
        ]
    }

    static func assign(_ context: inout WorkloadContext) -> JSON? {
        guard let index = ServiceWorkload.someOpenTicket(&context) else { return nil }
        return [
            "ticket_id": .string(context.tickets[index].id), "assignee_id": .string("agent\(context.rng.below(8))"),
        ]
    }

    static func setType(_ context: inout WorkloadContext) -> JSON? {
        guard let index = ServiceWorkload.someOpenTicket(&context) else { return nil }
        let complaint = context.rng.below(4) == 0
        context.tickets[index].complaint = complaint
        return [
            "ticket_id": .string(context.tickets[index].id),
            "type": .string(complaint ? "complaint" : context.rng.pick(["question", "incident", "problem", "task"])),
            "category": .string(context.rng.pick(["delivery", "billing", "product"])),
        ]
    }

    static func resolve(_ context: inout WorkloadContext) -> JSON? {
        let complaints = context.tickets.indices.filter { context.tickets[$0].complaint }
        guard !complaints.isEmpty else { return nil }
        let index = context.rng.pick(complaints)
        return [
            "ticket_id": .string(context.tickets[index].id),
            "outcome": .string(context.rng.pick(["upheld", "partially_upheld", "rejected"])),
        ]
    }

    static func offer(_ context: inout WorkloadContext) -> JSON? {
        guard context.definedSurvey, let index = ServiceWorkload.someOpenTicket(&context),
            !context.tickets[index].surveyed
        else { return nil }
        context.tickets[index].surveyed = true
        let id = "\(context.prefix)q\(context.surveyRequests.count)"
        context.surveyRequests.append((id, index))
        return [
            "survey_id": .string("\(context.prefix)csat"), "ticket_id": .string(context.tickets[index].id),
            "request_id": .string(id),
        ]
    }

    /// A response to a request offered here whose ticket is not closed (tickets solved before are not
    /// offered: their automatic request would be returned instead).
    static func respond(_ context: inout WorkloadContext) -> JSON? {
        let open = context.surveyRequests.filter { context.tickets[$0.ticket].status != "closed" }
        guard !open.isEmpty else { return nil }
        return ["request_id": .string(context.rng.pick(open).id), "score": .int(Int64(1 + context.rng.below(5)))]
    }
}
