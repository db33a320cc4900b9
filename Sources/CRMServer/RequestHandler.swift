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

/// What a handler remembers about one connection while it is open, and how it reaches the
/// connection outside of replies (notifications of a subscription).
public final class ConnectionState: Sendable {
    /// The writer ticket of the last command this connection queued (0: none yet). A query waits
    /// for it, so pipelined requests read their own writes without waiting for other clients'.
    public let lastCommandTicket = Atomic<UInt64>(0)

    private struct Hooks {
        var notify: (@Sendable ([UInt8], Int) -> Bool)?
        var close: (@Sendable () -> Void)?
        var admission: (@Sendable () -> ReplyAdmission)?
        var subscriptions: [String: Task<Void, Never>] = [:]
        var detached = false
    }

    private let hooks = Mutex(Hooks())

    public init() {}

    /// Server side: how to send a notification line (`limit`: most bytes that may wait unsent), how
    /// to close the connection, and how to admit the work of a reply (called in request order).
    public func attach(
        notify: @escaping @Sendable (_ line: [UInt8], _ limit: Int) -> Bool,
        close: @escaping @Sendable () -> Void,
        admission: (@Sendable () -> ReplyAdmission)? = nil
    ) {
        self.hooks.withLock { hooks in
            hooks.notify = notify
            hooks.close = close
            hooks.admission = admission
        }
    }

    /// The admission of the next reply's work, taken in request order; `nil` when the server set
    /// none or the connection has ended.
    public func replyAdmission() -> ReplyAdmission? {
        self.hooks.withLock { $0.admission }?()
    }

    /// Server side, when the connection has ended: cancels every subscription and forgets the hooks.
    public func detach() {
        let tasks = self.hooks.withLock { hooks -> [Task<Void, Never>] in
            hooks.detached = true
            hooks.notify = nil
            hooks.close = nil
            hooks.admission = nil
            defer { hooks.subscriptions = [:] }
            return Array(hooks.subscriptions.values)
        }
        for task in tasks { task.cancel() }
    }

    /// Sends a notification line; `false` when it cannot be sent (connection gone, or more than
    /// `limit` bytes already waiting: the reader is too slow).
    public func notify(_ line: [UInt8], limit: Int) -> Bool {
        guard let notify = self.hooks.withLock({ $0.notify }) else { return false }
        return notify(line, limit)
    }

    /// Closes the connection (after a final notification, for a reader that fell behind).
    public func closeConnection() {
        self.hooks.withLock { $0.close }?()
    }

    /// Whether the connection can carry notifications.
    public var canNotify: Bool { self.hooks.withLock { $0.notify != nil } }

    /// Registers the task of subscription `id`; `false` if the id is taken or the connection ended.
    public func register(subscription id: String, _ start: () -> Task<Void, Never>) -> Bool {
        self.hooks.withLock { hooks in
            guard !hooks.detached, hooks.subscriptions[id] == nil else { return false }
            hooks.subscriptions[id] = start()
            return true
        }
    }

    /// Forgets subscription `id` (its task ended).
    public func forget(subscription id: String) {
        _ = self.hooks.withLock { $0.subscriptions.removeValue(forKey: id) }
    }

    /// Cancels subscription `id`; `false` if there is none.
    public func cancel(subscription id: String) -> Bool {
        guard let task = self.hooks.withLock({ $0.subscriptions.removeValue(forKey: id) }) else { return false }
        task.cancel()
        return true
    }
}

/// The reply line of a started request (without its `\n`), or `nil` when no reply is due.
///
/// A reply that needs work of its own comes from a task, so requests of one connection run at the
/// same time; a reply that only waits for something else (a command queued with the writer) is
/// awaited by the connection's reply writer when its turn comes, which saves a task and two hops
/// between threads per command when the writer releases hundreds of replies after a commit.
public struct StartedReply: Sendable {
    private enum Source: Sendable {
        case ready([UInt8]?)
        case task(Task<[UInt8]?, Never>)
        case awaited(@Sendable () async -> [UInt8]?)
    }

    private let source: Source

    /// A reply produced by a new task running `body` on the global concurrent executor (not on the
    /// event loop that serves the connection, which must stay free for I/O).
    public init(_ body: @escaping @Sendable () async -> [UInt8]?) {
        self.source = .task(Task(executorPreference: globalConcurrentExecutor, operation: body))
    }

    /// A reply produced like ``init(_:)``, whose task first waits for its admission on `connection`
    /// (``ConnectionState/replyAdmission()``, taken now, in request order), so a client that does not
    /// read its replies gets no more computed for it; `nil` (no reply) if the connection ends first.
    /// Call it in request order.
    public init(admittedOn connection: ConnectionState?, _ body: @escaping @Sendable () async -> [UInt8]?) {
        let admission = connection?.replyAdmission()
        self.init {
            guard let admission else { return await body() }
            guard await admission.enter() else { return nil }
            defer { admission.leave() }
            return await body()
        }
    }

    private init(source: Source) { self.source = source }

    /// A reply known already.
    public static func ready(_ line: [UInt8]?) -> StartedReply { StartedReply(source: .ready(line)) }

    /// A reply that `produce` awaits when the connection's reply writer gets to it; `produce` must
    /// only wait (for work already under way elsewhere), not compute.
    public static func awaited(_ produce: @escaping @Sendable () async -> [UInt8]?) -> StartedReply {
        StartedReply(source: .awaited(produce))
    }

    /// The reply line.
    public var value: [UInt8]? {
        get async {
            switch self.source {
            case .ready(let line): return line
            case .task(let task): return await task.value
            case .awaited(let produce): return await produce()
            }
        }
    }

    /// The reply known already (``ready(_:)``): `.some(line)`, where `line` is `nil` when no reply is
    /// due; `nil` for a reply still to be produced.
    public var readyLine: [UInt8]?? {
        if case .ready(let line) = self.source { return .some(line) }
        return nil
    }

    /// Cancels the task producing the reply, if there is one.
    public func cancel() {
        if case .task(let task) = self.source { task.cancel() }
    }
}

/// The place of one reply's work in its connection's admission order (see ``ControlServer``): the
/// work may compute once ``enter()`` returns `true`, and calls ``leave()`` when it is done.
public struct ReplyAdmission: Sendable {
    private let enterHook: @Sendable () async -> Bool
    private let leaveHook: @Sendable () -> Void

    /// An admission entered with `enter` and left with `leave`.
    public init(enter: @escaping @Sendable () async -> Bool, leave: @escaping @Sendable () -> Void) {
        self.enterHook = enter
        self.leaveHook = leave
    }

    /// Waits for the work's turn; `false` when the connection has ended or the task is cancelled
    /// (then no ``leave()`` is due, and the work should not run).
    public func enter() async -> Bool { await self.enterHook() }

    /// The admitted work is done.
    public func leave() { self.leaveHook() }
}

/// Handles request lines for the ``ControlServer``.
///
/// The server calls ``start(line:peer:)`` for each complete line of a connection in the order the
/// lines arrived, before reading the next one is processed, so anything that must keep request order
/// (enqueuing a command with the writer) happens inside `start` itself. The returned reply produces
/// the reply line without its `\n`, or `nil` when no reply is due (a JSON-RPC notification). The
/// server writes replies in request order, awaiting each in turn, which lets a client pipeline
/// requests.
public protocol RequestHandler: Sendable {
    func start(line: [UInt8], peer: PeerCredentials) -> StartedReply

    /// The reply line sent, just before the connection is closed, to a client whose line exceeded
    /// the configured limit.
    func lineTooLongReply(limit: Int) -> [UInt8]

    /// A connection was accepted (for the connection metrics); by default nothing.
    func connectionOpened()

    /// A connection ended; by default nothing.
    func connectionClosed()
}

extension RequestHandler {
    public func connectionOpened() {}

    public func connectionClosed() {}
}
