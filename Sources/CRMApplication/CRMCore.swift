import CRMDomain
import CRMEventStore
public import CRMJSON
public import Crypto
import CRMProjections
public import CRMProtocol
import Foundation
import LMDB
import Synchronization
public import Logging

/// The LMDB environment, shared between the writer thread and query tasks.
///
/// `Environment` is not `Sendable` because its write transactions belong to one thread. Here only the
/// writer thread writes; reads use `MDB_NOTLS` transactions guarded by the environment's resize lock,
/// which is safe from any thread.
struct SharedEnvironment: @unchecked Sendable {
    let environment: Environment
}

/// Settings of the application core (the storage half of the daemon's configuration).
public struct CoreConfiguration: Sendable {
    /// Directory holding the LMDB environment and the lock file.
    public var dataDirectory: String
    /// Initial LMDB map size in bytes (grows automatically).
    public var mapSize: Int = 1 << 30
    /// Most commands committed in one write transaction.
    public var maxBatch: Int = 1024
    /// Nice value of the writer thread (0–19). Above 0, the threads that read requests and answer
    /// queries get the CPU first when every core is busy; the writer then gets less CPU while reads
    /// compete for it, and a steady read load can starve commands (docs/OPERATIONS.md has the runs).
    public var writerNice: Int = 0
    /// How far in the future a command's `at` may be, in milliseconds.
    public var maxFutureSkewMillis: Int64 = 5 * 60 * 1000
    /// Directory under which `system.backup` writes its copies; clients name only a subdirectory.
    public var backupDirectory: String? = nil
    /// Whether ``Seeds/onEmptyLog`` (the default sales pipeline) runs on the first start of an empty
    /// log. The daemon seeds; tests that count events from position 1 turn it off.
    public var seedDefaults: Bool = true
    /// Read models whose pending rebuild needs at most this many events are rebuilt before crmd
    /// serves (a fresh or small log never answers `projection_rebuilding`); bigger rebuilds run online.
    public var startupRebuildLimit: UInt64 = 100_000
    /// When set, rebuilds do not advance until ``CRMCore/releaseRebuilds()`` is called, not even at
    /// start-up: lets tests observe a projection while it rebuilds.
    public var holdRebuilds: Bool = false
    /// Most events one online rebuild chunk folds (a chunk also yields after 20 ms when commands
    /// are waiting, and after 1 s otherwise).
    public var rebuildChunkEvents: Int = 20_000
    /// Ed25519 key that signs checkpoints of the log's head (see ``Checkpoint``); `nil` signs
    /// nothing (in-process tests). The daemon loads it from `signing_key`.
    public var signingKey: Curve25519.Signing.PrivateKey? = nil
    /// A checkpoint is signed once this many events are unsigned...
    public var checkpointEveryEvents: UInt64 = 1000
    /// ...or this many seconds after the last one, when events are unsigned (also while idle).
    public var checkpointEverySeconds: Int = 5
    /// Read models folded in addition to the built-in ones (after them, in this order).
    public var additionalReadModels: [ProjectorFactory] = []

    public init(dataDirectory: String) { self.dataDirectory = dataDirectory }
}

/// Identity and options of the caller of one request.
public struct RequestOrigin: Sendable, Hashable {
    public var uid: UInt32
    public var gid: UInt32

    public init(uid: UInt32, gid: UInt32) {
        self.uid = uid
        self.gid = gid
    }
}

/// The application core: the event log, decision state and projections in one LMDB environment,
/// the single writer with group commit, and the query side. Built once per process.
public final class CRMCore: Sendable {
    /// A command waiting for the writer.
    struct CommandJob: Sendable {
        var command: any DomainCommand
        var expectedVersion: ExpectedVersion?
        var metadata: AppendMetadata
        var context: CommandContext
        var reply: Pending<Result<JSON, RPCError>>
    }

    /// The latest `recorded_at` the writer gave a command. recorded_at never goes backwards along
    /// the log (time → position lookups rely on it), even when commands were stamped on different
    /// threads or the clock stepped back. Used by the writer thread only.
    final class RecordedFloor: @unchecked Sendable {
        private var value: Int64

        init(_ value: Int64) { self.value = value }

        /// `recordedAt`, raised to the latest one given so far; becomes the latest.
        func raise(_ recordedAt: Int64) -> Int64 {
            self.value = max(self.value, recordedAt)
            return self.value
        }
    }

    /// Work for the writer thread.
    enum WriterJob: Sendable {
        case command(CommandJob)
        /// `projection.rebuild`: start rebuilding the named read models.
        case rebuild(names: [String], reply: Pending<Result<JSON, RPCError>>)

        var reply: Pending<Result<JSON, RPCError>> {
            switch self {
            case .command(let job): job.reply
            case .rebuild(_, let reply): reply
            }
        }
    }

    private let shared: SharedEnvironment
    var environment: Environment { self.shared.environment }
    private let lock: DataDirectoryLock
    let store: EventStore
    /// The committed head, for subscriptions waiting for new events.
    let headSignal: HeadSignal
    let runner: ProjectionRunner
    private let writer: Writer<WriterJob>
    /// Signs checkpoints of the head, when a signing key is configured.
    let checkpointer: Checkpointer?
    /// The signed checkpoints (written by ``checkpointer``, or imported).
    let checkpoints: CheckpointTable
    /// The public half of the signing key: the default key `audit.verify` checks against.
    let signingPublicKey: Curve25519.Signing.PublicKey?
    private let commandTypes: [String: any DomainCommand.Type]
    /// Query method → index of the read model answering it.
    private let queryOwners: [String: Int]
    private let ids = UUIDv7Generator()
    let configuration: CoreConfiguration
    private let logger: Logger
    private let startedAt = Date()
    /// Why commands are refused for the life of this process, found at start-up: a broken hash chain
    /// at the end of the log, or an event the decision state cannot read. Queries are still answered.
    let appendBlock: RPCError?
    /// How many records at the end of the log the start-up check rehashes.
    static let tailCheckRecords: UInt64 = 1024

    /// The daemon's version, reported by `system.ping`.
    public static let version = CRMVersion.current

    /// Opens (creating if needed) the data directory, takes its lock, brings every projection up to
    /// the head of the log, and starts the writer thread.
    public init(configuration: CoreConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        self.lock = try DataDirectoryLock(directory: configuration.dataDirectory)
        var options = Environment.Options()
        options.mapSize = configuration.mapSize
        // Each read model keeps two sets of tables (live and rebuild); leave room for more.
        options.maxDatabases = 256
        let environment = try DataFiles.openEnvironment(directory: configuration.dataDirectory, options: options)
        let shared = SharedEnvironment(environment: environment)
        self.shared = shared
        let store = try EventStore(environment: environment)
        self.store = store
        let runner = try ProjectionRunner(
            environment: environment,
            store: store,
            readModels: ProjectorRegistry.readModels + configuration.additionalReadModels,
            chunkEvents: configuration.rebuildChunkEvents
        )
        self.runner = runner
        let checkpoints = try CheckpointTable(environment: environment)
        self.checkpoints = checkpoints
        self.signingPublicKey = configuration.signingKey?.publicKey
        let (tail, unmatched) = try environment.read { txn in
            (
                try store.verifyTail(records: CRMCore.tailCheckRecords, txn),
                try CRMCore.unmatchedLastCheckpoint(checkpoints, store, ownKey: configuration.signingKey?.publicKey, txn)
            )
        }
        let decisionStateStop = try runner.prepare(
            environment,
            logger: logger,
            syncLimit: configuration.holdRebuilds ? nil : configuration.startupRebuildLimit
        )
        self.appendBlock = CRMCore.appendBlock(tail: tail, unmatched: unmatched, decisionStateStop: decisionStateStop)
        if let block = self.appendBlock {
            logger.critical("crmd appends nothing to this log: \(block.message)")
        }
        runner.setHeld(configuration.holdRebuilds)

        var commandTypes: [String: any DomainCommand.Type] = [:]
        for type in DomainCommands.all { commandTypes[type.method] = type }
        self.commandTypes = commandTypes
        var queryOwners: [String: Int] = [:]
        for (index, model) in runner.readModels.enumerated() {
            for method in model.queries[0].keys where queryOwners[method] == nil { queryOwners[method] = index }
        }
        self.queryOwners = queryOwners

        let logger = logger
        let headSignal = HeadSignal(head: try environment.read { txn in try store.head(txn).seq })
        let recordedFloor = RecordedFloor(
            try environment.read { txn in
                var last = Int64.min
                try store.forEachRecordBackward(from: UInt64.max, txn) { _, record in
                    last = try EventRecord.decodeEnvelope(record).event.recordedAt
                    return false
                }
                return last
            }
        )
        self.headSignal = headSignal
        // Nothing is signed on top of a log that failed the start-up checks.
        let blocked = self.appendBlock != nil
        let checkpointer = try configuration.signingKey.flatMap { key -> Checkpointer? in
            guard !blocked else { return nil }
            return try Checkpointer(
                key: key,
                table: checkpoints,
                environment: environment,
                store: store,
                everyEvents: configuration.checkpointEveryEvents,
                everySeconds: configuration.checkpointEverySeconds
            )
        }
        self.checkpointer = checkpointer
        self.writer = Writer(
            name: "crmd-writer",
            maxBatch: configuration.maxBatch,
            nice: configuration.writerNice,
            idleWakeMillis: checkpointer.map { Int($0.everyMillis) },
            process: { batch in
                CRMCore.process(
                    batch,
                    environment: shared.environment,
                    store: store,
                    runner: runner,
                    checkpointer: checkpointer,
                    headSignal: headSignal,
                    recordedFloor: recordedFloor,
                    logger: logger
                )
            },
            background: { commandsWaiting in
                if let checkpointer, checkpointer.isDueWhileIdle {
                    do {
                        try checkpointer.writeNow(shared.environment, store, force: false)
                    } catch {
                        logger.error("writing a signed checkpoint failed", metadata: ["error": "\(error)"])
                    }
                }
                guard !runner.isHeld else { return false }
                var lifecycles = runner.lifecycles
                guard runner.hasRebuilds(lifecycles) else { return false }
                do {
                    try runner.rebuildStep(shared.environment, &lifecycles, yield: commandsWaiting, logger: logger)
                    runner.publish(lifecycles)
                } catch {
                    logger.error("rebuild step failed; retrying after the next batch", metadata: ["error": "\(error)"])
                    return false
                }
                return runner.hasRebuilds(lifecycles)
            }
        )
        try self.seedIfEmpty()
    }

    /// The last signed checkpoint when the log no longer matches it: the chain's hash at its position
    /// differs, or it claims `ownKey` and its signature does not verify. A rewritten history whose
    /// hashes were all recomputed passes the tail check but not this one.
    private static func unmatchedLastCheckpoint(
        _ checkpoints: CheckpointTable,
        _ store: EventStore,
        ownKey: Curve25519.Signing.PublicKey?,
        _ txn: Transaction
    ) throws -> Checkpoint? {
        guard let last = try checkpoints.last(txn) else { return nil }
        if let ownKey, last.publicKey == Array(ownKey.rawRepresentation), !last.isSigned(by: ownKey) { return last }
        return try store.recordHash(at: last.position, txn) == last.hash ? nil : last
    }

    /// Why nothing may be appended, given the start-up checks, or `nil` when all is well.
    private static func appendBlock(
        tail: EventStore.Verification,
        unmatched: Checkpoint?,
        decisionStateStop: EventRecordError?
    ) -> RPCError? {
        if let unmatched {
            return RPCError(
                reason: "chain_broken",
                message: "the log does not match its last signed checkpoint at position \(unmatched.position) "
                    + "(found when crmd started): events up to it were changed or removed; crmd answers queries "
                    + "but appends nothing until the log is restored from a backup. audit.verify shows the details",
                details: [
                    "position": .int(Int64(unmatched.position)), "expected_hash": .string(hexString(unmatched.hash)),
                    "found_hash": .null,
                ]
            )
        }
        if let broken = tail.brokenAt {
            return RPCError(
                reason: "chain_broken",
                message: "the hash chain of the log is broken at position \(broken) (found when crmd started); "
                    + "crmd answers queries but appends nothing until the log is restored from a backup. "
                    + "audit.verify shows the details",
                details: [
                    "position": .int(Int64(broken)),
                    "expected_hash": tail.expectedHash.map { .string(hexString($0)) } ?? .null,
                    "found_hash": tail.foundHash.map { .string(hexString($0)) } ?? .null,
                ]
            )
        }
        if let decisionStateStop {
            var error = CRMCore.rpcError(failure: decisionStateStop, context: "decision state")
            error.message = "commands are refused: " + error.message
            return error
        }
        return nil
    }

    /// Runs ``Seeds/onEmptyLog`` when the log is empty, waiting for each to commit.
    private func seedIfEmpty() throws {
        guard self.configuration.seedDefaults, !Seeds.onEmptyLog.isEmpty, self.appendBlock == nil,
            try self.environment.read({ txn in try self.store.head(txn).seq }) == 0
        else { return }
        let origin = RequestOrigin(uid: getuid(), gid: getgid())
        for seed in Seeds.onEmptyLog {
            let outcome = self.submit(method: seed.method, params: seed.params, origin: origin).waitBlocking()
            if case .failure(let error) = outcome {
                throw StartupError("seeding \(seed.method) failed: \(error)")
            }
        }
        self.logger.info("seeded an empty log", metadata: ["commands": "\(Seeds.onEmptyLog.count)"])
    }

    /// Lets rebuilds held by ``CoreConfiguration/holdRebuilds`` advance.
    public func releaseRebuilds() {
        self.runner.setHeld(false)
        self.writer.nudge()
    }

    /// Stops the writer after it has committed everything queued and gives up the data directory
    /// lock, since nothing writes any more. Call once, at shutdown.
    public func shutdown() {
        self.writer.stop()
        do {
            try self.checkpointer?.writeNow(self.environment, self.store, force: true)
        } catch {
            self.logger.error("writing the last signed checkpoint failed", metadata: ["error": "\(error)"])
        }
        self.headSignal.close()
        self.lock.release()
    }

    // MARK: - Method table

    /// Whether `method` is a command (writes events).
    public func isCommand(_ method: String) -> Bool {
        self.commandTypes[method] != nil || method == "projection.rebuild"
    }

    /// Every method the core answers, sorted.
    public var methods: [String] {
        (Array(self.commandTypes.keys) + Array(self.queryOwners.keys) + CRMCore.systemMethods + ["projection.rebuild"])
            .sorted()
    }

    static let systemMethods = [
        "system.ping", "system.stats", "system.backup", "events.read", "audit.verify", "audit.checkpoints",
        "customer.history", "deal.history", "ticket.history", "projection.status",
    ]

    /// Common params of every command, removed before the command's own params are parsed.
    static let commonParams: Set<String> = ["command_id", "expected_version", "at", "correlation_id", "on_behalf_of"]

    // MARK: - Commands

    /// Validates a command and queues it with the writer, in call order. Returns at once; the
    /// returned value resolves after the batch holding the command has been durably committed (or
    /// immediately, for a command rejected before reaching the writer).
    public func submit(method: String, params: JSON?, origin: RequestOrigin) -> Pending<Result<JSON, RPCError>> {
        self.submitWithTicket(method: method, params: params, origin: origin).reply
    }

    /// ``submit(method:params:origin:)``, also returning the command's writer ticket (`nil` when it
    /// was rejected before reaching the writer), for ``startQuery(method:params:after:)``.
    public func submitWithTicket(
        method: String,
        params: JSON?,
        origin: RequestOrigin
    ) -> (reply: Pending<Result<JSON, RPCError>>, ticket: UInt64?) {
        let reply = Pending<Result<JSON, RPCError>>()
        if let block = self.appendBlock, method != "projection.rebuild" {
            reply.fulfil(.failure(block))
            return (reply, nil)
        }
        do {
            let job: WriterJob =
                method == "projection.rebuild"
                ? .rebuild(names: try self.rebuildNames(params), reply: reply)
                : .command(try self.makeJob(method: method, params: params, origin: origin, reply: reply))
            guard let ticket = self.writer.enqueue(job) else {
                reply.fulfil(.failure(RPCError(reason: "shutting_down", message: "crmd is shutting down")))
                return (reply, nil)
            }
            return (reply, ticket)
        } catch let rejection as Rejection {
            reply.fulfil(.failure(CRMCore.rpcError(rejection)))
        } catch {
            reply.fulfil(.failure(RPCError(reason: "internal", message: "\(error)")))
        }
        return (reply, nil)
    }

    private func makeJob(
        method: String,
        params: JSON?,
        origin: RequestOrigin,
        reply: Pending<Result<JSON, RPCError>>
    ) throws -> CommandJob {
        guard let type = self.commandTypes[method] else {
            throw Rejection(.unknownCommand, "unknown method \(method)")
        }
        var common = try Params(params)
        let commandID = try common.string("command_id")
        if let commandID, commandID.isEmpty || commandID.utf8.count > 128 {
            throw Rejection.invalid("command_id", "must be 1 to 128 bytes")
        }
        let expected = try common.raw("expected_version").map { json throws(Rejection) in
            try ExpectedVersion(json: json)
        }
        let now = CRMCore.nowMillis()
        let at = try common.timestamp("at") ?? now
        if at > now + self.configuration.maxFutureSkewMillis {
            throw Rejection(
                .timestampInFuture,
                field: "at",
                "at is more than 5 minutes in the future",
                details: ["now": .string(Timestamp.format(now))]
            )
        }
        let correlationID = try common.string("correlation_id")
        let onBehalfOf = try common.string("on_behalf_of")
        if let onBehalfOf, onBehalfOf.isEmpty || onBehalfOf.utf8.count > 128 {
            throw Rejection.invalid("on_behalf_of", "must be 1 to 128 bytes")
        }
        var rest: JSON? = nil
        if case .object(var members)? = params {
            for key in CRMCore.commonParams { members.removeValue(forKey: key) }
            rest = .object(members)
        }
        let command = try type.init(params: rest)
        return CommandJob(
            command: command,
            expectedVersion: expected,
            metadata: AppendMetadata(
                occurredAt: at,
                recordedAt: now,
                actor: Actor(uid: origin.uid, gid: origin.gid, onBehalfOf: onBehalfOf),
                commandID: commandID,
                correlationID: correlationID
            ),
            context: CommandContext(at: at, generatedID: self.ids.next(now: now)),
            reply: reply
        )
    }

    /// Runs one batch on the writer thread: one write transaction, one nested transaction per
    /// command, one commit (one fsync) for all, then the replies.
    private static func process(
        _ batch: [WriterJob],
        environment: Environment,
        store: EventStore,
        runner: ProjectionRunner,
        checkpointer: Checkpointer?,
        headSignal: HeadSignal,
        recordedFloor: RecordedFloor,
        logger: Logger
    ) {
        var lifecycles = runner.lifecycles
        do {
            let (outcomes, head, checkpoint) = try environment.write {
                txn -> ([Result<JSON, RPCError>], UInt64, Checkpoint?) in
                var outcomes: [Result<JSON, RPCError>] = []
                outcomes.reserveCapacity(batch.count)
                for job in batch {
                    switch job {
                    case .command(var command):
                        command.metadata.recordedAt = recordedFloor.raise(command.metadata.recordedAt)
                        outcomes.append(
                            try CRMCore.run(command, txn: txn, store: store, runner: runner, &lifecycles, logger: logger)
                        )
                    case .rebuild(let names, _):
                        outcomes.append(try CRMCore.startRebuilds(names, txn: txn, store: store, runner: runner, &lifecycles))
                    }
                }
                let head = try store.head(txn)
                try runner.setCheckpoints(head.seq, txn, &lifecycles)
                return (outcomes, head.seq, try checkpointer?.writeIfDue(head, txn))
            }
            checkpointer?.committed(checkpoint, head: head)
            runner.publish(lifecycles)
            headSignal.publish(head)
            for (job, outcome) in zip(batch, outcomes) { job.reply.fulfil(outcome) }
        } catch {
            logger.error("write transaction failed; the batch was not committed", metadata: ["error": "\(error)"])
            let failure = CRMCore.rpcError(failure: error, context: "storage failure", environment: environment)
            for job in batch { job.reply.fulfil(.failure(failure)) }
        }
    }

    /// Runs one command inside the batch transaction. Storage errors (including `MDB_MAP_FULL`)
    /// propagate and fail or retry the whole batch; a rejection aborts only this command's nested
    /// transaction. When a read model's projector fails on the command's events, that read model is
    /// marked failed and the command runs again without it: a projector bug never costs a command.
    private static func run(
        _ job: CommandJob,
        txn: Transaction,
        store: EventStore,
        runner: ProjectionRunner,
        _ lifecycles: inout [ProjectionLifecycle],
        logger: Logger
    ) throws -> Result<JSON, RPCError> {
        if let commandID = job.metadata.commandID, let stored = try store.storedReply(commandID: commandID, txn) {
            return CRMCore.decodeStoredReply(stored)
        }
        var outcome: Result<JSON, RPCError>
        while true {
            do {
                let serving = lifecycles
                outcome = .success(
                    try txn.nested { child in
                        let stream = job.command.targetStream(job.context)
                        if let expected = job.expectedVersion, let stream {
                            try store.checkExpectedVersion(expected, stream: stream, child)
                        }
                        let decision = try job.command.decide(runner.state.state(child), job.context)
                        let events = try store.append(decision.events, metadata: job.metadata, child)
                        try runner.apply(events, child, serving)
                        var result = decision.result
                        result["events"] = .array(
                            events.map { event in
                                [
                                    "seq": .int(Int64(event.seq)), "type": .string(event.type),
                                    "stream": .string(event.stream), "stream_version": .int(Int64(event.streamVersion)),
                                ]
                            }
                        )
                        result["position"] = .int(Int64(try store.head(child).seq))
                        return JSON.object(result)
                    }
                )
            } catch let failure as ProjectorFailure {
                try runner.markFailed(failure, &lifecycles, txn)
                logger.error(
                    "projection failed on an event; it stops folding and its queries answer projection_failed",
                    metadata: [
                        "projection": "\(runner.readModels[failure.index].name)", "position": "\(failure.position)",
                        "error": "\(failure.error)",
                    ]
                )
                continue
            } catch let rejection as Rejection {
                outcome = .failure(CRMCore.rpcError(rejection))
            } catch let error as LMDBError {
                throw error
            } catch {
                logger.error("command failed inside the writer", metadata: ["error": "\(error)"])
                outcome = .failure(CRMCore.rpcError(failure: error, context: "command failed"))
            }
            break
        }
        if let commandID = job.metadata.commandID {
            try store.storeReply(CRMCore.encodeStoredReply(outcome), commandID: commandID, txn)
        }
        return outcome
    }

    static func encodeStoredReply(_ outcome: Result<JSON, RPCError>) -> [UInt8] {
        switch outcome {
        case .success(let result): return JSON.object(["result": result]).serialized()
        case .failure(let error): return JSON.object(["error": error.json]).serialized()
        }
    }

    static func decodeStoredReply(_ bytes: [UInt8]) -> Result<JSON, RPCError> {
        guard let json = try? JSON.parse(bytes) else {
            return .failure(RPCError(reason: "internal", message: "stored reply is unreadable"))
        }
        if let error = json["error"], let rpcError = RPCError(json: error) { return .failure(rpcError) }
        return .success(json["result"] ?? .null)
    }

    /// The JSON-RPC error of a rejection.
    public static func rpcError(_ rejection: Rejection) -> RPCError {
        RPCError(
            reason: rejection.reason.rawValue,
            message: rejection.message,
            field: rejection.field,
            details: rejection.details
        )
    }

    /// The JSON-RPC error for a failure that is not a rejection: `unsupported_schema_version` for an
    /// event written by a newer crmd, `storage_full` when the disk of the data directory is full
    /// (given `environment`), else `internal` with `context` and the error.
    static func rpcError(failure error: any Error, context: String, environment: Environment? = nil) -> RPCError {
        if let rejection = error as? Rejection { return CRMCore.rpcError(rejection) }
        if let record = error as? EventRecordError, let newer = record.newerSchema {
            return RPCError(
                reason: "unsupported_schema_version",
                message: record.message,
                details: [
                    "position": .int(Int64(newer.position)), "type": .string(newer.type),
                    "schema_version": .int(Int64(newer.version)), "supported_version": .int(Int64(newer.supported)),
                ]
            )
        }
        if let storage = error as? LMDBError, let environment, StorageSpace.isFull(storage, path: environment.path) {
            return RPCError(
                reason: "storage_full",
                message: "the disk holding \(environment.path) is full (\(storage)); nothing was written. "
                    + "Reads still work; writes resume once space is freed",
                details: ["data_dir": .string(environment.path)]
            )
        }
        return RPCError(reason: "internal", message: "\(context): \(error)")
    }

    static func nowMillis() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }

    // MARK: - Queries

    /// Answers a query after every command queued before it has committed (read-your-writes for
    /// pipelined requests).
    public func query(method: String, params: JSON?) -> Task<Result<JSON, RPCError>, Never> {
        let ticket = self.writer.lastTicket
        return Task {
            await self.writer.waitUntilCompleted(ticket)
            return await self.answerQuery(method: method, params: params)
        }
    }

    /// ``query(method:params:)`` without a task of its own, for callers that already run one per
    /// request: returns a closure that waits until the command with writer ticket `after` (default:
    /// every command queued so far) has committed and then answers. A connection passes the ticket
    /// of its own last command, so its pipelined requests read their writes without waiting for
    /// other clients' commands; commands acknowledged before the query was sent are committed already.
    public func startQuery(
        method: String,
        params: JSON?,
        after: UInt64? = nil
    ) -> @Sendable () async -> Result<JSON, RPCError> {
        let ticket = after ?? self.writer.lastTicket
        return {
            await self.writer.waitUntilCompleted(ticket)
            return await self.answerQuery(method: method, params: params)
        }
    }

    /// The answer to a quick query, given right away on the calling thread, when nothing needs to be
    /// awaited: `nil` for a long query (see ``answerQuery(method:params:)``) or while commands queued
    /// before it (`after`, as for ``startQuery(method:params:after:)``) are not done. Saves a task
    /// and a hop between threads for the common read.
    public func answerAtOnce(method: String, params: JSON?, after: UInt64? = nil) -> Result<JSON, RPCError>? {
        guard self.writer.isCompleted(after ?? self.writer.lastTicket), !CRMCore.isLong(method, params) else {
            return nil
        }
        return self.runQuery(method: method, params: params)
    }

    /// Queries that may read much of the log or every record of a read model.
    static let longQueries: Set<String> = [
        "audit.verify", "system.backup", "events.read", "funnel.report", "sla.report", "sla.breaching",
        "customer.history", "deal.history", "ticket.history",
    ]

    /// Answers a query: quick ones right here; long ones (``longQueries``, and any `as_of` fold) on a
    /// dispatch thread, so they never hold a thread that connections need (the event loops serving
    /// the sockets, or the few cooperative threads).
    private func answerQuery(method: String, params: JSON?) async -> Result<JSON, RPCError> {
        guard CRMCore.isLong(method, params) else { return self.runQuery(method: method, params: params) }
        // Cancelling the task (the client went away, or a hard stop) stops the query at its next
        // check (``QueryCancellation``).
        let cancellation = QueryCancellation.Flag()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                DispatchQueue.global(qos: .userInitiated).async {
                    let result = QueryCancellation.run(cancellation) { self.runQuery(method: method, params: params) }
                    continuation.resume(returning: result)
                }
            }
        } onCancel: {
            cancellation.raise()
        }
    }

    /// Whether a query is one of ``longQueries`` or asks for an `as_of` fold.
    static func isLong(_ method: String, _ params: JSON?) -> Bool {
        CRMCore.longQueries.contains(method) || params?["as_of"].map { !$0.isNull } == true
    }

    /// Whether `method` is a query or a system method.
    public func isQuery(_ method: String) -> Bool {
        self.queryOwners[method] != nil || CRMCore.systemMethods.contains(method)
    }

    private func runQuery(method: String, params: JSON?) -> Result<JSON, RPCError> {
        do {
            return .success(try self.answer(method: method, params: params))
        } catch let rejection as Rejection {
            return .failure(CRMCore.rpcError(rejection))
        } catch is CancellationError {
            let message = "query cancelled: its client went away or crmd is stopping"
            return .failure(RPCError(reason: "internal", message: message))
        } catch {
            self.logger.error("query failed", metadata: ["method": "\(method)", "error": "\(error)"])
            return .failure(CRMCore.rpcError(failure: error, context: "query failed", environment: self.environment))
        }
    }

    private func answer(method: String, params: JSON?) throws -> JSON {
        switch method {
        case "system.ping":
            try Params(params).finish()
            return [
                "pong": true, "version": .string(CRMCore.version), "time": .string(Timestamp.format(CRMCore.nowMillis())),
            ]
        case "system.stats":
            try Params(params).finish()
            return try self.stats()
        case "events.read":
            return try self.readEvents(params)
        case "customer.history", "deal.history", "ticket.history":
            return try self.recordHistory(method, params)
        case "projection.status":
            try Params(params).finish()
            return try self.environment.read { txn in
                let head = try self.store.head(txn).seq
                return ["head": .int(Int64(head)), "projections": .array(try self.projectionStatus(head: head, txn))]
            }
        case "system.backup":
            return try self.backup(params)
        case "audit.verify":
            return try self.verify(params)
        case "audit.checkpoints":
            return try self.listCheckpoints(params)
        case _ where CRMCore.asOfMethods.contains(method) && params?["as_of"].map({ !$0.isNull }) == true:
            return try self.answerAsOf(method, params)
        case "sla.ticket" where params?["at"].map({ !$0.isNull }) == true:
            return try self.slaTicketAsOf(params)
        default:
            guard let index = self.queryOwners[method] else {
                throw Rejection(.unknownCommand, "unknown method \(method)")
            }
            return try self.runner.query(index, method: method, params: params, self.environment)
        }
    }

    private func stats() throws -> JSON {
        try self.environment.read { txn in
            let head = try self.store.head(txn)
            let projections = try self.projectionStatus(head: head.seq, txn)
            return [
                "head": ["position": .int(Int64(head.seq)), "hash": .string(hexString(head.hash))],
                "event_count": .int(Int64(try self.store.count(txn))),
                "file_size_bytes": .int(Int64(self.environment.usedBytes)),
                "map_size_bytes": .int(Int64(self.environment.mapSize)),
                "writer_backlog": .int(Int64(self.writer.backlog)),
                "commits": .int(Int64(self.writer.batches)),
                "commands_refused": self.appendBlock.map { block in
                    ["reason": .string(block.reason ?? "internal"), "message": .string(block.message)]
                } ?? .null,
                "projections": .array(projections),
                "uptime_seconds": .int(Int64(Date().timeIntervalSince(self.startedAt))),
                "data_dir": .string(self.configuration.dataDirectory),
            ]
        }
    }

    /// `audit.verify {from?, to?, public_key?, read_models?}`: recomputes the hash chain over
    /// `from...to` and checks the signed checkpoints in that range against `public_key` (hex, or the
    /// text of a `.pub` file; default: this crmd's own key); with `read_models: true` also compares
    /// every read model with a fresh fold of the log (``auditReadModels(_:head:)``).
    private func verify(_ params: JSON?) throws -> JSON {
        var reader = try Params(params)
        let from = try reader.int("from") ?? 1
        let to = try reader.int("to")
        let keyText = try reader.string("public_key")
        let readModels = try reader.bool("read_models") ?? false
        guard from >= 1 else { throw Rejection.invalid("from", "must be ≥ 1") }
        if let to, to < from { throw Rejection.invalid("to", "must be ≥ from") }
        let trustedKey = try keyText.map { text throws(Rejection) in
            guard let key = CRMEventStore.signingPublicKey(text: text) else {
                throw Rejection.invalid("public_key", "must be an Ed25519 public key: 64 hex digits, or a .pub file's text")
            }
            return key
        } ?? self.signingPublicKey
        try reader.finish()
        return try self.environment.read { txn in
            let head = try self.store.head(txn)
            guard from <= max(head.seq, 1) else {
                throw Rejection(
                    .invalidField,
                    field: "from",
                    "from \(from) is past the head of the log (position \(head.seq))",
                    details: ["head": .int(Int64(head.seq))]
                )
            }
            let last = min(to.map { UInt64($0) } ?? head.seq, head.seq)
            let result = try self.store.verify(from: UInt64(from), to: last, txn)
            var report: JSON = [
                "ok": .bool(result.brokenAt == nil), "checked": .int(Int64(result.checked)),
                "from": .int(from), "to": .int(Int64(last)),
                "hash": result.brokenAt == nil ? .string(hexString(result.headHash)) : .null,
                "head_position": .int(Int64(head.seq)), "head_hash": .string(hexString(head.hash)),
                "broken_at": result.brokenAt.map { .int(Int64($0)) } ?? .null,
                "expected_hash": result.expectedHash.map { .string(hexString($0)) } ?? .null,
                "found_hash": result.foundHash.map { .string(hexString($0)) } ?? .null,
                "signatures": .null,
            ]
            if let trustedKey {
                var audit = CheckpointAudit(trustedKey: trustedKey)
                for checkpoint in try self.checkpoints.list(from: UInt64(from), to: last, txn) {
                    let verified = result.brokenAt.map { checkpoint.position < $0 } ?? true
                    audit.check(checkpoint, chainHash: verified ? try self.store.recordHash(at: checkpoint.position, txn) : nil)
                }
                report["signatures"] = audit.json(to: last)
                report["ok"] = .bool(result.brokenAt == nil && audit.firstBad == nil)
            }
            if readModels {
                let models = try self.auditReadModels(txn, head: head.seq)
                report["read_models"] = models
                report["ok"] = .bool(report["ok"] == .bool(true) && models["ok"] == .bool(true))
            }
            return report
        }
    }

    /// `audit.checkpoints {from?, limit?}`: the signed checkpoints from position `from` on, for
    /// export and offline checks.
    private func listCheckpoints(_ params: JSON?) throws -> JSON {
        var reader = try Params(params)
        let from = try reader.int("from") ?? 1
        let limit = Int(try reader.int("limit") ?? 1000)
        guard from >= 1 else { throw Rejection.invalid("from", "must be ≥ 1") }
        guard (1...1000).contains(limit) else { throw Rejection.invalid("limit", "must be between 1 and 1000") }
        try reader.finish()
        return try self.environment.read { txn in
            let page = try self.checkpoints.list(from: UInt64(from), to: UInt64.max, limit: limit + 1, txn)
            return [
                "checkpoints": .array(page.prefix(limit).map(\.json)),
                "next_from": page.count > limit ? .int(Int64(page[limit].position)) : .null,
                "public_key": self.signingPublicKey.map { .string(hexString(Array($0.rawRepresentation))) } ?? .null,
            ]
        }
    }
}
