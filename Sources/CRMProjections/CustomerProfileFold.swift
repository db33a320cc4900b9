import CRMDomain
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
    /// A fold of one event on a customer stream: mutates the profile, returns the timeline entry to
    /// add (if any).
    typealias CustomerFold = (inout JSONDocument, RecordedEvent, Transaction) throws -> TimelineNote?

    // MARK: - Dispatch

    /// The customer an event on a customer stream is about: `data.customer_id`, else the stream name.
    func customerID(of event: RecordedEvent) -> String? {
        if let id = event.data["customer_id"]?.stringValue { return id }
        let prefix = "customer-"
        guard event.stream.hasPrefix(prefix) else { return nil }
        return String(event.stream.dropFirst(prefix.count))
    }

    /// Loads the event's customer, runs `fold`, bumps `version`/`updated_at`, stores the profile and
    /// the timeline entry. Skips events for customers that are not in the table.
    func applyToCustomer(_ event: RecordedEvent, _ txn: Transaction, _ fold: CustomerFold) throws {
        guard let customerID = self.customerID(of: event), var profile = try self.loadProfile(customerID, txn)
        else { return }
        let note = try fold(&profile, event, txn)
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
    func applyCustomerCreated(_ event: RecordedEvent, _ txn: Transaction) throws {
        guard let customerID = self.customerID(of: event) else { return }
        let data = event.data
        let pii = event.pii
        let createdAt = JSON.string(Timestamp.format(event.occurredAt))
        let stage = JSON.string(data["lifecycle_stage"]?.stringValue ?? "lead")
        let tags = Self.sortedSet(Self.strings(data["tags"]))
        let profile: JSON = [
            "customer_id": .string(customerID),
            "state": "active",
            "merged_into": nil,
            "merged_from": [],
            "version": .int(Int64(truncatingIfNeeded: event.streamVersion)),
            "created_at": createdAt,
            "updated_at": createdAt,
            "name": Self.name(first: pii["first_name"], last: pii["last_name"]),
            "emails": .array(Self.profileEmails(pii["emails"], previous: [])),
            "phones": .array(Self.profilePhones(pii["phones"], previous: [])),
            "do_not_call": false,
            "company_name": Self.stringOrNull(pii["company_name"]),
            "job_title": Self.stringOrNull(pii["job_title"]),
            "address": Self.objectOrNull(pii["address"]),
            "owner_id": Self.stringOrNull(data["owner_id"]),
            "tags": .strings(tags),
            "tier": Self.stringOrNull(data["tier"]),
            "source": Self.stringOrNull(data["source"]),
            "lifecycle": [
                "stage": stage, "entered_at": createdAt,
                "history": [["stage": stage, "entered_at": createdAt, "exited_at": nil]],
            ],
            "lead_status": Self.stringOrNull(data["lead_status"]),
            "custom": .object(pii["custom"]?.objectValue ?? [:]),
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
            summary: "Customer created as \(stage.stringValue ?? "lead")"
        )
        try self.putTimelineEntry(note, for: event, customerID: customerID, txn)
    }

    // MARK: - CustomerUpdated

    /// Applies every `from → to` of `data.changes` and `pii.changes`; re-indexes emails and phones.
    func foldCustomerUpdated(_ profile: inout JSONDocument, _ event: RecordedEvent, _ txn: Transaction) throws
        -> TimelineNote?
    {
        var changes: [String: JSON] = [:]
        for part in [event.data["changes"], event.pii["changes"]] {
            for (field, change) in part?.objectValue ?? [:] { changes[field] = change }
        }
        let before = profile
        let customPrefix = "custom."
        for field in changes.keys.sorted() {
            let to = changes[field]?["to"] ?? .null
            switch field {
            case "first_name", "last_name":
                let name = profile["name"] ?? [:]
                profile["name"] = Self.name(
                    first: field == "first_name" ? to : name["first"],
                    last: field == "last_name" ? to : name["last"]
                )
            case "company_name", "job_title", "tier", "source", "owner_id", "lead_status":
                profile[field] = Self.stringOrNull(to)
            case "address":
                profile["address"] = Self.objectOrNull(to)
            case "emails":
                profile["emails"] = .array(Self.profileEmails(to, previous: profile["emails"]?.arrayValue ?? []))
            case "phones":
                profile["phones"] = .array(Self.profilePhones(to, previous: profile["phones"]?.arrayValue ?? []))
            case "tags":
                profile["tags"] = .strings(Self.sortedSet(Self.strings(to)))
            case "custom":
                profile["custom"] = .object(to.objectValue ?? [:])
            case _ where field.hasPrefix(customPrefix):
                var custom = profile["custom"]?.objectValue ?? [:]
                let key = String(field.dropFirst(customPrefix.count))
                // Not `to.isNull ? nil : to`: `JSON` is nil-literal convertible, so that stores `null`.
                if to.isNull {
                    custom.removeValue(forKey: key)
                } else {
                    custom[key] = to
                }
                profile["custom"] = .object(custom)
            default:
                continue
            }
        }
        try self.reindex(Self.customerIDOf(profile), from: before, to: profile, txn)
        let fields = changes.keys.sorted()
        return TimelineNote(
            kind: "customer.updated",
            refID: Self.customerIDOf(profile),
            summary: fields.isEmpty ? "Customer updated" : "Updated \(fields.joined(separator: ", "))",
            extra: ["changes": .object(changes)]
        )
    }

    // MARK: - CustomerTagged

    /// Adds `data.added` and removes `data.removed`, keeping the tags sorted; updates the tag index.
    func foldCustomerTagged(_ profile: inout JSONDocument, _ event: RecordedEvent, _ txn: Transaction) throws
        -> TimelineNote?
    {
        let added = Self.strings(event.data["added"])
        let removed = Self.strings(event.data["removed"])
        let before = profile
        var tags = Set(Self.strings(profile["tags"]))
        tags.formUnion(added)
        tags.subtract(removed)
        profile["tags"] = .strings(tags.sorted())
        try self.reindex(Self.customerIDOf(profile), from: before, to: profile, txn)
        var parts: [String] = []
        if !added.isEmpty { parts.append("added \(added.joined(separator: ", "))") }
        if !removed.isEmpty { parts.append("removed \(removed.joined(separator: ", "))") }
        return TimelineNote(
            kind: "customer.tagged",
            refID: Self.customerIDOf(profile),
            summary: parts.isEmpty ? "Tags unchanged" : "Tags \(parts.joined(separator: "; "))"
        )
    }

    // MARK: - CustomerOwnerChanged, LeadStatusChanged

    /// Sets `owner_id` to `data.to`.
    func foldOwnerChanged(_ profile: inout JSONDocument, _ event: RecordedEvent, _ txn: Transaction) throws -> TimelineNote? {
        let to = Self.stringOrNull(event.data["to"])
        profile["owner_id"] = to
        let from = event.data["from"]?.stringValue ?? "nobody"
        return TimelineNote(
            kind: "customer.owner_changed",
            refID: Self.customerIDOf(profile),
            summary: "Owner changed from \(from) to \(to.stringValue ?? "nobody")"
        )
    }

    /// Sets `lead_status` to `data.to`.
    func foldLeadStatusChanged(_ profile: inout JSONDocument, _ event: RecordedEvent, _ txn: Transaction) throws
        -> TimelineNote?
    {
        let to = Self.stringOrNull(event.data["to"])
        profile["lead_status"] = to
        let from = event.data["from"]?.stringValue ?? "none"
        return TimelineNote(
            kind: "customer.lead_status_changed",
            refID: Self.customerIDOf(profile),
            summary: "Lead status \(from) → \(to.stringValue ?? "none")"
        )
    }

    // MARK: - LifecycleStageChanged

    /// Closes the open history entry at the event time and opens one for `data.to`.
    func foldLifecycleStageChanged(_ profile: inout JSONDocument, _ event: RecordedEvent, _ txn: Transaction) throws
        -> TimelineNote?
    {
        guard let stage = event.data["to"]?.stringValue else { return nil }
        let at = JSON.string(Timestamp.format(event.occurredAt))
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
        let from = event.data["from"]?.stringValue ?? "none"
        var summary = "Lifecycle stage \(from) → \(stage)"
        if let source = event.data["source"]?.stringValue { summary += " (\(source))" }
        return TimelineNote(kind: "lifecycle.changed", refID: Self.customerIDOf(profile), summary: summary)
    }

    // MARK: - ConsentChanged

    /// Records the consent on the matching email (with `consent_at`, `legal_basis`, and
    /// `opted_out ⇔ to == opted_out`) or phone entry; the phone channel also sets `do_not_call`.
    /// Without a `contact_point` in `pii`, a customer with a single address on that channel gets the change.
    func foldConsentChanged(_ profile: inout JSONDocument, _ event: RecordedEvent, _ txn: Transaction) throws
        -> TimelineNote?
    {
        let channel = event.data["channel"]?.stringValue ?? ""
        let status = event.data["to"]?.stringValue ?? "not_set"
        let address = event.pii["contact_point"]?.stringValue
        switch channel {
        case "email":
            var emails = profile["emails"]?.arrayValue ?? []
            let key = address.map(ProfileKeys.emailKey)
            for index in emails.indices
            where key.map({ ProfileKeys.emailKey(emails[index]["address"]?.stringValue ?? "") == $0 })
                ?? (emails.count == 1)
            {
                emails[index]["consent"] = .string(status)
                emails[index]["consent_at"] = .string(Timestamp.format(event.occurredAt))
                emails[index]["legal_basis"] = Self.stringOrNull(event.data["legal_basis"])
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
        let from = event.data["from"]?.stringValue ?? "not_set"
        return TimelineNote(
            kind: "customer.consent_changed",
            refID: Self.customerIDOf(profile),
            summary: "\(label) consent \(from) → \(status)"
        )
    }

    // MARK: - ActivityLogged

    /// For each customer of the activity: counts it, moves `last_activity_at` (and `last_contacted_at`
    /// for outbound activities and meetings) forward, and adds a timeline entry at the activity's
    /// `occurred_at`. The activity stream is not the customer's, so `version`/`updated_at` stay.
    func applyActivityLogged(_ event: RecordedEvent, _ txn: Transaction) throws {
        let data = event.data
        let type = data["kind"]?.stringValue ?? "note"
        let direction = data["direction"]?.stringValue
        let occurredAt = data["occurred_at"]?.stringValue.flatMap(Timestamp.parse) ?? event.occurredAt
        let contacted = direction == "outbound" || type == "meeting"
        let summary: String
        if let subject = event.pii["subject"]?.stringValue, !subject.isEmpty {
            summary = subject
        } else if let direction {
            summary = "\(Self.capitalized(direction)) \(type)"
        } else {
            summary = Self.capitalized(type)
        }
        let note = TimelineNote(kind: "activity.\(type)", refID: data["activity_id"]?.stringValue, summary: summary)
        var seen = Set<String>()
        for customerID in Self.strings(data["customer_ids"]) where seen.insert(customerID).inserted {
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
    static func name(first: JSON?, last: JSON?) -> JSON {
        let first = Self.stringOrNull(first)
        let last = Self.stringOrNull(last)
        let parts = [first.stringValue, last.stringValue].compactMap { $0 }.filter { !$0.isEmpty }
        return ["first": first, "last": last, "full": parts.isEmpty ? .null : .string(parts.joined(separator: " "))]
    }

    /// Profile email entries for the event list `list` (`[{address, primary, opted_out, invalid}]`),
    /// keeping `consent`, `consent_at` and `legal_basis` of addresses already in `previous`.
    static func profileEmails(_ list: JSON?, previous: [JSON]) -> [JSON] {
        var kept: [String: JSON] = [:]
        for entry in previous {
            if let address = entry["address"]?.stringValue { kept[ProfileKeys.emailKey(address)] = entry }
        }
        return (list?.arrayValue ?? []).compactMap { entry in
            guard let address = entry["address"]?.stringValue else { return nil }
            let old = kept[ProfileKeys.emailKey(address)]
            return [
                "address": .string(address),
                "primary": .bool(entry["primary"]?.boolValue ?? false),
                "opted_out": .bool(entry["opted_out"]?.boolValue ?? old?["opted_out"]?.boolValue ?? false),
                "invalid": .bool(entry["invalid"]?.boolValue ?? old?["invalid"]?.boolValue ?? false),
                "consent": old?["consent"] ?? "not_set",
                "consent_at": old?["consent_at"] ?? .null,
                "legal_basis": old?["legal_basis"] ?? .null,
            ]
        }
    }

    /// Profile phone entries for the event list `list` (`[{number, normalized, type, primary}]`),
    /// keeping `consent` of numbers (matched normalized) already in `previous`.
    static func profilePhones(_ list: JSON?, previous: [JSON]) -> [JSON] {
        var kept: [String: JSON] = [:]
        for entry in previous {
            if let normalized = entry["normalized"]?.stringValue { kept[normalized] = entry }
        }
        return (list?.arrayValue ?? []).compactMap { entry in
            guard let number = entry["number"]?.stringValue else { return nil }
            let normalized = entry["normalized"]?.stringValue ?? ProfileKeys.normalizedPhone(number) ?? number
            return [
                "number": .string(number),
                "normalized": .string(normalized),
                "type": Self.stringOrNull(entry["type"]),
                "primary": .bool(entry["primary"]?.boolValue ?? false),
                "consent": kept[normalized]?["consent"] ?? "not_set",
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
