import Synchronization

/// The head of the log as committed by the writer, and the tasks waiting for it to move.
final class HeadSignal: Sendable {
    private struct State {
        var head: UInt64
        var closed = false
        var waiters: [UInt64: (after: UInt64, continuation: CheckedContinuation<Void, Never>)] = [:]
        /// The key of the next waiter (a `UUID` would read `/dev/urandom` for every wait).
        var nextWaiter: UInt64 = 0
        var observers: [@Sendable (UInt64) -> Void] = []
    }

    private let state: Mutex<State>

    init(head: UInt64) { self.state = Mutex(State(head: head)) }

    /// The committed head.
    var head: UInt64 { self.state.withLock { $0.head } }

    /// Writer side: the head after a commit; wakes everyone waiting for a lower one and tells the
    /// observers.
    func publish(_ head: UInt64) {
        let (ready, observers, now) = self.state.withLock { state in
            state.head = max(state.head, head)
            var ready: [CheckedContinuation<Void, Never>] = []
            for (id, waiter) in state.waiters where waiter.after < state.head {
                ready.append(waiter.continuation)
                state.waiters.removeValue(forKey: id)
            }
            return (ready, state.observers, state.head)
        }
        for continuation in ready { continuation.resume() }
        for observer in observers { observer(now) }
    }

    /// Calls `observer` with the head after every commit, on the writer thread: it must only take
    /// note and return (threads that wait for commits without a task use it).
    func observe(_ observer: @escaping @Sendable (UInt64) -> Void) {
        self.state.withLock { $0.observers.append(observer) }
    }

    /// Wakes every waiter for good (shutdown).
    func close() {
        let waiters = self.state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.closed = true
            defer { state.waiters = [:] }
            return state.waiters.values.map(\.continuation)
        }
        for continuation in waiters { continuation.resume() }
    }

    /// Returns once the head is past `after`, the signal is closed, or the task is cancelled.
    func wait(after: UInt64) async {
        let id = self.state.withLock { state in
            defer { state.nextWaiter += 1 }
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let now = self.state.withLock { state -> Bool in
                    if state.closed || state.head > after || Task.isCancelled { return true }
                    state.waiters[id] = (after, continuation)
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            let waiter = self.state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.continuation.resume()
        }
    }

    var isClosed: Bool { self.state.withLock { $0.closed } }
}
