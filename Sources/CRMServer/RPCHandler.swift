public import CRMApplication
import CRMJSON
import CRMProtocol

/// Turns request lines into JSON-RPC replies using the application core (DESIGN.md §5).
///
/// - A line is one request object or a batch array; malformed JSON is a -32700 parse error.
/// - Commands are validated and queued with the writer inside ``start(line:peer:)``, so pipelined
///   commands of one connection are executed in request order; queries wait for commands queued
///   before them (read-your-writes).
/// - The actor of every command is the socket peer's uid/gid.
public struct RPCHandler: RequestHandler {
    let core: CRMCore

    public init(core: CRMCore) { self.core = core }

    public func start(line: [UInt8], peer: PeerCredentials) -> Task<[UInt8]?, Never> {
        let json: JSON
        do {
            json = try JSON.parse(line)
        } catch {
            let reply = RPCResponse.failure(
                id: .null,
                error: RPCError(
                    code: RPCErrorCode.parseError,
                    message: "parse error: \(error)",
                    data: ["reason": "bad_request"]
                )
            )
            return Task { reply.serialized() }
        }
        let origin = RequestOrigin(uid: peer.uid, gid: peer.gid)
        if case .array(let elements) = json {
            guard !elements.isEmpty else {
                let reply = RPCResponse.failure(
                    id: .null,
                    error: RPCError(reason: "bad_request", message: "an empty batch is not a request")
                )
                return Task { reply.serialized() }
            }
            let tasks = elements.map { self.handle($0, origin: origin) }
            return Task {
                var replies: [JSON] = []
                for task in tasks {
                    if let reply = await task.value { replies.append(reply) }
                }
                return replies.isEmpty ? nil : JSON.array(replies).serialized()
            }
        }
        let task = self.handle(json, origin: origin)
        return Task { await task.value?.serialized() }
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

    /// Starts one request; the task yields its response, or `nil` for a notification.
    private func handle(_ json: JSON, origin: RequestOrigin) -> Task<JSON?, Never> {
        let request: RPCRequest
        switch RPCRequest.decode(json) {
        case .failure(let failure):
            let reply = RPCResponse.failure(id: failure.id, error: failure.error)
            return Task { reply }
        case .success(let decoded):
            request = decoded
        }
        let id = request.id
        if self.core.isCommand(request.method) {
            let pending = self.core.submit(method: request.method, params: request.params, origin: origin)
            return Task { RPCHandler.response(id: id, await pending.value) }
        }
        if self.core.isQuery(request.method) {
            let task = self.core.query(method: request.method, params: request.params)
            return Task { RPCHandler.response(id: id, await task.value) }
        }
        let error = RPCError(
            reason: "unknown_command",
            message: "method not found: \(request.method)",
            details: ["method": .string(request.method)]
        )
        return Task { RPCHandler.response(id: id, .failure(error)) }
    }

    /// The response for an outcome; `nil` for a notification (no id).
    static func response(id: JSON?, _ outcome: Result<JSON, RPCError>) -> JSON? {
        guard let id else { return nil }
        switch outcome {
        case .success(let result): return RPCResponse.success(id: id, result: result)
        case .failure(let error): return RPCResponse.failure(id: id, error: error)
        }
    }
}
