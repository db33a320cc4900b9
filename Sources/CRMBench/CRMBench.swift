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
            directory and socket with the default durable configuration, drives it with a seeded, \
            deterministic CRM workload, and stops it with SIGTERM. Modes: write, read, mixed, replay, \
            rebuild, scale, all. Prints a table, or one JSON object with --json.
            """
    )

    /// The benchmark modes.
    enum Mode: String, ExpressibleByArgument, CaseIterable {
        case write, read, mixed, replay, rebuild, scale, all
    }

    @Argument(help: "write, read, mixed, replay, rebuild, scale or all.")
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

    @Option(name: .customLong("scale-events"), help: "Events the scale mode grows the log to (e.g. 1000000).")
    var scaleEvents: Int = 200_000

    @Option(name: .customLong("scale-steps"), help: "Measurement points of the scale mode.")
    var scaleSteps: Int = 4

    @Option(help: "Seed of the workload.")
    var seed: UInt64 = 1

    @Option(help: "The crmd executable (default: the one beside crm-bench).")
    var crmd: String?

    @Option(name: .customLong("work-dir"), help: "Where temporary data directories go (default: $TMPDIR or /tmp).")
    var workDir: String?

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
            seed: self.seed,
            crmd: self.crmd ?? BenchDaemon.defaultExecutable(),
            workDirectory: self.workDir ?? ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp",
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
