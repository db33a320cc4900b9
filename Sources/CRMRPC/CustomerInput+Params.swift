public import CRMDomain
import CRMEventStore
public import CRMJSON
public import CRMParams

// Parsing of the customer fields shared by `customer.create` and `customer.update`. Every function reads
// one member of `params` and reports errors with the member's full path.

extension CustomerInput {
    /// A trimmed string member of at most `limit` characters; empty reads as `nil`.
    public static func text(_ params: inout Params, _ key: String, limit: Int) throws(Rejection) -> String? {
        guard let raw = try params.string(key) else { return nil }
        let text = Validation.trimmed(raw)
        guard text.count <= limit else {
            throw Rejection.invalid(params.fieldPath(key), "must be at most \(limit) characters")
        }
        return text.isEmpty ? nil : text
    }

    /// An email list `[{address, primary?}]`.
    public static func emails(_ params: inout Params, _ key: String) throws(Rejection) -> [CustomerState.Email]? {
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
    public static func phones(_ params: inout Params, _ key: String) throws(Rejection) -> [CustomerState.Phone]? {
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
    public static func address(_ params: inout Params, _ key: String) throws(Rejection) -> CustomerState.PostalAddress?
    {
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
    public static func custom(_ params: inout Params, _ key: String) throws(Rejection) -> [String: JSON]? {
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
    public static func tags(_ params: inout Params, _ key: String) throws(Rejection) -> [String]? {
        guard let tags = try params.strings(key) else { return nil }
        for (index, tag) in tags.enumerated() where !Validation.isValidTag(tag) {
            throw Rejection.invalid(
                "\(params.fieldPath(key))[\(index)]",
                "tags are 1 to 64 letters, digits, spaces or _ . : -"
            )
        }
        return Array(Set(tags)).sorted()
    }

    /// Reads the consent members (`channel`, `address`, `status`, `legal_basis`, `source`, `evidence`)
    /// of `params`; the caller calls `finish()`.
    public static func consent(_ params: inout Params) throws(Rejection) -> Consent {
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
}
