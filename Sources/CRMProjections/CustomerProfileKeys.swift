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
        Self.customerKey(customerID, nil)
    }

    /// `customer id ‖ 0x00 ‖ 0x00`: the customer's ``ProfileStats`` row, right after the profile row.
    static func statsKey(_ customerID: String) -> [UInt8] {
        Self.customerKey(customerID, 0x00)
    }

    /// `customer id ‖ 0x00 ‖ 0x01`: the prefix of the customer's position rows.
    static func positionsPrefix(_ customerID: String) -> [UInt8] {
        Self.customerKey(customerID, 0x01)
    }

    /// `customer id ‖ 0x00 ‖ 0x01 ‖ ~be64(seq)`: positions sort newest first, right after the profile.
    static func positionKey(_ customerID: String, _ seq: UInt64) -> [UInt8] {
        Self.customerKey(customerID, 0x01, reserving: 8) { Self.appendBigEndian(~seq, to: &$0) }
    }

    /// `customer id ‖ 0x00`, then `tag` when given, then what `tail` appends (`extra` bytes at most):
    /// built in one allocation, since these keys are made for nearly every event folded.
    private static func customerKey(
        _ customerID: String,
        _ tag: UInt8?,
        reserving extra: Int = 0,
        _ tail: (inout [UInt8]) -> Void = { _ in }
    ) -> [UInt8] {
        var key: [UInt8] = []
        key.reserveCapacity(customerID.utf8.count + 2 + extra)
        key.append(contentsOf: customerID.utf8)
        key.append(Self.separator)
        if let tag { key.append(tag) }
        tail(&key)
        return key
    }

    /// The position of a position key, given the length of its prefix.
    static func decodePositionKey(_ key: UnsafeRawBufferPointer, prefixLength: Int) -> UInt64? {
        guard key.count == prefixLength + 8 else { return nil }
        return ~Self.readBigEndian(key, at: prefixLength)
    }

    /// `customer id ‖ 0x00 ‖ 0x02`: the prefix of the customer's timeline rows.
    static func timelinePrefix(_ customerID: String) -> [UInt8] {
        Self.customerKey(customerID, 0x02)
    }

    /// `customer id ‖ 0x00 ‖ 0x02 ‖ ~be64(at ^ signbit) ‖ ~be64(seq)`. Flipping the sign bit makes
    /// negative times sort before positive ones in memcmp order; inverting both makes the newest
    /// entry sort first, so that a page of the timeline is a forward walk and new entries land next
    /// to the profile and the positions.
    static func timelineKey(_ customerID: String, at: Int64, seq: UInt64) -> [UInt8] {
        Self.customerKey(customerID, 0x02, reserving: 16) { Self.appendTimelineSuffix(at: at, seq: seq, to: &$0) }
    }

    /// The time-and-sequence part of a timeline key.
    static func timelineSuffix(at: Int64, seq: UInt64) -> [UInt8] {
        var suffix: [UInt8] = []
        suffix.reserveCapacity(16)
        Self.appendTimelineSuffix(at: at, seq: seq, to: &suffix)
        return suffix
    }

    /// Appends the time-and-sequence part of a timeline key to `key`.
    private static func appendTimelineSuffix(at: Int64, seq: UInt64, to key: inout [UInt8]) {
        Self.appendBigEndian(~(UInt64(bitPattern: at) ^ (1 << 63)), to: &key)
        Self.appendBigEndian(~seq, to: &key)
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
        var key: [UInt8] = []
        key.reserveCapacity(first.count + 1 + second.utf8.count)
        key.append(contentsOf: first)
        key.append(Self.separator)
        key.append(contentsOf: second.utf8)
        return key
    }

    /// `first ‖ 0x00`: the prefix of every pair key whose first part is `first`.
    static func pairPrefix(_ first: [UInt8]) -> [UInt8] {
        var prefix: [UInt8] = []
        prefix.reserveCapacity(first.count + 1)
        prefix.append(contentsOf: first)
        prefix.append(Self.separator)
        return prefix
    }

    /// The `names` index part of a profile, `name ‖ 0x00 ‖ company`, with the full name and the
    /// company name each lower-cased, with runs of white space as one space and no control
    /// characters; `nil` unless both are there (a duplicate by name needs the company too).
    static func nameCompanyKey(first: String?, last: String?, company: String?) -> String? {
        let name = Self.normalizedName(first, last)
        let companyName = Self.normalizedName(company, nil)
        guard !name.isEmpty, !companyName.isEmpty else { return nil }
        return name + "\u{0}" + companyName
    }

    /// `first` and `second` joined by a space, lower-cased, each run of white space one space, control
    /// characters dropped (the parts of ``nameCompanyKey(first:last:company:)``).
    static func normalizedName(_ first: String?, _ second: String?) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((first?.utf8.count ?? 0) + (second?.utf8.count ?? 0) + 1)
        var space = false
        for part in [first, second] {
            guard let part else { continue }
            space = !out.isEmpty
            // Names are nearly always ASCII, whose lower case, white space (tab to carriage return,
            // space) and control characters (below 0x20, 0x7F) are read off the bytes.
            if part.utf8.allSatisfy({ $0 < 0x80 }) {
                for byte in part.utf8 {
                    if byte == 0x20 || (0x09...0x0D).contains(byte) {
                        space = !out.isEmpty
                    } else if byte >= 0x20, byte != 0x7F {
                        if space { out.append(0x20) }
                        space = false
                        out.append((0x41...0x5A).contains(byte) ? byte + 0x20 : byte)
                    }
                }
                continue
            }
            for scalar in part.lowercased().unicodeScalars {
                if scalar.properties.isWhitespace {
                    space = !out.isEmpty
                } else if scalar.properties.generalCategory != .control {
                    if space { out.append(0x20) }
                    space = false
                    Unicode.UTF8.encode(scalar) { out.append($0) }
                }
            }
        }
        return String(decoding: out, as: UTF8.self)
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
        var bytes: [UInt8] = []
        bytes.reserveCapacity(8)
        Self.appendBigEndian(value, to: &bytes)
        return bytes
    }

    /// Appends the 8 bytes of `value`, most significant first, to `bytes`.
    static func appendBigEndian(_ value: UInt64, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }
}
