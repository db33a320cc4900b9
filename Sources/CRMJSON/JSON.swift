/// A JSON value.
///
/// crmd keeps its own small JSON model instead of `Codable` on the hot path: requests are parsed once
/// into `JSON`, validated field by field (so errors can name the exact field), and event payloads and
/// read-model documents are written with ``JSON/serialized()`` which always sorts object keys. Sorted
/// keys make the bytes canonical, which the hash chain of the event log relies on.
public enum JSON: Sendable, Hashable {
    case null
    case bool(Bool)
    /// An integer that fits in 64 bits (a literal without fraction or exponent).
    case int(Int64)
    /// Any other number.
    case double(Double)
    case string(String)
    case array([JSON])
    case object([String: JSON])
    /// A value already serialized canonically, written out verbatim by ``JSON/serialized()``. Replies
    /// use it to pass on stored bytes (profiles, event envelopes) without parsing them; the parser
    /// never produces it. The accessors read it when asked (see ``JSON/materialized``), and setting a
    /// member of object text keeps it text (see ``subscript(key:)``); `==` and pattern matching see
    /// the case as it is.
    case serialized(SerializedJSON)
}

/// Canonical JSON text (see ``JSON/serialized()``), kept as bytes.
public struct SerializedJSON: Sendable, Hashable {
    public let bytes: [UInt8]

    /// Wraps `bytes`, which must be one canonical JSON value.
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
}

// MARK: - Accessors

extension JSON {
    /// This value with any ``JSON/serialized(_:)`` text in it parsed into members, for code in the
    /// process that inspects or compares a reply. The member, element, array and object accessors
    /// below read serialized text themselves (serialized text is always an object or an array).
    public var materialized: JSON {
        switch self {
        case .serialized, .array, .object: return (try? JSON.parse(self.serialized())) ?? self
        default: return self
        }
    }

    /// Serialized text parsed (the parser never produces serialized text, so the accessors that
    /// use this cannot recurse), or `nil` for other cases and for text that is not JSON.
    private var parsedText: JSON? {
        guard case .serialized(let text) = self else { return nil }
        return try? JSON.parse(text.bytes)
    }

    /// The member `key` of an object, or `nil` for a missing member or a non-object. Serialized
    /// object text stays text (``JSONDocument``): a member is read by parsing its value alone, and set
    /// by copying the other members' text around the new one.
    public subscript(key: String) -> JSON? {
        get {
            switch self {
            case .object(let members): return members[key]
            case .serialized(let text):
                if let document = try? JSONDocument(canonical: text.bytes) { return document[key] }
                return self.parsedText?[key]
            default: return nil
            }
        }
        set {
            if case .serialized(let text) = self {
                if var document = try? JSONDocument(canonical: text.bytes) {
                    document[key] = newValue
                    self = .serialized(SerializedJSON(document.serialized()))
                    return
                }
                if let parsed = self.parsedText { self = parsed }
            }
            guard case .object(var members) = self else { return }
            // Drop this value's reference first, so `members` is unique and is not copied on write.
            self = .null
            members[key] = newValue
            self = .object(members)
        }
    }

    /// Element `index` of an array, or `nil` when out of range or not an array.
    public subscript(index: Int) -> JSON? {
        if case .serialized = self { return self.parsedText?[index] }
        if case .array(let elements) = self, elements.indices.contains(index) { return elements[index] }
        return nil
    }

    /// The string, or `nil` when this is not a string.
    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The integer, or `nil` when this is not an integral number.
    public var intValue: Int64? {
        switch self {
        case .int(let value): return value
        case .double(let value):
            guard value.rounded() == value, abs(value) < 9.0e15 else { return nil }
            return Int64(value)
        default: return nil
        }
    }

    /// The number as a `Double`, or `nil` when this is not a number.
    public var doubleValue: Double? {
        switch self {
        case .int(let value): return Double(value)
        case .double(let value): return value
        default: return nil
        }
    }

    /// The Boolean, or `nil` when this is not a Boolean.
    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    /// The elements, or `nil` when this is not an array.
    public var arrayValue: [JSON]? {
        if case .serialized = self { return self.parsedText?.arrayValue }
        if case .array(let value) = self { return value }
        return nil
    }

    /// The members, or `nil` when this is not an object.
    public var objectValue: [String: JSON]? {
        if case .serialized = self { return self.parsedText?.objectValue }
        if case .object(let value) = self { return value }
        return nil
    }

    /// Whether this is `null`.
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// The JSON type name used in error messages ("string", "object", ...).
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .int, .double: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        case .serialized: return "serialized JSON"
        }
    }
}

// MARK: - Literals

extension JSON: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral, ExpressibleByFloatLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JSON...) { self = .array(elements) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(nilLiteral: ()) { self = .null }
    public init(dictionaryLiteral elements: (String, JSON)...) {
        var members: [String: JSON] = Dictionary(minimumCapacity: elements.count)
        for (key, value) in elements { members[key] = value }
        self = .object(members)
    }
}

extension JSON {
    /// A string value, or `null` for `nil`.
    public static func string(_ value: String?) -> JSON { value.map { .string($0) } ?? .null }
    /// An integer value, or `null` for `nil`.
    public static func int(_ value: Int?) -> JSON { value.map { .int(Int64($0)) } ?? .null }
    /// An array of strings.
    public static func strings(_ values: [String]) -> JSON { .array(values.map { .string($0) }) }
}

extension JSON: CustomStringConvertible {
    /// The compact serialized form.
    public var description: String { self.serializedString() }
}
