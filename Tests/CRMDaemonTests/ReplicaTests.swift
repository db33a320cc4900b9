import CRMApplication
import CRMJSON
import CRMProtocol
import CRMTesting
import Foundation
import JetStream
import Testing

/// A read replica builds its own log and read models from the primary's relay stream, verifying every
/// hash, answers queries like the primary at the same position, and refuses commands.
@Suite(.serialized, .timeLimit(.minutes(3))) struct ReplicaTests {
    /// A NATS server and a primary relaying to it, its personal data encrypted or in plain text.
    static func primary(encrypted: Bool) async throws -> (NATSServer, TestDaemon) {
        let directory = TemporaryDirectory()
        let nats = try NATSServer(storeDirectory: directory.appending("nats"))
        let primary = try await TestDaemon(directory: directory) {
            $0.relay = RelayConfiguration(url: nats.url)
            $0.encryptPersonalData = encrypted
        }
        return (nats, primary)
    }

    /// Runs the commands of the `as_of` report test on `client` (each at its business time).
    static func runReportCommands(_ client: RPCClient) async throws {
        for (step, command) in AsOfReportTests.commands.enumerated() {
            var params = command.params
            params["at"] = .string(AsOfReportTests.time(step))
            _ = try await client.result(command.method, params)
        }
    }

    /// Waits until the replica applied the stream up to `position` (or its follower stopped);
    /// returns its `system.stats`.
    static func waitUntilReplicated(_ replica: TestDaemon, position: Int64) async throws -> JSON {
        let follower = try #require(replica.core.follower)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await replica.core.waitUntilHead(UInt64(position)) }
            group.addTask { await follower.waitUntilStopped() }
            await group.next()
            group.cancelAll()
        }
        let stats = try await replica.client().result("system.stats")
        #expect(stats["head"]?["position"]?.intValue == position, "\(stats["replica"] ?? .null)")
        return stats
    }

    /// The queries compared between primary and replica.
    static let queries: [(String, JSON)] = [
        ("customer.get", ["customer_id": "c1"]),
        ("customer.get", ["customer_id": "c2"]),
        ("deal.get", ["deal_id": "d1"]),
        ("funnel.report", AsOfReportTests.funnelRange),
        ("funnel.report", AsOfReportTests.lifecycleRange),
        ("sla.report", AsOfReportTests.slaRange),
        ("sla.ticket", ["ticket_id": "t1", "at": "2025-03-05T12:00:00Z"]),
        ("ticket.get", ["ticket_id": "t2"]),
        ("customer.timeline", ["customer_id": "c1"]),
    ]

    /// Every query of ``queries`` answers the same on both.
    static func expectSameAnswers(
        _ replica: RPCClient,
        _ primary: RPCClient,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        for (method, params) in Self.queries {
            let (mine, theirs) = (try await replica.result(method, params), try await primary.result(method, params))
            #expect(
                mine == theirs, "\(method) \(params): replica \(mine) primary \(theirs)", sourceLocation: sourceLocation
            )
        }
    }

    @Test func replicaFromAnEmptyDirectoryAnswersLikeThePrimary() async throws {
        let (nats, primary) = try await Self.primary(encrypted: false)
        let client = try primary.client()
        try await Self.runReportCommands(client)
        let head = try await RelayFixture.waitUntilRelayed(primary, client)

        let replicaDirectory = TemporaryDirectory()
        let replicaConfiguration = ReplicaConfiguration(
            url: nats.url, stream: "CRMD", primarySocket: primary.socketPath)
        var replica = try await TestDaemon(directory: replicaDirectory) { $0.replica = replicaConfiguration }
        var reader = try replica.client()
        let stats = try await Self.waitUntilReplicated(replica, position: head)
        #expect(stats["head"]?["hash"] == (try await client.result("system.stats"))["head"]?["hash"])
        #expect(stats["replica"]?["state"] == "running")
        #expect(stats["replica"]?["lag_events"] == 0)
        try await Self.expectSameAnswers(reader, client)

        // Commands are the primary's.
        let refused = try await reader.error("customer.create", ["customer_id": "x", "first_name": "X"])
        #expect(refused.data?["reason"] == "read_only_replica")
        #expect(refused.data?["details"]?["primary_socket"] == .string(primary.socketPath))
        #expect(refused.message.contains(primary.socketPath))

        // A restarted replica resumes where its log ends.
        try await replica.stop()
        try await RelayFixture.write(client, count: 500)
        _ = try await client.result("deal.move", ["deal_id": "d3", "stage_id": "qualification"])
        let later = try await RelayFixture.waitUntilRelayed(primary, client)
        replica = try await TestDaemon(directory: replicaDirectory) { $0.replica = replicaConfiguration }
        reader = try replica.client()
        _ = try await Self.waitUntilReplicated(replica, position: later)
        try await Self.expectSameAnswers(reader, client)
        #expect(try await reader.result("audit.verify")["ok"] == true)
        try await replica.stop()
        try await primary.stop()
    }

    @Test func replicaWithoutThePrimarysKeysShowsPersonalDataUnavailable() async throws {
        let (nats, primary) = try await Self.primary(encrypted: true)
        let client = try primary.client()
        try await Self.runReportCommands(client)
        let head = try await RelayFixture.waitUntilRelayed(primary, client)
        let replica = try await TestDaemon(directory: TemporaryDirectory()) {
            $0.replica = ReplicaConfiguration(url: nats.url, stream: "CRMD")
        }
        let reader = try replica.client()
        _ = try await Self.waitUntilReplicated(replica, position: head)
        let onPrimary = try await client.result("customer.get", ["customer_id": "c1"])
        let onReplica = try await reader.result("customer.get", ["customer_id": "c1"])
        #expect(onPrimary["name"]?["first"] == "Ada")
        #expect(onReplica["name"]?["first"] == .null)
        #expect(onReplica["tier"] == onPrimary["tier"] && onReplica["stats"] == onPrimary["stats"])
        let events = try await reader.result("events.read", ["stream": "customer-c1"])
        #expect(events["events"]?[0]?["pii"]?["$pii"] == "unavailable")
        for (method, params) in Self.queries where method.hasSuffix(".report") {
            #expect(try await reader.result(method, params) == (try await client.result(method, params)))
        }
        try await replica.stop()
        try await primary.stop()
    }

    @Test func aTamperedMessageStopsTheReplicaWithAClearError() async throws {
        let (nats, primary) = try await Self.primary(encrypted: false)
        let client = try primary.client()
        try await RelayFixture.write(client, count: 20)
        let head = try await RelayFixture.waitUntilRelayed(primary, client)
        // A copy of the stream whose 12th message claims another first name.
        let messages = try await RelayFixture.messages(url: nats.url, stream: "CRMD", count: head)
        try await onOwnThread {
            let context = try JetStreamContext(connection: try Connection(url: nats.url, name: "crmd-test"))
            _ = try context.addStream(StreamSettings(name: "TAMPERED", subjects: ["tampered.>"]))
            for (index, message) in messages.enumerated() {
                var data = message.data
                if index == 11 {
                    var envelope = try JSON.parse(data)
                    var pii = envelope["pii"] ?? .null
                    pii["first_name"] = "Mallory"
                    envelope["pii"] = pii
                    data = envelope.serialized()
                }
                try context.publishAsync(
                    subject: "tampered.x", data: data, messageID: String(index + 1),
                    expectLastSequence: UInt64(index), maxWaitMillis: 5_000
                )
            }
            #expect(context.drainPublishes(timeoutMillis: 5_000))
        }
        let replica = try await TestDaemon(directory: TemporaryDirectory()) {
            $0.replica = ReplicaConfiguration(url: nats.url, stream: "TAMPERED")
        }
        let reader = try replica.client()
        await replica.core.follower?.waitUntilStopped()
        let stats = try await reader.result("system.stats")
        #expect(stats["replica"]?["state"] == "failed")
        let error = stats["replica"]?["last_error"]?.stringValue ?? ""
        #expect(error.contains("event 12 does not match its hash"), "\(error)")
        // Nothing of the batch holding the tampered message was applied.
        #expect((stats["head"]?["position"]?.intValue ?? 99) < 12)
        try await replica.stop()
        try await primary.stop()
    }
}
