import CRMDomain
import CRMEventStore
import CRMJSON
import CRMParams
import CRMProjections
import Foundation
import LMDB
import Logging

/// Identity and options of the caller of one request.
public struct RequestOrigin: Sendable, Hashable {
    public var uid: UInt32
    public var gid: UInt32

    public init(uid: UInt32, gid: UInt32) {
        self.uid = uid
        self.gid = gid
    }
}

/// The command pipeline: admission (the method table, common params, the start-up append block),
/// queueing with the single writer in call order, and on the writer thread idempotency, decide,
/// append and the inline folds of the decision state and read models, one group-committed write
/// transaction (one fsync) per batch, then the replies.
public final class CommandPipeline: Sendable {
    /// A command waiting for the writer.
    struct CommandJob: Sendable {
        var command: any DomainCommand
        var expectedVersion: ExpectedVersion?
        var metadata: AppendMetadata
        var context: CommandContext
        var reply: Pending<CommandOutcome>
    }

    /// Work for the writer thread.
    enum WriterJob: Sendable {
        case command(CommandJob)
        /// `projection.rebuild`: start rebuilding the named read models.
        case rebuild(names: [String], reply: Pending<CommandOutcome>)
        /// A read replica's next events from the primary's stream, with the hashes they must have.
        case replicate(events: [(event: RecordedEvent, hash: [UInt8])], reply: Pending<CommandOutcome>)

        var reply: Pending<CommandOutcome> {
            switch self {
            case .command(let job): job.reply
            case .rebuild(_, let reply), .replicate(_, let reply): reply
            }
        }
    }

    let storage: CoreStorage
    let writer: Writer<WriterJob>
    private let ids = UUIDv7Generator()
    private let logger: Logger

    /// The pipeline of commands admitted against `storage` and committed by `writer`.
    init(storage: CoreStorage, writer: Writer<WriterJob>, logger: Logger) {
        self.storage = storage
        self.writer = writer
        self.logger = logger
    }

    /// Runs ``Seeds/onEmptyLog`` when the log is empty (its head is `head`), waiting for each to commit.
    func seedIfEmpty(head: UInt64) async throws {
        let storage = self.storage
        guard storage.configuration.seedDefaults, !Seeds.onEmptyLog.isEmpty, storage.appendBlock == nil, head == 0
        else { return }
        let origin = RequestOrigin(uid: getuid(), gid: getgid())
        for seed in Seeds.onEmptyLog {
            let outcome = await self.submit(seed, options: CommandOptions(), origin: origin).value
            if case .rejected(let rejection) = outcome {
                throw StartupError("seeding \(type(of: seed).method) failed: \(rejection)")
            }
        }
        self.logger.info("seeded an empty log", metadata: ["commands": "\(Seeds.onEmptyLog.count)"])
    }

    /// Appends again, waiting for each to commit, the erasures the key store records that the log
    /// lacks (``CoreStorage/erasuresMissingFromLog()``: a hot backup restored with the current key
    /// store), then rebuilds every read model: their rows from before hold values sealed under the
    /// destroyed keys, which a fold from the log leaves out. Returns how many it appended.
    @discardableResult
    func reapplyErasuresMissingFromLog() async throws -> Int {
        let storage = self.storage
        guard storage.appendBlock == nil else { return 0 }
        let missing = try storage.erasuresMissingFromLog()
        guard !missing.isEmpty else { return 0 }
        let origin = RequestOrigin(uid: getuid(), gid: getgid())
        for (customerID, erasure) in missing {
            let command = ReapplyErasure(customerID: customerID, erasure: erasure)
            let outcome = await self.submit(command, options: CommandOptions(), origin: origin).value
            if case .rejected(let rejection) = outcome {
                throw StartupError("appending the erasure of \(customerID) again failed: \(rejection)")
            }
            self.logger.notice(
                "appended again an erasure the restored log lacked (the key store records it)",
                metadata: ["customer_id": "\(customerID)", "erased_seq_before_restore": "\(erasure.seq)"]
            )
        }
        if case .rejected(let rejection) = await self.submitRebuild(name: "all").reply.value {
            throw StartupError("rebuilding the read models after a restore failed: \(rejection)")
        }
        return missing.count
    }

    // MARK: - Admission

    /// Why every command is refused for the life of this process (a log that failed its start-up
    /// checks), or `nil`.
    public var refusal: Rejection? { self.storage.appendBlock }

    /// Checks a command's options and queues it with the writer, in call order. Returns at once; the
    /// returned value resolves after the batch holding the command has been durably committed (or
    /// immediately, for a command refused before reaching the writer).
    public func submit(
        _ command: any DomainCommand,
        options: CommandOptions,
        origin: RequestOrigin
    ) -> Pending<CommandOutcome> {
        self.submitWithTicket(command, options: options, origin: origin).reply
    }

    /// ``submit(_:options:origin:)``, also returning the command's writer ticket (`nil` when it was
    /// refused before reaching the writer), for ``QueryRouter/startQuery(method:params:after:)``.
    public func submitWithTicket(
        _ command: any DomainCommand,
        options: CommandOptions,
        origin: RequestOrigin
    ) -> (reply: Pending<CommandOutcome>, ticket: UInt64?) {
        let reply = Pending<CommandOutcome>()
        if let block = self.storage.appendBlock {
            reply.fulfil(.rejected(block))
            return (reply, nil)
        }
        do {
            let job = try self.makeJob(command, options: options, origin: origin, reply: reply)
            return (reply, self.enqueue(.command(job)))
        } catch {
            reply.fulfil(.rejected(error))
            return (reply, nil)
        }
    }

    /// `projection.rebuild`: starts rebuilding the read model `name` (every one for `all`) on the writer
    /// thread, between command batches.
    public func submitRebuild(name: String) -> (reply: Pending<CommandOutcome>, ticket: UInt64?) {
        let reply = Pending<CommandOutcome>()
        do {
            return (reply, self.enqueue(.rebuild(names: try self.storage.rebuildNames(name), reply: reply)))
        } catch {
            reply.fulfil(.rejected(error))
            return (reply, nil)
        }
    }

    /// `value.model.fit`: once the commands queued before it have committed, reads the inputs from a
    /// snapshot of the value read model and fits the model on a thread of its own (the writer and the
    /// connections go on meanwhile), then appends the result as the command ``FitValueModel`` with
    /// `options`. The reply resolves when that has committed, or with the fit's rejection.
    public func submitFit(
        _ request: ValueFitRequest,
        options: CommandOptions,
        origin: RequestOrigin
    ) -> Pending<CommandOutcome> {
        let fitter = self.storage.valueFitter
        let modelID: String
        do throws(Rejection) {
            if let block = self.storage.appendBlock { throw block }
            modelID = try fitter.begin(request)
        } catch {
            let reply = Pending<CommandOutcome>()
            reply.fulfil(.rejected(error))
            return reply
        }
        let storage = self.storage
        return self.submitComputed(options: options, origin: origin, context: "value.model.fit failed") {
            FitValueModel(model: try fitter.fit(request, modelID: modelID, storage: storage))
        } finally: {
            fitter.end()
        }
    }

    /// `rfm.snapshot`: once the commands queued before it have committed, counts the buyers on a read
    /// snapshot of the value read model (off the writer), then appends ``TakeRfmSnapshot``, which
    /// holds only if the log has not moved on since; otherwise it counts again (up to 5 times).
    public func submitRfmSnapshot(
        _ request: RfmSnapshotRequest,
        options: CommandOptions,
        origin: RequestOrigin
    ) -> Pending<CommandOutcome> {
        let storage = self.storage
        let clock = CRMCore.nowMillis()
        return self.submitComputed(options: options, origin: origin, context: "rfm.snapshot failed", attempts: 5) {
            try storage.environment.read { txn in
                let seq = try storage.store.head(txn).seq
                guard let value = try storage.runner.servingProjector(named: "value", txn) as? ValueProjector else {
                    throw Rejection(.internalError, "the value read model is missing")
                }
                let asOf = request.asOfDate ?? String(Timestamp.format(options.at ?? clock).prefix(10))
                let counted = try value.rfmPopulation(
                    asOfDate: asOf, window: request.windowDays, currency: request.currency, txn
                )
                let snapshot = RfmSnapshotTaken(
                    snapshotID: request.snapshotID ?? "rfm-" + asOf.replacingOccurrences(of: "-", with: ""),
                    asOfDate: asOf, windowDays: counted.window, currency: counted.currency,
                    mapVersion: counted.mapVersion, population: counted.population
                )
                return TakeRfmSnapshot(snapshot: snapshot, basedOnSeq: seq)
            }
        }
    }

    /// `list.create {kind: "snapshot"}`: the segment's members at `as_of` (default the command's `at`)
    /// are read from the segment read model on a read snapshot off the writer, and the list is created
    /// with them.
    public func submitListSnapshot(
        _ create: CreateList,
        options: CommandOptions,
        origin: RequestOrigin
    ) -> Pending<CommandOutcome> {
        let storage = self.storage
        let clock = CRMCore.nowMillis()
        return self.submitComputed(options: options, origin: origin, context: "list.create failed") {
            try storage.environment.read { txn in
                guard let source = create.source,
                    let segments = try storage.runner.servingProjector(named: "segments", txn) as? SegmentProjector
                else { throw Rejection(.internalError, "the segment read model is missing") }
                let instant = source.asOf >= 0 ? source.asOf : options.at ?? clock
                let (version, members) = try segments.memberIDs(of: source.segmentID, at: instant, txn)
                return create.computed(version: version, asOf: instant, members: members)
            }
        }
    }

    /// `campaign.send {campaign_id}`: the audience (segment or list members at the command's `at`, less
    /// the excluded lists and segments) and each member's address are read off the writer from the
    /// segment read model and the decision state on one read snapshot; the send is appended with its
    /// recipients (commands other clients committed meanwhile do not make them stale).
    public func submitCampaignSend(
        campaignID: String,
        options: CommandOptions,
        origin: RequestOrigin
    ) -> Pending<CommandOutcome> {
        let storage = self.storage
        let clock = CRMCore.nowMillis()
        return self.submitComputed(options: options, origin: origin, context: "campaign.send failed") {
            try storage.environment.read { txn in
                guard
                    let campaigns = try storage.runner.servingProjector(named: "campaigns", txn) as? CampaignProjector,
                    let segments = try storage.runner.servingProjector(named: "segments", txn) as? SegmentProjector
                else { throw Rejection(.internalError, "the campaign or segment read model is missing") }
                let (campaign, sent) = try campaigns.definition(campaignID, txn)
                guard !sent else {
                    throw Rejection(
                        .campaignAlreadySent, field: "campaign_id", "campaign \(campaignID) was sent already")
                }
                let at = options.at ?? clock
                return try CampaignSelection.send(
                    campaign, at: at, segments: segments, state: storage.runner.state.state(txn), txn
                )
            }
        }
    }

    /// Waits for the commands queued before it, runs `compute` on a dispatch thread (off the writer and
    /// the cooperative pool), then submits the command it returns. A `version_conflict` on
    /// `based_on_seq` (the log moved on since `compute` read it) runs `compute` again, `attempts`
    /// times in all. `finally` runs once `compute` is done for good.
    private func submitComputed(
        options: CommandOptions,
        origin: RequestOrigin,
        context: String,
        attempts: Int = 1,
        compute: @escaping @Sendable () throws -> any DomainCommand,
        finally: @escaping @Sendable () -> Void = {}
    ) -> Pending<CommandOutcome> {
        let reply = Pending<CommandOutcome>()
        let ticket = self.writer.lastTicket
        let environment = self.storage.environment
        Task {
            await self.writer.waitUntilCompleted(ticket)
            var outcome = CommandOutcome.rejected(Rejection(.internalError, "\(context): not attempted"))
            for _ in 0..<attempts {
                let command = await withCheckedContinuation { continuation in
                    DispatchQueue.global(qos: .utility).async {
                        continuation.resume(returning: Result { try compute() })
                    }
                }
                do {
                    let attempt = Pending<CommandOutcome>()
                    let job = try self.makeJob(try command.get(), options: options, origin: origin, reply: attempt)
                    _ = self.enqueue(.command(job))
                    outcome = await attempt.value
                } catch {
                    outcome = .failed(error, context: context, environment: environment)
                }
                guard case .rejected(let rejection) = outcome, rejection.reason == .versionConflict,
                    rejection.field == "based_on_seq"
                else { break }
            }
            finally()
            reply.fulfil(outcome)
        }
        return reply
    }

    /// Queues `job` with the writer and returns its ticket; when the writer has stopped, answers the
    /// job `shutting_down` and returns `nil`.
    private func enqueue(_ job: WriterJob) -> UInt64? {
        guard let ticket = self.writer.enqueue(job) else {
            job.reply.fulfil(.rejected(Rejection(.shuttingDown, "crmd is shutting down")))
            return nil
        }
        return ticket
    }

    private func makeJob(
        _ command: any DomainCommand,
        options: CommandOptions,
        origin: RequestOrigin,
        reply: Pending<CommandOutcome>
    ) throws(Rejection) -> CommandJob {
        let now = CRMCore.nowMillis()
        let at = options.at ?? now
        if at > now + self.storage.configuration.maxFutureSkewMillis {
            throw Rejection(
                .timestampInFuture,
                field: "at",
                "at is more than 5 minutes in the future",
                details: ["now": .string(Timestamp.format(now))]
            )
        }
        return CommandJob(
            command: command,
            expectedVersion: options.expectedVersion,
            metadata: AppendMetadata(
                occurredAt: at,
                recordedAt: now,
                actor: Actor(uid: origin.uid, gid: origin.gid, onBehalfOf: options.onBehalfOf),
                commandID: options.commandID,
                correlationID: options.correlationID
            ),
            context: CommandContext(at: at, generatedID: self.ids.next(now: now)),
            reply: reply
        )
    }

    // MARK: - On the writer thread

    /// The writer thread's side of the pipeline: commits batches of commands, signs checkpoints,
    /// advances online rebuilds between batches, and signs the last checkpoint when the writer stops.
    /// Used by the writer thread only.
    struct Committer: Sendable {
        let storage: CoreStorage
        /// Signs checkpoints of the head, when a signing key is configured.
        let checkpointer: Checkpointer?
        /// The committed head, for subscriptions waiting for new events.
        let headSignal: HeadSignal
        private let recordedFloor: RecordedFloor
        /// Records the size and time of each batch and the events it appended.
        private let metrics: CRMMetrics
        private let logger: Logger

        /// The writer side for `storage`, from the head of its log and its last `recorded_at`.
        init(storage: CoreStorage, metrics: CRMMetrics, logger: Logger) throws {
            self.storage = storage
            self.metrics = metrics
            self.logger = logger
            let (environment, store) = (storage.environment, storage.store)
            self.headSignal = HeadSignal(head: try environment.read { txn in try store.head(txn).seq })
            self.recordedFloor = RecordedFloor(
                try environment.read { txn in
                    var last = Int64.min
                    try store.forEachRecordBackward(from: UInt64.max, txn) { _, record in
                        last = try EventRecord.decodeEnvelope(record).event.recordedAt
                        return false
                    }
                    return last
                }
            )
            let configuration = storage.configuration
            // Nothing is signed on top of a log that failed the start-up checks.
            let blocked = storage.appendBlock != nil
            self.checkpointer = try configuration.signingKey.flatMap { key -> Checkpointer? in
                guard !blocked else { return nil }
                return try Checkpointer(
                    key: key,
                    table: storage.checkpoints,
                    environment: environment,
                    store: store,
                    everyEvents: configuration.checkpointEveryEvents,
                    everySeconds: configuration.checkpointEverySeconds
                )
            }
        }

        /// What the writer thread runs.
        var work: Writer<WriterJob>.Work {
            Writer.Work(
                process: { batch in self.process(batch) },
                background: { commandsWaiting in self.background(commandsWaiting) },
                finish: { self.finish() }
            )
        }

        /// Runs one batch on the writer thread: one write transaction, one commit (one fsync) for all,
        /// then the replies. Jobs run straight in the batch transaction, since what can reject a command
        /// (its checks, `decide`, the append's time check) writes nothing. When a job fails after its
        /// first write (a projector throws, say), its writes cannot be taken back alone: the transaction
        /// is aborted and the batch runs again, with what the failed run taught (``BatchRerun``) applied
        /// at that job — the failed read model marked failed before it, or the job answered with its
        /// error and not run. No nested transactions are used.
        func process(_ batch: [WriterJob]) {
            let (environment, store, runner) = (self.storage.environment, self.storage.store, self.storage.runner)
            let (checkpointer, logger) = (self.checkpointer, self.logger)
            let started = CRMMetrics.now()
            var rerun = BatchRerun()
            let floor = self.recordedFloor.value
            do {
                let (outcomes, head, checkpoint, lifecycles) = try self.retrying(&rerun, batch) { rerun in
                    try environment.write { txn -> ([CommandOutcome], UInt64, Checkpoint?, [ProjectionLifecycle]) in
                        // A batch run again starts from what it started from.
                        self.recordedFloor.value = floor
                        var lifecycles = runner.lifecycles
                        var outcomes: [CommandOutcome] = []
                        outcomes.reserveCapacity(batch.count)
                        for (index, job) in batch.enumerated() {
                            let outcome: CommandOutcome
                            do {
                                outcome = try self.run(job, rerun.lessons[index] ?? [], txn: txn, &lifecycles)
                            } catch let failed as FailedAfterWrite {
                                throw BatchRerun.Failure(index: index, error: failed.error)
                            }
                            outcomes.append(outcome)
                        }
                        let head = try store.head(txn)
                        try runner.setCheckpoints(head.seq, txn, &lifecycles)
                        return (outcomes, head.seq, try checkpointer?.writeIfDue(head, txn), lifecycles)
                    }
                }
                if rerun.runs > 0 { self.metrics.recordIsolatedBatch(runs: rerun.runs) }
                // The head published before this batch: what it appended lies between the two.
                let appended = head - min(self.headSignal.head, head)
                self.metrics.recordCommit(
                    commands: batch.count, events: Int(appended), nanoseconds: CRMMetrics.now() - started
                )
                checkpointer?.committed(checkpoint, head: head)
                runner.publish(lifecycles)
                self.headSignal.publish(head)
                // An erasure is committed first, then its keys are deleted, before the reply.
                let erased = Self.erasedCustomers(outcomes)
                if !erased.isEmpty {
                    CrashPoint.afterErasureCommit.reached()
                    self.finishErasures(erased)
                }
                for (job, outcome) in zip(batch, outcomes) { job.reply.fulfil(outcome) }
                if !erased.isEmpty { self.storage.rotateAfterErasure(logger: self.logger) }
            } catch {
                logger.error("write transaction failed; the batch was not committed", metadata: ["error": "\(error)"])
                let failure = CommandOutcome.failed(error, context: "storage failure", environment: environment)
                for job in batch { job.reply.fulfil(failure) }
            }
        }

        /// Appends a replica's events from the primary's stream exactly as the primary stored them —
        /// each must follow the head and hash to the value the primary gave it, else nothing of the
        /// job is appended (`chain_broken`: the batch runs again with the job answered so) — and folds
        /// them like the primary's own, with the personal data its keys can open (none, without the
        /// primary's key store).
        private func replicate(
            _ events: [(event: RecordedEvent, hash: [UInt8])],
            txn: Transaction,
            _ lifecycles: [ProjectionLifecycle]
        ) throws -> CommandOutcome {
            let (store, runner) = (self.storage.store, self.storage.runner)
            var head = try store.head(txn).seq
            try Self.afterWrite {
                for (event, hash) in events {
                    head = try store.appendExported(event, expectedHash: hash, txn).seq
                }
                var decoded: [RecordedEvent] = []
                decoded.reserveCapacity(events.count)
                try store.forEachRecord(from: events.first?.event.seq ?? head + 1, txn) { _, record in
                    decoded.append(try EventRecord.decode(record, keys: store.piiKeys))
                    return true
                }
                try runner.apply(decoded, txn, lifecycles)
            }
            return .replicated(position: head)
        }

        /// The customers whose erasure `outcomes` committed.
        static func erasedCustomers(_ outcomes: [CommandOutcome]) -> [String] {
            let prefix = CustomerStream.name("")
            return outcomes.flatMap { outcome -> [String] in
                guard case .committed(let receipt) = outcome else { return [] }
                return receipt.events.filter { $0.type == EventType.customerErased && $0.stream.hasPrefix(prefix) }
                    .map { String($0.stream.dropFirst(prefix.count)) }
            }
        }

        /// Deletes the keys of the erasures of `customers`, just committed. A failure leaves the erasure
        /// to be finished at the next start (the log records it); the reply still reports the commit.
        private func finishErasures(_ customers: [String]) {
            do {
                try self.storage.finishErasures(of: customers, logger: self.logger)
            } catch {
                self.logger.error(
                    "deleting the keys of an erasure failed; crmd finishes it at its next start",
                    metadata: ["customers": "\(customers)", "error": "\(error)"]
                )
            }
        }

        /// Between batches: signs a checkpoint when one is due while idle, then runs one step of the
        /// online rebuilds; `true` when more rebuilding is left.
        func background(_ commandsWaiting: () -> Bool) -> Bool {
            let (environment, runner, logger) = (self.storage.environment, self.storage.runner, self.logger)
            if let checkpointer = self.checkpointer, checkpointer.isDueWhileIdle {
                do {
                    try checkpointer.writeNow(environment, self.storage.store, force: false)
                } catch {
                    logger.error("writing a signed checkpoint failed", metadata: ["error": "\(error)"])
                }
            }
            guard !runner.isHeld else { return false }
            var lifecycles = runner.lifecycles
            guard runner.hasRebuilds(lifecycles) else { return false }
            do {
                try runner.rebuildStep(environment, &lifecycles, yield: commandsWaiting, logger: logger)
                runner.publish(lifecycles)
            } catch {
                logger.error("rebuild step failed; retrying after the next batch", metadata: ["error": "\(error)"])
                return false
            }
            return runner.hasRebuilds(lifecycles)
        }

        /// After the last batch: signs the head, so that the log ends on a signed checkpoint.
        func finish() {
            do {
                try self.checkpointer?.writeNow(self.storage.environment, self.storage.store, force: true)
            } catch {
                self.logger.error("writing the last signed checkpoint failed", metadata: ["error": "\(error)"])
            }
        }

        /// Runs job `job` of a batch in the batch transaction, after applying what earlier runs of the
        /// batch learnt at it (`lessons`). Storage errors (including `MDB_MAP_FULL`) propagate and fail
        /// or retry the whole batch; a rejection writes nothing; any other failure after the job wrote
        /// throws ``FailedAfterWrite``.
        private func run(
            _ job: WriterJob,
            _ lessons: [BatchRerun.Lesson],
            txn: Transaction,
            _ lifecycles: inout [ProjectionLifecycle]
        ) throws -> CommandOutcome {
            let (store, runner) = (self.storage.store, self.storage.runner)
            var answer: CommandOutcome?
            for lesson in lessons {
                switch lesson {
                case .projectorFailed(let failure): try runner.markFailed(failure, &lifecycles, txn)
                case .answer(let outcome): answer = outcome
                }
            }
            switch job {
            case .command(var command):
                command.metadata.recordedAt = self.recordedFloor.raise(command.metadata.recordedAt)
                return try self.run(command, answer: answer, txn: txn, lifecycles)
            case .rebuild(let names, _):
                return try CoreStorage.startRebuilds(names, txn: txn, store: store, runner: runner, &lifecycles)
            case .replicate(let events, _):
                return try answer ?? self.replicate(events, txn: txn, lifecycles)
            }
        }

        /// Runs one command in the batch transaction, or answers it with `answer` (learnt from an earlier
        /// run of the batch) without running it. A projector bug never costs a command: its read model
        /// is marked failed and the batch runs again (see ``process(_:)``).
        private func run(
            _ job: CommandJob,
            answer: CommandOutcome?,
            txn: Transaction,
            _ lifecycles: [ProjectionLifecycle]
        ) throws -> CommandOutcome {
            let (store, runner, logger) = (self.storage.store, self.storage.runner, self.logger)
            if let commandID = job.metadata.commandID, let stored = try store.storedReply(commandID: commandID, txn) {
                do {
                    return try StoredOutcome.decoded(stored)
                } catch {
                    let message = "the stored outcome of \(commandID) is unreadable: \(error)"
                    return .rejected(Rejection(.internalError, message))
                }
            }
            let outcome: CommandOutcome
            if let answer {
                outcome = answer
            } else {
                do {
                    let decision = try self.decide(job, txn)
                    // The append's time check is its only rejection, and it comes before its first write.
                    let events = try Self.afterWrite(writesNothing: .timestampOutOfOrder) {
                        try store.append(decision.events, metadata: job.metadata, txn)
                    }
                    try Self.afterWrite { try runner.apply(events, txn, lifecycles) }
                    outcome = .committed(try Self.receipt(decision, events, store, txn))
                } catch let rejection as Rejection {
                    outcome = .rejected(rejection)
                } catch let error as LMDBError {
                    throw error
                } catch let failed as FailedAfterWrite {
                    throw failed
                } catch {
                    // Before any write (`decide` only reads).
                    logger.error("command failed inside the writer", metadata: ["error": "\(error)"])
                    outcome = .failed(error, context: "command failed")
                }
            }
            if let commandID = job.metadata.commandID, let row = StoredOutcome.encoded(outcome) {
                try store.storeReply(row, commandID: commandID, txn)
            }
            return outcome
        }

        /// The decision on `job` against the state in `txn`, after its expected-version and head
        /// checks. Writes nothing.
        private func decide(_ job: CommandJob, _ txn: Transaction) throws -> Decision {
            let store = self.storage.store
            if let expected = job.expectedVersion, let stream = job.command.targetStream(job.context) {
                try store.checkExpectedVersion(expected, stream: stream, txn)
            }
            if let expected = job.command.expectedHead() {
                let head = try store.head(txn).seq
                guard head == expected else {
                    throw Rejection(
                        .versionConflict, field: "based_on_seq",
                        "the log moved on (head \(head)) since the command was computed at \(expected)",
                        details: ["expected": .int(Int64(expected)), "actual": .int(Int64(head))]
                    )
                }
            }
            for expected in job.command.expectedStreamVersions() {
                try store.checkExpectedVersion(
                    .exact(expected.version), stream: expected.stream, field: expected.field, txn
                )
            }
            return try job.command.decide(self.storage.runner.state.state(txn), job.context)
        }

        /// Runs `body` until it does not throw ``BatchRerun/Failure``: each such failure is a lesson for
        /// the next run (see ``process(_:)``). A job that fails again the same way fails the batch.
        private func retrying<T>(
            _ rerun: inout BatchRerun,
            _ batch: [WriterJob],
            _ body: (BatchRerun) throws -> T
        ) throws -> T {
            while true {
                do {
                    return try body(rerun)
                } catch let failure as BatchRerun.Failure {
                    let lesson = self.lesson(failure.error, at: batch[failure.index])
                    guard rerun.learn(lesson, at: failure.index) else { throw failure.error }
                    self.logger.notice(
                        "a job failed after it wrote; its batch runs again without that job's writes",
                        metadata: ["error": "\(failure.error)"]
                    )
                }
            }
        }

        /// What a batch run again does at `job`, which failed after it wrote with `error`.
        private func lesson(_ error: any Error, at job: WriterJob) -> BatchRerun.Lesson {
            if let failure = error as? ProjectorFailure {
                self.logger.error(
                    "projection failed on an event; it stops folding and its queries answer projection_failed",
                    metadata: [
                        "projection": "\(self.storage.runner.readModels[failure.index].name)",
                        "position": "\(failure.position)", "error": "\(failure.error)",
                    ]
                )
                return .projectorFailed(failure)
            }
            if case .replicate = job, let error = error as? ImportError {
                return .answer(.rejected(Rejection(.chainBroken, error.description)))
            }
            self.logger.error("command failed inside the writer", metadata: ["error": "\(error)"])
            return .answer(.failed(error, context: "command failed"))
        }

        /// Runs `body`, which writes into the batch transaction. An error after it wrote cannot be undone
        /// for this job alone, so it becomes ``FailedAfterWrite`` (the batch runs again); storage errors
        /// fail or retry the whole batch as they are, and a rejection with the reason `writesNothing`
        /// (one `body` makes only before it writes) passes as it is.
        private static func afterWrite<T>(
            writesNothing: Reason? = nil,
            _ body: () throws -> T
        ) throws -> T {
            do {
                return try body()
            } catch let error as LMDBError {
                throw error
            } catch let rejection as Rejection where writesNothing != nil && rejection.reason == writesNothing {
                throw rejection
            } catch {
                throw FailedAfterWrite(error: error)
            }
        }

        /// What the reply says about a committed command.
        private static func receipt(
            _ decision: Decision,
            _ events: [RecordedEvent],
            _ store: EventStore,
            _ txn: Transaction
        ) throws -> CommandReceipt {
            CommandReceipt(
                result: decision.result,
                events: events.map { event in
                    AppendedEvent(
                        seq: event.seq, type: event.type, stream: event.stream, streamVersion: event.streamVersion
                    )
                },
                position: try store.head(txn).seq
            )
        }
    }
}

/// A job failed after it wrote into the batch transaction: its writes cannot be dropped alone.
struct FailedAfterWrite: Error {
    let error: any Error
}

/// What the runs of one batch that failed taught the next run, by job: a job failed after it wrote, so
/// the transaction was aborted and the batch runs again with the lesson applied at that job.
struct BatchRerun {
    enum Lesson {
        /// Mark this read model failed before running the job (it then folds without it).
        case projectorFailed(ProjectorFailure)
        /// Answer the job so, without running it.
        case answer(CommandOutcome)
    }

    /// Job `index` of the batch failed after it wrote, with `error`.
    struct Failure: Error {
        let index: Int
        let error: any Error
    }

    private(set) var lessons: [Int: [Lesson]] = [:]
    /// How many times the batch ran again.
    private(set) var runs = 0

    /// Adds `lesson` for job `index`; `false` when the job had learnt it already (it failed again the
    /// same way, so running again would not help).
    mutating func learn(_ lesson: Lesson, at index: Int) -> Bool {
        let known = self.lessons[index] ?? []
        switch lesson {
        case .projectorFailed(let failure):
            let again = known.contains {
                if case .projectorFailed(let earlier) = $0 { return earlier.index == failure.index }
                return false
            }
            if again { return false }
        case .answer:
            if known.contains(where: { if case .answer = $0 { true } else { false } }) { return false }
        }
        self.lessons[index, default: []].append(lesson)
        self.runs += 1
        return true
    }
}

/// The latest `recorded_at` the writer gave a command. recorded_at never goes backwards along the log
/// (time → position lookups rely on it), even when commands were stamped on different threads or the
/// clock stepped back. Used by the writer thread only.
final class RecordedFloor: @unchecked Sendable {
    var value: Int64

    init(_ value: Int64) { self.value = value }

    /// `recordedAt`, raised to the latest one given so far; becomes the latest.
    func raise(_ recordedAt: Int64) -> Int64 {
        self.value = max(self.value, recordedAt)
        return self.value
    }
}
