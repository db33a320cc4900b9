import ArgumentParser
import CRMJSON
import Foundation

/// `crm-bench`: load generator, replay and rebuild benchmark for crmd over its real socket.
@main
struct CRMBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crm-bench",
        abstract: "Benchmarks crmd over its Unix socket against the raw LMDB append rate of this machine.",
        discussion: """
            Starts the release crmd found beside this executable (or --crmd) on a temporary data \
            directory and socket with the default durable configuration (crmd's CRMD_* variables in \
            crm-bench's environment reach it, e.g. CRMD_WRITE_MAP=true, and the report lists them), \
            drives it with a seeded, deterministic CRM workload, and stops it with SIGTERM. Prints a \
            table, or one JSON object \
            with --json, ending with the issue 14 cost budget: each figure MET or MISSED with its \
            value and goal (JSON: `targets`). Exits 1 when a request failed.

            write: --connections x --pipeline (64 x 16) pipelined writes, then 1 x 1; commands/s, \
            latency, crmd CPU and bytes written (/proc/<pid>/io write_bytes, wchar) per command, each \
            beside an in-process LMDB baseline (for 1 x 1: one-record durable commits and their p50).

            read: customer.get, customer.find, customer.timeline (--read-connections x --read-pipeline, \
            8 x 16) on --customers customers.

            mixed: the write load, with 4 connections reading one customer.get at a time.

            replay: the whole log read with events.read, 5 passes; events/s.

            rebuild: projection.rebuild all on the running crmd (events/s, crmd's timing), then \
            --refolds restarts with the decision state's stored version deleted: events/s of its \
            refold at start-up, as crmd reports it (projection.status, state row, last_rebuild), and \
            of another projection.rebuild all after it; medians reported. With --refold-with, each \
            restart is followed by one of that other crmd on the same log, for an A/B of both \
            figures without the noise of two loads.

            scale: a second, fresh crmd grown in --scale-steps steps by --scale-events commands of \
            the mix, or with --scale-customers N by creating N customers; per step customer.get \
            latency, data file size and bytes per event, crmd RSS and RssAnon.

            all: every mode above, in that order.

            value (not part of all; about a minute with the default 100,000 customers): a fresh crmd of its \
            own, loaded with --value-customers buyers and their orders, drawn from a seeded BG/NBD \
            process over the 2 years to 2025-06-30; rfm.report (target: at most 1 s), churn.report and \
            cohort.report, 3 times each (median, min, max); then value.model.fit 3 times (target: at most \
            10 s), each with 4 connections sending one order.record at a time before and during the fit \
            (p50/p99/max of both and the ratio of the p99s), and the fitted model's customers, \
            log-likelihood and iterations.

            marketing (not part of all): a fresh crmd loaded with --marketing-customers customers, \
            each with a confirmed-opt-in email; 3 times: segment.define of a segment holding all of \
            them and the listing of its members, 1,000 a page (target: at most 1 s together, median); \
            3 campaigns to it, each sent while 4 connections send one order.record at a time before \
            and during the send (target: their slowest reply during the send at most 100 ms, \
            median); then a few interactions and campaign.report.

            encryption (not part of all; about two minutes a round with the defaults): --refolds \
            rounds, each with two fresh crmds of the same build, personal data in plain text \
            (CRMD_ENCRYPT_PII=false) and encrypted (the default), given the same seeded workload and \
            measured in turn, --turns times each (3): the write load, an online rebuild, the decision \
            state's refold at a restart (of these two, events/s and crmd's CPU per event). Medians of \
            each over all turns and what encryption costs each figure, in percent of the plain one \
            (target: at most 10 %).
            """
    )

    /// The benchmark modes.
    enum Mode: String, ExpressibleByArgument, CaseIterable {
        case write, read, mixed, replay, rebuild, scale, all, value, marketing, encryption
    }

    @Argument(help: "write, read, mixed, replay, rebuild, scale, all, value, marketing or encryption.")
    var mode: Mode = .all

    @Option(help: "Seconds each timed phase runs.")
    var duration: Double = 3

    @Option(help: "Connections of the heavy write load.")
    var connections: Int = 64

    @Option(help: "Requests each write connection pipelines.")
    var pipeline: Int = 16

    @Option(name: .customLong("read-connections"), help: "Connections of the read load.")
    var readConnections: Int = 8

    @Option(name: .customLong("read-pipeline"), help: "Requests each read connection pipelines.")
    var readPipeline: Int = 16

    @Option(help: "Customers created before the read, mixed, replay and rebuild modes.")
    var customers: Int = 20_000

    @Option(
        name: .customLong("scale-events"),
        help: "Commands of the mix the scale mode appends, ≈ 1.1 events each (e.g. 1000000)."
    )
    var scaleEvents: Int = 200_000

    @Option(name: .customLong("scale-steps"), help: "Measurement points of the scale mode.")
    var scaleSteps: Int = 4

    @Option(
        name: .customLong("scale-customers"),
        help: """
            Customers the scale mode creates (customer.create only, e.g. 1000000 for the RssAnon \
            figure) instead of growing the log to --scale-events with the mix (0: the mix).
            """
    )
    var scaleCustomers: Int = 0

    @Option(
        name: .customLong("value-customers"),
        help: "Customers (buyers, with ≈ 3.9 orders each) the value mode loads."
    )
    var valueCustomers: Int = 100_000

    @Option(
        name: .customLong("marketing-customers"),
        help: "Customers (each with a confirmed-opt-in email) the marketing mode loads."
    )
    var marketingCustomers: Int = 100_000

    @Option(
        help: """
            Start-ups of the rebuild mode that each refold the decision state and rebuild the read models \
            (medians reported); rounds of the encryption mode.
            """
    )
    var refolds: Int = 3

    @Option(help: "Measurements of each setting per round of the encryption mode, taken in turn.")
    var turns: Int = 3

    @Option(
        name: .customLong("refold-with"),
        help: """
            Another crmd executable whose refold and online rebuild of the same log the rebuild mode times \
            alternately.
            """
    )
    var refoldWith: String?

    @Option(help: "Seed of the workload.")
    var seed: UInt64 = 1

    @Option(help: "The crmd executable (default: the one beside crm-bench).")
    var crmd: String?

    @Option(name: .customLong("work-dir"), help: "Where temporary data directories go (default: $TMPDIR or /tmp).")
    var workDir: String?

    @Option(
        help: """
            NATS server(s) for crmd's relay (e.g. nats://127.0.0.1:4222): the write, read, mixed, replay and \
            rebuild daemon publishes its log into a JetStream stream of its own, and the write figures add \
            relay_catch_up_s, the seconds the relay takes after the load to have published everything.
            """
    )
    var relay: String?

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    @Option(name: .customLong("dump-workload"), help: "Print the first COUNT requests of connection 0 and exit.")
    var dumpWorkload: Int?

    mutating func validate() throws {
        guard self.duration > 0 else { throw ValidationError("--duration must be positive") }
        guard self.connections > 0, self.pipeline > 0, self.readConnections > 0, self.readPipeline > 0 else {
            throw ValidationError("connections and pipelines must be positive")
        }
        guard self.customers >= self.connections, self.scaleEvents > 0, self.scaleSteps > 0 else {
            throw ValidationError("--customers must be ≥ --connections; scale figures must be positive")
        }
        guard self.refolds > 0, self.turns > 0 else {
            throw ValidationError("--refolds and --turns must be positive")
        }
        guard self.scaleCustomers >= 0 else { throw ValidationError("--scale-customers must be 0 or more") }
        guard self.valueCustomers >= 10 else { throw ValidationError("--value-customers must be 10 or more") }
        guard self.marketingCustomers >= 20 else {
            throw ValidationError("--marketing-customers must be 20 or more")
        }
    }

    func run() throws {
        if let count = self.dumpWorkload {
            let generator = WorkloadGenerator(seed: self.seed, prefix: "p1k0", maxCustomers: .max, limit: count)
            while let line = generator.nextLine() { print(String(decoding: line, as: UTF8.self)) }
            return
        }
        let settings = BenchSettings(
            duration: self.duration,
            connections: self.connections,
            pipeline: self.pipeline,
            readConnections: self.readConnections,
            readPipeline: self.readPipeline,
            customers: self.customers,
            scaleEvents: self.scaleEvents,
            scaleSteps: self.scaleSteps,
            scaleCustomers: self.scaleCustomers,
            valueCustomers: self.valueCustomers,
            marketingCustomers: self.marketingCustomers,
            refolds: self.refolds,
            turns: self.turns,
            refoldWith: self.refoldWith,
            seed: self.seed,
            crmd: self.crmd ?? BenchDaemon.defaultExecutable(),
            workDirectory: self.workDir ?? ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp",
            relayURL: self.relay,
            verbose: !self.json
        )
        let modes: [Mode] = self.mode == .all ? [.write, .read, .mixed, .replay, .rebuild, .scale] : [self.mode]
        let report = try Benchmark(settings: settings).run(modes: modes.map(\.rawValue))
        if self.json {
            print(report.json.serializedString())
        } else {
            print(report.table())
        }
        if report.failed { throw ExitCode(1) }
    }
}
