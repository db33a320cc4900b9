// Orders: what customers bought, the facts customer value is computed from. One stream per order,
// `order-<order_id>`; no personal data (ids, amounts and dates only).

/// `OrderRecorded`: a purchase by a customer, possibly of the past (`ordered_at`, imports).
public struct OrderRecorded: Sendable, Hashable {
    public var orderID: String
    public var customerID: String
    /// ≥ 0; a free order (0) is still a purchase.
    public var amount: MoneyAmount
    public var currency: String
    /// The order's margin, at most `amount`, possibly negative (10⁻⁸ units), if known.
    public var margin: Int128?
    /// When it was ordered (UTC milliseconds): the command's `at` unless given.
    public var orderedAt: Int64
    /// `web`, `store`, `phone`, `marketplace` or `other`.
    public var channel: String?
    /// The campaign the order is attributed to by the shop, as given.
    public var campaignID: String?
    /// The shop's own reference.
    public var externalRef: String?
    public var linesCount: Int64?

    public init(
        orderID: String,
        customerID: String,
        amount: MoneyAmount,
        currency: String,
        margin: Int128? = nil,
        orderedAt: Int64,
        channel: String? = nil,
        campaignID: String? = nil,
        externalRef: String? = nil,
        linesCount: Int64? = nil
    ) {
        self.orderID = orderID
        self.customerID = customerID
        self.amount = amount
        self.currency = currency
        self.margin = margin
        self.orderedAt = orderedAt
        self.channel = channel
        self.campaignID = campaignID
        self.externalRef = externalRef
        self.linesCount = linesCount
    }
}

/// `OrderRefunded`: part or all of an order's amount was paid back (dated by the event's business
/// time).
public struct OrderRefunded: Sendable, Hashable {
    public var refundID: String
    public var orderID: String
    public var customerID: String
    public var amount: MoneyAmount
    public var currency: String
    /// Every refund of the order so far, this one included.
    public var refundedTotal: MoneyAmount

    public init(
        refundID: String,
        orderID: String,
        customerID: String,
        amount: MoneyAmount,
        currency: String,
        refundedTotal: MoneyAmount
    ) {
        self.refundID = refundID
        self.orderID = orderID
        self.customerID = customerID
        self.amount = amount
        self.currency = currency
        self.refundedTotal = refundedTotal
    }
}

/// `OrderCancelled`: the order does not count from the event's business date on.
public struct OrderCancelled: Sendable, Hashable {
    public var orderID: String
    public var customerID: String
    public var reason: String?

    public init(orderID: String, customerID: String, reason: String?) {
        self.orderID = orderID
        self.customerID = customerID
        self.reason = reason
    }
}

/// Stream names of orders.
public enum OrderStream {
    /// `order-<id>`.
    public static func name(_ id: String) -> String { "order-\(id)" }
}

/// What `decide` knows about an order (`orders` state table): whose it is, its amount and what was
/// refunded, and whether it was cancelled.
public struct OrderState: Sendable, Hashable {
    public var customerID: String
    public var amount: MoneyAmount
    public var currency: String
    public var refunded: MoneyAmount
    public var cancelled: Bool

    public init(customerID: String, amount: MoneyAmount, currency: String, refunded: MoneyAmount, cancelled: Bool) {
        self.customerID = customerID
        self.amount = amount
        self.currency = currency
        self.refunded = refunded
        self.cancelled = cancelled
    }

    static let rowFormat: UInt8 = 1

    /// The compact binary row.
    public func encoded() -> [UInt8] {
        var row = BinaryRowWriter(capacity: 48)
        row.byte(OrderState.rowFormat)
        row.string(self.customerID)
        row.int128(self.amount.units)
        row.string(self.currency)
        row.int128(self.refunded.units)
        row.bool(self.cancelled)
        return row.bytes
    }

    /// Decodes a row written by ``encoded()``.
    public init(decoding bytes: [UInt8]) throws(StateDecodingError) {
        var row = BinaryRowReader(bytes, what: "order record")
        try row.format(OrderState.rowFormat)
        let customerID = try row.string()
        let amount = try row.int128()
        let currency = try row.string()
        let refunded = try row.int128()
        self.init(
            customerID: customerID, amount: MoneyAmount(units: amount), currency: currency,
            refunded: MoneyAmount(units: refunded), cancelled: try row.bool()
        )
        try row.finish()
    }
}

extension DecisionState {
    /// The order `id`, or `nil`.
    public func order(_ id: String) throws -> OrderState? {
        try self.record(.orders, id).map(OrderState.init(decoding:))
    }
}

// MARK: - order.record

/// `order.record`: a purchase of an active customer. The first order that counts lifts the customer's
/// lifecycle stage to `customer` (automation, like a won deal).
public struct RecordOrder: DomainCommand {
    /// `order.record`.
    public static let method = "order.record"

    /// How far after the command's `at` an `ordered_at` may lie (`timestamp_in_future`), as for `at`.
    public static let orderedAtAllowance: Int64 = 5 * 60 * 1000

    /// The channels an order may name.
    public static let channels = ["web", "store", "phone", "marketplace", "other"]

    public let order: OrderRecorded
    /// Whether `ordered_at` was given (otherwise it is the command's `at`).
    public let orderedAtGiven: Bool

    /// The command; `order.orderedAt` is ignored unless `orderedAtGiven`.
    public init(order: OrderRecorded, orderedAtGiven: Bool) {
        self.order = order
        self.orderedAtGiven = orderedAtGiven
    }

    /// `order-<order_id>`.
    public func targetStream(_ context: CommandContext) -> String? { OrderStream.name(self.order.orderID) }

    public func decide(_ state: any DecisionState, _ context: CommandContext) throws -> Decision {
        var order = self.order
        if try state.order(order.orderID) != nil {
            throw Rejection(
                .alreadyExists, field: "order_id", "order \(order.orderID) exists",
                details: ["id": .string(order.orderID)]
            )
        }
        _ = try state.activeCustomer(order.customerID, field: "customer_id", personal: false)
        if !self.orderedAtGiven { order.orderedAt = context.at }
        guard order.orderedAt <= context.at + RecordOrder.orderedAtAllowance else {
            throw Rejection(
                .timestampInFuture, field: "ordered_at",
                "ordered_at is more than 5 minutes after the command's time",
                details: ["at": .string(Timestamp.format(context.at))]
            )
        }
        // A recorded order counts (it is neither cancelled nor refunded yet): like a won deal, it lifts
        // its customer to `customer`.
        let events =
            [NewEvent(.sales(.orderRecorded(order)), stream: OrderStream.name(order.orderID))]
            + (try DealInput.lift([order.customerID], to: "customer", state, causedBy: 0))
        return Decision(events: events, result: CommandResult(.order, order.orderID))
    }
}

// MARK: - order.refund

/// `order.refund`: pays back part or all of an order; refunds add up to at most the order's amount.
public struct RefundOrder: DomainCommand {
    /// `order.refund`.
    public static let method = "order.refund"

    public let orderID: String
    public let amount: MoneyAmount
    /// The refund's own id; generated when `nil`.
    public let refundID: String?
    /// Must be the order's currency when given.
    public let currency: String?
    public let reason: String?

    public init(orderID: String, amount: MoneyAmount, refundID: String?, currency: String?, reason: String?) {
        self.orderID = orderID
        self.amount = amount
        self.refundID = refundID
        self.currency = currency
        self.reason = reason
    }

    /// `order-<order_id>`.
    public func targetStream(_ context: CommandContext) -> String? { OrderStream.name(self.orderID) }

    public func decide(_ state: any DecisionState, _ context: CommandContext) throws -> Decision {
        guard let order = try state.order(self.orderID) else {
            throw Rejection.notFound("order_id", "order", self.orderID)
        }
        if order.cancelled {
            throw Rejection(.orderCancelled, field: "order_id", "order \(self.orderID) was cancelled")
        }
        guard self.amount > .zero else { throw Rejection.invalid("amount", "a refund must be more than 0") }
        if let currency = self.currency, currency != order.currency {
            throw Rejection(
                .currencyMismatch, field: "currency", "order \(self.orderID) is in \(order.currency), not \(currency)",
                details: ["currency": .string(order.currency)]
            )
        }
        let total = order.refunded + self.amount
        guard total <= order.amount else {
            let refundable = MoneyAmount(units: order.amount.units - order.refunded.units)
            throw Rejection(
                .refundExceedsOrder, field: "amount",
                "refunds of order \(self.orderID) would exceed its amount; \(refundable) is left to refund",
                details: ["refundable": .string(refundable.description)]
            )
        }
        let refunded = OrderRefunded(
            refundID: self.refundID ?? context.generatedID, orderID: self.orderID, customerID: order.customerID,
            amount: self.amount, currency: order.currency, refundedTotal: total
        )
        return Decision(
            events: [NewEvent(.sales(.orderRefunded(refunded)), stream: OrderStream.name(self.orderID))],
            result: CommandResult(.order, self.orderID)
        )
    }
}

// MARK: - order.cancel

/// `order.cancel`: the order no longer counts. Cancelling twice is accepted and records nothing.
public struct CancelOrder: DomainCommand {
    /// `order.cancel`.
    public static let method = "order.cancel"

    public let orderID: String
    public let reason: String?

    public init(orderID: String, reason: String?) {
        self.orderID = orderID
        self.reason = reason
    }

    /// `order-<order_id>`.
    public func targetStream(_ context: CommandContext) -> String? { OrderStream.name(self.orderID) }

    public func decide(_ state: any DecisionState, _ context: CommandContext) throws -> Decision {
        guard let order = try state.order(self.orderID) else {
            throw Rejection.notFound("order_id", "order", self.orderID)
        }
        let result = CommandResult(.order, self.orderID)
        if order.cancelled { return Decision(events: [], result: result) }
        let cancelled = OrderCancelled(orderID: self.orderID, customerID: order.customerID, reason: self.reason)
        return Decision(
            events: [NewEvent(.sales(.orderCancelled(cancelled)), stream: OrderStream.name(self.orderID))],
            result: result
        )
    }
}

// MARK: - Evolve

extension SalesEvolver {
    /// Folds an order event into the `orders` table (and the customer's links).
    static func applyOrder(_ event: SalesEvent, to store: any DecisionStateStore) throws {
        switch event {
        case .orderRecorded(let recorded):
            let order = OrderState(
                customerID: recorded.customerID, amount: recorded.amount, currency: recorded.currency,
                refunded: .zero, cancelled: false
            )
            try store.setRecord(.orders, recorded.orderID, order.encoded())
            try store.setLink(recorded.customerID, .order, recorded.orderID, linked: true)
        case .orderRefunded(let refunded):
            guard var order = try store.order(refunded.orderID) else { return }
            order.refunded = refunded.refundedTotal
            try store.setRecord(.orders, refunded.orderID, order.encoded())
        case .orderCancelled(let cancelled):
            guard var order = try store.order(cancelled.orderID) else { return }
            order.cancelled = true
            try store.setRecord(.orders, cancelled.orderID, order.encoded())
        default:
            return
        }
    }
}
