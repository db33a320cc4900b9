import CRMDomain
import CRMEventStore
import CRMJSON
import LMDB
import Testing

@testable import CRMProjections

@Suite("Customer profile fold")
struct CustomerProfileFoldTests {
    @Test func tableNamesFollowTheProjectorScheme() throws {
        let harness = try ProfileHarness()
        #expect(harness.projector.name == "customers")
        #expect(harness.projector.version == 10)
        #expect(harness.projector.tableName("rows") == "proj.customers.v10.rows")
        #expect(
            Set(harness.projector.queries.keys)
                == ["customer.get", "customer.find", "customer.timeline", "customer.find_duplicates"]
        )
    }

    @Test func customerCreatedInsertsTheWholeDocument() throws {
        let harness = try ProfileHarness()
        try harness.append(
            "CustomerCreated",
            stream: "customer-c1",
            at: "2025-03-07T15:30:00.000Z",
            data: [
                "customer_id": "c1", "owner_id": "u42", "tags": ["vip", "beta"], "tier": "gold", "source": "web",
                "lifecycle_stage": "subscriber", "lead_status": "NEW",
            ],
            pii: [
                "first_name": "Ada", "last_name": "Lovelace", "company_name": "Analytical Engines Ltd",
                "job_title": "CTO",
                "emails": [
                    ["address": "Ada@Example.com", "primary": false, "opted_out": false, "invalid": false],
                    ["address": "ada@work.example", "primary": true, "opted_out": true, "invalid": false],
                ],
                "phones": [
                    ["number": "+44 20 7946 0958", "normalized": "+442079460958", "type": "office", "primary": true]
                ],
                "address": ["street": nil, "city": "London", "state": nil, "postal_code": nil, "country": "GB"],
                "custom": ["plan": "pro", "seats": 5],
            ]
        )
        let expected: JSON = [
            "customer_id": "c1", "state": "active", "merged_into": nil, "merged_from": [], "version": 1,
            "created_at": "2025-03-07T15:30:00.000Z", "updated_at": "2025-03-07T15:30:00.000Z",
            "name": ["first": "Ada", "last": "Lovelace", "full": "Ada Lovelace"],
            "emails": [
                [
                    "address": "Ada@Example.com", "primary": false, "opted_out": false, "invalid": false,
                    "consent": "not_set", "consent_at": nil, "legal_basis": nil,
                ],
                [
                    "address": "ada@work.example", "primary": true, "opted_out": true, "invalid": false,
                    "consent": "not_set", "consent_at": nil, "legal_basis": nil,
                ],
            ],
            "phones": [
                [
                    "number": "+44 20 7946 0958", "normalized": "+442079460958", "type": "office", "primary": true,
                    "consent": "not_set",
                ]
            ],
            "do_not_call": false, "company_name": "Analytical Engines Ltd", "job_title": "CTO",
            "address": ["street": nil, "city": "London", "state": nil, "postal_code": nil, "country": "GB"],
            "owner_id": "u42", "tags": ["beta", "vip"], "tier": "gold", "source": "web",
            "lifecycle": [
                "stage": "subscriber", "entered_at": "2025-03-07T15:30:00.000Z",
                "history": [["stage": "subscriber", "entered_at": "2025-03-07T15:30:00.000Z", "exited_at": nil]],
            ],
            "lead_status": "NEW", "custom": ["plan": "pro", "seats": 5],
            "stats": [
                "open_tickets": 0, "tickets_total": 0, "open_deals": 0, "won_deals": 0, "won_amount": [:],
                "last_activity_at": nil, "last_contacted_at": nil,
                "activity_counts": ["call": 0, "email": 0, "meeting": 0, "note": 0, "task": 0],
            ],
            "value": nil,
        ]
        #expect(try harness.profile("c1") == expected)
        #expect(try harness.findIDs(["email": "  ADA@example.COM "]) == ["c1"])
        #expect(try harness.findIDs(["email": "ada@work.example"]) == ["c1"])
        #expect(try harness.findIDs(["phone": "+44 (20) 7946-0958"]) == ["c1"])
        #expect(try harness.findIDs(["tag": "vip"]) == ["c1"])
        #expect(try harness.findIDs(["tag": "beta"]) == ["c1"])

        let timeline = try harness.timeline("c1")
        #expect(
            timeline == [
                [
                    "at": "2025-03-07T15:30:00.000Z", "seq": 1, "kind": "customer.created", "ref_id": "c1",
                    "summary": "Customer created as subscriber", "actor": harness.actor.json,
                ]
            ]
        )
    }

    @Test func nameWithOnlyOnePartAndNoPII() throws {
        let harness = try ProfileHarness()
        try harness.create("c1", first: nil, last: "Hopper")
        #expect(try harness.profile("c1")["name"] == ["first": nil, "last": "Hopper", "full": "Hopper"])
        try harness.append(
            "CustomerCreated",
            stream: "customer-c2",
            at: "2025-03-07T15:30:00.000Z",
            data: [
                "customer_id": "c2", "owner_id": nil, "tags": [], "tier": nil, "source": nil,
                "lifecycle_stage": "lead", "lead_status": nil,
            ]
        )
        let profile = try harness.profile("c2")
        #expect(profile["name"] == ["first": nil, "last": nil, "full": nil])
        #expect(profile["emails"] == [])
        #expect(profile["custom"] == [:])
    }

    @Test func customerUpdatedAppliesChangesAndReindexesEmailsAndPhones() throws {
        let harness = try ProfileHarness()
        try harness.create(
            "c1",
            emails: ["old@example.com", "stay@example.com"],
            phones: [("+1 555 0100 200", "+15550100200")],
            custom: ["plan": "pro", "seats": 5]
        )
        try harness.append(
            "ConsentChanged",
            stream: "customer-c1",
            at: "2025-03-08T10:00:00.000Z",
            data: [
                "customer_id": "c1", "channel": "email", "from": "not_set", "to": "confirmed_opt_in",
                "legal_basis": "consent", "source": "form",
            ],
            pii: ["contact_point": "stay@example.com", "evidence": nil]
        )
        let emailsBefore: JSON = [
            ["address": "old@example.com", "primary": true, "opted_out": false, "invalid": false],
            ["address": "stay@example.com", "primary": false, "opted_out": false, "invalid": false],
        ]
        let emailsAfter: JSON = [
            ["address": "Stay@Example.com", "primary": true, "opted_out": false, "invalid": false],
            ["address": "new@example.com", "primary": false, "opted_out": false, "invalid": false],
        ]
        let phonesAfter: JSON = [
            ["number": "+49 30 1234567", "normalized": "+49301234567", "type": nil, "primary": true]
        ]
        let event = try harness.append(
            "CustomerUpdated",
            stream: "customer-c1",
            at: "2025-03-09T12:00:00.000Z",
            data: [
                "customer_id": "c1",
                "changed_fields": ["custom.plan", "custom.seats", "emails", "first_name", "phones", "tier"],
                "changes": ["tier": ["from": nil, "to": "gold"]],
            ],
            pii: [
                "changes": [
                    "first_name": ["from": "Ada", "to": "Augusta"],
                    "emails": ["from": emailsBefore, "to": emailsAfter],
                    "phones": [
                        "from": [
                            [
                                "number": "+1 555 0100 200", "normalized": "+15550100200", "type": "mobile",
                                "primary": true,
                            ]
                        ], "to": phonesAfter,
                    ],
                    "custom.plan": ["from": "pro", "to": "enterprise"],
                    "custom.seats": ["from": 5, "to": nil],
                ]
            ]
        )
        let profile = try harness.profile("c1")
        #expect(profile["version"] == 3)
        #expect(profile["updated_at"] == "2025-03-09T12:00:00.000Z")
        #expect(profile["created_at"] == "2025-03-07T15:30:00.000Z")
        #expect(profile["tier"] == "gold")
        #expect(profile["name"] == ["first": "Augusta", "last": "Lovelace", "full": "Augusta Lovelace"])
        #expect(profile["custom"] == ["plan": "enterprise"])
        #expect(
            profile["emails"] == [
                [
                    "address": "Stay@Example.com", "primary": true, "opted_out": false, "invalid": false,
                    "consent": "confirmed_opt_in", "consent_at": "2025-03-08T10:00:00.000Z", "legal_basis": "consent",
                ],
                [
                    "address": "new@example.com", "primary": false, "opted_out": false, "invalid": false,
                    "consent": "not_set", "consent_at": nil, "legal_basis": nil,
                ],
            ]
        )
        #expect(
            profile["phones"] == [
                [
                    "number": "+49 30 1234567", "normalized": "+49301234567", "type": nil, "primary": true,
                    "consent": "not_set",
                ]
            ]
        )
        #expect(try harness.findIDs(["email": "old@example.com"]) == [])
        #expect(try harness.findIDs(["email": "stay@example.com"]) == ["c1"])
        #expect(try harness.findIDs(["email": "NEW@example.com"]) == ["c1"])
        #expect(try harness.findIDs(["phone": "+1 555 0100 200"]) == [])
        #expect(try harness.findIDs(["phone": "+49 (30) 123-4567"]) == ["c1"])

        let entry = try #require(try harness.timeline("c1").first)
        #expect(entry["kind"] == "customer.updated")
        #expect(entry["seq"] == .int(Int64(event.seq)))
        #expect(entry["at"] == "2025-03-09T12:00:00.000Z")
        #expect(entry["summary"] == "Updated custom.plan, custom.seats, emails, first_name, phones, tier")
        #expect(entry["changes"]?["tier"] == ["from": nil, "to": "gold"])
        #expect(entry["changes"]?["first_name"] == ["from": "Ada", "to": "Augusta"])
        #expect(entry["changes"]?["emails"]?["to"] == emailsAfter)
        #expect(entry["changes"]?.objectValue?.count == 6)

        // Profiles and entries are stored as binary rows (format byte first), not as JSON text.
        let rows = try harness.rawRows("rows").filter { !$0.isEmpty }
        #expect(rows.count >= 3)
        for row in rows {
            #expect([CustomerProfile.rowFormat, ProfileStats.rowFormat, TimelineRow.rowFormat].contains(row.first))
            #expect((try? JSON.parse(row)) == nil, "\(String(decoding: row, as: UTF8.self))")
        }
        #expect(entry["actor"] == ["kind": "unix", "uid": 1000, "gid": 1000, "on_behalf_of": "agent-7"])
    }

    @Test func anEmailMovedToAnotherCustomerIsNotUnindexedByTheOldOne() throws {
        let harness = try ProfileHarness()
        try harness.create("c1", emails: ["shared@example.com"])
        try harness.create("c2", emails: [])
        let address: JSON = [["address": "shared@example.com", "primary": true, "opted_out": false, "invalid": false]]
        // c2 takes the address first (as after a merge), then c1 drops it.
        try harness.append(
            "CustomerUpdated",
            stream: "customer-c2",
            at: "2025-03-08T00:00:00.000Z",
            data: ["customer_id": "c2", "changed_fields": ["emails"], "changes": [:]],
            pii: ["changes": ["emails": ["from": [], "to": address]]]
        )
        try harness.append(
            "CustomerUpdated",
            stream: "customer-c1",
            at: "2025-03-08T00:01:00.000Z",
            data: ["customer_id": "c1", "changed_fields": ["emails"], "changes": [:]],
            pii: ["changes": ["emails": ["from": address, "to": []]]]
        )
        #expect(try harness.findIDs(["email": "shared@example.com"]) == ["c2"])
    }

    @Test func tagsAreAddedRemovedAndIndexed() throws {
        let harness = try ProfileHarness()
        try harness.create("c1", tags: ["beta", "vip"])
        try harness.append(
            "CustomerTagged",
            stream: "customer-c1",
            at: "2025-03-08T00:00:00.000Z",
            data: ["customer_id": "c1", "added": ["alpha", "partner"], "removed": ["vip"]]
        )
        let profile = try harness.profile("c1")
        #expect(profile["tags"] == ["alpha", "beta", "partner"])
        #expect(profile["version"] == 2)
        #expect(try harness.findIDs(["tag": "vip"]) == [])
        #expect(try harness.findIDs(["tag": "alpha"]) == ["c1"])
        #expect(try harness.findIDs(["tag": "beta"]) == ["c1"])
        let entry = try #require(try harness.timeline("c1").first)
        #expect(entry["kind"] == "customer.tagged")
        #expect(entry["summary"] == "Tags added alpha, partner; removed vip")
        #expect(entry["ref_id"] == "c1")
    }

    @Test func ownerAndLeadStatusChanges() throws {
        let harness = try ProfileHarness()
        try harness.create("c1", owner: "u1")
        try harness.append(
            "CustomerOwnerChanged",
            stream: "customer-c1",
            at: "2025-03-08T00:00:00.000Z",
            data: ["customer_id": "c1", "from": "u1", "to": "u2"]
        )
        try harness.append(
            "LeadStatusChanged",
            stream: "customer-c1",
            at: "2025-03-08T01:00:00.000Z",
            data: ["customer_id": "c1", "from": nil, "to": "CONNECTED"]
        )
        var profile = try harness.profile("c1")
        #expect(profile["owner_id"] == "u2")
        #expect(profile["lead_status"] == "CONNECTED")
        #expect(profile["version"] == 3)
        #expect(profile["updated_at"] == "2025-03-08T01:00:00.000Z")
        try harness.append(
            "CustomerOwnerChanged",
            stream: "customer-c1",
            at: "2025-03-08T02:00:00.000Z",
            data: ["customer_id": "c1", "from": "u2", "to": nil]
        )
        profile = try harness.profile("c1")
        #expect(profile["owner_id"] == nil as JSON)
        let kinds = try harness.timeline("c1").map { $0["kind"]?.stringValue ?? "" }
        #expect(
            kinds == [
                "customer.owner_changed", "customer.lead_status_changed", "customer.owner_changed", "customer.created",
            ]
        )
        #expect(try harness.timeline("c1").first?["summary"] == "Owner changed from u2 to nobody")
    }

    @Test func lifecycleChangesCloseTheOpenHistoryEntry() throws {
        let harness = try ProfileHarness()
        try harness.create("c1", at: "2025-01-01T00:00:00.000Z", stage: "lead")
        try harness.append(
            "LifecycleStageChanged",
            stream: "customer-c1",
            at: "2025-02-01T00:00:00.000Z",
            data: ["customer_id": "c1", "from": "lead", "to": "opportunity", "source": "automation"]
        )
        try harness.append(
            "LifecycleStageChanged",
            stream: "customer-c1",
            at: "2025-03-01T00:00:00.000Z",
            data: ["customer_id": "c1", "from": "opportunity", "to": "customer", "source": "manual"]
        )
        let profile = try harness.profile("c1")
        #expect(
            profile["lifecycle"] == [
                "stage": "customer", "entered_at": "2025-03-01T00:00:00.000Z",
                "history": [
                    [
                        "stage": "lead", "entered_at": "2025-01-01T00:00:00.000Z",
                        "exited_at": "2025-02-01T00:00:00.000Z",
                    ],
                    [
                        "stage": "opportunity", "entered_at": "2025-02-01T00:00:00.000Z",
                        "exited_at": "2025-03-01T00:00:00.000Z",
                    ],
                    ["stage": "customer", "entered_at": "2025-03-01T00:00:00.000Z", "exited_at": nil],
                ],
            ]
        )
        #expect(profile["version"] == 3)
        let entry = try #require(try harness.timeline("c1").first)
        #expect(entry["kind"] == "lifecycle.changed")
        #expect(entry["summary"] == "Lifecycle stage opportunity → customer (manual)")
    }

    @Test func consentOnEmailPhoneAndSMS() throws {
        let harness = try ProfileHarness()
        try harness.create(
            "c1",
            emails: ["a@example.com", "b@example.com"],
            phones: [("+1 555 0100 200", "+15550100200"), ("030 1234567", "0301234567")]
        )
        func consent(_ channel: String, _ address: String?, _ from: String, _ to: String, at: String) throws {
            try harness.append(
                "ConsentChanged",
                stream: "customer-c1",
                at: at,
                data: [
                    "customer_id": "c1", "channel": .string(channel), "from": .string(from), "to": .string(to),
                    "legal_basis": "consent", "source": nil,
                ],
                pii: ["contact_point": .string(address), "evidence": nil]
            )
        }
        try consent("email", "B@example.com", "not_set", "opted_out", at: "2025-03-08T00:00:00.000Z")
        try consent("phone", "+1 (555) 0100-200", "not_set", "opted_out", at: "2025-03-08T01:00:00.000Z")
        try consent("sms", "030 1234567", "not_set", "opted_in", at: "2025-03-08T02:00:00.000Z")

        var profile = try harness.profile("c1")
        let emails = try #require(profile["emails"]?.arrayValue)
        #expect(emails[0]["consent"] == "not_set")
        #expect(emails[0]["opted_out"] == false)
        #expect(emails[1]["consent"] == "opted_out")
        #expect(emails[1]["opted_out"] == true)
        #expect(emails[1]["consent_at"] == "2025-03-08T00:00:00.000Z")
        #expect(emails[1]["legal_basis"] == "consent")
        let phones = try #require(profile["phones"]?.arrayValue)
        #expect(phones[0]["consent"] == "opted_out")
        #expect(phones[1]["consent"] == "opted_in")
        #expect(profile["do_not_call"] == true)
        #expect(profile["version"] == 4)

        try consent("email", "b@example.com", "opted_out", "opted_in", at: "2025-03-09T00:00:00.000Z")
        try consent("phone", "+15550100200", "opted_out", "opted_in", at: "2025-03-09T01:00:00.000Z")
        profile = try harness.profile("c1")
        #expect(profile["emails"]?.arrayValue?[1]["opted_out"] == false)
        #expect(profile["emails"]?.arrayValue?[1]["consent"] == "opted_in")
        #expect(profile["do_not_call"] == false)
        let entry = try #require(try harness.timeline("c1").first)
        #expect(entry["kind"] == "customer.consent_changed")
        #expect(entry["summary"] == "Phone consent opted_out → opted_in")
    }

    @Test func consentWithoutAnAddressAppliesToTheOnlyEmail() throws {
        let harness = try ProfileHarness()
        try harness.create("c1", emails: ["a@example.com"])
        try harness.append(
            "ConsentChanged",
            stream: "customer-c1",
            at: "2025-03-08T00:00:00.000Z",
            data: [
                "customer_id": "c1", "channel": "email", "from": "not_set", "to": "opted_in", "legal_basis": nil,
                "source": nil,
            ]
        )
        #expect(try harness.profile("c1")["emails"]?.arrayValue?[0]["consent"] == "opted_in")
    }

    @Test func activitiesUpdateStatsAndTimelinesOfEveryCustomer() throws {
        let harness = try ProfileHarness()
        try harness.create("c1")
        try harness.create("c2")
        let call = try harness.logActivity(
            "a1",
            type: "call",
            customers: ["c1", "c2", "c1", "missing"],
            occurredAt: "2025-03-10T09:00:00.000Z",
            direction: "outbound"
        )
        try harness.logActivity(
            "a2",
            type: "email",
            customers: ["c2"],
            occurredAt: "2025-03-11T09:00:00.000Z",
            direction: "inbound",
            subject: "Re: pricing"
        )
        // An older meeting logged later: counts, moves nothing backwards.
        try harness.logActivity(
            "a3",
            type: "meeting",
            customers: ["c2"],
            occurredAt: "2025-03-09T09:00:00.000Z",
            recordedAt: "2025-03-12T00:00:00.000Z"
        )

        let first = try harness.profile("c1")
        #expect(first["stats"]?["activity_counts"] == ["call": 1, "email": 0, "meeting": 0, "note": 0, "task": 0])
        #expect(first["stats"]?["last_activity_at"] == "2025-03-10T09:00:00.000Z")
        #expect(first["stats"]?["last_contacted_at"] == "2025-03-10T09:00:00.000Z")
        #expect(first["version"] == 1)
        #expect(first["updated_at"] == "2025-03-07T15:30:00.000Z")

        let second = try harness.profile("c2")
        #expect(second["stats"]?["activity_counts"] == ["call": 1, "email": 1, "meeting": 1, "note": 0, "task": 0])
        #expect(second["stats"]?["last_activity_at"] == "2025-03-11T09:00:00.000Z")
        #expect(second["stats"]?["last_contacted_at"] == "2025-03-10T09:00:00.000Z")

        let callEntry: JSON = [
            "at": "2025-03-10T09:00:00.000Z", "seq": .int(Int64(call.seq)), "kind": "activity.call", "ref_id": "a1",
            "summary": "Outbound call", "actor": harness.actor.json,
        ]
        #expect(try harness.timeline("c1").first == callEntry)
        let secondTimeline = try harness.timeline("c2")
        #expect(secondTimeline.map { $0["ref_id"] } == ["a2", "a1", "a3", "c2"])
        #expect(secondTimeline[0]["summary"] == "Re: pricing")
        #expect(secondTimeline[2]["kind"] == "activity.meeting")
        #expect(secondTimeline[2]["summary"] == "Meeting")
        #expect(secondTimeline[1] == callEntry)
    }

    @Test func eventsForUnknownCustomersAndUnknownTypesAreSkipped() throws {
        let harness = try ProfileHarness()
        try harness.append(
            "CustomerTagged",
            stream: "customer-ghost",
            at: "2025-03-08T00:00:00.000Z",
            data: ["customer_id": "ghost", "added": ["x"], "removed": []]
        )
        try harness.append("DealCreated", stream: "deal-d1", at: "2025-03-08T00:00:00.000Z", data: ["deal_id": "d1"])
        try harness.append("SomethingNew", stream: "customer-c1", at: "2025-03-08T00:00:00.000Z", data: [:])
        try harness.logActivity("a1", type: "note", customers: ["ghost"], occurredAt: "2025-03-08T00:00:00.000Z")
        #expect(try harness.findIDs(["tag": "x"]) == [])
        let missing = rejection { _ = try harness.profile("ghost") }
        #expect(missing?.reason == .notFound)
    }

    @Test func rebuildingFromTheLogGivesIdenticalBytes() throws {
        let harness = try ProfileHarness()
        try harness.create("c1", emails: ["a@example.com"], phones: [("+1 555 0100 200", "+15550100200")], tags: ["x"])
        try harness.create("c2", emails: ["b@example.com"], tags: ["x", "y"])
        try harness.append(
            "CustomerTagged",
            stream: "customer-c1",
            at: "2025-03-08T00:00:00.000Z",
            data: ["customer_id": "c1", "added": ["z"], "removed": ["x"]]
        )
        try harness.append(
            "LifecycleStageChanged",
            stream: "customer-c2",
            at: "2025-03-08T01:00:00.000Z",
            data: ["customer_id": "c2", "from": "lead", "to": "customer", "source": "manual"]
        )
        try harness.append(
            "ConsentChanged",
            stream: "customer-c1",
            at: "2025-03-08T02:00:00.000Z",
            data: [
                "customer_id": "c1", "channel": "email", "from": "not_set", "to": "opted_in", "legal_basis": "consent",
                "source": nil,
            ],
            pii: ["contact_point": "a@example.com", "evidence": nil]
        )
        try harness.logActivity(
            "a1",
            type: "call",
            customers: ["c1", "c2"],
            occurredAt: "2025-03-09T00:00:00.000Z",
            direction: "outbound"
        )
        let inline = try harness.profileBytes(["c1", "c2"])
        let inlineTimelines = try [harness.timeline("c1"), harness.timeline("c2")]

        try harness.environment.write { txn in
            try harness.projector.clear(txn)
            for event in harness.log { try harness.projector.apply(event, txn) }
        }
        #expect(try harness.profileBytes(["c1", "c2"]) == inline)
        #expect(try [harness.timeline("c1"), harness.timeline("c2")] == inlineTimelines)
        #expect(try harness.findIDs(["tag": "x"]) == ["c2"])
        #expect(try harness.findIDs(["tag": "z"]) == ["c1"])

        // A cleared projection holds nothing.
        try harness.environment.write { txn in try harness.projector.clear(txn) }
        #expect(rejection { _ = try harness.profile("c1") }?.reason == .notFound)
        #expect(try harness.findIDs(["email": "a@example.com"]) == [])
        #expect(try harness.findIDs(["tag": "z"]) == [])
    }
}
