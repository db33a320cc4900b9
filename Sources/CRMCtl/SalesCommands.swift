import ArgumentParser
import CRMJSON

/// `crmctl pipeline …`, `crmctl deal …` and `crmctl funnel …` subcommands (sales funnel).
enum SalesSubcommands {
    /// Top-level command groups added to `crmctl`.
    static let groups: [any ParsableCommand.Type] = [PipelineGroup.self, DealGroup.self, FunnelGroup.self]
}

// MARK: - Groups

/// `crmctl pipeline …`.
struct PipelineGroup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pipeline",
        abstract: "Define and show sales pipelines.",
        subcommands: [Define.self, Get.self, List.self]
    )
}

/// `crmctl deal …`.
struct DealGroup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deal",
        abstract: "Create, move, change and look up deals.",
        subcommands: [Create.self, Move.self, Update.self, Get.self, List.self, History.self]
    )

    /// `crmctl deal history`.
    struct History: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show every change to a deal with its actor and time (deal.history, audit role).",
            discussion: """
                Example:
                  crmctl deal history ID
                """
        )

        @Argument(help: "Id of the deal.")
        var dealID: String

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "deal.history" }

        func params() throws -> JSON? { ["deal_id": .string(self.dealID)] }

        func render(_ result: JSON) -> String { Output.history(result) }
    }
}

/// `crmctl funnel …`.
struct FunnelGroup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "funnel",
        abstract: "Funnel snapshot and conversion report of a pipeline or the customer lifecycle.",
        subcommands: [Snapshot.self, Report.self]
    )
}

/// The one-line summary of a deal or pipeline command.
private func salesSummary(_ noun: String, _ idKey: String, _ verb: String, _ result: JSON) -> String {
    Output.commandSummary(noun: noun, verb: verb, idKey: idKey, result: result)
}

// MARK: - pipeline

extension PipelineGroup {
    /// `crmctl pipeline define`.
    struct Define: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a pipeline or replace its stages (pipeline.define).",
            discussion: """
                Stages are given in funnel order as id:probability[:kind[:name]]; kind is open (default), \
                won or lost. A pipeline needs at least one open, one won and one lost stage; won stages \
                have probability 100 and lost stages 0. Removing a stage that still holds open deals fails \
                with stage_in_use.
                Example:
                  crmctl pipeline define --pipeline-id sales --name Sales \\
                    --stage prospecting:10 --stage proposal:50 \\
                    --stage won:100:won:"Closed Won" --stage lost:0:lost:"Closed Lost" \\
                    --require-lost-reason
                """
        )

        @Option(help: ArgumentHelp("Pipeline id, ^[A-Za-z0-9_-]{1,64}$.", valueName: "id"))
        var pipelineID: String

        @Option(help: ArgumentHelp("Display name.", valueName: "name"))
        var name: String

        @Option(
            name: .customLong("stage"),
            help: ArgumentHelp("Stage as id:probability[:kind[:name]]; repeatable, in order.", valueName: "stage")
        )
        var stages: [String] = []

        @Flag(help: "Require a lost_reason when a deal is moved into a lost stage.")
        var requireLostReason = false

        @OptionGroup(title: "Command options")
        var common: CommandOptions

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "pipeline.define" }

        func validate() throws {
            if self.stages.isEmpty { throw ValidationError("give the stages with --stage") }
        }

        /// Parses `id:probability[:kind[:name]]`.
        static func stage(_ text: String) throws -> JSON {
            let parts = text.split(separator: ":", maxSplits: 3, omittingEmptySubsequences: false).map(String.init)
            guard parts.count >= 2, !parts[0].isEmpty, let probability = Int(parts[1]) else {
                throw ValidationError("--stage expects id:probability[:kind[:name]], got \"\(text)\"")
            }
            var stage: [String: JSON] = ["id": .string(parts[0]), "probability": .int(probability)]
            if parts.count >= 3, !parts[2].isEmpty { stage["kind"] = .string(parts[2]) }
            if parts.count == 4, !parts[3].isEmpty { stage["name"] = .string(parts[3]) }
            return .object(stage)
        }

        func params() throws -> JSON? {
            var params: [String: JSON] = [
                "pipeline_id": .string(self.pipelineID), "name": .string(self.name),
                "stages": .array(try self.stages.map(Define.stage)),
            ]
            if self.requireLostReason { params["require_lost_reason"] = true }
            try self.common.apply(to: &params)
            return .object(params)
        }

        func render(_ result: JSON) -> String {
            let summary = salesSummary("pipeline", "pipeline_id", "defined", result)
            return summary + (Output.text(result["version"]).map { " as version \($0)" } ?? "")
        }
    }

    /// `crmctl pipeline get`.
    struct Get: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a pipeline's stages (pipeline.get); \"lifecycle\" shows the lifecycle stages."
        )

        @Argument(help: "Id of the pipeline.")
        var pipelineID: String

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "pipeline.get" }

        func params() throws -> JSON? { ["pipeline_id": .string(self.pipelineID)] }

        func render(_ result: JSON) -> String { SalesOutput.pipeline(result) }
    }

    /// `crmctl pipeline list`.
    struct List: RPCCommand {
        static let configuration = CommandConfiguration(abstract: "List pipelines (pipeline.list).")

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "pipeline.list" }

        func params() throws -> JSON? { nil }

        func render(_ result: JSON) -> String {
            let pipelines = result["pipelines"]?.arrayValue ?? []
            guard !pipelines.isEmpty else { return "no pipelines" }
            return pipelines.map(SalesOutput.pipeline).joined(separator: "\n\n")
        }
    }
}

// MARK: - deal

/// Deal fields shared by `deal create` and `deal update`.
struct DealFields: ParsableArguments {
    @Option(help: ArgumentHelp("Deal name (at most 255 characters).", valueName: "name"))
    var name: String?

    @Option(help: ArgumentHelp("Amount, a decimal ≥ 0 (needs a currency).", valueName: "decimal"))
    var amount: String?

    @Option(help: ArgumentHelp("ISO-4217 currency code, e.g. EUR.", valueName: "code"))
    var currency: String?

    @Option(help: ArgumentHelp("Expected close date, YYYY-MM-DD.", valueName: "date"))
    var closeDate: String?

    @Option(
        name: [.customLong("owner-id"), .customLong("owner")],
        help: ArgumentHelp("Owner (user) id.", valueName: "id")
    )
    var ownerID: String?

    @Option(
        name: [.customLong("customer"), .customLong("customer-id")],
        help: ArgumentHelp("Customer of the deal; repeatable, the first is the primary contact.", valueName: "id")
    )
    var customerIDs: [String] = []

    /// The given fields as param members.
    func members() -> [String: JSON] {
        var members: [String: JSON] = [:]
        if let value = self.name { members["name"] = .string(value) }
        if let value = self.amount { members["amount"] = .string(value) }
        if let value = self.currency { members["currency"] = .string(value) }
        if let value = self.closeDate { members["close_date"] = .string(value) }
        if let value = self.ownerID { members["owner_id"] = .string(value) }
        if !self.customerIDs.isEmpty { members["customer_ids"] = .strings(self.customerIDs) }
        return members
    }
}

extension DealGroup {
    /// `crmctl deal create`.
    struct Create: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a deal (deal.create).",
            discussion: """
                The deal starts in the pipeline's first open stage unless --stage is given. Customers \
                before "opportunity" in the lifecycle are moved there (to "customer" for a won deal).
                Example:
                  crmctl deal create --pipeline sales --name "Acme renewal" --customer ID \\
                    --amount 12000 --currency EUR --close-date 2025-06-30 --owner u42
                """
        )

        @Option(
            name: [.customLong("pipeline"), .customLong("pipeline-id")],
            help: ArgumentHelp("Pipeline id (the daemon seeds \"sales\").", valueName: "id")
        )
        var pipelineID: String = "sales"

        @Option(help: ArgumentHelp("Id of the new deal (default: generated).", valueName: "id"))
        var dealID: String?

        @Option(
            name: [.customLong("stage"), .customLong("stage-id")],
            help: ArgumentHelp("Stage id (default: the first open stage).", valueName: "id")
        )
        var stageID: String?

        @Option(help: ArgumentHelp("Probability override, 0–100.", valueName: "percent"))
        var probability: Int?

        @Option(help: ArgumentHelp("Lost reason, for a deal created in a lost stage.", valueName: "text"))
        var lostReason: String?

        @OptionGroup(title: "Deal fields")
        var fields: DealFields

        @OptionGroup(title: "Command options")
        var common: CommandOptions

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "deal.create" }

        func validate() throws {
            if self.fields.name == nil { throw ValidationError("give the deal's --name") }
            if self.fields.customerIDs.isEmpty { throw ValidationError("give at least one --customer") }
        }

        func params() throws -> JSON? {
            var params = self.fields.members()
            params["pipeline_id"] = .string(self.pipelineID)
            if let id = self.dealID { params["deal_id"] = .string(id) }
            if let id = self.stageID { params["stage_id"] = .string(id) }
            if let value = self.probability { params["probability"] = .int(value) }
            if let value = self.lostReason { params["lost_reason"] = .string(value) }
            try self.common.apply(to: &params)
            return .object(params)
        }

        func render(_ result: JSON) -> String { salesSummary("deal", "deal_id", "created", result) }
    }

    /// `crmctl deal move`.
    struct Move: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move a deal to another stage (deal.move).",
            discussion: """
                Any stage may follow any other: skipping, moving back and reopening a closed deal are \
                allowed and flagged. Pipelines with require_lost_reason need --lost-reason for lost stages.
                Example:
                  crmctl deal move ID proposal
                  crmctl deal move ID lost --lost-reason "went with a competitor"
                """
        )

        @Argument(help: "Id of the deal.")
        var dealID: String

        @Argument(help: "Id of the target stage.")
        var stageID: String

        @Option(help: ArgumentHelp("Why the deal was lost (lost stages only).", valueName: "text"))
        var lostReason: String?

        @Option(help: ArgumentHelp("Probability override until the next move, 0–100.", valueName: "percent"))
        var probability: Int?

        @OptionGroup(title: "Command options")
        var common: CommandOptions

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "deal.move" }

        func params() throws -> JSON? {
            var params: [String: JSON] = ["deal_id": .string(self.dealID), "stage_id": .string(self.stageID)]
            if let value = self.lostReason { params["lost_reason"] = .string(value) }
            if let value = self.probability { params["probability"] = .int(value) }
            try self.common.apply(to: &params)
            return .object(params)
        }

        func render(_ result: JSON) -> String { salesSummary("deal", "deal_id", "moved", result) }
    }

    /// `crmctl deal update`.
    struct Update: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change a deal's name, amount, currency, close date, owner or customers (deal.update).",
            discussion: """
                --customer replaces the whole customer list. --clear amount|close_date|owner_id clears a field.
                Example:
                  crmctl deal update ID --amount 15000 --close-date 2025-07-15
                """
        )

        @Argument(help: "Id of the deal.")
        var dealID: String

        @OptionGroup(title: "Deal fields")
        var fields: DealFields

        @Option(
            name: .customLong("clear"),
            help: ArgumentHelp("Clear amount, close_date or owner_id; repeatable.", valueName: "field")
        )
        var clear: [String] = []

        @OptionGroup(title: "Command options")
        var common: CommandOptions

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "deal.update" }

        func validate() throws {
            if self.fields.members().isEmpty, self.clear.isEmpty {
                throw ValidationError("nothing to change: give a field flag or --clear")
            }
            for field in self.clear where !["amount", "close_date", "owner_id"].contains(field) {
                throw ValidationError("--clear takes amount, close_date or owner_id, not \(field)")
            }
        }

        func params() throws -> JSON? {
            var params = self.fields.members()
            for field in self.clear {
                guard params[field] == nil else { throw ValidationError("\(field) is both set and cleared") }
                params[field] = .null
            }
            params["deal_id"] = .string(self.dealID)
            try self.common.apply(to: &params)
            return .object(params)
        }

        func render(_ result: JSON) -> String { salesSummary("deal", "deal_id", "updated", result) }
    }

    /// `crmctl deal get`.
    struct Get: RPCCommand {
        static let configuration = CommandConfiguration(abstract: "Show a deal with its stage history (deal.get).")

        @Argument(help: "Id of the deal.")
        var dealID: String

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "deal.get" }

        func params() throws -> JSON? { ["deal_id": .string(self.dealID)] }

        func render(_ result: JSON) -> String { SalesOutput.deal(result) }
    }

    /// `crmctl deal list`.
    struct List: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "List deals by pipeline, stage, owner or customer (deal.list).",
            discussion: """
                Deals come in id order, --limit at a time (default 50, at most 200); pass the printed \
                --after value to get the next page.
                """
        )

        @Option(name: [.customLong("pipeline"), .customLong("pipeline-id")], help: "Only deals of this pipeline.")
        var pipelineID: String?

        @Option(name: [.customLong("stage"), .customLong("stage-id")], help: "Only deals in this stage.")
        var stageID: String?

        @Option(name: [.customLong("owner"), .customLong("owner-id")], help: "Only deals of this owner.")
        var ownerID: String?

        @Option(name: [.customLong("customer"), .customLong("customer-id")], help: "Only deals of this customer.")
        var customerID: String?

        @Option(help: ArgumentHelp("Page size, 1–200.", valueName: "n"), transform: ParamParsing.limit(200))
        var limit: Int?

        @Option(help: "Continue after this deal id.")
        var after: String?

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "deal.list" }

        func params() throws -> JSON? {
            var params: [String: JSON] = [:]
            if let value = self.pipelineID { params["pipeline_id"] = .string(value) }
            if let value = self.stageID { params["stage_id"] = .string(value) }
            if let value = self.ownerID { params["owner_id"] = .string(value) }
            if let value = self.customerID { params["customer_id"] = .string(value) }
            if let value = self.limit { params["limit"] = .int(value) }
            if let value = self.after { params["after"] = .string(value) }
            return .object(params)
        }

        func render(_ result: JSON) -> String { SalesOutput.dealList(result) }
    }
}

// MARK: - funnel

extension FunnelGroup {
    /// `crmctl funnel snapshot`.
    struct Snapshot: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "Open deals, amounts and weighted amounts per stage now (funnel.snapshot)."
        )

        @Argument(help: "Pipeline id, or \"lifecycle\".")
        var pipelineID: String = "sales"

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "funnel.snapshot" }

        func params() throws -> JSON? { ["pipeline_id": .string(self.pipelineID)] }

        func render(_ result: JSON) -> String { SalesOutput.snapshot(result) }
    }

    /// `crmctl funnel report`.
    struct Report: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "Draw the conversion funnel of a pipeline or the lifecycle (funnel.report).",
            discussion: """
                Counts deals created in [--from, --to) per stage as horizontal bars with next-step and \
                cumulative conversion. --mode implied (default) counts skipped stages as passed, strict \
                stops at the first skip, any counts stages actually entered.

                --as-of gives the report exactly as crmd gave it at an earlier point of the log: a \
                position (all digits; right after that event, capped at the head, 0 is the empty log) or \
                an RFC 3339 time (the last event recorded at or before it: the daemon's recorded_at, not \
                the business time at). --from/--to still select by business time; without --to, stale \
                is measured at the --as-of time (for a position, when its event was recorded). It costs \
                one pass over the log up to the point.

                Examples:
                  crmctl funnel report sales --from 2025-01-01T00:00:00Z \\
                    --to 2025-04-01T00:00:00Z
                  crmctl funnel report sales --to 2025-04-01T00:00:00Z \\
                    --as-of 2025-04-01T00:00:00Z
                """
        )

        @Argument(help: "Pipeline id, or \"lifecycle\".")
        var pipelineID: String = "sales"

        @Option(help: ArgumentHelp("Start of the range, RFC 3339 (inclusive).", valueName: "time"))
        var from: String?

        @Option(help: ArgumentHelp("End of the range, RFC 3339 (exclusive).", valueName: "time"))
        var to: String?

        @Option(help: "implied, strict or any.")
        var mode: String?

        @Option(help: "created (default) or entered.")
        var cohort: String?

        @Option(help: "owner, source or tier.")
        var groupBy: String?

        @Option(help: "Only deals in this currency.")
        var currency: String?

        @Option(help: "Count open deals longer than this many days in their stage as stale.")
        var staleAfterDays: Int?

        @Option(help: .reportAsOf, transform: ParamParsing.asOf)
        var asOf: JSON?

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "funnel.report" }

        func params() throws -> JSON? {
            var params: [String: JSON] = ["pipeline_id": .string(self.pipelineID)]
            if let value = self.from { params["from"] = .string(value) }
            if let value = self.to { params["to"] = .string(value) }
            if let value = self.mode { params["mode"] = .string(value) }
            if let value = self.cohort { params["cohort"] = .string(value) }
            if let value = self.groupBy { params["group_by"] = .string(value) }
            if let value = self.currency { params["currency"] = .string(value) }
            if let value = self.staleAfterDays { params["stale_after_days"] = .int(value) }
            if let value = self.asOf { params["as_of"] = value }
            return .object(params)
        }

        func render(_ result: JSON) -> String { SalesOutput.report(result) }
    }
}

// MARK: - Readable output

/// The readable forms of sales results.
enum SalesOutput {
    /// Width of a full funnel bar, in characters.
    static let barWidth = 40

    /// A pipeline: name, version and a stage table.
    static func pipeline(_ pipeline: JSON) -> String {
        let id = pipeline["pipeline_id"]?.stringValue ?? "?"
        let version = Output.text(pipeline["version"]) ?? "?"
        let name = pipeline["name"]?.stringValue ?? id
        var lines = [
            "pipeline \(id) \"\(name)\" version \(version)"
                + (pipeline["require_lost_reason"] == true ? ", lost reason required" : "")
        ]
        let rows = (pipeline["stages"]?.arrayValue ?? []).map { stage in
            [
                stage["id"]?.stringValue ?? "?", stage["name"]?.stringValue ?? "", stage["kind"]?.stringValue ?? "",
                "\(Output.text(stage["probability"]) ?? "?")%",
            ]
        }
        lines += Output.table(["STAGE", "NAME", "KIND", "PROBABILITY"], rows).map { "  " + $0 }
        return lines.joined(separator: "\n")
    }

    /// `EUR 1200.5, USD 70`, or `-` for none.
    static func amounts(_ value: JSON?) -> String {
        let members = value?.objectValue ?? [:]
        guard !members.isEmpty else { return "-" }
        return members.keys.sorted().map { "\($0) \(members[$0]?.stringValue ?? "?")" }.joined(separator: ", ")
    }

    /// A deal document.
    static func deal(_ deal: JSON) -> String {
        let stage =
            "\(Output.plain(deal["stage_id"])) (\(Output.plain(deal["kind"])), \(Output.plain(deal["probability"]))%)"
        var rows: [(String, [String])] = [
            ("deal", [deal["deal_id"]?.stringValue ?? "?"]),
            ("name", [Output.plain(deal["name"])]),
            ("pipeline", [Output.plain(deal["pipeline_id"])]),
            ("stage", [stage]),
            ("amount", [deal["amount"]?.stringValue.map { "\($0) \(deal["currency"]?.stringValue ?? "")" } ?? "-"]),
            ("close date", [Output.plain(deal["close_date"])]),
            ("owner", [Output.plain(deal["owner_id"])]),
            ("customers", [(deal["customer_ids"]?.arrayValue ?? []).compactMap(\.stringValue).joined(separator: ", ")]),
            ("created", [Output.plain(deal["created_at"])]),
        ]
        if let closed = deal["closed_at"]?.stringValue { rows.append(("closed", [closed])) }
        if let reason = deal["lost_reason"]?.stringValue { rows.append(("lost reason", [reason])) }
        let visits = (deal["visits"]?.arrayValue ?? []).map { visit in
            "\(Output.plain(visit["entered_at"]))  \(Output.plain(visit["stage_id"]))"
                + (visit["backward"] == true ? " (back)" : "") + (visit["reopened"] == true ? " (reopened)" : "")
        }
        rows.append(("history", visits.isEmpty ? ["-"] : visits))
        return Output.labelled(rows).joined(separator: "\n")
    }

    /// A `deal.list` page.
    static func dealList(_ result: JSON) -> String {
        let deals = result["deals"]?.arrayValue ?? []
        guard !deals.isEmpty else { return "no deals" }
        let rows = deals.map { deal in
            [
                deal["deal_id"]?.stringValue ?? "?", Output.plain(deal["pipeline_id"]), Output.plain(deal["stage_id"]),
                deal["amount"]?.stringValue.map { "\($0) \(deal["currency"]?.stringValue ?? "")" } ?? "-",
                Output.plain(deal["owner_id"]), Output.plain(deal["name"]),
            ]
        }
        var lines = Output.table(["DEAL", "PIPELINE", "STAGE", "AMOUNT", "OWNER", "NAME"], rows)
        if let after = result["next_after"]?.stringValue { lines.append("more: --after \(after)") }
        return lines.joined(separator: "\n")
    }

    /// A `funnel.snapshot` as a table.
    static func snapshot(_ result: JSON) -> String {
        let rows = (result["stages"]?.arrayValue ?? []).map { stage in
            let open = stage["kind"]?.stringValue == "open"
            return [
                stage["name"]?.stringValue ?? "?", stage["kind"]?.stringValue ?? "",
                Output.text(open ? stage["open_count"] : stage["closed_count"]) ?? "0",
                SalesOutput.amounts(open ? stage["open_amount"] : stage["closed_amount"]),
                open ? SalesOutput.amounts(stage["weighted_amount"]) : "",
            ]
        }
        var lines = ["funnel snapshot of \(result["pipeline_id"]?.stringValue ?? "?")"]
        // Closed stages have no weighted amount: drop the padding left before the empty last column.
        lines += Output.table(["STAGE", "KIND", "DEALS", "AMOUNT", "WEIGHTED"], rows).map { line in
            String(line.reversed().drop { $0 == " " }.reversed())
        }
        lines.append(
            "open: \(Output.text(result["open_count"]) ?? "0") deals, \(SalesOutput.amounts(result["open_amount"])), "
                + "weighted \(SalesOutput.amounts(result["weighted_amount"]))"
        )
        return lines.joined(separator: "\n")
    }

    /// A percentage member as `66.7%`, or `-`.
    static func percent(_ value: JSON?) -> String {
        guard let number = value?.doubleValue else { return "-" }
        let tenths = Int((number * 10).rounded())
        return "\(tenths / 10).\(abs(tenths % 10))%"
    }

    /// A `funnel.report` drawn as horizontal bars: per stage the count, the cumulative conversion and
    /// the conversion to the next stage; then outcomes, win rate, cycle length and velocity.
    static func report(_ result: JSON) -> String {
        var lines: [String] = []
        let range = "\(result["from"]?.stringValue ?? "start") → \(result["to"]?.stringValue ?? "now")"
        lines.append(
            "funnel \(result["pipeline_id"]?.stringValue ?? "?") (\(result["mode"]?.stringValue ?? "implied"), "
                + "cohort \(result["cohort"]?.stringValue ?? "created"), \(range))" + Output.asOfPosition(result)
        )
        lines += SalesOutput.reportBody(result)
        for group in result["groups"]?.arrayValue ?? [] {
            lines.append("")
            lines.append("\(result["group_by"]?.stringValue ?? "group") = \(group["key"]?.stringValue ?? "(none)")")
            lines += SalesOutput.reportBody(group)
        }
        return lines.joined(separator: "\n")
    }

    /// The bars and summary lines of one report body.
    static func reportBody(_ body: JSON) -> [String] {
        let stages = body["stages"]?.arrayValue ?? []
        let counts = stages.map { Int($0["count"]?.intValue ?? 0) }
        let largest = max(counts.max() ?? 0, 1)
        let nameWidth = stages.map { ($0["name"]?.stringValue ?? "").count }.max() ?? 0
        let countWidth = counts.map { String($0).count }.max() ?? 1
        var lines = ["\(Output.text(body["cohort_size"]) ?? "0") in cohort"]
        for (stage, count) in zip(stages, counts) {
            let name = stage["name"]?.stringValue ?? "?"
            var filled = count * SalesOutput.barWidth / largest
            if count > 0, filled == 0 { filled = 1 }
            let bar =
                String(repeating: "█", count: filled) + String(repeating: " ", count: SalesOutput.barWidth - filled)
            let countText = String(repeating: " ", count: countWidth - String(count).count) + String(count)
            var line = name + String(repeating: " ", count: nameWidth - name.count) + "  \(bar)  \(countText)"
            line += "  " + SalesOutput.padLeft(SalesOutput.percent(stage["cumulative_conversion"]), 6)
            if let next = stage["next_step_conversion"], !next.isNull {
                line += "  → " + SalesOutput.padLeft(SalesOutput.percent(next), 6)
            }
            lines.append(line)
        }
        var lostBy: [String] = []
        let lostByStage = body["lost_by_stage"]?.objectValue ?? [:]
        for stage in lostByStage.keys.sorted() { lostBy.append("\(stage) \(Output.text(lostByStage[stage]) ?? "0")") }
        lines.append(
            "won \(Output.text(body["won"]) ?? "0") · lost \(Output.text(body["lost"]) ?? "0")"
                + (lostBy.isEmpty ? "" : " (\(lostBy.joined(separator: ", ")))")
                + " · open \(Output.text(body["open"]) ?? "0")"
        )
        var summary = "win rate \(SalesOutput.percent(body["win_rate"]?["rate"]))"
        if let days = body["cycle_length"]?["avg_days"]?.doubleValue { summary += " · cycle \(days) days" }
        let velocity = body["velocity"]?["per_day"]?.objectValue ?? [:]
        if !velocity.isEmpty {
            summary +=
                " · velocity "
                + velocity.keys.sorted().map { "\($0) \(Output.text(velocity[$0]) ?? "?")/day" }.joined(separator: ", ")
        }
        lines.append(summary)
        return lines
    }

    static func padLeft(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
    }
}
