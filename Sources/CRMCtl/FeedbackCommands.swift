import ArgumentParser
import CRMJSON

/// `crmctl survey …`, `crmctl feedback …`, `crmctl complaint …`, and `crmctl ticket assign` and
/// `ticket set-type` (service feedback and complaints).
enum FeedbackSubcommands {
    /// Top-level command groups added to `crmctl`.
    static let groups: [any ParsableCommand.Type] = [SurveyGroup.self, FeedbackGroup.self, ComplaintGroup.self]
}

/// `crmctl survey …`.
struct SurveyGroup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "survey",
        abstract: "Define CSAT, NPS and CES surveys, offer them and record responses.",
        subcommands: [Define.self, Offer.self, Respond.self]
    )
}

/// `crmctl feedback …`.
struct FeedbackGroup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "feedback",
        abstract: "Report survey scores and response rates.",
        subcommands: [Report.self]
    )
}

/// `crmctl complaint …`.
struct ComplaintGroup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "complaint",
        abstract: "Record the outcome of complaints and report on them.",
        subcommands: [Resolve.self, Report.self]
    )
}

// MARK: - Parsing helpers

/// Command-line syntax of the feedback commands.
enum FeedbackParsing {
    /// The `transform` of `--from` and `--to`: `YYYY-MM-DD` is midnight UTC at the start of that day
    /// (`2025-04-01` → `2025-04-01T00:00:00Z`); anything of the form `YYYY-MM-DDT…` is passed on for
    /// crmd to read as an RFC 3339 time.
    static func instant(_ text: String) throws -> String {
        let bytes = Array(text.utf8)
        func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }
        let dateShaped =
            bytes.count >= 10 && bytes[4] == UInt8(ascii: "-") && bytes[7] == UInt8(ascii: "-")
            && [0, 1, 2, 3, 5, 6, 8, 9].allSatisfy { isDigit(bytes[$0]) }
        guard dateShaped else { throw ValidationError("expected a date YYYY-MM-DD or an RFC 3339 time") }
        if bytes.count == 10 { return text + "T00:00:00Z" }
        guard bytes[10] == UInt8(ascii: "T") || bytes[10] == UInt8(ascii: "t") else {
            throw ValidationError("expected a date YYYY-MM-DD or an RFC 3339 time such as 2025-04-01T00:00:00Z")
        }
        return text
    }
}

// MARK: - ticket assign / set-type

/// `crmctl ticket assign`.
struct TicketAssign: RPCCommand {
    static let configuration = CommandConfiguration(
        commandName: "assign",
        abstract: "Assign a ticket to an agent, or unassign it (ticket.assign).",
        discussion: """
            Give the agent's id to assign the ticket to that agent, or --unassign to leave it with \
            nobody; exactly one of the two. Survey responses about the ticket are credited to its \
            assignee. Assigning the current assignee again writes nothing; a closed ticket cannot be \
            assigned.

            Examples:
              crmctl ticket assign T1 agent-7
              crmctl ticket assign T1 --unassign
            """
    )

    @Argument(help: "Id of the ticket.")
    var ticketID: String

    @Argument(help: ArgumentHelp("Id of the agent to assign the ticket to.", valueName: "agent-id"))
    var agentID: String?

    @Flag(help: "Take the ticket away from its assignee.")
    var unassign = false

    @OptionGroup(title: "Command options")
    var common: CommandOptions

    @OptionGroup(title: "Global options")
    var global: GlobalOptions

    var method: String { "ticket.assign" }

    func validate() throws {
        switch (self.agentID, self.unassign) {
        case (nil, false): throw ValidationError("give the agent to assign the ticket to, or --unassign")
        case (_?, true): throw ValidationError("give either an agent or --unassign, not both")
        default: break
        }
    }

    func params() throws -> JSON? {
        var params: [String: JSON] = [
            "ticket_id": .string(self.ticketID), "assignee_id": self.agentID.map(JSON.string) ?? .null,
        ]
        try self.common.apply(to: &params)
        return .object(params)
    }

    func render(_ result: JSON) -> String {
        let verb = self.agentID.map { "assigned to \($0)" } ?? "unassigned"
        return Output.commandSummary(noun: "ticket", verb: verb, idKey: "ticket_id", result: result)
    }
}

/// `crmctl ticket set-type`.
struct TicketSetType: RPCCommand {
    static let configuration = CommandConfiguration(
        commandName: "set-type",
        abstract: "Change a ticket's type and category (ticket.set_type).",
        discussion: """
            A ticket given the type complaint becomes a complaint from then on: complaint report \
            counts it as opened at that time. Without --category the ticket keeps its category. A \
            closed ticket cannot change.

            Example:
              crmctl ticket set-type T1 complaint --category delivery
            """
    )

    @Argument(help: "Id of the ticket.")
    var ticketID: String

    @Argument(help: ArgumentHelp("question, incident, problem, task or complaint.", valueName: "type"))
    var ticketType: String

    @Option(
        help: ArgumentHelp(
            "Category, e.g. delivery: a lower-case letter, then up to 39 of a-z, 0-9 and _.",
            valueName: "category"
        )
    )
    var category: String?

    @OptionGroup(title: "Command options")
    var common: CommandOptions

    @OptionGroup(title: "Global options")
    var global: GlobalOptions

    var method: String { "ticket.set_type" }

    func params() throws -> JSON? {
        var params: [String: JSON] = ["ticket_id": .string(self.ticketID), "type": .string(self.ticketType)]
        if let category = self.category { params["category"] = .string(category) }
        try self.common.apply(to: &params)
        return .object(params)
    }

    func render(_ result: JSON) -> String {
        let verb = "set to type \(self.ticketType)" + (self.category.map { ", category \($0)" } ?? "")
        return Output.commandSummary(noun: "ticket", verb: verb, idKey: "ticket_id", result: result)
    }
}

// MARK: - survey

extension SurveyGroup {
    /// `crmctl survey define`.
    struct Define: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "Define or redefine a survey (survey.define).",
            discussion: """
                A survey asks for one score: csat 1–5 (4–5 satisfied), nps 0–10 (9–10 promoters, \
                0–6 detractors) or ces 1–7 (5–7 easy). Defining it again with other settings makes \
                a new version; its kind cannot change. With --offer-on-solve, solving a ticket \
                offers the survey (only on the --channel channels, if any are given). A request \
                can be answered for --window-days days after it is offered.

                Example:
                  crmctl survey define post --kind csat --name "After a ticket" \\
                    --offer-on-solve --channel email --channel chat
                """
        )

        @Argument(help: ArgumentHelp("Id of the survey.", valueName: "survey-id"))
        var surveyID: String

        @Option(help: ArgumentHelp("csat, nps or ces.", valueName: "kind"))
        var kind: String

        @Option(help: ArgumentHelp("Name of the survey.", valueName: "name"))
        var name: String?

        @Option(help: ArgumentHelp("The question put to customers.", valueName: "text"))
        var question: String?

        @Flag(help: "Offer the survey whenever a ticket is solved.")
        var offerOnSolve = false

        @Option(
            help: ArgumentHelp("Days a request can be answered, 1 to 365 (default 28).", valueName: "days"),
            transform: ParamParsing.limit(365)
        )
        var windowDays: Int?

        @Option(
            name: .customLong("channel"),
            help: ArgumentHelp(
                "Offer on solve only for tickets on this channel (email, chat, phone, web, api); repeatable.",
                valueName: "channel"
            )
        )
        var channels: [String] = []

        @OptionGroup(title: "Command options")
        var common: CommandOptions

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "survey.define" }

        func params() throws -> JSON? {
            var params: [String: JSON] = ["survey_id": .string(self.surveyID), "kind": .string(self.kind)]
            if let name = self.name { params["name"] = .string(name) }
            if let question = self.question { params["question"] = .string(question) }
            if self.offerOnSolve { params["auto_offer_on"] = ["ticket_solved"] }
            if let days = self.windowDays { params["response_window_days"] = .int(Int64(days)) }
            if !self.channels.isEmpty { params["channels"] = .strings(self.channels) }
            try self.common.apply(to: &params)
            return .object(params)
        }

        func render(_ result: JSON) -> String {
            Output.commandSummary(noun: "survey", verb: "defined", idKey: "survey_id", result: result)
                + " version \(Output.plain(result["version"]))"
        }
    }

    /// `crmctl survey offer`.
    struct Offer: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "Ask a customer to answer a survey (survey.offer).",
            discussion: """
                Opens a survey request about a ticket (--ticket; the ticket's customer is asked) or \
                about the relationship (--customer). While a request of the survey about the ticket \
                is open, offering again writes nothing and names that request.

                Examples:
                  crmctl survey offer post --ticket T1 --request-id R1
                  crmctl survey offer rel --customer c7 --channel email
                """
        )

        @Argument(help: ArgumentHelp("Id of the survey.", valueName: "survey-id"))
        var surveyID: String

        @Option(name: .customLong("ticket"), help: ArgumentHelp("Ask about this ticket.", valueName: "id"))
        var ticketID: String?

        @Option(
            name: .customLong("customer"),
            help: ArgumentHelp("Ask this customer about the relationship.", valueName: "id")
        )
        var customerID: String?

        @Option(help: ArgumentHelp("Id of the request (default: generated).", valueName: "id"))
        var requestID: String?

        @Option(
            help: ArgumentHelp("email, chat, phone, web or api (default: the ticket's).", valueName: "channel")
        )
        var channel: String?

        @OptionGroup(title: "Command options")
        var common: CommandOptions

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "survey.offer" }

        func validate() throws {
            switch (self.ticketID, self.customerID) {
            case (nil, nil): throw ValidationError("give --ticket or --customer")
            case (_?, _?): throw ValidationError("give either --ticket or --customer, not both")
            default: break
            }
        }

        func params() throws -> JSON? {
            var params: [String: JSON] = ["survey_id": .string(self.surveyID)]
            if let id = self.ticketID { params["ticket_id"] = .string(id) }
            if let id = self.customerID { params["customer_id"] = .string(id) }
            if let id = self.requestID { params["request_id"] = .string(id) }
            if let channel = self.channel { params["channel"] = .string(channel) }
            try self.common.apply(to: &params)
            return .object(params)
        }

        func render(_ result: JSON) -> String {
            Output.commandSummary(noun: "survey request", verb: "offered", idKey: "request_id", result: result)
        }
    }

    /// `crmctl survey respond`.
    struct Respond: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "Record a customer's score for a survey (survey.respond).",
            discussion: """
                Answers a request (--request), or the survey directly (--survey with --customer, and \
                --ticket when it is about a ticket): an open request of the survey about that ticket \
                is answered, else a request is made on the spot. A new score replaces the request's \
                earlier one. The score must lie on the survey's scale; a request expires after the \
                survey's window, and a closed ticket takes no more responses.

                Examples:
                  crmctl survey respond --request R1 5 --comment "Quick and kind"
                  crmctl survey respond --survey rel --customer c7 9
                """
        )

        @Option(name: .customLong("request"), help: ArgumentHelp("Id of the request answered.", valueName: "id"))
        var requestID: String?

        @Option(name: .customLong("survey"), help: ArgumentHelp("Id of the survey answered.", valueName: "id"))
        var surveyID: String?

        @Option(name: .customLong("customer"), help: ArgumentHelp("Id of the customer answering.", valueName: "id"))
        var customerID: String?

        @Option(name: .customLong("ticket"), help: ArgumentHelp("The ticket the response is about.", valueName: "id"))
        var ticketID: String?

        @Argument(help: "The score: csat 1–5, nps 0–10, ces 1–7.")
        var score: Int

        @Option(help: ArgumentHelp("The customer's comment.", valueName: "text"))
        var comment: String?

        @Option(
            help: ArgumentHelp("Why, as a code such as slow_reply (lower-case, a-z 0-9 _).", valueName: "code")
        )
        var reasonCode: String?

        @OptionGroup(title: "Command options")
        var common: CommandOptions

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "survey.respond" }

        func validate() throws {
            if self.requestID == nil, self.surveyID == nil || self.customerID == nil {
                throw ValidationError("give --request, or --survey and --customer")
            }
        }

        func params() throws -> JSON? {
            var params: [String: JSON] = ["score": .int(Int64(self.score))]
            if let id = self.requestID { params["request_id"] = .string(id) }
            if let id = self.surveyID { params["survey_id"] = .string(id) }
            if let id = self.customerID { params["customer_id"] = .string(id) }
            if let id = self.ticketID { params["ticket_id"] = .string(id) }
            if let comment = self.comment { params["comment"] = .string(comment) }
            if let code = self.reasonCode { params["reason_code"] = .string(code) }
            try self.common.apply(to: &params)
            return .object(params)
        }

        func render(_ result: JSON) -> String {
            Output.commandSummary(noun: "survey request", verb: "answered", idKey: "request_id", result: result)
        }
    }
}

// MARK: - feedback / complaint reports

/// `--from`, `--to` and `--group-by` of the feedback and complaint reports.
struct FeedbackPeriodOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Start of the period: YYYY-MM-DD (midnight UTC) or an RFC 3339 time.",
            valueName: "date|time"
        ),
        transform: FeedbackParsing.instant
    )
    var from: String

    @Option(
        help: ArgumentHelp(
            "End of the period, exclusive: YYYY-MM-DD is midnight UTC starting that day (2025-04-01 ends "
                + "the period with March 31), or an RFC 3339 time.",
            valueName: "date|time"
        ),
        transform: FeedbackParsing.instant
    )
    var to: String
}

extension FeedbackGroup {
    /// `crmctl feedback report`.
    struct Report: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "Survey scores and response rate over a period (feedback.report).",
            discussion: """
                Counts the current responses of one kind of survey given in [--from, --to): their \
                score distribution, drawn as bars, and the headline score: CSAT (the share of 4 and \
                5), NPS (promoters minus detractors, in percent) or the average CES. The response \
                rate is over the requests offered in the period. --group-by splits the figures by \
                agent, channel, survey, ticket_type, tier or month (months in the reporting time \
                zone). A date alone means midnight UTC, and --to is not included.

                Examples:
                  crmctl feedback report --kind csat --from 2025-03-01 --to 2025-04-01
                  crmctl feedback report --kind nps --from 2025-01-01 --to 2025-07-01 \\
                    --group-by month
                """
        )

        @Option(help: ArgumentHelp("csat, nps or ces.", valueName: "kind"))
        var kind: String

        @OptionGroup(title: "Period")
        var period: FeedbackPeriodOptions

        @Option(
            name: .customLong("group-by"),
            help: ArgumentHelp(
                "agent, channel, survey, ticket_type, tier or month; repeatable.",
                valueName: "dimension"
            )
        )
        var groupBy: [String] = []

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "feedback.report" }

        func params() throws -> JSON? {
            var params: [String: JSON] = [
                "kind": .string(self.kind), "from": .string(self.period.from), "to": .string(self.period.to),
            ]
            if !self.groupBy.isEmpty { params["group_by"] = .strings(self.groupBy) }
            return .object(params)
        }

        func render(_ result: JSON) -> String { FeedbackOutput.feedbackReport(result) }
    }
}

extension ComplaintGroup {
    /// `crmctl complaint resolve`.
    struct Resolve: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "Record the outcome of a complaint and its remedy (complaint.resolve).",
            discussion: """
                The ticket must be of type complaint; closed tickets may be resolved too. A later \
                resolution replaces the earlier one. The remedy is recorded as information: a refund \
                still needs order refund. --amount (with --currency) and --order-id describe the \
                remedy, so they need --remedy.

                Examples:
                  crmctl complaint resolve T1 upheld --remedy refund --amount 10.00 \\
                    --currency EUR --order-id o-1001
                  crmctl complaint resolve T2 rejected
                """
        )

        @Argument(help: "Id of the ticket.")
        var ticketID: String

        @Argument(help: ArgumentHelp("upheld, partially_upheld or rejected.", valueName: "outcome"))
        var outcome: String

        @Option(help: ArgumentHelp("refund, replacement, credit, apology or none.", valueName: "kind"))
        var remedy: String?

        @Option(help: ArgumentHelp("The remedy's amount, e.g. 10.00 (needs --currency).", valueName: "decimal"))
        var amount: String?

        @Option(help: ArgumentHelp("ISO-4217 currency of the amount, e.g. EUR.", valueName: "code"))
        var currency: String?

        @Option(help: ArgumentHelp("The order the remedy concerns.", valueName: "id"))
        var orderID: String?

        @OptionGroup(title: "Command options")
        var common: CommandOptions

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "complaint.resolve" }

        func validate() throws {
            if self.remedy == nil {
                let given = [
                    self.amount.map { _ in "--amount" }, self.currency.map { _ in "--currency" },
                    self.orderID.map { _ in "--order-id" },
                ].compactMap { $0 }
                if !given.isEmpty {
                    throw ValidationError(
                        "\(given.joined(separator: ", ")) describe\(given.count == 1 ? "s" : "") a remedy: "
                            + "give --remedy too (refund, replacement, credit, apology or none)"
                    )
                }
            }
            if self.amount != nil, self.currency == nil { throw ValidationError("--amount needs --currency") }
        }

        func params() throws -> JSON? {
            var params: [String: JSON] = ["ticket_id": .string(self.ticketID), "outcome": .string(self.outcome)]
            if let kind = self.remedy {
                var remedy: [String: JSON] = ["kind": .string(kind)]
                if let amount = self.amount { remedy["amount"] = .string(amount) }
                if let currency = self.currency { remedy["currency"] = .string(currency) }
                if let id = self.orderID { remedy["order_id"] = .string(id) }
                params["remedy"] = .object(remedy)
            }
            try self.common.apply(to: &params)
            return .object(params)
        }

        func render(_ result: JSON) -> String {
            Output.commandSummary(
                noun: "complaint", verb: "resolved as \(self.outcome)", idKey: "ticket_id", result: result
            )
        }
    }

    /// `crmctl complaint report`.
    struct Report: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "Complaints opened over a period and how they were handled (complaint.report).",
            discussion: """
                Counts the complaints (tickets of type complaint; a retyped ticket from the time it \
                became one) opened in [--from, --to): per category, drawn as bars; how many were \
                solved and the hours that took; outcomes and the share upheld (fully or partly); \
                reopened ones; first replies within their SLA; the CSAT of their survey responses; \
                complaints per 1000 orders of the period; and the value status of the complainants \
                at --to. --group-by splits the figures by category, channel, agent or tier. A date \
                alone means midnight UTC, and --to is not included.

                Example:
                  crmctl complaint report --from 2025-03-01 --to 2025-04-01 \\
                    --group-by category
                """
        )

        @OptionGroup(title: "Period")
        var period: FeedbackPeriodOptions

        @Option(
            name: .customLong("group-by"),
            help: ArgumentHelp("category, channel, agent or tier; repeatable.", valueName: "dimension")
        )
        var groupBy: [String] = []

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "complaint.report" }

        func params() throws -> JSON? {
            var params: [String: JSON] = ["from": .string(self.period.from), "to": .string(self.period.to)]
            if !self.groupBy.isEmpty { params["group_by"] = .strings(self.groupBy) }
            return .object(params)
        }

        func render(_ result: JSON) -> String { FeedbackOutput.complaintReport(result) }
    }
}

// MARK: - Rendering

/// Readable output of the feedback and complaint reports.
enum FeedbackOutput {
    /// Cells of the longest bar.
    static let barWidth = 30

    /// `1 response`, `3 responses`: a count from crmd with its noun (`-` for a missing count).
    static func counted(_ value: JSON?, _ noun: String) -> String {
        let count = Output.text(value) ?? "-"
        return "\(count) \(noun)\(count == "1" ? "" : "s")"
    }

    /// A percentage from crmd (`"66.67"`) as `66.67%`; `null` as `-`.
    static func percent(_ value: JSON?) -> String { Output.text(value).map { $0 + "%" } ?? "-" }

    /// `part` of `whole` in percent with one decimal, rounded half up (`1` of `3` → `33.3%`).
    static func share(_ part: Int64, of whole: Int64) -> String {
        guard whole > 0 else { return "-" }
        let tenths = (part * 2000 + whole) / (2 * whole)
        return "\(tenths / 10).\(tenths % 10)%"
    }

    /// One line per `(label, count)`: the label (right-aligned with `numericLabels`, as scores are),
    /// a bar scaled so that the largest count fills ``barWidth`` cells (a count above 0 gets at least
    /// one), the count and its share of `total`.
    static func bars(_ rows: [(label: String, count: Int64)], total: Int64, numericLabels: Bool = false) -> [String] {
        let largest = rows.map(\.count).max() ?? 0
        let labelWidth = rows.map(\.label.count).max() ?? 0
        let countWidth = rows.map { String($0.count).count }.max() ?? 0
        return rows.map { row in
            var cells = 0
            if largest > 0, row.count > 0 {
                cells = max(1, Int((row.count * Int64(FeedbackOutput.barWidth) * 2 + largest) / (2 * largest)))
            }
            let count = String(row.count)
            let share = FeedbackOutput.share(row.count, of: total)
            let padding = String(repeating: " ", count: labelWidth - row.label.count)
            return "  " + (numericLabels ? padding + row.label : row.label + padding) + "  "
                + String(repeating: "█", count: cells)
                + String(repeating: " ", count: FeedbackOutput.barWidth - cells) + "  "
                + String(repeating: " ", count: countWidth - count.count) + count + "  "
                + String(repeating: " ", count: max(0, 6 - share.count)) + share
        }
    }

    /// The period of a report: `2025-03-01 00:00Z – 2025-04-01 00:00Z`.
    static func period(_ result: JSON) -> String {
        "\(ServiceOutput.time(result["from"])) – \(ServiceOutput.time(result["to"]))"
    }

    /// The headline score of a kind's metrics (a report or one group): its name, value and detail.
    static func headline(_ kind: String, _ metrics: JSON) -> (name: String, value: String, detail: String) {
        func count(_ value: JSON?) -> String { Output.text(value) ?? "0" }
        switch kind {
        case "nps":
            let nps = metrics["nps"]
            return (
                "NPS", Output.text(nps?["score"]) ?? "-",
                "\(FeedbackOutput.counted(nps?["promoters"], "promoter")), "
                    + "\(FeedbackOutput.counted(nps?["passives"], "passive")), "
                    + "\(FeedbackOutput.counted(nps?["detractors"], "detractor"))"
            )
        case "ces":
            let ces = metrics["ces"]
            return ("CES", Output.text(ces?["avg"]) ?? "-", "\(FeedbackOutput.percent(ces?["easy_pct"])) easy, 5–7")
        default:
            return (
                "CSAT", FeedbackOutput.percent(metrics["csat_pct"]),
                "\(count(metrics["satisfied"])) satisfied, \(count(metrics["neutral"])) neutral, "
                    + "\(count(metrics["dissatisfied"])) dissatisfied"
            )
        }
    }

    /// `feedback.report`: the headline, the score distribution as bars (top of the scale first),
    /// then one row per group.
    static func feedbackReport(_ result: JSON) -> String {
        let kind = Output.text(result["kind"]) ?? "csat"
        let headline = FeedbackOutput.headline(kind, result)
        let responses = result["responses"]?.intValue ?? 0
        var lines = ["\(kind.uppercased()) report \(FeedbackOutput.period(result))"]
        lines += Output.labelled(
            [
                ("responses", ["\(responses) (average score \(Output.plain(result["avg_score"])))"]),
                (headline.name, ["\(headline.value) (\(headline.detail))"]),
                (
                    "response rate",
                    [
                        "\(FeedbackOutput.percent(result["response_rate"])) "
                            + "(\(Output.plain(result["requests_answered"])) answered of "
                            + "\(Output.plain(result["requests_offered"])) offered)"
                    ]
                ),
            ],
            indent: "  "
        )
        lines.append("")
        if responses == 0 {
            lines.append("  no responses in the period")
        } else {
            let distribution = result["distribution"]?.objectValue ?? [:]
            let scores = distribution.keys.sorted { (Int($0) ?? 0) > (Int($1) ?? 0) }
            lines += FeedbackOutput.bars(
                scores.map { (label: $0, count: distribution[$0]?.intValue ?? 0) },
                total: responses,
                numericLabels: true
            )
        }
        let groupBy = result["group_by"]?.arrayValue?.compactMap(\.stringValue) ?? []
        if !groupBy.isEmpty {
            let rows = (result["groups"]?.arrayValue ?? []).map { group -> [String] in
                groupBy.map { Output.plain(group["group"]?[$0]) } + [
                    Output.plain(group["responses"]), FeedbackOutput.headline(kind, group).value,
                    FeedbackOutput.percent(group["response_rate"]),
                ]
            }
            let score = ["csat": "CSAT", "nps": "NPS", "ces": "CES AVG"][kind] ?? "SCORE"
            lines.append("")
            lines += Output.table(groupBy.map { $0.uppercased() } + ["RESPONSES", score, "RESPONSE RATE"], rows)
                .map { "  " + $0 }
            if groupBy.contains("month") {
                lines.append("  (months in the reporting time zone, \(Output.plain(result["reporting_timezone"])))")
            }
        }
        return lines.joined(separator: "\n")
    }

    /// `complaint.report`: labelled figures, the categories as bars, then one row per group.
    static func complaintReport(_ result: JSON) -> String {
        let complaints = result["complaints"]?.intValue ?? 0
        let outcomes = result["outcomes"]
        let firstReply = result["first_reply_achievement"]
        let statuses = result["complainants_by_status"]?.objectValue
        let perThousand =
            Output.nonNull(result["counted_orders"]).map { orders in
                "\(Output.plain(result["per_1000_orders"])) (\(FeedbackOutput.counted(orders, "counted order")))"
            } ?? "-"
        var lines = ["complaint report \(FeedbackOutput.period(result))"]
        lines += Output.labelled(
            [
                ("complaints", [String(complaints)]),
                ("per 1000 orders", [perThousand]),
                (
                    "resolved",
                    [
                        "\(Output.plain(result["resolved"])) (hours to resolution: median "
                            + "\(Output.plain(result["median_hours_to_resolution"])), mean "
                            + "\(Output.plain(result["mean_hours_to_resolution"])))"
                    ]
                ),
                (
                    "outcomes",
                    [
                        "\(Output.plain(outcomes?["upheld"])) upheld, "
                            + "\(Output.plain(outcomes?["partially_upheld"])) partially upheld, "
                            + "\(Output.plain(outcomes?["rejected"])) rejected"
                    ]
                ),
                ("upheld rate", [FeedbackOutput.percent(result["upheld_rate"])]),
                ("reopened", [Output.plain(result["reopened"])]),
                (
                    "first reply in SLA",
                    [
                        "\(FeedbackOutput.percent(firstReply?["pct"])) (\(Output.plain(firstReply?["met"])) met, "
                            + "\(Output.plain(firstReply?["missed"])) missed)"
                    ]
                ),
                (
                    "CSAT",
                    [
                        "\(FeedbackOutput.percent(result["csat"]?["csat_pct"])) "
                            + "(\(FeedbackOutput.counted(result["csat"]?["responses"], "response")))"
                    ]
                ),
                (
                    "complainants",
                    [
                        statuses.map { counts in
                            counts.isEmpty
                                ? "none"
                                : counts.keys.sorted().map { "\($0) \(Output.plain(counts[$0]))" }
                                    .joined(separator: ", ")
                        } ?? "-"
                    ]
                ),
            ],
            indent: "  "
        )
        let categories = result["by_category"]?.objectValue ?? [:]
        if !categories.isEmpty {
            let rows = categories.map { (label: $0.key, count: $0.value.intValue ?? 0) }
                .sorted { $0.count != $1.count ? $0.count > $1.count : $0.label < $1.label }
            lines.append("")
            lines += FeedbackOutput.bars(rows, total: complaints)
        }
        let groupBy = result["group_by"]?.arrayValue?.compactMap(\.stringValue) ?? []
        if !groupBy.isEmpty {
            let rows = (result["groups"]?.arrayValue ?? []).map { group -> [String] in
                groupBy.map { Output.plain(group["group"]?[$0]) } + [
                    Output.plain(group["complaints"]), Output.plain(group["resolved"]),
                    Output.plain(group["median_hours_to_resolution"]), FeedbackOutput.percent(group["upheld_rate"]),
                    Output.plain(group["reopened"]), FeedbackOutput.percent(group["csat"]?["csat_pct"]),
                ]
            }
            lines.append("")
            lines += Output.table(
                groupBy.map { $0.uppercased() } + [
                    "COMPLAINTS", "RESOLVED", "MEDIAN HOURS", "UPHELD RATE", "REOPENED", "CSAT",
                ],
                rows
            ).map { "  " + $0 }
        }
        return lines.joined(separator: "\n")
    }
}
