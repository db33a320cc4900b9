import ArgumentParser
import CRMJSON
import Foundation
import Testing

@testable import CRMCtl

/// `crmctl order …` and `crmctl value customer`: flags → params, and the value drawn as a table.
@Suite struct ValueCommandTests {
    @Test func orderCommandsMapTheirFlags() throws {
        let record = try request([
            "order", "record", "o-1", "--customer", "c7", "--amount", "129.90", "--currency", "EUR", "--ordered-at",
            "2025-06-01T10:00:00Z", "--margin", "-2.5", "--channel", "web", "--campaign", "spring", "--external-ref",
            "SO-1", "--lines", "3",
        ])
        #expect(record.method == "order.record")
        #expect(
            record.params
                == [
                    "order_id": "o-1", "customer_id": "c7", "amount": "129.90", "currency": "EUR",
                    "ordered_at": "2025-06-01T10:00:00Z", "margin": "-2.5", "channel": "web", "campaign_id": "spring",
                    "external_ref": "SO-1", "lines_count": 3,
                ]
        )
        let refund = try request(["order", "refund", "o-1", "--amount", "20", "--currency", "EUR", "--refund-id", "r1"])
        #expect(refund.method == "order.refund")
        #expect(refund.params == ["order_id": "o-1", "amount": "20", "currency": "EUR", "refund_id": "r1"])
        let cancel = try request(["order", "cancel", "o-1", "--reason", "returned"])
        #expect(cancel.method == "order.cancel" && cancel.params == ["order_id": "o-1", "reason": "returned"])
        #expect(throws: (any Error).self) { try CRMCtl.parseAsRoot(["order", "record", "o-1", "--amount", "1"]) }
        let value = try request(["value", "customer", "c7", "--as-of-date", "2025-06-30"])
        #expect(value.method == "value.customer" && value.params == ["customer_id": "c7", "as_of_date": "2025-06-30"])
    }

    @Test func valueFitMapsItsFlagsAndShowsTheModel() throws {
        let fit = try request([
            "value", "fit", "--currency", "USD", "--as-of-date", "1997-09-30", "--model", "cdnow", "--first-order-from",
            "1997-01-01", "--first-order-to", "1997-03-31", "--penalizer", "0.01",
        ])
        #expect(fit.method == "value.model.fit")
        #expect(
            fit.params
                == [
                    "currency": "USD", "as_of_date": "1997-09-30", "model_id": "cdnow",
                    "first_order_from": "1997-01-01",
                    "first_order_to": "1997-03-31", "penalizer": 0.01,
                ]
        )
        let model: JSON = [
            "model_id": "cdnow", "source": "fitted", "currency": "USD", "as_of_date": "1997-09-30",
            "n_customers": 2357, "n_repeaters": 1411, "sum_x": 4562, "based_on_seq": 9276,
            "bgnbd": ["r": 0.2426, "alpha": 4.4135, "a": 0.7929, "b": 2.4259, "ll": -9582.4256],
            "gamma_gamma": ["p": 6.2489, "q": 3.7446, "gamma": 15.4478, "ll": -4055.9232, "n": 946],
            "optimizer": ["iterations": ["bgnbd": 236, "gamma_gamma": 145]], "input_digest": "fc31",
        ]
        let lines = Output.valueModel(model).split(separator: "\n").map(String.init)
        #expect(lines[0] == "model cdnow (USD, fitted)")
        #expect(lines[1].contains("2357 customers, 1411 with repeat purchases"))
        #expect(lines[2].contains("r 0.2426") && lines[2].hasSuffix("LL -9582.43"))
        #expect(lines[3].contains("gamma 15.4478") && lines[3].hasSuffix("LL -4055.92 (n 946)"))
        #expect(lines[4] == "  Nelder–Mead: 236 + 145 iterations; inputs sha256 fc31")
        let progress = ValueGroup.Fit.progressLine([
            "currency": "USD", "as_of_date": "1997-09-30", "phase": "bgnbd", "customers": 2357, "iterations": 150,
            "log_likelihood": -9582.43, "elapsed_seconds": 0.4,
        ])
        #expect(
            progress
                == "fitting USD as of 1997-09-30: bgnbd, 2357 customers, iteration 150, log-likelihood -9582.43, 0.4 s")
    }

    @Test func rfmSnapshotAndConfigureMapTheirFlags() throws {
        let snapshot = try request([
            "rfm", "snapshot", "--snapshot", "s1", "--as-of-date", "2025-06-30", "--currency", "EUR", "--window-days",
            "90",
        ])
        #expect(snapshot.method == "rfm.snapshot")
        #expect(
            snapshot.params == ["snapshot_id": "s1", "as_of_date": "2025-06-30", "currency": "EUR", "window_days": 90])
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("crmctl-rfm-\(UUID().uuidString).json")
        try #"[{"name": "top", "r": [5, 5], "f": [4, 5]}]"#.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let configure = try request(["rfm", "configure", "--map-file", file.path])
        #expect(configure.method == "rfm.configure")
        #expect(configure.params == ["segment_map": [["name": "top", "r": [5, 5], "f": [4, 5]]]])
        let value = try request(["value", "configure", "--timezone", "Europe/Berlin", "--churn-after-days", "365"])
        #expect(value.method == "value.configure")
        #expect(value.params == ["reporting_timezone": "Europe/Berlin", "churn_after_days": 365])
        #expect(try request(["value", "configure"]).method == "value.settings")
        let mark = try request(["customer", "mark-churned", "c7", "--effective-date", "2025-06-30", "--reason", "gone"])
        #expect(mark.method == "customer.mark_churned")
        #expect(mark.params == ["customer_id": "c7", "effective_date": "2025-06-30", "reason": "gone"])
    }

    @Test func theRFMReportIsAGrid() throws {
        let report = try request([
            "rfm", "report", "--as-of-date", "2025-06-30", "--currency", "EUR", "--window-days", "90",
        ])
        #expect(report.method == "rfm.report")
        #expect(
            report.params == ["as_of_date": "2025-06-30", "currency": "EUR", "window_days": 90, "customers": false],
            "the grid needs no list of buyers")
        let json = try request(["rfm", "report", "--currency", "EUR", "--json"])
        #expect(json.params == ["currency": "EUR"], "--json prints every buyer")
        let past = try request([
            "churn", "report", "--start-date", "2025-01-01", "--end-date", "2025-06-30", "--as-of", "42",
        ])
        #expect(past.params == ["start_date": "2025-01-01", "end_date": "2025-06-30", "as_of": 42])
        var grid: [JSON] = []
        for r in stride(from: 5, through: 1, by: -1) {
            for f in 1...5 {
                let segment = r >= 4 && f >= 4 ? "champions" : "hibernating"
                grid.append([
                    "r": .int(Int64(r)), "f": .int(Int64(f)), "customers": r == 5 && f == 5 ? 2 : 0,
                    "segment": .string(segment),
                ])
            }
        }
        let result: JSON = [
            "as_of_date": "2025-06-30", "window_days": 90, "currency": "EUR", "population": 2, "grid": .array(grid),
            "segments": ["champions": 2, "hibernating": 0],
        ]
        let lines = Output.rfmGrid(result).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines[0] == "RFM as of 2025-06-30 (90 days, EUR): 2 buyers")
        #expect(lines[2] == "      F1    F2    F3    F4    F5")
        #expect(lines[3] == "  R5  0 HI  0 HI  0 HI  0 CH  2 CH")
        #expect(lines.suffix(2) == ["  CH  champions: 2", "  HI  hibernating: 0"])
    }

    @Test func churnAndCohortReports() throws {
        let churn = try request(["churn", "report", "--start-date", "2024-12-31", "--end-date", "2025-06-30"])
        #expect(
            churn.method == "churn.report" && churn.params == ["start_date": "2024-12-31", "end_date": "2025-06-30"])
        let cohort = try request([
            "cohort", "report", "--from-month", "2024-07", "--to-month", "2024-12", "--months", "6", "--cumulative",
        ])
        #expect(cohort.method == "cohort.report")
        #expect(cohort.params == ["from_month": "2024-07", "to_month": "2024-12", "months": 6, "cumulative": true])
        let report: JSON = [
            "as_of_date": "2025-06-30", "cumulative": false, "partial_month": nil,
            "cohorts": [
                ["cohort": "2024-07", "size": 3, "retention": ["100.00", "66.67", "0.00"]],
                ["cohort": "2024-08", "size": 0, "retention": [nil, nil]],
            ],
        ]
        let lines = Output.cohortHeatMap(report).split(separator: "\n", omittingEmptySubsequences: false).map(
            String.init)
        #expect(lines[0] == "cohorts as of 2025-06-30")
        #expect(lines[2] == "  COHORT   SIZE  M0      M1     M2")
        #expect(lines[3] == "  2024-07  3     ██ 100  ▓▓ 67     0")
        #expect(lines[4] == "  2024-08  0     -       -")
    }

    @Test func simpleCLVTakesInputsOrDerivesThem() throws {
        let given = try request([
            "value", "clv-simple", "--aov", "100", "--purchases-per-month", "2", "--lifespan-years", "3",
        ])
        #expect(given.method == "value.clv_simple")
        #expect(given.params == ["aov": "100", "purchases_per_month": "2", "lifespan_years": "3"])
        let derived = try request([
            "value", "clv-simple", "--currency", "EUR", "--lifespan-years", "3", "--window-days", "90",
        ])
        #expect(derived.params == ["derive": ["currency": "EUR", "lifespan_years": "3", "window_days": 90]])
        #expect(throws: (any Error).self) { try CRMCtl.parseAsRoot(["value", "clv-simple", "--lifespan-years", "3"]) }
    }

    @Test func predictAndSetModelMapTheirFlags() throws {
        let predict = try request(["value", "predict", "c7", "--as-of-date", "2025-06-30", "--horizon-weeks", "39"])
        #expect(predict.method == "value.predict")
        #expect(predict.params == ["customer_id": "c7", "as_of_date": "2025-06-30", "horizon_weeks": 39.0])
        let set = try request([
            "value", "set-model", "cdnow", "--currency", "USD", "--r", "0.243", "--alpha", "4.414", "--a", "0.793",
            "--b", "2.426", "--p", "6.25", "--q", "3.74", "--gamma", "15.44",
        ])
        #expect(set.method == "value.model.set")
        #expect(set.params?["bgnbd"]?["alpha"] == 4.414 && set.params?["gamma_gamma"]?["q"] == 3.74)
        #expect(throws: (any Error).self) {
            try CRMCtl.parseAsRoot([
                "value", "set-model", "m", "--currency", "USD", "--r", "1", "--alpha", "1", "--a", "2", "--b", "1",
                "--p", "1",
            ])
        }
    }

    @Test func theValueIsATablePerCurrency() {
        let value: JSON = [
            "as_of_date": "2025-06-30", "status": "churned", "orders": 2, "first_order_date": "2023-11-11",
            "last_order_date": "2024-03-03", "gross": ["EUR": "125.00", "USD": "9.50"],
            "refunds": ["EUR": "0.00", "USD": "0.00"], "revenue": ["EUR": "125.00", "USD": "9.50"],
            "aov": ["EUR": "125.00", "USD": "9.50"], "margin": ["EUR": nil, "USD": "1.00"],
            "churn": ["churned": true, "churned_on": "2024-08-31", "marked": false],
        ]
        #expect(
            Output.customerValue(value, customerID: "C10").split(separator: "\n", omittingEmptySubsequences: false)
                .map(String.init) == [
                    "customer C10 as of 2025-06-30",
                    "  status:      churned (since 2024-08-31)",
                    "  orders:      2",
                    "  first, last: 2023-11-11, 2024-03-03",
                    "",
                    "  CURRENCY  GROSS   REFUNDS  REVENUE  AOV     MARGIN",
                    "  EUR       125.00  0.00     125.00   125.00  -",
                    "  USD       9.50    0.00     9.50     9.50    1.00",
                ]
        )
        let prospect: JSON = ["as_of_date": "2025-06-30", "status": "prospect", "orders": 0, "revenue": [:]]
        #expect(Output.customerValue(prospect, customerID: "c1").hasSuffix("orders:      0"))
    }
}
