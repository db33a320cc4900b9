import Dispatch

/// Gets the timer machinery of Dispatch (which also runs Swift concurrency's `Task.sleep` on Linux)
/// ready before crmd serves, while file descriptors are free.
///
/// Dispatch creates the epoll instance of its event loop when the process arms its first timer, and a
/// timerfd for each of its clocks the first time a timer on that clock is armed: `asyncAfter(deadline:)`,
/// `asyncAfter(wallDeadline:)`, and `Task.sleep` on the continuous and on the suspending clock each use
/// their own. When that first time comes while the process is out of descriptors — a crmd at its
/// `RLIMIT_NOFILE` with every connection it may have open — Dispatch cannot create them and ends the
/// process (SIGILL). A scratch program that used up its descriptors before its first timer of a
/// clock died so every time; with one timer of each clock armed and run first, every later timer fired.
/// What these create stays open for the life of the process.
public enum DispatchTimers {
    /// Arms one short timer on each of those clocks and returns once all have fired.
    public static func prepare() async {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(1)) { continuation.resume() }
        }
        await withCheckedContinuation { continuation in
            DispatchQueue.global().asyncAfter(wallDeadline: .now() + .milliseconds(1)) { continuation.resume() }
        }
        try? await Task.sleep(until: .now + .milliseconds(1), clock: ContinuousClock())
        try? await Task.sleep(until: .now + .milliseconds(1), clock: SuspendingClock())
    }
}
