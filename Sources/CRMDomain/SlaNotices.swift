/// Notification events: facts crmd appends about what the clock did, for subscribers only.
///
/// No read model folds them (a rebuild gives the same read models with or without them), they name no
/// customer, carry no personal data, and they are exempt from the per-stream order of business times:
/// a notification dated at a deadline may follow an event dated later on its stream, and it does not
/// move the stream's last business time (``DomainEvent/isNotification``).
public enum NotificationEvent: Sendable, Hashable {
    /// `SlaBreached`.
    case slaBreached(SlaBreached)
    /// `SlaBreachWarning`.
    case slaBreachWarning(SlaBreachWarning)

    /// The event type name, e.g. `SlaBreached`.
    public var type: String {
        switch self {
        case .slaBreached: NotificationEventType.slaBreached
        case .slaBreachWarning: NotificationEventType.slaBreachWarning
        }
    }
}

/// Type names of the notification events.
public enum NotificationEventType {
    public static let slaBreached = "SlaBreached"
    public static let slaBreachWarning = "SlaBreachWarning"
    /// Every notification type.
    public static let all: Set<String> = [slaBreached, slaBreachWarning]
}

extension DomainEvent {
    /// Whether the event is a notification (``NotificationEvent``), typed or stored under its type name:
    /// exempt from `timestamp_out_of_order`, and never moving its stream's last business time.
    public var isNotification: Bool {
        switch self {
        case .notification: true
        // Only an event stored under its type name needs the name looked up (every fold asks).
        case .untyped(let event): NotificationEventType.all.contains(event.type)
        default: false
        }
    }
}

/// An SLA instance of a ticket and when its running clock reaches (or reached) its target: what both
/// notification types are about.
public struct SlaDeadline: Sendable, Hashable {
    /// The ticket id.
    public var ticketID: String
    /// One of ``SlaVocabulary/metrics``.
    public var metric: String
    /// The instance (1, or 2, 3, … for `next_reply_time`).
    public var instance: Int
    /// The target in force.
    public var targetMinutes: Int64
    /// When the clock reaches the target (UTC ms).
    public var at: Int64

    /// The deadline `at` of instance `instance` of `metric` on ticket `ticketID`.
    public init(ticketID: String, metric: String, instance: Int, targetMinutes: Int64, at: Int64) {
        self.ticketID = ticketID
        self.metric = metric
        self.instance = instance
        self.targetMinutes = targetMinutes
        self.at = at
    }
}

/// `SlaBreached{ticket_id, metric, instance, target_minutes, deadline, breached_at}`: an SLA instance of
/// a ticket crossed its target. Appended once per instance; its `occurred_at` is `breached_at`.
public struct SlaBreached: Sendable, Hashable {
    /// The instance and its deadline (the target in force when it breached).
    public var deadline: SlaDeadline
    /// When the breach happened: the deadline, or the time of a target change that made the instance
    /// breached at once (never back-dated before it).
    public var breachedAt: Int64

    /// The event.
    public init(_ deadline: SlaDeadline, breachedAt: Int64) {
        self.deadline = deadline
        self.breachedAt = breachedAt
    }
}

/// `SlaBreachWarning{ticket_id, metric, instance, target_minutes, deadline, lead_minutes}`: an active SLA
/// instance will breach at its deadline unless it is fulfilled or paused first. Appended at most once
/// per instance; its `occurred_at` is `deadline − lead_minutes` (not before the instance started).
public struct SlaBreachWarning: Sendable, Hashable {
    /// The instance and when it breaches if its clock keeps running.
    public var deadline: SlaDeadline
    /// How long before the deadline the warning is due.
    public var leadMinutes: Int64

    /// The event.
    public init(_ deadline: SlaDeadline, leadMinutes: Int64) {
        self.deadline = deadline
        self.leadMinutes = leadMinutes
    }
}

/// One breach notification of a ticket's SLA instance, due or still to come: what
/// ``NotifySlaBreach`` appends and the scheduler waits for.
public struct SlaNotice: Sendable, Hashable {
    /// A warning before the deadline, or the breach itself.
    public enum Kind: String, Sendable, Hashable {
        case warning, breach
    }

    /// The instance and its deadline.
    public var deadline: SlaDeadline
    public var kind: Kind
    /// The event's business time: the breach's `breached_at`, or `deadline − lead` for a warning.
    public var at: Int64
    /// The earliest instant at which the notice may be appended: `at` for a warning, just past the
    /// deadline for a breach (a reply at the deadline meets it).
    public var dueAt: Int64
    /// A warning's lead time (0 for a breach).
    public var leadMinutes: Int64

    /// A notice.
    public init(_ deadline: SlaDeadline, kind: Kind, at: Int64, dueAt: Int64, leadMinutes: Int64 = 0) {
        self.deadline = deadline
        self.kind = kind
        self.at = at
        self.dueAt = dueAt
        self.leadMinutes = leadMinutes
    }

    /// The ticket id.
    public var ticketID: String { self.deadline.ticketID }

    /// What identifies the notice among its ticket's: `<metric>/<instance>/<kind>`.
    public var key: String { SlaNotice.key(self.deadline.metric, self.deadline.instance, self.kind) }

    static func key(_ metric: String, _ instance: Int, _ kind: Kind) -> String {
        "\(metric)/\(instance)/\(kind.rawValue)"
    }

    /// The event that announces the notice.
    public var event: NotificationEvent {
        switch self.kind {
        case .breach: .slaBreached(SlaBreached(self.deadline, breachedAt: self.at))
        case .warning: .slaBreachWarning(SlaBreachWarning(self.deadline, leadMinutes: self.leadMinutes))
        }
    }

    /// An instant before which `record` has no notice due, found without running its clock: every
    /// instance starts at or after the ticket opened, and a target of `m` minutes takes at least `m`
    /// minutes of running time — with business hours, at least `m / (open minutes of a week + 60)`
    /// weeks less one (holidays and pauses only add to that; the hour allows for a DST change, the week
    /// for a target reached early in a week). Uses the smallest
    /// target of every snapshot ever applied; `nil` without one. Lets a scheduler leave a ticket whose
    /// deadlines lie far ahead without evaluating it.
    public static func earliestDue(_ record: SlaTicketRecord, leadMinutes: Int64) -> Int64? {
        var earliest: Int64?
        for case .applied(_, let snapshot) in record.log {
            let weekMinutes = snapshot.schedule.map { schedule in
                schedule.hours.joined().reduce(60) { $0 + Int64(max(0, $1.end - $1.start)) }
            }
            for target in snapshot.targets {
                var millis = target.minutes * 60_000
                if target.businessHours, let weekMinutes {
                    // Any 7 days hold at most a week's open time; a part of a week may hold all of it.
                    millis = max(0, millis / weekMinutes * 10_080 - 7 * 86_400_000)
                }
                earliest = min(earliest ?? .max, record.ticket.createdAt + millis)
            }
        }
        return earliest.map { $0 - max(0, leadMinutes) * 60_000 }
    }

    /// How long after an evaluation a ticket is evaluated again when one of its active instances has
    /// a deadline beyond what the clock computes (``BusinessSchedule/walkLimitMillis`` ahead).
    public static let recheckMillis: Int64 = 30 * 86_400_000

    /// The notices of `record` not yet in `notified` (keys ``key``), as its clock stands at `asOf`: a
    /// breach for every breached instance (whenever it breached, even if it has ended since), and for
    /// every active, unbreached instance its breach at the deadline and, when `leadMinutes` > 0, a
    /// warning before it. A breached instance gets no warning any more.
    public static func schedule(
        _ record: SlaTicketRecord,
        asOf: Int64,
        leadMinutes: Int64,
        notified: Set<String>
    ) -> SlaNoticeSchedule {
        let ticketID = record.ticket.ticketID
        var notices: [SlaNotice] = []
        var recheckAt: Int64?
        for instance in SlaClock.evaluate(record, asOf: asOf).instances {
            let breachKey = SlaNotice.key(instance.metric, instance.instance, .breach)
            guard !notified.contains(breachKey) else { continue }
            func deadline(_ at: Int64) -> SlaDeadline {
                SlaDeadline(
                    ticketID: ticketID, metric: instance.metric, instance: instance.instance,
                    targetMinutes: instance.targetMinutes, at: at
                )
            }
            if let breachedAt = instance.breachedAt {
                let reached = deadline(min(instance.deadline ?? breachedAt, breachedAt))
                notices.append(SlaNotice(reached, kind: .breach, at: breachedAt, dueAt: breachedAt))
            } else if instance.state == "active", let at = instance.deadline {
                notices.append(SlaNotice(deadline(at), kind: .breach, at: at, dueAt: at + 1))
                let warningKey = SlaNotice.key(instance.metric, instance.instance, .warning)
                if leadMinutes > 0, !notified.contains(warningKey) {
                    let warnAt = max(at - leadMinutes * 60_000, instance.startedAt)
                    notices.append(
                        SlaNotice(deadline(at), kind: .warning, at: warnAt, dueAt: warnAt, leadMinutes: leadMinutes)
                    )
                }
            } else if instance.state == "active" {
                recheckAt = asOf + SlaNotice.recheckMillis
            }
        }
        notices.sort {
            ($0.dueAt, $0.deadline.metric, $0.deadline.instance) < ($1.dueAt, $1.deadline.metric, $1.deadline.instance)
        }
        return SlaNoticeSchedule(notices: notices, recheckAt: recheckAt)
    }
}

/// A ticket's notices still to append as its clock stands at one instant, and when to look at it again.
public struct SlaNoticeSchedule: Sendable, Hashable {
    /// The notices, in order of ``SlaNotice/dueAt``.
    public var notices: [SlaNotice]
    /// When to evaluate the ticket again although it has no notice to come yet (an active instance
    /// whose deadline is still out of the clock's reach), or `nil`.
    public var recheckAt: Int64?

    /// A schedule of `notices` (in due order), looked at again at `recheckAt`; none by default.
    public init(notices: [SlaNotice] = [], recheckAt: Int64? = nil) {
        self.notices = notices
        self.recheckAt = recheckAt
    }

    /// When the ticket next needs looking at: its first notice's due time or its recheck, or `nil`.
    public var nextDueAt: Int64? { [self.notices.first?.dueAt, self.recheckAt].compactMap { $0 }.min() }
}

extension DecisionState {
    /// The keys (``SlaNotice/key``) of the notices appended for ticket `id`.
    public func slaNotices(_ id: String) throws -> Set<String> {
        guard let bytes = try self.record(.service, SlaNoticeRow.key(id)) else { return [] }
        var row = BinaryRowReader(bytes, what: "SLA notices")
        try row.format(SlaNoticeRow.format)
        let keys = try row.strings()
        try row.finish()
        return Set(keys)
    }
}

/// The decision-state row of a ticket's appended notices: `sla_notices:<ticket_id>` in `service` →
/// their keys, sorted.
enum SlaNoticeRow {
    static let format: UInt8 = 1

    static func key(_ ticketID: String) -> String { "sla_notices:" + ticketID }

    static func encoded(_ keys: Set<String>) -> [UInt8] {
        var row = BinaryRowWriter(capacity: 16 + 32 * keys.count)
        row.byte(SlaNoticeRow.format)
        row.strings(keys.sorted())
        return row.bytes
    }
}

/// Folds notification events (and the ticket openings that start a ticket afresh) into decision state.
enum NotificationEvolver {
    /// Records an appended notice; a `TicketOpened` forgets the notices of an earlier ticket of its id.
    static func apply(_ event: RecordedEvent, to store: any DecisionStateStore) throws {
        let (deadline, kind): (SlaDeadline, SlaNotice.Kind)
        switch event.event {
        case .service(.ticketOpened(let opened)):
            return try store.setRecord(.service, SlaNoticeRow.key(opened.ticketID), nil)
        case .notification(.slaBreached(let breached)): (deadline, kind) = (breached.deadline, .breach)
        case .notification(.slaBreachWarning(let warning)): (deadline, kind) = (warning.deadline, .warning)
        default: return
        }
        var keys = try store.slaNotices(deadline.ticketID)
        guard keys.insert(SlaNotice.key(deadline.metric, deadline.instance, kind)).inserted else { return }
        try store.setRecord(.service, SlaNoticeRow.key(deadline.ticketID), SlaNoticeRow.encoded(keys))
    }
}

/// Appends one breach notification (``SlaNotice``) of a ticket: an internal command that crmd's SLA
/// scheduler submits, never a client. Exactly once: a notice already appended (the decision state
/// keeps their keys per ticket) decides to no event. The scheduler computed the notice from the SLA
/// read model at the ticket stream's version it submits as `expected_version`, so a ticket changed
/// meanwhile is refused with `version_conflict` and computed again.
public struct NotifySlaBreach: DomainCommand {
    /// Not a method clients may call; the name under which crmd logs it.
    public static let method = "sla.notify (internal)"

    /// The notice to append.
    public let notice: SlaNotice

    /// The command for `notice`.
    public init(_ notice: SlaNotice) {
        self.notice = notice
    }

    /// `ticket-<ticket_id>`.
    public func targetStream(_ context: CommandContext) -> String? { ServiceStream.ticket(self.notice.ticketID) }

    /// The notice's event on the ticket's stream, or no event when it was appended already.
    public func decide(_ state: any DecisionState, _ context: CommandContext) throws -> Decision {
        let ticketID = self.notice.ticketID
        let result = CommandResult(.ticket, ticketID)
        guard try state.ticket(ticketID) != nil else { throw Rejection.notFound("ticket_id", "ticket", ticketID) }
        guard !(try state.slaNotices(ticketID).contains(self.notice.key)) else {
            return Decision(events: [], result: result)
        }
        let event = NewEvent(.notification(self.notice.event), stream: ServiceStream.ticket(ticketID))
        return Decision(events: [event], result: result)
    }
}
