/// The identity of a socket peer, read with `SO_PEERCRED` when the connection is accepted.
public struct PeerCredentials: Sendable, Hashable {
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32

    public init(pid: Int32, uid: UInt32, gid: UInt32) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
    }
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
