public import CRMJSON

/// `activity.log`: records a call, email, meeting, note or task on the timeline of one or more
/// customers (HubSpot engagements).
///
/// Emits `ActivityLogged`.
public struct LogActivity: DomainCommand {
    /// `activity.log`.
    public static let method = "activity.log"

    /// The activity types.
    public static let types = ["call", "email", "meeting", "note", "task"]
    /// The directions of calls and emails.
    public static let directions = ["inbound", "outbound"]
    /// Call outcomes (HubSpot call dispositions).
    public static let callOutcomes = ["connected", "no_answer", "busy", "left_voicemail", "wrong_number"]
    /// Meeting outcomes (HubSpot `hs_meeting_outcome`).
    public static let meetingOutcomes = ["SCHEDULED", "COMPLETED", "RESCHEDULED", "NO_SHOW", "CANCELED"]
    /// Task statuses (HubSpot `hs_task_status`).
    public static let taskStatuses = ["NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED", "DEFERRED"]
    /// Maximum length of `subject`, in characters.
    public static let subjectLimit = 255
    /// Maximum size of `body`, in UTF-8 bytes (64 KiB).
    public static let bodyLimit = 65_536

    /// The client-supplied id, or `nil` to use the generated one.
    public let activityID: String?
    /// `call`, `email`, `meeting`, `note` or `task`.
    public let type: String
    /// The customers the activity belongs to, at least one, without duplicates.
    public let customerIDs: [String]
    /// Related deal (not checked: deals do not exist yet).
    public let dealID: String?
    /// Related ticket (not checked: tickets do not exist yet).
    public let ticketID: String?
    /// Business time of the activity (UTC ms), or `nil` for the command's `at`.
    public let occurredAt: Int64?
    /// `inbound` or `outbound`; required for calls and emails.
    public let direction: String?
    /// Duration in seconds.
    public let durationSec: Int64?
    /// Start (meetings), UTC ms.
    public let startAt: Int64?
    /// End (meetings), UTC ms, not before `startAt`.
    public let endAt: Int64?
    /// Outcome (calls and meetings only).
    public let outcome: String?
    /// Owner (user) id.
    public let ownerID: String?
    /// Due time (tasks only), UTC ms.
    public let dueAt: Int64?
    /// Task status (tasks only).
    public let taskStatus: String?
    /// Subject (personal data).
    public let subject: String?
    /// Body (personal data).
    public let body: String?

    /// Parses and validates the params.
    public init(params: JSON?) throws(Rejection) {
        var params = try Params(params)
        self.activityID = try params.identifier("activity_id")
        let type = try params.oneOf("type", LogActivity.types, required: true)!
        self.type = type
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
        self.customerIDs = customerIDs
        self.dealID = try params.identifier("deal_id")
        self.ticketID = try params.identifier("ticket_id")
        self.occurredAt = try params.timestamp("occurred_at")
        self.direction = try params.oneOf(
            "direction",
            LogActivity.directions,
            required: type == "call" || type == "email"
        )
        self.durationSec = try params.int("duration_sec")
        if let duration = self.durationSec, duration < 0 {
            throw Rejection.invalid("duration_sec", "must be 0 or more")
        }
        self.startAt = try params.timestamp("start_at")
        self.endAt = try params.timestamp("end_at")
        if let start = self.startAt, let end = self.endAt, end < start {
            throw Rejection.invalid("end_at", "end_at is before start_at")
        }
        switch type {
        case "call": self.outcome = try params.oneOf("outcome", LogActivity.callOutcomes)
        case "meeting": self.outcome = try params.oneOf("outcome", LogActivity.meetingOutcomes)
        default:
            guard try params.raw("outcome") == nil else {
                throw Rejection.invalid("outcome", "only calls and meetings have an outcome")
            }
            self.outcome = nil
        }
        self.ownerID = try params.identifier("owner_id")
        if type == "task" {
            self.dueAt = try params.timestamp("due_at")
            self.taskStatus = try params.oneOf("task_status", LogActivity.taskStatuses)
        } else {
            guard try params.raw("due_at") == nil else { throw Rejection.invalid("due_at", "only tasks have due_at") }
            guard try params.raw("task_status") == nil else {
                throw Rejection.invalid("task_status", "only tasks have task_status")
            }
            self.dueAt = nil
            self.taskStatus = nil
        }
        self.subject = try CustomerInput.text(&params, "subject", limit: LogActivity.subjectLimit)
        let body = try params.string("body")
        if let body, body.utf8.count > LogActivity.bodyLimit {
            throw Rejection.invalid("body", "must be at most \(LogActivity.bodyLimit) bytes")
        }
        self.body = body?.isEmpty == true ? nil : body
        try params.finish()
    }

    /// `activity-<activity_id>`.
    public func targetStream(_ context: CommandContext) -> String? {
        ActivityStream.name(self.activityID ?? context.generatedID)
    }

    /// Rejects an existing activity id and missing, merged or erased customers.
    public func decide(_ state: any DecisionState, _ context: CommandContext) throws -> Decision {
        let id = self.activityID ?? context.generatedID
        if try state.activityExists(id) {
            throw Rejection(
                .alreadyExists,
                field: "activity_id",
                "activity \(id) already exists",
                details: ["id": .string(id)]
            )
        }
        for (index, customerID) in self.customerIDs.enumerated() {
            _ = try state.activeCustomer(customerID, field: "customer_ids[\(index)]")
        }
        var activity = ActivityLogged(activityID: id, kind: self.type, customerIDs: self.customerIDs)
        activity.dealID = self.dealID
        activity.ticketID = self.ticketID
        activity.occurredAt = self.occurredAt ?? context.at
        activity.direction = self.direction
        activity.durationSec = self.durationSec
        activity.startAt = self.startAt
        activity.endAt = self.endAt
        activity.outcome = self.outcome
        activity.ownerID = self.ownerID
        activity.task = self.type == "task" ? ActivityLogged.Task(dueAt: self.dueAt, status: self.taskStatus) : nil
        activity.subject = self.subject
        activity.body = self.body
        let event = NewEvent(.customer(.activityLogged(activity)), stream: ActivityStream.name(id))
        return Decision(events: [event], result: CommandResult(.activity, id))
    }
}
