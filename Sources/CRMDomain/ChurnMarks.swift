// Contractual churn: a customer marked as churned from a date (a cancelled contract, a closed
// account), whatever its orders say. The value status counts a mark until an order after it.

/// `ChurnMarked{customer_id, effective_date, reason}` (stream `customer-<id>`).
public struct ChurnMarked: Sendable, Hashable {
    public var customerID: String
    /// The business date the customer counts as churned from (`YYYY-MM-DD`).
    public var effectiveDate: String
    public var reason: String?

    public init(customerID: String, effectiveDate: String, reason: String?) {
        self.customerID = customerID
        self.effectiveDate = effectiveDate
        self.reason = reason
    }

    /// The decision-state record of a customer's mark.
    static func recordKey(_ customerID: String) -> String { "churn:" + customerID }
}

/// `ChurnUnmarked{customer_id}` (stream `customer-<id>`): the mark is withdrawn.
public struct ChurnUnmarked: Sendable, Hashable {
    public var customerID: String

    public init(customerID: String) { self.customerID = customerID }
}

/// `customer.mark_churned {customer_id, reason?, effective_date?}`: marks an active customer as
/// churned from `effective_date` (default: the business date of the command's `at`). The same mark
/// again writes nothing.
public struct MarkChurned: DomainCommand {
    /// `customer.mark_churned`.
    public static let method = "customer.mark_churned"

    public let customerID: String
    public let reason: String?
    /// `YYYY-MM-DD`, checked by the RPC edge; `nil`: the date of `at`.
    public let effectiveDate: String?

    public init(customerID: String, reason: String?, effectiveDate: String?) {
        self.customerID = customerID
        self.reason = reason
        self.effectiveDate = effectiveDate
    }

    /// `customer-<customer_id>`.
    public func targetStream(_ context: CommandContext) -> String? { "customer-\(self.customerID)" }

    public func decide(_ state: any DecisionState, _ context: CommandContext) throws -> Decision {
        _ = try state.activeCustomer(self.customerID, field: "customer_id", personal: false)
        let date = self.effectiveDate ?? String(Timestamp.format(context.at).prefix(10))
        let mark = ChurnMarked(customerID: self.customerID, effectiveDate: date, reason: self.reason)
        let current = try state.record(.sales, ChurnMarked.recordKey(self.customerID))
        let result = CommandResult(.customer, self.customerID)
        guard current != ChurnMarked.recorded(mark) else { return Decision(events: [], result: result) }
        return Decision(
            events: [NewEvent(.sales(.churnMarked(mark)), stream: "customer-\(self.customerID)")], result: result
        )
    }
}

/// `customer.unmark_churned {customer_id}`: withdraws a churn mark; without one, writes nothing.
public struct UnmarkChurned: DomainCommand {
    /// `customer.unmark_churned`.
    public static let method = "customer.unmark_churned"

    public let customerID: String

    public init(customerID: String) { self.customerID = customerID }

    /// `customer-<customer_id>`.
    public func targetStream(_ context: CommandContext) -> String? { "customer-\(self.customerID)" }

    public func decide(_ state: any DecisionState, _ context: CommandContext) throws -> Decision {
        _ = try state.activeCustomer(self.customerID, field: "customer_id", personal: false)
        let result = CommandResult(.customer, self.customerID)
        guard try state.record(.sales, ChurnMarked.recordKey(self.customerID)) != nil else {
            return Decision(events: [], result: result)
        }
        let event = ChurnUnmarked(customerID: self.customerID)
        return Decision(
            events: [NewEvent(.sales(.churnUnmarked(event)), stream: "customer-\(self.customerID)")], result: result
        )
    }
}

extension ChurnMarked {
    /// The decision-state record of this mark: its date and reason.
    static func recorded(_ mark: ChurnMarked) -> [UInt8] {
        var row = BinaryRowWriter(capacity: 32)
        row.string(mark.effectiveDate)
        row.optionalString(mark.reason)
        return row.bytes
    }
}
