// MARK: - Shared helpers

extension DecisionState {
    /// The active customer `id`, or a rejection: `not_found`, `customer_merged` or `customer_erased`,
    /// each naming `field`.
    func activeCustomer(_ id: String, field: String, personal: Bool = true) throws -> CustomerState {
        guard let customer = try self.customer(id, personal: personal) else {
            throw Rejection.notFound(field, "customer", id)
        }
        try customer.requireActive(field: field)
        return customer
    }

    /// Throws `duplicate_email` when an address of `emails` is held by another active customer.
    ///
    /// - Parameter fieldPrefix: path of the email list (`emails`, `set.emails`).
    func checkEmailsAvailable(_ emails: [CustomerState.Email], for id: String, fieldPrefix: String) throws {
        for (index, email) in emails.enumerated() {
            guard let holder = try self.customerID(forEmail: email.key), holder != id,
                let other = try self.customer(holder, personal: false), other.status == .active
            else { continue }
            throw Rejection(
                .duplicateEmail,
                field: "\(fieldPrefix)[\(index)].address",
                // The message names the field, never the address: a rejection is kept with its
                // command id (idempotency), and kept data holds no personal value in plain text.
                "this address already belongs to customer \(holder)",
                details: ["existing_customer_id": .string(holder)]
            )
        }
    }
}

extension DecisionState {
    /// Throws `email_erased` when an address of `emails` belonged to an erased customer (the blocklist
    /// keeps keyed hashes of their addresses).
    func checkEmailsNotErased(_ emails: [CustomerState.Email], fieldPrefix: String) throws {
        for (index, email) in emails.enumerated() {
            guard let hash = self.keyedHash(email.key), try self.erasedCustomerID(forEmailHash: hash) != nil
            else { continue }
            throw Rejection(
                .emailErased,
                field: "\(fieldPrefix)[\(index)].address",
                "this address belonged to a customer whose personal data was erased; "
                    + "give allow_previously_erased: true if the person asked to be added again"
            )
        }
    }
}

/// The reply members of every customer command.
private func customerResult(_ id: String) -> CommandResult { CommandResult(.customer, id) }

// MARK: - customer.create

/// `customer.create`: a new customer with identity, contact data and classification.
///
/// Emits `CustomerCreated`, then one `ConsentChanged` per `consent` entry that changes a status.
public struct CreateCustomer: DomainCommand {
    /// `customer.create`.
    public static let method = "customer.create"

    /// The client-supplied id, or `nil` to use the generated one.
    public let customerID: String?
    /// Every field of the new customer (its `id` is replaced in `decide`).
    public let draft: CustomerState
    /// Consent entries recorded right after creation.
    public let consent: [CustomerInput.Consent]
    /// Whether an address of an erased customer may be used again (the person came back and asked).
    public let allowPreviouslyErased: Bool

    /// The command with every field given; the RPC edge builds it from the params.
    public init(
        customerID: String?,
        draft: CustomerState,
        consent: [CustomerInput.Consent],
        allowPreviouslyErased: Bool = false
    ) {
        self.customerID = customerID
        self.draft = draft
        self.consent = consent
        self.allowPreviouslyErased = allowPreviouslyErased
    }

    /// `customer-<id>`.
    public func targetStream(_ context: CommandContext) -> String? {
        CustomerStream.name(self.customerID ?? context.generatedID)
    }

    /// Rejects an existing id or an email held by another active customer.
    public func decide(_ state: any DecisionState, _ context: CommandContext) throws -> Decision {
        let id = self.customerID ?? context.generatedID
        if try state.customer(id) != nil {
            throw Rejection(
                .alreadyExists,
                field: "customer_id",
                "customer \(id) already exists",
                details: ["id": .string(id)]
            )
        }
        try state.checkEmailsAvailable(self.draft.emails, for: id, fieldPrefix: "emails")
        if !self.allowPreviouslyErased { try state.checkEmailsNotErased(self.draft.emails, fieldPrefix: "emails") }
        var customer = self.draft
        customer.id = id
        let created = NewEvent(.customer(.created(CustomerCreated(customer))), stream: CustomerStream.name(id))
        var events = [created]
        for entry in self.consent {
            if let event = try CustomerInput.consentEvent(entry, on: &customer, causedBy: 0) {
                events.append(event)
            }
        }
        return Decision(events: events, result: customerResult(id))
    }
}

// MARK: - customer.update

/// `customer.update`: sets and clears profile fields. `emails` and `phones` replace
/// the list but keep the flags of addresses that stay.
///
/// Emits one `CustomerUpdated` with the diff, or nothing when no value changes.
public struct UpdateCustomer: DomainCommand {
    /// `customer.update`.
    public static let method = "customer.update"

    /// Plain text fields and their length limits.
    public static let textFields: [String: Int] = [
        "first_name": CustomerInput.nameLimit, "last_name": CustomerInput.nameLimit,
        "company_name": CustomerInput.longTextLimit, "job_title": CustomerInput.longTextLimit,
        "tier": CustomerInput.shortTextLimit, "source": CustomerInput.shortTextLimit,
    ]

    /// Fields that have their own command, and that command.
    public static let redirectedFields: [String: String] = [
        "owner_id": AssignOwner.method, "tags": TagCustomer.method,
        "lifecycle_stage": SetLifecycleStage.method, "lead_status": SetLeadStatus.method,
    ]

    /// The fields in `data.changes`; all others are personal and go to `pii.changes`.
    static let nonPersonalFields: Set<String> = ["tier", "source"]

    /// The customer to update.
    public let customerID: String
    /// New values of text fields (`nil` clears the field).
    public let text: [String: String?]
    /// The new email list, if it changes.
    public let emails: [CustomerState.Email]?
    /// The new phone list, if it changes.
    public let phones: [CustomerState.Phone]?
    /// The new address (`.some(nil)` clears it), if it changes.
    public let address: CustomerState.PostalAddress??
    /// Whether all custom keys are removed before `customSet` is merged.
    public let clearCustom: Bool
    /// Custom keys to set (`nil` removes the key).
    public let customSet: [String: CustomValue?]

    /// The command with every field given; the RPC edge builds it from the params.
    public init(
        customerID: String,
        text: [String: String?],
        emails: [CustomerState.Email]?,
        phones: [CustomerState.Phone]?,
        address: CustomerState.PostalAddress??,
        clearCustom: Bool,
        customSet: [String: CustomValue?]
    ) {
        self.customerID = customerID
        self.text = text
        self.emails = emails
        self.phones = phones
        self.address = address
        self.clearCustom = clearCustom
        self.customSet = customSet
    }

    /// `customer-<customer_id>`.
    public func targetStream(_ context: CommandContext) -> String? { CustomerStream.name(self.customerID) }

    /// The customer with this command's values applied (flags of kept addresses preserved).
    func applied(to old: CustomerState) -> CustomerState {
        var new = old
        for (name, value) in self.text {
            switch name {
            case "first_name": new.firstName = value
            case "last_name": new.lastName = value
            case "company_name": new.companyName = value
            case "job_title": new.jobTitle = value
            case "tier": new.tier = value
            case "source": new.source = value
            default: break
            }
        }
        if let emails = self.emails {
            new.emails = emails.map { email in
                var email = email
                if let kept = old.emails.first(where: { $0.key == email.key }) {
                    email.optedOut = kept.optedOut
                    email.invalid = kept.invalid
                    email.consent = kept.consent
                }
                return email
            }
        }
        if let phones = self.phones {
            new.phones = phones.map { $0.keepingFlags(of: old.phones) }
        }
        if let address = self.address { new.address = address }
        if self.clearCustom { new.custom = [:] }
        for (key, value) in self.customSet {
            new.custom[key] = value
        }
        return new
    }

    /// Rejects a missing, merged or erased customer, a result without identity and emails held by
    /// another active customer.
    public func decide(_ state: any DecisionState, _ context: CommandContext) throws -> Decision {
        let old = try state.activeCustomer(self.customerID, field: "customer_id")
        let new = self.applied(to: old)
        guard new.hasIdentity else {
            throw Rejection(.missingIdentity, "a customer needs a first_name, last_name, email or phone")
        }
        if self.emails != nil {
            try state.checkEmailsAvailable(new.emails, for: self.customerID, fieldPrefix: "set.emails")
        }
        let updated = CustomerUpdated(from: old, to: new)
        guard !updated.isEmpty else { return Decision(events: [], result: customerResult(self.customerID)) }
        let event = NewEvent(.customer(.updated(updated)), stream: CustomerStream.name(self.customerID))
        return Decision(events: [event], result: customerResult(self.customerID))
    }
}

// MARK: - customer.tag

/// `customer.tag`: adds and removes tags.
///
/// Emits `CustomerTagged` with only the real changes, or nothing.
public struct TagCustomer: DomainCommand {
    /// `customer.tag`.
    public static let method = "customer.tag"

    /// The customer to tag.
    public let customerID: String
    /// Tags to add, sorted and de-duplicated.
    public let add: [String]
    /// Tags to remove, sorted and de-duplicated.
    public let remove: [String]

    /// The command with every field given; the RPC edge builds it from the params.
    public init(
        customerID: String,
        add: [String],
        remove: [String]
    ) {
        self.customerID = customerID
        self.add = add
        self.remove = remove
    }

    /// `customer-<customer_id>`.
    public func targetStream(_ context: CommandContext) -> String? { CustomerStream.name(self.customerID) }

    /// Rejects a missing, merged or erased customer.
    public func decide(_ state: any DecisionState, _ context: CommandContext) throws -> Decision {
        let customer = try state.activeCustomer(self.customerID, field: "customer_id", personal: false)
        let current = Set(customer.tags)
        let added = self.add.filter { !current.contains($0) }
        let removed = self.remove.filter { current.contains($0) }
        guard !added.isEmpty || !removed.isEmpty else {
            return Decision(events: [], result: customerResult(self.customerID))
        }
        let tagged = CustomerTagged(customerID: self.customerID, added: added, removed: removed)
        let event = NewEvent(.customer(.tagged(tagged)), stream: CustomerStream.name(self.customerID))
        return Decision(events: [event], result: customerResult(self.customerID))
    }
}

// MARK: - customer.assign_owner

/// `customer.assign_owner`: sets or clears (`owner_id: null`) the owner.
///
/// Emits `CustomerOwnerChanged`, or nothing when the owner stays.
public struct AssignOwner: DomainCommand {
    /// `customer.assign_owner`.
    public static let method = "customer.assign_owner"

    /// The customer.
    public let customerID: String
    /// The new owner, or `nil` to unassign.
    public let ownerID: String?

    /// The command with every field given; the RPC edge builds it from the params.
    public init(
        customerID: String,
        ownerID: String?
    ) {
        self.customerID = customerID
        self.ownerID = ownerID
    }

    /// `customer-<customer_id>`.
    public func targetStream(_ context: CommandContext) -> String? { CustomerStream.name(self.customerID) }

    /// Rejects a missing, merged or erased customer.
    public func decide(_ state: any DecisionState, _ context: CommandContext) throws -> Decision {
        let customer = try state.activeCustomer(self.customerID, field: "customer_id", personal: false)
        guard customer.ownerID != self.ownerID else {
            return Decision(events: [], result: customerResult(self.customerID))
        }
        let changed = CustomerOwnerChanged(customerID: self.customerID, from: customer.ownerID, to: self.ownerID)
        let event = NewEvent(.customer(.ownerChanged(changed)), stream: CustomerStream.name(self.customerID))
        return Decision(events: [event], result: customerResult(self.customerID))
    }
}

// MARK: - customer.set_lifecycle_stage

/// `customer.set_lifecycle_stage`: moves the lifecycle stage; backward only with `allow_backward`.
///
/// Emits `LifecycleStageChanged{source:"manual"}`, or nothing for the current stage.
public struct SetLifecycleStage: DomainCommand {
    /// `customer.set_lifecycle_stage`.
    public static let method = "customer.set_lifecycle_stage"

    /// The customer.
    public let customerID: String
    /// The target stage.
    public let stage: String
    /// Whether a move to an earlier stage is allowed.
    public let allowBackward: Bool

    /// The command with every field given; the RPC edge builds it from the params.
    public init(
        customerID: String,
        stage: String,
        allowBackward: Bool
    ) {
        self.customerID = customerID
        self.stage = stage
        self.allowBackward = allowBackward
    }

    /// `customer-<customer_id>`.
    public func targetStream(_ context: CommandContext) -> String? { CustomerStream.name(self.customerID) }

    /// Rejects a missing, merged or erased customer and an unallowed backward move.
    public func decide(_ state: any DecisionState, _ context: CommandContext) throws -> Decision {
        let customer = try state.activeCustomer(self.customerID, field: "customer_id", personal: false)
        let from = customer.lifecycleStage
        guard from != self.stage else { return Decision(events: [], result: customerResult(self.customerID)) }
        if !self.allowBackward, let fromRank = Validation.lifecycleRank(from),
            let toRank = Validation.lifecycleRank(self.stage), toRank < fromRank
        {
            throw Rejection(
                .lifecycleBackward,
                field: "stage",
                "\(self.stage) is before \(from); pass allow_backward:true to move back",
                details: ["from": .string(from), "to": .string(self.stage)]
            )
        }
        let changed = LifecycleStageChanged(
            customerID: self.customerID, from: from, to: self.stage, source: "manual"
        )
        let event = NewEvent(
            .customer(.lifecycleStageChanged(changed)),
            stream: CustomerStream.name(self.customerID)
        )
        return Decision(events: [event], result: customerResult(self.customerID))
    }
}

// MARK: - customer.set_lead_status

/// `customer.set_lead_status`: sets the HubSpot-style lead status.
///
/// Emits `LeadStatusChanged`, or nothing for the current status.
public struct SetLeadStatus: DomainCommand {
    /// `customer.set_lead_status`.
    public static let method = "customer.set_lead_status"

    /// The customer.
    public let customerID: String
    /// The new status (one of ``Validation/leadStatuses``).
    public let status: String

    /// The command with every field given; the RPC edge builds it from the params.
    public init(
        customerID: String,
        status: String
    ) {
        self.customerID = customerID
        self.status = status
    }

    /// `customer-<customer_id>`.
    public func targetStream(_ context: CommandContext) -> String? { CustomerStream.name(self.customerID) }

    /// Rejects a missing, merged or erased customer.
    public func decide(_ state: any DecisionState, _ context: CommandContext) throws -> Decision {
        let customer = try state.activeCustomer(self.customerID, field: "customer_id", personal: false)
        guard customer.leadStatus != self.status else {
            return Decision(events: [], result: customerResult(self.customerID))
        }
        let changed = LeadStatusChanged(customerID: self.customerID, from: customer.leadStatus, to: self.status)
        let event = NewEvent(.customer(.leadStatusChanged(changed)), stream: CustomerStream.name(self.customerID))
        return Decision(events: [event], result: customerResult(self.customerID))
    }
}

// MARK: - customer.set_consent

/// `customer.set_consent`: records marketing consent for one email or phone.
///
/// Emits `ConsentChanged`, or nothing when the status stays.
public struct SetConsent: DomainCommand {
    /// `customer.set_consent`.
    public static let method = "customer.set_consent"

    /// The customer.
    public let customerID: String
    /// The consent entry.
    public let consent: CustomerInput.Consent

    /// The command with every field given; the RPC edge builds it from the params.
    public init(
        customerID: String,
        consent: CustomerInput.Consent
    ) {
        self.customerID = customerID
        self.consent = consent
    }

    /// `customer-<customer_id>`.
    public func targetStream(_ context: CommandContext) -> String? { CustomerStream.name(self.customerID) }

    /// Rejects a missing, merged or erased customer and an address the customer does not have.
    public func decide(_ state: any DecisionState, _ context: CommandContext) throws -> Decision {
        var customer = try state.activeCustomer(self.customerID, field: "customer_id")
        let events = try CustomerInput.consentEvent(self.consent, on: &customer).map { [$0] } ?? []
        return Decision(events: events, result: customerResult(self.customerID))
    }
}

// MARK: - customer.set_legal_hold

/// `customer.set_legal_hold`: sets or lifts the legal hold that refuses erasure.
///
/// Emits `LegalHoldChanged`, or nothing when the hold is already as asked.
public struct SetLegalHold: DomainCommand {
    /// `customer.set_legal_hold`.
    public static let method = "customer.set_legal_hold"

    public let customerID: String
    public let on: Bool
    /// Why (not personal data: a case number, the obligation).
    public let reason: String?

    /// The command with every field given; the RPC edge builds it from the params.
    public init(customerID: String, on: Bool, reason: String?) {
        self.customerID = customerID
        self.on = on
        self.reason = reason
    }

    /// `customer-<customer_id>`.
    public func targetStream(_ context: CommandContext) -> String? { CustomerStream.name(self.customerID) }

    /// Rejects a missing, merged or erased customer.
    public func decide(_ state: any DecisionState, _ context: CommandContext) throws -> Decision {
        let customer = try state.activeCustomer(self.customerID, field: "customer_id", personal: false)
        guard customer.legalHold != self.on else {
            return Decision(events: [], result: customerResult(self.customerID))
        }
        let changed = LegalHoldChanged(customerID: self.customerID, on: self.on, reason: self.reason)
        let event = NewEvent(.customer(.legalHoldChanged(changed)), stream: CustomerStream.name(self.customerID))
        return Decision(events: [event], result: customerResult(self.customerID))
    }
}

// MARK: - customer.erase

/// `customer.erase`: erases a customer's personal data (GDPR Art. 17) by destroying the keys that seal
/// it: the customer's own and those of the customers merged into it (its key ring), and those of the
/// shared activities whose other customers are all erased.
/// The customer stays as a tombstone with its id and what is not personal (stage, tags, counts, deals,
/// tickets), and every report keeps its numbers.
///
/// Emits `CustomerErased`; nothing for a customer erased before. Rejects `customer_merged` (erase the
/// customer it was merged into), `legal_hold`, and `bad_request` on a log that keeps personal data in
/// plain text (there is no key to destroy).
public struct EraseCustomer: DomainCommand {
    /// `customer.erase`.
    public static let method = "customer.erase"

    public let customerID: String
    /// The ground (`art17_1a` … `art17_1f`, or the operator's own code).
    public let reason: String?
    /// The operator's reference of the request.
    public let requestRef: String?
    /// When the person asked (UTC milliseconds).
    public let requestedAt: Int64?

    /// The command with every field given; the RPC edge builds it from the params.
    public init(customerID: String, reason: String?, requestRef: String?, requestedAt: Int64?) {
        self.customerID = customerID
        self.reason = reason
        self.requestRef = requestRef
        self.requestedAt = requestedAt
    }

    /// `customer-<customer_id>`.
    public func targetStream(_ context: CommandContext) -> String? { CustomerStream.name(self.customerID) }

    /// The event, or none for a customer already erased.
    public func decide(_ state: any DecisionState, _ context: CommandContext) throws -> Decision {
        guard let customer = try state.customer(self.customerID) else {
            throw Rejection.notFound("customer_id", "customer", self.customerID)
        }
        let result = customerResult(self.customerID)
        if customer.status == .erased { return Decision(events: [], result: result) }
        try customer.requireActive(field: "customer_id")
        if customer.legalHold {
            throw Rejection(
                .legalHold, field: "customer_id",
                "customer \(self.customerID) is under a legal hold; lift it (customer.set_legal_hold) to erase"
            )
        }
        guard state.encryptsPersonalData else {
            throw Rejection(
                .badRequest,
                "this log stores personal data in plain text, so nothing can be erased from it; "
                    + "crmctl migrate --encrypt-pii copies it into an encrypted log"
            )
        }
        // The customer's key ring: its own key and those of every customer merged into it.
        var keyIDs = ["c:" + self.customerID] + customer.mergedFrom.map { "c:" + $0 }
        for activity in customer.sharedActivities {
            let others = (try state.sharedActivityCustomers(activity) ?? []).filter { $0 != self.customerID }
            if try others.allSatisfy({ try state.customer($0, personal: false)?.status == .erased }) {
                keyIDs.append("a:" + activity)
            }
        }
        let erased = CustomerErased(
            customerID: self.customerID,
            erasedFields: EraseCustomer.personalFields(of: customer),
            emailHashes: Set(customer.emails.compactMap { state.keyedHash($0.key) }).sorted(),
            phoneHashes: Set(customer.phones.compactMap { state.keyedHash($0.normalized) }).sorted(),
            reason: self.reason,
            requestRef: self.requestRef,
            requestedAt: self.requestedAt,
            keyIDs: keyIDs
        )
        return Decision(
            events: [NewEvent(.customer(.erased(erased)), stream: CustomerStream.name(self.customerID))],
            result: result
        )
    }

    /// The names of the personal fields `customer` has values in, sorted.
    static func personalFields(of customer: CustomerState) -> [String] {
        var fields: [String] = []
        if customer.address != nil { fields.append("address") }
        if customer.companyName != nil { fields.append("company_name") }
        if !customer.custom.isEmpty { fields.append("custom") }
        if !customer.emails.isEmpty { fields.append("emails") }
        if customer.firstName != nil { fields.append("first_name") }
        if customer.jobTitle != nil { fields.append("job_title") }
        if customer.lastName != nil { fields.append("last_name") }
        if !customer.phones.isEmpty { fields.append("phones") }
        return fields
    }
}

// MARK: - Erasures restored from the key store

/// An erasure the key store records but the log lacks: a hot backup from before it was restored with
/// the current key store. crmd decides it at start-up, never a client: the keys are gone already, so
/// the log is made to say so again — the customer becomes a tombstone and its addresses are blocked
/// — whatever the restored state says (a legal hold set after the erasure included).
///
/// Emits `CustomerErased` with `reapplied_after_restore`; nothing for a customer the restored log does
/// not know or already shows erased.
public struct ReapplyErasure: DomainCommand {
    /// Not a method clients may call; the name under which crmd logs it.
    public static let method = "customer.erase (reapplied after restore)"

    public let customerID: String
    /// What the key store kept of the erasure.
    public let erasure: CustomerErasure

    public init(customerID: String, erasure: CustomerErasure) {
        self.customerID = customerID
        self.erasure = erasure
    }

    /// `customer-<customer_id>`.
    public func targetStream(_ context: CommandContext) -> String? { CustomerStream.name(self.customerID) }

    public func decide(_ state: any DecisionState, _ context: CommandContext) throws -> Decision {
        let result = CommandResult(.customer, self.customerID)
        guard let customer = try state.customer(self.customerID, personal: false), customer.status != .erased else {
            return Decision(events: [], result: result)
        }
        let erased = CustomerErased(
            customerID: self.customerID, erasedFields: self.erasure.erasedFields,
            emailHashes: self.erasure.emailHashes, phoneHashes: self.erasure.phoneHashes, reason: nil,
            requestRef: nil, requestedAt: nil, keyIDs: self.erasure.keyIDs, reappliedAfterRestore: true
        )
        return Decision(
            events: [NewEvent(.customer(.erased(erased)), stream: CustomerStream.name(self.customerID))],
            result: result
        )
    }
}
