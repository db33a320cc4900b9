/// Writes canonical JSON text straight into bytes, without building a `JSON` tree: for hot paths that
/// know their members. The caller writes each object's members in canonical order (keys sorted by
/// their UTF-8 bytes), which debug builds check, so the text equals `JSON.serialized()` of the same
/// value.
///
/// ```swift
/// var writer = CanonicalJSONWriter()
/// writer.openObject()
/// writer.key("a"); writer.int(1)
/// writer.key("b"); writer.string(nil)
/// writer.closeObject()   // {"a":1,"b":null}
/// ```
public struct CanonicalJSONWriter: Sendable {
    private struct Container: Sendable {
        var isArray: Bool
        var count = 0
        #if DEBUG
        var lastKey: String?
        #endif
    }

    /// The text so far.
    public private(set) var bytes: [UInt8] = []
    private var open: [Container] = []

    public init(capacity: Int = 256) { self.bytes.reserveCapacity(capacity) }

    /// Before a value: a comma between the elements of an array.
    private mutating func beginValue() {
        guard let top = self.open.indices.last, self.open[top].isArray else { return }
        if self.open[top].count > 0 { self.bytes.append(UInt8(ascii: ",")) }
        self.open[top].count += 1
    }

    /// Opens an object (as a value).
    public mutating func openObject() {
        self.beginValue()
        self.bytes.append(UInt8(ascii: "{"))
        self.open.append(Container(isArray: false))
    }

    /// Closes the innermost object.
    public mutating func closeObject() {
        self.open.removeLast()
        self.bytes.append(UInt8(ascii: "}"))
    }

    /// Opens an array (as a value).
    public mutating func openArray() {
        self.beginValue()
        self.bytes.append(UInt8(ascii: "["))
        self.open.append(Container(isArray: true))
    }

    /// Closes the innermost array.
    public mutating func closeArray() {
        self.open.removeLast()
        self.bytes.append(UInt8(ascii: "]"))
    }

    /// The next member's key in the innermost object; its value follows. Keys come in canonical order.
    public mutating func key(_ name: String) {
        let top = self.open.count - 1
        #if DEBUG
        if let last = self.open[top].lastKey {
            precondition(JSON.utf8Precedes(last, name), "key \(name) written after \(last)")
        }
        self.open[top].lastKey = name
        #endif
        if self.open[top].count > 0 { self.bytes.append(UInt8(ascii: ",")) }
        self.open[top].count += 1
        JSON.writeString(name, into: &self.bytes)
        self.bytes.append(UInt8(ascii: ":"))
    }

    /// A member with a string value (or `null`): ``key(_:)`` then ``string(_:)``.
    public mutating func member(_ key: String, _ value: String?) {
        self.key(key)
        self.string(value)
    }

    /// A member with an integer value (or `null`).
    public mutating func member(_ key: String, _ value: Int64?) {
        self.key(key)
        self.int(value)
    }

    /// A member with a Boolean value.
    public mutating func member(_ key: String, _ value: Bool) {
        self.key(key)
        self.bool(value)
    }

    /// A member whose value is an array of strings.
    public mutating func member(_ key: String, strings values: [String]) {
        self.key(key)
        self.strings(values)
    }

    /// A string, or `null`.
    public mutating func string(_ value: String?) {
        self.beginValue()
        if let value { JSON.writeString(value, into: &self.bytes) } else { self.raw("null") }
    }

    /// An integer, or `null`.
    public mutating func int(_ value: Int64?) {
        self.beginValue()
        if let value { JSON.writeInt(value, into: &self.bytes) } else { self.raw("null") }
    }

    /// A Boolean.
    public mutating func bool(_ value: Bool) {
        self.beginValue()
        self.raw(value ? "true" : "false")
    }

    /// `null`.
    public mutating func null() {
        self.beginValue()
        self.raw("null")
    }

    /// An array of strings.
    public mutating func strings(_ values: [String]) {
        self.openArray()
        for value in values { self.string(value) }
        self.closeArray()
    }

    /// Any value, serialized canonically (for parts that are trees already).
    public mutating func json(_ value: JSON) {
        self.beginValue()
        value.write(into: &self.bytes)
    }

    private mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { self.bytes.append(contentsOf: $0) }
    }
}
