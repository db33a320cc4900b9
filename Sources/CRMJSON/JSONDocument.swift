/// A JSON object that can be read by member (a parsed ``JSON`` value or a ``JSONDocument``).
public protocol JSONMembers {
    /// The member `key`, or `nil` when there is none.
    subscript(key: String) -> JSON? { get }
    /// The canonical serialization (see ``JSON/serialized()``).
    func serialized() -> [UInt8]
}

extension JSON: JSONMembers {}

/// A stored JSON object changed in place: its canonical text, and the members set since it was read.
///
/// Replies pass on rendered documents as canonical text and add a few members to them (`customer.get`
/// its value and feedback blocks; ``JSON``'s member accessors on serialized text). A document
/// indexes the top level of the text once (where each member's value lies), parses a member only
/// when it is read, and writes the members that were not set back verbatim, so neither reading nor
/// writing costs a parse or serialization of the whole document. ``serialized()`` gives exactly the
/// bytes that parsing the text fully, setting the same members and serializing would.
///
/// The text must be canonical: one object, keys sorted by their UTF-8 bytes, no whitespace; keys out
/// of order are rejected. Member values are checked for their structure only (terminated strings
/// without control characters, matching brackets, nothing but JSON's own characters outside
/// strings); a value that still fails to parse when read reads as missing.
public struct JSONDocument: Sendable, JSONMembers {
    private let text: [UInt8]
    /// The members of `text` in their order: key, and where the value lies in `text`.
    private let stored: [(key: String, value: Range<Int>)]
    /// Members set since the text was read; `nil` for a member removed.
    private var changes: [String: JSON?] = [:]

    /// Indexes the top level of `text`.
    public init(canonical text: [UInt8]) throws(JSONParseError) {
        self.text = text
        self.stored = try text.withUnsafeBufferPointer { buffer throws(JSONParseError) in
            var parser = JSONParser(buffer)
            return try parser.indexObjectMembers()
        }
    }

    /// The member `key`: as set, or parsed from the text.
    public subscript(key: String) -> JSON? {
        get {
            if let changed = self.changes[key] { return changed }
            guard let member = self.stored.first(where: { $0.key == key }) else { return nil }
            return try? JSON.parse(self.text[member.value])
        }
        set {
            self.changes.updateValue(newValue, forKey: key)
        }
    }

    /// The canonical text of the document with its changes.
    public func serialized() -> [UInt8] {
        let changed = self.changes.sorted { JSON.utf8Precedes($0.key, $1.key) }
        var out: [UInt8] = []
        out.reserveCapacity(self.text.count + 64)
        out.append(UInt8(ascii: "{"))
        func writeMember(_ key: String, _ write: (inout [UInt8]) -> Void) {
            if out.count > 1 { out.append(UInt8(ascii: ",")) }
            JSON.writeString(key, into: &out)
            out.append(UInt8(ascii: ":"))
            write(&out)
        }
        var next = 0
        for (key, value) in changed {
            while next < self.stored.count, JSON.utf8Precedes(self.stored[next].key, key) {
                let member = self.stored[next]
                writeMember(member.key) { $0.append(contentsOf: self.text[member.value]) }
                next += 1
            }
            if next < self.stored.count, self.stored[next].key == key { next += 1 }
            if let value { writeMember(key) { value.write(into: &$0) } }
        }
        for member in self.stored[next...] {
            writeMember(member.key) { $0.append(contentsOf: self.text[member.value]) }
        }
        out.append(UInt8(ascii: "}"))
        return out
    }
}

extension JSONParser {
    /// The members of the object that is the whole input, for ``JSONDocument``: each key and where
    /// its value lies. Rejects keys that are not in canonical order (which also rejects duplicates).
    mutating func indexObjectMembers() throws(JSONParseError) -> [(key: String, value: Range<Int>)] {
        guard self.index < self.bytes.count, self.bytes[self.index] == UInt8(ascii: "{") else {
            throw self.error("expected an object")
        }
        self.index += 1
        self.depth = 1
        var members: [(key: String, value: Range<Int>)] = []
        members.reserveCapacity(32)
        if self.index < self.bytes.count, self.bytes[self.index] == UInt8(ascii: "}") {
            self.index += 1
        } else {
            while true {
                guard self.index < self.bytes.count, self.bytes[self.index] == UInt8(ascii: "\"") else {
                    throw self.error("expected a string key")
                }
                let keyOffset = self.index
                let key = try self.parseString()
                if let previous = members.last?.key, !JSON.utf8Precedes(previous, key) {
                    throw JSONParseError(message: "key \"\(key)\" out of canonical order", offset: keyOffset)
                }
                guard self.index < self.bytes.count, self.bytes[self.index] == UInt8(ascii: ":") else {
                    throw self.error("expected ':'")
                }
                self.index += 1
                let start = self.index
                try self.skipValue()
                members.append((key, start..<self.index))
                if try self.passMemberEnd() { break }
            }
        }
        if self.index != self.bytes.count { throw self.error("unexpected data after the JSON value") }
        return members
    }
}
