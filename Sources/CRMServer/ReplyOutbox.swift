import NIOCore
import Synchronization

/// Reply lines that are ready, in order, waiting to be written to a connection.
///
/// The connection's orderer task appends each reply as soon as it (and every reply before it) is
/// ready; its flusher task takes everything accumulated so far and writes it with one write and
/// one flush. While a write is in progress new replies pile up and go out together with the next
/// one, so a busy connection batches its writes without ever holding back a ready reply behind a
/// slow one.
package final class ReplyOutbox: Sendable {
    private struct State {
        var bytes = ByteBuffer()
        /// Replies appended since the last take, including those without a line.
        var replies = 0
        var finished = false
        var cancelled = false
        var flusher: CheckedContinuation<Batch?, Never>?
    }

    /// What the flusher takes: the bytes to write and how many replies they hold.
    package struct Batch: Sendable {
        /// Reply lines, each with its `\n`; empty when all the replies were `nil`.
        package var bytes: ByteBuffer
        /// How many replies the batch accounts for.
        package var replies: Int
    }

    private let state = Mutex(State())

    /// Creates an empty outbox.
    package init() {}

    /// Orderer side: appends the next reply, `nil` meaning a request with no reply line.
    package func append(_ line: [UInt8]?) {
        let (flusher, batch): (CheckedContinuation<Batch?, Never>?, Batch?) = self.state.withLock { state in
            guard !state.cancelled else {
                return (nil, nil)
            }
            if let line {
                state.bytes.writeBytes(line)
                state.bytes.writeInteger(UInt8(ascii: "\n"))
            }
            state.replies += 1
            guard let flusher = state.flusher else {
                return (nil, nil)
            }
            state.flusher = nil
            return (flusher, Self.takeBatch(&state))
        }
        flusher?.resume(returning: batch)
    }

    /// Appends a notification line (not a reply: it takes no place in the in-flight bound), unless
    /// more than `limit` bytes are already waiting to be written or the outbox is finished. Returns
    /// whether the line was accepted.
    package func appendNotification(_ line: [UInt8], limit: Int) -> Bool {
        let (flusher, batch, accepted): (CheckedContinuation<Batch?, Never>?, Batch?, Bool) = self.state.withLock {
            state in
            guard !state.cancelled, !state.finished, state.bytes.readableBytes + line.count < limit else {
                return (nil, nil, false)
            }
            state.bytes.writeBytes(line)
            state.bytes.writeInteger(UInt8(ascii: "\n"))
            guard let flusher = state.flusher else { return (nil, nil, true) }
            state.flusher = nil
            return (flusher, Self.takeBatch(&state), true)
        }
        flusher?.resume(returning: batch)
        return accepted
    }

    /// Orderer side: no more replies will be appended.
    package func finish() {
        let flusher: CheckedContinuation<Batch?, Never>? = self.state.withLock { state in
            state.finished = true
            defer { state.flusher = nil }
            return state.flusher
        }
        flusher?.resume(returning: nil)
    }

    /// Flusher side: everything appended since the last call, waiting until there is something;
    /// `nil` once finished and empty, or cancelled.
    package func take() async -> Batch? {
        await awaitHandoff({ continuation in
            self.state.withLock { state in
                if state.cancelled { return .ready(nil) }
                if state.replies > 0 || state.bytes.readableBytes > 0 { return .ready(Self.takeBatch(&state)) }
                if state.finished { return .ready(nil) }
                precondition(state.flusher == nil, "one flusher at a time")
                state.flusher = continuation
                return .wait
            }
        }, onCancel: self.cancel)
    }

    /// Drops what is pending and wakes a waiting flusher with `nil`. Idempotent.
    package func cancel() {
        let flusher: CheckedContinuation<Batch?, Never>? = self.state.withLock { state in
            state.cancelled = true
            state.bytes = ByteBuffer()
            state.replies = 0
            defer { state.flusher = nil }
            return state.flusher
        }
        flusher?.resume(returning: nil)
    }

    private static func takeBatch(_ state: inout State) -> Batch {
        defer {
            state.bytes = ByteBuffer()
            state.replies = 0
        }
        return Batch(bytes: state.bytes, replies: state.replies)
    }
}
