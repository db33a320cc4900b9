import CLMDB

/// An error reported by liblmdb, or by the `LMDB` wrapper for misuse it detects.
///
/// `code` is the C return code (an `errno` value or one of the `MDB_*` codes); the description is the
/// library's own text from `mdb_strerror`. Switch on it with the static constants:
///
/// ```swift
/// catch let error as LMDBError where error == .mapFull { … }
/// ```
public struct LMDBError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The C return code.
    public let code: Int32

    public init(code: Int32) { self.code = code }

    /// `MDB_NOTFOUND`: key/data pair not found.
    public static let notFound = LMDBError(code: MDB_NOTFOUND)
    /// `MDB_KEYEXIST`: key/data pair already exists.
    public static let keyExists = LMDBError(code: MDB_KEYEXIST)
    /// `MDB_MAP_FULL`: environment mapsize reached.
    public static let mapFull = LMDBError(code: MDB_MAP_FULL)
    /// `MDB_DBS_FULL`: environment maxdbs reached.
    public static let databasesFull = LMDBError(code: MDB_DBS_FULL)
    /// `MDB_READERS_FULL`: environment maxreaders reached.
    public static let readersFull = LMDBError(code: MDB_READERS_FULL)
    /// `MDB_TXN_FULL`: transaction has too many dirty pages.
    public static let transactionFull = LMDBError(code: MDB_TXN_FULL)
    /// `MDB_CORRUPTED`: located page was wrong type.
    public static let corrupted = LMDBError(code: MDB_CORRUPTED)
    /// `MDB_INVALID`: file is not an LMDB file.
    public static let invalid = LMDBError(code: MDB_INVALID)
    /// `MDB_VERSION_MISMATCH`: environment version mismatch.
    public static let versionMismatch = LMDBError(code: MDB_VERSION_MISMATCH)
    /// `MDB_BAD_VALSIZE`: unsupported size of key/DB name/data, or wrong DUPFIXED size.
    public static let badValueSize = LMDBError(code: MDB_BAD_VALSIZE)

    public var description: String {
        guard let text = mdb_strerror(self.code) else { return "LMDB error \(self.code)" }
        return "\(String(cString: text)) (LMDB code \(self.code))"
    }
}

/// The one choke point turning a C return code into a thrown ``LMDBError``.
@inline(__always)
func check(_ rc: Int32) throws(LMDBError) {
    if rc != 0 { throw LMDBError(code: rc) }
}
