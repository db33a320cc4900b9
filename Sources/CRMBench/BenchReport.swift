import CRMJSON
import Foundation

/// Every figure of a run, the cost budget of issue 14 and whether each figure meets it; printed as
/// a table or as one JSON object.
struct BenchReport {
    var version = ""
    var cores = 0
    var modes: [String] = []
    var parameters: JSON = .null
    /// Sections in the order they ran: `write`, `write_sequential`, `read`, `mixed`, `replay`,
    /// `rebuild`, `scale`, `value`.
    var sections: [(String, JSON)] = []
    var targets: [JSON] = []
    var errors: [String] = []

    /// Whether any request failed (the figures are then not trustworthy).
    var failed: Bool { !self.errors.isEmpty }

    subscript(section: String) -> JSON? { self.sections.first { $0.0 == section }?.1 }

    /// One target: a figure, how it compares, and the outcome. `goalText` replaces the plain goal
    /// in the description (for a goal derived from another figure).
    private mutating func target(
        _ name: String,
        _ value: Double?,
        _ comparison: String,
        _ goal: Double,
        unit: String,
        goalText: String? = nil
    ) {
        guard let value else { return }
        let met = comparison == ">=" ? value >= goal : value <= goal
        let symbol = comparison == ">=" ? "≥" : "≤"
        self.targets.append([
            "target": .string(name), "value": .double(value), "unit": .string(unit),
            "goal": .string(goalText ?? "\(symbol) \(BenchReport.grouped(goal)) \(unit)"), "goal_value": .double(goal),
            "met": .bool(met), "ratio_to_goal": .double(goal > 0 ? value / goal : 0),
        ])
    }

    /// `value` rounded, with thousands separators (`50,000`); one decimal below 10.
    static func grouped(_ value: Double) -> String {
        if abs(value) < 10, value != value.rounded() { return String(format: "%.1f", value) }
        let digits = String(Int64(value.rounded()).magnitude)
        var out = ""
        for (offset, digit) in digits.enumerated() {
            if offset > 0, (digits.count - offset) % 3 == 0 { out.append(",") }
            out.append(digit)
        }
        return value < 0 ? "-" + out : out
    }

    /// The cost budget of issue 14 and the value mode's goals: every figure of this run that they set
    /// a goal for, with its goal and outcome (a figure whose mode did not run is left out).
    mutating func evaluateTargets() {
        self.targets = []
        let write = self["write"]
        let heavy = write.map { "\($0["connections"]?.intValue ?? 0) × \($0["pipeline"]?.intValue ?? 0)" } ?? ""
        self.target("write \(heavy)", write?["per_s"]?.doubleValue, ">=", 50_000, unit: "cmd/s")
        self.target(
            "crmd CPU per command (\(heavy))",
            write?["crmd_cpu_us_per_request"]?.doubleValue,
            "<=",
            25,
            unit: "µs"
        )
        self.target(
            "bytes written per command (crmd write_bytes, \(heavy))",
            write?["io"]?["write_bytes_per_command"]?.doubleValue,
            "<=",
            6_000,
            unit: "bytes"
        )
        let sequential = self["write_sequential"]
        if let p50 = sequential?["latency_us"]?["p50"]?.doubleValue,
            let commit = sequential?["baseline"]?["commit_p50_us"]?.doubleValue
        {
            let goal = 1.5 * commit
            self.target(
                "write 1 × 1 p50",
                p50,
                "<=",
                goal,
                unit: "µs",
                goalText: "≤ 1.5 × \(BenchReport.grouped(commit)) µs one-record LMDB commit p50 = "
                    + "\(BenchReport.grouped(goal)) µs"
            )
        }
        self.target(
            "online rebuild, all read models",
            self["rebuild"]?["events_per_s"]?.doubleValue,
            ">=",
            500_000,
            unit: "events/s"
        )
        self.target(
            "decision state rebuilt at start-up",
            self["rebuild"]?["decision_state"]?["events_per_s"]?.doubleValue,
            ">=",
            1_000_000,
            unit: "events/s"
        )
        self.target(
            "replay (events.read)",
            self["replay"]?["events_per_s"]?.doubleValue,
            ">=",
            1_000_000,
            unit: "events/s"
        )
        let read = self["read"]?["customer.get"]
        self.target(
            "customer.get, \(read?["connections"]?.intValue ?? 0) conns",
            read?["per_s"]?.doubleValue,
            ">=",
            200_000,
            unit: "q/s"
        )
        if let last = self["scale"]?["steps"]?.arrayValue?.last {
            let customers = BenchReport.grouped(Double(last["customers"]?.intValue ?? 0))
            self.target(
                "crmd RssAnon at \(customers) customers (the budget: at 1,000,000)",
                last["rss_anon_bytes"]?.intValue.map { Double($0) / 1e6 },
                "<=",
                300,
                unit: "MB"
            )
            let events = BenchReport.grouped(Double(last["events"]?.intValue ?? 0))
            self.target(
                "data file per event at \(events) events",
                last["file_bytes_per_event"]?.doubleValue,
                "<=",
                700,
                unit: "bytes"
            )
        }
        if let encryption = self["encryption"] {
            // What encrypting personal data costs each figure, against the same build with it off.
            let bound = encryption["bound_percent"]?.doubleValue ?? 10
            for figure in Benchmark.encryptionFigures {
                self.target(
                    "encryption's cost to \(figure.name) (median of \(BenchReport.encryptionSamples(encryption)))",
                    encryption["cost"]?[figure.key + "_cost_percent"]?.doubleValue,
                    "<=",
                    bound,
                    unit: "%"
                )
            }
        }
        if let value = self["value"] {
            let customers = BenchReport.grouped(Double(value["customers"]?.intValue ?? 0))
            self.target(
                "rfm.report at \(customers) customers (median of 3)",
                value["reports"]?["rfm.report"]?["median_ms"]?.doubleValue,
                "<=",
                1_000,
                unit: "ms"
            )
            self.target(
                "value.model.fit at \(customers) customers (median of 3)",
                value["fit"]?["median_s"]?.doubleValue,
                "<=",
                10,
                unit: "s"
            )
        }
        if let marketing = self["marketing"] {
            let customers = BenchReport.grouped(Double(marketing["customers"]?.intValue ?? 0))
            self.target(
                "segment of \(customers) defined and listed (median of 3)",
                marketing["segment"]?["median_total_ms"]?.doubleValue,
                "<=",
                1_000,
                unit: "ms"
            )
            self.target(
                "slowest order.record during a send to \(customers) (median of 3)",
                marketing["campaign"]?["median_max_latency_during_send_ms"]?.doubleValue,
                "<=",
                100,
                unit: "ms"
            )
        }
    }

    var json: JSON {
        var object: [String: JSON] = [
            "crmd_version": .string(self.version), "cores": .int(Int64(self.cores)), "modes": .strings(self.modes),
            "parameters": self.parameters, "targets": .array(self.targets), "errors": .strings(self.errors),
        ]
        for (name, figures) in self.sections { object[name] = figures }
        return .object(object)
    }

    // MARK: - Table

    func table() -> String {
        var lines: [String] = []
        let modes = self.modes.joined(separator: " ")
        lines.append("crm-bench — crmd \(self.version), \(self.cores) cores, modes: \(modes)")
        let settings = BenchSettings.crmdEnvironment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        if !settings.isEmpty { lines.append("crmd settings from the environment: " + settings.joined(separator: " ")) }
        func rate(_ value: Double?) -> String {
            value.map { String(format: "%12.0f", $0) } ?? String(repeating: " ", count: 12)
        }
        func micros(_ value: Double?) -> String { value.map { String(format: "%9.0f", $0) } ?? "        -" }
        func loadLine(_ label: String, _ figures: JSON?, unit: String) {
            guard let figures else { return }
            let latency = figures["latency_us"]
            lines.append(
                label.padding(toLength: 34, withPad: " ", startingAt: 0) + rate(figures["per_s"]?.doubleValue)
                    + " \(unit)"
                    + micros(latency?["p50"]?.doubleValue) + micros(latency?["p90"]?.doubleValue)
                    + micros(latency?["p99"]?.doubleValue) + micros(latency?["p99_9"]?.doubleValue)
                    + micros(latency?["max"]?.doubleValue)
                    + "  errors \(figures["errors"]?.intValue ?? 0)"
            )
        }
        // The column heads of the load lines (the value, marketing and encryption modes have none).
        if self.sections.contains(where: { !["value", "marketing", "encryption"].contains($0.0) }) {
            lines.append("")
            lines.append(
                "figure".padding(toLength: 34, withPad: " ", startingAt: 0) + "        rate      "
                    + "   p50 µs   p90 µs   p99 µs p99.9 µs   max µs"
            )
        }
        for name in ["write", "write_sequential"] {
            guard let figures = self[name] else { continue }
            let label = "write c=\(figures["connections"]?.intValue ?? 0) p=\(figures["pipeline"]?.intValue ?? 0)"
            loadLine(label, figures, unit: "cmd/s")
            let events = figures["events_per_s"]?.doubleValue ?? 0
            let baseline = figures["baseline"]?["records_per_s"]?.doubleValue ?? 0
            lines.append(
                String(
                    format: "    %.0f events/s, %.1f commands/commit, crmd CPU %.0f µs/command (writer thread %.0f, "
                        + "busy %.0f %%); LMDB baseline %.0f records/s (%d-byte records, %d per commit): "
                        + "crmd = %.2f x baseline",
                    events,
                    figures["commands_per_commit"]?.doubleValue ?? 0,
                    figures["crmd_cpu_us_per_request"]?.doubleValue ?? 0,
                    figures["writer_cpu_us_per_request"]?.doubleValue ?? 0,
                    100 * (figures["writer_busy"]?.doubleValue ?? 0),
                    baseline,
                    Int(figures["baseline"]?["record_bytes"]?.intValue ?? 0),
                    Int(figures["baseline"]?["records_per_commit"]?.intValue ?? 0),
                    figures["ratio_to_baseline"]?.doubleValue ?? 0
                )
            )
            let io = figures["io"]
            lines.append(
                String(
                    format: "    crmd write_bytes %.0f /command, %.0f /event; wchar %.0f /command, %.0f without "
                        + "replies; LMDB commit p50 %.0f µs (%d per commit)",
                    io?["write_bytes_per_command"]?.doubleValue ?? 0,
                    io?["write_bytes_per_event"]?.doubleValue ?? 0,
                    io?["wchar_per_command"]?.doubleValue ?? 0,
                    io?["file_wchar_per_command"]?.doubleValue ?? 0,
                    figures["baseline"]?["commit_p50_us"]?.doubleValue ?? 0,
                    Int(figures["baseline"]?["records_per_commit"]?.intValue ?? 0)
                )
            )
        }
        if let read = self["read"] {
            for method in ["customer.get", "customer.find", "customer.timeline"] {
                loadLine("read \(method)", read[method], unit: "q/s  ")
                if let cpu = read[method]?["crmd_cpu_us_per_request"]?.doubleValue {
                    lines.append(
                        String(
                            format: "    crmd CPU %.1f µs/query; LMDB baseline %.0f gets/s: crmd = %.3f x baseline",
                            cpu,
                            read["baseline"]?["get_per_s"]?.doubleValue ?? 0,
                            read[method]?["ratio_to_baseline"]?.doubleValue ?? 0
                        )
                    )
                }
            }
        }
        if let mixed = self["mixed"] {
            loadLine("mixed: writes", mixed["writes"], unit: "cmd/s")
            loadLine("mixed: customer.get (4 x 1)", mixed["reads"], unit: "q/s  ")
        }
        if let replay = self["replay"] {
            lines.append(
                String(
                    format: "replay (events.read, pages of 1000)  %9.0f events/s  %.1f MB/s over %d events "
                        + "(%d passes over the log); LMDB scan %.0f records/s: crmd = %.3f x baseline",
                    replay["events_per_s"]?.doubleValue ?? 0,
                    (replay["bytes_per_s"]?.doubleValue ?? 0) / 1e6,
                    Int(replay["events"]?.intValue ?? 0),
                    Int(replay["passes"]?.intValue ?? 1),
                    replay["baseline"]?["scan_records_per_s"]?.doubleValue ?? 0,
                    replay["ratio_to_baseline"]?.doubleValue ?? 0
                )
            )
        }
        if let rebuild = self["rebuild"] {
            lines.append(
                String(
                    format: "rebuild (online, all read models)   %9.0f events/s  %d events in %.3f s; "
                        + "crmd = %.3f x LMDB scan",
                    rebuild["events_per_s"]?.doubleValue ?? 0,
                    Int(rebuild["events"]?.intValue ?? 0),
                    rebuild["seconds"]?.doubleValue ?? 0,
                    rebuild["ratio_to_baseline"]?.doubleValue ?? 0
                )
            )
            let state = rebuild["decision_state"]
            lines.append(
                String(
                    format: "rebuild (start-up, decision state)  %9.0f events/s  %d events in %.3f s (crmd's "
                        + "timing); start-up %.3f s vs plain %.3f s: %.0f events/s",
                    state?["events_per_s"]?.doubleValue ?? 0,
                    Int(state?["events"]?.intValue ?? 0),
                    state?["seconds"]?.doubleValue ?? 0,
                    state?["startup_with_rebuild_s"]?.doubleValue ?? 0,
                    state?["startup_s"]?.doubleValue ?? 0,
                    state?["startup_difference_events_per_s"]?.doubleValue ?? 0
                )
            )
        }
        if let steps = self["scale"]?["steps"]?.arrayValue {
            lines.append("")
            lines.append(
                "scale:      events   customers  append ev/s  get p50 µs  get p99 µs    file MiB  "
                    + "bytes/event     RSS MiB RssAnon MiB"
            )
            for step in steps {
                lines.append(
                    String(
                        format: "      %12d %11d %12.0f %11.0f %11.0f %11.1f %12.0f %11.1f %11.1f",
                        Int(step["events"]?.intValue ?? 0),
                        Int(step["customers"]?.intValue ?? 0),
                        step["append_events_per_s"]?.doubleValue ?? 0,
                        step["query_p50_us"]?.doubleValue ?? 0,
                        step["query_p99_us"]?.doubleValue ?? 0,
                        Double(step["file_size_bytes"]?.intValue ?? 0) / 1_048_576,
                        step["file_bytes_per_event"]?.doubleValue ?? 0,
                        Double(step["rss_bytes"]?.intValue ?? 0) / 1_048_576,
                        Double(step["rss_anon_bytes"]?.intValue ?? 0) / 1_048_576
                    )
                )
            }
            if let last = steps.last {
                lines.append(
                    String(
                        format: "scale end: crmd RssAnon %.1f MB at %d customers; data file %.0f bytes per event "
                            + "(%d events)",
                        Double(last["rss_anon_bytes"]?.intValue ?? 0) / 1e6,
                        Int(last["customers"]?.intValue ?? 0),
                        last["file_bytes_per_event"]?.doubleValue ?? 0,
                        Int(last["events"]?.intValue ?? 0)
                    )
                )
            }
        }
        if let value = self["value"] {
            lines.append("")
            lines += BenchReport.valueLines(value)
        }
        if let marketing = self["marketing"] {
            lines.append("")
            lines += BenchReport.marketingLines(marketing)
        }
        if let encryption = self["encryption"] {
            lines.append("")
            lines.append(
                "encryption (median of \(BenchReport.encryptionSamples(encryption)))".padding(
                    toLength: 34, withPad: " ", startingAt: 0
                ) + "       plain   encrypted    cost  by turn"
            )
            for figure in Benchmark.encryptionFigures {
                lines.append(
                    figure.name.padding(toLength: 34, withPad: " ", startingAt: 0)
                        + String(
                            format: "%12.0f%12.0f%7.1f %%%7.1f %%",
                            encryption["plain"]?[figure.key]?.doubleValue ?? 0,
                            encryption["encrypted"]?[figure.key]?.doubleValue ?? 0,
                            encryption["cost"]?[figure.key + "_cost_percent"]?.doubleValue ?? 0,
                            encryption["cost"]?[figure.key + "_paired_cost_percent"]?.doubleValue ?? 0
                        )
                )
            }
            lines.append(
                "  (cost: of the two medians; by turn: the median of each turn's cost, plain and encrypted measured "
                    + "seconds apart)"
            )
        }
        if !self.targets.isEmpty {
            lines.append("")
            let budget = self["value"] == nil && self["marketing"] == nil && self["encryption"] == nil
            lines.append(budget ? "targets (issue 14 cost budget):" : "targets:")
            for target in self.targets {
                let met = target["met"]?.boolValue == true
                let value = BenchReport.grouped(target["value"]?.doubleValue ?? 0)
                lines.append(
                    "  \(met ? "MET   " : "MISSED") \(target["target"]?.stringValue ?? ""): \(value) "
                        + "\(target["unit"]?.stringValue ?? "") (goal \(target["goal"]?.stringValue ?? ""))"
                )
            }
        }
        for error in self.errors.prefix(5) { lines.append("error: \(error)") }
        return lines.joined(separator: "\n")
    }
}

extension BenchReport {
    /// The table lines of the value mode: the load, the reports' latencies, the fit and the light
    /// write load beside it.
    static func valueLines(_ value: JSON) -> [String] {
        func number(_ figure: JSON?) -> Double { figure?.doubleValue ?? 0 }
        let load = value["load"]
        let customers = BenchReport.grouped(number(value["customers"]))
        let orders = BenchReport.grouped(number(value["orders"]))
        var lines = [
            "value: \(customers) customers and \(orders) orders (as of \(value["as_of_date"]?.stringValue ?? "?")) "
                + String(
                    format: "loaded in %.1f s: %.0f customers/s, %.0f orders/s, %d events",
                    number(load?["seconds"]),
                    number(load?["customers_per_s"]),
                    number(load?["orders_per_s"]),
                    Int(load?["events"]?.intValue ?? 0)
                )
        ]
        for method in ["rfm.report", "churn.report", "cohort.report"] {
            guard let report = value["reports"]?[method] else { continue }
            let figures = String(
                format: "median %7.0f ms (min %.0f, max %.0f), crmd CPU %.0f ms, reply %.1f MB",
                number(report["median_ms"]),
                number(report["min_ms"]),
                number(report["max_ms"]),
                number(report["crmd_cpu_ms"]),
                number(report["reply_bytes"]) / 1e6
            )
            lines.append("  " + method.padding(toLength: 16, withPad: " ", startingAt: 0) + figures)
        }
        guard let fit = value["fit"] else { return lines }
        let bgnbd = fit["bgnbd"]
        lines.append(
            "  value.model.fit "
                + String(
                    format: "median %7.2f s (min %.2f, max %.2f); ",
                    number(fit["median_s"]),
                    number(fit["min_s"]),
                    number(fit["max_s"])
                )
                + "\(BenchReport.grouped(number(fit["n_customers"]))) customers, "
                + String(
                    format: "BG/NBD LL %.1f after %d iterations (r %.3f, alpha %.3f, a %.3f, b %.3f)",
                    number(bgnbd?["ll"]),
                    Int(fit["iterations"]?["bgnbd"]?.intValue ?? 0),
                    number(bgnbd?["r"]),
                    number(bgnbd?["alpha"]),
                    number(bgnbd?["a"]),
                    number(bgnbd?["b"])
                )
        )
        let light = fit["light_load"]
        let connections = light?["connections"]?.intValue ?? 0
        for (label, key) in [("before the fit", "baseline"), ("during the fit", "during_fit")] {
            let figures = light?[key]
            lines.append(
                "  order.record \(connections) x 1 \(label): "
                    + String(
                        format: "p50 %6.0f µs, p99 %7.0f µs, max %7.0f µs (%d requests in %.1f s, errors %d)",
                        number(figures?["latency_us"]?["p50"]),
                        number(figures?["latency_us"]?["p99"]),
                        number(figures?["latency_us"]?["max"]),
                        Int(figures?["requests"]?.intValue ?? 0),
                        number(figures?["seconds"]),
                        Int(figures?["errors"]?.intValue ?? 0)
                    )
            )
        }
        lines.append(String(format: "  order.record p99 during the fit ÷ before: %.2f", number(light?["p99_ratio"])))
        return lines
    }
}

extension BenchReport {
    /// The table lines of the marketing mode: the segment rounds, the sends with the light load's
    /// latency beside them, and the report.
    /// How many measurements of each setting the `encryption` section's medians are of: a turn of
    /// each per round.
    static func encryptionSamples(_ encryption: JSON) -> Int64 {
        (encryption["rounds"]?.intValue ?? 0) * (encryption["turns"]?.intValue ?? 1)
    }

    static func marketingLines(_ marketing: JSON) -> [String] {
        var lines = ["marketing: \(grouped(Double(marketing["customers"]?.intValue ?? 0))) customers"]
        for round in marketing["segment"]?["rounds"]?.arrayValue ?? [] {
            lines.append(
                String(
                    format: "  segment %@: define %.0f ms + list %.0f ms (%d members, %d pages) = %.0f ms",
                    round["segment_id"]?.stringValue ?? "?", round["define_ms"]?.doubleValue ?? 0,
                    round["list_ms"]?.doubleValue ?? 0, Int(round["members"]?.intValue ?? 0),
                    Int(round["pages"]?.intValue ?? 0), round["total_ms"]?.doubleValue ?? 0
                )
            )
        }
        for round in marketing["campaign"]?["rounds"]?.arrayValue ?? [] {
            let before = round["baseline"]?["latency_us"]
            let during = round["during_send"]?["latency_us"]
            lines.append(
                String(
                    format: "  %@: sent to %d in %.2f s; order.record p99 %.0f µs before, %.0f µs during, max %.1f ms",
                    round["campaign_id"]?.stringValue ?? "?", Int(round["recipients"]?.intValue ?? 0),
                    round["send_s"]?.doubleValue ?? 0, before?["p99"]?.doubleValue ?? 0,
                    during?["p99"]?.doubleValue ?? 0, round["max_latency_during_send_ms"]?.doubleValue ?? 0
                )
            )
        }
        lines.append(String(format: "  campaign.report %.0f ms", marketing["campaign"]?["report_ms"]?.doubleValue ?? 0))
        return lines
    }
}
