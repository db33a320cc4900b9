import CRMDomain
import CRMEventStore
import Foundation
import LMDB

/// Decodes a stretch of the log on threads of its own, ahead of the thread that folds it: the
/// start-up refold of the decision state spends more time decoding events than folding them, and
/// nothing else runs in crmd then, so decoding and folding overlap on every core; an online rebuild
/// chunk that no command waits for does the same with one decoding thread.
///
/// The feed reads positions `from` through `head` (the log's positions are contiguous) in batches of
/// ``batchEvents`` positions, each in a read transaction of its own that ends before the batch is
/// handed over (a read transaction kept open would hold the map's resize lock while the writer may
/// need it, and keep old pages from being reused). With several decoding threads, batch `b` is decoded
/// by thread `b mod threads`, and ``next()`` hands the batches out in log order. The feed stops at the
/// first record that does not decode; ``next()`` then returns that error after the events before it.
final class DecodedLogFeed: @unchecked Sendable {
    /// What ``next()`` hands out.
    enum Item {
        /// Decoded events, in log order.
        case events([RecordedEvent])
        /// The record at this position does not decode (or the log could not be read there); nothing
        /// follows.
        case failed(UInt64, any Error)
        /// Every position through `head` has been handed out.
        case end
    }

    /// Positions decoded per batch (one read transaction each).
    static let batchEvents = 2_048
    /// Batches decoded ahead of the folding thread, at most.
    let capacity: Int

    /// One decoded batch: its events, and the error that ended it early.
    private struct Batch {
        var events: [RecordedEvent]
        var failure: (seq: UInt64, error: any Error)?
    }

    private let condition = NSCondition()
    /// Guarded by `condition`: decoded batches not handed out yet, by batch number.
    private var decoded: [Int: Batch] = [:]
    /// Guarded by `condition`: the number of the batch ``next()`` hands out next.
    private var taken = 0
    /// Guarded by `condition`: what ``next()`` still has to hand out before the end (a failure).
    private var pending: [Item] = []
    /// Guarded by `condition`: set when the feed ended early (a failure, an empty batch) or finished.
    private var cancelled = false
    /// Guarded by `condition`: decoding threads still running.
    private var running: Int
    private let batches: Int

    /// Starts decoding positions `from...head` of `store` in `environment` on `threads` threads (at nice
    /// value `nice`), holding at most `aheadEvents` decoded events that ``next()`` has not taken yet
    /// (and at least one batch per thread). Encrypted personal data
    /// is opened for the event types `opening` names (see
    /// ``CRMEventStore/EventRecord/decode(_:keys:opening:)``).
    init(
        environment: Environment,
        store: EventStore,
        from: UInt64,
        head: UInt64,
        aheadEvents: Int,
        threads: Int = 1,
        nice: Int32 = 0,
        opening: @escaping @Sendable (_ type: String) -> Bool = { _ in true }
    ) {
        let threads = max(threads, 1)
        self.capacity = max(aheadEvents / DecodedLogFeed.batchEvents, threads) + 1
        let size = UInt64(DecodedLogFeed.batchEvents)
        self.batches = head >= from ? Int((head - from) / size) + 1 : 0
        self.running = threads
        let shared = SharedEnvironment(environment: environment)
        for index in 0..<threads {
            NamedThread.start(name: "crmd-decoder", nice: nice) { [self] in
                for batch in stride(from: index, to: self.batches, by: threads) {
                    guard self.waitForRoom(batch) else { break }
                    let first = from + UInt64(batch) * size
                    let decoded = Self.decode(shared.environment, store, first...min(head, first + size - 1), opening)
                    guard self.deposit(batch, decoded) else { break }
                }
                self.condition.withLock {
                    self.running -= 1
                    self.condition.broadcast()
                }
            }
        }
    }

    /// Decodes the records at `positions`.
    private static func decode(
        _ environment: Environment,
        _ store: EventStore,
        _ positions: ClosedRange<UInt64>,
        _ opening: (String) -> Bool
    ) -> Batch {
        var batch = Batch(events: [])
        batch.events.reserveCapacity(positions.count)
        // Read once: the store is a value, and reaching its keys copies its sealing.
        let keys = store.piiKeys
        do {
            try environment.read { txn in
                try store.forEachRecord(from: positions.lowerBound, txn) { seq, record in
                    guard seq <= positions.upperBound else { return false }
                    do {
                        batch.events.append(try EventRecord.decode(record, keys: keys, opening: opening))
                    } catch {
                        batch.failure = (seq, error)
                        return false
                    }
                    return true
                }
            }
        } catch {
            batch.failure = (batch.events.last.map { $0.seq + 1 } ?? positions.lowerBound, error)
        }
        return batch
    }

    /// Waits until batch `batch` is within ``capacity`` of the one handed out next; `false` once the
    /// feed is cancelled.
    private func waitForRoom(_ batch: Int) -> Bool {
        self.condition.withLock {
            while batch >= self.taken + self.capacity, !self.cancelled { self.condition.wait() }
            return !self.cancelled
        }
    }

    /// Keeps decoded batch `batch` for ``next()``; `false` once the feed is cancelled.
    private func deposit(_ batch: Int, _ decoded: Batch) -> Bool {
        self.condition.withLock {
            guard !self.cancelled else { return false }
            self.decoded[batch] = decoded
            self.condition.broadcast()
            return true
        }
    }

    /// The next item, waiting for the decoding threads.
    func next() -> Item {
        self.condition.withLock {
            if !self.pending.isEmpty { return self.pending.removeFirst() }
            guard !self.cancelled, self.taken < self.batches else { return .end }
            while self.decoded[self.taken] == nil, self.running > 0 { self.condition.wait() }
            guard let batch = self.decoded.removeValue(forKey: self.taken) else { return .end }
            self.taken += 1
            self.condition.broadcast()
            if let failure = batch.failure {
                self.pending.append(.failed(failure.seq, failure.error))
            }
            // A failure, or a batch without records (the end of the records before `head`), ends the feed.
            if batch.failure != nil || batch.events.isEmpty {
                self.cancelled = true
                self.decoded.removeAll()
            }
            if batch.events.isEmpty { return self.pending.isEmpty ? .end : self.pending.removeFirst() }
            return .events(batch.events)
        }
    }

    /// Stops the decoding threads and waits until they have ended. Call once, when done with the feed.
    func finish() {
        self.condition.withLock {
            self.cancelled = true
            self.condition.broadcast()
            while self.running > 0 { self.condition.wait() }
        }
    }
}
