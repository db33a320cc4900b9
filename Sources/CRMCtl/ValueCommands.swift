import ArgumentParser
import CRMJSON
import Foundation
import Synchronization

/// `crmctl order …` and `crmctl value …`.
enum ValueSubcommands {
    /// Top-level command groups added to `crmctl`.
    static let groups: [any ParsableCommand.Type] = [
        OrderGroup.self, ValueGroup.self, RFMGroup.self, ChurnGroup.self, CohortGroup.self,
    ]
}

/// `--as-of` of the value reports: a point of the log (not a business date).
struct PastOption: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Answer as of this log position or recorded RFC 3339 time (orders known then).",
            valueName: "position|time"
        ),
        transform: ParamParsing.asOf
    )
    var asOf: JSON?
}

/// `crmctl order …`.
struct OrderGroup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "order",
        abstract: "Record customers' orders, refunds and cancellations.",
        subcommands: [Record.self, Refund.self, Cancel.self]
    )
}

/// `crmctl value …`.
struct ValueGroup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "value",
        abstract: "Show what customers are worth, from their orders.",
        subcommands: [Customer.self, SimpleCLV.self, Fit.self, Predict.self, SetModel.self, Configure.self]
    )
}

extension CRMCtl.Customer {
    /// `crmctl customer mark-churned`.
    struct MarkChurned: RPCCommand {
        static let configuration = CommandConfiguration(
            commandName: "mark-churned",
            abstract: "Mark a customer as churned from a date (customer.mark_churned).",
            discussion: """
                For churn the orders cannot show: a cancelled contract, a closed account. The value \
                status is churned from the date on (churned_on is that date) until an order after it. \
                The same mark again writes nothing.
                Example:
                  crmctl customer mark-churned c7 --effective-date 2025-06-30 \\
                    --reason "contract ended"
                """
        )

        @Argument(help: ArgumentHelp("Id of the customer.", valueName: "customer-id"))
        var customerID: String

        @Option(help: ArgumentHelp("Why.", valueName: "text"))
        var reason: String?

        @Option(
            help: ArgumentHelp("Churned from this date, YYYY-MM-DD (default: the command's day).", valueName: "date"))
        var effectiveDate: String?

        @OptionGroup(title: "Command options")
        var common: CommandOptions

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "customer.mark_churned" }

        func params() throws -> JSON? {
            var params: [String: JSON] = ["customer_id": .string(self.customerID)]
            if let value = self.reason { params["reason"] = .string(value) }
            if let value = self.effectiveDate { params["effective_date"] = .string(value) }
            try self.common.apply(to: &params)
            return .object(params)
        }

        func render(_ result: JSON) -> String {
            Output.commandSummary(noun: "customer", verb: "marked churned", idKey: "customer_id", result: result)
        }
    }

    /// `crmctl customer unmark-churned`.
    struct UnmarkChurned: RPCCommand {
        static let configuration = CommandConfiguration(
            commandName: "unmark-churned",
            abstract: "Withdraw a customer's churn mark (customer.unmark_churned).",
            discussion: """
                Without a mark it writes nothing.
                Example:
                  crmctl customer unmark-churned c7
                """
        )

        @Argument(help: ArgumentHelp("Id of the customer.", valueName: "customer-id"))
        var customerID: String

        @OptionGroup(title: "Command options")
        var common: CommandOptions

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "customer.unmark_churned" }

        func params() throws -> JSON? {
            var params: [String: JSON] = ["customer_id": .string(self.customerID)]
            try self.common.apply(to: &params)
            return .object(params)
        }

        func render(_ result: JSON) -> String {
            Output.commandSummary(noun: "customer", verb: "unmarked churned", idKey: "customer_id", result: result)
        }
    }
}

/// `crmctl rfm …`.
struct RFMGroup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rfm",
        abstract: "Score buyers by recency, frequency and monetary value.",
        subcommands: [Report.self, TakeSnapshot.self, Configure.self]
    )
}

extension RFMGroup {
    /// `crmctl rfm report`.
    struct Report: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "Score every buyer and draw the R×F grid (rfm.report).",
            discussion: """
                Each buyer (a customer with an order that counts) gets R, F and M scores 1–5 by rank: \
                recency in days since its last order, frequency and monetary value of its orders in \
                the window. Equal values share a score. The grid counts buyers per R and F score and \
                names each cell's segment; --json gives every buyer.
                Example:
                  crmctl rfm report --as-of-date 2025-06-30 --currency EUR
                """
        )

        @Option(help: ArgumentHelp("The business date to score at, YYYY-MM-DD (default: today).", valueName: "date"))
        var asOfDate: String?

        @Option(
            help: ArgumentHelp("Days of orders that count for F and M (default: the setting, 365).", valueName: "days"))
        var windowDays: Int?

        @Option(help: ArgumentHelp("The currency of M, e.g. EUR (default: the reporting currency).", valueName: "code"))
        var currency: String?

        @OptionGroup(title: "Point of the log")
        var past: PastOption

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "rfm.report" }

        func params() throws -> JSON? {
            var params: [String: JSON] = [:]
            if let value = self.currency { params["currency"] = .string(value) }
            if let value = self.asOfDate { params["as_of_date"] = .string(value) }
            if let value = self.windowDays { params["window_days"] = .int(Int64(value)) }
            // The grid needs no list of buyers; --json prints them all.
            if !self.global.json { params["customers"] = false }
            if let value = self.past.asOf { params["as_of"] = value }
            return .object(params)
        }

        func render(_ result: JSON) -> String { Output.rfmGrid(result) }
    }
}

extension RFMGroup {
    /// `crmctl rfm snapshot`.
    struct TakeSnapshot: RPCCommand {
        static let configuration = CommandConfiguration(
            commandName: "snapshot",
            abstract: "Record every buyer's RFM scores as of a date in the log (rfm.snapshot).",
            discussion: """
                The scores are the ones rfm report gives; recorded, they stay as they were: customer \
                get and value customer show a customer's scores from the latest snapshot on or before \
                their date.
                Example:
                  crmctl rfm snapshot --as-of-date 2025-06-30 --currency EUR
                """
        )

        @Option(help: ArgumentHelp("Id of the snapshot (default: rfm-YYYYMMDD).", valueName: "id"))
        var snapshot: String?

        @Option(help: ArgumentHelp("The business date to score at, YYYY-MM-DD (default: today).", valueName: "date"))
        var asOfDate: String?

        @Option(help: ArgumentHelp("Days of orders that count for F and M (default: the setting).", valueName: "days"))
        var windowDays: Int?

        @Option(help: ArgumentHelp("The currency of M (default: the reporting currency).", valueName: "code"))
        var currency: String?

        @OptionGroup(title: "Command options")
        var common: CommandOptions

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "rfm.snapshot" }

        func params() throws -> JSON? {
            var params: [String: JSON] = [:]
            if let value = self.snapshot { params["snapshot_id"] = .string(value) }
            if let value = self.asOfDate { params["as_of_date"] = .string(value) }
            if let value = self.windowDays { params["window_days"] = .int(Int64(value)) }
            if let value = self.currency { params["currency"] = .string(value) }
            try self.common.apply(to: &params)
            return .object(params)
        }

        func render(_ result: JSON) -> String {
            Output.commandSummary(noun: "snapshot", verb: "taken", idKey: "snapshot_id", result: result)
        }
    }

    /// `crmctl rfm configure`.
    struct Configure: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set the RFM segment map (rfm.configure, admin role).",
            discussion: """
                The map is an ordered list of rules; the first whose R, F and M ranges hold a buyer's \
                scores names its segment (no match: other). Give it as a JSON file:
                  [{"name": "champions", "r": [5, 5], "f": [4, 5]},
                   {"name": "big_spenders", "r": [1, 5], "f": [1, 5], "m": [5, 5]}]
                (m may be left out: 1 to 5). Names match ^[a-z][a-z0-9_]{0,39}$.
                Example:
                  crmctl rfm configure --map-file segments.json
                """
        )

        @Option(help: ArgumentHelp("JSON file with the rules.", valueName: "path"))
        var mapFile: String

        @OptionGroup(title: "Command options")
        var common: CommandOptions

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "rfm.configure" }

        func params() throws -> JSON? {
            let text: String
            do {
                text = try String(contentsOfFile: self.mapFile, encoding: .utf8)
            } catch {
                throw ValidationError("cannot read \(self.mapFile): \(error.localizedDescription)")
            }
            guard let rules = try? JSON.parse(text), rules.arrayValue != nil else {
                throw ValidationError("\(self.mapFile) does not hold a JSON array of rules")
            }
            var params: [String: JSON] = ["segment_map": rules]
            try self.common.apply(to: &params)
            return .object(params)
        }

        func render(_ result: JSON) -> String {
            "segment map version \(Output.text(result["version"]) ?? "?") set (position "
                + "\(Output.text(result["position"]) ?? "?"))"
        }
    }
}

/// `crmctl churn …`.
struct ChurnGroup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "churn",
        abstract: "How many customers a period lost.",
        subcommands: [Report.self]
    )
}

/// `crmctl cohort …`.
struct CohortGroup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cohort",
        abstract: "Retention of customers by the month of their first order.",
        subcommands: [Report.self]
    )
}

extension ChurnGroup {
    /// `crmctl churn report`.
    struct Report: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "Churn, net churn and retention of a period (churn.report).",
            discussion: """
                Customers at the start are those with orders who have not churned (more than 180 days \
                without an order). churn_rate = lost ÷ start; churn_rate_net = (start − end) ÷ start, \
                which new customers can hide; retention_rate = kept ÷ start.
                Example:
                  crmctl churn report --start-date 2024-12-31 --end-date 2025-06-30
                """
        )

        @Option(help: ArgumentHelp("The period starts after this date, YYYY-MM-DD.", valueName: "date"))
        var startDate: String

        @Option(help: ArgumentHelp("The period ends with this date, YYYY-MM-DD.", valueName: "date"))
        var endDate: String

        @OptionGroup(title: "Point of the log")
        var past: PastOption

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "churn.report" }

        func params() throws -> JSON? {
            var params: [String: JSON] = ["start_date": .string(self.startDate), "end_date": .string(self.endDate)]
            if let value = self.past.asOf { params["as_of"] = value }
            return .object(params)
        }

        func render(_ result: JSON) -> String {
            func value(_ key: String) -> String { Output.text(result[key]) ?? "-" }
            func rate(_ key: String) -> String { Output.text(result[key]).map { $0 + " %" } ?? "-" }
            return [
                "churn from \(value("start_date")) to \(value("end_date"))",
                "  customers at the start: \(value("start")), at the end: \(value("end"))",
                "  lost \(value("lost")), new \(value("new")), reactivated \(value("reactivated"))",
                "  churn rate:     \(rate("churn_rate"))",
                "  net churn rate: \(rate("churn_rate_net"))",
                "  retention rate: \(rate("retention_rate"))",
            ].joined(separator: "\n")
        }
    }
}

extension CohortGroup {
    /// `crmctl cohort report`.
    struct Report: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "The retention matrix of monthly cohorts, as a heat map (cohort.report).",
            discussion: """
                One row per month of first orders; column k is the share of that cohort with an order \
                in month k after it (--cumulative: with a repeat order in any month up to k). Darker \
                cells retained more.
                Example:
                  crmctl cohort report --from-month 2024-07 --to-month 2024-12 --months 12
                """
        )

        @Option(help: ArgumentHelp("The first cohort, YYYY-MM.", valueName: "month"))
        var fromMonth: String

        @Option(help: ArgumentHelp("The last cohort, YYYY-MM.", valueName: "month"))
        var toMonth: String

        @Option(help: ArgumentHelp("Months per row, 1 to 120 (default 12).", valueName: "n"))
        var months: Int?

        @Flag(help: "Count customers with a repeat order in any month so far.")
        var cumulative = false

        @Option(help: ArgumentHelp("The business date to look from, YYYY-MM-DD (default: today).", valueName: "date"))
        var asOfDate: String?

        @OptionGroup(title: "Point of the log")
        var past: PastOption

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "cohort.report" }

        func params() throws -> JSON? {
            var params: [String: JSON] = ["from_month": .string(self.fromMonth), "to_month": .string(self.toMonth)]
            if let value = self.months { params["months"] = .int(Int64(value)) }
            if self.cumulative { params["cumulative"] = true }
            if let value = self.asOfDate { params["as_of_date"] = .string(value) }
            if let value = self.past.asOf { params["as_of"] = value }
            return .object(params)
        }

        func render(_ result: JSON) -> String { Output.cohortHeatMap(result) }
    }
}

extension OrderGroup {
    /// `crmctl order record`.
    struct Record: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "Record an order (order.record).",
            discussion: """
                Amounts are decimal strings with at most 4 decimals. --ordered-at may lie in the past \
                (imports: give the purchase time there and leave --at alone). The customer's first \
                order lifts its lifecycle stage to "customer".
                Example:
                  crmctl order record o-1001 --customer c7 --amount 129.90 --currency EUR \\
                    --ordered-at 2025-06-01T10:00:00Z --channel web
                """
        )

        @Argument(help: ArgumentHelp("Id of the order (the shop's order number).", valueName: "order-id"))
        var orderID: String

        @Option(name: [.customLong("customer"), .customLong("customer-id")], help: "Id of the customer.")
        var customerID: String

        @Option(help: ArgumentHelp("The order's amount, e.g. 129.90.", valueName: "decimal"))
        var amount: String

        @Option(help: ArgumentHelp("ISO-4217 currency, e.g. EUR.", valueName: "code"))
        var currency: String

        @Option(help: ArgumentHelp("When it was ordered, RFC 3339 (default: --at).", valueName: "time"))
        var orderedAt: String?

        @Option(
            parsing: .unconditional,
            help: ArgumentHelp("The margin, at most the amount (may be negative, e.g. -2.50).", valueName: "decimal")
        )
        var margin: String?

        @Option(help: ArgumentHelp("web, store, phone, marketplace or other.", valueName: "channel"))
        var channel: String?

        @Option(help: ArgumentHelp("The campaign the shop attributes it to.", valueName: "id"))
        var campaign: String?

        @Option(help: ArgumentHelp("The shop's own reference.", valueName: "ref"))
        var externalRef: String?

        @Option(help: ArgumentHelp("Number of order lines.", valueName: "n"))
        var lines: Int?

        @OptionGroup(title: "Command options")
        var common: CommandOptions

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "order.record" }

        func params() throws -> JSON? {
            var params: [String: JSON] = [
                "order_id": .string(self.orderID), "customer_id": .string(self.customerID),
                "amount": .string(self.amount), "currency": .string(self.currency),
            ]
            if let value = self.orderedAt { params["ordered_at"] = .string(value) }
            if let value = self.margin { params["margin"] = .string(value) }
            if let value = self.channel { params["channel"] = .string(value) }
            if let value = self.campaign { params["campaign_id"] = .string(value) }
            if let value = self.externalRef { params["external_ref"] = .string(value) }
            if let value = self.lines { params["lines_count"] = .int(Int64(value)) }
            try self.common.apply(to: &params)
            return .object(params)
        }

        func render(_ result: JSON) -> String {
            Output.commandSummary(noun: "order", verb: "recorded", idKey: "order_id", result: result)
        }
    }

    /// `crmctl order refund`.
    struct Refund: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "Refund part or all of an order (order.refund).",
            discussion: """
                Refunds add up to at most the order's amount (refund_exceeds_order says how much is \
                left). An order refunded down to 0 no longer counts as a purchase.
                Example:
                  crmctl order refund o-1001 --amount 20.00
                """
        )

        @Argument(help: ArgumentHelp("Id of the order.", valueName: "order-id"))
        var orderID: String

        @Option(help: ArgumentHelp("How much is paid back.", valueName: "decimal"))
        var amount: String

        @Option(help: ArgumentHelp("Must be the order's currency when given.", valueName: "code"))
        var currency: String?

        @Option(help: ArgumentHelp("Id of the refund (default: generated).", valueName: "id"))
        var refundID: String?

        @Option(help: ArgumentHelp("Why.", valueName: "text"))
        var reason: String?

        @OptionGroup(title: "Command options")
        var common: CommandOptions

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "order.refund" }

        func params() throws -> JSON? {
            var params: [String: JSON] = ["order_id": .string(self.orderID), "amount": .string(self.amount)]
            if let value = self.currency { params["currency"] = .string(value) }
            if let value = self.refundID { params["refund_id"] = .string(value) }
            if let value = self.reason { params["reason"] = .string(value) }
            try self.common.apply(to: &params)
            return .object(params)
        }

        func render(_ result: JSON) -> String {
            Output.commandSummary(noun: "order", verb: "refunded", idKey: "order_id", result: result)
        }
    }

    /// `crmctl order cancel`.
    struct Cancel: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "Cancel an order (order.cancel): it no longer counts from today on.",
            discussion: """
                Example:
                  crmctl order cancel o-1001 --reason "out of stock"
                """
        )

        @Argument(help: ArgumentHelp("Id of the order.", valueName: "order-id"))
        var orderID: String

        @Option(help: ArgumentHelp("Why.", valueName: "text"))
        var reason: String?

        @OptionGroup(title: "Command options")
        var common: CommandOptions

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "order.cancel" }

        func params() throws -> JSON? {
            var params: [String: JSON] = ["order_id": .string(self.orderID)]
            if let value = self.reason { params["reason"] = .string(value) }
            try self.common.apply(to: &params)
            return .object(params)
        }

        func render(_ result: JSON) -> String {
            Output.commandSummary(noun: "order", verb: "cancelled", idKey: "order_id", result: result)
        }
    }
}

extension ValueGroup {
    /// `crmctl value predict`.
    struct Predict: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "A customer's future by the value model (value.predict).",
            discussion: """
                P(alive), expected purchases in the horizon, expected value of a purchase and the \
                discounted lifetime value, from the BG/NBD and Gamma-Gamma model of the currency.
                Example:
                  crmctl value predict c7 --as-of-date 2025-06-30
                """
        )

        @Argument(help: ArgumentHelp("Id of the customer.", valueName: "customer-id"))
        var customerID: String

        @Option(help: ArgumentHelp("The model (default: the latest for the currency).", valueName: "id"))
        var model: String?

        @Option(help: ArgumentHelp("The model's currency, when several have models.", valueName: "code"))
        var currency: String?

        @Option(help: ArgumentHelp("The business date to predict from, YYYY-MM-DD.", valueName: "date"))
        var asOfDate: String?

        @Option(help: ArgumentHelp("Weeks of expected purchases (default 52).", valueName: "weeks"))
        var horizonWeeks: Double?

        @Option(help: ArgumentHelp("Months of lifetime value (default 12).", valueName: "n"))
        var months: Int?

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "value.predict" }

        func params() throws -> JSON? {
            var params: [String: JSON] = ["customer_id": .string(self.customerID)]
            if let value = self.model { params["model_id"] = .string(value) }
            if let value = self.currency { params["currency"] = .string(value) }
            if let value = self.asOfDate { params["as_of_date"] = .string(value) }
            if let value = self.horizonWeeks { params["horizon_weeks"] = .double(value) }
            if let value = self.months { params["months"] = .int(Int64(value)) }
            return .object(params)
        }

        func render(_ result: JSON) -> String {
            func value(_ key: String) -> String { Output.text(result[key]) ?? "-" }
            let inputs = result["inputs"]
            return [
                "customer \(self.customerID) by model \(value("model_id")) (\(value("currency")))",
                "  repeat purchases \(Output.text(inputs?["frequency"]) ?? "?"), the last after "
                    + "\(Output.text(inputs?["recency_weeks"]) ?? "?") weeks, "
                    + "\(Output.text(inputs?["age_weeks"]) ?? "?") weeks since the first",
                "  P(alive):              \(value("p_alive"))",
                "  purchases in \(value("horizon_weeks")) weeks: \(value("expected_purchases"))",
                "  value of a purchase:   \(value("expected_order_value"))",
                "  lifetime value:        \(Output.text(result["clv"]?["value"]) ?? "-") over "
                    + "\(Output.text(result["clv"]?["months"]) ?? "?") months",
            ].joined(separator: "\n")
        }
    }

    /// `crmctl value set-model`.
    struct SetModel: RPCCommand {
        static let configuration = CommandConfiguration(
            commandName: "set-model",
            abstract: "Set a value model's parameters by hand (value.model.set).",
            discussion: """
                Example (the published CDNOW parameters):
                  crmctl value set-model cdnow --currency USD --r 0.243 --alpha 4.414 \\
                    --a 0.793 --b 2.426 --p 6.25 --q 3.74 --gamma 15.44
                """
        )

        @Argument(help: ArgumentHelp("Id of the model.", valueName: "model-id"))
        var modelID: String

        @Option(help: ArgumentHelp("Currency of the orders it models.", valueName: "code"))
        var currency: String

        @Option(name: .customLong("r"), help: "BG/NBD r.") var r: Double
        @Option(name: .customLong("alpha"), help: "BG/NBD alpha.") var alpha: Double
        @Option(name: .customLong("a"), help: "BG/NBD a (not 1).") var a: Double
        @Option(name: .customLong("b"), help: "BG/NBD b.") var b: Double
        @Option(name: .customLong("p"), help: "Gamma-Gamma p.") var p: Double?
        @Option(name: .customLong("q"), help: "Gamma-Gamma q.") var q: Double?
        @Option(name: .customLong("gamma"), help: "Gamma-Gamma gamma.") var gamma: Double?

        @OptionGroup(title: "Command options")
        var common: CommandOptions

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "value.model.set" }

        func validate() throws {
            let given = [self.p, self.q, self.gamma].compactMap { $0 }.count
            if given != 0, given != 3 { throw ValidationError("give all of --p, --q and --gamma, or none") }
        }

        func params() throws -> JSON? {
            var params: [String: JSON] = [
                "model_id": .string(self.modelID), "currency": .string(self.currency),
                "bgnbd": [
                    "r": .double(self.r), "alpha": .double(self.alpha), "a": .double(self.a), "b": .double(self.b),
                ],
            ]
            if let p = self.p, let q = self.q, let gamma = self.gamma {
                params["gamma_gamma"] = ["p": .double(p), "q": .double(q), "gamma": .double(gamma)]
            }
            try self.common.apply(to: &params)
            return .object(params)
        }

        func render(_ result: JSON) -> String {
            Output.commandSummary(noun: "model", verb: "set", idKey: "model_id", result: result)
        }
    }

    /// `crmctl value configure`.
    struct Configure: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change or show the value settings (value.configure, admin role; value.settings).",
            discussion: """
                The reporting time zone turns instants into business dates for every value figure; \
                the day thresholds decide the value status (new, active, inactive, churned); the RFM \
                window and the reporting currency are the defaults of rfm report and the CLV \
                formula. Without options it shows the settings.
                Example:
                  crmctl value configure --timezone Europe/Berlin --churn-after-days 365
                """
        )

        @Option(help: ArgumentHelp("IANA time zone of business dates (default UTC).", valueName: "zone"))
        var timezone: String?

        @Option(help: ArgumentHelp("Default currency of the reports, e.g. EUR.", valueName: "code"))
        var currency: String?

        @Flag(help: "Clear the default currency (reports then need --currency).")
        var clearCurrency = false

        @Option(help: ArgumentHelp("Days a first order keeps a customer new (default 90).", valueName: "days"))
        var newCustomerDays: Int?

        @Option(help: ArgumentHelp("Days after the last order until inactive (default 90).", valueName: "days"))
        var inactiveAfterDays: Int?

        @Option(help: ArgumentHelp("Days after the last order until churned (default 180).", valueName: "days"))
        var churnAfterDays: Int?

        @Option(help: ArgumentHelp("Default RFM window in days (default 365).", valueName: "days"))
        var rfmWindowDays: Int?

        @OptionGroup(title: "Command options")
        var common: CommandOptions

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var changes: [String: JSON] {
            var params: [String: JSON] = [:]
            if let value = self.timezone { params["reporting_timezone"] = .string(value) }
            if let value = self.currency { params["reporting_currency"] = .string(value) }
            if self.clearCurrency { params["reporting_currency"] = .null }
            let days = [
                ("new_customer_days", self.newCustomerDays), ("inactive_after_days", self.inactiveAfterDays),
                ("churn_after_days", self.churnAfterDays), ("rfm_window_days", self.rfmWindowDays),
            ]
            for (key, value) in days { if let value { params[key] = .int(Int64(value)) } }
            return params
        }

        var method: String { self.changes.isEmpty ? "value.settings" : "value.configure" }

        func validate() throws {
            if self.clearCurrency, self.currency != nil { throw ValidationError("give --currency or --clear-currency") }
        }

        func params() throws -> JSON? {
            guard !self.changes.isEmpty else { return nil }
            var params = self.changes
            try self.common.apply(to: &params)
            return .object(params)
        }

        /// Changes the settings (when any are given), then shows them.
        mutating func run() throws {
            if !self.changes.isEmpty {
                let result = try self.callOrExit(self.method, try self.params())
                if !self.global.json {
                    print(
                        Output.commandSummary(noun: "settings", verb: "changed", idKey: "settings_id", result: result))
                }
            }
            let settings = try self.callOrExit("value.settings", nil)
            print(self.global.json ? settings.serializedString() : self.render(settings))
        }

        func render(_ result: JSON) -> String {
            let keys = [
                "reporting_timezone", "reporting_currency", "new_customer_days", "inactive_after_days",
                "churn_after_days", "rfm_window_days",
            ]
            return keys.map { key in
                "\(key):".padding(toLength: 21, withPad: " ", startingAt: 0) + (Output.text(result[key]) ?? "-")
            }.joined(separator: "\n")
        }
    }

    /// `crmctl value fit`.
    struct Fit: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fit the BG/NBD and Gamma-Gamma value models to the orders (value.model.fit).",
            discussion: """
                Fits both models by maximum likelihood to every customer's orders in the currency as of \
                the date (same-day orders are one purchase; repeat purchases, the weeks to the last one \
                and to the date, and the mean value of the repeats), off crmd's writer while it keeps \
                serving, then stores the parameters as a model for value predict. While it runs, a \
                progress line on stderr (when a terminal) shows the optimiser's iterations and \
                log-likelihood. It prints the parameters, the log-likelihoods and what went in.
                Example:
                  crmctl value fit --currency USD --as-of-date 1997-09-30
                """
        )

        @Option(help: ArgumentHelp("Currency of the orders to fit, e.g. USD.", valueName: "code"))
        var currency: String

        @Option(help: ArgumentHelp("The business date to fit at, YYYY-MM-DD.", valueName: "date"))
        var asOfDate: String

        @Option(help: ArgumentHelp("Id of the new model (default: generated).", valueName: "id"))
        var model: String?

        @Option(help: ArgumentHelp("Only customers whose first order is on or after this date.", valueName: "date"))
        var firstOrderFrom: String?

        @Option(help: ArgumentHelp("Only customers whose first order is on or before this date.", valueName: "date"))
        var firstOrderTo: String?

        @Option(help: ArgumentHelp("L2 penalty on the parameters (default 0).", valueName: "x"))
        var penalizer: Double?

        @OptionGroup(title: "Command options")
        var common: CommandOptions

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "value.model.fit" }

        func params() throws -> JSON? {
            var params: [String: JSON] = ["currency": .string(self.currency), "as_of_date": .string(self.asOfDate)]
            if let value = self.model { params["model_id"] = .string(value) }
            if let value = self.firstOrderFrom { params["first_order_from"] = .string(value) }
            if let value = self.firstOrderTo { params["first_order_to"] = .string(value) }
            if let value = self.penalizer { params["penalizer"] = .double(value) }
            try self.common.apply(to: &params)
            return .object(params)
        }

        /// Runs the fit on a thread of its own while this one shows its progress from system.stats,
        /// then prints the stored model.
        mutating func run() throws {
            let (method, params, socket, timeout) = (
                self.method, try self.params(), self.global.resolvedSocketPath, self.global.timeoutDuration
            )
            let done = DispatchSemaphore(value: 0)
            let outcome = Mutex<Result<JSON, CtlFailure>?>(nil)
            Thread.detachNewThread {
                let result = Result { () throws(CtlFailure) in
                    try Invocation.call(method: method, params: params, socket: socket, timeout: timeout)
                }
                outcome.withLock { $0 = result }
                done.signal()
            }
            let showProgress = isatty(STDERR_FILENO) != 0
            while done.wait(timeout: .now() + .milliseconds(200)) == .timedOut {
                guard showProgress,
                    let stats = try? Invocation.call(
                        method: "system.stats", params: nil, socket: socket, timeout: timeout),
                    let fit = stats["value_fit"], !fit.isNull
                else { continue }
                FileHandle.standardError.write(Data("\r\u{1B}[K\(Fit.progressLine(fit))".utf8))
            }
            if showProgress { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
            let result: JSON
            switch outcome.withLock({ $0 })! {
            case .success(let reply): result = reply
            case .failure(let failure):
                if case .rejected(let error) = failure {
                    Output.printError(self.errorLines(error))
                } else {
                    Output.printError(failure.lines)
                }
                throw ExitCode(failure.exitCode)
            }
            let model = try self.callOrExit("value.model.get", ["model_id": result["model_id"] ?? .null])
            print(self.global.json ? model.serializedString() : self.render(model))
        }

        /// `fitting USD as of 1997-09-30: bgnbd, 2,357 customers, iteration 150, log-likelihood −9582.43, 0.4 s`.
        static func progressLine(_ fit: JSON) -> String {
            var parts = [
                "fitting \(Output.text(fit["currency"]) ?? "?") as of \(Output.text(fit["as_of_date"]) ?? "?"): "
                    + (Output.text(fit["phase"]) ?? "?")
            ]
            if let customers = fit["customers"]?.intValue { parts.append("\(customers) customers") }
            if let iterations = fit["iterations"]?.intValue, iterations > 0 { parts.append("iteration \(iterations)") }
            if let ll = Output.text(fit["log_likelihood"]) { parts.append("log-likelihood \(ll)") }
            parts.append("\(Output.text(fit["elapsed_seconds"]) ?? "?") s")
            return parts.joined(separator: ", ")
        }

        func render(_ result: JSON) -> String { Output.valueModel(result) }
    }

    /// `crmctl value clv-simple`.
    struct SimpleCLV: RPCCommand {
        static let configuration = CommandConfiguration(
            commandName: "clv-simple",
            abstract: "Lifetime value by the simple formula (value.clv_simple).",
            discussion: """
                CLV = average order value × purchases per month × 12 × lifespan in years (× margin \
                rate). Give the inputs, or --currency to take them from the orders of the window.
                Examples:
                  crmctl value clv-simple --aov 100 --purchases-per-month 2 --lifespan-years 3
                  crmctl value clv-simple --currency EUR --as-of-date 2025-06-30 \\
                    --lifespan-years 3
                """
        )

        @Option(help: ArgumentHelp("Average order value.", valueName: "decimal"))
        var aov: String?

        @Option(help: ArgumentHelp("Purchases per customer and month.", valueName: "decimal"))
        var purchasesPerMonth: String?

        @Option(help: ArgumentHelp("Years a customer stays.", valueName: "decimal"))
        var lifespanYears: String

        @Option(help: ArgumentHelp("Share of revenue that is margin (default 1).", valueName: "decimal"))
        var marginRate: String?

        @Option(help: ArgumentHelp("Derive the inputs from the orders in this currency.", valueName: "code"))
        var currency: String?

        @Option(help: ArgumentHelp("End of the window, YYYY-MM-DD (with --currency).", valueName: "date"))
        var asOfDate: String?

        @Option(help: ArgumentHelp("Days of the window (with --currency, default 365).", valueName: "days"))
        var windowDays: Int?

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "value.clv_simple" }

        func validate() throws {
            if self.currency == nil, self.aov == nil || self.purchasesPerMonth == nil {
                throw ValidationError("give --aov and --purchases-per-month, or --currency to derive them")
            }
        }

        func params() throws -> JSON? {
            guard let currency = self.currency else {
                var params: [String: JSON] = [
                    "aov": .string(self.aov ?? ""), "purchases_per_month": .string(self.purchasesPerMonth ?? ""),
                    "lifespan_years": .string(self.lifespanYears),
                ]
                if let value = self.marginRate { params["margin_rate"] = .string(value) }
                return .object(params)
            }
            var derive: [String: JSON] = ["currency": .string(currency), "lifespan_years": .string(self.lifespanYears)]
            if let value = self.asOfDate { derive["as_of_date"] = .string(value) }
            if let value = self.windowDays { derive["window_days"] = .int(Int64(value)) }
            return ["derive": .object(derive)]
        }

        func render(_ result: JSON) -> String {
            guard result["buyers"] != nil else { return "CLV \(Output.text(result["clv"]) ?? "?")" }
            func value(_ key: String) -> String { Output.text(result[key]) ?? "?" }
            return [
                "CLV \(value("clv")) \(value("currency")) (as of \(value("as_of_date")), \(value("window_days")) days)",
                "  revenue \(value("revenue")) from \(value("orders")) orders of \(value("buyers")) buyers",
                "  aov \(value("aov")), purchases per month \(value("purchases_per_month")), "
                    + "lifespan \(value("lifespan_years")) years",
            ].joined(separator: "\n")
        }
    }

    /// `crmctl value customer`.
    struct Customer: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a customer's value from its orders (value.customer).",
            discussion: """
                Counted orders, gross, refunds, revenue, average order value and margin per currency, \
                and the value status (prospect, new, active, inactive, churned) as of the end of a day.
                Example:
                  crmctl value customer c7 --as-of-date 2025-06-30
                """
        )

        @Argument(help: ArgumentHelp("Id of the customer.", valueName: "customer-id"))
        var customerID: String

        @Option(help: ArgumentHelp("The business date to look at, YYYY-MM-DD (default: today).", valueName: "date"))
        var asOfDate: String?

        @OptionGroup(title: "Point of the log")
        var past: PastOption

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "value.customer" }

        func params() throws -> JSON? {
            var params: [String: JSON] = ["customer_id": .string(self.customerID)]
            if let value = self.asOfDate { params["as_of_date"] = .string(value) }
            if let value = self.past.asOf { params["as_of"] = value }
            return .object(params)
        }

        func render(_ result: JSON) -> String { Output.customerValue(result, customerID: self.customerID) }
    }
}

extension Output {
    /// Two-letter codes of the default segments, for the grid's cells.
    static let segmentCodes: [String: String] = [
        "champions": "CH", "loyal_customers": "LC", "potential_loyalists": "PL", "new_customers": "NC",
        "promising": "PR", "need_attention": "NA", "about_to_sleep": "AS", "at_risk": "AR", "cant_lose": "CL",
        "hibernating": "HI",
    ]

    /// A value model (`value.model.get`): its parameters and, for a fitted one, the log-likelihoods
    /// and what went in.
    static func valueModel(_ model: JSON) -> String {
        func number(_ value: JSON?, _ digits: Int = 4) -> String {
            guard let value = value?.doubleValue ?? value?.intValue.map(Double.init) else { return "-" }
            return String(format: "%.\(digits)f", value)
        }
        let bgnbd = model["bgnbd"] ?? .null
        let spend = model["gamma_gamma"] ?? .null
        var lines = [
            "model \(Output.text(model["model_id"]) ?? "?") (\(Output.text(model["currency"]) ?? "?"), "
                + "\(Output.text(model["source"]) ?? "?"))"
        ]
        if let asOf = Output.text(model["as_of_date"]) {
            lines.append(
                "  fitted as of \(asOf) on \(Output.text(model["n_customers"]) ?? "?") customers, "
                    + "\(Output.text(model["n_repeaters"]) ?? "?") with repeat purchases "
                    + "(Σx \(Output.text(model["sum_x"]) ?? "?")), "
                    + "log position \(Output.text(model["based_on_seq"]) ?? "?")"
            )
        }
        var rows = [
            [
                "BG/NBD", "r \(number(bgnbd["r"]))", "alpha \(number(bgnbd["alpha"]))", "a \(number(bgnbd["a"]))",
                "b \(number(bgnbd["b"]))", bgnbd["ll"].map { "LL \(number($0, 2))" } ?? "",
            ]
        ]
        if !spend.isNull {
            rows.append(
                [
                    "Gamma-Gamma", "p \(number(spend["p"]))", "q \(number(spend["q"]))",
                    "gamma \(number(spend["gamma"]))",
                    "", spend["ll"].map { "LL \(number($0, 2)) (n \(Output.text(spend["n"]) ?? "?"))" } ?? "",
                ]
            )
        }
        lines += Output.table(["model", "", "", "", "", ""], rows).dropFirst().map { "  " + $0 }
        if let iterations = model["optimizer"]?["iterations"] {
            lines.append(
                "  Nelder–Mead: \(Output.text(iterations["bgnbd"]) ?? "?") + "
                    + "\(Output.text(iterations["gamma_gamma"]) ?? "?") iterations; "
                    + "inputs sha256 \(Output.text(model["input_digest"]) ?? "?")"
            )
        }
        return lines.joined(separator: "\n")
    }

    /// The R×F grid of an `rfm.report`: buyers per cell (R 5 at the top) with the cell's segment, then
    /// each segment's count.
    static func rfmGrid(_ report: JSON) -> String {
        var cells: [String: String] = [:]
        for cell in report["grid"]?.arrayValue ?? [] {
            let segment = Output.text(cell["segment"]) ?? "?"
            cells["\(Output.text(cell["r"]) ?? "")\(Output.text(cell["f"]) ?? "")"] =
                "\(Output.text(cell["customers"]) ?? "0") \(Output.segmentCodes[segment] ?? segment)"
        }
        var lines = [
            "RFM as of \(Output.text(report["as_of_date"]) ?? "?") (\(Output.text(report["window_days"]) ?? "?") days, "
                + "\(Output.text(report["currency"]) ?? "?")): \(Output.text(report["population"]) ?? "0") buyers", "",
        ]
        let rows = stride(from: 5, through: 1, by: -1).map { r in ["R\(r)"] + (1...5).map { cells["\(r)\($0)"] ?? "" } }
        lines.append(contentsOf: Output.table(["", "F1", "F2", "F3", "F4", "F5"], rows).map { "  " + $0 })
        lines.append("")
        let counts = report["segments"]?.objectValue ?? [:]
        for name in counts.keys.sorted() {
            lines.append("  \(Output.segmentCodes[name] ?? "  ")  \(name): \(Output.text(counts[name]) ?? "0")")
        }
        return lines.joined(separator: "\n")
    }

    /// The shades of the heat map, from 0 % to 100 % retained.
    static let shades = [" ", "░", "▒", "▓", "█"]

    /// A `cohort.report` as a heat map: one row per cohort (its size, then each month's retention in
    /// percent beside a shade), and a legend.
    static func cohortHeatMap(_ report: JSON) -> String {
        let cohorts = report["cohorts"]?.arrayValue ?? []
        let months = cohorts.map { $0["retention"]?.arrayValue?.count ?? 0 }.max() ?? 0
        var lines = [
            "cohorts as of \(Output.text(report["as_of_date"]) ?? "?")"
                + (report["cumulative"]?.boolValue == true ? ", cumulative" : "")
                + (Output.text(report["partial_month"]).map { " (\($0) is partial)" } ?? ""),
            "",
        ]
        var rows: [[String]] = []
        for cohort in cohorts {
            var row = [Output.text(cohort["cohort"]) ?? "?", Output.text(cohort["size"]) ?? "0"]
            for cell in cohort["retention"]?.arrayValue ?? [] {
                guard let text = Output.text(cell), let percent = Double(text) else {
                    row.append("-")
                    continue
                }
                let shade = Output.shades[min(4, Int((percent / 100 * 4).rounded()))]
                row.append("\(shade)\(shade) \(Int(percent.rounded()))")
            }
            rows.append(row)
        }
        let headers = ["COHORT", "SIZE"] + (0..<months).map { "M\($0)" }
        lines.append(contentsOf: Output.table(headers, rows).map { "  " + $0 })
        lines.append("")
        lines.append("  % of the cohort ordering in month k:  ░ 25  ▒ 50  ▓ 75  █ 100")
        return lines.joined(separator: "\n")
    }

    /// A customer's value block: status and dates, then one line per currency.
    static func customerValue(_ value: JSON, customerID: String) -> String {
        var lines = ["customer \(customerID) as of \(Output.text(value["as_of_date"]) ?? "?")"]
        var status = Output.text(value["status"]) ?? "?"
        if let churned = Output.text(value["churn"]?["churned_on"]) { status += " (since \(churned))" }
        lines.append("  status:      \(status)")
        lines.append("  orders:      \(Output.text(value["orders"]) ?? "0")")
        if let first = Output.text(value["first_order_date"]), let last = Output.text(value["last_order_date"]) {
            lines.append("  first, last: \(first), \(last)")
        }
        let currencies = (value["revenue"]?.objectValue ?? [:]).keys.sorted()
        guard !currencies.isEmpty else { return lines.joined(separator: "\n") }
        let header = ["CURRENCY", "GROSS", "REFUNDS", "REVENUE", "AOV", "MARGIN"]
        var rows: [[String]] = []
        for currency in currencies {
            rows.append(
                [currency]
                    + ["gross", "refunds", "revenue", "aov", "margin"].map { Output.text(value[$0]?[currency]) ?? "-" }
            )
        }
        lines.append("")
        lines.append(contentsOf: Output.table(header, rows).map { "  " + $0 })
        return lines.joined(separator: "\n")
    }
}
