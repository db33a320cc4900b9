import ArgumentParser
import CRMApplication
import CRMServer
import Foundation
import Logging
import NIOPosix
import ServiceLifecycle
import Synchronization
import UnixSignals

/// `crmd`: the event-sourced CRM daemon (`crmd serve`, the default) and its offline tools.
@main
struct CRMDaemonRoot: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crmd",
        abstract: "The crmd event-sourced CRM daemon.",
        discussion: "Without a subcommand, crmd serves (see `crmd serve --help`).",
        version: CRMCore.version,
        subcommands: [CRMDaemonCommand.self, ImportCommand.self],
        defaultSubcommand: CRMDaemonCommand.self
    )
}

/// `crmd serve`: run the daemon.
struct CRMDaemonCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the control socket (the default).",
        discussion: """
            Serves JSON-RPC 2.0 (one JSON object per line) on a Unix socket, appends every accepted \
            command as events to an LMDB log, and answers queries from read models folded from it. \
            Settings come from built-in defaults, then --config FILE, then CRMD_* environment \
            variables, then these flags; unknown keys and CRMD_* variables are refused. It refuses to \
            start when a live server answers on the socket path or the path is not a socket (a stale \
            socket file is replaced). It tells systemd when it is ready (Type=notify) and when it stops. \
            Stop it with SIGTERM or SIGINT: it finishes in-flight commands (requests still running \
            after 5 s are cancelled), closes the log and removes the socket.

            Keys (in the file nested as JSON objects for dotted keys; environment variable and flag in \
            parentheses):

            """ + DaemonConfiguration.helpText,
        version: CRMCore.version
    )

    @Option(name: .long, help: "JSON config file (see config/crmd.json for every key).")
    var config: String?

    @Option(name: .long, help: "Unix socket path (default ./var/crmd.sock).")
    var socket: String?

    @Option(name: .customLong("data-dir"), help: "Data directory for the LMDB log (default ./var/data).")
    var dataDir: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String?

    @Option(
        name: .customLong("signing-key"),
        help: "Ed25519 key signing checkpoints, outside the data dir (default <data-dir>-keys/signing.key; off: none)."
    )
    var signingKey: String?

    @Option(
        name: .customLong("replica-of"),
        help: "Serve as a read replica of a primary's relay stream, NATS_URL/STREAM (e.g. nats://10.0.0.5:4222/CRMD)."
    )
    var replicaOf: String?

    func run() async throws {
        var flags: [String: String] = [:]
        flags["socket_path"] = self.socket
        flags["data_dir"] = self.dataDir
        flags["log_level"] = self.logLevel
        flags["signing_key"] = self.signingKey
        flags["replica.of"] = self.replicaOf
        var settings: DaemonConfiguration
        do {
            settings = try DaemonConfiguration.read(
                flags: flags,
                environment: ProcessInfo.processInfo.environment,
                file: self.config
            )
            try settings.finalize()
        } catch let error as StartupError {
            throw ValidationError(error.description)
        }

        let level = settings.logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "crmd")

        do {
            try await CRMDaemonCommand.serve(settings, logger: logger)
        } catch let error as StartupError {
            logger.critical("crmd cannot start: \(error.description)")
            throw ExitCode(1)
        }
    }

    /// Builds the core and the server from `settings` and runs until SIGTERM/SIGINT.
    static func serve(_ settings: DaemonConfiguration, logger: Logger) async throws {
        // While descriptors are free: at its descriptor limit crmd must still be able to arm a timer.
        await DispatchTimers.prepare()
        let socketDirectory = (settings.socketPath as NSString).deletingLastPathComponent
        try? FileManager.default.createDirectory(atPath: socketDirectory, withIntermediateDirectories: true)
        // Before the data directory is opened: a crmd that must not serve there must not touch it.
        do {
            try ControlServer.prepareSocketPath(settings.socketPath)
        } catch let error as SocketPathUnavailable {
            throw StartupError(error.description)
        }
        var metricsEndpoint: MetricsListener.Endpoint?
        if !settings.metricsListen.isEmpty {
            do {
                metricsEndpoint = try MetricsListener.Endpoint(parsing: settings.metricsListen)
            } catch {
                throw StartupError(error.description)
            }
        }
        var coreConfiguration = CoreConfiguration(dataDirectory: settings.dataDirectory)
        coreConfiguration.mapSize = settings.mapSizeMB << 20
        coreConfiguration.writeMap = settings.writeMap
        coreConfiguration.maxBatch = settings.maxBatch
        coreConfiguration.startupRebuildLimit = UInt64(settings.startupRebuildLimit)
        coreConfiguration.rebuildChunkEvents = settings.rebuildChunkEvents
        coreConfiguration.writerNice = settings.writerNice
        coreConfiguration.backupDirectory = settings.backupDirectory
        coreConfiguration.kekDirectory = settings.kekDirectory
        coreConfiguration.encryptPersonalData = settings.encryptPersonalData
        coreConfiguration.checkpointEveryEvents = UInt64(settings.checkpointEveryEvents)
        coreConfiguration.checkpointEverySeconds = settings.checkpointEverySeconds
        coreConfiguration.relay = settings.relay
        coreConfiguration.replica = settings.replica
        coreConfiguration.slaBreachEvents = settings.slaBreachEvents
        coreConfiguration.slaBreachWarningMinutes = settings.slaBreachWarningMinutes
        // A replica signs nothing: the checkpoints of the log are the primary's.
        if let path = settings.signingKey, path != DaemonConfiguration.signingOff, coreConfiguration.replica == nil {
            let (key, created) = try SigningKey.loadOrCreate(path: path, dataDirectory: settings.dataDirectory)
            coreConfiguration.signingKey = key
            if created {
                logger.notice(
                    "created a signing key for checkpoints; keep it safe and give auditors its public half",
                    metadata: ["key": "\(path)", "public_key": "\(path).pub"]
                )
            }
        }
        // The writer thread opens the data directory (and rebuilds what must be rebuilt) while this waits.
        let core = try await CRMCore.start(configuration: coreConfiguration, logger: logger)

        let notifier = ServiceManagerNotifier(environment: ProcessInfo.processInfo.environment)
        // A line on stdout tells supervisors and tests that clients can connect now, and READY=1 tells
        // systemd (Type=notify): once the control socket and the metrics listener (when configured)
        // both listen.
        let ready = ReadyGate(listeners: metricsEndpoint == nil ? 1 : 2) {
            let line = "crmd ready socket=\(settings.socketPath) data_dir=\(settings.dataDirectory)\n"
            FileHandle.standardOutput.write(Data(line.utf8))
            notifier.send(["READY=1", "STATUS=serving on \(settings.socketPath)"])
        }
        let server = ControlServer(
            configuration: .init(
                socketPath: settings.socketPath,
                socketFileMode: settings.socketMode,
                maxLineBytes: settings.maxLineBytes,
                maxInFlightPerConnection: settings.maxInFlightPerConnection,
                maxUnsentReplyBytes: settings.maxUnsentReplyBytes
            ),
            handler: RPCHandler(
                core: core,
                access: settings.access,
                logger: logger,
                maxBatchRequests: settings.maxBatchRequests
            ),
            logger: logger,
            onListening: { _ in ready.listening() }
        )
        let metrics = metricsEndpoint.map { endpoint in
            MetricsListener(
                endpoint: endpoint, exposition: core.queries.metricsExposition, logger: logger,
                onListening: { _ in ready.listening() }
            )
        }
        var groupConfiguration = ServiceGroupConfiguration.daemon(
            core: core, server: server, metrics: metrics, logger: logger
        )
        groupConfiguration.gracefulShutdownSignals = [.sigterm, .sigint]
        groupConfiguration.services.append(
            .init(
                service: StoppingNotification(notifier: notifier),
                successTerminationBehavior: .ignore,
                failureTerminationBehavior: .ignore
            )
        )
        let group = ServiceGroup(configuration: groupConfiguration)
        try await group.run()
        logger.info("crmd stopped")
    }
}

/// Calls `ready` once, when the last of `listeners` listeners says it listens.
final class ReadyGate: Sendable {
    private let waiting: Mutex<Int>
    private let ready: @Sendable () -> Void

    init(listeners: Int, ready: @escaping @Sendable () -> Void) {
        self.waiting = Mutex(listeners)
        self.ready = ready
    }

    /// One more listener listens.
    func listening() {
        let last = self.waiting.withLock { waiting in
            waiting -= 1
            return waiting == 0
        }
        if last { self.ready() }
    }
}
