import CRMProtocol
import Foundation
import Synchronization

/// A source of request lines for one connection; `nil` ends the connection's work.
protocol RequestSource: AnyObject {
    func nextLine() -> [UInt8]?
}

extension WorkloadGenerator: RequestSource {}

/// Request lines made by a closure (queries).
final class ClosureSource: RequestSource, @unchecked Sendable {
    // @unchecked: used by one thread at a time.
    private let make: (inout SplitMix64, Int64) -> [UInt8]?
    private var rng: SplitMix64
    private var nextID: Int64 = 1

    init(seed: UInt64, make: @escaping (inout SplitMix64, Int64) -> [UInt8]?) {
        self.rng = SplitMix64(seed: seed)
        self.make = make
    }

    func nextLine() -> [UInt8]? {
        defer { self.nextID += 1 }
        return self.make(&self.rng, self.nextID)
    }
}

/// What one load phase measured.
struct LoadResult: Sendable {
    var requests = 0
    var errors = 0
    var seconds = 0.0
    var bytesReceived = 0
    /// Latency of every request in nanoseconds, unsorted.
    var latencies: [UInt64] = []
    var firstError: String?
    /// CPU time crm-bench itself used during the phase (all its threads), in seconds.
    var clientCPUSeconds = 0.0

    var perSecond: Double { self.seconds > 0 ? Double(self.requests) / self.seconds : 0 }

    mutating func merge(_ other: LoadResult) {
        self.requests += other.requests
        self.errors += other.errors
        self.bytesReceived += other.bytesReceived
        self.latencies.append(contentsOf: other.latencies)
        if self.firstError == nil { self.firstError = other.firstError }
    }
}

/// Latency percentiles in microseconds.
struct LatencySummary: Sendable {
    var p50 = 0.0
    var p90 = 0.0
    var p99 = 0.0
    var p999 = 0.0
    var max = 0.0

    init(_ nanoseconds: [UInt64]) {
        guard !nanoseconds.isEmpty else { return }
        let sorted = nanoseconds.sorted()
        func at(_ fraction: Double) -> Double {
            let index = Swift.min(sorted.count - 1, Int((Double(sorted.count) * fraction).rounded(.up)) - 1)
            return Double(sorted[Swift.max(index, 0)]) / 1000
        }
        self.p50 = at(0.50)
        self.p90 = at(0.90)
        self.p99 = at(0.99)
        self.p999 = at(0.999)
        self.max = Double(sorted[sorted.count - 1]) / 1000
    }
}

/// Drives C connections, each on its own thread with a blocking socket: it sends up to P request
/// lines in one write, then reads their P replies (pipelining), until its source ends or the
/// deadline passes. A reply starting with `{"error"` counts as an error (crmd sorts keys, so an
/// error reply starts that way and a success reply never does).
enum LoadRunner {
    /// Boxes a non-Sendable value for a hand-over to exactly one thread.
    final class Handover<T>: @unchecked Sendable {
        var value: T
        init(_ value: T) { self.value = value }
    }

    static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    /// CPU time (user + system) of this process so far, in seconds.
    static func processCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    /// Runs the phase; `duration` bounds it in seconds (`nil`: until every source ends).
    static func run(
        socket: String,
        sources: [any RequestSource],
        pipeline: Int,
        duration: Double?,
        recordLatency: Bool = true
    ) throws -> LoadResult {
        // Connect everyone first, so connection set-up is not measured.
        var clients: [UnixSocketClient] = []
        for _ in sources { clients.append(try UnixSocketClient(path: socket, timeout: .seconds(120))) }
        let results = Mutex<[LoadResult]>([])
        let group = DispatchGroup()
        let start = DispatchSemaphore(value: 0)
        var startedAt: UInt64 = 0
        let deadlineBox = Handover<UInt64>(UInt64.max)
        for (client, source) in zip(clients, sources) {
            let handover = Handover((client, source))
            group.enter()
            let thread = Thread {
                defer { group.leave() }
                start.wait()
                let (client, source) = handover.value
                let result = LoadRunner.drive(
                    client: client,
                    source: source,
                    pipeline: pipeline,
                    deadline: deadlineBox.value,
                    recordLatency: recordLatency
                )
                results.withLock { $0.append(result) }
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        let cpuBefore = LoadRunner.processCPUSeconds()
        startedAt = LoadRunner.now()
        if let duration { deadlineBox.value = startedAt + UInt64(duration * 1e9) }
        for _ in sources { start.signal() }
        group.wait()
        let elapsed = Double(LoadRunner.now() - startedAt) / 1e9
        let clientCPU = LoadRunner.processCPUSeconds() - cpuBefore
        for client in clients { client.close() }
        var total = LoadResult()
        for result in results.withLock({ $0 }) { total.merge(result) }
        total.seconds = elapsed
        total.clientCPUSeconds = clientCPU
        return total
    }

    private static func drive(
        client: UnixSocketClient,
        source: any RequestSource,
        pipeline: Int,
        deadline: UInt64,
        recordLatency: Bool
    ) -> LoadResult {
        var result = LoadResult()
        if recordLatency { result.latencies.reserveCapacity(1 << 16) }
        var batch: [UInt8] = []
        var ended = false
        do {
            while !ended, LoadRunner.now() < deadline {
                batch.removeAll(keepingCapacity: true)
                var count = 0
                while count < pipeline, let line = source.nextLine() {
                    batch.append(contentsOf: line)
                    batch.append(UInt8(ascii: "\n"))
                    count += 1
                }
                if count < pipeline { ended = true }
                if count == 0 { break }
                let sentAt = LoadRunner.now()
                try client.send(batch)
                for _ in 0..<count {
                    guard let reply = try client.readLine() else {
                        throw BenchError("crmd closed the connection")
                    }
                    if recordLatency { result.latencies.append(LoadRunner.now() - sentAt) }
                    result.requests += 1
                    result.bytesReceived += reply.count + 1
                    if reply.starts(with: LoadRunner.errorPrefix) {
                        result.errors += 1
                        if result.firstError == nil { result.firstError = String(decoding: reply, as: UTF8.self) }
                    }
                }
            }
        } catch {
            result.errors += 1
            if result.firstError == nil { result.firstError = "\(error)" }
        }
        return result
    }

    static let errorPrefix = Array(#"{"error""#.utf8)
}

/// A failure of the benchmark itself.
struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
