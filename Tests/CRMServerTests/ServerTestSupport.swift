import CRMProtocol
import CRMServer
import Foundation
import Logging
import ServiceLifecycle
import ServiceLifecycleTestKit
import NIOPosix
import Synchronization

// MARK: - Temporary socket paths

/// A fresh directory under /tmp (short, because `sun_path` holds only 107 bytes), removed with its
/// contents at the end of the test.
struct SocketDirectory: ~Copyable {
    let path: String

    init() throws {
        var template = Array("/tmp/crmd-test-XXXXXX".utf8CString)
        let created = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard let created else {
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
        }
        self.path = String(cString: created)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: self.path)
    }
}

// MARK: - Blocking work off the cooperative pool

/// Runs blocking socket code on its own thread, so it cannot starve the Swift concurrency pool
/// that the server runs on (this machine has 2 cores, so the pool has 2 threads).
func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            continuation.resume(with: Result { try body() })
        }
        thread.start()
    }
}

/// A ``UnixSocketClient`` that a test can keep across several `onThread` calls.
///
/// `@unchecked Sendable`: a test uses it strictly sequentially (each call is awaited before the
/// next), so the non-thread-safe client is never used by two threads at once.
final class TestClient: @unchecked Sendable {
    private let client: UnixSocketClient

    /// Connects; connecting to a listening Unix socket does not block. A read waits up to 120 s: under
    /// a loaded full test run (every suite in parallel on 2 cores) the server's reply tasks may get no
    /// thread for most of a minute; a server that hangs never answers.
    init(path: String) throws {
        self.client = try UnixSocketClient(path: path, timeout: .seconds(120))
    }

    func send(_ text: String) async throws {
        try await onThread { try self.client.send(Array(text.utf8)) }
    }

    func sendLine(_ text: String) async throws {
        try await onThread { try self.client.sendLine(Array(text.utf8)) }
    }

    /// The next reply as text, or `nil` at end of input.
    func readLine() async throws -> String? {
        try await onThread { try self.client.readLine().map { String(decoding: $0, as: UTF8.self) } }
    }

    /// The next `count` replies.
    func readLines(_ count: Int) async throws -> [String] {
        try await onThread {
            var lines: [String] = []
            for _ in 0..<count {
                guard let line = try self.client.readLine() else {
                    break
                }
                lines.append(String(decoding: line, as: UTF8.self))
            }
            return lines
        }
    }

    func close() {
        self.client.close()
    }
}

// MARK: - Running a server in a test

/// A logger that discards everything; set `CRMD_TEST_LOG=1` to see the server's log on stderr.
func testLogger() -> Logger {
    if ProcessInfo.processInfo.environment["CRMD_TEST_LOG"] != nil {
        var logger = Logger(label: "crmd.test", factory: { StreamLogHandler.standardError(label: $0) })
        logger.logLevel = .trace
        return logger
    }
    return Logger(label: "crmd.test", factory: { _ in SwiftLogNoOpLogHandler() })
}

/// A server running for the duration of a test, under a graceful-shutdown test trigger.
struct RunningServer: Sendable {
    /// The socket path.
    let path: String
    /// Triggers the graceful shutdown of the server.
    let trigger: GracefulShutdownTestTrigger
}

/// Starts a ``ControlServer`` on a fresh socket, waits until it listens, runs `body`, then shuts the
/// server down gracefully and waits for ``ControlServer/run()`` to return.
func withServer<T: Sendable>(
    handler: any RequestHandler,
    maxLineBytes: Int = 1_048_576,
    maxInFlight: Int = 64,
    socketFileMode: UInt32 = 0o660,
    _ body: @escaping @Sendable (RunningServer) async throws -> T
) async throws -> T {
    let directory = try SocketDirectory()
    let path = directory.path + "/s.sock"
    let configuration = ControlServer.Configuration(
        socketPath: path,
        socketFileMode: socketFileMode,
        maxLineBytes: maxLineBytes,
        maxInFlightPerConnection: maxInFlight
    )
    return try await testGracefulShutdown { trigger in
        let (listening, listeningContinuation) = AsyncStream<Void>.makeStream()
        let server = ControlServer(
            configuration: configuration,
            handler: handler,
            logger: testLogger(),
            onListening: { _ in listeningContinuation.finish() }
        )
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                defer { listeningContinuation.finish() }
                try await server.run()
                return nil
            }
            for await _ in listening {}
            let result = try await body(RunningServer(path: path, trigger: trigger))
            trigger.triggerGracefulShutdown()
            try await group.waitForAll()
            return result
        }
    }
}

// MARK: - Test handlers

extension Array where Element == UInt8 {
    var text: String { String(decoding: self, as: UTF8.self) }
}

/// Replies with the line uppercased; `whoami` answers `pid uid gid` of the peer.
struct UppercaseHandler: RequestHandler {
    func start(line: [UInt8], peer: PeerCredentials) -> StartedReply {
        StartedReply {
            if line.text == "whoami" {
                return Array("\(peer.pid) \(peer.uid) \(peer.gid)".utf8)
            }
            if line.text.hasPrefix("notify") {
                return nil
            }
            return Array(line.text.uppercased().utf8)
        }
    }

    func lineTooLongReply(limit: Int) -> [UInt8] {
        Array("too long: \(limit)".utf8)
    }
}

/// Holds back the replies of requests whose line starts with `wait` until ``open()``; other
/// lines are echoed at once. Reports every start on ``starts`` and tracks how many requests were
/// started and not completed at most.
final class GateHandler: RequestHandler {
    private struct State {
        var isOpen = false
        var waiters: [CheckedContinuation<Void, Never>] = []
        var started = 0
        var running = 0
        var maxRunning = 0
    }

    private let state = Mutex(State())
    /// Yields the number of requests started so far, after each start.
    let starts: AsyncStream<Int>
    private let startsContinuation: AsyncStream<Int>.Continuation

    init() {
        (self.starts, self.startsContinuation) = AsyncStream<Int>.makeStream()
    }

    /// The largest number of requests that were running at once.
    var maxRunning: Int { self.state.withLock { $0.maxRunning } }

    /// Waits until `count` requests have been started.
    func waitForStarts(_ count: Int) async {
        for await started in self.starts where started >= count {
            return
        }
    }

    /// Releases every held request, now and later.
    func open() {
        let waiters = self.state.withLock { state in
            state.isOpen = true
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters {
            waiter.resume()
        }
    }

    func start(line: [UInt8], peer: PeerCredentials) -> StartedReply {
        let started = self.state.withLock { state in
            state.started += 1
            state.running += 1
            state.maxRunning = max(state.maxRunning, state.running)
            return state.started
        }
        self.startsContinuation.yield(started)
        return StartedReply {
            if line.text.hasPrefix("wait") {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let isOpen = self.state.withLock { state in
                        if !state.isOpen {
                            state.waiters.append(continuation)
                        }
                        return state.isOpen
                    }
                    if isOpen {
                        continuation.resume()
                    }
                }
            }
            self.state.withLock { $0.running -= 1 }
            return line
        }
    }

    func lineTooLongReply(limit: Int) -> [UInt8] {
        Array("too long: \(limit)".utf8)
    }
}

/// Completes requests out of order: requests are taken in groups of `groupSize` (by arrival), and
/// within a group the last one completes first, then the one before it, and so on. Replies echo the
/// line. ``completionOrder`` records the order in which the requests completed.
final class ReverseOrderHandler: RequestHandler {
    private struct State {
        var next = 0
        var waiting: [Int: [Int: CheckedContinuation<Void, Never>]] = [:]
        var completionOrder: [Int] = []
    }

    let groupSize: Int
    private let state = Mutex(State())

    init(groupSize: Int) {
        self.groupSize = groupSize
    }

    var completionOrder: [Int] { self.state.withLock { $0.completionOrder } }

    func start(line: [UInt8], peer: PeerCredentials) -> StartedReply {
        let index = self.state.withLock { state in
            defer { state.next += 1 }
            return state.next
        }
        let groupSize = self.groupSize
        let group = index / groupSize
        return StartedReply {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let first = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
                    state.waiting[group, default: [:]][index] = continuation
                    guard state.waiting[group]?.count == groupSize else {
                        return nil
                    }
                    return state.waiting[group]?.removeValue(forKey: group * groupSize + groupSize - 1)
                }
                first?.resume()
            }
            let previous = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
                state.completionOrder.append(index)
                guard index % groupSize != 0 else {
                    state.waiting[group] = nil
                    return nil
                }
                return state.waiting[group]?.removeValue(forKey: index - 1)
            }
            previous?.resume()
            return line
        }
    }

    func lineTooLongReply(limit: Int) -> [UInt8] {
        Array("too long".utf8)
    }
}

/// Answers each line with where the work ran: `start:loop` or `start:elsewhere` for ``start(line:peer:)``
/// itself (line `ready`), `task:loop` or `task:elsewhere` for a reply produced by a task (line `task`).
struct WhereHandler: RequestHandler {
    static func place() -> String { MultiThreadedEventLoopGroup.currentEventLoop == nil ? "elsewhere" : "loop" }

    func start(line: [UInt8], peer: PeerCredentials) -> StartedReply {
        if line.text == "task" { return StartedReply { Array("task:\(Self.place())".utf8) } }
        return .ready(Array("start:\(Self.place())".utf8))
    }

    func lineTooLongReply(limit: Int) -> [UInt8] { [] }
}
