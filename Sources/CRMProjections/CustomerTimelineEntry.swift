import CRMDomain
import CRMEventStore
import CRMJSON

/// What a fold adds to a customer's timeline: the typed facts of the entry. Its text (`kind`,
/// `summary`, extra members) is rendered when `customer.timeline` reads it; the envelope facts (`at`,
/// `seq`) are in the row's key and the actor in the row (see ``TimelineRow``).
enum TimelineNote: Hashable {
    case customerCreated(customerID: String, stage: String)
    case customerUpdated(CustomerUpdated)
    case customerTagged(customerID: String, added: [String], removed: [String])
    case ownerChanged(customerID: String, from: String?, to: String?)
    case leadStatusChanged(customerID: String, from: String?, to: String?)
    case lifecycleChanged(customerID: String, from: String?, to: String, source: String?)
    /// `channel` is `email`, `phone` or `sms`.
    case consentChanged(customerID: String, channel: String, from: String?, to: String)
    /// `type` is the activity kind (`note` when the event gives none).
    case activity(activityID: String, type: String, subject: String?, direction: String?)
    case dealCreated(dealID: String, name: String?, stageID: String)
    /// `from` is `?` when the event gives none.
    case dealStageChanged(dealID: String, from: String, to: String)
    case ticketOpened(ticketID: String?, subject: String?, channel: String, priority: String)
    case ticketStatusChanged(ticketID: String?, from: String, to: String)
    case ticketMessage(ticketID: String?, author: String, isPublic: Bool)
    /// The customer's personal data was erased; `fields` names what was erased.
    case customerErased(customerID: String, fields: [String])
    /// Customers `secondaryIDs` were merged into this one.
    case customersMerged(customerID: String, secondaryIDs: [String])

    /// `customer.created`, `activity.call`, ….
    var kind: String {
        switch self {
        case .customerCreated: "customer.created"
        case .customerUpdated: "customer.updated"
        case .customerTagged: "customer.tagged"
        case .ownerChanged: "customer.owner_changed"
        case .leadStatusChanged: "customer.lead_status_changed"
        case .lifecycleChanged: "lifecycle.changed"
        case .consentChanged: "customer.consent_changed"
        case .activity(_, let type, _, _): "activity.\(type)"
        case .dealCreated: "deal.created"
        case .dealStageChanged: "deal.stage_changed"
        case .ticketOpened: "ticket.opened"
        case .ticketStatusChanged: "ticket.status_changed"
        case .ticketMessage: "ticket.message"
        case .customerErased: "customer.erased"
        case .customersMerged: "customers.merged"
        }
    }

    /// The id of the record the entry is about (the customer, the activity, the deal or the ticket).
    var refID: String? {
        switch self {
        case .customerCreated(let id, _), .customerTagged(let id, _, _), .ownerChanged(let id, _, _),
            .leadStatusChanged(let id, _, _), .lifecycleChanged(let id, _, _, _), .consentChanged(let id, _, _, _),
            .customerErased(let id, _), .customersMerged(let id, _):
            id
        case .customerUpdated(let updated): updated.customerID
        case .activity(let id, _, _, _), .dealCreated(let id, _, _), .dealStageChanged(let id, _, _): id
        case .ticketOpened(let id, _, _, _), .ticketStatusChanged(let id, _, _), .ticketMessage(let id, _, _): id
        }
    }

    /// Whether entries of this kind can hold personal data (an activity's subject, a deal's name, a
    /// ticket's subject, changed personal fields). With encrypted personal data such an entry is
    /// stored without it (``withoutPersonalData``) and takes it from its event, opened with the
    /// event's key, when it is read (``withPersonalData(from:)``): the timeline holds nothing personal,
    /// and an erased person's texts are gone from it with the key.
    var mayHoldPersonalData: Bool {
        switch self {
        case .activity, .dealCreated, .ticketOpened, .customerUpdated: true
        default: false
        }
    }

    /// The note with its personal values left out.
    var withoutPersonalData: TimelineNote {
        switch self {
        case .customerUpdated(let updated): .customerUpdated(CustomerUpdated(customerID: updated.customerID))
        default: self.withPersonalText(nil)
        }
    }

    /// The note with the personal values of `event`, the event it was folded from (decoded with its
    /// key: without it they stay `nil`).
    func withPersonalData(from event: RecordedEvent) -> TimelineNote {
        switch (self, event.event) {
        case (.activity(let id, let type, _, let direction), .customer(.activityLogged(let activity))):
            .activity(activityID: id, type: type, subject: activity.subject, direction: direction)
        case (.dealCreated(let id, _, let stage), .sales(.dealCreated(let created))):
            .dealCreated(dealID: id, name: created.name, stageID: stage)
        case (.ticketOpened(let id, _, let channel, let priority), .service(.ticketOpened(let opened))):
            .ticketOpened(ticketID: id, subject: opened.subject, channel: channel, priority: priority)
        case (.customerUpdated, .customer(.updated(let updated))): .customerUpdated(updated)
        default: self
        }
    }

    /// The type of this entry's event and the member of its personal data that the entry shows, when
    /// that is one string (``withPersonalText(_:)``); `nil` for entries that show none or need the
    /// event (``withPersonalData(from:)``).
    var personalMember: (type: String, member: StaticString)? {
        switch self {
        case .activity: (EventType.activityLogged, "subject")
        case .dealCreated: (SalesEventType.dealCreated, "name")
        case .ticketOpened: (ServiceEventType.ticketOpened, "subject")
        default: nil
        }
    }

    /// The entry with `text`, its event's ``personalMember``, as what it shows: what
    /// ``withPersonalData(from:)`` gives for that event.
    func withPersonalText(_ text: String?) -> TimelineNote {
        switch self {
        case .activity(let id, let type, _, let direction):
            .activity(activityID: id, type: type, subject: text, direction: direction)
        case .dealCreated(let id, _, let stage): .dealCreated(dealID: id, name: text, stageID: stage)
        case .ticketOpened(let id, _, let channel, let priority):
            .ticketOpened(ticketID: id, subject: text, channel: channel, priority: priority)
        default: self
        }
    }

    /// One line for humans.
    var summary: String {
        switch self {
        case .customerCreated(_, let stage):
            return "Customer created as \(stage)"
        case .customerUpdated(let updated):
            let fields = updated.changedFields
            return fields.isEmpty ? "Customer updated" : "Updated \(fields.joined(separator: ", "))"
        case .customerTagged(_, let added, let removed):
            var parts: [String] = []
            if !added.isEmpty { parts.append("added \(added.joined(separator: ", "))") }
            if !removed.isEmpty { parts.append("removed \(removed.joined(separator: ", "))") }
            return parts.isEmpty ? "Tags unchanged" : "Tags \(parts.joined(separator: "; "))"
        case .ownerChanged(_, let from, let to):
            return "Owner changed from \(from ?? "nobody") to \(to ?? "nobody")"
        case .leadStatusChanged(_, let from, let to):
            return "Lead status \(from ?? "none") → \(to ?? "none")"
        case .lifecycleChanged(_, let from, let to, let source):
            return "Lifecycle stage \(from ?? "none") → \(to)" + (source.map { " (\($0))" } ?? "")
        case .consentChanged(_, let channel, let from, let to):
            let label = ["email": "Email", "phone": "Phone", "sms": "SMS"][channel] ?? channel
            return "\(label) consent \(from ?? "not_set") → \(to)"
        case .activity(_, let type, let subject, let direction):
            if let subject, !subject.isEmpty { return subject }
            if let direction { return "\(Self.capitalized(direction)) \(type)" }
            return Self.capitalized(type)
        case .dealCreated(_, let name, let stageID):
            return "Deal \(name.map { "\"\($0)\" " } ?? "")created in \(stageID)"
        case .dealStageChanged(_, let from, let to):
            return "Deal moved from \(from) to \(to)"
        case .ticketOpened(_, let subject, let channel, _):
            let subject = subject ?? ""
            return subject.isEmpty ? "Ticket opened via \(channel)" : subject
        case .ticketStatusChanged(_, let from, let to):
            return "Ticket \(from) → \(to)"
        case .ticketMessage(_, let author, let isPublic):
            return isPublic ? "\(Self.capitalized(author)) message" : "Internal note"
        case .customerErased:
            return "Personal data erased"
        case .customersMerged(_, let secondaryIDs):
            return "Merged \(secondaryIDs.joined(separator: ", ")) into this customer"
        }
    }

    /// Further members of the entry (`changes` for `customer.updated`, …).
    var extra: [String: JSON] {
        switch self {
        case .customerUpdated(let updated):
            let (changes, personal) = CustomerEventCodec.changes(updated)
            return ["changes": .object(changes.merging(personal) { _, personal in personal })]
        case .dealCreated(let dealID, _, let stageID):
            return ["deal_id": .string(dealID), "stage_id": .string(stageID)]
        case .dealStageChanged(let dealID, let from, let to):
            return ["deal_id": .string(dealID), "from": .string(from), "to": .string(to)]
        case .ticketOpened(_, _, let channel, let priority):
            return ["channel": .string(channel), "priority": .string(priority)]
        case .ticketStatusChanged(_, let from, let to):
            return ["from": .string(from), "to": .string(to)]
        case .ticketMessage(_, let author, let isPublic):
            return ["author": .string(author), "public": .bool(isPublic)]
        case .customerErased(_, let fields):
            return ["erased_fields": .strings(fields)]
        case .customersMerged(_, let secondaryIDs):
            return ["secondary_ids": .strings(secondaryIDs)]
        default:
            return [:]
        }
    }

    static func capitalized(_ text: String) -> String { text.prefix(1).uppercased() + text.dropFirst() }
}

/// A stored timeline entry: the actor of the event and the typed ``TimelineNote``. The row's key
/// holds the entry's time and position.
struct TimelineRow: Hashable {
    /// The format byte of a timeline row; a new layout comes with a new read-model version.
    static let rowFormat: UInt8 = 2

    /// Who caused the event.
    var actor: Actor
    /// The typed facts of the entry.
    var note: TimelineNote
    /// Whether the note's personal values were left out, to be read from the event when the entry is
    /// shown (``TimelineNote/withPersonalData(from:)``).
    var personalInEvent: Bool

    /// The entry `note` of an event by `actor`.
    init(actor: Actor, note: TimelineNote, personalInEvent: Bool = false) {
        self.actor = actor
        self.note = note
        self.personalInEvent = personalInEvent
    }

    /// The entry as `customer.timeline` returns it: `{at, seq, kind, ref_id, summary, actor, …extra}`.
    func json(at: Int64, seq: UInt64) -> JSON {
        var out = CanonicalWriter(capacity: 192)
        self.write(into: &out, at: at, seq: seq)
        return .serialized(SerializedJSON(out.bytes))
    }

    /// Appends ``json(at:seq:)``'s text to `out`. Most entries have no extra members and are written
    /// out directly, in key order; the others are built as an object.
    func write(into out: inout CanonicalWriter, at: Int64, seq: UInt64) {
        let extra = self.note.extra
        guard extra.isEmpty else {
            var members: [String: JSON] = [
                "actor": self.actor.json, "at": .string(Timestamp.format(at)), "kind": .string(self.note.kind),
                "ref_id": .string(self.note.refID), "seq": .int(Int64(truncatingIfNeeded: seq)),
                "summary": .string(self.note.summary),
            ]
            members.merge(extra) { _, extra in extra }
            return out.json(.object(members))
        }
        out.raw(#"{"actor":"#)
        self.actor.write(into: &out.bytes)
        out.raw(#","at":"#)
        out.time(at)
        out.raw(#","kind":"#)
        out.string(self.note.kind)
        out.raw(#","ref_id":"#)
        out.string(self.note.refID)
        out.raw(#","seq":"#)
        out.int(Int64(truncatingIfNeeded: seq))
        out.raw(#","summary":"#)
        out.string(self.note.summary)
        out.raw("}")
    }

    // MARK: - Binary row

    /// The compact binary row: format byte, actor, a tag byte naming the note's case, then its fields.
    func encoded() -> [UInt8] {
        var row = BinaryRowWriter(capacity: 64)
        row.byte(Self.rowFormat)
        row.varint(UInt64(self.actor.uid))
        row.varint(UInt64(self.actor.gid))
        row.optionalString(self.actor.onBehalfOf)
        row.bool(self.personalInEvent)
        switch self.note {
        case .customerCreated(let id, let stage):
            row.byte(1)
            row.string(id)
            row.string(stage)
        case .customerUpdated(let updated):
            row.byte(2)
            row.customerUpdated(updated)
        case .customerTagged(let id, let added, let removed):
            row.byte(3)
            row.string(id)
            row.strings(added)
            row.strings(removed)
        case .ownerChanged(let id, let from, let to):
            row.byte(4)
            row.string(id)
            row.optionalString(from)
            row.optionalString(to)
        case .leadStatusChanged(let id, let from, let to):
            row.byte(5)
            row.string(id)
            row.optionalString(from)
            row.optionalString(to)
        case .lifecycleChanged(let id, let from, let to, let source):
            row.byte(6)
            row.string(id)
            row.optionalString(from)
            row.string(to)
            row.optionalString(source)
        case .consentChanged(let id, let channel, let from, let to):
            row.byte(7)
            row.string(id)
            row.string(channel)
            row.optionalString(from)
            row.string(to)
        case .activity(let id, let type, let subject, let direction):
            row.byte(8)
            row.string(id)
            row.string(type)
            row.optionalString(subject)
            row.optionalString(direction)
        case .dealCreated(let id, let name, let stageID):
            row.byte(9)
            row.string(id)
            row.optionalString(name)
            row.string(stageID)
        case .dealStageChanged(let id, let from, let to):
            row.byte(10)
            row.string(id)
            row.string(from)
            row.string(to)
        case .ticketOpened(let id, let subject, let channel, let priority):
            row.byte(11)
            row.optionalString(id)
            row.optionalString(subject)
            row.string(channel)
            row.string(priority)
        case .ticketStatusChanged(let id, let from, let to):
            row.byte(12)
            row.optionalString(id)
            row.string(from)
            row.string(to)
        case .ticketMessage(let id, let author, let isPublic):
            row.byte(13)
            row.optionalString(id)
            row.string(author)
            row.bool(isPublic)
        case .customerErased(let id, let fields):
            row.byte(14)
            row.string(id)
            row.strings(fields)
        case .customersMerged(let id, let secondaryIDs):
            row.byte(15)
            row.string(id)
            row.strings(secondaryIDs)
        }
        return row.bytes
    }

    /// Decodes a row written by ``encoded()``; `what` names the row in the error.
    init(decoding bytes: [UInt8], what: String) throws(ProfileStorageError) {
        self = try ProfileStorageError.reading(bytes, format: Self.rowFormat, what: what) {
            row throws(StateDecodingError) in
            let uid = try row.varint()
            let gid = try row.varint()
            guard let uid = UInt32(exactly: uid), let gid = UInt32(exactly: gid) else {
                throw StateDecodingError("stored \(what) has an actor id out of range")
            }
            let actor = Actor(uid: uid, gid: gid, onBehalfOf: try row.optionalString())
            let personalInEvent = try row.bool()
            let note = try Self.note(&row, what: what)
            return TimelineRow(actor: actor, note: note, personalInEvent: personalInEvent)
        }
    }

    /// The note at the current position of `row`.
    private static func note(_ row: inout BinaryRowReader, what: String) throws(StateDecodingError) -> TimelineNote {
        let tag = try row.byte()
        switch tag {
        case 1: return .customerCreated(customerID: try row.string(), stage: try row.string())
        case 2: return .customerUpdated(try row.customerUpdated(what: what))
        case 3:
            return .customerTagged(customerID: try row.string(), added: try row.strings(), removed: try row.strings())
        case 4:
            return .ownerChanged(
                customerID: try row.string(), from: try row.optionalString(), to: try row.optionalString()
            )
        case 5:
            return .leadStatusChanged(
                customerID: try row.string(), from: try row.optionalString(), to: try row.optionalString()
            )
        case 6:
            return .lifecycleChanged(
                customerID: try row.string(), from: try row.optionalString(), to: try row.string(),
                source: try row.optionalString()
            )
        case 7:
            return .consentChanged(
                customerID: try row.string(), channel: try row.string(), from: try row.optionalString(),
                to: try row.string()
            )
        case 8:
            return .activity(
                activityID: try row.string(), type: try row.string(), subject: try row.optionalString(),
                direction: try row.optionalString()
            )
        case 9: return .dealCreated(dealID: try row.string(), name: try row.optionalString(), stageID: try row.string())
        case 10: return .dealStageChanged(dealID: try row.string(), from: try row.string(), to: try row.string())
        case 11:
            return .ticketOpened(
                ticketID: try row.optionalString(), subject: try row.optionalString(), channel: try row.string(),
                priority: try row.string()
            )
        case 12:
            return .ticketStatusChanged(
                ticketID: try row.optionalString(), from: try row.string(), to: try row.string()
            )
        case 13:
            return .ticketMessage(
                ticketID: try row.optionalString(), author: try row.string(), isPublic: try row.bool()
            )
        case 14: return .customerErased(customerID: try row.string(), fields: try row.strings())
        case 15: return .customersMerged(customerID: try row.string(), secondaryIDs: try row.strings())
        default: throw StateDecodingError("stored \(what) has unknown entry kind \(tag)")
        }
    }
}

// MARK: - CustomerUpdated in a row

extension BinaryRowWriter {
    /// The changes of a `CustomerUpdated` event: each field a presence byte, then its old and new value;
    /// custom fields in key order.
    mutating func customerUpdated(_ updated: CustomerUpdated) {
        self.string(updated.customerID)
        for change in [updated.firstName, updated.lastName, updated.companyName, updated.jobTitle, updated.tier,
            updated.source]
        {
            self.bool(change != nil)
            if let change {
                self.optionalString(change.from)
                self.optionalString(change.to)
            }
        }
        self.bool(updated.emails != nil)
        if let change = updated.emails {
            for list in [change.from, change.to] {
                self.count(list.count)
                for email in list { self.eventEmail(email) }
            }
        }
        self.bool(updated.phones != nil)
        if let change = updated.phones {
            for list in [change.from, change.to] {
                self.count(list.count)
                for phone in list { self.eventPhone(phone) }
            }
        }
        self.bool(updated.address != nil)
        if let change = updated.address {
            self.address(change.from)
            self.address(change.to)
        }
        self.count(updated.custom.count)
        for key in updated.custom.keys.sorted() {
            let change = updated.custom[key]!
            self.string(key)
            for value in [change.from, change.to] {
                self.bool(value != nil)
                if let value { self.customValue(value) }
            }
        }
    }

    /// An email entry of an event, with every field the domain type has.
    mutating func eventEmail(_ email: CustomerState.Email) {
        self.string(email.address)
        self.byte((email.primary ? 1 : 0) | (email.optedOut ? 2 : 0) | (email.invalid ? 4 : 0))
        self.string(email.consent)
    }

    /// A phone entry of an event, with every field the domain type has.
    mutating func eventPhone(_ phone: CustomerState.Phone) {
        self.string(phone.number)
        self.string(phone.normalized)
        self.optionalString(phone.type)
        self.byte((phone.primary ? 1 : 0) | (phone.doNotCall ? 2 : 0))
        self.string(phone.consent)
        self.string(phone.smsConsent)
    }
}

extension BinaryRowReader {
    /// The changes written by ``BinaryRowWriter/customerUpdated(_:)``, in the row `what`.
    mutating func customerUpdated(what: String) throws(StateDecodingError) -> CustomerUpdated {
        var updated = CustomerUpdated(customerID: try self.string())
        var strings: [Change<String?>?] = []
        for _ in 0..<6 {
            let present = try self.bool()
            strings.append(present ? Change(from: try self.optionalString(), to: try self.optionalString()) : nil)
        }
        updated.firstName = strings[0]
        updated.lastName = strings[1]
        updated.companyName = strings[2]
        updated.jobTitle = strings[3]
        updated.tier = strings[4]
        updated.source = strings[5]
        if try self.bool() {
            var lists: [[CustomerState.Email]] = []
            for _ in 0..<2 {
                var list: [CustomerState.Email] = []
                for _ in 0..<(try self.count()) { list.append(try self.eventEmail()) }
                lists.append(list)
            }
            updated.emails = Change(from: lists[0], to: lists[1])
        }
        if try self.bool() {
            var lists: [[CustomerState.Phone]] = []
            for _ in 0..<2 {
                var list: [CustomerState.Phone] = []
                for _ in 0..<(try self.count()) { list.append(try self.eventPhone()) }
                lists.append(list)
            }
            updated.phones = Change(from: lists[0], to: lists[1])
        }
        if try self.bool() {
            updated.address = Change(from: try self.address(), to: try self.address())
        }
        for _ in 0..<(try self.count()) {
            let key = try self.string()
            let from = try self.bool() ? try self.customValue(what: what) : nil
            let to = try self.bool() ? try self.customValue(what: what) : nil
            updated.custom[key] = Change(from: from, to: to)
        }
        return updated
    }

    /// An email entry written by ``BinaryRowWriter/eventEmail(_:)``.
    mutating func eventEmail() throws(StateDecodingError) -> CustomerState.Email {
        let address = try self.string()
        let flags = try self.byte()
        return CustomerState.Email(
            address: address, primary: flags & 1 != 0, optedOut: flags & 2 != 0, invalid: flags & 4 != 0,
            consent: try self.string()
        )
    }

    /// A phone entry written by ``BinaryRowWriter/eventPhone(_:)``.
    mutating func eventPhone() throws(StateDecodingError) -> CustomerState.Phone {
        let number = try self.string()
        let normalized = try self.string()
        let type = try self.optionalString()
        let flags = try self.byte()
        return CustomerState.Phone(
            number: number, normalized: normalized, type: type, primary: flags & 1 != 0, doNotCall: flags & 2 != 0,
            consent: try self.string(), smsConsent: try self.string()
        )
    }
}
