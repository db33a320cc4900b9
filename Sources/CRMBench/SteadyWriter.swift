import CRMJSON
import CRMProtocol
import Foundation
import Synchronization

/// A light write load that runs until it is stopped: each connection sends one `order.record` (a new
/// order of a random customer of the value population, dated now) at a time, back to back. Every
/// request's send time and latency are kept, so the run can be cut into windows afterwards (before
/// and during a `value.model.fit`).
final class SteadyWriter: @unchecked Sendable {
    // @unchecked: the samples and the stop flag are synchronised; the rest is set before start.

    /// One request: when it was sent (``LoadRunner/now()``), how long its reply took, and whether it
    /// failed.
    struct Sample: Sendable {
        var sentAt: UInt64
        var nanoseconds: UInt64
        var failed: Bool

        var repliedAt: UInt64 { self.sentAt + self.nanoseconds }
    }

    let socket: String
    let connections: Int
    /// The population's size; orders go to customers `0..<customers`.
    let customers: Int
    /// Prefix of the order ids (unique per run).
    let prefix: String
    let seed: UInt64
    private let stopping = Atomic<Bool>(false)
    private let collected = Mutex<(samples: [Sample], firstError: String?)>(([], nil))
    private let group = DispatchGroup()

    init(socket: String, connections: Int, customers: Int, prefix: String, seed: UInt64) {
        self.socket = socket
        self.connections = connections
        self.customers = customers
        self.prefix = prefix
        self.seed = seed
    }

    /// Connects every connection, then starts them.
    func start() throws {
        var clients: [UnixSocketClient] = []
        for _ in 0..<self.connections {
            clients.append(try UnixSocketClient(path: self.socket, timeout: .seconds(600)))
        }
        for (index, client) in clients.enumerated() {
            let handover = LoadRunner.Handover(client)
            self.group.enter()
            let thread = Thread {
                defer { self.group.leave() }
                self.drive(handover.value, connection: index)
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    /// Stops every connection after its current request and returns every sample, in no order, and
    /// the first failure.
    func stop() -> (samples: [Sample], firstError: String?) {
        self.stopping.store(true, ordering: .relaxed)
        self.group.wait()
        return self.collected.withLock { $0 }
    }

    private func drive(_ client: UnixSocketClient, connection: Int) {
        defer { client.close() }
        var rng = SplitMix64(seed: self.seed &+ UInt64(connection) &* 0x9E37_79B9)
        var samples: [Sample] = []
        samples.reserveCapacity(1 << 14)
        var firstError: String?
        var number = 0
        while !self.stopping.load(ordering: .relaxed) {
            let params: JSON = [
                "order_id": .string("\(self.prefix)k\(connection)n\(number)"),
                "customer_id": .string(ValuePopulation.customerID(rng.below(self.customers))),
                "amount": .string(OrderWorkload.decimal(500 + rng.below(20_000))), "currency": "EUR",
            ]
            number += 1
            let line = ValuePopulation.request(id: Int64(number), method: "order.record", params: params)
            let sentAt = LoadRunner.now()
            do {
                try client.sendLine(line)
                guard let reply = try client.readLine() else { throw BenchError("crmd closed the connection") }
                let failed = reply.starts(with: LoadRunner.errorPrefix)
                if failed, firstError == nil { firstError = String(decoding: reply, as: UTF8.self) }
                samples.append(Sample(sentAt: sentAt, nanoseconds: LoadRunner.now() - sentAt, failed: failed))
            } catch {
                samples.append(Sample(sentAt: sentAt, nanoseconds: LoadRunner.now() - sentAt, failed: true))
                if firstError == nil { firstError = "\(error)" }
                break
            }
        }
        self.collected.withLock { collected in
            collected.samples.append(contentsOf: samples)
            if collected.firstError == nil { collected.firstError = firstError }
        }
    }
}
