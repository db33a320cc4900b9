import CRMDomain
import CRMJSON
import CRMProtocol
import CRMTesting
import Foundation
import Testing

/// Campaigns through the socket: the §13.4-style worked example (suppression at send, the funnel,
/// last-touch attribution, the what-if, a refund, a later campaign taking the order), the side effects
/// of an unsubscribe and a hard bounce, rejections that write nothing, and the property that an order
/// is credited to at most one campaign.
@Suite struct CampaignTests {
    /// Sends `requests` pipelined, but waits for each computed command (`campaign.send`) before the
    /// requests behind it: its recipients are chosen off the writer, so a command pipelined behind it
    /// could reach the writer first.
    static func run(_ client: RPCClient, _ requests: [(String, JSON)]) async throws {
        var batch: [(String, JSON)] = []
        for request in requests {
            if request.0 == "campaign.send" {
                _ = try await client.results(batch)
                _ = try await client.result(request.0, request.1)
                batch = []
            } else {
                batch.append(request)
            }
        }
        _ = try await client.results(batch)
    }

    /// Customers M1…M10 tagged `spring`: M1–M7 confirmed opt-in, M8 opted in, M9 opted out, M10
    /// without an email; the segment `spring`.
    static func population() -> [(String, JSON)] {
        var requests: [(String, JSON)] = []
        for n in 1...10 {
            var customer: JSON = [
                "at": "2025-04-01T00:00:00Z", "customer_id": .string("M\(n)"), "first_name": "M", "tags": ["spring"],
            ]
            if n <= 9 {
                let address = JSON.string("m\(n)@example.com")
                customer["emails"] = [["address": address, "primary": true]]
                let status = n <= 7 ? "confirmed_opt_in" : n == 8 ? "opted_in" : "opted_out"
                customer["consent"] = [["channel": "email", "address": address, "status": .string(status)]]
            }
            requests.append(("customer.create", customer))
        }
        requests.append(
            (
                "segment.define",
                [
                    "at": "2025-04-02T00:00:00Z", "segment_id": "spring", "name": "Spring",
                    "filter": ["all": [["field": "tags", "op": "has", "value": "spring"]]],
                ]
            ))
        return requests
    }

    static func interaction(_ customer: String, _ kind: String, _ at: String, _ extra: JSON = [:]) -> (String, JSON) {
        var params: JSON = [
            "at": .string(at), "campaign_id": "K1", "customer_id": .string(customer), "kind": .string(kind),
            "interaction_id": .string("\(customer)-\(kind)-\(at.filter(\.isNumber))"),
        ]
        for (key, value) in extra.objectValue ?? [:] { params[key] = value }
        return ("campaign.record", params)
    }

    static func order(_ id: String, _ customer: String, _ at: String, _ amount: String) -> (String, JSON) {
        (
            "order.record",
            [
                "at": .string(at), "order_id": .string(id), "customer_id": .string(customer), "amount": .string(amount),
                "currency": "EUR",
            ]
        )
    }

    @Test func theWorkedExample() async throws {
        let daemon = try await TestDaemon()
        let client = try daemon.client()
        _ = try await client.results(Self.population())
        _ = try await client.results([
            (
                "campaign.create",
                [
                    "at": "2025-05-01T00:00:00Z", "campaign_id": "K1", "name": "Spring sale",
                    "audience": ["segment_id": "spring"],
                    "opt_in_level": "confirmed_opt_in", "cost": ["amount": "50.00", "currency": "EUR"],
                ]
            ),
            ("campaign.send", ["at": "2025-05-05T10:00:00Z", "campaign_id": "K1"]),
        ])
        let sent = try await client.result("campaign.get", ["campaign_id": "K1"])
        #expect(sent["sent"]?["audience_size"] == 10 && sent["sent"]?["recipient_count"] == 7)
        #expect(sent["sent"]?["suppressed"]?["not_opted_in"] == 1 && sent["sent"]?["suppressed"]?["opted_out"] == 1)
        #expect(sent["sent"]?["suppressed"]?["no_address"] == 1 && sent["sent"]?["audience_version"] == 1)
        var activity: [(String, JSON)] = []
        for n in 1...6 { activity.append(Self.interaction("M\(n)", "delivered", "2025-05-05T10:05:00Z")) }
        activity += [
            Self.interaction("M1", "opened", "2025-05-05T10:30:00Z"),
            Self.interaction("M1", "clicked", "2025-05-05T11:00:00Z"),
            Self.interaction("M1", "opened", "2025-05-05T18:00:00Z"),
            Self.interaction("M2", "opened", "2025-05-05T12:00:00Z"),
            Self.interaction("M4", "opened", "2025-05-05T13:00:00Z"),
            Self.interaction("M4", "unsubscribed", "2025-05-05T13:01:00Z"),
            Self.interaction("M7", "bounced", "2025-05-05T10:02:00Z", ["bounce": "hard"]),
            Self.interaction("M3", "opened", "2025-05-06T08:00:00Z"),
            Self.interaction("M3", "clicked", "2025-05-06T08:05:00Z"),
            Self.order("o6", "M6", "2025-05-06T10:00:00Z", "50.00"),
            Self.order("o1", "M1", "2025-05-07T09:00:00Z", "120.00"),
            Self.order("o2", "M2", "2025-05-08T15:00:00Z", "80.00"),
            Self.order("o3", "M3", "2025-05-13T10:00:00Z", "60.00"),
        ]
        _ = try await client.results(
            activity.sorted { ($0.1["at"]?.stringValue ?? "") < ($1.1["at"]?.stringValue ?? "") })
        // A webhook retry (the same interaction id, delivered again later) writes nothing.
        var again = Self.interaction("M1", "opened", "2025-05-05T10:30:00Z").1
        again["at"] = "2025-05-14T00:00:00Z"
        again["occurred_at"] = "2025-05-05T10:30:00Z"
        #expect(try await client.result("campaign.record", again)["events"] == [])

        let report = try await client.result("campaign.report", ["campaign_id": "K1", "as_of": "2025-05-31T00:00:00Z"])
        let metrics = try #require(report["metrics"])
        #expect(metrics["sent"] == 7 && metrics["reach_pct"] == "70.00")
        #expect(
            metrics["bounced"] == ["hard": 1, "soft": 0] && metrics["delivered"] == 6
                && metrics["delivered_pct"] == "85.71")
        #expect(metrics["unique_opens"] == 4 && metrics["open_rate"] == "66.67")
        #expect(
            metrics["unique_clicks"] == 2 && metrics["click_rate"] == "33.33" && metrics["click_to_open"] == "50.00")
        #expect(metrics["unsubscribes"] == 1 && metrics["unsubscribe_rate"] == "16.67")
        #expect(metrics["responders"] == 2 && metrics["response_rate"] == "28.57")
        #expect(metrics["converters"] == 1 && metrics["conversion_rate"] == "16.67")
        #expect(report["attributed"]?["orders"] == 1 && report["attributed"]?["revenue"] == ["EUR": "120.00"])
        #expect(
            report["attributed"]?["revenue_per_recipient"] == ["EUR": "17.14"]
                && report["attributed"]?["roi"] == "140.00")

        let whatIf = try await client.result(
            "campaign.report",
            ["campaign_id": "K1", "as_of": "2025-05-31T00:00:00Z", "attribution": ["touch": "open_or_click"]])
        #expect(whatIf["metrics"]?["converters"] == 2 && whatIf["metrics"]?["conversion_rate"] == "33.33")
        #expect(whatIf["metrics"]?["responders"] == 3 && whatIf["metrics"]?["response_rate"] == "42.86")
        #expect(whatIf["attributed"]?["revenue"] == ["EUR": "200.00"] && whatIf["attributed"]?["roi"] == "300.00")
        #expect(whatIf["attributed"]?["revenue_per_recipient"] == ["EUR": "28.57"])

        // Side effects: M4 is opted out, M7's address is flagged invalid (a later send suppresses it).
        let m4 = try await client.result("customer.get", ["customer_id": "M4"])
        #expect(m4["emails"]?[0]?["consent"] == "opted_out")
        let m7 = try await client.result("customer.get", ["customer_id": "M7"])
        #expect(m7["emails"]?[0]?["invalid"] == true)

        // A refund lowers the revenue.
        _ = try await client.result(
            "order.refund", ["at": "2025-05-20T09:00:00Z", "order_id": "o1", "amount": "20.00"])
        let refunded = try await client.result(
            "campaign.report", ["campaign_id": "K1", "as_of": "2025-05-31T00:00:00Z"])
        #expect(refunded["attributed"]?["revenue"] == ["EUR": "100.00"] && refunded["attributed"]?["roi"] == "100.00")
        // Before the refund, as of the 19th, it was still 120.00.
        let earlier = try await client.result(
            "campaign.report", ["campaign_id": "K1", "as_of": "2025-05-19T00:00:00Z"])
        #expect(earlier["attributed"]?["revenue"] == ["EUR": "120.00"])

        // A second campaign to M1 (and M7), clicked later: the latest touch takes M1's order.
        try await Self.run(
            client,
            [
                (
                    "list.create",
                    [
                        "at": "2025-05-06T08:30:00Z", "list_id": "m1", "name": "M1", "kind": "manual",
                        "customer_ids": ["M1", "M7"],
                    ]
                ),
                (
                    "campaign.create",
                    [
                        "at": "2025-05-06T08:40:00Z", "campaign_id": "K2", "name": "Follow-up",
                        "audience": ["list_id": "m1"],
                    ]
                ),
                ("campaign.send", ["at": "2025-05-06T09:00:00Z", "campaign_id": "K2"]),
                (
                    "campaign.record",
                    [
                        "at": "2025-05-06T09:30:00Z", "campaign_id": "K2", "customer_id": "M1", "kind": "clicked",
                        "interaction_id": "k2c",
                    ]
                ),
            ])
        let k2 = try await client.result("campaign.get", ["campaign_id": "K2"])
        #expect(k2["sent"]?["recipient_count"] == 1 && k2["sent"]?["suppressed"]?["invalid_address"] == 1)
        let after = try await client.result("campaign.report", ["campaign_id": "K1", "as_of": "2025-05-31T00:00:00Z"])
        #expect(after["attributed"]?["revenue"] == [:] && after["attributed"]?["orders"] == 0)
        let second = try await client.result("campaign.report", ["campaign_id": "K2", "as_of": "2025-05-31T00:00:00Z"])
        #expect(second["attributed"]?["revenue"] == ["EUR": "100.00"])
    }

    @Test func rejectionsWriteNothing() async throws {
        let daemon = try await TestDaemon()
        let client = try daemon.client()
        _ = try await client.results(Self.population())
        _ = try await client.results([
            (
                "campaign.create",
                [
                    "at": "2025-05-01T00:00:00Z", "campaign_id": "K1", "name": "K",
                    "audience": ["segment_id": "spring"], "cost": ["amount": "5", "currency": "EUR"],
                ]
            ),
            (
                "campaign.create",
                [
                    "at": "2025-05-01T00:00:00Z", "campaign_id": "none", "name": "K",
                    "audience": ["segment_id": "spring"], "opt_in_level": "confirmed_opt_in",
                    "exclude": ["segments": ["spring"]],
                ]
            ),
            ("campaign.send", ["at": "2025-05-05T10:00:00Z", "campaign_id": "K1"]),
        ])
        let before = try await Snapshot.take(client, customer: "M1")
        let cases: [(String, JSON, String, String?)] = [
            ("campaign.send", ["campaign_id": "K1"], "campaign_already_sent", "campaign_id"),
            ("campaign.send", ["campaign_id": "nope"], "unknown_campaign", "campaign_id"),
            ("campaign.send", ["at": "2025-05-05T10:00:00Z", "campaign_id": "none"], "empty_audience", "campaign_id"),
            (
                "campaign.create", ["campaign_id": "x", "name": "X", "audience": ["segment_id": "nope"]],
                "unknown_segment", "audience"
            ),
            (
                "campaign.create", ["campaign_id": "x", "name": "X", "audience": ["list_id": "nope"]], "unknown_list",
                "audience"
            ),
            (
                "campaign.create",
                ["campaign_id": "x", "name": "X", "audience": ["segment_id": "spring", "list_id": "l"]],
                "invalid_field", "audience"
            ),
            (
                "campaign.create",
                [
                    "campaign_id": "x", "name": "X", "audience": ["segment_id": "spring"],
                    "attribution": ["window_days": 91],
                ], "invalid_field", "attribution.window_days"
            ),
            (
                "campaign.create", ["campaign_id": "K1", "name": "X", "audience": ["segment_id": "spring"]],
                "already_exists", "campaign_id"
            ),
            (
                "campaign.record",
                ["campaign_id": "K1", "customer_id": "M10", "kind": "opened", "interaction_id": "i1"],
                "not_a_recipient", "customer_id"
            ),
            (
                "campaign.record", ["campaign_id": "K1", "customer_id": "M1", "kind": "waved", "interaction_id": "i1"],
                "invalid_field", "kind"
            ),
            (
                "campaign.record",
                ["campaign_id": "K1", "customer_id": "M1", "kind": "opened", "interaction_id": "i1", "bounce": "hard"],
                "invalid_field", "bounce"
            ),
            (
                "campaign.record",
                ["campaign_id": "nope", "customer_id": "M1", "kind": "opened", "interaction_id": "i1"],
                "unknown_campaign", "campaign_id"
            ),
            (
                "campaign.record_cost", ["campaign_id": "K1", "amount": "3", "currency": "USD"], "currency_mismatch",
                "currency"
            ),
            ("campaign.report", ["campaign_id": "nope"], "unknown_campaign", "campaign_id"),
        ]
        for (method, params, reason, field) in cases {
            let error = try await client.error(method, params)
            #expect(error.reason == reason && error.field == field, "\(method) \(params)")
            #expect(error.code == RPCErrorCode.code(forReason: reason), "\(method)")
        }
        #expect(try await Snapshot.take(client, customer: "M1") == before)
    }

    /// For seeded random campaigns, interactions and orders, every order is credited to at most one
    /// campaign, and to the one a direct reading of the rules picks.
    @Test(arguments: [5, 17])
    func everyOrderIsCreditedToAtMostOneCampaign(seed: UInt64) async throws {
        var rng = SeededGenerator(seed: seed)
        let daemon = try await TestDaemon()
        let client = try daemon.client()
        _ = try await client.results(Self.population())
        let day: Int64 = 86_400_000
        let start = Timestamp.parse("2025-05-01T00:00:00Z")!
        let touchKinds = ["click", "open_or_click", "delivery"]
        var campaigns: [(id: String, touch: String, window: Int64, sentAt: Int64)] = []
        var requests: [(String, JSON)] = []
        for index in 0..<4 {
            let id = "C\(index)"
            let touch = touchKinds.randomElement(using: &rng)!
            let window = Int64.random(in: 1...6, using: &rng)
            let sentAt = start + Int64(index) * day + Int64.random(in: 0..<day, using: &rng)
            campaigns.append((id, touch, window, sentAt))
            requests.append(
                (
                    "campaign.create",
                    [
                        "at": .string(Timestamp.format(start)), "campaign_id": .string(id), "name": "C",
                        "audience": ["segment_id": "spring"],
                        "attribution": ["touch": .string(touch), "window_days": .int(window)],
                    ]
                ))
        }
        // Sends in time order, interactions after them, orders anywhere in the month.
        var events: [(Int64, String, JSON)] = []
        for campaign in campaigns {
            events.append((campaign.sentAt, "campaign.send", ["campaign_id": .string(campaign.id)]))
        }
        var touches: [String: [(campaign: String, kind: String, at: Int64)]] = [:]
        for n in 0..<60 {
            let campaign = campaigns.randomElement(using: &rng)!
            let customer = "M\(Int.random(in: 1...7, using: &rng))"
            let kind = ["opened", "clicked", "replied"].randomElement(using: &rng)!
            let at = campaign.sentAt + Int64.random(in: 1...(6 * day), using: &rng)
            touches[customer, default: []].append((campaign.id, kind, at))
            events.append(
                (
                    at, "campaign.record",
                    [
                        "campaign_id": .string(campaign.id), "customer_id": .string(customer), "kind": .string(kind),
                        "interaction_id": .string("i\(n)"),
                    ]
                ))
        }
        var orders: [(customer: String, at: Int64)] = []
        for n in 0..<25 {
            let customer = "M\(Int.random(in: 1...8, using: &rng))"
            let at = start + Int64.random(in: 0...(20 * day), using: &rng)
            orders.append((customer, at))
            events.append(
                (
                    at, "order.record",
                    [
                        "order_id": .string("o\(n)"), "customer_id": .string(customer), "amount": "10.00",
                        "currency": "EUR",
                    ]
                ))
        }
        for (at, method, params) in events.sorted(by: { $0.0 < $1.0 }) {
            var params = params
            params["at"] = .string(Timestamp.format(at))
            requests.append((method, params))
        }
        try await Self.run(client, requests)
        // The rules, read directly: the latest matching touch at or before the order, within its window.
        var expected = Dictionary(uniqueKeysWithValues: campaigns.map { ($0.id, 0) })
        for order in orders {
            var best: (at: Int64, campaign: String)?
            for campaign in campaigns.sorted(by: { $0.id < $1.id }) {
                var instants: [Int64]
                switch campaign.touch {
                case "delivery": instants = [campaign.sentAt]
                case "open_or_click":
                    instants = touches[order.customer, default: []].filter { $0.campaign == campaign.id }.map(\.at)
                default:
                    instants = touches[order.customer, default: []].filter {
                        $0.campaign == campaign.id && $0.kind == "clicked"
                    }
                    .map(\.at)
                }
                for touch in instants where touch <= order.at && order.at <= touch + campaign.window * day {
                    if best.map({ touch > $0.at }) ?? true { best = (touch, campaign.id) }
                }
            }
            if let best { expected[best.campaign]! += 1 }
        }
        var credited = 0
        for campaign in campaigns {
            let report = try await client.result(
                "campaign.report", ["campaign_id": .string(campaign.id), "as_of": "2025-06-30T00:00:00Z"])
            let count = Int(report["attributed"]?["orders"]?.intValue ?? -1)
            #expect(count == expected[campaign.id], "seed \(seed) \(campaign.id)")
            credited += count
        }
        #expect(credited <= orders.count)
        #expect(expected.values.reduce(0, +) > 0, "the comparison is not vacuous")
    }
}
