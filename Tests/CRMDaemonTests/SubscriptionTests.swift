import CRMApplication
import CRMJSON
import CRMProtocol
import CRMTesting
import Foundation
import Testing

/// `events.subscribe`: catch-up then live, in order, no gap and no duplicate; slow readers dropped.
@Suite struct SubscriptionTests {
    /// Sends `count` customer.create commands on one connection, pipelined, and reads every reply.
    static func write(_ client: RPCClient, prefix: String, count: Int) throws {
        var bytes: [UInt8] = []
        for index in 0..<count {
            let request = RPCRequest(
                id: .int(Int64(index)),
                method: "customer.create",
                params: ["customer_id": .string("\(prefix)-\(index)"), "first_name": "Load"]
            )
            bytes += request.json.serialized() + [0x0A]
        }
        try client.connection.send(bytes)
        for _ in 0..<count {
            guard let line = try client.connection.readLine() else { throw RPCClientError.closed }
            let reply = try JSON.parse(line)
            if reply["error"] != nil { throw RPCClientError.unexpectedSuccess(reply) }
        }
    }

    @Test func aFilteredDeliveryThatStopsSaysWhereToResume() async throws {
        let daemon = try await TestDaemon()
        let client = try daemon.client()
        for id in ["a1", "b1", "a2", "b2"] {
            _ = try await client.result("customer.create", ["customer_id": .string(id), "first_name": "Ada"])
        }
        // customer-b1 is event 2, customer-b2 event 4; the reader takes one event, then refuses.
        let subscription = try daemon.core.subscriptions.subscription(["stream_prefix": "customer-b", "from": 1], defaultID: "s")
        var delivered: [Int64] = []
        let end = await daemon.core.subscriptions.deliver(subscription) { notification in
            guard delivered.isEmpty else { return false }
            delivered.append(notification["params"]?["event"]?["seq"]?.intValue ?? 0)
            return true
        }
        #expect(delivered == [2])
        #expect(end.reason == .refused)
        #expect(end.next == 3)
        try await daemon.stop()
    }

    @Test func subscriberSeesEveryEventOnceInOrderWhileOthersWrite() async throws {
        let daemon = try await TestDaemon()
        let setup = try daemon.client()
        for index in 0..<50 { _ = try await setup.result("customer.create", ["customer_id": .string("before-\(index)"), "first_name": "B"]) }

        let subscriber = try daemon.client()
        try await subscriber.sendRaw(#"{"jsonrpc":"2.0","id":"s","method":"events.subscribe","params":{"from":1}}"#)
        let total = 50 + 4 * 2_500
        // Read on a thread of its own while the writers run, as a real subscriber would.
        let reading = Task {
            try await onOwnThread { () throws -> [Int64] in
                var seqs: [Int64] = []
                var replied = false
                while seqs.count < total || !replied {
                    guard let line = try subscriber.connection.readLine() else { throw RPCClientError.closed }
                    let message = try JSON.parse(line)
                    if message["id"] == "s" {
                        #expect(message["result"]?["subscription"] == "s")
                        replied = true
                    } else {
                        #expect(message["method"] == "events.event")
                        #expect(message["params"]?["subscription"] == "s")
                        seqs.append(try #require(message["params"]?["event"]?["seq"]?.intValue))
                    }
                }
                return seqs
            }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<4 {
                let client = try daemon.client()
                group.addTask { try await onOwnThread { try SubscriptionTests.write(client, prefix: "w\(writer)", count: 2_500) } }
            }
            try await group.waitForAll()
        }
        let seqs = try await reading.value
        #expect(seqs == Array(1...Int64(total)))
        try await daemon.stop()
    }

    @Test func filteredLiveSubscriptionAndUnsubscribe() async throws {
        let daemon = try await TestDaemon()
        let writer = try daemon.client()
        _ = try await writer.result("customer.create", ["customer_id": "old", "first_name": "Old"])
        let subscriber = try daemon.client()
        let reply = try await subscriber.result(
            "events.subscribe",
            ["subscription": "tags", "type": "CustomerTagged"]
        )
        #expect(reply["from"] == 2)
        _ = try await writer.result("customer.tag", ["customer_id": "old", "add": ["vip"]])
        _ = try await writer.result("customer.create", ["customer_id": "new", "first_name": "New"])
        _ = try await writer.result("customer.tag", ["customer_id": "new", "add": ["beta"]])
        var seen: [JSON] = []
        while seen.count < 2 {
            let message = try #require(try await subscriber.readJSON())
            seen.append(try #require(message["params"]?["event"]?["data"]?["customer_id"]))
        }
        #expect(seen == ["old", "new"])
        #expect(try await subscriber.result("events.unsubscribe", ["subscription": "tags"])["unsubscribed"] == true)
        #expect(try await subscriber.error("events.unsubscribe", ["subscription": "tags"]).reason == "not_found")
        #expect(try await subscriber.error("events.subscribe", ["type": 5]).reason == "invalid_field")
        try await daemon.stop()
    }

    @Test func aSlowSubscriberIsToldWhyAndDroppedWithoutDisturbingOthers() async throws {
        let daemon = try await TestDaemon(subscriptionBufferBytes: 16 * 1024)
        let subscriber = try daemon.client()
        _ = try await subscriber.result("events.subscribe", ["subscription": "slow"])
        // The subscriber reads nothing while 3,000 events are written.
        let writer = try daemon.client()
        try await onOwnThread { try SubscriptionTests.write(writer, prefix: "x", count: 3_000) }
        #expect(try await writer.result("system.ping")["pong"] == true)
        var last: JSON?
        while let message = try await subscriber.readJSON() { last = message }
        #expect(last?["method"] == "events.dropped")
        #expect(last?["params"]?["reason"] == "slow_consumer")
        #expect(last?["params"]?["next_from"]?.intValue != nil)
        #expect(try await writer.result("system.stats")["event_count"] == 3_000)
        try await daemon.stop()
    }
}
