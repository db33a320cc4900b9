/// What `decide` knows about one customer: its status and every current field value, so that commands
/// can check invariants and compute exact diffs. Kept in the `customers` state table, folded from the
/// customer's events by ``DecisionEvolver``.
public struct CustomerState: Sendable, Hashable {
    /// Whether the customer can still be changed.
    public enum Status: String, Sendable, Hashable {
        /// A normal customer.
        case active
        /// Merged into another customer (a tombstone); see ``CustomerState/mergedInto``.
        case merged
        /// Erased under GDPR (a tombstone).
        case erased

        /// The status's byte in a binary row.
        var code: UInt8 {
            switch self {
            case .active: 0
            case .merged: 1
            case .erased: 2
            }
        }

        init?(code: UInt8) {
            switch code {
            case 0: self = .active
            case 1: self = .merged
            case 2: self = .erased
            default: return nil
            }
        }
    }

    /// One email address of the customer with its flags.
    public struct Email: Sendable, Hashable {
        /// The address, trimmed, as the client gave it.
        public var address: String
        /// Whether this is the primary address (exactly one in a non-empty list).
        public var primary: Bool
        /// Whether the address is opted out of marketing (`consent == opted_out`).
        public var optedOut: Bool
        /// Whether the address is known to bounce.
        public var invalid: Bool
        /// The recorded marketing consent (one of ``Validation/consentStatuses``).
        public var consent: String

        /// Creates an email entry.
        public init(
            address: String,
            primary: Bool,
            optedOut: Bool = false,
            invalid: Bool = false,
            consent: String = Validation.consentNotSet
        ) {
            self.address = address
            self.primary = primary
            self.optedOut = optedOut
            self.invalid = invalid
            self.consent = consent
        }

        /// The lower-cased address used for comparison and the email index.
        public var key: String { Validation.emailKey(self.address) }

    }

    /// One phone number of the customer with its flags.
    public struct Phone: Sendable, Hashable {
        /// The number, trimmed, as the client gave it.
        public var number: String
        /// `+` and digits only (``Validation/normalizedPhone(_:)``).
        public var normalized: String
        /// `mobile`, `office`, `home`, `fax`, `other`, or `nil`.
        public var type: String?
        /// Whether this is the primary number (exactly one in a non-empty list).
        public var primary: Bool
        /// Whether the number must not be called (phone consent `opted_out`).
        public var doNotCall: Bool
        /// The recorded consent for calls.
        public var consent: String
        /// The recorded consent for text messages.
        public var smsConsent: String

        /// Creates a phone entry.
        public init(
            number: String,
            normalized: String,
            type: String?,
            primary: Bool,
            doNotCall: Bool = false,
            consent: String = Validation.consentNotSet,
            smsConsent: String = Validation.consentNotSet
        ) {
            self.number = number
            self.normalized = normalized
            self.type = type
            self.primary = primary
            self.doNotCall = doNotCall
            self.consent = consent
            self.smsConsent = smsConsent
        }

    }

    /// A postal address; every part is optional.
    public struct PostalAddress: Sendable, Hashable {
        /// Street and number.
        public var street: String?
        /// City.
        public var city: String?
        /// State or region.
        public var state: String?
        /// Postal code.
        public var postalCode: String?
        /// Country.
        public var country: String?

        /// Creates an address.
        public init(
            street: String? = nil,
            city: String? = nil,
            state: String? = nil,
            postalCode: String? = nil,
            country: String? = nil
        ) {
            self.street = street
            self.city = city
            self.state = state
            self.postalCode = postalCode
            self.country = country
        }

        /// Whether no part is set.
        public var isEmpty: Bool {
            self.street == nil && self.city == nil && self.state == nil && self.postalCode == nil && self.country == nil
        }

    }

    /// The customer id.
    public var id: String
    /// Active, merged or erased.
    public var status: Status
    /// For a merged customer, the customer it was merged into.
    public var mergedInto: String?
    /// First name.
    public var firstName: String?
    /// Last name.
    public var lastName: String?
    /// Company name.
    public var companyName: String?
    /// Job title.
    public var jobTitle: String?
    /// Email addresses, in order.
    public var emails: [Email]
    /// Phone numbers, in order.
    public var phones: [Phone]
    /// Postal address.
    public var address: PostalAddress?
    /// Custom fields: key → scalar value.
    public var custom: [String: CustomValue]
    /// Tags, sorted and de-duplicated.
    public var tags: [String]
    /// Owner (user) id.
    public var ownerID: String?
    /// Customer tier (free text, drives SLA policy matching).
    public var tier: String?
    /// Lead source (free text).
    public var source: String?
    /// Lifecycle stage (one of ``Validation/lifecycleStages``).
    public var lifecycleStage: String
    /// Lead status (one of ``Validation/leadStatuses``), or `nil`.
    public var leadStatus: String?
    /// Whether erasure is refused (GDPR Art. 17(3): a legal obligation or legal claims).
    public var legalHold = false
    /// The activities this customer shares with other customers (their personal data has a key of its
    /// own, destroyed when the last of them is erased), oldest first.
    public var sharedActivities: [String] = []
    /// Every customer merged into this one, directly or through a customer merged into it: its key
    /// ring, whose data keys its erasure destroys besides its own.
    public var mergedFrom: [String] = []

    /// Creates a customer state; everything but the id defaults to empty.
    public init(
        id: String,
        status: Status = .active,
        mergedInto: String? = nil,
        firstName: String? = nil,
        lastName: String? = nil,
        companyName: String? = nil,
        jobTitle: String? = nil,
        emails: [Email] = [],
        phones: [Phone] = [],
        address: PostalAddress? = nil,
        custom: [String: CustomValue] = [:],
        tags: [String] = [],
        ownerID: String? = nil,
        tier: String? = nil,
        source: String? = nil,
        lifecycleStage: String = Validation.defaultLifecycleStage,
        leadStatus: String? = nil
    ) {
        self.id = id
        self.status = status
        self.mergedInto = mergedInto
        self.firstName = firstName
        self.lastName = lastName
        self.companyName = companyName
        self.jobTitle = jobTitle
        self.emails = emails
        self.phones = phones
        self.address = address
        self.custom = custom
        self.tags = tags
        self.ownerID = ownerID
        self.tier = tier
        self.source = source
        self.lifecycleStage = lifecycleStage
        self.leadStatus = leadStatus
    }

    /// Whether the customer has a name part, an email or a phone.
    public var hasIdentity: Bool {
        self.firstName != nil || self.lastName != nil || !self.emails.isEmpty || !self.phones.isEmpty
    }

    /// Throws `customer_merged` or `customer_erased` unless the customer is active.
    ///
    /// - Parameter field: the parameter that named this customer.
    public func requireActive(field: String) throws(Rejection) {
        switch self.status {
        case .active:
            return
        case .merged:
            throw Rejection(
                .customerMerged,
                field: field,
                "customer \(self.id) was merged into \(self.mergedInto ?? "another")",
                details: ["merged_into": .string(self.mergedInto)]
            )
        case .erased:
            throw Rejection(.customerErased, field: field, "customer \(self.id) was erased")
        }
    }
}

// MARK: - Consent

extension CustomerState {
    /// Records consent `status` for the email (matched lower-cased) or phone (matched on its normalized
    /// form) `address` on `channel`. Unknown channels or addresses are ignored.
    public mutating func applyConsent(channel: String, address: String, status: String) {
        switch channel {
        case "email":
            let key = Validation.emailKey(address)
            for index in self.emails.indices where self.emails[index].key == key {
                self.emails[index].consent = status
                self.emails[index].optedOut = status == Validation.consentOptedOut
            }
        case "phone", "sms":
            let normalized = Validation.normalizedPhone(address) ?? address
            for index in self.phones.indices where self.phones[index].normalized == normalized {
                if channel == "phone" {
                    self.phones[index].consent = status
                    self.phones[index].doNotCall = status == Validation.consentOptedOut
                } else {
                    self.phones[index].smsConsent = status
                }
            }
        default:
            return
        }
    }
}

// MARK: - Encoding

/// A decision-state record that could not be decoded (a storage corruption, never a client error).
public struct StateDecodingError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What was wrong.
    public let message: String

    /// Creates the error.
    public init(_ message: String) { self.message = message }

    /// The message, prefixed with what kind of error this is.
    public var description: String { "corrupt decision state: \(self.message)" }
}

extension CustomerState {
    /// Format of the binary rows; bump it with the decision state's version.
    static let rowFormat: UInt8 = 1

    /// The compact binary row stored in the `customers` table: everything but the personal values —
    /// status, classification, and each email's and phone's flags and consent in list order — so that
    /// the events that change only those never touch the personal record
    /// (``personalEncoded()``).
    public func encoded() -> [UInt8] {
        var row = BinaryRowWriter(capacity: 96)
        row.byte(CustomerState.rowFormat)
        row.string(self.id)
        row.byte(self.status.code)
        row.optionalString(self.mergedInto)
        row.count(self.emails.count)
        for email in self.emails {
            row.byte((email.primary ? 1 : 0) | (email.optedOut ? 2 : 0) | (email.invalid ? 4 : 0))
            row.string(email.consent)
        }
        row.count(self.phones.count)
        for phone in self.phones {
            row.optionalString(phone.type)
            row.byte((phone.primary ? 1 : 0) | (phone.doNotCall ? 2 : 0))
            row.string(phone.consent)
            row.string(phone.smsConsent)
        }
        row.strings(self.tags)
        row.optionalString(self.ownerID)
        row.optionalString(self.tier)
        row.optionalString(self.source)
        row.string(self.lifecycleStage)
        row.optionalString(self.leadStatus)
        row.bool(self.legalHold)
        row.strings(self.sharedActivities)
        row.strings(self.mergedFrom)
        return row.bytes
    }

    /// The compact binary row of the customer's personal values (`customer_personal` table): names,
    /// company and job title, each email address and phone number in list order, postal address,
    /// custom fields. A log that encrypts personal data stores it sealed.
    public func personalEncoded() -> [UInt8] {
        var row = BinaryRowWriter(capacity: 128)
        row.byte(CustomerState.rowFormat)
        row.optionalString(self.firstName)
        row.optionalString(self.lastName)
        row.optionalString(self.companyName)
        row.optionalString(self.jobTitle)
        row.count(self.emails.count)
        for email in self.emails { row.string(email.address) }
        row.count(self.phones.count)
        for phone in self.phones {
            row.string(phone.number)
            row.string(phone.normalized)
        }
        row.address(self.address)
        row.count(self.custom.count)
        for key in self.custom.keys.sorted() {
            row.string(key)
            row.customValue(self.custom[key]!)
        }
        return row.bytes
    }

    /// Decodes the rows written by ``encoded()`` and ``personalEncoded()``. Without the personal row
    /// (a reader that needs only the status and the classification) the personal fields are empty and
    /// emails and phones keep their flags with empty values, so that ``encoded()`` writes them back
    /// unchanged.
    public init(decoding bytes: [UInt8], personal: [UInt8]? = nil) throws(StateDecodingError) {
        var row = BinaryRowReader(bytes, what: "customer record")
        guard try row.byte() == CustomerState.rowFormat else {
            throw StateDecodingError("stored customer record has an unknown format")
        }
        let id = try row.string()
        guard let status = Status(code: try row.byte()) else {
            throw StateDecodingError("stored customer record \(id) has an unknown status")
        }
        self.init(id: id, status: status)
        self.mergedInto = try row.optionalString()
        for _ in 0..<(try row.count()) {
            let flags = try row.byte()
            self.emails.append(
                Email(
                    address: "", primary: flags & 1 != 0, optedOut: flags & 2 != 0, invalid: flags & 4 != 0,
                    consent: try row.string()
                )
            )
        }
        for _ in 0..<(try row.count()) {
            let type = try row.optionalString()
            let flags = try row.byte()
            self.phones.append(
                Phone(
                    number: "", normalized: "", type: type, primary: flags & 1 != 0, doNotCall: flags & 2 != 0,
                    consent: try row.string(), smsConsent: try row.string()
                )
            )
        }
        self.tags = try row.strings()
        self.ownerID = try row.optionalString()
        self.tier = try row.optionalString()
        self.source = try row.optionalString()
        self.lifecycleStage = try row.string()
        self.leadStatus = try row.optionalString()
        self.legalHold = try row.bool()
        self.sharedActivities = try row.strings()
        self.mergedFrom = try row.strings()
        try row.finish()
        if let personal { try self.readPersonal(personal) }
    }

    /// Sets the personal fields from the row written by ``personalEncoded()``.
    private mutating func readPersonal(_ bytes: [UInt8]) throws(StateDecodingError) {
        var row = BinaryRowReader(bytes, what: "customer personal record")
        guard try row.byte() == CustomerState.rowFormat else {
            throw StateDecodingError("stored personal record of customer \(self.id) has an unknown format")
        }
        self.firstName = try row.optionalString()
        self.lastName = try row.optionalString()
        self.companyName = try row.optionalString()
        self.jobTitle = try row.optionalString()
        guard try row.count() == self.emails.count else {
            throw StateDecodingError("stored personal record of customer \(self.id) lists other emails")
        }
        for index in self.emails.indices { self.emails[index].address = try row.string() }
        guard try row.count() == self.phones.count else {
            throw StateDecodingError("stored personal record of customer \(self.id) lists other phones")
        }
        for index in self.phones.indices {
            self.phones[index].number = try row.string()
            self.phones[index].normalized = try row.string()
        }
        self.address = try row.address()
        for _ in 0..<(try row.count()) {
            let key = try row.string()
            self.custom[key] = try row.customValue(what: "personal record of customer \(self.id)")
        }
        try row.finish()
    }
}

// MARK: - Typed access to decision state

extension DecisionStateStore {
    /// Stores `customer` as the customer `id`: its record and its personal record.
    func setCustomer(_ id: String, _ customer: CustomerState) throws {
        try self.setRecord(.customers, id, customer.encoded())
        try self.setRecord(.customerPersonal, id, customer.personalEncoded())
    }

    /// Stores the record of customer `id` only, for a change that leaves its personal values as they
    /// are (`customer` read with ``DecisionState/customer(_:personal:)`` without them).
    func setCustomerRecord(_ id: String, _ customer: CustomerState) throws {
        try self.setRecord(.customers, id, customer.encoded())
    }

    /// Records that the deal, ticket or activity `record` names customer `id` (`linked`), or no longer
    /// does.
    func setLink(_ id: String, _ kind: CustomerLink, _ record: String, linked: Bool) throws {
        try self.setRecord(.customerLinks, CustomerLink.prefix(id, kind) + record, linked ? [] : nil)
    }
}

extension DecisionState {
    /// The customer `id`, or `nil` when there is none; with `personal: false` without its personal
    /// values (status and classification only: nothing personal is read).
    public func customer(_ id: String, personal: Bool = true) throws -> CustomerState? {
        guard let record = try self.record(.customers, id) else { return nil }
        return try CustomerState(decoding: record, personal: personal ? try self.record(.customerPersonal, id) : nil)
    }

    /// The id of the customer holding the (lower-cased) email address, or `nil`.
    public func customerID(forEmail lowercased: String) throws -> String? {
        guard let bytes = try self.record(.emails, lowercased) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Whether an activity with this id was logged.
    public func activityExists(_ id: String) throws -> Bool {
        try self.record(.activities, id) != nil
    }

    /// The customers of a shared activity (one with several customers), or `nil` for any other.
    public func sharedActivityCustomers(_ id: String) throws -> [String]? {
        guard let bytes = try self.record(.activities, id), !bytes.isEmpty else { return nil }
        return bytes.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The id of the erased customer whose email address had the keyed hash `hash`, or `nil`.
    public func erasedCustomerID(forEmailHash hash: String) throws -> String? {
        try self.record(.erasedEmails, hash).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The deals, tickets or activities (`kind`) that name customer `id`, sorted.
    public func linkedRecords(_ id: String, _ kind: CustomerLink) throws -> [String] {
        let prefix = CustomerLink.prefix(id, kind)
        return try self.keys(.customerLinks, prefix: prefix).map { String($0.dropFirst(prefix.count)) }
    }

    /// The erasure of customer `id`, or `nil` when it was not erased.
    public func erasure(_ id: String) throws -> CustomerErasure? {
        try self.record(.erasures, id).map(CustomerErasure.init(decoding:))
    }
}

/// The kinds of records the `customer_links` table ties to a customer, so that a merge can list what
/// moves from its secondaries to its primary.
public enum CustomerLink: String, Sendable, CaseIterable {
    case deal = "d"
    case ticket = "t"
    case activity = "a"
    case order = "o"

    /// `<customer id> 0x00 <kind> 0x00`: the keys of one customer's links of one kind (ids never hold
    /// `0x00`).
    static func prefix(_ customerID: String, _ kind: CustomerLink) -> String {
        "\(customerID)\u{0}\(kind.rawValue)\u{0}"
    }
}
