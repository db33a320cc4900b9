import Glibc
import Synchronization

/// An exclusive `flock` on the data directory itself, held for the life of the daemon, so that a
/// second crmd (or `crmd import`) on the same data stops with a clear message instead of writing
/// beside the first.
///
/// The lock is taken on the directory's own inode, not on a file inside it: deleting `crmd.lock` or
/// LMDB's `lock.mdb` while crmd runs does not release it. `crmd.lock` is still written, holding the
/// pid of the holder for operators, and also locked, so an older crmd that knows only that file
/// stops too.
public final class DataDirectoryLock: Sendable {
    private let directoryDescriptor: Int32
    private let fileDescriptor: Int32
    private let held = Mutex(true)
    /// Path of the pid file (`<data dir>/crmd.lock`).
    public let path: String

    /// Takes the lock, creating the directory and the pid file if needed.
    public init(directory: String) throws {
        if mkdir(directory, 0o750) != 0 && errno != EEXIST {
            throw StartupError("cannot create data directory \(directory): \(String(cString: strerror(errno)))")
        }
        self.path = directory + "/crmd.lock"
        let directoryFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directoryFD >= 0 else {
            throw StartupError("cannot open data directory \(directory): \(String(cString: strerror(errno)))")
        }
        if flock(directoryFD, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            close(directoryFD)
            throw DataDirectoryLock.lockError(code, directory: directory, pidFile: self.path)
        }
        let fd = open(self.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            let code = errno
            close(directoryFD)
            throw StartupError("cannot open lock file \(self.path): \(String(cString: strerror(code)))")
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            close(fd)
            close(directoryFD)
            throw DataDirectoryLock.lockError(code, directory: directory, pidFile: self.path)
        }
        // Record who holds the lock, for operators.
        let pid = "\(getpid())\n"
        _ = ftruncate(fd, 0)
        _ = pid.withCString { write(fd, $0, strlen($0)) }
        self.directoryDescriptor = directoryFD
        self.fileDescriptor = fd
    }

    /// The error for a failed `flock`, naming the holder's pid when the pid file still tells it.
    private static func lockError(_ code: Int32, directory: String, pidFile: String) -> StartupError {
        guard code == EWOULDBLOCK else {
            return StartupError("cannot lock data directory \(directory): \(String(cString: strerror(code)))")
        }
        var holder = ""
        let fd = open(pidFile, O_RDONLY | O_CLOEXEC)
        if fd >= 0 {
            var buffer = [UInt8](repeating: 0, count: 32)
            let count = read(fd, &buffer, buffer.count)
            close(fd)
            if count > 0, let pid = Int(String(decoding: buffer[..<count], as: UTF8.self).filter(\.isNumber)) {
                holder = " (pid \(pid))"
            }
        }
        return StartupError(
            "data directory \(directory) is in use by another crmd\(holder); stop it first or use another --data-dir"
        )
    }

    /// Gives the lock up before this object goes away (at shutdown, once nothing writes any more).
    public func release() {
        let wasHeld = self.held.withLock { held in
            defer { held = false }
            return held
        }
        if wasHeld {
            flock(self.fileDescriptor, LOCK_UN)
            flock(self.directoryDescriptor, LOCK_UN)
        }
    }

    deinit {
        self.release()
        close(self.fileDescriptor)
        close(self.directoryDescriptor)
    }
}

/// A problem that stops the daemon from starting, with a message meant for the operator.
public struct StartupError: Error, Sendable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) { self.description = description }
}
