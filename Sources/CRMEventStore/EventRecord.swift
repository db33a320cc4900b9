public import CRMDomain
import CRMJSON
import Crypto

/// The binary layout of one event record in the `events` database.
///
/// ```
/// u8  record format (1 or 2)     u16 event schema version
/// u64 seq                        u64 stream version
/// i64 occurred_at (UTC ms)       i64 recorded_at (UTC ms)
/// u32 actor uid                  u32 actor gid
/// u64 causation seq (0 = none)   32 bytes hash of the previous record (zeros before seq 1)
/// then length-prefixed (u32) UTF-8 strings: type, stream, command_id, correlation_id,
///      on_behalf_of, data (canonical JSON), pii (canonical JSON)
/// ```
///
/// Format 1 holds `pii` as canonical JSON text (`null`, the object in plain text, or the text of an
/// encrypted envelope, `"v":1`); format 2 holds a binary envelope there (``PiiEnvelope``), which is
/// how a log that encrypts personal data stores every event with personal data. Events without
/// personal data are format 1 in either log.
///
/// All integers are big-endian. The hash of a record is `SHA-256(record bytes)`, and since the bytes
/// begin with the previous record's hash this is `SHA-256(previous hash ‖ rest of the record)`: a
/// chain in which changing any byte of any record breaks every later link.
public enum EventRecord {
    /// The format of a record whose `pii` is JSON text.
    public static let textFormat: UInt8 = 1
    /// The format of a record whose `pii` is a binary envelope.
    public static let sealedFormat: UInt8 = 2
    /// Size of a SHA-256 digest.
    public static let hashSize = 32
    /// The "previous hash" of the first record.
    public static let genesisHash = [UInt8](repeating: 0, count: 32)

    /// Offset of the previous-hash field in a record.
    static let previousHashOffset = 1 + 2 + 8 * 4 + 4 + 4 + 8

    /// Encodes an event with its envelope; `texts` replaces the payload texts the codec would write
    /// (the appender passes them with `pii` encrypted). A `pii` that is a binary envelope, or the JSON
    /// text of one (`"v":2`, as an export shows it), makes a record of format 2.
    public static func encode(
        _ event: RecordedEvent,
        previousHash: [UInt8],
        texts: (data: [UInt8], pii: [UInt8])? = nil
    ) -> [UInt8] {
        precondition(previousHash.count == EventRecord.hashSize)
        var (data, pii) = texts ?? EventCodec.payloadTexts(event.event)
        if let binary = pii.withUnsafeBytes({ PiiEnvelope.binary(ofText: $0) }) { pii = binary }
        var out: [UInt8] = []
        out.reserveCapacity(EventRecord.previousHashOffset + 32 + 64 + data.count + pii.count + event.stream.utf8.count)
        out.append(PiiEnvelope.isBinary(pii) ? EventRecord.sealedFormat : EventRecord.textFormat)
        out.appendBigEndian(UInt16(clamping: event.schemaVersion))
        out.appendBigEndian(event.seq)
        out.appendBigEndian(event.streamVersion)
        out.appendBigEndian(UInt64(bitPattern: event.occurredAt))
        out.appendBigEndian(UInt64(bitPattern: event.recordedAt))
        out.appendBigEndian(event.actor.uid)
        out.appendBigEndian(event.actor.gid)
        out.appendBigEndian(event.causationSeq ?? 0)
        out.append(contentsOf: previousHash)
        out.appendField(Array(event.type.utf8))
        out.appendField(Array(event.stream.utf8))
        out.appendField(Array((event.commandID ?? "").utf8))
        out.appendField(Array((event.correlationID ?? "").utf8))
        out.appendField(Array((event.actor.onBehalfOf ?? "").utf8))
        out.appendField(data)
        out.appendField(pii)
        return out
    }

    /// The hash of a stored record.
    public static func hash(_ record: UnsafeRawBufferPointer) -> [UInt8] { Array(SHA256.hash(data: record)) }

    /// The hash of an encoded record.
    public static func hash(_ record: [UInt8]) -> [UInt8] { Array(SHA256.hash(data: record)) }

    /// The previous-record hash stored inside a record.
    public static func previousHash(of record: UnsafeRawBufferPointer) throws(EventRecordError) -> [UInt8] {
        guard record.count >= EventRecord.previousHashOffset + EventRecord.hashSize else {
            throw EventRecordError(message: "record too short")
        }
        return Array(record[EventRecord.previousHashOffset..<(EventRecord.previousHashOffset + EventRecord.hashSize)])
    }

    /// Decodes a record into an event in the current shape of its type: a payload stored with an older
    /// schema version goes through `EventSchema.upcast`, and `schemaVersion` is the current version.
    /// This is what every reader that folds or shows events uses. A record of a schema version newer
    /// than this crmd knows is an error: reading it as if it were current could misread it.
    ///
    /// A payload of a frequent type in its current schema version is decoded straight from its bytes
    /// (``PayloadEventDecoder``); every other payload, and any text that decoder does not take, goes
    /// through a JSON tree (``decodeThroughTree(_:)``). Both give the same event.
    ///
    /// An encrypted `pii` (``PiiEnvelope``) is opened with `keys` when `opening` says the reader
    /// needs the personal data of events of that type (a reader that does not — the decision state for
    /// most types — saves the decryption); without its key (erased, unknown), or unopened, the event is
    /// decoded with `pii` `null`, so its personal fields are `nil`.
    public static func decode(
        _ record: UnsafeRawBufferPointer,
        keys: (any PiiKeys)? = nil,
        opening: (_ type: String) -> Bool = { _ in true }
    ) throws(EventRecordError) -> RecordedEvent {
        var (envelope, data, stored) = try EventRecord.decodeEnvelope(record)
        guard PiiEnvelope.isEnvelope(stored) else { return try EventRecord.decode(envelope, data, stored) }
        // A damaged envelope opens to nothing, like one whose key is gone.
        guard let parts = PiiEnvelope.Parts(stored) else {
            return try EventRecord.decode(envelope, data, EventRecord.nullText)
        }
        envelope.personalData = PersonalDataSeal(subject: parts.kid, key: parts.number)
        guard opening(envelope.type) else { return try EventRecord.decode(envelope, data, EventRecord.nullText) }
        return try PiiEnvelope.withOpened(
            stored, parts, keys: keys, stream: envelope.stream, streamVersion: envelope.streamVersion,
            type: envelope.type
        ) { (pii) throws(EventRecordError) in
            try EventRecord.decode(envelope, data, pii ?? EventRecord.nullText)
        }
    }

    /// The text of a `pii` that holds nothing.
    static var nullText: UnsafeRawBufferPointer {
        let null: StaticString = "null"
        return UnsafeRawBufferPointer(start: null.utf8Start, count: null.utf8CodeUnitCount)
    }

    /// The event of `envelope` with its payload texts `data` and `pii` (plaintext).
    private static func decode(
        _ envelope: RecordedEvent,
        _ data: UnsafeRawBufferPointer,
        _ pii: UnsafeRawBufferPointer
    ) throws(EventRecordError) -> RecordedEvent {
        if envelope.schemaVersion == EventSchema.currentVersion(of: envelope.type),
            let typed = try? PayloadEventDecoder.decode(type: envelope.type, data: data, pii: pii)
        {
            var event = envelope
            event.event = typed
            return event
        }
        return try EventRecord.decodeThroughTree(envelope, data, pii)
    }

    /// `decode` through a JSON tree of the payload (parsed once, typed by ``EventCodec/typed(_:)``,
    /// upcast first when stored in an older schema version). The reference the direct decoder is
    /// tested against.
    static func decodeThroughTree(_ record: UnsafeRawBufferPointer) throws(EventRecordError) -> RecordedEvent {
        let (envelope, dataBytes, piiBytes) = try EventRecord.decodeEnvelope(record)
        return try EventRecord.decodeThroughTree(envelope, dataBytes, piiBytes)
    }

    /// ``decodeThroughTree(_:)`` of a decoded envelope and its payload texts.
    private static func decodeThroughTree(
        _ envelope: RecordedEvent,
        _ dataBytes: UnsafeRawBufferPointer,
        _ piiBytes: UnsafeRawBufferPointer
    ) throws(EventRecordError) -> RecordedEvent {
        var event = envelope
        let payload = try EventRecord.parsePayload(envelope, dataBytes, piiBytes)
        // The common case parses the payload once and types it straight away.
        if envelope.schemaVersion == EventSchema.currentVersion(of: envelope.type),
            let typed = EventCodec.typed(payload)
        {
            event.event = typed
            return event
        }
        event.event = .untyped(
            UntypedEvent(type: envelope.type, schemaVersion: envelope.schemaVersion, data: payload.data, pii: payload.pii)
        )
        event = try EventRecord.upcast(event)
        event.event = EventCodec.typed(event.event)
        return event
    }

    /// The parsed payloads of a record whose envelope is `envelope`.
    private static func parsePayload(
        _ envelope: RecordedEvent,
        _ dataBytes: UnsafeRawBufferPointer,
        _ piiBytes: UnsafeRawBufferPointer
    ) throws(EventRecordError) -> EventPayload {
        do {
            return EventPayload(type: envelope.type, data: try JSON.parse(dataBytes), pii: try JSON.parse(piiBytes))
        } catch {
            throw EventRecordError(message: "payload of event \(envelope.seq) is not JSON: \(error)")
        }
    }

    /// `stored` in the current shape of its type (see `decode`).
    public static func upcast(_ stored: RecordedEvent) throws(EventRecordError) -> RecordedEvent {
        let current = EventSchema.currentVersion(of: stored.type)
        guard stored.schemaVersion <= current else {
            throw EventRecordError(
                message: "event \(stored.seq) is \(stored.type) schema version \(stored.schemaVersion), newer than "
                    + "this crmd reads (\(current)); upgrade crmd to read it",
                newerSchema: .init(position: stored.seq, type: stored.type, version: stored.schemaVersion, supported: current)
            )
        }
        return stored.schemaVersion == current ? stored : EventSchema.upcast(stored)
    }

    /// Decodes a record into the event exactly as stored, with the schema version it was written with
    /// (what `encode` turns back into the same bytes): for export and the log's own checks. A binary
    /// envelope is given as its JSON text.
    public static func decodeStored(_ record: UnsafeRawBufferPointer) throws(EventRecordError) -> RecordedEvent {
        let (envelope, dataBytes, piiBytes) = try EventRecord.decodeEnvelope(record)
        var event = envelope
        // Parsed only to refuse a payload that is not JSON (the text of a binary envelope is written
        // as JSON); the event keeps the stored texts.
        _ = try EventRecord.parsePayload(
            envelope, dataBytes, PiiEnvelope.isBinary(piiBytes) ? EventRecord.nullText : piiBytes
        )
        event.event = .untyped(
            UntypedEvent(
                type: envelope.type, schemaVersion: envelope.schemaVersion, dataText: Array(dataBytes),
                piiText: PiiEnvelope.text(of: piiBytes)
            )
        )
        return event
    }

    /// The bytes of the stream name of `record` (pointing into it), without decoding the rest: for
    /// readers that only pick events by stream.
    public static func streamBytes(
        of record: UnsafeRawBufferPointer
    ) throws(EventRecordError) -> UnsafeRawBufferPointer {
        var reader = RecordReader(bytes: record)
        let format = try reader.u8()
        guard format == EventRecord.textFormat || format == EventRecord.sealedFormat else {
            throw EventRecordError(message: "unknown record format \(format)")
        }
        // Schema version, position, stream version, two times, uid, gid, causation, previous hash.
        try reader.skip(2 + 8 + 8 + 8 + 8 + 4 + 4 + 8 + EventRecord.hashSize)
        _ = try reader.field()  // the type
        return try reader.field()
    }

    /// Decodes a record's envelope only: the event with `data` and `pii` left `null`, and the two
    /// payloads as they were stored (valid while `record` is): `data` canonical JSON, `pii` canonical
    /// JSON or a binary envelope (``PiiEnvelope/appendText(of:to:)`` shows either as text). For readers
    /// that pass payloads on unchanged, such as `events.read`.
    public static func decodeEnvelope(
        _ record: UnsafeRawBufferPointer
    ) throws(EventRecordError) -> (event: RecordedEvent, data: UnsafeRawBufferPointer, pii: UnsafeRawBufferPointer) {
        var reader = RecordReader(bytes: record)
        let format = try reader.u8()
        guard format == EventRecord.textFormat || format == EventRecord.sealedFormat else {
            throw EventRecordError(message: "unknown record format \(format)")
        }
        let schemaVersion = Int(try reader.u16())
        let seq = try reader.u64()
        let streamVersion = try reader.u64()
        let occurredAt = Int64(bitPattern: try reader.u64())
        let recordedAt = Int64(bitPattern: try reader.u64())
        let uid = try reader.u32()
        let gid = try reader.u32()
        let causation = try reader.u64()
        try reader.skip(EventRecord.hashSize)
        let type = try reader.string()
        let stream = try reader.string()
        let commandID = try reader.string()
        let correlationID = try reader.string()
        let onBehalfOf = try reader.string()
        let data = try reader.field()
        let pii = try reader.field()
        guard PiiEnvelope.isBinary(pii) == (format == EventRecord.sealedFormat) else {
            throw EventRecordError(message: "record \(seq) of format \(format) holds pii of the other format")
        }
        // The payload is left out (empty texts, read as `null`): the caller has its bytes.
        let event = RecordedEvent(
            seq: seq,
            stream: stream,
            streamVersion: streamVersion,
            occurredAt: occurredAt,
            recordedAt: recordedAt,
            actor: Actor(uid: uid, gid: gid, onBehalfOf: onBehalfOf.isEmpty ? nil : onBehalfOf),
            commandID: commandID.isEmpty ? nil : commandID,
            correlationID: correlationID.isEmpty ? nil : correlationID,
            causationSeq: causation == 0 ? nil : causation,
            event: .untyped(UntypedEvent(type: type, schemaVersion: schemaVersion, dataText: [], piiText: []))
        )
        return (event, data, pii)
    }
}

/// A stored record that cannot be decoded: corrupt, or intact but of a schema version newer than this
/// crmd reads (``newerSchema`` is set then).
public struct EventRecordError: Error, Sendable, Hashable, CustomStringConvertible {
    /// An intact event whose schema version this crmd does not know: written by a newer crmd.
    public struct NewerSchema: Sendable, Hashable {
        /// Position of the event in the log.
        public var position: UInt64
        /// Its type.
        public var type: String
        /// Its stored schema version.
        public var version: Int
        /// The newest version of `type` this crmd reads.
        public var supported: Int
    }

    public var message: String
    /// Set when the record is intact but too new to read.
    public var newerSchema: NewerSchema? = nil

    public var description: String {
        self.newerSchema == nil ? "corrupt event record: \(self.message)" : self.message
    }
}

// MARK: - Byte helpers

extension Array where Element == UInt8 {
    mutating func appendBigEndian<I: FixedWidthInteger>(_ value: I) {
        var big = value.bigEndian
        Swift.withUnsafeBytes(of: &big) { self.append(contentsOf: $0) }
    }

    mutating func appendField(_ bytes: [UInt8]) {
        self.appendBigEndian(UInt32(bytes.count))
        self.append(contentsOf: bytes)
    }

    /// `value` as 8 big-endian bytes (the key of the `events` database).
    static func bigEndian(_ value: UInt64) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(8)
        out.appendBigEndian(value)
        return out
    }
}

/// Reads big-endian integers from a big-endian byte buffer.
func readBigEndianUInt64(_ bytes: UnsafeRawBufferPointer, at offset: Int = 0) -> UInt64 {
    var value: UInt64 = 0
    for index in offset..<(offset + 8) { value = value << 8 | UInt64(bytes[index]) }
    return value
}

struct RecordReader {
    let bytes: UnsafeRawBufferPointer
    var offset = 0

    mutating func take(_ count: Int) throws(EventRecordError) -> UnsafeRawBufferPointer {
        guard count >= 0, self.offset + count <= self.bytes.count else {
            throw EventRecordError(message: "record truncated at byte \(self.offset)")
        }
        defer { self.offset += count }
        return UnsafeRawBufferPointer(rebasing: self.bytes[self.offset..<(self.offset + count)])
    }

    mutating func integer<I: FixedWidthInteger>(_: I.Type) throws(EventRecordError) -> I {
        let raw = try self.take(MemoryLayout<I>.size)
        var value: I = 0
        for byte in raw { value = value << 8 | I(byte) }
        return value
    }

    mutating func u8() throws(EventRecordError) -> UInt8 { try self.integer(UInt8.self) }
    mutating func u16() throws(EventRecordError) -> UInt16 { try self.integer(UInt16.self) }
    mutating func u32() throws(EventRecordError) -> UInt32 { try self.integer(UInt32.self) }
    mutating func u64() throws(EventRecordError) -> UInt64 { try self.integer(UInt64.self) }
    mutating func skip(_ count: Int) throws(EventRecordError) { _ = try self.take(count) }

    mutating func field() throws(EventRecordError) -> UnsafeRawBufferPointer {
        let count = Int(try self.u32())
        return try self.take(count)
    }

    mutating func string() throws(EventRecordError) -> String {
        String(decoding: try self.field(), as: UTF8.self)
    }
}

extension EventRecord {
    /// One string member of a stored event's personal data, read without decoding the event.
    public enum PersonalString: Sendable, Hashable {
        /// The member as the event's decoder reads it (`nil`: absent, not a string, or the data could
        /// not be opened — its key is gone — as a whole decode would give it).
        case read(String?)
        /// The record is not of the type expected, nor in its type's current schema version (an
        /// upcaster may move the member), or its personal data does not parse here: decode the event
        /// whole.
        case decodeWhole
    }

    /// The string member `name` of the personal data of `record`, an event of type `type`, opened with
    /// `keys`: for a reader that needs one personal field of an event (a timeline's subject) rather
    /// than the typed event.
    public static func personalString(
        _ record: UnsafeRawBufferPointer,
        type: String,
        member name: StaticString,
        keys: (any PiiKeys)?
    ) throws(EventRecordError) -> PersonalString {
        let (envelope, _, stored) = try EventRecord.decodeEnvelope(record)
        guard envelope.type == type, envelope.schemaVersion == EventSchema.currentVersion(of: type) else {
            return .decodeWhole
        }
        guard PiiEnvelope.isEnvelope(stored) else { return EventRecord.personalString(stored, name) }
        guard let parts = PiiEnvelope.Parts(stored) else { return .read(nil) }
        return PiiEnvelope.withOpened(
            stored, parts, keys: keys, stream: envelope.stream, streamVersion: envelope.streamVersion,
            type: envelope.type
        ) { $0.map { EventRecord.personalString($0, name) } ?? .read(nil) }
    }

    /// Member `name` of the plaintext `pii`, as ``PayloadEventDecoder`` reads it.
    private static func personalString(_ pii: UnsafeRawBufferPointer, _ name: StaticString) -> PersonalString {
        guard let fields = try? PayloadFields(pii) else { return .decodeWhole }
        return .read(fields.string(name))
    }
}
