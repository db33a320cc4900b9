/// Why a byte sequence is not a JSON text.
public struct JSONParseError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What was wrong, in words.
    public let message: String
    /// Byte offset in the input where the problem was found.
    public let offset: Int

    public var description: String { "\(self.message) at byte \(self.offset)" }
}

extension JSON {
    /// The deepest nesting of arrays and objects accepted by the parser; deeper input is rejected
    /// rather than risking the stack of a daemon thread.
    public static let maximumDepth = 64

    /// Parses a complete JSON text (RFC 8259) from UTF-8 bytes.
    ///
    /// Rejects invalid UTF-8, control characters inside strings, lone surrogate escapes, duplicate
    /// object keys, nesting deeper than ``maximumDepth`` and trailing non-whitespace.
    public static func parse<Bytes: Collection>(_ bytes: Bytes) throws(JSONParseError) -> JSON
    where Bytes.Element == UInt8 {
        let result: Result<JSON, JSONParseError>
        if let contiguous = bytes.withContiguousStorageIfAvailable({ buffer in
            var parser = JSONParser(buffer)
            return Result { () throws(JSONParseError) -> JSON in try parser.parseDocument() }
        }) {
            result = contiguous
        } else {
            let array = Array(bytes)
            result = array.withUnsafeBufferPointer { buffer in
                var parser = JSONParser(buffer)
                return Result { () throws(JSONParseError) -> JSON in try parser.parseDocument() }
            }
        }
        return try result.get()
    }

    /// Parses a complete JSON text from a string.
    public static func parse(_ text: String) throws(JSONParseError) -> JSON {
        try JSON.parse(Array(text.utf8))
    }
}

extension JSON {
    /// Calls `member` with each member of the JSON object text `bytes`, in order, without building a
    /// dictionary of them (values are parsed as ``parse(_:)`` parses them). Returns `true` when the
    /// text is one object and `member` accepted every member; `false` as soon as `member` refuses one,
    /// and for any text that is not a valid JSON object. Repeated keys are the caller's to notice.
    public static func forEachMember(in bytes: [UInt8], _ member: (String, JSON) -> Bool) -> Bool {
        bytes.withUnsafeBufferPointer { buffer in
            var parser = JSONParser(buffer)
            return (try? parser.visitObjectMembers(member)) == true
        }
    }
}

/// A recursive-descent parser over a buffer of UTF-8 bytes.
struct JSONParser {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0
    var depth = 0
    /// Members of the objects being parsed, innermost last: an object's members are collected here
    /// and then moved into a dictionary of exactly the right capacity (no rehashing while it grows).
    var members: [(key: String, value: JSON, offset: Int)] = []

    init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    mutating func parseDocument() throws(JSONParseError) -> JSON {
        self.skipWhitespace()
        let value = try self.parseValue()
        self.skipWhitespace()
        if self.index != self.bytes.count { throw self.error("unexpected data after the JSON value") }
        return value
    }

    func error(_ message: String) -> JSONParseError { JSONParseError(message: message, offset: self.index) }

    mutating func skipWhitespace() {
        while self.index < self.bytes.count {
            switch self.bytes[self.index] {
            case 0x20, 0x09, 0x0A, 0x0D: self.index += 1
            default: return
            }
        }
    }

    mutating func parseValue() throws(JSONParseError) -> JSON {
        guard self.index < self.bytes.count else { throw self.error("unexpected end of input") }
        switch self.bytes[self.index] {
        case UInt8(ascii: "{"): return try self.parseObject()
        case UInt8(ascii: "["): return try self.parseArray()
        case UInt8(ascii: "\""): return .string(try self.parseString())
        case UInt8(ascii: "t"): try self.expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try self.expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try self.expectLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try self.parseNumber()
        default: throw self.error("unexpected character")
        }
    }

    mutating func expectLiteral(_ literal: StaticString) throws(JSONParseError) {
        let count = literal.utf8CodeUnitCount
        guard self.index + count <= self.bytes.count else { throw self.error("invalid literal") }
        let start = literal.utf8Start
        for offset in 0..<count where self.bytes[self.index + offset] != start[offset] {
            throw self.error("invalid literal")
        }
        self.index += count
    }

    mutating func enter() throws(JSONParseError) {
        self.depth += 1
        if self.depth > JSON.maximumDepth { throw self.error("nesting deeper than \(JSON.maximumDepth)") }
    }

    mutating func parseObject() throws(JSONParseError) -> JSON {
        try self.enter()
        defer { self.depth -= 1 }
        self.index += 1
        self.skipWhitespace()
        if self.index < self.bytes.count, self.bytes[self.index] == UInt8(ascii: "}") {
            self.index += 1
            return .object([:])
        }
        let first = self.members.count
        defer { self.members.removeSubrange(first...) }
        while true {
            let (key, keyOffset) = try self.parseMemberKey()
            let value = try self.parseValue()
            self.members.append((key, value, keyOffset))
            self.skipWhitespace()
            if try self.passMemberEnd() {
                var object: [String: JSON] = Dictionary(minimumCapacity: self.members.count - first)
                for member in self.members[first...] where object.updateValue(member.value, forKey: member.key) != nil {
                    throw JSONParseError(message: "duplicate key \"\(member.key)\"", offset: member.offset)
                }
                return .object(object)
            }
        }
    }

    /// A member's key and its offset, moving past the `:` after it and the whitespace around.
    mutating func parseMemberKey() throws(JSONParseError) -> (key: String, offset: Int) {
        self.skipWhitespace()
        guard self.index < self.bytes.count, self.bytes[self.index] == UInt8(ascii: "\"") else {
            throw self.error("expected a string key")
        }
        let offset = self.index
        let key = try self.parseString()
        self.skipWhitespace()
        guard self.index < self.bytes.count, self.bytes[self.index] == UInt8(ascii: ":") else {
            throw self.error("expected ':'")
        }
        self.index += 1
        self.skipWhitespace()
        return (key, offset)
    }

    /// After a member's value: moves past the `,` before the next member (`false`) or the `}` that
    /// ends the object (`true`).
    mutating func passMemberEnd() throws(JSONParseError) -> Bool {
        guard self.index < self.bytes.count else { throw self.error("unexpected end of input") }
        if self.bytes[self.index] == UInt8(ascii: "}") {
            self.index += 1
            return true
        }
        guard self.bytes[self.index] == UInt8(ascii: ",") else { throw self.error("expected ',' or '}'") }
        self.index += 1
        return false
    }

    /// The members of the object that is the whole input, each handed to `member` as it is parsed;
    /// `false` when `member` refuses one.
    mutating func visitObjectMembers(_ member: (String, JSON) -> Bool) throws(JSONParseError) -> Bool {
        self.skipWhitespace()
        guard self.index < self.bytes.count, self.bytes[self.index] == UInt8(ascii: "{") else {
            throw self.error("expected an object")
        }
        try self.enter()
        self.index += 1
        self.skipWhitespace()
        if self.index < self.bytes.count, self.bytes[self.index] == UInt8(ascii: "}") {
            self.index += 1
        } else {
            while true {
                let key = try self.parseMemberKey().key
                guard member(key, try self.parseValue()) else { return false }
                self.skipWhitespace()
                if try self.passMemberEnd() { break }
            }
        }
        self.skipWhitespace()
        if self.index != self.bytes.count { throw self.error("unexpected data after the JSON value") }
        return true
    }

    /// Moves past the value at `index`. Strings, objects and arrays are checked for their structure
    /// only (see ``JSONDocument``); numbers and literals are parsed.
    mutating func skipValue() throws(JSONParseError) {
        guard self.index < self.bytes.count else { throw self.error("unexpected end of input") }
        switch self.bytes[self.index] {
        case UInt8(ascii: "{"), UInt8(ascii: "["): try self.skipNested()
        case UInt8(ascii: "\""): try self.skipString()
        default: _ = try self.parseValue()
        }
    }

    /// Moves past the string whose opening quote is at `index`: it must end, and hold no control
    /// characters; escapes are not decoded.
    mutating func skipString() throws(JSONParseError) {
        self.index += 1
        while self.index < self.bytes.count, self.bytes[self.index] != UInt8(ascii: "\"") {
            if self.bytes[self.index] < 0x20 { throw self.error("control character in string") }
            self.index += self.bytes[self.index] == UInt8(ascii: "\\") ? 2 : 1
        }
        guard self.index < self.bytes.count else { throw self.error("unterminated string") }
        self.index += 1
    }

    /// Moves past the object or array at `index`, checking its structure but building nothing.
    mutating func skipNested() throws(JSONParseError) {
        // Open brackets, innermost in the lowest bit: 1 for an object, 0 for an array.
        var open: UInt64 = 0
        var depth = self.depth
        while self.index < self.bytes.count {
            let byte = self.bytes[self.index]
            switch byte {
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                if depth > JSON.maximumDepth { throw self.error("nesting deeper than \(JSON.maximumDepth)") }
                open = open << 1 | (byte == UInt8(ascii: "{") ? 1 : 0)
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                guard depth > self.depth, open & 1 == (byte == UInt8(ascii: "}") ? 1 : 0) else {
                    throw self.error("mismatched bracket")
                }
                depth -= 1
                open >>= 1
                if depth == self.depth {
                    self.index += 1
                    return
                }
            case UInt8(ascii: "\""):
                try self.skipString()
                continue
            case 0x20, 0x09, 0x0A, 0x0D, UInt8(ascii: ","), UInt8(ascii: ":"), UInt8(ascii: "-"), UInt8(ascii: "+"),
                UInt8(ascii: "."), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a"), UInt8(ascii: "e"),
                UInt8(ascii: "E"), UInt8(ascii: "f"), UInt8(ascii: "l"), UInt8(ascii: "n"), UInt8(ascii: "r"),
                UInt8(ascii: "s"), UInt8(ascii: "t"), UInt8(ascii: "u"):
                break
            default:
                throw self.error("unexpected character")
            }
            self.index += 1
        }
        throw self.error("unexpected end of input")
    }

    mutating func parseArray() throws(JSONParseError) -> JSON {
        try self.enter()
        defer { self.depth -= 1 }
        self.index += 1
        var elements: [JSON] = []
        self.skipWhitespace()
        if self.index < self.bytes.count, self.bytes[self.index] == UInt8(ascii: "]") {
            self.index += 1
            return .array(elements)
        }
        while true {
            self.skipWhitespace()
            elements.append(try self.parseValue())
            self.skipWhitespace()
            guard self.index < self.bytes.count else { throw self.error("unexpected end of input") }
            switch self.bytes[self.index] {
            case UInt8(ascii: ","): self.index += 1
            case UInt8(ascii: "]"): self.index += 1; return .array(elements)
            default: throw self.error("expected ',' or ']'")
            }
        }
    }

    mutating func parseNumber() throws(JSONParseError) -> JSON {
        let start = self.index
        var isInteger = true
        if self.bytes[self.index] == UInt8(ascii: "-") { self.index += 1 }
        guard self.index < self.bytes.count else { throw self.error("invalid number") }
        if self.bytes[self.index] == UInt8(ascii: "0") {
            self.index += 1
        } else if self.isDigit(self.index) {
            while self.isDigit(self.index) { self.index += 1 }
        } else {
            throw self.error("invalid number")
        }
        if self.index < self.bytes.count, self.bytes[self.index] == UInt8(ascii: ".") {
            isInteger = false
            self.index += 1
            guard self.isDigit(self.index) else { throw self.error("invalid number") }
            while self.isDigit(self.index) { self.index += 1 }
        }
        if self.index < self.bytes.count, self.bytes[self.index] | 0x20 == UInt8(ascii: "e") {
            isInteger = false
            self.index += 1
            if self.index < self.bytes.count,
                self.bytes[self.index] == UInt8(ascii: "+") || self.bytes[self.index] == UInt8(ascii: "-")
            {
                self.index += 1
            }
            guard self.isDigit(self.index) else { throw self.error("invalid number") }
            while self.isDigit(self.index) { self.index += 1 }
        }
        // Fast path: integers of up to 18 digits cannot overflow; build them without a String.
        let negative = self.bytes[start] == UInt8(ascii: "-")
        let digitsStart = negative ? start + 1 : start
        if isInteger, self.index - digitsStart <= 18 {
            var value: Int64 = 0
            for offset in digitsStart..<self.index { value = value * 10 + Int64(self.bytes[offset] &- 0x30) }
            return .int(negative ? -value : value)
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: self.bytes[start..<self.index]), as: UTF8.self)
        if isInteger, let value = Int64(text) { return .int(value) }
        guard let value = Double(text), value.isFinite else {
            throw JSONParseError(message: "number out of range", offset: start)
        }
        return .double(value)
    }

    func isDigit(_ at: Int) -> Bool {
        at < self.bytes.count && self.bytes[at] >= UInt8(ascii: "0") && self.bytes[at] <= UInt8(ascii: "9")
    }

    mutating func parseString() throws(JSONParseError) -> String {
        self.index += 1
        let start = self.index
        var ascii = true
        // Fast path: a string without escapes becomes a String straight from its bytes (the common
        // case on the hot path: ids, names, keys of stored documents).
        while true {
            guard self.index < self.bytes.count else { throw self.error("unterminated string") }
            let byte = self.bytes[self.index]
            if byte == UInt8(ascii: "\"") {
                let run = UnsafeBufferPointer(rebasing: self.bytes[start..<self.index])
                self.index += 1
                if ascii { return String(decoding: run, as: UTF8.self) }
                guard let string = String(validating: run, as: UTF8.self) else {
                    throw JSONParseError(message: "invalid UTF-8 in string", offset: start)
                }
                return string
            }
            if byte < 0x20 { throw self.error("control character in string") }
            if byte == UInt8(ascii: "\\") { break }
            if byte >= 0x80 { ascii = false }
            self.index += 1
        }
        // Slow path: the string has escapes.
        var scalars = String.UnicodeScalarView()
        try self.appendRun(from: start, to: self.index, into: &scalars)
        var runStart = self.index
        while true {
            guard self.index < self.bytes.count else { throw self.error("unterminated string") }
            let byte = self.bytes[self.index]
            if byte == UInt8(ascii: "\"") {
                try self.appendRun(from: runStart, to: self.index, into: &scalars)
                self.index += 1
                return String(scalars)
            }
            if byte < 0x20 { throw self.error("control character in string") }
            if byte == UInt8(ascii: "\\") {
                try self.appendRun(from: runStart, to: self.index, into: &scalars)
                self.index += 1
                scalars.append(try self.parseEscape())
                runStart = self.index
                continue
            }
            self.index += 1
        }
    }

    func appendRun(from start: Int, to end: Int, into scalars: inout String.UnicodeScalarView)
        throws(JSONParseError)
    {
        guard start < end else { return }
        var iterator = UnsafeBufferPointer(rebasing: self.bytes[start..<end]).makeIterator()
        var decoder = UTF8()
        loop: while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar): scalars.append(scalar)
            case .emptyInput: break loop
            case .error: throw JSONParseError(message: "invalid UTF-8 in string", offset: start)
            }
        }
    }

    mutating func parseHex4() throws(JSONParseError) -> UInt32 {
        guard self.index + 4 <= self.bytes.count else { throw self.error("invalid \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = self.bytes[self.index]
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw self.error("invalid \\u escape")
            }
            value = value << 4 | digit
            self.index += 1
        }
        return value
    }

    mutating func parseEscape() throws(JSONParseError) -> Unicode.Scalar {
        guard self.index < self.bytes.count else { throw self.error("unterminated escape") }
        let byte = self.bytes[self.index]
        self.index += 1
        switch byte {
        case UInt8(ascii: "\""): return "\""
        case UInt8(ascii: "\\"): return "\\"
        case UInt8(ascii: "/"): return "/"
        case UInt8(ascii: "b"): return "\u{08}"
        case UInt8(ascii: "f"): return "\u{0C}"
        case UInt8(ascii: "n"): return "\n"
        case UInt8(ascii: "r"): return "\r"
        case UInt8(ascii: "t"): return "\t"
        case UInt8(ascii: "u"):
            let high = try self.parseHex4()
            if (0xD800...0xDBFF).contains(high) {
                guard self.index + 2 <= self.bytes.count, self.bytes[self.index] == UInt8(ascii: "\\"),
                    self.bytes[self.index + 1] == UInt8(ascii: "u")
                else { throw self.error("lone surrogate in \\u escape") }
                self.index += 2
                let low = try self.parseHex4()
                guard (0xDC00...0xDFFF).contains(low) else { throw self.error("lone surrogate in \\u escape") }
                let value = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
                guard let scalar = Unicode.Scalar(value) else { throw self.error("invalid \\u escape") }
                return scalar
            }
            guard let scalar = Unicode.Scalar(high) else { throw self.error("lone surrogate in \\u escape") }
            return scalar
        default:
            throw self.error("invalid escape")
        }
    }
}
