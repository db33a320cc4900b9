public import CRMDomain
public import CRMJSON
public import LMDB

/// Which stream version a command expects its target stream to be at (optimistic concurrency).
public enum ExpectedVersion: Sendable, Hashable {
    /// No check.
    case any
    /// The stream must not exist yet.
    case noStream
    /// The stream must be exactly at this version.
    case exact(UInt64)

    /// Parses the `expected_version` param: `"any"`, `"no_stream"` or a non-negative integer.
    public init(json: JSON) throws(Rejection) {
        switch json {
        case .string("any"): self = .any
        case .string("no_stream"): self = .noStream
        default:
            guard let number = json.intValue, number >= 0 else {
                throw Rejection.invalid("expected_version", "must be \"any\", \"no_stream\" or a version number ≥ 0")
            }
            self = number == 0 ? .noStream : .exact(UInt64(number))
        }
    }

    /// The form used in error details: `"any"`, `"no_stream"` or the version number.
    public var detail: DetailValue {
        switch self {
        case .any: "any"
        case .noStream: "no_stream"
        case .exact(let version): .int(Int64(version))
        }
    }

    /// The form used in messages: `"any"` and `"no_stream"` quoted, a version as its number.
    var text: String {
        switch self {
        case .any: "\"any\""
        case .noStream: "\"no_stream\""
        case .exact(let version): "\(version)"
        }
    }
}

/// Facts recorded in every event's envelope besides the payload.
public struct AppendMetadata: Sendable, Hashable {
    public var occurredAt: Int64
    public var recordedAt: Int64
    public var actor: Actor
    public var commandID: String?
    public var correlationID: String?

    public init(occurredAt: Int64, recordedAt: Int64, actor: Actor, commandID: String?, correlationID: String?) {
        self.occurredAt = occurredAt
        self.recordedAt = recordedAt
        self.actor = actor
        self.commandID = commandID
        self.correlationID = correlationID
    }
}

/// The current end of the log.
public struct LogHead: Sendable, Hashable {
    /// Highest position written (0 for an empty log).
    public var seq: UInt64
    /// Hash of the record at `seq` (zeros for an empty log).
    public var hash: [UInt8]

    public init(seq: UInt64, hash: [UInt8]) {
        self.seq = seq
        self.hash = hash
    }
}

/// The event log on LMDB: the `events`, `streams`, `stream_heads`, `idempotency` and
/// `meta` databases, append with expected-version checks, the hash chain, and readers.
///
/// Every method takes the transaction to work in; the store keeps no mutable state of its own, so an
/// aborted transaction leaves nothing behind.
public struct EventStore: Sendable {
    let events: Database
    let streams: Database
    let streamHeads: Database
    let idempotency: Database
    /// Format version, head position and hash, projector versions and checkpoints.
    public let meta: Database
    /// How new events get their personal data encrypted, and the keys readers open it with; `nil`
    /// for a log whose personal data is stored in plain text (written before encryption).
    public var protection: PiiSealing?
    /// The keys that open the log's encrypted personal data.
    public var piiKeys: (any PiiKeys)? { self.protection?.keys }

    static let headKey = "head"
    /// Where `meta` keeps the log format: the highest record format the log may hold (1, or 2 from the
    /// first record with a binary envelope on), so that a crmd that reads only format 1 refuses the
    /// log when it opens it rather than at the first such record.
    static let formatKey = "format"

    /// Opens (creating if needed) the log databases in `environment`.
    public init(environment: Environment) throws {
        (self.events, self.streams, self.streamHeads, self.idempotency, self.meta) = try environment.write { txn in
            let meta = try txn.openDatabase("meta")
            if let format = try txn.get(meta, EventStore.formatKey) {
                guard format == [EventRecord.textFormat] || format == [EventRecord.sealedFormat] else {
                    throw EventRecordError(
                        message: "data directory uses log format \(format.map(String.init).joined(separator: ".")), "
                            + "this crmd reads formats 1 and 2"
                    )
                }
            } else {
                try txn.put(meta, EventStore.formatKey, [EventRecord.textFormat])
            }
            return (
                try txn.openDatabase("events"), try txn.openDatabase("streams"),
                try txn.openDatabase("stream_heads"), try txn.openDatabase("idempotency"), meta
            )
        }
    }

    // MARK: - Head and streams

    /// The current head of the log.
    public func head(_ txn: Transaction) throws -> LogHead {
        guard let bytes = try txn.get(self.meta, EventStore.headKey), bytes.count == 8 + EventRecord.hashSize else {
            return LogHead(seq: 0, hash: EventRecord.genesisHash)
        }
        let seq = bytes.withUnsafeBytes { readBigEndianUInt64($0) }
        return LogHead(seq: seq, hash: Array(bytes[8...]))
    }

    /// The version of `stream` (0 when it does not exist) and the business time of its last event.
    public func streamHead(_ stream: String, _ txn: Transaction) throws -> (version: UInt64, lastOccurredAt: Int64) {
        guard let bytes = try txn.get(self.streamHeads, stream), bytes.count == 16 else { return (0, Int64.min) }
        return bytes.withUnsafeBytes { (readBigEndianUInt64($0), Int64(bitPattern: readBigEndianUInt64($0, at: 8))) }
    }

    /// Throws `version_conflict` unless `stream` is at `expected`.
    public func checkExpectedVersion(
        _ expected: ExpectedVersion,
        stream: String,
        field: String = "expected_version",
        _ txn: Transaction
    ) throws {
        let actual = try self.streamHead(stream, txn).version
        let matches: Bool
        switch expected {
        case .any: matches = true
        case .noStream: matches = actual == 0
        case .exact(let version): matches = actual == version
        }
        guard matches else {
            throw Rejection(
                .versionConflict,
                field: field,
                "stream \(stream) is at version \(actual), expected \(expected.text)",
                details: ["stream": .string(stream), "expected": expected.detail, "actual": .int(Int64(actual))]
            )
        }
    }

    // MARK: - Append

    /// Appends `events` in order, giving each the next global position and stream version and
    /// extending the hash chain. Throws `timestamp_out_of_order` if an event's business time is
    /// earlier than its stream's last event, before it writes anything. A notification
    /// (``DomainEvent/isNotification``) is exempt and leaves its stream's last business time as it was.
    public func append(_ events: [NewEvent], metadata: AppendMetadata, _ txn: Transaction) throws -> [RecordedEvent] {
        // Every check comes before the first write: a rejection leaves the transaction as it was (the
        // writer runs a batch's commands straight in one transaction).
        let versions = try self.nextVersions(events, occurredAt: metadata.occurredAt, txn)
        var head = try self.head(txn)
        var recorded: [RecordedEvent] = []
        recorded.reserveCapacity(events.count)
        var sealed = false
        for (event, (version, streamTime)) in zip(events, versions) {
            let seq = head.seq + 1
            let causation = event.causedBy.flatMap { $0 < recorded.count ? recorded[$0].seq : nil }
            var record = RecordedEvent(
                seq: seq,
                stream: event.stream,
                streamVersion: version,
                occurredAt: metadata.occurredAt,
                recordedAt: metadata.recordedAt,
                actor: metadata.actor,
                commandID: metadata.commandID,
                correlationID: metadata.correlationID,
                causationSeq: causation,
                event: event.event
            )
            // The record holds the payload as decided, its personal part encrypted before it is
            // hashed; folds get the event typed (`decide` already gives typed events; only a payload
            // written as it is needs the codec).
            let texts = try self.sealedTexts(record, txn)
            record.personalData = texts.seal
            let bytes = EventRecord.encode(record, previousHash: head.hash, texts: (texts.data, texts.pii))
            if case .untyped = record.event { record.event = EventCodec.typed(record.event) }
            let key = [UInt8].bigEndian(seq)
            try txn.put(self.events, key, bytes, flags: .append)
            try txn.put(self.streams, EventStore.streamKey(event.stream, version), key)
            var streamHead = [UInt8].bigEndian(version)
            streamHead.appendBigEndian(UInt64(bitPattern: streamTime))
            try txn.put(self.streamHeads, event.stream, streamHead)
            head = LogHead(seq: seq, hash: EventRecord.hash(bytes))
            sealed = sealed || texts.seal != nil
            recorded.append(record)
        }
        if !recorded.isEmpty {
            try txn.put(self.meta, EventStore.headKey, [UInt8].bigEndian(head.seq) + head.hash)
        }
        if sealed { try self.noteSealedFormat(txn) }
        return recorded
    }

    /// Records in `meta` that the log holds records of format 2, unless it says so already.
    private func noteSealedFormat(_ txn: Transaction) throws {
        guard try txn.get(self.meta, EventStore.formatKey) != [EventRecord.sealedFormat] else { return }
        try txn.put(self.meta, EventStore.formatKey, [EventRecord.sealedFormat])
    }

    /// The stream version and the stream's last business time after each of `events`, checking that
    /// no event goes back in its stream's business time. Reads only.
    private func nextVersions(
        _ events: [NewEvent],
        occurredAt: Int64,
        _ txn: Transaction
    ) throws -> [(version: UInt64, time: Int64)] {
        var streamVersions: [String: (version: UInt64, time: Int64)] = [:]
        var versions: [(version: UInt64, time: Int64)] = []
        versions.reserveCapacity(events.count)
        for event in events {
            var version: UInt64
            var streamTime = occurredAt
            if let known = streamVersions[event.stream] {
                version = known.version
                if event.event.isNotification { streamTime = known.time }
            } else {
                let current = try self.streamHead(event.stream, txn)
                if event.event.isNotification {
                    streamTime = current.lastOccurredAt
                } else if occurredAt < current.lastOccurredAt {
                    throw Rejection(
                        .timestampOutOfOrder,
                        field: "at",
                        "at is earlier than the last event of \(event.stream) "
                            + "(\(Timestamp.format(current.lastOccurredAt)))",
                        details: [
                            "stream": .string(event.stream),
                            "last_at": .string(Timestamp.format(current.lastOccurredAt)),
                        ]
                    )
                }
                version = current.version
            }
            version += 1
            streamVersions[event.stream] = (version, streamTime)
            versions.append((version, streamTime))
        }
        return versions
    }

    /// Appends an event exported from another log, keeping its position, stream version and
    /// envelope, after checking that it continues this log: its position is the next one, its stream
    /// version follows its stream's, and its record hashes to `expectedHash` when chained to this
    /// log's head. Returns the new head.
    public func appendExported(_ event: RecordedEvent, expectedHash: [UInt8], _ txn: Transaction) throws -> LogHead {
        let head = try self.head(txn)
        guard event.seq == head.seq + 1 else {
            throw ImportError("event \(event.seq) does not follow position \(head.seq)")
        }
        let streamHead = try self.streamHead(event.stream, txn)
        guard event.streamVersion == streamHead.version + 1 else {
            throw ImportError(
                "event \(event.seq) has version \(event.streamVersion) of \(event.stream), expected \(streamHead.version + 1)"
            )
        }
        let bytes = EventRecord.encode(event, previousHash: head.hash)
        let hash = EventRecord.hash(bytes)
        guard hash == expectedHash else {
            throw ImportError("event \(event.seq) does not match its hash: the export was altered or is incomplete")
        }
        let key = [UInt8].bigEndian(event.seq)
        try txn.put(self.events, key, bytes, flags: .append)
        try txn.put(self.streams, EventStore.streamKey(event.stream, event.streamVersion), key)
        try self.putStreamHead(event, after: streamHead.lastOccurredAt, txn)
        let newHead = LogHead(seq: event.seq, hash: hash)
        try txn.put(self.meta, EventStore.headKey, [UInt8].bigEndian(newHead.seq) + newHead.hash)
        if bytes.first == EventRecord.sealedFormat { try self.noteSealedFormat(txn) }
        return newHead
    }

    /// Writes the head of the stream of `event`, copied from another log: its version, and the later of
    /// its business time and `last` (a notification keeps `last`).
    private func putStreamHead(_ event: RecordedEvent, after last: Int64, _ txn: Transaction) throws {
        var bytes = [UInt8].bigEndian(event.streamVersion)
        let time = event.event.isNotification ? last : max(event.occurredAt, last)
        bytes.appendBigEndian(UInt64(bitPattern: time))
        try txn.put(self.streamHeads, event.stream, bytes)
    }

    /// The payload texts of `event` as it is stored: its `pii` sealed under its subject's key when
    /// the log's personal data is encrypted.
    /// `subject` is the event in its current shape when `event` holds an older one.
    func sealedTexts(
        _ event: RecordedEvent,
        subject: DomainEvent? = nil,
        _ txn: Transaction
    ) throws -> (data: [UInt8], pii: [UInt8], seal: PersonalDataSeal?) {
        let texts = EventCodec.payloadTexts(event.event)
        guard let protection = self.protection, !texts.pii.elementsEqual(EventRecord.nullText) else {
            return (texts.data, texts.pii, nil)
        }
        // The event is passed as it is unless it needs typing (`??` would copy it).
        let kid: String
        if let subject {
            kid = try protection.subject(subject, event.stream, txn)
        } else if case .untyped = event.event {
            kid = try protection.subject(EventCodec.typed(event.event), event.stream, txn)
        } else {
            kid = try protection.subject(event.event, event.stream, txn)
        }
        let (key, number) = try protection.keys.writingKey(kid, txn)
        let sealed = withUnsafeTemporaryAllocation(byteCount: AESGCM.nonceSize, alignment: 8) { nonce in
            protection.nonces.next(into: nonce)
            return PiiEnvelope.seal(
                texts.pii, key: key, kid: kid, number: number, stream: event.stream, streamVersion: event.streamVersion,
                type: event.type, nonce: UnsafeRawBufferPointer(nonce)
            )
        }
        return (texts.data, sealed, PersonalDataSeal(subject: kid, key: number))
    }

    /// Appends a copy of `event` from another log at its own position, stream version, times and
    /// actor, its `pii` sealed when this log encrypts personal data: the copy-transform that moves a
    /// log written in plain text into an encrypted one. The copy has a hash chain of its own. `event`
    /// is the event as stored (its payload is kept as it is); `current` is it in its current shape,
    /// which says whose key seals it. Returns the new head and the number of the key that sealed the
    /// copy's personal data.
    public func appendCopy(
        _ event: RecordedEvent,
        current: DomainEvent,
        _ txn: Transaction
    ) throws -> (head: LogHead, personalData: PersonalDataSeal?) {
        let head = try self.head(txn)
        guard event.seq == head.seq + 1 else {
            throw ImportError("event \(event.seq) does not follow position \(head.seq)")
        }
        let texts = try self.sealedTexts(event, subject: current, txn)
        let bytes = EventRecord.encode(event, previousHash: head.hash, texts: (texts.data, texts.pii))
        let key = [UInt8].bigEndian(event.seq)
        try txn.put(self.events, key, bytes, flags: .append)
        try txn.put(self.streams, EventStore.streamKey(event.stream, event.streamVersion), key)
        try self.putStreamHead(event, after: try self.streamHead(event.stream, txn).lastOccurredAt, txn)
        let newHead = LogHead(seq: event.seq, hash: EventRecord.hash(bytes))
        try txn.put(self.meta, EventStore.headKey, [UInt8].bigEndian(newHead.seq) + newHead.hash)
        if texts.seal != nil { try self.noteSealedFormat(txn) }
        return (newHead, texts.seal)
    }

    static func streamKey(_ stream: String, _ version: UInt64) -> [UInt8] {
        var key = Array(stream.utf8)
        key.append(0)
        key.appendBigEndian(version)
        return key
    }

    // MARK: - Idempotency

    /// The stored reply of an already processed `command_id`, or `nil`.
    public func storedReply(commandID: String, _ txn: Transaction) throws -> [UInt8]? {
        try txn.get(self.idempotency, commandID)
    }

    /// Remembers the reply of `command_id` so a retry gets it back without writing anything.
    public func storeReply(_ reply: [UInt8], commandID: String, _ txn: Transaction) throws {
        try txn.put(self.idempotency, commandID, reply)
    }

    // MARK: - Reading

    /// The event at position `seq` in the current shape of its type (upcast), or `nil`. Encrypted
    /// personal data is opened unless `personalData` is `false` (then it decodes as `null`).
    public func event(at seq: UInt64, _ txn: Transaction, personalData: Bool = true) throws -> RecordedEvent? {
        try txn.withValue(self.events, [UInt8].bigEndian(seq)) {
            try EventRecord.decode($0, keys: personalData ? self.piiKeys : nil)
        }
    }

    /// The event at position `seq` exactly as stored, with its stored schema version, or `nil`.
    public func storedEvent(at seq: UInt64, _ txn: Transaction) throws -> RecordedEvent? {
        try txn.withValue(self.events, [UInt8].bigEndian(seq)) { try EventRecord.decodeStored($0) }
    }

    /// The hash of the record at position `seq`, or `nil`.
    public func recordHash(at seq: UInt64, _ txn: Transaction) throws -> [UInt8]? {
        try txn.withValue(self.events, [UInt8].bigEndian(seq)) { EventRecord.hash($0) }
    }

    /// The link in the hash chain of the record at `seq` (which must exist) as stored: the
    /// previous-hash field of the record after it, or `head`'s hash for the last record.
    public func link(of seq: UInt64, head: LogHead, _ txn: Transaction) throws -> [UInt8] {
        guard seq < head.seq else { return head.hash }
        return try txn.withValue(self.events, [UInt8].bigEndian(seq + 1)) { try EventRecord.previousHash(of: $0) }
            ?? head.hash
    }

    /// Calls `body` with each stored record from position `from` on (or back, when `backward`) until
    /// `body` returns false or the log ends, together with the record's link in the hash chain as
    /// stored: the previous-hash field of the record after it, or the head hash for the last record.
    /// A scan reads these links instead of hashing every record; `audit.verify` is what recomputes
    /// and compares them. The buffer is valid only during the call.
    public func forEachLinkedRecord(
        from: UInt64,
        backward: Bool = false,
        _ txn: Transaction,
        _ body: (UInt64, UnsafeRawBufferPointer, _ hash: [UInt8]) throws -> Bool
    ) throws {
        let head = try self.head(txn)
        // The link of the record at `seq`, given the record after it when known.
        func link(_ seq: UInt64, after: UnsafeRawBufferPointer?) throws -> [UInt8] {
            if let after { return try EventRecord.previousHash(of: after) }
            return try self.link(of: seq, head: head, txn)
        }
        try txn.withCursor(self.events) { cursor in
            if backward {
                var after: UnsafeRawBufferPointer? = nil
                var entry = try cursor.seek(atOrBefore: [UInt8].bigEndian(from))
                while let current = entry {
                    let seq = readBigEndianUInt64(current.key)
                    guard try body(seq, current.value, try link(seq, after: after)) else { return }
                    after = current.value
                    entry = try cursor.previous()
                }
            } else {
                var entry = try cursor.seek(atOrAfter: [UInt8].bigEndian(max(from, 1)))
                while let current = entry {
                    let seq = readBigEndianUInt64(current.key)
                    // Values stay valid while the transaction makes no change, so the record after
                    // can be read before this one is handed on.
                    let next = try cursor.next()
                    guard try body(seq, current.value, try link(seq, after: next?.value)) else { return }
                    entry = next
                }
            }
        }
    }

    /// Calls `body` with each stored record from position `from` on, in order, until `body` returns
    /// false or the log ends. The buffer is valid only during the call.
    public func forEachRecord(
        from: UInt64,
        _ txn: Transaction,
        _ body: (UInt64, UnsafeRawBufferPointer) throws -> Bool
    ) throws {
        try txn.withCursor(self.events) { cursor in
            var entry = try cursor.seek(atOrAfter: [UInt8].bigEndian(max(from, 1)))
            while let current = entry {
                guard try body(readBigEndianUInt64(current.key), current.value) else { return }
                entry = try cursor.next()
            }
        }
    }

    /// Calls `body` with each stored record from position `from` backwards, until `body` returns
    /// false or the start of the log.
    public func forEachRecordBackward(
        from: UInt64,
        _ txn: Transaction,
        _ body: (UInt64, UnsafeRawBufferPointer) throws -> Bool
    ) throws {
        try txn.withCursor(self.events) { cursor in
            var entry = try cursor.seek(atOrBefore: [UInt8].bigEndian(from))
            while let current = entry {
                guard try body(readBigEndianUInt64(current.key), current.value) else { return }
                entry = try cursor.previous()
            }
        }
    }

    /// Up to `limit` events (upcast) from position `from` on; with `stream`, only that stream's events.
    public func read(from: UInt64, limit: Int, stream: String? = nil, _ txn: Transaction) throws -> [RecordedEvent] {
        var result: [RecordedEvent] = []
        guard limit > 0 else { return result }
        if let stream {
            try txn.withCursor(self.streams) { cursor in
                let prefix = Array(stream.utf8) + [0]
                var entry = try cursor.seek(atOrAfter: prefix)
                while let current = entry, current.key.starts(with: prefix), result.count < limit {
                    let seq = readBigEndianUInt64(current.value)
                    if seq >= from, let event = try self.event(at: seq, txn) { result.append(event) }
                    entry = try cursor.next()
                }
            }
            return result
        }
        let keys = self.piiKeys
        try self.forEachRecord(from: from, txn) { _, record in
            result.append(try EventRecord.decode(record, keys: keys))
            return result.count < limit
        }
        return result
    }

    /// The positions of every event of `stream`, in stream order.
    public func positions(of stream: String, _ txn: Transaction) throws -> [UInt64] {
        var result: [UInt64] = []
        try txn.withCursor(self.streams) { cursor in
            let prefix = Array(stream.utf8) + [0]
            var entry = try cursor.seek(atOrAfter: prefix)
            while let current = entry, current.key.starts(with: prefix) {
                result.append(readBigEndianUInt64(current.value))
                entry = try cursor.next()
            }
        }
        return result
    }

    /// The number of events in the log.
    public func count(_ txn: Transaction) throws -> Int { try txn.count(self.events) }

    // MARK: - Verification

    /// The outcome of walking the hash chain.
    public struct Verification: Sendable, Hashable {
        /// Records checked.
        public var checked: UInt64
        /// First position whose link is broken, with the expected and found previous hashes.
        public var brokenAt: UInt64?
        public var expectedHash: [UInt8]?
        public var foundHash: [UInt8]?
        /// The head hash recomputed from the records.
        public var headHash: [UInt8]
    }

    /// Checks the end of the log in a few milliseconds, for start-up: the last `records` records
    /// chain to one another and to the stored head hash, and no record lies beyond the head. A full
    /// ``verify(from:to:_:)`` stays the deep check.
    public func verifyTail(records: UInt64, _ txn: Transaction) throws -> Verification {
        let head = try self.head(txn)
        var last: UInt64 = 0
        try self.forEachRecordBackward(from: UInt64.max, txn) { seq, _ in
            last = seq
            return false
        }
        if last > head.seq {
            return Verification(
                checked: 0,
                brokenAt: head.seq + 1,
                expectedHash: nil,
                foundHash: try self.recordHash(at: head.seq + 1, txn),
                headHash: head.hash
            )
        }
        return try self.verify(from: head.seq > records ? head.seq - records + 1 : 1, txn)
    }

    /// Walks the hash chain over positions `from...to` (default: the whole log) and checks every link,
    /// every record's position and, when the walk reaches the head, the stored head hash.
    ///
    /// When a link between records `s-1` and `s` does not match, the record that was altered is
    /// located by looking one link further: if record `s` still matches the link stored after it,
    /// `s` is intact and record `s-1` was changed; otherwise `s` itself was changed. `brokenAt` is that
    /// record's position; `expectedHash` is what the chain stored for it and `foundHash` what its bytes
    /// hash to now (or, for an altered link field, the reverse pair).
    public func verify(from: UInt64 = 1, to: UInt64? = nil, _ txn: Transaction) throws -> Verification {
        let head = try self.head(txn)
        let last = min(to ?? head.seq, head.seq)
        let start = max(from, 1)
        var previousHash: [UInt8]
        if start <= 1 {
            previousHash = EventRecord.genesisHash
        } else {
            previousHash = try self.recordHash(at: start - 1, txn) ?? EventRecord.genesisHash
        }
        var result = Verification(checked: 0, headHash: previousHash)
        var position = start

        /// The link stored after record `seq`: the next record's previous-hash field, or the head hash.
        func linkAfter(_ seq: UInt64) throws -> [UInt8]? {
            if seq == head.seq { return head.hash }
            let link = try txn.withValue(self.events, [UInt8].bigEndian(seq + 1)) { record in
                try? EventRecord.previousHash(of: record)
            }
            return link ?? nil
        }

        try self.forEachRecord(from: start, txn) { seq, record in
            guard seq <= last else { return false }
            let storedSeq = record.count >= 11 ? readBigEndianUInt64(record, at: 3) : 0
            let link = (try? EventRecord.previousHash(of: record)) ?? []
            let hash = EventRecord.hash(record)
            if seq != position || storedSeq != seq {
                result.brokenAt = min(seq, position)
                result.expectedHash = previousHash
                result.foundHash = link
                return false
            }
            if link != previousHash {
                let intact = try linkAfter(seq) == hash
                if intact && seq > start {
                    result.brokenAt = seq - 1
                    result.checked -= 1
                    result.expectedHash = link
                    result.foundHash = previousHash
                } else {
                    result.brokenAt = seq
                    result.expectedHash = previousHash
                    result.foundHash = link
                }
                return false
            }
            previousHash = hash
            result.checked += 1
            position += 1
            return true
        }
        if result.brokenAt == nil && position <= last {
            result.brokenAt = position
            result.expectedHash = previousHash
            result.foundHash = nil
        }
        result.headHash = previousHash
        if result.brokenAt == nil, last == head.seq, previousHash != head.hash {
            result.brokenAt = head.seq
            result.expectedHash = head.hash
            result.foundHash = previousHash
        }
        return result
    }
}

/// An exported log that cannot be imported.
public struct ImportError: Error, Sendable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) { self.description = description }
}
