import CRMDomain
import CRMJSON
import CRMProtocol
import CRMRPC
import CRMTesting
import Foundation
import Testing

/// `as_of` on `funnel.report`, `sla.report` and `sla.ticket`: the answers match what the same queries
/// returned at that moment of a run, asked again afterwards by position and by time. `as_of` is a point
/// of the log everywhere; the SLA clock views take their business time as `at`.
@Suite struct AsOfReportTests {
    /// Monday 2025-03-03 08:00Z; step `k` of the run happens `k × 47` minutes later.
    static let start = Timestamp.parse("2025-03-03T08:00:00Z")!

    static func time(_ step: Int) -> String { Timestamp.format(Self.start + Int64(step) * 47 * 60_000) }

    static let funnelRange: JSON = [
        "pipeline_id": "sales", "from": "2025-03-01T00:00:00Z", "to": "2025-04-01T00:00:00Z", "group_by": "tier",
    ]
    static let lifecycleRange: JSON = [
        "pipeline_id": "lifecycle", "from": "2025-03-01T00:00:00Z", "to": "2025-04-01T00:00:00Z",
    ]
    static let slaRange: JSON = [
        "from": "2025-03-03T00:00:00Z", "to": "2025-03-10T00:00:00Z", "group_by": ["priority", "tier"],
    ]

    /// Every command of the run, in order; each gets `at` = ``time(_:)`` of its index.
    static let commands: [(method: String, params: JSON)] = [
        ("pipeline.define", DefaultPipeline.params()),
        (
            "schedule.define",
            [
                "schedule_id": "eu", "name": "EU office", "timezone": "Europe/Berlin",
                "hours": [
                    "mon": [["09:00", "17:00"]], "tue": [["09:00", "17:00"]], "wed": [["09:00", "17:00"]],
                    "thu": [["09:00", "17:00"]], "fri": [["09:00", "17:00"]],
                ],
            ]
        ),
        (
            "sla_policy.define",
            [
                "policy_id": "gold", "name": "Gold", "position": 0, "match": ["tiers": ["gold"]], "schedule_id": "eu",
                "targets": [
                    ["metric": "first_reply_time", "priority": "normal", "minutes": 60, "business_hours": true],
                    ["metric": "first_reply_time", "priority": "high", "minutes": 30, "business_hours": true],
                    ["metric": "next_reply_time", "priority": "normal", "minutes": 120, "business_hours": true],
                    ["metric": "next_reply_time", "priority": "high", "minutes": 60, "business_hours": true],
                    [
                        "metric": "requester_wait_time", "priority": "high", "minutes": 240, "business_hours": false,
                        "pause_on": ["pending"],
                    ],
                ],
            ]
        ),
        (
            "sla_policy.define",
            [
                "policy_id": "std", "name": "Standard", "position": 1,
                "targets": [
                    ["metric": "first_reply_time", "priority": "normal", "minutes": 90],
                    ["metric": "first_reply_time", "priority": "high", "minutes": 45],
                    ["metric": "next_reply_time", "priority": "normal", "minutes": 100],
                    ["metric": "next_reply_time", "priority": "high", "minutes": 50],
                    ["metric": "total_resolution_time", "priority": "normal", "minutes": 600],
                    ["metric": "total_resolution_time", "priority": "high", "minutes": 300],
                    ["metric": "agent_work_time", "priority": "high", "minutes": 120],
                ],
            ]
        ),
        ("customer.create", ["customer_id": "c1", "first_name": "Ada", "tier": "silver"]),
        ("customer.create", ["customer_id": "c2", "first_name": "Bob", "tier": "gold"]),
        (
            "deal.create",
            [
                "deal_id": "d1", "pipeline_id": "sales", "name": "Renewal", "customer_ids": ["c1"],
                "amount": "1000", "currency": "EUR",
            ]
        ),
        (
            "ticket.open",
            [
                "ticket_id": "t1", "customer_id": "c1", "subject": "Help", "channel": "email",
                "first_message": ["body": "It does not work", "public": true],
            ]
        ),
        (
            "deal.create",
            [
                "deal_id": "d2", "pipeline_id": "sales", "name": "Upsell", "customer_ids": ["c2"],
                "stage_id": "qualification", "amount": "500", "currency": "EUR", "owner_id": "o1",
            ]
        ),
        ("ticket.reply", ["ticket_id": "t1", "author": "agent", "public": true, "body": "Looking"]),
        ("deal.move", ["deal_id": "d1", "stage_id": "qualification"]),
        (
            "ticket.open",
            [
                "ticket_id": "t2", "customer_id": "c2", "subject": "Outage", "channel": "chat", "priority": "high",
            ]
        ),
        ("ticket.reply", ["ticket_id": "t1", "author": "customer", "public": true, "body": "Still broken"]),
        ("deal.update", ["deal_id": "d2", "amount": "750"]),
        ("ticket.set_priority", ["ticket_id": "t1", "priority": "high"]),
        ("deal.move", ["deal_id": "d1", "stage_id": "proposal"]),
        ("customer.update", ["customer_id": "c1", "set": ["tier": "gold"]]),
        ("ticket.set_status", ["ticket_id": "t1", "status": "pending"]),
        ("deal.move", ["deal_id": "d2", "stage_id": "lost", "lost_reason": "price"]),
        ("ticket.tag", ["ticket_id": "t2", "add": ["vip"]]),
        (
            "ticket.reply",
            ["ticket_id": "t2", "author": "agent", "public": true, "body": "Fixed", "set_status": "solved"]
        ),
        ("deal.move", ["deal_id": "d1", "stage_id": "won"]),
        ("ticket.set_status", ["ticket_id": "t1", "status": "open"]),
        (
            "deal.create",
            [
                "deal_id": "d3", "pipeline_id": "sales", "name": "New", "customer_ids": ["c2"], "amount": "90",
                "currency": "USD",
            ]
        ),
        ("ticket.reply", ["ticket_id": "t1", "author": "agent", "public": true, "body": "Done"]),
        ("ticket.set_status", ["ticket_id": "t1", "status": "solved"]),
        ("ticket.set_status", ["ticket_id": "t2", "status": "closed"]),
        ("deal.move", ["deal_id": "d2", "stage_id": "prospecting"]),
    ]

    /// The answers of one moment of the run.
    struct Moment {
        var position: Int64
        var time: String
        var recordedAt: JSON
        var funnel: JSON
        var lifecycle: JSON
        var sla: JSON
        /// `sla.ticket` per ticket at ``time``: the document, or the error reason.
        var tickets: [String: JSON]
    }

    static func ask(_ client: RPCClient, _ method: String, _ params: JSON, asOf: JSON? = nil) async throws -> JSON {
        var params = params
        if let asOf { params["as_of"] = asOf }
        return try await client.result(method, params)
    }

    /// `sla.ticket` with `params` besides the ticket id, or `{"error": reason}`.
    static func ticket(_ client: RPCClient, _ id: String, _ params: JSON) async throws -> JSON {
        var params = params
        params["ticket_id"] = .string(id)
        let reply = try await client.call("sla.ticket", params)
        if let error = reply["error"] { return ["error": error["data"]?["reason"] ?? .null] }
        return reply["result"] ?? .null
    }

    /// The report without the `as_of` member time travel adds, and that member's position.
    static func split(_ report: JSON) -> (report: JSON, position: Int64?) {
        var report = report
        let position = report["as_of"]?["position"]?.intValue
        report["as_of"] = nil
        return (report, position)
    }

    @Test func reportsAsOfMatchTheAnswersRecordedDuringTheRun() async throws {
        let daemon = try await TestDaemon()
        let client = try daemon.client()
        var moments: [Moment] = []
        for (step, command) in Self.commands.enumerated() {
            var params = command.params
            params["at"] = .string(Self.time(step))
            let result = try await client.result(command.method, params)
            let position = try #require(result["position"]?.intValue, "\(command.method)")
            let read = try await client.result("events.read", ["from": .int(position), "limit": 1])
            var moment = Moment(
                position: position,
                time: Self.time(step),
                recordedAt: try #require(read["events"]?[0]?["recorded_at"]),
                funnel: try await Self.ask(client, "funnel.report", Self.funnelRange),
                lifecycle: try await Self.ask(client, "funnel.report", Self.lifecycleRange),
                sla: try await Self.ask(client, "sla.report", Self.slaRange),
                tickets: [:]
            )
            for id in ["t1", "t2"] {
                let sla = try await Self.ticket(client, id, ["at": .string(moment.time)])
                moment.tickets[id] = sla
                guard sla["error"] == nil else { continue }
                // The read model's stored document, evaluated at the same time, agrees.
                let ticket = try await client.result(
                    "ticket.get",
                    ["ticket_id": .string(id), "at": .string(moment.time)]
                )
                #expect(ticket["sla_status"] == sla["sla_status"], "\(id) at \(moment.time)")
                #expect(ticket["next_breach_at"] == sla["next_breach_at"], "\(id) at \(moment.time)")
                #expect(ticket["status"] == sla["status"], "\(id) at \(moment.time)")
            }
            moments.append(moment)
        }
        // The run did what it set out to: reports and clocks moved along the way.
        #expect(Set(moments.map(\.funnel)).count > 5)
        #expect(Set(moments.map(\.sla)).count > 5)
        #expect(moments.last?.tickets["t1"]?["sla_status"] != nil)
        #expect(moments.first?.tickets["t1"] == ["error": "not_found"])

        let byPosition = Dictionary(moments.map { ($0.position, $0) }, uniquingKeysWith: { _, last in last })
        for moment in moments {
            let position = JSON.int(moment.position)
            for (range, recorded) in [
                (Self.funnelRange, moment.funnel), (Self.lifecycleRange, moment.lifecycle),
            ] {
                let past = Self.split(try await Self.ask(client, "funnel.report", range, asOf: position))
                #expect(past.report == recorded, "funnel.report as_of \(moment.position)")
                #expect(past.position == moment.position)
            }
            let sla = Self.split(try await Self.ask(client, "sla.report", Self.slaRange, asOf: position))
            #expect(sla.report == moment.sla, "sla.report as_of \(moment.position)")
            #expect(sla.position == moment.position)
            for id in ["t1", "t2"] {
                // A position: clocks run to the business time of the event there (this step's `at`).
                let byPosition = try await Self.ticket(client, id, ["as_of": position])
                if moment.tickets[id]?["error"] == nil {
                    #expect(byPosition["as_of"] == ["position": position])
                }
                #expect(Self.split(byPosition).report == moment.tickets[id], "sla.ticket \(id) as_of \(position)")
                let byTime = try await Self.ticket(client, id, ["at": .string(moment.time)])
                #expect(byTime == moment.tickets[id], "sla.ticket \(id) at \(moment.time)")
                // A recorded time names the point of the log; `at` still sets the clocks.
                let known = try await Self.ticket(client, id, ["as_of": moment.recordedAt, "at": .string(moment.time)])
                #expect(Self.split(known).report == moment.tickets[id], "sla.ticket \(id) as_of \(moment.recordedAt)")
                // Alone, a recorded time also runs the clocks to it.
                let then = try await Self.ticket(client, id, ["as_of": moment.recordedAt])
                if then["error"] == nil {
                    let recorded = moment.recordedAt.stringValue.flatMap(Timestamp.parse)
                    #expect(then["at"]?.stringValue.flatMap(Timestamp.parse) == recorded)
                    #expect(then["as_of"]?["position"]?.intValue ?? 0 >= moment.position)
                }
            }

            // A time: the last event recorded at or before it. Commands parsed within the same
            // millisecond share their recorded time, so the answer is that of the last of them.
            let funnel = Self.split(
                try await Self.ask(client, "funnel.report", Self.funnelRange, asOf: moment.recordedAt)
            )
            let landed = try #require(funnel.position.flatMap { byPosition[$0] })
            #expect(landed.position >= moment.position)
            #expect(landed.recordedAt == moment.recordedAt)
            #expect(funnel.report == landed.funnel, "funnel.report as_of \(moment.recordedAt)")
            let report = Self.split(
                try await Self.ask(client, "sla.report", Self.slaRange, asOf: moment.recordedAt)
            )
            #expect(report.position == landed.position)
            #expect(report.report == landed.sla, "sla.report as_of \(moment.recordedAt)")
        }

        // Before anything was written there was no pipeline; long after, the answer is today's.
        let empty = try await client.error("funnel.report", ["pipeline_id": "sales", "as_of": 0])
        #expect(empty.reason == "unknown_pipeline")
        let later = Self.split(
            try await Self.ask(client, "sla.report", Self.slaRange, asOf: "2999-01-01T00:00:00Z")
        )
        #expect(later.report == moments.last?.sla)
        try await daemon.stop()
    }

    @Test func badAsOfIsRejectedAndWritesNothing() async throws {
        let daemon = try await TestDaemon()
        let client = try daemon.client()
        for (method, params) in Self.commands.prefix(8) { _ = try await client.result(method, params) }
        let before = try await Snapshot.take(client)
        // The clock views take their business time as `at`; `as_of` (a point of the log) is refused,
        // naming `at`, and a bad `at` is `invalid_field` `at`.
        let clockViews: [(String, JSON)] = [
            ("sla.ticket", ["ticket_id": "t1"]), ("ticket.get", ["ticket_id": "t1"]), ("ticket.list", [:]),
            ("sla.breaching", [:]),
        ]
        let now = JSON.string(Timestamp.format(Int64(Date().timeIntervalSince1970 * 1000)))
        for (method, params) in clockViews {
            var withAt = params
            withAt["at"] = now
            _ = try await client.result(method, withAt)
            for value in ["yesterday", 5, true] as [JSON] {
                withAt["at"] = value
                let error = try await client.error(method, withAt)
                #expect(error.code == -32602, "\(method) at \(value)")
                #expect(error.reason == "invalid_field", "\(method) at \(value)")
                #expect(error.field == "at", "\(method) at \(value)")
            }
            guard method != "sla.ticket" else { continue }
            var withAsOf = params
            withAsOf["as_of"] = "2025-03-03T10:00:00Z"
            let error = try await client.error(method, withAsOf)
            #expect(error.code == -32602, "\(method)")
            #expect(error.reason == "invalid_field", "\(method)")
            #expect(error.field == "as_of", "\(method)")
            #expect(error.message.contains("as at"), "\(method): \(error.message)")
        }
        // A ticket opened after `at` did not exist then.
        let early = try await client.error("sla.ticket", ["ticket_id": "t1", "at": "2025-03-01T00:00:00Z"])
        #expect(early.reason == "not_found")
        #expect(early.field == "ticket_id")
        #expect(early.data?["details"]?["at"] == "2025-03-01T00:00:00.000Z")
        let queries: [(String, JSON)] = [
            ("funnel.report", ["pipeline_id": "sales"]), ("sla.report", Self.slaRange),
            ("sla.ticket", ["ticket_id": "t1"]),
        ]
        let badValues: [JSON] = [-1, "yesterday", "2025-13-01T00:00:00Z", true, 1.5, ["position": 3], [3]]
        for (method, params) in queries {
            for value in badValues {
                var params = params
                params["as_of"] = value
                let error = try await client.error(method, params)
                #expect(error.reason == "invalid_field", "\(method) as_of \(value)")
                #expect(error.field == "as_of", "\(method) as_of \(value)")
            }
        }
        // The report's own params are checked as live.
        let badRange = try await client.error("sla.report", ["from": "2025-03-03T00:00:00Z", "as_of": 3])
        #expect(badRange.field == "to")
        let unknown = try await client.error("funnel.report", ["pipeline_id": "sales", "as_of": 3, "colour": "red"])
        #expect(unknown.field == "colour")
        #expect(try await Snapshot.take(client) == before)
        try await daemon.stop()
    }
}
