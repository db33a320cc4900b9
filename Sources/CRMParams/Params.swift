public import CRMDomain
import CRMEventStore
public import CRMJSON

/// Reads the members of a params object one by one, checking types, and reports anything left over
/// as an unknown field. Every error names the field by its full path (`emails[1].address`).
///
/// ```swift
/// var params = try Params(json)
/// let id = try params.string("customer_id", required: true)!
/// try params.finish()   // unknown fields → invalid_field
/// ```
public struct Params: Sendable {
    private var members: [String: JSON]
    /// The keys read so far. A params object has a few members, so a list compared key by key is
    /// cheaper than a hashed set.
    private var used: [String] = []
    /// How many of the keys read so far are present: when it reaches the member count, nothing is
    /// left over and ``finish()`` need not look.
    private var usedPresent = 0
    /// Path of this object inside the request params ("" at the top).
    public let path: String

    /// Wraps `json`, which must be an object; `nil` (params absent) reads as an empty object.
    public init(_ json: JSON?, path: String = "") throws(Rejection) {
        self.path = path
        switch json {
        case .none, .null?: self.members = [:]
        case .object(let members)?: self.members = members
        case let other?:
            throw Rejection.invalid(path.isEmpty ? "params" : path, "expected an object, got \(other.typeName)")
        }
    }

    /// The full path of member `key`.
    public func fieldPath(_ key: String) -> String { self.path.isEmpty ? key : "\(self.path).\(key)" }

    /// Whether `key` is present (even if `null`).
    public func contains(_ key: String) -> Bool { self.members[key] != nil }

    /// All member names present.
    public var keys: [String] { self.members.keys.sorted() }

    /// The raw value of `key`, treating `null` as absent; marks it used.
    public mutating func raw(_ key: String, required: Bool = false) throws(Rejection) -> JSON? {
        let member = self.members[key]
        if !self.used.contains(key) {
            self.used.append(key)
            if member != nil { self.usedPresent += 1 }
        }
        guard let value = member, !value.isNull else {
            if required { throw Rejection.missing(self.fieldPath(key)) }
            return nil
        }
        return value
    }

    /// A string member.
    public mutating func string(_ key: String, required: Bool = false) throws(Rejection) -> String? {
        guard let value = try self.raw(key, required: required) else { return nil }
        guard case .string(let text) = value else { throw self.typeError(key, "a string", value) }
        return text
    }

    /// An integer member.
    public mutating func int(_ key: String, required: Bool = false) throws(Rejection) -> Int64? {
        guard let value = try self.raw(key, required: required) else { return nil }
        guard let number = value.intValue else { throw self.typeError(key, "an integer", value) }
        return number
    }

    /// A Boolean member.
    public mutating func bool(_ key: String, required: Bool = false) throws(Rejection) -> Bool? {
        guard let value = try self.raw(key, required: required) else { return nil }
        guard case .bool(let flag) = value else { throw self.typeError(key, "a boolean", value) }
        return flag
    }

    /// An array member.
    public mutating func array(_ key: String, required: Bool = false) throws(Rejection) -> [JSON]? {
        guard let value = try self.raw(key, required: required) else { return nil }
        guard case .array(let elements) = value else { throw self.typeError(key, "an array", value) }
        return elements
    }

    /// An array of strings.
    public mutating func strings(_ key: String, required: Bool = false) throws(Rejection) -> [String]? {
        guard let elements = try self.array(key, required: required) else { return nil }
        var result: [String] = []
        for (index, element) in elements.enumerated() {
            guard case .string(let text) = element else {
                throw Rejection.invalid(
                    "\(self.fieldPath(key))[\(index)]",
                    "expected a string, got \(element.typeName)"
                )
            }
            result.append(text)
        }
        return result
    }

    /// A nested object member, as its own `Params` (call `finish()` on it too).
    public mutating func object(_ key: String, required: Bool = false) throws(Rejection) -> Params? {
        guard let value = try self.raw(key, required: required) else { return nil }
        guard case .object = value else { throw self.typeError(key, "an object", value) }
        return try Params(value, path: self.fieldPath(key))
    }

    /// A timestamp member in RFC 3339, as UTC milliseconds.
    public mutating func timestamp(_ key: String, required: Bool = false) throws(Rejection) -> Int64? {
        guard let text = try self.string(key, required: required) else { return nil }
        guard let millis = Timestamp.parse(text) else {
            throw Rejection.invalid(self.fieldPath(key), "expected an RFC 3339 timestamp, got \"\(text)\"")
        }
        return millis
    }

    /// A string member that must be one of `allowed`.
    public mutating func oneOf(_ key: String, _ allowed: [String], required: Bool = false) throws(Rejection)
        -> String?
    {
        guard let text = try self.string(key, required: required) else { return nil }
        guard allowed.contains(text) else {
            throw Rejection.invalid(
                self.fieldPath(key),
                "must be one of \(allowed.joined(separator: ", ")), got \"\(text)\""
            )
        }
        return text
    }

    /// Throws `invalid_field` for the first member that was never read.
    public func finish() throws(Rejection) {
        guard self.usedPresent < self.members.count else { return }
        for key in self.members.keys.sorted() where !self.used.contains(key) {
            throw Rejection.invalid(self.fieldPath(key), "unknown field \"\(key)\"")
        }
    }

    private func typeError(_ key: String, _ expected: String, _ value: JSON) -> Rejection {
        Rejection.invalid(self.fieldPath(key), "expected \(expected), got \(value.typeName)")
    }
}

extension Params {
    /// An identifier member (`^[A-Za-z0-9_-]{1,64}$`).
    public mutating func identifier(_ key: String, required: Bool = false) throws(Rejection) -> String? {
        guard let text = try self.string(key, required: required) else { return nil }
        guard Identifier.isValid(text) else {
            throw Rejection.invalid(self.fieldPath(key), "must match ^[A-Za-z0-9_-]{1,64}$")
        }
        return text
    }
}
