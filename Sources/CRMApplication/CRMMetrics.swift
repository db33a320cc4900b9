import CRMProjections
public import CoreMetrics
import Dispatch
import Foundation
import Prometheus

/// The metrics of one ``CRMCore``, kept in a Prometheus registry of its own (so that several cores
/// in one process, as in the tests, never mix their figures) and exported in the Prometheus text
/// format by `system.metrics` and the optional HTTP listener.
///
/// The parts of crmd record through swift-metrics types (`Counter`, `Timer`, `Recorder`, `Meter`)
/// made with ``factory``, never through the process-wide `MetricsSystem`. Figures that are cheaper
/// to read than to keep up to date (the log head, the LMDB file, the projections) are read when the
/// metrics are scraped (``QueryRouter/metricsExposition()``).
///
/// To add a metric (e.g. `crmd_relay_lag_events` of a relay): give its name and help text in
/// ``help`` (with its buckets in ``durationBuckets`` or ``valueBuckets`` for a histogram), then make it
/// where it is recorded with `Gauge(label: name, factory: metrics.factory)` (or `Counter`, `Timer`,
/// `Recorder`), once, not per event. docs/OPERATIONS.md lists every metric.
public final class CRMMetrics: Sendable {
    /// Where every metric of this core is kept; its text is the exposition.
    let registry: PrometheusCollectorRegistry
    /// Makes swift-metrics metrics that land in this core's registry with their help text.
    public let factory: any MetricsFactory

    /// Commands per write transaction (group commit).
    let batchSize: CoreMetrics.Recorder
    /// Time of one write transaction, its fsync included.
    let commitDuration: CoreMetrics.Timer
    /// Events the writer appended to the log.
    let eventsAppended: CoreMetrics.Counter
    /// Times the writer aborted a batch and ran it again because a job failed after it wrote.
    let isolatedBatches: CoreMetrics.Counter

    /// The content type of the exposition (Prometheus text format 0.0.4).
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// The help text of each metric of crmd, by name.
    public static let help: [String: String] = [
        "crmd_requests_total": "JSON-RPC requests answered, by method and outcome (ok, rejected, failed) and reason",
        "crmd_request_duration_seconds": "Time from a request's arrival to its reply, by method",
        "crmd_connections_open": "Control socket connections open now",
        "crmd_connections_total": "Control socket connections accepted since start",
        "crmd_writer_batch_size": "Commands committed per write transaction (group commit)",
        "crmd_writer_commit_duration_seconds": "Time of one write transaction of the writer, fsync included",
        "crmd_writer_backlog": "Commands queued for the writer and not yet committed",
        "crmd_events_appended_total": "Events appended to the log since start",
        "crmd_writer_isolated_batches_total":
            "Write transactions aborted and run again because a job failed after its first write (its writes dropped)",
        "crmd_log_head_position": "Position (seq) of the last event of the log",
        "crmd_lmdb_file_size_bytes": "Bytes of the LMDB data file in use",
        "crmd_lmdb_map_size_bytes": "Current LMDB map size in bytes",
        "crmd_projection_checkpoint_position": "Last log position the serving tables of a read model folded",
        "crmd_projection_rebuilding": "1 while a read model is being rebuilt, else 0",
        "crmd_projection_rebuild_position": "Last log position a running rebuild folded (0: none running)",
        "crmd_projection_rebuild_target_position": "Log head a running rebuild folds towards (0: none running)",
        "crmd_projection_failed": "1 when a read model stopped at an event its projector could not fold, else 0",
        "crmd_start_time_seconds": "Start time of the core, seconds since the Unix epoch",
        "crmd_relay_up": "1 while the relay into NATS JetStream publishes (state running), else 0",
        "crmd_relay_acknowledged_position": "Last log position the relay's stream acknowledged",
        "crmd_relay_lag_events": "Events of the log the relay's stream has not acknowledged yet",
        "crmd_relay_lag_seconds": "Age of the oldest event the relay's stream has not acknowledged yet",
        "crmd_relay_restarts": "Relay sessions that failed since start (each starts over from the stream)",
        "crmd_replica_up": "1 while a read replica follows its primary's stream (state running), else 0",
        "crmd_replica_position": "Last log position a read replica applied",
        "crmd_replica_lag_events": "Messages of the primary's stream a read replica has not applied yet",
        "crmd_replica_lag_seconds": "While behind: age of the last event a read replica applied",
        "crmd_replica_restarts": "Follower sessions of a read replica that failed since start",
    ]

    /// The buckets of the duration histograms, by name.
    static let durationBuckets: [String: [Duration]] = [
        "crmd_request_duration_seconds": [
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2),
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(10),
        ],
        "crmd_writer_commit_duration_seconds": [
            .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
            .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
            .seconds(1),
        ],
    ]

    /// The buckets of the value histograms, by name.
    static let valueBuckets: [String: [Double]] = [
        "crmd_writer_batch_size": [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
    ]

    /// Empty metrics; the start time is now.
    public init() {
        let registry = PrometheusCollectorRegistry()
        let factory = PrometheusRegistryFactory(registry: registry)
        self.registry = registry
        self.factory = factory
        self.batchSize = CoreMetrics.Recorder(label: "crmd_writer_batch_size", factory: factory)
        self.commitDuration = CoreMetrics.Timer(label: "crmd_writer_commit_duration_seconds", factory: factory)
        self.eventsAppended = CoreMetrics.Counter(label: "crmd_events_appended_total", factory: factory)
        self.isolatedBatches = CoreMetrics.Counter(label: "crmd_writer_isolated_batches_total", factory: factory)
        CoreMetrics.Gauge(label: "crmd_start_time_seconds", factory: factory).record(Date().timeIntervalSince1970)
    }

    /// Records a write transaction of `commands` commands that appended `events` events and took
    /// `nanoseconds`.
    func recordCommit(commands: Int, events: Int, nanoseconds: UInt64) {
        self.batchSize.record(commands)
        self.commitDuration.recordNanoseconds(Int64(clamping: nanoseconds))
        if events > 0 { self.eventsAppended.increment(by: events) }
    }

    /// Records that a batch ran again `runs` times.
    func recordIsolatedBatch(runs: Int) { self.isolatedBatches.increment(by: runs) }

    /// Sets the gauge `name` (with `labels`) to `value`.
    func set(_ name: String, _ value: Double, labels: [(String, String)] = []) {
        CoreMetrics.Gauge(label: name, dimensions: labels, factory: self.factory).record(value)
    }

    /// The metrics in the Prometheus text format.
    func emit() -> String { self.registry.emitToString() }

    /// A monotonic clock reading in nanoseconds, for durations.
    public static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
}

/// A swift-metrics factory whose metrics land in one Prometheus registry, each with its help text
/// and buckets from ``CRMMetrics`` (swift-prometheus's own factory writes no help text).
struct PrometheusRegistryFactory: MetricsFactory {
    let registry: PrometheusCollectorRegistry

    /// The name and help text of metric `label`.
    private func descriptor(_ label: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: label, unitName: "", helpText: CRMMetrics.help[label] ?? "")
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        self.registry.makeCounter(descriptor: self.descriptor(label), labels: dimensions)
    }

    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        self.registry.makeCounter(descriptor: self.descriptor(label), labels: dimensions)
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        let descriptor = self.descriptor(label)
        guard aggregate else { return self.registry.makeGauge(descriptor: descriptor, labels: dimensions) }
        let buckets = CRMMetrics.valueBuckets[label] ?? [1, 10, 100, 1000, 10000]
        return self.registry.makeValueHistogram(descriptor: descriptor, labels: dimensions, buckets: buckets)
    }

    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        self.registry.makeGauge(descriptor: self.descriptor(label), labels: dimensions)
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        let buckets = CRMMetrics.durationBuckets[label] ?? [.milliseconds(1), .milliseconds(10), .milliseconds(100)]
        return self.registry.makeDurationHistogram(
            descriptor: self.descriptor(label), labels: dimensions, buckets: buckets
        )
    }

    func destroyCounter(_ handler: any CounterHandler) {
        if let counter = handler as? Prometheus.Counter { self.registry.unregisterCounter(counter) }
    }

    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {
        if let counter = handler as? Prometheus.Counter { self.registry.unregisterCounter(counter) }
    }

    func destroyRecorder(_ handler: any RecorderHandler) {
        if let gauge = handler as? Prometheus.Gauge { self.registry.unregisterGauge(gauge) }
        if let histogram = handler as? ValueHistogram { self.registry.unregisterValueHistogram(histogram) }
    }

    func destroyMeter(_ handler: any MeterHandler) {
        if let gauge = handler as? Prometheus.Gauge { self.registry.unregisterGauge(gauge) }
    }

    func destroyTimer(_ handler: any TimerHandler) {
        if let histogram = handler as? DurationHistogram { self.registry.unregisterDurationHistogram(histogram) }
    }
}
