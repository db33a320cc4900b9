/// Field rules of the customer and activity commands, shared by command
/// parsing, the decision evolver and read-side lookups (for example finding a customer by phone).
public enum Validation {
    // MARK: - Vocabularies

    /// The lifecycle stages in funnel order (HubSpot's defaults).
    public static let lifecycleStages = [
        "subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer",
        "evangelist", "other",
    ]

    /// The lifecycle stage of a customer created without one.
    public static let defaultLifecycleStage = "lead"

    /// The lead statuses (HubSpot `hs_lead_status`).
    public static let leadStatuses = [
        "NEW", "OPEN", "IN_PROGRESS", "OPEN_DEAL", "UNQUALIFIED", "ATTEMPTED_TO_CONTACT", "CONNECTED", "BAD_TIMING",
    ]

    /// The phone types (EspoCRM `phoneNumber` types, lower-cased).
    public static let phoneTypes = ["mobile", "office", "home", "fax", "other"]

    /// The consent channels of `customer.set_consent`.
    public static let consentChannels = ["email", "phone", "sms"]

    /// The consent statuses; `not_set` is the status of an address nobody has recorded consent for.
    public static let consentStatuses = ["not_set", "opted_in", "confirmed_opt_in", "opted_out"]

    /// The consent status nobody has recorded yet.
    public static let consentNotSet = "not_set"

    /// The consent status that opts an address out.
    public static let consentOptedOut = "opted_out"

    /// The position of `stage` in ``lifecycleStages``, or `nil` for an unknown stage.
    public static func lifecycleRank(_ stage: String) -> Int? {
        Validation.lifecycleStages.firstIndex(of: stage)
    }

    // MARK: - Text

    /// `text` without leading and trailing white space (including line breaks).
    public static func trimmed(_ text: String) -> String {
        let scalars = text.unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })!
        return String(scalars[first...last])
    }

    // MARK: - Email

    /// Whether a trimmed address is acceptable: at most 254 characters, no white space, exactly one
    /// `@`, a non-empty local part and a domain that contains a `.`.
    public static func isValidEmail(_ address: String) -> Bool {
        guard !address.isEmpty, address.count <= 254 else { return false }
        guard !address.unicodeScalars.contains(where: { $0.properties.isWhitespace }) else { return false }
        let parts = address.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2 else { return false }
        return !parts[0].isEmpty && parts[1].contains(".")
    }

    /// The form an address is compared and indexed in: lower-cased.
    public static func emailKey(_ address: String) -> String { address.lowercased() }

    // MARK: - Phone

    /// The normalized form of a phone number: an optional leading `+`, then its digits. Spaces, dots,
    /// dashes and parentheses are ignored; any other character, or fewer than 7 or more than 15 digits,
    /// gives `nil`.
    public static func normalizedPhone(_ number: String) -> String? {
        var digits = ""
        var plus = false
        for (offset, scalar) in number.unicodeScalars.enumerated() {
            switch scalar {
            case "0"..."9": digits.unicodeScalars.append(scalar)
            case "+" where offset == 0: plus = true
            case " ", ".", "-", "(", ")": continue
            default: return nil
            }
        }
        guard (7...15).contains(digits.count) else { return nil }
        return plus ? "+" + digits : digits
    }

    // MARK: - Tags and custom keys

    /// Whether `tag` matches `^[\p{L}\p{N} _.:-]{1,64}$`.
    public static func isValidTag(_ tag: String) -> Bool {
        var count = 0
        for scalar in tag.unicodeScalars {
            count += 1
            switch scalar {
            case " ", "_", ".", ":", "-": continue
            default:
                switch scalar.properties.generalCategory {
                case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
                    .decimalNumber, .letterNumber, .otherNumber:
                    continue
                default:
                    return false
                }
            }
        }
        return (1...64).contains(count)
    }

    /// Whether `key` matches `^[a-z][a-z0-9_]{0,39}$`, the rule for custom field keys.
    public static func isValidCustomKey(_ key: String) -> Bool {
        let bytes = Array(key.utf8)
        guard (1...40).contains(bytes.count), bytes[0] >= 0x61, bytes[0] <= 0x7A else { return false }
        return bytes.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F }
    }
}

/// Identifier rules shared by every command.
public enum Identifier {
    /// Whether `text` matches `^[A-Za-z0-9_-]{1,64}$`.
    public static func isValid(_ text: String) -> Bool {
        guard !text.isEmpty, text.utf8.count <= 64 else { return false }
        return text.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }
    }
}
