import ArgumentParser
import CRMJSON

/// `crmctl schedule …`, `crmctl sla-policy …`, `crmctl ticket …`, `crmctl sla …` (service desk).
enum ServiceSubcommands {
    /// Top-level command groups added to `crmctl`.
    static let groups: [any ParsableCommand.Type] = [Schedule.self, SlaPolicy.self, Ticket.self, Sla.self]

    /// `crmctl schedule …`.
    struct Schedule: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Define business-hours schedules.",
            subcommands: [ScheduleDefine.self]
        )
    }

    /// `crmctl sla-policy …`.
    struct SlaPolicy: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "sla-policy",
            abstract: "Define and retire SLA policies.",
            subcommands: [SlaPolicyDefine.self, SlaPolicyRetire.self]
        )
    }

    /// `crmctl ticket …`.
    struct Ticket: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Open, answer and look up support tickets.",
            subcommands: [
                TicketOpen.self, TicketReply.self, TicketSetStatus.self, TicketSetPriority.self, TicketTag.self,
                TicketAssign.self, TicketSetType.self, TicketGet.self, TicketList.self, TicketHistory.self,
            ]
        )
    }

    /// `crmctl sla …`.
    struct Sla: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "SLA clocks, the on-call breach view and reports.",
            subcommands: [SlaTicket.self, SlaBreaching.self, SlaReport.self]
        )
    }
}

// MARK: - Parsing helpers

/// Command-line syntax of the service commands.
enum ServiceParsing {
    static let weekdays = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

    /// `DAY[-DAY]=HH:MM-HH:MM[,HH:MM-HH:MM…]` entries → the `hours` object (later entries for a day
    /// replace earlier ones).
    static func hours(_ entries: [String]) throws -> JSON {
        var hours: [String: JSON] = [:]
        for entry in entries {
            let (days, spans) = try ParamParsing.keyValue(entry, option: "--hours")
            let range = days.lowercased().split(separator: "-").map(String.init)
            guard let first = range.first.flatMap({ Self.weekdays.firstIndex(of: $0) }),
                let last = range.last.flatMap({ Self.weekdays.firstIndex(of: $0) }), range.count <= 2, first <= last
            else {
                throw ValidationError("--hours \(entry): days are mon…sun or a range such as mon-fri")
            }
            var intervals: [JSON] = []
            for span in spans.split(separator: ",") where !span.isEmpty {
                let ends = span.split(separator: "-").map(String.init)
                guard ends.count == 2 else {
                    throw ValidationError("--hours \(entry): intervals are HH:MM-HH:MM, separated by commas")
                }
                intervals.append(.strings(ends))
            }
            for day in first...last { hours[Self.weekdays[day]] = .array(intervals) }
        }
        return .object(hours)
    }

    /// `YYYY-MM-DD[=name]` entries → the `holidays` array.
    static func holidays(_ entries: [String]) -> JSON {
        .array(
            entries.map { entry in
                if let equals = entry.firstIndex(of: "=") {
                    return [
                        "date": .string(String(entry[..<equals])),
                        "name": .string(String(entry[entry.index(after: equals)...])),
                    ]
                }
                return ["date": .string(entry)]
            }
        )
    }

    /// `METRIC:PRIORITY:MINUTES[:business|calendar][:pause=STATUS+STATUS]` → one target.
    static func target(_ text: String) throws -> JSON {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 3, let minutes = Int64(parts[2]) else {
            throw ValidationError(
                "--target \(text): expected METRIC:PRIORITY:MINUTES[:business|calendar][:pause=STATUS+STATUS]"
            )
        }
        var target: [String: JSON] = [
            "metric": .string(parts[0]), "priority": .string(parts[1]), "minutes": .int(minutes),
        ]
        for extra in parts.dropFirst(3) {
            switch extra {
            case "business", "bh": target["business_hours"] = true
            case "calendar", "cal": target["business_hours"] = false
            case let pause where pause.hasPrefix("pause="):
                let statuses = pause.dropFirst("pause=".count).split(separator: "+").map(String.init)
                target["pause_on"] = .strings(statuses)
            default:
                throw ValidationError("--target \(text): unknown part \"\(extra)\"")
            }
        }
        return .object(target)
    }
}

// MARK: - Rendering

/// Readable output of the service queries.
enum ServiceOutput {
    /// A timestamp shortened for tables: `2025-03-10 08:30Z`.
    static func time(_ value: JSON?) -> String {
        guard let text = value?.stringValue, text.count >= 16 else { return "-" }
        return String(text.prefix(10)) + " " + String(text.dropFirst(11).prefix(5)) + "Z"
    }

    /// Minutes as `1d 2h 5m` (negative with a leading `-`).
    static func duration(_ minutes: Int64?) -> String {
        guard let minutes else { return "-" }
        let sign = minutes < 0 ? "-" : ""
        var rest = abs(minutes)
        var parts: [String] = []
        if rest >= 1440 {
            parts.append("\(rest / 1440)d")
            rest %= 1440
        }
        if rest >= 60 {
            parts.append("\(rest / 60)h")
            rest %= 60
        }
        if rest > 0 || parts.isEmpty { parts.append("\(rest)m") }
        return sign + parts.joined(separator: " ")
    }

    /// A rate 0…1 as a percentage.
    static func percent(_ value: JSON?) -> String {
        guard let rate = value?.doubleValue else { return "-" }
        let tenths = (rate * 1000).rounded() / 10
        return "\(tenths)%"
    }

    /// `sla.ticket`: a header and one row per target instance.
    static func slaTicket(_ result: JSON) -> String {
        let policy = Output.nonNull(result["policy"])
        var lines = Output.labelled([
            ("ticket", [Output.plain(result["ticket_id"])]),
            ("status", [Output.plain(result["status"]) + ", priority " + Output.plain(result["priority"])]),
            (
                "policy",
                [policy.map { "\(Output.plain($0["policy_id"])) v\(Output.plain($0["version"]))" } ?? "none"]
            ),
            ("sla", [Output.plain(result["sla_status"])]),
            ("next breach", [ServiceOutput.time(result["next_breach_at"])]),
            ("at", [ServiceOutput.time(result["at"]) + Output.asOfPosition(result)]),
        ])
        let targets = result["targets"]?.arrayValue ?? []
        if !targets.isEmpty {
            lines.append("")
            let rows = targets.map { target -> [String] in
                [
                    Output.plain(target["metric"])
                        + (target["instance"]?.intValue.map { $0 > 1 ? " #\($0)" : "" } ?? ""),
                    ServiceOutput.duration(target["target_minutes"]?.intValue)
                        + (target["business_hours"]?.boolValue == true ? " (bh)" : ""),
                    Output.plain(target["state"]) + (target["breached"]?.boolValue == true ? ", breached" : ""),
                    ServiceOutput.duration(target["elapsed_minutes"]?.intValue),
                    ServiceOutput.time(target["deadline"]),
                    ServiceOutput.time(target["breached_at"]),
                    ServiceOutput.duration(target["diff_minutes"]?.intValue),
                ]
            }
            lines += Output.table(["METRIC", "TARGET", "STATE", "ELAPSED", "DEADLINE", "BREACHED AT", "DIFF"], rows)
        }
        return lines.joined(separator: "\n")
    }

    /// `sla.breaching`: the on-call table, soonest first.
    static func breaching(_ result: JSON) -> String {
        let tickets = result["tickets"]?.arrayValue ?? []
        let window = Output.plain(result["within_minutes"])
        guard !tickets.isEmpty else {
            return "no ticket breaches within \(window) minutes of \(ServiceOutput.time(result["at"]))"
        }
        let rows = tickets.map { ticket -> [String] in
            [
                ServiceOutput.time(ticket["next_breach_at"]), ServiceOutput.duration(ticket["minutes_left"]?.intValue),
                Output.plain(ticket["ticket_id"]), Output.plain(ticket["priority"]), Output.plain(ticket["status"]),
                Output.plain(ticket["metric"]), Output.plain(ticket["policy"]?["policy_id"]),
                Output.plain(ticket["subject"]),
            ]
        }
        var lines = Output.table(
            ["BREACH AT", "LEFT", "TICKET", "PRIORITY", "STATUS", "METRIC", "POLICY", "SUBJECT"],
            rows
        )
        let total = result["total"]?.intValue ?? Int64(tickets.count)
        if total > Int64(tickets.count) { lines.append("(\(tickets.count) of \(total) shown; raise --limit)") }
        return lines.joined(separator: "\n")
    }

    /// `sla.report`: one row per group, then the elapsed-time distribution per metric.
    static func report(_ result: JSON) -> String {
        let groupBy = result["group_by"]?.arrayValue?.compactMap(\.stringValue) ?? []
        var groups = result["groups"]?.arrayValue ?? []
        if groupBy.isEmpty, let totals = result["totals"] { groups = [totals] }
        let headers =
            groupBy.map { $0.uppercased() } + [
                "COMPLETED", "ACHIEVED", "BREACHED", "ACHIEVEMENT", "TICKETS", "HIT RATE", "ACTIVE AT TO",
                "BREACHED AT TO",
            ]
        let rows = groups.map { group -> [String] in
            groupBy.map { Output.plain(group["key"]?[$0]) } + [
                Output.plain(group["completed"]), Output.plain(group["achieved"]), Output.plain(group["breached"]),
                ServiceOutput.percent(group["achievement_rate"]), Output.plain(group["tickets_with_sla"]),
                ServiceOutput.percent(group["hit_rate"]), Output.plain(group["active_at_to"]),
                Output.plain(group["active_breached_at_to"]),
            ]
        }
        var lines = [
            "SLA report \(ServiceOutput.time(result["from"])) – \(ServiceOutput.time(result["to"]))"
                + Output.asOfPosition(result), "",
        ]
        lines += Output.table(headers, rows)
        let distribution = result["totals"]?["elapsed_minutes"]?.objectValue ?? [:]
        if !distribution.isEmpty {
            lines.append("")
            let metricRows = distribution.keys.sorted().map { metric -> [String] in
                let values = distribution[metric]!
                return [
                    metric, Output.plain(values["count"]), Output.plain(values["avg"]), Output.plain(values["median"]),
                    Output.plain(values["p90"]),
                ]
            }
            lines += Output.table(["METRIC (minutes)", "COUNT", "AVG", "MEDIAN", "P90"], metricRows)
        }
        return lines.joined(separator: "\n")
    }

    /// `ticket.get`: labelled fields.
    static func ticket(_ result: JSON) -> String {
        let policy = Output.nonNull(result["policy"])
        let tags = result["tags"]?.arrayValue?.compactMap(\.stringValue) ?? []
        return Output.labelled([
            ("ticket", [Output.plain(result["ticket_id"])]),
            ("subject", [Output.plain(result["subject"])]),
            ("customer", [Output.plain(result["customer_id"])]),
            (
                "status",
                [
                    "\(Output.plain(result["status"])), priority \(Output.plain(result["priority"])), "
                        + "via \(Output.plain(result["channel"]))"
                ]
            ),
            ("tags", [tags.isEmpty ? "-" : tags.joined(separator: ", ")]),
            ("messages", [Output.plain(result["message_count"])]),
            ("created", [Output.plain(result["created_at"])]),
            ("updated", [Output.plain(result["updated_at"])]),
            ("policy", [policy.map { "\(Output.plain($0["policy_id"])) v\(Output.plain($0["version"]))" } ?? "none"]),
            (
                "sla",
                [Output.plain(result["sla_status"]) + ", next breach " + ServiceOutput.time(result["next_breach_at"])]
            ),
        ]).joined(separator: "\n")
    }

    /// `ticket.list`: a table and the next-page hint.
    static func ticketList(_ result: JSON) -> String {
        let tickets = result["tickets"]?.arrayValue ?? []
        guard !tickets.isEmpty else { return "no tickets" }
        let rows = tickets.map { ticket -> [String] in
            [
                Output.plain(ticket["ticket_id"]), Output.plain(ticket["status"]), Output.plain(ticket["priority"]),
                Output.plain(ticket["customer_id"]), Output.plain(ticket["sla_status"]),
                ServiceOutput.time(ticket["next_breach_at"]), Output.plain(ticket["subject"]),
            ]
        }
        var lines = Output.table(["TICKET", "STATUS", "PRIORITY", "CUSTOMER", "SLA", "NEXT BREACH", "SUBJECT"], rows)
        if let next = result["next_after"]?.stringValue { lines.append("more: --after \(next)") }
        return lines.joined(separator: "\n")
    }
}

/// The one-line summary of a ticket command.
private func ticketSummary(_ verb: String, _ result: JSON) -> String {
    Output.commandSummary(noun: "ticket", verb: verb, idKey: "ticket_id", result: result)
}

// MARK: - schedule / sla-policy

/// `crmctl schedule define`.
struct ScheduleDefine: RPCCommand {
    static let configuration = CommandConfiguration(
        commandName: "define",
        abstract: "Define or redefine a business-hours schedule (schedule.define).",
        discussion: """
            Every definition appends a new version; tickets keep the version their SLA was applied with.

            Example:
              crmctl schedule define eu --name "EU office" --timezone Europe/Berlin \\
                --hours mon-fri=09:00-17:00 --holiday 2025-12-25=Christmas \\
                --holiday 2025-12-26
            """
    )

    @Argument(help: "Id of the schedule.")
    var scheduleID: String

    @Option(help: ArgumentHelp("Name of the schedule.", valueName: "name"))
    var name: String

    @Option(help: ArgumentHelp("IANA time zone, e.g. Europe/Berlin.", valueName: "zone"))
    var timezone: String

    @Option(
        name: .customLong("hours"),
        help: ArgumentHelp(
            "Open hours as DAY[-DAY]=HH:MM-HH:MM[,HH:MM-HH:MM] (days mon…sun; 24:00 ends a day); repeatable.",
            valueName: "hours"
        )
    )
    var hours: [String] = []

    @Option(
        name: .customLong("holiday"),
        help: ArgumentHelp("Full-day holiday as YYYY-MM-DD[=name]; repeatable.", valueName: "date")
    )
    var holidays: [String] = []

    @OptionGroup(title: "Command options")
    var common: CommandOptions

    @OptionGroup(title: "Global options")
    var global: GlobalOptions

    var method: String { "schedule.define" }

    func params() throws -> JSON? {
        var params: [String: JSON] = [
            "schedule_id": .string(self.scheduleID), "name": .string(self.name), "timezone": .string(self.timezone),
            "hours": try ServiceParsing.hours(self.hours),
        ]
        if !self.holidays.isEmpty { params["holidays"] = ServiceParsing.holidays(self.holidays) }
        try self.common.apply(to: &params)
        return .object(params)
    }

    func render(_ result: JSON) -> String {
        Output.commandSummary(noun: "schedule", verb: "defined", idKey: "schedule_id", result: result)
            + " version \(Output.plain(result["version"]))"
    }
}

/// `crmctl sla-policy define`.
struct SlaPolicyDefine: RPCCommand {
    static let configuration = CommandConfiguration(
        commandName: "define",
        abstract: "Define or redefine an SLA policy (sla_policy.define).",
        discussion: """
            Policies are tried by --position; the first whose conditions (--tier, --channel, --tag-any) all \
            match wins, and a policy without conditions is the fallback. Targets are \
            METRIC:PRIORITY:MINUTES[:business|calendar][:pause=STATUS+STATUS], metrics first_reply_time, \
            next_reply_time, requester_wait_time, agent_work_time, total_resolution_time.

            Example:
              crmctl sla-policy define gold --name Gold --position 0 --tier gold \\
                --schedule eu \\
                --target first_reply_time:normal:240:business \\
                --target requester_wait_time:normal:960:business:pause=pending
            """
    )

    @Argument(help: "Id of the policy.")
    var policyID: String

    @Option(help: ArgumentHelp("Name of the policy.", valueName: "name"))
    var name: String

    @Option(help: ArgumentHelp("Order among policies, 0 first.", valueName: "n"))
    var position: Int64

    @Option(name: .customLong("schedule"), help: ArgumentHelp("Schedule of business-hours targets.", valueName: "id"))
    var scheduleID: String?

    @Option(
        name: .customLong("tier"),
        help: ArgumentHelp("Match customers of this tier; repeatable.", valueName: "tier")
    )
    var tiers: [String] = []

    @Option(name: .customLong("channel"), help: ArgumentHelp("Match this channel; repeatable.", valueName: "channel"))
    var channels: [String] = []

    @Option(
        name: .customLong("tag-any"),
        help: ArgumentHelp("Match tickets with any of these tags; repeatable.", valueName: "tag")
    )
    var tagsAny: [String] = []

    @Option(name: .customLong("target"), help: ArgumentHelp("A target (see above); repeatable.", valueName: "target"))
    var targets: [String] = []

    @OptionGroup(title: "Command options")
    var common: CommandOptions

    @OptionGroup(title: "Global options")
    var global: GlobalOptions

    var method: String { "sla_policy.define" }

    func params() throws -> JSON? {
        var params: [String: JSON] = [
            "policy_id": .string(self.policyID), "name": .string(self.name), "position": .int(self.position),
            "targets": .array(try self.targets.map(ServiceParsing.target)),
        ]
        var match: [String: JSON] = [:]
        if !self.tiers.isEmpty { match["tiers"] = .strings(self.tiers) }
        if !self.channels.isEmpty { match["channels"] = .strings(self.channels) }
        if !self.tagsAny.isEmpty { match["tags_any"] = .strings(self.tagsAny) }
        if !match.isEmpty { params["match"] = .object(match) }
        if let id = self.scheduleID { params["schedule_id"] = .string(id) }
        try self.common.apply(to: &params)
        return .object(params)
    }

    func render(_ result: JSON) -> String {
        Output.commandSummary(noun: "policy", verb: "defined", idKey: "policy_id", result: result)
            + " version \(Output.plain(result["version"]))"
    }
}

/// `crmctl sla-policy retire`.
struct SlaPolicyRetire: RPCCommand {
    static let configuration = CommandConfiguration(
        commandName: "retire",
        abstract: "Retire an SLA policy: it stops matching; tickets under it keep their targets (sla_policy.retire)."
    )

    @Argument(help: "Id of the policy.")
    var policyID: String

    @OptionGroup(title: "Command options")
    var common: CommandOptions

    @OptionGroup(title: "Global options")
    var global: GlobalOptions

    var method: String { "sla_policy.retire" }

    func params() throws -> JSON? {
        var params: [String: JSON] = ["policy_id": .string(self.policyID)]
        try self.common.apply(to: &params)
        return .object(params)
    }

    func render(_ result: JSON) -> String {
        Output.commandSummary(noun: "policy", verb: "retired", idKey: "policy_id", result: result)
    }
}

// MARK: - ticket

/// `crmctl ticket open`.
struct TicketOpen: RPCCommand {
    static let configuration = CommandConfiguration(
        commandName: "open",
        abstract: "Open a ticket (ticket.open).",
        discussion: """
            Example:
              crmctl ticket open --customer c1 --subject "Login fails" --channel email \\
                --priority high --message "I cannot log in"
            """
    )

    @Option(
        name: .customLong("ticket-id"),
        help: ArgumentHelp("Id of the ticket (default: generated).", valueName: "id")
    )
    var ticketID: String?

    @Option(name: .customLong("customer"), help: ArgumentHelp("Customer id.", valueName: "id"))
    var customerID: String

    @Option(help: ArgumentHelp("Subject (at most 255 characters).", valueName: "text"))
    var subject: String

    @Option(help: ArgumentHelp("email, chat, phone, web or api.", valueName: "channel"))
    var channel: String

    @Option(help: ArgumentHelp("low, normal (default), high or urgent.", valueName: "priority"))
    var priority: String?

    @Option(help: ArgumentHelp("customer (default) or agent.", valueName: "who"))
    var createdBy: String?

    @Option(help: ArgumentHelp("Body of the first message.", valueName: "text"))
    var message: String?

    @Flag(name: .customLong("internal"), help: "The first message is internal (agents only).")
    var isInternal = false

    @Option(name: .customLong("tag"), help: ArgumentHelp("Tag; repeatable.", valueName: "tag"))
    var tags: [String] = []

    @Option(
        name: .customLong("type"),
        help: ArgumentHelp("question, incident, problem, task or complaint.", valueName: "type")
    )
    var ticketType: String?

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

    var method: String { "ticket.open" }

    func params() throws -> JSON? {
        var params: [String: JSON] = [
            "customer_id": .string(self.customerID), "subject": .string(self.subject), "channel": .string(self.channel),
        ]
        if let id = self.ticketID { params["ticket_id"] = .string(id) }
        if let priority = self.priority { params["priority"] = .string(priority) }
        if let who = self.createdBy { params["created_by"] = .string(who) }
        if let body = self.message {
            params["first_message"] = ["body": .string(body), "public": .bool(!self.isInternal)]
        }
        if !self.tags.isEmpty { params["tags"] = .strings(self.tags) }
        if let type = self.ticketType { params["type"] = .string(type) }
        if let category = self.category { params["category"] = .string(category) }
        try self.common.apply(to: &params)
        return .object(params)
    }

    func render(_ result: JSON) -> String { ticketSummary("opened", result) }
}

/// `crmctl ticket reply`.
struct TicketReply: RPCCommand {
    static let configuration = CommandConfiguration(
        commandName: "reply",
        abstract: "Add a message to a ticket (ticket.reply).",
        discussion: """
            An agent's public reply opens a new ticket; a customer's message reopens a pending, on-hold \
            or solved one. --set-status chooses the status explicitly ("submit as").

            Example:
              crmctl ticket reply T1 --author agent --body "Fixed, please retry" \\
                --set-status solved
            """
    )

    @Argument(help: "Id of the ticket.")
    var ticketID: String

    @Option(help: ArgumentHelp("customer or agent.", valueName: "who"))
    var author: String

    @Option(help: ArgumentHelp("Id of the author (e.g. the agent).", valueName: "id"))
    var authorID: String?

    @Option(help: ArgumentHelp("Message body.", valueName: "text"))
    var body: String

    @Flag(name: .customLong("internal"), help: "An internal note (agents only); it does not count as a reply.")
    var isInternal = false

    @Option(
        help: ArgumentHelp("Status after the message: open, pending, on_hold, solved, closed.", valueName: "status")
    )
    var setStatus: String?

    @OptionGroup(title: "Command options")
    var common: CommandOptions

    @OptionGroup(title: "Global options")
    var global: GlobalOptions

    var method: String { "ticket.reply" }

    func params() throws -> JSON? {
        var params: [String: JSON] = [
            "ticket_id": .string(self.ticketID), "author": .string(self.author), "body": .string(self.body),
            "public": .bool(!self.isInternal),
        ]
        if let id = self.authorID { params["author_id"] = .string(id) }
        if let status = self.setStatus { params["set_status"] = .string(status) }
        try self.common.apply(to: &params)
        return .object(params)
    }

    func render(_ result: JSON) -> String { ticketSummary("updated", result) }
}

/// `crmctl ticket set-status`.
struct TicketSetStatus: RPCCommand {
    static let configuration = CommandConfiguration(
        commandName: "set-status",
        abstract: "Change a ticket's status (ticket.set_status); closed is final."
    )

    @Argument(help: "Id of the ticket.")
    var ticketID: String

    @Argument(help: "open, pending, on_hold, solved or closed.")
    var status: String

    @Option(help: ArgumentHelp("Why (free text).", valueName: "text"))
    var reason: String?

    @OptionGroup(title: "Command options")
    var common: CommandOptions

    @OptionGroup(title: "Global options")
    var global: GlobalOptions

    var method: String { "ticket.set_status" }

    func params() throws -> JSON? {
        var params: [String: JSON] = ["ticket_id": .string(self.ticketID), "status": .string(self.status)]
        if let reason = self.reason { params["reason"] = .string(reason) }
        try self.common.apply(to: &params)
        return .object(params)
    }

    func render(_ result: JSON) -> String { ticketSummary("updated", result) }
}

/// `crmctl ticket set-priority`.
struct TicketSetPriority: RPCCommand {
    static let configuration = CommandConfiguration(
        commandName: "set-priority",
        abstract: "Change a ticket's priority; its SLA targets follow (ticket.set_priority)."
    )

    @Argument(help: "Id of the ticket.")
    var ticketID: String

    @Argument(help: "low, normal, high or urgent.")
    var priority: String

    @OptionGroup(title: "Command options")
    var common: CommandOptions

    @OptionGroup(title: "Global options")
    var global: GlobalOptions

    var method: String { "ticket.set_priority" }

    func params() throws -> JSON? {
        var params: [String: JSON] = ["ticket_id": .string(self.ticketID), "priority": .string(self.priority)]
        try self.common.apply(to: &params)
        return .object(params)
    }

    func render(_ result: JSON) -> String { ticketSummary("updated", result) }
}

/// `crmctl ticket tag`.
struct TicketTag: RPCCommand {
    static let configuration = CommandConfiguration(
        commandName: "tag",
        abstract: "Add and remove ticket tags (ticket.tag)."
    )

    @Argument(help: "Id of the ticket.")
    var ticketID: String

    @OptionGroup(title: "Tags")
    var tags: TagChangeOptions

    @OptionGroup(title: "Command options")
    var common: CommandOptions

    @OptionGroup(title: "Global options")
    var global: GlobalOptions

    var method: String { "ticket.tag" }

    func params() throws -> JSON? {
        var params: [String: JSON] = ["ticket_id": .string(self.ticketID)]
        self.tags.apply(to: &params)
        try self.common.apply(to: &params)
        return .object(params)
    }

    func render(_ result: JSON) -> String { ticketSummary("tagged", result) }
}

/// `crmctl ticket get`.
struct TicketGet: RPCCommand {
    static let configuration = CommandConfiguration(commandName: "get", abstract: "Show a ticket (ticket.get).")

    @Argument(help: "Id of the ticket.")
    var ticketID: String

    @Option(help: ArgumentHelp("Evaluate the SLA at this business time, RFC 3339 (default: now).", valueName: "time"))
    var at: String?

    @OptionGroup(title: "Global options")
    var global: GlobalOptions

    var method: String { "ticket.get" }

    func params() throws -> JSON? {
        var params: [String: JSON] = ["ticket_id": .string(self.ticketID)]
        if let at = self.at { params["at"] = .string(at) }
        return .object(params)
    }

    func render(_ result: JSON) -> String { ServiceOutput.ticket(result) }
}

/// `crmctl ticket list`.
struct TicketList: RPCCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List tickets in id order (ticket.list)."
    )

    @Option(name: .customLong("customer"), help: ArgumentHelp("Only this customer's tickets.", valueName: "id"))
    var customerID: String?

    @Option(help: ArgumentHelp("Only tickets in this status.", valueName: "status"))
    var status: String?

    @Option(
        help: ArgumentHelp("Most tickets to return, 1 to 200 (default 50).", valueName: "n"),
        transform: ParamParsing.limit(200)
    )
    var limit: Int?

    @Option(help: ArgumentHelp("Continue after this ticket id (from the previous page).", valueName: "id"))
    var after: String?

    @Option(help: ArgumentHelp("Evaluate the SLAs at this business time, RFC 3339 (default: now).", valueName: "time"))
    var at: String?

    @OptionGroup(title: "Global options")
    var global: GlobalOptions

    var method: String { "ticket.list" }

    func params() throws -> JSON? {
        var params: [String: JSON] = [:]
        if let id = self.customerID { params["customer_id"] = .string(id) }
        if let status = self.status { params["status"] = .string(status) }
        if let limit = self.limit { params["limit"] = .int(Int64(limit)) }
        if let after = self.after { params["after"] = .string(after) }
        if let at = self.at { params["at"] = .string(at) }
        return .object(params)
    }

    func render(_ result: JSON) -> String { ServiceOutput.ticketList(result) }
}

/// `crmctl ticket history`.
struct TicketHistory: RPCCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "Show every change to a ticket with its actor and time (ticket.history, audit role).",
        discussion: """
            Example:
              crmctl ticket history ID
            """
    )

    @Argument(help: "Id of the ticket.")
    var ticketID: String

    @OptionGroup(title: "Global options")
    var global: GlobalOptions

    var method: String { "ticket.history" }

    func params() throws -> JSON? { ["ticket_id": .string(self.ticketID)] }

    func render(_ result: JSON) -> String { Output.history(result) }
}

// MARK: - sla

/// `crmctl sla ticket`.
struct SlaTicket: RPCCommand {
    static let configuration = CommandConfiguration(
        commandName: "ticket",
        abstract: "Show a ticket's SLA targets, clocks and deadlines (sla.ticket).",
        discussion: """
            Answers from the ticket's own history; replies and status, priority, tag or policy changes \
            after the chosen point do not show, and a ticket without events by then is not found.

            --at T (business time, RFC 3339) takes the ticket's events whose business time is at or \
            before T and evaluates the clocks at T.

            --as-of answers as crmd knew it at an earlier point of the log: a position P (all digits, \
            capped at the head) or an RFC 3339 time (the last event crmd recorded at or before it). The \
            ticket's events up to that point count; the clocks run to --at if given, else to the \
            --as-of time, or for a position to the business time of the event at P.

            Examples:
              crmctl sla ticket t1 --at 2025-03-10T08:00:00Z
              crmctl sla ticket t1 --as-of 1200
            """
    )

    @Argument(help: "Id of the ticket.")
    var ticketID: String

    @Option(
        help: ArgumentHelp("Evaluate the clocks at this business time, RFC 3339 (default: now).", valueName: "time")
    )
    var at: String?

    @Option(
        help: ArgumentHelp(
            "Answer as crmd knew it at this log position or recorded RFC 3339 time (default: now).",
            valueName: "position|time"
        ),
        transform: ParamParsing.asOf
    )
    var asOf: JSON?

    @OptionGroup(title: "Global options")
    var global: GlobalOptions

    var method: String { "sla.ticket" }

    func params() throws -> JSON? {
        var params: [String: JSON] = ["ticket_id": .string(self.ticketID)]
        if let at = self.at { params["at"] = .string(at) }
        if let asOf = self.asOf { params["as_of"] = asOf }
        return .object(params)
    }

    func render(_ result: JSON) -> String { ServiceOutput.slaTicket(result) }
}

/// `crmctl sla breaching`.
struct SlaBreaching: RPCCommand {
    static let configuration = CommandConfiguration(
        commandName: "breaching",
        abstract: "Tickets whose next SLA breach falls within a window, soonest first (sla.breaching).",
        discussion: """
            Example:
              crmctl sla breaching --within 120
            """
    )

    @Option(name: .customLong("within"), help: ArgumentHelp("Window in minutes (default 60).", valueName: "minutes"))
    var withinMinutes: Int64?

    @Option(help: ArgumentHelp("Evaluate at this business time, RFC 3339 (default: now).", valueName: "time"))
    var at: String?

    @Option(
        help: ArgumentHelp("Most tickets to return, 1 to 200 (default 50).", valueName: "n"),
        transform: ParamParsing.limit(200)
    )
    var limit: Int?

    @OptionGroup(title: "Global options")
    var global: GlobalOptions

    var method: String { "sla.breaching" }

    func params() throws -> JSON? {
        var params: [String: JSON] = [:]
        if let minutes = self.withinMinutes { params["within_minutes"] = .int(minutes) }
        if let at = self.at { params["at"] = .string(at) }
        if let limit = self.limit { params["limit"] = .int(Int64(limit)) }
        return .object(params)
    }

    func render(_ result: JSON) -> String { ServiceOutput.breaching(result) }
}

/// `crmctl sla report`.
struct SlaReport: RPCCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "SLA achievement and hit rates over a time range (sla.report).",
        discussion: """
            Counts target instances completed in [--from, --to); groups by policy, priority, metric, \
            channel, owner or tier.

            --as-of gives the report as crmd gave it at an earlier point of the log: a position (all \
            digits; the events up to it) or an RFC 3339 time (the events up to the last one recorded \
            at or before it: the daemon's recorded_at, not the business time at). Clocks are still \
            evaluated at --to, and --from/--to still choose business times. It costs one pass over the \
            log up to the point.

            Examples:
              crmctl sla report --from 2025-03-01T00:00:00Z --to 2025-04-01T00:00:00Z \\
                --group-by policy
              crmctl sla report --from 2025-03-01T00:00:00Z --to 2025-04-01T00:00:00Z \\
                --as-of 1200
            """
    )

    @Option(help: ArgumentHelp("Start of the range, RFC 3339.", valueName: "time"))
    var from: String

    @Option(help: ArgumentHelp("End of the range (exclusive), RFC 3339.", valueName: "time"))
    var to: String

    @Option(
        name: .customLong("group-by"),
        help: ArgumentHelp("policy, priority, metric, channel, owner or tier; repeatable.", valueName: "field")
    )
    var groupBy: [String] = []

    @Option(help: .reportAsOf, transform: ParamParsing.asOf)
    var asOf: JSON?

    @OptionGroup(title: "Global options")
    var global: GlobalOptions

    var method: String { "sla.report" }

    func params() throws -> JSON? {
        var params: [String: JSON] = ["from": .string(self.from), "to": .string(self.to)]
        if !self.groupBy.isEmpty { params["group_by"] = .strings(self.groupBy) }
        if let asOf = self.asOf { params["as_of"] = asOf }
        return .object(params)
    }

    func render(_ result: JSON) -> String { ServiceOutput.report(result) }
}
