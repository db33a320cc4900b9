public import ServiceLifecycle

/// The idle signer: while no command arrives, wakes the writer every `checkpoint_every_seconds`, so
/// that the writer signs the head once a checkpoint is due (busy batches sign inside their own write
/// transaction). A `Service` of the daemon's group when checkpoints are signed; it ends on graceful
/// shutdown, before the writer stops and signs the last checkpoint.
public struct IdleSigner: Service {
    private let writer: Writer<CommandPipeline.WriterJob>
    private let interval: Duration

    /// A signer waking `writer` every `everyMillis` milliseconds.
    init(writer: Writer<CommandPipeline.WriterJob>, everyMillis: Int64) {
        self.writer = writer
        self.interval = .milliseconds(everyMillis)
    }

    /// Wakes the writer at every interval until graceful shutdown or cancellation.
    public func run() async {
        let (writer, interval) = (self.writer, self.interval)
        do {
            try await cancelWhenGracefulShutdown {
                while true {
                    try await Task.sleep(for: interval)
                    writer.nudge()
                }
            }
        } catch {
            // Cancelled (graceful shutdown or the group's cancellation): nothing to clean up.
        }
    }
}
