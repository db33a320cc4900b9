import CRMDomain
import CRMEventStore
import CRMJSON
import LMDB
import Testing

@testable import CRMProjections

/// The compact binary rows of the customer read model: profiles and timeline entries round-trip,
/// damaged rows are clear storage errors, and a profile folded through many events renders the
/// document written out by hand below.
@Suite struct CustomerProfileRowTests {
    /// A profile with odd values in every part: unicode, empty and nil parts, negative numbers, a long
    /// lifecycle history, deals with a very large amount and with none.
    static func oddProfile() -> CustomerProfile {
        var profile = CustomerProfile(customerID: "c-ü", version: .max, createdAt: -86_400_001, lifecycleStage: "")
        profile.state = "merged"
        profile.mergedInto = "c2"
        profile.mergedFrom = ["c3", "c4"]
        profile.updatedAt = 253_402_300_799_999
        profile.firstName = "Zoë 🎉"
        profile.lastName = ""
        profile.emails = [
            CustomerProfile.Email(address: "zoë@例え.jp", primary: true, optedOut: true, invalid: true),
            CustomerProfile.Email(
                address: "", primary: false, consent: "opted_out", consentAt: -1, legalBasis: "consent"
            ),
        ]
        profile.phones = [CustomerProfile.Phone(number: "+1 555", normalized: "+1555", type: nil, primary: true)]
        profile.doNotCall = true
        profile.address = CustomerState.PostalAddress(street: "Straße 1", city: nil, state: "", country: "DE")
        profile.tags = ["a", "ß", "😀"]
        profile.tier = ""
        profile.custom = [
            "text": "naïve", "empty": "", "negative": .int(-42), "minimum": .int(.min), "ratio": -1.5,
            "tiny": .double(.leastNonzeroMagnitude), "yes": true, "no": false,
        ]
        for index in 0..<300 {
            let at = Int64(index) * 1_000
            profile.lifecycleHistory[profile.lifecycleHistory.count - 1].exitedAt = at
            profile.lifecycleHistory.append(CustomerProfile.LifecycleEntry(stage: "stage \(index)", enteredAt: at))
        }
        profile.lifecycleStage = "stage 299"
        profile.lifecycleEnteredAt = 299_000
        return profile
    }

    /// Stats with odd values: negative numbers, an activity type outside the standard ones, deals with
    /// a very large amount and with none.
    static func oddStats() -> ProfileStats {
        var stats = ProfileStats()
        stats.openTickets = -1
        stats.ticketsTotal = 1 << 40
        stats.lastActivityAt = -1
        stats.activityCounts["webinar"] = 3
        stats.activityCounts["call"] = -2
        stats.deals = [
            "d1": ProfileStats.DealFact(
                kind: "won", amount: MoneyAmount(decimal: "999999999999999999.99999999"), currency: "EUR"
            ),
            "d2": ProfileStats.DealFact(kind: "open"),
            "d3": ProfileStats.DealFact(kind: "won", amount: MoneyAmount(decimal: "0.00000001"), currency: "EUR"),
        ]
        return stats
    }

    @Test func profileRowsRoundTrip() throws {
        let plain = CustomerProfile(customerID: "c1", version: 1, createdAt: 0, lifecycleStage: "lead")
        for profile in [Self.oddProfile(), plain] {
            let row = profile.encodedPlain()
            let personal = profile.encodedPersonal()
            #expect(row.first == CustomerProfile.rowFormat)
            #expect(personal.first == CustomerProfile.personalRowFormat)
            let decoded = try CustomerProfile(
                decoding: row, personal: personal, what: "profile of customer \(profile.customerID)"
            )
            #expect(decoded == profile)
            #expect(decoded.encodedPlain() == row && decoded.encodedPersonal() == personal)
            // Without its personal row a profile has no personal values, and the same plain row.
            let withoutPersonal = try CustomerProfile(decoding: row, personal: nil, what: "c1")
            #expect(
                withoutPersonal.firstName == nil && withoutPersonal.emails.isEmpty && withoutPersonal.custom.isEmpty)
            #expect(withoutPersonal.encodedPlain() == row)
            #expect(withoutPersonal.encodedPersonal() == CustomerProfile.emptyPersonalRow)
        }
        var noCounts = ProfileStats()
        noCounts.activityCounts = [:]
        for stats in [Self.oddStats(), ProfileStats(), noCounts] {
            let row = stats.encoded()
            #expect(row.first == ProfileStats.rowFormat)
            let decoded = try ProfileStats(decoding: row, what: "stats of customer c1")
            #expect(decoded == stats)
            #expect(decoded.encoded() == row)
        }
        let odd = Self.oddProfile().document(Self.oddStats())
        #expect(odd["stats"]?["won_amount"] == ["EUR": "1000000000000000000"])
        #expect(odd["stats"]?["won_deals"] == 2)
        #expect(odd["stats"]?["open_deals"] == 1)
        #expect(odd["stats"]?["activity_counts"]?["webinar"] == 3)
        #expect(odd["name"] == ["first": "Zoë 🎉", "last": "", "full": "Zoë 🎉"])
        #expect(odd["lifecycle"]?["history"]?.arrayValue?.count == 301)
        #expect(plain.document(ProfileStats())["deals"] == nil, "no deals member until a deal names the customer")
    }

    @Test func damagedProfileRowsAreStorageErrors() throws {
        let row = Self.oddProfile().encodedPlain()
        let personal = Self.oddProfile().encodedPersonal()
        for length in 0..<row.count {
            let error = #expect(throws: ProfileStorageError.self) {
                try CustomerProfile(
                    decoding: Array(row.prefix(length)), personal: personal, what: "profile of customer c-ü")
            }
            #expect(error?.message.hasPrefix("stored profile of customer c-ü") == true, "\(error?.message ?? "")")
        }
        for length in 0..<personal.count {
            let error = #expect(throws: ProfileStorageError.self) {
                try CustomerProfile(
                    decoding: row, personal: Array(personal.prefix(length)), what: "profile of customer c-ü")
            }
            #expect(
                error?.message.hasPrefix("stored personal profile of customer c-ü") == true, "\(error?.message ?? "")"
            )
        }
        let trailing = #expect(throws: ProfileStorageError.self) {
            try CustomerProfile(decoding: row + [0], personal: personal, what: "profile of customer c-ü")
        }
        #expect(
            trailing?.message == "stored profile of customer c-ü is malformed: 1 trailing bytes at byte \(row.count)"
        )
        let format = #expect(throws: ProfileStorageError.self) {
            try CustomerProfile(decoding: [9] + row.dropFirst(), personal: nil, what: "profile of customer c-ü")
        }
        #expect(format?.message == "stored profile of customer c-ü has unknown row format 9")
        let json = #expect(throws: ProfileStorageError.self) {
            try CustomerProfile(
                decoding: Array(#"{"customer_id":"c1"}"#.utf8), personal: nil, what: "profile of customer c1")
        }
        #expect(json?.message == "stored profile of customer c1 has unknown row format 123")

        var flagged = CustomerProfile(customerID: "c1", version: 1, createdAt: 0, lifecycleStage: "lead")
        flagged.custom = ["k": true]
        var bytes = flagged.encodedPersonal()
        // The custom map: count 1, key "k", kind 4 (true).
        let kind = try #require(bytes.indices.first { bytes[$0...].starts(with: [1, 1, UInt8(ascii: "k"), 4]) }) + 3
        bytes[kind] = 9
        let custom = #expect(throws: ProfileStorageError.self) {
            try CustomerProfile(decoding: flagged.encodedPlain(), personal: bytes, what: "profile of customer c1")
        }
        #expect(custom?.message == "stored personal profile of customer c1 has unknown custom value kind 9")

        let stats = Self.oddStats().encoded()
        for length in 0..<stats.count {
            let error = #expect(throws: ProfileStorageError.self) {
                try ProfileStats(decoding: Array(stats.prefix(length)), what: "stats of customer c1")
            }
            #expect(error?.message.hasPrefix("stored stats of customer c1") == true, "\(error?.message ?? "")")
        }
        let statsFormat = #expect(throws: ProfileStorageError.self) {
            try ProfileStats(decoding: [9] + stats.dropFirst(), what: "stats of customer c1")
        }
        #expect(statsFormat?.message == "stored stats of customer c1 has unknown row format 9")
    }

    @Test func aDamagedStoredRowFailsTheQueryAsAStorageError() throws {
        let harness = try ProfileHarness()
        try harness.create("c1", emails: ["a@example.com"])
        let entryKey = try harness.environment.read { txn in
            try txn.withCursor(harness.projector.profiles) { cursor in
                try #require(try cursor.seek(atOrAfter: ProfileKeys.timelinePrefix("c1"))).keyBytes
            }
        }
        try harness.environment.write { txn in
            try txn.put(harness.projector.profiles, entryKey, [TimelineRow.rowFormat])
        }
        let timeline = #expect(throws: ProfileStorageError.self) { try harness.timeline("c1") }
        #expect(timeline?.message == "stored timeline entry of customer c1 is malformed: truncated at byte 1")
        try harness.environment.write { txn in
            try txn.put(harness.projector.profiles, "c1", [CustomerProfile.rowFormat])
        }
        let get = #expect(throws: ProfileStorageError.self) { try harness.profile("c1") }
        #expect(get?.message == "stored profile of customer c1 is malformed: truncated at byte 1")
        #expect(throws: ProfileStorageError.self) { try harness.findIDs(["email": "a@example.com"]) }
        let damaged = #expect(throws: ProfileStorageError.self) { try harness.timeline("c1") }
        #expect(damaged?.message == "stored profile of customer c1 is malformed: truncated at byte 1")
    }

    @Test func timelineRowsRoundTrip() throws {
        var updated = CustomerUpdated(customerID: "c1")
        updated.firstName = Change(from: nil, to: "Zoë")
        updated.lastName = Change(from: "Old", to: nil)
        updated.tier = Change(from: "", to: "gold")
        updated.emails = Change(
            from: [],
            to: [CustomerState.Email(address: "ü@example.com", primary: true, optedOut: true, consent: "opted_in")]
        )
        updated.phones = Change(
            from: [CustomerState.Phone(number: "1", normalized: "1", type: nil, primary: false, doNotCall: true)],
            to: []
        )
        updated.address = Change(from: nil, to: CustomerState.PostalAddress(city: "Zürich"))
        updated.custom = ["seats": Change(from: .int(-5), to: nil), "ratio": Change(from: nil, to: .double(0.25))]
        let notes: [TimelineNote] = [
            .customerCreated(customerID: "c1", stage: "lead"),
            .customerUpdated(updated),
            .customerUpdated(CustomerUpdated(customerID: "c1")),
            .customerTagged(customerID: "c1", added: [], removed: ["ß"]),
            .ownerChanged(customerID: "c1", from: nil, to: "u1"),
            .leadStatusChanged(customerID: "c1", from: "NEW", to: nil),
            .lifecycleChanged(customerID: "c1", from: nil, to: "customer", source: "automation"),
            .consentChanged(customerID: "c1", channel: "sms", from: nil, to: "opted_out"),
            .activity(activityID: "a1", type: "webinar", subject: "", direction: "inbound"),
            .dealCreated(dealID: "d1", name: "Grande \"offre\"", stageID: "proposal"),
            .dealStageChanged(dealID: "d1", from: "?", to: "won"),
            .ticketOpened(ticketID: nil, subject: nil, channel: "chat", priority: "high"),
            .ticketStatusChanged(ticketID: "t1", from: "open", to: "solved"),
            .ticketMessage(ticketID: "t1", author: "agent", isPublic: false),
        ]
        for (index, note) in notes.enumerated() {
            let actor = Actor(uid: UInt32.max, gid: 0, onBehalfOf: index.isMultiple(of: 2) ? nil : "agent ü")
            let row = TimelineRow(actor: actor, note: note)
            let bytes = row.encoded()
            #expect(bytes.first == TimelineRow.rowFormat)
            #expect(try TimelineRow(decoding: bytes, what: "entry") == row)
            for length in 0..<bytes.count {
                #expect(throws: ProfileStorageError.self) {
                    try TimelineRow(decoding: Array(bytes.prefix(length)), what: "entry")
                }
            }
            let json = row.json(at: -1, seq: 7)
            #expect(json["at"] == "1969-12-31T23:59:59.999Z")
            #expect(json["seq"] == 7)
            #expect(json["actor"] == actor.json)
            #expect(json["kind"] == .string(note.kind))
        }
        #expect(
            TimelineRow(actor: Actor(uid: 1, gid: 2), note: .customerUpdated(updated)).json(at: 0, seq: 1)["summary"]
                == "Updated address, custom.ratio, custom.seats, emails, first_name, last_name, phones, tier"
        )
    }

    @Test func aProfileFoldedThroughManyEventsRendersTheExpectedDocument() throws {
        let harness = try ProfileHarness()
        try harness.create(
            "c1",
            at: "2025-01-01T00:00:00.000Z",
            first: "Zoë",
            last: "Ñúñez",
            emails: ["zoe@example.com", "Zoë@例え.jp"],
            phones: [("+1 555 0100 200", "+15550100200")],
            tags: ["vip", "alpha"],
            owner: "u1",
            custom: ["plan": "pro", "ratio": -1.5, "seats": -3, "active": true]
        )
        try harness.append(
            "CustomerUpdated",
            stream: "customer-c1",
            at: "2025-01-02T00:00:00.000Z",
            data: [
                "customer_id": "c1", "changed_fields": ["custom.plan", "tier"],
                "changes": ["tier": ["from": nil, "to": "gold"]],
            ],
            pii: ["changes": ["custom.plan": ["from": "pro", "to": nil]]]
        )
        try harness.append(
            "CustomerTagged",
            stream: "customer-c1",
            at: "2025-01-03T00:00:00.000Z",
            data: ["customer_id": "c1", "added": ["beta"], "removed": ["alpha"]]
        )
        for (day, from, to) in [("04", "lead", "customer"), ("05", "customer", "evangelist")] {
            try harness.append(
                "LifecycleStageChanged",
                stream: "customer-c1",
                at: "2025-01-\(day)T00:00:00.000Z",
                data: ["customer_id": "c1", "from": .string(from), "to": .string(to), "source": "manual"]
            )
        }
        for (day, channel, address, to) in [
            ("06", "email", "ZOE@example.com", "opted_out"), ("07", "phone", nil, "opted_in"),
        ] {
            try harness.append(
                "ConsentChanged",
                stream: "customer-c1",
                at: "2025-01-\(day)T00:00:00.000Z",
                data: [
                    "customer_id": "c1", "channel": .string(channel), "from": "not_set", "to": .string(to),
                    "legal_basis": "consent", "source": nil,
                ],
                pii: ["contact_point": .string(address), "evidence": nil]
            )
        }
        try harness.logActivity(
            "a1", type: "call", customers: ["c1"], occurredAt: "2025-01-08T10:00:00.000Z", direction: "outbound"
        )
        try harness.logActivity("a2", type: "webinar", customers: ["c1", "c1"], occurredAt: "2024-12-31T00:00:00.000Z")
        for (deal, day, kind, amount) in [("d1", "09", "open", "1200.50"), ("d2", "10", "won", "99.5")] {
            try harness.append(
                "DealCreated",
                stream: "deal-\(deal)",
                at: "2025-01-\(day)T00:00:00.000Z",
                data: [
                    "deal_id": .string(deal), "pipeline_id": "sales", "stage_id": "proposal", "kind": .string(kind),
                    "amount": .string(amount), "currency": "EUR", "customer_ids": ["c1"],
                ],
                pii: ["name": "Big"]
            )
        }
        try harness.append(
            "DealStageChanged",
            stream: "deal-d1",
            at: "2025-01-11T00:00:00.000Z",
            data: ["deal_id": "d1", "from": "proposal", "to": "closed_won", "from_kind": "open", "to_kind": "won"]
        )
        try harness.append(
            "TicketOpened",
            stream: "ticket-t1",
            at: "2025-01-12T00:00:00.000Z",
            data: ["ticket_id": "t1", "customer_id": "c1", "channel": "email", "priority": "high"],
            pii: ["subject": "Ünïcode 🎉"]
        )
        try harness.append(
            "TicketStatusChanged",
            stream: "ticket-t1",
            at: "2025-01-13T00:00:00.000Z",
            data: ["ticket_id": "t1", "customer_id": "c1", "from": "new", "to": "solved"]
        )

        let expected = """
            {"address":null,"company_name":null,"created_at":"2025-01-01T00:00:00.000Z","custom":{"active":true,\
            "ratio":-1.5,"seats":-3},"customer_id":"c1","deals":{"d1":{"amount":"1200.5","currency":"EUR",\
            "kind":"won"},"d2":{"amount":"99.5","currency":"EUR","kind":"won"}},"do_not_call":false,\
            "emails":[{"address":"zoe@example.com","consent":"opted_out","consent_at":"2025-01-06T00:00:00.000Z",\
            "invalid":false,"legal_basis":"consent","opted_out":true,"primary":true},{"address":"Zoë@例え.jp",\
            "consent":"not_set","consent_at":null,"invalid":false,"legal_basis":null,"opted_out":false,\
            "primary":false}],"job_title":null,"lead_status":null,"lifecycle":{"entered_at":\
            "2025-01-05T00:00:00.000Z","history":[{"entered_at":"2025-01-01T00:00:00.000Z","exited_at":\
            "2025-01-04T00:00:00.000Z","stage":"lead"},{"entered_at":"2025-01-04T00:00:00.000Z","exited_at":\
            "2025-01-05T00:00:00.000Z","stage":"customer"},{"entered_at":"2025-01-05T00:00:00.000Z",\
            "exited_at":null,"stage":"evangelist"}],"stage":"evangelist"},"merged_from":[],"merged_into":null,\
            "name":{"first":"Zoë","full":"Zoë Ñúñez","last":"Ñúñez"},"owner_id":"u1","phones":[{"consent":\
            "opted_in","normalized":"+15550100200","number":"+1 555 0100 200","primary":true,"type":"mobile"}],\
            "source":"web","state":"active","stats":{"activity_counts":{"call":1,"email":0,"meeting":0,"note":0,\
            "task":0,"webinar":1},"last_activity_at":"2025-01-08T10:00:00.000Z","last_contacted_at":\
            "2025-01-08T10:00:00.000Z","open_deals":0,"open_tickets":0,"tickets_total":1,"won_amount":\
            {"EUR":"1300"},"won_deals":2},"tags":["beta","vip"],"tier":"gold","updated_at":\
            "2025-01-07T00:00:00.000Z","value":null,"version":7}
            """
        #expect(String(decoding: try harness.profile("c1").serialized(), as: UTF8.self) == expected)

        let summaries = try harness.timeline("c1").map { "\($0["kind"]!.stringValue!): \($0["summary"]!.stringValue!)" }
        #expect(
            summaries == [
                "ticket.status_changed: Ticket new → solved",
                "ticket.opened: Ünïcode 🎉",
                "deal.stage_changed: Deal moved from proposal to closed_won",
                "deal.created: Deal \"Big\" created in proposal",
                "deal.created: Deal \"Big\" created in proposal",
                "activity.call: Outbound call",
                "customer.consent_changed: Phone consent not_set → opted_in",
                "customer.consent_changed: Email consent not_set → opted_out",
                "lifecycle.changed: Lifecycle stage customer → evangelist (manual)",
                "lifecycle.changed: Lifecycle stage lead → customer (manual)",
                "customer.tagged: Tags added beta; removed alpha",
                "customer.updated: Updated custom.plan, tier",
                "customer.created: Customer created as lead",
                "activity.webinar: Webinar",
            ]
        )
        let ticket = try #require(try harness.timeline("c1").first)
        #expect(
            String(decoding: ticket.serialized(), as: UTF8.self)
                == #"{"actor":{"gid":1000,"kind":"unix","on_behalf_of":"agent-7","uid":1000},"#
                + #""at":"2025-01-13T00:00:00.000Z","from":"new","kind":"ticket.status_changed","ref_id":"t1","#
                + #""seq":14,"summary":"Ticket new → solved","to":"solved"}"#
        )
    }
}
