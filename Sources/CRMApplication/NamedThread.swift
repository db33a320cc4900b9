import Foundation
import Glibc

/// Starts the threads crmd runs work on beside Swift concurrency: the writer, the log decoders, the
/// SLA scheduler's reader, the relay and the replica follower.
enum NamedThread {
    /// Starts a thread that runs `body` under `name` (as `top -H`, `ps -L`, `perf` and
    /// `/proc/<pid>/task/*/comm` show it; the kernel keeps 15 bytes) at nice value `nice`.
    ///
    /// Foundation passes `Thread.name` to the operating system only when the thread sets it itself (set
    /// before the thread starts, it stays Foundation's), so the thread names itself first thing.
    static func start(name: String, nice: Int32 = 0, stackSize: Int? = nil, _ body: @escaping @Sendable () -> Void) {
        let thread = Thread {
            Thread.current.name = String(decoding: name.utf8.prefix(15), as: UTF8.self)
            // On Linux the nice value is per thread; `who` 0 is the calling thread.
            if nice != 0 { _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, nice) }
            body()
        }
        thread.name = name
        if let stackSize { thread.stackSize = stackSize }
        thread.start()
    }
}
