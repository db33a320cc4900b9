public import CRMApplication
public import CRMDomain
import CRMEventStore
public import CRMJSON
import CRMParams
public import CRMProtocol

extension RPCError {
    /// The JSON-RPC error of a rejection: the code of its reason, its message, and
    /// `data: {reason, field, details}`.
    public init(_ rejection: Rejection) {
        self.init(
            reason: rejection.reason.rawValue,
            message: rejection.message,
            field: rejection.field,
            details: rejection.details.map { .object($0.mapValues(\.json)) }
        )
    }
}

/// Turning typed outcomes into JSON-RPC results and errors.
public enum RPCReplies {
    /// The result of a committed command: `{"<kind>_id": id, "version"?, "events": [{seq, type, stream,
    /// stream_version}], "position"}`, written straight into canonical bytes (the key order is checked
    /// in debug builds).
    public static func result(_ receipt: CommandReceipt) -> JSON {
        var writer = CanonicalJSONWriter(capacity: 96 + 96 * receipt.events.count)
        writer.openObject()
        // The members of the result in canonical order: the record's id key sorts among the others.
        let idKey = "\(receipt.result.record.rawValue)_id"
        var keys = [idKey, "events", "position"]
        if receipt.result.version != nil { keys.append("version") }
        keys.sort(by: JSON.utf8Precedes)
        for key in keys {
            writer.key(key)
            switch key {
            case "events":
                writer.openArray()
                for event in receipt.events {
                    writer.openObject()
                    writer.member("seq", Int64(event.seq))
                    writer.member("stream", event.stream)
                    writer.member("stream_version", Int64(event.streamVersion))
                    writer.member("type", event.type)
                    writer.closeObject()
                }
                writer.closeArray()
            case "position": writer.int(Int64(receipt.position))
            case "version": writer.int(receipt.result.version)
            default: writer.string(receipt.result.id)
            }
        }
        writer.closeObject()
        return .serialized(SerializedJSON(writer.bytes))
    }

    /// The response line (without its newline) for a command's outcome; `nil` for a notification (no
    /// id): ``line(id:_:)`` of ``result(of:)-(CommandOutcome)``.
    public static func responseText(id: JSON?, _ outcome: CommandOutcome) -> [UInt8]? {
        RPCReplies.line(id: id, RPCReplies.result(of: outcome))
    }

    /// The result or error of a command's outcome.
    public static func result(of outcome: CommandOutcome) -> Result<JSON, RPCError> {
        switch outcome {
        case .committed(let receipt): return .success(RPCReplies.result(receipt))
        case .rejected(let rejection): return .failure(RPCError(rejection))
        case .rebuildsStarted(let status): return .success(status)
        case .replicated(let position): return .success(["position": .int(Int64(position))])
        case .storedReply(let text):
            guard let json = try? JSON.parse(text) else {
                return .failure(RPCError(reason: "internal", message: "stored reply is unreadable"))
            }
            if let error = json["error"], let rpcError = RPCError(json: error) { return .failure(rpcError) }
            return .success(json["result"] ?? .null)
        }
    }

    /// The result or error of a query's answer.
    public static func result(of answer: Result<JSON, Rejection>) -> Result<JSON, RPCError> {
        answer.mapError(RPCError.init)
    }

    /// The response for an outcome; `nil` for a notification (no id).
    public static func response(id: JSON?, _ outcome: Result<JSON, RPCError>) -> JSON? {
        guard let id else { return nil }
        switch outcome {
        case .success(let result): return RPCResponse.success(id: id, result: result)
        case .failure(let error): return RPCResponse.failure(id: id, error: error)
        }
    }
}

extension RPCReplies {
    /// ``response(id:_:)`` serialized: the reply line without its `\n`, or `nil` for a notification.
    /// A success is written out directly (``CRMProtocol/RPCResponse/serializedSuccess(id:result:)``).
    public static func line(id: JSON?, _ outcome: Result<JSON, RPCError>) -> [UInt8]? {
        guard let id else { return nil }
        switch outcome {
        case .success(let result): return RPCResponse.serializedSuccess(id: id, result: result)
        case .failure(let error): return RPCResponse.failure(id: id, error: error).serialized()
        }
    }
}

/// A command request as the pipeline takes it: the typed command and the options every command shares.
public struct CommandRequest: Sendable {
    public var command: any DomainCommand
    public var options: CommandOptions

    /// Parses the params of command `method`: the common options, then the command's own fields.
    public init(_ method: RPCMethod, params: JSON?) throws(Rejection) {
        guard let decode = method.decode else { throw Rejection(.unknownCommand, "unknown method \(method.name)") }
        var common = try Params(params)
        self.options = try CommandRequest.options(&common)
        self.command = try decode(&common)
    }

    /// The common options of every command (`command_id`, `expected_version`, `at`,
    /// `correlation_id`, `on_behalf_of`).
    static func options(_ common: inout Params) throws(Rejection) -> CommandOptions {
        let commandID = try common.string("command_id")
        if let commandID, commandID.isEmpty || commandID.utf8.count > 128 {
            throw Rejection.invalid("command_id", "must be 1 to 128 bytes")
        }
        let expected = try common.raw("expected_version").map { json throws(Rejection) in
            try ExpectedVersion(json: json)
        }
        let at = try common.timestamp("at")
        let correlationID = try common.string("correlation_id")
        let onBehalfOf = try common.string("on_behalf_of")
        if let onBehalfOf, onBehalfOf.isEmpty || onBehalfOf.utf8.count > 128 {
            throw Rejection.invalid("on_behalf_of", "must be 1 to 128 bytes")
        }
        return CommandOptions(
            commandID: commandID,
            expectedVersion: expected,
            at: at,
            correlationID: correlationID,
            onBehalfOf: onBehalfOf
        )
    }
}

/// The params of `projection.rebuild`: `{"name": "<read model>" | "all"}`.
public enum RebuildRequest {
    /// The read model named (or `all`).
    public static func name(_ params: JSON?) throws(Rejection) -> String {
        var reader = try Params(params)
        guard let name = try reader.string("name", required: true) else {
            throw Rejection.invalid("name", "is required")
        }
        try reader.finish()
        return name
    }
}

/// The JSON-RPC reply of a command submitted by method name (``CommandPipeline/submit(method:params:origin:)``).
public struct PendingReply: Sendable {
    private let outcome: Pending<CommandOutcome>?
    private let refused: RPCError?

    init(_ outcome: Pending<CommandOutcome>) {
        self.outcome = outcome
        self.refused = nil
    }

    init(refused: RPCError) {
        self.outcome = nil
        self.refused = refused
    }

    /// The result or error, once the command is durable or refused.
    public var value: Result<JSON, RPCError> {
        get async {
            guard let outcome = self.outcome else { return .failure(self.refused!) }
            return RPCReplies.result(of: await outcome.value)
        }
    }
}

extension CommandPipeline {
    /// Parses the params of command `method` as the server does and submits it: for tools and tests
    /// that speak in method names and JSON.
    public func submit(method: String, params: JSON?, origin: RequestOrigin) -> PendingReply {
        guard let entry = RPCMethods.method(method), entry.kind == .command else {
            return PendingReply(refused: RPCError(Rejection(.unknownCommand, "unknown method \(method)")))
        }
        do throws(Rejection) {
            return PendingReply(try self.submit(entry, params: params, origin: origin).reply)
        } catch {
            return PendingReply(refused: RPCError(error))
        }
    }

    /// Queues command `entry` with `params`: `projection.rebuild`, `value.model.fit` and `rfm.snapshot`
    /// their own way,
    /// every other command decoded and submitted. Returns the reply and the writer ticket (`nil` when
    /// the command did not reach the writer yet).
    public func submit(
        _ entry: RPCMethod,
        params: JSON?,
        origin: RequestOrigin
    ) throws(Rejection) -> (reply: Pending<CommandOutcome>, ticket: UInt64?) {
        if entry.name == "projection.rebuild" {
            return self.submitRebuild(name: try RebuildRequest.name(params))
        }
        // A log that failed its start-up checks refuses every command, whatever its params.
        if let refusal = self.refusal { throw refusal }
        if entry.name == FitValueModel.method {
            var common = try Params(params)
            let options = try CommandRequest.options(&common)
            return (self.submitFit(try ValueFitRequest(params: &common), options: options, origin: origin), nil)
        }
        if entry.name == TakeRfmSnapshot.method {
            var common = try Params(params)
            let options = try CommandRequest.options(&common)
            let request = try RfmSnapshotRequest(params: &common)
            return (self.submitRfmSnapshot(request, options: options, origin: origin), nil)
        }
        if entry.name == SendCampaign.method {
            var common = try Params(params)
            let options = try CommandRequest.options(&common)
            let id = try common.identifier("campaign_id", required: true)!
            try common.finish()
            return (self.submitCampaignSend(campaignID: id, options: options, origin: origin), nil)
        }
        let request = try CommandRequest(entry, params: params)
        if let create = request.command as? CreateList, create.source != nil {
            return (self.submitListSnapshot(create, options: request.options, origin: origin), nil)
        }
        return self.submitWithTicket(request.command, options: request.options, origin: origin)
    }
}
