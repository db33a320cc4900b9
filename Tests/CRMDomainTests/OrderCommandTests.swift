import CRMDomain
import CRMJSON
import CRMRPC
import Testing

/// `order.record`, `order.refund` and `order.cancel`, decided on typed values: given events, when the
/// command, then the events or the rejection.
@Suite struct OrderCommandTests {
    /// Customer `c1` (a lead) with order `o1` of 100.00 EUR; `c2` at stage `evangelist`.
    func harness() throws -> Harness {
        let harness = Harness()
        try harness.given(CreateCustomer.self, ["customer_id": "c1", "first_name": "Ada"])
        try harness.given(
            CreateCustomer.self, ["customer_id": "c2", "first_name": "Bo", "lifecycle_stage": "evangelist"])
        try harness.given(
            RecordOrder.self, ["order_id": "o1", "customer_id": "c1", "amount": "100.00", "currency": "EUR"]
        )
        return harness
    }

    @Test func theFirstOrderLiftsTheCustomerToCustomer() throws {
        let harness = Harness()
        try harness.given(CreateCustomer.self, ["customer_id": "c1", "first_name": "Ada"])
        let decision = try harness.given(
            RecordOrder.self,
            [
                "order_id": "o1", "customer_id": "c1", "amount": "19.9", "currency": "EUR",
                "ordered_at": "2024-01-02T10:00:00Z", "margin": "-1.5", "channel": "web",
            ]
        )
        #expect(decision.events.map(\.type) == ["OrderRecorded", "LifecycleStageChanged"])
        #expect(decision.events[0].stream == "order-o1" && decision.events[1].stream == "customer-c1")
        #expect(decision.events[1].causedBy == 0)
        guard case .sales(.orderRecorded(let order)) = decision.events[0].event else {
            Issue.record("not an order")
            return
        }
        #expect(order.orderedAt == Timestamp.parse("2024-01-02T10:00:00Z"))
        #expect(order.margin == -150_000_000)
        #expect(try harness.customer("c1").lifecycleStage == "customer")
        // The next order, and an order of a customer further down the funnel, change no stage.
        let second = try harness.when(
            RecordOrder.self, ["order_id": "o2", "customer_id": "c1", "amount": "5", "currency": "EUR"]
        )
        #expect(second.events.map(\.type) == ["OrderRecorded"])
        #expect(second.events[0].event.namedCustomerIDs == ["c1"])
        #expect(try harness.state.linkedRecords("c1", .order) == ["o1"])
    }

    @Test func refundsAddUpToTheOrderAndCancellingTwiceRecordsNothing() throws {
        let harness = try self.harness()
        try harness.given(RefundOrder.self, ["order_id": "o1", "amount": "60", "refund_id": "r1"])
        let rejection = harness.rejection(RefundOrder.self, ["order_id": "o1", "amount": "40.01"])
        expectRejection(rejection, .refundExceedsOrder, field: "amount")
        #expect(rejection?.details == ["refundable": "40"])
        let last = try harness.given(RefundOrder.self, ["order_id": "o1", "amount": "40", "currency": "EUR"])
        guard case .sales(.orderRefunded(let refund)) = last.events.first?.event else {
            Issue.record("not a refund")
            return
        }
        #expect(refund.refundedTotal == MoneyAmount(decimal: "100") && refund.customerID == "c1")
        #expect(refund.refundID == "gen-6", "generated when not given")
        try harness.given(CancelOrder.self, ["order_id": "o1", "reason": "returned"])
        #expect(try harness.when(CancelOrder.self, ["order_id": "o1"]).events.isEmpty)
        expectRejection(
            harness.rejection(RefundOrder.self, ["order_id": "o1", "amount": "1"]), .orderCancelled, field: "order_id")
    }

    static let rejections: [RejectionCase] = [
        RejectionCase(
            "order id taken", ["order_id": "o1", "customer_id": "c1", "amount": "1", "currency": "EUR"],
            .alreadyExists, "order_id"
        ),
        RejectionCase(
            "unknown customer", ["order_id": "o9", "customer_id": "zz", "amount": "1", "currency": "EUR"],
            .notFound, "customer_id"
        ),
        RejectionCase(
            "five decimals", ["order_id": "o9", "customer_id": "c1", "amount": "1.00001", "currency": "EUR"],
            .invalidField, "amount"
        ),
        RejectionCase(
            "negative amount", ["order_id": "o9", "customer_id": "c1", "amount": "-1", "currency": "EUR"],
            .invalidField, "amount"
        ),
        RejectionCase(
            "bad currency", ["order_id": "o9", "customer_id": "c1", "amount": "1", "currency": "eur"],
            .invalidField, "currency"
        ),
        RejectionCase(
            "margin above the amount",
            ["order_id": "o9", "customer_id": "c1", "amount": "1", "currency": "EUR", "margin": "1.5"],
            .invalidField, "margin"
        ),
        RejectionCase(
            "unknown channel",
            ["order_id": "o9", "customer_id": "c1", "amount": "1", "currency": "EUR", "channel": "fax"],
            .invalidField, "channel"
        ),
        RejectionCase(
            "ordered in the future",
            [
                "order_id": "o9", "customer_id": "c1", "amount": "1", "currency": "EUR",
                "ordered_at": "2025-03-07T15:36:00Z",
            ],
            .timestampInFuture, "ordered_at"
        ),
        RejectionCase(
            "missing amount", ["order_id": "o9", "customer_id": "c1", "currency": "EUR"], .missingField, "amount"),
    ]

    @Test(arguments: OrderCommandTests.rejections)
    func badOrdersAreRejected(_ testCase: RejectionCase) throws {
        let harness = try self.harness()
        let before = harness.state.tables
        expectRejection(harness.rejection(RecordOrder.self, testCase.params), testCase.reason, field: testCase.field)
        #expect(harness.state.tables == before)
    }

    @Test func badRefundsAndCancelsAreRejected() throws {
        let harness = try self.harness()
        let before = harness.state.tables
        expectRejection(
            harness.rejection(RefundOrder.self, ["order_id": "o9", "amount": "1"]), .notFound, field: "order_id")
        expectRejection(
            harness.rejection(RefundOrder.self, ["order_id": "o1", "amount": "0"]), .invalidField, field: "amount")
        let mismatch = harness.rejection(RefundOrder.self, ["order_id": "o1", "amount": "1", "currency": "USD"])
        expectRejection(mismatch, .currencyMismatch, field: "currency")
        #expect(mismatch?.details == ["currency": "EUR"])
        expectRejection(harness.rejection(CancelOrder.self, ["order_id": "o9"]), .notFound, field: "order_id")
        expectRejection(harness.rejection(CancelOrder.self, ["order_id": "o1", "x": 1]), .invalidField, field: "x")
        #expect(harness.state.tables == before)
    }

    @Test func aMergeMovesTheSecondarysOrders() throws {
        let harness = try self.harness()
        try harness.given(RecordOrder.self, ["order_id": "o2", "customer_id": "c2", "amount": "7", "currency": "EUR"])
        let decision = try harness.given(MergeCustomers.self, ["primary_id": "c1", "secondary_ids": ["c2"]])
        guard case .customer(.merged(let merged)) = decision.events.first?.event else {
            Issue.record("not a merge")
            return
        }
        #expect(merged.moved.orders == ["o2"])
        #expect(try harness.state.order("o2")?.customerID == "c1")
        #expect(try harness.state.linkedRecords("c1", .order) == ["o1", "o2"])
        let refund = try harness.when(RefundOrder.self, ["order_id": "o2", "amount": "1"])
        #expect(refund.events.first?.event.namedCustomerIDs == ["c1"], "refunds of a moved order name the survivor")
    }

    @Test func churnMarksAreRecordedOnceAndWithdrawn() throws {
        let harness = try self.harness()
        let none = try harness.when(UnmarkChurned.self, ["customer_id": "c1"])
        #expect(none.events.isEmpty, "nothing to withdraw")
        let mark = try harness.given(
            MarkChurned.self, ["customer_id": "c1", "effective_date": "2025-05-01", "reason": "contract ended"])
        #expect(mark.events.map(\.type) == ["ChurnMarked"] && mark.events[0].stream == "customer-c1")
        #expect(
            mark.events[0].event
                == .sales(
                    .churnMarked(ChurnMarked(customerID: "c1", effectiveDate: "2025-05-01", reason: "contract ended")))
        )
        let again = try harness.when(
            MarkChurned.self, ["customer_id": "c1", "effective_date": "2025-05-01", "reason": "contract ended"])
        #expect(again.events.isEmpty, "the same mark again")
        #expect(try harness.when(MarkChurned.self, ["customer_id": "c1"]).events.count == 1, "a new date: today's")
        let unmark = try harness.given(UnmarkChurned.self, ["customer_id": "c1"])
        #expect(unmark.events.map(\.type) == ["ChurnUnmarked"])
        #expect(try harness.when(UnmarkChurned.self, ["customer_id": "c1"]).events.isEmpty)
        let before = harness.state.tables
        expectRejection(harness.rejection(MarkChurned.self, ["customer_id": "c9"]), .notFound, field: "customer_id")
        expectRejection(
            harness.rejection(MarkChurned.self, ["customer_id": "c1", "effective_date": "05/01/2025"]), .invalidField,
            field: "effective_date")
        try harness.given(MergeCustomers.self, ["primary_id": "c2", "secondary_ids": ["c1"]])
        let merged = harness.state.tables
        expectRejection(
            harness.rejection(MarkChurned.self, ["customer_id": "c1"]), .customerMerged, field: "customer_id")
        expectRejection(
            harness.rejection(UnmarkChurned.self, ["customer_id": "c1"]), .customerMerged, field: "customer_id")
        #expect(harness.state.tables == merged && before != merged)
    }

    @Test func valueSettingsRecordOnlyWhatChanges() throws {
        let harness = Harness()
        let first = try harness.given(
            ConfigureValue.self,
            ["reporting_timezone": "Europe/Berlin", "churn_after_days": 365, "new_customer_days": 90])
        #expect(first.events.map(\.stream) == ["settings-value"])
        #expect(
            first.events[0].event
                == .sales(
                    .valueSettingsChanged(ValueSettingsChanged(reportingTimezone: "Europe/Berlin", churnAfterDays: 365))
                ),
            "90 new-customer days is the default already"
        )
        #expect(try harness.when(ConfigureValue.self, ["churn_after_days": 365]).events.isEmpty)
        let cleared = try harness.given(ConfigureValue.self, ["reporting_currency": "EUR"])
        #expect(cleared.events.count == 1)
        let clear = try harness.when(ConfigureValue.self, ["reporting_currency": .null])
        #expect(
            clear.events.first?.event
                == .sales(.valueSettingsChanged(ValueSettingsChanged(reportingCurrency: .some(nil)))))
        let before = harness.state.tables
        expectRejection(
            harness.rejection(ConfigureValue.self, ["inactive_after_days": 400]),
            .invalidField, field: "inactive_after_days")
        expectRejection(
            harness.rejection(ConfigureValue.self, ["churn_after_days": 0]), .invalidField, field: "churn_after_days")
        expectRejection(
            harness.rejection(ConfigureValue.self, ["reporting_timezone": "Mars/Olympus"]), .invalidTimezone,
            field: "reporting_timezone")
        expectRejection(
            harness.rejection(ConfigureValue.self, ["reporting_currency": "euro"]), .invalidField,
            field: "reporting_currency")
        #expect(harness.state.tables == before)
    }
}
