import CRMJSON
import Foundation
import LMDB

/// Parameters of one benchmark run.
struct BenchSettings {
    var duration: Double
    var connections: Int
    var pipeline: Int
    var readConnections: Int
    var readPipeline: Int
    var customers: Int
    var scaleEvents: Int
    var scaleSteps: Int
    /// Customers the scale mode creates (`customer.create` only) instead of growing the log with the
    /// mix; 0 for the mix.
    var scaleCustomers: Int
    /// Customers of the value mode's population (with their orders).
    var valueCustomers: Int
    /// Customers of the marketing mode (each with a confirmed-opt-in email).
    var marketingCustomers: Int
    /// Start-ups of the rebuild mode that refold the decision state.
    var refolds: Int = 3
    /// Measurements of each setting per round of the encryption mode.
    var turns: Int = 3
    /// Another crmd whose refold of the same log is timed after each of ``crmd``'s.
    var refoldWith: String? = nil
    var seed: UInt64
    var crmd: String
    var workDirectory: String
    /// NATS server(s) the relay of the write/read/mixed/replay/rebuild daemon publishes to; `nil`: no relay.
    var relayURL: String? = nil
    /// Print progress to stderr.
    var verbose: Bool

    var json: JSON {
        [
            "duration_s": .double(self.duration), "connections": .int(Int64(self.connections)),
            "pipeline": .int(Int64(self.pipeline)), "read_connections": .int(Int64(self.readConnections)),
            "read_pipeline": .int(Int64(self.readPipeline)), "customers": .int(Int64(self.customers)),
            "scale_events": .int(Int64(self.scaleEvents)), "scale_steps": .int(Int64(self.scaleSteps)),
            "scale_customers": .int(Int64(self.scaleCustomers)), "value_customers": .int(Int64(self.valueCustomers)),
            "marketing_customers": .int(Int64(self.marketingCustomers)), "refolds": .int(Int64(self.refolds)),
            "turns": .int(Int64(self.turns)),
            "refold_with": self.refoldWith.map { .string($0) } ?? .null,
            "seed": .int(Int64(bitPattern: self.seed)), "crmd": .string(self.crmd),
            "relay": self.relayURL.map { .string($0) } ?? .null,
            "crmd_environment": .object(BenchSettings.crmdEnvironment.mapValues { .string($0) }),
        ]
    }

    /// The `CRMD_*` variables of crm-bench's environment: the crmd processes it starts inherit them
    /// (`CRMD_WRITE_MAP=true crm-bench write` measures `write_map`), so a report names them.
    static var crmdEnvironment: [String: String] {
        ProcessInfo.processInfo.environment.filter { $0.key.hasPrefix("CRMD_") }
    }
}

/// Runs the modes against crmd processes it starts itself and collects every figure.
final class Benchmark {
    let settings: BenchSettings
    /// Every figure of the run so far (the modes in other files add theirs).
    var report = BenchReport()
    /// Customers known to exist in the current daemon (created by earlier phases).
    var known: [BenchCustomer] = []
    /// Distinguishes the ids of successive phases on the same daemon.
    var phase = 0
    /// The storage engine's read rates, measured once per run.
    private var readBaseline: Baseline.Reads?
    /// The run's temporary directory.
    private var root = ""

    init(settings: BenchSettings) { self.settings = settings }

    func run(modes: [String]) throws -> BenchReport {
        self.report.parameters = self.settings.json
        self.report.cores = ProcessInfo.processInfo.activeProcessorCount
        self.report.modes = modes
        let root = try self.makeTemporaryDirectory()
        self.root = root
        defer { try? FileManager.default.removeItem(atPath: root) }

        let serverModes = modes.filter { !["scale", "value", "marketing", "encryption"].contains($0) }
        if !serverModes.isEmpty {
            let daemon = BenchDaemon(executable: self.settings.crmd, workDirectory: root + "/main")
            try FileManager.default.createDirectory(atPath: root + "/main", withIntermediateDirectories: true)
            if let url = self.settings.relayURL { daemon.extraArguments = try self.relayConfig(url, root: root) }
            try daemon.start()
            defer { daemon.stop() }
            self.report.version = try daemon.call("system.ping")["version"]?.stringValue ?? "?"
            for mode in serverModes {
                self.log("== \(mode)")
                switch mode {
                case "write": try self.write(daemon, root: root)
                case "read": try self.read(daemon)
                case "mixed": try self.mixed(daemon)
                case "replay": try self.replay(daemon)
                case "rebuild": try self.rebuild(daemon)
                default: throw BenchError("unknown mode \(mode)")
                }
            }
        }
        if modes.contains("scale") {
            self.log("== scale")
            self.known = []
            let daemon = BenchDaemon(executable: self.settings.crmd, workDirectory: root + "/scale")
            try FileManager.default.createDirectory(atPath: root + "/scale", withIntermediateDirectories: true)
            try daemon.start()
            defer { daemon.stop() }
            if self.report.version.isEmpty {
                self.report.version = try daemon.call("system.ping")["version"]?.stringValue ?? "?"
            }
            try self.scale(daemon, root: root)
        }
        if modes.contains("value") {
            self.log("== value")
            let daemon = BenchDaemon(executable: self.settings.crmd, workDirectory: root + "/value")
            try FileManager.default.createDirectory(atPath: root + "/value", withIntermediateDirectories: true)
            try daemon.start()
            defer { daemon.stop() }
            if self.report.version.isEmpty {
                self.report.version = try daemon.call("system.ping")["version"]?.stringValue ?? "?"
            }
            try self.value(daemon)
        }
        if modes.contains("encryption") {
            self.log("== encryption")
            try self.encryption(root: root)
        }
        if modes.contains("marketing") {
            self.log("== marketing")
            let daemon = BenchDaemon(executable: self.settings.crmd, workDirectory: root + "/marketing")
            try FileManager.default.createDirectory(atPath: root + "/marketing", withIntermediateDirectories: true)
            try daemon.start()
            defer { daemon.stop() }
            if self.report.version.isEmpty {
                self.report.version = try daemon.call("system.ping")["version"]?.stringValue ?? "?"
            }
            try self.marketing(daemon)
        }
        self.report.evaluateTargets()
        return self.report
    }

    // MARK: - Relay

    /// `--config FILE` turning the relay on towards `url`, into a stream of this run's own (a stream's
    /// subjects may not overlap another's, and a new log needs a new stream).
    private func relayConfig(_ url: String, root: String) throws -> [String] {
        let run = "BENCH_\(ProcessInfo.processInfo.processIdentifier)_\(UInt32.random(in: 0...UInt32.max))"
        let config: JSON = [
            "relay": [
                "enabled": true, "url": .string(url), "stream": .string(run),
                "subject_prefix": .string("bench.\(run)"),
            ]
        ]
        let path = root + "/relay.json"
        try Data(config.serialized()).write(to: URL(fileURLWithPath: path))
        self.log("relay on: stream \(run) at \(url)")
        return ["--config", path]
    }

    /// Seconds from now (the end of a load) until the relay has published the whole log; fails after
    /// 60 s or when the relay stopped.
    private func relayCatchUp(_ daemon: BenchDaemon) throws -> Double {
        let start = LoadRunner.now()
        while true {
            let stats = try daemon.call("system.stats")
            let relay = stats["relay"] ?? .null
            let elapsed = Double(LoadRunner.now() - start) / 1e9
            if relay["lag_events"]?.intValue == 0 { return elapsed }
            if relay["state"] == "failed" || elapsed > 60 {
                throw BenchError("the relay did not catch up: \(relay.serializedString())")
            }
            usleep(2_000)
        }
    }

    // MARK: - Write

    private func write(_ daemon: BenchDaemon, root: String) throws {
        var heavy = try self.writeLoad(
            daemon,
            connections: self.settings.connections,
            pipeline: self.settings.pipeline,
            root: root
        )
        if self.settings.relayURL != nil { heavy["relay_catch_up_s"] = .double(try self.relayCatchUp(daemon)) }
        self.report.sections.append(("write", heavy))
        let single = try self.writeLoad(daemon, connections: 1, pipeline: 1, root: root)
        self.report.sections.append(("write_sequential", single))
    }

    /// One timed write phase plus its storage baseline. With one connection sending one command at a
    /// time, the baseline's one-record commits are interleaved with crmd's commands (slices of
    /// ``sliceSeconds`` each), so both see the same disk whatever else runs on the machine. Runs for
    /// `duration` seconds (`--duration` when `nil`).
    func writeLoad(
        _ daemon: BenchDaemon, connections: Int, pipeline: Int, root: String, duration: Double? = nil
    ) throws -> JSON {
        let duration = duration ?? self.settings.duration
        let before = try daemon.stats()
        let generators = self.generators(count: connections, maxCustomers: Int.max, limit: nil)
        // One command at a time: one-record commits, whose latency is the bound for the command's.
        let sequential = connections == 1 && pipeline == 1
        self.phase += 1
        let directory = root + "/baseline-\(self.phase)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var interleaved: (appender: Baseline.Appender, latencies: [UInt64], seconds: Double)?
        if sequential {
            // The records of the phase before this one give the record size.
            let page = try daemon.call("events.read", ["from": .int(Int64(max(1, before.head - 999))), "limit": 1000])
            let appender = try Baseline.Appender(
                directory: directory,
                recordBytes: Baseline.averageRecordBytes(page["events"]?.arrayValue ?? [])
            )
            interleaved = (appender, [], 0)
        }
        let cpuBefore = daemon.cpuSeconds()
        let writerBefore = daemon.cpuSeconds(thread: "crmd-writer")
        let ioBefore = daemon.ioCounters()
        var result = LoadResult()
        let slices = interleaved == nil ? 1 : max(1, Int((duration / Benchmark.sliceSeconds).rounded()))
        for _ in 0..<slices {
            let slice = try LoadRunner.run(
                socket: daemon.socketPath,
                sources: generators,
                pipeline: pipeline,
                duration: duration / Double(slices)
            )
            result.merge(slice)
            result.seconds += slice.seconds
            result.clientCPUSeconds += slice.clientCPUSeconds
            if let appender = interleaved?.appender {
                let startedAt = LoadRunner.now()
                interleaved?.latencies += try appender.commitOneByOne(for: slice.seconds)
                interleaved?.seconds += Double(LoadRunner.now() - startedAt) / 1e9
            }
        }
        let io = daemon.ioCounters() - ioBefore
        let cpu = daemon.cpuSeconds() - cpuBefore
        let writerCPU = daemon.cpuSeconds(thread: "crmd-writer") - writerBefore
        let after = try daemon.stats()
        self.adopt(generators)
        let events = after.head - before.head
        let commits = after.commits.map { $0 - (before.commits ?? 0) }
        var figures = self.loadFigures(result)
        figures["connections"] = .int(Int64(connections))
        figures["pipeline"] = .int(Int64(pipeline))
        figures["events"] = .int(Int64(events))
        figures["events_per_s"] = .double(Double(events) / result.seconds)
        figures["crmd_cpu_us_per_request"] = .double(cpu * 1e6 / Double(max(result.requests, 1)))
        // The writer thread runs every command: when it is busy nearly all the phase, it sets the rate.
        figures["writer_cpu_us_per_request"] = .double(writerCPU * 1e6 / Double(max(result.requests, 1)))
        figures["writer_busy"] = .double(writerCPU / max(result.seconds, 1e-9))
        figures["io"] = [
            "write_bytes": .int(Int64(io.writeBytes)), "wchar": .int(Int64(io.wchar)),
            "write_bytes_per_command": .double(Double(io.writeBytes) / Double(max(result.requests, 1))),
            "write_bytes_per_event": .double(Double(io.writeBytes) / Double(max(events, 1))),
            "wchar_per_command": .double(Double(io.wchar) / Double(max(result.requests, 1))),
            // wchar less the replies crmd sent (what the clients received): its file writes, LMDB's
            // pwrite of every dirty page. write_bytes can be far larger (see docs/PERFORMANCE.md).
            "file_wchar_per_command": .double(
                Double(max(io.wchar - result.bytesReceived, 0)) / Double(max(result.requests, 1))
            ),
        ]
        var mix: [String: JSON] = [:]
        for generator in generators {
            for (method, count) in generator.counts { mix[method] = .int((mix[method]?.intValue ?? 0) + Int64(count)) }
        }
        figures["mix"] = .object(mix)
        let batch: Double
        if let commits, commits > 0 {
            figures["commits"] = .int(Int64(commits))
            batch = Double(result.requests) / Double(commits)
        } else {
            batch = Double(pipeline * connections)
        }
        figures["commands_per_commit"] = .double(batch)
        // The storage engine alone, same records, same batches (events per commit): run now, or
        // interleaved with the phase.
        let baseline: Baseline.Result
        if let interleaved {
            baseline = Baseline.Result(
                records: interleaved.appender.records,
                recordBytes: interleaved.appender.recordBytes,
                batch: 1,
                seconds: interleaved.seconds,
                commitLatencies: interleaved.latencies
            )
        } else {
            let page = try daemon.call("events.read", ["from": .int(Int64(max(1, before.head + 1))), "limit": 1000])
            baseline = try Baseline.run(
                records: max(events, 1),
                recordBytes: Baseline.averageRecordBytes(page["events"]?.arrayValue ?? []),
                batch: max(1, Int((Double(events) / Double(max(commits ?? 1, 1))).rounded())),
                directory: directory
            )
        }
        figures["baseline"] = [
            "records": .int(Int64(baseline.records)), "record_bytes": .int(Int64(baseline.recordBytes)),
            "records_per_commit": .int(Int64(baseline.batch)), "seconds": .double(baseline.seconds),
            "records_per_s": .double(baseline.perSecond),
            "commit_p50_us": .double(LatencySummary(baseline.commitLatencies).p50),
            "commit_p99_us": .double(LatencySummary(baseline.commitLatencies).p99),
            "interleaved": .bool(interleaved != nil),
        ]
        figures["ratio_to_baseline"] = .double(
            baseline.perSecond > 0 ? (Double(events) / result.seconds) / baseline.perSecond : 0
        )
        // (Not on the interleaved environment: it is still open, and LMDB must not open it twice.)
        if self.readBaseline == nil, interleaved == nil {
            self.readBaseline = try Baseline.reads(directory: directory, records: baseline.records)
        }
        self.log(
            "write c=\(connections) p=\(pipeline): \(Int(result.perSecond)) commands/s, "
                + "\(Int(Double(events) / result.seconds)) events/s, "
                + "\(io.writeBytes / max(result.requests, 1)) bytes written/command, "
                + "baseline \(Int(baseline.perSecond)) records/s"
        )
        return .object(figures)
    }

    /// How long each slice of the sequential write phase, and of its interleaved baseline, runs.
    static let sliceSeconds = 0.5

    /// Fresh workload generators, one per connection, with ids unique to this phase.
    /// With `creates`, each connection sends only `customer.create`, as many as `creates(index)`
    /// (`maxCustomers` and `limit` are then ignored).
    private func generators(
        count: Int,
        maxCustomers: Int,
        limit: Int?,
        creates: ((Int) -> Int)? = nil
    ) -> [WorkloadGenerator] {
        self.phase += 1
        return (0..<count).map { index in
            let created = creates?(index)
            return WorkloadGenerator(
                seed: self.settings.seed &* 1_000_003 &+ UInt64(self.phase) &* 7919 &+ UInt64(index),
                prefix: "p\(self.phase)k\(index)",
                maxCustomers: created ?? maxCustomers,
                limit: created ?? limit,
                entries: created == nil ? WorkloadMix.standard : WorkloadMix.customersOnly
            )
        }
    }

    /// Remembers the customers the generators created (the phase had no errors, or they are reported).
    private func adopt(_ generators: [WorkloadGenerator]) {
        // A merged customer answers `customer_merged`: queries go to the surviving ones.
        for generator in generators { self.known.append(contentsOf: generator.context.customers.filter { !$0.merged }) }
    }

    /// Creates customers (with their follow-up commands) until at least `settings.customers` exist.
    func populate(_ daemon: BenchDaemon) throws {
        let missing = self.settings.customers - self.known.count
        guard missing > 0 else { return }
        let connections = min(self.settings.connections, missing)
        let perConnection = (missing + connections - 1) / connections
        // About 7 commands per customer with the standard mix; creating stops at the cap.
        let generators = self.generators(count: connections, maxCustomers: perConnection, limit: perConnection * 7)
        self.log("populating \(missing) customers")
        let result = try LoadRunner.run(
            socket: daemon.socketPath,
            sources: generators,
            pipeline: self.settings.pipeline,
            duration: nil,
            recordLatency: false
        )
        if result.errors > 0 {
            throw BenchError("populating failed: \(result.errors) errors, first: \(result.firstError ?? "?")")
        }
        self.adopt(generators)
    }

    /// The storage engine's read rates; measured on a fresh environment of 100,000 records when no
    /// write phase has run.
    private func storageReads() throws -> Baseline.Reads {
        if let reads = self.readBaseline { return reads }
        let directory = self.root + "/baseline-reads"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let written = try Baseline.run(records: 100_000, recordBytes: 400, batch: 1000, directory: directory)
        let reads = try Baseline.reads(directory: directory, records: written.records)
        self.readBaseline = reads
        return reads
    }

    /// `value` as a fraction of `baseline` (0 when there is no baseline).
    private static func ratio(_ value: Double, _ baseline: Double) -> JSON {
        .double(baseline > 0 ? value / baseline : 0)
    }

    // MARK: - Read

    /// The query load: `customer.get`, `customer.find` (by email, and by tag) and `customer.timeline`
    /// on random known customers.
    private func querySources(_ method: String, count: Int, seedOffset: UInt64) -> [any RequestSource] {
        let customers = self.known
        return (0..<count).map { index in
            ClosureSource(seed: self.settings.seed &+ seedOffset &+ UInt64(index) &* 31) { rng, id in
                let customer = customers[rng.below(customers.count)]
                let params: JSON
                let name: String
                switch method {
                case "customer.find":
                    name = method
                    params = rng.chance(80)
                        ? ["email": .string(customer.email)]
                        : ["tag": .string(rng.pick(Vocabulary.tags)), "limit": 10]
                case "customer.timeline":
                    name = method
                    params = ["customer_id": .string(customer.id), "limit": 20]
                default:
                    name = "customer.get"
                    params = ["customer_id": .string(customer.id)]
                }
                let request: JSON = ["jsonrpc": "2.0", "id": .int(id), "method": .string(name), "params": params]
                return request.serialized()
            }
        }
    }

    private func read(_ daemon: BenchDaemon) throws {
        try self.populate(daemon)
        var queries: [String: JSON] = [:]
        for (offset, method) in ["customer.get", "customer.find", "customer.timeline"].enumerated() {
            let cpuBefore = daemon.cpuSeconds()
            let result = try LoadRunner.run(
                socket: daemon.socketPath,
                sources: self.querySources(method, count: self.settings.readConnections, seedOffset: UInt64(offset)),
                pipeline: self.settings.readPipeline,
                duration: self.settings.duration
            )
            let cpu = daemon.cpuSeconds() - cpuBefore
            var figures = self.loadFigures(result)
            figures["crmd_cpu_us_per_request"] = .double(cpu * 1e6 / Double(max(result.requests, 1)))
            figures["ratio_to_baseline"] = Benchmark.ratio(result.perSecond, try self.storageReads().getPerSecond)
            figures["connections"] = .int(Int64(self.settings.readConnections))
            figures["pipeline"] = .int(Int64(self.settings.readPipeline))
            queries[method] = .object(figures)
            self.log("read \(method): \(Int(result.perSecond)) queries/s")
        }
        queries["customers"] = .int(Int64(self.known.count))
        queries["baseline"] = try self.storageReads().json
        self.report.sections.append(("read", .object(queries)))
    }

    // MARK: - Mixed

    /// The heavy write load and, at the same time, 4 connections sending one `customer.get` at a time.
    private func mixed(_ daemon: BenchDaemon) throws {
        try self.populate(daemon)
        let readers = self.querySources("customer.get", count: 4, seedOffset: 99)
        let generators = self.generators(count: self.settings.connections, maxCustomers: Int.max, limit: nil)
        let socket = daemon.socketPath
        let duration = self.settings.duration
        let readResult = LoadRunner.Handover<Result<LoadResult, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        let readerBox = LoadRunner.Handover(readers)
        let thread = Thread {
            readResult.value = Result {
                try LoadRunner.run(socket: socket, sources: readerBox.value, pipeline: 1, duration: duration)
            }
            done.signal()
        }
        thread.start()
        let writes = try LoadRunner.run(
            socket: socket,
            sources: generators,
            pipeline: self.settings.pipeline,
            duration: duration
        )
        done.wait()
        self.adopt(generators)
        guard let reads = try readResult.value?.get() else { throw BenchError("the readers did not finish") }
        var writeFigures = self.loadFigures(writes)
        writeFigures["connections"] = .int(Int64(self.settings.connections))
        writeFigures["pipeline"] = .int(Int64(self.settings.pipeline))
        var readFigures = self.loadFigures(reads)
        readFigures["connections"] = 4
        readFigures["pipeline"] = 1
        self.report.sections.append(("mixed", ["writes": .object(writeFigures), "reads": .object(readFigures)]))
        self.log("mixed: \(Int(writes.perSecond)) commands/s, read p99 \(LatencySummary(reads.latencies).p99) µs")
    }

    // MARK: - Replay

    /// Reads the whole log in order with `events.read` pages of 1000, ``replayPasses`` times over (one
    /// pass takes a fraction of a second), two connections pipelining four pages each (page k goes to
    /// connection k mod 2).
    private func replay(_ daemon: BenchDaemon) throws {
        try self.populate(daemon)
        let head = try daemon.stats().head
        let connections = 2
        let pageSize = 1000
        let pagesPerPass = (head + pageSize - 1) / pageSize
        let pages = pagesPerPass * Benchmark.replayPasses
        let sources: [any RequestSource] = (0..<connections).map { index in
            var page = index
            return ClosureSource(seed: 0) { _, id in
                guard page < pages else { return nil }
                defer { page += connections }
                let from = (page % pagesPerPass) * pageSize + 1
                let request: JSON = [
                    "jsonrpc": "2.0", "id": .int(id), "method": "events.read",
                    "params": ["from": .int(Int64(from)), "limit": .int(Int64(pageSize))],
                ]
                return request.serialized()
            }
        }
        let cpuBefore = daemon.cpuSeconds()
        let result = try LoadRunner.run(
            socket: daemon.socketPath,
            sources: sources,
            pipeline: 4,
            duration: nil,
            recordLatency: false
        )
        let cpu = daemon.cpuSeconds() - cpuBefore
        let reads = try self.storageReads()
        let events = head * Benchmark.replayPasses
        let figures: JSON = [
            "crmd_cpu_us_per_event": .double(cpu * 1e6 / Double(max(events, 1))),
            "baseline": reads.json,
            "ratio_to_baseline": Benchmark.ratio(Double(events) / result.seconds, reads.scanPerSecond),
            "events": .int(Int64(events)), "log_events": .int(Int64(head)), "passes": .int(Int64(Benchmark.replayPasses)),
            "pages": .int(Int64(result.requests)), "errors": .int(Int64(result.errors)),
            "seconds": .double(result.seconds), "events_per_s": .double(Double(events) / result.seconds),
            "bytes_per_s": .double(Double(result.bytesReceived) / result.seconds),
            "connections": .int(Int64(connections)), "page_size": .int(Int64(pageSize)),
        ]
        if let error = result.firstError { self.report.errors.append("replay: \(error)") }
        self.report.sections.append(("replay", figures))
        self.log("replay: \(Int(Double(events) / result.seconds)) events/s")
    }

    /// How many times the replay mode reads the whole log.
    static let replayPasses = 5

    // MARK: - Rebuild

    /// Two figures. The read models: `projection.rebuild all` on the running daemon, which folds the
    /// whole log into fresh tables in chunks between commands (one pass feeds all of them); the time
    /// is crmd's own, from the request to the switch-over (`last_rebuild` in `projection.status`).
    /// The decision state: stop, delete its stored version, restart; crmd refolds it before it is
    /// ready, and reports the events and the time in the `last_rebuild` of its `projection.status`
    /// row (the start-up minus a plain start-up is kept as a cross-check). Each of the `refolds`
    /// restarts also rebuilds the read models online again; both figures are medians.
    private func rebuild(_ daemon: BenchDaemon) throws {
        try self.populate(daemon)
        let head = try daemon.stats().head
        let (first, names, firstCPU) = try self.onlineRebuild(daemon)

        daemon.stop()
        let plain = try daemon.start()
        daemon.stop()
        // The refold, `refolds` times (alternating with the other crmd when given), on the same log,
        // each followed by an online rebuild of the read models.
        let builds = [daemon.executable] + (self.settings.refoldWith.map { [$0] } ?? [])
        var runs: [[Double]] = builds.map { _ in [] }
        var online: [[Double]] = builds.map { _ in [] }
        var onlineCPU: [[Double]] = builds.map { _ in [] }
        online[0].append(Double(head) / first)
        onlineCPU[0].append(firstCPU * 1e6 / Double(max(head, 1)))
        var cleared: [String] = []
        var rebuilding = 0.0
        for _ in 0..<self.settings.refolds {
            for (index, build) in builds.enumerated() {
                daemon.executable = build
                cleared = try Benchmark.clearProjectionVersions(dataDirectory: daemon.dataDirectory, only: ["state"])
                let startup = try daemon.start()
                if index == 0 { rebuilding = startup }
                runs[index].append(try self.reportedRefold(daemon, head: head))
                let rebuilt = try self.onlineRebuild(daemon)
                online[index].append(Double(head) / rebuilt.seconds)
                onlineCPU[index].append(rebuilt.cpuSeconds * 1e6 / Double(max(head, 1)))
                daemon.stop()
            }
        }
        daemon.executable = builds[0]
        _ = try daemon.start()
        let stateRate = Benchmark.median(runs[0])
        let onlineRate = Benchmark.median(online[0])
        let reads = try self.storageReads()
        let figures: JSON = [
            "baseline": reads.json,
            "ratio_to_baseline": Benchmark.ratio(onlineRate, reads.scanPerSecond),
            "events": .int(Int64(head)), "projections": .strings(names),
            "seconds": .double(Double(head) / max(onlineRate, 1e-9)), "events_per_s": .double(onlineRate),
            "runs_events_per_s": .array(online[0].map { .double($0) }),
            "crmd_cpu_us_per_event": .double(Benchmark.median(onlineCPU[0])),
            "runs_crmd_cpu_us_per_event": .array(onlineCPU[0].map { .double($0) }),
            "compared": builds.count > 1
                ? [
                    "crmd": .string(builds[1]), "events_per_s": .double(Benchmark.median(online[1])),
                    "runs_events_per_s": .array(online[1].map { .double($0) }),
                    "crmd_cpu_us_per_event": .double(Benchmark.median(onlineCPU[1])),
                    "runs_crmd_cpu_us_per_event": .array(onlineCPU[1].map { .double($0) }),
                ] : .null,
            "decision_state": [
                "projections": .strings(cleared), "startup_s": .double(plain),
                "startup_with_rebuild_s": .double(rebuilding), "events": .int(Int64(head)),
                "seconds": .double(Double(head) / max(stateRate, 1e-9)), "events_per_s": .double(stateRate),
                "runs_events_per_s": .array(runs[0].map { .double($0) }),
                "startup_difference_events_per_s": .double(Double(head) / max(rebuilding - plain, 1e-6)),
                "compared": builds.count > 1
                    ? [
                        "crmd": .string(builds[1]), "events_per_s": .double(Benchmark.median(runs[1])),
                        "runs_events_per_s": .array(runs[1].map { .double($0) }),
                    ] : .null,
            ],
        ]
        self.report.sections.append(("rebuild", figures))
        self.log(
            "rebuild: read models \(Int(onlineRate)) events/s online (median of \(online[0].count)), "
                + "decision state \(Int(stateRate)) events/s at start-up (median of \(runs[0].count))"
                + (builds.count > 1
                    ? "; \(builds[1]): \(Int(Benchmark.median(online[1]))) and \(Int(Benchmark.median(runs[1]))) events/s"
                    : "")
        )
    }

    /// The rate of the decision state's refold at the start-up `daemon` just made: events ÷ seconds,
    /// both as crmd reports them (`projection.status`, the `state` row's `last_rebuild`, on its
    /// millisecond clock); an error is recorded unless it refolded all `head` events.
    func reportedRefold(_ daemon: BenchDaemon, head: Int) throws -> Double {
        let stateRows = try daemon.call("projection.status")["projections"]?.arrayValue ?? []
        let refold = stateRows.first { $0["name"] == "state" }?["last_rebuild"] ?? .null
        let stateEvents = Int(refold["events"]?.intValue ?? 0)
        if refold.isNull || stateEvents != head {
            self.report.errors.append(
                "\(daemon.executable) did not report refolding the decision state's \(head) events at start-up "
                    + "(projection.status state.last_rebuild: \(refold.serializedString()))"
            )
        }
        return Double(stateEvents) / max(refold["seconds"]?.doubleValue ?? 0, 1e-3)
    }

    /// Rebuilds every read model of the running `daemon` online (`projection.rebuild all`) and waits
    /// until all are live again: crmd's own time of the slowest (request to switch-over, in its
    /// `last_rebuild`), the names of the read models rebuilt, and the CPU time crmd spent meanwhile
    /// (the rebuild's, and the status polls').
    func onlineRebuild(_ daemon: BenchDaemon) throws -> (seconds: Double, names: [String], cpuSeconds: Double) {
        let cpuBefore = daemon.cpuSeconds()
        _ = try daemon.call("projection.rebuild", ["name": "all"])
        var rows: [JSON] = []
        // Poll gently: the figure is crmd's own timing, and polling competes with the rebuild for CPU.
        repeat {
            usleep(50_000)
            rows = try daemon.call("projection.status")["projections"]?.arrayValue ?? []
        } while rows.contains { $0["state"] == "rebuilding" }
        // The read models: every row but the decision state's (`state`, rebuilt only at start-up).
        let models = rows.filter { $0["name"] != "state" }
        let finished = models.compactMap { $0["last_rebuild"] }.filter { !$0.isNull }
        let seconds = max(finished.compactMap { $0["seconds"]?.doubleValue }.max() ?? 0, 1e-3)
        let names = models.filter { !($0["last_rebuild"]?.isNull ?? true) }.compactMap { $0["name"]?.stringValue }
        if names.count != models.count || rows.contains(where: { $0["state"] != "live" }) {
            let states = JSON.array(rows).serializedString()
            self.report.errors.append("rebuild: not every read model came back live: \(states)")
        }
        return (seconds, names, daemon.cpuSeconds() - cpuBefore)
    }

    /// Deletes the stored version of every projection (or of those named in `only`), so the next
    /// start rebuilds them.
    static func clearProjectionVersions(dataDirectory: String, only: Set<String>? = nil) throws -> [String] {
        let environment = try Environment(path: dataDirectory)
        return try environment.write { txn in
            let meta = try txn.openDatabase("meta", create: false)
            var keys: [[UInt8]] = []
            try txn.withCursor(meta) { cursor in
                var entry = try cursor.seek(atOrAfter: "proj.")
                while let current = entry {
                    let key = String(decoding: current.key, as: UTF8.self)
                    guard key.hasPrefix("proj.") else { break }
                    let name = String(key.dropFirst(5).dropLast(8))
                    if key.hasSuffix(".version"), only?.contains(name) ?? true { keys.append(current.keyBytes) }
                    entry = try cursor.next()
                }
            }
            for key in keys { try txn.delete(meta, key) }
            return keys.map { String(decoding: $0.dropFirst(5).dropLast(8), as: UTF8.self) }
        }
    }

    // MARK: - Scale

    /// Grows a fresh log in `scaleSteps` steps with the heavy write load: to `scaleEvents` with the
    /// standard mix, or, when `scaleCustomers` is set, by creating that many customers
    /// (`customer.create` only). After each step measures `customer.get` latency (4 connections, one
    /// request at a time), the file size (and per event) and crmd's RSS and RssAnon.
    private func scale(_ daemon: BenchDaemon, root: String) throws {
        var steps: [JSON] = []
        let customersOnly = self.settings.scaleCustomers > 0
        let total = customersOnly ? self.settings.scaleCustomers : self.settings.scaleEvents
        let stepCount = self.settings.scaleSteps
        let perStep = max(1, total / stepCount)
        let connections = min(self.settings.connections, perStep)
        for step in 1...stepCount {
            let before = try daemon.stats()
            // About one event per command (the mix), or one customer per command; each connection stops
            // after its share (the customers add up to exactly `scaleCustomers`).
            let limit = max(1, perStep / connections)
            let generators: [WorkloadGenerator]
            if customersOnly {
                let share = total * step / stepCount - total * (step - 1) / stepCount
                generators = self.generators(count: connections, maxCustomers: 0, limit: nil) { index in
                    share / connections + (index < share % connections ? 1 : 0)
                }
            } else {
                generators = self.generators(count: connections, maxCustomers: limit / 7 + 1, limit: limit)
            }
            let result = try LoadRunner.run(
                socket: daemon.socketPath,
                sources: generators,
                pipeline: self.settings.pipeline,
                duration: nil,
                recordLatency: false
            )
            self.adopt(generators)
            let after = try daemon.stats()
            let events = after.head - before.head
            let queries = try LoadRunner.run(
                socket: daemon.socketPath,
                sources: self.querySources("customer.get", count: 4, seedOffset: UInt64(step) &* 1000),
                pipeline: 1,
                duration: min(self.settings.duration, 2)
            )
            let latency = LatencySummary(queries.latencies)
            let anonymous = daemon.anonymousBytes()
            steps.append([
                "events": .int(Int64(after.head)), "customers": .int(Int64(self.known.count)),
                "append_events_per_s": .double(Double(events) / result.seconds),
                "append_commands_per_s": .double(result.perSecond), "append_errors": .int(Int64(result.errors)),
                "query_p50_us": .double(latency.p50), "query_p99_us": .double(latency.p99),
                "query_errors": .int(Int64(queries.errors)), "file_size_bytes": .int(Int64(after.fileSize)),
                "file_bytes_per_event": .double(Double(after.fileSize) / Double(max(after.head, 1))),
                "rss_bytes": .int(Int64(daemon.residentBytes())), "rss_anon_bytes": .int(Int64(anonymous)),
            ])
            if let error = result.firstError ?? queries.firstError { self.report.errors.append("scale: \(error)") }
            self.log(
                "scale \(after.head) events, \(self.known.count) customers: append "
                    + "\(Int(Double(events) / result.seconds)) events/s, get p99 \(latency.p99) µs, "
                    + "file \(after.fileSize >> 20) MiB (\(after.fileSize / max(after.head, 1)) bytes/event), "
                    + "rss \(daemon.residentBytes() >> 20) MiB, RssAnon \(anonymous >> 20) MiB"
            )
        }
        self.report.sections.append(
            ("scale", ["steps": .array(steps), "workload": customersOnly ? "customer.create" : "standard"])
        )
    }

    // MARK: - Helpers

    private func loadFigures(_ result: LoadResult) -> [String: JSON] {
        let latency = LatencySummary(result.latencies)
        if let error = result.firstError { self.report.errors.append(error) }
        return [
            "requests": .int(Int64(result.requests)), "errors": .int(Int64(result.errors)),
            "seconds": .double(result.seconds), "per_s": .double(result.perSecond),
            "client_cpu_us_per_request": .double(result.clientCPUSeconds * 1e6 / Double(max(result.requests, 1))),
            "latency_us": [
                "p50": .double(latency.p50), "p90": .double(latency.p90), "p99": .double(latency.p99),
                "p99_9": .double(latency.p999), "max": .double(latency.max),
            ],
        ]
    }

    private func makeTemporaryDirectory() throws -> String {
        let path = self.settings.workDirectory + "/crm-bench-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    func log(_ message: String) {
        guard self.settings.verbose else { return }
        FileHandle.standardError.write(Data("crm-bench: \(message)\n".utf8))
    }
}
