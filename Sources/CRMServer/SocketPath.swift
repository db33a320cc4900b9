import CRMProtocol

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Why the control socket cannot be bound at its path.
public struct SocketPathUnavailable: Error, Sendable, CustomStringConvertible {
    public var description: String

    /// An error saying `description`.
    public init(_ description: String) { self.description = description }
}

extension ControlServer {
    /// Makes `path` ready to bind a listening socket at, without ever taking a live server's socket
    /// over:
    ///
    /// - nothing there: ready;
    /// - a socket a server answers on (`connect(2)` succeeds, or its backlog is full): refused, as
    ///   another crmd (or another program) serves there;
    /// - a socket nobody listens on (`connect(2)` fails with `ECONNREFUSED`), the leftover of a
    ///   process that was killed: removed;
    /// - anything else (a regular file, a directory, a socket that cannot be checked): refused.
    ///
    /// Two servers checking at the same moment can both find the path free; then one of them fails
    /// to bind (`EADDRINUSE`).
    ///
    /// - Throws: ``SocketPathUnavailable`` naming the path and what is there.
    public static func prepareSocketPath(_ path: String) throws {
        var info = stat()
        guard lstat(path, &info) == 0 else {
            let code = errno
            if code == ENOENT { return }
            throw SocketPathUnavailable("cannot check the socket path \(path): \(String(cString: strerror(code)))")
        }
        guard info.st_mode & S_IFMT == S_IFSOCK else {
            throw SocketPathUnavailable(
                "\(path) exists and is not a socket; remove it or choose another socket path"
            )
        }
        do {
            let probe = try UnixSocketClient(path: path, timeout: .seconds(1))
            probe.close()
        } catch let error as UnixSocketClientError {
            switch error.kind {
            case .connect(errno: ECONNREFUSED):
                // Nobody listens: a stale socket file.
                guard unlink(path) == 0 || errno == ENOENT else {
                    throw SocketPathUnavailable(
                        "cannot remove the stale socket \(path): \(String(cString: strerror(errno)))"
                    )
                }
                return
            case .connect(errno: ENOENT):
                return
            case .connect(errno: EAGAIN), .timedOut:
                break  // A listener whose backlog is full: live.
            default:
                throw SocketPathUnavailable("cannot check the socket \(path): \(error)")
            }
        }
        throw SocketPathUnavailable(
            "socket \(path) is in use: a live crmd (or another server) answers on it; stop it first or "
                + "choose another socket path"
        )
    }
}
