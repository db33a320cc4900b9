import Logging
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Backs off when the listening socket cannot accept (out of file descriptors: `EMFILE`, `ENFILE`;
/// out of memory: `ENOBUFS`, `ENOMEM`), instead of retrying at once.
///
/// Why not NIO's `AcceptBackoffHandler` alone: it delays the next `read()` the channel asks for, but
/// after a failed `accept(2)` NIO's server channel still has its read pending and the pending
/// connection keeps the socket readable, so the event loop calls `accept(2)` again at once, forever:
/// 100 % of a core for as long as the limit is hit. This handler pauses the thread of the event
/// loop that accepts instead, which must therefore be a loop of its own (``ControlServer`` runs the
/// listening socket on ``acceptLoopGroup``): connections are served on other loops and go on
/// meanwhile. Clients that connect during the backoff wait in the listen backlog and are accepted
/// once descriptors are free again.
///
/// It logs when accepting starts failing (`warning`, at most once a minute however often the limit
/// is hit) and when it works again (`notice`), never per attempt.
final class AcceptBackoff: ChannelInboundHandler {
    typealias InboundIn = Channel
    typealias InboundOut = Channel

    /// How long the accepting thread pauses after a failed accept.
    static let pause: TimeAmount = .milliseconds(100)

    /// The event loop that runs listening sockets, one thread that does nothing else.
    static let acceptLoopGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    private let logger: Logger
    /// The least time between two warnings.
    static let warningInterval: TimeAmount = .seconds(60)

    // Touched on the accepting event loop only.
    /// Whether accepting fails since a warning was logged.
    private var warned = false
    /// When the last warning was logged.
    private var lastWarning: NIODeadline?

    init(logger: Logger) {
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if self.warned {
            self.warned = false
            self.logger.notice("control server accepts connections again")
        }
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let error = error as? IOError, [EMFILE, ENFILE, ENOBUFS, ENOMEM].contains(error.errnoCode) else {
            context.fireErrorCaught(error)
            return
        }
        let now = NIODeadline.now()
        if !self.warned, self.lastWarning.map({ now - $0 >= Self.warningInterval }) ?? true {
            self.warned = true
            self.lastWarning = now
            let reason = error.errnoCode == EMFILE || error.errnoCode == ENFILE
                ? "out of file descriptors (raise LimitNOFILE / ulimit -n)" : "out of memory"
            let text = "control server cannot accept connections: \(reason); retrying every "
                + "\(Self.pause.nanoseconds / 1_000_000) ms, existing connections are still served"
            self.logger.warning("\(text)", metadata: ["error": "\(error)"])
        }
        // This loop only accepts (see the type's comment): pausing it keeps it from spinning.
        usleep(useconds_t(Self.pause.nanoseconds / 1000))
        context.fireErrorCaught(error)
    }
}
