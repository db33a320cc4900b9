@testable import CRMApplication
import CRMDomain
import CRMEventStore
import CRMJSON
import CRMTesting
import Crypto
import LMDB
import Synchronization
import Testing

/// The writer signs the head while no command arrives once `checkpoint_every_seconds` have passed
/// (the idle signer only wakes it: `IdleSigner` tests cover the wake-up). Time is stepped by hand.
@Suite struct CheckpointerTests {
    @Test func anIdleWriterSignsTheHeadOnlyOnceTheIntervalHasPassed() throws {
        let directory = TemporaryDirectory()
        let environment = try Environment(path: directory.appending("data"))
        let store = try EventStore(environment: environment)
        let table = try CheckpointTable(environment: environment)
        let now = Atomic<Int64>(1_741_361_400_000)
        let checkpointer = try Checkpointer(
            key: Curve25519.Signing.PrivateKey(),
            table: table,
            environment: environment,
            store: store,
            everyEvents: 1000,
            everySeconds: 5,
            clock: { now.load(ordering: .relaxed) }
        )
        // One command's event, committed in a batch: too few events to sign it right away.
        let head = try environment.write { txn -> UInt64 in
            let metadata = AppendMetadata(
                occurredAt: 0, recordedAt: 0, actor: Actor(uid: 1, gid: 1), commandID: nil, correlationID: nil
            )
            let events = [NewEvent(type: "NoteTaken", stream: "note-1", data: ["n": 1])]
            _ = try store.append(events, metadata: metadata, txn)
            let head = try store.head(txn)
            #expect(try checkpointer.writeIfDue(head, txn) == nil)
            return head.seq
        }
        checkpointer.committed(Checkpoint?.none, head: head)
        #expect(!checkpointer.isDueWhileIdle)

        now.add(4_999, ordering: .relaxed)
        #expect(!checkpointer.isDueWhileIdle)
        try checkpointer.writeNow(environment, store, force: false)
        #expect(try environment.read { txn in try table.last(txn) } == nil)

        now.add(1, ordering: .relaxed)
        #expect(checkpointer.isDueWhileIdle)
        try checkpointer.writeNow(environment, store, force: false)
        let signed = try #require(try environment.read { txn in try table.last(txn) })
        #expect(signed.position == head)
        #expect(signed.signedAt == now.load(ordering: .relaxed))
        // Signed: nothing is due until more events arrive.
        now.add(60_000, ordering: .relaxed)
        #expect(!checkpointer.isDueWhileIdle)
    }
}
