import CRMDomain
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
/// Keys are numbered. The key store holds `number → wrapped key`; each envelope names its key's
/// number (`kn`), and the main environment holds which number each subject has (`pii_keys`: key id
/// → number), written in the same transaction as the first event it encrypts. Numbers are handed
/// out from a pool of keys already committed (and fsynced) to the key store, refilled a few hundred
/// at a time in the background before it runs out, so no acknowledged event is ever encrypted under a
/// key that is not durable, and a batch that creates subjects waits for no second fsync. A number
/// handed out by a batch that then failed, or left in the pool at shutdown, is never used again (it
/// protects nothing).
///
/// Number 0 is not a subject's key: it is the index key, under which read models and the decision
/// state key their indexes over personal values (keyed hashes, see ``CRMEventStore/RowCipher``). It is
/// wrapped, rotated and backed up like the data keys, and never erased.
final class KeyStore: PiiKeys, @unchecked Sendable {
    // @unchecked: the environment is read from any thread (MDB_NOTLS read transactions) and written on
    // the writer thread only, always behind its lock; the other mutable state sits behind mutexes.
    /// The environment, `nil` only if reopening it after a compaction failed. Every transaction holds
    /// the lock, so a compaction can close and reopen it while none runs (key reads are rare: the
    /// unwrapped keys are cached).
    private var environment: Environment?
    /// Held by every transaction of ``environment`` and by a compaction.
    private let lock = NSLock()
    /// Where the environment is: `<data_dir>/keys`.
    private let directory: String
    private let keys: Database
    private let meta: Database
    /// Erased subjects: key id → ``Tombstone`` (no key material).
    private let shredded: Database
    /// The key-encryption keys this process knows by epoch, and the current epoch: a row is unwrapped
    /// with the KEK of the epoch it names, and new rows are wrapped with the current one. Held while
    /// the key store is written, so a pool refill never wraps with a KEK a rotation is replacing.
    private let keks: Mutex<(current: Int, byEpoch: [Int: SymmetricKey])>
    /// Where the KEK files are.
    let kekDirectory: String
    /// The main environment's `pii_keys` table: which key number each subject has.
    private let assignments: Database
    /// The current KEK's epoch (its file is `kek-<epoch>.key`).
    var epoch: Int { self.keks.withLock { $0.current } }
    /// Unwrapped keys by number.
    private let cache = Mutex<[UInt64: SymmetricKey]>([:])
    /// Committed key numbers not handed out yet (the next at the end), and whether a refill is
    /// running in the background.
    private let pool = Mutex<(numbers: [UInt64], refilling: Bool)>(([], false))
    /// Where the pool is refilled in the background (`sync` on it waits for a refill under way).
    let refiller = DispatchQueue(label: "crmd-key-pool")

    static let directoryName = "keys"
    /// The main environment's table of which key number each subject has.
    static let assignmentsTable = "pii_keys"
    static let epochKey = "kek_epoch"
    static let nextNumberKey = "next_key"
    /// Keys added to the pool at a time.
    static let poolRefill = 256
    /// Keys left in the pool when a refill starts in the background.
    static let poolLowWater = 64

    /// Opens (creating when `create`) the key store of `dataDirectory` with the KEK from
    /// `kekDirectory`, and the subjects' key numbers in `main` (the data directory's environment).
    /// Refuses, with what to do, when the store's KEK file is missing or does not unwrap its keys.
    init(dataDirectory: String, kekDirectory: String, main: Environment, create: Bool, logger: Logger) throws {
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
        let environment = try Environment(path: path, options: KeyStore.options)
        let (keys, meta, shredded, stored) = try environment.write { txn in
            let meta = try txn.openDatabase("meta")
            return (
                try txn.openDatabase("dek"), meta, try txn.openDatabase("shredded"),
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
        self.directory = path
        self.keys = keys
        self.meta = meta
        self.shredded = shredded
        self.keks = Mutex((epoch, [epoch: kek]))
        self.kekDirectory = kekDirectory
        self.assignments = try main.write { txn in try txn.openDatabase(KeyStore.assignmentsTable) }
        try self.checkKEK(file)
        try self.createIndexKey()
    }

    /// How the key store's environment is opened: a sparse map (≈ 100 bytes per key, so a gigabyte
    /// holds millions of subjects) and its three tables.
    private static var options: Environment.Options {
        var options = Environment.Options()
        options.mapSize = 1 << 30
        options.maxDatabases = 4
        return options
    }

    /// Runs `body` with the environment, which no compaction replaces meanwhile.
    private func withEnvironment<Result>(_ body: (Environment) throws -> Result) throws -> Result {
        self.lock.lock()
        defer { self.lock.unlock() }
        guard let environment = self.environment else {
            throw KeyStoreError("the key store could not be reopened after compacting it; restart crmd")
        }
        return try body(environment)
    }

    /// A read transaction of the key store.
    private func readTransaction<Result>(_ body: (Transaction) throws -> Result) throws -> Result {
        try self.withEnvironment { try $0.read(body) }
    }

    /// A write transaction of the key store (committed with fsync).
    private func writeTransaction<Result>(_ body: (Transaction) throws -> Result) throws -> Result {
        try self.withEnvironment { try $0.write(body) }
    }

    /// The number of the index key (never a subject's).
    static let indexKeyNumber: UInt64 = 0

    /// Stores a new index key unless the store has one (a store created before index keys existed
    /// gets one at its next start; its read models are rebuilt with it).
    private func createIndexKey() throws {
        let number = keyNumber(KeyStore.indexKeyNumber)
        try self.keks.withLock { keks in
            try self.writeTransaction { txn in
                guard try txn.get(self.keys, number) == nil else { return }
                let kek = keks.byEpoch[keks.current]!
                let wrapped = try AESKeyWrap.wrap([SymmetricKey(size: .bits256)], using: kek)[0]
                try txn.put(self.keys, number, KeyStore.row(epoch: keks.current, wrapped: wrapped))
            }
        }
    }

    /// The cipher of the rows of read models and decision state over these keys.
    func rowCipher() throws -> RowCipher {
        guard let indexKey = self.readingKey(KeyStore.indexKeyNumber) else {
            throw KeyStoreError("the index key is not in the key store")
        }
        return RowCipher(keys: self, indexKey: indexKey)
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
        let first = try self.readTransaction { txn in
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

    /// How new events of a log are sealed with these keys: each under the key of its subject, read
    /// from the decision state `decisionState` folds, in the appending transaction.
    func sealing(by decisionState: DecisionStateProjector) -> PiiSealing {
        PiiSealing(keys: self) { event, stream, txn in
            try PiiSubject.keyID(for: event, stream: stream, state: decisionState.state(txn))
        }
    }

    // MARK: - PiiKeys

    func readingKey(_ number: UInt64) -> SymmetricKey? {
        if let key = self.cache.withLock({ $0[number] }) { return key }
        guard let key = try? self.key(number: keyNumber(number)) else { return nil }
        self.cache.withLock { $0[number] = key }
        return key
    }

    func loadAll() throws {
        let known = self.cache.withLock { Set($0.keys) }
        // The rows are read under the key store's lock and unwrapped after it (unwrapping takes the KEK
        // lock, which refills and rotations take before the key store's).
        let rows = try self.readTransaction { txn -> [(UInt64, [UInt8])] in
            try txn.withCursor(self.keys) { cursor in
                var rows: [(UInt64, [UInt8])] = []
                var entry = try cursor.first()
                while let found = entry {
                    let number = readBigEndian(Array(found.key))
                    if !known.contains(number) { rows.append((number, Array(found.value))) }
                    entry = try cursor.next()
                }
                return rows
            }
        }
        // Unwrapped many at a time, by the KEK of their epoch. A row that does not unwrap (damaged, an
        // unknown epoch) is left out: its subject reads as unavailable, as it would at its first use.
        var byEpoch: [Int: [(number: UInt64, wrapped: [UInt8])]] = [:]
        for (number, row) in rows {
            guard let (epoch, wrapped) = try? KeyStore.parse(row) else { continue }
            byEpoch[epoch, default: []].append((number, wrapped))
        }
        let keks = self.keks.withLock { $0.byEpoch }
        var loaded: [(UInt64, SymmetricKey)] = []
        loaded.reserveCapacity(rows.count)
        for (epoch, rows) in byEpoch {
            guard let kek = keks[epoch] else { continue }
            for (row, key) in zip(rows, AESKeyWrap.unwrap(rows.map(\.wrapped), using: kek)) {
                if let key { loaded.append((row.number, key)) }
            }
        }
        self.cache.withLock { cache in for (number, key) in loaded { cache[number] = key } }
    }

    func writingKey(_ kid: String, _ txn: Transaction) throws -> (key: SymmetricKey, number: UInt64) {
        if let stored = try txn.get(self.assignments, kid) {
            let number = readBigEndian(stored)
            guard let key = self.readingKey(number) else {
                throw KeyStoreError("data key \(number) of \(kid) is not in the key store")
            }
            return (key, number)
        }
        let number = try self.nextNumber()
        try txn.put(self.assignments, kid, keyNumber(number))
        guard let key = self.readingKey(number) else {
            throw KeyStoreError("data key \(number) is not in the key store")
        }
        return (key, number)
    }

    /// The key stored under the big-endian `number`.
    private func key(number: [UInt8]) throws -> SymmetricKey {
        guard let row = try self.readTransaction({ txn in try txn.get(self.keys, number) }) else {
            throw KeyStoreError("data key \(number) is not in the key store")
        }
        return try self.unwrap(row)
    }

    /// A committed key number from the pool. The pool is refilled in the background when it runs
    /// low, so that the writer does not wait for the key store's commit; here only when it is empty
    /// (the first new subject after a start, or subjects arriving faster than a refill).
    private func nextNumber() throws -> UInt64 {
        let (number, refill) = self.pool.withLock { pool -> (UInt64?, Bool) in
            let number = pool.numbers.popLast()
            let refill = number != nil && pool.numbers.count < KeyStore.poolLowWater && !pool.refilling
            if refill { pool.refilling = true }
            return (number, refill)
        }
        if refill {
            self.refiller.async {
                // A failure here is met again, and reported, by the refill of an empty pool.
                try? self.refillPool()
                self.pool.withLock { $0.refilling = false }
            }
        }
        if let number { return number }
        try self.refillPool()
        guard let number = self.pool.withLock({ $0.numbers.popLast() }) else {
            throw KeyStoreError("no data key was left after refilling the key pool")
        }
        return number
    }

    /// Returns once a refill under way in the background has ended: before the key store is given up,
    /// since one process must not open its environment again while another handle still writes it.
    func waitForRefill() async {
        await withCheckedContinuation { continuation in self.refiller.async { continuation.resume() } }
    }

    /// Creates ``poolRefill`` keys, wraps them with the current KEK, commits them to the key store
    /// (fsynced) and adds their numbers to the pool.
    private func refillPool() throws {
        let created = try self.keks.withLock { keks in
            try self.writeTransaction { txn -> [(number: UInt64, key: SymmetricKey)] in
                let first = try txn.get(self.meta, KeyStore.nextNumberKey).map { readBigEndian($0) } ?? 1
                let created = (0..<UInt64(KeyStore.poolRefill)).map { (first + $0, SymmetricKey(size: .bits256)) }
                let wrapped = try AESKeyWrap.wrap(created.map(\.1), using: keks.byEpoch[keks.current]!)
                for ((number, _), wrapped) in zip(created, wrapped) {
                    try txn.put(self.keys, keyNumber(number), KeyStore.row(epoch: keks.current, wrapped: wrapped))
                }
                try txn.put(self.meta, KeyStore.nextNumberKey, keyNumber(first + UInt64(KeyStore.poolRefill)))
                return created
            }
        }
        // Committed: the new keys are known in the clear already, so their first use unwraps nothing.
        self.cache.withLock { cache in for (number, key) in created { cache[number] = key } }
        // Handed out in ascending order: the new numbers, all above those still in the pool, go first
        // in the array and are popped from its end last.
        self.pool.withLock { pool in pool.numbers = created.map(\.number).reversed() + pool.numbers }
    }

    /// A stored row: the KEK epoch in decimal, 0, the wrapped key.
    private static func row(epoch: Int, wrapped: [UInt8]) -> [UInt8] {
        Array(String(epoch).utf8) + [0] + wrapped
    }

    /// The epoch and wrapped key of a stored row.
    private static func parse(_ row: [UInt8]) throws -> (epoch: Int, wrapped: [UInt8]) {
        guard let separator = row.firstIndex(of: 0), let epoch = Int(String(decoding: row[..<separator], as: UTF8.self))
        else { throw KeyStoreError("key row without an epoch") }
        return (epoch, Array(row[(separator + 1)...]))
    }

    /// The key in a stored row, unwrapped with the KEK of the row's epoch.
    private func unwrap(_ row: [UInt8]) throws -> SymmetricKey {
        let (epoch, wrapped) = try KeyStore.parse(row)
        guard let kek = self.keks.withLock({ $0.byEpoch[epoch] }) else {
            throw KeyStoreError.unknownEpoch(epoch)
        }
        guard let key = AESKeyWrap.unwrap(wrapped, using: kek) else {
            throw KeyStoreError("a key row does not unwrap with the key-encryption key of its epoch \(epoch)")
        }
        return key
    }

    // MARK: - Erasure

    /// What the key store keeps of an erased subject: who, which erasure, when its key was deleted and
    /// under which KEK epoch, and what the erasure recorded that is not personal (the keyed hashes of
    /// the addresses, the names of the erased fields), so that an erasure a restored log lacks can be
    /// appended again. No key material.
    struct Tombstone: Sendable, Hashable {
        var customerID: String
        /// The position of the `CustomerErased` event.
        var erasedSeq: UInt64
        /// When the key was deleted (UTC milliseconds).
        var deletedAt: Int64
        /// The KEK epoch when it was deleted: a rotation past it makes stale copies useless.
        var epoch: Int
        var emailHashes: [String] = []
        var phoneHashes: [String] = []
        var erasedFields: [String] = []

        /// Format 2 adds the hashes and fields; format 1 (written before) reads with none.
        static let rowFormat: UInt8 = 2

        func encoded() -> [UInt8] {
            var row = BinaryRowWriter()
            row.byte(Self.rowFormat)
            row.string(self.customerID)
            row.varint(self.erasedSeq)
            row.int(self.deletedAt)
            row.int(Int64(self.epoch))
            row.strings(self.emailHashes)
            row.strings(self.phoneHashes)
            row.strings(self.erasedFields)
            return row.bytes
        }

        init(customerID: String, erasedSeq: UInt64, deletedAt: Int64, epoch: Int) {
            self.customerID = customerID
            self.erasedSeq = erasedSeq
            self.deletedAt = deletedAt
            self.epoch = epoch
        }

        init(decoding bytes: [UInt8]) throws(StateDecodingError) {
            var row = BinaryRowReader(bytes, what: "key tombstone")
            let format = try row.byte()
            guard format == 1 || format == Self.rowFormat else {
                throw StateDecodingError("key tombstone has unknown row format \(format)")
            }
            self.init(
                customerID: try row.string(), erasedSeq: try row.varint(), deletedAt: try row.int(),
                epoch: Int(try row.int())
            )
            if format == Self.rowFormat {
                self.emailHashes = try row.strings()
                self.phoneHashes = try row.strings()
                self.erasedFields = try row.strings()
            }
            try row.finish()
        }
    }

    /// Deletes the data keys of `subjects` (of `erasure`, customer `customerID`'s) in one key-store
    /// transaction (fsynced), leaving a tombstone for each, and forgets them; returns the numbers of
    /// the keys it deleted (a subject without a key, or erased before, deletes none).
    func shred(
        _ subjects: [String],
        customerID: String,
        erasure: CustomerErasure,
        main: Environment
    ) throws -> [UInt64] {
        let numbers = try main.read { txn in
            try subjects.map { subject in try txn.get(self.assignments, subject).map(readBigEndian) }
        }
        let now = Int64((Date().timeIntervalSince1970 * 1000).rounded())
        let deleted = try self.keks.withLock { keks in
            try self.writeTransaction { txn -> [UInt64] in
                var deleted: [UInt64] = []
                for (subject, number) in zip(subjects, numbers) {
                    if let number, try txn.delete(self.keys, keyNumber(number)) { deleted.append(number) }
                    guard try txn.get(self.shredded, subject) == nil else { continue }
                    var tombstone = Tombstone(
                        customerID: customerID, erasedSeq: erasure.seq, deletedAt: now, epoch: keks.current
                    )
                    tombstone.emailHashes = erasure.emailHashes
                    tombstone.phoneHashes = erasure.phoneHashes
                    tombstone.erasedFields = erasure.erasedFields
                    try txn.put(self.shredded, subject, tombstone.encoded())
                }
                return deleted
            }
        }
        self.cache.withLock { cache in for number in numbers.compactMap({ $0 }) { cache[number] = nil } }
        AESGCM.forgetIdleContexts()
        return deleted
    }

    /// The erasures the tombstones record, one per erased customer with the subjects whose keys it
    /// destroyed, in the order of their positions.
    func recordedErasures() throws -> [(customerID: String, erasure: CustomerErasure)] {
        var byCustomer: [String: CustomerErasure] = [:]
        try self.readTransaction { txn in
            try txn.withCursor(self.shredded) { cursor in
                var entry = try cursor.first()
                while let found = entry {
                    let kid = String(decoding: found.key, as: UTF8.self)
                    let tombstone = try Tombstone(decoding: found.valueBytes)
                    var erasure =
                        byCustomer[tombstone.customerID]
                        ?? CustomerErasure(
                            seq: tombstone.erasedSeq, at: tombstone.deletedAt, keyIDs: [],
                            emailHashes: tombstone.emailHashes, phoneHashes: tombstone.phoneHashes,
                            erasedFields: tombstone.erasedFields
                        )
                    erasure.keyIDs.append(kid)
                    byCustomer[tombstone.customerID] = erasure
                    entry = try cursor.next()
                }
            }
        }
        return byCustomer.map { ($0.key, $0.value) }
            .sorted { ($0.erasure.seq, $0.customerID) < ($1.erasure.seq, $1.customerID) }
    }

    /// The tombstone of subject `kid`, or `nil` when it was not erased.
    func tombstone(_ kid: String) throws -> Tombstone? {
        try self.readTransaction { txn in try txn.get(self.shredded, kid) }.map { try Tombstone(decoding: $0) }
    }

    func erasedSeq(of kid: String) -> UInt64? {
        (try? self.tombstone(kid))?.erasedSeq
    }

    /// Whether the data key of subject `kid` is still in the key store.
    func holdsKey(of kid: String, main: Environment) throws -> Bool {
        guard let number = try main.read({ txn in try txn.get(self.assignments, kid) }).map(readBigEndian) else {
            return false
        }
        return try self.readTransaction { txn in try txn.get(self.keys, keyNumber(number)) != nil }
    }

    /// When the key-encryption key was last replaced (UTC milliseconds), if ever.
    var rotatedAt: Int64? {
        guard let bytes = try? self.readTransaction({ txn in try txn.get(self.meta, KeyStore.rotatedAtKey) })
        else { return nil }
        return Int64(String(decoding: bytes, as: UTF8.self))
    }

    static let rotatedAtKey = "kek_rotated_at"

    // MARK: - KEK rotation

    /// What a rotation did.
    struct Rotation: Sendable {
        var from: Int
        var to: Int
        var keys: Int
    }

    /// Replaces the key-encryption key: writes `kek-<epoch+1>.key`, re-wraps every data key with it in
    /// one key-store transaction (fsynced), then overwrites and deletes the old KEK file and compacts
    /// the key store (``compact()``). Afterwards a stale copy of the key store (an old copy of `keys/`)
    /// is wrapped with a key that no longer exists, and the file itself holds no deleted key. A crash
    /// before the commit leaves the old KEK in use (the new file is an unused spare); after it, the old
    /// file may remain until the next rotation deletes it.
    func rotate(logger: Logger) throws -> Rotation {
        try self.keks.withLock { keks in
            let from = keks.current
            let to = from + 1
            let file = self.kekDirectory + "/kek-\(to).key"
            if access(file, F_OK) == 0 { try KeyStore.destroy(file) }
            let kek = try KeyStore.createKEK(file, directory: self.kekDirectory)
            var known = keks.byEpoch
            known[to] = kek
            let count = try self.writeTransaction { txn -> Int in
                let rows = try txn.withCursor(self.keys) { cursor -> [([UInt8], [UInt8])] in
                    var rows: [([UInt8], [UInt8])] = []
                    var entry = try cursor.first()
                    while let found = entry {
                        rows.append((Array(found.key), Array(found.value)))
                        entry = try cursor.next()
                    }
                    return rows
                }
                // Unwrapped by the KEK of their epoch and wrapped again, many at a time.
                let parsed = try rows.map { number, row in (number, try KeyStore.parse(row)) }
                for epoch in Set(parsed.map(\.1.epoch)).sorted() {
                    guard let old = known[epoch] else { throw KeyStoreError.unknownEpoch(epoch) }
                    let ofEpoch = parsed.filter { $0.1.epoch == epoch }
                    var keys: [SymmetricKey] = []
                    keys.reserveCapacity(ofEpoch.count)
                    for ((number, _), key) in zip(ofEpoch, AESKeyWrap.unwrap(ofEpoch.map(\.1.wrapped), using: old)) {
                        guard let key else {
                            throw KeyStoreError(
                                "key row \(readBigEndian(number)) does not unwrap with the KEK of epoch \(epoch)"
                            )
                        }
                        keys.append(key)
                    }
                    for ((number, _), rewrapped) in zip(ofEpoch, try AESKeyWrap.wrap(keys, using: kek)) {
                        try txn.put(self.keys, number, KeyStore.row(epoch: to, wrapped: rewrapped))
                    }
                }
                try txn.put(self.meta, KeyStore.epochKey, Array(String(to).utf8))
                let now = Int64((Date().timeIntervalSince1970 * 1000).rounded())
                try txn.put(self.meta, KeyStore.rotatedAtKey, Array(String(now).utf8))
                return rows.count
            }
            keks = (to, known)
            for epoch in known.keys where epoch != to {
                let old = self.kekDirectory + "/kek-\(epoch).key"
                if access(old, F_OK) == 0 { try KeyStore.destroy(old) }
            }
            try self.compact()
            logger.notice(
                "rotated the key-encryption key",
                metadata: ["from": "\(from)", "to": "\(to)", "keys": "\(count)", "file": "\(file)"]
            )
            return Rotation(from: from, to: to, keys: count)
        }
    }

    /// Rewrites the key store's file without its free pages, which may still hold rows deleted or
    /// replaced since (a deleted key, keys wrapped with an older KEK): a compacted copy (fsynced)
    /// takes the file's place while the environment is closed, then it is opened again. Runs after
    /// each rotation, so an erasure leaves no copy of its keys in the key store's file at all.
    private func compact() throws {
        let file = self.directory + "/data.mdb"
        let copy = file + ".compact"
        self.lock.lock()
        defer { self.lock.unlock() }
        do {
            guard self.environment != nil else { throw KeyStoreError("the key store is closed") }
            if access(copy, F_OK) == 0 { unlink(copy) }
            do {
                let descriptor = try PrivateFiles.createFile(copy)
                defer { close(descriptor) }
                try self.environment!.copy(toFile: descriptor, compact: true)
                guard fsync(descriptor) == 0 else { throw PrivateFiles.error("cannot sync \(copy)") }
            } catch {
                unlink(copy)
                throw error
            }
            // No transaction runs (each holds the lock): close, replace, reopen.
            self.environment = nil
            let replaced = rename(copy, file) == 0
            if replaced {
                let directory = open(self.directory, O_RDONLY)
                if directory >= 0 {
                    fsync(directory)
                    close(directory)
                }
            }
            let environment = try Environment(path: self.directory, options: KeyStore.options)
            // In the order `init` opened them, so that they get the handles they had.
            let tables = try environment.write { txn in
                [try txn.openDatabase("meta"), try txn.openDatabase("dek"), try txn.openDatabase("shredded")]
            }
            guard tables == [self.meta, self.keys, self.shredded] else {
                throw KeyStoreError("the key store's tables changed handles when it was reopened")
            }
            self.environment = environment
            guard replaced else { throw PrivateFiles.error("cannot replace \(file) with its compacted copy") }
        }
    }

    /// A compacted copy of the key store at `<directory>/keys-<epoch>/data.mdb` (0600 in a 0700
    /// directory), taken in one read transaction; its path. The copy opens only with the KEK of its
    /// epoch: keep it with that key file, apart from the data's backups.
    func backup(into directory: String) throws -> String {
        let target = directory + "/keys-\(self.epoch)"
        try PrivateFiles.createDirectories(directory)
        if access(target + "/data.mdb", F_OK) == 0 { try FileManager.default.removeItem(atPath: target) }
        try PrivateFiles.createDirectories(target)
        let descriptor = try PrivateFiles.createFile(target + "/data.mdb")
        defer { close(descriptor) }
        try self.withEnvironment { try $0.copy(toFile: descriptor, compact: true) }
        guard fsync(descriptor) == 0 else { throw PrivateFiles.error("cannot sync \(target)/data.mdb") }
        return target
    }

    /// Overwrites the KEK file `path` with zeros, syncs it and deletes it.
    private static func destroy(_ path: String) throws {
        _ = chmod(path, 0o600)
        let descriptor = open(path, O_WRONLY | O_CLOEXEC)
        if descriptor >= 0 {
            let zeros = [UInt8](repeating: 0, count: 32)
            _ = zeros.withUnsafeBytes { write(descriptor, $0.baseAddress, 32) }
            _ = fsync(descriptor)
            close(descriptor)
        }
        guard unlink(path) == 0 || errno == ENOENT else { throw PrivateFiles.error("cannot delete \(path)") }
    }
}

/// A damaged or missing entry of the key store.
struct KeyStoreError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }

    /// A row wrapped with the KEK of `epoch`, which this process does not hold.
    static func unknownEpoch(_ epoch: Int) -> KeyStoreError {
        KeyStoreError("key row of epoch \(epoch), whose key-encryption key this crmd does not hold")
    }
}

/// `number` as 8 big-endian bytes: the key of a data key in the key store, and the value of a
/// subject's entry in `pii_keys`.
func keyNumber(_ number: UInt64) -> [UInt8] {
    (0..<8).map { UInt8(truncatingIfNeeded: number >> (56 - 8 * UInt64($0))) }
}

/// The big-endian integer in the first 8 bytes of `bytes` (0 when shorter).
private func readBigEndian(_ bytes: [UInt8]) -> UInt64 {
    guard bytes.count >= 8 else { return 0 }
    return bytes.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
}
