import Glibc
import LMDB

/// Tells a full disk apart from other storage failures, so clients get `storage_full` instead of
/// `internal`.
enum StorageSpace {
    /// Below this many free bytes an I/O error is taken for a full disk.
    static let nearlyFullBytes: UInt64 = 4 << 20

    /// Whether `error` means the file system holding `path` has no room: `ENOSPC`, `EDQUOT` or
    /// `EFBIG`, or `EIO` while the file system has almost no free space (some file systems, tmpfs
    /// among them, report a write into a full mapping that way).
    static func isFull(_ error: LMDBError, path: String) -> Bool {
        switch error.code {
        case ENOSPC, EDQUOT, EFBIG: return true
        case EIO: return StorageSpace.freeBytes(path).map { $0 < StorageSpace.nearlyFullBytes } ?? false
        default: return false
        }
    }

    /// Bytes available to unprivileged writers on the file system holding `path`.
    static func freeBytes(_ path: String) -> UInt64? {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return nil }
        return UInt64(info.f_bavail) * UInt64(info.f_frsize)
    }
}
