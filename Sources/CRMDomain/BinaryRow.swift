/// Writes the compact binary rows of decision state and read models: unsigned LEB128 varints,
/// zig-zag signed integers, length-prefixed UTF-8 strings, one-byte presence flags. A row begins with
/// a format byte of its own so that a layout can change behind a version bump.
public struct BinaryRowWriter: Sendable {
    /// The bytes written so far.
    public private(set) var bytes: [UInt8] = []

    public init(capacity: Int = 64) { self.bytes.reserveCapacity(capacity) }

    public mutating func byte(_ value: UInt8) { self.bytes.append(value) }

    public mutating func bool(_ value: Bool) { self.bytes.append(value ? 1 : 0) }

    public mutating func varint(_ value: UInt64) { self.leb128(value) }

    private mutating func leb128<Value: FixedWidthInteger & UnsignedInteger>(_ value: Value) {
        BinaryRowWriter.appendLEB128(value, to: &self.bytes)
    }

    /// Appends `value` to `bytes` as unsigned LEB128 in its shortest form: seven bits a byte, lowest
    /// first, the high bit set on every byte but the last.
    public static func appendLEB128<Value: FixedWidthInteger & UnsignedInteger>(
        _ value: Value,
        to bytes: inout [UInt8]
    ) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    public mutating func count(_ value: Int) { self.varint(UInt64(value)) }

    /// A signed integer, zig-zag encoded.
    public mutating func int(_ value: Int64) {
        self.varint(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    /// A signed 128-bit integer (e.g. money in 10⁻⁸ units), zig-zag encoded.
    public mutating func int128(_ value: Int128) {
        self.leb128(UInt128(bitPattern: (value << 1) ^ (value >> 127)))
    }

    public mutating func double(_ value: Double) {
        var bits = value.bitPattern.littleEndian
        withUnsafeBytes(of: &bits) { self.bytes.append(contentsOf: $0) }
    }

    public mutating func string(_ value: String) {
        var value = value
        value.withUTF8 { utf8 in
            self.count(utf8.count)
            self.bytes.append(contentsOf: utf8)
        }
    }

    public mutating func optionalString(_ value: String?) {
        guard let value else { return self.byte(0) }
        self.byte(1)
        self.string(value)
    }

    public mutating func optionalInt(_ value: Int64?) {
        guard let value else { return self.byte(0) }
        self.byte(1)
        self.int(value)
    }

    public mutating func strings(_ values: [String]) {
        self.count(values.count)
        for value in values { self.string(value) }
    }

    /// A list that may be absent (`nil` is not the same as empty).
    public mutating func optionalStrings(_ values: [String]?) {
        guard let values else { return self.byte(0) }
        self.byte(1)
        self.strings(values)
    }
}

/// Reads what ``BinaryRowWriter`` wrote; every read past the end or of a malformed value throws.
public struct BinaryRowReader {
    private let bytes: [UInt8]
    private var offset = 0
    /// What the row is, for error messages (e.g. "customer c1").
    private let what: String

    public init(_ bytes: [UInt8], what: String) {
        self.bytes = bytes
        self.what = what
    }

    /// Whether every byte has been read.
    public var isAtEnd: Bool { self.offset == self.bytes.count }

    /// The error for a malformed row: `problem`, with what the row is and where reading stopped.
    public func malformed(_ problem: String) -> StateDecodingError {
        StateDecodingError("stored \(self.what) is malformed: \(problem) at byte \(self.offset)")
    }

    public mutating func byte() throws(StateDecodingError) -> UInt8 {
        guard self.offset < self.bytes.count else { throw self.malformed("truncated") }
        defer { self.offset += 1 }
        return self.bytes[self.offset]
    }

    public mutating func bool() throws(StateDecodingError) -> Bool { try self.byte() != 0 }

    public mutating func varint() throws(StateDecodingError) -> UInt64 { try self.leb128() }

    private mutating func leb128<Value: FixedWidthInteger & UnsignedInteger>() throws(StateDecodingError) -> Value {
        var value: Value = 0
        var shift = 0
        while true {
            let byte = try self.byte()
            guard shift < Value.bitWidth else { throw self.malformed("varint too long") }
            value |= Value(byte & 0x7F) << shift
            if byte < 0x80 { return value }
            shift += 7
        }
    }

    public mutating func count() throws(StateDecodingError) -> Int {
        let value = try self.varint()
        guard value <= UInt64(self.bytes.count - self.offset) else { throw self.malformed("count \(value) too large") }
        return Int(value)
    }

    public mutating func int() throws(StateDecodingError) -> Int64 {
        let raw = try self.varint()
        return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    /// A signed 128-bit integer written by ``BinaryRowWriter/int128(_:)``.
    public mutating func int128() throws(StateDecodingError) -> Int128 {
        let raw: UInt128 = try self.leb128()
        return Int128(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    public mutating func double() throws(StateDecodingError) -> Double {
        guard self.offset + 8 <= self.bytes.count else { throw self.malformed("truncated") }
        var bits: UInt64 = 0
        for index in 0..<8 { bits |= UInt64(self.bytes[self.offset + index]) << (8 * UInt64(index)) }
        self.offset += 8
        return Double(bitPattern: bits)
    }

    public mutating func string() throws(StateDecodingError) -> String {
        let count = try self.count()
        defer { self.offset += count }
        return String(decoding: self.bytes[self.offset..<(self.offset + count)], as: UTF8.self)
    }

    public mutating func optionalString() throws(StateDecodingError) -> String? {
        try self.bool() ? try self.string() : nil
    }

    public mutating func optionalInt() throws(StateDecodingError) -> Int64? {
        try self.bool() ? try self.int() : nil
    }

    public mutating func strings() throws(StateDecodingError) -> [String] {
        let count = try self.count()
        var values: [String] = []
        values.reserveCapacity(count)
        for _ in 0..<count { values.append(try self.string()) }
        return values
    }

    /// A list written by ``BinaryRowWriter/optionalStrings(_:)``.
    public mutating func optionalStrings() throws(StateDecodingError) -> [String]? {
        try self.bool() ? try self.strings() : nil
    }

    /// Reads the format byte every row starts with; throws unless it is `expected`.
    public mutating func format(_ expected: UInt8) throws(StateDecodingError) {
        let format = try self.byte()
        guard format == expected else { throw self.malformed("unknown format \(format) (expected \(expected))") }
    }

    /// Throws unless the row has been read to its end.
    public func finish() throws(StateDecodingError) {
        guard self.isAtEnd else { throw self.malformed("\(self.bytes.count - self.offset) trailing bytes") }
    }
}

// MARK: - Customer values, shared by the decision state and the customers read model

extension BinaryRowWriter {
    /// An optional postal address: a presence byte, then its five optional parts.
    public mutating func address(_ address: CustomerState.PostalAddress?) {
        self.bool(address != nil)
        guard let address else { return }
        for part in [address.street, address.city, address.state, address.postalCode, address.country] {
            self.optionalString(part)
        }
    }

    /// A custom value: a kind byte (0 string, 1 integer, 2 double, 3 false, 4 true), then the value.
    public mutating func customValue(_ value: CustomValue) {
        switch value {
        case .string(let text):
            self.byte(0)
            self.string(text)
        case .int(let number):
            self.byte(1)
            self.int(number)
        case .double(let number):
            self.byte(2)
            self.double(number)
        case .bool(let flag):
            self.byte(flag ? 4 : 3)
        }
    }
}

extension BinaryRowReader {
    /// An optional postal address written by ``BinaryRowWriter/address(_:)``.
    public mutating func address() throws(StateDecodingError) -> CustomerState.PostalAddress? {
        guard try self.bool() else { return nil }
        return CustomerState.PostalAddress(
            street: try self.optionalString(), city: try self.optionalString(), state: try self.optionalString(),
            postalCode: try self.optionalString(), country: try self.optionalString()
        )
    }

    /// A custom value written by ``BinaryRowWriter/customValue(_:)``, in the row `what`.
    public mutating func customValue(what: String) throws(StateDecodingError) -> CustomValue {
        let kind = try self.byte()
        switch kind {
        case 0: return .string(try self.string())
        case 1: return .int(try self.int())
        case 2: return .double(try self.double())
        case 3: return .bool(false)
        case 4: return .bool(true)
        default: throw StateDecodingError("stored \(what) has unknown custom value kind \(kind)")
        }
    }
}
