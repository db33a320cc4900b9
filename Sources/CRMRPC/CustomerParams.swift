public import CRMDomain
import CRMEventStore
import CRMJSON
public import CRMParams

extension CreateCustomer {
    /// Parses and validates the params.
    public init(params: inout Params) throws(Rejection) {
        let customerID: String?
        customerID = try params.identifier("customer_id")
        var draft = CustomerState(id: customerID ?? "(new)")
        draft.firstName = try CustomerInput.text(&params, "first_name", limit: CustomerInput.nameLimit)
        draft.lastName = try CustomerInput.text(&params, "last_name", limit: CustomerInput.nameLimit)
        draft.emails = try CustomerInput.emails(&params, "emails") ?? []
        draft.phones = try CustomerInput.phones(&params, "phones") ?? []
        draft.companyName = try CustomerInput.text(&params, "company_name", limit: CustomerInput.longTextLimit)
        draft.jobTitle = try CustomerInput.text(&params, "job_title", limit: CustomerInput.longTextLimit)
        draft.address = try CustomerInput.address(&params, "address")
        draft.ownerID = try params.identifier("owner_id")
        draft.tags = try CustomerInput.tags(&params, "tags") ?? []
        draft.tier = try CustomerInput.text(&params, "tier", limit: CustomerInput.shortTextLimit)
        draft.source = try CustomerInput.text(&params, "source", limit: CustomerInput.shortTextLimit)
        draft.lifecycleStage =
            try params.oneOf("lifecycle_stage", Validation.lifecycleStages) ?? Validation.defaultLifecycleStage
        draft.leadStatus = try params.oneOf("lead_status", Validation.leadStatuses)
        draft.custom = (try CustomerInput.custom(&params, "custom") ?? [:]).compactMapValues(CustomValue.init(json:))
        let allowPreviouslyErased = try params.bool("allow_previously_erased") ?? false
        var consent: [CustomerInput.Consent] = []
        for (index, element) in (try params.array("consent") ?? []).enumerated() {
            var entry = try Params(element, path: "consent[\(index)]")
            consent.append(try CustomerInput.consent(&entry))
            try entry.finish()
        }
        try params.finish()
        guard draft.hasIdentity else {
            throw Rejection(.missingIdentity, "a customer needs a first_name, last_name, email or phone")
        }
        // Resolve consent addresses now: they depend only on the emails and phones given here.
        var probe = draft
        for entry in consent { _ = try CustomerInput.consentEvent(entry, on: &probe) }
        self.init(
            customerID: customerID, draft: draft, consent: consent, allowPreviouslyErased: allowPreviouslyErased
        )
    }
}

extension UpdateCustomer {
    /// Parses and validates the params.
    public init(params: inout Params) throws(Rejection) {
        let customerID: String
        customerID = try params.identifier("customer_id", required: true)!
        let setParams = try params.object("set")
        let unset = try params.strings("unset")
        try params.finish()
        guard setParams != nil || unset != nil else {
            throw Rejection(.missingField, field: "set", "customer.update needs set and/or unset")
        }
        var text: [String: String?] = [:]
        var emails: [CustomerState.Email]?
        var phones: [CustomerState.Phone]?
        var address: CustomerState.PostalAddress??
        var clearCustom = false
        var customSet: [String: CustomValue?] = [:]
        if var set = setParams {
            for name in set.keys {
                if let limit = UpdateCustomer.textFields[name] {
                    text.updateValue(try CustomerInput.text(&set, name, limit: limit), forKey: name)
                } else if name == "emails" {
                    emails = try CustomerInput.emails(&set, name) ?? []
                } else if name == "phones" {
                    phones = try CustomerInput.phones(&set, name) ?? []
                } else if name == "address" {
                    address = .some(try CustomerInput.address(&set, name))
                } else if name == "custom" {
                    if let members = try CustomerInput.custom(&set, name) {
                        customSet = members.mapValues(CustomValue.init(json:))
                    } else {
                        clearCustom = true
                    }
                } else if let command = UpdateCustomer.redirectedFields[name] {
                    throw Rejection.invalid(set.fieldPath(name), "\(name) cannot be updated here; use \(command)")
                } else {
                    throw Rejection.invalid(set.fieldPath(name), "unknown field \"\(name)\"")
                }
            }
            try set.finish()
        }
        let setNames = Set(setParams?.keys ?? [])
        let setCustomKeys = Set(customSet.keys)
        for (index, name) in (unset ?? []).enumerated() {
            let field = "unset[\(index)]"
            if name.hasPrefix("custom.") {
                let key = String(name.dropFirst("custom.".count))
                guard Validation.isValidCustomKey(key) else {
                    throw Rejection.invalid(field, "custom keys must match ^[a-z][a-z0-9_]{0,39}$")
                }
                guard !setCustomKeys.contains(key) else {
                    throw Rejection.invalid(field, "\(name) is also in set")
                }
                customSet.updateValue(nil, forKey: key)
                continue
            }
            guard !setNames.contains(name) else { throw Rejection.invalid(field, "\(name) is also in set") }
            if UpdateCustomer.textFields[name] != nil {
                text.updateValue(nil, forKey: name)
            } else if name == "emails" {
                emails = []
            } else if name == "phones" {
                phones = []
            } else if name == "address" {
                address = .some(nil)
            } else if name == "custom" {
                clearCustom = true
            } else if let command = UpdateCustomer.redirectedFields[name] {
                throw Rejection.invalid(field, "\(name) cannot be updated here; use \(command)")
            } else {
                throw Rejection.invalid(field, "unknown field \"\(name)\"")
            }
        }
        self.init(
            customerID: customerID,
            text: text,
            emails: emails,
            phones: phones,
            address: address,
            clearCustom: clearCustom,
            customSet: customSet
        )
    }
}

extension TagCustomer {
    /// Parses and validates the params.
    public init(params: inout Params) throws(Rejection) {
        let customerID: String
        customerID = try params.identifier("customer_id", required: true)!
        let add: [String]
        let remove: [String]
        let added = try CustomerInput.tags(&params, "add")
        let removed = try CustomerInput.tags(&params, "remove")
        try params.finish()
        guard added != nil || removed != nil else {
            throw Rejection(.missingField, field: "add", "customer.tag needs add and/or remove")
        }
        if let both = added?.first(where: { removed?.contains($0) == true }) {
            throw Rejection.invalid("remove", "\"\(both)\" is both added and removed")
        }
        add = added ?? []
        remove = removed ?? []
        self.init(customerID: customerID, add: add, remove: remove)
    }
}

extension AssignOwner {
    /// Parses and validates the params.
    public init(params: inout Params) throws(Rejection) {
        let customerID: String
        let ownerID: String?
        customerID = try params.identifier("customer_id", required: true)!
        guard params.contains("owner_id") else { throw Rejection.missing("owner_id") }
        ownerID = try params.identifier("owner_id")
        try params.finish()
        self.init(customerID: customerID, ownerID: ownerID)
    }
}

extension SetLifecycleStage {
    /// Parses and validates the params.
    public init(params: inout Params) throws(Rejection) {
        let customerID: String
        let stage: String
        let allowBackward: Bool
        customerID = try params.identifier("customer_id", required: true)!
        stage = try params.oneOf("stage", Validation.lifecycleStages, required: true)!
        allowBackward = try params.bool("allow_backward") ?? false
        try params.finish()
        self.init(customerID: customerID, stage: stage, allowBackward: allowBackward)
    }
}

extension SetLeadStatus {
    /// Parses and validates the params.
    public init(params: inout Params) throws(Rejection) {
        let customerID: String
        let status: String
        customerID = try params.identifier("customer_id", required: true)!
        status = try params.oneOf("status", Validation.leadStatuses, required: true)!
        try params.finish()
        self.init(customerID: customerID, status: status)
    }
}

extension SetConsent {
    /// Parses and validates the params.
    public init(params: inout Params) throws(Rejection) {
        let customerID: String
        let consent: CustomerInput.Consent
        customerID = try params.identifier("customer_id", required: true)!
        consent = try CustomerInput.consent(&params)
        try params.finish()
        self.init(customerID: customerID, consent: consent)
    }
}

extension SetLegalHold {
    /// Parses and validates the params.
    public init(params: inout Params) throws(Rejection) {
        let customerID = try params.identifier("customer_id", required: true)!
        let on = try params.bool("on", required: true)!
        let reason = try CustomerInput.text(&params, "reason", limit: CustomerInput.shortTextLimit)
        try params.finish()
        self.init(customerID: customerID, on: on, reason: reason)
    }
}

extension EraseCustomer {
    /// Parses and validates the params.
    public init(params: inout Params) throws(Rejection) {
        let customerID = try params.identifier("customer_id", required: true)!
        let reason = try CustomerInput.text(&params, "reason", limit: CustomerInput.shortTextLimit)
        let requestRef = try CustomerInput.text(&params, "request_ref", limit: CustomerInput.shortTextLimit)
        let requestedAt = try params.timestamp("requested_at")
        try params.finish()
        self.init(customerID: customerID, reason: reason, requestRef: requestRef, requestedAt: requestedAt)
    }
}

extension MergeCustomers {
    /// The most secondaries one merge takes.
    public static let secondaryLimit = 100

    /// Parses and validates the params.
    public init(params: inout Params) throws(Rejection) {
        let primaryID = try params.identifier("primary_id", required: true)!
        let secondaryIDs = try params.strings("secondary_ids", required: true)!
        guard (1...MergeCustomers.secondaryLimit).contains(secondaryIDs.count) else {
            throw Rejection.invalid(
                "secondary_ids", "must list 1 to \(MergeCustomers.secondaryLimit) customers, got \(secondaryIDs.count)"
            )
        }
        for (index, id) in secondaryIDs.enumerated() where !Identifier.isValid(id) {
            throw Rejection.invalid("secondary_ids[\(index)]", "must match ^[A-Za-z0-9_-]{1,64}$")
        }
        var resolve: [String: String] = [:]
        if var object = try params.object("resolve") {
            for field in object.keys {
                let isCustom = field.hasPrefix("custom.") && field.count > "custom.".count
                guard isCustom || MergeCustomers.resolvableFields.contains(field) else {
                    throw Rejection.invalid(
                        object.fieldPath(field),
                        "cannot be resolved; resolvable fields are "
                            + MergeCustomers.resolvableFields.joined(separator: ", ") + " and custom.<key>"
                    )
                }
                resolve[field] = try object.identifier(field, required: true)!
            }
            try object.finish()
        }
        var expectedVersions: [String: UInt64] = [:]
        if var object = try params.object("expected_versions") {
            for id in object.keys {
                guard Identifier.isValid(id) else {
                    throw Rejection.invalid(object.fieldPath(id), "must name a customer id")
                }
                guard let version = try object.int(id, required: true), version >= 0 else {
                    throw Rejection.invalid(object.fieldPath(id), "must be a stream version (an integer ≥ 0)")
                }
                expectedVersions[id] = UInt64(version)
            }
            try object.finish()
        }
        try params.finish()
        self.init(
            primaryID: primaryID, secondaryIDs: secondaryIDs, resolve: resolve, expectedVersions: expectedVersions
        )
    }
}
