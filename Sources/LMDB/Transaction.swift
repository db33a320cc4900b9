import CLMDB

/// An LMDB transaction, available only inside ``Environment/read(_:)`` and
/// ``Environment/write(_:)`` closures. Do not keep it or any pointer it hands out beyond the closure.
/// There are no nested transactions: crmd undoes a failed part of a write transaction by aborting it
/// whole and running it again (and they would rule out `MDB_WRITEMAP`).
public final class Transaction {
    let handle: OpaquePointer
    unowned let environment: Environment
    /// Whether writes are allowed.
    public let isWritable: Bool
    private var finished = false

    init(_ handle: OpaquePointer, environment: Environment, writable: Bool) {
        self.handle = handle
        self.environment = environment
        self.isWritable = writable
    }

    func abort() {
        guard !self.finished else { return }
        self.finished = true
        mdb_txn_abort(self.handle)
    }

    /// Ends a read transaction with `mdb_txn_reset`, keeping its handle for `mdb_txn_renew`; `nil`
    /// when it has ended already.
    func reset() -> OpaquePointer? {
        guard !self.finished else { return nil }
        self.finished = true
        mdb_txn_reset(self.handle)
        return self.handle
    }

    func commit() throws {
        self.finished = true
        // lmdb.h, mdb_txn_commit: "The transaction handle is freed. It and its cursors must not be used
        // again after this call" — whether or not it succeeded.
        try check(mdb_txn_commit(self.handle))
    }

    // MARK: - Databases

    /// Opens a named database inside this transaction.
    public func openDatabase(_ name: String, create: Bool = true) throws -> Database {
        var dbi: MDB_dbi = 0
        try check(mdb_dbi_open(self.handle, name, create ? UInt32(MDB_CREATE) : 0, &dbi))
        return Database(dbi: dbi)
    }

    /// Removes every entry of `database` (keeping the database itself).
    public func clear(_ database: Database) throws {
        try check(mdb_drop(self.handle, database.dbi, 0))
    }

    /// The number of entries in `database`.
    public func count(_ database: Database) throws -> Int {
        var stat = MDB_stat()
        try check(mdb_stat(self.handle, database.dbi, &stat))
        return stat.ms_entries
    }

    // MARK: - Reading

    // The generic entry points below are inlinable wrappers around non-generic cores, so that a
    // caller in another module gets them specialized for its key and result types: unspecialized,
    // each call instantiated generic metadata at run time (a tenth of a `customer.find`).

    /// Calls `body` with the value stored under `key`, or returns `nil` when there is none. The buffer
    /// points into the map and is valid only during `body`.
    @inlinable
    public func withValue<T>(
        _ database: Database,
        _ key: some ContiguousBytesLike,
        _ body: (UnsafeRawBufferPointer) throws -> T
    ) throws -> T? {
        guard let value = try key.withBytes({ try self.value(database, $0) }) else { return nil }
        return try body(value)
    }

    /// The value stored under `key` (in the map: valid until the transaction writes or ends), or `nil`.
    @usableFromInline
    func value(_ database: Database, _ key: UnsafeRawBufferPointer) throws -> UnsafeRawBufferPointer? {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val()
        let rc = mdb_get(self.handle, database.dbi, &k, &v)
        if rc == MDB_NOTFOUND { return nil }
        try check(rc)
        return UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size)
    }

    /// A copy of the value stored under `key`, or `nil`.
    @inlinable
    public func get(_ database: Database, _ key: some ContiguousBytesLike) throws -> [UInt8]? {
        try self.withValue(database, key) { Array($0) }
    }

    // MARK: - Writing

    /// Options for ``put(_:_:_:flags:)``.
    public struct PutFlags: OptionSet, Sendable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        /// Fail with ``LMDBError/keyExists`` instead of overwriting.
        public static let noOverwrite = PutFlags(rawValue: UInt32(MDB_NOOVERWRITE))
        /// The key sorts after every existing key (fast path for sequence numbers).
        public static let append = PutFlags(rawValue: UInt32(MDB_APPEND))
    }

    /// Stores `value` under `key`.
    @inlinable
    public func put(
        _ database: Database,
        _ key: some ContiguousBytesLike,
        _ value: some ContiguousBytesLike,
        flags: PutFlags = []
    ) throws {
        try key.withBytes { keyBytes in
            try value.withBytes { valueBytes in try self.put(database, keyBytes, valueBytes, flags.rawValue) }
        }
    }

    /// ``put(_:_:_:flags:)`` of bytes.
    @usableFromInline
    func put(_ database: Database, _ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, _ flags: UInt32)
        throws
    {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
        try check(mdb_put(self.handle, database.dbi, &k, &v, flags))
    }

    /// Deletes `key`; returns whether it existed.
    @inlinable
    @discardableResult
    public func delete(_ database: Database, _ key: some ContiguousBytesLike) throws -> Bool {
        try key.withBytes { try self.delete(database, $0) }
    }

    /// ``delete(_:_:)`` of bytes.
    @usableFromInline
    func delete(_ database: Database, _ key: UnsafeRawBufferPointer) throws -> Bool {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        let rc = mdb_del(self.handle, database.dbi, &k, nil)
        if rc == MDB_NOTFOUND { return false }
        try check(rc)
        return true
    }

    // MARK: - Cursors

    /// Runs `body` with a cursor over `database`, closed when `body` returns.
    public func withCursor<T>(_ database: Database, _ body: (Cursor) throws -> T) throws -> T {
        var raw: OpaquePointer?
        try check(mdb_cursor_open(self.handle, database.dbi, &raw))
        defer { mdb_cursor_close(raw) }
        return try body(Cursor(raw!))
    }
}

@available(*, unavailable)
extension Transaction: Sendable {}

/// A position in a database, available only inside ``Transaction/withCursor(_:_:)``. Entries handed out point into the map and are valid until the cursor
/// moves or its transaction ends.
public final class Cursor {
    let handle: OpaquePointer

    init(_ handle: OpaquePointer) { self.handle = handle }

    /// A key and value at the cursor, pointing into the map.
    public struct Entry {
        /// A copy of the key.
        public var keyBytes: [UInt8] { Array(self.key) }
        /// A copy of the value.
        public var valueBytes: [UInt8] { Array(self.value) }
        public let key: UnsafeRawBufferPointer
        public let value: UnsafeRawBufferPointer
    }

    private func move(_ op: MDB_cursor_op, key: UnsafeRawBufferPointer? = nil) throws -> Entry? {
        var k = MDB_val(mv_size: key?.count ?? 0, mv_data: UnsafeMutableRawPointer(mutating: key?.baseAddress))
        var v = MDB_val()
        let rc = mdb_cursor_get(self.handle, &k, &v, op)
        if rc == MDB_NOTFOUND { return nil }
        try check(rc)
        return Entry(
            key: UnsafeRawBufferPointer(start: k.mv_data, count: k.mv_size),
            value: UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size)
        )
    }

    /// Moves to the first entry.
    public func first() throws -> Entry? { try self.move(MDB_FIRST) }
    /// Moves to the last entry.
    public func last() throws -> Entry? { try self.move(MDB_LAST) }
    /// Moves to the next entry.
    public func next() throws -> Entry? { try self.move(MDB_NEXT) }
    /// Moves to the previous entry.
    public func previous() throws -> Entry? { try self.move(MDB_PREV) }

    /// Moves to the first entry whose key is greater than or equal to `key`.
    public func seek(atOrAfter key: some ContiguousBytesLike) throws -> Entry? {
        try key.withBytes { bytes in try self.move(MDB_SET_RANGE, key: bytes) }
    }

    /// Moves to the last entry whose key is less than or equal to `key`.
    public func seek(atOrBefore key: some ContiguousBytesLike) throws -> Entry? {
        let target = key.bytesArray
        if let entry = try self.seek(atOrAfter: target) {
            if entry.key.elementsEqual(target) { return entry }
            return try self.previous()
        }
        return try self.last()
    }
}

/// Byte containers accepted as keys and values.
public protocol ContiguousBytesLike {
    /// Calls `body` with the bytes.
    func withBytes<T>(_ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T
}

extension ContiguousBytesLike {
    var bytesArray: [UInt8] { self.withBytes { Array($0) } }
}

extension Array: ContiguousBytesLike where Element == UInt8 {
    @inlinable
    public func withBytes<T>(_ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        try self.withUnsafeBytes(body)
    }
}

extension ArraySlice: ContiguousBytesLike where Element == UInt8 {
    @inlinable
    public func withBytes<T>(_ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        try self.withUnsafeBytes(body)
    }
}

extension String: ContiguousBytesLike {
    @inlinable
    public func withBytes<T>(_ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        var copy = self
        return try copy.withUTF8 { try body(UnsafeRawBufferPointer($0)) }
    }
}

extension UnsafeRawBufferPointer: ContiguousBytesLike {
    @inlinable
    public func withBytes<T>(_ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T { try body(self) }
}

@available(*, unavailable)
extension Cursor: Sendable {}
