import CRMJSON
import CRMProtocol

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The readable output of crmctl: pure functions from JSON to text, tested without a daemon.
enum Output {
    // MARK: - Errors

    /// Writes `lines` to stderr (file descriptor 2: the C `stderr` global is not concurrency-safe).
    static func printError(_ lines: [String]) {
        var text = lines.map { $0 + "\n" }.joined()
        text.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = write(2, bytes.baseAddress! + offset, bytes.count - offset)
                guard written > 0 else { return }
                offset += written
            }
        }
    }

    /// `crmctl: <message> [<reason>] (field <field>)`, then one indented line per member of
    /// `data.details` (or one line with the details as JSON when they are not an object).
    static func errorLines(_ error: RPCError) -> [String] {
        var first = "crmctl: \(error.message)"
        if let reason = error.reason {
            first += " [\(reason)]"
        } else {
            first += " [error \(error.code)]"
        }
        if let field = error.field { first += " (field \(field))" }
        var lines = [first]
        if let details = error.data?["details"], !details.isNull {
            if case .object(let members) = details {
                for key in members.keys.sorted() {
                    lines.append("  \(key): \(Output.plain(members[key]!))")
                }
            } else {
                lines.append("  details: \(details.serializedString())")
            }
        }
        return lines
    }

    /// `text` cut to at most `limit` characters, with `…` when cut.
    static func clip(_ text: String, _ limit: Int = 200) -> String {
        text.count <= limit ? text : String(text.prefix(limit - 1)) + "…"
    }

    // MARK: - JSON

    /// `value` as indented JSON (two spaces, keys sorted), for everything without a dedicated view.
    static func prettyJSON(_ value: JSON) -> String {
        var out = ""
        Output.writePretty(value, indent: "", into: &out)
        return out
    }

    private static func writePretty(_ value: JSON, indent: String, into out: inout String) {
        let inner = indent + "  "
        switch value {
        case .array(let elements) where !elements.isEmpty:
            out += "[\n"
            for (index, element) in elements.enumerated() {
                out += inner
                Output.writePretty(element, indent: inner, into: &out)
                out += index == elements.count - 1 ? "\n" : ",\n"
            }
            out += indent + "]"
        case .object(let members) where !members.isEmpty:
            out += "{\n"
            let keys = members.keys.sorted()
            for (index, key) in keys.enumerated() {
                out += inner + JSON.string(key).serializedString() + ": "
                Output.writePretty(members[key]!, indent: inner, into: &out)
                out += index == keys.count - 1 ? "\n" : ",\n"
            }
            out += indent + "}"
        default:
            out += value.serializedString()
        }
    }

    /// A value for reading: strings without quotes, `null` as `-`, everything else as compact JSON.
    static func plain(_ value: JSON?) -> String {
        switch value {
        case .none, .null?: return "-"
        case .string(let text)?: return text
        case let other?: return other.serializedString()
        }
    }

    /// The member unless it is absent or JSON `null`. (`JSON` is `ExpressibleByNilLiteral`, so a bare
    /// `nil` in a closure returning `JSON?` would become `.null` rather than `Optional.none`.)
    static func nonNull(_ value: JSON?) -> JSON? {
        guard let value, !value.isNull else { return nil }
        return value
    }

    /// A non-empty string or number member as text, else `nil`.
    static func text(_ value: JSON?) -> String? {
        switch value {
        case .string(let text)? where !text.isEmpty: return text
        case .int(let number)?: return String(number)
        case .double?: return value!.serializedString()
        default: return nil
        }
    }

    // MARK: - Tables and labelled lists

    /// Rows aligned under `headers`, two spaces between columns; the last column is not padded.
    static func table(_ headers: [String], _ rows: [[String]]) -> [String] {
        var widths = headers.map(\.count)
        for row in rows {
            for (column, cell) in row.enumerated() where column < widths.count {
                widths[column] = max(widths[column], cell.count)
            }
        }
        func line(_ cells: [String]) -> String {
            var text = ""
            for (column, cell) in cells.enumerated() {
                if column == cells.count - 1 {
                    text += cell
                } else {
                    text += cell + String(repeating: " ", count: widths[column] - cell.count + 2)
                }
            }
            return text
        }
        return [line(headers)] + rows.map(line)
    }

    /// `label: value` lines with the values aligned; a value with several lines continues under the
    /// first. Each line is prefixed with `indent`.
    static func labelled(_ rows: [(String, [String])], indent: String = "") -> [String] {
        let width = (rows.map(\.0.count).max() ?? 0) + 1
        var lines: [String] = []
        for (label, values) in rows {
            for (index, value) in values.enumerated() {
                let head = index == 0 ? label + ":" : ""
                lines.append(indent + head + String(repeating: " ", count: width - head.count + 1) + value)
            }
        }
        return lines
    }

    // MARK: - Command results

    /// The one-line summary of a command result, e.g. `customer 0190… created (position 12, 1 event)`;
    /// for a command that changed nothing, `customer 0190…: nothing changed (position 12, no event)`.
    ///
    /// - Parameters:
    ///   - noun: What the command acts on (`customer`, `activity`).
    ///   - verb: The past participle for a command that wrote events (`created`, `tagged`).
    ///   - idKey: The result member with the id (`customer_id`, `activity_id`).
    static func commandSummary(noun: String, verb: String, idKey: String, result: JSON) -> String {
        let id = result[idKey]?.stringValue ?? "?"
        let count = result["events"]?.arrayValue?.count ?? 0
        let position = Output.text(result["position"]) ?? "?"
        if count == 0 {
            return "\(noun) \(id): nothing changed (position \(position), no event)"
        }
        return "\(noun) \(id) \(verb) (position \(position), \(count) event\(count == 1 ? "" : "s"))"
    }

    // MARK: - Actors

    /// An event or timeline actor: `uid 1000`, `uid 1000 for agent-7`, or the value as text.
    static func actor(_ value: JSON?) -> String {
        guard let value, case .object = value else { return Output.plain(value) }
        var text: String
        if let uid = Output.text(value["uid"]) {
            text = "uid \(uid)"
        } else if let id = Output.text(value["id"]) {
            text = "\(Output.text(value["kind"]) ?? "actor") \(id)"
        } else {
            text = value.serializedString()
        }
        if let behalf = Output.text(value["on_behalf_of"]) { text += " for \(behalf)" }
        return text
    }

    // MARK: - Customer profile

    /// A compact readable customer profile (the `customer.get` result).
    static func profile(_ profile: JSON) -> String {
        let name = profile["name"]
        let full =
            Output.text(name?["full"])
            ?? [Output.text(name?["first"]), Output.text(name?["last"])].compactMap { $0 }.joined(separator: " ")
        var lines = [(full.isEmpty ? "(no name)" : full) + Output.asOfPosition(profile)]

        var rows: [(String, [String])] = []
        var identity = Output.text(profile["customer_id"]) ?? "?"
        var facts: [String] = []
        if let state = Output.text(profile["state"]) { facts.append(state) }
        if let version = Output.text(profile["version"]) { facts.append("version \(version)") }
        if !facts.isEmpty { identity += " (\(facts.joined(separator: ", ")))" }
        rows.append(("id", [identity]))
        if let mergedInto = Output.text(profile["merged_into"]) { rows.append(("merged into", [mergedInto])) }
        let mergedFrom = (profile["merged_from"]?.arrayValue ?? []).compactMap(Output.text)
        if !mergedFrom.isEmpty { rows.append(("merged from", [mergedFrom.joined(separator: ", ")])) }
        if profile["pii_unavailable"]?.boolValue == true {
            rows.append(("personal data", ["unavailable: its key is missing or damaged in the key store"]))
        }
        if profile["pii_shredded"]?.boolValue == true {
            rows.append(("personal data", ["shredded: the customer was erased after this point"]))
        }

        let emails = (profile["emails"]?.arrayValue ?? []).map { email -> String in
            var flags: [String] = []
            if email["primary"]?.boolValue == true { flags.append("primary") }
            if let consent = Output.text(email["consent"]), consent != "not_set" {
                var text = "consent \(consent)"
                if let at = Output.text(email["consent_at"]) { text += " at \(at)" }
                flags.append(text)
            }
            if email["opted_out"]?.boolValue == true { flags.append("opted out") }
            if email["invalid"]?.boolValue == true { flags.append("invalid") }
            if email["sendable"]?.boolValue == true { flags.append("sendable") }
            let address = Output.text(email["address"]) ?? "?"
            return flags.isEmpty ? address : "\(address) (\(flags.joined(separator: ", ")))"
        }
        if !emails.isEmpty { rows.append(("emails", emails)) }

        let phones = (profile["phones"]?.arrayValue ?? []).map { phone -> String in
            var flags: [String] = []
            if let type = Output.text(phone["type"]) { flags.append(type) }
            if phone["primary"]?.boolValue == true { flags.append("primary") }
            let number = Output.text(phone["number"]) ?? "?"
            return flags.isEmpty ? number : "\(number) (\(flags.joined(separator: ", ")))"
        }
        if !phones.isEmpty { rows.append(("phones", phones)) }
        if profile["do_not_call"]?.boolValue == true { rows.append(("do not call", ["yes"])) }

        if let company = Output.text(profile["company_name"]) { rows.append(("company", [company])) }
        if let title = Output.text(profile["job_title"]) { rows.append(("job title", [title])) }
        if let address = profile["address"], case .object = address {
            let parts = ["street", "city", "state", "postal_code", "country"].compactMap { Output.text(address[$0]) }
            if !parts.isEmpty { rows.append(("address", [parts.joined(separator: ", ")])) }
        }
        if let owner = Output.text(profile["owner_id"]) { rows.append(("owner", [owner])) }
        let tags = (profile["tags"]?.arrayValue ?? []).compactMap(\.stringValue)
        if !tags.isEmpty { rows.append(("tags", [tags.joined(separator: ", ")])) }
        if let tier = Output.text(profile["tier"]) { rows.append(("tier", [tier])) }
        if let source = Output.text(profile["source"]) { rows.append(("source", [source])) }
        if let stage = Output.text(profile["lifecycle"]?["stage"]) {
            let since = Output.text(profile["lifecycle"]?["entered_at"]).map { " since \($0)" } ?? ""
            rows.append(("lifecycle", [stage + since]))
        }
        if let status = Output.text(profile["lead_status"]) { rows.append(("lead status", [status])) }
        if let custom = profile["custom"]?.objectValue, !custom.isEmpty {
            let pairs = custom.keys.sorted().map { "\($0)=\(Output.plain(custom[$0]))" }
            rows.append(("custom", [pairs.joined(separator: ", ")]))
        }
        if let stats = profile["stats"], case .object = stats {
            rows.append(contentsOf: Output.statsRows(stats))
        }
        if let created = Output.text(profile["created_at"]) {
            let updated = Output.text(profile["updated_at"]).map { ", updated \($0)" } ?? ""
            rows.append(("created", [created + updated]))
        }
        lines += Output.labelled(rows, indent: "  ")
        return lines.joined(separator: "\n")
    }

    /// The `stats` of a profile as labelled rows.
    private static func statsRows(_ stats: JSON) -> [(String, [String])] {
        var rows: [(String, [String])] = []
        let counters: [(String, String)] = [
            ("open_tickets", "open tickets"), ("tickets_total", "tickets"), ("open_deals", "open deals"),
            ("won_deals", "won deals"),
        ]
        let counts = counters.compactMap { key, label in Output.text(stats[key]).map { "\(label) \($0)" } }
        if !counts.isEmpty { rows.append(("stats", [counts.joined(separator: ", ")])) }
        if let won = stats["won_amount"]?.objectValue, !won.isEmpty {
            rows.append(
                ("won amount", [won.keys.sorted().map { "\(Output.plain(won[$0])) \($0)" }.joined(separator: ", ")])
            )
        }
        if let activities = stats["activity_counts"]?.objectValue, !activities.isEmpty {
            let order = ["call", "email", "meeting", "note", "task"]
            let keys = order.filter { activities[$0] != nil } + activities.keys.filter { !order.contains($0) }.sorted()
            rows.append(("activities", [keys.map { "\($0) \(Output.plain(activities[$0]))" }.joined(separator: ", ")]))
        }
        if let last = Output.text(stats["last_activity_at"]) { rows.append(("last activity", [last])) }
        if let last = Output.text(stats["last_contacted_at"]) { rows.append(("last contacted", [last])) }
        return rows
    }

    // MARK: - Timeline and events

    /// A cursor to pass back on the command line: a string as is, anything else as JSON in quotes.
    static func cursorArgument(_ cursor: JSON) -> String {
        if let text = cursor.stringValue { return text }
        return "'" + cursor.serializedString() + "'"
    }

    /// The `customer.timeline` result as a table, newest first, with field changes under their entry.
    static func timeline(_ result: JSON) -> String {
        let entries = result["entries"]?.arrayValue ?? []
        guard !entries.isEmpty else { return "no timeline entries" }
        let rows = entries.map { entry in
            [
                Output.plain(entry["at"]), Output.plain(entry["seq"]), Output.plain(entry["kind"]),
                Output.plain(entry["ref_id"]), Output.actor(entry["actor"]), Output.plain(entry["summary"]),
            ]
        }
        let table = Output.table(["AT", "SEQ", "KIND", "REF", "ACTOR", "SUMMARY"], rows)
        var lines = [table[0]]
        for (index, entry) in entries.enumerated() {
            lines.append(table[index + 1])
            if let changes = entry["changes"]?.objectValue {
                for field in changes.keys.sorted() {
                    let change = changes[field]!
                    if change["from"] != nil || change["to"] != nil {
                        let from = (change["from"] ?? .null).serializedString()
                        let to = (change["to"] ?? .null).serializedString()
                        lines.append("    \(field): \(Output.clip(from, 60)) → \(Output.clip(to, 60))")
                    } else {
                        lines.append("    \(field): \(Output.clip(change.serializedString(), 120))")
                    }
                }
            }
        }
        if let next = result["next_before"], !next.isNull {
            lines.append("more: --before \(Output.cursorArgument(next))")
        }
        return lines.joined(separator: "\n")
    }

    /// The `events.read` result as a table, with the cursor of the next page and the head.
    static func events(_ result: JSON) -> String {
        let events = result["events"]?.arrayValue ?? []
        let head = Output.plain(result["head"])
        guard !events.isEmpty else { return "no events (head \(head))" }
        let rows = events.map { event in
            [
                Output.plain(event["seq"]), Output.plain(event["stream"]), Output.plain(event["stream_version"]),
                Output.plain(event["type"]), Output.plain(event["occurred_at"]), Output.actor(event["actor"]),
            ]
        }
        var lines = Output.table(["SEQ", "STREAM", "VERSION", "TYPE", "OCCURRED AT", "ACTOR"], rows)
        if let next = result["next_from"], !next.isNull {
            lines.append("more: --from \(Output.plain(next)) (head \(head))")
        } else {
            lines.append("end of log (head \(head))")
        }
        return lines.joined(separator: "\n")
    }

    /// `customer export --output`: what the document written to `path` holds, part by part.
    static func subjectExport(_ result: JSON, path: String) -> String {
        func count(_ key: String) -> String { String(result[key]?.arrayValue?.count ?? 0) }
        let head = result["head"]
        let name = result["profile"]?["name"]?["full"]?.stringValue ?? "(no name)"
        let rows = [
            ["head", "position \(head?["position"]?.intValue ?? 0), hash \(head?["hash"]?.stringValue ?? "?")"],
            ["profile", name], ["timeline", count("timeline")], ["deals", count("deals")],
            ["tickets", count("tickets")], ["consent", count("consent_history")], ["events", count("events")],
        ]
        let title = "exported customer \(result["customer_id"]?.stringValue ?? "?") to \(path) (0600)"
        return ([title] + Self.table(["PART", "HOLDS"], rows).map { "  " + $0 }).joined(separator: "\n")
    }

    /// `customer.history`, `deal.history` and `ticket.history`: one line per event (business time,
    /// position, type, actor), then one indented line per changed field.
    static func history(_ result: JSON) -> String {
        var lines: [String] = []
        for event in result["events"]?.arrayValue ?? [] {
            let seq = event["seq"]?.intValue.map(String.init) ?? "?"
            let at = event["occurred_at"]?.stringValue ?? "?"
            let uid = event["actor"]?["uid"]?.intValue.map { "uid \($0)" } ?? "?"
            lines.append("\(at)  seq \(seq)  \(event["type"]?.stringValue ?? "?")  \(uid)")
            for (field, change) in (event["changes"]?.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
                let from = change["from"]?.serializedString() ?? "null"
                let to = change["to"]?.serializedString() ?? "null"
                lines.append("    \(field): \(from) → \(to)")
            }
        }
        return lines.joined(separator: "\n")
    }

    /// ` as of log position P` for a profile or report answered with `as_of` (its
    /// `"as_of":{"position":P}`), else the empty string.
    static func asOfPosition(_ result: JSON) -> String {
        guard let position = result["as_of"]?["position"]?.intValue else { return "" }
        return " as of log position \(position)"
    }

    // MARK: - Statistics

    /// `system.stats` as `key: value` lines: nested objects flattened with dots, one line per
    /// projection.
    static func stats(_ result: JSON) -> String {
        var rows: [(String, [String])] = []
        func flatten(_ value: JSON, _ path: String) {
            switch value {
            case .object(let members):
                for key in members.keys.sorted() { flatten(members[key]!, path.isEmpty ? key : "\(path).\(key)") }
            default:
                rows.append((path, [Output.plain(value)]))
            }
        }
        let members = result.objectValue ?? [:]
        if let head = members["head"]?.objectValue {
            for key in ["position", "hash"] where head[key] != nil {
                rows.append(("head.\(key)", [Output.plain(head[key])]))
            }
            for key in head.keys.sorted() where key != "position" && key != "hash" {
                flatten(head[key]!, "head.\(key)")
            }
        } else if let head = members["head"] {
            flatten(head, "head")
        }
        let preferred = ["event_count", "file_size_bytes", "map_size_bytes", "uptime_seconds"]
        let rest = members.keys.sorted().filter { !preferred.contains($0) && $0 != "projections" && $0 != "head" }
        for key in preferred + rest {
            if let value = members[key] { flatten(value, key) }
        }
        for projection in members["projections"]?.arrayValue ?? [] {
            guard let name = Output.text(projection["name"]) else {
                rows.append(("projection", [projection.serializedString()]))
                continue
            }
            let parts = ["version", "checkpoint", "lag"].compactMap { key in
                Output.text(projection[key]).map { "\(key) \($0)" }
            }
            rows.append(("projection \(name)", [parts.joined(separator: ", ")]))
        }
        return Output.labelled(rows).joined(separator: "\n")
    }
}
