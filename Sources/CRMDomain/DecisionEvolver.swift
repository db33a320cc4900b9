/// Folds recorded events into the decision-state tables (`customers`, `emails`, `activities`), the
/// `evolve` half of the domain. It is lenient: a well-formed stored event never makes it throw, and
/// event types it does not know are ignored; only errors of the store itself propagate.
public enum DecisionEvolver {
    /// Applies `event` to `store`.
    public static func apply(_ event: RecordedEvent, to store: any DecisionStateStore) throws {
        switch event.event {
        case .customer(.created(let created)):
            let customer = created.customer
            try store.setCustomer(customer.id, customer)
            for email in customer.emails {
                try store.setRecord(.emails, email.key, Array(customer.id.utf8))
            }
        case .customer(.updated(let updated)):
            try DecisionEvolver.customerUpdated(updated, store)
        case .customer(.tagged(let tagged)):
            try DecisionEvolver.updateCustomer(tagged.customerID, store, personal: false) { customer in
                customer.tags = Set(customer.tags).union(tagged.added).subtracting(tagged.removed).sorted()
            }
        case .customer(.ownerChanged(let changed)):
            try DecisionEvolver.updateCustomer(changed.customerID, store, personal: false) { $0.ownerID = changed.to }
        case .customer(.lifecycleStageChanged(let changed)):
            try DecisionEvolver.updateCustomer(changed.customerID, store, personal: false) {
                $0.lifecycleStage = changed.to
            }
        case .customer(.leadStatusChanged(let changed)):
            try DecisionEvolver.updateCustomer(changed.customerID, store, personal: false) {
                $0.leadStatus = changed.to
            }
        case .customer(.consentChanged(let changed)):
            guard let address = changed.contactPoint else { return }
            try DecisionEvolver.updateCustomer(changed.customerID, store) { customer in
                customer.applyConsent(channel: changed.channel, address: address, status: changed.to)
            }
        case .customer(.activityLogged(let activity)):
            // Its existence (an activity id cannot be reused) and, for an activity of several
            // customers, who they are: its key is destroyed when the last of them is erased.
            let customers = Array(Set(activity.customerIDs)).sorted()
            for id in customers { try store.setLink(id, .activity, activity.activityID, linked: true) }
            guard customers.count > 1 else { return try store.setRecord(.activities, activity.activityID, []) }
            try store.setRecord(.activities, activity.activityID, Array(customers.joined(separator: "\u{0}").utf8))
            for id in customers {
                try DecisionEvolver.updateCustomer(id, store, personal: false) {
                    $0.sharedActivities.append(activity.activityID)
                }
            }
        case .customer(.legalHoldChanged(let changed)):
            try DecisionEvolver.updateCustomer(changed.customerID, store, personal: false) { $0.legalHold = changed.on }
        case .customer(.erased(let erased)):
            try DecisionEvolver.customerErased(erased, event, store)
            try MarketingEvolver.leaveLists(erased.customerID, joining: nil, store)
        case .customer(.merged(let merged)):
            try DecisionEvolver.customersMerged(merged, store)
            for id in merged.secondaryIDs { try MarketingEvolver.leaveLists(id, joining: merged.primaryID, store) }
        default:
            // Sales (pipelines, deals) and service (schedules, SLA policies, tickets) keep their own
            // decision state; each ignores event types it does not know.
            try SalesEvolver.apply(event, to: store)
            try ServiceEvolver.apply(event, to: store)
            try FeedbackEvolver.apply(event, to: store)
            try MarketingEvolver.apply(event, to: store)
            try NotificationEvolver.apply(event, to: store)
        }
    }

    /// The event types whose personal data (`pii`) the decision state reads: customers' contact data
    /// and names (uniqueness of emails, consent, which identity is left), and deal names. Readers that
    /// fold only the decision state leave the others' personal data encrypted.
    /// (Compared in turn rather than hashed into a set: asked for every encrypted event a refold decodes.)
    public static func readsPersonalData(of type: String) -> Bool {
        switch type {
        case EventType.customerCreated, EventType.customerUpdated, EventType.consentChanged, EventType.customersMerged,
            SalesEventType.dealCreated, SalesEventType.dealUpdated:
            true
        default:
            false
        }
    }

    /// Loads the customer `id`, lets `change` modify it and stores it; does nothing for an unknown
    /// customer. Without `personal`, `change` sees no personal values and only the customer's record
    /// (not its personal record) is read and written.
    private static func updateCustomer(
        _ id: String,
        _ store: any DecisionStateStore,
        personal: Bool = true,
        _ change: (inout CustomerState) -> Void
    ) throws {
        guard var customer = try store.customer(id, personal: personal) else { return }
        change(&customer)
        if personal { try store.setCustomer(id, customer) } else { try store.setCustomerRecord(id, customer) }
    }

    /// Clears the customer's personal fields (its record keeps its id, status, stage, tags and what is
    /// not personal), releases its email addresses, adds their keyed hashes to the blocklist and keeps
    /// the erasure's record.
    private static func customerErased(
        _ erased: CustomerErased,
        _ event: RecordedEvent,
        _ store: any DecisionStateStore
    ) throws {
        let id = erased.customerID
        guard var customer = try store.customer(id) else { return }
        for email in customer.emails where try store.customerID(forEmail: email.key) == id {
            try store.setRecord(.emails, email.key, nil)
        }
        customer.status = .erased
        customer.firstName = nil
        customer.lastName = nil
        customer.companyName = nil
        customer.jobTitle = nil
        customer.emails = []
        customer.phones = []
        customer.address = nil
        customer.custom = [:]
        try store.setCustomer(id, customer)
        for hash in erased.emailHashes { try store.setRecord(.erasedEmails, hash, Array(id.utf8)) }
        let erasure = CustomerErasure(
            seq: event.seq, at: event.recordedAt, keyIDs: erased.keyIDs, emailHashes: erased.emailHashes,
            phoneHashes: erased.phoneHashes, erasedFields: erased.erasedFields
        )
        try store.setRecord(.erasures, id, erasure.encoded())
    }

    /// Makes the primary the merge's result (keeping its stage; its key ring and shared activities
    /// grow by the secondaries'), turns the secondaries into tombstones that point at it, gives it
    /// their email addresses, and re-points their deals, tickets and shared activities.
    private static func customersMerged(_ merged: CustomersMerged, _ store: any DecisionStateStore) throws {
        let primaryID = merged.primaryID
        guard var primary = try store.customer(primaryID, personal: false) else { return }
        let secondaryIDs = Set(merged.secondaryIDs)
        var sharedActivities = primary.sharedActivities
        for id in merged.secondaryIDs {
            guard var secondary = try store.customer(id, personal: false) else { continue }
            sharedActivities += secondary.sharedActivities.filter { !sharedActivities.contains($0) }
            secondary = CustomerState(
                id: id, status: .merged, mergedInto: primaryID, tags: secondary.tags, ownerID: secondary.ownerID,
                tier: secondary.tier, source: secondary.source, lifecycleStage: secondary.lifecycleStage,
                leadStatus: secondary.leadStatus
            )
            try store.setCustomerRecord(id, secondary)
            try store.setRecord(.customerPersonal, id, nil)
        }
        var result = merged.result
        result.id = primaryID
        result.status = .active
        result.mergedInto = nil
        result.lifecycleStage = primary.lifecycleStage
        result.sharedActivities = sharedActivities
        result.mergedFrom = merged.mergedFrom
        primary = result
        try store.setCustomer(primaryID, primary)
        for email in primary.emails { try store.setRecord(.emails, email.key, Array(primaryID.utf8)) }

        func repoint(_ ids: [String]) -> [String] {
            var seen = Set<String>()
            return ids.map { secondaryIDs.contains($0) ? primaryID : $0 }.filter { seen.insert($0).inserted }
        }
        for dealID in merged.moved.deals {
            if var deal = try store.deal(dealID) {
                deal.customerIDs = repoint(deal.customerIDs)
                try store.setDeal(dealID, deal)
            }
        }
        for ticketID in merged.moved.tickets {
            if var ticket = try store.ticket(ticketID) {
                ticket.customerID = primaryID
                try store.setTicket(ticketID, ticket)
            }
        }
        for activityID in merged.moved.activities {
            if let customers = try store.sharedActivityCustomers(activityID) {
                let joined = repoint(customers).sorted().joined(separator: "\u{0}")
                try store.setRecord(.activities, activityID, Array(joined.utf8))
            }
        }
        for orderID in merged.moved.orders {
            if var order = try store.order(orderID) {
                order.customerID = primaryID
                try store.setRecord(.orders, orderID, order.encoded())
            }
        }
        for (kind, records) in [
            (CustomerLink.deal, merged.moved.deals), (.ticket, merged.moved.tickets),
            (.activity, merged.moved.activities), (.order, merged.moved.orders),
        ] {
            for record in records {
                for id in merged.secondaryIDs { try store.setLink(id, kind, record, linked: false) }
                try store.setLink(primaryID, kind, record, linked: true)
            }
        }
    }

    private static func customerUpdated(_ updated: CustomerUpdated, _ store: any DecisionStateStore) throws {
        let id = updated.customerID
        guard let old = try store.customer(id) else { return }
        let new = updated.applied(to: old)
        try store.setCustomer(id, new)
        guard updated.emails != nil else { return }
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
