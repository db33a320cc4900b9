import CRMDomain
import CRMEventStore
import CRMJSON
import LMDB

/// What a fold adds to a customer's timeline, besides the envelope facts (`at`, `seq`, `actor`).
struct TimelineNote {
    /// `customer.created`, `activity.call`, ….
    var kind: String
    /// The id of the record the entry is about (the customer, or the activity).
    var refID: String?
    /// One line for humans.
    var summary: String
    /// Further members of the entry (`changes` for `customer.updated`).
    var extra: [String: JSON] = [:]
}

/// The consent status that marks an address as opted out.
private let optedOut = "opted_out"

/// The activity types counted in `stats.activity_counts`, all present from creation.
private let activityTypes = ["call", "email", "meeting", "note", "task"]

extension CustomerProfileProjector {
    // MARK: - Dispatch

    /// Loads the customer `customerID`, runs `fold`, bumps `version`/`updated_at`, stores the profile
    /// and the timeline entry `fold` returns for `event`. Skips customers that are not in the table.
    func applyToCustomer(
        _ customerID: String,
        _ event: RecordedEvent,
        _ txn: Transaction,
        _ fold: (inout JSONDocument) throws -> TimelineNote?
    ) throws {
        guard var profile = try self.loadProfile(customerID, txn) else { return }
        let note = try fold(&profile)
        profile["version"] = .int(Int64(truncatingIfNeeded: event.streamVersion))
        profile["updated_at"] = .string(Timestamp.format(event.occurredAt))
        try self.storeProfile(profile, customerID, txn)
        if let note {
            try self.putTimelineEntry(note, for: event, customerID: customerID, txn)
        }
    }

    /// The canonical text of a timeline entry `{at, seq, kind, ref_id, summary, actor, …extra}`. An
    /// entry is written for nearly every event, so its members are written in key order directly;
    /// the few kinds with extra members merge them in as a ``JSONDocument``.
    static func timelineEntry(_ note: TimelineNote, _ event: RecordedEvent, at: Int64) throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(160 + note.summary.utf8.count)
        out.append(contentsOf: #"{"actor":"#.utf8)
        event.actor.write(into: &out)
        out.append(contentsOf: #","at":"#.utf8)
        Timestamp.writeQuoted(at, into: &out)
        out.append(contentsOf: #","kind":"#.utf8)
        JSON.writeString(note.kind, into: &out)
        out.append(contentsOf: #","ref_id":"#.utf8)
        JSON.string(note.refID).write(into: &out)
        out.append(contentsOf: #","seq":"#.utf8)
        JSON.writeInt(Int64(truncatingIfNeeded: event.seq), into: &out)
        out.append(contentsOf: #","summary":"#.utf8)
        JSON.writeString(note.summary, into: &out)
        out.append(UInt8(ascii: "}"))
        guard !note.extra.isEmpty else { return out }
        var entry = try JSONDocument(canonical: out)
        for (key, value) in note.extra { entry[key] = value }
        return entry.serialized()
    }

    // MARK: - CustomerCreated

    /// Inserts the profile and its index rows.
    func applyCustomerCreated(_ created: CustomerCreated, _ event: RecordedEvent, _ txn: Transaction) throws {
        let customerID = created.customerID
        let createdAt = JSON.string(Timestamp.format(event.occurredAt))
        let stage = JSON.string(created.lifecycleStage)
        let profile: JSON = [
            "customer_id": .string(customerID),
            "state": "active",
            "merged_into": nil,
            "merged_from": [],
            "version": .int(Int64(truncatingIfNeeded: event.streamVersion)),
            "created_at": createdAt,
            "updated_at": createdAt,
            "name": Self.name(first: created.firstName, last: created.lastName),
            "emails": .array(Self.profileEmails(created.emails, previous: [])),
            "phones": .array(Self.profilePhones(created.phones, previous: [])),
            "do_not_call": false,
            "company_name": .string(created.companyName),
            "job_title": .string(created.jobTitle),
            "address": created.address?.json ?? .null,
            "owner_id": .string(created.ownerID),
            "tags": .strings(Self.sortedSet(created.tags)),
            "tier": .string(created.tier),
            "source": .string(created.source),
            "lifecycle": [
                "stage": stage, "entered_at": createdAt,
                "history": [["stage": stage, "entered_at": createdAt, "exited_at": nil]],
            ],
            "lead_status": .string(created.leadStatus),
            "custom": .object(created.custom.mapValues(\.json)),
            "stats": [
                "open_tickets": 0, "tickets_total": 0, "open_deals": 0, "won_deals": 0, "won_amount": [:],
                "last_activity_at": nil, "last_contacted_at": nil,
                "activity_counts": .object(Dictionary(uniqueKeysWithValues: activityTypes.map { ($0, JSON.int(0)) })),
            ],
            "value": nil,
        ]
        // A profile already stored under this id (only possible when replaying without a clear) is
        // replaced, so its index rows go first.
        let old = try self.loadProfile(customerID, txn)
        try self.reindex(customerID, from: old, to: profile, txn)
        try self.storeProfile(profile, customerID, txn)
        let note = TimelineNote(
            kind: "customer.created",
            refID: customerID,
            summary: "Customer created as \(created.lifecycleStage)"
        )
        try self.putTimelineEntry(note, for: event, customerID: customerID, txn)
    }

    // MARK: - CustomerUpdated

    /// Applies every `from → to` of the event; re-indexes emails and phones.
    func foldCustomerUpdated(_ profile: inout JSONDocument, _ updated: CustomerUpdated, _ txn: Transaction) throws
        -> TimelineNote?
    {
        let before = profile
        if updated.firstName != nil || updated.lastName != nil {
            let name = profile["name"] ?? [:]
            profile["name"] = Self.name(
                first: updated.firstName.map(\.to) ?? name["first"]?.stringValue,
                last: updated.lastName.map(\.to) ?? name["last"]?.stringValue
            )
        }
        if let change = updated.companyName { profile["company_name"] = .string(change.to) }
        if let change = updated.jobTitle { profile["job_title"] = .string(change.to) }
        if let change = updated.tier { profile["tier"] = .string(change.to) }
        if let change = updated.source { profile["source"] = .string(change.to) }
        if let change = updated.address { profile["address"] = change.to?.json ?? .null }
        if let change = updated.emails {
            profile["emails"] = .array(Self.profileEmails(change.to, previous: profile["emails"]?.arrayValue ?? []))
        }
        if let change = updated.phones {
            profile["phones"] = .array(Self.profilePhones(change.to, previous: profile["phones"]?.arrayValue ?? []))
        }
        if !updated.custom.isEmpty {
            var custom = profile["custom"]?.objectValue ?? [:]
            for (key, change) in updated.custom {
                if let value = change.to { custom[key] = value.json } else { custom.removeValue(forKey: key) }
            }
            profile["custom"] = .object(custom)
        }
        try self.reindex(updated.customerID, from: before, to: profile, txn)
        let fields = updated.changedFields
        let payload = EventCodec.payload(.customer(.updated(updated)))
        var changes = payload.data["changes"]?.objectValue ?? [:]
        for (field, change) in payload.pii["changes"]?.objectValue ?? [:] { changes[field] = change }
        return TimelineNote(
            kind: "customer.updated",
            refID: updated.customerID,
            summary: fields.isEmpty ? "Customer updated" : "Updated \(fields.joined(separator: ", "))",
            extra: ["changes": .object(changes)]
        )
    }

    // MARK: - CustomerTagged

    /// Adds and removes the tags, keeping them sorted; updates the tag index.
    func foldCustomerTagged(_ profile: inout JSONDocument, _ tagged: CustomerTagged, _ txn: Transaction) throws
        -> TimelineNote?
    {
        let before = profile
        var tags = Set(Self.strings(profile["tags"]))
        tags.formUnion(tagged.added)
        tags.subtract(tagged.removed)
        profile["tags"] = .strings(tags.sorted())
        try self.reindex(tagged.customerID, from: before, to: profile, txn)
        var parts: [String] = []
        if !tagged.added.isEmpty { parts.append("added \(tagged.added.joined(separator: ", "))") }
        if !tagged.removed.isEmpty { parts.append("removed \(tagged.removed.joined(separator: ", "))") }
        return TimelineNote(
            kind: "customer.tagged",
            refID: tagged.customerID,
            summary: parts.isEmpty ? "Tags unchanged" : "Tags \(parts.joined(separator: "; "))"
        )
    }

    // MARK: - CustomerOwnerChanged, LeadStatusChanged

    /// Sets `owner_id`.
    static func foldOwnerChanged(_ profile: inout JSONDocument, _ changed: CustomerOwnerChanged) -> TimelineNote? {
        profile["owner_id"] = .string(changed.to)
        return TimelineNote(
            kind: "customer.owner_changed",
            refID: changed.customerID,
            summary: "Owner changed from \(changed.from ?? "nobody") to \(changed.to ?? "nobody")"
        )
    }

    /// Sets `lead_status`.
    static func foldLeadStatusChanged(_ profile: inout JSONDocument, _ changed: LeadStatusChanged) -> TimelineNote? {
        profile["lead_status"] = .string(changed.to)
        return TimelineNote(
            kind: "customer.lead_status_changed",
            refID: changed.customerID,
            summary: "Lead status \(changed.from ?? "none") → \(changed.to ?? "none")"
        )
    }

    // MARK: - LifecycleStageChanged

    /// Closes the open history entry at the event time `at` and opens one for the new stage.
    static func foldLifecycleStageChanged(
        _ profile: inout JSONDocument,
        _ changed: LifecycleStageChanged,
        at millis: Int64
    ) -> TimelineNote? {
        let stage = changed.to
        let at = JSON.string(Timestamp.format(millis))
        var lifecycle = profile["lifecycle"]?.objectValue ?? [:]
        var history = lifecycle["history"]?.arrayValue ?? []
        for index in history.indices where history[index]["exited_at"]?.isNull ?? true {
            history[index]["exited_at"] = at
        }
        history.append(["stage": .string(stage), "entered_at": at, "exited_at": nil])
        lifecycle["history"] = .array(history)
        lifecycle["stage"] = .string(stage)
        lifecycle["entered_at"] = at
        profile["lifecycle"] = .object(lifecycle)
        var summary = "Lifecycle stage \(changed.from ?? "none") → \(stage)"
        if let source = changed.source { summary += " (\(source))" }
        return TimelineNote(kind: "lifecycle.changed", refID: changed.customerID, summary: summary)
    }

    // MARK: - ConsentChanged

    /// Records the consent on the matching email (with `consent_at`, `legal_basis`, and
    /// `opted_out ⇔ to == opted_out`) or phone entry; the phone channel also sets `do_not_call`.
    /// Without a contact point, a customer with a single address on that channel gets the change.
    static func foldConsentChanged(
        _ profile: inout JSONDocument,
        _ changed: ConsentChanged,
        at millis: Int64
    ) -> TimelineNote? {
        let channel = changed.channel
        let status = changed.to
        let address = changed.contactPoint
        switch channel {
        case "email":
            var emails = profile["emails"]?.arrayValue ?? []
            let key = address.map(ProfileKeys.emailKey)
            for index in emails.indices
            where key.map({ ProfileKeys.emailKey(emails[index]["address"]?.stringValue ?? "") == $0 })
                ?? (emails.count == 1)
            {
                emails[index]["consent"] = .string(status)
                emails[index]["consent_at"] = .string(Timestamp.format(millis))
                emails[index]["legal_basis"] = .string(changed.legalBasis)
                emails[index]["opted_out"] = .bool(status == optedOut)
            }
            profile["emails"] = .array(emails)
        case "phone", "sms":
            var phones = profile["phones"]?.arrayValue ?? []
            let key = address.map { ProfileKeys.normalizedPhone($0) ?? $0 }
            for index in phones.indices
            where key.map({ phones[index]["normalized"]?.stringValue == $0 }) ?? (phones.count == 1) {
                phones[index]["consent"] = .string(status)
            }
            profile["phones"] = .array(phones)
            if channel == "phone" { profile["do_not_call"] = .bool(status == optedOut) }
        default:
            return nil
        }
        let label = ["email": "Email", "phone": "Phone", "sms": "SMS"][channel] ?? channel
        return TimelineNote(
            kind: "customer.consent_changed",
            refID: changed.customerID,
            summary: "\(label) consent \(changed.from ?? "not_set") → \(status)"
        )
    }

    // MARK: - ActivityLogged

    /// For each customer of the activity: counts it, moves `last_activity_at` (and `last_contacted_at`
    /// for outbound activities and meetings) forward, and adds a timeline entry at the activity's
    /// `occurred_at`. The activity stream is not the customer's, so `version`/`updated_at` stay.
    func applyActivityLogged(_ activity: ActivityLogged, _ event: RecordedEvent, _ txn: Transaction) throws {
        let type = activity.kind ?? "note"
        let direction = activity.direction
        let occurredAt = activity.occurredAt ?? event.occurredAt
        let contacted = direction == "outbound" || type == "meeting"
        let summary: String
        if let subject = activity.subject, !subject.isEmpty {
            summary = subject
        } else if let direction {
            summary = "\(Self.capitalized(direction)) \(type)"
        } else {
            summary = Self.capitalized(type)
        }
        let note = TimelineNote(kind: "activity.\(type)", refID: activity.activityID, summary: summary)
        var seen = Set<String>()
        for customerID in activity.customerIDs where seen.insert(customerID).inserted {
            guard var profile = try self.loadProfile(customerID, txn) else { continue }
            var stats = profile["stats"]?.objectValue ?? [:]
            var counts = stats["activity_counts"]?.objectValue ?? [:]
            counts[type] = .int((counts[type]?.intValue ?? 0) + 1)
            stats["activity_counts"] = .object(counts)
            stats["last_activity_at"] = Self.later(stats["last_activity_at"], occurredAt)
            if contacted { stats["last_contacted_at"] = Self.later(stats["last_contacted_at"], occurredAt) }
            profile["stats"] = .object(stats)
            try self.storeProfile(profile, customerID, txn)
            try self.putTimelineEntry(note, for: event, customerID: customerID, at: occurredAt, txn)
        }
    }

    // MARK: - Indexes

    /// Moves the email, phone and tag index rows of `customerID` from what `old` lists to what `new`
    /// lists. An email row is removed only while it still points at this customer.
    func reindex(_ customerID: String, from old: (any JSONMembers)?, to new: any JSONMembers, _ txn: Transaction) throws {
        let oldEmails = Set(Self.emailKeys(old))
        let newEmails = Set(Self.emailKeys(new))
        let idBytes = Array(customerID.utf8)
        for key in oldEmails.subtracting(newEmails) {
            if try txn.get(self.emails, key) == idBytes { try txn.delete(self.emails, key) }
        }
        for key in newEmails { try txn.put(self.emails, key, idBytes) }

        let oldPhones = Set(Self.phoneKeys(old))
        let newPhones = Set(Self.phoneKeys(new))
        for number in oldPhones.subtracting(newPhones) {
            try txn.delete(self.phones, ProfileKeys.pairKey(number, customerID))
        }
        for number in newPhones.subtracting(oldPhones) {
            try txn.put(self.phones, ProfileKeys.pairKey(number, customerID), [UInt8]())
        }

        let oldTags = Set(Self.strings(old?["tags"]))
        let newTags = Set(Self.strings(new["tags"]))
        for tag in oldTags.subtracting(newTags) { try txn.delete(self.tags, ProfileKeys.pairKey(tag, customerID)) }
        for tag in newTags.subtracting(oldTags) {
            try txn.put(self.tags, ProfileKeys.pairKey(tag, customerID), [UInt8]())
        }
    }

    /// The index forms of a profile's email addresses.
    static func emailKeys(_ profile: (any JSONMembers)?) -> [String] {
        (profile?["emails"]?.arrayValue ?? []).compactMap { $0["address"]?.stringValue.map(ProfileKeys.emailKey) }
    }

    /// The normalized numbers of a profile's phones.
    static func phoneKeys(_ profile: (any JSONMembers)?) -> [String] {
        (profile?["phones"]?.arrayValue ?? []).compactMap { $0["normalized"]?.stringValue }
    }

    // MARK: - Document pieces

    /// `{first, last, full}`; `full` joins the non-empty parts with a space, or is `null`.
    static func name(first: String?, last: String?) -> JSON {
        let parts = [first, last].compactMap { $0 }.filter { !$0.isEmpty }
        return [
            "first": .string(first), "last": .string(last),
            "full": parts.isEmpty ? .null : .string(parts.joined(separator: " ")),
        ]
    }

    /// Profile email entries for the event's list, keeping `consent`, `consent_at` and `legal_basis`
    /// of addresses already in `previous`.
    static func profileEmails(_ list: [CustomerState.Email], previous: [JSON]) -> [JSON] {
        var kept: [String: JSON] = [:]
        for entry in previous {
            if let address = entry["address"]?.stringValue { kept[ProfileKeys.emailKey(address)] = entry }
        }
        return list.map { email in
            let old = kept[ProfileKeys.emailKey(email.address)]
            return [
                "address": .string(email.address),
                "primary": .bool(email.primary),
                "opted_out": .bool(email.optedOut),
                "invalid": .bool(email.invalid),
                "consent": old?["consent"] ?? "not_set",
                "consent_at": old?["consent_at"] ?? .null,
                "legal_basis": old?["legal_basis"] ?? .null,
            ]
        }
    }

    /// Profile phone entries for the event's list, keeping `consent` of numbers (matched normalized)
    /// already in `previous`.
    static func profilePhones(_ list: [CustomerState.Phone], previous: [JSON]) -> [JSON] {
        var kept: [String: JSON] = [:]
        for entry in previous {
            if let normalized = entry["normalized"]?.stringValue { kept[normalized] = entry }
        }
        return list.map { phone in
            [
                "number": .string(phone.number),
                "normalized": .string(phone.normalized),
                "type": .string(phone.type),
                "primary": .bool(phone.primary),
                "consent": kept[phone.normalized]?["consent"] ?? "not_set",
            ]
        }
    }

    /// The later of a stored timestamp (string or `null`) and `millis`, as a timestamp string.
    static func later(_ current: JSON?, _ millis: Int64) -> JSON {
        if let stored = current?.stringValue.flatMap(Timestamp.parse), stored >= millis { return current! }
        return .string(Timestamp.format(millis))
    }

    static func customerIDOf(_ profile: some JSONMembers) -> String { profile["customer_id"]?.stringValue ?? "" }

    static func stringOrNull(_ value: JSON?) -> JSON { value?.stringValue.map(JSON.string) ?? .null }

    static func objectOrNull(_ value: JSON?) -> JSON { value?.objectValue.map(JSON.object) ?? .null }

    static func strings(_ value: JSON?) -> [String] { value?.arrayValue?.compactMap(\.stringValue) ?? [] }

    static func sortedSet(_ values: [String]) -> [String] { Set(values).sorted() }

    static func capitalized(_ text: String) -> String { text.prefix(1).uppercased() + text.dropFirst() }
}
