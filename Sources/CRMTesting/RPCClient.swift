public import CRMJSON
public import CRMProtocol
import Foundation

/// Runs blocking work on a thread of its own, so a test blocked on a socket never occupies one of
/// the few cooperative threads the in-process daemon needs to answer it.
public func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        thread.start()
    }
}

/// A JSON-RPC client for tests over a real Unix socket: one connection; every call blocks a thread
/// of its own (see ``onOwnThread(_:)``).
public final class RPCClient: @unchecked Sendable {
    // @unchecked: a client is used by one test task at a time; calls do not overlap.
    /// The underlying line client, for raw traffic.
    public let connection: UnixSocketClient
    private var nextID: Int64 = 1

    /// Connects to `socketPath`.
    public init(socketPath: String) throws {
        self.connection = try UnixSocketClient(path: socketPath, timeout: .seconds(60))
    }

    deinit { self.connection.close() }

    /// Sends one request and returns the whole response object.
    public func call(_ method: String, _ params: JSON? = nil) async throws -> JSON {
        try await onOwnThread { try self.callNow(method, params) }
    }

    /// ``call(_:_:)`` on the current thread (for tests that drive load from their own threads).
    public func callNow(_ method: String, _ params: JSON? = nil) throws -> JSON {
        let id = self.nextID
        self.nextID += 1
        try self.connection.sendLine(RPCRequest(id: .int(id), method: method, params: params).json.serialized())
        guard let line = try self.connection.readLine() else { throw RPCClientError.closed }
        let response = try JSON.parse(line)
        guard response["id"] == .int(id) else { throw RPCClientError.unexpectedSuccess(response) }
        return response
    }

    /// Sends one request and returns its result, throwing the response's ``RPCError``.
    public func result(_ method: String, _ params: JSON? = nil) async throws -> JSON {
        try RPCResponse.result(of: try await self.call(method, params))
    }

    /// Sends one request expected to fail and returns its error.
    public func error(_ method: String, _ params: JSON? = nil) async throws -> RPCError {
        let response = try await self.call(method, params)
        guard let error = response["error"].flatMap(RPCError.init(json:)) else {
            throw RPCClientError.unexpectedSuccess(response)
        }
        return error
    }

    /// Sends `requests` pipelined, `window` at a time (the replies of a window are read before the
    /// next is sent), and returns their results in order; the first error reply is thrown.
    public func results(_ requests: [(String, JSON)], window: Int = 128) async throws -> [JSON] {
        try await onOwnThread {
            var results: [JSON] = []
            results.reserveCapacity(requests.count)
            var start = requests.startIndex
            while start < requests.endIndex {
                let end = min(start + window, requests.endIndex)
                var ids: [Int64] = []
                for (method, params) in requests[start..<end] {
                    ids.append(self.nextID)
                    let request = RPCRequest(id: .int(self.nextID), method: method, params: params)
                    self.nextID += 1
                    try self.connection.sendLine(request.json.serialized())
                }
                for id in ids {
                    guard let line = try self.connection.readLine() else { throw RPCClientError.closed }
                    let response = try JSON.parse(line)
                    guard response["id"] == .int(id) else { throw RPCClientError.unexpectedSuccess(response) }
                    results.append(try RPCResponse.result(of: response))
                }
                start = end
            }
            return results
        }
    }

    /// Sends raw bytes followed by `\n`.
    public func sendRaw(_ line: String) async throws {
        try await self.sendRaw(Array(line.utf8))
    }

    /// Sends raw bytes followed by `\n`.
    public func sendRaw(_ bytes: [UInt8]) async throws {
        try await onOwnThread { try self.connection.sendLine(bytes) }
    }

    /// Reads one reply line as JSON, or `nil` at end of stream.
    public func readJSON() async throws -> JSON? {
        try await onOwnThread {
            guard let line = try self.connection.readLine() else { return nil }
            return try JSON.parse(line)
        }
    }
}

/// Failures of ``RPCClient`` that are not JSON-RPC errors.
public enum RPCClientError: Error, CustomStringConvertible {
    case closed
    case unexpectedSuccess(JSON)

    public var description: String {
        switch self {
        case .closed: return "the daemon closed the connection"
        case .unexpectedSuccess(let response): return "unexpected response \(response)"
        }
    }
}
