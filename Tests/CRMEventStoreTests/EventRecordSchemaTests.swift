import CRMDomain
@testable import CRMEventStore
import CRMJSON
import CRMTesting
import Crypto
import LMDB
import Testing

/// Records keep the schema version they were written with; `decode` upcasts, `decodeStored` does not.
@Suite struct EventRecordSchemaTests {
    /// An `ActivityLogged` event as crmd wrote it at schema version 1.
    let v1 = RecordedEvent(
        seq: 1, stream: "activity-a1", streamVersion: 1, type: EventType.activityLogged, schemaVersion: 1,
        occurredAt: 1_000, recordedAt: 2_000, actor: Actor(uid: 1000, gid: 100), commandID: "c1",
        correlationID: nil, causationSeq: nil,
        data: [
            "activity_id": "a1", "type": "task", "customer_ids": ["c1"], "due_at": "2025-03-10T09:00:00.000Z",
            "task_status": "WAITING",
        ],
        pii: ["subject": "Send proposal", "body": nil]
    )

    func decoded(_ bytes: [UInt8]) throws -> (current: RecordedEvent, stored: RecordedEvent) {
        try bytes.withUnsafeBytes { raw in (try EventRecord.decode(raw), try EventRecord.decodeStored(raw)) }
    }

    @Test func decodeUpcastsAndDecodeStoredKeepsTheBytes() throws {
        let bytes = EventRecord.encode(self.v1, previousHash: EventRecord.genesisHash)
        let (current, stored) = try self.decoded(bytes)
        #expect(stored == self.v1)
        #expect(EventRecord.encode(stored, previousHash: EventRecord.genesisHash) == bytes)
        #expect(current.schemaVersion == 2)
        #expect(current.payloadData["kind"] == "task")
        #expect(current.payloadData["task"] == ["due_at": "2025-03-10T09:00:00.000Z", "status": "WAITING"])
        #expect(current.seq == self.v1.seq && current.commandID == "c1" && current.payloadPII == self.v1.payloadPII)
    }

    @Test func theStreamIsReadWithoutDecodingTheRest() throws {
        for stream in ["activity-a1", "ticket-t-9", "", "é-日本"] {
            var event = self.v1
            event.stream = stream
            let bytes = EventRecord.encode(event, previousHash: EventRecord.genesisHash)
            let read = try bytes.withUnsafeBytes { Array(try EventRecord.streamBytes(of: $0)) }
            #expect(read == Array(stream.utf8))
        }
        let broken: [UInt8] = [0x7F, 0, 1]
        #expect(throws: EventRecordError.self) {
            try broken.withUnsafeBytes { _ = try EventRecord.streamBytes(of: $0) }
        }
        let short = Array(EventRecord.encode(self.v1, previousHash: EventRecord.genesisHash).prefix(40))
        #expect(throws: EventRecordError.self) {
            try short.withUnsafeBytes { _ = try EventRecord.streamBytes(of: $0) }
        }
    }

    @Test func aNewerSchemaVersionIsNotReadAsCurrent() throws {
        var newer = self.v1
        newer.schemaVersion = 3
        let bytes = EventRecord.encode(newer, previousHash: EventRecord.genesisHash)
        #expect(throws: EventRecordError.self) {
            _ = try bytes.withUnsafeBytes { raw in try EventRecord.decode(raw) }
        }
        #expect(try bytes.withUnsafeBytes { raw in try EventRecord.decodeStored(raw) } == newer)
    }

    @Test func theStoreReadsBothWaysAndVerifiesStoredBytes() throws {
        let directory = TemporaryDirectory()
        let environment = try Environment(path: directory.appending("data"))
        let store = try EventStore(environment: environment)
        let bytes = EventRecord.encode(self.v1, previousHash: EventRecord.genesisHash)
        try environment.write { txn throws in
            _ = try store.appendExported(self.v1, expectedHash: EventRecord.hash(bytes), txn)
        }
        try environment.read { txn throws in
            #expect(try store.storedEvent(at: 1, txn) == self.v1)
            #expect(try store.event(at: 1, txn)?.schemaVersion == 2)
            #expect(try store.read(from: 1, limit: 10, txn).map(\.schemaVersion) == [2])
            #expect(try store.verify(from: 1, to: nil, txn).brokenAt == nil)
        }
    }

    /// A timeline reads one personal member of an event without decoding it: what the whole decode
    /// gives, opened with the subject's key; nothing without the key; a whole decode asked for when
    /// the record is of another type or an older schema version.
    @Test func oneMemberOfThePersonalDataReadsAsTheWholeDecodeGivesIt() throws {
        let key = SymmetricKey(size: .bits256)
        let keys = PiiEnvelopeTests.NumberedKeys(keys: [3: key])
        let current = try EventRecord.upcast(self.v1)
        #expect(current.schemaVersion > 1)
        let texts = EventCodec.payloadTexts(current.event)
        let sealed = try PiiEnvelope.seal(
            texts.pii, key: key, kid: "c:c1", number: 3, stream: current.stream,
            streamVersion: current.streamVersion, type: current.type
        )
        let record = EventRecord.encode(current, previousHash: EventRecord.genesisHash, texts: (texts.data, sealed))
        let stored = EventRecord.encode(self.v1, previousHash: EventRecord.genesisHash)
        func read(_ bytes: [UInt8], type: String = EventType.activityLogged, _ keys: (any PiiKeys)?) throws
            -> EventRecord.PersonalString
        {
            try bytes.withUnsafeBytes { try EventRecord.personalString($0, type: type, member: "subject", keys: keys) }
        }
        let whole = try record.withUnsafeBytes { try EventRecord.decode($0, keys: keys) }
        guard case .customer(.activityLogged(let activity)) = whole.event else {
            Issue.record("not an activity: \(whole.event)")
            return
        }
        #expect(activity.subject == "Send proposal")
        #expect(try read(record, keys) == .read("Send proposal"))
        #expect(try read(record, nil) == .read(nil), "without keys")
        #expect(try read(record, PiiEnvelopeTests.NumberedKeys(keys: [:])) == .read(nil), "its key gone")
        #expect(try read(record, type: SalesEventType.dealCreated, keys) == .decodeWhole, "another type")
        #expect(try read(stored, keys) == .decodeWhole, "schema version 1")
    }

    /// A record whose personal data is a binary envelope is of format 2; read as stored (an export) its
    /// envelope is JSON text, which encodes back to the same record; a format byte that does not match
    /// what the record holds is refused.
    @Test func aRecordWithABinaryEnvelopeIsFormat2AndItsTextEncodesBackToIt() throws {
        let key = SymmetricKey(size: .bits256)
        let keys = PiiEnvelopeTests.NumberedKeys(keys: [3: key])
        let current = try EventRecord.upcast(self.v1)
        let texts = EventCodec.payloadTexts(current.event)
        let sealed = try PiiEnvelope.seal(
            texts.pii, key: key, kid: "c:c1", number: 3, stream: current.stream,
            streamVersion: current.streamVersion, type: current.type
        )
        let record = EventRecord.encode(current, previousHash: EventRecord.genesisHash, texts: (texts.data, sealed))
        let plain = EventRecord.encode(current, previousHash: EventRecord.genesisHash)
        #expect(record.first == EventRecord.sealedFormat)
        #expect(plain.first == EventRecord.textFormat)

        let stored = try record.withUnsafeBytes { try EventRecord.decodeStored($0) }
        let exported = try #require(stored.payloadPII.objectValue)
        #expect(exported["v"] == 2 && exported["kid"] == "c:c1" && exported["kn"] == 3)
        #expect(EventRecord.encode(stored, previousHash: EventRecord.genesisHash) == record)
        let opened = try record.withUnsafeBytes { try EventRecord.decode($0, keys: keys) }
        #expect(opened.payloadPII == current.payloadPII)
        #expect(opened.personalData == PersonalDataSeal(subject: "c:c1", key: 3))

        // A log encrypted before record format 2 stored the envelope's text (`"v":1`): such a record
        // stays format 1, opens the same, and reads as stored with the same text.
        let version1 = sealed.withUnsafeBytes { sealed in
            var out: [UInt8] = []
            PiiEnvelope.appendText(of: sealed, PiiEnvelope.Parts(sealed)!, version: 1, to: &out)
            return out
        }
        let older = EventRecord.encode(current, previousHash: EventRecord.genesisHash, texts: (texts.data, version1))
        #expect(older.first == EventRecord.textFormat)
        #expect(try older.withUnsafeBytes { try EventRecord.decode($0, keys: keys) }.payloadPII == current.payloadPII)
        let olderStored = try older.withUnsafeBytes { try EventRecord.decodeStored($0) }
        #expect(olderStored.payloadPII.serialized() == version1)
        #expect(EventRecord.encode(olderStored, previousHash: EventRecord.genesisHash) == older)

        for (bytes, format) in [(record, 1), (plain, 2), (plain, 3)] as [([UInt8], UInt8)] {
            var altered = bytes
            altered[0] = format
            #expect(throws: EventRecordError.self, "format \(format)") {
                try altered.withUnsafeBytes { try EventRecord.decodeEnvelope($0) }
            }
        }
    }
}
