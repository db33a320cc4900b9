import Glibc
import LMDB

/// Opens the LMDB environment of a data directory, refusing to start over a log that is gone.
///
/// LMDB treats an empty or missing `data.mdb` as a new environment, and a file shorter than its meta
/// page says is read through the memory map until the process dies of `SIGBUS`. So a log lost to an
/// accident or an attack would be replaced by a fresh, empty one, or kill crmd. These checks stop
/// that: once a directory has held a log it carries a marker file (`crmd.initialized`), and crmd
/// starts only when `data.mdb` is there and holds every page its meta page names. A new log is
/// created only in a directory that never held one. Call with the ``DataDirectoryLock`` held.
enum DataFiles {
    /// Name of the marker file written once the directory holds a log.
    static let markerName = "crmd.initialized"
    /// Name of LMDB's data file.
    static let dataName = "data.mdb"

    /// Checks the data file, opens the environment, checks it against its meta page and marks the
    /// directory as holding a log.
    static func openEnvironment(directory: String, options: Environment.Options) throws -> Environment {
        let dataPath = directory + "/" + DataFiles.dataName
        let markerPath = directory + "/" + DataFiles.markerName
        let hadLog = access(markerPath, F_OK) == 0
        switch DataFiles.size(of: dataPath) {
        case .none where hadLog:
            throw StartupError(
                "data file \(dataPath) is missing, but \(directory) held a log (\(markerPath) says so); "
                    + "crmd will not start a new, empty log over it. Restore data.mdb from a backup, "
                    + "or point --data-dir at a new directory"
            )
        case .some(0):
            throw StartupError(
                "data file \(dataPath) is empty (0 bytes); crmd will not start a new, empty log over it. "
                    + "Restore data.mdb from a backup; only if this directory never held a log, delete the file"
            )
        default:
            break
        }
        if options.writeMap {
            // Opening with `MDB_WRITEMAP` extends the file to the map size, which would hide a truncated
            // file behind zeros: check it through an ordinary opening first (closed again at once).
            var plain = options
            plain.writeMap = false
            _ = try DataFiles.checkedEnvironment(dataPath, directory: directory, options: plain)
        }
        let environment = try DataFiles.checkedEnvironment(dataPath, directory: directory, options: options)
        if !hadLog { try DataFiles.writeMarker(markerPath) }
        return environment
    }

    /// The environment in `directory`, opened with `options`, once its data file `dataPath` is found
    /// to hold every page its meta page names.
    private static func checkedEnvironment(
        _ dataPath: String,
        directory: String,
        options: Environment.Options
    ) throws -> Environment {
        let environment: Environment
        do {
            environment = try Environment(path: directory, options: options)
        } catch let error as LMDBError where error == .invalid || error == .versionMismatch {
            throw StartupError("data file \(dataPath) is not a readable LMDB file: \(error)")
        } catch let error as LMDBError where options.writeMap && StorageSpace.isFull(error, path: directory) {
            throw StartupError(
                "cannot allocate the data file \(dataPath) up to the map size (\(options.mapSize >> 20) MiB, "
                    + "map_size_mb) that write_map needs: the disk is full (\(error)); free space, lower "
                    + "map_size_mb or turn write_map off"
            )
        }
        if let size = DataFiles.size(of: dataPath), size < environment.usedBytes {
            throw StartupError(
                "data file \(dataPath) is truncated: it has \(size) bytes, but its meta page says the log "
                    + "uses \(environment.usedBytes); restore data.mdb from a backup"
            )
        }
        return environment
    }

    /// The size of the file at `path`, or `nil` when there is none.
    private static func size(of path: String) -> Int? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Int(info.st_size)
    }

    /// Writes the marker durably (the file and its directory entry).
    private static func writeMarker(_ path: String) throws {
        let text = "This directory holds a crmd log. crmd refuses to start here when data.mdb is missing or "
            + "empty, rather than begin a new log. Do not delete this file.\n"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw StartupError("cannot write \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        let written = text.withCString { write(fd, $0, strlen($0)) }
        guard written == text.utf8.count, fsync(fd) == 0 else {
            throw StartupError("cannot write \(path): \(String(cString: strerror(errno)))")
        }
        let directory = open(String(path[..<(path.lastIndex(of: "/") ?? path.endIndex)]), O_RDONLY | O_DIRECTORY)
        if directory >= 0 {
            _ = fsync(directory)
            close(directory)
        }
    }
}
