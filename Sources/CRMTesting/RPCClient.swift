public import CRMJSON
public import CRMProtocol

/// A JSON-RPC client for tests over a real Unix socket: one connection, blocking calls.
public final class RPCClient {
    /// The underlying line client, for raw traffic.
    public let connection: UnixSocketClient
    private var nextID: Int64 = 1

    /// Connects to `socketPath`.
    public init(socketPath: String) throws {
        self.connection = try UnixSocketClient(path: socketPath, timeout: .seconds(60))
    }

    deinit { self.connection.close() }

    /// Sends one request and returns the whole response object.
    public func call(_ method: String, _ params: JSON? = nil) throws -> JSON {
        let id = self.nextID
        self.nextID += 1
        try self.connection.sendLine(RPCRequest(id: .int(id), method: method, params: params).json.serialized())
        guard let response = try self.readJSON() else { throw RPCClientError.closed }
        return response
    }

    /// Sends one request and returns its result, throwing the response's ``RPCError``.
    public func result(_ method: String, _ params: JSON? = nil) throws -> JSON {
        try RPCResponse.result(of: try self.call(method, params))
    }

    /// Sends one request expected to fail and returns its error.
    public func error(_ method: String, _ params: JSON? = nil) throws -> RPCError {
        let response = try self.call(method, params)
        guard let error = response["error"].flatMap(RPCError.init(json:)) else {
            throw RPCClientError.unexpectedSuccess(response)
        }
        return error
    }

    /// Sends raw bytes followed by `\n`.
    public func sendRaw(_ line: String) throws { try self.connection.sendLine(Array(line.utf8)) }

    /// Reads one reply line as JSON, or `nil` at end of stream.
    public func readJSON() throws -> JSON? {
        guard let line = try self.connection.readLine() else { return nil }
        return try JSON.parse(line)
    }
}

/// Failures of ``RPCClient`` that are not JSON-RPC errors.
public enum RPCClientError: Error, CustomStringConvertible {
    case closed
    case unexpectedSuccess(JSON)

    public var description: String {
        switch self {
        case .closed: return "the daemon closed the connection"
        case .unexpectedSuccess(let response): return "expected an error, got \(response)"
        }
    }
}
