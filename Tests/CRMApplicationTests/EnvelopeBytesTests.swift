@testable import CRMApplication
import CRMDomain
import CRMEventStore
import CRMJSON
import Testing

/// `events.read` writes envelopes of stored records straight from their bytes; they must be the
/// bytes the general serializer gives for the same envelope.
@Suite struct EnvelopeBytesTests {
    /// The envelope as a JSON value, member by member (docs/PROTOCOL.md §8.3).
    static func reference(_ event: RecordedEvent, hash: [UInt8]) -> JSON {
        [
            "seq": .int(Int64(event.seq)), "stream": .string(event.stream),
            "stream_version": .int(Int64(event.streamVersion)), "type": .string(event.type),
            "schema_version": .int(Int64(event.schemaVersion)),
            "occurred_at": .string(Timestamp.format(event.occurredAt)),
            "recorded_at": .string(Timestamp.format(event.recordedAt)), "actor": event.actor.json,
            "command_id": .string(event.commandID), "correlation_id": .string(event.correlationID),
            "causation_seq": event.causationSeq.map { .int(Int64($0)) } ?? .null,
            "data": event.payloadData, "pii": event.payloadPII, "hash": .string(hexString(hash)),
        ]
    }

    static let events: [RecordedEvent] = [
        RecordedEvent(
            seq: 1, stream: "customer-ada", streamVersion: 1, type: "CustomerCreated", schemaVersion: 1,
            occurredAt: 1_700_000_000_123, recordedAt: 1_700_000_000_456, actor: Actor(uid: 1000, gid: 100),
            commandID: nil, correlationID: nil, causationSeq: nil,
            data: ["customer_id": "ada", "tags": ["vip", "b\"q"], "score": 1.5, "n": -3],
            pii: ["first_name": "Ada", "note": "line\nbreak é ✓"]
        ),
        RecordedEvent(
            seq: 42, stream: "deal-d1", streamVersion: 7, type: "DealStageChanged", schemaVersion: 2,
            occurredAt: -5, recordedAt: 0, actor: Actor(uid: 0, gid: 0, onBehalfOf: "agent-7"),
            commandID: "cmd-1", correlationID: "corr", causationSeq: 41,
            data: ["from": "a", "to": .null, "nested": ["z": 1, "a": [["y": true]]]], pii: .null
        ),
    ]

    @Test(arguments: [nil, 1] as [Int?])
    func areTheBytesOfTheGeneralEnvelope(storedSchemaVersion: Int?) throws {
        for event in Self.events {
            let record = EventRecord.encode(event, previousHash: EventRecord.genesisHash)
            let hash = EventRecord.hash(record)
            var expected = Self.reference(event, hash: hash)
            if let storedSchemaVersion { expected["stored_schema_version"] = .int(Int64(storedSchemaVersion)) }
            let bytes = try record.withUnsafeBytes { raw in
                let (envelope, data, pii) = try EventRecord.decodeEnvelope(raw)
                #expect(envelope.seq == event.seq && envelope.payloadData == .null)
                var out: [UInt8] = []
                LogQueries.writeEnvelope(
                    envelope,
                    data: data,
                    pii: pii,
                    hash: hash,
                    storedSchemaVersion: storedSchemaVersion,
                    into: &out
                )
                return out
            }
            #expect(String(decoding: bytes, as: UTF8.self) == expected.serializedString())
            var decoded: [UInt8] = []
            LogQueries.writeEnvelope(event, hash: hash, storedSchemaVersion: storedSchemaVersion, into: &decoded)
            #expect(decoded == bytes)
            #expect(JSON.serialized(SerializedJSON(bytes)).serialized() == bytes)
        }
    }
}
