public import CRMApplication
public import Logging
public import ServiceLifecycle

extension ServiceGroupConfiguration {
    /// The daemon's one service group: `core`'s long-running parts (the writer thread, and the idle
    /// signer when checkpoints are signed), the HTTP `metrics` listener when one is configured, then
    /// the control `server`; no shutdown signals (crmd adds SIGTERM and SIGINT).
    ///
    /// The group shuts services down in the reverse order: first the server, which stops accepting and
    /// answers the requests in flight (so every command it acknowledged has committed), then the
    /// metrics listener, the idle signer, then the writer, which commits what is still queued, signs the
    /// last checkpoint and gives up the data directory. Shutdown ends within 10 s under any load:
    /// requests still running after 5 s are cancelled (a long query stops at its next ticket), and
    /// whatever ignores cancellation for 4 s more ends the process.
    public static func daemon(
        core: CRMCore,
        server: ControlServer,
        metrics: MetricsListener? = nil,
        logger: Logger
    ) -> ServiceGroupConfiguration {
        let services: [any Service] = core.services + (metrics.map { [$0] } ?? []) + [server]
        var configuration = ServiceGroupConfiguration(
            services: services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) },
            logger: logger
        )
        configuration.maximumGracefulShutdownDuration = .seconds(5)
        configuration.maximumCancellationDuration = .seconds(4)
        return configuration
    }
}
