import ArgumentParser
import CRMJSON

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Options every subcommand takes: where crmd listens, how to print, how long to wait.
struct GlobalOptions: ParsableArguments {
    /// The socket path used when neither `--socket` nor `$CRMD_SOCKET` is given.
    static let defaultSocket = "./var/crmd.sock"

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Path of crmd's Unix socket (default: $CRMD_SOCKET, else \(GlobalOptions.defaultSocket)).",
            valueName: "path"
        )
    )
    var socket: String?

    @Flag(name: .long, help: "Print the raw JSON-RPC result as one line of JSON, for scripts.")
    var json = false

    @Option(
        name: .long,
        help: ArgumentHelp("Seconds to wait for connecting, sending and the reply.", valueName: "seconds")
    )
    var timeout: Double = 30

    func validate() throws {
        guard self.timeout > 0, self.timeout.isFinite else {
            throw ValidationError("--timeout must be a positive number of seconds")
        }
        if let socket = self.socket, socket.isEmpty {
            throw ValidationError("--socket must not be empty")
        }
    }

    /// The socket path: `--socket`, else a non-empty `CRMD_SOCKET` from `environment`, else
    /// ``defaultSocket``.
    func socketPath(environment: [String: String]) -> String {
        if let socket = self.socket { return socket }
        if let fromEnvironment = environment["CRMD_SOCKET"], !fromEnvironment.isEmpty { return fromEnvironment }
        return GlobalOptions.defaultSocket
    }

    /// The socket path, reading `CRMD_SOCKET` from the process environment.
    var resolvedSocketPath: String {
        var environment: [String: String] = [:]
        if let value = getenv("CRMD_SOCKET") { environment["CRMD_SOCKET"] = String(cString: value) }
        return self.socketPath(environment: environment)
    }

    /// `--timeout` as a `Duration`.
    var timeoutDuration: Duration { .milliseconds(Int64((self.timeout * 1000).rounded(.up))) }
}

/// `--add`/`--remove` of the tag commands (`customer tag`, `ticket tag`).
struct TagChangeOptions: ParsableArguments {
    @Option(name: .customLong("add"), help: ArgumentHelp("Tag to add; repeatable.", valueName: "tag"))
    var add: [String] = []

    @Option(name: .customLong("remove"), help: ArgumentHelp("Tag to remove; repeatable.", valueName: "tag"))
    var remove: [String] = []

    func validate() throws {
        if self.add.isEmpty, self.remove.isEmpty { throw ValidationError("give --add and/or --remove") }
    }

    /// Adds `add` and `remove` to `params`.
    func apply(to params: inout [String: JSON]) {
        if !self.add.isEmpty { params["add"] = .strings(self.add) }
        if !self.remove.isEmpty { params["remove"] = .strings(self.remove) }
    }
}

/// The params every command (but no query) accepts: idempotency key, optimistic concurrency,
/// business time, correlation and the person the command is issued for.
struct CommandOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Idempotency key (1 to 128 bytes): a retry with the same key returns the first reply "
                + "and writes nothing.",
            valueName: "key"
        )
    )
    var commandID: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Fail with version_conflict unless the stream is at this version: an integer, any or no_stream.",
            valueName: "version"
        )
    )
    var expectedVersion: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Business time of the command, RFC 3339 (default: now); at most 5 minutes ahead and not before "
                + "the stream's last event.",
            valueName: "time"
        )
    )
    var at: String?

    @Option(name: .long, help: ArgumentHelp("Correlation id stored with the events.", valueName: "id"))
    var correlationID: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Who the command is issued for (e.g. an agent id), stored beside the actor.",
            valueName: "id"
        )
    )
    var onBehalfOf: String?

    func validate() throws {
        if let version = self.expectedVersion {
            _ = try ParamParsing.expectedVersion(version)
        }
    }

    /// Adds the given common params to `params`.
    func apply(to params: inout [String: JSON]) throws {
        if let id = self.commandID { params["command_id"] = .string(id) }
        if let version = self.expectedVersion { params["expected_version"] = try ParamParsing.expectedVersion(version) }
        if let at = self.at { params["at"] = .string(at) }
        if let id = self.correlationID { params["correlation_id"] = .string(id) }
        if let id = self.onBehalfOf { params["on_behalf_of"] = .string(id) }
    }
}
