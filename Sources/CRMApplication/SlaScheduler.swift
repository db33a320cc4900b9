import CRMDomain
import CRMEventStore
import CRMProjections
import Dispatch
import Foundation
import LMDB
import Logging
public import ServiceLifecycle
import Synchronization

/// The SLA scheduler: appends `SlaBreached` when an SLA instance's deadline passes, and
/// `SlaBreachWarning` a lead time before it (``CoreConfiguration/slaBreachEvents``,
/// ``CoreConfiguration/slaBreachWarningMinutes``), each exactly once, as the internal command
/// ``NotifySlaBreach``. A `Service` of the core (``CRMCore/services``).
///
/// It keeps an agenda in memory: per ticket, when its next notice falls due. At start it evaluates
/// every open ticket of the SLA read model (so a breach that fell due while crmd was down is appended
/// at once, dated at its deadline); afterwards it evaluates only the tickets whose streams got events
/// since (read from the log). It reads on its own read transactions, off the writer and the
/// cooperative pool, and sleeps until the next notice falls due or the head of the log moves (reading
/// new events at most every ``leastReadInterval``). Notices
/// are appended one at a time in the order they fell due, each against the ticket stream's version it
/// was computed at, so that a ticket changed meanwhile is computed again instead of notified wrongly.
public final class SlaScheduler: Service, Sendable {
    private let storage: CoreStorage
    private let commands: CommandPipeline
    private let headSignal: HeadSignal
    private let clock: @Sendable () -> Int64
    private let leadMinutes: Int64
    private let logger: Logger
    private let wakeup = Wakeup()
    /// The thread that runs the scheduler's reads and clock evaluations.
    private let reads = BackgroundThread(name: "crmd-sla", nice: 10)
    /// The latest clock reading at which the scheduler had nothing left to do, and who waits for one.
    private let idle = Mutex<(at: Int64, waiters: [(Int64, CheckedContinuation<Void, Never>)])>((.min, []))

    /// Most notices appended, and most log events read, before the scheduler looks at its clock and
    /// the log again.
    static let noticesPerPass = 100
    static let eventsPerPass = 1000
    /// Longest sleep: a wall clock that jumps is noticed within this time.
    static let longestSleep: Duration = .seconds(60)
    /// Least time between two reads of new events: commits that come faster are read together, so a
    /// busy log costs the scheduler a pass every 20 ms, not one per commit (passes per commit cost
    /// ≈ 13 % of crmd's CPU when commands came one at a time). A notice can be appended that much
    /// later than its ticket's event; notices falling due on the clock are not delayed.
    static let leastReadInterval: Duration = .milliseconds(20)

    /// A scheduler reading `storage` (its clock and lead time from its configuration), appending through
    /// `commands`, woken by `headSignal`.
    init(storage: CoreStorage, commands: CommandPipeline, headSignal: HeadSignal, logger: Logger) {
        self.storage = storage
        self.commands = commands
        self.headSignal = headSignal
        self.clock = storage.configuration.slaClock
        self.leadMinutes = Int64(max(0, storage.configuration.slaBreachWarningMinutes))
        self.logger = logger
    }

    /// Wakes the scheduler to read its clock again (for tests that move their clock).
    public func nudge() { self.wakeup.signal() }

    /// Returns once the scheduler has caught up with its clock at `instant` or later: every notice
    /// due by then is committed, and it has nothing more to do until its next deadline or event.
    public func waitUntilIdle(at instant: Int64) async {
        await withCheckedContinuation { continuation in
            let ready = self.idle.withLock { idle -> Bool in
                if idle.at >= instant { return true }
                idle.waiters.append((instant, continuation))
                return false
            }
            if ready { continuation.resume() }
        }
    }

    /// Runs until graceful shutdown or cancellation.
    public func run() async {
        self.reads.start()
        defer { self.reads.stop() }
        do {
            try await cancelWhenGracefulShutdown { try await self.loop() }
        } catch is CancellationError {
            // Graceful shutdown or the group's cancellation: notices still due are appended at the next start.
        } catch {
            self.logger.error("the SLA scheduler stopped", metadata: ["error": "\(error)"])
        }
    }

    private func loop() async throws {
        var agenda = SlaAgenda()
        var seen = UInt64(0)
        var started = false
        var lastError: String?
        var lastRead: ContinuousClock.Instant?
        while !Task.isCancelled {
            if started, self.headSignal.head > seen, let lastRead, lastRead + Self.leastReadInterval > .now {
                try await Task.sleep(until: lastRead + Self.leastReadInterval)
            }
            let now = self.clock()
            let head = self.headSignal.head
            do {
                if !started || head > seen {
                    let after = started ? seen : nil
                    lastRead = .now
                    let (read, due) = try await self.offPool { try self.ticketsToEvaluate(after: after, now: now) }
                    for (id, dueAt) in due { agenda.set(id, dueAt) }
                    (seen, started) = (read, true)
                }
                var appended = 0
                while let (id, dueAt) = agenda.first, dueAt <= now, appended < Self.noticesPerPass {
                    appended += 1
                    try await self.notify(id, now: now, agenda: &agenda)
                }
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                // A read model being rebuilt or failed, or a storage error: try again after a while,
                // saying so once per kind of error.
                if lastError != "\(error)" {
                    lastError = "\(error)"
                    self.logger.warning("the SLA scheduler cannot run; it tries again", metadata: ["error": "\(error)"])
                }
                try await Task.sleep(for: .seconds(1))
                continue
            }
            lastError = nil
            if self.headSignal.head > seen || agenda.first.map({ $0.dueAt <= now }) == true { continue }
            self.becameIdle(at: now)
            let delay = agenda.first.map { Duration.milliseconds(max(1, $0.dueAt - now)) } ?? Self.longestSleep
            await self.sleep(for: min(delay, Self.longestSleep), after: seen)
        }
        throw CancellationError()
    }

    // MARK: - Reading

    /// When the next notice of each ticket to evaluate falls due (`nil`: none to come), and the last
    /// position read: every open ticket and the head when `after` is `nil` (at start), else the tickets
    /// whose streams got events after position `after` (at most ``eventsPerPass`` events).
    private func ticketsToEvaluate(after: UInt64?, now: Int64) throws -> (UInt64, [(String, Int64?)]) {
        try self.storage.environment.read { txn in
            let reader = try self.reader(txn)
            var ids: [String]
            var last: UInt64
            if let after {
                let prefix = Array(ServiceStream.ticket("").utf8)
                var changed = Set<String>()
                last = after
                try self.storage.store.forEachRecord(from: after + 1, txn) { seq, record in
                    // Only the stream name is read: most events are not a ticket's.
                    let stream = try EventRecord.streamBytes(of: record)
                    if stream.starts(with: prefix) {
                        changed.insert(String(decoding: stream.dropFirst(prefix.count), as: UTF8.self))
                    }
                    last = seq
                    return seq - after < UInt64(Self.eventsPerPass)
                }
                ids = Array(changed)
            } else {
                ids = try reader.sla.openTicketIDs(txn)
                last = try self.storage.store.head(txn).seq
            }
            return (last, try ids.map { id in (id, try reader.schedule(id, now: now).nextDueAt) })
        }
    }

    /// What one read transaction needs to compute a ticket's notices.
    private struct Reader {
        let sla: SlaProjector
        let state: any DecisionState
        let leadMinutes: Int64
        let txn: Transaction

        /// The ticket's notices still to append as of `now`, and when to look at it again.
        func schedule(_ id: String, now: Int64) throws -> SlaNoticeSchedule {
            try QueryCancellation.check()
            guard let record = try self.sla.record(ofTicket: id, self.txn) else { return SlaNoticeSchedule() }
            // A ticket whose deadlines cannot be near is not evaluated until they can be.
            if let earliest = SlaNotice.earliestDue(record, leadMinutes: self.leadMinutes), earliest > now {
                return SlaNoticeSchedule(recheckAt: earliest)
            }
            let notified = try self.state.slaNotices(id)
            return SlaNotice.schedule(record, asOf: now, leadMinutes: self.leadMinutes, notified: notified)
        }
    }

    private func reader(_ txn: Transaction) throws -> Reader {
        guard let sla = try self.storage.runner.servingProjector(named: "sla", txn) as? SlaProjector else {
            throw Rejection(.internalError, "the SLA read model is missing")
        }
        return Reader(
            sla: sla, state: self.storage.runner.state.state(txn), leadMinutes: self.leadMinutes, txn: txn
        )
    }

    // MARK: - Appending

    /// Appends the first due notice of ticket `id`, computed afresh; a ticket with nothing due is put
    /// back into `agenda` at its next notice.
    private func notify(_ id: String, now: Int64, agenda: inout SlaAgenda) async throws {
        let (schedule, version) = try await self.offPool {
            try self.storage.environment.read { txn -> (SlaNoticeSchedule, UInt64) in
                let schedule = try self.reader(txn).schedule(id, now: now)
                return (schedule, try self.storage.store.streamHead(ServiceStream.ticket(id), txn).version)
            }
        }
        guard let notice = schedule.notices.first, notice.dueAt <= now else {
            return agenda.set(id, schedule.nextDueAt)
        }
        let options = CommandOptions(expectedVersion: .exact(version), at: notice.at)
        let origin = RequestOrigin(uid: getuid(), gid: getgid())
        let outcome = await self.commands.submit(NotifySlaBreach(notice), options: options, origin: origin).value
        switch outcome {
        case .committed:
            // The ticket stays due at this notice's time: it is computed again next, for its next notice.
            return
        case .rejected(let rejection) where rejection.reason == .versionConflict:
            // The ticket changed since it was read: it is computed again next.
            return
        case .rejected(let rejection) where rejection.reason == .shuttingDown:
            throw CancellationError()
        default:
            self.logger.error(
                "appending an SLA notice failed; the ticket is looked at again on its next event",
                metadata: ["ticket_id": "\(id)", "notice": "\(notice.key)", "outcome": "\(outcome)"]
            )
            agenda.set(id, nil)
        }
    }

    // MARK: - Waiting

    /// Runs `work` on the scheduler's own thread, at a low priority (LMDB reads and clock evaluations
    /// stay off the cooperative pool and give way to the writer and to queries). Cancelling the task
    /// stops `work` at its next ``QueryCancellation/check()`` (one per ticket), so that shutdown never
    /// waits for a long read.
    private func offPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        let flag = QueryCancellation.Flag()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                self.reads.run {
                    continuation.resume(with: Result { try QueryCancellation.run(flag) { try work() } })
                }
            }
        } onCancel: {
            flag.raise()
        }
    }

    /// Sleeps for `delay`, or until the head moves past `after`, the scheduler is nudged, or the task is
    /// cancelled.
    private func sleep(for delay: Duration, after head: UInt64) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.headSignal.wait(after: head) }
            group.addTask { await self.wakeup.wait() }
            group.addTask { try? await Task.sleep(for: delay) }
            _ = await group.next()
            group.cancelAll()
        }
    }

    private func becameIdle(at now: Int64) {
        let ready = self.idle.withLock { idle -> [CheckedContinuation<Void, Never>] in
            idle.at = max(idle.at, now)
            let at = idle.at
            let ready = idle.waiters.filter { $0.0 <= at }.map(\.1)
            idle.waiters.removeAll { $0.0 <= at }
            return ready
        }
        for continuation in ready { continuation.resume() }
    }
}

/// The scheduler's agenda: per ticket, when its next notice falls due; the earliest first.
struct SlaAgenda: Sendable {
    private var due: [String: Int64] = [:]
    /// (due, ticket) pairs, a binary min-heap; pairs that no longer match `due` are skipped lazily.
    private var heap: [(dueAt: Int64, id: String)] = []

    /// Ticket `id` falls due at `dueAt` (`nil`: nothing to come).
    mutating func set(_ id: String, _ dueAt: Int64?) {
        guard self.due[id] != dueAt else { return }
        self.due[id] = dueAt
        guard let dueAt else { return }
        if self.heap.count > 2 * self.due.count + 1024 {
            // Mostly outdated pairs: start again from `due` (a sorted array is a heap).
            self.heap = self.due.map { ($0.value, $0.key) }.sorted(by: Self.before)
            return
        }
        self.heap.append((dueAt, id))
        var child = self.heap.count - 1
        while child > 0, Self.before(self.heap[child], self.heap[(child - 1) / 2]) {
            self.heap.swapAt(child, (child - 1) / 2)
            child = (child - 1) / 2
        }
    }

    /// The ticket due first, and when.
    var first: (id: String, dueAt: Int64)? {
        mutating get {
            while let top = self.heap.first, self.due[top.id] != top.dueAt { self.popHeap() }
            return self.heap.first.map { ($0.id, $0.dueAt) }
        }
    }

    private static func before(_ a: (dueAt: Int64, id: String), _ b: (dueAt: Int64, id: String)) -> Bool {
        a.dueAt != b.dueAt ? a.dueAt < b.dueAt : a.id < b.id
    }

    private mutating func popHeap() {
        self.heap.swapAt(0, self.heap.count - 1)
        self.heap.removeLast()
        var parent = 0
        while true {
            let (left, right) = (2 * parent + 1, 2 * parent + 2)
            var smallest = parent
            if left < self.heap.count, Self.before(self.heap[left], self.heap[smallest]) { smallest = left }
            if right < self.heap.count, Self.before(self.heap[right], self.heap[smallest]) { smallest = right }
            guard smallest != parent else { return }
            self.heap.swapAt(parent, smallest)
            parent = smallest
        }
    }
}

/// A wake-up call that is kept until someone waits for it.
private final class Wakeup: Sendable {
    private let state = Mutex<(pending: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

    /// Wakes the waiter, or the next one to wait.
    func signal() {
        let waiter = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
            defer { state.waiter = nil }
            if state.waiter == nil { state.pending = true }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Returns once signalled (at once for a signal nobody waited for yet) or cancelled.
    func wait() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let now = self.state.withLock { state -> Bool in
                    if state.pending || Task.isCancelled {
                        state.pending = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            let waiter = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }
    }
}

/// One thread at a raised nice value that runs jobs one at a time, in order, from ``start()`` until
/// ``stop()``: each job and the stop signal the thread once, and it ends on the signal that finds no
/// job left.
private final class BackgroundThread: Sendable {
    private let name: String
    private let nice: Int32
    private let jobs = Mutex<[@Sendable () -> Void]>([])
    private let ready = DispatchSemaphore(value: 0)

    /// A thread named `name` that will run at nice value `nice`.
    init(name: String, nice: Int32) {
        self.name = name
        self.nice = nice
    }

    /// Starts the thread.
    func start() {
        NamedThread.start(name: self.name, nice: self.nice) { self.work() }
    }

    private func work() {
        while true {
            self.ready.wait()
            let job = self.jobs.withLock { queue -> (@Sendable () -> Void)? in
                queue.isEmpty ? nil : queue.removeFirst()
            }
            guard let job else { return }
            job()
        }
    }

    /// Queues `job`.
    func run(_ job: @escaping @Sendable () -> Void) {
        self.jobs.withLock { $0.append(job) }
        self.ready.signal()
    }

    /// Ends the thread once the jobs queued before have run.
    func stop() { self.ready.signal() }
}
