import Synchronization

/// The identity of a socket peer, read with `SO_PEERCRED` when the connection is accepted, and the
/// state of its connection. Equality and hashing consider the identity only.
public struct PeerCredentials: Sendable, Hashable {
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32
    /// The connection the requests arrive on (one per accepted connection), or `nil` when a caller
    /// has no connection to speak of.
    public var connection: ConnectionState?

    public init(pid: Int32, uid: UInt32, gid: UInt32, connection: ConnectionState? = nil) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
        self.connection = connection
    }

    public static func == (lhs: PeerCredentials, rhs: PeerCredentials) -> Bool {
        lhs.pid == rhs.pid && lhs.uid == rhs.uid && lhs.gid == rhs.gid
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.pid)
        hasher.combine(self.uid)
        hasher.combine(self.gid)
    }
}

/// What a handler remembers about one connection while it is open.
public final class ConnectionState: Sendable {
    /// The writer ticket of the last command this connection queued (0: none yet). A query waits
    /// for it, so pipelined requests read their own writes without waiting for other clients'.
    public let lastCommandTicket = Atomic<UInt64>(0)

    public init() {}
}

/// Handles request lines for the ``ControlServer``.
///
/// The server calls ``start(line:peer:)`` for each complete line of a connection in the order the
/// lines arrived, before reading the next one is processed, so anything that must keep request order
/// (enqueuing a command with the writer) happens inside `start` itself. The returned task produces
/// the reply line without its `\n`, or `nil` when no reply is due (a JSON-RPC notification). The
/// server writes replies in request order, awaiting each task in turn, which lets a client pipeline
/// requests.
public protocol RequestHandler: Sendable {
    func start(line: [UInt8], peer: PeerCredentials) -> Task<[UInt8]?, Never>

    /// The reply line sent, just before the connection is closed, to a client whose line exceeded
    /// the configured limit.
    func lineTooLongReply(limit: Int) -> [UInt8]
}
