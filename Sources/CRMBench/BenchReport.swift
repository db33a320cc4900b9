import CRMJSON
import Foundation

/// Every figure of a run, the targets of issue 3 and whether each is met; printed as a table or
/// as one JSON object.
struct BenchReport {
    var version = ""
    var cores = 0
    var modes: [String] = []
    var parameters: JSON = .null
    /// Sections in the order they ran: `write`, `write_sequential`, `read`, `mixed`, `replay`,
    /// `rebuild`, `scale`.
    var sections: [(String, JSON)] = []
    var targets: [JSON] = []
    var errors: [String] = []

    /// Whether any request failed (the figures are then not trustworthy).
    var failed: Bool { !self.errors.isEmpty }

    subscript(section: String) -> JSON? { self.sections.first { $0.0 == section }?.1 }

    /// One target: a figure, how it compares, and the outcome.
    private mutating func target(_ name: String, _ value: Double?, _ comparison: String, _ goal: Double, unit: String) {
        guard let value else { return }
        let met = comparison == ">=" ? value >= goal : value <= goal
        self.targets.append([
            "target": .string(name), "value": .double(value), "goal": .string("\(comparison) \(Int(goal)) \(unit)"),
            "met": .bool(met), "ratio_to_goal": .double(goal > 0 ? value / goal : 0),
        ])
    }

    mutating func evaluateTargets() {
        self.targets = []
        let heavy = self["write"].map { "\($0["connections"]?.intValue ?? 0) conns x \($0["pipeline"]?.intValue ?? 0)" }
        self.target("write \(heavy ?? "") pipelined", self["write"]?["per_s"]?.doubleValue, ">=", 50_000, unit: "cmd/s")
        self.target(
            "write 1 conn sequential",
            self["write_sequential"]?["per_s"]?.doubleValue,
            ">=",
            3_000,
            unit: "cmd/s"
        )
        self.target(
            "write 1 conn sequential p50",
            self["write_sequential"]?["latency_us"]?["p50"]?.doubleValue,
            "<=",
            350,
            unit: "µs"
        )
        self.target(
            "read customer.get",
            self["read"]?["customer.get"]?["per_s"]?.doubleValue,
            ">=",
            100_000,
            unit: "q/s"
        )
        self.target(
            "read p99 during write load",
            self["mixed"]?["reads"]?["latency_us"]?["p99"]?.doubleValue,
            "<=",
            2_000,
            unit: "µs"
        )
        self.target("rebuild", self["rebuild"]?["events_per_s"]?.doubleValue, ">=", 500_000, unit: "events/s")
        self.target("replay", self["replay"]?["events_per_s"]?.doubleValue, ">=", 1_000_000, unit: "events/s")
        if let steps = self["scale"]?["steps"]?.arrayValue, let first = steps.first, let last = steps.last {
            if let a = first["append_events_per_s"]?.doubleValue, let b = last["append_events_per_s"]?.doubleValue {
                self.target("scale: append at end vs start", 100 * b / a, ">=", 90, unit: "%")
            }
            if let a = first["query_p99_us"]?.doubleValue, let b = last["query_p99_us"]?.doubleValue {
                // "Flat": the last step's p99 within 1.5x the first (scheduling noise on 2 cores).
                self.target("scale: query p99 at end vs start", 100 * b / max(a, 1), "<=", 150, unit: "%")
            }
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
        lines.append("")
        lines.append(
            "figure".padding(toLength: 34, withPad: " ", startingAt: 0) + "        rate      "
                + "   p50 µs   p90 µs   p99 µs p99.9 µs   max µs"
        )
        for name in ["write", "write_sequential"] {
            guard let figures = self[name] else { continue }
            let label = "write c=\(figures["connections"]?.intValue ?? 0) p=\(figures["pipeline"]?.intValue ?? 0)"
            loadLine(label, figures, unit: "cmd/s")
            let events = figures["events_per_s"]?.doubleValue ?? 0
            let baseline = figures["baseline"]?["records_per_s"]?.doubleValue ?? 0
            lines.append(
                String(
                    format: "    %.0f events/s, %.1f commands/commit, crmd CPU %.0f µs/command; LMDB baseline "
                        + "%.0f records/s (%d-byte records, %d per commit): crmd = %.2f x baseline",
                    events,
                    figures["commands_per_commit"]?.doubleValue ?? 0,
                    figures["crmd_cpu_us_per_request"]?.doubleValue ?? 0,
                    baseline,
                    Int(figures["baseline"]?["record_bytes"]?.intValue ?? 0),
                    Int(figures["baseline"]?["records_per_commit"]?.intValue ?? 0),
                    figures["ratio_to_baseline"]?.doubleValue ?? 0
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
                    format: "rebuild (start-up, decision state)  %9.0f events/s  %.3f s (plain start-up %.3f s)",
                    state?["events_per_s"]?.doubleValue ?? 0,
                    state?["seconds"]?.doubleValue ?? 0,
                    state?["startup_s"]?.doubleValue ?? 0
                )
            )
        }
        if let steps = self["scale"]?["steps"]?.arrayValue {
            lines.append("")
            lines.append("scale:      events   append ev/s   get p50 µs   get p99 µs    file MiB     RSS MiB")
            for step in steps {
                lines.append(
                    String(
                        format: "      %12d  %12.0f %12.0f %12.0f %11.1f %11.1f",
                        Int(step["events"]?.intValue ?? 0),
                        step["append_events_per_s"]?.doubleValue ?? 0,
                        step["query_p50_us"]?.doubleValue ?? 0,
                        step["query_p99_us"]?.doubleValue ?? 0,
                        Double(step["file_size_bytes"]?.intValue ?? 0) / 1_048_576,
                        Double(step["rss_bytes"]?.intValue ?? 0) / 1_048_576
                    )
                )
            }
        }
        if !self.targets.isEmpty {
            lines.append("")
            lines.append("targets:")
            for target in self.targets {
                let met = target["met"]?.boolValue == true
                let value = String(format: "%.0f", target["value"]?.doubleValue ?? 0)
                lines.append(
                    "  \(met ? "MET   " : "MISSED") \(target["target"]?.stringValue ?? ""): \(value) "
                        + "(goal \(target["goal"]?.stringValue ?? ""))"
                )
            }
        }
        for error in self.errors.prefix(5) { lines.append("error: \(error)") }
        return lines.joined(separator: "\n")
    }
}
