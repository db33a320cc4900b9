import CRMApplication
import CRMDomain
import CRMJSON
import CRMProtocol
import CRMTesting
import Foundation
import Testing

/// Orders and the customer-value read model through the socket: the ten-customer worked example
/// (value statistics and value status as of 2025-06-30), rejections that write nothing, a merge that
/// moves orders, and a rebuild that answers the same.
@Suite struct ValueTests {
    /// The orders of the worked example: customer → (order id, date, amount).
    static let orders: [(String, [(String, String, String)])] = [
        (
            "C01",
            [
                ("o101", "2024-08-03", "180.00"), ("o102", "2024-10-11", "210.00"), ("o103", "2024-12-20", "260.00"),
                ("o104", "2025-02-14", "190.00"), ("o105", "2025-04-30", "220.00"), ("o106", "2025-06-27", "180.00"),
            ]
        ),
        ("C02", [("o201", "2025-06-25", "95.00")]),
        ("C03", [("o301", "2025-05-20", "60.00")]),
        (
            "C04",
            [
                ("o401", "2025-01-05", "140.00"), ("o402", "2025-03-09", "120.00"), ("o403", "2025-04-02", "75.00"),
                ("o404", "2025-06-01", "130.00"),
            ]
        ),
        (
            "C05",
            [
                ("o501", "2024-07-15", "300.00"), ("o502", "2024-09-30", "250.00"), ("o503", "2024-12-01", "280.00"),
                ("o504", "2025-02-20", "310.00"), ("o505", "2025-04-25", "260.00"),
            ]
        ),
        ("C06", [("o601", "2024-09-10", "90.00"), ("o602", "2024-12-12", "110.00"), ("o603", "2025-03-28", "100.00")]),
        ("C07", [("o701", "2024-11-02", "70.00"), ("o702", "2025-02-28", "65.00")]),
        (
            "C08",
            [
                ("o801", "2024-07-05", "400.00"), ("o802", "2024-08-20", "350.00"), ("o803", "2024-10-01", "420.00"),
                ("o804", "2024-11-15", "380.00"),
            ]
        ),
        (
            "C09",
            [
                ("o901", "2024-07-02", "500.00"), ("o902", "2024-07-20", "450.00"), ("o903", "2024-08-08", "520.00"),
                ("o904", "2024-08-30", "480.00"), ("o905", "2024-09-18", "510.00"), ("o906", "2024-10-06", "470.00"),
                ("o907", "2024-10-25", "495.00"),
            ]
        ),
        ("C10", [("o1001", "2023-11-11", "85.00"), ("o1002", "2024-03-03", "40.00")]),
    ]

    static func populate(_ client: RPCClient) async throws {
        for (customer, orders) in Self.orders {
            _ = try await client.result(
                "customer.create",
                ["at": "2023-01-01T00:00:00Z", "customer_id": .string(customer), "first_name": .string(customer)]
            )
            for (order, date, amount) in orders {
                _ = try await client.result(
                    "order.record",
                    [
                        "at": .string(date + "T12:00:00Z"), "order_id": .string(order),
                        "customer_id": .string(customer), "amount": .string(amount), "currency": "EUR",
                    ]
                )
            }
        }
        _ = try await client.result(
            "order.refund", ["at": "2024-12-05T09:00:00Z", "order_id": "o503", "amount": "80.00"])
        _ = try await client.result(
            "order.refund", ["at": "2025-03-03T09:00:00Z", "order_id": "o702", "amount": "65.00"])
        _ = try await client.result("order.cancel", ["at": "2025-04-02T18:00:00Z", "order_id": "o403"])
    }

    static func value(_ client: RPCClient, _ customer: String, _ date: String = "2025-06-30") async throws -> JSON {
        try await client.result("value.customer", ["customer_id": .string(customer), "as_of_date": .string(date)])
    }

    @Test func theTenCustomersWorkedExample() async throws {
        let daemon = try await TestDaemon()
        let client = try daemon.client()
        try await Self.populate(client)

        let c05 = try await Self.value(client, "C05")
        #expect(c05["orders"] == 5 && c05["status"] == "active")
        #expect(c05["gross"] == ["EUR": "1400.00"] && c05["refunds"] == ["EUR": "80.00"])
        #expect(c05["revenue"] == ["EUR": "1320.00"] && c05["aov"] == ["EUR": "264.00"])
        #expect(c05["clv_historical"] == ["EUR": "1320.00"] && c05["margin"] == ["EUR": nil])
        #expect(c05["first_order_date"] == "2024-07-15" && c05["last_order_date"] == "2025-04-25")
        let c04 = try await Self.value(client, "C04")
        #expect(c04["orders"] == 3 && c04["revenue"] == ["EUR": "390.00"], "o403 was cancelled")
        let c07 = try await Self.value(client, "C07")
        #expect(c07["orders"] == 1 && c07["revenue"] == ["EUR": "70.00"], "o702 was refunded in full")
        #expect(c07["last_order_date"] == "2024-11-02")
        #expect(c07["churn"] == ["churned": true, "churned_on": "2025-05-02", "marked": false])

        let expected = [
            "C01": "active", "C02": "new", "C03": "new", "C04": "active", "C05": "active", "C06": "inactive",
            "C07": "churned", "C08": "churned", "C09": "churned", "C10": "churned",
        ]
        for (customer, status) in expected {
            #expect(try await Self.value(client, customer)["status"] == .string(status), "\(customer)")
        }
        #expect(try await Self.value(client, "C10")["churn"]?["churned_on"] == "2024-08-31")
        // Before o702's refund it still counted; before any order the customer was a prospect.
        #expect(try await Self.value(client, "C07", "2025-03-02")["orders"] == 2)
        #expect(try await Self.value(client, "C01", "2024-08-02")["status"] == "prospect")
        // The first order made each of them a customer in the lifecycle.
        #expect(try await client.result("customer.get", ["customer_id": "C02"])["lifecycle"]?["stage"] == "customer")

        // RFM as of 2025-06-30 over 365 days: the worked example's table, ties sharing a score.
        let rfm = try await client.result("rfm.report", ["as_of_date": "2025-06-30", "currency": "EUR"])
        #expect(rfm["population"] == 10 && rfm["window_start"] == "2024-07-01")
        let table: [(String, Int64, Int64, String, String, String)] = [
            ("C01", 3, 6, "1240.00", "554", "champions"), ("C02", 5, 1, "95.00", "512", "new_customers"),
            ("C03", 41, 1, "60.00", "411", "promising"), ("C04", 29, 3, "390.00", "433", "potential_loyalists"),
            ("C05", 66, 5, "1320.00", "344", "loyal_customers"), ("C06", 94, 3, "300.00", "333", "need_attention"),
            ("C07", 240, 1, "70.00", "212", "hibernating"), ("C08", 227, 4, "1550.00", "245", "at_risk"),
            ("C09", 248, 7, "3425.00", "155", "cant_lose"), ("C10", 484, 0, "0.00", "111", "hibernating"),
        ]
        let rows = try #require(rfm["customers"]?.arrayValue)
        #expect(rows.count == 10)
        for (row, expected) in zip(rows, table) {
            #expect(row["customer_id"] == .string(expected.0))
            #expect(row["recency_days"] == .int(expected.1) && row["frequency"] == .int(expected.2), "\(expected.0)")
            #expect(row["monetary"] == .string(expected.3) && row["rfm"] == .string(expected.4), "\(expected.0)")
            #expect(row["segment"] == .string(expected.5), "\(expected.0)")
        }
        let segments = try #require(rfm["segments"]?.objectValue)
        #expect(segments["hibernating"] == 2 && segments["about_to_sleep"] == 0)
        #expect(segments.filter { $0.key != "hibernating" && $0.key != "about_to_sleep" }.values.allSatisfy { $0 == 1 })

        // Churn in the first half of 2025: 3 of 6 lost, 3 new, so the seeds' net formula says 0 %.
        let churn = try await client.result("churn.report", ["start_date": "2024-12-31", "end_date": "2025-06-30"])
        #expect(churn["start"] == 6 && churn["end"] == 6 && churn["lost"] == 3 && churn["new"] == 3)
        #expect(churn["reactivated"] == 0 && churn["churn_rate"] == "50.00" && churn["churn_rate_net"] == "0.00")
        #expect(churn["retention_rate"] == "50.00")
        // The 2024-07 cohort (C05, C08, C09) month by month, and cumulative.
        let cohorts = try await client.result(
            "cohort.report", ["from_month": "2024-07", "to_month": "2024-07", "as_of_date": "2025-06-30"]
        )
        #expect(cohorts["partial_month"] == .null, "2025-06-30 is the last day of its month")
        #expect(cohorts["cohorts"]?[0]?["size"] == 3)
        #expect(
            cohorts["cohorts"]?[0]?["retention"]
                == [
                    "100.00", "66.67", "66.67", "66.67", "33.33", "33.33", "0.00", "33.33", "0.00", "33.33", "0.00",
                    "0.00",
                ]
        )
        let cumulative = try await client.result(
            "cohort.report",
            ["from_month": "2024-07", "to_month": "2024-07", "as_of_date": "2025-06-30", "cumulative": true]
        )
        #expect(
            cumulative["cohorts"]?[0]?["retention"]?.arrayValue?.prefix(4) == ["100.00", "66.67", "100.00", "100.00"])
        let partial = try await client.result(
            "cohort.report", ["from_month": "2025-05", "to_month": "2025-06", "as_of_date": "2025-06-15"]
        )
        #expect(partial["partial_month"] == "2025-06")
        #expect(partial["cohorts"]?[0]?["retention"] == ["100.00", "0.00"], "C03's cohort; months after June left out")

        // The seeds' CLTV (100 × 2 × 12 × 3), and the same formula with inputs from the orders of the year.
        let seeds = try await client.result(
            "value.clv_simple", ["aov": "100", "purchases_per_month": "2", "lifespan_years": "3"]
        )
        #expect(seeds["clv"] == "7200.00")
        let derived = try await client.result(
            "value.clv_simple",
            ["derive": ["as_of_date": "2025-06-30", "currency": "EUR", "lifespan_years": "3"]]
        )
        #expect(derived["revenue"] == "8450.00" && derived["orders"] == 31 && derived["buyers"] == 9)
        #expect(derived["aov"] == "272.58" && derived["purchases_per_month"] == "0.2870")
        #expect(derived["clv"] == "2816.67")
        let bad = try await client.error(
            "value.clv_simple", ["aov": "100", "purchases_per_month": "-2", "lifespan_years": "3"])
        #expect(bad.reason == "invalid_field" && bad.field == "purchases_per_month")

        // Rebuilt from the log, the value read model answers the same.
        _ = try await client.result("projection.rebuild", ["name": "value"])
        _ = try await ProjectionLifecycleTests.waitUntilSettled(client)
        #expect(try await Self.value(client, "C05") == c05)
        #expect(try await client.result("audit.verify", ["read_models": true])["read_models"]?["ok"] == true)
        try await daemon.stop()
    }

    /// The published CDNOW parameters (BG/NBD: Fader, Hardie & Lee 2005; Gamma-Gamma: Fader & Hardie
    /// 2013), set by hand.
    static let published: JSON = [
        "model_id": "cdnow", "currency": "EUR", "bgnbd": ["r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426],
        "gamma_gamma": ["p": 6.25, "q": 3.74, "gamma": 15.44],
    ]

    @Test func predictionsWithThePublishedParameters() async throws {
        let daemon = try await TestDaemon()
        let client = try daemon.client()
        try await Self.populate(client)
        #expect(try await client.error("value.predict", ["customer_id": "C05"]).reason == "model_not_fitted")
        #expect(try await Self.value(client, "C05")["predicted"] == .null, "no model yet")
        _ = try await client.result("value.model.set", Self.published)
        // (x, t_x, T, m̄) → P(alive), E[Y(39)], E[Y(52)], E[M], CLV 12 months at 1 % a month.
        let rows: [(Double, Double, Double, Double, [Double])] = [
            (0, 0, 38.86, 0, [1.0000, 0.1951, 0.2521, 35.2190, 8.3690]),
            (1, 1.71, 38.86, 11.77, [0.2121, 0.2032, 0.2598, 18.9169, 4.6373]),
            (2, 30.43, 38.86, 22.35, [0.7266, 1.2260, 1.5587, 24.6637, 36.2892]),
            (7, 29.43, 38.86, 73.74, [0.6418, 3.3371, 4.1989, 71.4697, 283.5328]),
            (26, 30.86, 31.00, 40.00, [0.9689, 20.7497, 25.7582, 39.9207, 972.8200]),
        ]
        func close(_ value: JSON?, _ expected: Double) -> Bool {
            guard let text = value?.stringValue, let number = Double(text) else { return false }
            return abs(number - expected) <= 5e-5
        }
        for (x, tx, T, mean, expected) in rows {
            var params: JSON = [
                "frequency": .double(x), "recency_weeks": .double(tx), "age_weeks": .double(T),
                "mean_value": .double(mean), "horizon_weeks": 39,
            ]
            let at39 = try await client.result("value.predict", params)
            params["horizon_weeks"] = 52
            let at52 = try await client.result("value.predict", params)
            #expect(close(at39["p_alive"], expected[0]) && close(at39["expected_purchases"], expected[1]), "x \(x)")
            #expect(close(at52["expected_purchases"], expected[2]), "x \(x): \(at52)")
            #expect(
                close(at52["expected_order_value"], expected[3]) && close(at52["clv"]?["value"], expected[4]), "x \(x)")
        }
        // C05 of the worked example as model input: its inputs come from its orders.
        let c05 = try await client.result("value.predict", ["customer_id": "C05", "as_of_date": "2025-06-30"])
        #expect(c05["inputs"]?["frequency"] == 4 && c05["inputs"]?["recency_weeks"] == "40.5714")
        #expect(c05["inputs"]?["age_weeks"] == "50.0000" && c05["inputs"]?["mean_value"] == "255.0000")
        #expect(close(c05["p_alive"], 0.7532) && close(c05["expected_purchases"], 2.4563))
        #expect(close(c05["expected_order_value"], 233.2913) && close(c05["clv"]?["value"], 540.8366))
        // The value block predicts the same with the latest model of the customer's currency.
        let predicted = try await Self.value(client, "C05")["predicted"] ?? .null
        #expect(predicted["model_id"] == "cdnow" && predicted["currency"] == "EUR")
        #expect(close(predicted["p_alive"], 0.7532) && close(predicted["expected_purchases_52w"], 2.4563))
        #expect(close(predicted["expected_order_value"], 233.2913) && close(predicted["clv_12m"], 540.8366))
        // Bad models are refused.
        var bad = Self.published
        bad["model_id"] = "other"
        bad["bgnbd"] = ["r": 0.243, "alpha": 4.414, "a": 1, "b": 2.426]
        #expect(try await client.error("value.model.set", bad).field == "bgnbd.a")
        bad["bgnbd"] = ["r": -1, "alpha": 4.414, "a": 0.5, "b": 2.426]
        #expect(try await client.error("value.model.set", bad).field == "bgnbd.r")
        #expect(try await client.error("value.model.set", Self.published).reason == "already_exists")
        let prospect = try await client.result("customer.create", ["first_name": "P"])
        let none = try await client.error("value.predict", ["customer_id": prospect["customer_id"] ?? ""])
        #expect(none.reason == "insufficient_data")
        try await daemon.stop()
    }

    @Test func badOrdersWriteNothingAndAMergeMovesOrders() async throws {
        let daemon = try await TestDaemon()
        let client = try daemon.client()
        for id in ["p", "s"] {
            _ = try await client.result("customer.create", ["customer_id": .string(id), "first_name": "X"])
        }
        _ = try await client.result(
            "order.record", ["order_id": "o1", "customer_id": "s", "amount": "10", "currency": "EUR"])
        let before = try await Snapshot.take(client, customer: "s")
        let cases: [(String, JSON, String, String?, Int)] = [
            (
                "order.record", ["order_id": "o1", "customer_id": "s", "amount": "1", "currency": "EUR"],
                "already_exists",
                "order_id", -32004
            ),
            (
                "order.record", ["order_id": "o2", "customer_id": "nobody", "amount": "1", "currency": "EUR"],
                "not_found",
                "customer_id", -32003
            ),
            (
                "order.record", ["order_id": "o2", "customer_id": "s", "amount": "1.23456", "currency": "EUR"],
                "invalid_field", "amount", -32602
            ),
            ("order.refund", ["order_id": "o1", "amount": "11"], "refund_exceeds_order", "amount", -32039),
            (
                "order.refund", ["order_id": "o1", "amount": "1", "currency": "USD"], "currency_mismatch", "currency",
                -32041
            ),
            ("order.refund", ["order_id": "o9", "amount": "1"], "not_found", "order_id", -32003),
            ("order.cancel", ["order_id": "o9"], "not_found", "order_id", -32003),
        ]
        for (method, params, reason, field, code) in cases {
            let refused = try await client.error(method, params)
            #expect(refused.reason == reason && refused.field == field && refused.code == code, "\(method) \(params)")
        }
        #expect(try await Snapshot.take(client, customer: "s") == before)
        #expect(try await client.error("value.customer", ["customer_id": "nobody"]).reason == "not_found")
        #expect(
            try await client.error("value.customer", ["customer_id": "s", "as_of_date": "2025-02-30"]).field
                == "as_of_date")

        _ = try await client.result("order.cancel", ["order_id": "o1"])
        let cancelled = try await client.error("order.refund", ["order_id": "o1", "amount": "1"])
        #expect(cancelled.reason == "order_cancelled" && cancelled.code == -32040)
        _ = try await client.result(
            "order.record", ["order_id": "o3", "customer_id": "s", "amount": "3", "currency": "EUR"])
        _ = try await client.result("customer.merge", ["primary_id": "p", "secondary_ids": ["s"]])
        let merged = try await client.error("value.customer", ["customer_id": "s"])
        #expect(merged.reason == "customer_merged" && merged.data?["details"]?["merged_into"] == "p")
        _ = try await client.result(
            "order.record", ["order_id": "o2", "customer_id": "p", "amount": "5", "currency": "EUR"])
        let today = String(Timestamp.format(Int64(Date().timeIntervalSince1970 * 1000)).prefix(10))
        let value = try await Self.value(client, "p", today)
        #expect(value["orders"] == 2, "o3 moved with the merge and counts with o2; o1 was cancelled")
        #expect(value["revenue"] == ["EUR": "8.00"])
        try await daemon.stop()
    }

    /// `value.model.fit` refusals write nothing: bad params, too few repeat customers, a model id in
    /// use; then a fit of the worked example's orders is stored and answers predictions.
    @Test func fitRefusalsWriteNothing() async throws {
        let daemon = try await TestDaemon()
        let client = try daemon.client()
        _ = try await client.result("customer.create", ["customer_id": "solo", "first_name": "S"])
        for order in ["a", "b"] {
            _ = try await client.result(
                "order.record", ["order_id": .string(order), "customer_id": "solo", "amount": "5", "currency": "EUR"])
        }
        let before = try await Snapshot.take(client)
        let fit: JSON = ["currency": "EUR", "as_of_date": "2030-01-01"]
        var cases: [(JSON, String, String?, Int)] = [
            (["as_of_date": "2030-01-01"], "missing_field", "currency", -32602),
            (["currency": "EUR", "as_of_date": "2030-02-30"], "invalid_field", "as_of_date", -32602),
            (["currency": "EURO", "as_of_date": "2030-01-01"], "invalid_field", "currency", -32602),
            (fit, "insufficient_data", "currency", -32043),
        ]
        var penalized = fit
        penalized["penalizer"] = -1
        cases.append((penalized, "invalid_field", "penalizer", -32602))
        var cohort = fit
        (cohort["first_order_from"], cohort["first_order_to"]) = ("2025-02-01", "2025-01-01")
        cases.append((cohort, "invalid_field", "first_order_to", -32602))
        var unknown = fit
        unknown["iterations"] = 5
        cases.append((unknown, "invalid_field", "iterations", -32602))
        for (params, reason, field, code) in cases {
            let refused = try await client.error("value.model.fit", params)
            #expect(refused.reason == reason && refused.field == field && refused.code == code, "\(params): \(refused)")
        }
        #expect(try await client.error("value.model.fit", fit).data?["details"]?["repeaters"] == 0, "same-day orders")
        #expect(try await Snapshot.take(client) == before)
        #expect(try await client.result("system.stats")["value_fit"] == .null, "the refused fits released the fitter")

        try await Self.populate(client)
        var named = fit
        named["model_id"] = "m1"
        named["as_of_date"] = "2025-06-30"
        // Eleven customers hold too little variation for an unpenalised fit: a parameter runs off.
        let before2 = try await Snapshot.take(client)
        let failed = try await client.error("value.model.fit", named)
        #expect(failed.reason == "fit_failed" && failed.code == -32044)
        #expect(failed.data?["details"]?["reason"] == "no_convergence")
        #expect(try await Snapshot.take(client) == before2)
        named["penalizer"] = 0.1
        let fitted = try await client.result("value.model.fit", named)
        #expect(fitted["model_id"] == "m1" && fitted["events"]?[0]?["stream"] == "model-m1")
        let model = try await client.result("value.model.get", ["currency": "EUR"])
        #expect(
            model["model_id"] == "m1" && model["source"] == "fitted" && model["n_customers"] == 10,
            "solo ordered after the date")
        #expect(
            model["n_repeaters"] == 7 && model["penalizer"] == 0.1
                && model["based_on_seq"]?.intValue == fitted["position"]!.intValue! - 1)
        let predicted = try await client.result("value.predict", ["customer_id": "C05", "as_of_date": "2025-06-30"])
        #expect(predicted["model_id"] == "m1" && predicted["p_alive"]?.stringValue != nil)
        let again = try await client.error("value.model.fit", named)
        #expect(again.reason == "already_exists" && again.field == "model_id")
        #expect(try await client.error("value.model.get", ["model_id": "nope"]).reason == "model_not_fitted")
        try await daemon.stop()
    }

    /// `customer.mark_churned` / `unmark_churned`: a mark makes the value status churned from its date
    /// until an order after it; the same mark again, or an unmark without a mark, writes nothing;
    /// `customer.get` carries the value block; refusals write nothing.
    @Test func churnMarks() async throws {
        let daemon = try await TestDaemon()
        let client = try daemon.client()
        try await Self.populate(client)
        let mark: JSON = ["customer_id": "C05", "effective_date": "2025-05-01", "reason": "contract ended"]
        let marked = try await client.result("customer.mark_churned", mark)
        #expect(marked["events"]?[0]?["type"] == "ChurnMarked" && marked["events"]?[0]?["stream"] == "customer-C05")
        var value = try await Self.value(client, "C05")
        #expect(value["status"] == "churned")
        #expect(value["churn"] == ["churned": true, "churned_on": "2025-05-01", "marked": true])
        #expect(try await Self.value(client, "C05", "2025-04-30")["churn"]?["marked"] == false, "not yet effective")
        #expect(try await client.result("customer.mark_churned", mark)["events"] == [], "the same mark again")
        let profile = try await client.result("customer.get", ["customer_id": "C05"])
        #expect(profile["value"]?["churn"]?["marked"] == true && profile["value"]?["orders"] == 5)

        // An order after the mark's date outweighs it.
        _ = try await client.result(
            "customer.mark_churned", ["customer_id": "C01", "effective_date": "2025-06-01"])
        value = try await Self.value(client, "C01")
        #expect(value["status"] == "active" && value["churn"]?["marked"] == true)

        let unmarked = try await client.result("customer.unmark_churned", ["customer_id": "C05"])
        #expect(unmarked["events"]?[0]?["type"] == "ChurnUnmarked")
        #expect(try await Self.value(client, "C05")["status"] == "active")
        #expect(try await client.result("customer.unmark_churned", ["customer_id": "C05"])["events"] == [])

        let before = try await Snapshot.take(client, customer: "C05")
        let cases: [(String, JSON, String, String?, Int)] = [
            ("customer.mark_churned", ["customer_id": "nobody"], "not_found", "customer_id", -32003),
            ("customer.unmark_churned", ["customer_id": "nobody"], "not_found", "customer_id", -32003),
            (
                "customer.mark_churned", ["customer_id": "C05", "effective_date": "2025-13-01"], "invalid_field",
                "effective_date", -32602
            ),
            ("customer.mark_churned", [:], "missing_field", "customer_id", -32602),
        ]
        for (method, params, reason, field, code) in cases {
            let refused = try await client.error(method, params)
            #expect(refused.reason == reason && refused.field == field && refused.code == code, "\(method) \(params)")
        }
        #expect(try await Snapshot.take(client, customer: "C05") == before)
        // The churn report counts a marked customer as lost.
        _ = try await client.result("customer.mark_churned", ["customer_id": "C04", "effective_date": "2025-06-15"])
        let churn = try await client.result("churn.report", ["start_date": "2025-05-31", "end_date": "2025-06-30"])
        #expect(churn["lost"] == 1, "C04 by its mark")
        try await daemon.stop()
    }

    /// `value.configure`: the reporting time zone moves an order across midnight, the thresholds move
    /// the status, the reports echo the settings and take the default currency; refusals write nothing.
    @Test func valueSettings() async throws {
        let daemon = try await TestDaemon()
        let client = try daemon.client()
        _ = try await client.result("customer.create", ["customer_id": "c", "first_name": "C"])
        _ = try await client.result(
            "order.record",
            [
                "order_id": "late", "customer_id": "c", "amount": "10", "currency": "EUR",
                "ordered_at": "2025-06-30T23:30:00Z",
            ])
        #expect(try await Self.value(client, "c", "2025-06-30")["orders"] == 1, "UTC: still June 30")
        let settings = try await client.result("value.settings")
        #expect(settings["reporting_timezone"] == "UTC" && settings["churn_after_days"] == 180)
        let changed = try await client.result(
            "value.configure",
            [
                "reporting_timezone": "Europe/Berlin", "reporting_currency": "EUR", "churn_after_days": 30,
                "inactive_after_days": 10,
            ])
        #expect(changed["settings_id"] == "value" && changed["events"]?[0]?["type"] == "ValueSettingsChanged")
        #expect(try await Self.value(client, "c", "2025-06-30")["status"] == "prospect", "Berlin: July 1, 01:30")
        let july = try await Self.value(client, "c", "2025-08-15")
        #expect(
            july["status"] == "churned" && july["churn"]?["churned_on"] == "2025-08-01",
            "the day after the 30 days after July 1")
        let rfm = try await client.result("rfm.report", ["as_of_date": "2025-07-01"])
        #expect(
            rfm["currency"] == "EUR" && rfm["population"] == 1
                && rfm["settings"]?["reporting_timezone"] == "Europe/Berlin")
        let churn = try await client.result("churn.report", ["start_date": "2025-07-01", "end_date": "2025-08-15"])
        #expect(churn["lost"] == 1 && churn["settings"]?["churn_after_days"] == 30)

        let before = try await Snapshot.take(client)
        let cases: [(JSON, String, String?, Int)] = [
            (["reporting_timezone": "Mars/Olympus"], "invalid_timezone", "reporting_timezone", -32022),
            (["inactive_after_days": 31], "invalid_field", "inactive_after_days", -32602),
            (["rfm_window_days": 3651], "invalid_field", "rfm_window_days", -32602),
            (["reporting_currency": "eur"], "invalid_field", "reporting_currency", -32602),
            (["colour": "red"], "invalid_field", "colour", -32602),
            ([:], "missing_field", nil, -32602),
        ]
        for (params, reason, field, code) in cases {
            let refused = try await client.error("value.configure", params)
            #expect(refused.reason == reason && refused.field == field && refused.code == code, "\(params): \(refused)")
        }
        #expect(try await client.result("value.configure", ["churn_after_days": 30])["events"] == [])
        #expect(try await Snapshot.take(client) == before)
        _ = try await client.result("value.configure", ["reporting_currency": .null])
        #expect(try await client.error("rfm.report", ["as_of_date": "2025-07-01"]).field == "currency")
        try await daemon.stop()
    }

    /// `rfm.snapshot` records every buyer's scores (the profile's `rfm` block reads them, exactly as
    /// `rfm.report` scored them); `rfm.configure` changes the segment map; refusals write nothing.
    @Test func rfmSnapshotsAndSegmentMaps() async throws {
        let daemon = try await TestDaemon()
        let client = try daemon.client()
        try await Self.populate(client)
        let taken = try await client.result("rfm.snapshot", ["as_of_date": "2025-06-30", "currency": "EUR"])
        #expect(taken["snapshot_id"] == "rfm-20250630" && taken["events"]?[0]?["type"] == "RfmSnapshotTaken")
        let report = try await client.result("rfm.report", ["as_of_date": "2025-06-30", "currency": "EUR"])
        let c05 = try #require(report["customers"]?.arrayValue?.first { $0["customer_id"] == "C05" })
        let grid = try await client.result(
            "rfm.report", ["as_of_date": "2025-06-30", "currency": "EUR", "customers": false])
        #expect(grid["customers"] == .null && grid["grid"] == report["grid"] && grid["segments"] == report["segments"])
        let block = try await Self.value(client, "C05")["rfm"] ?? .null
        #expect(block["snapshot_id"] == "rfm-20250630" && block["segment"] == c05["segment"])
        #expect(block["r"] == c05["r"] && block["f"] == c05["f"] && block["m"] == c05["m"])
        #expect(try await Self.value(client, "C05", "2025-06-29")["rfm"] == .null, "no snapshot by then")
        let events = try await client.result("events.read", ["from": taken["position"] ?? 0, "limit": 1])
        #expect(events["events"]?[0]?["data"]?["population"] == 10)

        let before = try await Snapshot.take(client)
        let again = try await client.error("rfm.snapshot", ["as_of_date": "2025-06-30", "currency": "EUR"])
        #expect(again.reason == "already_exists" && again.field == "snapshot_id")
        let cases: [(String, JSON, String, String?)] = [
            ("rfm.snapshot", ["as_of_date": "2025-06-31", "currency": "EUR"], "invalid_field", "as_of_date"),
            ("rfm.snapshot", ["as_of_date": "2025-06-30"], "missing_field", "currency"),
            ("rfm.configure", ["segment_map": []], "invalid_field", "segment_map"),
            (
                "rfm.configure", ["segment_map": [["name": "Top", "r": [5, 5], "f": [1, 5]]]], "invalid_field",
                "segment_map[0].name"
            ),
            (
                "rfm.configure", ["segment_map": [["name": "top", "r": [5, 4], "f": [1, 5]]]], "invalid_field",
                "segment_map[0].r"
            ),
            (
                "rfm.configure", ["segment_map": [["name": "top", "r": [5, 5], "f": [0, 5]]]], "invalid_field",
                "segment_map[0].f"
            ),
        ]
        for (method, params, reason, field) in cases {
            let refused = try await client.error(method, params)
            #expect(refused.reason == reason && refused.field == field, "\(method) \(params): \(refused)")
        }
        #expect(try await Snapshot.take(client) == before)

        let map: JSON = [
            "segment_map": [
                ["name": "big_spenders", "r": [1, 5], "f": [1, 5], "m": [5, 5]],
                ["name": "everyone", "r": [1, 5], "f": [1, 5]],
            ]
        ]
        let defined = try await client.result("rfm.configure", map)
        #expect(defined["settings_id"] == "rfm" && defined["version"] == 1)
        let custom = try await client.result("rfm.report", ["as_of_date": "2025-06-30", "currency": "EUR"])
        let segments = Set((custom["customers"]?.arrayValue ?? []).compactMap { $0["segment"]?.stringValue })
        #expect(segments == ["big_spenders", "everyone"])
        let second = try await client.result(
            "rfm.snapshot", ["snapshot_id": "s2", "as_of_date": "2025-06-30", "currency": "EUR"])
        let read = try await client.result("events.read", ["from": second["position"] ?? 0, "limit": 1])
        #expect(read["events"]?[0]?["data"]?["map_version"] == 1)
        let latest = try await Self.value(client, "C05")
        #expect(["big_spenders", "everyone"].contains(latest["rfm"]?["segment"]?.stringValue ?? ""))
        // Marks, settings, maps and snapshots fold again the same from the log.
        _ = try await client.result("customer.mark_churned", ["customer_id": "C06", "effective_date": "2025-05-01"])
        _ = try await client.result("value.configure", ["new_customer_days": 30])
        let c06 = try await Self.value(client, "C06")
        _ = try await client.result("projection.rebuild", ["name": "value"])
        _ = try await ProjectionLifecycleTests.waitUntilSettled(client)
        #expect(try await Self.value(client, "C05") == latest)
        #expect(try await Self.value(client, "C06") == c06)
        #expect(try await client.result("audit.verify", ["read_models": true])["read_models"]?["ok"] == true)
        try await daemon.stop()
    }

    /// The value reports with `as_of` answer as crmd knew the orders then: a late import of past
    /// orders and a churn mark after that point change the live answers, not the past ones.
    @Test func valueReportsAsOfAPointOfTheLog() async throws {
        let daemon = try await TestDaemon()
        let client = try daemon.client()
        try await Self.populate(client)
        let point = try await client.result("system.stats")["head"]?["position"] ?? .null
        let queries: [(String, JSON)] = [
            ("value.customer", ["customer_id": "C03", "as_of_date": "2025-06-30"]),
            ("rfm.report", ["as_of_date": "2025-06-30", "currency": "EUR"]),
            ("churn.report", ["start_date": "2024-12-31", "end_date": "2025-06-30"]),
            ("cohort.report", ["from_month": "2024-07", "to_month": "2025-06", "as_of_date": "2025-06-30"]),
        ]
        var then: [JSON] = []
        for (method, params) in queries { then.append(try await client.result(method, params)) }
        _ = try await client.result(
            "order.record",
            [
                "order_id": "late", "customer_id": "C03", "amount": "40", "currency": "EUR",
                "ordered_at": "2025-06-01T10:00:00Z",
            ])
        _ = try await client.result("customer.mark_churned", ["customer_id": "C01", "effective_date": "2025-06-28"])
        for ((method, params), answer) in zip(queries, then) {
            var past = params
            past["as_of"] = point
            var report = try await client.result(method, past)
            #expect(report["as_of"] == ["position": point], "\(method)")
            report["as_of"] = nil
            #expect(report == answer, "\(method) as of \(point)")
            #expect(try await client.result(method, params) != answer, "\(method) live has moved on")
        }
        try await daemon.stop()
    }
}
