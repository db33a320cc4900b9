import CRMDomain
import CRMEventStore
import Foundation
import LMDB

/// Decodes a stretch of the log on a thread of its own, ahead of the thread that folds it: the
/// start-up refold of the decision state spends more time decoding events than folding them, and
/// nothing else runs in crmd then, so the two overlap on two cores; an online rebuild chunk that no
/// command waits for does the same.
///
/// The feed reads positions `from` through `head` in batches, each in a read transaction of its own
/// that ends before the batch is handed over (a read transaction kept open would hold the map's
/// resize lock while the writer may need it, and keep old pages from being reused). It stops at the
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

    /// Events decoded per batch (one read transaction each).
    static let batchEvents = 2_048
    /// Batches decoded ahead of the folding thread, at most.
    let capacity: Int

    private let condition = NSCondition()
    /// Guarded by `condition`.
    private var ready: [Item] = []
    private var cancelled = false
    private var done = false

    /// Starts decoding positions `from...head` of `store` in `environment`, holding at most
    /// `aheadEvents` decoded events that ``next()`` has not taken yet. Encrypted personal data is
    /// opened for the event types `opening` names (see ``CRMEventStore/EventRecord/decode(_:keys:opening:)``).
    init(
        environment: Environment,
        store: EventStore,
        from: UInt64,
        head: UInt64,
        aheadEvents: Int,
        opening: @escaping @Sendable (_ type: String) -> Bool = { _ in true }
    ) {
        self.capacity = max(aheadEvents / DecodedLogFeed.batchEvents, 1) + 1
        let shared = SharedEnvironment(environment: environment)
        let thread = Thread { [self] in
            self.run(shared.environment, store, from: from, head: head, opening: opening)
            self.condition.withLock {
                self.done = true
                self.condition.broadcast()
            }
        }
        thread.name = "crmd-log-decoder"
        thread.start()
    }

    private func run(
        _ environment: Environment,
        _ store: EventStore,
        from: UInt64,
        head: UInt64,
        opening: (String) -> Bool
    ) {
        var next = from
        while next <= head {
            var events: [RecordedEvent] = []
            events.reserveCapacity(DecodedLogFeed.batchEvents)
            var failure: (seq: UInt64, error: any Error)?
            do {
                try environment.read { txn in
                    try store.forEachRecord(from: next, txn) { seq, record in
                        guard seq <= head, events.count < DecodedLogFeed.batchEvents else { return false }
                        do {
                            events.append(try EventRecord.decode(record, keys: store.piiKeys, opening: opening))
                        } catch {
                            failure = (seq, error)
                            return false
                        }
                        return true
                    }
                }
            } catch {
                failure = ((events.last?.seq ?? next - 1) + 1, error)
            }
            next = (events.last?.seq ?? next) + 1
            if !events.isEmpty, !self.put(.events(events)) { return }
            if let failure {
                _ = self.put(.failed(failure.seq, failure.error))
                return
            }
            // A gap (or the end of the records) before `head`: nothing more to read.
            if events.isEmpty { break }
        }
        _ = self.put(.end)
    }

    /// Queues `item`, waiting while the queue is full; `false` once the feed is cancelled.
    private func put(_ item: Item) -> Bool {
        self.condition.withLock {
            while self.ready.count >= self.capacity, !self.cancelled { self.condition.wait() }
            guard !self.cancelled else { return false }
            self.ready.append(item)
            self.condition.broadcast()
            return true
        }
    }

    /// The next item, waiting for the decoding thread.
    func next() -> Item {
        self.condition.withLock {
            while self.ready.isEmpty, !self.done { self.condition.wait() }
            guard !self.ready.isEmpty else { return .end }
            let item = self.ready.removeFirst()
            self.condition.broadcast()
            return item
        }
    }

    /// Stops the decoding thread and waits until it has ended. Call once, when done with the feed.
    func finish() {
        self.condition.withLock {
            self.cancelled = true
            self.condition.broadcast()
            while !self.done { self.condition.wait() }
        }
    }
}
