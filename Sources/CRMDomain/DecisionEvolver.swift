import CRMJSON

/// Folds recorded events into the decision-state tables (`customers`, `emails`, `activities`), the
/// `evolve` half of the domain. It is lenient: a well-formed stored event never makes it throw, and
/// event types it does not know are ignored; only errors of the store itself propagate.
public enum DecisionEvolver {
    /// Applies `event` to `store`.
    public static func apply(_ event: RecordedEvent, to store: any DecisionStateStore) throws {
        switch event.type {
        case EventType.customerCreated:
            try DecisionEvolver.customerCreated(event, store)
        case EventType.customerUpdated:
            try DecisionEvolver.customerUpdated(event, store)
        case EventType.customerTagged:
            try DecisionEvolver.updateCustomer(event, store) { customer in
                let added = event.data["added"]?.arrayValue?.compactMap(\.stringValue) ?? []
                let removed = Set(event.data["removed"]?.arrayValue?.compactMap(\.stringValue) ?? [])
                customer.tags = Set(customer.tags).union(added).subtracting(removed).sorted()
            }
        case EventType.customerOwnerChanged:
            try DecisionEvolver.updateCustomer(event, store) { customer in
                customer.ownerID = event.data["to"]?.stringValue
            }
        case EventType.lifecycleStageChanged:
            try DecisionEvolver.updateCustomer(event, store) { customer in
                if let stage = event.data["to"]?.stringValue { customer.lifecycleStage = stage }
            }
        case EventType.leadStatusChanged:
            try DecisionEvolver.updateCustomer(event, store) { customer in
                customer.leadStatus = event.data["to"]?.stringValue
            }
        case EventType.consentChanged:
            try DecisionEvolver.updateCustomer(event, store) { customer in
                guard let channel = event.data["channel"]?.stringValue, let status = event.data["to"]?.stringValue,
                    let address = event.pii["contact_point"]?.stringValue
                else { return }
                customer.applyConsent(channel: channel, address: address, status: status)
            }
        case EventType.activityLogged:
            guard let id = event.data["activity_id"]?.stringValue else { return }
            let marker: JSON = ["type": event.data["kind"] ?? .null, "customer_ids": event.data["customer_ids"] ?? []]
            try store.setRecord(.activities, id, marker.serialized())
        default:
            // Sales (pipelines, deals) and service (schedules, SLA policies, tickets) keep their own
            // decision state; each ignores event types it does not know.
            try SalesEvolver.apply(event, to: store)
            try ServiceEvolver.apply(event, to: store)
        }
    }

    /// The customer id of a customer event: `data.customer_id`, else the stream name.
    private static func customerID(of event: RecordedEvent) -> String? {
        if let id = event.data["customer_id"]?.stringValue { return id }
        let prefix = "customer-"
        guard event.stream.hasPrefix(prefix) else { return nil }
        return String(event.stream.dropFirst(prefix.count))
    }

    /// Loads the customer of `event`, lets `change` modify it and stores it; does nothing for an
    /// unknown customer.
    private static func updateCustomer(
        _ event: RecordedEvent,
        _ store: any DecisionStateStore,
        _ change: (inout CustomerState) -> Void
    ) throws {
        guard let id = DecisionEvolver.customerID(of: event), var customer = try store.customer(id) else { return }
        change(&customer)
        try store.setCustomer(id, customer)
    }

    private static func customerCreated(_ event: RecordedEvent, _ store: any DecisionStateStore) throws {
        guard let id = DecisionEvolver.customerID(of: event) else { return }
        let data = event.data
        let pii = event.pii
        let customer = CustomerState(
            id: id,
            firstName: pii["first_name"]?.stringValue,
            lastName: pii["last_name"]?.stringValue,
            companyName: pii["company_name"]?.stringValue,
            jobTitle: pii["job_title"]?.stringValue,
            emails: CustomerState.emails(fromEventJSON: pii["emails"] ?? .null),
            phones: CustomerState.phones(fromEventJSON: pii["phones"] ?? .null),
            address: pii["address"].flatMap(CustomerState.PostalAddress.init(json:)),
            custom: pii["custom"]?.objectValue ?? [:],
            tags: Array(Set(data["tags"]?.arrayValue?.compactMap(\.stringValue) ?? [])).sorted(),
            ownerID: data["owner_id"]?.stringValue,
            tier: data["tier"]?.stringValue,
            source: data["source"]?.stringValue,
            lifecycleStage: data["lifecycle_stage"]?.stringValue ?? Validation.defaultLifecycleStage,
            leadStatus: data["lead_status"]?.stringValue
        )
        try store.setCustomer(id, customer)
        for email in customer.emails {
            try store.setRecord(.emails, email.key, Array(id.utf8))
        }
    }

    private static func customerUpdated(_ event: RecordedEvent, _ store: any DecisionStateStore) throws {
        guard let id = DecisionEvolver.customerID(of: event), let old = try store.customer(id) else { return }
        var changes = event.data["changes"]?.objectValue ?? [:]
        for (field, change) in event.pii["changes"]?.objectValue ?? [:] { changes[field] = change }
        var new = old
        for (field, change) in changes {
            let to = change["to"] ?? .null
            switch field {
            case "first_name": new.firstName = to.stringValue
            case "last_name": new.lastName = to.stringValue
            case "company_name": new.companyName = to.stringValue
            case "job_title": new.jobTitle = to.stringValue
            case "tier": new.tier = to.stringValue
            case "source": new.source = to.stringValue
            case "address": new.address = CustomerState.PostalAddress(json: to)
            case "emails":
                new.emails = CustomerState.emails(fromEventJSON: to).map { email in
                    var email = email
                    if let kept = old.emails.first(where: { $0.key == email.key }) { email.consent = kept.consent }
                    return email
                }
            case "phones":
                new.phones = CustomerState.phones(fromEventJSON: to).map { phone in
                    var phone = phone
                    if let kept = old.phones.first(where: { $0.normalized == phone.normalized }) {
                        phone.doNotCall = kept.doNotCall
                        phone.consent = kept.consent
                        phone.smsConsent = kept.smsConsent
                    }
                    return phone
                }
            default:
                if field.hasPrefix("custom.") {
                    let key = String(field.dropFirst("custom.".count))
                    if to.isNull {
                        new.custom.removeValue(forKey: key)
                    } else {
                        new.custom[key] = to
                    }
                }
            }
        }
        try store.setCustomer(id, new)
        guard changes["emails"] != nil else { return }
        // Release the addresses this customer no longer holds, then index the ones it holds now.
        let newKeys = Set(new.emails.map(\.key))
        for email in old.emails where !newKeys.contains(email.key) {
            if try store.customerID(forEmail: email.key) == id {
                try store.setRecord(.emails, email.key, nil)
            }
        }
        for key in newKeys.sorted() {
            try store.setRecord(.emails, key, Array(id.utf8))
        }
    }
}
