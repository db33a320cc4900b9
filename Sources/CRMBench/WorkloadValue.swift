import CRMJSON
import Foundation

/// One purchase of a ``ValueCustomer``: its business day (days since ``ValuePopulation/firstDay``)
/// and its amount in cents.
struct ValuePurchase: Sendable {
    var day: Int
    var cents: Int
}

/// A customer of the value population and every order it placed up to the as-of date, in time order.
struct ValueCustomer: Sendable {
    var index: Int
    var purchases: [ValuePurchase]

    var id: String { ValuePopulation.customerID(self.index) }
}

/// The seeded buyers of the `value` mode, drawn from the process BG/NBD assumes (Fader, Hardie & Lee
/// 2005), so that `value.model.fit` has something it can converge on:
///
/// - a purchase rate λ per customer ~ Exponential with a mean of one purchase per
///   ``meanDaysBetweenPurchases`` days (Gamma with r = 1, α = 8 weeks);
/// - a dropout probability p ~ Beta(1, 3), drawn as p = 1 − (1 − U)^(1/3);
/// - a first purchase at a time spread uniformly over the ``historyDays`` days up to and including
///   the as-of date, then exponential times between purchases until the as-of date, the customer
///   dropping out after each repeat purchase with probability p (as BG/NBD has it: the first purchase
///   is the start of the relationship, and nobody drops out right after it);
/// - order values: a mean per customer of 20 + Exponential(mean 40) EUR, times Gamma(4, 1) ÷ 4 noise
///   per order.
///
/// Each customer has a random stream of its own (from the seed and its index), so the population does
/// not depend on how many connections load it.
enum ValuePopulation {
    /// The as-of date of every figure of the mode.
    static let asOfDate = "2025-06-30"
    /// Day 0 of the history, 2023-07-01, in days since 1970-01-01.
    static let firstDay = 19_539
    /// Days of history: 2023-07-01 through 2025-06-30.
    static let historyDays = 731
    /// The mean of the purchase rates' exponential distribution, as days between purchases.
    static let meanDaysBetweenPurchases = 56.0
    /// The parameters the population is drawn with, in BG/NBD's terms (weeks).
    static let generating: JSON = [
        "r": 1, "alpha": 8, "a": 1, "b": 3, "time_unit": "week",
        "order_value": "(20 + Exponential(mean 40)) × Gamma(4, 1) / 4 EUR",
    ]

    /// The id of the customer with index `index`.
    static func customerID(_ index: Int) -> String { "vc\(index)" }

    /// The customer with index `index` of the population of `seed`.
    static func customer(_ index: Int, seed: UInt64) -> ValueCustomer {
        var mixer = SplitMix64(seed: seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(index) &* 0xD1B5_4A32_D192_ED03)
        var rng = SplitMix64(seed: mixer.next())
        let rate = rng.exponential() / Self.meanDaysBetweenPurchases
        let dropout = 1 - pow(1 - rng.uniform(), 1.0 / 3)
        let meanValue = 20 + 40 * rng.exponential()
        var purchases: [ValuePurchase] = []
        var time = rng.uniform() * Double(Self.historyDays)
        while time < Double(Self.historyDays) {
            let noise = (rng.exponential() + rng.exponential() + rng.exponential() + rng.exponential()) / 4
            purchases.append(ValuePurchase(day: Int(time), cents: max(1, Int((meanValue * noise * 100).rounded()))))
            // BG/NBD: inactive after a repeat purchase with probability p (never right after the first).
            if purchases.count > 1, rng.uniform() < dropout { break }
            time += rng.exponential() / rate
        }
        return ValueCustomer(index: index, purchases: purchases)
    }

    /// `YYYY-MM-DD` of `day` (days since ``firstDay``, 0…``historyDays``).
    static func date(_ day: Int) -> String { Self.dates[day] }

    /// Every date of the history as `YYYY-MM-DD`, formatted once.
    static let dates: [String] = {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withFullDate]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return (0...Self.historyDays).map {
            formatter.string(from: Date(timeIntervalSince1970: Double(Self.firstDay + $0) * 86_400))
        }
    }()

    /// `customer.create` request lines for the customers of `indices`.
    static func createSource(_ indices: [Int], seed: UInt64) -> any RequestSource {
        var next = 0
        return ClosureSource(seed: seed) { rng, id in
            guard next < indices.count else { return nil }
            defer { next += 1 }
            let params: JSON = [
                "customer_id": .string(Self.customerID(indices[next])),
                "last_name": .string(rng.pick(Vocabulary.lastNames)),
            ]
            return Self.request(id: id, method: "customer.create", params: params)
        }
    }

    /// `order.record` request lines for every purchase of `customers`, customer by customer, each
    /// dated at noon UTC of its day.
    static func orderSource(_ customers: [ValueCustomer]) -> any RequestSource {
        var customer = 0
        var purchase = 0
        return ClosureSource(seed: 0) { _, id in
            while customer < customers.count, purchase >= customers[customer].purchases.count {
                customer += 1
                purchase = 0
            }
            guard customer < customers.count else { return nil }
            defer { purchase += 1 }
            let buyer = customers[customer]
            let order = buyer.purchases[purchase]
            let params: JSON = [
                "order_id": .string("vo\(buyer.index)-\(purchase)"), "customer_id": .string(buyer.id),
                "amount": .string(OrderWorkload.decimal(order.cents)), "currency": "EUR",
                "ordered_at": .string(Self.date(order.day) + "T12:00:00Z"),
            ]
            return Self.request(id: id, method: "order.record", params: params)
        }
    }

    /// One JSON-RPC request line.
    static func request(id: Int64, method: String, params: JSON) -> [UInt8] {
        let request: JSON = ["jsonrpc": "2.0", "id": .int(id), "method": .string(method), "params": params]
        return request.serialized()
    }
}

extension SplitMix64 {
    /// A uniform value in [0, 1).
    mutating func uniform() -> Double { Double(self.next() >> 11) * 0x1p-53 }

    /// An exponential value with mean 1.
    mutating func exponential() -> Double { -log(1 - self.uniform()) }
}
