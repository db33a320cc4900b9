import Foundation
import JetStream
import Logging
public import ServiceLifecycle

/// The thread of the relay or of a replica's follower: the NATS client's blocking calls run on it,
/// never on the cooperative pool. It runs sessions (connect, then work until the connection or the
/// stream fails) one after the other, waiting a growing pause between failed ones, until the service
/// shuts down or a session hits a fault that retrying cannot mend.
final class StreamWorker: @unchecked Sendable {
    /// What the worker is doing, for `system.stats`.
    enum State: String, Sendable {
        case connecting, running, retrying, stopped, failed
    }

    /// A fault no retry mends (a stream with wrong settings, a log that does not match the stream):
    /// the worker stops and says why.
    struct Fatal: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    private let condition = NSCondition()
    /// Guarded by `condition`.
    private var stopping = false
    private var wakes = 0
    private var finished = false
    private var state = State.connecting
    private var lastError: String?
    private var failures = 0

    let name: String
    let logger: Logger
    /// Closed when the thread has ended (shutdown, or a fault no retry mends): what
    /// ``waitUntilEnded()`` waits on.
    private let ended = HeadSignal(head: 0)

    init(name: String, logger: Logger) {
        self.name = name
        self.logger = logger
    }

    /// Whether the service is shutting down.
    var isStopping: Bool { self.condition.withLock { self.stopping } }

    /// The state, the last error and how many sessions failed so far.
    var status: (state: State, lastError: String?, failures: Int) {
        self.condition.withLock { (self.state, self.lastError, self.failures) }
    }

    /// Records the state (the session calls it once connected).
    func set(_ state: State) { self.condition.withLock { self.state = state } }

    /// Wakes ``sleep(millis:)`` early (new work, or shutdown).
    func wake() {
        self.condition.withLock {
            self.wakes += 1
            self.condition.broadcast()
        }
    }

    /// Waits until ``wake()`` or shutdown, at most `millis`.
    func sleep(millis: Int) {
        self.condition.withLock {
            let seen = self.wakes
            let deadline = Date(timeIntervalSinceNow: Double(millis) / 1000)
            while self.wakes == seen, !self.stopping {
                if !self.condition.wait(until: deadline) { break }
            }
        }
    }

    /// Runs `session` on a new thread again and again until shutdown (see the type's description), and
    /// returns when the thread has ended, after graceful shutdown or cancellation of the calling task.
    func run(_ session: @escaping @Sendable () throws -> Void) async {
        NamedThread.start(name: self.name) { [self] in
            self.loop(session)
            self.condition.withLock {
                self.finished = true
                self.condition.broadcast()
            }
            self.ended.close()
        }
        try? await cancelWhenGracefulShutdown {
            try await withTaskCancellationHandler {
                while !self.condition.withLock({ self.finished }) { try await Task.sleep(for: .seconds(3600)) }
            } onCancel: {
                self.stop()
            }
        }
        self.stop()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                self.condition.withLock { while !self.finished { self.condition.wait() } }
                continuation.resume()
            }
        }
    }

    /// Returns once the thread has ended: at shutdown, or when a session hit a fault no retry mends.
    func waitUntilEnded() async { await self.ended.wait(after: .max) }

    private func stop() {
        self.condition.withLock {
            self.stopping = true
            self.condition.broadcast()
        }
    }

    private func loop(_ session: () throws -> Void) {
        var pauseMillis = 100
        while !self.isStopping {
            do {
                try session()
                pauseMillis = 100
            } catch let fatal as Fatal {
                self.condition.withLock {
                    self.state = .failed
                    self.lastError = fatal.description
                    self.failures += 1
                }
                self.logger.critical("\(self.name) stopped: \(fatal.description)")
                return
            } catch {
                let text = "\(error)"
                let repeated = self.condition.withLock { () -> Bool in
                    defer {
                        self.state = .retrying
                        self.lastError = text
                        self.failures += 1
                    }
                    return self.lastError == text
                }
                if !repeated {
                    self.logger.warning(
                        "\(self.name) failed; retrying", metadata: ["error": "\(text)", "pause_ms": "\(pauseMillis)"]
                    )
                }
                self.sleep(millis: pauseMillis)
                pauseMillis = min(pauseMillis * 2, 5_000)
            }
        }
        self.set(.stopped)
    }
}
