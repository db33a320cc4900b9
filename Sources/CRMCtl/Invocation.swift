import ArgumentParser
import CRMJSON
import CRMProtocol

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A subcommand that sends one JSON-RPC request to crmd and prints the reply.
///
/// Conforming types provide the method, the params built from their flags and the readable form of
/// the result; ``run()`` does the rest (connect, send, read one reply line, check its id, print).
protocol RPCCommand: ParsableCommand {
    /// The global options (`--socket`, `--json`, `--timeout`).
    var global: GlobalOptions { get }
    /// The JSON-RPC method to call.
    var method: String { get }
    /// The request params built from the flags, or `nil` for none.
    func params() throws -> JSON?
    /// The readable output for a successful `result` (without a trailing newline).
    func render(_ result: JSON) -> String
    /// The lines printed for an error reply; by default ``Output/errorLines(_:)``. A command whose
    /// flags differ from the params crmd's message names can say it in its own words.
    func errorLines(_ error: RPCError) -> [String]
}

extension RPCCommand {
    func errorLines(_ error: RPCError) -> [String] { Output.errorLines(error) }

    /// Calls ``method`` and prints the result: raw compact JSON with `--json`, else ``render(_:)``.
    /// A failure is printed to stderr and ends the process with its ``CtlFailure/exitCode``; params
    /// that cannot be built exit with status 64.
    mutating func run() throws {
        let result = try self.callOrExit(self.method, try self.checkedParams())
        print(self.global.json ? result.serializedString() : self.render(result))
    }

    /// ``params()``; params that cannot be built exit with status 64.
    func checkedParams() throws -> JSON? {
        do {
            return try self.params()
        } catch let error as ValidationError {
            // Thrown from run(), ArgumentParser would show the root command's usage; say it plainly.
            Output.printError(["crmctl: \(error.message) (see --help)"])
            throw ExitCode.validationFailure
        }
    }

    /// ``run()`` for a paged listing (`members`, `next_cursor`): with `all`, every later page is asked
    /// for at the first page's `as_of` (so all of them describe the same instant even without
    /// `--as-of`) and the members are printed together.
    func runPaged(all: Bool) throws {
        let params = try self.checkedParams()
        var result = try self.callOrExit(self.method, params)
        if all {
            var members = result["members"]?.arrayValue ?? []
            var page = params ?? [:]
            page["as_of"] = result["as_of"]
            var next = Output.nonNull(result["next_cursor"])
            while let cursor = next {
                page["cursor"] = cursor
                let more = try self.callOrExit(self.method, page)
                members += more["members"]?.arrayValue ?? []
                next = Output.nonNull(more["next_cursor"])
                if next == cursor {
                    Output.printError(["crmctl: crmd returned the cursor \(Output.plain(cursor)) twice"])
                    throw ExitCode(2)
                }
            }
            result["members"] = .array(members)
            result["next_cursor"] = .null
        }
        print(self.global.json ? result.serializedString() : self.render(result))
    }

    /// Calls `method` on the configured socket; a failure is printed to stderr and ends the process
    /// with its ``CtlFailure/exitCode``.
    func callOrExit(_ method: String, _ params: JSON?) throws -> JSON {
        do {
            return try Invocation.call(
                method: method,
                params: params,
                socket: self.global.resolvedSocketPath,
                timeout: self.global.timeoutDuration
            )
        } catch let failure {
            if case .rejected(let error) = failure {
                Output.printError(self.errorLines(error))
            } else {
                Output.printError(failure.lines)
            }
            throw ExitCode(failure.exitCode)
        }
    }
}

/// Why a call did not produce a result.
enum CtlFailure: Error, Equatable {
    /// crmd answered with a JSON-RPC error.
    case rejected(RPCError)
    /// crmd could not be reached or the connection failed; `hint` is an extra line of advice.
    case unreachable(message: String, hint: String?)
    /// crmd answered something that is not a valid reply to the request.
    case badReply(String)

    /// The process exit status: 1 for an error reply, 2 for connection and protocol failures.
    var exitCode: Int32 {
        switch self {
        case .rejected: return 1
        case .unreachable, .badReply: return 2
        }
    }

    /// The lines printed to stderr, each to be prefixed by `crmctl: ` only where it is a message.
    var lines: [String] {
        switch self {
        case .rejected(let error): return Output.errorLines(error)
        case .unreachable(let message, let hint): return ["crmctl: \(message)"] + (hint.map { ["crmctl: \($0)"] } ?? [])
        case .badReply(let message): return ["crmctl: \(message)"]
        }
    }
}

/// One request over one connection.
enum Invocation {
    /// A fresh request id. Each invocation sends one request, so any number that is unlikely to be
    /// echoed by mistake will do.
    static func makeID() -> JSON { .int(Int64.random(in: 1...2_000_000_000)) }

    /// The request as one compact JSON line, without the `\n`.
    static func requestLine(id: JSON, method: String, params: JSON?) -> [UInt8] {
        RPCRequest(id: id, method: method, params: params).json.serialized()
    }

    /// Reads one reply line: its `result`, or a ``CtlFailure``.
    ///
    /// An error reply whose id is `null` is accepted as the answer (crmd could not read the id, for
    /// example after a parse error); any other reply must carry the request's id.
    static func result(ofReply line: [UInt8], id: JSON) throws(CtlFailure) -> JSON {
        let reply: JSON
        do {
            reply = try JSON.parse(line)
        } catch {
            throw .badReply("crmd sent a reply that is not JSON (\(error))")
        }
        guard case .object = reply else {
            throw .badReply("crmd sent a reply that is not a JSON object: \(Output.clip(reply.serializedString()))")
        }
        let replyID = reply["id"] ?? .null
        if let errorObject = reply["error"] {
            guard let error = RPCError(json: errorObject) else {
                throw .badReply("crmd sent a malformed error: \(Output.clip(errorObject.serializedString()))")
            }
            guard replyID.isNull || Invocation.sameID(replyID, id) else {
                throw .badReply("crmd answered request \(replyID) instead of \(id)")
            }
            throw .rejected(error)
        }
        guard Invocation.sameID(replyID, id) else {
            throw .badReply("crmd answered request \(replyID) instead of \(id)")
        }
        guard let result = reply["result"] else {
            throw .badReply("crmd sent a reply with neither result nor error")
        }
        return result
    }

    /// Whether two ids are equal, treating `5` and `5.0` alike.
    static func sameID(_ a: JSON, _ b: JSON) -> Bool {
        if a == b { return true }
        if let x = a.intValue, let y = b.intValue, a.stringValue == nil, b.stringValue == nil { return x == y }
        return false
    }

    /// Connects to `socket`, sends one request and returns its result.
    static func call(method: String, params: JSON?, socket: String, timeout: Duration) throws(CtlFailure) -> JSON {
        let client: UnixSocketClient
        do {
            client = try UnixSocketClient(path: socket, timeout: timeout)
        } catch {
            throw Invocation.failure(connecting: error, socket: socket)
        }
        defer { client.close() }
        let id = Invocation.makeID()
        let reply: [UInt8]?
        do {
            try client.sendLine(Invocation.requestLine(id: id, method: method, params: params))
            reply = try client.readLine()
        } catch {
            throw Invocation.failure(talking: error, socket: socket)
        }
        guard let reply else {
            throw .unreachable(message: "crmd at \(socket) closed the connection without replying", hint: nil)
        }
        return try Invocation.result(ofReply: reply, id: id)
    }

    /// The failure for an error thrown while connecting.
    static func failure(connecting error: any Error, socket: String) -> CtlFailure {
        let startHint =
            "is crmd running? start it with scripts/run.sh, or point --socket (or CRMD_SOCKET) at its socket"
        guard let error = error as? UnixSocketClientError else {
            return .unreachable(message: "cannot connect to \(socket): \(error)", hint: startHint)
        }
        if case .connect = error.kind, let kind = Invocation.nonSocketKind(socket) {
            return .unreachable(
                message: "cannot connect to \(socket): not a socket (it is \(kind))",
                hint: "point --socket (or CRMD_SOCKET) at crmd's socket, e.g. ./var/crmd.sock"
            )
        }
        switch error.kind {
        case .connect(let code) where code == ENOENT || code == ECONNREFUSED:
            let reason = code == ENOENT ? "no such socket" : "connection refused"
            return .unreachable(message: "cannot connect to \(socket): \(reason)", hint: startHint)
        case .connect(let code) where code == EACCES:
            return .unreachable(
                message: "cannot connect to \(socket): permission denied",
                hint: "the socket is only open to crmd's user and group"
            )
        default:
            return .unreachable(message: error.description, hint: nil)
        }
    }

    /// What `path` is when it exists but is not a Unix socket ("a regular file", "a directory", …);
    /// `nil` for a socket or a path that cannot be examined.
    static func nonSocketKind(_ path: String) -> String? {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        switch status.st_mode & S_IFMT {
        case S_IFSOCK: return nil
        case S_IFREG: return "a regular file"
        case S_IFDIR: return "a directory"
        case S_IFIFO: return "a named pipe"
        default: return "a special file"
        }
    }

    /// The failure for an error thrown while sending or receiving.
    static func failure(talking error: any Error, socket: String) -> CtlFailure {
        if let error = error as? UnixSocketClientError, error.kind == .timedOut {
            return .unreachable(
                message: "crmd at \(socket) did not answer in time",
                hint: "raise --timeout if crmd is busy"
            )
        }
        return .unreachable(message: "\(error)", hint: nil)
    }
}
