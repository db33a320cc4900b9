import CRMDomain
@testable import CRMEventStore
import CRMJSON
import CRMTesting
import Crypto
import LMDB
import Testing

@Suite struct EventStoreTests {
    let directory = TemporaryDirectory()
    let environment: Environment
    let store: EventStore

    init() throws {
        self.environment = try Environment(path: self.directory.appending("data"))
        self.store = try EventStore(environment: self.environment)
    }

    func metadata(at: Int64 = 1_000, commandID: String? = nil) -> AppendMetadata {
        AppendMetadata(
            occurredAt: at,
            recordedAt: 2_000,
            actor: Actor(uid: 1000, gid: 100, onBehalfOf: "agent-7"),
            commandID: commandID,
            correlationID: "corr"
        )
    }

    func event(_ stream: String, _ n: Int64 = 1, causedBy: Int? = nil) -> NewEvent {
        NewEvent(type: "Thing", stream: stream, data: ["n": .int(n)], pii: ["name": "Ada"], causedBy: causedBy)
    }

    @Test func appendGivesGaplessPositionsAndStreamVersions() throws {
        let recorded = try self.environment.write { txn throws in
            try self.store.append(
                [self.event("a-1"), self.event("b-1"), self.event("a-1", 2, causedBy: 0)],
                metadata: self.metadata(),
                txn
            )
        }
        #expect(recorded.map(\.seq) == [1, 2, 3])
        #expect(recorded.map(\.streamVersion) == [1, 1, 2])
        #expect(recorded[2].causationSeq == 1)
        let more = try self.environment.write { txn throws in
            try self.store.append([self.event("b-1")], metadata: self.metadata(), txn)
        }
        #expect(more.map(\.seq) == [4])
        #expect(more.map(\.streamVersion) == [2])
    }

    /// A log that seals personal data says so in `meta` with its first binary envelope (format 2), so
    /// that a crmd reading only format 1 refuses it when it opens it; a format unknown here is refused.
    @Test func theLogFormatBecomes2WithTheFirstBinaryEnvelope() throws {
        var sealing = self.store
        sealing.protection = PiiSealing(keys: PiiEnvelopeTests.Keys(keys: ["c:ada": SymmetricKey(size: .bits256)])) {
            _, _, _ in "c:ada"
        }
        func format() throws -> [UInt8]? {
            try self.environment.read { txn in try txn.get(self.store.meta, "format") }
        }
        func append(_ store: EventStore, _ event: NewEvent) throws {
            _ = try self.environment.write { txn throws in try store.append([event], metadata: self.metadata(), txn) }
        }
        #expect(try format() == [1])
        try append(self.store, self.event("a-1"))
        try append(sealing, NewEvent(type: "Thing", stream: "a-1", data: ["n": 2], pii: .null))
        #expect(try format() == [1], "no personal data, nothing sealed")
        try append(sealing, self.event("a-1", 3))
        #expect(try format() == [2])
        let formats = try self.environment.read { txn in
            try (1...3).map { seq in try txn.withValue(self.store.events, [UInt8].bigEndian(UInt64(seq))) { $0.first } }
        }
        #expect(formats == [1, 1, 2])
        let opened = try #require(try self.environment.read { txn in try sealing.event(at: 3, txn) })
        #expect(opened.payloadPII == ["name": "Ada"])

        _ = try EventStore(environment: self.environment)
        try self.environment.write { txn in try txn.put(self.store.meta, "format", [3]) }
        #expect(throws: EventRecordError.self) { try EventStore(environment: self.environment) }
    }

    @Test func recordsRoundTripWithTheirEnvelope() throws {
        _ = try self.environment.write { txn throws in
            try self.store.append([self.event("a-1")], metadata: self.metadata(commandID: "c1"), txn)
        }
        let event = try #require(try self.environment.read { txn in try self.store.event(at: 1, txn) })
        #expect(event.stream == "a-1")
        #expect(event.type == "Thing")
        #expect(event.payloadData == ["n": 1])
        #expect(event.payloadPII == ["name": "Ada"])
        #expect(event.actor == Actor(uid: 1000, gid: 100, onBehalfOf: "agent-7"))
        #expect(event.commandID == "c1")
        #expect(event.correlationID == "corr")
        #expect(event.occurredAt == 1_000)
        #expect(event.recordedAt == 2_000)
    }

    @Test func readsByStreamAndRange() throws {
        _ = try self.environment.write { txn throws in
            try self.store.append(
                [self.event("a-1"), self.event("b-1"), self.event("a-1"), self.event("a-10")],
                metadata: self.metadata(),
                txn
            )
        }
        try self.environment.read { txn throws in
            #expect(try self.store.read(from: 1, limit: 10, stream: "a-1", txn).map(\.seq) == [1, 3])
            #expect(try self.store.read(from: 2, limit: 10, stream: "a-1", txn).map(\.seq) == [3])
            #expect(try self.store.read(from: 2, limit: 2, txn).map(\.seq) == [2, 3])
            #expect(try self.store.count(txn) == 4)
        }
    }

    @Test func expectedVersionIsChecked() throws {
        _ = try self.environment.write { txn throws in
            try self.store.append([self.event("a-1"), self.event("a-1")], metadata: self.metadata(), txn)
        }
        try self.environment.read { txn throws in
            try self.store.checkExpectedVersion(.exact(2), stream: "a-1", txn)
            try self.store.checkExpectedVersion(.noStream, stream: "other", txn)
            try self.store.checkExpectedVersion(.any, stream: "a-1", txn)
            let error = try #require(throws: Rejection.self) {
                try self.store.checkExpectedVersion(.exact(1), stream: "a-1", txn)
            }
            #expect(error.reason == .versionConflict)
            #expect(error.details?["actual"] == 2)
            #expect(throws: Rejection.self) { try self.store.checkExpectedVersion(.noStream, stream: "a-1", txn) }
        }
    }

    @Test func outOfOrderBusinessTimeIsRejected() throws {
        _ = try self.environment.write { txn throws in
            try self.store.append([self.event("a-1")], metadata: self.metadata(at: 5_000), txn)
        }
        let error = try #require(throws: Rejection.self) {
            try self.environment.write { txn throws in
                try self.store.append([self.event("a-1")], metadata: self.metadata(at: 4_999), txn)
            }
        }
        #expect(error.reason == .timestampOutOfOrder)
        #expect(error.field == "at")
    }

    @Test func hashChainVerifiesAndLocatesTampering() throws {
        _ = try self.environment.write { txn throws in
            try self.store.append((1...5).map { self.event("a-\($0)", $0) }, metadata: self.metadata(), txn)
        }
        let clean = try self.environment.read { txn in try self.store.verify(txn) }
        #expect(clean.brokenAt == nil)
        #expect(clean.checked == 5)
        let head = try self.environment.read { txn in try self.store.head(txn) }
        #expect(clean.headHash == head.hash)

        // Rewrite event 3 with a different payload but the same previous hash.
        try self.environment.write { txn throws in
            var event = try #require(try self.store.event(at: 3, txn))
            event.event = .untyped(UntypedEvent(type: event.type, schemaVersion: 1, data: ["n": 99], pii: .null))
            let previous = try #require(try self.store.recordHash(at: 2, txn))
            let events = try txn.openDatabase("events")
            try txn.put(events, [0, 0, 0, 0, 0, 0, 0, 3] as [UInt8], EventRecord.encode(event, previousHash: previous))
        }
        let tampered = try self.environment.read { txn in try self.store.verify(txn) }
        #expect(tampered.brokenAt == 3)
        #expect(tampered.checked == 2)
    }

    @Test func linkedScansGiveEachRecordsHashInBothDirections() throws {
        _ = try self.environment.write { txn in
            try self.store.append((1...6).map { self.event("a-\($0)", $0) }, metadata: self.metadata(), txn)
        }
        try self.environment.read { txn in
            let head = try self.store.head(txn)
            var forward: [UInt64] = []
            try self.store.forEachLinkedRecord(from: 2, txn) { seq, record, hash in
                let computed = try self.store.recordHash(at: seq, txn)
                let link = try self.store.link(of: seq, head: head, txn)
                #expect(hash == EventRecord.hash(record))
                #expect(hash == computed)
                #expect(hash == link)
                forward.append(seq)
                return true
            }
            #expect(forward == [2, 3, 4, 5, 6])
            // Backwards, starting below the head (the first link comes from a point read) and at it.
            for start: UInt64 in [4, 6, 99] {
                var backward: [UInt64] = []
                try self.store.forEachLinkedRecord(from: start, backward: true, txn) { seq, record, hash in
                    #expect(hash == EventRecord.hash(record))
                    backward.append(seq)
                    return seq > 2
                }
                #expect(backward == Array((2...min(start, 6)).reversed()))
            }
        }
    }

    @Test func alteredLastRecordIsLocatedThroughTheHeadHash() throws {
        _ = try self.environment.write { txn in
            try self.store.append((1...3).map { self.event("a-\($0)", $0) }, metadata: self.metadata(), txn)
        }
        try self.environment.write { txn in
            var event = try #require(try self.store.event(at: 3, txn))
            event.event = .untyped(UntypedEvent(type: event.type, schemaVersion: 1, data: ["n": 7], pii: .null))
            let previous = try #require(try self.store.recordHash(at: 2, txn))
            let events = try txn.openDatabase("events")
            try txn.put(events, [0, 0, 0, 0, 0, 0, 0, 3] as [UInt8], EventRecord.encode(event, previousHash: previous))
        }
        let result = try self.environment.read { txn in try self.store.verify(txn) }
        #expect(result.brokenAt == 3)
    }

    @Test func alteredLinkFieldIsLocatedAtItsRecord() throws {
        _ = try self.environment.write { txn in
            try self.store.append((1...4).map { self.event("a-\($0)", $0) }, metadata: self.metadata(), txn)
        }
        try self.environment.write { txn in
            let event = try #require(try self.store.event(at: 2, txn))
            let events = try txn.openDatabase("events")
            try txn.put(
                events,
                [0, 0, 0, 0, 0, 0, 0, 2] as [UInt8],
                EventRecord.encode(event, previousHash: [UInt8](repeating: 9, count: 32))
            )
        }
        let result = try self.environment.read { txn in try self.store.verify(txn) }
        #expect(result.brokenAt == 2)
    }

    @Test func idempotentRepliesArePersisted() throws {
        try self.environment.write { txn in try self.store.storeReply([1, 2, 3], commandID: "cmd-1", txn) }
        #expect(try self.environment.read { txn in try self.store.storedReply(commandID: "cmd-1", txn) } == [1, 2, 3])
        #expect(try self.environment.read { txn in try self.store.storedReply(commandID: "cmd-2", txn) } == nil)
    }

    @Test(arguments: [("any", ExpectedVersion.any), ("no_stream", .noStream)])
    func expectedVersionParses(_ text: String, _ expected: ExpectedVersion) throws {
        #expect(try ExpectedVersion(json: .string(text)) == expected)
        #expect(try ExpectedVersion(json: 3) == .exact(3))
        #expect(throws: Rejection.self) { try ExpectedVersion(json: "latest") }
        #expect(throws: Rejection.self) { try ExpectedVersion(json: -1) }
    }
}
