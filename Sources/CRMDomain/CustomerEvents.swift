/// The events of customers (stream `customer-<id>`) and of the activities logged about them (stream
/// `activity-<id>`).
public enum CustomerEvent: Sendable, Hashable {
    /// `CustomerCreated`.
    case created(CustomerCreated)
    /// `CustomerUpdated`.
    case updated(CustomerUpdated)
    /// `CustomerTagged`.
    case tagged(CustomerTagged)
    /// `CustomerOwnerChanged`.
    case ownerChanged(CustomerOwnerChanged)
    /// `LifecycleStageChanged`.
    case lifecycleStageChanged(LifecycleStageChanged)
    /// `LeadStatusChanged`.
    case leadStatusChanged(LeadStatusChanged)
    /// `ConsentChanged`.
    case consentChanged(ConsentChanged)
    /// `ActivityLogged`.
    case activityLogged(ActivityLogged)
    /// `CustomerErased`.
    case erased(CustomerErased)
    /// `LegalHoldChanged`.
    case legalHoldChanged(LegalHoldChanged)
    /// `CustomersMerged`.
    case merged(CustomersMerged)

    /// The event type name.
    public var type: String {
        switch self {
        case .created: EventType.customerCreated
        case .updated: EventType.customerUpdated
        case .tagged: EventType.customerTagged
        case .ownerChanged: EventType.customerOwnerChanged
        case .lifecycleStageChanged: EventType.lifecycleStageChanged
        case .leadStatusChanged: EventType.leadStatusChanged
        case .consentChanged: EventType.consentChanged
        case .activityLogged: EventType.activityLogged
        case .erased: EventType.customerErased
        case .legalHoldChanged: EventType.legalHoldChanged
        case .merged: EventType.customersMerged
        }
    }

    /// The customer the event is about (`nil` for an activity, which may name several).
    public var customerID: String? {
        switch self {
        case .created(let event): event.customerID
        case .updated(let event): event.customerID
        case .tagged(let event): event.customerID
        case .ownerChanged(let event): event.customerID
        case .lifecycleStageChanged(let event): event.customerID
        case .leadStatusChanged(let event): event.customerID
        case .consentChanged(let event): event.customerID
        case .activityLogged: nil
        case .erased(let event): event.customerID
        case .legalHoldChanged(let event): event.customerID
        case .merged(let event): event.primaryID
        }
    }
}

/// A value of a custom field: a string, a number or a boolean.
public enum CustomValue: Sendable, Hashable {
    case string(String)
    case int(Int64)
    case double(Double)
    case bool(Bool)
}

/// A value that changed, from `from` to `to`.
public struct Change<Value: Sendable & Hashable>: Sendable, Hashable {
    public var from: Value
    public var to: Value

    public init(from: Value, to: Value) {
        self.from = from
        self.to = to
    }
}

/// A new customer with every field it was created with. Its emails and phones carry the flags events
/// record (primary, opted out, invalid; type), never consent, which `ConsentChanged` records.
public struct CustomerCreated: Sendable, Hashable {
    public var customerID: String
    public var ownerID: String?
    /// Sorted, without duplicates.
    public var tags: [String]
    public var tier: String?
    public var source: String?
    public var lifecycleStage: String
    public var leadStatus: String?
    // Personal fields.
    public var firstName: String?
    public var lastName: String?
    public var companyName: String?
    public var jobTitle: String?
    public var emails: [CustomerState.Email]
    public var phones: [CustomerState.Phone]
    public var address: CustomerState.PostalAddress?
    public var custom: [String: CustomValue]

    /// The event that creates `customer` as it stands (its id included).
    public init(_ customer: CustomerState) {
        self.customerID = customer.id
        self.ownerID = customer.ownerID
        self.tags = customer.tags
        self.tier = customer.tier
        self.source = customer.source
        self.lifecycleStage = customer.lifecycleStage
        self.leadStatus = customer.leadStatus
        self.firstName = customer.firstName
        self.lastName = customer.lastName
        self.companyName = customer.companyName
        self.jobTitle = customer.jobTitle
        self.emails = customer.emails.map(\.eventForm)
        self.phones = customer.phones.map(\.eventForm)
        self.address = customer.address
        self.custom = customer.custom
    }

    /// The customer this event creates.
    public var customer: CustomerState {
        CustomerState(
            id: self.customerID,
            firstName: self.firstName,
            lastName: self.lastName,
            companyName: self.companyName,
            jobTitle: self.jobTitle,
            emails: self.emails,
            phones: self.phones,
            address: self.address,
            custom: self.custom,
            tags: Array(Set(self.tags)).sorted(),
            ownerID: self.ownerID,
            tier: self.tier,
            source: self.source,
            lifecycleStage: self.lifecycleStage,
            leadStatus: self.leadStatus
        )
    }
}

/// The fields of a customer that changed, each from its old value to its new one. Only `tier` and
/// `source` are not personal.
public struct CustomerUpdated: Sendable, Hashable {
    public var customerID: String
    public var firstName: Change<String?>?
    public var lastName: Change<String?>?
    public var companyName: Change<String?>?
    public var jobTitle: Change<String?>?
    public var tier: Change<String?>?
    public var source: Change<String?>?
    /// The whole list before and after (in event form).
    public var emails: Change<[CustomerState.Email]>?
    /// The whole list before and after (in event form).
    public var phones: Change<[CustomerState.Phone]>?
    public var address: Change<CustomerState.PostalAddress?>?
    /// Per custom key; `nil` is an absent key.
    public var custom: [String: Change<CustomValue?>]

    public init(customerID: String) {
        self.customerID = customerID
        self.custom = [:]
    }

    /// The changes between `old` and `new` (none when they hold the same values).
    public init(from old: CustomerState, to new: CustomerState) {
        func change<Value: Equatable>(_ from: Value, _ to: Value) -> Change<Value>? {
            from == to ? nil : Change(from: from, to: to)
        }
        self.init(customerID: new.id)
        self.firstName = change(old.firstName, new.firstName)
        self.lastName = change(old.lastName, new.lastName)
        self.companyName = change(old.companyName, new.companyName)
        self.jobTitle = change(old.jobTitle, new.jobTitle)
        self.tier = change(old.tier, new.tier)
        self.source = change(old.source, new.source)
        self.emails = change(old.emails.map(\.eventForm), new.emails.map(\.eventForm))
        self.phones = change(old.phones.map(\.eventForm), new.phones.map(\.eventForm))
        self.address = change(old.address, new.address)
        for key in Set(old.custom.keys).union(new.custom.keys) {
            if let change = change(old.custom[key], new.custom[key]) { self.custom[key] = change }
        }
    }

    /// Whether nothing changed.
    public var isEmpty: Bool { self.changedFields.isEmpty }

    /// The names of the changed fields, sorted (`custom.<key>` for custom fields).
    public var changedFields: [String] {
        var names: [String] = []
        if self.firstName != nil { names.append("first_name") }
        if self.lastName != nil { names.append("last_name") }
        if self.companyName != nil { names.append("company_name") }
        if self.jobTitle != nil { names.append("job_title") }
        if self.tier != nil { names.append("tier") }
        if self.source != nil { names.append("source") }
        if self.emails != nil { names.append("emails") }
        if self.phones != nil { names.append("phones") }
        if self.address != nil { names.append("address") }
        names += self.custom.keys.map { "custom.\($0)" }
        return names.sorted()
    }

    /// `customer` with the new values applied. Emails and phones that stay keep their consent and
    /// flags.
    public func applied(to customer: CustomerState) -> CustomerState {
        var new = customer
        if let change = self.firstName { new.firstName = change.to }
        if let change = self.lastName { new.lastName = change.to }
        if let change = self.companyName { new.companyName = change.to }
        if let change = self.jobTitle { new.jobTitle = change.to }
        if let change = self.tier { new.tier = change.to }
        if let change = self.source { new.source = change.to }
        if let change = self.address { new.address = change.to }
        if let change = self.emails {
            new.emails = change.to.map { email in
                var email = email
                if let kept = customer.emails.first(where: { $0.key == email.key }) { email.consent = kept.consent }
                return email
            }
        }
        if let change = self.phones {
            new.phones = change.to.map { $0.keepingFlags(of: customer.phones) }
        }
        for (key, change) in self.custom {
            new.custom[key] = change.to
        }
        return new
    }
}

/// Tags added to and removed from a customer (only real changes).
public struct CustomerTagged: Sendable, Hashable {
    public var customerID: String
    public var added: [String]
    public var removed: [String]

    public init(customerID: String, added: [String], removed: [String]) {
        self.customerID = customerID
        self.added = added
        self.removed = removed
    }
}

/// A text field of a customer with its own command changed from one value to another (`nil`: none).
public struct CustomerFieldChanged: Sendable, Hashable {
    public var customerID: String
    public var from: String?
    public var to: String?

    public init(customerID: String, from: String?, to: String?) {
        self.customerID = customerID
        self.from = from
        self.to = to
    }
}

/// The owner of a customer changed (`nil`: no owner).
public typealias CustomerOwnerChanged = CustomerFieldChanged

/// The lead status of a customer changed.
public typealias LeadStatusChanged = CustomerFieldChanged

/// The lifecycle stage of a customer changed, by hand (`manual`) or because of a deal (`automation`).
public struct LifecycleStageChanged: Sendable, Hashable {
    public var customerID: String
    public var from: String?
    public var to: String
    public var source: String?

    public init(customerID: String, from: String?, to: String, source: String?) {
        self.customerID = customerID
        self.from = from
        self.to = to
        self.source = source
    }
}

/// The marketing consent of one email address or phone number changed.
public struct ConsentChanged: Sendable, Hashable {
    public var customerID: String
    /// `email`, `phone` or `sms`.
    public var channel: String
    public var from: String?
    public var to: String
    public var legalBasis: String?
    public var source: String?
    /// The address or number, as the customer stores it (personal).
    public var contactPoint: String?
    /// Free-text evidence (personal).
    public var evidence: String?

    public init(
        customerID: String, channel: String, from: String?, to: String, legalBasis: String?, source: String?,
        contactPoint: String?, evidence: String?
    ) {
        self.customerID = customerID
        self.channel = channel
        self.from = from
        self.to = to
        self.legalBasis = legalBasis
        self.source = source
        self.contactPoint = contactPoint
        self.evidence = evidence
    }
}

/// An activity (call, email, meeting, note, task…) about one or more customers.
public struct ActivityLogged: Sendable, Hashable {
    /// The task part of an activity of kind `task`.
    public struct Task: Sendable, Hashable {
        public var dueAt: Int64?
        public var status: String?

        public init(dueAt: Int64?, status: String?) {
            self.dueAt = dueAt
            self.status = status
        }
    }

    public var activityID: String
    /// `call`, `email`, `meeting`, `note`, `task`, …
    public var kind: String?
    public var customerIDs: [String]
    public var dealID: String?
    public var ticketID: String?
    /// When the activity happened, UTC milliseconds.
    public var occurredAt: Int64?
    public var direction: String?
    public var durationSec: Int64?
    public var startAt: Int64?
    public var endAt: Int64?
    public var outcome: String?
    public var ownerID: String?
    /// Set exactly for a task.
    public var task: Task?
    // Personal fields.
    public var subject: String?
    public var body: String?

    public init(activityID: String, kind: String?, customerIDs: [String]) {
        self.activityID = activityID
        self.kind = kind
        self.customerIDs = customerIDs
    }
}

extension CustomerState.Email {
    /// The entry as events record it: without consent.
    public var eventForm: CustomerState.Email {
        CustomerState.Email(
            address: self.address, primary: self.primary, optedOut: self.optedOut, invalid: self.invalid
        )
    }
}

extension CustomerState.Phone {
    /// This number with the consent and do-not-call flags of the same number (compared normalized) in
    /// `list`, if it is there.
    public func keepingFlags(of list: [CustomerState.Phone]) -> CustomerState.Phone {
        guard let kept = list.first(where: { $0.normalized == self.normalized }) else { return self }
        var phone = self
        phone.doNotCall = kept.doNotCall
        phone.consent = kept.consent
        phone.smsConsent = kept.smsConsent
        return phone
    }

    /// The entry as events record it: without consent or do-not-call.
    public var eventForm: CustomerState.Phone {
        CustomerState.Phone(number: self.number, normalized: self.normalized, type: self.type, primary: self.primary)
    }
}

extension CustomValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}

/// A customer's personal data was erased (GDPR Art. 17) by destroying the data keys that seal it
/// (crypto-shredding): the customer's own key and the keys of the shared activities whose last
/// customer it was. Everything here is kept in clear, and none of it is personal: the names of the
/// fields that were erased, and keyed hashes (under the index key) of the email addresses and phone
/// numbers, which keep the blocklist of erased addresses without the addresses.
public struct CustomerErased: Sendable, Hashable {
    public var customerID: String
    /// The personal fields the customer had (`emails`, `first_name`, …), sorted.
    public var erasedFields: [String]
    /// Keyed hashes of the customer's email addresses (lower-cased), sorted.
    public var emailHashes: [String]
    /// Keyed hashes of the customer's phone numbers (normalized), sorted.
    public var phoneHashes: [String]
    /// The ground of the request (`art17_1a` … `art17_1f`, or a code of the operator's own).
    public var reason: String?
    /// The operator's reference of the request.
    public var requestRef: String?
    /// When the person asked (UTC milliseconds), if given.
    public var requestedAt: Int64?
    /// The data keys destroyed: `c:<customer_id>` and the keys of the customers merged into it, then
    /// the shared activities' `a:<activity_id>`.
    public var keyIDs: [String]
    /// Whether crmd appended it at start-up from the key store's record of an erasure that the log
    /// lacked (a hot backup from before the erasure was restored); its keys were gone already.
    public var reappliedAfterRestore: Bool

    public init(
        customerID: String,
        erasedFields: [String],
        emailHashes: [String],
        phoneHashes: [String],
        reason: String?,
        requestRef: String?,
        requestedAt: Int64?,
        keyIDs: [String],
        reappliedAfterRestore: Bool = false
    ) {
        self.reappliedAfterRestore = reappliedAfterRestore
        self.customerID = customerID
        self.erasedFields = erasedFields
        self.emailHashes = emailHashes
        self.phoneHashes = phoneHashes
        self.reason = reason
        self.requestRef = requestRef
        self.requestedAt = requestedAt
        self.keyIDs = keyIDs
    }
}

/// A customer's legal hold was set or lifted; while it is on, erasure is refused (`legal_hold`).
public struct LegalHoldChanged: Sendable, Hashable {
    public var customerID: String
    public var on: Bool
    /// Why (a case number, the obligation); not personal data.
    public var reason: String?

    public init(customerID: String, on: Bool, reason: String?) {
        self.customerID = customerID
        self.on = on
        self.reason = reason
    }
}

/// Customers merged into one, the primary, which survives (there is no unmerge). The secondaries
/// become tombstones pointing at it; their contact points, tags and records move to it.
///
/// `result` is the primary as the merge leaves it: every scalar taken from the primary, or from the
/// first secondary that has a value, unless the command chose another customer's value; the union of
/// the email addresses and phone numbers (an opt-out anywhere wins); the union of the tags; a legal
/// hold anywhere stays. Its lifecycle stage is not part of it: a stage further down the funnel than
/// the primary's arrives as the `LifecycleStageChanged` (source `merge`) that the merge causes.
public struct CustomersMerged: Sendable, Hashable {
    /// The deals, tickets, activities and orders of the secondaries, now the primary's (each list
    /// sorted).
    public struct Moved: Sendable, Hashable {
        public var deals: [String]
        public var tickets: [String]
        public var activities: [String]
        public var orders: [String]

        public init(deals: [String] = [], tickets: [String] = [], activities: [String] = [], orders: [String] = []) {
            self.deals = deals
            self.tickets = tickets
            self.activities = activities
            self.orders = orders
        }
    }

    public var primaryID: String
    /// In the order the command gave them (the order in which they fill fields the primary lacks).
    public var secondaryIDs: [String]
    /// The merged customer: its id is the primary's; emails and phones carry every flag and consent.
    /// Status, lifecycle stage and the lists the decision state keeps (shared activities) are not
    /// part of the event.
    public var result: CustomerState
    /// Every customer merged into the primary, this merge's and earlier ones', recursively: whose data
    /// keys the primary's erasure destroys (its key ring, besides its own key).
    public var mergedFrom: [String]
    public var moved: Moved

    public init(
        primaryID: String,
        secondaryIDs: [String],
        result: CustomerState,
        mergedFrom: [String],
        moved: Moved
    ) {
        self.primaryID = primaryID
        self.secondaryIDs = secondaryIDs
        self.result = result
        self.mergedFrom = mergedFrom
        self.moved = moved
    }
}

/// What the decision state keeps of an erasure (`erasures` table): where it is in the log and which
/// keys it destroyed, so that crmd can finish it at start-up when the key store still holds one (a
/// crash between the event's commit and the keys' deletion, or a key store restored from an older
/// copy) and report on it.
public struct CustomerErasure: Sendable, Hashable {
    /// The position of the `CustomerErased` event.
    public var seq: UInt64
    /// When it was recorded (UTC milliseconds).
    public var at: Int64
    public var keyIDs: [String]
    public var emailHashes: [String]
    public var phoneHashes: [String]
    /// The personal fields the customer had.
    public var erasedFields: [String]

    public init(
        seq: UInt64,
        at: Int64,
        keyIDs: [String],
        emailHashes: [String],
        phoneHashes: [String],
        erasedFields: [String]
    ) {
        self.seq = seq
        self.at = at
        self.keyIDs = keyIDs
        self.emailHashes = emailHashes
        self.phoneHashes = phoneHashes
        self.erasedFields = erasedFields
    }

    static let rowFormat: UInt8 = 2

    /// The compact binary row of the `erasures` table.
    public func encoded() -> [UInt8] {
        var row = BinaryRowWriter()
        row.byte(CustomerErasure.rowFormat)
        row.varint(self.seq)
        row.int(self.at)
        row.strings(self.keyIDs)
        row.strings(self.emailHashes)
        row.strings(self.phoneHashes)
        row.strings(self.erasedFields)
        return row.bytes
    }

    /// Decodes a row written by ``encoded()``.
    public init(decoding bytes: [UInt8]) throws(StateDecodingError) {
        var row = BinaryRowReader(bytes, what: "erasure record")
        try row.format(CustomerErasure.rowFormat)
        self.init(
            seq: try row.varint(), at: try row.int(), keyIDs: try row.strings(), emailHashes: try row.strings(),
            phoneHashes: try row.strings(), erasedFields: try row.strings()
        )
        try row.finish()
    }
}
