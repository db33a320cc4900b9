import CRMJSON
import CRMProtocol
import CRMTesting
import Testing

/// The worked examples through the socket, the SLA queries, and bad service input
/// with proof that nothing was written.
@Suite struct SlaEndToEndTests {
    static let weekdays: JSON = [
        "mon": [["09:00", "17:00"]], "tue": [["09:00", "17:00"]], "wed": [["09:00", "17:00"]],
        "thu": [["09:00", "17:00"]], "fri": [["09:00", "17:00"]],
    ]

    /// Schedules `eu` and `daily`, one policy per example (selected by ticket tag) and a customer.
    static func desk(_ client: RPCClient) async throws -> String {
        _ = try await client.result(
            "schedule.define",
            [
                "schedule_id": "eu", "name": "EU office", "timezone": "Europe/Berlin", "hours": Self.weekdays,
                "holidays": [
                    ["date": "2025-12-25", "name": "Christmas"], ["date": "2025-12-26", "name": "Boxing Day"],
                ],
            ]
        )
        let everyDay: JSON = [["08:00", "18:00"]]
        _ = try await client.result(
            "schedule.define",
            [
                "schedule_id": "daily", "name": "Every day", "timezone": "Europe/Berlin",
                "hours": [
                    "mon": everyDay, "tue": everyDay, "wed": everyDay, "thu": everyDay, "fri": everyDay,
                    "sat": everyDay, "sun": everyDay,
                ],
            ]
        )
        func policy(_ id: String, _ position: Int64, schedule: String, _ targets: JSON) -> JSON {
            [
                "policy_id": .string(id), "name": .string("Example \(id)"), "position": .int(position),
                "match": ["tags_any": [.string("ex-\(id)")]], "schedule_id": .string(schedule), "targets": targets,
            ]
        }
        func target(_ metric: String, _ priority: String, _ minutes: Int64, business: Bool = true) -> JSON {
            [
                "metric": .string(metric), "priority": .string(priority), "minutes": .int(minutes),
                "business_hours": .bool(business),
            ]
        }
        _ = try await client.result(
            "sla_policy.define",
            policy("a", 1, schedule: "eu", [target("first_reply_time", "normal", 60)])
        )
        _ = try await client.result(
            "sla_policy.define",
            policy("b", 2, schedule: "eu", [target("first_reply_time", "normal", 120)])
        )
        _ = try await client.result(
            "sla_policy.define",
            policy(
                "c",
                3,
                schedule: "daily",
                [
                    target("first_reply_time", "normal", 120),
                    target("total_resolution_time", "normal", 1440, business: false),
                ]
            )
        )
        var rwt = target("requester_wait_time", "normal", 480)
        rwt["pause_on"] = ["pending"]
        _ = try await client.result("sla_policy.define", policy("d", 4, schedule: "eu", [rwt]))
        _ = try await client.result(
            "sla_policy.define",
            policy(
                "e",
                5,
                schedule: "eu",
                [target("first_reply_time", "normal", 480), target("first_reply_time", "high", 60)]
            )
        )
        return try await client.createCustomer(["first_name": "Ada", "tier": "gold"])
    }

    static func open(
        _ client: RPCClient,
        _ id: String,
        customer: String,
        tag: String,
        at: String,
        priority: String = "normal"
    ) async throws -> JSON {
        try await client.result(
            "ticket.open",
            [
                "ticket_id": .string(id), "customer_id": .string(customer), "subject": "Help", "channel": "email",
                "priority": .string(priority), "tags": [.string(tag)], "at": .string(at),
                "first_message": ["body": "It does not work", "public": true],
            ]
        )
    }

    static func target(_ sla: JSON, _ metric: String) throws -> JSON {
        try #require(sla["targets"]?.arrayValue?.first { $0["metric"]?.stringValue == metric })
    }

    @Test func workedExamplesThroughTheSocket() async throws {
        let daemon = try await TestDaemon()
        let client = try daemon.client()
        let customer = try await Self.desk(client)

        // A. Friday 16:30 Berlin + 60 business minutes → Monday 09:30 (08:30Z); a reply at the deadline is met.
        let opened = try await Self.open(client, "ta", customer: customer, tag: "ex-a", at: "2025-03-07T15:30:00Z")
        #expect(
            opened["events"]?.arrayValue?.map { $0["type"] } == [
                "TicketOpened", "TicketMessageAdded", "SlaPolicyApplied",
            ]
        )
        var sla = try await client.result("sla.ticket", ["ticket_id": "ta", "at": "2025-03-07T16:00:00Z"])
        var frt = try Self.target(sla, "first_reply_time")
        #expect(frt["deadline"] == "2025-03-10T08:30:00.000Z")
        #expect(frt["state"] == "active")
        #expect(frt["elapsed_seconds"] == 1800)
        #expect(sla["next_breach_at"] == "2025-03-10T08:30:00.000Z")
        #expect(sla["policy"] == ["policy_id": "a", "version": 1])
        #expect(sla["schedule"] == ["schedule_id": "eu", "version": 1])
        _ = try await client.result(
            "ticket.reply",
            ["ticket_id": "ta", "author": "agent", "public": true, "body": "On it", "at": "2025-03-10T08:30:00Z"]
        )
        sla = try await client.result("sla.ticket", ["ticket_id": "ta", "at": "2025-03-10T12:00:00Z"])
        frt = try Self.target(sla, "first_reply_time")
        #expect(frt["state"] == "fulfilled")
        #expect(frt["achieved"] == true)
        #expect(frt["breached"] == false)
        #expect(frt["elapsed_minutes"] == 60)
        #expect(frt["diff_minutes"] == 0)
        #expect(frt["fulfilled_at"] == "2025-03-10T08:30:00.000Z")

        // B. Wed 24 Dec 16:00 + 120 business minutes; 25/26 Dec are holidays → Mon 29 Dec 10:00 (09:00Z).
        _ = try await Self.open(client, "tb", customer: customer, tag: "ex-b", at: "2025-12-24T15:00:00Z")
        sla = try await client.result("sla.ticket", ["ticket_id": "tb", "at": "2025-12-27T12:00:00Z"])
        frt = try Self.target(sla, "first_reply_time")
        #expect(frt["deadline"] == "2025-12-29T09:00:00.000Z")
        #expect(frt["elapsed_minutes"] == 60)

        // C. DST weekend on an every-day 08:00–18:00 schedule: business deadline Sun 09:00 CEST (07:00Z),
        // calendar 24 h deadline Sun 16:00Z.
        _ = try await Self.open(client, "tc", customer: customer, tag: "ex-c", at: "2025-03-29T16:00:00Z")
        sla = try await client.result("sla.ticket", ["ticket_id": "tc", "at": "2025-03-29T16:00:00Z"])
        #expect(try Self.target(sla, "first_reply_time")["deadline"] == "2025-03-30T07:00:00.000Z")
        let resolution = try Self.target(sla, "total_resolution_time")
        #expect(resolution["deadline"] == "2025-03-30T16:00:00.000Z")
        #expect(resolution["business_hours"] == false)

        // D. RWT 480 business minutes pausing in pending: pending at 12:00 (180 used), customer reply Tue
        // 10:00 reopens → deadline Tue 15:00; solved Tue 14:00 → elapsed 420, achieved, diff +60.
        _ = try await Self.open(client, "td", customer: customer, tag: "ex-d", at: "2025-03-10T08:00:00Z")
        _ = try await client.result(
            "ticket.set_status",
            ["ticket_id": "td", "status": "pending", "at": "2025-03-10T11:00:00Z"]
        )
        sla = try await client.result("sla.ticket", ["ticket_id": "td", "at": "2025-03-10T15:00:00Z"])
        var rwt = try Self.target(sla, "requester_wait_time")
        #expect(rwt["state"] == "paused")
        #expect(rwt["deadline"] == .null)
        #expect(rwt["elapsed_minutes"] == 180)
        let reopened = try await client.result(
            "ticket.reply",
            [
                "ticket_id": "td", "author": "customer", "public": true, "body": "Any news?",
                "at": "2025-03-11T09:00:00Z",
            ]
        )
        #expect(reopened["events"]?[1]?["type"] == "TicketStatusChanged")
        sla = try await client.result("sla.ticket", ["ticket_id": "td", "at": "2025-03-11T09:00:00Z"])
        rwt = try Self.target(sla, "requester_wait_time")
        #expect(rwt["state"] == "active")
        #expect(rwt["deadline"] == "2025-03-11T14:00:00.000Z")
        _ = try await client.result(
            "ticket.set_status",
            ["ticket_id": "td", "status": "solved", "at": "2025-03-11T13:00:00Z"]
        )
        sla = try await client.result("sla.ticket", ["ticket_id": "td", "at": "2025-03-12T00:00:00Z"])
        rwt = try Self.target(sla, "requester_wait_time")
        #expect(rwt["state"] == "fulfilled")
        #expect(rwt["elapsed_minutes"] == 420)
        #expect(rwt["achieved"] == true)
        #expect(rwt["diff_minutes"] == 60)
        #expect(sla["sla_status"] == "hit")

        // E. FRT normal 480 / high 60; priority high at 10:30 with 90 minutes used → breached at 10:30.
        _ = try await Self.open(client, "te", customer: customer, tag: "ex-e", at: "2025-03-10T08:00:00Z")
        let changed = try await client.result(
            "ticket.set_priority",
            ["ticket_id": "te", "priority": "high", "at": "2025-03-10T09:30:00Z"]
        )
        #expect(changed["events"]?.arrayValue?.map { $0["type"] } == ["TicketPriorityChanged", "SlaPolicyApplied"])
        sla = try await client.result("sla.ticket", ["ticket_id": "te", "at": "2025-03-10T09:30:00Z"])
        frt = try Self.target(sla, "first_reply_time")
        #expect(frt["target_minutes"] == 60)
        #expect(frt["elapsed_minutes"] == 90)
        #expect(frt["breached"] == true)
        #expect(frt["breached_at"] == "2025-03-10T09:30:00.000Z")
        #expect(frt["diff_minutes"] == -30)
        #expect(sla["sla_status"] == "active_with_misses")
        #expect(sla["priority"] == "high")

        try await daemon.stop()
    }

    @Test func breachingReportListAndProfile() async throws {
        let daemon = try await TestDaemon()
        let client = try daemon.client()
        let customer = try await Self.desk(client)
        _ = try await Self.open(client, "t1", customer: customer, tag: "ex-a", at: "2025-03-10T08:00:00Z")
        _ = try await Self.open(client, "t2", customer: customer, tag: "ex-b", at: "2025-03-10T08:00:00Z")
        _ = try await Self.open(client, "t3", customer: customer, tag: "ex-e", at: "2025-03-10T08:00:00Z")

        // t1 breaches at 09:00Z (60), t2 at 10:00Z (120), t3 at 16:00Z (480).
        var breaching = try await client.result(
            "sla.breaching",
            ["at": "2025-03-10T08:30:00Z", "within_minutes": 120]
        )
        #expect(breaching["tickets"]?.arrayValue?.map { $0["ticket_id"] } == ["t1", "t2"])
        #expect(breaching["tickets"]?[0]?["next_breach_at"] == "2025-03-10T09:00:00.000Z")
        #expect(breaching["tickets"]?[0]?["metric"] == "first_reply_time")
        #expect(breaching["tickets"]?[0]?["minutes_left"] == 30)
        breaching = try await client.result("sla.breaching", ["at": "2025-03-10T08:30:00Z", "within_minutes": 10])
        #expect(breaching["tickets"] == [])

        // t1 answered late (breached), t2 on time; solve both.
        _ = try await client.result(
            "ticket.reply",
            ["ticket_id": "t1", "author": "agent", "public": true, "body": "Sorry", "at": "2025-03-10T09:15:00Z"]
        )
        _ = try await client.result(
            "ticket.reply",
            [
                "ticket_id": "t2", "author": "agent", "public": true, "body": "Done", "set_status": "solved",
                "at": "2025-03-10T09:15:00Z",
            ]
        )
        let report = try await client.result(
            "sla.report",
            ["from": "2025-03-01T00:00:00Z", "to": "2025-04-01T00:00:00Z", "group_by": ["policy"]]
        )
        let totals = try #require(report["totals"])
        #expect(totals["completed"] == 2)
        #expect(totals["achieved"] == 1)
        #expect(totals["breached"] == 1)
        #expect(totals["achievement_rate"]?.doubleValue == 0.5)
        #expect(totals["hit_rate"]?.doubleValue == 0.5)
        #expect(totals["active_at_to"] == 1)
        #expect(totals["elapsed_minutes"]?["first_reply_time"]?["median"]?.doubleValue == 75)
        #expect(report["groups"]?.arrayValue?.count == 3)
        let byTier = try await client.result(
            "sla.report",
            ["from": "2025-03-01T00:00:00Z", "to": "2025-04-01T00:00:00Z", "group_by": ["tier", "owner", "metric"]]
        )
        #expect(byTier["groups"]?[0]?["key"] == ["tier": "gold", "owner": nil, "metric": "first_reply_time"])
        #expect(byTier["groups"]?[0]?["completed"] == 2)

        let list = try await client.result("ticket.list", ["customer_id": .string(customer), "limit": 2])
        #expect(list["tickets"]?.arrayValue?.map { $0["ticket_id"] } == ["t1", "t2"])
        #expect(list["next_after"] == "t2")
        let solved = try await client.result("ticket.list", ["status": "solved"])
        #expect(solved["tickets"]?.arrayValue?.map { $0["ticket_id"] } == ["t2"])
        let ticket = try await client.result("ticket.get", ["ticket_id": "t1", "at": "2025-03-10T10:00:00Z"])
        #expect(ticket["status"] == "open")
        #expect(ticket["message_count"] == 2)
        #expect(ticket["sla_status"] == "active_with_misses")

        let profile = try await client.result("customer.get", ["customer_id": .string(customer)])
        #expect(profile["stats"]?["tickets_total"] == 3)
        #expect(profile["stats"]?["open_tickets"] == 2)
        let timeline = try await client.result("customer.timeline", ["customer_id": .string(customer)])
        let kinds = Set(timeline["entries"]?.arrayValue?.compactMap { $0["kind"]?.stringValue } ?? [])
        #expect(kinds.isSuperset(of: ["ticket.opened", "ticket.message", "ticket.status_changed"]))

        try await daemon.stop()
    }

    @Test func badServiceInputWritesNothing() async throws {
        let daemon = try await TestDaemon()
        let client = try daemon.client()
        let customer = try await Self.desk(client)
        _ = try await Self.open(client, "t1", customer: customer, tag: "ex-a", at: "2025-03-10T08:00:00Z")
        _ = try await client.result(
            "ticket.set_status",
            ["ticket_id": "t1", "status": "closed", "at": "2025-03-10T09:00:00Z"]
        )
        _ = try await Self.open(client, "t2", customer: customer, tag: "ex-a", at: "2025-03-10T08:00:00Z")

        let schedule: JSON = ["schedule_id": "x", "name": "X", "timezone": "Europe/Berlin", "hours": Self.weekdays]
        func with(_ base: JSON, _ key: String, _ value: JSON) -> JSON {
            var copy = base
            copy[key] = value
            return copy
        }
        let policy: JSON = [
            "policy_id": "p", "name": "P", "position": 9, "schedule_id": "eu",
            "targets": [["metric": "first_reply_time", "priority": "normal", "minutes": 60, "business_hours": true]],
        ]
        let cases: [(String, JSON, String, String?)] = [
            ("schedule.define", with(schedule, "timezone", "Europe/Atlantis"), "invalid_timezone", "timezone"),
            (
                "schedule.define", with(schedule, "hours", ["mon": [["09:00", "13:00"], ["12:00", "17:00"]]]),
                "invalid_hours", "hours.mon[1]"
            ),
            (
                "schedule.define", with(schedule, "hours", ["fri": [["22:00", "02:00"]]]), "invalid_hours",
                "hours.fri[0]"
            ),
            ("schedule.define", with(schedule, "hours", [:]), "empty_schedule", "hours"),
            (
                "schedule.define", with(schedule, "holidays", [["date": "2025-13-01"]]), "invalid_holiday",
                "holidays[0].date"
            ),
            (
                "schedule.define", with(schedule, "holidays", ["2025-12-25", "2025-12-25"]), "invalid_holiday",
                "holidays[1].date"
            ),
            (
                "sla_policy.define",
                with(
                    policy,
                    "targets",
                    [
                        ["metric": "first_reply_time", "priority": "normal", "minutes": 60],
                        ["metric": "first_reply_time", "priority": "normal", "minutes": 90],
                    ]
                ),
                "duplicate_target", "targets[1]"
            ),
            ("sla_policy.define", with(policy, "schedule_id", "nowhere"), "unknown_schedule", "schedule_id"),
            (
                "sla_policy.define",
                with(policy, "targets", [["metric": "first_reply_time", "priority": "normal", "minutes": 0]]),
                "invalid_target", "targets[0].minutes"
            ),
            ("sla_policy.retire", ["policy_id": "ghost"], "unknown_policy", "policy_id"),
            (
                "ticket.reply", ["ticket_id": "t1", "author": "customer", "public": true, "body": "hello?"],
                "ticket_closed", "ticket_id"
            ),
            ("ticket.set_status", ["ticket_id": "t2", "status": "new"], "invalid_transition", "status"),
            (
                "ticket.set_status", ["ticket_id": "t2", "status": "open", "at": "2025-03-10T07:00:00Z"],
                "timestamp_out_of_order", "at"
            ),
            ("ticket.set_status", ["ticket_id": "ghost", "status": "open"], "not_found", "ticket_id"),
            (
                "ticket.open", ["customer_id": .string(customer), "subject": "x", "channel": "pigeon"], "invalid_field",
                "channel"
            ),
        ]
        for (method, params, reason, field) in cases {
            let before = try await Snapshot.take(client)
            let error = try await client.error(method, params)
            #expect(error.reason == reason, "\(method) \(params)")
            #expect(error.field == field, "\(method) \(params)")
            let after = try await Snapshot.take(client)
            #expect(before == after, "\(method) wrote something")
        }
        try await daemon.stop()
    }
}
