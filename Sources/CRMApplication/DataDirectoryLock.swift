import Glibc
import Synchronization

/// An exclusive `flock` on `<data dir>/crmd.lock`, held for the life of the daemon so that a second
/// crmd on the same data directory stops with a clear message instead of corrupting state.
public final class DataDirectoryLock: Sendable {
    private let descriptor: Int32
    private let held = Mutex(true)
    /// Path of the lock file.
    public let path: String

    /// Takes the lock, creating the directory and the lock file if needed.
    public init(directory: String) throws {
        if mkdir(directory, 0o750) != 0 && errno != EEXIST {
            throw StartupError("cannot create data directory \(directory): \(String(cString: strerror(errno)))")
        }
        self.path = directory + "/crmd.lock"
        let fd = open(self.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw StartupError("cannot open lock file \(self.path): \(String(cString: strerror(errno)))")
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            close(fd)
            if code == EWOULDBLOCK {
                throw StartupError(
                    "data directory \(directory) is in use by another crmd (lock \(self.path) is held); "
                        + "stop it first or use another --data-dir"
                )
            }
            throw StartupError("cannot lock \(self.path): \(String(cString: strerror(code)))")
        }
        // Record who holds the lock, for operators.
        let pid = "\(getpid())\n"
        _ = ftruncate(fd, 0)
        _ = pid.withCString { write(fd, $0, strlen($0)) }
        self.descriptor = fd
    }

    /// Gives the lock up before this object goes away (at shutdown, once nothing writes any more).
    public func release() {
        let wasHeld = self.held.withLock { held in
            defer { held = false }
            return held
        }
        if wasHeld { flock(self.descriptor, LOCK_UN) }
    }

    deinit {
        self.release()
        close(self.descriptor)
    }
}

/// A problem that stops the daemon from starting, with a message meant for the operator.
public struct StartupError: Error, Sendable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) { self.description = description }
}
