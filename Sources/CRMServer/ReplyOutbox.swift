import NIOCore
import Synchronization

/// Reply lines that are ready, in order, waiting to be written to a connection.
///
/// The connection's orderer task appends each reply as soon as it (and every reply before it) is
/// ready; its flusher task takes everything accumulated so far and writes it with one write and
/// one flush. While a write is in progress new replies pile up and go out together with the next
/// one, so a busy connection batches its writes without ever holding back a ready reply behind a
/// slow one.
///
/// It also bounds what a client that does not read its replies can make the connection hold. It
/// counts the bytes appended and not yet written (``markWritten(bytes:)``); while they reach
/// ``maxUnsentBytes``, ``waitForRoom()`` holds back the reader (no new requests are read) and
/// ``admit(_:)`` holds back the queries already started: those take a ticket in request order
/// (``takeTicket()``) and are admitted to compute in that order, at most ``maxComputing`` at a time
/// and only while there is room, so a connection holds at most about ``maxUnsentBytes`` plus
/// ``maxComputing`` replies however many it pipelines.
package final class ReplyOutbox: Sendable {
    private struct State {
        var bytes = ByteBuffer()
        /// Replies appended since the last take, including those without a line.
        var replies = 0
        var finished = false
        var cancelled = false
        var flusher: CheckedContinuation<Batch?, Never>?
        /// Bytes appended and not yet reported written.
        var unsent = 0
        /// Tasks waiting in ``ReplyOutbox/waitForRoom()``, by an id of their own.
        var roomWaiters: [UInt64: CheckedContinuation<Bool, Never>] = [:]
        var nextRoomWaiter: UInt64 = 0
        /// Admission of computing work, in ticket order.
        var nextTicket: UInt64 = 0
        var nextToAdmit: UInt64 = 0
        var computing = 0
        var admissionWaiters: [UInt64: CheckedContinuation<Bool, Never>] = [:]
        /// Tickets given up (their task was cancelled) before their turn came.
        var skipped: Set<UInt64> = []

        /// Admits the waiters whose turn has come, in ticket order, while there is room; returns
        /// them with what to resume them with.
        mutating func admitDue(maxUnsentBytes: Int, maxComputing: Int) -> [(CheckedContinuation<Bool, Never>, Bool)] {
            var due: [(CheckedContinuation<Bool, Never>, Bool)] = []
            while true {
                if self.skipped.remove(self.nextToAdmit) != nil {
                    self.nextToAdmit += 1
                    continue
                }
                guard let waiter = self.admissionWaiters[self.nextToAdmit] else { break }
                if !self.cancelled {
                    guard self.computing < maxComputing, self.unsent < maxUnsentBytes else { break }
                    self.computing += 1
                }
                self.admissionWaiters[self.nextToAdmit] = nil
                self.nextToAdmit += 1
                due.append((waiter, !self.cancelled))
            }
            return due
        }
    }

    /// What the flusher takes: the bytes to write and how many replies they hold.
    package struct Batch: Sendable {
        /// Reply lines, each with its `\n`; empty when all the replies were `nil`.
        package var bytes: ByteBuffer
        /// How many replies the batch accounts for.
        package var replies: Int
    }

    private let state = Mutex(State())

    /// How many bytes may wait unsent before ``waitForRoom()`` and ``admit(_:)`` hold back.
    package let maxUnsentBytes: Int
    /// How many admitted works (``admit(_:)``) may compute at once.
    package let maxComputing: Int

    /// Creates an empty outbox that holds back producers while `maxUnsentBytes` or more wait unsent
    /// and lets `maxComputing` admitted works compute at once.
    package init(maxUnsentBytes: Int = .max, maxComputing: Int = 4) {
        precondition(maxUnsentBytes > 0, "maxUnsentBytes must be positive")
        precondition(maxComputing > 0, "maxComputing must be positive")
        self.maxUnsentBytes = maxUnsentBytes
        self.maxComputing = maxComputing
    }

    /// Orderer side: appends the next reply, `nil` meaning a request with no reply line.
    package func append(_ line: [UInt8]?) {
        let (flusher, batch): (CheckedContinuation<Batch?, Never>?, Batch?) = self.state.withLock { state in
            guard !state.cancelled else {
                return (nil, nil)
            }
            if let line {
                state.bytes.writeBytes(line)
                state.bytes.writeInteger(UInt8(ascii: "\n"))
                state.unsent += line.count + 1
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
            state.unsent += line.count + 1
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
        await awaitHandoff(ready: { self.state.withLock { Self.batch(&$0) } }, { continuation in
            self.state.withLock { state in
                if let batch = Self.batch(&state) { return .ready(batch) }
                precondition(state.flusher == nil, "one flusher at a time")
                state.flusher = continuation
                return .wait
            }
        }, onCancel: self.cancel)
    }

    /// What ``take()`` answers at once (taking the batch), or `nil` when it must wait.
    private static func batch(_ state: inout State) -> Batch?? {
        if state.cancelled { return .some(nil) }
        if state.replies > 0 || state.bytes.readableBytes > 0 { return .some(Self.takeBatch(&state)) }
        return state.finished ? .some(nil) : nil
    }

    /// Flusher side: `bytes` taken with ``take()`` are in the socket (or dropped); once fewer than
    /// ``maxUnsentBytes`` bytes wait, wakes the waiters of ``waitForRoom()`` and admits the works
    /// whose turn has come.
    package func markWritten(bytes: Int) {
        guard bytes > 0 else { return }
        typealias Waiters = ([CheckedContinuation<Bool, Never>], [(CheckedContinuation<Bool, Never>, Bool)])
        let (waiters, due): Waiters = self.state.withLock { state in
            state.unsent -= bytes
            precondition(state.unsent >= 0, "more bytes written than appended")
            guard state.unsent < self.maxUnsentBytes else { return ([], []) }
            defer { state.roomWaiters = [:] }
            let due = state.admitDue(maxUnsentBytes: self.maxUnsentBytes, maxComputing: self.maxComputing)
            return (Array(state.roomWaiters.values), due)
        }
        for waiter in waiters { waiter.resume(returning: true) }
        for (waiter, admitted) in due { waiter.resume(returning: admitted) }
    }

    /// Reader side: suspends while ``maxUnsentBytes`` or more bytes wait to be written (the client
    /// is not reading its replies).
    ///
    /// - Returns: `false` once the outbox is cancelled (the connection is gone) or the calling task
    ///   is cancelled: stop reading.
    package func waitForRoom() async -> Bool {
        // The common case, answered without a waiter id, continuation or cancellation handler.
        if !Task.isCancelled, let room = self.state.withLock({ self.room(in: $0) }) { return room }
        let id = self.state.withLock { state in
            defer { state.nextRoomWaiter += 1 }
            return state.nextRoomWaiter
        }
        return await awaitHandoff({ continuation in
            self.state.withLock { state in
                if Task.isCancelled { return .ready(false) }
                if let room = self.room(in: state) { return .ready(room) }
                state.roomWaiters[id] = continuation
                return .wait
            }
        }, onCancel: {
            let waiter = self.state.withLock { $0.roomWaiters.removeValue(forKey: id) }
            waiter?.resume(returning: false)
        })
    }

    /// Reader side: whether ``waitForRoom()`` would return `true` at once, asked without an `await`.
    package func hasRoom() -> Bool {
        !Task.isCancelled && self.state.withLock { self.room(in: $0) } == true
    }

    /// What ``waitForRoom()`` answers at once, or `nil` when it must wait.
    private func room(in state: State) -> Bool? {
        if state.cancelled { return false }
        return state.unsent < self.maxUnsentBytes ? true : nil
    }

    /// The next ticket for ``admit(_:)``; take them in request order. Every ticket taken must be
    /// passed to ``admit(_:)`` once, or later tickets are never admitted.
    package func takeTicket() -> UInt64 {
        self.state.withLock { state in
            defer { state.nextTicket += 1 }
            return state.nextTicket
        }
    }

    /// Suspends until the work holding `ticket` may compute: every earlier ticket has been admitted
    /// (or given up), fewer than ``maxComputing`` admitted works are computing and fewer than
    /// ``maxUnsentBytes`` bytes wait. Call ``leave()`` when the work is done.
    ///
    /// - Returns: `false` (and no ``leave()`` is due) when the outbox is cancelled or the task is:
    ///   the work's result would be dropped.
    package func admit(_ ticket: UInt64) async -> Bool {
        await awaitHandoff({ continuation in
            let (givenUp, due) = self.state.withLock { state in
                let givenUp = state.cancelled || Task.isCancelled
                if givenUp {
                    state.skipped.insert(ticket)
                } else {
                    state.admissionWaiters[ticket] = continuation
                }
                return (givenUp, state.admitDue(maxUnsentBytes: self.maxUnsentBytes, maxComputing: self.maxComputing))
            }
            // `due` may hold this very continuation, admitted at once.
            for (waiter, admitted) in due { waiter.resume(returning: admitted) }
            return givenUp ? .ready(false) : .wait
        }, onCancel: {
            let due: [(CheckedContinuation<Bool, Never>, Bool)] = self.state.withLock { state in
                guard let waiter = state.admissionWaiters.removeValue(forKey: ticket) else { return [] }
                state.skipped.insert(ticket)
                return [(waiter, false)]
                    + state.admitDue(maxUnsentBytes: self.maxUnsentBytes, maxComputing: self.maxComputing)
            }
            for (waiter, admitted) in due { waiter.resume(returning: admitted) }
        })
    }

    /// A work admitted by ``admit(_:)`` is done: admits the next one whose turn has come.
    package func leave() {
        let due = self.state.withLock { state in
            state.computing -= 1
            precondition(state.computing >= 0, "more works left than were admitted")
            return state.admitDue(maxUnsentBytes: self.maxUnsentBytes, maxComputing: self.maxComputing)
        }
        for (waiter, admitted) in due { waiter.resume(returning: admitted) }
    }

    /// Drops what is pending and wakes a waiting flusher with `nil` and the waiters of
    /// ``waitForRoom()`` and ``admit(_:)`` with `false`. Idempotent.
    package func cancel() {
        let (flusher, waiters) = self.state.withLock { state in
            state.cancelled = true
            state.bytes = ByteBuffer()
            state.replies = 0
            defer {
                state.flusher = nil
                state.roomWaiters = [:]
                state.admissionWaiters = [:]
            }
            return (state.flusher, Array(state.roomWaiters.values) + Array(state.admissionWaiters.values))
        }
        flusher?.resume(returning: nil)
        for waiter in waiters { waiter.resume(returning: false) }
    }

    private static func takeBatch(_ state: inout State) -> Batch {
        defer {
            state.bytes = ByteBuffer()
            state.replies = 0
        }
        return Batch(bytes: state.bytes, replies: state.replies)
    }
}
