import Synchronization

/// A value that one thread fulfils once and any number of tasks await (the reply of a queued
/// command).
public final class Pending<Value: Sendable>: Sendable {
    private enum State {
        case waiting([CheckedContinuation<Value, Never>])
        case done(Value)
    }

    private let state = Mutex<State>(.waiting([]))

    init() {}

    /// Sets the value and resumes every waiter. Later calls are ignored.
    func fulfil(_ value: Value) {
        let waiters = self.state.withLock { state -> [CheckedContinuation<Value, Never>] in
            guard case .waiting(let waiters) = state else { return [] }
            state = .done(value)
            return waiters
        }
        for waiter in waiters { waiter.resume(returning: value) }
    }

    /// The value, once fulfilled.
    public var value: Value {
        get async {
            if case .done(let value) = self.state.withLock({ $0 }) { return value }
            return await withCheckedContinuation { continuation in
                let ready = self.state.withLock { state -> Value? in
                    switch state {
                    case .done(let value): return value
                    case .waiting(var waiters):
                        waiters.append(continuation)
                        state = .waiting(waiters)
                        return nil
                    }
                }
                if let ready { continuation.resume(returning: ready) }
            }
        }
    }
}
