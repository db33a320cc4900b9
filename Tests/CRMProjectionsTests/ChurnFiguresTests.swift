import CRMDomain
import CRMJSON
import Testing

@testable import CRMProjections

/// The seeds' churn example: 1,000 customers at the start of 2023, 900 at its end.
@Suite struct ChurnFiguresTests {
    static func order(_ date: String) -> ValueOrder {
        ValueOrder(
            orderedAt: Timestamp.parse(date + "T12:00:00Z")!, amount: MoneyAmount(decimal: "10")!, currency: "EUR",
            margin: nil
        )
    }

    /// `stay` customers who keep buying, `lost` who stop after 2022, `new` who start mid-2023.
    static func customers(stay: Int, lost: Int, new: Int) -> [ValueCustomer] {
        let orders =
            Array(repeating: [order("2022-12-15"), order("2023-12-01")], count: stay)
            + Array(repeating: [order("2022-12-15")], count: lost)
            + Array(repeating: [order("2023-06-01"), order("2023-12-01")], count: new)
        return orders.enumerated().map { ValueCustomer(id: "c\($0.offset)", orders: $0.element) }
    }

    @Test func theSeedsFormulaAndTheLostBasedRate() {
        let start = BusinessDay("2023-01-01")!
        let end = BusinessDay("2023-12-31")!
        let plain = ChurnFigures(Self.customers(stay: 900, lost: 100, new: 0), start: start, end: end).json
        #expect(plain["start"] == 1000 && plain["end"] == 900 && plain["lost"] == 100 && plain["new"] == 0)
        #expect(plain["churn_rate"] == "10.00" && plain["churn_rate_net"] == "10.00")
        #expect(plain["retention_rate"] == "90.00")
        // Same start and end, but 150 lost and 50 new: the net formula hides the extra churn.
        let hidden = ChurnFigures(Self.customers(stay: 850, lost: 150, new: 50), start: start, end: end).json
        #expect(hidden["start"] == 1000 && hidden["end"] == 900 && hidden["lost"] == 150 && hidden["new"] == 50)
        #expect(hidden["churn_rate"] == "15.00" && hidden["churn_rate_net"] == "10.00")
        #expect(hidden["retention_rate"] == "85.00")
        // A growing base: the net rate is negative; nobody at the start: no rates at all.
        let growing = ChurnFigures(Self.customers(stay: 10, lost: 0, new: 5), start: start, end: end).json
        #expect(growing["churn_rate_net"] == "-50.00")
        let empty = ChurnFigures(Self.customers(stay: 0, lost: 0, new: 5), start: start, end: end).json
        #expect(empty["churn_rate"] == .null && empty["churn_rate_net"] == .null)
    }

    @Test func percentagesRoundHalfToEven() {
        #expect(percentage(2, of: 3) == "66.67" && percentage(1, of: 3) == "33.33")
        #expect(percentage(1, of: 8) == "12.50" && percentage(1, of: 80_000) == "0.00")
        #expect(percentage(1, of: 0) == nil)
    }
}
