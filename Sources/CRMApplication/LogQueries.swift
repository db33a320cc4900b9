import CRMDomain
import CRMEventStore
import CRMJSON
import CRMParams
import Crypto
import LMDB

/// Log queries: `events.read` with its filters and pages, the `*.history` methods, and the audits
/// (`audit.verify`, `audit.checkpoints`) of the hash chain, the signed checkpoints and the read models.
struct LogQueries: Sendable, ReadsStorage {
    let storage: CoreStorage

    /// Filters of `events.read`; every given filter must match.
    struct EventFilter {
        var stream: String?
        var streamPrefix: String?
        var types: Set<String>?
        var actorUID: UInt32?
        var fromTime: Int64?
        var toTime: Int64?
        var byRecordedTime = false

        func matches(_ event: RecordedEvent) -> Bool {
            if let stream = self.stream, event.stream != stream { return false }
            if let prefix = self.streamPrefix, !event.stream.hasPrefix(prefix) { return false }
            if let types = self.types, !types.contains(event.type) { return false }
            if let uid = self.actorUID, event.actor.uid != uid { return false }
            let time = self.byRecordedTime ? event.recordedAt : event.occurredAt
            if let from = self.fromTime, time < from { return false }
            if let to = self.toTime, time >= to { return false }
            return true
        }
    }

    /// `events.read`: events in log order (or backwards) between two positions, filtered by stream,
    /// stream prefix, type, actor and a time range, in pages with a cursor (`next_from`).
    ///
    /// A page holds at most `limit` matching events; scanning stops after `max_scan` records (default
    /// 100,000) so a selective filter on a long log still answers promptly: `next_from` then tells
    /// where to continue even if the page is short or empty.
    ///
    /// By default (`upcast: true`) each event is shown in the current shape of its type
    /// (`EventSchema`): `schema_version` is the current version and `stored_schema_version` the one
    /// the record was written with. With `upcast: false` events are shown exactly as stored, with
    /// their stored `schema_version` and no `stored_schema_version`: this is what `crmctl export`
    /// reads, since only the stored payload re-encodes to the record's `hash`.
    ///
    /// Encrypted personal data (`pii` as an envelope) is shown opened to callers that may read it
    /// (`personalData`; the admin role), as `{"$pii":"encrypted","fields":[…],"kid":…}` to the others,
    /// and as `{"$pii":"unavailable",…}` when its key is gone or unknown; with `upcast: false` it is
    /// shown exactly as stored, as everything else.
    func readEvents(_ params: JSON?, personalData: Bool) throws -> JSON {
        try self.readEventPage(params, personalData: personalData).json
    }

    /// How an event's encrypted `pii` is shown.
    enum PiiView {
        /// As stored: the envelope (exports, `upcast: false`).
        case stored
        /// Its header only: `{"$pii":"encrypted","fields":[…],"kid":…}` (`shredded` once erased by the
        /// keys' erasure records).
        case hidden((any PiiKeys)?)
        /// Opened with these keys; `{"$pii":"unavailable",…}` without its key.
        case opened((any PiiKeys)?)

        /// The `pii` text to show for the stored text `pii` of `event`, or `nil` to show it as stored.
        func text(_ pii: UnsafeRawBufferPointer, of event: RecordedEvent) -> [UInt8]? {
            self.shown(pii, of: event)?.text
        }

        /// The `pii` text to show for the stored text `pii` of `event` and whether it is the opened
        /// plain text (rather than a header); `nil` to show it as stored.
        func shown(_ pii: UnsafeRawBufferPointer, of event: RecordedEvent) -> (text: [UInt8], opened: Bool)? {
            if case .stored = self { return nil }
            // Opened first: the header is read only for what is shown in place of the plain text.
            if case .opened(let keys) = self,
                let opened = PiiEnvelope.open(
                    pii, keys: keys, stream: event.stream, streamVersion: event.streamVersion, type: event.type
                )
            {
                return (opened, true)
            }
            guard let header = PiiEnvelope.header(pii) else { return nil }
            var members: [String: JSON] = ["fields": .strings(header.fields), "kid": .string(header.kid)]
            let keys: (any PiiKeys)? =
                switch self {
                case .opened(let keys), .hidden(let keys): keys
                case .stored: nil
                }
            if let erased = keys?.erasedSeq(of: header.kid) {
                members["$pii"] = "shredded"
                members["erased_seq"] = .int(Int64(erased))
            } else {
                members["$pii"] = if case .opened = self { "unavailable" } else { "encrypted" }
            }
            return (JSON.object(members).serialized(), false)
        }
    }

    /// Appends the envelope of the stored event `stored` in the current shape of its type, its `pii`
    /// shown as `view` says. Upcasters work on the opened `pii`; a `pii` shown by its header only is
    /// shown as stored (its field names are those of the stored schema version).
    static func writeUpcastEnvelope(
        _ stored: RecordedEvent,
        hash: [UInt8],
        view: PiiView,
        into out: inout [UInt8]
    ) throws {
        var event = stored
        var header: [UInt8]?
        if case .untyped(var payload) = stored.event,
            let shown = payload.piiText.withUnsafeBytes({ view.shown($0, of: stored) })
        {
            if shown.opened {
                payload.piiText = shown.text
            } else {
                payload.piiText = Array("null".utf8)
                header = shown.text
            }
            event.event = .untyped(payload)
        }
        let current = try EventRecord.upcast(event)
        guard let header else {
            return LogQueries.writeEnvelope(current, hash: hash, storedSchemaVersion: stored.schemaVersion, into: &out)
        }
        EventCodec.payload(current.event).data.serialized().withUnsafeBytes { data in
            header.withUnsafeBytes { pii in
                LogQueries.writeEnvelope(
                    current, data: data, pii: pii, hash: hash, storedSchemaVersion: stored.schemaVersion, into: &out
                )
            }
        }
    }

    /// One page of `events.read`: the envelopes with their positions, where to continue, the head.
    ///
    /// The envelopes are written one after the other into the text of the reply's `events` array,
    /// so a page of a thousand events is one buffer rather than a thousand.
    struct EventPage {
        /// The `events` array as canonical JSON text, once ``finish()`` has closed it.
        private(set) var array: [UInt8] = [UInt8(ascii: "[")]
        /// Each event's position and where its envelope sits in ``array``.
        private(set) var events: [(seq: UInt64, range: Range<Int>)] = []
        var nextFrom: UInt64?
        var head: UInt64

        init(head: UInt64, expectedEvents: Int) {
            self.head = head
            // Room for a few dozen envelopes; a full page grows from there (a subscription polls
            // pages that are mostly short).
            self.array.reserveCapacity(min(expectedEvents, 32) * 640)
        }

        /// Adds the event at `seq`, whose envelope `write` appends to the buffer it is given.
        mutating func append(_ seq: UInt64, _ write: (inout [UInt8]) throws -> Void) rethrows {
            if !self.events.isEmpty { self.array.append(UInt8(ascii: ",")) }
            let start = self.array.count
            try write(&self.array)
            self.events.append((seq, start..<self.array.count))
        }

        /// Closes the array; nothing is appended afterwards.
        mutating func finish() { self.array.append(UInt8(ascii: "]")) }

        /// The envelope of the event at `index` in ``events``.
        func envelope(_ index: Int) -> SerializedJSON { SerializedJSON(Array(self.array[self.events[index].range])) }

        /// The `events.read` result.
        var json: JSON {
            [
                "events": .serialized(SerializedJSON(self.array)),
                "next_from": self.nextFrom.map { .int(Int64($0)) } ?? .null, "head": .int(Int64(self.head)),
            ]
        }
    }

    /// ``readEvents(_:)`` as an ``EventPage``.
    func readEventPage(_ params: JSON?, personalData: Bool) throws -> EventPage {
        var reader = try Params(params)
        let upcast = try reader.bool("upcast") ?? true
        let view: PiiView = !upcast ? .stored : personalData ? .opened(self.store.piiKeys) : .hidden(self.store.piiKeys)
        // Opened personal data or an error, never a header in its place (shredded data excepted).
        let decrypt = try reader.bool("decrypt") ?? false
        if decrypt, !personalData {
            throw Rejection(.forbidden, field: "decrypt", "reading personal data opened needs the admin role")
        }
        if decrypt, !upcast {
            throw Rejection.invalid("decrypt", "cannot be combined with upcast: false (events as stored)")
        }
        let backward = try reader.oneOf("direction", ["forward", "backward"]) == "backward"
        let from = try reader.int("from")
        if let from, from < 1 { throw Rejection.invalid("from", "must be ≥ 1") }
        let to = try reader.int("to")
        if let to, to < 1 { throw Rejection.invalid("to", "must be ≥ 1") }
        let limit = try reader.int("limit") ?? 100
        guard (1...1000).contains(limit) else { throw Rejection.invalid("limit", "must be between 1 and 1000") }
        let maxScan = try reader.int("max_scan") ?? 100_000
        guard maxScan >= 1 else { throw Rejection.invalid("max_scan", "must be ≥ 1") }
        var filter = EventFilter()
        filter.stream = try reader.string("stream")
        filter.streamPrefix = try reader.string("stream_prefix")
        if let type = try reader.raw("type") {
            switch type {
            case .string(let name): filter.types = [name]
            case .array(let names):
                var set: Set<String> = []
                for (index, name) in names.enumerated() {
                    guard let text = name.stringValue else {
                        throw Rejection.invalid("type[\(index)]", "expected a string, got \(name.typeName)")
                    }
                    set.insert(text)
                }
                filter.types = set
            default: throw Rejection.invalid("type", "expected an event type or a list of them")
            }
        }
        if let uid = try reader.int("actor_uid") {
            guard let value = UInt32(exactly: uid) else { throw Rejection.invalid("actor_uid", "not a uid") }
            filter.actorUID = value
        }
        filter.fromTime = try reader.timestamp("from_time")
        filter.toTime = try reader.timestamp("to_time")
        filter.byRecordedTime = try reader.oneOf("time_field", ["occurred_at", "recorded_at"]) == "recorded_at"
        try reader.finish()

        return try self.environment.read { txn in
            let head = try self.store.head(txn)
            let lowest = UInt64(backward ? (to ?? 1) : (from ?? 1))
            let highest = UInt64(backward ? (from.map { UInt64($0) } ?? head.seq) : (to.map { UInt64($0) } ?? head.seq))
            var page = EventPage(head: head.seq, expectedEvents: Int(limit))
            var scanned = 0
            /// Writes the envelope of a fully decoded stored event.
            func envelope(_ event: RecordedEvent, hash: [UInt8], into out: inout [UInt8]) throws {
                if decrypt, case .untyped(let payload) = event.event {
                    try payload.piiText.withUnsafeBytes { try self.requireOpenable($0, of: event) }
                }
                if upcast {
                    try LogQueries.writeUpcastEnvelope(event, hash: hash, view: view, into: &out)
                } else {
                    LogQueries.writeEnvelope(event, hash: hash, into: &out)
                }
            }
            func consider(_ event: RecordedEvent, envelope: (inout [UInt8]) throws -> Void) throws -> Bool {
                if filter.matches(event) {
                    if page.events.count == Int(limit) {
                        page.nextFrom = event.seq
                        return false
                    }
                    try page.append(event.seq, envelope)
                }
                scanned += 1
                if scanned >= Int(maxScan) {
                    let following = backward ? event.seq - 1 : event.seq + 1
                    if following >= max(lowest, 1), following <= highest { page.nextFrom = following }
                    return false
                }
                return true
            }
            if let stream = filter.stream {
                // The stream index gives the stream's events without scanning the log.
                var positions = try self.store.positions(of: stream, txn).filter { $0 >= lowest && $0 <= highest }
                if backward { positions.reverse() }
                for seq in positions {
                    guard let event = try self.store.storedEvent(at: seq, txn) else { continue }
                    let hash = try self.store.link(of: seq, head: head, txn)
                    let proceed = try consider(event) { out in try envelope(event, hash: hash, into: &out) }
                    guard proceed else { break }
                }
            } else {
                // A scan reads envelopes only and copies payloads that need no upcast as stored.
                try self.store.forEachLinkedRecord(from: backward ? highest : lowest, backward: backward, txn) {
                    seq, record, hash in
                    guard backward ? seq >= lowest : seq <= highest else { return false }
                    let (event, data, pii) = try EventRecord.decodeEnvelope(record)
                    return try consider(event) { out in
                        if decrypt { try self.requireOpenable(pii, of: event) }
                        guard !upcast || event.schemaVersion == EventSchema.currentVersion(of: event.type) else {
                            return try envelope(try EventRecord.decodeStored(record), hash: hash, into: &out)
                        }
                        LogQueries.writeEnvelope(
                            event,
                            data: data,
                            pii: pii,
                            hash: hash,
                            storedSchemaVersion: upcast ? event.schemaVersion : nil,
                            pii: view,
                            into: &out
                        )
                    }
                }
            }
            page.finish()
            return page
        }
    }

    /// Throws `pii_unavailable` when `pii`, the stored personal data of `event`, is an envelope whose
    /// key cannot be read and was not erased (missing or damaged in the key store).
    private func requireOpenable(_ pii: UnsafeRawBufferPointer, of event: RecordedEvent) throws {
        guard let header = PiiEnvelope.header(pii) else { return }
        let keys = self.store.piiKeys
        guard keys?.erasedSeq(of: header.kid) == nil, keys?.readingKey(header.number) == nil else { return }
        throw Rejection(
            .piiUnavailable,
            "the personal data of the event at position \(event.seq) cannot be opened: the data key of "
                + "\(header.kid) is missing or damaged in the key store",
            details: ["kid": .string(header.kid), "seq": .int(Int64(event.seq))]
        )
    }

    /// Appends the envelope of an event as clients see it, written straight to canonical JSON (keys in
    /// UTF-8 order) from its fields and its payloads' canonical bytes — for stored records, the bytes
    /// as stored, so they are copied, never parsed. `stored_schema_version` is added when given.
    static func writeEnvelope(
        _ event: RecordedEvent,
        data: UnsafeRawBufferPointer,
        pii: UnsafeRawBufferPointer,
        hash: [UInt8],
        storedSchemaVersion: Int?,
        pii view: PiiView = .stored,
        into out: inout [UInt8]
    ) {
        /// Appends `text`: punctuation and a member name, in one go.
        func raw(_ text: StaticString) {
            out.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
        }
        func string(_ value: String?) {
            if let value { JSON.writeString(value, into: &out) } else { raw("null") }
        }
        // Members in canonical (UTF-8 byte) order of their keys.
        raw(#"{"actor":"#)
        event.actor.write(into: &out)
        raw(#","causation_seq":"#)
        if let causation = event.causationSeq { JSON.writeInt(Int64(causation), into: &out) } else { raw("null") }
        raw(#","command_id":"#)
        string(event.commandID)
        raw(#","correlation_id":"#)
        string(event.correlationID)
        raw(#","data":"#)
        out.append(contentsOf: data)
        raw(#","hash":""#)
        appendHex(hash, to: &out)
        raw(#"","occurred_at":"#)
        Timestamp.writeQuoted(event.occurredAt, into: &out)
        raw(#","pii":"#)
        if let shown = view.text(pii, of: event) {
            out.append(contentsOf: shown)
        } else {
            PiiEnvelope.appendText(of: pii, to: &out)
        }
        raw(#","recorded_at":"#)
        Timestamp.writeQuoted(event.recordedAt, into: &out)
        raw(#","schema_version":"#)
        JSON.writeInt(Int64(event.schemaVersion), into: &out)
        raw(#","seq":"#)
        JSON.writeInt(Int64(event.seq), into: &out)
        if let storedSchemaVersion {
            raw(#","stored_schema_version":"#)
            JSON.writeInt(Int64(storedSchemaVersion), into: &out)
        }
        raw(#","stream":"#)
        JSON.writeString(event.stream, into: &out)
        raw(#","stream_version":"#)
        JSON.writeInt(Int64(event.streamVersion), into: &out)
        raw(#","type":"#)
        JSON.writeString(event.type, into: &out)
        raw("}")
    }

    /// Appends the envelope of a decoded event (``writeEnvelope(_:data:pii:hash:storedSchemaVersion:into:)``
    /// with its payloads serialized).
    static func writeEnvelope(
        _ event: RecordedEvent,
        hash: [UInt8],
        storedSchemaVersion: Int? = nil,
        pii view: PiiView = .stored,
        into out: inout [UInt8]
    ) {
        let payload = EventCodec.payload(event.event)
        payload.data.serialized().withUnsafeBytes { data in
            payload.pii.serialized().withUnsafeBytes { pii in
                LogQueries.writeEnvelope(
                    event, data: data, pii: pii, hash: hash, storedSchemaVersion: storedSchemaVersion, pii: view,
                    into: &out
                )
            }
        }
    }

    /// The record kinds with a `<kind>.history` method: the method's id param and stream prefix.
    static let historyKinds: [String: (idField: String, streamPrefix: String, noun: String)] = [
        "customer.history": ("customer_id", "customer-", "customer"),
        "deal.history": ("deal_id", "deal-", "deal"),
        "ticket.history": ("ticket_id", "ticket-", "ticket"),
    ]

    /// `customer.history`, `deal.history`, `ticket.history`: every event of the record's stream with
    /// its actor and times, and per event the fields it changed as `{field: {from, to}}`. Encrypted
    /// personal fields are shown only to callers that may read personal data (`personalData`).
    func recordHistory(_ method: String, _ params: JSON?, personalData: Bool) throws -> JSON {
        guard let kind = LogQueries.historyKinds[method] else {
            throw Rejection(.unknownCommand, "unknown method \(method)")
        }
        var reader = try Params(params)
        let id = try reader.identifier(kind.idField, required: true)!
        try reader.finish()
        return try self.environment.read { txn in
            let positions = try self.store.positions(of: kind.streamPrefix + id, txn)
            guard !positions.isEmpty else { throw Rejection.notFound(kind.idField, kind.noun, id) }
            var entries: [JSON] = []
            var previous: [String: JSON] = [:]
            for seq in positions {
                guard let event = try self.store.event(at: seq, txn, personalData: personalData) else { continue }
                let changes = LogQueries.changes(of: event, previous: &previous)
                entries.append([
                    "seq": .int(Int64(event.seq)), "stream_version": .int(Int64(event.streamVersion)),
                    "type": .string(event.type), "occurred_at": .string(Timestamp.format(event.occurredAt)),
                    "recorded_at": .string(Timestamp.format(event.recordedAt)), "actor": event.actor.json,
                    "command_id": .string(event.commandID),
                    "causation_seq": event.causationSeq.map { .int(Int64($0)) } ?? .null,
                    "changes": .object(changes),
                ])
            }
            return [kind.idField: .string(id), "events": .array(entries)]
        }
    }

    /// The fields an event of a customer stream changed. `previous` carries the last known value of
    /// each field across the stream (for events that record only the new value).
    static func changes(of event: RecordedEvent, previous: inout [String: JSON]) -> [String: JSON] {
        var changes: [String: JSON] = [:]
        func set(_ field: String, _ to: JSON) {
            let from = previous[field] ?? .null
            if from != to { changes[field] = ["from": from, "to": to] }
            previous[field] = to
        }
        // History shows each event's payload as the log holds it.
        let (data, pii) = EventCodec.payload(event.event)
        switch event.type {
        case "CustomerCreated":
            for part in [data, pii] {
                for (key, value) in part.objectValue ?? [:] where key != "customer_id" && !value.isNull {
                    if case .array(let elements) = value, elements.isEmpty { continue }
                    if case .object(let members) = value, members.isEmpty { continue }
                    set(key, value)
                }
            }
        case "CustomerUpdated":
            for part in [data["changes"], pii["changes"]] {
                for (key, change) in part?.objectValue ?? [:] {
                    changes[key] = change
                    previous[key] = change["to"] ?? .null
                }
            }
        case "CustomerTagged":
            var tags = Set(previous["tags"]?.arrayValue?.compactMap(\.stringValue) ?? [])
            tags.formUnion(data["added"]?.arrayValue?.compactMap(\.stringValue) ?? [])
            tags.subtract(data["removed"]?.arrayValue?.compactMap(\.stringValue) ?? [])
            set("tags", .strings(tags.sorted()))
        case "CustomerOwnerChanged":
            set("owner_id", data["to"] ?? .null)
        case "LifecycleStageChanged":
            set("lifecycle_stage", data["to"] ?? .null)
        case "LeadStatusChanged":
            set("lead_status", data["to"] ?? .null)
        case "ConsentChanged":
            let channel = data["channel"]?.stringValue ?? "?"
            let address = pii["contact_point"]?.stringValue.map { ":\($0)" } ?? ""
            set("consent.\(channel)\(address)", data["to"] ?? .null)
        default:
            // Any other event (deals, tickets, …): its data fields, compared with their last values
            // in the stream; a `to` member names the field by the event type's subject.
            let members = data.objectValue ?? [:]
            if let to = members["to"] {
                // The event states both ends of the change itself.
                let subject = LogQueries.subject(of: event.type)
                changes[subject] = ["from": members["from"] ?? .null, "to": to]
                previous[subject] = to
            }
            let ownID = (event.stream.split(separator: "-").first.map(String.init) ?? "") + "_id"
            for (key, value) in members where key != ownID && key != "from" && key != "to" {
                set(key, value)
            }
            for (key, value) in pii.objectValue ?? [:] where key != "changes" {
                set(key, value)
            }
        }
        return changes
    }

    /// The field a `from`/`to` event changes: `DealStageChanged` → `stage`,
    /// `TicketStatusChanged` → `status`, `TicketPriorityChanged` → `priority`.
    static func subject(of type: String) -> String {
        var name = type
        for prefix in ["Deal", "Ticket", "Customer", "Pipeline"] where name.hasPrefix(prefix) {
            name.removeFirst(prefix.count)
            break
        }
        if name.hasSuffix("Changed") { name.removeLast("Changed".count) }
        var snake = ""
        for character in name {
            if character.isUppercase, !snake.isEmpty { snake.append("_") }
            snake.append(character.lowercased())
        }
        return snake.isEmpty ? "value" : snake
    }

    // MARK: - Audits

    /// `audit.verify {from?, to?, public_key?, read_models?}`: recomputes the hash chain over
    /// `from...to` and checks the signed checkpoints in that range against `public_key` (hex, or the
    /// text of a `.pub` file; default: this crmd's own key); with `read_models: true` also compares
    /// every read model with a fresh fold of the log (``auditReadModels(_:head:)``).
    func verify(_ params: JSON?) throws -> JSON {
        var reader = try Params(params)
        let from = try reader.int("from") ?? 1
        let to = try reader.int("to")
        let keyText = try reader.string("public_key")
        let readModels = try reader.bool("read_models") ?? false
        guard from >= 1 else { throw Rejection.invalid("from", "must be ≥ 1") }
        if let to, to < from { throw Rejection.invalid("to", "must be ≥ from") }
        let trustedKey = try keyText.map { text throws(Rejection) in
            guard let key = CRMEventStore.signingPublicKey(text: text) else {
                throw Rejection.invalid("public_key", "must be an Ed25519 public key: 64 hex digits, or a .pub file's text")
            }
            return key
        } ?? self.storage.signingPublicKey
        try reader.finish()
        return try self.environment.read { txn in
            let head = try self.store.head(txn)
            guard from <= max(head.seq, 1) else {
                throw Rejection(
                    .invalidField,
                    field: "from",
                    "from \(from) is past the head of the log (position \(head.seq))",
                    details: ["head": .int(Int64(head.seq))]
                )
            }
            let last = min(to.map { UInt64($0) } ?? head.seq, head.seq)
            let result = try self.store.verify(from: UInt64(from), to: last, txn)
            var report: JSON = [
                "ok": .bool(result.brokenAt == nil), "checked": .int(Int64(result.checked)),
                "from": .int(from), "to": .int(Int64(last)),
                "hash": result.brokenAt == nil ? .string(hexString(result.headHash)) : .null,
                "head_position": .int(Int64(head.seq)), "head_hash": .string(hexString(head.hash)),
                "broken_at": result.brokenAt.map { .int(Int64($0)) } ?? .null,
                "expected_hash": result.expectedHash.map { .string(hexString($0)) } ?? .null,
                "found_hash": result.foundHash.map { .string(hexString($0)) } ?? .null,
                "signatures": .null,
            ]
            if let trustedKey {
                var audit = CheckpointAudit(trustedKey: trustedKey)
                for checkpoint in try self.storage.checkpoints.list(from: UInt64(from), to: last, txn) {
                    let verified = result.brokenAt.map { checkpoint.position < $0 } ?? true
                    audit.check(checkpoint, chainHash: verified ? try self.store.recordHash(at: checkpoint.position, txn) : nil)
                }
                report["signatures"] = audit.json(to: last)
                report["ok"] = .bool(result.brokenAt == nil && audit.firstBad == nil)
            }
            if readModels {
                let models = try self.auditReadModels(txn, head: head.seq)
                report["read_models"] = models
                report["ok"] = .bool(report["ok"] == .bool(true) && models["ok"] == .bool(true))
            }
            return report
        }
    }

    /// `audit.checkpoints {from?, limit?}`: the signed checkpoints from position `from` on, for
    /// export and offline checks.
    func listCheckpoints(_ params: JSON?) throws -> JSON {
        var reader = try Params(params)
        let from = try reader.int("from") ?? 1
        let limit = Int(try reader.int("limit") ?? 1000)
        guard from >= 1 else { throw Rejection.invalid("from", "must be ≥ 1") }
        guard (1...1000).contains(limit) else { throw Rejection.invalid("limit", "must be between 1 and 1000") }
        try reader.finish()
        return try self.environment.read { txn in
            let page = try self.storage.checkpoints.list(from: UInt64(from), to: UInt64.max, limit: limit + 1, txn)
            let key = self.storage.signingPublicKey
            return [
                "checkpoints": .array(page.prefix(limit).map(\.json)),
                "next_from": page.count > limit ? .int(Int64(page[limit].position)) : .null,
                "public_key": key.map { .string(hexString(Array($0.rawRepresentation))) } ?? .null,
            ]
        }
    }
}
