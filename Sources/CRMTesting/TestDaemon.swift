public import CRMApplication
public import CRMRPC
import CRMServer
import Logging
import ServiceLifecycle
import Synchronization

/// A real daemon (core + control server, in the daemon's service group) running in-process on a
/// temporary socket and data directory, for end-to-end tests over the socket.
public final class TestDaemon: Sendable {
    /// Directory holding the socket and the data directory.
    public let directory: TemporaryDirectory
    /// The socket clients connect to.
    public let socketPath: String
    /// The application core, for assertions that bypass the socket.
    public let core: CRMCore
    /// The port of the HTTP metrics listener, when one was asked for.
    public let metricsPort: Int?
    private let group: ServiceGroup
    private let runTask: Task<Void, any Error>

    /// Starts a daemon and returns once its socket accepts connections (and its HTTP metrics listener
    /// on `metricsListen`, `HOST:PORT`, when given; port 0 picks a free one, see ``metricsPort``). Its
    /// SLA scheduler is off (tests count the events they write) unless `configure` turns on
    /// ``CoreConfiguration/slaBreachEvents``. With `shutdownEscalates` false, a graceful stop never
    /// turns into cancellation after the daemon's 5 s grace period: a test of what must not hold up a
    /// stop then fails by hanging (its time limit), not by a timing bound a loaded machine can break.
    /// Unlike crmd, a test daemon never ends the process when cancelled services are slow to finish.
    public init(
        directory: TemporaryDirectory = TemporaryDirectory(),
        maxLineBytes: Int = 1_048_576,
        logLevel: Logger.Level = .warning,
        seedDefaults: Bool = false,
        access: AccessPolicy = .open,
        subscriptionBufferBytes: Int = 4 << 20,
        metricsListen: String? = nil,
        shutdownEscalates: Bool = true,
        configure: (inout CoreConfiguration) -> Void = { _ in }
    ) async throws {
        let metricsEndpoint = try metricsListen.map { text in try MetricsListener.Endpoint(parsing: text) }
        self.directory = directory
        self.socketPath = directory.appending("crmd.sock")
        var logger = Logger(label: "crmd-test")
        logger.logLevel = logLevel
        var configuration = CoreConfiguration(dataDirectory: directory.appending("data"))
        // Off by default so tests can count events from position 1; pass `true` to get the daemon's
        // default pipeline.
        configuration.seedDefaults = seedDefaults
        configuration.backupDirectory = directory.appending("backups")
        configure(&configuration)
        self.core = try await CRMCore.start(configuration: configuration, logger: logger)
        let ready = AsyncStream<Void>.makeStream()
        let server = ControlServer(
            configuration: .init(socketPath: self.socketPath, maxLineBytes: maxLineBytes),
            handler: RPCHandler(
                core: self.core,
                access: access,
                logger: logger,
                subscriptionBufferBytes: subscriptionBufferBytes
            ),
            logger: logger,
            onListening: { _ in
                ready.continuation.yield()
                ready.continuation.finish()
            }
        )
        let metricsReady = AsyncStream<Int>.makeStream()
        let metrics = metricsEndpoint.map { [core = self.core] endpoint in
            MetricsListener(endpoint: endpoint, exposition: core.queries.metricsExposition, logger: logger) { port in
                metricsReady.continuation.yield(port)
                metricsReady.continuation.finish()
            }
        }
        var groupConfiguration = ServiceGroupConfiguration.daemon(
            core: self.core, server: server, metrics: metrics, logger: logger
        )
        if !shutdownEscalates { groupConfiguration.maximumGracefulShutdownDuration = nil }
        // The daemon ends its process when cancelled services have not finished 4 s later; in a test
        // process that would take every other suite with it (it happened once in CI, a stop on a loaded
        // machine). A stop that never finishes fails its own test by the test's time limit instead.
        groupConfiguration.maximumCancellationDuration = nil
        let group = ServiceGroup(configuration: groupConfiguration)
        self.group = group
        self.runTask = Task { try await group.run() }
        var iterator = ready.stream.makeAsyncIterator()
        _ = await iterator.next()
        if metrics != nil {
            var ports = metricsReady.stream.makeAsyncIterator()
            self.metricsPort = await ports.next()
        } else {
            self.metricsPort = nil
        }
    }

    /// A new connection to the daemon.
    public func client() throws -> RPCClient { try RPCClient(socketPath: self.socketPath) }

    /// Shuts the daemon down gracefully and waits until it has stopped and its writer has drained.
    /// Cancelling the waiting task (a test's time limit) cancels the daemon's group.
    public func stop() async throws {
        await self.group.triggerGracefulShutdown()
        try await withTaskCancellationHandler {
            try await self.runTask.value
        } onCancel: {
            self.runTask.cancel()
        }
    }
}
