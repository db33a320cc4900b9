import CRMDomain
import LMDB

/// The consent status that marks an address as opted out.
private let optedOut = "opted_out"

extension CustomerProfileProjector {
    // MARK: - Dispatch

    /// Loads the customer `customerID`, runs `fold`, bumps `version`/`updated_at`, stores the profile
    /// and the timeline entry `fold` returns for `event`. Skips customers that are not in the table.
    /// Without `personal`, `fold` sees no personal fields and only the plain row is read and written
    /// (nothing is decrypted or sealed).
    func applyToCustomer(
        _ customerID: String,
        _ event: RecordedEvent,
        _ txn: Transaction,
        personal: Bool = true,
        _ fold: (inout CustomerProfile) throws -> TimelineNote?
    ) throws {
        guard var profile = try self.loadProfile(customerID, personal: personal, txn) else { return }
        let note = try fold(&profile)
        profile.version = event.streamVersion
        profile.updatedAt = event.occurredAt
        try self.storeProfile(profile, for: event, personal: personal, txn)
        if let note {
            try self.putTimelineEntry(note, for: event, customerID: customerID, txn)
        }
    }

    // MARK: - CustomerCreated

    /// Inserts the profile and its index rows.
    func applyCustomerCreated(_ created: CustomerCreated, _ event: RecordedEvent, _ txn: Transaction) throws {
        let customerID = created.customerID
        var profile = CustomerProfile(
            customerID: customerID,
            version: event.streamVersion,
            createdAt: event.occurredAt,
            lifecycleStage: created.lifecycleStage
        )
        profile.firstName = created.firstName
        profile.lastName = created.lastName
        profile.emails = Self.profileEmails(created.emails, previous: [])
        profile.phones = Self.profilePhones(created.phones, previous: [])
        profile.companyName = created.companyName
        profile.jobTitle = created.jobTitle
        profile.address = created.address
        profile.ownerID = created.ownerID
        profile.tags = Set(created.tags).sorted()
        profile.tier = created.tier
        profile.source = created.source
        profile.leadStatus = created.leadStatus
        profile.custom = created.custom
        // A profile already stored under this id (only possible when replaying without a clear) is
        // replaced, so its index rows go first.
        let old = try self.loadProfile(customerID, txn)
        try self.reindex(customerID, from: old, to: profile, txn)
        try self.storeProfile(profile, for: event, txn)
        try self.storeStats(ProfileStats(), of: customerID, txn)
        let note = TimelineNote.customerCreated(customerID: customerID, stage: created.lifecycleStage)
        try self.putTimelineEntry(note, for: event, customerID: customerID, txn)
    }

    // MARK: - CustomerUpdated

    /// Applies every `from → to` of the event; re-indexes emails and phones.
    func foldCustomerUpdated(_ profile: inout CustomerProfile, _ updated: CustomerUpdated, _ txn: Transaction) throws
        -> TimelineNote?
    {
        let before = profile
        if let change = updated.firstName { profile.firstName = change.to }
        if let change = updated.lastName { profile.lastName = change.to }
        if let change = updated.companyName { profile.companyName = change.to }
        if let change = updated.jobTitle { profile.jobTitle = change.to }
        if let change = updated.tier { profile.tier = change.to }
        if let change = updated.source { profile.source = change.to }
        if let change = updated.address { profile.address = change.to }
        if let change = updated.emails { profile.emails = Self.profileEmails(change.to, previous: profile.emails) }
        if let change = updated.phones { profile.phones = Self.profilePhones(change.to, previous: profile.phones) }
        for (key, change) in updated.custom { profile.custom[key] = change.to }
        try self.reindex(updated.customerID, from: before, to: profile, txn)
        return .customerUpdated(updated)
    }

    // MARK: - CustomerTagged

    /// Adds and removes the tags, keeping them sorted; updates the tag index.
    func foldCustomerTagged(_ profile: inout CustomerProfile, _ tagged: CustomerTagged, _ txn: Transaction) throws
        -> TimelineNote?
    {
        let before = profile
        var tags = Set(profile.tags)
        tags.formUnion(tagged.added)
        tags.subtract(tagged.removed)
        profile.tags = tags.sorted()
        try self.reindex(tagged.customerID, from: before, to: profile, txn)
        return .customerTagged(customerID: tagged.customerID, added: tagged.added, removed: tagged.removed)
    }

    // MARK: - CustomerOwnerChanged, LeadStatusChanged

    /// Sets `owner_id`.
    static func foldOwnerChanged(_ profile: inout CustomerProfile, _ changed: CustomerOwnerChanged) -> TimelineNote? {
        profile.ownerID = changed.to
        return .ownerChanged(customerID: changed.customerID, from: changed.from, to: changed.to)
    }

    /// Sets `lead_status`.
    static func foldLeadStatusChanged(_ profile: inout CustomerProfile, _ changed: LeadStatusChanged) -> TimelineNote? {
        profile.leadStatus = changed.to
        return .leadStatusChanged(customerID: changed.customerID, from: changed.from, to: changed.to)
    }

    // MARK: - LifecycleStageChanged

    /// Closes the open history entry at the event time `at` and opens one for the new stage.
    static func foldLifecycleStageChanged(
        _ profile: inout CustomerProfile,
        _ changed: LifecycleStageChanged,
        at millis: Int64
    ) -> TimelineNote? {
        for index in profile.lifecycleHistory.indices where profile.lifecycleHistory[index].exitedAt == nil {
            profile.lifecycleHistory[index].exitedAt = millis
        }
        profile.lifecycleHistory.append(CustomerProfile.LifecycleEntry(stage: changed.to, enteredAt: millis))
        profile.lifecycleStage = changed.to
        profile.lifecycleEnteredAt = millis
        return .lifecycleChanged(
            customerID: changed.customerID, from: changed.from, to: changed.to, source: changed.source
        )
    }

    // MARK: - ConsentChanged

    /// Records the consent on the matching email (with `consent_at`, `legal_basis`, and
    /// `opted_out ⇔ to == opted_out`) or phone entry; the phone channel also sets `do_not_call`.
    /// Without a contact point, a customer with a single address on that channel gets the change.
    static func foldConsentChanged(
        _ profile: inout CustomerProfile,
        _ changed: ConsentChanged,
        at millis: Int64
    ) -> TimelineNote? {
        let channel = changed.channel
        let status = changed.to
        let address = changed.contactPoint
        switch channel {
        case "email":
            let key = address.map(ProfileKeys.emailKey)
            let single = profile.emails.count == 1
            for index in profile.emails.indices
            where key.map({ ProfileKeys.emailKey(profile.emails[index].address) == $0 }) ?? single {
                profile.emails[index].consent = status
                profile.emails[index].consentAt = millis
                profile.emails[index].legalBasis = changed.legalBasis
                profile.emails[index].optedOut = status == optedOut
            }
        case "phone", "sms":
            let key = address.map { ProfileKeys.normalizedPhone($0) ?? $0 }
            let single = profile.phones.count == 1
            for index in profile.phones.indices where key.map({ profile.phones[index].normalized == $0 }) ?? single {
                profile.phones[index].consent = status
            }
            if channel == "phone" { profile.doNotCall = status == optedOut }
        default:
            return nil
        }
        return .consentChanged(customerID: changed.customerID, channel: channel, from: changed.from, to: status)
    }

    // MARK: - ActivityLogged

    /// For each customer of the activity: counts it, moves `last_activity_at` (and `last_contacted_at`
    /// for outbound activities and meetings) forward, and adds a timeline entry at the activity's
    /// `occurred_at`. The activity stream is not the customer's, so `version`/`updated_at` stay.
    func applyActivityLogged(_ activity: ActivityLogged, _ event: RecordedEvent, _ txn: Transaction) throws {
        let type = activity.kind ?? "note"
        let occurredAt = activity.occurredAt ?? event.occurredAt
        let contacted = activity.direction == "outbound" || type == "meeting"
        let note = TimelineNote.activity(
            activityID: activity.activityID, type: type, subject: activity.subject, direction: activity.direction
        )
        for customerID in activity.customerIDs.uniqued() {
            guard var stats = try self.loadStats(customerID, txn) else { continue }
            stats.activityCounts[type, default: 0] += 1
            stats.lastActivityAt = max(stats.lastActivityAt ?? occurredAt, occurredAt)
            if contacted { stats.lastContactedAt = max(stats.lastContactedAt ?? occurredAt, occurredAt) }
            try self.storeStats(stats, of: customerID, txn)
            try self.putTimelineEntry(note, for: event, customerID: customerID, at: occurredAt, txn)
        }
    }

    // MARK: - CustomerErased

    /// Clears the customer's personal fields (state `erased`; id, stage, tags, owner and stats stay),
    /// stores the profile without a key, removes its index rows, removes the timeline entries that
    /// would show personal data (those that take it from their events: a shared activity's key may
    /// outlive the erasure, its link to this customer does not) and adds a `customer.erased` entry.
    /// Nothing left depends on the destroyed keys, so a rebuild after the erasure ends with the same
    /// rows.
    func applyCustomerErased(_ erased: CustomerErased, _ event: RecordedEvent, _ txn: Transaction) throws {
        let customerID = erased.customerID
        guard let old = try self.loadProfile(customerID, txn) else { return }
        var profile = old
        profile.state = "erased"
        profile.firstName = nil
        profile.lastName = nil
        profile.emails = []
        profile.phones = []
        profile.companyName = nil
        profile.jobTitle = nil
        profile.address = nil
        profile.custom = [:]
        profile.version = event.streamVersion
        profile.updatedAt = event.occurredAt
        try self.reindex(customerID, from: old, to: profile, txn)
        try self.storeTombstone(profile, txn)
        let prefix = ProfileKeys.timelinePrefix(customerID)
        let what = "timeline entry of customer \(customerID)"
        let personal = try txn.withCursor(self.profiles) { cursor -> [[UInt8]] in
            var keys: [[UInt8]] = []
            var entry = try cursor.seek(atOrAfter: prefix)
            while let found = entry, found.key.starts(with: prefix) {
                let row = try TimelineRow(decoding: found.valueBytes, what: what)
                if row.personalInEvent { keys.append(found.keyBytes) }
                entry = try cursor.next()
            }
            return keys
        }
        for key in personal { _ = try txn.delete(self.profiles, key) }
        let note = TimelineNote.customerErased(customerID: customerID, fields: erased.erasedFields)
        try self.putTimelineEntry(note, for: event, customerID: customerID, txn)
    }

    // MARK: - Indexes

    /// Moves the email, phone, tag and name index rows of `customerID` from what `old` lists to what
    /// `new` lists. An email row is removed only while it still points at this customer. Index keys
    /// of personal values are keyed hashes, computed only for what changed.
    func reindex(_ customerID: String, from old: CustomerProfile?, to new: CustomerProfile, _ txn: Transaction) throws {
        // Most events change none of the indexed lists: the sets are built only for a list that did.
        let idBytes = Array(customerID.utf8)
        if old.map({ !$0.emails.elementsEqual(new.emails) { $0.address == $1.address } }) ?? true {
            let oldEmails = Set((old?.emails ?? []).map { ProfileKeys.emailKey($0.address) })
            let newEmails = Set(new.emails.map { ProfileKeys.emailKey($0.address) })
            if oldEmails != newEmails || old == nil {
                for email in oldEmails.subtracting(newEmails) {
                    let key = self.personalIndexKey(email)
                    if try txn.get(self.emails, key) == idBytes { try txn.delete(self.emails, key) }
                }
                for email in newEmails { try txn.put(self.emails, self.personalIndexKey(email), idBytes) }
            }
        }

        if old.map({ !$0.phones.elementsEqual(new.phones) { $0.normalized == $1.normalized } }) ?? true {
            let oldPhones = Set((old?.phones ?? []).map(\.normalized))
            let newPhones = Set(new.phones.map(\.normalized))
            for number in oldPhones.subtracting(newPhones) {
                try txn.delete(self.phones, ProfileKeys.pairKey(self.personalIndexKey(number), customerID))
            }
            for number in newPhones.subtracting(oldPhones) {
                try txn.put(self.phones, ProfileKeys.pairKey(self.personalIndexKey(number), customerID), [UInt8]())
            }
        }

        if old?.tags != new.tags {
            let oldTags = Set(old?.tags ?? [])
            let newTags = Set(new.tags)
            for tag in oldTags.subtracting(newTags) {
                try txn.delete(self.tags, ProfileKeys.pairKey(Array(tag.utf8), customerID))
            }
            for tag in newTags.subtracting(oldTags) {
                try txn.put(self.tags, ProfileKeys.pairKey(Array(tag.utf8), customerID), [UInt8]())
            }
        }

        guard old?.firstName != new.firstName || old?.lastName != new.lastName || old?.companyName != new.companyName
        else { return }
        let oldName = old.flatMap {
            ProfileKeys.nameCompanyKey(first: $0.firstName, last: $0.lastName, company: $0.companyName)
        }
        let newName = ProfileKeys.nameCompanyKey(first: new.firstName, last: new.lastName, company: new.companyName)
        if oldName != newName {
            if let oldName {
                try txn.delete(self.names, ProfileKeys.pairKey(self.personalIndexKey(oldName), customerID))
            }
            if let newName {
                try txn.put(self.names, ProfileKeys.pairKey(self.personalIndexKey(newName), customerID), [UInt8]())
            }
        }
    }

    // MARK: - Profile pieces

    /// Profile email entries for the event's list, keeping `consent`, `consent_at` and `legal_basis`
    /// of addresses already in `previous`.
    static func profileEmails(
        _ list: [CustomerState.Email],
        previous: [CustomerProfile.Email]
    ) -> [CustomerProfile.Email] {
        var kept: [String: CustomerProfile.Email] = [:]
        for entry in previous { kept[ProfileKeys.emailKey(entry.address)] = entry }
        return list.map { email in
            let old = kept[ProfileKeys.emailKey(email.address)]
            return CustomerProfile.Email(
                address: email.address,
                primary: email.primary,
                optedOut: email.optedOut,
                invalid: email.invalid,
                consent: old?.consent ?? Validation.consentNotSet,
                consentAt: old?.consentAt,
                legalBasis: old?.legalBasis
            )
        }
    }

    /// Profile phone entries for the event's list, keeping `consent` of numbers (matched normalized)
    /// already in `previous`.
    static func profilePhones(
        _ list: [CustomerState.Phone],
        previous: [CustomerProfile.Phone]
    ) -> [CustomerProfile.Phone] {
        var kept: [String: CustomerProfile.Phone] = [:]
        for entry in previous { kept[entry.normalized] = entry }
        return list.map { phone in
            CustomerProfile.Phone(
                number: phone.number,
                normalized: phone.normalized,
                type: phone.type,
                primary: phone.primary,
                consent: kept[phone.normalized]?.consent ?? Validation.consentNotSet
            )
        }
    }
}
