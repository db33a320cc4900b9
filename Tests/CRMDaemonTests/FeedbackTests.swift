import CRMDomain
import CRMJSON
import CRMProtocol
import CRMTesting
import Foundation
import Testing

/// Surveys, complaints and their reports through the socket: the CSAT, NPS and complaint worked
/// examples, rejections that write nothing, and a rebuild that answers the same.
@Suite struct FeedbackTests {
    /// The CSAT example's twenty requests: ticket channel, agent, and the current score (`nil`: no
    /// response). T04 first answers 1, then changes to 3.
    static let csat: [(String, String, Int?)] = [
        ("email", "A", 5), ("chat", "A", 5), ("email", "A", 4), ("email", "A", 3), ("chat", "A", 1),
        ("phone", "A", nil), ("phone", "A", nil), ("phone", "A", nil),
        ("chat", "B", 5), ("chat", "B", 4), ("email", "B", 4), ("chat", "B", 4), ("email", "B", 3), ("chat", "B", 2),
        ("email", "B", 5), ("phone", "B", nil), ("phone", "B", nil), ("phone", "B", nil), ("phone", "B", nil),
        ("phone", "B", nil),
    ]

    static func id(_ prefix: String, _ index: Int) -> JSON { .string(prefix + String(format: "%02d", index)) }

    /// Customers K01…K20, survey `post`, tickets T01…T20 assigned and offered in March 2025, and the
    /// responses of the table.
    static func populateCSAT(_ client: RPCClient) async throws {
        var requests: [(String, JSON)] = [
            (
                "survey.define",
                ["at": "2025-02-01T00:00:00Z", "survey_id": "post", "kind": "csat", "name": "After a ticket"]
            )
        ]
        for (index, row) in Self.csat.enumerated() {
            let n = index + 1
            requests.append(
                ("customer.create", ["at": "2025-02-01T00:00:00Z", "customer_id": Self.id("K", n), "first_name": "K"]))
            requests.append(
                (
                    "ticket.open",
                    [
                        "at": "2025-03-02T09:00:00Z", "ticket_id": Self.id("T", n), "customer_id": Self.id("K", n),
                        "subject": "Question", "channel": .string(row.0),
                    ]
                ))
            requests.append(
                (
                    "ticket.assign",
                    ["at": "2025-03-02T09:05:00Z", "ticket_id": Self.id("T", n), "assignee_id": .string(row.1)]
                ))
            requests.append(
                (
                    "survey.offer",
                    [
                        "at": "2025-03-10T09:00:00Z", "survey_id": "post", "ticket_id": Self.id("T", n),
                        "request_id": Self.id("Q", n),
                    ]
                ))
        }
        requests.append(("survey.respond", ["at": "2025-03-11T09:00:00Z", "request_id": "Q04", "score": 1]))
        for (index, row) in Self.csat.enumerated() {
            guard let score = row.2 else { continue }
            requests.append(
                (
                    "survey.respond",
                    ["at": "2025-03-12T09:00:00Z", "request_id": Self.id("Q", index + 1), "score": .int(Int64(score))]
                ))
        }
        _ = try await client.results(requests)
    }

    static let march: JSON = ["from": "2025-03-01T00:00:00Z", "to": "2025-04-01T00:00:00Z"]

    static func report(_ client: RPCClient, _ method: String, _ params: JSON) async throws -> JSON {
        var merged = Self.march
        for (key, value) in params.objectValue ?? [:] { merged[key] = value }
        return try await client.result(method, merged)
    }

    static func groups(_ report: JSON) -> [String: JSON] {
        var groups: [String: JSON] = [:]
        for row in report["groups"]?.arrayValue ?? [] {
            let key = (row["group"]?.objectValue ?? [:]).sorted { $0.key < $1.key }.compactMap(\.value.stringValue)
            groups[key.joined(separator: "/")] = row
        }
        return groups
    }

    @Test func theCSATWorkedExample() async throws {
        let daemon = try await TestDaemon()
        let client = try daemon.client()
        try await Self.populateCSAT(client)
        let report = try await Self.report(client, "feedback.report", ["kind": "csat"])
        #expect(report["responses"] == 12 && report["requests_offered"] == 20 && report["requests_answered"] == 12)
        #expect(report["distribution"] == ["1": 1, "2": 1, "3": 2, "4": 4, "5": 4])
        #expect(report["avg_score"] == "3.75" && report["csat_pct"] == "66.67" && report["response_rate"] == "60.00")
        #expect(report["good_bad"] == ["good": 8, "bad": 4, "good_pct": "66.67"])

        let byAgent = Self.groups(
            try await Self.report(client, "feedback.report", ["kind": "csat", "group_by": "agent"]))
        #expect(byAgent["A"]?["csat_pct"] == "60.00" && byAgent["A"]?["response_rate"] == "62.50")
        #expect(byAgent["B"]?["csat_pct"] == "71.43" && byAgent["B"]?["response_rate"] == "58.33")
        let byChannel = Self.groups(
            try await Self.report(client, "feedback.report", ["kind": "csat", "group_by": ["channel"]]))
        #expect(byChannel["email"]?["responses"] == 6 && byChannel["email"]?["csat_pct"] == "66.67")
        #expect(byChannel["chat"]?["responses"] == 6 && byChannel["chat"]?["csat_pct"] == "66.67")

        let profile = try await client.result("customer.get", ["customer_id": "K04"])
        #expect(profile["feedback"]?["last_csat"] == 3 && profile["feedback"]?["responses_total"] == 1)
        #expect(profile["feedback"]?["last_csat_at"] == "2025-03-12T09:00:00.000Z")

        // A response after the ticket closed is refused and changes nothing.
        _ = try await client.result(
            "ticket.set_status", ["at": "2025-03-20T09:00:00Z", "ticket_id": "T01", "status": "closed"])
        let before = try await Snapshot.take(client, customer: "K01")
        let closed = try await client.error(
            "survey.respond", ["at": "2025-03-21T09:00:00Z", "request_id": "Q01", "score": 1])
        #expect(closed.code == RPCErrorCode.code(forReason: "survey_closed") && closed.reason == "survey_closed")
        #expect(closed.field == "ticket_id")
        #expect(try await Snapshot.take(client, customer: "K01") == before)
        #expect(try await Self.report(client, "feedback.report", ["kind": "csat"]) == report)

        // The projection rebuilt from the log answers the same.
        _ = try await client.result("projection.rebuild", ["name": "feedback"])
        _ = try await ProjectionLifecycleTests.waitUntilSettled(client)
        #expect(try await Self.report(client, "feedback.report", ["kind": "csat"]) == report)
    }

    @Test func theNPSWorkedExample() async throws {
        let daemon = try await TestDaemon()
        let client = try daemon.client()
        var requests: [(String, JSON)] = [
            ("survey.define", ["at": "2024-12-01T00:00:00Z", "survey_id": "rel", "kind": "nps"])
        ]
        let january = [10, 10, 10, 9, 9, 9, 8, 8, 7, 6, 4, 0]
        let february = [10, 9, 8, 7, 7, 6, 5, 2]
        for (index, score) in (january + february).enumerated() {
            let at = index < january.count ? "2025-01-15T10:00:00Z" : "2025-02-15T10:00:00Z"
            requests.append(
                (
                    "customer.create",
                    ["at": "2024-12-01T00:00:00Z", "customer_id": Self.id("N", index), "first_name": "N"]
                ))
            requests.append(
                (
                    "survey.respond",
                    [
                        "at": .string(at), "survey_id": "rel", "customer_id": Self.id("N", index),
                        "score": .int(Int64(score)),
                    ]
                ))
        }
        _ = try await client.results(requests)
        func nps(_ from: String, _ to: String) async throws -> JSON? {
            try await client.result("feedback.report", ["kind": "nps", "from": .string(from), "to": .string(to)])["nps"]
        }
        #expect(
            try await nps("2025-01-01T00:00:00Z", "2025-02-01T00:00:00Z")
                == ["promoters": 6, "passives": 3, "detractors": 3, "score": "25.00"])
        #expect(try await nps("2025-02-01T00:00:00Z", "2025-03-01T00:00:00Z")?["score"] == "-12.50")
        #expect(
            try await nps("2025-01-01T00:00:00Z", "2025-03-01T00:00:00Z")
                == ["promoters": 8, "passives": 6, "detractors": 6, "score": "10.00"])
        let byMonth = Self.groups(
            try await client.result(
                "feedback.report",
                ["kind": "nps", "from": "2025-01-01T00:00:00Z", "to": "2025-03-01T00:00:00Z", "group_by": "month"]))
        #expect(byMonth["2025-01"]?["nps"]?["score"] == "25.00" && byMonth["2025-02"]?["nps"]?["score"] == "-12.50")
        #expect(byMonth["2025-01"]?["response_rate"] == "100.00")
        let profile = try await client.result("customer.get", ["customer_id": "N11"])
        #expect(profile["feedback"]?["last_nps"] == 0 && profile["feedback"]?["last_nps_category"] == "detractor")
    }

    @Test func theComplaintWorkedExample() async throws {
        let daemon = try await TestDaemon()
        let client = try daemon.client()
        var requests: [(String, JSON)] = [
            ("survey.define", ["at": "2025-02-01T00:00:00Z", "survey_id": "post", "kind": "csat"])
        ]
        for n in 1...40 {
            requests.append(
                ("customer.create", ["at": "2025-02-01T00:00:00Z", "customer_id": Self.id("P", n), "first_name": "P"]))
        }
        // 251 orders in March, one cancelled: 250 counted.
        for n in 0..<251 {
            let day = 1 + n % 28
            requests.append(
                (
                    "order.record",
                    [
                        "at": .string("2025-03-\(day < 10 ? "0" : "")\(day)T12:00:00Z"), "order_id": .string("o\(n)"),
                        "customer_id": Self.id("P", 1 + n % 40), "amount": "10.00", "currency": "EUR",
                    ]
                ))
        }
        requests.append(("order.cancel", ["at": "2025-03-29T12:00:00Z", "order_id": "o0"]))
        // 35 tickets that are not complaints.
        for n in 6...40 {
            requests.append(
                (
                    "ticket.open",
                    [
                        "at": "2025-03-02T08:00:00Z", "ticket_id": Self.id("T", n), "customer_id": Self.id("P", n),
                        "subject": "Question", "channel": "email", "type": "question",
                    ]
                ))
        }
        // Five complaints: (opened, type at open, category, hours to first solve, outcome, CSAT score).
        let complaints: [(String, String, String, Int?, String?, Int?)] = [
            ("2025-03-03T08:00:00Z", "complaint", "delivery", 6, "upheld", 5),
            ("2025-03-04T08:00:00Z", "complaint", "delivery", 20, "upheld", 2),
            ("2025-03-05T08:00:00Z", "question", "billing", 30, "partially_upheld", 4),
            ("2025-03-06T08:00:00Z", "complaint", "billing", 50, "rejected", nil),
            ("2025-03-07T08:00:00Z", "complaint", "product", nil, nil, nil),
        ]
        for (index, complaint) in complaints.enumerated() {
            let n = index + 1
            let opened = Timestamp.parse(complaint.0)!
            var open: JSON = [
                "at": .string(complaint.0), "ticket_id": Self.id("T", n), "customer_id": Self.id("P", n),
                "subject": "Complaint", "channel": "email", "type": .string(complaint.1),
            ]
            if complaint.1 == "complaint" { open["category"] = .string(complaint.2) }
            requests.append(("ticket.open", open))
            if complaint.1 != "complaint" {
                requests.append(
                    (
                        "ticket.set_type",
                        [
                            "at": .string(complaint.0), "ticket_id": Self.id("T", n), "type": "complaint",
                            "category": .string(complaint.2),
                        ]
                    ))
            }
            if let hours = complaint.3 {
                let solved = Timestamp.format(opened + Int64(hours) * 3_600_000)
                requests.append(
                    ("ticket.set_status", ["at": .string(solved), "ticket_id": Self.id("T", n), "status": "solved"]))
                if n == 2 {
                    let later = Timestamp.format(opened + Int64(hours + 1) * 3_600_000)
                    requests.append(
                        (
                            "ticket.reply",
                            [
                                "at": .string(later), "ticket_id": "T02", "author": "customer", "body": "Not yet",
                                "public": true,
                            ]
                        ))
                }
            }
            if let outcome = complaint.4 {
                requests.append(
                    (
                        "complaint.resolve",
                        ["at": "2025-03-20T08:00:00Z", "ticket_id": Self.id("T", n), "outcome": .string(outcome)]
                    ))
            }
            if let score = complaint.5 {
                requests.append(
                    (
                        "survey.respond",
                        [
                            "at": "2025-03-20T09:00:00Z", "survey_id": "post", "customer_id": Self.id("P", n),
                            "ticket_id": Self.id("T", n), "score": .int(Int64(score)),
                        ]
                    ))
            }
        }
        _ = try await client.results(requests)
        let report = try await Self.report(client, "complaint.report", [:])
        #expect(report["complaints"] == 5 && report["by_category"] == ["delivery": 2, "billing": 2, "product": 1])
        #expect(report["counted_orders"] == 250 && report["per_1000_orders"] == "20.00")
        #expect(report["resolved"] == 4 && report["median_hours_to_resolution"] == "25.00")
        #expect(report["mean_hours_to_resolution"] == "26.50")
        #expect(report["outcomes"] == ["upheld": 2, "partially_upheld": 1, "rejected": 1])
        #expect(report["upheld_rate"] == "75.00" && report["reopened"] == 1)
        #expect(report["csat"] == ["responses": 3, "csat_pct": "66.67"])
        #expect(report["complainants_by_status"] == ["new": 5])
        let byCategory = Self.groups(try await Self.report(client, "complaint.report", ["group_by": "category"]))
        #expect(
            byCategory["billing"]?["complaints"] == 2 && byCategory["billing"]?["median_hours_to_resolution"] == "40.00"
        )
        // ticket.get shows the type and category.
        let ticket = try await client.result("ticket.get", ["ticket_id": "T03"])
        #expect(ticket["type"] == "complaint" && ticket["category"] == "billing")
    }

    @Test func rejectionsWriteNothing() async throws {
        let daemon = try await TestDaemon()
        let client = try daemon.client()
        _ = try await client.results([
            ("customer.create", ["at": "2025-03-01T00:00:00Z", "customer_id": "c1", "first_name": "Ada"]),
            ("customer.create", ["at": "2025-03-01T00:00:00Z", "customer_id": "c2", "first_name": "Bo"]),
            (
                "survey.define",
                ["at": "2025-03-01T00:00:00Z", "survey_id": "ces", "kind": "ces", "response_window_days": 7]
            ),
            (
                "ticket.open",
                [
                    "at": "2025-03-01T00:00:00Z", "ticket_id": "t1", "customer_id": "c1", "subject": "S",
                    "channel": "chat",
                ]
            ),
            (
                "survey.offer",
                ["at": "2025-03-01T00:00:00Z", "survey_id": "ces", "ticket_id": "t1", "request_id": "r1"]
            ),
            (
                "ticket.open",
                [
                    "at": "2025-03-01T00:00:00Z", "ticket_id": "t2", "customer_id": "c2", "subject": "S",
                    "channel": "chat",
                ]
            ),
            ("ticket.set_status", ["at": "2025-03-02T00:00:00Z", "ticket_id": "t2", "status": "closed"]),
        ])
        let before = try await Snapshot.take(client, customer: "c1")
        let cases: [(String, JSON, String, String?)] = [
            (
                "survey.respond", ["at": "2025-03-02T00:00:00Z", "request_id": "r1", "score": 8], "invalid_score",
                "score"
            ),
            (
                "survey.respond", ["at": "2025-03-02T00:00:00Z", "request_id": "r1", "score": "7"], "invalid_score",
                "score"
            ),
            (
                "survey.respond", ["at": "2025-03-09T00:00:00Z", "request_id": "r1", "score": 7], "survey_expired",
                "request_id"
            ),
            (
                "survey.respond", ["at": "2025-03-02T00:00:00Z", "request_id": "r1", "score": 7, "customer_id": "c2"],
                "invalid_field", "customer_id"
            ),
            (
                "survey.respond", ["at": "2025-03-02T00:00:00Z", "request_id": "nope", "score": 7], "not_found",
                "request_id"
            ),
            (
                "survey.offer", ["at": "2025-03-02T00:00:00Z", "survey_id": "nps", "customer_id": "c1"],
                "unknown_survey", "survey_id"
            ),
            (
                "survey.offer", ["at": "2025-03-02T00:00:00Z", "survey_id": "ces", "ticket_id": "t2"], "survey_closed",
                "ticket_id"
            ),
            ("survey.offer", ["at": "2025-03-02T00:00:00Z", "survey_id": "ces"], "missing_field", "ticket_id"),
            ("survey.define", ["survey_id": "ces", "kind": "csat"], "invalid_field", "kind"),
            ("survey.define", ["survey_id": "x", "kind": "stars"], "invalid_field", "kind"),
            (
                "survey.define", ["survey_id": "x", "kind": "csat", "auto_offer_on": ["ticket_closed"]],
                "invalid_field", "auto_offer_on[0]"
            ),
            ("ticket.assign", ["ticket_id": "t2", "assignee_id": "a1"], "ticket_closed", "ticket_id"),
            ("ticket.set_type", ["ticket_id": "t1", "type": "rant"], "invalid_field", "type"),
            (
                "ticket.open",
                ["ticket_id": "t3", "customer_id": "c1", "subject": "S", "channel": "chat", "category": "9x"],
                "invalid_field", "category"
            ),
            ("complaint.resolve", ["ticket_id": "t1", "outcome": "upheld"], "invalid_field", "ticket_id"),
            (
                "feedback.report", ["kind": "csat", "from": "2025-03-02T00:00:00Z", "to": "2025-03-01T00:00:00Z"],
                "invalid_field", "to"
            ),
            (
                "feedback.report",
                ["kind": "csat", "from": "2025-03-01T00:00:00Z", "to": "2025-04-01T00:00:00Z", "group_by": "colour"],
                "invalid_field", "group_by"
            ),
            ("complaint.report", ["from": "2025-03-01T00:00:00Z"], "missing_field", "to"),
        ]
        for (method, params, reason, field) in cases {
            let error = try await client.error(method, params)
            #expect(error.reason == reason && error.field == field, "\(method) \(params)")
            #expect(error.code == RPCErrorCode.code(forReason: reason), "\(method)")
        }
        let score = try await client.error(
            "survey.respond", ["at": "2025-03-02T00:00:00Z", "request_id": "r1", "score": 0])
        #expect(score.data?["details"] == ["min": 1, "max": 7])
        #expect(try await Snapshot.take(client, customer: "c1") == before)
    }
}
