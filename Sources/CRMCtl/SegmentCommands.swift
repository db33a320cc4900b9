import ArgumentParser
import CRMDomain
import CRMJSON
import CRMProtocol
import Foundation

/// `crmctl segment …`: saved filters over customers' non-personal fields, and who was in them when.
enum SegmentSubcommands {
    /// Top-level command groups added to `crmctl`.
    static let groups: [any ParsableCommand.Type] = [SegmentGroup.self]
}

/// `crmctl segment …`.
struct SegmentGroup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "segment",
        abstract: "Define segments of customers and see who was in them, and when.",
        subcommands: [Define.self, Retire.self, Members.self, History.self, Preview.self, Get.self, List.self]
    )
}

// MARK: - Parsing helpers

/// Command-line syntax of the segment commands: `--where FIELD OP [VALUE]` conditions.
enum SegmentParsing {
    /// Operators whose value is a list: a `--where` value with commas is split into one.
    static let listOperators: Set<String> = ["in", "not_in", "has_any", "has_all", "has_none"]

    /// Operators that take no value.
    static let valuelessOperators: Set<String> = ["is_set", "is_not_set"]

    /// Operators whose value is always an id, even when it is all digits.
    static let idOperators: Set<String> = ["member_of", "not_member_of"]

    /// One `--where` argument as a filter condition `{"field", "op", "value"}`.
    ///
    /// The text is `FIELD OP [VALUE]`, separated by spaces; the value is the rest of the text, so it
    /// may hold spaces itself. The value of a list operator is split at commas into a list of strings
    /// (`has_any vip,beta` → `["vip","beta"]`). Otherwise an integer becomes a JSON number, `true` and
    /// `false` booleans, and anything else a string; a value in double quotes is read as a JSON string
    /// (`eq "42"` → `"42"`), and one in brackets as a JSON list. Whether the field and the operator
    /// exist is left to crmd, which names the condition in its `invalid_filter` error.
    static func condition(_ text: String) throws -> JSON {
        let example = "e.g. --where 'tier eq gold' or --where 'owner_id is_set'"
        var rest = Substring(text)
        func word() -> String? {
            rest = rest.drop { $0.isWhitespace }
            let token = rest.prefix { !$0.isWhitespace }
            rest = rest.dropFirst(token.count)
            return token.isEmpty ? nil : String(token)
        }
        guard let field = word(), let op = word() else {
            throw ValidationError("--where '\(text)': expected FIELD OP [VALUE], \(example)")
        }
        let value = String(rest).trimmingWhitespace
        var condition: [String: JSON] = ["field": .string(field), "op": .string(op)]
        if SegmentParsing.valuelessOperators.contains(op) {
            guard value.isEmpty else { throw ValidationError("--where '\(text)': \(op) takes no value") }
            return .object(condition)
        }
        guard !value.isEmpty else {
            throw ValidationError("--where '\(text)': \(field) \(op) needs a value, \(example)")
        }
        condition["value"] = try SegmentParsing.value(value, op: op, condition: text)
        return .object(condition)
    }

    /// The JSON value of a `--where` condition with operator `op` (see ``condition(_:)``).
    static func value(_ text: String, op: String, condition: String) throws -> JSON {
        if text.hasPrefix("\"") || text.hasPrefix("[") {
            guard let parsed = try? JSON.parse(text), parsed.stringValue != nil || parsed.arrayValue != nil else {
                throw ValidationError("--where '\(condition)': \(text) is not a JSON string or list")
            }
            return parsed
        }
        if SegmentParsing.listOperators.contains(op) {
            let items = text.split(separator: ",").map { String($0).trimmingWhitespace }.filter { !$0.isEmpty }
            guard !items.isEmpty else {
                throw ValidationError("--where '\(condition)': \(op) needs a comma-separated list")
            }
            return .strings(items)
        }
        if SegmentParsing.idOperators.contains(op) { return .string(text) }
        switch text {
        case "true": return .bool(true)
        case "false": return .bool(false)
        default: return Int64(text).map(JSON.int) ?? .string(text)
        }
    }

    /// `--where` conditions as one AND group, `{"all": […]}`.
    static func filter(_ conditions: [String]) throws -> JSON {
        ["all": .array(try conditions.map(SegmentParsing.condition))]
    }

    /// A filter given as JSON text (by `source`, e.g. `--filter`): it must be a JSON object.
    static func filterObject(_ text: String, source: String) throws -> JSON {
        let value: JSON
        do {
            value = try JSON.parse(text.trimmingWhitespace)
        } catch {
            throw ValidationError("\(source) is not valid JSON: \(error)")
        }
        guard case .object = value else {
            throw ValidationError("\(source) must be a JSON object such as {\"all\":[…]}, got \(value.typeName)")
        }
        return value
    }
}

/// `--filter`, `--filter-file` and `--where` of `segment define` and `segment preview`: exactly one.
struct SegmentFilterOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "The filter as JSON: {\"any\":[{\"all\":[CONDITION…]}…]} or {\"all\":[CONDITION…]}.",
            valueName: "json"
        )
    )
    var filter: String?

    @Option(help: ArgumentHelp("A file holding the filter as JSON.", valueName: "path"))
    var filterFile: String?

    @Option(
        name: .customLong("where"),
        help: ArgumentHelp(
            "A condition FIELD OP [VALUE] in one argument, e.g. 'tier eq gold'; repeatable, all must hold.",
            valueName: "condition"
        )
    )
    var conditions: [String] = []

    func validate() throws {
        let given = [
            self.filter.map { _ in "--filter" }, self.filterFile.map { _ in "--filter-file" },
            self.conditions.isEmpty ? nil : "--where",
        ].compactMap { $0 }
        if given.isEmpty {
            throw ValidationError("give the filter: --filter JSON, --filter-file PATH or --where CONDITION")
        }
        if given.count > 1 {
            throw ValidationError(
                "give the filter one way: --filter, --filter-file or --where, not \(given.joined(separator: " and "))"
            )
        }
        if let text = self.filter { _ = try SegmentParsing.filterObject(text, source: "--filter") }
        for condition in self.conditions { _ = try SegmentParsing.condition(condition) }
    }

    /// The `filter` param, reading `--filter-file` if given.
    func json() throws -> JSON {
        if let text = self.filter { return try SegmentParsing.filterObject(text, source: "--filter") }
        if let path = self.filterFile {
            let text: String
            do {
                text = try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                throw ValidationError("cannot read \(path): \(error.localizedDescription)")
            }
            return try SegmentParsing.filterObject(text, source: path)
        }
        return try SegmentParsing.filter(self.conditions)
    }

    /// crmd's error lines, with the `--where` condition an `invalid_filter` error points at
    /// (`details.path` `filter.all[1].op` is the second `--where`).
    func errorLines(_ error: RPCError) -> [String] {
        var lines = Output.errorLines(error)
        guard error.reason == "invalid_filter", !self.conditions.isEmpty,
            let path = error.data?["details"]?["path"]?.stringValue, path.hasPrefix("filter.all[")
        else { return lines }
        let index = path.dropFirst("filter.all[".count).prefix { $0 != "]" }
        if let index = Int(index), self.conditions.indices.contains(index) {
            lines.append("  condition: --where '\(self.conditions[index])'")
        }
        return lines
    }
}

extension ArgumentHelp {
    /// The help of `--as-of` on `segment members` and `segment preview`.
    static var segmentAsOf: ArgumentHelp {
        ArgumentHelp(
            "The instant asked about: YYYY-MM-DD (midnight UTC) or an RFC 3339 time (default: now).",
            valueName: "date|time"
        )
    }
}

// MARK: - define / retire

extension SegmentGroup {
    /// `crmctl segment define`.
    struct Define: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "Define a segment, or a new version of one (segment.define).",
            discussion: """
                A segment is a saved filter over customers' non-personal fields; crmd keeps who was \
                in it at every instant from its definition on. Defining a segment again makes a new \
                version, which ends the previous one at that instant.

                Give the filter one way: as JSON with --filter or --filter-file (an OR of AND \
                groups, see docs/protocol/marketing.md), or as conditions that must all hold, one \
                --where FIELD OP [VALUE] each. In a --where value, an integer is sent as a number, \
                true and false as booleans, a comma-separated list as a list for in, not_in, \
                has_any, has_all and has_none, anything else as a string ("42" in double quotes \
                stays a string). When crmd refuses the filter (invalid_filter), it names the path \
                of the faulty part and why, and crmctl shows the --where it comes from.

                Examples:
                  crmctl segment define lapsing_gold --name "Lapsing gold" \\
                    --where 'tier eq gold' \\
                    --where 'value.last_order_date more_than_days_ago 60'
                  crmctl segment define vip --name VIP --where 'tags has_any vip,beta'
                  crmctl segment define owned --name Owned --where 'owner_id is_set'
                  crmctl segment define big --name "Big spenders" --filter-file big.json
                """
        )

        @Argument(help: ArgumentHelp("Id of the segment.", valueName: "segment-id"))
        var segmentID: String

        @Option(help: ArgumentHelp("Name of the segment, up to 100 characters.", valueName: "name"))
        var name: String

        @Option(help: ArgumentHelp("What the segment is for, up to 255 characters.", valueName: "text"))
        var description: String?

        @OptionGroup(title: "Filter (exactly one of)")
        var selection: SegmentFilterOptions

        @OptionGroup(title: "Command options")
        var common: CommandOptions

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "segment.define" }

        func params() throws -> JSON? {
            var params: [String: JSON] = [
                "segment_id": .string(self.segmentID), "name": .string(self.name),
                "filter": try self.selection.json(),
            ]
            if let description = self.description { params["description"] = .string(description) }
            try self.common.apply(to: &params)
            return .object(params)
        }

        func render(_ result: JSON) -> String {
            Output.commandSummary(noun: "segment", verb: "defined", idKey: "segment_id", result: result)
                + " version \(Output.plain(result["version"]))"
        }

        func errorLines(_ error: RPCError) -> [String] { self.selection.errorLines(error) }
    }

    /// `crmctl segment retire`.
    struct Retire: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stop maintaining a segment (segment.retire).",
            discussion: """
                Its members leave it at that instant; its history stays readable. Retiring a \
                retired segment writes nothing; defining it again starts a new version.

                Example:
                  crmctl segment retire lapsing_gold
                """
        )

        @Argument(help: ArgumentHelp("Id of the segment.", valueName: "segment-id"))
        var segmentID: String

        @OptionGroup(title: "Command options")
        var common: CommandOptions

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "segment.retire" }

        func params() throws -> JSON? {
            var params: [String: JSON] = ["segment_id": .string(self.segmentID)]
            try self.common.apply(to: &params)
            return .object(params)
        }

        func render(_ result: JSON) -> String {
            Output.commandSummary(noun: "segment", verb: "retired", idKey: "segment_id", result: result)
        }
    }
}

// MARK: - members / history / preview

extension SegmentGroup {
    /// `crmctl segment members`.
    struct Members: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "The customers in a segment at an instant (segment.members).",
            discussion: """
                Prints a header with the version in force at --as-of and the number of members, \
                then their ids, one a line, in id order. With --current the newest version is \
                evaluated at --as-of instead (what-if), from its definition on. A date alone means \
                midnight UTC.

                Members come in pages of --limit; when more follow, the last line says how to ask \
                for the next page (--cursor, with the same --as-of). --all fetches every page and \
                prints all members; with --json it prints one result holding all of them.

                Examples:
                  crmctl segment members lapsing_gold --as-of 2025-05-01 --all
                  crmctl segment members lapsing_gold --limit 50 --cursor c0042 \\
                    --as-of 2025-05-01T00:00:00Z
                """
        )

        @Argument(help: ArgumentHelp("Id of the segment.", valueName: "segment-id"))
        var segmentID: String

        @Option(help: .segmentAsOf, transform: FeedbackParsing.instant)
        var asOf: String?

        @Flag(help: "Evaluate the newest version at --as-of rather than the version in force then.")
        var current = false

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

        var method: String { "segment.members" }

        func params() throws -> JSON? {
            var params: [String: JSON] = ["segment_id": .string(self.segmentID)]
            if let asOf = self.asOf { params["as_of"] = .string(asOf) }
            if self.current { params["definition"] = "current" }
            if let limit = self.limit ?? (self.all ? 1000 : nil) { params["limit"] = .int(limit) }
            if let cursor = self.cursor { params["cursor"] = .string(cursor) }
            return .object(params)
        }

        /// One page, or with `--all` every page: the later pages ask about the first page's `as_of`,
        /// so all of them describe the same instant even without `--as-of`.
        mutating func run() throws { try self.runPaged(all: self.all) }

        func render(_ result: JSON) -> String { SegmentOutput.members(result) }
    }

    /// `crmctl segment history`.
    struct History: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "When a customer entered and left a segment (segment.history).",
            discussion: """
                One row per interval of membership in every version of the segment, up to now: \
                when the customer entered, when it left (- while still a member) and for how long, \
                with a timeline bar over the span of all intervals.

                Example:
                  crmctl segment history lapsing_gold c0042
                """
        )

        @Argument(help: ArgumentHelp("Id of the segment.", valueName: "segment-id"))
        var segmentID: String

        @Argument(help: ArgumentHelp("Id of the customer.", valueName: "customer-id"))
        var customerID: String

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "segment.history" }

        func params() throws -> JSON? {
            ["segment_id": .string(self.segmentID), "customer_id": .string(self.customerID)]
        }

        func render(_ result: JSON) -> String { SegmentOutput.history(result) }
    }

    /// `crmctl segment preview`.
    struct Preview: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "How many customers a filter selects, without defining it (segment.preview).",
            discussion: """
                Counts the active customers who pass the filter at --as-of and lists the first 20. \
                The filter is given as for segment define and checked the same way. A filter that \
                was never defined has no history: for an --as-of before the last change of some \
                customer crmd folds the log up to that instant again, which takes as long as reading \
                the log that far.

                Examples:
                  crmctl segment preview --where 'tier in gold,platinum'
                  crmctl segment preview --filter-file lapsing.json --as-of 2030-01-01
                """
        )

        @OptionGroup(title: "Filter (exactly one of)")
        var selection: SegmentFilterOptions

        @Option(help: .segmentAsOf, transform: FeedbackParsing.instant)
        var asOf: String?

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "segment.preview" }

        func params() throws -> JSON? {
            var params: [String: JSON] = ["filter": try self.selection.json()]
            if let asOf = self.asOf { params["as_of"] = .string(asOf) }
            return .object(params)
        }

        func render(_ result: JSON) -> String { SegmentOutput.preview(result) }

        func errorLines(_ error: RPCError) -> [String] { self.selection.errorLines(error) }
    }
}

// MARK: - get / list

extension SegmentGroup {
    /// `crmctl segment get`.
    struct Get: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "A segment and every version of its filter (segment.get).",
            discussion: """
                One row per version: its name, when it was defined and ended (- for the version in \
                force) and its filter as compact JSON.

                Example:
                  crmctl segment get lapsing_gold
                """
        )

        @Argument(help: ArgumentHelp("Id of the segment.", valueName: "segment-id"))
        var segmentID: String

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "segment.get" }

        func params() throws -> JSON? { ["segment_id": .string(self.segmentID)] }

        func render(_ result: JSON) -> String { SegmentOutput.segment(result) }
    }

    /// `crmctl segment list`.
    struct List: RPCCommand {
        static let configuration = CommandConfiguration(
            abstract: "Every segment with its newest version (segment.list).",
            discussion: """
                Example:
                  crmctl segment list
                """
        )

        @OptionGroup(title: "Global options")
        var global: GlobalOptions

        var method: String { "segment.list" }

        func params() throws -> JSON? { nil }

        func render(_ result: JSON) -> String { SegmentOutput.list(result) }
    }
}

// MARK: - Rendering

/// Readable output of the segment queries.
enum SegmentOutput {
    /// Cells of a history timeline bar.
    static let barWidth = 24

    /// A time from crmd (`2025-05-01T00:00:00.000Z`) shortened without losing anything:
    /// `2025-05-01 00:00Z`, `2025-05-10 14:00:30Z` or `2025-05-10 14:00:30.250Z`; `null` as `-`.
    static func time(_ value: JSON?) -> String {
        guard let text = value?.stringValue else { return "-" }
        let characters = Array(text)
        guard characters.count == 24, characters[10] == "T", characters[19] == ".", characters[23] == "Z" else {
            return text
        }
        let seconds = String(characters[17..<19])
        let millis = String(characters[20..<23])
        var short = String(characters[0..<10]) + " " + String(characters[11..<16])
        if seconds != "00" || millis != "000" { short += ":" + seconds }
        if millis != "000" { short += "." + millis }
        return short + "Z"
    }

    /// `1 member`, `3 members`.
    static func counted(_ count: Int64, _ noun: String) -> String { "\(count) \(noun)\(count == 1 ? "" : "s")" }

    /// `segment.members`: a header line, the ids one a line, and how to get the next page.
    static func members(_ result: JSON) -> String {
        var header = "segment \(Output.plain(result["segment_id"])) version \(Output.plain(result["version"]))"
        if result["definition"]?.stringValue == "current" { header += " (current definition)" }
        header += " as of \(SegmentOutput.time(result["as_of"]))"
        if result["retired"]?.boolValue == true { header += " (retired)" }
        if result["cost"] == "replay" { header += " (from the log folded up to then)" }
        return SegmentOutput.page(
            header, result, flags: result["definition"]?.stringValue == "current" ? " --current" : "")
    }

    /// A page of member ids under `header` (completed with the count), and how to ask for the next
    /// page (`flags`: the options besides the cursor and `--as-of` it needs).
    static func page(_ header: String, _ result: JSON, flags: String = "") -> String {
        let members = (result["members"]?.arrayValue ?? []).map(Output.plain)
        var header = header
        if let count = result["count"]?.intValue {
            header += ": " + SegmentOutput.counted(count, "member")
        } else {
            header += ": \(SegmentOutput.counted(Int64(members.count), "member")) on this page"
        }
        var lines = [header] + members
        if let next = Output.nonNull(result["next_cursor"]) {
            lines.append(
                "more: --cursor \(Output.cursorArgument(next)) --as-of \(Output.plain(result["as_of"]))\(flags) (or --all)"
            )
        }
        return lines.joined(separator: "\n")
    }

    /// `segment.history`: one row per interval (version, entered, exited, duration, timeline bar).
    static func history(_ result: JSON) -> String {
        let segment = Output.plain(result["segment_id"])
        let customer = Output.plain(result["customer_id"])
        let intervals = result["intervals"]?.arrayValue ?? []
        guard !intervals.isEmpty else { return "customer \(customer) has never been in segment \(segment)" }
        let spans = intervals.map { interval in
            (
                from: interval["entered_at"]?.stringValue.flatMap(Timestamp.parse),
                to: interval["exited_at"]?.stringValue.flatMap(Timestamp.parse)
            )
        }
        let bars = SegmentOutput.bars(spans)
        let rows = intervals.enumerated().map { index, interval -> [String] in
            let duration = spans[index].from.flatMap { from in
                spans[index].to.map { to in ServiceOutput.duration((to - from) / 60_000) }
            }
            return [
                Output.plain(interval["version"]), SegmentOutput.time(interval["entered_at"]),
                SegmentOutput.time(interval["exited_at"]), duration ?? "-", bars[index],
            ]
        }
        var header =
            "customer \(customer) in segment \(segment): "
            + SegmentOutput.counted(Int64(intervals.count), "interval")
        if intervals.last?["exited_at"]?.isNull == true { header += ", a member now" }
        var lines = [header]
        lines += Output.table(["VERSION", "ENTERED", "EXITED", "FOR", "TIMELINE"], rows).map { "  " + $0 }
        return lines.joined(separator: "\n")
    }

    /// One timeline bar per interval, over the span from the first entry to the last entry or exit:
    /// `█` where the customer was a member, `·` elsewhere, and `→` after an interval still open.
    static func bars(_ spans: [(from: Int64?, to: Int64?)]) -> [String] {
        let instants = spans.flatMap { [$0.from, $0.to] }.compactMap { $0 }
        guard let start = instants.min(), let end = instants.max() else { return spans.map { _ in "" } }
        let width = Int64(SegmentOutput.barWidth)
        let length = max(end - start, 1)
        return spans.map { span in
            guard let from = span.from else { return "" }
            let first = min((from - start) * width / length, width - 1)
            let last = span.to.map { to in
                max(first, min(((to - start) * width + length - 1) / length - 1, width - 1))
            }
            let filled = (first...(last ?? width - 1))
            let cells = (0..<width).map { filled.contains($0) ? "█" : "·" }.joined()
            return cells + (span.to == nil ? "→" : "")
        }
    }

    /// `segment.preview`: the count and the sample, one id a line.
    static func preview(_ result: JSON) -> String {
        let count = result["count"]?.intValue ?? 0
        let sample = (result["sample"]?.arrayValue ?? []).map(Output.plain)
        var lines = [
            "\(count) customer\(count == 1 ? "" : "s") match\(count == 1 ? "es" : "") as of "
                + SegmentOutput.time(result["as_of"])
                + (result["cost"] == "replay" ? " (from the log folded up to then)" : "")
        ]
        lines += sample
        if count > Int64(sample.count) { lines.append("… and \(count - Int64(sample.count)) more") }
        return lines.joined(separator: "\n")
    }

    /// `segment.get`: the segment, then one row per version with its filter as compact JSON.
    static func segment(_ result: JSON) -> String {
        let versions = result["versions"]?.arrayValue ?? []
        var header = "segment \(Output.plain(result["segment_id"])): \(Output.plain(result["name"]))"
        header += " (\(SegmentOutput.counted(Int64(versions.count), "version"))"
        header += result["retired"]?.boolValue == true ? ", retired)" : ")"
        let rows = versions.map { version in
            [
                Output.plain(version["version"]), Output.plain(version["name"]),
                SegmentOutput.time(version["defined_at"]), SegmentOutput.time(version["ended_at"]),
                Output.nonNull(version["filter"])?.serializedString() ?? "-",
            ]
        }
        let table = Output.table(["VERSION", "NAME", "DEFINED", "ENDED", "FILTER"], rows).map { "  " + $0 }
        return ([header] + table).joined(separator: "\n")
    }

    /// `segment.list`: one row per segment.
    static func list(_ result: JSON) -> String {
        let segments = result["segments"]?.arrayValue ?? []
        guard !segments.isEmpty else { return "no segments defined" }
        let rows = segments.map { segment in
            [
                Output.plain(segment["segment_id"]), Output.plain(segment["name"]),
                Output.plain(segment["version"]), SegmentOutput.time(segment["defined_at"]),
                segment["retired"]?.boolValue == true ? "retired" : "active",
            ]
        }
        return Output.table(["SEGMENT", "NAME", "VERSION", "DEFINED", "STATUS"], rows).joined(separator: "\n")
    }
}
