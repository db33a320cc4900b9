import CRMJSON

/// Parsing of the customer fields shared by `customer.create` and `customer.update`. Every function
/// reads one member of `params` and reports errors with the member's full path.
enum CustomerInput {
    /// Maximum length of a first or last name.
    static let nameLimit = 100
    /// Maximum length of company name, job title and address parts.
    static let longTextLimit = 255
    /// Maximum length of tier and source.
    static let shortTextLimit = 64
    /// Maximum length of a custom string value.
    static let customStringLimit = 1000

    /// A trimmed string member of at most `limit` characters; empty reads as `nil`.
    static func text(_ params: inout Params, _ key: String, limit: Int) throws(Rejection) -> String? {
        guard let raw = try params.string(key) else { return nil }
        let text = Validation.trimmed(raw)
        guard text.count <= limit else {
            throw Rejection.invalid(params.fieldPath(key), "must be at most \(limit) characters")
        }
        return text.isEmpty ? nil : text
    }

    /// An email list `[{address, primary?}]`.
    static func emails(_ params: inout Params, _ key: String) throws(Rejection) -> [CustomerState.Email]? {
        guard let elements = try params.array(key) else { return nil }
        var emails: [CustomerState.Email] = []
        var seen: Set<String> = []
        var primaries: [Bool] = []
        for (index, element) in elements.enumerated() {
            var entry = try Params(element, path: "\(params.fieldPath(key))[\(index)]")
            let raw = try entry.string("address", required: true)!
            let address = Validation.trimmed(raw)
            guard Validation.isValidEmail(address) else {
                throw Rejection(
                    .invalidEmail,
                    field: entry.fieldPath("address"),
                    "\"\(raw)\" is not a valid email address"
                )
            }
            guard seen.insert(Validation.emailKey(address)).inserted else {
                throw Rejection.invalid(entry.fieldPath("address"), "\(address) is listed twice")
            }
            let primary = try entry.bool("primary") ?? false
            if primary, primaries.contains(true) {
                throw Rejection.invalid(entry.fieldPath("primary"), "only one email can be primary")
            }
            try entry.finish()
            primaries.append(primary)
            emails.append(CustomerState.Email(address: address, primary: primary))
        }
        if !emails.isEmpty, !primaries.contains(true) { emails[0].primary = true }
        return emails
    }

    /// A phone list `[{number, type?, primary?}]`.
    static func phones(_ params: inout Params, _ key: String) throws(Rejection) -> [CustomerState.Phone]? {
        guard let elements = try params.array(key) else { return nil }
        var phones: [CustomerState.Phone] = []
        var seen: Set<String> = []
        var primaries: [Bool] = []
        for (index, element) in elements.enumerated() {
            var entry = try Params(element, path: "\(params.fieldPath(key))[\(index)]")
            let raw = try entry.string("number", required: true)!
            let number = Validation.trimmed(raw)
            guard number.count <= 64, let normalized = Validation.normalizedPhone(number) else {
                throw Rejection(
                    .invalidPhone,
                    field: entry.fieldPath("number"),
                    "\"\(raw)\" is not a phone number (optional +, then 7 to 15 digits)"
                )
            }
            guard seen.insert(normalized).inserted else {
                throw Rejection.invalid(entry.fieldPath("number"), "\(number) is listed twice")
            }
            let type = try entry.oneOf("type", Validation.phoneTypes)
            let primary = try entry.bool("primary") ?? false
            if primary, primaries.contains(true) {
                throw Rejection.invalid(entry.fieldPath("primary"), "only one phone can be primary")
            }
            try entry.finish()
            primaries.append(primary)
            phones.append(CustomerState.Phone(number: number, normalized: normalized, type: type, primary: primary))
        }
        if !phones.isEmpty, !primaries.contains(true) { phones[0].primary = true }
        return phones
    }

    /// A postal address object; an object without any part reads as `nil`.
    static func address(_ params: inout Params, _ key: String) throws(Rejection) -> CustomerState.PostalAddress? {
        guard var object = try params.object(key) else { return nil }
        let address = CustomerState.PostalAddress(
            street: try CustomerInput.text(&object, "street", limit: CustomerInput.longTextLimit),
            city: try CustomerInput.text(&object, "city", limit: CustomerInput.longTextLimit),
            state: try CustomerInput.text(&object, "state", limit: CustomerInput.longTextLimit),
            postalCode: try CustomerInput.text(&object, "postal_code", limit: CustomerInput.longTextLimit),
            country: try CustomerInput.text(&object, "country", limit: CustomerInput.longTextLimit)
        )
        try object.finish()
        return address.isEmpty ? nil : address
    }

    /// A custom-fields object: keys `^[a-z][a-z0-9_]{0,39}$`, values JSON scalars. A `null` value is
    /// kept in the result as `.null` (on update it removes the key; on create it is dropped).
    static func custom(_ params: inout Params, _ key: String) throws(Rejection) -> [String: JSON]? {
        guard let value = try params.raw(key) else { return nil }
        guard case .object(let members) = value else {
            throw Rejection.invalid(params.fieldPath(key), "expected an object, got \(value.typeName)")
        }
        for name in members.keys.sorted() {
            let field = "\(params.fieldPath(key)).\(name)"
            guard Validation.isValidCustomKey(name) else {
                throw Rejection.invalid(field, "custom keys must match ^[a-z][a-z0-9_]{0,39}$")
            }
            switch members[name]! {
            case .null, .bool, .int, .double:
                continue
            case .string(let text):
                guard text.count <= CustomerInput.customStringLimit else {
                    throw Rejection.invalid(field, "must be at most \(CustomerInput.customStringLimit) characters")
                }
            case .array, .object, .serialized:
                throw Rejection.invalid(field, "custom values must be strings, numbers or booleans")
            }
        }
        return members
    }

    /// A tag list; each tag must match `^[\p{L}\p{N} _.:-]{1,64}$`. Returns the tags sorted and
    /// de-duplicated.
    static func tags(_ params: inout Params, _ key: String) throws(Rejection) -> [String]? {
        guard let tags = try params.strings(key) else { return nil }
        for (index, tag) in tags.enumerated() where !Validation.isValidTag(tag) {
            throw Rejection.invalid(
                "\(params.fieldPath(key))[\(index)]",
                "tags are 1 to 64 letters, digits, spaces or _ . : -"
            )
        }
        return Array(Set(tags)).sorted()
    }

    /// A client-supplied consent entry, as in `customer.set_consent`.
    struct Consent: Sendable, Hashable {
        var channel: String
        var address: String?
        var status: String
        var legalBasis: String?
        var source: String?
        var evidence: String?
        /// Path of the `address` member, for errors found while resolving it.
        var addressField: String
    }

    /// Reads the consent members (`channel`, `address`, `status`, `legal_basis`, `source`, `evidence`)
    /// of `params`; the caller calls `finish()`.
    static func consent(_ params: inout Params) throws(Rejection) -> Consent {
        Consent(
            channel: try params.oneOf("channel", Validation.consentChannels, required: true)!,
            address: try CustomerInput.text(&params, "address", limit: 254),
            status: try params.oneOf("status", Validation.consentStatuses, required: true)!,
            legalBasis: try CustomerInput.text(&params, "legal_basis", limit: CustomerInput.shortTextLimit),
            source: try CustomerInput.text(&params, "source", limit: CustomerInput.longTextLimit),
            evidence: try CustomerInput.text(&params, "evidence", limit: CustomerInput.customStringLimit),
            addressField: params.fieldPath("address")
        )
    }

    /// Finds the email or phone a consent entry is about and returns the address as the customer
    /// stores it, and the current status on that channel.
    static func resolve(
        _ consent: Consent,
        in customer: CustomerState
    ) throws(Rejection) -> (
        address: String, current: String
    ) {
        let field = consent.addressField
        if consent.channel == "email" {
            let emails = customer.emails
            let index: Int
            if let address = consent.address {
                let key = Validation.emailKey(address)
                guard let found = emails.firstIndex(where: { $0.key == key }) else {
                    throw Rejection.invalid(field, "\(address) is not an email address of customer \(customer.id)")
                }
                index = found
            } else {
                guard !emails.isEmpty else {
                    throw Rejection.invalid(field, "customer \(customer.id) has no email address")
                }
                guard emails.count == 1 else {
                    throw Rejection(.missingField, field: field, "customer \(customer.id) has several emails; name one")
                }
                index = 0
            }
            return (emails[index].address, emails[index].consent)
        }
        let phones = customer.phones
        let index: Int
        if let address = consent.address {
            guard let normalized = Validation.normalizedPhone(address),
                let found = phones.firstIndex(where: { $0.normalized == normalized })
            else {
                throw Rejection.invalid(field, "\(address) is not a phone number of customer \(customer.id)")
            }
            index = found
        } else {
            guard !phones.isEmpty else {
                throw Rejection.invalid(field, "customer \(customer.id) has no phone number")
            }
            guard phones.count == 1 else {
                throw Rejection(.missingField, field: field, "customer \(customer.id) has several phones; name one")
            }
            index = 0
        }
        let current = consent.channel == "sms" ? phones[index].smsConsent : phones[index].consent
        return (phones[index].number, current)
    }

    /// The `ConsentChanged` event for `consent` on `customer`, or `nil` when the status is unchanged.
    /// Applies the change to `customer`.
    static func consentEvent(
        _ consent: Consent,
        on customer: inout CustomerState,
        causedBy: Int? = nil
    ) throws(Rejection) -> NewEvent? {
        let (address, current) = try CustomerInput.resolve(consent, in: customer)
        guard current != consent.status else { return nil }
        customer.applyConsent(channel: consent.channel, address: address, status: consent.status)
        let changed = ConsentChanged(
            customerID: customer.id, channel: consent.channel, from: current, to: consent.status,
            legalBasis: consent.legalBasis, source: consent.source, contactPoint: address, evidence: consent.evidence
        )
        return NewEvent(
            .customer(.consentChanged(changed)),
            stream: CustomerStream.name(customer.id),
            causedBy: causedBy
        )
    }
}

/// The event type names of docs/EVENTS.md.
public enum EventType {
    /// `CustomerCreated`.
    public static let customerCreated = "CustomerCreated"
    /// `CustomerUpdated`.
    public static let customerUpdated = "CustomerUpdated"
    /// `CustomerTagged`.
    public static let customerTagged = "CustomerTagged"
    /// `CustomerOwnerChanged`.
    public static let customerOwnerChanged = "CustomerOwnerChanged"
    /// `LifecycleStageChanged`.
    public static let lifecycleStageChanged = "LifecycleStageChanged"
    /// `LeadStatusChanged`.
    public static let leadStatusChanged = "LeadStatusChanged"
    /// `ConsentChanged`.
    public static let consentChanged = "ConsentChanged"
    /// `ActivityLogged`.
    public static let activityLogged = "ActivityLogged"
}

/// Stream names of customers.
public enum CustomerStream {
    /// `customer-<id>`.
    public static func name(_ id: String) -> String { "customer-\(id)" }
}

/// Stream names of activities.
public enum ActivityStream {
    /// `activity-<id>`.
    public static func name(_ id: String) -> String { "activity-\(id)" }
}
