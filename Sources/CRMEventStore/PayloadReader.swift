import CRMJSON

/// The fast decoder does not take this payload; the caller decodes it through a JSON tree instead,
/// which either reads it or throws the error every reader of the log has always seen.
struct PayloadMiss: Error {}

/// A value inside a payload: what it is and where its text lies.
struct PayloadValue {
    enum Kind: UInt8 {
        case null, `true`, `false`
        /// An integer literal of at most 18 digits (exactly what the parser reads as `.int` directly).
        case integer
        /// Any other number.
        case number
        /// A string without escapes (`range` holds its quotes).
        case string
        /// A string with escapes (`range` holds its quotes).
        case escapedString
        case array
        case object
    }

    let kind: Kind
    /// The value's text in the payload.
    let range: Range<Int>
}

/// A member of an object in a payload: where its key's characters lie (without quotes) and its value.
struct PayloadMember {
    let key: Range<Int>
    let value: PayloadValue
}

/// Reads one event payload (a JSON text) straight from its bytes, without building a ``JSON`` tree.
///
/// `init` checks the whole text once, as strictly as ``JSON/parse(_:)`` does, and throws
/// ``PayloadMiss`` for anything it does not take: text the parser would reject, and text the parser
/// accepts but this reader leaves to it (keys out of canonical order or with escapes, nesting deeper
/// than ``maximumDepth``). So a payload read here holds exactly the values `JSON.parse` would give,
/// and the accessors below give what the same accessors of ``JSON`` give on the parsed tree.
struct PayloadReader {
    let bytes: UnsafeRawBufferPointer
    /// The payload's value.
    private(set) var root = PayloadValue(kind: .null, range: 0..<0)
    /// The members of the payload when it is an object, else `nil`.
    private(set) var rootMembers: [PayloadMember]? = nil

    /// Deeper payloads are left to the parser (the domain's payloads nest three levels at most).
    static let maximumDepth = 16

    init(_ bytes: UnsafeRawBufferPointer) throws(PayloadMiss) {
        self.bytes = bytes
        var index = 0
        self.skipWhitespace(&index)
        if index < bytes.count, bytes[index] == UInt8(ascii: "{") {
            var members: [PayloadMember] = []
            members.reserveCapacity(16)
            try self.object(&index, depth: 1, check: true, members: &members, collect: true)
            self.root = PayloadValue(kind: .object, range: 0..<index)
            self.rootMembers = members
        } else {
            self.root = try self.value(&index, depth: 0, check: true)
        }
        self.skipWhitespace(&index)
        guard index == bytes.count else { throw PayloadMiss() }
    }

    // MARK: - Checking

    private func skipWhitespace(_ index: inout Int) {
        while index < self.bytes.count {
            switch self.bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    /// The value at `index`; with `check`, text the parser rejects or this reader leaves to it throws.
    private func value(_ index: inout Int, depth: Int, check: Bool) throws(PayloadMiss) -> PayloadValue {
        guard index < self.bytes.count else { throw PayloadMiss() }
        let start = index
        switch self.bytes[index] {
        case UInt8(ascii: "{"):
            var none: [PayloadMember] = []
            try self.object(&index, depth: depth + 1, check: check, members: &none, collect: false)
            return PayloadValue(kind: .object, range: start..<index)
        case UInt8(ascii: "["):
            try self.skipArray(&index, depth: depth + 1, check: check)
            return PayloadValue(kind: .array, range: start..<index)
        case UInt8(ascii: "\""):
            let escaped = try self.skipString(&index, check: check)
            return PayloadValue(kind: escaped ? .escapedString : .string, range: start..<index)
        case UInt8(ascii: "t"):
            try self.literal("true", &index)
            return PayloadValue(kind: .true, range: start..<index)
        case UInt8(ascii: "f"):
            try self.literal("false", &index)
            return PayloadValue(kind: .false, range: start..<index)
        case UInt8(ascii: "n"):
            try self.literal("null", &index)
            return PayloadValue(kind: .null, range: start..<index)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return try self.number(&index, check: check)
        default:
            throw PayloadMiss()
        }
    }

    private func literal(_ text: StaticString, _ index: inout Int) throws(PayloadMiss) {
        let count = text.utf8CodeUnitCount
        guard index + count <= self.bytes.count else { throw PayloadMiss() }
        for offset in 0..<count where self.bytes[index + offset] != text.utf8Start[offset] { throw PayloadMiss() }
        index += count
    }

    private func isDigit(_ at: Int) -> Bool {
        at < self.bytes.count && self.bytes[at] >= UInt8(ascii: "0") && self.bytes[at] <= UInt8(ascii: "9")
    }

    /// A number in JSON's grammar. Anything but a short integer literal is checked by the parser
    /// itself (it rejects numbers out of `Double`'s range).
    private func number(_ index: inout Int, check: Bool) throws(PayloadMiss) -> PayloadValue {
        let start = index
        var isInteger = true
        if self.bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < self.bytes.count else { throw PayloadMiss() }
        if self.bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else if self.isDigit(index) {
            while self.isDigit(index) { index += 1 }
        } else {
            throw PayloadMiss()
        }
        if index < self.bytes.count, self.bytes[index] == UInt8(ascii: ".") {
            isInteger = false
            index += 1
            guard self.isDigit(index) else { throw PayloadMiss() }
            while self.isDigit(index) { index += 1 }
        }
        if index < self.bytes.count, self.bytes[index] | 0x20 == UInt8(ascii: "e") {
            isInteger = false
            index += 1
            if index < self.bytes.count,
                self.bytes[index] == UInt8(ascii: "+") || self.bytes[index] == UInt8(ascii: "-")
            {
                index += 1
            }
            guard self.isDigit(index) else { throw PayloadMiss() }
            while self.isDigit(index) { index += 1 }
        }
        let digits = index - start - (self.bytes[start] == UInt8(ascii: "-") ? 1 : 0)
        if isInteger, digits <= 18 { return PayloadValue(kind: .integer, range: start..<index) }
        let value = PayloadValue(kind: .number, range: start..<index)
        guard !check || (try? JSON.parse(self.slice(value.range))) != nil else { throw PayloadMiss() }
        return value
    }

    /// Moves past a string; returns whether it has escapes. With `check`, a string with escapes is
    /// checked by the parser itself, and one with non-ASCII bytes must be valid UTF-8.
    private func skipString(_ index: inout Int, check: Bool) throws(PayloadMiss) -> Bool {
        let start = index
        index += 1
        var escaped = false
        var ascii = true
        let count = self.bytes.count
        while true {
            // Eight bytes at a time while none of them is a quote, a backslash or a control character.
            while index + 8 <= count {
                let word = self.bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self)
                let quote = word ^ 0x2222_2222_2222_2222
                let backslash = word ^ 0x5C5C_5C5C_5C5C_5C5C
                let special =
                    ((quote &- 0x0101_0101_0101_0101) & ~quote)
                    | ((backslash &- 0x0101_0101_0101_0101) & ~backslash)
                    | ((word &- 0x2020_2020_2020_2020) & ~word)
                if special & 0x8080_8080_8080_8080 != 0 { break }
                if word & 0x8080_8080_8080_8080 != 0 { ascii = false }
                index += 8
            }
            guard index < count else { throw PayloadMiss() }
            let byte = self.bytes[index]
            if byte == UInt8(ascii: "\"") { break }
            if byte < 0x20 { throw PayloadMiss() }
            if byte >= 0x80 { ascii = false }
            if byte == UInt8(ascii: "\\") {
                escaped = true
                index += 2
            } else {
                index += 1
            }
        }
        index += 1
        if check {
            if escaped {
                guard case .string = try? JSON.parse(self.slice(start..<index)) else { throw PayloadMiss() }
            } else if !ascii {
                guard String(validating: self.slice((start + 1)..<(index - 1)), as: UTF8.self) != nil else {
                    throw PayloadMiss()
                }
            }
        }
        return escaped
    }

    private func skipArray(_ index: inout Int, depth: Int, check: Bool) throws(PayloadMiss) {
        guard depth <= PayloadReader.maximumDepth else { throw PayloadMiss() }
        index += 1
        self.skipWhitespace(&index)
        if index < self.bytes.count, self.bytes[index] == UInt8(ascii: "]") {
            index += 1
            return
        }
        while true {
            self.skipWhitespace(&index)
            _ = try self.value(&index, depth: depth, check: check)
            self.skipWhitespace(&index)
            guard index < self.bytes.count else { throw PayloadMiss() }
            switch self.bytes[index] {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"):
                index += 1
                return
            default: throw PayloadMiss()
            }
        }
    }

    /// Moves past an object; with `collect`, appends its members to `members`.
    private func object(
        _ index: inout Int,
        depth: Int,
        check: Bool,
        members: inout [PayloadMember],
        collect: Bool
    ) throws(PayloadMiss) {
        guard depth <= PayloadReader.maximumDepth else { throw PayloadMiss() }
        index += 1
        self.skipWhitespace(&index)
        if index < self.bytes.count, self.bytes[index] == UInt8(ascii: "}") {
            index += 1
            return
        }
        var previous: Range<Int>? = nil
        while true {
            self.skipWhitespace(&index)
            guard index < self.bytes.count, self.bytes[index] == UInt8(ascii: "\"") else { throw PayloadMiss() }
            let keyStart = index
            // Keys with escapes, and keys out of canonical order (duplicates among them), go to the parser.
            guard !(try self.skipString(&index, check: check)) else { throw PayloadMiss() }
            let key = (keyStart + 1)..<(index - 1)
            if check, let previous, !self.precedes(previous, key) { throw PayloadMiss() }
            previous = key
            self.skipWhitespace(&index)
            guard index < self.bytes.count, self.bytes[index] == UInt8(ascii: ":") else { throw PayloadMiss() }
            index += 1
            self.skipWhitespace(&index)
            let value = try self.value(&index, depth: depth, check: check)
            if collect { members.append(PayloadMember(key: key, value: value)) }
            self.skipWhitespace(&index)
            guard index < self.bytes.count else { throw PayloadMiss() }
            switch self.bytes[index] {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"):
                index += 1
                return
            default: throw PayloadMiss()
            }
        }
    }

    /// Whether the key at `a` sorts strictly before the key at `b` by their bytes.
    private func precedes(_ a: Range<Int>, _ b: Range<Int>) -> Bool {
        var i = a.lowerBound
        var j = b.lowerBound
        while i < a.upperBound, j < b.upperBound {
            if self.bytes[i] != self.bytes[j] { return self.bytes[i] < self.bytes[j] }
            i += 1
            j += 1
        }
        return i == a.upperBound && j < b.upperBound
    }

    private func slice(_ range: Range<Int>) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: self.bytes[range])
    }

    // MARK: - Reading (the text is checked)

    /// The members of `value` in their order, or `nil` when it is not an object.
    func members(_ value: PayloadValue?) -> [PayloadMember]? {
        guard let value, value.kind == .object else { return nil }
        if value.range == self.root.range, let members = self.rootMembers { return members }
        var members: [PayloadMember] = []
        var index = value.range.lowerBound
        // Checked text: this cannot fail.
        try? self.object(&index, depth: 1, check: false, members: &members, collect: true)
        return members
    }

    /// The elements of `value`, or `nil` when it is not an array.
    func elements(_ value: PayloadValue?) -> [PayloadValue]? {
        guard let value, value.kind == .array else { return nil }
        var elements: [PayloadValue] = []
        var index = value.range.lowerBound + 1
        self.skipWhitespace(&index)
        guard self.bytes[index] != UInt8(ascii: "]") else { return elements }
        while true {
            self.skipWhitespace(&index)
            guard let element = try? self.value(&index, depth: 0, check: false) else { return elements }
            elements.append(element)
            self.skipWhitespace(&index)
            if self.bytes[index] == UInt8(ascii: "]") { return elements }
            index += 1
        }
    }

    /// The value of member `key` among `members`, or `nil`.
    func member(_ members: [PayloadMember], _ key: StaticString) -> PayloadValue? {
        let count = key.utf8CodeUnitCount
        let start = key.utf8Start
        outer: for member in members where member.key.count == count {
            for offset in 0..<count where self.bytes[member.key.lowerBound + offset] != start[offset] { continue outer }
            return member.value
        }
        return nil
    }

    /// The key of `member`.
    func key(_ member: PayloadMember) -> String { String(decoding: self.slice(member.key), as: UTF8.self) }

    /// The string, or `nil` when `value` is missing or not a string (``JSON/stringValue``).
    func string(_ value: PayloadValue?) -> String? {
        guard let value else { return nil }
        switch value.kind {
        case .string:
            return String(
                decoding: self.slice((value.range.lowerBound + 1)..<(value.range.upperBound - 1)), as: UTF8.self)
        case .escapedString:
            return (try? JSON.parse(self.slice(value.range)))?.stringValue
        default:
            return nil
        }
    }

    /// The string elements of an array, or `nil` when `value` is not an array.
    func strings(_ value: PayloadValue?) -> [String]? {
        self.elements(value)?.compactMap { self.string($0) }
    }

    /// The integer (``JSON/intValue``).
    func int(_ value: PayloadValue?) -> Int64? {
        guard let value else { return nil }
        switch value.kind {
        case .integer:
            var index = value.range.lowerBound
            let negative = self.bytes[index] == UInt8(ascii: "-")
            if negative { index += 1 }
            var result: Int64 = 0
            while index < value.range.upperBound {
                result = result * 10 + Int64(self.bytes[index] &- 0x30)
                index += 1
            }
            return negative ? -result : result
        case .number:
            return self.json(value).intValue
        default:
            return nil
        }
    }

    /// The Boolean (``JSON/boolValue``).
    func bool(_ value: PayloadValue?) -> Bool? {
        switch value?.kind {
        case .true: true
        case .false: false
        default: nil
        }
    }

    /// The value as a ``JSON`` tree, for the rare members read through the types' own `init(json:)`.
    func json(_ value: PayloadValue) -> JSON { (try? JSON.parse(self.slice(value.range))) ?? .null }
}
