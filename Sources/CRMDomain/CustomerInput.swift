/// The limits of the customer fields shared by `customer.create` and `customer.update`, and consent
/// entries, which `customer.create` and `customer.set_consent` turn into `ConsentChanged` events.
public enum CustomerInput {
    /// Maximum length of a first or last name.
    public static let nameLimit = 100
    /// Maximum length of company name, job title and address parts.
    public static let longTextLimit = 255
    /// Maximum length of tier and source.
    public static let shortTextLimit = 64
    /// Maximum length of a custom string value.
    public static let customStringLimit = 1000

    /// A client-supplied consent entry, as in `customer.set_consent`.
    public struct Consent: Sendable, Hashable {
        public var channel: String
        public var address: String?
        public var status: String
        public var legalBasis: String?
        public var source: String?
        public var evidence: String?
        /// Path of the `address` member, for errors found while resolving it.
        public var addressField: String

        public init(
            channel: String,
            address: String?,
            status: String,
            legalBasis: String?,
            source: String?,
            evidence: String?,
            addressField: String
        ) {
            self.channel = channel
            self.address = address
            self.status = status
            self.legalBasis = legalBasis
            self.source = source
            self.evidence = evidence
            self.addressField = addressField
        }
    }

    /// Finds the email or phone a consent entry is about and returns the address as the customer
    /// stores it, and the current status on that channel.
    public static func resolve(
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
                    throw Rejection.invalid(field, "not an email address of customer \(customer.id)")
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
                throw Rejection.invalid(field, "not a phone number of customer \(customer.id)")
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
    public static func consentEvent(
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
    /// `CustomerErased`.
    public static let customerErased = "CustomerErased"
    /// `LegalHoldChanged`.
    public static let legalHoldChanged = "LegalHoldChanged"
    /// `CustomersMerged`.
    public static let customersMerged = "CustomersMerged"
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
