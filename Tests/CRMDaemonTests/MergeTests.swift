import CRMApplication
import CRMJSON
import CRMProtocol
import CRMTesting
import Foundation
import Testing

/// `customer.merge` through the socket of the real daemon: one surviving profile with the records,
/// timeline and numbers of all, tombstones for the secondaries, the same read models after a rebuild,
/// `as_of` on either side of the merge, and erasure of the survivor destroying every merged key.
@Suite struct MergeTests {
    /// Primary `p` (a lead with a ticket) and secondaries `s1` (an opportunity with a deal, an activity
    /// and a ticket, created earlier) and `s2`.
    /// Returns the position of the last event.
    static func populate(_ client: RPCClient) async throws -> JSON {
        _ = try await client.result(
            "customer.create",
            [
                "at": "2026-03-01T09:00:00Z", "customer_id": "s1", "first_name": "Augusta", "last_name": "Byronhurst",
                "emails": [["address": "augusta.b@example.org"]], "lifecycle_stage": "opportunity",
                "tags": ["b2b"], "owner_id": "u7",
            ]
        )
        _ = try await client.result(
            "customer.create",
            [
                "at": "2026-03-01T10:00:00Z", "customer_id": "p", "first_name": "Ada",
                "emails": [["address": "ada.q@example.org"]], "phones": [["number": "+44 20 7946 0123"]],
                "tags": ["vip"], "tier": "gold",
            ]
        )
        _ = try await client.result(
            "customer.create",
            [
                "at": "2026-03-01T10:01:00Z", "customer_id": "s2", "company_name": "Byronhurst Engines",
                "emails": [["address": "engines@example.org"]],
            ]
        )
        _ = try await client.result(
            "deal.create",
            [
                "at": "2026-03-01T10:02:00Z", "deal_id": "d1", "pipeline_id": "sales", "name": "Byronhurst renewal",
                "customer_ids": ["s1"], "amount": "1200", "currency": "EUR",
            ]
        )
        _ = try await client.result(
            "activity.log",
            [
                "at": "2026-03-01T10:03:00Z", "activity_id": "a1", "type": "call", "direction": "outbound",
                "customer_ids": ["s1"], "subject": "Call with Augusta",
            ]
        )
        _ = try await client.result(
            "customer.set_consent",
            ["at": "2026-03-01T10:03:30Z", "customer_id": "s1", "channel": "email", "status": "opted_out"]
        )
        var position: JSON = .null
        for (ticket, customer) in [("t1", "s1"), ("t2", "p")] {
            position =
                try await client.result(
                    "ticket.open",
                    [
                        "at": "2026-03-01T10:04:00Z", "ticket_id": .string(ticket), "customer_id": .string(customer),
                        "subject": "Byronhurst printer", "channel": "email",
                    ]
                )["position"] ?? .null
        }
        return position
    }

    @Test func theSurvivorHoldsEverythingAndTheSecondariesPointAtIt() async throws {
        let directory = TemporaryDirectory()
        let data = directory.appending("data")
        let socket = directory.appending("crmd.sock")
        let daemon = try DaemonProcess(socketPath: socket, dataDirectory: data)
        let client = try RPCClient(socketPath: socket)
        let beforeMerge = try await Self.populate(client)
        let primaryBefore = try await client.result("customer.get", ["customer_id": "p"])

        let reply = try await client.result(
            "customer.merge",
            ["at": "2026-03-02T09:00:00Z", "primary_id": "p", "secondary_ids": ["s1", "s2"]]
        )
        #expect(reply["customer_id"] == "p")
        #expect(
            reply["events"]?.arrayValue?.compactMap { $0["type"]?.stringValue } == [
                "CustomersMerged", "LifecycleStageChanged",
            ])

        let profile = try await client.result("customer.get", ["customer_id": "p"])
        #expect(profile["name"]?["first"] == "Ada" && profile["name"]?["last"] == "Byronhurst")
        #expect(profile["company_name"] == "Byronhurst Engines")
        #expect(
            profile["emails"]?.arrayValue?.compactMap { $0["address"]?.stringValue } == [
                "ada.q@example.org", "augusta.b@example.org", "engines@example.org",
            ])
        #expect(profile["tags"] == ["b2b", "vip"])
        let augusta = try #require(profile["emails"]?[1])
        #expect(augusta["opted_out"] == true && augusta["consent"] == "opted_out", "an opt-out survives")
        #expect(augusta["consent_at"] == "2026-03-01T10:03:30.000Z", "with when it was given")
        #expect(profile["owner_id"] == "u7" && profile["tier"] == "gold")
        #expect(profile["lifecycle"]?["stage"] == "opportunity")
        #expect(profile["created_at"] == "2026-03-01T09:00:00.000Z", "the earliest record's")
        #expect(profile["merged_from"] == ["s1", "s2"])
        #expect(profile["stats"]?["tickets_total"] == 2 && profile["stats"]?["open_tickets"] == 2)
        #expect(profile["stats"]?["open_deals"] == 1)
        #expect(profile["stats"]?["activity_counts"]?["call"] == 1)
        let history = profile["lifecycle"]?["history"]?.arrayValue?.compactMap { $0["stage"]?.stringValue }
        #expect(
            history == ["opportunity", "lead", "lead", "opportunity"], "the union by time, then the merge's change")

        let merged = try await client.error("customer.get", ["customer_id": "s1"])
        #expect(merged.reason == "customer_merged")
        #expect(merged.data?["details"]?["merged_into"] == "p")
        let moved = try await client.error("customer.timeline", ["customer_id": "s1"])
        #expect(moved.reason == "customer_merged" && moved.data?["details"]?["merged_into"] == "p")
        let found = try await client.result("customer.find", ["email": "Augusta.B@example.org"])
        #expect(found["customers"]?[0]?["customer_id"] == "p")
        #expect(try await client.result("customer.find", ["tag": "b2b"])["customers"]?.arrayValue?.count == 1)
        #expect(try await client.result("deal.get", ["deal_id": "d1"])["customer_ids"] == ["p"])
        #expect(try await client.result("ticket.get", ["ticket_id": "t1"])["customer_id"] == "p")
        let deals = try await client.result("deal.list", ["customer_id": "p"])
        #expect(deals["deals"]?.arrayValue?.compactMap { $0["deal_id"]?.stringValue } == ["d1"])
        let timeline = try await client.result("customer.timeline", ["customer_id": "p", "limit": 50])
        let kinds = timeline["entries"]?.arrayValue?.compactMap { $0["kind"]?.stringValue } ?? []
        #expect(kinds.first == "lifecycle.changed" && kinds.dropFirst().first == "customers.merged")
        #expect(kinds.contains("activity.call") && kinds.contains("deal.created"))
        #expect(timeline.serialized().contains(Array("Call with Augusta".utf8)), "the secondary's texts are read")

        // A later event on a moved record reaches the survivor.
        _ = try await client.result(
            "ticket.set_status", ["at": "2026-03-02T10:00:00Z", "ticket_id": "t1", "status": "solved"])
        #expect(try await client.result("customer.get", ["customer_id": "p"])["stats"]?["open_tickets"] == 1)
        let live = try await client.result("customer.get", ["customer_id": "p"])

        // As of before the merge, the primary is what it was; the secondary was active.
        var asOf = try await client.result("customer.get", ["customer_id": "p", "as_of": beforeMerge])
        asOf["as_of"] = nil
        #expect(asOf == primaryBefore)
        let secondaryBefore = try await client.result("customer.get", ["customer_id": "s1", "as_of": beforeMerge])
        #expect(secondaryBefore["state"] == "active")
        var now = try await client.result("customer.get", ["customer_id": "p", "as_of": "2999-01-01T00:00:00Z"])
        now["as_of"] = nil
        #expect(now == live, "time travel past the merge folds the secondaries' events too")

        // The subject access export covers the merged records: the same person.
        let export = try await client.result("customer.export", ["customer_id": "p"])
        let streams = Set(export["events"]?.arrayValue?.compactMap { $0["stream"]?.stringValue } ?? [])
        #expect(streams.isSuperset(of: ["customer-p", "customer-s1", "customer-s2", "deal-d1", "ticket-t1"]))
        #expect(export["deals"]?.arrayValue?.count == 1 && export["tickets"]?.arrayValue?.count == 2)
        #expect(export.serialized().contains(Array("Call with Augusta".utf8)))
        #expect(export["consent_history"]?.arrayValue?.count == 1, "the secondary's consent change is the person's")

        // Rebuilt from the log, the read models are the live ones, byte for byte.
        _ = try await client.result("projection.rebuild", ["name": "all"])
        _ = try await ProjectionLifecycleTests.waitUntilSettled(client)
        #expect(try await client.result("audit.verify", ["read_models": true])["read_models"]?["ok"] == true)
        #expect(try await client.result("customer.get", ["customer_id": "p"]) == live)

        // Erasing the survivor destroys the secondaries' keys too.
        let erased = try await client.result("customer.erase", ["customer_id": "p"])
        let erasedSeq = try #require(erased["events"]?[0]?["seq"]?.intValue)
        let event = try await client.result("events.read", ["from": .int(erasedSeq), "limit": 1])
        #expect(event["events"]?[0]?["data"]?["key_ids"] == ["c:p", "c:s1", "c:s2"])
        let secondaryEvents = try await client.result("events.read", ["stream": "customer-s1", "limit": 1])
        #expect(secondaryEvents["events"]?[0]?["pii"]?["$pii"] == "shredded")
        let after = try await client.result("customer.timeline", ["customer_id": "p", "limit": 50])
        #expect(!after.serialized().contains(Array("Augusta".utf8)))
        #expect(try await client.result("deal.get", ["deal_id": "d1"])["name"] == .null)
        _ = try await ErasureTests.waitUntilComplete(client, "p")
        #expect(try await client.result("audit.verify")["ok"] == true)
        #expect(daemon.stop() == 0)
        let secrets = ["Augusta", "Byronhurst", "augusta.b@example.org", "ada.q@example.org"]
        for file in [data + "/data.mdb"] {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
            for secret in secrets { #expect(bytes.range(of: Data(secret.utf8)) == nil, "\(secret) in \(file)") }
        }
    }

    @Test func badMergesAreRefusedAndNothingIsWritten() async throws {
        let daemon = try await TestDaemon()
        let client = try daemon.client()
        for id in ["p", "s1", "s2", "gone"] {
            _ = try await client.result("customer.create", ["customer_id": .string(id), "first_name": "X"])
        }
        _ = try await client.result("customer.erase", ["customer_id": "gone"])
        _ = try await client.result("customer.merge", ["primary_id": "p", "secondary_ids": ["s2"]])
        let before = try await Snapshot.take(client, customer: "p")

        let cases: [(JSON, String, String?)] = [
            (["primary_id": "p", "secondary_ids": ["p"]], "invalid_merge", "secondary_ids[0]"),
            (["primary_id": "p", "secondary_ids": ["s1", "s1"]], "invalid_merge", "secondary_ids[1]"),
            (["primary_id": "p", "secondary_ids": ["s2"]], "customer_merged", "secondary_ids[0]"),
            (["primary_id": "s2", "secondary_ids": ["s1"]], "customer_merged", "primary_id"),
            (["primary_id": "p", "secondary_ids": ["gone"]], "customer_erased", "secondary_ids[0]"),
            (["primary_id": "p", "secondary_ids": ["nobody"]], "not_found", "secondary_ids[0]"),
            (["primary_id": "p", "secondary_ids": ["s1"], "resolve": ["tier": "s2"]], "invalid_merge", "resolve.tier"),
            (
                ["primary_id": "p", "secondary_ids": ["s1"], "resolve": ["emails": "s1"]], "invalid_field",
                "resolve.emails"
            ),
            (["primary_id": "p", "secondary_ids": []], "invalid_field", "secondary_ids"),
            (["primary_id": "p"], "missing_field", "secondary_ids"),
            (["primary_id": "p", "secondary_ids": ["s1"], "why": 1], "invalid_field", "why"),
            (
                ["primary_id": "p", "secondary_ids": ["s1"], "expected_versions": ["s1": 7]], "version_conflict",
                "expected_versions.s1"
            ),
        ]
        for (params, reason, field) in cases {
            let refused = try await client.error("customer.merge", params)
            #expect(refused.reason == reason, "\(params)")
            #expect(refused.field == field, "\(params)")
        }
        #expect(try await client.error("customer.merge", cases[0].0).code == -32013, "invalid_merge")
        #expect(try await Snapshot.take(client, customer: "p") == before)
        #expect(try await client.result("customer.get", ["customer_id": "s1"])["state"] == "active")

        // The right expected versions let it through.
        _ = try await client.result(
            "customer.merge", ["primary_id": "p", "secondary_ids": ["s1"], "expected_versions": ["s1": 1, "p": 2]]
        )
        #expect(try await client.error("customer.get", ["customer_id": "s1"]).reason == "customer_merged")
    }
}
