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
        ("refold_events_per_s", "decision state refold events/s", true),
    ]

    /// `--refolds` rounds; each loads two fresh crmds in turn — personal data in plain text
    /// (`CRMD_ENCRYPT_PII=false`), then encrypted (the default) — with the same seeded workload, and
    /// measures on each the write load (`--connections` × `--pipeline`: commands/s and crmd's CPU per
    /// command), an online rebuild of every read model, and the decision state's refold at a restart.
    /// Reports the median of each figure per setting and what encryption changes.
    func encryption(root: String) throws {
        let settings = [("plain", "false"), ("encrypted", "true")]
        var runs: [String: [String: [Double]]] = [:]
        for round in 1...max(1, self.settings.refolds) {
            for (name, value) in settings {
                let figures = try self.encryptionRound(root: root + "/encryption-\(name)-\(round)", encrypt: value)
                for (key, figure) in figures { runs[name, default: [:]][key, default: []].append(figure) }
                self.log(
                    "encryption: round \(round), \(name): "
                        + Benchmark.encryptionFigures.map { "\($0.name) \(Int(figures[$0.key] ?? 0))" }
                        .joined(separator: ", ")
                )
            }
        }
        var section: [String: JSON] = [
            "rounds": .int(Int64(max(1, self.settings.refolds))), "bound_percent": .double(Self.encryptionBoundPercent),
        ]
        var change: [String: JSON] = [:]
        for (name, _) in settings {
            var setting: [String: JSON] = [:]
            for figure in Benchmark.encryptionFigures {
                let values = runs[name]?[figure.key] ?? []
                setting[figure.key] = .double(Benchmark.median(values))
                setting[figure.key + "_runs"] = .array(values.map { .double($0) })
            }
            section[name] = .object(setting)
        }
        for figure in Benchmark.encryptionFigures {
            let plain = Benchmark.median(runs["plain"]?[figure.key] ?? [])
            let encrypted = Benchmark.median(runs["encrypted"]?[figure.key] ?? [])
            // The cost in percent of the plain figure: fewer per second, or more CPU per command.
            let cost = plain > 0 ? (figure.higherIsBetter ? plain - encrypted : encrypted - plain) / plain * 100 : 0
            change[figure.key + "_cost_percent"] = .double(cost)
        }
        section["cost"] = .object(change)
        self.report.sections.append(("encryption", .object(section)))
        self.log(
            "encryption costs: "
                + Benchmark.encryptionFigures.map { figure in
                    let cost = change[figure.key + "_cost_percent"]?.doubleValue ?? 0
                    return "\(figure.name) \(String(format: "%.1f", cost)) %"
                }.joined(separator: ", ") + " (bound \(Int(Self.encryptionBoundPercent)) %)"
        )
    }

    /// One fresh crmd in `directory` with `CRMD_ENCRYPT_PII=encrypt`: the populated log, the write
    /// load, an online rebuild, a restart that refolds the decision state; the figures by key.
    private func encryptionRound(root directory: String, encrypt: String) throws -> [String: Double] {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let daemon = BenchDaemon(executable: self.settings.crmd, workDirectory: directory)
        daemon.environment = ["CRMD_ENCRYPT_PII": encrypt]
        try daemon.start()
        defer { daemon.stop() }
        if self.report.version.isEmpty {
            self.report.version = try daemon.call("system.ping")["version"]?.stringValue ?? "?"
        }
        // The same seeded workload on every crmd: no customer known yet, phases counted from the start.
        self.known = []
        self.phase = 0
        try self.populate(daemon)
        let write = try self.writeLoad(
            daemon, connections: self.settings.connections, pipeline: self.settings.pipeline, root: directory
        )
        let head = try daemon.stats().head
        let online = Double(head) / (try self.onlineRebuild(daemon).seconds)
        daemon.stop()
        _ = try Benchmark.clearProjectionVersions(dataDirectory: daemon.dataDirectory, only: ["state"])
        try daemon.start()
        let refold = try self.reportedRefold(daemon, head: head)
        return [
            "write_per_s": write["per_s"]?.doubleValue ?? 0,
            "crmd_cpu_us_per_command": write["crmd_cpu_us_per_request"]?.doubleValue ?? 0,
            "rebuild_events_per_s": online,
            "refold_events_per_s": refold,
        ]
    }
}
