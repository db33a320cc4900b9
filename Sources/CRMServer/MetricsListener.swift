import CRMApplication
public import Logging
public import NIOCore
import NIOHTTP1
public import NIOPosix
public import ServiceLifecycle

/// The optional HTTP/1.1 listener for Prometheus (`metrics_listen`): answers `GET /metrics` with the
/// core's metrics in the Prometheus text format, anything else with 404 (405 for another method on
/// `/metrics`), on a loopback address only, as a swift-service-lifecycle `Service`.
///
/// It serves nobody but local scrapers (a Prometheus, an agent that forwards, an SSH tunnel): the
/// metrics carry no personal data but tell much about the load, and the listener has no
/// authentication of its own. Requests are answered in order on each connection (keep-alive).
public struct MetricsListener: Service {
    /// A loopback address and port to listen on, from `HOST:PORT`.
    public struct Endpoint: Sendable, Hashable, CustomStringConvertible {
        /// An IPv4 address in 127.0.0.0/8, `::1`, or `localhost`.
        public var host: String
        /// The TCP port; 0 picks a free one.
        public var port: Int

        /// Parses `127.0.0.1:9464`, `[::1]:9464` or `localhost:9464`.
        ///
        /// - Throws: ``MetricsListenerError`` for a malformed value or an address that is not a
        ///   loopback address.
        public init(parsing text: String) throws(MetricsListenerError) {
            let host: Substring
            let port: Substring
            if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
                host = text[text.index(after: text.startIndex)..<close]
                port = text[close...].dropFirst().hasPrefix(":") ? text[close...].dropFirst(2) : ""
            } else if let colon = text.lastIndex(of: ":") {
                host = text[..<colon]
                port = text[text.index(after: colon)...]
            } else {
                (host, port) = (Substring(text), "")
            }
            guard let number = Int(port), (0...65_535).contains(number), !host.isEmpty else {
                throw MetricsListenerError(
                    "metrics_listen \"\(text)\" is not HOST:PORT (e.g. 127.0.0.1:9464, [::1]:9464)"
                )
            }
            guard Endpoint.isLoopback(String(host)) else {
                throw MetricsListenerError(
                    "metrics_listen \"\(text)\" is not a loopback address: crmd serves its metrics on "
                        + "127.0.0.0/8, [::1] or localhost only (scrape from elsewhere through a local agent or "
                        + "a tunnel)"
                )
            }
            self.host = String(host)
            self.port = number
        }

        /// Whether `host` is `localhost` or an IP address of the loopback interface.
        static func isLoopback(_ host: String) -> Bool {
            if host == "localhost" { return true }
            guard let address = try? SocketAddress(ipAddress: host, port: 0), let ip = address.ipAddress else {
                return false
            }
            switch address {
            case .v4: return ip.hasPrefix("127.")
            case .v6: return ip == "::1"
            case .unixDomainSocket: return false
            }
        }

        public var description: String {
            self.host.contains(":") ? "[\(self.host)]:\(self.port)" : "\(self.host):\(self.port)"
        }
    }

    private typealias Connection = NIOAsyncChannel<HTTPServerRequestPart, Never>

    private let endpoint: Endpoint
    private let exposition: @Sendable () -> String
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    private let onListening: (@Sendable (_ port: Int) async -> Void)?

    /// A listener on `endpoint` answering with `exposition()` (e.g. the core's
    /// `queries.metricsExposition`); nothing happens until ``run()``. `onListening` is called with the
    /// bound port (a free one when `endpoint` asked for port 0) before the first request is served.
    public init(
        endpoint: Endpoint,
        exposition: @escaping @Sendable () -> String,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger,
        onListening: (@Sendable (_ port: Int) async -> Void)? = nil
    ) {
        self.endpoint = endpoint
        self.exposition = exposition
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.onListening = onListening
    }

    /// Binds the address and answers requests until graceful shutdown or cancellation.
    ///
    /// - Throws: an error when the address cannot be bound (in use, say). Errors of single
    ///   connections are logged, never thrown.
    public func run() async throws {
        let server = try await ServerBootstrap(group: self.eventLoopGroup)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: self.endpoint.host, port: self.endpoint.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    return try Connection(wrappingChannelSynchronously: channel)
                }
            }
        let address = server.channel.localAddress
        self.logger.info("metrics listener listening", metadata: ["address": "\(address.map { "\($0)" } ?? "?")"])
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                try await server.executeThenClose { connections in
                    await self.onListening?(address?.port ?? self.endpoint.port)
                    for try await connection in connections {
                        group.addTask { await self.serve(connection) }
                    }
                }
            }
        } onGracefulShutdown: {
            server.channel.close(promise: nil)
        }
        self.logger.info("metrics listener stopped")
    }

    /// Answers the requests of one connection in order, until the client closes it or, on graceful
    /// shutdown, after the request being answered (a scraper keeps its connection open). Never throws.
    private func serve(_ connection: Connection) async {
        let channel = connection.channel
        do {
            try await withGracefulShutdownHandler {
                try await self.answer(connection)
            } onGracefulShutdown: {
                channel.close(mode: .input, promise: nil)
            }
        } catch {
            self.logger.debug("metrics connection failed", metadata: ["error": "\(error)"])
        }
    }

    /// Answers the requests of `connection` in order until its input ends.
    private func answer(_ connection: Connection) async throws {
        let channel = connection.channel
        try await connection.executeThenClose { inbound in
            var head: HTTPRequestHead?
            for try await part in inbound {
                switch part {
                case .head(let request):
                    head = request
                case .body:
                    continue
                case .end:
                    guard let request = head else { continue }
                    head = nil
                    // Written on the channel rather than with an outbound writer, so that the
                    // bytes are in the socket before a `Connection: close` closes it.
                    for part in self.response(to: request) { channel.write(part, promise: nil) }
                    try await channel.writeAndFlush(HTTPServerResponsePart.end(nil))
                    guard request.isKeepAlive else { return }
                }
            }
        }
    }

    /// The head and body of the response to `request` (its end follows).
    private func response(to request: HTTPRequestHead) -> [HTTPServerResponsePart] {
        let path = request.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        let status: HTTPResponseStatus
        let body: String
        var headers = HTTPHeaders()
        if path != "/metrics" {
            (status, body) = (.notFound, "not found: crmd serves GET /metrics only\n")
        } else if request.method != .GET && request.method != .HEAD {
            (status, body) = (.methodNotAllowed, "method not allowed: GET /metrics\n")
            headers.add(name: "Allow", value: "GET, HEAD")
        } else {
            (status, body) = (.ok, self.exposition())
        }
        headers.add(name: "Content-Type", value: status == .ok ? CRMMetrics.contentType : "text/plain")
        headers.add(name: "Content-Length", value: "\(body.utf8.count)")
        if !request.isKeepAlive { headers.add(name: "Connection", value: "close") }
        var parts: [HTTPServerResponsePart] = [
            .head(HTTPResponseHead(version: request.version, status: status, headers: headers))
        ]
        if request.method != .HEAD { parts.append(.body(.byteBuffer(ByteBuffer(string: body)))) }
        return parts
    }
}

/// A `metrics_listen` value crmd refuses.
public struct MetricsListenerError: Error, CustomStringConvertible {
    public var description: String

    init(_ description: String) { self.description = description }
}
