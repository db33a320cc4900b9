import CRMDomain
import CRMEventStore
import CRMJSON
import CRMProjections
import Foundation
import LMDB
public import Logging
public import ServiceLifecycle

/// The application core: wires its parts around one opened data directory — the ``CommandPipeline``
/// (commands and the writer thread that commits them), the ``QueryRouter`` (queries, with the log
/// queries and time travel behind it) and ``Subscriptions`` — and is the `Service` that owns the
/// writer thread's lifecycle. Built once per process with ``start(configuration:logger:)``.
public final class CRMCore: Service, Sendable, ReadsStorage {
    let storage: CoreStorage
    /// Commands: admission, the writer, replies once durable.
    public let commands: CommandPipeline
    /// Queries: routing, read-your-writes, long queries off the connection threads.
    public let queries: QueryRouter
    /// `events.subscribe` deliveries.
    public let subscriptions: Subscriptions
    /// The core's metrics (Prometheus registry and swift-metrics factory); `system.metrics` exports them.
    public let metrics: CRMMetrics
    private let writer: Writer<CommandPipeline.WriterJob>
    private let headSignal: HeadSignal
    private let idleSigner: IdleSigner?
    /// Publishes the log to NATS JetStream, when configured.
    public let relay: Relay?
    /// Follows a primary's stream, on a read replica.
    public let follower: ReplicaFollower?
    /// The SLA scheduler, when ``CoreConfiguration/slaBreachEvents`` is on.
    public let slaScheduler: SlaScheduler?

    /// The daemon's version, reported by `system.ping`.
    public static let version = CRMVersion.current

    private init(
        storage: CoreStorage,
        writer: Writer<CommandPipeline.WriterJob>,
        headSignal: HeadSignal,
        checkpointer: Checkpointer?,
        metrics: CRMMetrics,
        logger: Logger
    ) {
        self.storage = storage
        self.writer = writer
        self.headSignal = headSignal
        self.metrics = metrics
        self.commands = CommandPipeline(storage: storage, writer: writer, logger: logger)
        let configuration = storage.configuration
        self.relay = configuration.relay.map {
            Relay(configuration: $0, storage: storage, headSignal: headSignal, logger: logger)
        }
        // A replica whose log failed its start-up checks does not follow (nothing may be appended).
        self.follower = configuration.replica.flatMap { replica in
            storage.appendBlock?.reason == .readOnlyReplica
                ? ReplicaFollower(configuration: replica, storage: storage, writer: writer, logger: logger) : nil
        }
        self.queries = QueryRouter(
            storage: storage, writer: writer, links: (self.relay, self.follower), metrics: metrics,
            logger: logger
        )
        self.subscriptions = Subscriptions(headSignal: headSignal, log: self.queries.log)
        self.idleSigner = checkpointer.map { IdleSigner(writer: writer, everyMillis: $0.everyMillis) }
        let notifies = storage.configuration.slaBreachEvents && storage.appendBlock == nil
        self.slaScheduler =
            notifies
            ? SlaScheduler(storage: storage, commands: self.commands, headSignal: headSignal, logger: logger) : nil
    }

    /// Starts the writer thread, which opens (creating if needed) the data directory, takes its lock
    /// and brings every projection up to the head of the log, while this awaits it; then seeds an
    /// empty log (``CoreConfiguration/seedDefaults``) and appends again the erasures a restored log
    /// lacks (``CommandPipeline/reapplyErasuresMissingFromLog()``). Run the core as a service of the daemon's
    /// group (``services``), or call ``shutdown()`` once done with it.
    public static func start(configuration: CoreConfiguration, logger: Logger) async throws -> CRMCore {
        let metrics = CRMMetrics()
        let (writer, opened) = try await Writer<CommandPipeline.WriterJob>.start(
            name: "crmd-writer",
            maxBatch: configuration.maxBatch,
            nice: configuration.writerNice
        ) {
            let storage = try CoreStorage(configuration: configuration, logger: logger)
            let committer = try CommandPipeline.Committer(storage: storage, metrics: metrics, logger: logger)
            return ((storage, committer.headSignal, committer.checkpointer), committer.work)
        }
        let core = CRMCore(
            storage: opened.0,
            writer: writer,
            headSignal: opened.1,
            checkpointer: opened.2,
            metrics: metrics,
            logger: logger
        )
        do {
            try await core.commands.seedIfEmpty(head: core.headSignal.head)
            try await core.commands.reapplyErasuresMissingFromLog()
        } catch {
            await core.shutdown()
            throw error
        }
        return core
    }

    /// The core's long-running parts, in the order a `ServiceGroup` starts them: the core itself (the
    /// writer thread), then the idle signer when checkpoints are signed, then the SLA scheduler when
    /// it is on, then the relay or the replica's follower when configured. The group stops them in the
    /// reverse order, so the writer stops last.
    public var services: [any Service] {
        var services: [any Service] = [self]
        if let idleSigner = self.idleSigner { services.append(idleSigner) }
        if let slaScheduler = self.slaScheduler { services.append(slaScheduler) }
        if let relay = self.relay { services.append(relay) }
        if let follower = self.follower { services.append(follower) }
        return services
    }

    /// Waits for graceful shutdown (or cancellation), then ``shutdown()``: returns once the writer
    /// thread has committed what was queued, signed the last checkpoint and ended.
    public func run() async {
        try? await gracefulShutdown()
        await self.shutdown()
    }

    /// Stops the writer after it has committed everything queued and signed the head, waits for its
    /// thread to end and for a key-pool refill under way, wakes every subscription, and gives up the
    /// data directory lock, since nothing writes any more. Commands submitted from now on are refused
    /// (`shutting_down`). Later calls only wait for the first one's writer to end.
    public func shutdown() async {
        self.writer.stop()
        await self.writer.waitUntilFinished()
        await self.storage.keyStore?.waitForRefill()
        self.headSignal.close()
        self.storage.lock.release()
    }

    /// Returns once the log's committed head is at least `position`, or the core has shut down.
    public func waitUntilHead(_ position: UInt64) async {
        await self.headSignal.wait(after: max(position, 1) - 1)
    }

    /// Lets rebuilds held by ``CoreConfiguration/holdRebuilds`` advance.
    public func releaseRebuilds() {
        self.storage.runner.setHeld(false)
        self.writer.nudge()
    }

    // MARK: - Errors and time

    /// The rejection for a failure that is not one already: `unsupported_schema_version` for an event
    /// written by a newer crmd, `storage_full` when the disk of the data directory is full (given
    /// `environment`), else `internal` with `context` and the error.
    static func rejection(failure error: any Error, context: String, environment: Environment? = nil) -> Rejection {
        if let rejection = error as? Rejection { return rejection }
        if let record = error as? EventRecordError, let newer = record.newerSchema {
            return Rejection(
                .unsupportedSchemaVersion,
                record.message,
                details: [
                    "position": .int(Int64(newer.position)), "type": .string(newer.type),
                    "schema_version": .int(newer.version), "supported_version": .int(newer.supported),
                ]
            )
        }
        if let storage = error as? LMDBError, let environment, StorageSpace.isFull(storage, path: environment.path) {
            return Rejection(
                .storageFull,
                "the disk holding \(environment.path) is full (\(storage)); nothing was written. "
                    + "Reads still work; writes resume once space is freed",
                details: ["data_dir": .string(environment.path)]
            )
        }
        return Rejection(.internalError, "\(context): \(error)")
    }

    /// The current time in Unix milliseconds.
    static func nowMillis() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }
}
