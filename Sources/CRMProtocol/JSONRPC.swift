public import CRMJSON

/// JSON-RPC 2.0 error codes used by crmd.
///
/// The standard codes cover malformed traffic; every domain rejection has its own code in
/// -32001…-32099, chosen by its `data.reason` (see ``RPCErrorCode/code(forReason:)``), so a client may
/// switch on either.
public enum RPCErrorCode {
    public static let parseError = -32700
    public static let invalidRequest = -32600
    public static let methodNotFound = -32601
    public static let invalidParams = -32602
    public static let internalError = -32603

    /// The code of each `data.reason`, in the order
    public static let byReason: [String: Int] = {
        var table: [String: Int] = [
            "bad_request": RPCErrorCode.invalidRequest,
            "unknown_command": RPCErrorCode.methodNotFound,
            "missing_field": RPCErrorCode.invalidParams,
            "invalid_field": RPCErrorCode.invalidParams,
            "internal": RPCErrorCode.internalError,
        ]
        let domain = [
            "invalid_email", "invalid_phone", "not_found", "already_exists", "version_conflict",
            "timestamp_in_future", "timestamp_out_of_order", "duplicate_email", "email_erased", "missing_identity",
            "customer_merged", "customer_erased", "invalid_merge", "lifecycle_backward", "unknown_pipeline",
            "unknown_stage", "invalid_pipeline", "stage_in_use", "lost_reason_required", "ticket_closed",
            "invalid_transition", "invalid_timezone", "invalid_hours", "empty_schedule", "invalid_holiday",
            "unknown_schedule", "invalid_target", "duplicate_target", "unknown_policy", "forbidden",
            "projection_rebuilding", "shutting_down", "projection_failed", "chain_broken",
            "unsupported_schema_version", "storage_full", "legal_hold", "pii_unavailable",
            "refund_exceeds_order", "order_cancelled", "currency_mismatch", "model_not_fitted", "insufficient_data",
            "fit_failed", "unknown_survey", "invalid_score", "survey_closed", "survey_expired", "unknown_segment",
            "invalid_filter", "unknown_list", "unknown_campaign", "campaign_already_sent", "empty_audience",
            "not_a_recipient", "read_only_replica",
        ]
        for (offset, reason) in domain.enumerated() { table[reason] = -32001 - offset }
        return table
    }()

    /// The JSON-RPC code for a rejection reason; unknown reasons map to -32000.
    public static func code(forReason reason: String) -> Int { RPCErrorCode.byReason[reason] ?? -32000 }
}

/// A JSON-RPC error object.
public struct RPCError: Error, Sendable, Hashable, CustomStringConvertible {
    public var code: Int
    public var message: String
    /// `{reason, field, details}` for crmd errors.
    public var data: JSON?

    public init(code: Int, message: String, data: JSON? = nil) {
        self.code = code
        self.message = message
        self.data = data
    }

    /// An error carrying crmd's `data.reason`/`data.field`/`data.details`, with the code of the reason.
    public init(reason: String, message: String, field: String? = nil, details: JSON? = nil, code: Int? = nil) {
        var data: JSON = ["reason": .string(reason)]
        if let field { data["field"] = .string(field) }
        if let details { data["details"] = details }
        self.init(code: code ?? RPCErrorCode.code(forReason: reason), message: message, data: data)
    }

    /// `data.reason`, if any.
    public var reason: String? { self.data?["reason"]?.stringValue }
    /// `data.field`, if any.
    public var field: String? { self.data?["field"]?.stringValue }

    /// The error object as JSON.
    public var json: JSON {
        var object: JSON = ["code": .int(Int64(self.code)), "message": .string(self.message)]
        if let data = self.data { object["data"] = data }
        return object
    }

    /// Reads an error object.
    public init?(json: JSON) {
        guard let code = json["code"]?.intValue, let message = json["message"]?.stringValue else { return nil }
        self.init(code: Int(code), message: message, data: json["data"])
    }

    public var description: String {
        var text = "error \(self.code): \(self.message)"
        if let reason = self.reason { text += " [\(reason)]" }
        if let field = self.field { text += " (field \(field))" }
        return text
    }
}

/// A decoded JSON-RPC request.
public struct RPCRequest: Sendable, Hashable {
    /// The request id (string, number or null); `nil` for a notification, which gets no reply.
    public var id: JSON?
    public var method: String
    public var params: JSON?

    public init(id: JSON?, method: String, params: JSON?) {
        self.id = id
        self.method = method
        self.params = params
    }

    /// Validates one request object. On failure returns the error and the id to answer it with.
    public static func decode(_ json: JSON) -> Result<RPCRequest, RPCFailure> {
        guard case .object(let members) = json else {
            return .failure(RPCFailure(id: .null, error: RPCError(reason: "bad_request", message: "a request must be a JSON object")))
        }
        var id: JSON? = members["id"]
        switch id {
        case .none, .null?, .string?, .int?: break
        case .double?: break
        default:
            return .failure(
                RPCFailure(id: .null, error: RPCError(reason: "bad_request", message: "id must be a string, number or null"))
            )
        }
        for key in members.keys where !["jsonrpc", "id", "method", "params"].contains(key) {
            return .failure(
                RPCFailure(id: id ?? .null, error: RPCError(reason: "bad_request", message: "unknown member \"\(key)\" in request"))
            )
        }
        guard members["jsonrpc"] == .string("2.0") else {
            return .failure(RPCFailure(id: id ?? .null, error: RPCError(reason: "bad_request", message: "jsonrpc must be \"2.0\"")))
        }
        guard let method = members["method"] else {
            return .failure(RPCFailure(id: id ?? .null, error: RPCError(reason: "bad_request", message: "method is missing")))
        }
        guard case .string(let name) = method else {
            return .failure(RPCFailure(id: id ?? .null, error: RPCError(reason: "bad_request", message: "method must be a string")))
        }
        let params = members["params"]
        switch params {
        case .none, .object?: break
        case .array?:
            return .failure(
                RPCFailure(
                    id: id ?? .null,
                    error: RPCError(reason: "invalid_field", message: "params must be an object (by-name params)", field: "params")
                )
            )
        default:
            return .failure(
                RPCFailure(
                    id: id ?? .null,
                    error: RPCError(reason: "invalid_field", message: "params must be an object", field: "params")
                )
            )
        }
        if id == nil { id = nil }
        return .success(RPCRequest(id: id, method: name, params: params))
    }

    /// Decodes a request line that is a plain, valid request object, without building the object:
    /// the members `jsonrpc` (`"2.0"`) and `method` (a string), `id` (a string, number or null) and
    /// `params` (an object) if present, each once. `nil` for anything else (a batch, malformed JSON, an
    /// invalid request): parse those with ``CRMJSON/JSON/parse(_:)`` and ``decode(_:)``, which give
    /// their errors. A request it decodes is the one those would give.
    public static func decodePlain(line: [UInt8]) -> RPCRequest? {
        var id: JSON?
        var method: String?
        var params: JSON?
        var seen: UInt8 = 0
        let plain = JSON.forEachMember(in: line) { key, value in
            let bit: UInt8
            switch key {
            case "id":
                bit = 1
                switch value {
                case .null, .string, .int, .double: id = value
                default: return false
                }
            case "jsonrpc":
                bit = 2
                guard case .string("2.0") = value else { return false }
            case "method":
                bit = 4
                guard case .string(let name) = value else { return false }
                method = name
            case "params":
                bit = 8
                guard case .object = value else { return false }
                params = value
            default:
                return false
            }
            guard seen & bit == 0 else { return false }
            seen |= bit
            return true
        }
        guard plain, seen & 2 != 0, let method else { return nil }
        return RPCRequest(id: id, method: method, params: params)
    }

    /// The request as JSON.
    public var json: JSON {
        var object: JSON = ["jsonrpc": "2.0", "method": .string(self.method)]
        if let id = self.id { object["id"] = id }
        if let params = self.params { object["params"] = params }
        return object
    }
}

/// A request that could not be accepted, with the id to answer it with.
public struct RPCFailure: Error, Sendable, Hashable {
    public var id: JSON
    public var error: RPCError

    public init(id: JSON, error: RPCError) {
        self.id = id
        self.error = error
    }
}

/// Building and reading JSON-RPC responses.
public enum RPCResponse {
    /// A success response.
    public static func success(id: JSON, result: JSON) -> JSON {
        ["jsonrpc": "2.0", "id": id, "result": result]
    }

    /// An error response.
    public static func failure(id: JSON, error: RPCError) -> JSON {
        ["jsonrpc": "2.0", "id": id, "error": error.json]
    }

    /// ``success(id:result:)`` serialized, written out directly: the same bytes, without building and
    /// sorting the response object (the members `id`, `jsonrpc`, `result` are in canonical order).
    public static func serializedSuccess(id: JSON, result: JSON) -> [UInt8] {
        var out: [UInt8] = []
        if case .serialized(let text) = result {
            out.reserveCapacity(text.bytes.count + 64)
        } else {
            out.reserveCapacity(256)
        }
        out.append(contentsOf: #"{"id":"#.utf8)
        id.write(into: &out)
        out.append(contentsOf: #","jsonrpc":"2.0","result":"#.utf8)
        result.write(into: &out)
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// The result of a response, or its error thrown as ``RPCError``.
    public static func result(of response: JSON) throws(RPCError) -> JSON {
        if let error = response["error"] {
            throw RPCError(json: error) ?? RPCError(code: RPCErrorCode.internalError, message: "malformed error: \(error)")
        }
        guard let result = response["result"] else {
            throw RPCError(code: RPCErrorCode.internalError, message: "response has neither result nor error")
        }
        return result
    }
}
