public import CRMJSON

/// A non-negative decimal amount of money held exactly as an integer count of 10⁻⁸ units, so sums and
/// probability-weighted amounts never round.
///
/// Amounts are exchanged as canonical decimal strings: no sign, no leading zeros, no trailing zeros in
/// the fraction and no trailing `.` (`"1200"`, `"99.5"`, `"0.25"`).
public struct MoneyAmount: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Decimal places kept; input with more places is rejected.
    public static let scale = 8
    /// Most digits before the decimal point an input may have.
    public static let maximumIntegerDigits = 18
    /// 10^scale.
    static let unit: Int128 = 100_000_000

    /// The amount in 10⁻⁸ units.
    public var units: Int128

    /// An amount of `units` × 10⁻⁸.
    public init(units: Int128) { self.units = units }

    /// Zero.
    public static let zero = MoneyAmount(units: 0)

    /// Parses a canonical or non-canonical decimal string: digits, optionally `.` and more digits.
    /// Returns `nil` for signs, exponents, empty parts or too many digits.
    public init?(decimal text: String) {
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let integer = parts[0]
        let fraction = parts.count == 2 ? parts[1] : ""
        guard !integer.isEmpty, parts.count == 1 || !fraction.isEmpty else { return nil }
        guard integer.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
            fraction.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 })
        else { return nil }
        let trimmedInteger = integer.drop { $0 == "0" }
        var trimmedFraction = Substring(fraction)
        while trimmedFraction.last == "0" { trimmedFraction.removeLast() }
        guard trimmedInteger.count <= MoneyAmount.maximumIntegerDigits, trimmedFraction.count <= MoneyAmount.scale
        else { return nil }
        var units: Int128 = 0
        for digit in trimmedInteger.utf8 { units = units * 10 + Int128(digit - 0x30) }
        var fractionUnits: Int128 = 0
        for digit in trimmedFraction.utf8 { fractionUnits = fractionUnits * 10 + Int128(digit - 0x30) }
        for _ in trimmedFraction.count..<MoneyAmount.scale { fractionUnits *= 10 }
        self.units = units * MoneyAmount.unit + fractionUnits
    }

    /// Reads an amount from a JSON string or number (`1200`, `99.5`, `"99.50"`); `nil` for anything
    /// else, including negative numbers.
    public init?(json: JSON) {
        switch json {
        case .string(let text): self.init(decimal: text)
        case .int(let value):
            guard value >= 0 else { return nil }
            self.init(decimal: String(value))
        case .double(let value):
            guard value.isFinite, value >= 0 else { return nil }
            // `description` is the shortest form that round-trips; large or tiny values use an
            // exponent, which is rejected below as not a plain decimal.
            self.init(
                decimal: value.description.hasSuffix(".0") ? String(value.description.dropLast(2)) : value.description
            )
        default: return nil
        }
    }

    /// The canonical decimal string.
    public var description: String { MoneyAmount.format(self.units, scale: MoneyAmount.scale) }

    /// The canonical string as JSON.
    public var json: JSON { .string(self.description) }

    /// `units` × 10^-`scale` as a canonical decimal string (a leading `-` for negative values).
    public static func format(_ units: Int128, scale: Int) -> String {
        let negative = units < 0
        let magnitude = negative ? -units : units
        var divisor: Int128 = 1
        for _ in 0..<scale { divisor *= 10 }
        let integer = magnitude / divisor
        var fraction = String(magnitude % divisor)
        if fraction.count < scale { fraction = String(repeating: "0", count: scale - fraction.count) + fraction }
        while fraction.last == "0" { fraction.removeLast() }
        let text = fraction.isEmpty ? String(integer) : "\(integer).\(fraction)"
        return negative ? "-" + text : text
    }

    /// The sum.
    public static func + (lhs: MoneyAmount, rhs: MoneyAmount) -> MoneyAmount {
        MoneyAmount(units: lhs.units + rhs.units)
    }

    /// Orders by value.
    public static func < (lhs: MoneyAmount, rhs: MoneyAmount) -> Bool { lhs.units < rhs.units }

    /// `self × percent / 100`, exact to 10⁻¹⁰, as a canonical decimal string (weighted amounts).
    public func weightedString(percent: Int) -> String {
        MoneyAmount.format(self.units * Int128(percent), scale: MoneyAmount.scale + 2)
    }

    /// The value as a `Double` (for averages and rates in reports).
    public var doubleValue: Double { Double(self.units) / Double(MoneyAmount.unit) }
}

extension Params {
    /// An `amount` member: a decimal string or number ≥ 0, else `invalid_field`.
    public mutating func money(_ key: String) throws(Rejection) -> MoneyAmount? {
        guard let value = try self.raw(key) else { return nil }
        guard let amount = MoneyAmount(json: value) else {
            throw Rejection.invalid(
                self.fieldPath(key),
                "must be a decimal string or number ≥ 0 with at most \(MoneyAmount.maximumIntegerDigits) digits "
                    + "before and \(MoneyAmount.scale) after the point"
            )
        }
        return amount
    }

    /// A `currency` member: an ISO-4217 code, 3 upper-case letters, else `invalid_field`.
    public mutating func currency(_ key: String) throws(Rejection) -> String? {
        guard let text = try self.string(key) else { return nil }
        guard text.utf8.count == 3, text.utf8.allSatisfy({ $0 >= 0x41 && $0 <= 0x5A }) else {
            throw Rejection.invalid(self.fieldPath(key), "must be an ISO-4217 code of 3 upper-case letters")
        }
        return text
    }

    /// A `probability` member: an integer 0–100, else `invalid_field`.
    public mutating func probability(_ key: String) throws(Rejection) -> Int? {
        guard let value = try self.raw(key) else { return nil }
        guard let number = value.intValue, value.doubleValue == Double(number), (0...100).contains(number) else {
            throw Rejection.invalid(self.fieldPath(key), "must be an integer from 0 to 100")
        }
        return Int(number)
    }

    /// A `close_date` member: an ISO date `YYYY-MM-DD`, else `invalid_field`.
    public mutating func date(_ key: String) throws(Rejection) -> String? {
        guard let text = try self.string(key) else { return nil }
        guard Timestamp.parseDate(text) != nil else {
            throw Rejection.invalid(self.fieldPath(key), "must be a date YYYY-MM-DD")
        }
        return text
    }
}
