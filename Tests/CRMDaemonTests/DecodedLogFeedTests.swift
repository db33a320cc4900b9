import CRMDomain
import CRMEventStore
import CRMJSON
import CRMTesting
import LMDB
import Testing

@testable import CRMApplication

/// The feed that decodes the log ahead of a refold or a rebuild hands out every position of its range
/// once, in log order, whatever the number of decoding threads and however little it may hold ahead,
/// and stops at a record that does not decode, after the events before it.
@Suite struct DecodedLogFeedTests {
    let directory = TemporaryDirectory()
    let environment: Environment
    let store: EventStore
    static let events = 5_000

    init() throws {
        self.environment = try Environment(path: self.directory.appending("data"))
        self.store = try EventStore(environment: self.environment)
        let metadata = AppendMetadata(
            occurredAt: 1_000, recordedAt: 2_000, actor: Actor(uid: 1000, gid: 100, onBehalfOf: nil), commandID: nil,
            correlationID: nil
        )
        try self.environment.write { txn in
            let events = (0..<Self.events).map { n in
                NewEvent(type: "Thing", stream: "s-\(n % 7)", data: ["n": .int(Int64(n))], pii: .null)
            }
            _ = try self.store.append(events, metadata: metadata, txn)
        }
    }

    /// Everything `feed` hands out: the positions of its events, then how it ended.
    static func drain(_ feed: DecodedLogFeed) -> (positions: [UInt64], failedAt: UInt64?) {
        defer { feed.finish() }
        var positions: [UInt64] = []
        while true {
            switch feed.next() {
            case .events(let events): positions += events.map(\.seq)
            case .failed(let seq, _): return (positions, seq)
            case .end: return (positions, nil)
            }
        }
    }

    @Test(arguments: [1, 2, 3])
    func handsOutEveryPositionOnceInOrder(threads: Int) throws {
        for (from, head, ahead) in [(1, 5_000, 100), (1, 5_000, 20_000), (100, 4_500, 3_000), (4_999, 5_000, 1)] {
            let feed = DecodedLogFeed(
                environment: self.environment, store: self.store, from: UInt64(from), head: UInt64(head),
                aheadEvents: ahead, threads: threads
            )
            let drained = Self.drain(feed)
            #expect(drained.positions == Array(UInt64(from)...UInt64(head)), "\(from)…\(head), \(threads) threads")
            #expect(drained.failedAt == nil)
        }
    }

    @Test(arguments: [1, 2, 3])
    func stopsAtARecordThatDoesNotDecode(threads: Int) throws {
        try self.environment.write { txn in
            var key: [UInt8] = []
            for shift in stride(from: 56, through: 0, by: -8) { key.append(UInt8(truncatingIfNeeded: 3_000 >> shift)) }
            try txn.put(try txn.openDatabase("events"), key, [0xFF, 0x00, 0x01])
        }
        let feed = DecodedLogFeed(
            environment: self.environment, store: self.store, from: 1, head: UInt64(Self.events), aheadEvents: 2_048,
            threads: threads
        )
        let drained = Self.drain(feed)
        #expect(drained.positions == Array(1...2_999))
        #expect(drained.failedAt == 3_000)
    }

    @Test func anEmptyRangeEndsAtOnce() {
        let feed = DecodedLogFeed(
            environment: self.environment, store: self.store, from: 10, head: 9, aheadEvents: 100, threads: 2
        )
        let drained = Self.drain(feed)
        #expect(drained.positions.isEmpty && drained.failedAt == nil)
    }
}
