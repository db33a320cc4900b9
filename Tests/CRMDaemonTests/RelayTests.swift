import CRMApplication
import CRMJSON
import CRMTesting
import Foundation
import JetStream
import Testing

/// What the relay and replica tests share: writing commands, waiting for the relay, and reading the
/// stream back to compare it with the log.
enum RelayFixture {
    /// Writes `count` `customer.create` commands (one event each), ids starting at `first`,
    /// pipelined in windows; returns the last position.
    @discardableResult
    static func write(_ client: RPCClient, count: Int, first: Int = 0) async throws -> Int64 {
        let requests: [(String, JSON)] = (first..<first + count).map { index in
            ("customer.create", ["customer_id": .string("r\(index)"), "first_name": .string("Relay \(index)")])
        }
        let results = try await client.results(requests, window: 256)
        return results.last?["position"]?.intValue ?? 0
    }

    /// `system.stats`' relay section.
    static func relayStats(_ client: RPCClient) async throws -> (head: Int64, relay: JSON) {
        let stats = try await client.result("system.stats")
        return (stats["head"]?["position"]?.intValue ?? -1, stats["relay"] ?? .null)
    }

    /// Waits until the relay of `daemon` has the whole log acknowledged by the stream (or stopped);
    /// returns the head.
    static func waitUntilRelayed(_ daemon: TestDaemon, _ client: RPCClient) async throws -> Int64 {
        let head = try await Self.relayStats(client).head
        let relay = try #require(daemon.core.relay)
        await relay.waitUntilAcknowledged(UInt64(head))
        let stats = try await Self.relayStats(client).relay
        #expect(stats["lag_events"] == 0, "the relay stopped behind the log: \(stats)")
        return head
    }

    /// Every message of `stream` from 1 through `count`, read with an ordered consumer.
    static func messages(url: String, stream: String, count: Int64) async throws -> [StreamMessage] {
        try await onOwnThread {
            let connection = try Connection(url: url, name: "crmd-test-reader")
            let context = try JetStreamContext(connection: connection)
            let state = try #require(try context.stream(stream))
            // Right after a cluster lost a node, creating a consumer may time out until its leaders
            // are elected again.
            var attempts = 0
            var subscription: OrderedSubscription?
            while subscription == nil {
                do {
                    subscription = try context.orderedSubscription(
                        stream: stream, subject: state.settings.subjects[0], startSequence: 1
                    )
                } catch let error as NATSError where error.isTimeout && attempts < 6 {
                    attempts += 1
                }
            }
            guard let subscription else { return [] }
            var messages: [StreamMessage] = []
            while messages.count < count, let message = try subscription.next(timeoutMillis: 5_000) {
                messages.append(message)
            }
            return messages
        }
    }

    /// The stream holds exactly the log: as many messages as events, message p at sequence p holding
    /// the envelope `events.read {upcast: false}` gives for position p (with its hash).
    static func expectStreamMatchesLog(
        url: String,
        stream: String = "CRMD",
        client: RPCClient,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let head = try await client.result("system.stats")["head"]?["position"]?.intValue ?? 0
        // Reading waits for each message up to its arrival, so a relay still catching up is waited for.
        let messages = try await Self.messages(url: url, stream: stream, count: head)
        #expect(messages.count == Int(head), sourceLocation: sourceLocation)
        let state = try await onOwnThread {
            try JetStreamContext(connection: try Connection(url: url, name: "crmd-test-reader")).stream(stream)
        }
        #expect(state?.messages == UInt64(head), "stream messages vs log head", sourceLocation: sourceLocation)
        #expect(state?.lastSequence == UInt64(head), sourceLocation: sourceLocation)
        #expect(state?.firstSequence == 1, sourceLocation: sourceLocation)
        var from: Int64 = 1
        var index = 0
        while from <= head {
            let page = try await client.result("events.read", ["from": .int(from), "limit": 1000, "upcast": false])
            let events = page["events"]?.arrayValue ?? []
            for event in events where index < messages.count {
                let message = messages[index]
                let sequence = Int64(message.streamSequence ?? 0)
                #expect(sequence == event["seq"]?.intValue, "sequence == position", sourceLocation: sourceLocation)
                let published = try JSON.parse(message.data)
                if published != event {
                    Issue.record("message \(sequence) differs from the log's event", sourceLocation: sourceLocation)
                    return
                }
                #expect(message.headers["Nats-Msg-Id"] == String(sequence), sourceLocation: sourceLocation)
                index += 1
            }
            guard let next = page["next_from"]?.intValue else { break }
            from = next
        }
        #expect(index == Int(head), "every event compared", sourceLocation: sourceLocation)
    }

    /// A config file turning the relay on.
    static func relayConfig(_ directory: TemporaryDirectory, url: String) throws -> String {
        let path = directory.appending("crmd-relay.json")
        let config: JSON = ["relay": ["enabled": true, "url": .string(url)]]
        try Data(config.serialized()).write(to: URL(fileURLWithPath: path))
        return path
    }
}

/// The relay publishes the log into NATS JetStream in order and exactly once (stream sequence ==
/// log position), across restarts of crmd and of NATS, and refuses a stream with wrong settings.
@Suite(.serialized, .timeLimit(.minutes(3))) struct RelayTests {
    @Test func streamHoldsExactlyTheLogAfterTenThousandCommands() async throws {
        let directory = TemporaryDirectory()
        let nats = try NATSServer(storeDirectory: directory.appending("nats"))
        let daemon = try await TestDaemon(directory: directory) { $0.relay = RelayConfiguration(url: nats.url) }
        let client = try daemon.client()
        try await RelayFixture.write(client, count: 10_000)
        let head = try await RelayFixture.waitUntilRelayed(daemon, client)
        #expect(head == 10_000)
        try await RelayFixture.expectStreamMatchesLog(url: nats.url, client: client)
        let relay = try await RelayFixture.relayStats(client).relay
        #expect(relay["state"] == "running")
        #expect(relay["lag_seconds"] == 0)
        let metrics = try await client.result("system.metrics")["text"]?.stringValue ?? ""
        for line in ["crmd_relay_up 1", "crmd_relay_acknowledged_position 10000", "crmd_relay_lag_events 0"] {
            #expect(metrics.contains("\n\(line)"), "\(line) in \(metrics)")
        }
        try await daemon.stop()
    }

    @Test func survivesSigkillOfCrmdMidRelay() async throws {
        let directory = TemporaryDirectory()
        let nats = try NATSServer(storeDirectory: directory.appending("nats"))
        let config = try RelayFixture.relayConfig(directory, url: nats.url)
        let (socket, data) = (directory.appending("crmd.sock"), directory.appending("data"))
        var written = 0
        do {
            let daemon = try DaemonProcess(
                socketPath: socket, dataDirectory: data, extraArguments: ["--config", config])
            let client = try RPCClient(socketPath: socket)
            // Write until the relay is seen behind the log, then kill crmd there.
            var behind = false
            while !behind, written < 8_000 {
                try await RelayFixture.write(client, count: 1_000, first: written)
                written += 1_000
                let (head, relay) = try await RelayFixture.relayStats(client)
                behind = (relay["acknowledged_position"]?.intValue ?? 0) < head
            }
            daemon.stop(signal: SIGKILL)
        }
        let daemon = try DaemonProcess(socketPath: socket, dataDirectory: data, extraArguments: ["--config", config])
        let client = try RPCClient(socketPath: socket)
        let last = try await RelayFixture.write(client, count: 10_000 - written, first: written)
        // The daemon seeded its default pipeline before the 10,000 commands.
        #expect(last > 10_000)
        // Reading the stream waits for the relay to publish up to the head.
        try await RelayFixture.expectStreamMatchesLog(url: nats.url, client: client)
        daemon.stop()
    }

    @Test func survivesSigkillOfNatsMidRelay() async throws {
        let directory = TemporaryDirectory()
        let store = directory.appending("nats")
        var nats = try NATSServer(storeDirectory: store)
        let port = nats.port
        let daemon = try await TestDaemon(directory: directory) {
            $0.relay = RelayConfiguration(url: nats.url)
            $0.relay?.ackWaitMillis = 1_000
        }
        let client = try daemon.client()
        try await RelayFixture.write(client, count: 3_000)
        nats.stop(signal: SIGKILL)
        // Commands go on while NATS is down: the relay only lags.
        try await RelayFixture.write(client, count: 3_000, first: 3_000)
        let (head, relay) = try await RelayFixture.relayStats(client)
        #expect(head == 6_000)
        #expect((relay["lag_events"]?.intValue ?? 0) > 0)
        nats = try NATSServer(storeDirectory: store, port: port)
        try await RelayFixture.write(client, count: 4_000, first: 6_000)
        #expect(try await RelayFixture.waitUntilRelayed(daemon, client) == 10_000)
        try await RelayFixture.expectStreamMatchesLog(url: nats.url, client: client)
        try await daemon.stop()
    }

    @Test func survivesTheStreamLeaderDyingInAThreeNodeCluster() async throws {
        let directory = TemporaryDirectory()
        let clusterPorts = (0..<3).map { _ in NATSServer.freePort() }
        let nodes = try (0..<3).map { index in
            try NATSServer(
                storeDirectory: directory.appending("nats-\(index)"), name: "n\(index)",
                cluster: (clusterPorts[index], clusterPorts.enumerated().filter { $0.offset != index }.map(\.element))
            )
        }
        let urls = nodes.map(\.url).joined(separator: ",")
        let daemon = try await TestDaemon(directory: directory) {
            $0.relay = RelayConfiguration(url: urls)
            $0.relay?.replicas = 3
            $0.relay?.ackWaitMillis = 2_000
        }
        let client = try daemon.client()
        try await RelayFixture.write(client, count: 3_000)
        #expect(try await RelayFixture.waitUntilRelayed(daemon, client) == 3_000)
        let leader = try await onOwnThread {
            try JetStreamContext(connection: try Connection(url: urls, name: "crmd-test")).stream("CRMD")?.leader
        }
        let dying = try #require(nodes.first { $0.name == leader }, "stream leader \(leader ?? "none")")
        try await RelayFixture.write(client, count: 2_000, first: 3_000)
        dying.stop(signal: SIGKILL)
        try await RelayFixture.write(client, count: 5_000, first: 5_000)
        #expect(try await RelayFixture.waitUntilRelayed(daemon, client) == 10_000)
        let survivor = try #require(nodes.first { $0.name != leader })
        try await RelayFixture.expectStreamMatchesLog(url: survivor.url, client: client)
        try await daemon.stop()
    }

    @Test func refusesAStreamWithWrongSettings() async throws {
        let directory = TemporaryDirectory()
        let nats = try NATSServer(storeDirectory: directory.appending("nats"))
        try await onOwnThread {
            var settings = StreamSettings(name: "CRMD", subjects: ["crmd.events.>"])
            settings.discardNew = false
            settings.denyPurge = false
            settings.maxMessages = 100
            _ = try JetStreamContext(connection: try Connection(url: nats.url, name: "crmd-test")).addStream(settings)
        }
        let daemon = try await TestDaemon(directory: directory) { $0.relay = RelayConfiguration(url: nats.url) }
        let client = try daemon.client()
        try await RelayFixture.write(client, count: 10)
        await daemon.core.relay?.waitUntilStopped()
        let relay = try await RelayFixture.relayStats(client).relay
        #expect(relay["state"] == "failed")
        let error = relay["last_error"]?.stringValue ?? ""
        #expect(error.contains("discard is old"))
        #expect(error.contains("purging is allowed"))
        #expect(error.contains("max_msgs is 100"))
        #expect(relay["lag_events"] == 10)
        // Commands are not affected.
        #expect(try await RelayFixture.write(client, count: 1, first: 10) == 11)
        try await daemon.stop()
    }
}
