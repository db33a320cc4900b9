/// What a waiter finds when it looks at a hand-off point: a value to go on with at once, or that it
/// must wait (its continuation has then been stored, to be resumed by whoever brings the value).
enum Handoff<Value: Sendable> {
    case ready(Value)
    case wait
}

/// Suspends until a value is handed over: `look` runs once with the continuation, typically under
/// the lock of the caller's state, and either answers at once or stores the continuation for
/// another party to resume. A cancelled task calls `onCancel`, which must resume any stored
/// continuation.
///
/// `ready`, when given, is asked first (unless the task is cancelled) and answers without a
/// continuation or cancellation handler when the value is there already: the common case of a busy
/// connection, where installing both for every request costs more than the work they wait for.
func awaitHandoff<Value: Sendable>(
    ready: () -> Value? = { nil },
    _ look: (CheckedContinuation<Value, Never>) -> Handoff<Value>,
    onCancel: @Sendable () -> Void
) async -> Value {
    if !Task.isCancelled, let value = ready() { return value }
    return await withTaskCancellationHandler {
        await withCheckedContinuation { (continuation: CheckedContinuation<Value, Never>) in
            if case .ready(let value) = look(continuation) { continuation.resume(returning: value) }
        }
    } onCancel: {
        onCancel()
    }
}
