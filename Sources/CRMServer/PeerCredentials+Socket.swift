import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Swift's view of Linux's `struct ucred` (`<sys/socket.h>`: `pid_t pid; uid_t uid; gid_t gid;`),
/// which the Glibc module hides because it needs `_GNU_SOURCE`.
///
/// Three 4-byte fields, no padding: the layout matches the C struct, which is what
/// `getsockopt(SO_PEERCRED)` fills in (checked at run time against `MemoryLayout.size` below).
private struct UnixCredentials: Sendable {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}

/// Why the identity of a socket peer could not be read.
package struct PeerCredentialsUnavailable: Error, CustomStringConvertible {
    package var description: String

    package init(_ description: String) {
        self.description = description
    }
}

extension PeerCredentials {
    /// Reads `SO_PEERCRED` of a connected Unix-socket channel: the pid, uid and gid of the process
    /// that called `connect`, as the kernel recorded them (a client cannot forge them).
    package static func read(from channel: any Channel) -> EventLoopFuture<PeerCredentials> {
        #if os(Linux)
        guard MemoryLayout<UnixCredentials>.size == 12 else {
            return channel.eventLoop.makeFailedFuture(PeerCredentialsUnavailable("unexpected ucred layout"))
        }
        guard let provider = channel as? any SocketOptionProvider else {
            return channel.eventLoop.makeFailedFuture(
                PeerCredentialsUnavailable("channel \(type(of: channel)) has no socket options")
            )
        }
        let future: EventLoopFuture<UnixCredentials> = provider.unsafeGetSocketOption(
            level: SocketOptionLevel(SOL_SOCKET),
            name: SocketOptionName(SO_PEERCRED)
        )
        return future.map { credentials in
            PeerCredentials(
                pid: credentials.pid,
                uid: credentials.uid,
                gid: credentials.gid,
                connection: ConnectionState()
            )
        }
        #else
        return channel.eventLoop.makeFailedFuture(PeerCredentialsUnavailable("SO_PEERCRED needs Linux"))
        #endif
    }
}
