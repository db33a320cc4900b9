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
        /// Whether the log's personal data is encrypted: then the directory needs the source's key
        /// store (`keys/`) and key-encryption key before crmd can read it.
        public var encryptedPersonalData: Bool
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
        var encrypted = false
        var subjectKeys: [String: UInt64] = [:]

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

        var checkpoints: [(checkpoint: Checkpoint, line: Int)] = []
        while let line = try lines.next() {
            lineNumber += 1
            switch try ExportedLog.parse(line, number: lineNumber) {
            case .event(let event, let hash)?:
                if case .untyped(let payload) = event.event,
                    let header = payload.piiText.withUnsafeBytes({ PiiEnvelope.header($0) })
                {
                    encrypted = true
                    // Which key each subject has, as the exporting crmd recorded it (the last one).
                    subjectKeys[header.kid] = header.number
                }
                pending.append((event, hash, lineNumber))
                if pending.count >= chunkSize { try commit() }
            case .checkpoint(let checkpoint)?:
                checkpoints.append((checkpoint, lineNumber))
            case nil:
                continue
            }
        }
        try commit()
        // Signed checkpoints are kept as they are (signed by the exporting crmd's key), once each is
        // known to sign the imported log's hash at its position.
        let table = try CheckpointTable(environment: environment)
        try environment.write { txn in
            for (checkpoint, line) in checkpoints {
                guard try store.recordHash(at: checkpoint.position, txn) == checkpoint.hash else {
                    throw ImportError(
                        "line \(line): the checkpoint at position \(checkpoint.position) does not sign the imported "
                            + "log's hash there: the export was altered or is incomplete"
                    )
                }
                try table.put(checkpoint, txn)
            }
            if encrypted {
                try txn.put(store.meta, CoreStorage.protectionKey, CoreStorage.protectionValue)
                let table = try txn.openDatabase(KeyStore.assignmentsTable)
                for (kid, number) in subjectKeys.sorted(by: { $0.key < $1.key }) {
                    try txn.put(table, kid, keyNumber(number))
                }
            }
        }
        logger.info("imported log", metadata: ["events": "\(imported)", "head_hash": "\(hexString(head.hash))"])
        return Summary(events: imported, headHash: hexString(head.hash), encryptedPersonalData: encrypted)
    }
}
