import NIOCore

/// Runs the jobs of the tasks that prefer it on one NIO event loop's thread.
///
/// A connection's reader, reply orderer and reply writer prefer the executor of the event loop that
/// serves the connection's socket. A line read there resumes the reader on the same thread, and a
/// reply is handed to the channel without hopping threads, so a request costs no thread wake-ups
/// inside the server besides the writer thread's (a command) and the one back to the event loop
/// when the writer has committed. Work that may take long runs in tasks that prefer the global
/// concurrent executor instead (see ``StartedReply``), so it never holds up the event loop's I/O.
final class EventLoopTaskExecutor: TaskExecutor, Sendable {
    private let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = self.asUnownedTaskExecutor()
        self.eventLoop.execute { job.runSynchronously(on: executor) }
    }
}
