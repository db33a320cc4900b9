@testable import CRMApplication
import CRMJSON
import CRMServer
import CRMTesting
import Logging
import ServiceLifecycle
import ServiceLifecycleTestKit
import Synchronization
import Testing

/// The daemon's one service group (``ServiceGroupConfiguration/daemon(core:server:logger:)``): the
/// core's writer, the idle signer and the control server, shut down in that order's reverse.
@Suite struct DaemonServiceGroupTests {
    /// Commands pipelined on a few connections; graceful shutdown is triggered as soon as each
    /// connection has had its first reply, with the rest still queued or committing. Every command the
    /// server took is answered with success (the writer outlives the server), every acknowledged
    /// command is in the log once the group has returned, nothing else is, and the log ends on a
    /// signed checkpoint.
    @Test func gracefulShutdownDrainsCommandsInFlightAndSignsTheHead() async throws {
        let directory = TemporaryDirectory()
        var logger = Logger(label: "crmd-test")
        logger.logLevel = .warning
        var configuration = CoreConfiguration(dataDirectory: directory.appending("data"))
        configuration.seedDefaults = false
        configuration.signingKey = try SigningKey.loadOrCreate(
            path: directory.appending("keys/signing.key"),
            dataDirectory: configuration.dataDirectory
        ).key
        // Only the last checkpoint, at shutdown, is signed during this test.
        configuration.checkpointEveryEvents = 1_000_000
        configuration.checkpointEverySeconds = 3600
        let socketPath = directory.appending("crmd.sock")
        let connections = 4
        let commandsPerConnection = 200

        let acknowledged = try await testGracefulShutdown { trigger in
            let core = try await CRMCore.start(configuration: configuration, logger: logger)
            let (listening, listeningContinuation) = AsyncStream<Void>.makeStream()
            let server = ControlServer(
                configuration: .init(socketPath: socketPath),
                handler: RPCHandler(core: core),
                logger: logger,
                onListening: { _ in listeningContinuation.finish() }
            )
            let group = ServiceGroup(configuration: .daemon(core: core, server: server, logger: logger))
            return try await withThrowingTaskGroup(of: [String]?.self) { tasks in
                tasks.addTask {
                    try await group.run()
                    return nil
                }
                for await _ in listening {}
                let clients = try (0..<connections).map { _ in try RPCClient(socketPath: socketPath) }
                for (index, client) in clients.enumerated() {
                    var lines = ""
                    for number in 0..<commandsPerConnection {
                        let id = "c\(index)-\(number)"
                        let request: JSON = [
                            "jsonrpc": "2.0", "id": .string(id), "method": "customer.create",
                            "params": ["customer_id": .string(id), "first_name": "Ada"],
                        ]
                        lines += String(decoding: request.serialized(), as: UTF8.self) + "\n"
                    }
                    try await client.sendRaw(lines)
                }
                var replies: [[JSON]] = []
                for client in clients { replies.append([try #require(try await client.readJSON())]) }
                trigger.triggerGracefulShutdown()
                // The server answers what it took, then closes every connection.
                for (index, client) in clients.enumerated() {
                    while let reply = try await client.readJSON() { replies[index].append(reply) }
                }
                var acknowledged: [String] = []
                for reply in replies.joined() {
                    #expect(reply["error"] == nil, "a command the server took failed: \(reply)")
                    if reply["result"] != nil, let id = reply["id"]?.stringValue { acknowledged.append(id) }
                }
                while let done = try await tasks.next() {
                    if let done { return done }
                }
                return acknowledged
            }
        }

        // The group returned: the writer has drained and let go of the data directory.
        #expect(!acknowledged.isEmpty)
        let reopened = try await CRMCore.start(configuration: configuration, logger: logger)
        let stats = try await reopened.queries.query(method: "system.stats", params: nil).value.get()
        #expect(stats["event_count"]?.intValue == Int64(acknowledged.count))
        for id in acknowledged {
            let params: JSON = ["customer_id": .string(id)]
            let customer = await reopened.queries.query(method: "customer.get", params: params).value
            #expect((try? customer.get()) != nil, "acknowledged customer \(id) is not in the log")
        }
        let checkpoints = try await reopened.queries.query(method: "audit.checkpoints", params: nil).value.get()
        let last = try #require(checkpoints["checkpoints"]?.arrayValue?.last)
        #expect(last["position"] == stats["head"]?["position"])
        await reopened.shutdown()
    }

    /// With no command arriving, the idle signer wakes the writer at its interval: the writer's
    /// background step (where it signs the head once a checkpoint is due) runs again without any item
    /// queued. The test waits for that wake-up itself, not for wall time to pass.
    @Test func theIdleSignerWakesTheWriterWhileNoCommandArrives() async throws {
        let calls = Mutex(0)
        let woken = Mutex<CheckedContinuation<Void, Never>?>(nil)
        let work = Writer<CommandPipeline.WriterJob>.Work(
            process: { _ in },
            background: { _ in
                // The first call is the writer's own, before it waits; later ones follow a wake-up.
                let count = calls.withLock { count -> Int in
                    count += 1
                    return count
                }
                if count > 1 { woken.withLock { $0.take() }?.resume() }
                return false
            }
        )
        let (writer, _) = try await Writer<CommandPipeline.WriterJob>.start(name: "test-writer", maxBatch: 1) {
            ((), work)
        }
        let signer = IdleSigner(writer: writer, everyMillis: 10)
        let running = Task { await signer.run() }
        await withCheckedContinuation { continuation in
            let already = calls.withLock { count -> Bool in
                if count > 1 { return true }
                woken.withLock { $0 = continuation }
                return false
            }
            if already { continuation.resume() }
        }
        #expect(calls.withLock { $0 } >= 2)
        running.cancel()
        await running.value
        writer.stop()
        await writer.waitUntilFinished()
    }
}
