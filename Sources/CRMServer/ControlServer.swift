public import Logging
public import NIOCore
public import NIOPosix
public import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The control server: serves the crmd protocol (one request per `\n`-terminated line, one reply
/// line per request) on a Unix stream socket, as a swift-service-lifecycle `Service`.
///
/// Each connection runs in its own child task, whose jobs run on the event loop serving its socket
/// (``EventLoopTaskExecutor``), so reading a line and writing a reply cost no hop between threads.
/// Its complete lines are passed, in arrival order, to
/// ``RequestHandler/start(line:peer:)`` together with the peer's `SO_PEERCRED` identity; the
/// returned tasks are kept in a FIFO of at most ``Configuration/maxInFlightPerConnection`` entries
/// and a writer awaits them in order, so a client may pipeline requests and still gets its replies
/// in request order. A reply is written as soon as it and every reply before it are ready; replies
/// that become ready while a write is in progress go out together in the next write and flush.
///
/// What a client that does not read its replies can make a connection hold is bounded (see
/// ``ReplyOutbox``): once ``Configuration/maxUnsentReplyBytes`` wait unwritten the server stops
/// reading the connection and admits none of its queries (replies made with
/// ``StartedReply/init(admittedOn:_:)``), which compute in request order, a few at a time. When the
/// client goes away entirely, the replies still being produced are cancelled.
///
/// A line longer than ``Configuration/maxLineBytes`` is answered with
/// ``RequestHandler/lineTooLongReply(limit:)`` (after the replies to the requests before it) and the
/// connection is closed; other connections are unaffected. An error on one connection is logged and
/// only ends that connection.
///
/// On graceful shutdown the server stops accepting, stops reading new requests, lets the requests
/// already started finish and writes their replies, closes every connection, closes the listening
/// socket and removes the socket file. Cancellation (a hard stop) stops reading and writing at once
/// and cancels the request tasks the writers are waiting on; ``run()`` returns when those have
/// ended (tasks that ignore cancellation delay it).
///
/// A live server's socket is never taken over (``prepareSocketPath(_:)``). The listening socket runs
/// on an event loop of its own, which pauses when accepting fails (``AcceptBackoff``).
///
/// The socket file is chmod-ed right after `bind(2)`; until then it has the mode the process umask
/// allows, so its directory should not be reachable by untrusted users — and every
/// request carries the kernel-checked ``PeerCredentials`` anyway.
public struct ControlServer: Service {
    /// Settings of a ``ControlServer``.
    public struct Configuration: Sendable {
        /// Path of the Unix socket file. A stale socket file there (nobody listens) is replaced;
        /// a live one, or a file that is not a socket, is not (see
        /// ``ControlServer/prepareSocketPath(_:)``). Linux limits the path to 107 bytes.
        public var socketPath: String

        /// Permission bits given to the socket file once it is bound (connecting needs write
        /// permission). Default `0o660`: owner and group.
        public var socketFileMode: UInt32

        /// The longest accepted request line in bytes, without its terminator. Default 1 MiB.
        public var maxLineBytes: Int

        /// How many requests of one connection may be started and not yet have their reply
        /// written. When reached, the server stops reading that connection until the oldest reply
        /// is written. Default 64.
        public var maxInFlightPerConnection: Int

        /// The most reply bytes of one connection that may wait to be written (its client is not
        /// reading them). While they are reached the server stops reading that connection's requests
        /// and starts no more queries for it; it resumes as the client reads. Default 4 MiB.
        public var maxUnsentReplyBytes: Int

        /// The `listen(2)` backlog. Default 256.
        public var backlog: Int

        /// Creates a configuration; every setting but the socket path has a default.
        public init(
            socketPath: String,
            socketFileMode: UInt32 = 0o660,
            maxLineBytes: Int = 1_048_576,
            maxInFlightPerConnection: Int = 64,
            maxUnsentReplyBytes: Int = 4 << 20,
            backlog: Int = 256
        ) {
            self.socketPath = socketPath
            self.socketFileMode = socketFileMode
            self.maxLineBytes = maxLineBytes
            self.maxInFlightPerConnection = maxInFlightPerConnection
            self.maxUnsentReplyBytes = maxUnsentReplyBytes
            self.backlog = backlog
        }
    }

    /// The server's settings.
    public let configuration: Configuration

    private let handler: any RequestHandler
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    private let onListening: (@Sendable (_ socketPath: String) async -> Void)?

    /// Creates a server; nothing happens until ``run()``.
    ///
    /// - Parameters:
    ///   - configuration: Socket path, file mode and limits.
    ///   - handler: Turns request lines into reply lines.
    ///   - eventLoopGroup: The NIO event loops to serve on; a `MultiThreadedEventLoopGroup`.
    ///   - logger: Where the server logs. Connection-level events are logged at `debug`, a rejected
    ///     oversized line at `notice`, and listening and shutdown at `info`.
    ///   - onListening: Called once the socket is bound and has its mode, before the first
    ///     connection is served: the moment clients can connect. The server waits for it to return.
    public init(
        configuration: Configuration,
        handler: any RequestHandler,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger,
        onListening: (@Sendable (_ socketPath: String) async -> Void)? = nil
    ) {
        precondition(configuration.maxLineBytes > 0, "maxLineBytes must be positive")
        precondition(configuration.maxInFlightPerConnection > 0, "maxInFlightPerConnection must be positive")
        precondition(configuration.maxUnsentReplyBytes > 0, "maxUnsentReplyBytes must be positive")
        self.configuration = configuration
        self.handler = handler
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.onListening = onListening
    }

    /// Binds the socket and serves connections until graceful shutdown or cancellation.
    ///
    /// - Throws: ``SocketPathUnavailable`` when a live server answers on the socket path or the path
    ///   holds something else than a socket; an error when the socket cannot be bound or given its
    ///   mode. Errors of single connections are logged, never thrown.
    public func run() async throws {
        let path = self.configuration.socketPath
        try Self.prepareSocketPath(path)
        let registry = Registry()
        let serverChannel = try await self.bind(registry: registry)

        let socketFile: SocketFile
        do {
            socketFile = try SocketFile(path: path, mode: self.configuration.socketFileMode)
        } catch {
            // `executeThenClose`, not a bare close: an unused NIOAsyncChannel traps on deinit.
            try? await serverChannel.executeThenClose { _ in }
            await registry.closeAll()
            throw error
        }
        defer { socketFile.remove() }

        self.logger.info(
            "control server listening",
            metadata: [
                "socket": "\(path)",
                "mode": "\(String(self.configuration.socketFileMode, radix: 8))",
            ]
        )

        do {
            try await withGracefulShutdownHandler {
                try await withThrowingDiscardingTaskGroup { group in
                    try await serverChannel.executeThenClose { connections in
                        await self.onListening?(path)
                        for try await connection in connections {
                            registry.claim(connection.channel)
                            let executor = EventLoopTaskExecutor(connection.channel.channel.eventLoop)
                            group.addTask(executorPreference: executor) {
                                await self.serve(connection)
                            }
                        }
                    }
                    // Nobody can connect any more: drop the file now rather than after the last
                    // connection has drained, so a restarted daemon is not confused by it.
                    socketFile.remove()
                    self.logger.info("control server stopped accepting; draining connections")
                }
            } onGracefulShutdown: {
                serverChannel.channel.close(promise: nil)
            }
        } catch {
            await registry.closeAll()
            throw error
        }
        await registry.closeAll()
        self.logger.info("control server stopped", metadata: ["socket": "\(path)"])
    }

    // MARK: - Listening socket

    /// The async view of a connection. Replies are written with `Channel.writeAndFlush`, whose
    /// future completes once the bytes are in the socket, rather than with an outbound writer: the
    /// writer does not wait, so the close after the last reply could drop it (apple/swift-nio#2795).
    private typealias ConnectionChannel = NIOAsyncChannel<LineFrame, Never>

    private typealias Registry = ConnectionRegistry<LineFrame, Never>

    /// A freshly accepted connection: its async channel and its peer's identity.
    private struct Connection: Sendable {
        var channel: ConnectionChannel
        var peer: PeerCredentials
    }

    private func bind(registry: Registry) async throws -> NIOAsyncChannel<Connection, Never> {
        let maxLineBytes = self.configuration.maxLineBytes
        let logger = self.logger
        // The listening socket gets an event loop of its own, so that backing off when accepting
        // fails (``AcceptBackoff``) never delays a connection.
        return try await ServerBootstrap(group: AcceptBackoff.acceptLoopGroup, childGroup: self.eventLoopGroup)
            .serverChannelOption(.backlog, value: Int32(clamping: self.configuration.backlog))
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(AcceptBackoff(logger: logger))
                }
            }
            // A client that shuts down its write side after its last request still gets the replies.
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .bind(
                unixDomainSocketPath: self.configuration.socketPath,
                cleanupExistingSocketFile: false
            ) { channel in
                PeerCredentials.read(from: channel).flatMapThrowing { peer in
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(LineFrameDecoder(maxLineBytes: maxLineBytes))
                    )
                    let asyncChannel = try ConnectionChannel(wrappingChannelSynchronously: channel)
                    registry.register(asyncChannel)
                    return Connection(channel: asyncChannel, peer: peer)
                }.flatMapErrorThrowing { error in
                    // NIO drops a failed child initializer silently: close the child ourselves.
                    logger.error("cannot set up control connection", metadata: ["error": "\(error)"])
                    channel.close(promise: nil)
                    throw error
                }
            }
    }

    // MARK: - Connections

    /// Serves one connection to its end. Never throws: a broken connection must not stop the server.
    private func serve(_ connection: Connection) async {
        let logger = {
            var logger = self.logger
            logger[metadataKey: "peer_pid"] = "\(connection.peer.pid)"
            logger[metadataKey: "peer_uid"] = "\(connection.peer.uid)"
            return logger
        }()
        logger.debug("control connection opened")
        self.handler.connectionOpened()
        defer { self.handler.connectionClosed() }
        let channel = connection.channel.channel
        do {
            try await withGracefulShutdownHandler {
                try await connection.channel.executeThenClose { inbound in
                    let queue = ReplyQueue(capacity: self.configuration.maxInFlightPerConnection)
                    let outbox = ReplyOutbox(maxUnsentBytes: self.configuration.maxUnsentReplyBytes)
                    connection.peer.connection?.attach(
                        notify: { line, limit in outbox.appendNotification(line, limit: limit) },
                        // Closing the input ends the connection gracefully: replies and
                        // notifications already queued are written first.
                        close: { channel.close(mode: .input, promise: nil) },
                        admission: {
                            let ticket = outbox.takeTicket()
                            return ReplyAdmission(enter: { await outbox.admit(ticket) }, leave: outbox.leave)
                        }
                    )
                    defer { connection.peer.connection?.detach() }
                    // A client that went away entirely (not a half-close) closes the channel: stop
                    // the queries it started, as nobody will read their replies.
                    channel.closeFuture.whenComplete { _ in
                        queue.cancel()
                        outbox.cancel()
                    }
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask {
                            try await self.readRequests(
                                inbound,
                                into: queue,
                                outbox: outbox,
                                peer: connection.peer,
                                logger: logger
                            )
                        }
                        group.addTask {
                            await Self.orderReplies(from: queue, into: outbox)
                        }
                        group.addTask {
                            try await Self.flushReplies(from: outbox, to: channel, releasing: queue)
                        }
                        do {
                            while try await group.next() != nil {}
                        } catch {
                            // One side failed, usually because the client went away. Stop the
                            // others and the queries already started (commands already queued
                            // run to completion); their replies are dropped. (Leaving the body
                            // with the error would cancel the children, so drain them first.)
                            queue.cancel()
                            outbox.cancel()
                            channel.close(promise: nil)
                            while await group.nextResult() != nil {}
                            throw error
                        }
                    }
                }
            } onGracefulShutdown: {
                // Stop reading: the reader sees end of input and the writer drains what was started.
                channel.close(mode: .input, promise: nil)
            }
            logger.debug("control connection closed")
        } catch {
            logger.debug("control connection failed", metadata: ["error": "\(error)"])
        }
    }

    /// Starts a request for each inbound line, in order, respecting the in-flight bound and the
    /// bound on unsent reply bytes.
    private func readRequests(
        _ inbound: NIOAsyncChannelInboundStream<LineFrame>,
        into queue: ReplyQueue,
        outbox: ReplyOutbox,
        peer: PeerCredentials,
        logger: Logger
    ) async throws {
        defer { queue.finish() }
        for try await frame in inbound {
            switch frame {
            case .line(let line):
                // Asked without an await first: the common answer is at once.
                if !queue.hasSpace() {
                    guard await queue.waitForSpace() else { return }
                }
                if !outbox.hasRoom() {
                    guard await outbox.waitForRoom() else { return }
                }
                let reply = self.handler.start(line: line, peer: peer)
                // A reply ready at once goes straight to the outbox when the writer has nothing
                // before it (saving the writer a wake-up per request); otherwise it waits its turn.
                if let ready = reply.readyLine, queue.bypass() {
                    outbox.append(ready)
                } else {
                    queue.push(reply)
                }

            case .tooLong:
                let limit = self.configuration.maxLineBytes
                logger.notice("request line too long; closing connection", metadata: ["limit": "\(limit)"])
                let reply = self.handler.lineTooLongReply(limit: limit)
                queue.push(.ready(reply))
                return
            }
        }
    }

    /// Awaits the started requests in FIFO order and moves each reply to the outbox as soon as it
    /// and all the replies before it are ready.
    private static func orderReplies(from queue: ReplyQueue, into outbox: ReplyOutbox) async {
        defer { outbox.finish() }
        while true {
            // Asked without an await first: a busy connection has its next reply pending.
            let next: ReplyQueue.Reply?
            if let now = queue.nextNow() { next = now } else { next = await queue.next() }
            guard let reply = next else { break }
            if let ready = reply.readyLine {
                outbox.append(ready)
                continue
            }
            // On cancellation (a hard stop) pass it on to the request, which should then end soon.
            let line = await withTaskCancellationHandler {
                await reply.value
            } onCancel: {
                reply.cancel()
            }
            outbox.append(line)
        }
    }

    /// Writes whatever replies have piled up with one write and one flush, then frees their places
    /// in the in-flight bound.
    private static func flushReplies(
        from outbox: ReplyOutbox,
        to channel: any Channel,
        releasing queue: ReplyQueue
    ) async throws {
        while let batch = await outbox.take() {
            let bytes = batch.bytes.readableBytes
            if bytes > 0 {
                // Completes when the bytes are in the socket, which also back-pressures a client
                // that does not read. It ignores cancellation, so a hard stop closes the channel.
                try await withTaskCancellationHandler {
                    try await channel.writeAndFlush(batch.bytes)
                } onCancel: {
                    channel.close(promise: nil)
                }
            }
            outbox.markWritten(bytes: bytes)
            queue.markWritten(batch.replies)
        }
    }
}

// MARK: - Socket file

/// The bound socket file: gives it its mode and removes it at the end, unless it has been replaced
/// by another file meanwhile (compared by device and inode).
private struct SocketFile: Sendable {
    let path: String
    let device: UInt64
    let inode: UInt64

    /// Sets `mode` on the socket file at `path` and records its identity.
    init(path: String, mode: UInt32) throws {
        guard chmod(path, mode_t(mode)) == 0 else {
            throw IOError(errnoCode: errno, reason: "chmod \(path)")
        }
        var info = stat()
        guard lstat(path, &info) == 0 else {
            throw IOError(errnoCode: errno, reason: "lstat \(path)")
        }
        self.path = path
        self.device = UInt64(info.st_dev)
        self.inode = UInt64(info.st_ino)
    }

    /// Unlinks the socket file if it is still ours. Safe to call more than once.
    func remove() {
        var info = stat()
        guard lstat(self.path, &info) == 0,
            UInt64(info.st_dev) == self.device,
            UInt64(info.st_ino) == self.inode
        else {
            return
        }
        unlink(self.path)
    }
}
