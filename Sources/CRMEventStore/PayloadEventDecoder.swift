import CRMDomain
import CRMJSON

/// Decodes the payloads of the frequent event types straight from their canonical JSON bytes into
/// typed events, without a ``JSON`` tree: what ``EventRecord/decode(_:)`` uses for a payload in its
/// type's current schema version.
///
/// Each function gives exactly the typed event ``EventCodec/typed(_:)`` gives for the parsed payload
/// (the family codecs' lenient rules: missing or mistyped members read as absent, with the same
/// defaults). Anything else throws ``PayloadMiss`` and the caller takes the JSON-tree path: a type
/// decoded only there (pipelines, schedules, SLA policies and snapshots — rare in a log), a payload
/// the codecs leave untyped, and text ``PayloadReader`` does not take.
enum PayloadEventDecoder {
    static func decode(
        type: String,
        data dataBytes: UnsafeRawBufferPointer,
        pii piiBytes: UnsafeRawBufferPointer
    ) throws(PayloadMiss) -> DomainEvent {
        let data = try PayloadFields(dataBytes)
        guard data.isObject else { throw PayloadMiss() }
        let pii = try PayloadFields(piiBytes)
        switch type {
        case EventType.activityLogged: return .customer(.activityLogged(try PayloadEventDecoder.activity(data, pii)))
        case EventType.customerCreated, EventType.customerUpdated, EventType.customerTagged,
            EventType.customerOwnerChanged, EventType.lifecycleStageChanged, EventType.leadStatusChanged,
            EventType.consentChanged:
            return .customer(try PayloadEventDecoder.customer(type, data, pii))
        case SalesEventType.dealCreated, SalesEventType.dealStageChanged, SalesEventType.dealUpdated:
            return .sales(try PayloadEventDecoder.deal(type, data, pii))
        case SalesEventType.orderRecorded, SalesEventType.orderRefunded, SalesEventType.orderCancelled:
            return .sales(try PayloadEventDecoder.order(type, data))
        case ServiceEventType.ticketOpened, ServiceEventType.ticketMessageAdded, ServiceEventType.ticketStatusChanged,
            ServiceEventType.ticketPriorityChanged, ServiceEventType.ticketTagged, ServiceEventType.slaPolicyRemoved,
            ServiceEventType.ticketAssigned, ServiceEventType.ticketTypeChanged:
            return .service(try PayloadEventDecoder.ticket(type, data, pii))
        default:
            throw PayloadMiss()
        }
    }

    // MARK: - Customers

    private static func customer(_ type: String, _ data: PayloadFields, _ pii: PayloadFields) throws(PayloadMiss)
        -> CustomerEvent
    {
        guard let customerID = data.string("customer_id") else { throw PayloadMiss() }
        switch type {
        case EventType.customerCreated:
            var created = CustomerCreated(CustomerState(id: customerID))
            created.ownerID = data.string("owner_id")
            created.tags = data.strings("tags") ?? []
            created.tier = data.string("tier")
            created.source = data.string("source")
            created.lifecycleStage = data.string("lifecycle_stage") ?? Validation.defaultLifecycleStage
            created.leadStatus = data.string("lead_status")
            created.firstName = pii.string("first_name")
            created.lastName = pii.string("last_name")
            created.companyName = pii.string("company_name")
            created.jobTitle = pii.string("job_title")
            created.emails = pii.emails(pii["emails"])
            created.phones = pii.phones(pii["phones"])
            created.address = pii["address"].flatMap { CustomerState.PostalAddress(json: pii.reader.json($0)) }
            if let custom = pii["custom"], custom.kind == .object {
                created.custom = (pii.reader.json(custom).objectValue ?? [:]).compactMapValues(CustomValue.init(json:))
            }
            return .created(created)
        case EventType.customerUpdated:
            return .updated(PayloadEventDecoder.updated(customerID, data, pii))
        case EventType.customerTagged:
            return .tagged(
                CustomerTagged(
                    customerID: customerID, added: data.strings("added") ?? [], removed: data.strings("removed") ?? [])
            )
        case EventType.customerOwnerChanged:
            return .ownerChanged(
                CustomerOwnerChanged(customerID: customerID, from: data.string("from"), to: data.string("to")))
        case EventType.lifecycleStageChanged:
            guard let to = data.string("to") else { throw PayloadMiss() }
            return .lifecycleStageChanged(
                LifecycleStageChanged(
                    customerID: customerID, from: data.string("from"), to: to, source: data.string("source"))
            )
        case EventType.leadStatusChanged:
            return .leadStatusChanged(
                LeadStatusChanged(customerID: customerID, from: data.string("from"), to: data.string("to")))
        case EventType.consentChanged:
            guard let channel = data.string("channel"), let to = data.string("to") else { throw PayloadMiss() }
            return .consentChanged(
                ConsentChanged(
                    customerID: customerID, channel: channel, from: data.string("from"), to: to,
                    legalBasis: data.string("legal_basis"), source: data.string("source"),
                    contactPoint: pii.string("contact_point"), evidence: pii.string("evidence")
                )
            )
        default:
            throw PayloadMiss()
        }
    }

    private static func updated(_ customerID: String, _ data: PayloadFields, _ pii: PayloadFields) -> CustomerUpdated {
        var updated = CustomerUpdated(customerID: customerID)
        for (fields, field, change) in PayloadFields.changes(data, pii) {
            let from = fields.member(change, "from")
            let to = fields.member(change, "to")
            let reader = fields.reader
            func text() -> Change<String?> { Change(from: reader.string(from), to: reader.string(to)) }
            func json(_ value: PayloadValue?) -> JSON { value.map(reader.json) ?? .null }
            switch field {
            case "first_name": updated.firstName = text()
            case "last_name": updated.lastName = text()
            case "company_name": updated.companyName = text()
            case "job_title": updated.jobTitle = text()
            case "tier": updated.tier = text()
            case "source": updated.source = text()
            case "emails": updated.emails = Change(from: fields.emails(from), to: fields.emails(to))
            case "phones": updated.phones = Change(from: fields.phones(from), to: fields.phones(to))
            case "address":
                updated.address = Change(
                    from: CustomerState.PostalAddress(json: json(from)),
                    to: CustomerState.PostalAddress(json: json(to))
                )
            default:
                guard field.hasPrefix("custom.") else { continue }
                updated.custom[String(field.dropFirst("custom.".count))] = Change(
                    from: CustomValue(json: json(from)),
                    to: CustomValue(json: json(to))
                )
            }
        }
        return updated
    }

    private static func activity(_ data: PayloadFields, _ pii: PayloadFields) throws(PayloadMiss) -> ActivityLogged {
        guard let id = data.string("activity_id") else { throw PayloadMiss() }
        func time(_ value: PayloadValue?) -> Int64? { data.reader.string(value).flatMap(Timestamp.parse) }
        var activity = ActivityLogged(
            activityID: id,
            kind: data.string("kind"),
            customerIDs: data.strings("customer_ids") ?? []
        )
        activity.dealID = data.string("deal_id")
        activity.ticketID = data.string("ticket_id")
        activity.occurredAt = time(data["occurred_at"])
        activity.direction = data.string("direction")
        activity.durationSec = data.reader.int(data["duration_sec"])
        activity.startAt = time(data["start_at"])
        activity.endAt = time(data["end_at"])
        activity.outcome = data.string("outcome")
        activity.ownerID = data.string("owner_id")
        if let task = data.reader.members(data["task"]) {
            activity.task = ActivityLogged.Task(
                dueAt: time(data.reader.member(task, "due_at")),
                status: data.reader.string(data.reader.member(task, "status"))
            )
        }
        activity.subject = pii.string("subject")
        activity.body = pii.string("body")
        return activity
    }

    // MARK: - Orders

    /// `OrderEventCodec`'s order events (no personal data).
    private static func order(_ type: String, _ data: PayloadFields) throws(PayloadMiss) -> SalesEvent {
        guard let orderID = data.string("order_id"), let customerID = data.string("customer_id") else {
            throw PayloadMiss()
        }
        switch type {
        case SalesEventType.orderRecorded:
            guard let amount = data.money("amount"), let currency = data.string("currency"),
                let orderedAt = data.string("ordered_at").flatMap(Timestamp.parse)
            else { throw PayloadMiss() }
            return .orderRecorded(
                OrderRecorded(
                    orderID: orderID, customerID: customerID, amount: amount, currency: currency,
                    margin: data.string("margin").flatMap(MoneyAmount.signedUnits), orderedAt: orderedAt,
                    channel: data.string("channel"), campaignID: data.string("campaign_id"),
                    externalRef: data.string("external_ref"), linesCount: data.reader.int(data["lines_count"])
                )
            )
        case SalesEventType.orderRefunded:
            guard let amount = data.money("amount") else { throw PayloadMiss() }
            return .orderRefunded(
                OrderRefunded(
                    refundID: data.string("refund_id") ?? "", orderID: orderID, customerID: customerID,
                    amount: amount, currency: data.string("currency") ?? "",
                    refundedTotal: data.money("refunded_total") ?? amount
                )
            )
        case SalesEventType.orderCancelled:
            let reason = data.string("reason")
            return .orderCancelled(OrderCancelled(orderID: orderID, customerID: customerID, reason: reason))
        default:
            throw PayloadMiss()
        }
    }

    // MARK: - Deals

    private static func deal(_ type: String, _ data: PayloadFields, _ pii: PayloadFields) throws(PayloadMiss)
        -> SalesEvent
    {
        guard let id = data.string("deal_id") else { throw PayloadMiss() }
        let reader = data.reader
        switch type {
        case SalesEventType.dealCreated:
            guard let pipelineID = data.string("pipeline_id"), let stageID = data.string("stage_id") else {
                throw PayloadMiss()
            }
            return .dealCreated(
                DealCreated(
                    dealID: id,
                    pipelineID: pipelineID,
                    pipelineVersion: Int(reader.int(data["pipeline_version"]) ?? 1),
                    stageID: stageID,
                    kind: data.string("kind") ?? "open",
                    probability: Int(reader.int(data["probability"]) ?? 0),
                    amount: data["amount"].flatMap { MoneyAmount(json: reader.json($0)) },
                    currency: data.string("currency"),
                    closeDate: data.string("close_date"),
                    customerIDs: data.strings("customer_ids") ?? [],
                    ownerID: data.string("owner_id"),
                    lastOpenStage: data.string("last_open_stage"),
                    lostReason: data.string("lost_reason"),
                    name: pii.string("name")
                )
            )
        case SalesEventType.dealStageChanged:
            guard let to = data.string("to") else { throw PayloadMiss() }
            return .dealStageChanged(
                DealStageChanged(
                    dealID: id,
                    pipelineID: data.string("pipeline_id") ?? "",
                    from: data.string("from"),
                    to: to,
                    fromKind: data.string("from_kind") ?? "open",
                    toKind: data.string("to_kind") ?? "open",
                    probability: reader.int(data["probability"]).map { Int($0) },
                    backward: reader.bool(data["backward"]) ?? false,
                    reopened: reader.bool(data["reopened"]) ?? false,
                    lastOpenStage: data.string("last_open_stage"),
                    lostReason: data.string("lost_reason")
                )
            )
        case SalesEventType.dealUpdated:
            var changes: [String: (PayloadFields, PayloadValue?, PayloadValue?)] = [:]
            for (fields, field, change) in PayloadFields.changes(data, pii) {
                changes[field] = (fields, fields.member(change, "from"), fields.member(change, "to"))
            }
            func change<Value>(_ field: String, _ value: (PayloadReader, PayloadValue?) -> Value)
                -> DealUpdated.Change<Value>?
            {
                guard let (fields, from, to) = changes[field] else { return nil }
                return DealUpdated.Change(from: value(fields.reader, from), to: value(fields.reader, to))
            }
            func money(_ reader: PayloadReader, _ value: PayloadValue?) -> MoneyAmount? {
                MoneyAmount(json: value.map(reader.json) ?? .null)
            }
            return .dealUpdated(
                DealUpdated(
                    dealID: id,
                    pipelineID: data.string("pipeline_id") ?? "",
                    name: change("name") { $0.string($1) },
                    amount: change("amount", money),
                    currency: change("currency") { $0.string($1) },
                    closeDate: change("close_date") { $0.string($1) },
                    ownerID: change("owner_id") { $0.string($1) },
                    customerIDs: change("customer_ids") { $0.strings($1) }
                )
            )
        default:
            throw PayloadMiss()
        }
    }

    // MARK: - Tickets

    private static func ticket(_ type: String, _ data: PayloadFields, _ pii: PayloadFields) throws(PayloadMiss)
        -> ServiceEvent
    {
        guard let ticketID = data.string("ticket_id") else { throw PayloadMiss() }
        let customerID = data.string("customer_id") ?? ""
        let reader = data.reader
        switch type {
        case ServiceEventType.ticketOpened:
            return .ticketOpened(
                TicketOpened(
                    ticketID: ticketID,
                    customerID: customerID,
                    channel: data.string("channel") ?? "api",
                    priority: data.string("priority") ?? "normal",
                    status: data.string("status") ?? "new",
                    tags: data.strings("tags") ?? [],
                    createdBy: data.string("created_by") ?? "customer",
                    subject: pii.string("subject"),
                    ticketType: data.string("type"),
                    category: data.string("category")
                )
            )
        case ServiceEventType.ticketMessageAdded:
            return .ticketMessageAdded(
                TicketMessageAdded(
                    ticketID: ticketID,
                    customerID: customerID,
                    messageID: data.string("message_id") ?? "",
                    author: data.string("author") ?? "customer",
                    authorID: data.string("author_id"),
                    isPublic: reader.bool(data["public"]) ?? false,
                    length: reader.int(data["length"]) ?? 0,
                    opening: reader.bool(data["opening"]) ?? false,
                    body: pii.string("body") ?? ""
                )
            )
        case ServiceEventType.ticketStatusChanged:
            guard let to = data.string("to") else { throw PayloadMiss() }
            return .ticketStatusChanged(
                TicketStatusChanged(
                    ticketID: ticketID,
                    customerID: customerID,
                    from: data.string("from") ?? "",
                    to: to,
                    cause: data.string("cause") ?? "manual",
                    reason: pii.string("reason")
                )
            )
        case ServiceEventType.ticketPriorityChanged:
            guard let to = data.string("to") else { throw PayloadMiss() }
            return .ticketPriorityChanged(
                TicketPriorityChanged(
                    ticketID: ticketID, customerID: customerID, from: data.string("from") ?? "", to: to)
            )
        case ServiceEventType.ticketTagged:
            return .ticketTagged(
                TicketTagged(
                    ticketID: ticketID,
                    customerID: customerID,
                    added: data.strings("added") ?? [],
                    removed: data.strings("removed") ?? []
                )
            )
        case ServiceEventType.ticketAssigned:
            return .ticketAssigned(
                TicketAssigned(
                    ticketID: ticketID, customerID: customerID, from: data.string("from"), to: data.string("to")
                )
            )
        case ServiceEventType.ticketTypeChanged:
            guard let to = data.string("to") else { throw PayloadMiss() }
            return .ticketTypeChanged(
                TicketTypeChanged(
                    ticketID: ticketID, customerID: customerID, from: data.string("from"), to: to,
                    category: data.string("category")
                )
            )
        case ServiceEventType.slaPolicyRemoved:
            return .slaPolicyRemoved(
                SlaPolicyRemoved(
                    ticketID: ticketID,
                    customerID: customerID,
                    policyID: data.string("policy_id") ?? "",
                    policyVersion: reader.int(data["policy_version"]),
                    reason: data.string("reason") ?? "no_matching_policy"
                )
            )
        default:
            throw PayloadMiss()
        }
    }
}

/// The top-level members of one payload (`data` or `pii`), read by key.
struct PayloadFields {
    let reader: PayloadReader
    /// The members; empty when the payload is not an object (every member then reads as missing).
    let members: [PayloadMember]
    let isObject: Bool

    init(_ bytes: UnsafeRawBufferPointer) throws(PayloadMiss) {
        self.reader = try PayloadReader(bytes)
        let members = self.reader.rootMembers
        self.members = members ?? []
        self.isObject = members != nil
    }

    /// The value of member `key`.
    subscript(_ key: StaticString) -> PayloadValue? { self.reader.member(self.members, key) }

    /// The member `key` of the object `value` (`nil` when `value` is not an object).
    func member(_ value: PayloadValue?, _ key: StaticString) -> PayloadValue? {
        self.reader.members(value).flatMap { self.reader.member($0, key) }
    }

    /// Member `key` as a string (``JSON/stringValue``).
    func string(_ key: StaticString) -> String? { self.reader.string(self[key]) }

    /// Member `key` as an amount (`MoneyAmount(json:)`: a decimal string or a non-negative number).
    func money(_ key: StaticString) -> MoneyAmount? {
        guard let value = self[key] else { return nil }
        if value.kind == .string, let text = self.reader.string(value) { return MoneyAmount(decimal: text) }
        return MoneyAmount(json: self.reader.json(value))
    }

    /// Member `key`'s string elements, or `nil` when it is not an array.
    func strings(_ key: StaticString) -> [String]? { self.reader.strings(self[key]) }

    /// `CustomerState.emails(fromEventJSON:)` of `value`.
    func emails(_ value: PayloadValue?) -> [CustomerState.Email] {
        (self.reader.elements(value) ?? []).compactMap { entry in
            guard let members = self.reader.members(entry),
                let address = self.reader.string(self.reader.member(members, "address"))
            else { return nil }
            return CustomerState.Email(
                address: address,
                primary: self.reader.bool(self.reader.member(members, "primary")) ?? false,
                optedOut: self.reader.bool(self.reader.member(members, "opted_out")) ?? false,
                invalid: self.reader.bool(self.reader.member(members, "invalid")) ?? false,
                consent: self.reader.string(self.reader.member(members, "consent")) ?? Validation.consentNotSet
            )
        }
    }

    /// `CustomerState.phones(fromEventJSON:)` of `value`.
    func phones(_ value: PayloadValue?) -> [CustomerState.Phone] {
        (self.reader.elements(value) ?? []).compactMap { entry in
            guard let members = self.reader.members(entry),
                let number = self.reader.string(self.reader.member(members, "number"))
            else { return nil }
            func text(_ key: StaticString) -> String? { self.reader.string(self.reader.member(members, key)) }
            return CustomerState.Phone(
                number: number,
                normalized: text("normalized") ?? Validation.normalizedPhone(number) ?? number,
                type: text("type"),
                primary: self.reader.bool(self.reader.member(members, "primary")) ?? false,
                doNotCall: self.reader.bool(self.reader.member(members, "do_not_call")) ?? false,
                consent: text("consent") ?? Validation.consentNotSet,
                smsConsent: text("sms_consent") ?? Validation.consentNotSet
            )
        }
    }

    /// The members of `data.changes` and `pii.changes` together, a change under `pii` winning (how
    /// the codecs read `CustomerUpdated` and `DealUpdated`): the payload it is in, its field, its value.
    static func changes(_ data: PayloadFields, _ pii: PayloadFields) -> [(PayloadFields, String, PayloadValue)] {
        let personal = pii.reader.members(pii["changes"]) ?? []
        let personalFields = personal.map(pii.reader.key)
        var changes: [(PayloadFields, String, PayloadValue)] = []
        for member in data.reader.members(data["changes"]) ?? [] {
            let field = data.reader.key(member)
            if !personalFields.contains(field) { changes.append((data, field, member.value)) }
        }
        for (member, field) in zip(personal, personalFields) { changes.append((pii, field, member.value)) }
        return changes
    }
}
