import CRMDomain
import Testing

@testable import CRMProjections

/// The reports' money text: at least two decimals, no trailing zeros beyond them, the same as
/// ``MoneyAmount/format(_:scale:)`` padded to two decimals.
@Suite struct MoneyFormatTests {
    @Test func examples() {
        let cases: [(Int128, String)] = [
            (0, "0.00"), (132_000_000_000, "1320.00"), (1_234_560_000, "12.3456"), (-550_000_000, "-5.50"),
            (1, "0.00000001"), (Int128(UInt64.max) * 10, "1844674407370.9551615"),
        ]
        for (units, text) in cases { #expect(CustomerValue.format(units) == text, "\(units)") }
    }

    @Test(arguments: [1, 7, 42])
    func agreesWithTheMoneyFormatter(seed: Int) {
        var random = RFMScoreTests.Seeded(state: UInt64(seed))
        for _ in 0..<2_000 {
            let magnitude = Int128(random.next(1 << 40)) * Int128(random.next(1 << 20) + 1)
            let units = random.next(2) == 0 ? magnitude : -magnitude
            var expected = MoneyAmount.format(units, scale: MoneyAmount.scale)
            if let point = expected.firstIndex(of: ".") {
                let decimals = expected.distance(from: point, to: expected.endIndex) - 1
                if decimals < 2 { expected += String(repeating: "0", count: 2 - decimals) }
            } else {
                expected += ".00"
            }
            #expect(CustomerValue.format(units) == expected, "\(units)")
        }
    }
}
