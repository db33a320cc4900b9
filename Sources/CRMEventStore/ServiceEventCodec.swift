public import CRMDomain
public import CRMJSON

/// ``ServiceEvent`` ⇄ the `data` and `pii` payloads of the service-desk event types.
///
/// `encode` builds exactly the JSON that `decide` has always written for each type (same members,
/// same `null`s, integers as integers), so records and hashes are unchanged. `decode` is as lenient
/// as the folds were: a member that is missing or of another kind takes the default the decision
/// state used (`channel` `api`, `priority` `normal`, `status` `new`, empty lists, …). It gives `nil`
/// — the event stays untyped and every fold ignores it — only for an event no fold could use: a
/// ticket event without `ticket_id`, a status or priority change without `to`, a schedule or policy
/// event without its id, a schedule that does not parse, an applied snapshot without `policy_id`.
public enum ServiceEventCodec {
    /// The `data` and `pii` payloads of `event`.
    public static func encode(_ event: ServiceEvent) -> (data: JSON, pii: JSON) {
        switch event {
        case .scheduleDefined(let defined):
            return (defined.schedule.json, .null)
        case .slaPolicyDefined(let defined):
            return (defined.data, .null)
        case .slaPolicyRetired(let retired):
            return (retired.data, .null)
        case .ticketOpened(let opened):
            let data: JSON = [
                "ticket_id": .string(opened.ticketID), "customer_id": .string(opened.customerID),
                "channel": .string(opened.channel), "priority": .string(opened.priority),
                "status": .string(opened.status), "tags": .strings(opened.tags),
                "created_by": .string(opened.createdBy),
            ]
            return (data, ["subject": .string(opened.subject)])
        case .ticketMessageAdded(let added):
            let data: JSON = [
                "ticket_id": .string(added.ticketID), "customer_id": .string(added.customerID),
                "message_id": .string(added.messageID), "author": .string(added.author),
                "author_id": .string(added.authorID), "public": .bool(added.isPublic), "length": .int(added.length),
                "opening": .bool(added.opening),
            ]
            return (data, ["body": .string(added.body)])
        case .ticketStatusChanged(let changed):
            let data: JSON = [
                "ticket_id": .string(changed.ticketID), "customer_id": .string(changed.customerID),
                "from": .string(changed.from), "to": .string(changed.to), "cause": .string(changed.cause),
            ]
            return (data, changed.reason.map { ["reason": .string($0)] } ?? .null)
        case .ticketPriorityChanged(let changed):
            let data: JSON = [
                "ticket_id": .string(changed.ticketID), "customer_id": .string(changed.customerID),
                "from": .string(changed.from), "to": .string(changed.to),
            ]
            return (data, .null)
        case .ticketTagged(let tagged):
            let data: JSON = [
                "ticket_id": .string(tagged.ticketID), "customer_id": .string(tagged.customerID),
                "added": .strings(tagged.added), "removed": .strings(tagged.removed),
            ]
            return (data, .null)
        case .slaPolicyApplied(let applied):
            return (applied.snapshot, .null)
        case .slaPolicyRemoved(let removed):
            let data: JSON = [
                "ticket_id": .string(removed.ticketID), "customer_id": .string(removed.customerID),
                "policy_id": .string(removed.policyID),
                "policy_version": removed.policyVersion.map { .int($0) } ?? .null,
                "reason": .string(removed.reason),
            ]
            return (data, .null)
        }
    }

    /// `event` typed, when it is a service-desk event a fold can use; `nil` otherwise (see the type's
    /// documentation). `event` is in its type's current schema version.
    public static func decode(_ event: EventPayload) -> ServiceEvent? {
        let data = event.data
        switch event.type {
        case ServiceEventType.scheduleDefined:
            guard data["schedule_id"]?.stringValue != nil, let schedule = BusinessSchedule(json: data) else {
                return nil
            }
            return .scheduleDefined(ScheduleDefined(schedule: schedule))
        case ServiceEventType.slaPolicyDefined:
            guard let policy = SlaPolicy(json: data) else { return nil }
            return .slaPolicyDefined(SlaPolicyDefined(policy))
        case ServiceEventType.slaPolicyRetired:
            guard let id = data["policy_id"]?.stringValue else { return nil }
            return .slaPolicyRetired(SlaPolicyRetired(policyID: id, version: data["version"]?.intValue ?? 0))
        case ServiceEventType.slaPolicyApplied:
            return SlaPolicyApplied(snapshot: data).map(ServiceEvent.slaPolicyApplied)
        case ServiceEventType.ticketOpened, ServiceEventType.ticketMessageAdded, ServiceEventType.ticketStatusChanged,
            ServiceEventType.ticketPriorityChanged, ServiceEventType.ticketTagged, ServiceEventType.slaPolicyRemoved:
            return ServiceEventCodec.decodeTicketEvent(event)
        default:
            return nil
        }
    }

    /// The ticket events but `SlaPolicyApplied`.
    private static func decodeTicketEvent(_ event: EventPayload) -> ServiceEvent? {
        let data = event.data
        func string(_ key: String, _ fallback: String) -> String { data[key]?.stringValue ?? fallback }
        func strings(_ key: String) -> [String] { data[key]?.arrayValue?.compactMap(\.stringValue) ?? [] }
        guard let ticketID = data["ticket_id"]?.stringValue else { return nil }
        let customerID = string("customer_id", "")
        switch event.type {
        case ServiceEventType.ticketOpened:
            return .ticketOpened(
                TicketOpened(
                    ticketID: ticketID,
                    customerID: customerID,
                    channel: string("channel", "api"),
                    priority: string("priority", "normal"),
                    status: string("status", "new"),
                    tags: strings("tags"),
                    createdBy: string("created_by", "customer"),
                    subject: event.pii["subject"]?.stringValue
                )
            )
        case ServiceEventType.ticketMessageAdded:
            return .ticketMessageAdded(
                TicketMessageAdded(
                    ticketID: ticketID,
                    customerID: customerID,
                    messageID: string("message_id", ""),
                    author: string("author", "customer"),
                    authorID: data["author_id"]?.stringValue,
                    isPublic: data["public"]?.boolValue ?? false,
                    length: data["length"]?.intValue ?? 0,
                    opening: data["opening"]?.boolValue ?? false,
                    body: event.pii["body"]?.stringValue ?? ""
                )
            )
        case ServiceEventType.ticketStatusChanged:
            guard let to = data["to"]?.stringValue else { return nil }
            return .ticketStatusChanged(
                TicketStatusChanged(
                    ticketID: ticketID,
                    customerID: customerID,
                    from: string("from", ""),
                    to: to,
                    cause: string("cause", "manual"),
                    reason: event.pii["reason"]?.stringValue
                )
            )
        case ServiceEventType.ticketPriorityChanged:
            guard let to = data["to"]?.stringValue else { return nil }
            return .ticketPriorityChanged(
                TicketPriorityChanged(ticketID: ticketID, customerID: customerID, from: string("from", ""), to: to)
            )
        case ServiceEventType.ticketTagged:
            return .ticketTagged(
                TicketTagged(
                    ticketID: ticketID,
                    customerID: customerID,
                    added: strings("added"),
                    removed: strings("removed")
                )
            )
        case ServiceEventType.slaPolicyRemoved:
            return .slaPolicyRemoved(
                SlaPolicyRemoved(
                    ticketID: ticketID,
                    customerID: customerID,
                    policyID: string("policy_id", ""),
                    policyVersion: data["policy_version"]?.intValue,
                    reason: string("reason", "no_matching_policy")
                )
            )
        default:
            return nil
        }
    }
}
