import Foundation
import Glibc
import Synchronization

/// The single writer thread: it owns every LMDB write transaction.
///
/// Work items are queued from any thread with ``enqueue(_:)``; the thread takes *every* pending item
/// at once (group commit), hands the batch to `process`, which runs them in one write transaction,
/// and only then counts them as completed. ``waitUntilCompleted(_:)`` lets a query wait until work
/// enqueued before it has committed, which gives read-your-writes to pipelined requests.
///
/// Between batches the thread runs one step of background work (`background`, e.g. a chunk of a
/// projection rebuild) for as long as that reports more to do, so background work interleaves with
/// commands and never starves them or is starved by them.
final class Writer<Item: Sendable>: Sendable {
    private struct State {
        var queue: [Item] = []
        var enqueued: UInt64 = 0
        var completed: UInt64 = 0
        var batches: UInt64 = 0
        var stopping = false
        var waiters: [(ticket: UInt64, continuation: CheckedContinuation<Void, Never>)] = []
    }

    private let state = Mutex(State())
    private let wakeUp = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private let maxBatch: Int

    /// Starts the thread; `process` is called on it with each batch, in order, and `background` after
    /// each batch, whenever it last returned `true` (more work to do) and, with `idleWakeMillis`, at
    /// least that often while idle. `background` gets a function telling whether items are waiting,
    /// so that it can yield to them.
    init(
        name: String,
        maxBatch: Int,
        nice: Int = 0,
        idleWakeMillis: Int? = nil,
        process: @escaping @Sendable ([Item]) -> Void,
        background: @escaping @Sendable (_ commandsWaiting: () -> Bool) -> Bool = { _ in false }
    ) {
        self.maxBatch = maxBatch
        let thread = Thread { [self] in
            // On Linux the nice value is per thread; `who` 0 is the calling thread.
            if nice != 0 { _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, Int32(nice)) }
            self.run(process, background, idleWakeMillis: idleWakeMillis)
        }
        thread.name = name
        thread.stackSize = 8 << 20
        thread.start()
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

    /// Stops accepting items, processes what is queued, and waits for the thread to end.
    func stop() {
        let alreadyStopping = self.state.withLock { state -> Bool in
            defer { state.stopping = true }
            return state.stopping
        }
        guard !alreadyStopping else { return }
        self.wakeUp.signal()
        self.finished.wait()
    }

    /// Wakes the thread so that it looks for background work again.
    func nudge() { self.wakeUp.signal() }

    private func run(
        _ process: @Sendable ([Item]) -> Void,
        _ background: @Sendable (() -> Bool) -> Bool,
        idleWakeMillis: Int?
    ) {
        let waiting = { self.state.withLock { !$0.queue.isEmpty } }
        var more = background(waiting)
        while true {
            if !more {
                if let idleWakeMillis {
                    _ = self.wakeUp.wait(timeout: .now() + .milliseconds(idleWakeMillis))
                } else {
                    self.wakeUp.wait()
                }
            }
            let (batch, stopping) = self.state.withLock { state -> ([Item], Bool) in
                let count = min(state.queue.count, self.maxBatch)
                let batch = Array(state.queue.prefix(count))
                state.queue.removeFirst(count)
                return (batch, state.stopping)
            }
            if batch.isEmpty, stopping {
                self.finished.signal()
                return
            }
            if !batch.isEmpty {
                process(batch)
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
            more = background(waiting) || waiting()
        }
    }
}
