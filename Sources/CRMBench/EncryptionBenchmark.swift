import CRMJSON
import Foundation

/// The `encryption` mode: what protecting personal data costs, measured on the same build with and
/// without it.
extension Benchmark {
    /// The most a figure may lose to encryption, in percent.
    static let encryptionBoundPercent = 10.0

    /// The figures compared, by key: the report's name, and whether more is better.
    static let encryptionFigures: [(key: String, name: String, higherIsBetter: Bool)] = [
        ("write_per_s", "write cmd/s", true),
        ("crmd_cpu_us_per_command", "crmd CPU µs per command", false),
        ("rebuild_events_per_s", "online rebuild events/s", true),
        ("rebuild_cpu_us_per_event", "online rebuild CPU µs per event", false),
        ("refold_events_per_s", "decision state refold events/s", true),
        ("refold_cpu_us_per_event", "refold CPU µs per event", false),
    ]

    /// `--refolds` rounds; each starts two fresh crmds — personal data in plain text
    /// (`CRMD_ENCRYPT_PII=false`), and encrypted (the default) — loads both with the same seeded
    /// workload, and measures them in turn, `--turns` times each: a write load of
    /// `--duration` (`--connections` × `--pipeline`: commands/s and crmd's CPU per command), an online
    /// rebuild of every read model, and, with both stopped, a restart that refolds the decision state
    /// (each: events/s and crmd's CPU per event, the steadier figure on a shared machine).
    /// Taking the two in turn, a few seconds apart, leaves both the same machine: another tenant's load,
    /// which swings by half over a minute here, falls on both alike. Reports the median of each figure
    /// per setting over every turn of every round, and what encryption changes.
    func encryption(root: String) throws {
        var runs: [String: [String: [Double]]] = [:]
        for round in 1...max(1, self.settings.refolds) {
            let figures = try self.encryptionRound(root: root + "/encryption-\(round)")
            for (name, byKey) in figures {
                for (key, values) in byKey { runs[name, default: [:]][key, default: []] += values }
                self.log(
                    "encryption: round \(round), \(name): "
                        + Benchmark.encryptionFigures.map { figure in
                            "\(figure.name) " + (byKey[figure.key] ?? []).map { String(Int($0)) }.joined(separator: " ")
                        }.joined(separator: ", ")
                )
            }
        }
        var section: [String: JSON] = [
            "rounds": .int(Int64(max(1, self.settings.refolds))), "turns": .int(Int64(self.settings.turns)),
            "bound_percent": .double(Self.encryptionBoundPercent),
        ]
        var change: [String: JSON] = [:]
        for (name, _) in Self.encryptionSettings {
            var setting: [String: JSON] = [:]
            for figure in Benchmark.encryptionFigures {
                let values = runs[name]?[figure.key] ?? []
                setting[figure.key] = .double(Benchmark.median(values))
                setting[figure.key + "_runs"] = .array(values.map { .double($0) })
            }
            section[name] = .object(setting)
        }
        for figure in Benchmark.encryptionFigures {
            // The cost in percent of the plain figure: fewer per second, or more CPU per command.
            func cost(_ plain: Double, _ encrypted: Double) -> Double {
                plain > 0 ? (figure.higherIsBetter ? plain - encrypted : encrypted - plain) / plain * 100 : 0
            }
            let plainRuns = runs["plain"]?[figure.key] ?? []
            let encryptedRuns = runs["encrypted"]?[figure.key] ?? []
            change[figure.key + "_cost_percent"] = .double(
                cost(Benchmark.median(plainRuns), Benchmark.median(encryptedRuns))
            )
            // And the median of each turn's cost: a plain turn and the encrypted one after it ran seconds
            // apart, so a pair shares the machine's load of the moment, which the medians of the two
            // settings' runs do not.
            change[figure.key + "_paired_cost_percent"] = .double(
                Benchmark.median(zip(plainRuns, encryptedRuns).map { cost($0, $1) })
            )
        }
        section["cost"] = .object(change)
        self.report.sections.append(("encryption", .object(section)))
        for (label, suffix) in [("", "_cost_percent"), (" (median of the turns' costs)", "_paired_cost_percent")] {
            self.log(
                "encryption costs\(label): "
                    + Benchmark.encryptionFigures.map { figure in
                        let cost = change[figure.key + suffix]?.doubleValue ?? 0
                        return "\(figure.name) \(String(format: "%.1f", cost)) %"
                    }.joined(separator: ", ") + " (bound \(Int(Self.encryptionBoundPercent)) %)"
            )
        }
    }

    /// The settings compared, by name, with the value of `CRMD_ENCRYPT_PII`.
    private static let encryptionSettings = [("plain", "false"), ("encrypted", "true")]

    /// One round in `directory`: both crmds started and populated, then measured in turn; the figures
    /// by setting and key, one per turn.
    private func encryptionRound(root directory: String) throws -> [String: [String: [Double]]] {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // Each crmd with the workload's state (customers known, phase) it has reached: both are given
        // the same seeded commands.
        var daemons: [(name: String, daemon: BenchDaemon, known: [BenchCustomer], phase: Int)] = []
        defer { for entry in daemons { entry.daemon.stop() } }
        for (name, encrypt) in Self.encryptionSettings {
            let daemon = BenchDaemon(executable: self.settings.crmd, workDirectory: directory + "/" + name)
            try FileManager.default.createDirectory(atPath: directory + "/" + name, withIntermediateDirectories: true)
            daemon.environment = ["CRMD_ENCRYPT_PII": encrypt]
            try daemon.start()
            // Listed as soon as it runs, so that a failure from here on stops it too.
            daemons.append((name, daemon, [], 0))
            if self.report.version.isEmpty {
                self.report.version = try daemon.call("system.ping")["version"]?.stringValue ?? "?"
            }
            self.known = []
            self.phase = 0
            try self.populate(daemon)
            (daemons[daemons.count - 1].known, daemons[daemons.count - 1].phase) = (self.known, self.phase)
        }
        var figures: [String: [String: [Double]]] = [:]
        func record(_ name: String, _ key: String, _ value: Double) {
            figures[name, default: [:]][key, default: []].append(value)
        }
        for _ in 0..<self.settings.turns {
            for index in daemons.indices {
                (self.known, self.phase) = (daemons[index].known, daemons[index].phase)
                let write = try self.writeLoad(
                    daemons[index].daemon, connections: self.settings.connections, pipeline: self.settings.pipeline,
                    root: directory
                )
                (daemons[index].known, daemons[index].phase) = (self.known, self.phase)
                record(daemons[index].name, "write_per_s", write["per_s"]?.doubleValue ?? 0)
                let cpu = write["crmd_cpu_us_per_request"]?.doubleValue ?? 0
                record(daemons[index].name, "crmd_cpu_us_per_command", cpu)
            }
        }
        for _ in 0..<self.settings.turns {
            for entry in daemons {
                let head = try entry.daemon.stats().head
                let rebuild = try self.onlineRebuild(entry.daemon)
                record(entry.name, "rebuild_events_per_s", Double(head) / rebuild.seconds)
                record(entry.name, "rebuild_cpu_us_per_event", rebuild.cpuSeconds * 1e6 / Double(max(head, 1)))
            }
        }
        let heads = try daemons.map { try $0.daemon.stats().head }
        for entry in daemons { entry.daemon.stop() }
        for _ in 0..<self.settings.turns {
            for (entry, head) in zip(daemons, heads) {
                _ = try Benchmark.clearProjectionVersions(dataDirectory: entry.daemon.dataDirectory, only: ["state"])
                try entry.daemon.start()
                // crmd's CPU from its start to ready: the refold, and a start-up's little else.
                record(entry.name, "refold_cpu_us_per_event", entry.daemon.cpuSeconds() * 1e6 / Double(max(head, 1)))
                record(entry.name, "refold_events_per_s", try self.reportedRefold(entry.daemon, head: head))
                entry.daemon.stop()
            }
        }
        return figures
    }
}
