import Foundation
import Glibc

/// Starts the threads crmd runs work on beside Swift concurrency: the writer, the log decoders, the
/// SLA scheduler's reader, the relay and the replica follower.
enum NamedThread {
    /// Starts a thread that runs `body` under `name` (as `top -H`, `ps -L`, `perf` and
    /// `/proc/<pid>/task/*/comm` show it; the kernel keeps 15 bytes) at nice value `nice`.
    ///
    /// The thread names itself first thing, through the kernel (``nameCurrentThread(_:)``): Foundation's
    /// `Thread.name` did not always reach the operating system.
    static func start(name: String, nice: Int32 = 0, stackSize: Int? = nil, _ body: @escaping @Sendable () -> Void) {
        let thread = Thread {
            nameCurrentThread(name)
            // On Linux the nice value is per thread; `who` 0 is the calling thread.
            if nice != 0 { _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, nice) }
            body()
        }
        thread.name = name
        if let stackSize { thread.stackSize = stackSize }
        thread.start()
    }

    /// Gives the calling thread `name` (its first 15 bytes) in the kernel, by writing
    /// `/proc/thread-self/comm` — what glibc's `pthread_setname_np` does for another thread; Swift's
    /// Glibc module exports neither it nor the variadic `prctl`. A name is a convenience for
    /// operators, so a failure is ignored.
    static func nameCurrentThread(_ name: String) {
        let descriptor = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        defer { close(descriptor) }
        let bytes = Array(name.utf8.prefix(15))
        _ = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
    }
}
