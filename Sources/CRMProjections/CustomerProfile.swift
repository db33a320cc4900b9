import CRMDomain
import CRMEventStore
import CRMJSON

/// One customer of the customer-profile read model, as a typed value: what the customer's own events
/// set (identity, contact points and consent, owner, tags, lifecycle, custom fields). The `rows`
/// table stores it as a compact binary row under the customer id (see ``encoded()``); what other
/// records' events change (activities, tickets, deals) is the customer's ``ProfileStats`` row right
/// after it, so those events never rewrite this one. `customer.get` renders the two rows together
/// as the profile document (see ``document(_:)``).
///
/// Times are UTC milliseconds; the document shows them as timestamps.
struct CustomerProfile: Sendable, Hashable {
    /// An email address with the consent this read model records about it.
    struct Email: Sendable, Hashable {
        /// The address as the customer gave it.
        var address: String
        /// Whether it is the primary address.
        var primary: Bool
        /// The opted-out flag of the event, or set by a consent change to `opted_out`.
        var optedOut: Bool
        /// Whether the address is known to be invalid.
        var invalid: Bool
        /// The consent status; `not_set` until a consent change.
        var consent: String
        /// When the consent last changed.
        var consentAt: Int64?
        /// The legal basis given with the last consent change.
        var legalBasis: String?

        /// An address with the given flags and consent.
        init(
            address: String,
            primary: Bool,
            optedOut: Bool = false,
            invalid: Bool = false,
            consent: String = Validation.consentNotSet,
            consentAt: Int64? = nil,
            legalBasis: String? = nil
        ) {
            self.address = address
            self.primary = primary
            self.optedOut = optedOut
            self.invalid = invalid
            self.consent = consent
            self.consentAt = consentAt
            self.legalBasis = legalBasis
        }
    }

    /// A phone number with its consent.
    struct Phone: Sendable, Hashable {
        /// The number as the customer gave it.
        var number: String
        /// The normalized number (the index key).
        var normalized: String
        /// `mobile`, `work`, …
        var type: String?
        /// Whether it is the primary number.
        var primary: Bool
        /// The consent status; `not_set` until a consent change.
        var consent: String

        /// A number with the given type and consent.
        init(
            number: String,
            normalized: String,
            type: String?,
            primary: Bool,
            consent: String = Validation.consentNotSet
        ) {
            self.number = number
            self.normalized = normalized
            self.type = type
            self.primary = primary
            self.consent = consent
        }
    }

    /// One stage of the lifecycle history.
    struct LifecycleEntry: Sendable, Hashable {
        /// The stage.
        var stage: String
        /// When the customer entered it.
        var enteredAt: Int64
        /// When the customer left it; `nil` for the current stage.
        var exitedAt: Int64?

        /// An entry of the history.
        init(stage: String, enteredAt: Int64, exitedAt: Int64? = nil) {
            self.stage = stage
            self.enteredAt = enteredAt
            self.exitedAt = exitedAt
        }
    }

    /// The customer id (the row's key).
    var customerID: String
    /// `active` (or `merged`).
    var state: String = "active"
    /// The customer this one was merged into.
    var mergedInto: String?
    /// The customers merged into this one.
    var mergedFrom: [String] = []
    /// The version of the customer's own stream folded last.
    var version: UInt64
    /// When the customer was created.
    var createdAt: Int64
    /// The business time of the customer's last own event.
    var updatedAt: Int64
    // Personal fields, as the customer's events give them.
    var firstName: String?
    var lastName: String?
    var emails: [Email] = []
    var phones: [Phone] = []
    /// Set by a consent change on the `phone` channel: `true` for `opted_out`.
    var doNotCall = false
    var companyName: String?
    var jobTitle: String?
    var address: CustomerState.PostalAddress?
    /// The owning user.
    var ownerID: String?
    /// Sorted, without duplicates.
    var tags: [String] = []
    var tier: String?
    var source: String?
    /// The current lifecycle stage and when it was entered.
    var lifecycleStage: String
    var lifecycleEnteredAt: Int64
    /// Every stage entered, oldest first.
    var lifecycleHistory: [LifecycleEntry]
    var leadStatus: String?
    var custom: [String: CustomValue] = [:]

    /// A new profile at stage `lifecycleStage`, created (and last updated) at `createdAt`.
    init(customerID: String, version: UInt64, createdAt: Int64, lifecycleStage: String) {
        self.customerID = customerID
        self.version = version
        self.createdAt = createdAt
        self.updatedAt = createdAt
        self.lifecycleStage = lifecycleStage
        self.lifecycleEnteredAt = createdAt
        self.lifecycleHistory = [LifecycleEntry(stage: lifecycleStage, enteredAt: createdAt)]
    }

    // MARK: - Document

    /// The profile document `customer.get` returns with `stats`, as canonical JSON text.
    func document(_ stats: ProfileStats) -> JSON { .serialized(SerializedJSON(self.rendered(stats))) }

    /// The canonical text of the profile document (members in UTF-8 key order, as
    /// ``CRMJSON/JSON/serialized()`` writes them): `{address, company_name, created_at, custom,
    /// customer_id, deals (once a deal named the customer), do_not_call, emails, job_title,
    /// lead_status, lifecycle{entered_at, history, stage}, merged_from, merged_into,
    /// name{first, full, last}, owner_id, phones, source, state, stats, tags, tier, updated_at,
    /// value, version}`. Rendered from the profile's rows, as queries render stored rows
    /// (``ProfileRowRenderer``).
    func rendered(_ stats: ProfileStats) -> [UInt8] {
        // ``encoded()`` writes whole rows, and dictionaries hold each key once.
        guard let text = try? ProfileRowRenderer.render(self.encoded(), stats.encoded()) else {
            preconditionFailure("the rows of profile \(self.customerID) do not render")
        }
        return text
    }
}

/// Appends canonical JSON text piece by piece; the caller writes members in UTF-8 key order.
struct CanonicalWriter {
    /// The text so far.
    var bytes: [UInt8] = []

    init(capacity: Int) { self.bytes.reserveCapacity(capacity) }

    /// Punctuation and member names, as they are.
    mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { self.bytes.append(contentsOf: $0) }
    }

    /// A string, or `null`.
    mutating func string(_ value: String?) {
        guard let value else { return self.raw("null") }
        JSON.writeString(value, into: &self.bytes)
    }

    /// The elements of a string array, without the brackets.
    mutating func strings(_ values: [String]) {
        for (index, value) in values.enumerated() {
            if index > 0 { self.raw(",") }
            JSON.writeString(value, into: &self.bytes)
        }
    }

    mutating func int(_ value: Int64) { JSON.writeInt(value, into: &self.bytes) }

    mutating func bool(_ value: Bool) { self.raw(value ? "true" : "false") }

    /// A time as a timestamp string, or `null`.
    mutating func time(_ millis: Int64?) {
        guard let millis else { return self.raw("null") }
        Timestamp.writeQuoted(millis, into: &self.bytes)
    }

    /// Any value, serialized canonically.
    mutating func json(_ value: JSON) { value.write(into: &self.bytes) }

    /// An object of `members`, keys in UTF-8 order (as ``CRMJSON/JSON/serialized()`` orders them),
    /// each value written by `value`.
    mutating func object<Value>(_ members: [String: Value], _ value: (inout CanonicalWriter, Value) -> Void) {
        self.raw("{")
        for (index, key) in members.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }).enumerated() {
            if index > 0 { self.raw(",") }
            JSON.writeString(key, into: &self.bytes)
            self.raw(":")
            value(&self, members[key]!)
        }
        self.raw("}")
    }
}

// MARK: - Binary row

extension CustomerProfile {
    /// The format byte of a profile's plain row; a new layout comes with a new read-model version.
    static let rowFormat: UInt8 = 3
    /// The format byte of a profile's personal row.
    static let personalRowFormat: UInt8 = 1

    /// The compact binary row of what is not personal, stored under the customer id: identity in the
    /// model, classification, lifecycle. Equal profiles give equal bytes (the read-model audit
    /// compares rows byte by byte).
    func encodedPlain() -> [UInt8] {
        var row = BinaryRowWriter(capacity: 128)
        row.byte(Self.rowFormat)
        row.string(self.customerID)
        row.string(self.state)
        row.optionalString(self.mergedInto)
        row.strings(self.mergedFrom)
        row.varint(self.version)
        row.int(self.createdAt)
        row.int(self.updatedAt)
        row.bool(self.doNotCall)
        row.optionalString(self.ownerID)
        row.strings(self.tags)
        row.optionalString(self.tier)
        row.optionalString(self.source)
        row.string(self.lifecycleStage)
        row.int(self.lifecycleEnteredAt)
        row.count(self.lifecycleHistory.count)
        for entry in self.lifecycleHistory {
            row.string(entry.stage)
            row.int(entry.enteredAt)
            row.optionalInt(entry.exitedAt)
        }
        row.optionalString(self.leadStatus)
        return row.bytes
    }

    /// The compact binary row of the personal fields (names, contact points with their consent,
    /// company, job title, address, custom fields), stored under ``ProfileKeys/personalKey(_:)`` and
    /// sealed when the log encrypts personal data. Custom fields are written in key order.
    func encodedPersonal() -> [UInt8] {
        var row = BinaryRowWriter(capacity: 160)
        row.byte(Self.personalRowFormat)
        row.optionalString(self.firstName)
        row.optionalString(self.lastName)
        row.count(self.emails.count)
        for email in self.emails { row.email(email) }
        row.count(self.phones.count)
        for phone in self.phones { row.phone(phone) }
        row.optionalString(self.companyName)
        row.optionalString(self.jobTitle)
        row.address(self.address)
        row.count(self.custom.count)
        for key in self.custom.keys.sorted() {
            row.string(key)
            row.customValue(self.custom[key]!)
        }
        return row.bytes
    }

    /// The personal row of a profile without personal values: what an erased or merged customer keeps,
    /// and what a personal row that cannot be opened reads as.
    static let emptyPersonalRow: [UInt8] = {
        var row = BinaryRowWriter(capacity: 8)
        row.byte(Self.personalRowFormat)
        row.bool(false)
        row.bool(false)
        row.count(0)
        row.count(0)
        row.bool(false)
        row.bool(false)
        row.address(nil)
        row.count(0)
        return row.bytes
    }()

    /// Both rows, plain then personal: the layout the renderer reads (before the stats row).
    func encoded() -> [UInt8] { self.encodedPlain() + self.encodedPersonal() }

    /// Decodes the rows written by ``encodedPlain()`` and ``encodedPersonal()``; without the personal
    /// row (a fold that changes nothing personal, or a row whose key is gone) the personal fields are
    /// empty. `what` names the rows in the error (e.g. `customer c1`). A row of another format, cut
    /// short or with bytes left over is a ``ProfileStorageError``.
    init(decoding plain: [UInt8], personal: [UInt8]?, what: String) throws(ProfileStorageError) {
        self = try ProfileStorageError.reading(plain, format: Self.rowFormat, what: what) {
            row throws(StateDecodingError) in
            try Self.readPlain(&row)
        }
        guard let personal else { return }
        try self.readPersonalRow(personal, what: what)
    }

    /// Sets the personal fields, which must be empty, from the personal row `personal` (written by
    /// ``encodedPersonal()``); `what` names the profile in the error.
    mutating func readPersonalRow(_ personal: [UInt8], what: String) throws(ProfileStorageError) {
        let profile = self
        let personalWhat = "personal \(what)"
        self = try ProfileStorageError.reading(personal, format: Self.personalRowFormat, what: personalWhat) {
            row throws(StateDecodingError) in
            var profile = profile
            try profile.readPersonal(&row, what: personalWhat)
            return profile
        }
    }

    /// The personal fields: those of ``encodedPersonal()``.
    var personalFields: PersonalFields {
        get {
            PersonalFields(
                firstName: self.firstName,
                lastName: self.lastName,
                emails: self.emails,
                phones: self.phones,
                companyName: self.companyName,
                jobTitle: self.jobTitle,
                address: self.address,
                custom: self.custom
            )
        }
        set {
            self.firstName = newValue.firstName
            self.lastName = newValue.lastName
            self.emails = newValue.emails
            self.phones = newValue.phones
            self.companyName = newValue.companyName
            self.jobTitle = newValue.jobTitle
            self.address = newValue.address
            self.custom = newValue.custom
        }
    }

    /// The profile in a plain row, after its format byte, without personal fields.
    private static func readPlain(_ row: inout BinaryRowReader) throws(StateDecodingError) -> Self {
        let customerID = try row.string()
        let state = try row.string()
        let mergedInto = try row.optionalString()
        let mergedFrom = try row.strings()
        let version = try row.varint()
        var profile = CustomerProfile(
            customerID: customerID, version: version, createdAt: try row.int(), lifecycleStage: ""
        )
        profile.state = state
        profile.mergedInto = mergedInto
        profile.mergedFrom = mergedFrom
        profile.updatedAt = try row.int()
        profile.doNotCall = try row.bool()
        profile.ownerID = try row.optionalString()
        profile.tags = try row.strings()
        profile.tier = try row.optionalString()
        profile.source = try row.optionalString()
        profile.lifecycleStage = try row.string()
        profile.lifecycleEnteredAt = try row.int()
        profile.lifecycleHistory = []
        for _ in 0..<(try row.count()) {
            profile.lifecycleHistory.append(
                LifecycleEntry(stage: try row.string(), enteredAt: try row.int(), exitedAt: try row.optionalInt())
            )
        }
        profile.leadStatus = try row.optionalString()
        return profile
    }

    /// Sets the personal fields from a personal row, after its format byte.
    private mutating func readPersonal(_ row: inout BinaryRowReader, what: String) throws(StateDecodingError) {
        self.firstName = try row.optionalString()
        self.lastName = try row.optionalString()
        for _ in 0..<(try row.count()) { self.emails.append(try row.email()) }
        for _ in 0..<(try row.count()) { self.phones.append(try row.phone()) }
        self.companyName = try row.optionalString()
        self.jobTitle = try row.optionalString()
        self.address = try row.address()
        for _ in 0..<(try row.count()) {
            let key = try row.string()
            self.custom[key] = try row.customValue(what: what)
        }
    }
}

// MARK: - Row pieces

extension BinaryRowWriter {
    /// An email entry of a profile.
    mutating func email(_ email: CustomerProfile.Email) {
        self.string(email.address)
        self.byte((email.primary ? 1 : 0) | (email.optedOut ? 2 : 0) | (email.invalid ? 4 : 0))
        self.string(email.consent)
        self.optionalInt(email.consentAt)
        self.optionalString(email.legalBasis)
    }

    /// A phone entry of a profile.
    mutating func phone(_ phone: CustomerProfile.Phone) {
        self.string(phone.number)
        self.string(phone.normalized)
        self.optionalString(phone.type)
        self.bool(phone.primary)
        self.string(phone.consent)
    }

    /// An optional amount of money: a presence byte, then its 10⁻⁸ units as two 64-bit halves.
    mutating func money(_ amount: MoneyAmount?) {
        self.bool(amount != nil)
        guard let amount else { return }
        self.int(Int64(truncatingIfNeeded: amount.units >> 64))
        self.varint(UInt64(truncatingIfNeeded: amount.units))
    }
}

extension BinaryRowReader {
    /// An email entry written by ``BinaryRowWriter/email(_:)``.
    mutating func email() throws(StateDecodingError) -> CustomerProfile.Email {
        let address = try self.string()
        let flags = try self.byte()
        return CustomerProfile.Email(
            address: address, primary: flags & 1 != 0, optedOut: flags & 2 != 0, invalid: flags & 4 != 0,
            consent: try self.string(), consentAt: try self.optionalInt(), legalBasis: try self.optionalString()
        )
    }

    /// A phone entry written by ``BinaryRowWriter/phone(_:)``.
    mutating func phone() throws(StateDecodingError) -> CustomerProfile.Phone {
        CustomerProfile.Phone(
            number: try self.string(), normalized: try self.string(), type: try self.optionalString(),
            primary: try self.bool(), consent: try self.string()
        )
    }

    /// An optional amount written by ``BinaryRowWriter/money(_:)``.
    mutating func money() throws(StateDecodingError) -> MoneyAmount? {
        guard try self.bool() else { return nil }
        let high = try self.int()
        let low = try self.varint()
        return MoneyAmount(units: Int128(high) << 64 | Int128(low))
    }
}

/// The fields of a profile's personal row (``CustomerProfile/personalFields``); empty by default.
struct PersonalFields: Sendable, Hashable {
    var firstName: String?
    var lastName: String?
    var emails: [CustomerProfile.Email] = []
    var phones: [CustomerProfile.Phone] = []
    var companyName: String?
    var jobTitle: String?
    var address: CustomerState.PostalAddress?
    var custom: [String: CustomValue] = [:]
}
