import CRMJSON
import CRMProtocol
import Foundation

/// The `value` mode: the customer-value reports and the model fit on a large population of buyers.
extension Benchmark {
    /// How many times each report and the fit run.
    static let valueRepetitions = 3
    /// Connections of the light write load beside the fit (one request at a time each).
    static let valueLightConnections = 4
    /// The shortest baseline window of the light load, in nanoseconds (for fits of a few milliseconds).
    static let valueMinimumWindow: UInt64 = 250_000_000

    /// Loads ``BenchSettings/valueCustomers`` customers of the ``ValuePopulation`` and their orders,
    /// times `rfm.report`, `churn.report` and `cohort.report` ``valueRepetitions`` times each, then
    /// runs `value.model.fit` as many times, each with a light write load (``SteadyWriter``) running
    /// before and during it; the load's latency during the fit is set beside its latency in the same
    /// span of time just before it.
    func value(_ daemon: BenchDaemon) throws {
        let count = self.settings.valueCustomers
        let population = (0..<count).map { ValuePopulation.customer($0, seed: self.settings.seed) }
        var figures: [String: JSON] = [
            "customers": .int(Int64(count)),
            "orders": .int(Int64(population.reduce(0) { $0 + $1.purchases.count })),
            "repeat_buyers": .int(Int64(population.count { Set($0.purchases.map(\.day)).count > 1 })),
            "as_of_date": .string(ValuePopulation.asOfDate), "generating": ValuePopulation.generating,
        ]
        figures["load"] = try self.loadValuePopulation(daemon, population)

        var reports: [String: JSON] = [:]
        let queries: [(String, JSON)] = [
            ("rfm.report", ["as_of_date": .string(ValuePopulation.asOfDate), "currency": "EUR"]),
            ("churn.report", ["start_date": "2025-03-31", "end_date": .string(ValuePopulation.asOfDate)]),
            (
                "cohort.report",
                ["from_month": "2023-07", "to_month": "2025-06", "as_of_date": .string(ValuePopulation.asOfDate)]
            ),
        ]
        for (method, params) in queries {
            if let report = try self.timeValueReport(daemon, method, params) { reports[method] = report }
        }
        figures["reports"] = .object(reports)
        figures["fit"] = try self.timeValueFits(daemon)
        self.report.sections.append(("value", .object(figures)))
    }

    /// Creates the customers, then records their orders, each pipelined over the heavy write load's
    /// connections (a customer's orders go over one connection, in time order).
    private func loadValuePopulation(_ daemon: BenchDaemon, _ population: [ValueCustomer]) throws -> JSON {
        let connections = min(self.settings.connections, max(population.count, 1))
        let shares = (0..<connections).map { Array(stride(from: $0, to: population.count, by: connections)) }
        let orders = population.reduce(0) { $0 + $1.purchases.count }
        self.log("value: loading \(population.count) customers and \(orders) orders")
        let before = try daemon.stats()
        let creates = try LoadRunner.run(
            socket: daemon.socketPath,
            sources: shares.enumerated().map { index, share in
                ValuePopulation.createSource(share, seed: self.settings.seed &+ UInt64(index))
            },
            pipeline: self.settings.pipeline,
            duration: nil,
            recordLatency: false
        )
        guard creates.errors == 0 else {
            throw BenchError(
                "value: creating customers failed: \(creates.errors) errors, first: \(creates.firstError ?? "?")"
            )
        }
        let recorded = try LoadRunner.run(
            socket: daemon.socketPath,
            sources: shares.map { share in ValuePopulation.orderSource(share.map { population[$0] }) },
            pipeline: self.settings.pipeline,
            duration: nil,
            recordLatency: false
        )
        guard recorded.errors == 0 else {
            throw BenchError(
                "value: recording orders failed: \(recorded.errors) errors, first: \(recorded.firstError ?? "?")"
            )
        }
        let after = try daemon.stats()
        self.log(
            "value: \(creates.requests) customers in \(String(format: "%.1f", creates.seconds)) s, "
                + "\(recorded.requests) orders in \(String(format: "%.1f", recorded.seconds)) s"
        )
        return [
            "connections": .int(Int64(connections)), "pipeline": .int(Int64(self.settings.pipeline)),
            "customer_creates": .int(Int64(creates.requests)), "customers_seconds": .double(creates.seconds),
            "customers_per_s": .double(creates.perSecond), "orders": .int(Int64(recorded.requests)),
            "orders_seconds": .double(recorded.seconds), "orders_per_s": .double(recorded.perSecond),
            "seconds": .double(creates.seconds + recorded.seconds), "events": .int(Int64(after.head - before.head)),
            "file_size_bytes": .int(Int64(after.fileSize)),
        ]
    }

    /// Runs one report ``valueRepetitions`` times, one at a time: its wall latency (the send of the
    /// request to the last byte of the reply), crmd's CPU time, and a few figures of the answer.
    /// `nil` (and an error in the report) when a call failed.
    private func timeValueReport(_ daemon: BenchDaemon, _ method: String, _ params: JSON) throws -> JSON? {
        var milliseconds: [Double] = []
        var cpu: [Double] = []
        var last: TimedReply?
        for _ in 0..<Benchmark.valueRepetitions {
            let cpuBefore = daemon.cpuSeconds()
            let reply = try Benchmark.timedCall(daemon, method, params)
            cpu.append((daemon.cpuSeconds() - cpuBefore) * 1000)
            if let error = reply.reply["error"] {
                self.report.errors.append("\(method): \(error.serializedString())")
                return nil
            }
            milliseconds.append(reply.seconds * 1000)
            last = reply
        }
        let result = last?.reply["result"] ?? .null
        var figures: [String: JSON] = [
            "runs_ms": .array(milliseconds.map(JSON.double)), "median_ms": .double(Benchmark.median(milliseconds)),
            "min_ms": .double(milliseconds.min() ?? 0), "max_ms": .double(milliseconds.max() ?? 0),
            "crmd_cpu_ms": .double(Benchmark.median(cpu)), "reply_bytes": .int(Int64(last?.bytes ?? 0)),
        ]
        switch method {
        case "rfm.report":
            figures["population"] = result["population"] ?? .null
            figures["segments"] = result["segments"] ?? .null
        case "churn.report":
            for name in ["start", "end", "lost", "new", "reactivated", "retained", "churn_rate", "retention_rate"] {
                figures[name] = result[name] ?? .null
            }
        default:
            let cohorts = result["cohorts"]?.arrayValue ?? []
            figures["cohorts"] = .int(Int64(cohorts.count))
            figures["customers"] = .int(cohorts.reduce(0) { $0 + ($1["size"]?.intValue ?? 0) })
        }
        self.log(
            "value: \(method) median \(Int(Benchmark.median(milliseconds))) ms "
                + "(\(milliseconds.map { String(Int($0)) }.joined(separator: " / ")))"
        )
        return .object(figures)
    }

    /// Fits the model ``valueRepetitions`` times (model ids `bench-1`, `bench-2`, …). Each round starts
    /// the light write load, lets it run alone for `--duration` seconds or 1.25 × the longest fit so
    /// far, whichever is longer, then fits while it keeps running. The load's requests that overlap
    /// the fit are its figures during the fit; those that ended in the same span of time just before
    /// the fit (as long as the fit but at least ``valueMinimumWindow``, or the whole lead when that was
    /// shorter) are its baseline.
    private func timeValueFits(_ daemon: BenchDaemon) throws -> JSON {
        var rounds: [JSON] = []
        var seconds: [Double] = []
        var baselines: [SteadyWriter.Sample] = []
        var durings: [SteadyWriter.Sample] = []
        var baselineSeconds = 0.0
        var duringSeconds = 0.0
        var model: JSON = .null
        var digests: Set<String> = []
        for round in 1...Benchmark.valueRepetitions {
            let modelID = "bench-\(round)"
            let writer = SteadyWriter(
                socket: daemon.socketPath,
                connections: Benchmark.valueLightConnections,
                customers: self.settings.valueCustomers,
                prefix: "vl\(round)",
                seed: self.settings.seed &+ UInt64(round) &* 7919
            )
            try writer.start()
            let lead = max(self.settings.duration, 1.25 * (seconds.max() ?? 0))
            usleep(UInt32(min(lead, 600) * 1e6))
            let cpuBefore = daemon.cpuSeconds()
            let params: JSON = [
                "currency": "EUR", "as_of_date": .string(ValuePopulation.asOfDate), "model_id": .string(modelID),
            ]
            let fit: TimedReply
            do {
                fit = try Benchmark.timedCall(daemon, "value.model.fit", params)
            } catch {
                _ = writer.stop()
                throw error
            }
            let cpu = daemon.cpuSeconds() - cpuBefore
            let light = writer.stop()
            if let error = light.firstError {
                self.report.errors.append("value: order.record beside the fit: \(error)")
            }
            if let error = fit.reply["error"] {
                self.report.errors.append("value.model.fit: \(error.serializedString())")
                continue
            }
            // The windows, on the clock of the samples.
            let fitEnd = fit.sentAt + UInt64(fit.seconds * 1e9)
            let firstSent = light.samples.map(\.sentAt).min() ?? fit.sentAt
            let alone = fit.sentAt - min(firstSent, fit.sentAt)
            let window = min(max(fitEnd - fit.sentAt, Benchmark.valueMinimumWindow), alone)
            let baseline = light.samples.filter { $0.sentAt >= fit.sentAt - window && $0.repliedAt <= fit.sentAt }
            let during = light.samples.filter { $0.sentAt < fitEnd && $0.repliedAt > fit.sentAt }
            seconds.append(fit.seconds)
            baselines += baseline
            durings += during
            baselineSeconds += Double(window) / 1e9
            duringSeconds += fit.seconds
            model = try daemon.call("value.model.get", ["model_id": .string(modelID)])
            if let digest = model["input_digest"]?.stringValue { digests.insert(digest) }
            let before = Benchmark.steadyFigures(baseline, seconds: Double(window) / 1e9)
            let meanwhile = Benchmark.steadyFigures(during, seconds: fit.seconds)
            rounds.append([
                "model_id": .string(modelID), "seconds": .double(fit.seconds), "crmd_cpu_s": .double(cpu),
                "lead_s": .double(lead), "n_customers": model["n_customers"] ?? .null,
                "bgnbd_ll": model["bgnbd"]?["ll"] ?? .null,
                "iterations": model["optimizer"]?["iterations"] ?? .null,
                "baseline": before, "during_fit": meanwhile,
                "p99_ratio": Benchmark.p99Ratio(during: meanwhile, baseline: before),
            ])
            self.log(
                "value: value.model.fit \(String(format: "%.2f", fit.seconds)) s; order.record p99 "
                    + "\(Int(before["latency_us"]?["p99"]?.doubleValue ?? 0)) µs before, "
                    + "\(Int(meanwhile["latency_us"]?["p99"]?.doubleValue ?? 0)) µs during"
            )
        }
        let before = Benchmark.steadyFigures(baselines, seconds: baselineSeconds)
        let meanwhile = Benchmark.steadyFigures(durings, seconds: duringSeconds)
        return [
            "runs_s": .array(seconds.map(JSON.double)),
            "median_s": seconds.isEmpty ? .null : .double(Benchmark.median(seconds)),
            "min_s": .double(seconds.min() ?? 0), "max_s": .double(seconds.max() ?? 0),
            "model_id": model["model_id"] ?? .null, "n_customers": model["n_customers"] ?? .null,
            "n_repeaters": model["n_repeaters"] ?? .null, "bgnbd": model["bgnbd"] ?? .null,
            "gamma_gamma": model["gamma_gamma"] ?? .null, "iterations": model["optimizer"]?["iterations"] ?? .null,
            "same_inputs_each_round": .bool(digests.count == 1),
            "light_load": [
                "method": "order.record", "connections": .int(Int64(Benchmark.valueLightConnections)), "pipeline": 1,
                "baseline": before, "during_fit": meanwhile,
                "p99_ratio": Benchmark.p99Ratio(during: meanwhile, baseline: before),
            ],
            "rounds": .array(rounds),
        ]
    }

    /// What one call of ``timedCall(_:_:_:)`` measured.
    struct TimedReply {
        /// When the request was sent (``LoadRunner/now()``).
        var sentAt: UInt64
        /// From the send of the request to the last byte of its reply.
        var seconds: Double
        var bytes: Int
        /// The whole reply (`result` or `error`), parsed after the clock stopped.
        var reply: JSON
    }

    /// Sends one request on a fresh connection (connected before the clock starts) and waits for its
    /// reply, up to 10 minutes.
    static func timedCall(_ daemon: BenchDaemon, _ method: String, _ params: JSON) throws -> TimedReply {
        let client = try UnixSocketClient(path: daemon.socketPath, timeout: .seconds(600))
        defer { client.close() }
        let line = ValuePopulation.request(id: 1, method: method, params: params)
        let sentAt = LoadRunner.now()
        try client.sendLine(line)
        guard let reply = try client.readLine() else { throw BenchError("crmd closed the connection") }
        let seconds = Double(LoadRunner.now() - sentAt) / 1e9
        return TimedReply(sentAt: sentAt, seconds: seconds, bytes: reply.count + 1, reply: try JSON.parse(reply))
    }

    /// Requests, errors and latency of the light load's samples over `seconds`.
    static func steadyFigures(_ samples: [SteadyWriter.Sample], seconds: Double) -> JSON {
        let latency = LatencySummary(samples.map(\.nanoseconds))
        return [
            "requests": .int(Int64(samples.count)), "errors": .int(Int64(samples.count { $0.failed })),
            "seconds": .double(seconds), "per_s": .double(seconds > 0 ? Double(samples.count) / seconds : 0),
            "latency_us": [
                "p50": .double(latency.p50), "p90": .double(latency.p90), "p99": .double(latency.p99),
                "max": .double(latency.max),
            ],
        ]
    }

    /// The light load's p99 during the fit ÷ its p99 before it (0 without a baseline).
    static func p99Ratio(during: JSON, baseline: JSON) -> JSON {
        let before = baseline["latency_us"]?["p99"]?.doubleValue ?? 0
        return .double(before > 0 ? (during["latency_us"]?["p99"]?.doubleValue ?? 0) / before : 0)
    }

    /// The median of `values` (the mean of the middle two for an even count; 0 when empty).
    static func median(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }
}
