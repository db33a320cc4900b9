import CRMApplication
import CRMDomain
import CRMJSON
import CRMProtocol
import CoreMetrics
import Synchronization

/// The request metrics of the RPC edge: `crmd_requests_total{method, outcome, reason}`,
/// `crmd_request_duration_seconds{method}` and the connection counts.
///
/// Label values are bounded: `method` is a method crmd knows or `unknown` (a method not found, a
/// line that is no request); `outcome` is `ok`, `rejected` or `failed` (`internal`,
/// `storage_full`); `reason`, absent for `ok`, is a rejection reason of the protocol (or `other`).
/// Each series is made once, the first time it is used, and kept: a request costs an array lookup
/// under a lock, no label building.
final class RequestMetrics: Sendable {
    /// One request under way: its method's index and when it arrived.
    struct Call: Sendable {
        let metrics: RequestMetrics
        let method: Int
        let started: UInt64

        /// Records the request's outcome and time; returns `outcome`.
        @discardableResult
        func finish<T>(_ outcome: Result<T, RPCError>) -> Result<T, RPCError> {
            let reason: String?
            switch outcome {
            case .success: reason = nil
            case .failure(let error): reason = error.reason ?? "other"
            }
            self.metrics.record(self, reason: reason)
            return outcome
        }
    }

    private struct Series {
        var ok: CoreMetrics.Counter?
        var latency: CoreMetrics.Timer?
        /// By reason index.
        var refused: [Int: CoreMetrics.Counter] = [:]
    }

    private let factory: any MetricsFactory
    /// The label values of `method`; the last one is `unknown`.
    private let methods: [String]
    private let methodIndex: [String: Int]
    /// The label values of `reason`; the last one is `other`.
    private static let reasons = Reason.allCases.map(\.rawValue) + ["other"]
    private static let reasonIndex = Dictionary(uniqueKeysWithValues: reasons.enumerated().map { ($1, $0) })
    /// Reasons that say crmd failed rather than refused.
    private static let failures: Set<String> = [Reason.internalError.rawValue, Reason.storageFull.rawValue]
    private let series: Mutex<[Series]>
    private let connectionsOpen: Meter
    private let connectionsAccepted: CoreMetrics.Counter

    /// Metrics made by `factory` for the methods named `methods`.
    init(factory: any MetricsFactory, methods: [String]) {
        var seen: Set<String> = []
        let names = methods.filter { seen.insert($0).inserted } + ["unknown"]
        self.factory = factory
        self.methods = names
        self.methodIndex = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })
        self.series = Mutex(Array(repeating: Series(), count: names.count))
        self.connectionsOpen = Meter(label: "crmd_connections_open", factory: factory)
        self.connectionsAccepted = CoreMetrics.Counter(label: "crmd_connections_total", factory: factory)
    }

    /// A request of `method` (`nil`: no method could be read) arriving now.
    func begin(_ method: String?) -> Call {
        let index = method.flatMap { self.methodIndex[$0] } ?? self.methods.count - 1
        return Call(metrics: self, method: index, started: CRMMetrics.now())
    }

    /// Records a request refused before it had a method (a line that is no request).
    func refused(_ error: RPCError) {
        self.begin(nil).finish(Result<JSON, RPCError>.failure(error))
    }

    /// A connection was accepted.
    func connectionOpened() {
        self.connectionsAccepted.increment()
        self.connectionsOpen.increment()
    }

    /// A connection ended.
    func connectionClosed() {
        self.connectionsOpen.decrement()
    }

    private func record(_ call: Call, reason: String?) {
        let elapsed = Int64(clamping: CRMMetrics.now() - call.started)
        let (counter, latency) = self.series.withLock { series in
            let latency = series[call.method].latency ?? self.makeLatency(call.method)
            series[call.method].latency = latency
            guard let reason else {
                let counter = series[call.method].ok ?? self.makeCounter(call.method, reason: nil)
                series[call.method].ok = counter
                return (counter, latency)
            }
            let index = Self.reasonIndex[reason] ?? Self.reasons.count - 1
            let counter = series[call.method].refused[index] ?? self.makeCounter(call.method, reason: index)
            series[call.method].refused[index] = counter
            return (counter, latency)
        }
        counter.increment()
        latency.recordNanoseconds(elapsed)
    }

    private func makeLatency(_ method: Int) -> CoreMetrics.Timer {
        let labels = [("method", self.methods[method])]
        return CoreMetrics.Timer(label: "crmd_request_duration_seconds", dimensions: labels, factory: self.factory)
    }

    private func makeCounter(_ method: Int, reason: Int?) -> CoreMetrics.Counter {
        var labels = [("method", self.methods[method])]
        if let reason {
            let name = Self.reasons[reason]
            labels += [("outcome", Self.failures.contains(name) ? "failed" : "rejected"), ("reason", name)]
        } else {
            labels.append(("outcome", "ok"))
        }
        return CoreMetrics.Counter(label: "crmd_requests_total", dimensions: labels, factory: self.factory)
    }
}
