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
            return (ServiceEventCodec.data(defined.policy), .null)
        case .slaPolicyRetired(let retired):
            return (["policy_id": .string(retired.policyID), "version": .int(retired.version)], .null)
        case .ticketOpened(let opened):
            var data: JSON = [
                "ticket_id": .string(opened.ticketID), "customer_id": .string(opened.customerID),
                "channel": .string(opened.channel), "priority": .string(opened.priority),
                "status": .string(opened.status), "tags": .strings(opened.tags),
                "created_by": .string(opened.createdBy),
            ]
            // Absent rather than null when not given, so tickets opened before types existed keep
            // their exact payloads.
            if let type = opened.ticketType { data["type"] = .string(type) }
            if let category = opened.category { data["category"] = .string(category) }
            return (data, ["subject": .string(opened.subject)])
        case .ticketAssigned(let assigned):
            let data: JSON = [
                "ticket_id": .string(assigned.ticketID), "customer_id": .string(assigned.customerID),
                "from": .string(assigned.from), "to": .string(assigned.to),
            ]
            return (data, .null)
        case .ticketTypeChanged(let changed):
            let data: JSON = [
                "ticket_id": .string(changed.ticketID), "customer_id": .string(changed.customerID),
                "from": .string(changed.from), "to": .string(changed.to), "category": .string(changed.category),
            ]
            return (data, .null)
        case .complaintResolved(let resolved):
            let remedy: JSON = resolved.remedy.map { remedy in
                [
                    "kind": .string(remedy.kind), "amount": .string(remedy.amount?.description),
                    "currency": .string(remedy.currency), "order_id": .string(remedy.orderID),
                ]
            } ?? .null
            let data: JSON = [
                "ticket_id": .string(resolved.ticketID), "customer_id": .string(resolved.customerID),
                "outcome": .string(resolved.outcome), "remedy": remedy,
            ]
            return (data, .null)
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
            return (ServiceEventCodec.data(applied), .null)
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

    /// The payload texts of the ticket events commands emit, written straight into bytes without a JSON
    /// tree; `nil` for the definitions of schedules and policies. Equal to the serialized ``encode(_:)``
    /// (`ServiceEventCodecTests`, `PayloadDecoderTests`).
    static func payloadTexts(_ event: ServiceEvent) -> (data: [UInt8], pii: [UInt8])? {
        var data = CanonicalJSONWriter(capacity: 256)
        data.openObject()
        func personal(_ key: String, _ value: String?) -> [UInt8] {
            var pii = CanonicalJSONWriter(capacity: 24 + (value?.utf8.count ?? 0))
            pii.openObject()
            pii.key(key)
            pii.string(value)
            pii.closeObject()
            return pii.bytes
        }
        var pii: [UInt8] = Array("null".utf8)
        switch event {
        case .ticketOpened(let opened):
            if let category = opened.category { data.member("category", category) }
            data.member("channel", opened.channel)
            data.member("created_by", opened.createdBy)
            data.member("customer_id", opened.customerID)
            data.member("priority", opened.priority)
            data.member("status", opened.status)
            data.member("tags", strings: opened.tags)
            data.member("ticket_id", opened.ticketID)
            if let type = opened.ticketType { data.member("type", type) }
            pii = personal("subject", opened.subject)
        case .ticketMessageAdded(let added):
            data.member("author", added.author)
            data.member("author_id", added.authorID)
            data.member("customer_id", added.customerID)
            data.member("length", added.length)
            data.member("message_id", added.messageID)
            data.member("opening", added.opening)
            data.member("public", added.isPublic)
            data.member("ticket_id", added.ticketID)
            pii = personal("body", added.body)
        case .ticketStatusChanged(let changed):
            data.member("cause", changed.cause)
            data.member("customer_id", changed.customerID)
            data.member("from", changed.from)
            data.member("ticket_id", changed.ticketID)
            data.member("to", changed.to)
            if let reason = changed.reason { pii = personal("reason", reason) }
        case .ticketPriorityChanged(let changed):
            data.member("customer_id", changed.customerID)
            data.member("from", changed.from)
            data.member("ticket_id", changed.ticketID)
            data.member("to", changed.to)
        case .ticketTagged(let tagged):
            data.member("added", strings: tagged.added)
            data.member("customer_id", tagged.customerID)
            data.member("removed", strings: tagged.removed)
            data.member("ticket_id", tagged.ticketID)
        case .ticketAssigned(let assigned):
            data.member("customer_id", assigned.customerID)
            data.member("from", assigned.from)
            data.member("ticket_id", assigned.ticketID)
            data.member("to", assigned.to)
        case .ticketTypeChanged(let changed):
            data.member("category", changed.category)
            data.member("customer_id", changed.customerID)
            data.member("from", changed.from)
            data.member("ticket_id", changed.ticketID)
            data.member("to", changed.to)
        case .complaintResolved(let resolved):
            data.member("customer_id", resolved.customerID)
            data.member("outcome", resolved.outcome)
            data.key("remedy")
            if let remedy = resolved.remedy {
                data.openObject()
                data.member("amount", remedy.amount?.description)
                data.member("currency", remedy.currency)
                data.member("kind", remedy.kind)
                data.member("order_id", remedy.orderID)
                data.closeObject()
            } else {
                data.null()
            }
            data.member("ticket_id", resolved.ticketID)
        case .slaPolicyApplied(let applied):
            let snapshot = applied.snapshot
            data.member("customer_id", applied.customerID)
            data.member("policy_id", snapshot.policyID)
            data.member("policy_version", snapshot.policyVersion)
            data.member("priority", snapshot.priority)
            data.member("reason", applied.reason)
            data.key("schedule")
            data.json(snapshot.schedule?.json ?? .null)
            // One target per metric, the last one listed when a metric repeats (as the tree keeps it).
            var targets: [String: SlaTarget] = [:]
            for target in snapshot.targets { targets[target.metric] = target }
            data.key("targets")
            data.openObject()
            for metric in targets.keys.sorted(by: JSON.utf8Precedes) {
                let target = targets[metric]!
                data.key(metric)
                data.openObject()
                data.member("business_hours", target.businessHours)
                data.member("minutes", target.minutes)
                data.member("pause_on", strings: target.pauseOn)
                data.closeObject()
            }
            data.closeObject()
            data.member("ticket_id", applied.ticketID)
        case .slaPolicyRemoved(let removed):
            data.member("customer_id", removed.customerID)
            data.member("policy_id", removed.policyID)
            data.member("policy_version", removed.policyVersion)
            data.member("reason", removed.reason)
            data.member("ticket_id", removed.ticketID)
        case .scheduleDefined, .slaPolicyDefined, .slaPolicyRetired:
            return nil
        }
        data.closeObject()
        return (data.bytes, pii)
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
            return ServiceEventCodec.applied(data).map(ServiceEvent.slaPolicyApplied)
        case ServiceEventType.ticketOpened, ServiceEventType.ticketMessageAdded, ServiceEventType.ticketStatusChanged,
            ServiceEventType.ticketPriorityChanged, ServiceEventType.ticketTagged, ServiceEventType.slaPolicyRemoved,
            ServiceEventType.ticketAssigned, ServiceEventType.ticketTypeChanged, ServiceEventType.complaintResolved:
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
                    subject: event.pii["subject"]?.stringValue,
                    ticketType: data["type"]?.stringValue,
                    category: data["category"]?.stringValue
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
        case ServiceEventType.ticketAssigned:
            return .ticketAssigned(
                TicketAssigned(
                    ticketID: ticketID, customerID: customerID, from: data["from"]?.stringValue,
                    to: data["to"]?.stringValue
                )
            )
        case ServiceEventType.ticketTypeChanged:
            guard let to = data["to"]?.stringValue else { return nil }
            return .ticketTypeChanged(
                TicketTypeChanged(
                    ticketID: ticketID, customerID: customerID, from: data["from"]?.stringValue, to: to,
                    category: data["category"]?.stringValue
                )
            )
        case ServiceEventType.complaintResolved:
            guard let outcome = data["outcome"]?.stringValue else { return nil }
            let remedy = data["remedy"].flatMap { remedy -> ComplaintResolved.Remedy? in
                guard let kind = remedy["kind"]?.stringValue else { return nil }
                return ComplaintResolved.Remedy(
                    kind: kind, amount: remedy["amount"].flatMap(MoneyAmount.init(json:)),
                    currency: remedy["currency"]?.stringValue, orderID: remedy["order_id"]?.stringValue
                )
            }
            return .complaintResolved(
                ComplaintResolved(ticketID: ticketID, customerID: customerID, outcome: outcome, remedy: remedy)
            )
        default:
            return nil
        }
    }
}

// MARK: - SLA snapshots, schedules and policies

extension ServiceEventCodec {
    /// The `data` of `SlaPolicyApplied`: `{ticket_id, customer_id, policy_id, policy_version, priority,
    /// schedule, targets:{metric:{minutes, business_hours, pause_on}}, reason}`.
    static func data(_ applied: SlaPolicyApplied) -> JSON {
        let snapshot = applied.snapshot
        var targets: [String: JSON] = [:]
        for target in snapshot.targets {
            targets[target.metric] = [
                "minutes": .int(target.minutes), "business_hours": .bool(target.businessHours),
                "pause_on": .strings(target.pauseOn),
            ]
        }
        return [
            "ticket_id": .string(applied.ticketID), "customer_id": .string(applied.customerID),
            "policy_id": .string(snapshot.policyID), "policy_version": .int(snapshot.policyVersion),
            "priority": .string(snapshot.priority), "schedule": snapshot.schedule?.json ?? .null,
            "targets": .object(targets), "reason": .string(applied.reason),
        ]
    }

    /// Reads the `data` of `SlaPolicyApplied` as leniently as the clock always did: `nil` without a
    /// `ticket_id` or `policy_id`; a malformed schedule counts as none, a target without `minutes` as
    /// absent, and a target without `pause_on` takes its metric's default.
    static func applied(_ data: JSON) -> SlaPolicyApplied? {
        guard let ticketID = data["ticket_id"]?.stringValue, let policyID = data["policy_id"]?.stringValue else {
            return nil
        }
        let priority = data["priority"]?.stringValue ?? "normal"
        var targets: [SlaTarget] = []
        for (metric, target) in data["targets"]?.objectValue ?? [:] {
            guard let minutes = target["minutes"]?.intValue else { continue }
            targets.append(
                SlaTarget(
                    metric: metric,
                    priority: priority,
                    minutes: minutes,
                    businessHours: target["business_hours"]?.boolValue ?? false,
                    pauseOn: target["pause_on"]?.arrayValue?.compactMap(\.stringValue)
                        ?? SlaVocabulary.defaultPauseOn(metric)
                )
            )
        }
        let snapshot = SlaPolicySnapshot(
            policyID: policyID,
            policyVersion: data["policy_version"]?.intValue ?? 0,
            priority: priority,
            schedule: data["schedule"].flatMap { $0.isNull ? nil : BusinessSchedule(json: $0) },
            targets: targets.sorted { $0.metric < $1.metric }
        )
        return SlaPolicyApplied(
            ticketID: ticketID,
            customerID: data["customer_id"]?.stringValue ?? "",
            snapshot: snapshot,
            reason: data["reason"]?.stringValue ?? ""
        )
    }
}

extension BusinessSchedule {
    /// The schedule as `ScheduleDefined` and `SlaPolicyApplied` store it: `{"schedule_id", "version",
    /// "name", "timezone", "hours":{"mon":[["09:00","17:00"]],…}, "holidays":[{date, name}]}` (weekdays
    /// without hours left out, a holiday without a name as `null`).
    public var json: JSON {
        var hours: [String: JSON] = [:]
        for (index, day) in self.hours.enumerated() where !day.isEmpty {
            hours[BusinessSchedule.weekdays[index]] = .array(
                day.map { .array([.string(Self.clock($0.start)), .string(Self.clock($0.end))]) }
            )
        }
        let holidays: [JSON] = self.holidays.keys.sorted().map { day in
            ["date": .string(Self.date(day)), "name": .string(self.holidays[day].flatMap { $0.isEmpty ? nil : $0 })]
        }
        return [
            "schedule_id": .string(self.scheduleID), "version": .int(self.version), "name": .string(self.name),
            "timezone": .string(self.timezone), "hours": .object(hours), "holidays": .array(holidays),
        ]
    }

    /// Decodes ``json``; `nil` for anything malformed (an unknown time zone, weekday or clock time, a
    /// holiday that is not a date).
    public init?(json: JSON) {
        guard let timezone = json["timezone"]?.stringValue, let hoursObject = json["hours"]?.objectValue else {
            return nil
        }
        var hours: [[Interval]] = Array(repeating: [], count: 7)
        for (key, value) in hoursObject {
            guard let index = BusinessSchedule.weekdays.firstIndex(of: key) else { return nil }
            for pair in value.arrayValue ?? [] {
                guard let start = pair[0]?.stringValue.flatMap(Self.parseClock),
                    let end = pair[1]?.stringValue.flatMap(Self.parseClock)
                else { return nil }
                hours[index].append(Interval(start: start, end: end))
            }
        }
        var holidays: [Int: String] = [:]
        for entry in json["holidays"]?.arrayValue ?? [] {
            guard let day = entry["date"]?.stringValue.flatMap(Timestamp.parseDate) else { return nil }
            holidays[day] = entry["name"]?.stringValue ?? ""
        }
        self.init(
            scheduleID: json["schedule_id"]?.stringValue ?? "",
            version: json["version"]?.intValue ?? 1,
            name: json["name"]?.stringValue ?? "",
            timezone: timezone,
            hours: hours,
            holidays: holidays
        )
    }
}

extension ServiceEventCodec {
    /// The `data` of `SlaPolicyDefined`: `{policy_id, version, name, position, match:{tiers?, channels?,
    /// tags_any?}, schedule_id, targets:[{metric, priority, minutes, business_hours, pause_on}]}` (a
    /// definition has no `retired` flag).
    static func data(_ policy: SlaPolicy) -> JSON {
        var match: [String: JSON] = [:]
        if let tiers = policy.tiers { match["tiers"] = .strings(tiers) }
        if let channels = policy.channels { match["channels"] = .strings(channels) }
        if let tags = policy.tagsAny { match["tags_any"] = .strings(tags) }
        return [
            "policy_id": .string(policy.policyID), "version": .int(policy.version), "name": .string(policy.name),
            "position": .int(policy.position), "match": .object(match), "schedule_id": .string(policy.scheduleID),
            "targets": .array(policy.targets.map(\.json)),
        ]
    }
}

extension SlaTarget {
    /// `{metric, priority, minutes, business_hours, pause_on}`, as `SlaPolicyDefined` stores a target.
    var json: JSON {
        [
            "metric": .string(self.metric), "priority": .string(self.priority), "minutes": .int(self.minutes),
            "business_hours": .bool(self.businessHours), "pause_on": .strings(self.pauseOn),
        ]
    }

    /// Decodes ``json`` (`SlaPolicyDefined`'s form); `nil` without a metric, priority or minutes. A
    /// missing `pause_on` takes the metric's default.
    init?(json: JSON) {
        guard let metric = json["metric"]?.stringValue, let priority = json["priority"]?.stringValue,
            let minutes = json["minutes"]?.intValue
        else { return nil }
        self.init(
            metric: metric,
            priority: priority,
            minutes: minutes,
            businessHours: json["business_hours"]?.boolValue ?? false,
            pauseOn: json["pause_on"]?.arrayValue?.compactMap(\.stringValue) ?? SlaVocabulary.defaultPauseOn(metric)
        )
    }
}

extension SlaPolicy {
    /// Decodes the data of `SlaPolicyDefined` (``ServiceEventCodec/data(_:)-(SlaPolicy)``); `nil` without
    /// a `policy_id`. Missing members
    /// take the defaults the decision state always read (version 1, position 0, no conditions).
    init?(json: JSON) {
        guard let id = json["policy_id"]?.stringValue else { return nil }
        func list(_ key: String) -> [String]? { json["match"]?[key]?.arrayValue?.compactMap(\.stringValue) }
        self.init(
            policyID: id,
            version: json["version"]?.intValue ?? 1,
            name: json["name"]?.stringValue ?? "",
            position: json["position"]?.intValue ?? 0,
            tiers: list("tiers"),
            channels: list("channels"),
            tagsAny: list("tags_any"),
            scheduleID: json["schedule_id"]?.stringValue,
            targets: json["targets"]?.arrayValue?.compactMap(SlaTarget.init(json:)) ?? [],
            retired: json["retired"]?.boolValue ?? false
        )
    }
}
