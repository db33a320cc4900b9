import CRMDomain
import CRMEventStore
import CRMJSON
import CRMProjections
import Foundation
import LMDB
import Logging
import Synchronization

/// Where a read model stands: the table slot that serves it, how far that slot has folded the log,
/// whether its projector failed, and the rebuild in progress.
///
/// Persisted in `meta` next to the tables (`proj.<name>.version`, `.checkpoint`, `.slot`, `.failure`,
/// `.rebuild`), always in the transaction that changes the tables, and mirrored in memory once that
/// transaction has committed.
struct ProjectionLifecycle: Sendable, Hashable {
    struct Failure: Sendable, Hashable {
        /// The event the projector could not fold.
        var position: UInt64
        var error: String
        /// When it failed, UTC milliseconds.
        var at: Int64
    }

    struct Rebuild: Sendable, Hashable {
        /// The slot being filled.
        var slot: Int
        /// Last position folded into it.
        var checkpoint: UInt64
        /// `requested` (projection.rebuild), `version` (the code's version differs from the stored
        /// one), `new` (no stored tables yet), `behind` (live tables behind the head at start-up) or
        /// `failed` (retrying a failed projection at start-up).
        var reason: String
        /// When the rebuild started, UTC milliseconds.
        var startedAt: Int64
        /// Events folded by this process, and since when: the rate behind the ETA (not persisted).
        var foldedHere: UInt64 = 0
        var resumedAt: Int64 = 0
    }

    /// The slot serving queries and folding new events inline; `nil` while the first build after a
    /// version change, or the rebuild of a failed projection, is running.
    var activeSlot: Int?
    /// Last position the active slot has applied.
    var checkpoint: UInt64
    var failure: Failure?
    var rebuild: Rebuild?
    /// The last rebuild this process finished (not persisted).
    var lastRebuild: Finished?

    struct Finished: Sendable, Hashable {
        var reason: String
        /// The head at which the new tables took over.
        var head: UInt64
        var events: UInt64
        var startedAt: Int64
        var finishedAt: Int64
    }
}

/// A projector failed on an event (a bug in its fold, not a storage error).
struct ProjectorFailure: Error {
    /// Index of the read model in ``ProjectionRunner/readModels``.
    var index: Int
    var position: UInt64
    var error: any Error
}

/// The batch of a rebuild's chunk that committed, kept for the same rebuild's next chunk (see
/// ``Projector/batch(after:)``). Only the writer thread touches the batch; the runner keeps it behind a
/// lock for `Sendable`'s sake, hence `@unchecked`.
struct HandedOverBatch: @unchecked Sendable {
    let batch: any ProjectionBatch
    /// The rebuild the batch belongs to, as its chunk left it.
    let slot: Int
    let startedAt: Int64
    let checkpoint: UInt64

    init(batch: any ProjectionBatch, of rebuild: ProjectionLifecycle.Rebuild) {
        self.batch = batch
        self.slot = rebuild.slot
        self.startedAt = rebuild.startedAt
        self.checkpoint = rebuild.checkpoint
    }

    /// The batch, when `rebuild` is the same rebuild where its chunk left it (a restarted, failed or
    /// finished rebuild starts without one).
    func continues(_ rebuild: ProjectionLifecycle.Rebuild?) -> (any ProjectionBatch)? {
        guard let rebuild, rebuild.slot == self.slot, rebuild.startedAt == self.startedAt,
            rebuild.checkpoint == self.checkpoint
        else { return nil }
        return self.batch
    }
}

/// A read model in its two table slots.
struct ReadModel: Sendable {
    let name: String
    let version: Int
    let slots: [any Projector]
    /// The query methods of each slot's instance.
    let queries: [[String: ProjectionQuery]]
    /// Where `meta` says which slot is active (``ProjectionRunner/activeSlot(_:_:)``: every query
    /// reads it).
    let slotKey: [UInt8]
}

/// Keeps the decision state and every read model folded from the log.
///
/// New events are folded inline, in the command's transaction, into the decision state and into the
/// active slot of every read model that is neither failed nor waiting for its first build. A rebuild
/// fills the other slot in chunks that the writer runs between command batches (each chunk one write
/// transaction of at most ``busyStepNanoseconds`` while commands wait, ``idleStepNanoseconds``
/// otherwise), and once it has reached the head it becomes the
/// active slot in the same transaction that empties the old one. Queries find the active slot inside
/// their own read transaction, so every answer comes from one consistent set of tables.
final class ProjectionRunner: Sendable {
    let state: DecisionStateProjector
    let readModels: [ReadModel]
    let store: EventStore
    private let published: Mutex<[ProjectionLifecycle]>
    private let held = Mutex(false)
    /// The batches of the rebuilds' last committed chunks, by read model index (see ``HandedOverBatch``).
    private let chunkBatches = Mutex<[Int: HandedOverBatch]>([:])
    /// The event the decision state stopped before at start-up (one of a newer schema), if any.
    private let decisionStateStop = Mutex<(error: EventRecordError, at: Int64)?>(nil)
    /// The decision state's refold at start-up (its version changed), if this process did one.
    private let decisionStateRebuild = Mutex<ProjectionLifecycle.Finished?>(nil)
    /// Longest a rebuild chunk runs inside one write transaction while commands are waiting.
    static let busyStepNanoseconds: UInt64 = 20_000_000
    /// Longest a rebuild chunk runs when no command is waiting: longer chunks spread the cost of
    /// each commit over more events.
    static let idleStepNanoseconds: UInt64 = 1_000_000_000
    /// Most events one rebuild chunk folds.
    let chunkEvents: Int
    /// Threads that decode the log for the decision state's refold at start-up: one per core (at most
    /// four), beside the writer, which folds less than a decoding thread decodes. They run at nice 5:
    /// the writer's fold is the refold's critical path, and wins the cores when all of them are busy.
    static let refoldDecoders = min(max(ProcessInfo.processInfo.activeProcessorCount, 1), 4)
    /// About how many bytes of rows a refold of the decision state keeps in memory before writing them.
    let refoldBufferBytes: Int
    /// Seals the personal rows of every read model (`nil`: the log keeps personal data in plain text).
    let cipher: RowCipher?

    /// Opens the tables of the decision state and of both slots of every read model.
    init(
        environment: Environment,
        store: EventStore,
        readModels factories: [ProjectorFactory],
        cipher: RowCipher? = nil,
        chunkEvents: Int = 20_000,
        refoldBufferBytes: Int = 64 << 20
    ) throws {
        self.store = store
        self.cipher = cipher
        self.chunkEvents = max(chunkEvents, 1)
        self.refoldBufferBytes = refoldBufferBytes
        let (state, readModels) = try environment.write { txn -> (DecisionStateProjector, [ReadModel]) in
            let models = try factories.map { factory -> ReadModel in
                let slots = [try factory(txn, 0, cipher), try factory(txn, 1, cipher)]
                return ReadModel(
                    name: slots[0].name,
                    version: slots[0].version,
                    slots: slots,
                    queries: slots.map(\.queries),
                    slotKey: Array(ProjectionRunner.key(slots[0].name, "slot").utf8)
                )
            }
            return (try DecisionStateProjector(txn, cipher: cipher), models)
        }
        self.state = state
        self.readModels = readModels
        self.published = Mutex(
            readModels.map { _ in ProjectionLifecycle(activeSlot: 0, checkpoint: 0) }
        )
    }

    // MARK: - Persisted keys

    static func key(_ name: String, _ field: String) -> String { "proj.\(name).\(field)" }
    static func versionKey(_ name: String) -> String { key(name, "version") }
    static func checkpointKey(_ name: String) -> String { key(name, "checkpoint") }

    private func readUInt64(_ key: String, _ txn: Transaction) throws -> UInt64 {
        guard let bytes = try txn.get(self.store.meta, key), bytes.count == 8 else { return 0 }
        return bytes.reduce(0) { $0 << 8 | UInt64($1) }
    }

    private func writeUInt64(_ value: UInt64, _ key: String, _ txn: Transaction) throws {
        var bytes: [UInt8] = []
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
        try txn.put(self.store.meta, key, bytes)
    }

    /// The version whose tables are stored under `name`, if any.
    func storedVersion(_ name: String, _ txn: Transaction) throws -> Int? {
        guard let bytes = try txn.get(self.store.meta, ProjectionRunner.versionKey(name)) else { return nil }
        return Int(String(decoding: bytes, as: UTF8.self))
    }

    private func setStoredVersion(_ name: String, _ version: Int, _ txn: Transaction) throws {
        try txn.put(self.store.meta, ProjectionRunner.versionKey(name), Array(String(version).utf8))
    }

    /// The active slot of read model `index` as of `txn` (`nil`: none serves yet).
    func activeSlot(_ index: Int, _ txn: Transaction) throws -> Int? {
        guard let first = try txn.withValue(self.store.meta, self.readModels[index].slotKey, { $0.first }) ?? nil else {
            return 0
        }
        switch first {
        case UInt8(ascii: "0"): return 0
        case UInt8(ascii: "1"): return 1
        default: return nil
        }
    }

    /// The live slot of read model `index` and its checkpoint in `txn`'s snapshot, when it serves
    /// (has a live slot and has not failed).
    func servingSlot(_ index: Int, _ txn: Transaction) throws -> (slot: Int, checkpoint: UInt64)? {
        let lifecycle = try self.load(index, txn)
        guard let slot = lifecycle.activeSlot, lifecycle.failure == nil else { return nil }
        return (slot, lifecycle.checkpoint)
    }

    private func load(_ index: Int, _ txn: Transaction) throws -> ProjectionLifecycle {
        let name = self.readModels[index].name
        var lifecycle = ProjectionLifecycle(
            activeSlot: try self.activeSlot(index, txn),
            checkpoint: try self.readUInt64(ProjectionRunner.checkpointKey(name), txn)
        )
        if let bytes = try txn.get(self.store.meta, ProjectionRunner.key(name, "failure")),
            let json = try? JSON.parse(bytes)
        {
            lifecycle.failure = .init(
                position: UInt64(json["position"]?.intValue ?? 0),
                error: json["error"]?.stringValue ?? "",
                at: json["at"]?.intValue ?? 0
            )
        }
        if let bytes = try txn.get(self.store.meta, ProjectionRunner.key(name, "rebuild")),
            let json = try? JSON.parse(bytes)
        {
            lifecycle.rebuild = .init(
                slot: Int(json["slot"]?.intValue ?? 0),
                checkpoint: UInt64(json["checkpoint"]?.intValue ?? 0),
                reason: json["reason"]?.stringValue ?? "requested",
                startedAt: json["started_at"]?.intValue ?? 0,
                resumedAt: CRMCore.nowMillis()
            )
        }
        return lifecycle
    }

    private func save(_ index: Int, _ lifecycle: ProjectionLifecycle, _ txn: Transaction) throws {
        let name = self.readModels[index].name
        let slot: [UInt8] = lifecycle.activeSlot.map { Array(String($0).utf8) } ?? Array("-".utf8)
        try txn.put(self.store.meta, ProjectionRunner.key(name, "slot"), slot)
        try self.writeUInt64(lifecycle.checkpoint, ProjectionRunner.checkpointKey(name), txn)
        if let failure = lifecycle.failure {
            let json: JSON = [
                "position": .int(Int64(failure.position)), "error": .string(failure.error), "at": .int(failure.at),
            ]
            try txn.put(self.store.meta, ProjectionRunner.key(name, "failure"), json.serialized())
        } else {
            _ = try txn.delete(self.store.meta, ProjectionRunner.key(name, "failure"))
        }
        if let rebuild = lifecycle.rebuild {
            let json: JSON = [
                "slot": .int(Int64(rebuild.slot)), "checkpoint": .int(Int64(rebuild.checkpoint)),
                "reason": .string(rebuild.reason), "started_at": .int(rebuild.startedAt),
            ]
            try txn.put(self.store.meta, ProjectionRunner.key(name, "rebuild"), json.serialized())
        } else {
            _ = try txn.delete(self.store.meta, ProjectionRunner.key(name, "rebuild"))
        }
    }

    // MARK: - In-memory view

    /// Whether rebuilds are held (``CoreConfiguration/holdRebuilds``).
    var isHeld: Bool { self.held.withLock { $0 } }

    func setHeld(_ held: Bool) { self.held.withLock { $0 = held } }

    /// Every read model's lifecycle as of the last committed write.
    var lifecycles: [ProjectionLifecycle] { self.published.withLock { $0 } }

    /// Makes `lifecycles` visible to queries and status; call after the transaction committed.
    func publish(_ lifecycles: [ProjectionLifecycle]) { self.published.withLock { $0 = lifecycles } }

    /// Whether any read model has a rebuild to continue.
    func hasRebuilds(_ lifecycles: [ProjectionLifecycle]) -> Bool { lifecycles.contains { $0.rebuild != nil } }

    // MARK: - Start-up

    /// Brings the decision state up to the head before the daemon serves (commands need it), and
    /// prepares every read model: one whose stored version differs from the code's, or whose live
    /// tables are behind the head, gets a rebuild (so do failed ones, in case the code was fixed), and
    /// an interrupted rebuild resumes. Rebuilds that need at most `syncLimit` events are
    /// finished here, before the socket opens; larger ones (all, when `syncLimit` is `nil`) continue
    /// online through the writer.
    func prepare(_ environment: Environment, logger: Logger, syncLimit: UInt64?) throws -> EventRecordError? {
        let decisionStateStop = try self.catchUpDecisionState(environment, logger: logger)
        self.decisionStateStop.withLock { $0 = decisionStateStop.map { ($0, CRMCore.nowMillis()) } }
        var lifecycles = try environment.write { txn -> [ProjectionLifecycle] in
            let head = try self.store.head(txn).seq
            var lifecycles: [ProjectionLifecycle] = []
            for (index, model) in self.readModels.enumerated() {
                var lifecycle = try self.load(index, txn)
                let stored = try self.storedVersion(model.name, txn)
                // Live tables are folded in the transaction of every command, so they are behind the
                // head only if something else wrote the log; they are built afresh then too.
                let behind = lifecycle.activeSlot != nil && lifecycle.failure == nil && lifecycle.rebuild == nil
                    && lifecycle.checkpoint < head
                if stored != model.version || behind {
                    for slot in model.slots { try slot.clear(txn) }
                    try self.setStoredVersion(model.name, model.version, txn)
                    lifecycle = ProjectionLifecycle(activeSlot: nil, checkpoint: 0)
                    let reason = stored == nil ? "new" : stored != model.version ? "version" : "behind"
                    self.startRebuild(&lifecycle, index, reason: reason, txn)
                    logger.log(
                        level: head == 0 ? .debug : .notice,
                        "projection needs a build from the log",
                        metadata: [
                            "projection": "\(model.name)", "version": "\(model.version)",
                            "stored_version": "\(stored.map(String.init) ?? "none")", "head": "\(head)",
                        ]
                    )
                } else if let failure = lifecycle.failure, lifecycle.rebuild == nil {
                    try self.beginRebuild(&lifecycle, index, reason: "failed", txn)
                    logger.notice(
                        "rebuilding a failed projection",
                        metadata: ["projection": "\(model.name)", "failed_at": "\(failure.position)"]
                    )
                }
                try self.save(index, lifecycle, txn)
                lifecycles.append(lifecycle)
            }
            return lifecycles
        }
        self.publish(lifecycles)
        let head = try environment.read { txn in try self.store.head(txn).seq }
        let behind = lifecycles.compactMap { $0.rebuild.map { head - min($0.checkpoint, head) } }.max() ?? 0
        if self.hasRebuilds(lifecycles), let syncLimit, behind <= syncLimit {
            while self.hasRebuilds(lifecycles) {
                try self.rebuildStep(environment, &lifecycles, untimed: true, logger: logger)
            }
            self.publish(lifecycles)
        }
        return decisionStateStop
    }

    /// Decision state: cleared and refolded when its version changed, else folds what it misses.
    /// Stops before an event of a schema version newer than this crmd reads and returns its error:
    /// commands must not be decided on a state that misses it.
    private func catchUpDecisionState(_ environment: Environment, logger: Logger) throws -> EventRecordError? {
        let state = self.state
        let startedAt = CRMCore.nowMillis()
        let (from, head, rebuild) = try environment.write { txn -> (UInt64, UInt64, String?) in
            let head = try self.store.head(txn).seq
            let stored = try self.storedVersion(state.name, txn)
            if stored != state.version {
                // The version is stored when the refold ends: one cut short starts again from scratch.
                try state.clear(txn)
                try self.writeUInt64(0, ProjectionRunner.checkpointKey(state.name), txn)
                return (1, head, stored == nil ? "new" : "version")
            }
            return (try self.readUInt64(ProjectionRunner.checkpointKey(state.name), txn) + 1, head, nil)
        }
        var next = from
        var tooNew: EventRecordError?
        defer {
            if let rebuild {
                let finished = ProjectionLifecycle.Finished(
                    reason: rebuild, head: next - 1, events: next - 1, startedAt: startedAt,
                    finishedAt: CRMCore.nowMillis()
                )
                self.decisionStateRebuild.withLock { $0 = finished }
            }
        }
        // A refold keeps the busiest tables in memory and writes them when they hold
        // `refoldBufferBytes`, and at the end.
        let buffer = rebuild == nil ? nil : RefoldBuffer()
        if from <= head {
            logger.info(
                "bringing the decision state up to date",
                metadata: ["from": "\(from)", "head": "\(head)"]
            )
            next = try self.foldDecisionState(environment, from: from, head: head, buffer: buffer, tooNew: &tooNew)
        }
        if rebuild != nil {
            try environment.write { txn in
                if let buffer { try buffer.flush(into: state.state(txn)) }
                try self.writeUInt64(next - 1, ProjectionRunner.checkpointKey(state.name), txn)
                try self.setStoredVersion(state.name, state.version, txn)
            }
            buffer?.clear()
        }
        return tooNew
    }

    /// Folds events `from`…`head` into the decision state, chunk by chunk, with the busiest tables in
    /// `buffer` when given (each flushed chunk records its checkpoint). Returns the next position to
    /// fold; an event of a newer schema stops it (`tooNew`).
    private func foldDecisionState(
        _ environment: Environment, from: UInt64, head: UInt64, buffer: RefoldBuffer?,
        tooNew: inout EventRecordError?
    ) throws -> UInt64 {
        let state = self.state
        // A refold from the start opens the personal data of nearly every subject: their keys are read
        // in one pass rather than one lookup each on the decoding threads.
        if from == 1, head > 0 { try self.store.piiKeys?.loadAll() }
        // Events are decoded a chunk ahead of the folding on a thread per core (nothing else runs yet):
        // decoding costs more than folding. Only the personal data the decision state reads is
        // decrypted.
        let feed = DecodedLogFeed(
            environment: environment, store: self.store, from: from, head: head, aheadEvents: self.chunkEvents,
            threads: ProjectionRunner.refoldDecoders, nice: 5, opening: DecisionEvolver.readsPersonalData(of:)
        )
        defer { feed.finish() }
        var next = from
        var pending: ArraySlice<RecordedEvent> = []
        var ended = false
        while next <= head, tooNew == nil, !ended {
            // A chunk's events are taken from the feed before its write transaction, so that a write
            // run again (after the map grew) folds the same events; as slices of the feed's arrays,
            // not copied.
            var chunk: [ArraySlice<RecordedEvent>] = []
            var count = 0
            fill: while count < self.chunkEvents {
                if pending.isEmpty {
                    switch feed.next() {
                    case .events(let events): pending = events[...]
                    case .failed(_, let error as EventRecordError) where error.newerSchema != nil:
                        tooNew = error
                        break fill
                    case .failed(_, let error): throw error
                    case .end:
                        ended = true
                        break fill
                    }
                }
                let take = min(self.chunkEvents - count, pending.count)
                chunk.append(pending.prefix(take))
                count += take
                pending = pending.dropFirst(take)
            }
            guard let last = chunk.last(where: { !$0.isEmpty })?.last else { break }
            let flushed = try environment.write { txn -> Bool in
                guard let buffer else {
                    for events in chunk { for event in events { try state.apply(event, txn) } }
                    try self.writeUInt64(last.seq, ProjectionRunner.checkpointKey(state.name), txn)
                    return false
                }
                buffer.beginChunk()
                for events in chunk { for event in events { try state.apply(event, txn, buffer: buffer) } }
                guard buffer.bytes >= self.refoldBufferBytes else { return false }
                try buffer.flush(into: state.state(txn))
                try self.writeUInt64(last.seq, ProjectionRunner.checkpointKey(state.name), txn)
                return true
            }
            buffer?.endChunk()
            if flushed { buffer?.clear() }
            next = last.seq + 1
            if buffer != nil { CrashPoint.duringRefold.reached() }
        }
        return next
    }

    // MARK: - Inline folding (writer thread)

    /// Folds freshly appended events into the decision state and every serving read model. A read
    /// model whose projector throws (other than a storage error) surfaces as ``ProjectorFailure``.
    func apply(_ events: [RecordedEvent], _ txn: Transaction, _ lifecycles: [ProjectionLifecycle]) throws {
        for event in events {
            try self.state.apply(event, txn)
            for (index, lifecycle) in lifecycles.enumerated() {
                guard let slot = lifecycle.activeSlot, lifecycle.failure == nil else { continue }
                do {
                    try self.readModels[index].slots[slot].apply(event, txn)
                } catch let error as LMDBError {
                    throw error
                } catch {
                    throw ProjectorFailure(index: index, position: event.seq, error: error)
                }
            }
        }
    }

    /// Marks a read model failed at the event its projector could not fold: it is no longer folded,
    /// its checkpoint stays before that event, and its queries answer `projection_failed`.
    func markFailed(_ failure: ProjectorFailure, _ lifecycles: inout [ProjectionLifecycle], _ txn: Transaction) throws {
        lifecycles[failure.index].failure = .init(
            position: failure.position,
            error: "\(failure.error)",
            at: CRMCore.nowMillis()
        )
        try self.save(failure.index, lifecycles[failure.index], txn)
    }

    /// Records that the decision state and every serving read model have applied the log up to `seq`.
    func setCheckpoints(_ seq: UInt64, _ txn: Transaction, _ lifecycles: inout [ProjectionLifecycle]) throws {
        // Only what moved is written: a batch that appended nothing (every command rejected, or
        // changing nothing) then writes no page, and its commit costs no fsync.
        let stateKey = ProjectionRunner.checkpointKey(self.state.name)
        if try self.readUInt64(stateKey, txn) != seq { try self.writeUInt64(seq, stateKey, txn) }
        for index in lifecycles.indices where lifecycles[index].activeSlot != nil && lifecycles[index].failure == nil {
            let key = ProjectionRunner.checkpointKey(self.readModels[index].name)
            if try self.readUInt64(key, txn) != seq { try self.writeUInt64(seq, key, txn) }
            lifecycles[index].checkpoint = seq
        }
    }

    // MARK: - Rebuilds (writer thread)

    /// Starts rebuilding read model `index` (no-op when one is running). A live projection keeps
    /// serving from its active slot while the other slot fills; a failed one stops serving, since its
    /// tables are stale, and answers `projection_rebuilding` until the new build is ready.
    func beginRebuild(
        _ lifecycle: inout ProjectionLifecycle,
        _ index: Int,
        reason: String,
        _ txn: Transaction
    ) throws {
        guard lifecycle.rebuild == nil else { return }
        if lifecycle.failure != nil {
            if let stale = lifecycle.activeSlot { try self.readModels[index].slots[stale].clear(txn) }
            lifecycle.activeSlot = nil
            lifecycle.failure = nil
        }
        self.startRebuild(&lifecycle, index, reason: reason, txn)
        try self.readModels[index].slots[lifecycle.rebuild!.slot].clear(txn)
        try self.save(index, lifecycle, txn)
    }

    private func startRebuild(_ lifecycle: inout ProjectionLifecycle, _ index: Int, reason: String, _ txn: Transaction) {
        let now = CRMCore.nowMillis()
        lifecycle.rebuild = .init(
            slot: lifecycle.activeSlot.map { 1 - $0 } ?? 0,
            checkpoint: 0,
            reason: reason,
            startedAt: now,
            resumedAt: now
        )
    }

    /// Runs one chunk of every rebuild in progress in one write transaction: the log is read once
    /// from the earliest rebuild checkpoint and each event goes to every new slot that lacks it. The
    /// chunk ends after ``chunkEvents`` events, after ``busyStepNanoseconds`` once `yield` says
    /// commands are waiting, or after ``idleStepNanoseconds``; an `untimed` chunk ends only after
    /// ``chunkEvents`` (before the socket opens, when nothing waits). Every chunk stays well below
    /// LMDB's limit of dirty pages in one transaction. A rebuild
    /// that reaches the head becomes the active slot and the old slot is emptied, in the same
    /// transaction. `lifecycles` changes only if the chunk commits.
    func rebuildStep(
        _ environment: Environment,
        _ lifecycles: inout [ProjectionLifecycle],
        untimed: Bool = false,
        yield: () -> Bool = { false },
        logger: Logger
    ) throws {
        let building = lifecycles.indices.filter { lifecycles[$0].rebuild != nil }
        guard !building.isEmpty else { return }
        let current = lifecycles
        // With no command waiting, a second thread decodes the chunk's events ahead of the folds
        // (decoding is a fifth of a rebuild's work); while commands wait, that thread would take a
        // core from them, and a chunk is short anyway.
        let decodeAhead = untimed || !yield()
        // What the rebuilds' last chunks kept in memory, taken over by this chunk's batches (a run of
        // the transaction's closure after the first starts without them).
        var handedOver = self.chunkBatches.withLock { batches in
            defer { batches = [:] }
            return batches
        }
        var batches: [any ProjectionBatch] = []
        let committed = try environment.write { txn -> [ProjectionLifecycle] in
            var next = current
            let head = try self.store.head(txn).seq
            let from = building.map { next[$0].rebuild!.checkpoint }.min()! + 1
            let start = DispatchTime.now().uptimeNanoseconds
            var folded = 0
            // The slots being rebuilt, by position in `building` (a slot stays the same for the step),
            // each folded by a batch of its projector.
            let readers = building.map { self.readModels[$0].slots[next[$0].rebuild!.slot] }
            batches = building.indices.map { position in
                let previous = handedOver[building[position]].flatMap { $0.continues(next[building[position]].rebuild) }
                return readers[position].batch(after: previous)
            }
            handedOver = [:]
            // Whether the chunk takes the event at `seq`: it ends at the head, after `chunkEvents`
            // events, or when its time is up.
            func takes(_ seq: UInt64) -> Bool {
                guard seq <= head, folded < self.chunkEvents else { return false }
                if !untimed, folded & 63 == 63 {
                    let elapsed = DispatchTime.now().uptimeNanoseconds - start
                    if elapsed > ProjectionRunner.idleStepNanoseconds
                        || (elapsed > ProjectionRunner.busyStepNanoseconds && yield())
                    {
                        return false
                    }
                }
                return true
            }
            // Folds `event`, which the chunk takes, into every new slot that lacks it.
            func fold(_ event: RecordedEvent) throws {
                let seq = event.seq
                for (position, index) in building.enumerated() {
                    // The checkpoint alone, not a copy of the rebuild state, for every event and read model.
                    guard let checkpoint = next[index].rebuild?.checkpoint, checkpoint < seq else { continue }
                    do {
                        try batches[position].apply(event, txn)
                        next[index].rebuild!.checkpoint = seq
                        next[index].rebuild!.foldedHere += 1
                    } catch let error as LMDBError {
                        throw error
                    } catch {
                        try self.failRebuild(&next[index], index, at: seq, error: error, txn, logger: logger)
                    }
                }
                folded += 1
            }
            // An event no projector can read (too new, or corrupt) at `seq`, which the chunk takes,
            // fails every rebuild that needs it, visibly, instead of failing the step and retrying it
            // for ever.
            func fail(_ seq: UInt64, _ error: any Error) throws {
                for index in building where next[index].rebuild.map({ $0.checkpoint < seq }) == true {
                    try self.failRebuild(&next[index], index, at: seq, error: error, txn, logger: logger)
                }
            }
            // Personal data is opened only for the event types a read model being rebuilt reads it of.
            let opening: @Sendable (String) -> Bool = { type in readers.contains { $0.readsPersonalData(of: type) } }
            if from <= head, decodeAhead {
                let last = min(head, from + UInt64(self.chunkEvents) - 1)
                let feed = DecodedLogFeed(
                    environment: environment, store: self.store, from: from, head: last, aheadEvents: self.chunkEvents,
                    opening: opening
                )
                defer { feed.finish() }
                feeding: while true {
                    switch feed.next() {
                    case .events(let events):
                        for event in events {
                            guard takes(event.seq) else { break feeding }
                            try fold(event)
                        }
                    case .failed(_, let error as LMDBError):
                        throw error
                    case .failed(let seq, let error):
                        if takes(seq) { try fail(seq, error) }
                        break feeding
                    case .end:
                        break feeding
                    }
                }
            } else if from <= head {
                let keys = self.store.piiKeys
                try self.store.forEachRecord(from: from, txn) { seq, record in
                    // Decoded only once the chunk is known to take it.
                    guard takes(seq) else { return false }
                    let event: RecordedEvent
                    do {
                        event = try EventRecord.decode(record, keys: keys, opening: opening)
                    } catch {
                        try fail(seq, error)
                        return false
                    }
                    try fold(event)
                    return true
                }
            }
            // What the batches kept goes into the slots that are still being built (a failed one was emptied).
            for (position, index) in building.enumerated() where next[index].rebuild != nil {
                try batches[position].flush(txn)
            }
            for index in building {
                if let rebuild = next[index].rebuild, rebuild.checkpoint >= head {
                    if let old = next[index].activeSlot, old != rebuild.slot {
                        try self.readModels[index].slots[old].clear(txn)
                    }
                    next[index].activeSlot = rebuild.slot
                    next[index].checkpoint = head
                    next[index].failure = nil
                    next[index].rebuild = nil
                    next[index].lastRebuild = .init(
                        reason: rebuild.reason,
                        head: head,
                        events: rebuild.foldedHere,
                        startedAt: rebuild.startedAt,
                        finishedAt: CRMCore.nowMillis()
                    )
                    logger.log(
                        level: head == 0 ? .debug : .notice,
                        "projection rebuilt",
                        metadata: [
                            "projection": "\(self.readModels[index].name)", "head": "\(head)",
                            "reason": "\(rebuild.reason)",
                            "seconds": "\(Double(CRMCore.nowMillis() - rebuild.startedAt) / 1000)",
                        ]
                    )
                }
                try self.save(index, next[index], txn)
            }
            return next
        }
        lifecycles = committed
        // The chunk committed: the rebuilds still running hand what their batches hold to their next chunk.
        self.chunkBatches.withLock { kept in
            for (position, index) in building.enumerated() {
                guard let rebuild = committed[index].rebuild else { continue }
                kept[index] = HandedOverBatch(batch: batches[position], of: rebuild)
            }
        }
    }

    /// Ends the rebuild of read model `index` as failed at `seq`: the failure is stored and shown by
    /// `projection.status`, the half-built slot is emptied.
    private func failRebuild(
        _ lifecycle: inout ProjectionLifecycle,
        _ index: Int,
        at seq: UInt64,
        error: any Error,
        _ txn: Transaction,
        logger: Logger
    ) throws {
        guard let rebuild = lifecycle.rebuild else { return }
        lifecycle.failure = .init(position: seq, error: "\(error)", at: CRMCore.nowMillis())
        lifecycle.rebuild = nil
        try self.readModels[index].slots[rebuild.slot].clear(txn)
        logger.error(
            "projection failed during its rebuild",
            metadata: ["projection": "\(self.readModels[index].name)", "position": "\(seq)", "error": "\(error)"]
        )
    }

    // MARK: - Status

    /// The progress of a rebuild: positions folded, the head, percent, rate and ETA.
    static func progress(_ rebuild: ProjectionLifecycle.Rebuild, head: UInt64) -> JSON {
        let elapsed = Double(max(CRMCore.nowMillis() - rebuild.resumedAt, 1)) / 1000
        let rate = Double(rebuild.foldedHere) / elapsed
        let remaining = head - min(rebuild.checkpoint, head)
        let percent = head == 0 ? 100 : (Double(min(rebuild.checkpoint, head)) / Double(head) * 1000).rounded() / 10
        return [
            "reason": .string(rebuild.reason), "slot": .int(Int64(rebuild.slot)),
            "checkpoint": .int(Int64(rebuild.checkpoint)), "head": .int(Int64(head)),
            "remaining": .int(Int64(remaining)), "percent": .double(percent),
            "started_at": .string(Timestamp.format(rebuild.startedAt)),
            "events_per_second": .int(Int64(rate.rounded())),
            "eta_seconds": rate > 0 ? .double((Double(remaining) / rate * 10).rounded() / 10) : .null,
        ]
    }

    /// One row of `projection.status` for read model `index`.
    func status(_ index: Int, _ lifecycle: ProjectionLifecycle, head: UInt64, _ txn: Transaction) throws -> JSON {
        let model = self.readModels[index]
        let state = lifecycle.failure != nil ? "failed" : lifecycle.rebuild != nil ? "rebuilding" : "live"
        return [
            "name": .string(model.name), "version": .int(Int64(model.version)),
            "stored_version": .int(try self.storedVersion(model.name, txn)), "state": .string(state),
            "serving": .bool(lifecycle.activeSlot != nil && lifecycle.failure == nil),
            "slot": lifecycle.activeSlot.map { .int(Int64($0)) } ?? .null,
            "checkpoint": .int(Int64(lifecycle.checkpoint)),
            "lag": .int(Int64(head - min(lifecycle.checkpoint, head))),
            "rebuild": lifecycle.rebuild.map { ProjectionRunner.progress($0, head: head) } ?? .null,
            "last_rebuild": lifecycle.lastRebuild.map(ProjectionRunner.finished) ?? .null,
            "failure": lifecycle.failure.map { failure -> JSON in
                [
                    "position": .int(Int64(failure.position)), "error": .string(failure.error),
                    "at": .string(Timestamp.format(failure.at)),
                ]
            } ?? .null,
        ]
    }

    /// The `last_rebuild` member of a status row.
    static func finished(_ done: ProjectionLifecycle.Finished) -> JSON {
        [
            "reason": .string(done.reason), "head": .int(Int64(done.head)), "events": .int(Int64(done.events)),
            "started_at": .string(Timestamp.format(done.startedAt)),
            "finished_at": .string(Timestamp.format(done.finishedAt)),
            "seconds": .double(Double(done.finishedAt - done.startedAt) / 1000),
        ]
    }

    /// The `projection.status` row of the decision state.
    func decisionStateStatus(head: UInt64, _ txn: Transaction) throws -> JSON {
        let checkpoint = try self.readUInt64(ProjectionRunner.checkpointKey(self.state.name), txn)
        let stop = self.decisionStateStop.withLock { $0 }
        return [
            "name": .string(self.state.name), "version": .int(Int64(self.state.version)),
            "stored_version": .int(try self.storedVersion(self.state.name, txn)),
            "state": stop == nil ? "live" : "failed", "serving": .bool(stop == nil),
            "slot": 0, "checkpoint": .int(Int64(checkpoint)), "lag": .int(Int64(head - min(checkpoint, head))),
            "rebuild": .null,
            "last_rebuild": self.decisionStateRebuild.withLock { $0 }.map(ProjectionRunner.finished) ?? .null,
            "failure": stop.map { stop -> JSON in
                [
                    "position": .int(Int64(stop.error.newerSchema?.position ?? checkpoint + 1)),
                    "error": .string(stop.error.description), "at": .string(Timestamp.format(stop.at)),
                ]
            } ?? .null,
        ]
    }

    // MARK: - Queries

    /// Answers `method` from read model `index`: from its active slot as of the query's own read
    /// transaction, or a `projection_failed` / `projection_rebuilding` rejection.
    func query(_ index: Int, method: String, params: JSON?, _ environment: Environment) throws -> JSON {
        try environment.read { txn in try self.query(index, method: method, params: params, txn) }
    }

    /// Answers `method` from read model `index` inside the read transaction `txn`, for a caller that
    /// reads several read models and the log as of one moment.
    func query(_ index: Int, method: String, params: JSON?, _ txn: Transaction) throws -> JSON {
        let slot = try self.answeringSlot(index, txn)
        guard let query = self.readModels[index].queries[slot][method] else {
            throw Rejection(.internalError, "read model \(self.readModels[index].name) does not answer \(method)")
        }
        return try query(params, txn)
    }

    /// The instance of read model `name` that serves queries in `txn`, for a typed read (a fit's
    /// inputs): `projection_failed` / `projection_rebuilding` like a query.
    func servingProjector(named name: String, _ txn: Transaction) throws -> any Projector {
        guard let index = self.readModels.firstIndex(where: { $0.name == name }) else {
            throw Rejection(.internalError, "there is no read model \(name)")
        }
        return self.readModels[index].slots[try self.answeringSlot(index, txn)]
    }

    /// The active slot of read model `index`, or a `projection_failed` / `projection_rebuilding`
    /// rejection.
    private func answeringSlot(_ index: Int, _ txn: Transaction) throws -> Int {
        let model = self.readModels[index]
        let lifecycle = self.lifecycles[index]
        if let failure = lifecycle.failure {
            throw Rejection(
                .projectionFailed,
                "projection \(model.name) failed at position \(failure.position): \(failure.error); "
                    + "it answers again after a fix and `projection.rebuild \(model.name)`",
                details: [
                    "projection": .string(model.name), "position": .int(Int64(failure.position)),
                    "error": .string(failure.error),
                ]
            )
        }
        guard let slot = try self.activeSlot(index, txn) else {
            let head = try self.store.head(txn).seq
            var details: [String: DetailValue] = ["projection": .string(model.name)]
            var message = "projection \(model.name) is being rebuilt"
            if let rebuild = lifecycle.rebuild {
                let progress = ProjectionRunner.progress(rebuild, head: head)
                details["progress"] = DetailValue(progress)
                message += " (\(progress["percent"]?.doubleValue ?? 0)% done"
                if let eta = progress["eta_seconds"]?.doubleValue { message += ", about \(Int(eta.rounded(.up))) s left" }
                message += ")"
            }
            throw Rejection(.projectionRebuilding, message + "; try again shortly", details: details)
        }
        return slot
    }
}
