import CRMDomain
import CRMJSON

/// ``NotificationEvent`` ⇄ the `data` payload of the notification types (they hold no personal data:
/// `pii` is `null`). Times are RFC 3339.
enum NotificationEventCodec {
    /// The `data` and `pii` payloads of `event`.
    static func encode(_ event: NotificationEvent) -> (data: JSON, pii: JSON) {
        var data: [String: JSON]
        switch event {
        case .slaBreached(let breached):
            data = NotificationEventCodec.members(breached.deadline)
            data["breached_at"] = .string(Timestamp.format(breached.breachedAt))
        case .slaBreachWarning(let warning):
            data = NotificationEventCodec.members(warning.deadline)
            data["lead_minutes"] = .int(warning.leadMinutes)
        }
        return (.object(data), .null)
    }

    /// The members both types share: the instance and its deadline.
    private static func members(_ deadline: SlaDeadline) -> [String: JSON] {
        [
            "ticket_id": .string(deadline.ticketID), "metric": .string(deadline.metric),
            "instance": .int(Int64(deadline.instance)), "target_minutes": .int(deadline.targetMinutes),
            "deadline": .string(Timestamp.format(deadline.at)),
        ]
    }

    /// The typed event, or `nil` for another type or a payload without its ticket, metric, instance or
    /// deadline.
    static func decode(_ event: EventPayload) -> NotificationEvent? {
        let data = event.data
        guard NotificationEventType.all.contains(event.type), let ticketID = data["ticket_id"]?.stringValue,
            let metric = data["metric"]?.stringValue, let instance = data["instance"]?.intValue,
            let at = data["deadline"]?.stringValue.flatMap(Timestamp.parse)
        else { return nil }
        let deadline = SlaDeadline(
            ticketID: ticketID, metric: metric, instance: Int(instance),
            targetMinutes: data["target_minutes"]?.intValue ?? 0, at: at
        )
        guard event.type == NotificationEventType.slaBreached else {
            return .slaBreachWarning(SlaBreachWarning(deadline, leadMinutes: data["lead_minutes"]?.intValue ?? 0))
        }
        let breachedAt = data["breached_at"]?.stringValue.flatMap(Timestamp.parse) ?? at
        return .slaBreached(SlaBreached(deadline, breachedAt: breachedAt))
    }
}
