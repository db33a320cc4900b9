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

    /// The command with every field given; the RPC edge builds it from the params.
    public init(
        activityID: String?,
        type: String,
        customerIDs: [String],
        dealID: String?,
        ticketID: String?,
        occurredAt: Int64?,
        direction: String?,
        durationSec: Int64?,
        startAt: Int64?,
        endAt: Int64?,
        outcome: String?,
        ownerID: String?,
        dueAt: Int64?,
        taskStatus: String?,
        subject: String?,
        body: String?
    ) {
        self.activityID = activityID
        self.type = type
        self.customerIDs = customerIDs
        self.dealID = dealID
        self.ticketID = ticketID
        self.occurredAt = occurredAt
        self.direction = direction
        self.durationSec = durationSec
        self.startAt = startAt
        self.endAt = endAt
        self.outcome = outcome
        self.ownerID = ownerID
        self.dueAt = dueAt
        self.taskStatus = taskStatus
        self.subject = subject
        self.body = body
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
            _ = try state.activeCustomer(customerID, field: "customer_ids[\(index)]", personal: false)
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
