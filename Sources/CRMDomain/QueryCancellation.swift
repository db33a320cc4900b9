import Synchronization

/// Lets a long query notice that its answer is no longer wanted (its client went away, or crmd is
/// shutting down), so that it stops instead of burning a core for an answer nobody reads.
///
/// Whoever runs a query binds a ``Flag`` with ``run(_:_:)`` (a task-local, which also works on a plain
/// dispatch thread) and raises it from a task cancellation handler; the query's long loops call
/// ``check()`` once per record, which throws `CancellationError` when the flag is up (or the running
/// task is cancelled).
public enum QueryCancellation {
    /// A flag raised once, from any thread.
    public final class Flag: Sendable {
        private let raised = Atomic<Bool>(false)

        /// A flag that is down.
        public init() {}

        /// Raises the flag. Idempotent.
        public func raise() { self.raised.store(true, ordering: .relaxed) }

        /// Whether the flag is up.
        public var isRaised: Bool { self.raised.load(ordering: .relaxed) }
    }

    @TaskLocal private static var current: Flag?

    /// Runs `body` with `flag` as the flag its ``check()`` calls look at.
    public static func run<T>(_ flag: Flag, _ body: () throws -> T) rethrows -> T {
        try Self.$current.withValue(flag) { try body() }
    }

    /// Throws `CancellationError` when the running query's flag is up or its task is cancelled.
    public static func check() throws {
        if Self.current?.isRaised == true || Task.isCancelled { throw CancellationError() }
    }
}
