import ArgumentParser
import CRMJSON
import CRMProtocol

/// `crmctl list …` and `crmctl campaign …`: static lists of customers, and email campaigns sent to a
/// segment or a list with their interactions, costs and report.
enum CampaignSubcommands {
    /// Top-level command groups added to `crmctl`.
    static let groups: [any ParsableCommand.Type] = [ListGroup.self, CampaignGroup.self]
}

/// `crmctl list …`.
struct ListGroup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "Keep static lists of customers, by hand or as a snapshot of a segment.",
        subcommands: [Create.self, Add.self, Remove.self, Members.self, Get.self]
    )
}

/// `crmctl campaign …`.
struct CampaignGroup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "campaign",
        abstract: "Create and send email campaigns, record what recipients did, and report on them.",
        subcommands: [Create.self, Send.self, Record.self, Cost.self, Get.self, Report.self]
    )
}

// MARK: - Parsing helpers

/// Command-line rules of the list and campaign commands.
enum CampaignParsing {
    /// The most customer ids one `list.create`, `list.add` or `list.remove` takes.
    static let maximumCustomers = 1000

    /// Refuses an empty or too long list of customer ids given as `source`.
    static func checkCustomers(_ ids: [String], source: String, required: Bool) throws {
        if required, ids.isEmpty { throw ValidationError("give at least one customer id") }
        if ids.count > CampaignParsing.maximumCustomers {
            throw ValidationError(
                "at most \(CampaignParsing.maximumCustomers) customers at a time, got \(ids.count) \(source)"
            )
        }
    }

    /// The `attribution` object of `--touch` and `--window-days`, or `nil` when neither is given.
    static func attribution(touch: String?, windowDays: Int?) -> JSON? {
        guard touch != nil || windowDays != nil else { return nil }
        var attribution: [String: JSON] = [:]
        if let touch { attribution["touch"] = .string(touch) }
        if let days = windowDays { attribution["window_days"] = .int(Int64(days)) }
        return .object(attribution)
    }
}

extension ArgumentHelp {
    /// The help of `--touch` on `campaign create` and `campaign report`.
    static var campaignTouch: ArgumentHelp {
        ArgumentHelp(
            "What credits an order: click, open_or_click or delivery (default click).",
            valueName: "touch"
        )
    }

    /// The help of `--window-days` on `campaign create` and `campaign report`.
    static var campaignWindow: ArgumentHelp {
        ArgumentHelp("Days after the touch an order is credited in, 1 to 90 (default 5).", valueName: "days")
    }
}

// MARK: - list create / add / remove

extension ListGroup {
    /// `crmctl list create`.
    struct Create: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a static list (list.create).",
            discussion: """
                A manual list holds the customers given with --customer (up to 1000; none makes an \
                empty list, filled later with list add). A snapshot list holds the members of the \
                segment --from-segment at --as-of (default: the command's time), computed once: the \
                list does not follow the segment afterwards. A date alone means midnight UTC.

                Examples:
                  crmctl list create vip --name "VIP guests" --customer c1 --customer c2
                  crmctl list create may_gold --name "Gold in May" \\
                    --from-segment gold --as-of 2025-05-01
                """
        )

        @Argument(help: ArgumentHelp("Id of the new list.", valueName: "list-id"))
        var listID: String

        @Option(help: ArgumentHelp("Name of the list, up to 100 characters.", valueName: "name"))
        var name: String

        @Option(
            name: .customLong("customer"),
            help: ArgumentHelp("A customer on the list (a manual list); repeatable.", valueName: "id")
        )
        var customerIDs: [String] = []

        @Option(
            help: ArgumentHelp("Make a snapshot list of this segment's members.", valueName: "segment-id")
        )
        var fromSegment: String?

        @Option(
            help: ArgumentHelp(
                "With --from-segment: the instant the segment is read at, YYYY-MM-DD (midnight UTC) or an "
                    + "RFC 3339 time (default: the command's time).",
                valueName: "date|time"
            ),
            transform: FeedbackParsing.instant
        )
        var asOf: String?

        @OptionGroup(title: "Command options")
        var common: CommandOptions

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "list.create" }

        func validate() throws {
            if self.fromSegment != nil, !self.customerIDs.isEmpty {
                throw ValidationError(
                    "give --customer (a manual list) or --from-segment (a snapshot list), not both"
                )
            }
            if self.asOf != nil, self.fromSegment == nil {
                throw ValidationError("--as-of is the instant a snapshot is taken at: give --from-segment too")
            }
            try CampaignParsing.checkCustomers(self.customerIDs, source: "--customer", required: false)
        }

        func params() throws -> JSON? {
            var params: [String: JSON] = ["list_id": .string(self.listID), "name": .string(self.name)]
            if let segment = self.fromSegment {
                params["kind"] = "snapshot"
                params["from_segment"] = .string(segment)
                if let asOf = self.asOf { params["as_of"] = .string(asOf) }
            } else {
                params["kind"] = "manual"
                if !self.customerIDs.isEmpty { params["customer_ids"] = .strings(self.customerIDs) }
            }
            try self.common.apply(to: &params)
            return .object(params)
        }

        func render(_ result: JSON) -> String {
            let verb: String
            if let segment = self.fromSegment {
                verb = "created from segment \(segment)" + (self.asOf.map { " as of \($0)" } ?? "")
            } else {
                verb = "created with " + SegmentOutput.counted(Int64(self.customerIDs.count), "customer")
            }
            return Output.commandSummary(noun: "list", verb: verb, idKey: "list_id", result: result)
        }
    }

    /// `crmctl list add`.
    struct Add: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "Put customers on a list (list.add).",
            discussion: """
                Up to 1000 customers at a time. Customers already on the list stay as they are; when \
                all of them are, nothing is written.

                Example:
                  crmctl list add vip c3 c4
                """
        )

        @Argument(help: ArgumentHelp("Id of the list.", valueName: "list-id"))
        var listID: String

        @Argument(help: ArgumentHelp("Ids of the customers to add.", valueName: "customer-id"))
        var customerIDs: [String] = []

        @OptionGroup(title: "Command options")
        var common: CommandOptions

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "list.add" }

        func validate() throws {
            try CampaignParsing.checkCustomers(self.customerIDs, source: "ids", required: true)
        }

        func params() throws -> JSON? {
            var params: [String: JSON] = ["list_id": .string(self.listID), "customer_ids": .strings(self.customerIDs)]
            try self.common.apply(to: &params)
            return .object(params)
        }

        func render(_ result: JSON) -> String {
            Output.commandSummary(noun: "list", verb: "members added", idKey: "list_id", result: result)
        }
    }

    /// `crmctl list remove`.
    struct Remove: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "Take customers off a list (list.remove).",
            discussion: """
                Up to 1000 customers at a time. Customers not on the list are ignored; when none of \
                them is, nothing is written.

                Example:
                  crmctl list remove vip c2
                """
        )

        @Argument(help: ArgumentHelp("Id of the list.", valueName: "list-id"))
        var listID: String

        @Argument(help: ArgumentHelp("Ids of the customers to remove.", valueName: "customer-id"))
        var customerIDs: [String] = []

        @OptionGroup(title: "Command options")
        var common: CommandOptions

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "list.remove" }

        func validate() throws {
            try CampaignParsing.checkCustomers(self.customerIDs, source: "ids", required: true)
        }

        func params() throws -> JSON? {
            var params: [String: JSON] = ["list_id": .string(self.listID), "customer_ids": .strings(self.customerIDs)]
            try self.common.apply(to: &params)
            return .object(params)
        }

        func render(_ result: JSON) -> String {
            Output.commandSummary(noun: "list", verb: "members removed", idKey: "list_id", result: result)
        }
    }
}

// MARK: - list members / get

extension ListGroup {
    /// `crmctl list members`.
    struct Members: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "The customers on a list at an instant (list.members).",
            discussion: """
                Prints a header with the number of members at --as-of (default: now), then their \
                ids, one a line, in id order. A date alone means midnight UTC.

                Members come in pages of --limit; when more follow, the last line says how to ask \
                for the next page (--cursor, with the same --as-of). --all fetches every page and \
                prints all members; with --json it prints one result holding all of them.

                Examples:
                  crmctl list members vip --all
                  crmctl list members vip --as-of 2025-05-01 --limit 50 --cursor c0042
                """
        )

        @Argument(help: ArgumentHelp("Id of the list.", valueName: "list-id"))
        var listID: String

        @Option(help: .segmentAsOf, transform: FeedbackParsing.instant)
        var asOf: String?

        @Option(
            help: ArgumentHelp("Members per page, 1 to 1000 (default 100, with --all 1000).", valueName: "n"),
            transform: ParamParsing.limit(1000)
        )
        var limit: Int?

        @Option(help: ArgumentHelp("Continue after this member (from the previous page).", valueName: "cursor"))
        var cursor: String?

        @Flag(help: "Fetch every page and print all members.")
        var all = false

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "list.members" }

        func params() throws -> JSON? {
            var params: [String: JSON] = ["list_id": .string(self.listID)]
            if let asOf = self.asOf { params["as_of"] = .string(asOf) }
            if let limit = self.limit ?? (self.all ? 1000 : nil) { params["limit"] = .int(Int64(limit)) }
            if let cursor = self.cursor { params["cursor"] = .string(cursor) }
            return .object(params)
        }

        /// One page, or with `--all` every page.
        mutating func run() throws { try self.runPaged(all: self.all) }

        func render(_ result: JSON) -> String { CampaignOutput.members(result) }
    }

    /// `crmctl list get`.
    struct Get: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "A list's name, kind and source (list.get).",
            discussion: """
                A snapshot list names the segment, its version and the instant it was read at.

                Example:
                  crmctl list get vip
                """
        )

        @Argument(help: ArgumentHelp("Id of the list.", valueName: "list-id"))
        var listID: String

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "list.get" }

        func params() throws -> JSON? { ["list_id": .string(self.listID)] }

        func render(_ result: JSON) -> String { CampaignOutput.list(result) }
    }
}

// MARK: - campaign create / send

extension CampaignGroup {
    /// `crmctl campaign create`.
    struct Create: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "Define an email campaign (campaign.create).",
            discussion: """
                The audience is a segment (--segment) or a static list (--list), exactly one; \
                members of the --exclude-list and --exclude-segment lists and segments at the send \
                are left out. --opt-in-level says which addresses may receive it: confirmed_opt_in \
                (confirmed only), opt_in (opted in or confirmed, the default) or disabled (any \
                address not opted out).

                Orders are credited to the campaign of the customer's latest --touch (click, \
                open_or_click or delivery) within --window-days (default: click within 5 days). \
                --cost is what the campaign cost, in --currency; later costs are added with \
                campaign cost.

                Examples:
                  crmctl campaign create may --name "May promo" --segment lapsing_gold \\
                    --exclude-list staff --opt-in-level confirmed_opt_in \\
                    --cost 50.00 --currency EUR --subject "We miss you"
                  crmctl campaign create vip_news --name "VIP news" --list vip \\
                    --touch open_or_click --window-days 7
                """
        )

        @Argument(help: ArgumentHelp("Id of the new campaign.", valueName: "campaign-id"))
        var campaignID: String

        @Option(help: ArgumentHelp("Name of the campaign, up to 100 characters.", valueName: "name"))
        var name: String

        @Option(
            name: .customLong("segment"),
            help: ArgumentHelp("Send to the members of this segment at the send.", valueName: "segment-id")
        )
        var segmentID: String?

        @Option(
            name: .customLong("list"),
            help: ArgumentHelp("Send to the customers on this static list.", valueName: "list-id")
        )
        var listID: String?

        @Option(
            name: .customLong("exclude-list"),
            help: ArgumentHelp("Leave out the customers on this list; repeatable.", valueName: "list-id")
        )
        var excludeLists: [String] = []

        @Option(
            name: .customLong("exclude-segment"),
            help: ArgumentHelp("Leave out the members of this segment; repeatable.", valueName: "segment-id")
        )
        var excludeSegments: [String] = []

        @Option(
            help: ArgumentHelp("confirmed_opt_in, opt_in (default) or disabled.", valueName: "level")
        )
        var optInLevel: String?

        @Option(help: .campaignTouch)
        var touch: String?

        @Option(help: .campaignWindow, transform: ParamParsing.limit(90))
        var windowDays: Int?

        @Option(help: ArgumentHelp("What the campaign cost, e.g. 50.00 (needs --currency).", valueName: "decimal"))
        var cost: String?

        @Option(help: ArgumentHelp("ISO-4217 currency of the cost, e.g. EUR.", valueName: "code"))
        var currency: String?

        @Option(help: ArgumentHelp("Subject line of the email, up to 255 characters.", valueName: "text"))
        var subject: String?

        @OptionGroup(title: "Command options")
        var common: CommandOptions

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "campaign.create" }

        func validate() throws {
            switch (self.segmentID, self.listID) {
            case (nil, nil): throw ValidationError("give the audience: --segment SEGMENT or --list LIST")
            case (_?, _?): throw ValidationError("give the audience one way: --segment or --list, not both")
            default: break
            }
            if self.cost != nil, self.currency == nil { throw ValidationError("--cost needs --currency") }
            if self.currency != nil, self.cost == nil { throw ValidationError("--currency goes with --cost") }
        }

        func params() throws -> JSON? {
            var params: [String: JSON] = [
                "campaign_id": .string(self.campaignID), "name": .string(self.name),
                "audience": self.segmentID.map { ["segment_id": .string($0)] }
                    ?? ["list_id": .string(self.listID ?? "")],
            ]
            if !self.excludeLists.isEmpty || !self.excludeSegments.isEmpty {
                params["exclude"] = ["lists": .strings(self.excludeLists), "segments": .strings(self.excludeSegments)]
            }
            if let level = self.optInLevel { params["opt_in_level"] = .string(level) }
            if let attribution = CampaignParsing.attribution(touch: self.touch, windowDays: self.windowDays) {
                params["attribution"] = attribution
            }
            if let amount = self.cost, let currency = self.currency {
                params["cost"] = ["amount": .string(amount), "currency": .string(currency)]
            }
            if let subject = self.subject { params["subject"] = .string(subject) }
            try self.common.apply(to: &params)
            return .object(params)
        }

        func render(_ result: JSON) -> String {
            Output.commandSummary(noun: "campaign", verb: "created", idKey: "campaign_id", result: result)
        }
    }

    /// `crmctl campaign send`.
    struct Send: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send a campaign: choose and record its recipients (campaign.send).",
            discussion: """
                crmd chooses the recipients at the command's time: the audience's active members, \
                less the excluded ones, each at an address that may receive the campaign at its \
                opt-in level, one recipient per address. A campaign is sent once. crmctl then shows \
                how many were sent to, out of the audience, and how many were suppressed and why \
                (with --json only the send's result).

                Wait for this command to finish before recording interactions of the campaign.

                Example:
                  crmctl campaign send may --at 2025-05-05T10:00:00Z
                """
        )

        @Argument(help: ArgumentHelp("Id of the campaign.", valueName: "campaign-id"))
        var campaignID: String

        @OptionGroup(title: "Command options")
        var common: CommandOptions

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "campaign.send" }

        func params() throws -> JSON? {
            var params: [String: JSON] = ["campaign_id": .string(self.campaignID)]
            try self.common.apply(to: &params)
            return .object(params)
        }

        /// Sends, then reads the campaign back for its recipient and suppression counts.
        mutating func run() throws {
            let result = try self.callOrExit(self.method, try self.params())
            if self.global.json {
                print(result.serializedString())
                return
            }
            let campaign = try self.callOrExit("campaign.get", ["campaign_id": .string(self.campaignID)])
            print(self.render(result) + "\n" + CampaignOutput.sendCounts(campaign["sent"]))
        }

        func render(_ result: JSON) -> String {
            Output.commandSummary(noun: "campaign", verb: "sent", idKey: "campaign_id", result: result)
        }
    }
}

// MARK: - campaign record / cost

extension CampaignGroup {
    /// `crmctl campaign record`.
    struct Record: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "Record what a recipient did with a campaign (campaign.record).",
            discussion: """
                KIND is delivered, bounced, opened, clicked, replied, converted, unsubscribed or \
                complained; the customer must be a recipient. --interaction-id is the sending \
                service's id of the event: recording it again writes nothing, so webhook retries \
                are safe. --occurred-at (default: the command's time) may be earlier than --at; a \
                date alone means midnight UTC.

                --bounce (hard or soft, default soft) goes with bounced only: a hard bounce flags \
                the address, and later sends leave it out. --order and --goal go with converted \
                only. An unsubscribed or complained opts the address out of email.

                Examples:
                  crmctl campaign record may c1 clicked --interaction-id ev-81 \\
                    --link https://shop.example/may
                  crmctl campaign record may c7 bounced --bounce hard --interaction-id ev-82
                  crmctl campaign record may c2 converted --interaction-id ev-83 --order o17
                """
        )

        @Argument(help: ArgumentHelp("Id of the campaign.", valueName: "campaign-id"))
        var campaignID: String

        @Argument(help: ArgumentHelp("Id of the recipient.", valueName: "customer-id"))
        var customerID: String

        @Argument(help: ArgumentHelp("What happened, e.g. opened or clicked (see below).", valueName: "kind"))
        var kind: String

        @Option(help: ArgumentHelp("The sending service's id of this event.", valueName: "id"))
        var interactionID: String

        @Option(
            help: ArgumentHelp(
                "When it happened: YYYY-MM-DD (midnight UTC) or an RFC 3339 time (default: the command's time).",
                valueName: "date|time"
            ),
            transform: FeedbackParsing.instant
        )
        var occurredAt: String?

        @Option(help: ArgumentHelp("hard or soft (default soft); bounced only.", valueName: "bounce"))
        var bounce: String?

        @Option(help: ArgumentHelp("The link clicked.", valueName: "url"))
        var link: String?

        @Option(
            name: .customLong("order"),
            help: ArgumentHelp("The order the conversion credits to the campaign; converted only.", valueName: "id")
        )
        var orderID: String?

        @Option(
            help: ArgumentHelp("A conversion without an order, e.g. signup; converted only.", valueName: "id")
        )
        var goal: String?

        @OptionGroup(title: "Command options")
        var common: CommandOptions

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "campaign.record" }

        func validate() throws {
            if let bounce = self.bounce {
                guard self.kind == "bounced" else {
                    throw ValidationError("--bounce goes with the kind bounced, not \(self.kind)")
                }
                guard bounce == "hard" || bounce == "soft" else {
                    throw ValidationError("--bounce must be hard or soft, got \(bounce)")
                }
            }
            if self.kind != "converted" {
                let given = [self.orderID.map { _ in "--order" }, self.goal.map { _ in "--goal" }].compactMap { $0 }
                if !given.isEmpty {
                    throw ValidationError(
                        "\(given.joined(separator: " and ")) go\(given.count == 1 ? "es" : "") with the kind "
                            + "converted, not \(self.kind)"
                    )
                }
            }
        }

        func params() throws -> JSON? {
            var params: [String: JSON] = [
                "campaign_id": .string(self.campaignID), "customer_id": .string(self.customerID),
                "kind": .string(self.kind), "interaction_id": .string(self.interactionID),
            ]
            if let at = self.occurredAt { params["occurred_at"] = .string(at) }
            if let bounce = self.bounce { params["bounce"] = .string(bounce) }
            if let link = self.link { params["link"] = .string(link) }
            if let id = self.orderID { params["order_id"] = .string(id) }
            if let goal = self.goal { params["goal"] = .string(goal) }
            try self.common.apply(to: &params)
            return .object(params)
        }

        func render(_ result: JSON) -> String {
            let events = result["events"]?.arrayValue ?? []
            guard !events.isEmpty else {
                return Output.commandSummary(noun: "campaign", verb: "recorded", idKey: "campaign_id", result: result)
                    + ": interaction \(self.interactionID) is recorded already"
            }
            let what = self.kind == "bounced" ? "bounced (\(self.bounce ?? "soft"))" : self.kind
            var lines = [
                "campaign \(Output.plain(result["campaign_id"])): recorded \(what) by \(self.customerID) "
                    + "(position \(Output.plain(result["position"])), "
                    + SegmentOutput.counted(Int64(events.count), "event") + ")"
            ]
            let types = Set(events.compactMap { $0["type"]?.stringValue })
            if types.contains("ConsentChanged") {
                lines.append("  \(self.customerID)'s address is opted out of email now")
            }
            if types.contains("EmailFlagged") {
                lines.append("  \(self.customerID)'s address is flagged invalid: later sends leave it out")
            }
            return lines.joined(separator: "\n")
        }
    }

    /// `crmctl campaign cost`.
    struct Cost: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a cost to a campaign (campaign.record_cost).",
            discussion: """
                The report's cost is the campaign's own (campaign create --cost) plus every cost \
                added; all in one currency.

                Example:
                  crmctl campaign cost may 12.50 EUR
                """
        )

        @Argument(help: ArgumentHelp("Id of the campaign.", valueName: "campaign-id"))
        var campaignID: String

        @Argument(help: ArgumentHelp("The amount, e.g. 12.50.", valueName: "amount"))
        var amount: String

        @Argument(help: ArgumentHelp("ISO-4217 currency of the amount, e.g. EUR.", valueName: "currency"))
        var currency: String

        @OptionGroup(title: "Command options")
        var common: CommandOptions

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "campaign.record_cost" }

        func params() throws -> JSON? {
            var params: [String: JSON] = [
                "campaign_id": .string(self.campaignID), "amount": .string(self.amount),
                "currency": .string(self.currency),
            ]
            try self.common.apply(to: &params)
            return .object(params)
        }

        func render(_ result: JSON) -> String {
            Output.commandSummary(
                noun: "campaign", verb: "cost \(self.amount) \(self.currency) added", idKey: "campaign_id",
                result: result
            )
        }
    }
}

// MARK: - campaign get / report

extension CampaignGroup {
    /// `crmctl campaign get`.
    struct Get: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "A campaign's definition and, once sent, its send (campaign.get).",
            discussion: """
                Example:
                  crmctl campaign get may
                """
        )

        @Argument(help: ArgumentHelp("Id of the campaign.", valueName: "campaign-id"))
        var campaignID: String

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "campaign.get" }

        func params() throws -> JSON? { ["campaign_id": .string(self.campaignID)] }

        func render(_ result: JSON) -> String { CampaignOutput.campaign(result) }
    }

    /// `crmctl campaign report`.
    struct Report: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "A campaign's funnel, credited orders and return (campaign.report).",
            discussion: """
                The report at --as-of (default: now): interactions that occurred by then, and orders \
                placed by then with their refunds and cancellations recorded by then. A date alone \
                means midnight UTC.

                The funnel is drawn as bars scaled to the recipients: sent, delivered, opened, \
                clicked and converted, each with its count and share of sent, then the rate the \
                report defines: reach (sent of the audience), delivered of sent, and the open, \
                click and conversion rates of delivered. Below come bounces, unsubscribes, \
                click-to-open, complaints, responders (who clicked, replied, converted or ordered), \
                the orders credited to the campaign and their revenue per currency, revenue per \
                recipient, cost (its own plus those added) and ROI.

                --touch and --window-days ask what the campaign would be credited with under \
                another attribution (what-if; a missing one is click or 5 days); nothing changes.

                Examples:
                  crmctl campaign report may --as-of 2025-06-01
                  crmctl campaign report may --as-of 2025-06-01 \\
                    --touch open_or_click --window-days 7
                """
        )

        @Argument(help: ArgumentHelp("Id of the campaign.", valueName: "campaign-id"))
        var campaignID: String

        @Option(help: .segmentAsOf, transform: FeedbackParsing.instant)
        var asOf: String?

        @Option(help: .campaignTouch)
        var touch: String?

        @Option(help: .campaignWindow, transform: ParamParsing.limit(90))
        var windowDays: Int?

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "campaign.report" }

        func params() throws -> JSON? {
            var params: [String: JSON] = ["campaign_id": .string(self.campaignID)]
            if let asOf = self.asOf { params["as_of"] = .string(asOf) }
            if let attribution = CampaignParsing.attribution(touch: self.touch, windowDays: self.windowDays) {
                params["attribution"] = attribution
            }
            return .object(params)
        }

        func render(_ result: JSON) -> String { CampaignOutput.report(result) }
    }
}

// MARK: - Rendering

/// Readable output of the list and campaign queries.
enum CampaignOutput {
    /// Suppression reasons of a send in the protocol's order, with their readable names.
    static let suppressionReasons: [(key: String, label: String)] = [
        ("excluded", "excluded"), ("blocklisted", "blocklisted"), ("opted_out", "opted out"),
        ("not_opted_in", "not opted in"), ("invalid_address", "invalid address"), ("no_address", "no address"),
        ("duplicate", "duplicate address"),
    ]

    /// `part` of `whole` in percent with two decimals, rounded half up as crmd rounds its rates
    /// (`7` of `10` → `70.00`); `-` when `whole` is 0.
    static func percent(_ part: Int64, of whole: Int64) -> String {
        guard whole > 0 else { return "-" }
        let hundredths = (part * 20_000 + whole) / (2 * whole)
        let fraction = hundredths % 100
        return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
    }

    /// A money map from crmd (`{"EUR": "120.00"}`) as `120.00 EUR, 8.00 USD`; empty as `none`.
    static func money(_ value: JSON?) -> String {
        guard let amounts = value?.objectValue else { return "-" }
        guard !amounts.isEmpty else { return "none" }
        return amounts.keys.sorted().map { "\(Output.plain(amounts[$0])) \($0)" }.joined(separator: ", ")
    }

    /// A `{amount, currency}` object as `50.00 EUR`; `null` as `-`.
    static func amount(_ value: JSON?) -> String {
        guard let value = Output.nonNull(value) else { return "-" }
        return "\(Output.plain(value["amount"])) \(Output.plain(value["currency"]))"
    }

    /// An audience `{kind, id}` as `segment lapsing_gold` or `list vip`.
    static func audience(_ value: JSON?) -> String {
        "\(Output.plain(value?["kind"])) \(Output.plain(value?["id"]))"
    }

    /// An attribution `{touch, window_days}` as `click within 5 days`.
    static func attribution(_ value: JSON?) -> String {
        let days = value?["window_days"]?.intValue ?? 0
        return "\(Output.plain(value?["touch"])) within \(SegmentOutput.counted(days, "day"))"
    }

    /// `7 of 10 (reach 70.00%)`: the recipients of a send (the `sent` of `campaign.get`) out of its
    /// audience.
    static func reach(_ sent: JSON) -> String {
        let recipients = sent["recipient_count"]?.intValue ?? 0
        let audience = sent["audience_size"]?.intValue ?? 0
        return "\(recipients) of \(audience) (reach \(CampaignOutput.percent(recipients, of: audience))%)"
    }

    /// The suppressed members of a send by reason, only the reasons that occurred, as `(label, count)`.
    static func suppressed(_ sent: JSON) -> [(label: String, count: Int64)] {
        let counts = sent["suppressed"]?.objectValue ?? [:]
        let known = Set(CampaignOutput.suppressionReasons.map(\.key))
        let reasons =
            CampaignOutput.suppressionReasons
            + counts.keys.filter { !known.contains($0) }.sorted()
            .map { (key: $0, label: $0) }
        return reasons.compactMap { reason in
            guard let count = counts[reason.key]?.intValue, count > 0 else { return nil }
            return (reason.label, count)
        }
    }

    /// Cells of a funnel bar standing for every recipient.
    static let barWidth = 24

    /// One line per funnel step: its label, a bar scaled so that `sent` fills ``barWidth`` cells (a
    /// count above 0 gets at least one), the count, its share of `sent` and the step's rate.
    static func funnel(_ steps: [(label: String, count: Int64, rate: String)], sent: Int64) -> [String] {
        let labelWidth = steps.map(\.label.count).max() ?? 0
        let countWidth = steps.map { String($0.count).count }.max() ?? 0
        return steps.map { step in
            var cells = 0
            if sent > 0, step.count > 0 {
                let scaled = (step.count * Int64(CampaignOutput.barWidth) * 2 + sent) / (2 * sent)
                cells = Int(min(max(1, scaled), Int64(CampaignOutput.barWidth)))
            }
            let count = String(step.count)
            let share = FeedbackOutput.share(step.count, of: sent)
            return "  " + step.label + String(repeating: " ", count: labelWidth - step.label.count) + "  "
                + String(repeating: "█", count: cells)
                + String(repeating: " ", count: CampaignOutput.barWidth - cells) + "  "
                + String(repeating: " ", count: countWidth - count.count) + count + "  "
                + String(repeating: " ", count: max(0, 6 - share.count)) + share + "  " + step.rate
        }
    }

    /// `list.members`: a header line, the ids one a line, and how to get the next page.
    static func members(_ result: JSON) -> String {
        SegmentOutput.page(
            "list \(Output.plain(result["list_id"])) as of \(SegmentOutput.time(result["as_of"]))", result)
    }

    /// `list.get`: the name, then its kind and source and when it was created.
    static func list(_ result: JSON) -> String {
        var kind = Output.plain(result["kind"])
        if let source = Output.nonNull(result["source"]) {
            kind +=
                " of segment \(Output.plain(source["segment_id"])) version \(Output.plain(source["version"]))"
                + " as of \(SegmentOutput.time(source["as_of"]))"
        }
        let lines =
            ["list \(Output.plain(result["list_id"])): \(Output.plain(result["name"]))"]
            + Output.labelled(
                [("kind", [kind]), ("created", [SegmentOutput.time(result["created_at"])])], indent: "  ")
        return lines.joined(separator: "\n")
    }

    /// The counts of a send after `campaign send`: its reach, then recipients and suppressed members
    /// by reason as a table.
    static func sendCounts(_ sent: JSON?) -> String {
        guard let sent = Output.nonNull(sent) else { return "not sent" }
        var lines = ["sent to \(CampaignOutput.reach(sent)) at \(SegmentOutput.time(sent["sent_at"]))"]
        let rows =
            [["recipients", Output.plain(sent["recipient_count"])]]
            + CampaignOutput.suppressed(sent).map { ["suppressed: \($0.label)", String($0.count)] }
        lines += Output.table(["OUTCOME", "CUSTOMERS"], rows).map { "  " + $0 }
        return lines.joined(separator: "\n")
    }

    /// The rows describing a campaign's definition, shared by `campaign.get` and `campaign.report`.
    static func definitionRows(_ result: JSON) -> [(String, [String])] {
        var rows: [(String, [String])] = [("audience", [CampaignOutput.audience(result["audience"])])]
        let lists = (result["exclude"]?["lists"]?.arrayValue ?? []).map(Output.plain)
        let segments = (result["exclude"]?["segments"]?.arrayValue ?? []).map(Output.plain)
        let excluded =
            (lists.isEmpty ? [] : ["lists " + lists.joined(separator: ", ")])
            + (segments.isEmpty ? [] : ["segments " + segments.joined(separator: ", ")])
        if !excluded.isEmpty { rows.append(("excluded", [excluded.joined(separator: "; ")])) }
        rows.append(
            ("channel", ["\(Output.plain(result["channel"])), opt-in level \(Output.plain(result["opt_in_level"]))"])
        )
        if let subject = Output.text(result["subject"]) { rows.append(("subject", [subject])) }
        return rows
    }

    /// `campaign.get`: the definition, then the send's reach and suppressions, or that it is not sent.
    static func campaign(_ result: JSON) -> String {
        var rows = CampaignOutput.definitionRows(result)
        rows.append(("attribution", [CampaignOutput.attribution(result["attribution"])]))
        rows.append(("cost", [CampaignOutput.amount(result["cost"])]))
        if let sent = Output.nonNull(result["sent"]) {
            var send = "\(SegmentOutput.time(sent["sent_at"])) to \(CampaignOutput.reach(sent))"
            if let version = Output.nonNull(sent["audience_version"]) {
                send += ", segment version \(Output.plain(version))"
            }
            rows.append(("sent", [send]))
            let suppressed = CampaignOutput.suppressed(sent)
            rows.append(
                (
                    "suppressed",
                    [suppressed.isEmpty ? "none" : suppressed.map { "\($0.label) \($0.count)" }.joined(separator: ", ")]
                )
            )
        } else {
            rows.append(("sent", ["not yet"]))
        }
        let header = "campaign \(Output.plain(result["campaign_id"])): \(Output.plain(result["name"]))"
        return ([header] + Output.labelled(rows, indent: "  ")).joined(separator: "\n")
    }

    /// `campaign.report`: a header, the funnel as bars scaled to the recipients, then labelled figures.
    static func report(_ result: JSON) -> String {
        var lines = [
            "campaign \(Output.plain(result["campaign_id"])): \(Output.plain(result["name"])) as of "
                + SegmentOutput.time(result["as_of"])
        ]
        let attribution = result["attribution"]
        let whatIf = attribution?["what_if"]?.boolValue == true
        guard let sent = Output.nonNull(result["sent"]), let metrics = Output.nonNull(result["metrics"]) else {
            lines.append("  not sent by then")
            return lines.joined(separator: "\n")
        }
        var send =
            "  sent to \(CampaignOutput.reach(sent)) at \(SegmentOutput.time(sent["sent_at"])), "
            + CampaignOutput.audience(result["audience"])
        if let version = Output.nonNull(sent["audience_version"]) { send += " version \(Output.plain(version))" }
        lines.append(send)
        lines.append(
            "  orders credited by \(CampaignOutput.attribution(attribution))" + (whatIf ? " (what-if)" : "")
        )
        lines.append("")

        func count(_ key: String) -> Int64 { metrics[key]?.intValue ?? 0 }
        func rate(_ key: String) -> String { FeedbackOutput.percent(metrics[key]) }
        let recipients = count("sent")
        let funnel: [(label: String, count: Int64, rate: String)] = [
            ("sent", recipients, "reach \(rate("reach_pct")) of \(count("audience_size"))"),
            ("delivered", count("delivered"), "delivered \(rate("delivered_pct")) of sent"),
            ("opened", count("unique_opens"), "open rate \(rate("open_rate")) of delivered"),
            ("clicked", count("unique_clicks"), "click rate \(rate("click_rate")) of delivered"),
            ("converted", count("converters"), "conversion rate \(rate("conversion_rate")) of delivered"),
        ]
        lines += CampaignOutput.funnel(funnel, sent: recipients)
        lines.append("")

        let bounced = metrics["bounced"]
        let hard = bounced?["hard"]?.intValue ?? 0
        let soft = bounced?["soft"]?.intValue ?? 0
        var rows: [(String, [String])] = [
            ("bounced", ["\(hard + soft) (\(hard) hard, \(soft) soft)"]),
            ("unsubscribes", ["\(count("unsubscribes")) (\(rate("unsubscribe_rate")) of delivered)"]),
            ("click-to-open", [rate("click_to_open")]),
            ("complaints", [String(count("complaints"))]),
            ("responders", ["\(count("responders")) (response rate \(rate("response_rate")) of sent)"]),
        ]
        if let attributed = Output.nonNull(result["attributed"]) {
            rows += [
                ("attributed orders", [Output.plain(attributed["orders"])]),
                ("revenue", [CampaignOutput.money(attributed["revenue"])]),
                ("per recipient", [CampaignOutput.money(attributed["revenue_per_recipient"])]),
            ]
        } else {
            rows.append(("attributed orders", ["- (the value read model is being rebuilt)"]))
        }
        rows.append(("cost", [CampaignOutput.amount(result["cost"])]))
        if let attributed = Output.nonNull(result["attributed"]) {
            let roi = Output.text(attributed["roi"]).map { $0 + "%" }
            rows.append(("ROI", [roi ?? (Output.nonNull(result["cost"]) == nil ? "- (no cost)" : "-")]))
        }
        lines += Output.labelled(rows, indent: "  ")
        return lines.joined(separator: "\n")
    }
}
