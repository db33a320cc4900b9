import CRMDomain
import CRMEventStore
import CRMJSON
import CRMParams
import Foundation
import Glibc
import LMDB

extension QueryRouter {
    /// `system.backup {name?}`: a compacted hot copy of the whole environment (log, decision state,
    /// read models, idempotency table) into `<backup_dir>/<name>/data.mdb`, taken inside one read
    /// transaction so it is consistent while commands keep committing. Clients name only the
    /// subdirectory (an id), never a path.
    func backup(_ params: JSON?) throws -> JSON {
        var reader = try Params(params)
        let requested = try reader.identifier("name")
        try reader.finish()
        guard let root = self.configuration.backupDirectory else {
            throw Rejection(.invalidField, field: "name", "backups are not configured (set backup_dir)")
        }
        let name = requested ?? "backup-" + Timestamp.format(CRMCore.nowMillis())
            .replacingOccurrences(of: ":", with: "").replacingOccurrences(of: ".", with: "-")
        let target = root + "/" + name
        try PrivateFiles.createDirectories(root)
        guard !FileManager.default.fileExists(atPath: target) else {
            throw Rejection(.alreadyExists, field: "name", "backup \(name) already exists")
        }
        // A backup holds the whole log: owner only (0700 directory, 0600 file), whatever the umask.
        try PrivateFiles.createDirectory(target)
        do {
            let descriptor = try PrivateFiles.createFile(target + "/data.mdb")
            defer { close(descriptor) }
            try self.environment.copy(toFile: descriptor, compact: true)
            guard fsync(descriptor) == 0 else { throw PrivateFiles.error("cannot sync \(target)/data.mdb") }
        } catch {
            try? FileManager.default.removeItem(atPath: target)
            throw error
        }
        // What the copy holds: open it (a different file, so allowed) and read its head.
        let copy = try Environment(path: target)
        let copyStore = try EventStore(environment: copy)
        let head = try copy.read { txn in try copyStore.head(txn) }
        let size = (try? FileManager.default.attributesOfItem(atPath: target + "/data.mdb")[.size] as? Int) ?? 0
        return [
            "name": .string(name), "path": .string(target), "bytes": .int(Int64(size)),
            "head": ["position": .int(Int64(head.seq)), "hash": .string(hexString(head.hash))],
        ]
    }
}
