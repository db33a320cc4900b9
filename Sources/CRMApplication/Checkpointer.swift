import CRMEventStore
import Crypto
import LMDB

/// Writes signed checkpoints of the log's head (see ``Checkpoint``): inside a command batch's write
/// transaction once ``everyEvents`` events are unsigned or ``everyMillis`` have passed since the
/// last checkpoint, in a transaction of its own when the writer is idle and the time has come, and
/// at shutdown. Used by the writer thread only (and at shutdown, after the writer stopped).
final class Checkpointer: @unchecked Sendable {
    let key: Curve25519.Signing.PrivateKey
    let table: CheckpointTable
    let everyEvents: UInt64
    let everyMillis: Int64
    /// Position of the last checkpoint written.
    private var lastPosition: UInt64
    /// When the last checkpoint was written (or crmd started).
    private var lastAt: Int64
    /// The head after the last committed batch.
    private var knownHead: UInt64
    /// The wall clock, in Unix milliseconds (tests step it).
    private let clock: @Sendable () -> Int64

    init(
        key: Curve25519.Signing.PrivateKey,
        table: CheckpointTable,
        environment: Environment,
        store: EventStore,
        everyEvents: UInt64,
        everySeconds: Int,
        clock: @escaping @Sendable () -> Int64 = CRMCore.nowMillis
    ) throws {
        self.key = key
        self.clock = clock
        self.table = table
        self.everyEvents = max(everyEvents, 1)
        self.everyMillis = Int64(max(everySeconds, 1)) * 1000
        let (last, head) = try environment.read { txn in (try table.last(txn), try store.head(txn).seq) }
        self.lastPosition = last?.position ?? 0
        self.lastAt = clock()
        self.knownHead = head
    }

    /// Whether a checkpoint is due for `head` at `now`.
    func isDue(head: UInt64, now: Int64) -> Bool {
        head > self.lastPosition && (head - self.lastPosition >= self.everyEvents || now - self.lastAt >= self.everyMillis)
    }

    /// Whether only the time has come while no command arrives (for the idle writer).
    var isDueWhileIdle: Bool { self.isDue(head: self.knownHead, now: self.clock()) }

    /// Signs `head` and stores the checkpoint in `txn` when one is due (always, with `force`, when
    /// the head is not signed yet). Pass the result to ``committed(_:head:)`` once `txn` committed.
    func writeIfDue(_ head: LogHead, force: Bool = false, _ txn: Transaction) throws -> Checkpoint? {
        let now = self.clock()
        guard force ? head.seq > self.lastPosition : self.isDue(head: head.seq, now: now) else { return nil }
        let checkpoint = try Checkpoint(signing: head, at: now, with: self.key)
        try self.table.put(checkpoint, txn)
        return checkpoint
    }

    /// Records what a committed transaction wrote: its checkpoint, if any, and the head.
    func committed(_ checkpoint: Checkpoint?, head: UInt64) {
        self.knownHead = max(self.knownHead, head)
        guard let checkpoint else { return }
        self.lastPosition = checkpoint.position
        self.lastAt = checkpoint.signedAt
    }

    /// Writes a checkpoint in a transaction of its own when one is due (`force`: whenever the head
    /// is unsigned, as at shutdown).
    func writeNow(_ environment: Environment, _ store: EventStore, force: Bool) throws {
        let (checkpoint, head) = try environment.write { txn in
            let head = try store.head(txn)
            return (try self.writeIfDue(head, force: force, txn), head.seq)
        }
        self.committed(checkpoint, head: head)
    }
}
