import Synchronization

/// The FIFO between a connection's reader and its writer: the reader pushes the task of each
/// request in arrival order, the writer awaits them in that order and writes their replies.
///
/// It bounds how many requests of one connection are in flight, counting from the moment the
/// reader starts a request until the writer has handed its reply to the channel. When the bound is
/// reached, ``waitForSpace()`` suspends the reader, so a client that pipelines faster than replies
/// are produced (or that stops reading its replies) is back-pressured instead of growing memory.
///
/// Exactly one reader task and one writer task use a queue. ``cancel()`` (called on cancellation of
/// either, when the writer fails or when the client has gone) wakes both, drops the replies not yet
/// written and cancels their tasks (``StartedReply/cancel()``: queries stop early; commands, already
/// queued with the writer, are not affected).
package final class ReplyQueue: Sendable {
    /// A started request, which produces the reply line, or `nil` for no reply.
    package typealias Reply = StartedReply

    private struct State {
        var pending: [Reply] = []
        /// The reply the writer took last: it may still be running.
        var current: Reply?
        /// Pushed and not yet acknowledged with ``ReplyQueue/markWritten(_:)``.
        var unwritten = 0
        var finished = false
        var cancelled = false
        var reader: CheckedContinuation<Bool, Never>?
        var writer: CheckedContinuation<Reply?, Never>?
    }

    /// The largest number of unwritten replies.
    package let capacity: Int
    private let state = Mutex(State())

    /// Creates a queue that allows `capacity` requests in flight.
    package init(capacity: Int) {
        precondition(capacity > 0, "capacity must be positive")
        self.capacity = capacity
    }

    /// Reader side: suspends while `capacity` replies are unwritten.
    ///
    /// - Returns: `false` once the queue has been cancelled; the reader should then stop starting
    ///   requests, as their replies could not be written.
    package func waitForSpace() async -> Bool {
        await awaitHandoff(ready: { self.state.withLock { self.space(in: $0) } }, { continuation in
            self.state.withLock { state in
                if let space = self.space(in: state) { return .ready(space) }
                precondition(state.reader == nil, "one reader at a time")
                state.reader = continuation
                return .wait
            }
        }, onCancel: self.cancel)
    }

    /// Reader side: whether ``waitForSpace()`` would return `true` at once, asked without an
    /// `await` (an await costs a check of the task's executor even when it does not suspend).
    package func hasSpace() -> Bool {
        !Task.isCancelled && self.state.withLock { self.space(in: $0) } == true
    }

    /// What ``waitForSpace()`` answers at once, or `nil` when it must wait.
    private func space(in state: State) -> Bool? {
        if state.cancelled { return false }
        return state.unwritten < self.capacity ? true : nil
    }

    /// Reader side: takes a place for a reply that is ready, to be appended to the outbox by the
    /// reader itself rather than handed to the writer, when that keeps request order: the writer is
    /// waiting for the next reply, every reply before has been handed on. `false`: push it instead.
    package func bypass() -> Bool {
        self.state.withLock { state in
            guard !state.cancelled, !state.finished, state.writer != nil, state.pending.isEmpty else { return false }
            state.unwritten += 1
            return true
        }
    }

    /// Reader side: appends the task of the next request. Ignored after ``cancel()``.
    package func push(_ reply: Reply) {
        let writer: CheckedContinuation<Reply?, Never>? = self.state.withLock { state in
            guard !state.cancelled, !state.finished else {
                return nil
            }
            state.unwritten += 1
            if let writer = state.writer {
                state.writer = nil
                state.current = reply
                return writer
            }
            state.pending.append(reply)
            return nil
        }
        writer?.resume(returning: reply)
    }

    /// Reader side: no more requests will be pushed; the writer drains what is left.
    package func finish() {
        let writer: CheckedContinuation<Reply?, Never>? = self.state.withLock { state in
            state.finished = true
            defer { state.writer = nil }
            return state.writer
        }
        writer?.resume(returning: nil)
    }

    /// Writer side: the oldest pushed task, or `nil` once the queue is finished and drained, or
    /// cancelled.
    package func next() async -> Reply? {
        await awaitHandoff(ready: { self.state.withLock { self.nextReply(&$0) } }, { continuation in
            self.state.withLock { state in
                if let next = self.nextReply(&state) { return .ready(next) }
                precondition(state.writer == nil, "one writer at a time")
                state.writer = continuation
                return .wait
            }
        }, onCancel: self.cancel)
    }

    /// Writer side: what ``next()`` would answer at once, asked without an `await`; `nil` when it
    /// would wait (or the task is cancelled: ``next()`` then stops the queue).
    package func nextNow() -> Reply?? {
        guard !Task.isCancelled else { return nil }
        return self.state.withLock { self.nextReply(&$0) }
    }

    /// What ``next()`` answers at once (taking a pending reply), or `nil` when it must wait.
    private func nextReply(_ state: inout State) -> Reply?? {
        if state.cancelled { return .some(nil) }
        if !state.pending.isEmpty {
            state.current = state.pending.removeFirst()
            return .some(state.current)
        }
        return state.finished ? .some(nil) : nil
    }

    /// Writer side: `true` when no pushed task is waiting to be taken, the moment to flush.
    package var isEmpty: Bool {
        self.state.withLock { $0.pending.isEmpty }
    }

    /// Writer side: `count` replies taken with ``next()`` have been handed to the channel (or had no
    /// reply), freeing their places.
    package func markWritten(_ count: Int) {
        guard count > 0 else {
            return
        }
        let reader: CheckedContinuation<Bool, Never>? = self.state.withLock { state in
            state.unwritten -= count
            precondition(state.unwritten >= 0, "more replies written than pushed")
            guard state.unwritten < self.capacity, let reader = state.reader else {
                return nil
            }
            state.reader = nil
            return reader
        }
        reader?.resume(returning: true)
    }

    /// Stops the queue: wakes a waiting reader (with `false`) and writer (with `nil`), drops the
    /// tasks not yet taken and cancels them and the one the writer took last. Idempotent.
    package func cancel() {
        let (reader, writer, dropped) = self.state.withLock { state in
            state.cancelled = true
            let dropped = state.pending + (state.current.map { [$0] } ?? [])
            state.pending.removeAll()
            state.current = nil
            defer {
                state.reader = nil
                state.writer = nil
            }
            return (state.reader, state.writer, dropped)
        }
        reader?.resume(returning: false)
        writer?.resume(returning: nil)
        for reply in dropped { reply.cancel() }
    }
}
