/// Key layouts of the customer-profile tables, the timeline cursor, and the comparison forms of
/// emails and phone numbers.
///
/// Customer ids, tags and normalized numbers never contain `0x00` (ids match `^[A-Za-z0-9_-]+$`, tags
/// and numbers are validated by the domain), so `0x00` separates a key's parts and sorts a shorter
/// first part before any longer one that extends it.
enum ProfileKeys {
    /// The separator between key parts.
    static let separator: UInt8 = 0x00

    // MARK: - Rows of one customer

    /// `customer id ‖ 0x00`: the customer's personal row, right after the plain profile row.
    static func personalKey(_ customerID: String) -> [UInt8] {
        Array(customerID.utf8) + [Self.separator]
    }

    /// `customer id ‖ 0x00 ‖ 0x00`: the customer's ``ProfileStats`` row, right after the profile row.
    static func statsKey(_ customerID: String) -> [UInt8] {
        Array(customerID.utf8) + [Self.separator, 0x00]
    }

    /// `customer id ‖ 0x00 ‖ 0x01`: the prefix of the customer's position rows.
    static func positionsPrefix(_ customerID: String) -> [UInt8] {
        Array(customerID.utf8) + [Self.separator, 0x01]
    }

    /// `customer id ‖ 0x00 ‖ 0x01 ‖ ~be64(seq)`: positions sort newest first, right after the profile.
    static func positionKey(_ customerID: String, _ seq: UInt64) -> [UInt8] {
        Self.positionsPrefix(customerID) + Self.bigEndian(~seq)
    }

    /// The position of a position key, given the length of its prefix.
    static func decodePositionKey(_ key: UnsafeRawBufferPointer, prefixLength: Int) -> UInt64? {
        guard key.count == prefixLength + 8 else { return nil }
        return ~Self.readBigEndian(key, at: prefixLength)
    }

    /// `customer id ‖ 0x00 ‖ 0x02`: the prefix of the customer's timeline rows.
    static func timelinePrefix(_ customerID: String) -> [UInt8] {
        Array(customerID.utf8) + [Self.separator, 0x02]
    }

    /// `customer id ‖ 0x00 ‖ 0x02 ‖ ~be64(at ^ signbit) ‖ ~be64(seq)`. Flipping the sign bit makes
    /// negative times sort before positive ones in memcmp order; inverting both makes the newest
    /// entry sort first, so that a page of the timeline is a forward walk and new entries land next
    /// to the profile and the positions.
    static func timelineKey(_ customerID: String, at: Int64, seq: UInt64) -> [UInt8] {
        Self.timelinePrefix(customerID) + Self.timelineSuffix(at: at, seq: seq)
    }

    /// The time-and-sequence part of a timeline key.
    static func timelineSuffix(at: Int64, seq: UInt64) -> [UInt8] {
        Self.bigEndian(~(UInt64(bitPattern: at) ^ (1 << 63))) + Self.bigEndian(~seq)
    }

    /// The (at, seq) of a timeline key, given the length of its customer prefix.
    static func decodeTimelineKey(_ key: UnsafeRawBufferPointer, prefixLength: Int) -> (at: Int64, seq: UInt64)? {
        guard key.count == prefixLength + 16 else { return nil }
        let at = ~Self.readBigEndian(key, at: prefixLength)
        let seq = ~Self.readBigEndian(key, at: prefixLength + 8)
        return (Int64(bitPattern: at ^ (1 << 63)), seq)
    }

    /// The big-endian integer at `offset` of `bytes`.
    private static func readBigEndian(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> UInt64 {
        (0..<8).reduce(UInt64(0)) { $0 << 8 | UInt64(bytes[offset + $1]) }
    }

    /// The cursor handed to clients for the timeline entry at (`at`, `seq`): `"<at ms>:<seq>"`.
    static func timelineCursor(at: Int64, seq: UInt64) -> String { "\(at):\(seq)" }

    /// Parses a cursor made by ``timelineCursor(at:seq:)``.
    static func parseTimelineCursor(_ text: String) -> (at: Int64, seq: UInt64)? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let at = Int64(parts[0]), let seq = UInt64(parts[1]) else { return nil }
        return (at, seq)
    }

    // MARK: - Indexes

    /// `first ‖ 0x00 ‖ second`: the keys of the tag, phone and name indexes (the tag, or the index
    /// form of a number or a name at a company, then the customer id) and of `stream_customers`.
    static func pairKey(_ first: [UInt8], _ second: String) -> [UInt8] {
        first + [Self.separator] + Array(second.utf8)
    }

    /// `first ‖ 0x00`: the prefix of every pair key whose first part is `first`.
    static func pairPrefix(_ first: [UInt8]) -> [UInt8] {
        first + [Self.separator]
    }

    /// The `names` index part of a profile, `name ‖ 0x00 ‖ company`, with the full name and the
    /// company name each lower-cased, with runs of white space as one space and no control
    /// characters; `nil` unless both are there (a duplicate by name needs the company too).
    static func nameCompanyKey(first: String?, last: String?, company: String?) -> String? {
        /// `parts` lower-cased, each run of white space one space, control characters dropped.
        func normalized(_ parts: String?...) -> String {
            var out = String.UnicodeScalarView()
            var space = false
            for part in parts {
                guard let part else { continue }
                space = !out.isEmpty
                for scalar in part.lowercased().unicodeScalars {
                    if scalar.properties.isWhitespace {
                        space = !out.isEmpty
                    } else if scalar.properties.generalCategory != .control {
                        if space { out.append(" ") }
                        space = false
                        out.append(scalar)
                    }
                }
            }
            return String(out)
        }
        let name = normalized(first, last)
        let companyName = normalized(company)
        guard !name.isEmpty, !companyName.isEmpty else { return nil }
        return name + "\u{0}" + companyName
    }

    /// The form an email address is indexed and matched in: trimmed and lower-cased.
    static func emailKey(_ address: String) -> String {
        var scalars = Substring(address).unicodeScalars
        while let first = scalars.first, first.properties.isWhitespace { scalars.removeFirst() }
        while let last = scalars.last, last.properties.isWhitespace { scalars.removeLast() }
        return String(scalars).lowercased()
    }

    /// The normalized form of a phone number, as the domain computes it: an optional leading `+`,
    /// then its digits; spaces, dots, dashes and parentheses are ignored. Any other character, or
    /// fewer than 7 or more than 15 digits, gives `nil`.
    static func normalizedPhone(_ number: String) -> String? {
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

    static func bigEndian(_ value: UInt64) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * $0)) }
    }
}
