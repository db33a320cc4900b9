public import CRMDomain
public import CRMJSON

/// Customer and activity events ⇄ their JSON payloads (see ``EventCodec``).
public enum CustomerEventCodec {
    /// The `data` and `pii` payloads of `event`.
    static func encode(_ event: CustomerEvent) -> (data: JSON, pii: JSON) {
        switch event {
        case .created(let created):
            return (
                [
                    "customer_id": .string(created.customerID), "owner_id": .string(created.ownerID),
                    "tags": .strings(created.tags), "tier": .string(created.tier), "source": .string(created.source),
                    "lifecycle_stage": .string(created.lifecycleStage), "lead_status": .string(created.leadStatus),
                ],
                [
                    "first_name": .string(created.firstName), "last_name": .string(created.lastName),
                    "company_name": .string(created.companyName), "job_title": .string(created.jobTitle),
                    "emails": .array(created.emails.map(\.eventJSON)),
                    "phones": .array(created.phones.map(\.eventJSON)),
                    "address": created.address?.json ?? .null, "custom": .object(created.custom.mapValues(\.json)),
                ]
            )
        case .updated(let updated):
            let (data, pii) = CustomerEventCodec.changes(updated)
            return (
                [
                    "customer_id": .string(updated.customerID), "changed_fields": .strings(updated.changedFields),
                    "changes": .object(data),
                ],
                ["changes": .object(pii)]
            )
        case .tagged(let tagged):
            return (
                [
                    "customer_id": .string(tagged.customerID), "added": .strings(tagged.added),
                    "removed": .strings(tagged.removed),
                ],
                .null
            )
        case .ownerChanged(let changed):
            return (
                ["customer_id": .string(changed.customerID), "from": .string(changed.from), "to": .string(changed.to)],
                .null
            )
        case .lifecycleStageChanged(let changed):
            return (
                [
                    "customer_id": .string(changed.customerID), "from": .string(changed.from),
                    "to": .string(changed.to), "source": .string(changed.source),
                ],
                .null
            )
        case .leadStatusChanged(let changed):
            return (
                ["customer_id": .string(changed.customerID), "from": .string(changed.from), "to": .string(changed.to)],
                .null
            )
        case .consentChanged(let changed):
            return (
                [
                    "customer_id": .string(changed.customerID), "channel": .string(changed.channel),
                    "from": .string(changed.from), "to": .string(changed.to),
                    "legal_basis": .string(changed.legalBasis), "source": .string(changed.source),
                ],
                ["contact_point": .string(changed.contactPoint), "evidence": .string(changed.evidence)]
            )
        case .activityLogged(let activity):
            func time(_ millis: Int64?) -> JSON { .string(millis.map(Timestamp.format)) }
            let task: JSON = activity.task.map { ["due_at": time($0.dueAt), "status": .string($0.status)] } ?? .null
            return (
                [
                    "activity_id": .string(activity.activityID), "kind": .string(activity.kind),
                    "customer_ids": .strings(activity.customerIDs), "deal_id": .string(activity.dealID),
                    "ticket_id": .string(activity.ticketID), "occurred_at": time(activity.occurredAt),
                    "direction": .string(activity.direction),
                    "duration_sec": activity.durationSec.map { .int($0) } ?? .null, "start_at": time(activity.startAt),
                    "end_at": time(activity.endAt), "outcome": .string(activity.outcome),
                    "owner_id": .string(activity.ownerID), "task": task,
                ],
                ["subject": .string(activity.subject), "body": .string(activity.body)]
            )
        case .erased(let erased):
            var data: JSON = [
                "customer_id": .string(erased.customerID), "erased_fields": .strings(erased.erasedFields),
                "email_hmacs": .strings(erased.emailHashes), "phone_hmacs": .strings(erased.phoneHashes),
                "reason": .string(erased.reason), "request_ref": .string(erased.requestRef),
                "requested_at": .string(erased.requestedAt.map(Timestamp.format)),
                "key_ids": .strings(erased.keyIDs),
            ]
            // Only when set, so an ordinary erasure's payload stays as it always was.
            if erased.reappliedAfterRestore { data["reapplied_after_restore"] = true }
            return (data, .null)
        case .legalHoldChanged(let changed):
            return (
                ["customer_id": .string(changed.customerID), "on": .bool(changed.on), "reason": .string(changed.reason)],
                .null
            )
        case .merged(let merged):
            let result = merged.result
            return (
                [
                    "primary_id": .string(merged.primaryID), "secondary_ids": .strings(merged.secondaryIDs),
                    "merged_from": .strings(merged.mergedFrom),
                    "result": [
                        "owner_id": .string(result.ownerID), "tags": .strings(result.tags),
                        "tier": .string(result.tier), "source": .string(result.source),
                        "lead_status": .string(result.leadStatus), "legal_hold": .bool(result.legalHold),
                    ],
                    "moved": [
                        "deals": .strings(merged.moved.deals), "tickets": .strings(merged.moved.tickets),
                        "activities": .strings(merged.moved.activities), "orders": .strings(merged.moved.orders),
                    ],
                ],
                [
                    "result": [
                        "first_name": .string(result.firstName), "last_name": .string(result.lastName),
                        "company_name": .string(result.companyName), "job_title": .string(result.jobTitle),
                        "emails": .array(result.emails.map(\.recordJSON)),
                        "phones": .array(result.phones.map(\.recordJSON)),
                        "address": result.addressJSON, "custom": .object(result.custom.mapValues(\.json)),
                    ]
                ]
            )
        }
    }

    /// The payload texts of `event` written straight into bytes, without a JSON tree, for the types
    /// most commands emit; `nil` for the others (``encode(_:)`` then builds the tree). Equal to the
    /// serialized ``encode(_:)`` (`CustomerEventCodecTests`).
    static func payloadTexts(_ event: CustomerEvent) -> (data: [UInt8], pii: [UInt8])? {
        var data = CanonicalJSONWriter(capacity: 320)
        data.openObject()
        func time(_ key: String, _ millis: Int64?) { data.member(key, millis.map(Timestamp.format)) }
        var pii: [UInt8] = Array("null".utf8)
        switch event {
        case .activityLogged(let activity):
            data.member("activity_id", activity.activityID)
            data.member("customer_ids", strings: activity.customerIDs)
            data.member("deal_id", activity.dealID)
            data.member("direction", activity.direction)
            data.member("duration_sec", activity.durationSec)
            time("end_at", activity.endAt)
            data.member("kind", activity.kind)
            time("occurred_at", activity.occurredAt)
            data.member("outcome", activity.outcome)
            data.member("owner_id", activity.ownerID)
            time("start_at", activity.startAt)
            data.key("task")
            if let task = activity.task {
                data.openObject()
                time("due_at", task.dueAt)
                data.member("status", task.status)
                data.closeObject()
            } else {
                data.null()
            }
            data.member("ticket_id", activity.ticketID)
            var personal = CanonicalJSONWriter(capacity: 64 + (activity.body?.utf8.count ?? 0))
            personal.openObject()
            personal.member("body", activity.body)
            personal.member("subject", activity.subject)
            personal.closeObject()
            pii = personal.bytes
        case .tagged(let tagged):
            data.member("added", strings: tagged.added)
            data.member("customer_id", tagged.customerID)
            data.member("removed", strings: tagged.removed)
        case .ownerChanged(let changed), .leadStatusChanged(let changed):
            data.member("customer_id", changed.customerID)
            data.member("from", changed.from)
            data.member("to", changed.to)
        case .lifecycleStageChanged(let changed):
            data.member("customer_id", changed.customerID)
            data.member("from", changed.from)
            data.member("source", changed.source)
            data.member("to", changed.to)
        case .consentChanged(let changed):
            data.member("channel", changed.channel)
            data.member("customer_id", changed.customerID)
            data.member("from", changed.from)
            data.member("legal_basis", changed.legalBasis)
            data.member("source", changed.source)
            data.member("to", changed.to)
            var personal = CanonicalJSONWriter(capacity: 96)
            personal.openObject()
            personal.member("contact_point", changed.contactPoint)
            personal.member("evidence", changed.evidence)
            personal.closeObject()
            pii = personal.bytes
        case .created(let created):
            data.member("customer_id", created.customerID)
            data.member("lead_status", created.leadStatus)
            data.member("lifecycle_stage", created.lifecycleStage)
            data.member("owner_id", created.ownerID)
            data.member("source", created.source)
            data.member("tags", strings: created.tags)
            data.member("tier", created.tier)
            pii = CustomerEventCodec.personalTexts(created)
        case .updated(let updated):
            data.member("changed_fields", strings: updated.changedFields)
            data.key("changes")
            data.openObject()
            if let change = updated.source { Self.write("source", change, into: &data) }
            if let change = updated.tier { Self.write("tier", change, into: &data) }
            data.closeObject()
            data.member("customer_id", updated.customerID)
            pii = CustomerEventCodec.personalTexts(updated)
        case .erased, .legalHoldChanged, .merged:
            return nil
        }
        data.closeObject()
        return (data.bytes, pii)
    }

    /// The `pii` text of `CustomerCreated`: names, contact data, address and custom fields.
    private static func personalTexts(_ created: CustomerCreated) -> [UInt8] {
        var pii = CanonicalJSONWriter(capacity: 384)
        pii.openObject()
        pii.key("address")
        CustomerEventCodec.write(created.address, into: &pii)
        pii.member("company_name", created.companyName)
        pii.key("custom")
        pii.openObject()
        for key in created.custom.keys.sorted(by: JSON.utf8Precedes) {
            pii.key(key)
            pii.json(created.custom[key]!.json)
        }
        pii.closeObject()
        pii.key("emails")
        CustomerEventCodec.write(created.emails, into: &pii)
        pii.member("first_name", created.firstName)
        pii.member("job_title", created.jobTitle)
        pii.member("last_name", created.lastName)
        pii.key("phones")
        CustomerEventCodec.write(created.phones, into: &pii)
        pii.closeObject()
        return pii.bytes
    }

    /// The `pii` text of `CustomerUpdated`: `{"changes": {field: {from, to}}}` for each personal field
    /// it changes, the same text as ``changes(_:)`` serialized.
    private static func personalTexts(_ updated: CustomerUpdated) -> [UInt8] {
        var pii = CanonicalJSONWriter(capacity: 256)
        pii.openObject()
        pii.key("changes")
        pii.openObject()
        if let change = updated.address { Self.write("address", change, into: &pii) { Self.write($0, into: &$1) } }
        if let change = updated.companyName { Self.write("company_name", change, into: &pii) }
        // `custom.<key>` sorts as `<key>` does, after `company_name` and before `emails`.
        for key in updated.custom.keys.sorted(by: JSON.utf8Precedes) {
            Self.write("custom." + key, updated.custom[key]!, into: &pii) { $1.json($0?.json ?? .null) }
        }
        if let change = updated.emails { Self.write("emails", change, into: &pii) { Self.write($0, into: &$1) } }
        if let change = updated.firstName { Self.write("first_name", change, into: &pii) }
        if let change = updated.jobTitle { Self.write("job_title", change, into: &pii) }
        if let change = updated.lastName { Self.write("last_name", change, into: &pii) }
        if let change = updated.phones { Self.write("phones", change, into: &pii) { Self.write($0, into: &$1) } }
        pii.closeObject()
        pii.closeObject()
        return pii.bytes
    }

    /// `"<key>": {"from": …, "to": …}` of a change, each side written by `value`.
    private static func write<Value>(
        _ key: String,
        _ change: Change<Value>,
        into writer: inout CanonicalJSONWriter,
        _ value: (Value, inout CanonicalJSONWriter) -> Void
    ) {
        writer.key(key)
        writer.openObject()
        writer.key("from")
        value(change.from, &writer)
        writer.key("to")
        value(change.to, &writer)
        writer.closeObject()
    }

    /// `"<key>": {"from": …, "to": …}` of a text field's change.
    private static func write(_ key: String, _ change: Change<String?>, into writer: inout CanonicalJSONWriter) {
        Self.write(key, change, into: &writer) { $1.string($0) }
    }

    /// A postal address in its event form, or `null`.
    private static func write(_ address: CustomerState.PostalAddress?, into writer: inout CanonicalJSONWriter) {
        guard let address else { return writer.null() }
        writer.openObject()
        writer.member("city", address.city)
        writer.member("country", address.country)
        writer.member("postal_code", address.postalCode)
        writer.member("state", address.state)
        writer.member("street", address.street)
        writer.closeObject()
    }

    /// Email addresses in their event form (``CustomerState/Email/eventJSON``).
    private static func write(_ emails: [CustomerState.Email], into writer: inout CanonicalJSONWriter) {
        writer.openArray()
        for email in emails {
            writer.openObject()
            writer.member("address", email.address)
            writer.member("invalid", email.invalid)
            writer.member("opted_out", email.optedOut)
            writer.member("primary", email.primary)
            writer.closeObject()
        }
        writer.closeArray()
    }

    /// Phone numbers in their event form (``CustomerState/Phone/eventJSON``).
    private static func write(_ phones: [CustomerState.Phone], into writer: inout CanonicalJSONWriter) {
        writer.openArray()
        for phone in phones {
            writer.openObject()
            writer.member("normalized", phone.normalized)
            writer.member("number", phone.number)
            writer.member("primary", phone.primary)
            writer.member("type", phone.type)
            writer.closeObject()
        }
        writer.closeArray()
    }

    /// The `{from, to}` of every changed field of `updated`: the non-personal ones (`data.changes`)
    /// and the personal ones (`pii.changes`), as `CustomerUpdated` holds them.
    public static func changes(_ updated: CustomerUpdated) -> (data: [String: JSON], pii: [String: JSON]) {
        var data: [String: JSON] = [:]
        var pii: [String: JSON] = [:]
        func put(_ field: String, _ change: Change<String?>?, personal: Bool = true) {
            guard let change else { return }
            let value: JSON = ["from": .string(change.from), "to": .string(change.to)]
            if personal { pii[field] = value } else { data[field] = value }
        }
        put("first_name", updated.firstName)
        put("last_name", updated.lastName)
        put("company_name", updated.companyName)
        put("job_title", updated.jobTitle)
        put("tier", updated.tier, personal: false)
        put("source", updated.source, personal: false)
        if let change = updated.emails {
            pii["emails"] = ["from": .array(change.from.map(\.eventJSON)), "to": .array(change.to.map(\.eventJSON))]
        }
        if let change = updated.phones {
            pii["phones"] = ["from": .array(change.from.map(\.eventJSON)), "to": .array(change.to.map(\.eventJSON))]
        }
        if let change = updated.address {
            pii["address"] = ["from": change.from?.json ?? .null, "to": change.to?.json ?? .null]
        }
        for (key, change) in updated.custom {
            pii["custom.\(key)"] = ["from": change.from?.json ?? .null, "to": change.to?.json ?? .null]
        }
        return (data, pii)
    }

    /// The typed event of a current-version payload, or `nil` when the type is not a customer event or
    /// the payload lacks what identifies the event (its customer or activity id); other fields are
    /// read leniently, missing or mistyped ones as absent.
    static func decode(_ event: EventPayload) -> CustomerEvent? {
        let data = event.data
        let pii = event.pii
        if event.type == EventType.activityLogged {
            guard let id = data["activity_id"]?.stringValue else { return nil }
            return .activityLogged(CustomerEventCodec.activity(id, data, pii))
        }
        if event.type == EventType.customersMerged {
            guard let primaryID = data["primary_id"]?.stringValue else { return nil }
            return .merged(CustomerEventCodec.merged(primaryID, data, pii))
        }
        // Every customer event names its customer in `customer_id`; one without it stays untyped.
        guard let customerID = data["customer_id"]?.stringValue else { return nil }
        func text(_ value: JSON?) -> String? { value?.stringValue }
        func strings(_ value: JSON?) -> [String] { value?.arrayValue?.compactMap(\.stringValue) ?? [] }
        switch event.type {
        case EventType.customerCreated:
            var created = CustomerCreated(CustomerState(id: customerID))
            created.ownerID = text(data["owner_id"])
            created.tags = strings(data["tags"])
            created.tier = text(data["tier"])
            created.source = text(data["source"])
            created.lifecycleStage = text(data["lifecycle_stage"]) ?? Validation.defaultLifecycleStage
            created.leadStatus = text(data["lead_status"])
            created.firstName = text(pii["first_name"])
            created.lastName = text(pii["last_name"])
            created.companyName = text(pii["company_name"])
            created.jobTitle = text(pii["job_title"])
            created.emails = CustomerState.emails(fromEventJSON: pii["emails"] ?? .null)
            created.phones = CustomerState.phones(fromEventJSON: pii["phones"] ?? .null)
            created.address = pii["address"].flatMap(CustomerState.PostalAddress.init(json:))
            created.custom = (pii["custom"]?.objectValue ?? [:]).compactMapValues(CustomValue.init(json:))
            return .created(created)
        case EventType.customerUpdated:
            return .updated(CustomerEventCodec.updated(customerID, data, pii))
        case EventType.customerTagged:
            return .tagged(
                CustomerTagged(customerID: customerID, added: strings(data["added"]), removed: strings(data["removed"]))
            )
        case EventType.customerOwnerChanged:
            return .ownerChanged(
                CustomerOwnerChanged(customerID: customerID, from: text(data["from"]), to: text(data["to"]))
            )
        case EventType.lifecycleStageChanged:
            guard let to = text(data["to"]) else { return nil }
            return .lifecycleStageChanged(
                LifecycleStageChanged(
                    customerID: customerID, from: text(data["from"]), to: to, source: text(data["source"])
                )
            )
        case EventType.leadStatusChanged:
            return .leadStatusChanged(
                LeadStatusChanged(customerID: customerID, from: text(data["from"]), to: text(data["to"]))
            )
        case EventType.consentChanged:
            guard let channel = text(data["channel"]), let to = text(data["to"]) else { return nil }
            return .consentChanged(
                ConsentChanged(
                    customerID: customerID, channel: channel, from: text(data["from"]), to: to,
                    legalBasis: text(data["legal_basis"]), source: text(data["source"]),
                    contactPoint: text(pii["contact_point"]), evidence: text(pii["evidence"])
                )
            )
        case EventType.customerErased:
            return .erased(
                CustomerErased(
                    customerID: customerID, erasedFields: strings(data["erased_fields"]),
                    emailHashes: strings(data["email_hmacs"]), phoneHashes: strings(data["phone_hmacs"]),
                    reason: text(data["reason"]), requestRef: text(data["request_ref"]),
                    requestedAt: text(data["requested_at"]).flatMap(Timestamp.parse), keyIDs: strings(data["key_ids"]),
                    reappliedAfterRestore: data["reapplied_after_restore"]?.boolValue ?? false
                )
            )
        case EventType.legalHoldChanged:
            guard let on = data["on"]?.boolValue else { return nil }
            return .legalHoldChanged(LegalHoldChanged(customerID: customerID, on: on, reason: text(data["reason"])))
        default:
            return nil
        }
    }

    private static func merged(_ primaryID: String, _ data: JSON, _ pii: JSON) -> CustomersMerged {
        func text(_ value: JSON?) -> String? { value?.stringValue }
        func strings(_ value: JSON?) -> [String] { value?.arrayValue?.compactMap(\.stringValue) ?? [] }
        let result = data["result"] ?? .null
        let personal = pii["result"] ?? .null
        var customer = CustomerState(
            id: primaryID,
            firstName: text(personal["first_name"]),
            lastName: text(personal["last_name"]),
            companyName: text(personal["company_name"]),
            jobTitle: text(personal["job_title"]),
            emails: CustomerState.emails(fromEventJSON: personal["emails"] ?? .null),
            phones: CustomerState.phones(fromEventJSON: personal["phones"] ?? .null),
            address: personal["address"].flatMap(CustomerState.PostalAddress.init(json:)),
            custom: (personal["custom"]?.objectValue ?? [:]).compactMapValues(CustomValue.init(json:)),
            tags: strings(result["tags"]),
            ownerID: text(result["owner_id"]),
            tier: text(result["tier"]),
            source: text(result["source"]),
            leadStatus: text(result["lead_status"])
        )
        customer.legalHold = result["legal_hold"]?.boolValue ?? false
        let moved = data["moved"] ?? .null
        return CustomersMerged(
            primaryID: primaryID, secondaryIDs: strings(data["secondary_ids"]), result: customer,
            mergedFrom: strings(data["merged_from"]),
            moved: CustomersMerged.Moved(
                deals: strings(moved["deals"]), tickets: strings(moved["tickets"]),
                activities: strings(moved["activities"]), orders: strings(moved["orders"])
            )
        )
    }

    private static func updated(_ customerID: String, _ data: JSON, _ pii: JSON) -> CustomerUpdated {
        var updated = CustomerUpdated(customerID: customerID)
        var changes = data["changes"]?.objectValue ?? [:]
        for (field, change) in pii["changes"]?.objectValue ?? [:] { changes[field] = change }
        for (field, change) in changes {
            let from = change["from"] ?? .null
            let to = change["to"] ?? .null
            let text = Change(from: from.stringValue, to: to.stringValue)
            switch field {
            case "first_name": updated.firstName = text
            case "last_name": updated.lastName = text
            case "company_name": updated.companyName = text
            case "job_title": updated.jobTitle = text
            case "tier": updated.tier = text
            case "source": updated.source = text
            case "emails":
                updated.emails = Change(
                    from: CustomerState.emails(fromEventJSON: from),
                    to: CustomerState.emails(fromEventJSON: to)
                )
            case "phones":
                updated.phones = Change(
                    from: CustomerState.phones(fromEventJSON: from),
                    to: CustomerState.phones(fromEventJSON: to)
                )
            case "address":
                updated.address = Change(
                    from: CustomerState.PostalAddress(json: from),
                    to: CustomerState.PostalAddress(json: to)
                )
            default:
                guard field.hasPrefix("custom.") else { continue }
                updated.custom[String(field.dropFirst("custom.".count))] = Change(
                    from: CustomValue(json: from),
                    to: CustomValue(json: to)
                )
            }
        }
        return updated
    }

    private static func activity(_ id: String, _ data: JSON, _ pii: JSON) -> ActivityLogged {
        func text(_ value: JSON?) -> String? { value?.stringValue }
        func time(_ value: JSON?) -> Int64? { value?.stringValue.flatMap(Timestamp.parse) }
        var activity = ActivityLogged(
            activityID: id,
            kind: text(data["kind"]),
            customerIDs: data["customer_ids"]?.arrayValue?.compactMap(\.stringValue) ?? []
        )
        activity.dealID = text(data["deal_id"])
        activity.ticketID = text(data["ticket_id"])
        activity.occurredAt = time(data["occurred_at"])
        activity.direction = text(data["direction"])
        activity.durationSec = data["duration_sec"]?.intValue
        activity.startAt = time(data["start_at"])
        activity.endAt = time(data["end_at"])
        activity.outcome = text(data["outcome"])
        activity.ownerID = text(data["owner_id"])
        if let task = data["task"], task.objectValue != nil {
            activity.task = ActivityLogged.Task(dueAt: time(task["due_at"]), status: text(task["status"]))
        }
        activity.subject = text(pii["subject"])
        activity.body = text(pii["body"])
        return activity
    }
}
