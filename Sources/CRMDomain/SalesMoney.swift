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

    /// The 10⁻⁸ units of a decimal string with an optional leading `-` (a margin), or `nil`.
    public static func signedUnits(_ text: String) -> Int128? {
        let negative = text.hasPrefix("-")
        guard let amount = MoneyAmount(decimal: negative ? String(text.dropFirst()) : text) else { return nil }
        return negative ? -amount.units : amount.units
    }

    /// The canonical decimal string.
    public var description: String { MoneyAmount.format(self.units, scale: MoneyAmount.scale) }

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
