import CRMJSON
import CRMProtocol
import Testing

@testable import CRMCtl

/// The readable output: profiles, tables, stats, summaries and error messages.
@Suite struct OutputTests {
    /// A profile in the shape
    static let profile: JSON = [
        "customer_id": "ada", "state": "active", "merged_into": nil, "merged_from": [], "version": 4,
        "created_at": "2025-03-07T15:30:00.000Z", "updated_at": "2025-03-07T16:00:00.000Z",
        "name": ["first": "Ada", "last": "Lovelace", "full": "Ada Lovelace"],
        "emails": [
            [
                "address": "ada@example.com", "primary": true, "opted_out": false, "invalid": false,
                "consent": "confirmed_opt_in", "consent_at": "2025-03-07T15:31:00.000Z", "legal_basis": "consent",
            ],
            [
                "address": "ada@old.example", "primary": false, "opted_out": true, "invalid": false,
                "consent": "opted_out", "consent_at": nil, "legal_basis": nil,
            ],
        ],
        "phones": [["number": "+44 20 7946 0000", "normalized": "+442079460000", "type": "office", "primary": true]],
        "do_not_call": false, "company_name": "Analytical Engines Ltd", "job_title": "CTO",
        "address": ["street": nil, "city": "London", "state": nil, "postal_code": nil, "country": "GB"],
        "owner_id": "u42", "tags": ["beta", "vip"], "tier": "gold", "source": "web",
        "lifecycle": ["stage": "opportunity", "entered_at": "2025-03-07T15:40:00.000Z", "history": []],
        "lead_status": "CONNECTED", "custom": ["plan": "pro", "seats": 5],
        "stats": [
            "open_tickets": 1, "tickets_total": 4, "open_deals": 1, "won_deals": 0, "won_amount": ["EUR": "0"],
            "last_activity_at": "2025-03-07T15:45:00.000Z", "last_contacted_at": nil,
            "activity_counts": ["call": 3, "email": 5, "meeting": 1, "note": 2, "task": 0],
        ],
        "value": nil,
    ]

    @Test func profileIsCompactAndAligned() {
        let expected = """
            Ada Lovelace
              id:            ada (active, version 4)
              emails:        ada@example.com (primary, consent confirmed_opt_in at 2025-03-07T15:31:00.000Z)
                             ada@old.example (consent opted_out, opted out)
              phones:        +44 20 7946 0000 (office, primary)
              company:       Analytical Engines Ltd
              job title:     CTO
              address:       London, GB
              owner:         u42
              tags:          beta, vip
              tier:          gold
              source:        web
              lifecycle:     opportunity since 2025-03-07T15:40:00.000Z
              lead status:   CONNECTED
              custom:        plan=pro, seats=5
              stats:         open tickets 1, tickets 4, open deals 1, won deals 0
              won amount:    0 EUR
              activities:    call 3, email 5, meeting 1, note 2, task 0
              last activity: 2025-03-07T15:45:00.000Z
              created:       2025-03-07T15:30:00.000Z, updated 2025-03-07T16:00:00.000Z
            """
        #expect(Output.profile(OutputTests.profile) == expected)
        var past = OutputTests.profile
        past["as_of"] = ["position": 12]
        #expect(Output.profile(past).hasPrefix("Ada Lovelace as of log position 12\n  id:"))
    }

    @Test func sparseProfile() {
        let profile: JSON = [
            "customer_id": "c2", "state": "merged", "merged_into": "ada", "version": 2,
            "name": ["first": nil, "last": nil, "full": nil], "emails": [], "phones": [],
            "lifecycle": ["stage": "lead", "entered_at": nil], "do_not_call": true,
        ]
        let expected = """
            (no name)
              id:          c2 (merged, version 2)
              merged into: ada
              do not call: yes
              lifecycle:   lead
            """
        #expect(Output.profile(profile) == expected)
    }

    @Test func mergedAndUnreadableProfilesSaySo() {
        let profile: JSON = [
            "customer_id": "p", "state": "active", "version": 3, "merged_from": ["s1", "s2"],
            "name": ["first": nil, "last": nil, "full": nil], "emails": [], "phones": [],
            "lifecycle": ["stage": "lead", "entered_at": nil], "pii_unavailable": true,
        ]
        let expected = """
            (no name)
              id:            p (active, version 3)
              merged from:   s1, s2
              personal data: unavailable: its key is missing or damaged in the key store
              lifecycle:     lead
            """
        #expect(Output.profile(profile) == expected)
    }

    @Test func errorLineNamesReasonFieldAndDetails() {
        let error = RPCError(
            reason: "duplicate_email",
            message: "this address already belongs to customer ada",
            field: "emails[0].address",
            details: ["existing_customer_id": "ada"]
        )
        #expect(
            Output.errorLines(error) == [
                "crmctl: this address already belongs to customer ada [duplicate_email] (field emails[0].address)",
                "  existing_customer_id: ada",
            ]
        )
        let conflict = RPCError(
            reason: "version_conflict",
            message: "stream customer-ada is at version 4, not 3",
            details: ["stream": "customer-ada", "expected": 3, "actual": 4]
        )
        #expect(
            Output.errorLines(conflict) == [
                "crmctl: stream customer-ada is at version 4, not 3 [version_conflict]",
                "  actual: 4", "  expected: 3", "  stream: customer-ada",
            ]
        )
        let plain = RPCError(code: -32700, message: "parse error")
        #expect(Output.errorLines(plain) == ["crmctl: parse error [error -32700]"])
    }

    @Test func commandSummaries() {
        let created: JSON = [
            "customer_id": "ada", "position": 12,
            "events": [["seq": 12, "type": "CustomerCreated", "stream": "customer-ada", "stream_version": 1]],
        ]
        #expect(
            Output.commandSummary(noun: "customer", verb: "created", idKey: "customer_id", result: created)
                == "customer ada created (position 12, 1 event)"
        )
        let two: JSON = ["activity_id": "a1", "position": 14, "events": [[:], [:]]]
        #expect(
            Output.commandSummary(noun: "activity", verb: "logged", idKey: "activity_id", result: two)
                == "activity a1 logged (position 14, 2 events)"
        )
        let none: JSON = ["customer_id": "ada", "position": 14, "events": []]
        #expect(
            Output.commandSummary(noun: "customer", verb: "tagged", idKey: "customer_id", result: none)
                == "customer ada: nothing changed (position 14, no event)"
        )
    }

    @Test func createRendersTheSummary() throws {
        let create = try command(["customer", "create", "--first-name", "Ada"], as: CRMCtl.Customer.Create.self)
        let result: JSON = ["customer_id": "ada", "position": 1, "events": [["seq": 1]]]
        #expect(create.render(result) == "customer ada created (position 1, 1 event)")
    }

    @Test func prettyJSONIsIndentedWithSortedKeys() {
        let value: JSON = ["pong": true, "version": "0.1.0", "list": [1, ["a": nil]], "empty": [:], "none": []]
        let expected = """
            {
              "empty": {},
              "list": [
                1,
                {
                  "a": null
                }
              ],
              "none": [],
              "pong": true,
              "version": "0.1.0"
            }
            """
        #expect(Output.prettyJSON(value) == expected)
        #expect(Output.prettyJSON("x") == "\"x\"")
    }

    @Test func tableAlignsColumns() {
        let lines = Output.table(["A", "LONG HEADER", "C"], [["1", "x", "last"], ["22222", "yy", "z"]])
        #expect(lines == ["A      LONG HEADER  C", "1      x            last", "22222  yy           z"])
    }

    @Test func eventsTable() {
        let result: JSON = [
            "events": [
                [
                    "seq": 1, "stream": "customer-ada", "stream_version": 1, "type": "CustomerCreated",
                    "schema_version": 1, "occurred_at": "2025-03-07T15:30:00.000Z", "recorded_at": "x",
                    "actor": ["kind": "unix", "uid": 1000, "gid": 1000], "data": [:], "pii": nil, "hash": "ab",
                ],
                [
                    "seq": 2, "stream": "activity-a1", "stream_version": 1, "type": "ActivityLogged",
                    "occurred_at": "2025-03-07T15:45:00.000Z",
                    "actor": ["kind": "unix", "uid": 0, "gid": 0, "on_behalf_of": "agent-7"],
                ],
            ],
            "next_from": 3, "head": 9,
        ]
        let expected = """
            SEQ  STREAM        VERSION  TYPE             OCCURRED AT               ACTOR
            1    customer-ada  1        CustomerCreated  2025-03-07T15:30:00.000Z  uid 1000
            2    activity-a1   1        ActivityLogged   2025-03-07T15:45:00.000Z  uid 0 for agent-7
            more: --from 3 (head 9)
            """
        #expect(Output.events(result) == expected)
        #expect(Output.events(["events": [], "next_from": nil, "head": 0]) == "no events (head 0)")
    }

    @Test func timelineTableWithChanges() {
        let result: JSON = [
            "entries": [
                [
                    "at": "2025-03-07T16:00:00.000Z", "seq": 3, "kind": "customer.updated", "ref_id": "ada",
                    "summary": "Name changed", "actor": ["kind": "unix", "uid": 1000, "gid": 1000],
                    "changes": [
                        "first_name": ["from": "Ada", "to": "Augusta"], "job_title": ["from": "CTO", "to": nil],
                    ],
                ],
                [
                    "at": "2025-03-07T15:30:00.000Z", "seq": 1, "kind": "customer.created", "ref_id": "ada",
                    "summary": "Customer created", "actor": ["kind": "unix", "uid": 1000, "gid": 1000],
                ],
            ],
            "next_before": "1741361400000:1",
        ]
        let expected = """
            AT                        SEQ  KIND              REF  ACTOR     SUMMARY
            2025-03-07T16:00:00.000Z  3    customer.updated  ada  uid 1000  Name changed
                first_name: "Ada" → "Augusta"
                job_title: "CTO" → null
            2025-03-07T15:30:00.000Z  1    customer.created  ada  uid 1000  Customer created
            more: --before 1741361400000:1
            """
        #expect(Output.timeline(result) == expected)
        #expect(Output.timeline(["entries": [], "next_before": nil]) == "no timeline entries")
    }

    @Test func statsAsKeyValueLines() {
        let result: JSON = [
            "head": ["position": 57, "hash": "9f2c"], "event_count": 57, "file_size_bytes": 1_048_576,
            "map_size_bytes": 1_073_741_824, "uptime_seconds": 12,
            "projections": [["name": "customer_profiles", "version": 1, "checkpoint": 57, "lag": 0]],
        ]
        let expected = """
            head.position:                57
            head.hash:                    9f2c
            event_count:                  57
            file_size_bytes:              1048576
            map_size_bytes:               1073741824
            uptime_seconds:               12
            projection customer_profiles: version 1, checkpoint 57, lag 0
            """
        #expect(Output.stats(result) == expected)
    }

    @Test func findRendersProfilesAndCursor() throws {
        let find = try command(["customer", "find", "--tag", "vip"], as: CRMCtl.Customer.Find.self)
        let result: JSON = [
            "customers": [["customer_id": "c1", "name": ["full": "Ada Lovelace"], "lifecycle": ["stage": "lead"]]],
            "next_after": "c1",
        ]
        #expect(find.render(result) == "Ada Lovelace\n  id:        c1\n  lifecycle: lead\n\nmore: --after c1")
        #expect(find.render(["customers": [], "next_after": nil]) == "no customer found")
    }
}
