import CRMDomain
import CRMJSON
import CRMProtocol
import CRMRPC
import CRMTesting
import Foundation
import Testing

/// `customer.export`: everything crmd holds about one person (GDPR Art. 15 and 20), through the socket.
@Suite struct SubjectExportTests {
    /// Ada with a consent change, a shared activity, a deal and a ticket; Bob with events of his own.
    func populate(_ client: RPCClient) async throws {
        _ = try await client.result("pipeline.define", DefaultPipeline.params())
        _ = try await client.result(
            "customer.create",
            [
                "customer_id": "ada", "first_name": "Ada", "last_name": "Lovelace",
                "emails": [["address": "ada@example.com"]], "phones": [["number": "+44 20 7946 0000"]],
                "at": "2025-03-01T10:00:00Z",
            ]
        )
        _ = try await client.result(
            "customer.create", ["customer_id": "bob", "first_name": "Bob", "at": "2025-03-02T10:00:00Z"]
        )
        _ = try await client.result(
            "customer.set_consent",
            [
                "customer_id": "ada", "channel": "email", "status": "opted_in", "legal_basis": "consent",
                "at": "2025-03-03T10:00:00Z",
            ]
        )
        _ = try await client.result("customer.tag", ["customer_id": "bob", "add": ["beta"]])
        _ = try await client.result(
            "activity.log",
            [
                "activity_id": "n1", "type": "note", "customer_ids": ["ada", "bob"], "subject": "Kick-off",
                "at": "2025-03-04T10:00:00Z",
            ]
        )
        _ = try await client.result(
            "deal.create", ["deal_id": "d1", "pipeline_id": "sales", "name": "Renewal", "customer_ids": ["ada"]]
        )
        _ = try await client.result(
            "ticket.open", ["ticket_id": "t1", "customer_id": "ada", "subject": "Help", "channel": "email"]
        )
        _ = try await client.result("ticket.reply", ["ticket_id": "t1", "body": "On it", "author": "agent", "public": true])
    }

    @Test func theExportHoldsTheProfileTimelineRecordsConsentAndEveryEventOfThePerson() async throws {
        let daemon = try await TestDaemon()
        let client = try daemon.client()
        try await self.populate(client)
        let export = try await client.result("customer.export", ["customer_id": "ada"])

        #expect(export["customer_id"] == "ada")
        #expect(export["profile"] == (try await client.result("customer.get", ["customer_id": "ada"])))
        let timeline = try await client.result("customer.timeline", ["customer_id": "ada", "limit": 200])
        #expect(export["timeline"] == timeline["entries"])
        #expect(export["deals"] == [try await client.result("deal.get", ["deal_id": "d1"])])
        #expect(export["tickets"] == [try await client.result("ticket.get", ["ticket_id": "t1"])])

        let consent = try #require(export["consent_history"]?.arrayValue)
        #expect(consent.count == 1)
        #expect(consent.first?["channel"] == "email")
        #expect(consent.first?["to"] == "opted_in")
        #expect(consent.first?["legal_basis"] == "consent")
        #expect(consent.first?["at"] == "2025-03-03T10:00:00.000Z")

        // Every event that concerns Ada, oldest first, exactly as events.read returns it; none of Bob's own.
        let events = try #require(export["events"]?.arrayValue)
        let streams = events.compactMap { $0["stream"]?.stringValue }
        #expect(streams.contains("customer-ada") && streams.contains("deal-d1") && streams.contains("ticket-t1"))
        #expect(streams.contains("activity-n1"))
        #expect(!streams.contains("customer-bob"))
        let seqs = events.compactMap { $0["seq"]?.intValue }
        #expect(seqs == seqs.sorted())
        for event in events {
            let seq = try #require(event["seq"]?.intValue)
            let read = try await client.result("events.read", ["from": .int(seq), "limit": 1])
            #expect(read["events"]?[0] == event)
        }
        let head = try await client.result("system.stats")["head"]
        #expect(export["head"]?["position"] == head?["position"])
        #expect(export["head"]?["hash"] == head?["hash"])
        try await daemon.stop()
    }

    @Test func badRequestsAreRefusedAndOnlyAdminsMayExport() async throws {
        let daemon = try await TestDaemon()
        let client = try daemon.client()
        try await self.populate(client)
        let missing = try await client.error("customer.export", [:])
        #expect(missing.reason == "missing_field")
        #expect(missing.field == "customer_id")
        let unknown = try await client.error("customer.export", ["customer_id": "nobody"])
        #expect(unknown.reason == "not_found")
        #expect(unknown.field == "customer_id")
        let extra = try await client.error("customer.export", ["customer_id": "ada", "format": "csv"])
        #expect(extra.field == "format")
        let invalid = try await client.error("customer.export", ["customer_id": "a b"])
        #expect(invalid.reason == "invalid_field")
        try await daemon.stop()

        let me = getuid()
        let auditor = try await TestDaemon(access: AccessPolicy(rules: [.init(uid: me, roles: [.audit, .read])]))
        let denied = try await auditor.client().error("customer.export", ["customer_id": "ada"])
        #expect(denied.reason == "forbidden")
        try await auditor.stop()
    }
}
