import CRMEventStore
import Crypto
import Foundation
import Glibc
import LMDB
import Logging
import Synchronization

/// The data keys of personal data (one random AES-256 key per subject key id, see
/// ``CRMDomain/PiiSubject``), kept wrapped with the key-encryption key (KEK, AES key wrap, RFC 3394)
/// in a small LMDB environment of its own, `<data_dir>/keys` (0700), never in the main environment:
/// a hot backup of the data holds no key, and deleting a subject's key (erasure) leaves its personal
/// data in the log, the read models and every backup unreadable.
///
/// The KEK is a 32-byte file `kek-<epoch>.key` (0400) in the KEK directory, which must not be inside
/// the data directory nor in its backups. The first start of a new data directory creates epoch 1
/// and logs where; a start whose key store names an epoch whose file is missing is refused.
///
/// New data keys are created on the writer thread while a batch is folded and kept pending; the
/// writer commits them to the key store (``commitPending()``, fsynced) before the batch's own
/// commit, so no acknowledged event is ever encrypted under a key that is not durable. A key left
/// pending by a batch that then failed is harmless (it protects nothing).
final class KeyStore: PiiKeys, @unchecked Sendable {
    // @unchecked: `environment` is used for reads from any thread (MDB_NOTLS read transactions) and
    // written on the writer thread only; the mutable state sits behind mutexes.
    private let environment: Environment
    private let keys: Database
    private let kek: SymmetricKey
    /// The KEK's epoch (its file is `kek-<epoch>.key`).
    let epoch: Int
    /// Unwrapped keys read or created so far.
    private let cache = Mutex<[String: SymmetricKey]>([:])
    /// Keys created since the last ``commitPending()``: key id → stored row.
    private let pending = Mutex<[String: [UInt8]]>([:])

    static let directoryName = "keys"
    static let epochKey = "kek_epoch"

    /// Opens (creating when `create`) the key store of `dataDirectory` with the KEK from
    /// `kekDirectory`. Refuses, with what to do, when the store's KEK file is missing or does not
    /// unwrap its keys.
    init(dataDirectory: String, kekDirectory: String, create: Bool, logger: Logger) throws {
        let kekDirectory = URL(fileURLWithPath: kekDirectory).standardizedFileURL.path
        let data = URL(fileURLWithPath: dataDirectory).standardizedFileURL.path
        guard kekDirectory != data, !kekDirectory.hasPrefix(data + "/") else {
            throw StartupError(
                "the key-encryption key directory \(kekDirectory) is inside the data directory; it must be "
                    + "outside it, so that copies of the data never hold the key that opens them"
            )
        }
        let path = dataDirectory + "/" + KeyStore.directoryName
        let exists = access(path + "/data.mdb", F_OK) == 0
        guard exists || create else {
            throw StartupError(
                "the log of \(dataDirectory) holds encrypted personal data but its key store \(path) is missing; "
                    + "restore it (it is backed up separately from the data) or nothing personal can be read"
            )
        }
        if !exists { try PrivateFiles.createDirectories(path) }
        var options = Environment.Options()
        options.mapSize = 64 << 20
        options.maxDatabases = 4
        let environment = try Environment(path: path, options: options)
        let (keys, meta, stored) = try environment.write { txn in
            let meta = try txn.openDatabase("meta")
            return (
                try txn.openDatabase("dek"), meta,
                try txn.get(meta, KeyStore.epochKey).flatMap { Int(String(decoding: $0, as: UTF8.self)) }
            )
        }
        let epoch = stored ?? 1
        let file = kekDirectory + "/kek-\(epoch).key"
        let kek: SymmetricKey
        if let bytes = FileManager.default.contents(atPath: file) {
            guard bytes.count == 32 else {
                throw StartupError("key-encryption key \(file) has \(bytes.count) bytes, expected 32")
            }
            kek = SymmetricKey(data: bytes)
        } else if stored == nil {
            kek = try KeyStore.createKEK(file, directory: kekDirectory)
            logger.notice(
                "created the key-encryption key that protects personal data",
                metadata: [
                    "file": "\(file)",
                    "keep": "outside the data directory and its backups; without it no personal data can be read",
                ]
            )
        } else {
            throw StartupError(
                "the key-encryption key \(file) is missing: crmd cannot read the personal data of \(dataDirectory) "
                    + "without it. Restore it (it is never part of the data directory's backups) or set kek_dir "
                    + "to the directory that holds it"
            )
        }
        if stored == nil {
            try environment.write { txn in try txn.put(meta, KeyStore.epochKey, Array(String(epoch).utf8)) }
        }
        self.environment = environment
        self.keys = keys
        self.kek = kek
        self.epoch = epoch
        try self.checkKEK(file)
    }

    /// Writes a new random KEK to `file` (0400, in a 0700 directory).
    private static func createKEK(_ file: String, directory: String) throws -> SymmetricKey {
        try PrivateFiles.createDirectories(directory)
        let key = SymmetricKey(size: .bits256)
        let descriptor = try PrivateFiles.createFile(file)
        defer { close(descriptor) }
        let written = key.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        guard written == 32, fchmod(descriptor, 0o400) == 0, fsync(descriptor) == 0 else {
            throw PrivateFiles.error("cannot write key-encryption key \(file)")
        }
        return key
    }

    /// Refuses a KEK that does not unwrap the first stored key (the wrong file for this store).
    private func checkKEK(_ file: String) throws {
        let first = try self.environment.read { txn in
            try txn.withCursor(self.keys) { cursor in try cursor.first().map { Array($0.value) } }
        }
        guard let first else { return }
        guard (try? self.unwrap(first)) != nil else {
            throw StartupError(
                "the key-encryption key \(file) does not open the keys of this data directory: "
                    + "it belongs to another crmd, or was changed. Restore the right one"
            )
        }
    }

    // MARK: - PiiKeys

    func readingKey(_ kid: String) -> SymmetricKey? {
        if let key = self.cache.withLock({ $0[kid] }) { return key }
        guard let row = (try? self.environment.read { txn in try txn.get(self.keys, kid) }) ?? nil,
            let key = try? self.unwrap(row)
        else { return nil }
        self.cache.withLock { $0[kid] = key }
        return key
    }

    func writingKey(_ kid: String) throws -> SymmetricKey {
        if let key = self.readingKey(kid) { return key }
        let key = SymmetricKey(size: .bits256)
        let wrapped = try AES.KeyWrap.wrap(key, using: self.kek)
        var row = [UInt8](String(self.epoch).utf8) + [0]
        row += wrapped
        self.pending.withLock { $0[kid] = row }
        self.cache.withLock { $0[kid] = key }
        return key
    }

    /// Commits the keys created since the last call, durably, before the writer commits the events
    /// they encrypt. Writer thread only.
    func commitPending() throws {
        let rows = self.pending.withLock { pending in
            defer { pending = [:] }
            return pending
        }
        guard !rows.isEmpty else { return }
        do {
            try self.environment.write { txn in
                for (kid, row) in rows.sorted(by: { $0.key < $1.key }) { try txn.put(self.keys, kid, row) }
            }
        } catch {
            // Kept for the next batch: the keys are cached, so later events may use them too.
            self.pending.withLock { $0.merge(rows) { current, _ in current } }
            throw error
        }
    }

    /// The key in a stored row: `<epoch>`, 0, the wrapped key.
    private func unwrap(_ row: [UInt8]) throws -> SymmetricKey {
        guard let separator = row.firstIndex(of: 0) else { throw StartupError("key row without an epoch") }
        return try AES.KeyWrap.unwrap(Array(row[(separator + 1)...]), using: self.kek)
    }
}
