public import CRMApplication
import CRMDomain
import CRMJSON
import CRMParams
import CRMProtocol
public import CRMRPC
public import Logging
import Synchronization

/// Turns request lines into JSON-RPC replies using the application core.
///
/// - A line is one request object or a batch array; malformed JSON is a -32700 parse error.
/// - Commands are validated and queued with the writer inside ``start(line:peer:)``, so pipelined
///   commands of one connection are executed in request order; queries wait for the commands their
///   own connection queued before them (read-your-writes without waiting for other clients).
/// - The actor of every command is the socket peer's uid/gid.
public struct RPCHandler: RequestHandler {
    let commands: CommandPipeline
    let queries: QueryRouter
    let subscriptions: Subscriptions
    let access: AccessPolicy
    let logger: Logger?
    /// Requests by method and outcome, their latency, and the connections.
    let requests: RequestMetrics

    /// Most bytes of notifications that may wait unsent for one connection before its reader is
    /// considered too slow and dropped.
    let subscriptionBufferBytes: Int
    /// Most requests in one batch array; a longer batch is refused whole (`bad_request`).
    let maxBatchRequests: Int

    /// A handler answering from `core`, allowing each peer what `access` grants it; denied calls are
    /// logged to `logger`. A batch may hold at most `maxBatchRequests` requests.
    public init(
        core: CRMCore,
        access: AccessPolicy = .open,
        logger: Logger? = nil,
        subscriptionBufferBytes: Int = 4 << 20,
        maxBatchRequests: Int = 1000
    ) {
        precondition(maxBatchRequests > 0, "maxBatchRequests must be positive")
        self.commands = core.commands
        self.queries = core.queries
        self.subscriptions = core.subscriptions
        self.requests = RequestMetrics(
            factory: core.metrics.factory,
            methods: RPCMethods.all.map(\.name) + core.queries.queryMethods.sorted()
        )
        self.access = access
        self.logger = logger
        self.subscriptionBufferBytes = subscriptionBufferBytes
        self.maxBatchRequests = maxBatchRequests
    }

    public func start(line: [UInt8], peer: PeerCredentials) -> StartedReply {
        let origin = RequestOrigin(uid: peer.uid, gid: peer.gid)
        // The common line, one plain request, is decoded without building the request object.
        if let request = RPCRequest.decodePlain(line: line) {
            return self.reply(self.handle(request, origin: origin, connection: peer.connection), peer: peer)
        }
        let json: JSON
        do {
            json = try JSON.parse(line)
        } catch {
            let reason: JSON = ["reason": "bad_request"]
            return self.refuse(RPCError(code: RPCErrorCode.parseError, message: "parse error: \(error)", data: reason))
        }
        if case .array(let elements) = json {
            guard !elements.isEmpty else {
                return self.refuse(RPCError(reason: "bad_request", message: "an empty batch is not a request"))
            }
            guard elements.count <= self.maxBatchRequests else {
                return self.refuse(
                    RPCError(
                        reason: "bad_request",
                        message: "a batch of \(elements.count) requests exceeds the limit of \(self.maxBatchRequests); "
                            + "none was run, send it as smaller batches",
                        details: ["limit": .int(Int64(self.maxBatchRequests)), "length": .int(Int64(elements.count))]
                    )
                )
            }
            let started = elements.map { self.handle($0, origin: origin, connection: peer.connection) }
            return StartedReply(admittedOn: peer.connection) {
                // The replies' lines joined as a JSON array (what serializing the array of replies gives).
                var batch: [UInt8] = []
                for request in started {
                    guard let reply = await request.reply() else { continue }
                    batch.append(batch.isEmpty ? UInt8(ascii: "[") : UInt8(ascii: ","))
                    batch.append(contentsOf: reply)
                }
                guard !batch.isEmpty else { return nil }
                batch.append(UInt8(ascii: "]"))
                return batch
            }
        }
        return self.reply(self.handle(json, origin: origin, connection: peer.connection), peer: peer)
    }

    /// The reply to a line that is no request (counted as a request of method `unknown`).
    private func refuse(_ error: RPCError) -> StartedReply {
        self.requests.refused(error)
        return .ready(RPCResponse.failure(id: .null, error: error).serialized())
    }

    public func connectionOpened() { self.requests.connectionOpened() }

    public func connectionClosed() { self.requests.connectionClosed() }

    /// The reply of a started single request.
    private func reply(_ started: Started, peer: PeerCredentials) -> StartedReply {
        switch started {
        case .done(let reply): return .ready(reply)
        case .command: return .awaited { await started.reply() }
        case let started:
            return StartedReply(admittedOn: peer.connection) { await started.reply() }
        }
    }

    public func lineTooLongReply(limit: Int) -> [UInt8] {
        RPCResponse.failure(
            id: .null,
            error: RPCError(
                reason: "bad_request",
                message: "request line exceeds the limit of \(limit) bytes; closing the connection",
                details: ["limit": .int(Int64(limit))]
            )
        ).serialized()
    }

    /// A request that has taken its place in the order of commands: a command is queued with the
    /// writer, a query has its ticket. ``reply()`` awaits the outcome; one task per request line runs
    /// it (rather than a task per step). The request's metrics are recorded once its outcome is known.
    enum Started: Sendable {
        /// The reply line known already (`nil`: a notification).
        case done([UInt8]?)
        case command(id: JSON?, Pending<CommandOutcome>, RequestMetrics.Call)
        case query(id: JSON?, @Sendable () async -> Result<JSON, Rejection>, RequestMetrics.Call)

        /// The response line without its `\n`, or `nil` for a notification.
        func reply() async -> [UInt8]? {
            switch self {
            case .done(let reply): return reply
            case .command(let id, let pending, let call):
                return RPCReplies.line(id: id, call.finish(RPCReplies.result(of: await pending.value)))
            case .query(let id, let answer, let call):
                return RPCReplies.line(id: id, call.finish(RPCReplies.result(of: await answer())))
            }
        }

        /// A reply known already.
        static func done(id: JSON?, _ outcome: Result<JSON, RPCError>, _ call: RequestMetrics.Call) -> Started {
            .done(RPCReplies.line(id: id, call.finish(outcome)))
        }
    }

    /// Starts one request: queues a command or takes a query's ticket, in arrival order.
    private func handle(_ json: JSON, origin: RequestOrigin, connection: ConnectionState?) -> Started {
        switch RPCRequest.decode(json) {
        case .failure(let failure):
            self.requests.refused(failure.error)
            return .done(RPCResponse.failure(id: failure.id, error: failure.error).serialized())
        case .success(let request):
            return self.handle(request, origin: origin, connection: connection)
        }
    }

    /// Starts one decoded request.
    private func handle(_ request: RPCRequest, origin: RequestOrigin, connection: ConnectionState?) -> Started {
        let id = request.id
        let call = self.requests.begin(request.method)
        let added = { self.queries.isQuery(request.method) ? RPCMethod.addedQuery(request.method) : nil }
        guard let method = RPCMethods.method(request.method) ?? added() else {
            let error = RPCError(
                reason: "unknown_command",
                message: "method not found: \(request.method)",
                details: ["method": .string(request.method)]
            )
            return .done(id: id, .failure(error), call)
        }
        if let denied = self.denial(of: method, origin: origin) {
            return .done(id: id, .failure(denied), call)
        }
        if method.name == "events.subscribe" || method.name == "events.unsubscribe" {
            return .done(id: id, self.subscriptionCall(request, connection: connection), call)
        }
        if method.kind == .command {
            let reply: Pending<CommandOutcome>
            let ticket: UInt64?
            do throws(Rejection) {
                (reply, ticket) = try self.commands.submit(method, params: request.params, origin: origin)
            } catch {
                return .done(id: id, .failure(RPCError(error)), call)
            }
            if let ticket { connection?.lastCommandTicket.store(ticket, ordering: .releasing) }
            return .command(id: id, reply, call)
        }
        // Wait only for this connection's own earlier commands (all of them, without one).
        let after = connection.map { $0.lastCommandTicket.load(ordering: .acquiring) }
        let traits = QueryTraits(
            isLong: method.isLong, supportsAsOf: method.supportsAsOf, readsPersonalData: self.isAdmin(origin)
        )
        let params = request.params
        if let answer = self.queries.answerAtOnce(method: method.name, params: params, traits: traits, after: after) {
            return .done(id: id, RPCReplies.result(of: answer), call)
        }
        return .query(
            id: id,
            self.queries.startQuery(method: method.name, params: request.params, traits: traits, after: after),
            call
        )
    }

    /// `events.subscribe` and `events.unsubscribe`: subscriptions live as long as their connection.
    private func subscriptionCall(_ request: RPCRequest, connection: ConnectionState?) -> Result<JSON, RPCError> {
        guard let connection, connection.canNotify else {
            return .failure(RPCError(reason: "bad_request", message: "subscriptions need an open connection"))
        }
        do {
            if request.method == "events.unsubscribe" {
                var params = try Params(request.params)
                let id = try params.identifier("subscription", required: true)!
                try params.finish()
                guard connection.cancel(subscription: id) else {
                    throw Rejection.notFound("subscription", "subscription", id)
                }
                return .success(["subscription": .string(id), "unsubscribed": true])
            }
            let defaultID = request.id.flatMap { $0.stringValue ?? $0.intValue.map(String.init) } ?? "sub"
            let subscriptions = self.subscriptions
            let subscription = try subscriptions.subscription(request.params, defaultID: defaultID)
            let limit = self.subscriptionBufferBytes
            let logger = self.logger
            let registered = connection.register(subscription: subscription.id) {
                Task(executorPreference: globalConcurrentExecutor) {
                    let end = await subscriptions.deliver(subscription) { notification in
                        connection.notify(notification.serialized(), limit: limit)
                    }
                    defer { connection.forget(subscription: subscription.id) }
                    let reason: String
                    let message: String
                    switch end.reason {
                    case .stopped:
                        return
                    case .refused:
                        // Gone already, or fell behind the bounded buffer.
                        guard connection.canNotify else { return }
                        reason = "slow_consumer"
                        message = "the subscriber did not keep up with \(limit) bytes of buffered events"
                    case .failed(let error):
                        reason = "error"
                        message = "reading the log failed: \(error)"
                    }
                    // Say why, then drop the connection (after what is queued has been written).
                    let dropped: JSON = [
                        "jsonrpc": "2.0", "method": "events.dropped",
                        "params": [
                            "subscription": .string(subscription.id), "reason": .string(reason),
                            "next_from": .int(Int64(end.next)), "message": .string(message),
                        ],
                    ]
                    _ = connection.notify(dropped.serialized(), limit: Int.max)
                    logger?.notice(
                        "dropped a subscriber",
                        metadata: [
                            "subscription": "\(subscription.id)", "reason": "\(reason)", "next_from": "\(end.next)",
                        ]
                    )
                    connection.closeConnection()
                }
            }
            guard registered else {
                throw Rejection(.alreadyExists, field: "subscription", "subscription \(subscription.id) already exists")
            }
            return .success([
                "subscription": .string(subscription.id), "from": .int(Int64(subscription.from)),
                "head": .int(Int64(subscriptions.committedHead)),
            ])
        } catch let rejection as Rejection {
            return .failure(RPCError(rejection))
        } catch {
            return .failure(RPCError(reason: "internal", message: "\(error)"))
        }
    }

    /// Whether the peer has the admin role (every peer has it without rules).
    private func isAdmin(_ origin: RequestOrigin) -> Bool {
        self.access.rules.isEmpty || self.access.roles(uid: origin.uid, gid: origin.gid).contains(.admin)
    }

    /// The `forbidden` error for a method the peer's roles do not allow (logged), or `nil`.
    private func denial(of method: RPCMethod, origin: RequestOrigin) -> RPCError? {
        // Without rules every peer is admin (``AccessPolicy/roles(uid:gid:)``): nothing to look up.
        guard !self.access.rules.isEmpty else { return nil }
        let roles = self.access.roles(uid: origin.uid, gid: origin.gid)
        guard !AccessPolicy.allows(roles, method.access) else { return nil }
        let granted = roles.map(\.rawValue).sorted()
        self.logger?.notice(
            "denied a call",
            metadata: [
                "method": "\(method.name)", "uid": "\(origin.uid)", "gid": "\(origin.gid)",
                "roles": "\(granted.joined(separator: ","))",
            ]
        )
        return RPCError(
            reason: "forbidden",
            message: "uid \(origin.uid) (roles: \(granted.isEmpty ? "none" : granted.joined(separator: ", "))) "
                + "may not call \(method.name)",
            details: ["method": .string(method.name), "uid": .int(Int64(origin.uid)), "roles": .strings(granted)]
        )
    }
}
