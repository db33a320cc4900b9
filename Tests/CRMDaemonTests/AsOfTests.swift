import CRMDomain
import CRMJSON
import CRMProtocol
import CRMRPC
import CRMTesting
import Foundation
import Testing

/// `as_of` answers match what the same query returned at that moment.
@Suite struct AsOfTests {
    @Test func customerGetAsOfMatchesTheAnswersRecordedDuringTheRun() async throws {
        let daemon = try await TestDaemon()
        let client = try daemon.client()
        _ = try await client.result("pipeline.define", DefaultPipeline.params())
        var recorded: [(position: JSON, profile: JSON)] = []
        func snapshot(_ result: JSON) async throws {
            let position = try #require(result["position"])
            var profile = try await client.result("customer.get", ["customer_id": "ada"])
            profile["as_of"] = ["position": position]
            recorded.append((position, profile))
        }
        try await snapshot(try await client.result("customer.create", ["customer_id": "ada", "first_name": "Ada"]))
        _ = try await client.result("customer.create", ["customer_id": "bob", "first_name": "Bob"])
        try await snapshot(
            try await client.result("customer.update", ["customer_id": "ada", "set": ["last_name": "Lovelace"]])
        )
        try await snapshot(
            try await client.result(
                "activity.log",
                ["type": "call", "customer_ids": ["ada", "bob"], "direction": "outbound", "outcome": "connected"]
            )
        )
        try await snapshot(
            try await client.result(
                "deal.create",
                ["deal_id": "d1", "pipeline_id": "sales", "name": "Renewal", "customer_ids": ["ada", "bob"],
                 "amount": "500", "currency": "EUR"]
            )
        )
        try await snapshot(try await client.result("deal.move", ["deal_id": "d1", "stage_id": "won"]))
        try await snapshot(
            try await client.result(
                "ticket.open",
                ["ticket_id": "t1", "customer_id": "ada", "subject": "Help", "channel": "email"]
            )
        )
        try await snapshot(try await client.result("ticket.set_status", ["ticket_id": "t1", "status": "solved"]))
        try await snapshot(try await client.result("customer.tag", ["customer_id": "ada", "add": ["vip"]]))

        for (position, profile) in recorded {
            let past = try await client.result("customer.get", ["customer_id": "ada", "as_of": position])
            #expect(past == profile, "as_of \(position)")
        }
        // A time: every event so far was recorded before now.
        let now = try await client.result("customer.get", ["customer_id": "ada", "as_of": "2999-01-01T00:00:00Z"])
        #expect(now["version"] == recorded.last?.profile["version"])
        // Before the customer existed.
        let before = try await client.error("customer.get", ["customer_id": "ada", "as_of": 1])
        #expect(before.reason == "not_found")
        let bad = try await client.error("customer.get", ["customer_id": "ada", "as_of": "yesterday"])
        #expect(bad.field == "as_of")
        try await daemon.stop()
    }
}
