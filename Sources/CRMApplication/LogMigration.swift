import CRMDomain
import CRMEventStore
import CRMJSON
import CRMParams
import Foundation
import Glibc
import LMDB
import Logging

extension QueryRouter {
    /// `system.migrate {to, encrypt_pii: true}` (admin): copies a log whose personal data is stored in
    /// plain text into a new data directory `to` whose log encrypts it, event by event at the same
    /// positions, stream versions, times and actors, each `pii` sealed under its subject's key (a new
    /// key store in `<to>/keys`, a new key-encryption key in `<to>-keys`). The hash chain cannot be
    /// kept (the records change), so the copy ends with a `LogMigrated` event in stream `system-log`
    /// that names the old head (position and hash) and the copy's head before it: the two chains are
    /// linked, and `audit.verify` of the old log still proves what was copied.
    ///
    /// The copy is taken in one read transaction: events committed after it started are not in it,
    /// so stop writes (or check `from_head`) before switching. Signed checkpoints and idempotency
    /// replies are not copied (checkpoints sign the old hashes); read models are folded when crmd
    /// first starts on `to`. Afterwards the old directory still holds the plain text: destroy it.
    func migrate(_ params: JSON?) throws -> JSON {
        var reader = try Params(params)
        let target = try reader.string("to", required: true)!
        let encrypt = try reader.bool("encrypt_pii", required: true)!
        try reader.finish()
        guard encrypt else {
            throw Rejection.invalid("encrypt_pii", "the one migration there is encrypts personal data: pass true")
        }
        guard self.store.protection == nil else {
            throw Rejection.invalid("encrypt_pii", "this log's personal data is already encrypted")
        }
        guard target.hasPrefix("/") else { throw Rejection.invalid("to", "must be an absolute path") }
        let to = URL(fileURLWithPath: target).standardizedFileURL.path
        let from = URL(fileURLWithPath: self.configuration.dataDirectory).standardizedFileURL.path
        guard to != from, !to.hasPrefix(from + "/"), !from.hasPrefix(to + "/") else {
            throw Rejection.invalid("to", "must be outside the data directory")
        }
        if let entries = try? FileManager.default.contentsOfDirectory(atPath: to), !entries.isEmpty {
            throw Rejection(.alreadyExists, field: "to", "\(to) exists and is not empty")
        }
        let kekDirectoryExisted = access(to + "-keys", F_OK) == 0
        try PrivateFiles.createDirectories(to)
        do {
            let migration = LogMigration(source: self.store, environment: self.environment, to: to, logger: self.logger)
            return try migration.run()
        } catch {
            // A copy cut short is removed, with the key made for it, so that it is never started on.
            try? FileManager.default.removeItem(atPath: to)
            if !kekDirectoryExisted { try? FileManager.default.removeItem(atPath: to + "-keys") }
            throw error
        }
    }
}

/// The copy-transform of ``QueryRouter/migrate(_:)``.
struct LogMigration {
    let source: EventStore
    let environment: Environment
    let to: String
    let logger: Logger
    /// Events per write transaction of the copy.
    static let chunkEvents = 10_000

    func run() throws -> JSON {
        let lock = try DataDirectoryLock(directory: self.to)
        defer { _ = lock }
        let target = try DataFiles.openEnvironment(directory: self.to, options: Environment.Options())
        var store = try EventStore(environment: target)
        let kekDirectory = self.to + "-keys"
        let keyStore = try KeyStore(
            dataDirectory: self.to, kekDirectory: kekDirectory, main: target, create: true, logger: self.logger
        )
        // The copy's decision state, folded as events are copied, says whose key seals each event (a
        // deal update belongs to the deal's first customer at that time); crmd refolds it on start.
        let state = try target.write { txn in
            try txn.put(store.meta, CoreStorage.protectionKey, CoreStorage.protectionValue)
            return try DecisionStateProjector(txn, cipher: keyStore.rowCipher())
        }
        store.protection = keyStore.sealing(by: state)
        let (sourceHead, copied) = try self.environment.read { sourceTxn -> (LogHead, UInt64) in
            let sourceHead = try self.source.head(sourceTxn)
            var next: UInt64 = 1
            while next <= sourceHead.seq {
                next = try target.write { txn -> UInt64 in
                    var position = next
                    try self.source.forEachRecord(from: next, sourceTxn) { seq, record in
                        guard seq <= sourceHead.seq, seq < next + UInt64(LogMigration.chunkEvents) else { return false }
                        let stored = try EventRecord.decodeStored(record)
                        var current = try EventRecord.decode(record)
                        current.personalData = try store.appendCopy(stored, current: current.event, txn).personalData
                        try state.apply(current, txn)
                        position = seq + 1
                        return true
                    }
                    return position
                }
            }
            return (sourceHead, next - 1)
        }
        let head = try target.write { txn -> LogHead in
            let copyHead = try store.head(txn)
            let now = CRMCore.nowMillis()
            let data: JSON = [
                "old_head_seq": .int(Int64(sourceHead.seq)), "old_head_hash": .string(hexString(sourceHead.hash)),
                "new_head_seq": .int(Int64(copyHead.seq)), "new_head_hash": .string(hexString(copyHead.hash)),
                "at": .string(Timestamp.format(now)),
            ]
            let stream = "system-log"
            let migrated = RecordedEvent(
                seq: copyHead.seq + 1,
                stream: stream,
                streamVersion: try store.streamHead(stream, txn).version + 1,
                occurredAt: now,
                recordedAt: now,
                actor: Actor(uid: getuid(), gid: getgid()),
                commandID: nil,
                correlationID: nil,
                causationSeq: nil,
                event: .untyped(UntypedEvent(type: "LogMigrated", schemaVersion: 1, data: data, pii: .null))
            )
            return try store.appendCopy(migrated, current: migrated.event, txn).head
        }
        self.logger.notice(
            "copied the log into an encrypted one",
            metadata: ["to": "\(self.to)", "events": "\(copied)", "head_hash": "\(hexString(head.hash))"]
        )
        return [
            "to": .string(self.to),
            "events": .int(Int64(copied)),
            "from_head": ["position": .int(Int64(sourceHead.seq)), "hash": .string(hexString(sourceHead.hash))],
            "head": ["position": .int(Int64(head.seq)), "hash": .string(hexString(head.hash))],
            "kek_dir": .string(kekDirectory),
        ]
    }
}
