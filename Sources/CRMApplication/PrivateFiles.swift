import Glibc

/// Files and directories only their owner may read, whatever the process umask: for copies of the
/// log (backups), which hold everything the data directory holds.
enum PrivateFiles {
    /// Creates `path` and any missing parent with mode 0700; an existing directory is left as it is.
    static func createDirectories(_ path: String) throws {
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, 0o700) == 0 {
                _ = chmod(prefix, 0o700)
            } else if errno != EEXIST {
                throw PrivateFiles.error("cannot create directory \(prefix)")
            }
        }
    }

    /// Creates the new directory `path` with mode 0700; fails if it exists.
    static func createDirectory(_ path: String) throws {
        guard mkdir(path, 0o700) == 0 else { throw PrivateFiles.error("cannot create directory \(path)") }
        _ = chmod(path, 0o700)
    }

    /// Creates the new file `path` with mode 0600 and returns its descriptor, open for writing.
    static func createFile(_ path: String) throws -> Int32 {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw PrivateFiles.error("cannot create \(path)") }
        _ = fchmod(descriptor, 0o600)
        return descriptor
    }

    /// An error naming what failed and `errno`'s text.
    static func error(_ what: String) -> StartupError {
        StartupError("\(what): \(String(cString: strerror(errno)))")
    }
}
