import CLMDB
import Glibc

/// An LMDB environment: one memory-mapped file holding named databases.
///
/// Open exactly one `Environment` per data directory per process (`lmdb.h`: "Do not have open an LMDB
/// database twice in the same process at the same time") and own it in the composition root.
///
/// Transactions are closure-scoped: ``read(_:)`` always ends its transaction, ``write(_:)`` commits
/// when the closure returns and aborts when it throws. Closures are synchronous, so a transaction
/// never spans an `await` and never leaves its thread. The environment is opened with `MDB_NOTLS`, so
/// read transactions may be used from any thread; write transactions must all come from one thread
/// (the daemon's writer).
///
/// When a write hits `MDB_MAP_FULL`, ``write(_:)`` aborts it, doubles the map size while no read
/// transaction is open (a readers–writer lock guards every read), and runs the closure again: write
/// closures must therefore not have effects outside the transaction before they return.
public final class Environment {
    /// Settings fixed when the environment is opened.
    public struct Options: Sendable {
        /// Initial map size in bytes; the file is sparse (unless ``writeMap``), and the map doubles on
        /// `MDB_MAP_FULL`.
        public var mapSize: Int = 1 << 30
        /// Maximum number of named databases.
        public var maxDatabases: UInt32 = 64
        /// Maximum number of concurrent read transactions.
        public var maxReaders: UInt32 = 256
        /// Skip fsync on commit. Never set in the default configuration: acknowledged commands must
        /// survive power loss.
        public var noSync: Bool = false
        /// Write pages through the map (`MDB_WRITEMAP`, with `MDB_NORDAHEAD`) instead of `pwrite`:
        /// the page cache then holds the file in 4 KiB pages, so a commit writes back only the pages it
        /// changed (`pwrite` of runs of new pages makes large folios, each written back whole). The
        /// data file is allocated on disk up to the map size (`posix_fallocate`) when the environment
        /// opens and before the map grows, since a write through the map into a hole of a full disk
        /// is a `SIGBUS`, not an error: a full disk then shows as `ENOSPC` there. Commits stay
        /// durable (`msync`). Nested transactions do not exist with it (this wrapper has none).
        public var writeMap: Bool = false
        /// File mode of the data and lock files.
        public var fileMode: mode_t = 0o600

        public init() {}
    }

    let handle: OpaquePointer
    /// Held shared by read transactions and exclusively while the map is resized.
    private let resizeLock: UnsafeMutablePointer<pthread_rwlock_t>
    /// Read transactions ended with `mdb_txn_reset`, to be renewed by the next ``read(_:)``: a renewal
    /// keeps its reader slot and memory, where a new transaction allocates both again. Guarded by
    /// `readPoolLock`; at most ``maxPooledReads``.
    private var readPool: [OpaquePointer] = []
    private let readPoolLock: UnsafeMutablePointer<pthread_mutex_t>
    /// Most reset read transactions kept (each holds a reader slot).
    static let maxPooledReads = 8
    /// The directory holding `data.mdb` and `lock.mdb`.
    public let path: String

    /// Opens (creating if needed) the environment in directory `path`.
    public init(path: String, options: Options = Options()) throws {
        var env: OpaquePointer?
        try check(mdb_env_create(&env))
        guard let env else { throw LMDBError(code: ENOMEM) }
        do {
            try check(mdb_env_set_mapsize(env, options.mapSize))
            try check(mdb_env_set_maxdbs(env, options.maxDatabases))
            try check(mdb_env_set_maxreaders(env, options.maxReaders))
            var flags = UInt32(MDB_NOTLS)
            if options.noSync { flags |= UInt32(MDB_NOSYNC) }
            if options.writeMap { flags |= UInt32(MDB_WRITEMAP) | UInt32(MDB_NORDAHEAD) }
            if mkdir(path, 0o750) != 0 && errno != EEXIST { throw LMDBError(code: errno) }
            try check(mdb_env_open(env, path, flags, options.fileMode))
            if options.writeMap {
                var info = MDB_envinfo()
                mdb_env_info(env, &info)
                try Environment.allocate(env, bytes: info.me_mapsize)
            }
        } catch {
            // lmdb.h, mdb_env_open: "If this function fails, mdb_env_close() must be called to discard
            // the MDB_env handle."
            mdb_env_close(env)
            throw error
        }
        self.handle = env
        self.path = path
        self.resizeLock = .allocate(capacity: 1)
        pthread_rwlock_init(self.resizeLock, nil)
        self.readPoolLock = .allocate(capacity: 1)
        pthread_mutex_init(self.readPoolLock, nil)
    }

    deinit {
        for reset in self.readPool { mdb_txn_abort(reset) }
        pthread_mutex_destroy(self.readPoolLock)
        self.readPoolLock.deallocate()
        mdb_env_close(self.handle)
        pthread_rwlock_destroy(self.resizeLock)
        self.resizeLock.deallocate()
    }

    // MARK: - Databases

    /// Opens the named database `name`, creating it when `create` is true. Database handles stay valid
    /// for the life of the environment.
    public func openDatabase(_ name: String, create: Bool = true) throws -> Database {
        try self.write { txn in try txn.openDatabase(name, create: create) }
    }

    // MARK: - Transactions

    /// Runs `body` in a read-only transaction, which is aborted when `body` returns. Values read
    /// point into the map and must be copied out before returning.
    public func read<T>(_ body: (Transaction) throws -> T) throws -> T {
        pthread_rwlock_rdlock(self.resizeLock)
        defer { pthread_rwlock_unlock(self.resizeLock) }
        let txn = Transaction(try self.beginRead(), environment: self, writable: false)
        defer {
            if let reset = txn.reset() { self.pool(reset) }
        }
        return try body(txn)
    }

    /// A read transaction: a pooled one renewed, or a new one.
    private func beginRead() throws -> OpaquePointer {
        pthread_mutex_lock(self.readPoolLock)
        let pooled = self.readPool.popLast()
        pthread_mutex_unlock(self.readPoolLock)
        if let pooled {
            let rc = mdb_txn_renew(pooled)
            if rc == MDB_SUCCESS { return pooled }
            mdb_txn_abort(pooled)
        }
        var raw: OpaquePointer?
        try check(mdb_txn_begin(self.handle, nil, UInt32(MDB_RDONLY), &raw))
        return raw!
    }

    /// Keeps a reset read transaction for ``beginRead()``, or aborts it when the pool is full.
    private func pool(_ reset: OpaquePointer) {
        pthread_mutex_lock(self.readPoolLock)
        let kept = self.readPool.count < Self.maxPooledReads
        if kept { self.readPool.append(reset) }
        pthread_mutex_unlock(self.readPoolLock)
        if !kept { mdb_txn_abort(reset) }
    }

    /// How many reset read transactions wait to be renewed (for tests).
    var pooledReads: Int {
        pthread_mutex_lock(self.readPoolLock)
        defer { pthread_mutex_unlock(self.readPoolLock) }
        return self.readPool.count
    }

    /// Runs `body` in a write transaction: committed (with fsync unless `noSync`) when `body`
    /// returns, aborted when it throws. On `MDB_MAP_FULL` the map is grown and `body` runs again.
    public func write<T>(_ body: (Transaction) throws -> T) throws -> T {
        while true {
            do {
                return try self.writeOnce(body)
            } catch let error as LMDBError where error == .mapFull {
                try self.growMap()
            }
        }
    }

    private func writeOnce<T>(_ body: (Transaction) throws -> T) throws -> T {
        var raw: OpaquePointer?
        try check(mdb_txn_begin(self.handle, nil, 0, &raw))
        let txn = Transaction(raw!, environment: self, writable: true)
        let value: T
        do {
            value = try body(txn)
        } catch {
            txn.abort()
            throw error
        }
        try txn.commit()
        return value
    }

    /// Doubles the map size. Waits for open read transactions to end first, since `lmdb.h` allows
    /// `mdb_env_set_mapsize` only "if no transactions are active in this process".
    private func growMap() throws {
        pthread_rwlock_wrlock(self.resizeLock)
        defer { pthread_rwlock_unlock(self.resizeLock) }
        let size = self.mapSize * 2
        if self.writeMap { try Environment.allocate(self.handle, bytes: size) }
        try check(mdb_env_set_mapsize(self.handle, size))
    }

    /// Allocates the data file of `env` on disk up to `bytes` (see ``Options/writeMap``); throws
    /// `ENOSPC` (and the like) when the disk has no room for it. The map is not grown then, so LMDB
    /// never writes past what is allocated.
    private static func allocate(_ env: OpaquePointer, bytes: Int) throws {
        var descriptor: Int32 = -1
        try check(mdb_env_get_fd(env, &descriptor))
        let status = posix_fallocate(descriptor, 0, off_t(bytes))
        guard status == 0 else { throw LMDBError(code: status) }
    }

    /// Whether pages are written through the map (``Options/writeMap``).
    public var writeMap: Bool {
        var flags: UInt32 = 0
        mdb_env_get_flags(self.handle, &flags)
        return flags & UInt32(MDB_WRITEMAP) != 0
    }

    // MARK: - Information

    /// The current map size in bytes.
    public var mapSize: Int {
        var info = MDB_envinfo()
        mdb_env_info(self.handle, &info)
        return info.me_mapsize
    }

    /// Bytes of the data file actually in use (last used page + 1, times the page size).
    public var usedBytes: Int {
        var info = MDB_envinfo()
        mdb_env_info(self.handle, &info)
        var stat = MDB_stat()
        mdb_env_stat(self.handle, &stat)
        return (info.me_last_pgno + 1) * Int(stat.ms_psize)
    }

    /// The id of the last committed write transaction: it moves only when a commit wrote something.
    public var lastTransactionID: Int {
        var info = MDB_envinfo()
        mdb_env_info(self.handle, &info)
        return info.me_last_txnid
    }

    /// Flushes buffers to disk (used after writes made with `noSync`).
    public func sync() throws { try check(mdb_env_sync(self.handle, 1)) }

    /// Copies the environment to directory `path` (which must exist and be empty), compacting it.
    /// Safe while the daemon runs: it uses a read transaction.
    public func copy(to path: String, compact: Bool = true) throws {
        try check(mdb_env_copy2(self.handle, path, compact ? UInt32(MDB_CP_COMPACT) : 0))
    }

    /// Copies the environment into the open file `descriptor` (a data file the caller created with
    /// the mode it wants), compacting it. Safe while the daemon runs: it uses a read transaction.
    public func copy(toFile descriptor: Int32, compact: Bool = true) throws {
        try check(mdb_env_copyfd2(self.handle, descriptor, compact ? UInt32(MDB_CP_COMPACT) : 0))
    }
}

@available(*, unavailable)
extension Environment: Sendable {}

/// A handle to a named database inside an ``Environment``.
public struct Database: Sendable, Hashable {
    let dbi: MDB_dbi
}
