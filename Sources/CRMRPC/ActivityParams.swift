public import CRMDomain
import CRMEventStore
import CRMJSON
public import CRMParams

extension LogActivity {
    /// Parses and validates the params.
    public init(params: inout Params) throws(Rejection) {
        let activityID: String?
        let dealID: String?
        let ticketID: String?
        let occurredAt: Int64?
        let direction: String?
        let durationSec: Int64?
        let startAt: Int64?
        let endAt: Int64?
        let outcome: String?
        let ownerID: String?
        let dueAt: Int64?
        let taskStatus: String?
        let subject: String?
        activityID = try params.identifier("activity_id")
        let type = try params.oneOf("type", LogActivity.types, required: true)!
        let customerIDs = try params.strings("customer_ids", required: true)!
        guard !customerIDs.isEmpty else {
            throw Rejection.invalid("customer_ids", "an activity needs at least one customer")
        }
        for (index, id) in customerIDs.enumerated() {
            guard Identifier.isValid(id) else {
                throw Rejection.invalid("customer_ids[\(index)]", "must match ^[A-Za-z0-9_-]{1,64}$")
            }
            guard !customerIDs[..<index].contains(id) else {
                throw Rejection.invalid("customer_ids[\(index)]", "\(id) is listed twice")
            }
        }
        dealID = try params.identifier("deal_id")
        ticketID = try params.identifier("ticket_id")
        occurredAt = try params.timestamp("occurred_at")
        direction = try params.oneOf(
            "direction",
            LogActivity.directions,
            required: type == "call" || type == "email"
        )
        durationSec = try params.int("duration_sec")
        if let duration = durationSec, duration < 0 {
            throw Rejection.invalid("duration_sec", "must be 0 or more")
        }
        startAt = try params.timestamp("start_at")
        endAt = try params.timestamp("end_at")
        if let start = startAt, let end = endAt, end < start {
            throw Rejection.invalid("end_at", "end_at is before start_at")
        }
        switch type {
        case "call": outcome = try params.oneOf("outcome", LogActivity.callOutcomes)
        case "meeting": outcome = try params.oneOf("outcome", LogActivity.meetingOutcomes)
        default:
            guard try params.raw("outcome") == nil else {
                throw Rejection.invalid("outcome", "only calls and meetings have an outcome")
            }
            outcome = nil
        }
        ownerID = try params.identifier("owner_id")
        if type == "task" {
            dueAt = try params.timestamp("due_at")
            taskStatus = try params.oneOf("task_status", LogActivity.taskStatuses)
        } else {
            guard try params.raw("due_at") == nil else { throw Rejection.invalid("due_at", "only tasks have due_at") }
            guard try params.raw("task_status") == nil else {
                throw Rejection.invalid("task_status", "only tasks have task_status")
            }
            dueAt = nil
            taskStatus = nil
        }
        subject = try CustomerInput.text(&params, "subject", limit: LogActivity.subjectLimit)
        let body: String?
        let rawBody = try params.string("body")
        if let rawBody, rawBody.utf8.count > LogActivity.bodyLimit {
            throw Rejection.invalid("body", "must be at most \(LogActivity.bodyLimit) bytes")
        }
        body = rawBody?.isEmpty == true ? nil : rawBody
        try params.finish()
        self.init(
            activityID: activityID,
            type: type,
            customerIDs: customerIDs,
            dealID: dealID,
            ticketID: ticketID,
            occurredAt: occurredAt,
            direction: direction,
            durationSec: durationSec,
            startAt: startAt,
            endAt: endAt,
            outcome: outcome,
            ownerID: ownerID,
            dueAt: dueAt,
            taskStatus: taskStatus,
            subject: subject,
            body: body
        )
    }
}
