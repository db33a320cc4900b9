import CRMDomain
import CRMEventStore
import CRMJSON
import Foundation
import LMDB
public import Logging

/// Loads an NDJSON export of a log (one `events.read` envelope per line, as `crmctl export` writes
/// it) into an empty data directory.
///
/// Every event is re-encoded and chained to the log being built, and its hash must equal the
/// `hash` in the export, so the imported log has exactly the same head hash as the exported one; an
/// altered or truncated line stops the import with its line number. Events keep the schema version
/// they were stored with (an export holds stored payloads, see `events.read`'s `upcast: false`); they
/// are upcast when read, like any event of an older schema. An upcast envelope (one whose
/// `stored_schema_version` differs from its `schema_version`) or a schema version newer than this
/// crmd knows is refused. Read models are not copied:
/// they are folded from the imported log when crmd next opens the directory. Idempotency replies are
/// not part of the log and are not imported. Memory use does not grow with the file: events are
/// committed in chunks.
public enum LogImport {
    /// The outcome of an import.
    public struct Summary: Sendable {
        public var events: UInt64
        public var headHash: String
    }

    /// Imports the export read from `input` into `dataDirectory`, which must hold no events.
    /// `progress` is called after each committed chunk with the number of events imported so far.
    public static func run(
        input: FileHandle,
        dataDirectory: String,
        logger: Logger,
        chunkSize: Int = 10_000,
        progress: (UInt64) -> Void = { _ in }
    ) throws -> Summary {
        let lock = try DataDirectoryLock(directory: dataDirectory)
        defer { _ = lock }
        let environment = try DataFiles.openEnvironment(directory: dataDirectory, options: Environment.Options())
        let store = try EventStore(environment: environment)
        guard try environment.read({ txn in try store.head(txn).seq }) == 0 else {
            throw StartupError("\(dataDirectory) already holds events; import needs an empty data directory")
        }
        var lines = LineReader(handle: input)
        var lineNumber = 0
        var imported: UInt64 = 0
        var head = LogHead(seq: 0, hash: EventRecord.genesisHash)
        var pending: [(event: RecordedEvent, hash: [UInt8], line: Int)] = []

        func commit() throws {
            guard !pending.isEmpty else { return }
            head = try environment.write { txn in
                var last = head
                for entry in pending {
                    do {
                        last = try store.appendExported(entry.event, expectedHash: entry.hash, txn)
                    } catch let error as ImportError {
                        throw ImportError("line \(entry.line): \(error.description)")
                    }
                }
                return last
            }
            imported += UInt64(pending.count)
            pending.removeAll(keepingCapacity: true)
            progress(imported)
        }

        while let line = try lines.next() {
            lineNumber += 1
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x0D }) { continue }
            let envelope: JSON
            do {
                envelope = try JSON.parse(line)
            } catch {
                throw ImportError("line \(lineNumber): not JSON: \(error)")
            }
            let (event, hash) = try LogImport.event(fromEnvelope: envelope, line: lineNumber)
            pending.append((event, hash, lineNumber))
            if pending.count >= chunkSize { try commit() }
        }
        try commit()
        logger.info("imported log", metadata: ["events": "\(imported)", "head_hash": "\(hexString(head.hash))"])
        return Summary(events: imported, headHash: hexString(head.hash))
    }

    /// Rebuilds an event and its hash from an exported envelope.
    static func event(fromEnvelope envelope: JSON, line: Int) throws -> (RecordedEvent, [UInt8]) {
        func fail(_ field: String) -> ImportError { ImportError("line \(line): missing or invalid \(field)") }
        func time(_ field: String) throws -> Int64 {
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
        guard let hashText = envelope["hash"]?.stringValue, let hash = LogImport.bytes(hex: hashText), hash.count == 32
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

    static func bytes(hex: String) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(digits.count / 2)
        var index = 0
        while index < digits.count {
            guard let high = LogImport.nibble(digits[index]), let low = LogImport.nibble(digits[index + 1]) else {
                return nil
            }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }

    static func nibble(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return digit - UInt8(ascii: "a") + 10
        default: return nil
        }
    }
}

/// Reads `\n`-terminated lines from a file handle in 64 KiB chunks.
struct LineReader {
    let handle: FileHandle
    var buffer: [UInt8] = []
    var start = 0
    var atEnd = false

    mutating func next() throws -> [UInt8]? {
        while true {
            if let newline = self.buffer[self.start...].firstIndex(of: 0x0A) {
                let line = Array(self.buffer[self.start..<newline])
                self.start = newline + 1
                return line
            }
            if self.atEnd {
                guard self.start < self.buffer.count else { return nil }
                let line = Array(self.buffer[self.start...])
                self.start = self.buffer.count
                return line
            }
            self.buffer.removeFirst(self.start)
            self.start = 0
            let chunk = try self.handle.read(upToCount: 1 << 16) ?? Data()
            if chunk.isEmpty { self.atEnd = true } else { self.buffer.append(contentsOf: chunk) }
        }
    }
}
