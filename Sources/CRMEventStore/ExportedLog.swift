public import CRMDomain
public import CRMJSON
public import Crypto

/// The NDJSON export of a log, as `crmctl export` writes it: first one `{"checkpoint": {…}}` line per
/// signed checkpoint, then one `events.read` envelope per line, each event exactly as stored (its
/// stored schema version and payload) with its hash. `crmd import` loads it; an auditor can check it
/// offline with ``ExportVerifier``.
public enum ExportedLog {
    /// One line of an export.
    public enum Line: Sendable {
        /// An event and the hash its record must have.
        case event(RecordedEvent, hash: [UInt8])
        /// A signed checkpoint.
        case checkpoint(Checkpoint)
    }

    /// Reads line number `number` (1-based, for messages); `nil` for a blank line.
    public static func parse(_ line: [UInt8], number: Int) throws(ImportError) -> Line? {
        if line.allSatisfy({ $0 == 0x20 || $0 == 0x0D }) { return nil }
        let json: JSON
        do {
            json = try JSON.parse(line)
        } catch {
            throw ImportError("line \(number): not JSON: \(error)")
        }
        if let member = json["checkpoint"] {
            guard let checkpoint = Checkpoint(json: member) else {
                throw ImportError("line \(number): malformed checkpoint")
            }
            return .checkpoint(checkpoint)
        }
        let (event, hash) = try ExportedLog.event(fromEnvelope: json, line: number)
        return .event(event, hash: hash)
    }

    /// Rebuilds an event and its hash from an exported envelope.
    public static func event(fromEnvelope envelope: JSON, line: Int) throws(ImportError) -> (RecordedEvent, [UInt8]) {
        func fail(_ field: String) -> ImportError { ImportError("line \(line): missing or invalid \(field)") }
        func time(_ field: String) throws(ImportError) -> Int64 {
            guard let text = envelope[field]?.stringValue, let millis = Timestamp.parse(text) else { throw fail(field) }
            return millis
        }
        guard let seq = envelope["seq"]?.intValue, seq > 0 else { throw fail("seq") }
        guard let stream = envelope["stream"]?.stringValue else { throw fail("stream") }
        guard let version = envelope["stream_version"]?.intValue, version > 0 else { throw fail("stream_version") }
        guard let type = envelope["type"]?.stringValue else { throw fail("type") }
        guard let schema = envelope["schema_version"]?.intValue, schema >= 1 else { throw fail("schema_version") }
        if let stored = envelope["stored_schema_version"]?.intValue, stored != schema {
            // `events.read` upcast this event: its payload is not the stored one and cannot hash to it.
            throw ImportError(
                "line \(line): event \(seq) was read upcast from schema version \(stored) to \(schema); export with "
                    + "crmctl export (events.read with upcast: false) to keep the stored payloads"
            )
        }
        guard schema <= EventSchema.currentVersion(of: type) else {
            throw ImportError(
                "line \(line): event \(seq) is \(type) schema version \(schema), newer than this crmd reads "
                    + "(\(EventSchema.currentVersion(of: type)))"
            )
        }
        guard let actor = envelope["actor"], let uid = actor["uid"]?.intValue, let gid = actor["gid"]?.intValue,
            let uid32 = UInt32(exactly: uid), let gid32 = UInt32(exactly: gid)
        else { throw fail("actor") }
        guard let hashText = envelope["hash"]?.stringValue, let hash = bytes(hex: hashText), hash.count == 32
        else { throw fail("hash") }
        let causation = envelope["causation_seq"]?.intValue
        let event = RecordedEvent(
            seq: UInt64(seq),
            stream: stream,
            streamVersion: UInt64(version),
            type: type,
            schemaVersion: Int(schema),
            occurredAt: try time("occurred_at"),
            recordedAt: try time("recorded_at"),
            actor: Actor(uid: uid32, gid: gid32, onBehalfOf: actor["on_behalf_of"]?.stringValue),
            commandID: envelope["command_id"]?.stringValue,
            correlationID: envelope["correlation_id"]?.stringValue,
            causationSeq: causation.map { UInt64($0) },
            data: envelope["data"] ?? .null,
            pii: envelope["pii"] ?? .null
        )
        return (event, hash)
    }
}

/// Checks an exported log without the daemon: recomputes the hash chain from the events (from
/// genesis when the export starts at position 1, else from the first event's own hash) and checks
/// every checkpoint against a trusted public key and the recomputed hash at its position. The
/// report has the shape of `audit.verify`'s.
public struct ExportVerifier {
    private var audit: CheckpointAudit
    private var checkpoints: [UInt64: Checkpoint] = [:]
    private var previousHash: [UInt8]?
    private var first: UInt64?
    private var last: UInt64 = 0
    private var checked: UInt64 = 0
    private var broken: (position: UInt64, expected: [UInt8], found: [UInt8])?

    public init(trustedKey: Curve25519.Signing.PublicKey) { self.audit = CheckpointAudit(trustedKey: trustedKey) }

    /// Takes the next line of the export, in file order.
    public mutating func add(_ line: ExportedLog.Line) {
        switch line {
        case .checkpoint(let checkpoint):
            self.checkpoints[checkpoint.position] = checkpoint
        case .event(let event, let hash):
            guard self.broken == nil else { return }
            if self.first == nil {
                self.first = event.seq
                if event.seq == 1 { self.previousHash = EventRecord.genesisHash }
            }
            guard event.seq == self.last + 1 || self.last == 0 else {
                self.broken = (self.last + 1, [], [])
                return
            }
            self.last = event.seq
            if let previous = self.previousHash {
                let recomputed = EventRecord.hash(EventRecord.encode(event, previousHash: previous))
                guard recomputed == hash else {
                    self.broken = (event.seq, hash, recomputed)
                    return
                }
            }
            self.previousHash = hash
            self.checked += 1
            if let checkpoint = self.checkpoints.removeValue(forKey: event.seq) {
                self.audit.check(checkpoint, chainHash: hash)
            }
        }
    }

    /// The verification report.
    public func report() -> JSON {
        var audit = self.audit
        // Checkpoints past the last event verified: their positions were never reached.
        for checkpoint in self.checkpoints.values.sorted(by: { $0.position < $1.position }) {
            audit.check(checkpoint, chainHash: nil)
        }
        let to = self.broken.map { $0.position - 1 } ?? self.last
        return [
            "ok": .bool(self.broken == nil && audit.firstBad == nil),
            "checked": .int(Int64(self.checked)),
            "from": .int(Int64(self.first ?? 1)),
            "to": .int(Int64(to)),
            "hash": self.previousHash.map { .string(hexString($0)) } ?? .null,
            "broken_at": self.broken.map { .int(Int64($0.position)) } ?? .null,
            "expected_hash": self.broken.map { .string(hexString($0.expected)) } ?? .null,
            "found_hash": self.broken.map { .string(hexString($0.found)) } ?? .null,
            "signatures": audit.json(to: to),
        ]
    }
}
