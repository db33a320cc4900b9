import Foundation

/// A real `nats-server` with JetStream, started as a child process on loopback for a test: alone, or
/// as one node of a cluster on loopback ports. Its log is read on a thread of its own (so the server
/// never blocks on a full pipe) and its client port is learnt from it.
public final class NATSServer: @unchecked Sendable {
    public let name: String
    public let port: Int
    public let storeDirectory: String
    private let process: Process
    private let log = ServerLog()

    /// A child's log, read on a thread of its own.
    final class ServerLog: @unchecked Sendable {
        let condition = NSCondition()
        /// Guarded by `condition`.
        var text = ""

        /// Reads `handle` to its end on a new thread.
        func follow(_ handle: FileHandle) {
            let thread = Thread { [self] in
                while true {
                    let chunk = handle.availableData
                    self.condition.withLock {
                        self.text += chunk.isEmpty ? "\n<exited>" : String(decoding: chunk, as: UTF8.self)
                        self.condition.broadcast()
                    }
                    if chunk.isEmpty { return }
                }
            }
            thread.name = "nats-server-log"
            thread.start()
        }

        /// Waits up to `seconds` for `marker` (or the end of the log); the log so far.
        func wait(for marker: String, seconds: Double) -> String {
            self.condition.withLock {
                let deadline = Date(timeIntervalSinceNow: seconds)
                while !self.text.contains(marker), !self.text.contains("<exited>") {
                    if !self.condition.wait(until: deadline) { break }
                }
                return self.text
            }
        }
    }

    /// The client URL.
    public var url: String { "nats://127.0.0.1:\(self.port)" }

    /// Starts a server storing its streams in `storeDirectory`, on `port` (a free one when `nil`),
    /// named `name`; `cluster` makes it a node listening for routes on `cluster.port` and routing to
    /// `cluster.routes`. Returns once it accepts clients.
    public init(
        storeDirectory: String,
        port: Int? = nil,
        name: String = "n1",
        cluster: (port: Int, routes: [Int])? = nil
    ) throws {
        self.name = name
        self.storeDirectory = storeDirectory
        self.process = Process()
        self.process.executableURL = URL(fileURLWithPath: try NATSServer.executable())
        var arguments = [
            "-js", "-sd", storeDirectory, "-a", "127.0.0.1", "-p", String(port ?? -1), "-n", name,
        ]
        if let cluster {
            arguments += [
                "--cluster_name", "crmd-test", "--cluster", "nats://127.0.0.1:\(cluster.port)",
                "--routes", cluster.routes.map { "nats://127.0.0.1:\($0)" }.joined(separator: ","),
            ]
        }
        self.process.arguments = arguments
        let errors = Pipe()
        self.process.standardError = errors
        self.process.standardOutput = FileHandle.nullDevice
        try self.process.run()
        self.log.follow(errors.fileHandleForReading)
        let marker = "Listening for client connections on 127.0.0.1:"
        let text = self.log.wait(for: "Server is ready", seconds: 20)
        guard text.contains("Server is ready"), let range = text.range(of: marker),
            let found = Int(text[range.upperBound...].prefix { $0.isNumber })
        else {
            self.process.terminate()
            throw DaemonProcessError(message: "nats-server did not start: \(text)")
        }
        self.port = found
    }

    /// The server's log so far.
    public var output: String { self.log.condition.withLock { self.log.text } }

    /// Sends `signal` and waits for the server to exit.
    public func stop(signal: Int32 = SIGTERM) {
        guard self.process.isRunning else { return }
        kill(self.process.processIdentifier, signal)
        self.process.waitUntilExit()
    }

    deinit { self.stop(signal: SIGKILL) }

    /// The `nats-server` executable: on `PATH`, else where Debian's package puts it.
    static func executable() throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let candidates = path.split(separator: ":").map { "\($0)/nats-server" } + ["/usr/sbin/nats-server"]
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw DaemonProcessError(
                message: "nats-server is not installed (scripts/setup.sh installs it: apt-get install -y nats-server)"
            )
        }
        return found
    }

    /// A TCP port on loopback that nothing listens on right now.
    public static func freePort() -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                _ = bind(descriptor, generic, length)
                return getsockname(descriptor, generic, &length)
            }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
