import Foundation
import Synchronization

/// The single writer thread: it owns every LMDB write transaction.
///
/// The thread first runs the start-up work it is given (opening the data directory, rebuilding the
/// decision state), so that blocking work never holds a thread of the async world, and
/// ``start(name:maxBatch:nice:setup:)`` awaits it. Then work items queued from any thread with ``enqueue(_:)`` are
/// processed: the thread takes *every* pending item at once (group commit), hands the batch to
/// ``Work/process``, which runs them in one write transaction, and only then counts them as completed.
/// ``waitUntilCompleted(_:)`` lets a query wait until work enqueued before it has committed, which gives
/// read-your-writes to pipelined requests.
///
/// Between batches the thread runs one step of background work (``Work/background``, e.g. a chunk of a
/// projection rebuild) for as long as that reports more to do, so background work interleaves with
/// commands and never starves them or is starved by them. ``stop()`` ends the thread after what is
/// queued has been processed and ``Work/finish`` has run; ``waitUntilFinished()`` awaits that.
final class Writer<Item: Sendable>: Sendable {
    /// What the thread runs once its start-up work is done.
    struct Work: Sendable {
        /// Called with each batch, in order.
        var process: @Sendable ([Item]) -> Void
        /// Called after each batch, whenever it last returned `true` (more work to do), and when the
        /// thread is nudged. It gets a function telling whether items are waiting, so that it can
        /// yield to them.
        var background: @Sendable (_ itemsWaiting: () -> Bool) -> Bool = { _ in false }
        /// Called once, after the last batch, before the thread ends.
        var finish: @Sendable () -> Void = {}
    }

    private struct State {
        var queue: [Item] = []
        var enqueued: UInt64 = 0
        var completed: UInt64 = 0
        var batches: UInt64 = 0
        var stopping = false
        var finished = false
        var waiters: [(ticket: UInt64, continuation: CheckedContinuation<Void, Never>)] = []
        var finishWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())
    private let wakeUp = DispatchSemaphore(value: 0)
    private let maxBatch: Int

    private init(maxBatch: Int) { self.maxBatch = maxBatch }

    /// Starts the thread (named `name`, at nice value `nice`), which runs `setup` and then processes
    /// batches of at most `maxBatch` items with the ``Work`` that `setup` made. Returns once `setup`
    /// has run, with what it opened; when it throws, the thread ends and so does this, with its error.
    static func start<Opened: Sendable>(
        name: String,
        maxBatch: Int,
        nice: Int = 0,
        setup: @escaping @Sendable () throws -> (opened: Opened, work: Work)
    ) async throws -> (writer: Writer, opened: Opened) {
        let writer = Writer(maxBatch: maxBatch)
        let opened: Opened = try await withCheckedThrowingContinuation { continuation in
            NamedThread.start(name: name, nice: Int32(nice), stackSize: 8 << 20) {
                let work: Work
                do {
                    let made = try setup()
                    work = made.work
                    continuation.resume(returning: made.opened)
                } catch {
                    writer.stop()
                    writer.finished()
                    continuation.resume(throwing: error)
                    return
                }
                writer.run(work)
            }
        }
        return (writer, opened)
    }

    /// Queues `item`; returns its ticket (its 1-based place in the order of all items ever queued),
    /// or `nil` when the writer is stopping.
    func enqueue(_ item: Item) -> UInt64? {
        let ticket = self.state.withLock { state -> UInt64? in
            guard !state.stopping else { return nil }
            state.queue.append(item)
            state.enqueued += 1
            return state.enqueued
        }
        if ticket != nil { self.wakeUp.signal() }
        return ticket
    }

    /// The ticket of the most recently queued item.
    var lastTicket: UInt64 { self.state.withLock { $0.enqueued } }

    /// Number of items queued and not yet committed.
    var backlog: UInt64 { self.state.withLock { $0.enqueued - $0.completed } }

    /// Number of batches processed (write transactions) since the writer started.
    var batches: UInt64 { self.state.withLock { $0.batches } }

    /// Whether every item up to `ticket` has been processed.
    func isCompleted(_ ticket: UInt64) -> Bool { self.state.withLock { $0.completed >= ticket } }

    /// Returns once every item up to `ticket` has been processed.
    func waitUntilCompleted(_ ticket: UInt64) async {
        if self.state.withLock({ $0.completed >= ticket }) { return }
        await withCheckedContinuation { continuation in
            let done = self.state.withLock { state -> Bool in
                if state.completed >= ticket { return true }
                state.waiters.append((ticket, continuation))
                return false
            }
            if done { continuation.resume() }
        }
    }

    /// Stops accepting items; the thread processes what is queued, runs ``Work/finish`` and ends.
    /// Returns at once (see ``waitUntilFinished()``); later calls do nothing.
    func stop() {
        let alreadyStopping = self.state.withLock { state -> Bool in
            defer { state.stopping = true }
            return state.stopping
        }
        if !alreadyStopping { self.wakeUp.signal() }
    }

    /// Returns once the thread has ended (after ``stop()``).
    func waitUntilFinished() async {
        await withCheckedContinuation { continuation in
            let done = self.state.withLock { state -> Bool in
                if state.finished { return true }
                state.finishWaiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    /// Wakes the thread so that it looks for background work again.
    func nudge() { self.wakeUp.signal() }

    /// The thread has ended: wakes everyone waiting for it.
    private func finished() {
        let waiters = self.state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.finished = true
            defer { state.finishWaiters = [] }
            return state.finishWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    private func run(_ work: Work) {
        let waiting = { self.state.withLock { !$0.queue.isEmpty } }
        var more = work.background(waiting)
        while true {
            if !more { self.wakeUp.wait() }
            let (batch, stopping) = self.state.withLock { state -> ([Item], Bool) in
                let count = min(state.queue.count, self.maxBatch)
                let batch = Array(state.queue.prefix(count))
                state.queue.removeFirst(count)
                return (batch, state.stopping)
            }
            if batch.isEmpty, stopping {
                work.finish()
                self.finished()
                return
            }
            if !batch.isEmpty {
                work.process(batch)
                let ready = self.state.withLock { state -> [CheckedContinuation<Void, Never>] in
                    state.completed += UInt64(batch.count)
                    state.batches += 1
                    let completed = state.completed
                    var ready: [CheckedContinuation<Void, Never>] = []
                    state.waiters.removeAll { waiter in
                        guard waiter.ticket <= completed else { return false }
                        ready.append(waiter.continuation)
                        return true
                    }
                    return ready
                }
                for continuation in ready { continuation.resume() }
            }
            more = work.background(waiting) || waiting()
        }
    }
}
