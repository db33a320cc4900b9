import CRMJSON

/// What the generator knows about an order it recorded.
struct BenchOrder: Sendable {
    var id: String
    /// In cents.
    var amount: Int
    var refunded: Int
    var cancelled: Bool
}

/// Orders: customers buy now and then; a few orders are refunded in part or cancelled.
enum OrderWorkload {
    static let entries: [WorkloadEntry] = [
        WorkloadEntry(method: "order.record", weight: 6, make: record),
        WorkloadEntry(method: "order.refund", weight: 1, make: refund),
        WorkloadEntry(method: "order.cancel", weight: 1, make: cancel),
        WorkloadEntry(method: "value.model.set", weight: 1, make: setModel),
        WorkloadEntry(method: "customer.mark_churned", weight: 1, make: markChurned),
        WorkloadEntry(method: "customer.unmark_churned", weight: 1, make: unmarkChurned),
    ]

    /// A customer's contract ends now and then (a mark effective today).
    static func markChurned(_ context: inout WorkloadContext) -> JSON? {
        guard let customer = context.someCustomer() else { return nil }
        return ["customer_id": .string(context.customers[customer].id), "reason": "contract ended"]
    }

    /// And is taken back (writes nothing when the customer was not marked).
    static func unmarkChurned(_ context: inout WorkloadContext) -> JSON? {
        guard let customer = context.someCustomer() else { return nil }
        return ["customer_id": .string(context.customers[customer].id)]
    }

    /// Each connection sets one value model (the published CDNOW parameters) once.
    static func setModel(_ context: inout WorkloadContext) -> JSON? {
        guard !context.definedModel else { return nil }
        context.definedModel = true
        return [
            "model_id": .string("\(context.prefix)m"), "currency": "EUR",
            "bgnbd": ["r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426],
            "gamma_gamma": ["p": 6.25, "q": 3.74, "gamma": 15.44],
        ]
    }

    static func record(_ context: inout WorkloadContext) -> JSON? {
        guard let customer = context.someCustomer() else { return nil }
        let id = "\(context.prefix)o\(context.orders.count)"
        let cents = 500 + context.rng.below(50_000)
        context.orders.append(BenchOrder(id: id, amount: cents, refunded: 0, cancelled: false))
        // The first order lifts the customer to "customer" (index 5) if it is earlier.
        context.customers[customer].stage = max(context.customers[customer].stage, 5)
        return [
            "order_id": .string(id), "customer_id": .string(context.customers[customer].id),
            "amount": .string(Self.decimal(cents)), "currency": "EUR",
            "channel": .string(context.rng.pick(["web", "store", "phone"])),
        ]
    }

    static func refund(_ context: inout WorkloadContext) -> JSON? {
        let open = context.orders.indices.filter { !context.orders[$0].cancelled && context.orders[$0].refunded == 0 }
        guard !open.isEmpty else { return nil }
        let index = context.rng.pick(open)
        let cents = max(1, context.orders[index].amount / (1 + context.rng.below(4)))
        context.orders[index].refunded = cents
        return ["order_id": .string(context.orders[index].id), "amount": .string(Self.decimal(cents))]
    }

    static func cancel(_ context: inout WorkloadContext) -> JSON? {
        let open = context.orders.indices.filter { !context.orders[$0].cancelled }
        guard !open.isEmpty else { return nil }
        let index = context.rng.pick(open)
        context.orders[index].cancelled = true
        return ["order_id": .string(context.orders[index].id), "reason": "changed their mind"]
    }

    /// Cents as a decimal string.
    static func decimal(_ cents: Int) -> String {
        let fraction = cents % 100
        return "\(cents / 100).\(fraction < 10 ? "0" : "")\(fraction)"
    }
}
