import CRMDomain
import CRMJSON
import CRMProtocol
import CRMRPC
import CRMTesting
import Foundation
import Testing

/// Reading history back: `events.read` filters and paging, `customer.history`.
@Suite struct HistoryTests {
    /// Two customers with a few changes each, at known business times.
    func populate(_ client: RPCClient) async throws {
        _ = try await client.result("customer.create", ["customer_id": "ada", "first_name": "Ada", "at": "2025-03-01T10:00:00Z"])
        _ = try await client.result("customer.create", ["customer_id": "bob", "first_name": "Bob", "at": "2025-03-02T10:00:00Z"])
        _ = try await client.result(
            "customer.update",
            ["customer_id": "ada", "set": ["last_name": "Lovelace"], "at": "2025-03-03T10:00:00Z"]
        )
        _ = try await client.result("customer.tag", ["customer_id": "ada", "add": ["vip"], "at": "2025-03-04T10:00:00Z"])
        _ = try await client.result("customer.tag", ["customer_id": "bob", "add": ["beta"], "at": "2025-03-05T10:00:00Z"])
        _ = try await client.result(
            "activity.log",
            ["type": "note", "customer_ids": ["ada", "bob"], "at": "2025-03-06T10:00:00Z", "activity_id": "n1"]
        )
    }

    func seqs(_ page: JSON) -> [Int64] { page["events"]?.arrayValue?.compactMap { $0["seq"]?.intValue } ?? [] }

    @Test func filtersByStreamPrefixTypeTimeAndDirection() async throws {
        let daemon = try await TestDaemon()
        let client = try daemon.client()
        try await self.populate(client)
        #expect(self.seqs(try await client.result("events.read", ["stream_prefix": "customer-"])) == [1, 2, 3, 4, 5])
        #expect(self.seqs(try await client.result("events.read", ["stream": "customer-ada"])) == [1, 3, 4])
        #expect(self.seqs(try await client.result("events.read", ["type": ["CustomerTagged", "ActivityLogged"]])) == [4, 5, 6])
        #expect(
            self.seqs(
                try await client.result(
                    "events.read",
                    ["from_time": "2025-03-02T00:00:00Z", "to_time": "2025-03-05T00:00:00Z"]
                )
            ) == [2, 3, 4]
        )
        #expect(self.seqs(try await client.result("events.read", ["direction": "backward", "limit": 2])) == [6, 5])
        #expect(
            self.seqs(try await client.result("events.read", ["direction": "backward", "stream": "customer-ada"]))
                == [4, 3, 1]
        )
        #expect(
            self.seqs(try await client.result("events.read", ["actor_uid": .int(Int64(getuid())), "from": 5, "to": 5]))
                == [5]
        )
        #expect(self.seqs(try await client.result("events.read", ["actor_uid": 99999])) == [])
        try await daemon.stop()
    }

    @Test func pagesWithTheCursorWithoutGapsOrDuplicates() async throws {
        let daemon = try await TestDaemon()
        let client = try daemon.client()
        try await self.populate(client)
        for (direction, expected) in [("forward", [Int64](1...6)), ("backward", [Int64](1...6).reversed())] {
            var collected: [Int64] = []
            var params: JSON = ["limit": 4, "direction": .string(direction), "max_scan": 3]
            while true {
                let page = try await client.result("events.read", params)
                collected += self.seqs(page)
                guard let next = page["next_from"] else { break }
                if next.isNull { break }
                params["from"] = next
            }
            #expect(collected == expected, "\(direction)")
        }
        try await daemon.stop()
    }

    @Test func customerHistoryListsEveryChangeWithItsActor() async throws {
        let daemon = try await TestDaemon()
        let client = try daemon.client()
        try await self.populate(client)
        let history = try await client.result("customer.history", ["customer_id": "ada"])
        let events = try #require(history["events"]?.arrayValue)
        #expect(events.map { $0["type"] } == ["CustomerCreated", "CustomerUpdated", "CustomerTagged"])
        #expect(events[0]["changes"]?["first_name"] == ["from": nil, "to": "Ada"])
        #expect(events[1]["changes"]?["last_name"] == ["from": nil, "to": "Lovelace"])
        #expect(events[2]["changes"]?["tags"] == ["from": nil, "to": ["vip"]])
        #expect(events[0]["actor"]?["uid"] == .int(Int64(getuid())))
        #expect(events[1]["occurred_at"] == "2025-03-03T10:00:00.000Z")
        let missing = try await client.error("customer.history", ["customer_id": "nobody"])
        #expect(missing.reason == "not_found")
        let bad = try await client.error("events.read", ["direction": "sideways"])
        #expect(bad.field == "direction")
        try await daemon.stop()
    }

    @Test func dealAndTicketHistoriesListTheirChanges() async throws {
        let daemon = try await TestDaemon()
        let client = try daemon.client()
        _ = try await client.result("pipeline.define", DefaultPipeline.params())
        _ = try await client.result("customer.create", ["customer_id": "ada", "first_name": "Ada"])
        _ = try await client.result(
            "deal.create",
            ["deal_id": "d1", "pipeline_id": "sales", "name": "Renewal", "customer_ids": ["ada"]]
        )
        _ = try await client.result("deal.move", ["deal_id": "d1", "stage_id": "proposal"])
        let deal = try await client.result("deal.history", ["deal_id": "d1"])
        let dealEvents = try #require(deal["events"]?.arrayValue)
        #expect(dealEvents.map { $0["type"] } == ["DealCreated", "DealStageChanged"])
        #expect(dealEvents[0]["changes"]?["stage_id"]?["to"] == "prospecting")
        #expect(dealEvents[1]["changes"]?["stage"] == ["from": "prospecting", "to": "proposal"])

        _ = try await client.result(
            "ticket.open",
            ["ticket_id": "t1", "customer_id": "ada", "subject": "Help", "channel": "email"]
        )
        _ = try await client.result("ticket.set_status", ["ticket_id": "t1", "status": "pending"])
        let ticket = try await client.result("ticket.history", ["ticket_id": "t1"])
        let ticketEvents = try #require(ticket["events"]?.arrayValue)
        #expect(ticketEvents.first?["type"] == "TicketOpened")
        #expect(ticketEvents.last?["changes"]?["status"]?["to"] == "pending")
        #expect(try await client.error("deal.history", ["deal_id": "nope"]).field == "deal_id")
        try await daemon.stop()
    }
}
