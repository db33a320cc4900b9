import ArgumentParser
import CRMJSON
import CRMProtocol
import CRMTesting
import Foundation
import Testing

@testable import CRMCtl

/// `crmctl list …` and `crmctl campaign …`: flags → params, the checks made before anything is sent,
/// the readable views (the funnel bars, the figures, the send's suppressions), and a run against a
/// real crmd (the worked example of docs/protocol/marketing.md §7 with static lists and crmd's
/// refusals).
@Suite struct CampaignCommandTests {
    // MARK: - Flags → params

    @Test func listCommandsMapTheirFlags() throws {
        var (method, params) = try request([
            "list", "create", "vip", "--name", "VIP", "--customer", "c1", "--customer", "c2", "--at",
            "2025-05-02T00:00:00Z",
        ])
        #expect(method == "list.create")
        #expect(
            params == [
                "list_id": "vip", "name": "VIP", "kind": "manual", "customer_ids": ["c1", "c2"],
                "at": "2025-05-02T00:00:00Z",
            ]
        )
        (method, params) = try request(["list", "create", "empty", "--name", "Empty"])
        #expect(params == ["list_id": "empty", "name": "Empty", "kind": "manual"])
        (method, params) = try request([
            "list", "create", "snap", "--name", "Snap", "--from-segment", "gold", "--as-of", "2025-05-01",
        ])
        #expect(
            params == [
                "list_id": "snap", "name": "Snap", "kind": "snapshot", "from_segment": "gold",
                "as_of": "2025-05-01T00:00:00Z",
            ]
        )
        (method, params) = try request(["list", "add", "vip", "c3", "c4", "--command-id", "k1"])
        #expect(method == "list.add")
        #expect(params == ["list_id": "vip", "customer_ids": ["c3", "c4"], "command_id": "k1"])
        (method, params) = try request(["list", "remove", "vip", "c2"])
        #expect(method == "list.remove" && params == ["list_id": "vip", "customer_ids": ["c2"]])
        (method, params) = try request([
            "list", "members", "vip", "--as-of", "2025-05-01T12:00:00Z", "--limit", "10", "--cursor", "c9",
        ])
        #expect(method == "list.members")
        #expect(params == ["list_id": "vip", "as_of": "2025-05-01T12:00:00Z", "limit": 10, "cursor": "c9"])
        (method, params) = try request(["list", "members", "vip", "--all"])
        #expect(params == ["list_id": "vip", "limit": 1000])
        (method, params) = try request(["list", "get", "vip"])
        #expect(method == "list.get" && params == ["list_id": "vip"])
    }

    @Test func campaignCommandsMapTheirFlags() throws {
        var (method, params) = try request([
            "campaign", "create", "may", "--name", "May promo", "--segment", "gold", "--exclude-list", "staff",
            "--exclude-list", "press", "--exclude-segment", "churned", "--opt-in-level", "confirmed_opt_in",
            "--touch", "open_or_click", "--window-days", "7", "--cost", "50.00", "--currency", "EUR",
            "--subject", "We miss you", "--at", "2025-05-04T00:00:00Z",
        ])
        #expect(method == "campaign.create")
        #expect(
            params == [
                "campaign_id": "may", "name": "May promo", "audience": ["segment_id": "gold"],
                "exclude": ["lists": ["staff", "press"], "segments": ["churned"]],
                "opt_in_level": "confirmed_opt_in", "attribution": ["touch": "open_or_click", "window_days": 7],
                "cost": ["amount": "50.00", "currency": "EUR"], "subject": "We miss you",
                "at": "2025-05-04T00:00:00Z",
            ]
        )
        (method, params) = try request(["campaign", "create", "news", "--name", "News", "--list", "vip"])
        #expect(params == ["campaign_id": "news", "name": "News", "audience": ["list_id": "vip"]])
        (method, params) = try request([
            "campaign", "create", "news", "--name", "News", "--list", "vip", "--window-days", "3",
        ])
        #expect(params?["attribution"] == ["window_days": 3])
        (method, params) = try request(["campaign", "send", "may", "--at", "2025-05-05T10:00:00Z"])
        #expect(method == "campaign.send" && params == ["campaign_id": "may", "at": "2025-05-05T10:00:00Z"])
        (method, params) = try request([
            "campaign", "record", "may", "c1", "clicked", "--interaction-id", "ev-1", "--occurred-at", "2025-05-05",
            "--link", "https://shop.example/may",
        ])
        #expect(method == "campaign.record")
        #expect(
            params == [
                "campaign_id": "may", "customer_id": "c1", "kind": "clicked", "interaction_id": "ev-1",
                "occurred_at": "2025-05-05T00:00:00Z", "link": "https://shop.example/may",
            ]
        )
        (method, params) = try request([
            "campaign", "record", "may", "c7", "bounced", "--interaction-id", "ev-2", "--bounce", "hard",
        ])
        #expect(params?["bounce"] == "hard" && params?["kind"] == "bounced")
        (method, params) = try request([
            "campaign", "record", "may", "c2", "converted", "--interaction-id", "ev-3", "--order", "o17", "--goal",
            "signup",
        ])
        #expect(params?["order_id"] == "o17" && params?["goal"] == "signup")
        (method, params) = try request(["campaign", "cost", "may", "12.50", "EUR"])
        #expect(method == "campaign.record_cost")
        #expect(params == ["campaign_id": "may", "amount": "12.50", "currency": "EUR"])
        (method, params) = try request(["campaign", "get", "may"])
        #expect(method == "campaign.get" && params == ["campaign_id": "may"])
        (method, params) = try request(["campaign", "report", "may", "--as-of", "2025-06-01"])
        #expect(method == "campaign.report")
        #expect(params == ["campaign_id": "may", "as_of": "2025-06-01T00:00:00Z"])
        (method, params) = try request([
            "campaign", "report", "may", "--touch", "open_or_click", "--window-days", "7",
        ])
        #expect(params == ["campaign_id": "may", "attribution": ["touch": "open_or_click", "window_days": 7]])
    }

    /// Flags that contradict each other or that crmd would refuse: exit 64 before anything is sent.
    @Test(arguments: [
        (
            ["list", "create", "l", "--name", "L", "--customer", "c1", "--from-segment", "s"],
            "give --customer (a manual list) or --from-segment (a snapshot list), not both"
        ),
        (["list", "create", "l", "--name", "L", "--as-of", "2025-05-01"], "give --from-segment too"),
        (["list", "add", "l"], "give at least one customer id"),
        (["list", "remove", "l"], "give at least one customer id"),
        (["list", "members", "l", "--limit", "0"], "between 1 and 1000"),
        (["list", "members", "l", "--as-of", "May 1"], "YYYY-MM-DD"),
        (["campaign", "create", "k", "--name", "K"], "give the audience: --segment SEGMENT or --list LIST"),
        (
            ["campaign", "create", "k", "--name", "K", "--segment", "s", "--list", "l"],
            "give the audience one way: --segment or --list, not both"
        ),
        (["campaign", "create", "k", "--name", "K", "--list", "l", "--cost", "5"], "--cost needs --currency"),
        (["campaign", "create", "k", "--name", "K", "--list", "l", "--currency", "EUR"], "--currency goes with --cost"),
        (["campaign", "create", "k", "--name", "K", "--list", "l", "--window-days", "91"], "between 1 and 90"),
        (
            ["campaign", "record", "k", "c", "opened", "--interaction-id", "i", "--bounce", "hard"],
            "--bounce goes with the kind bounced, not opened"
        ),
        (
            ["campaign", "record", "k", "c", "bounced", "--interaction-id", "i", "--bounce", "firm"],
            "--bounce must be hard or soft, got firm"
        ),
        (
            ["campaign", "record", "k", "c", "clicked", "--interaction-id", "i", "--order", "o1"],
            "--order goes with the kind converted, not clicked"
        ),
        (
            ["campaign", "record", "k", "c", "opened", "--interaction-id", "i", "--order", "o1", "--goal", "g"],
            "--order and --goal go with the kind converted"
        ),
        (["campaign", "record", "k", "c", "opened"], "--interaction-id"),
        (["campaign", "report", "k", "--as-of", "yesterday"], "YYYY-MM-DD"),
        (["campaign", "report", "k", "--window-days", "0"], "between 1 and 90"),
    ])
    func contradictoryFlagsAreRefused(arguments: [String], message: String) {
        #expect {
            try CRMCtl.parseAsRoot(arguments)
        } throws: { error in
            CRMCtl.exitCode(for: error) == .validationFailure && CRMCtl.message(for: error).contains(message)
        }
    }

    @Test func tooManyCustomersAreRefused() {
        let ids = (1...1001).map { "c\($0)" }
        #expect {
            try CRMCtl.parseAsRoot(["list", "add", "l"] + ids)
        } throws: { error in
            CRMCtl.exitCode(for: error) == .validationFailure
                && CRMCtl.message(for: error).contains("at most 1000 customers at a time, got 1001")
        }
    }

    // MARK: - Views

    @Test func percentagesRoundHalfUp() {
        #expect(CampaignOutput.percent(7, of: 10) == "70.00")
        #expect(CampaignOutput.percent(2, of: 3) == "66.67")
        #expect(CampaignOutput.percent(1, of: 16) == "6.25")
        #expect(CampaignOutput.percent(1, of: 200_000) == "0.00" && CampaignOutput.percent(1, of: 0) == "-")
    }

    /// The send of the worked example: 7 of 10, three suppressed for three reasons.
    static let workedSend: JSON = [
        "sent_at": "2025-05-05T10:00:00.000Z", "audience_version": 1, "audience_size": 10, "recipient_count": 7,
        "suppressed": [
            "excluded": 0, "blocklisted": 0, "opted_out": 1, "not_opted_in": 1, "invalid_address": 0,
            "no_address": 1, "duplicate": 0,
        ],
    ]

    /// The definition of the worked example's campaign, as `campaign.get` and `campaign.report` show it.
    static let workedDefinition: [String: JSON] = [
        "campaign_id": "k1", "name": "May promo", "audience": ["kind": "segment", "id": "promo"],
        "exclude": ["lists": [], "segments": []], "channel": "email", "opt_in_level": "confirmed_opt_in",
        "attribution": ["touch": "click", "window_days": 5], "cost": ["amount": "50.00", "currency": "EUR"],
        "subject": "Hello",
    ]

    @Test func sendAndGetShowRecipientsAndSuppressions() {
        #expect(
            CampaignOutput.sendCounts(CampaignCommandTests.workedSend) == """
                sent to 7 of 10 (reach 70.00%) at 2025-05-05 10:00Z
                  OUTCOME                   CUSTOMERS
                  recipients                7
                  suppressed: opted out     1
                  suppressed: not opted in  1
                  suppressed: no address    1
                """
        )
        var campaign = CampaignCommandTests.workedDefinition
        campaign["sent"] = CampaignCommandTests.workedSend
        #expect(
            CampaignOutput.campaign(.object(campaign)) == """
                campaign k1: May promo
                  audience:    segment promo
                  channel:     email, opt-in level confirmed_opt_in
                  subject:     Hello
                  attribution: click within 5 days
                  cost:        50.00 EUR
                  sent:        2025-05-05 10:00Z to 7 of 10 (reach 70.00%), segment version 1
                  suppressed:  opted out 1, not opted in 1, no address 1
                """
        )
        let unsent: JSON = [
            "campaign_id": "k2", "name": "News", "audience": ["kind": "list", "id": "vip"],
            "exclude": ["lists": ["staff"], "segments": ["churned", "lapsed"]], "channel": "email",
            "opt_in_level": "opt_in", "attribution": ["touch": "delivery", "window_days": 1], "cost": nil,
            "subject": nil, "sent": nil,
        ]
        #expect(
            CampaignOutput.campaign(unsent) == """
                campaign k2: News
                  audience:    list vip
                  excluded:    lists staff; segments churned, lapsed
                  channel:     email, opt-in level opt_in
                  attribution: delivery within 1 day
                  cost:        -
                  sent:        not yet
                """
        )
    }

    /// The report of the worked example: the funnel scaled to the 7 recipients, then the figures.
    @Test func reportDrawsTheFunnelAndTheFigures() {
        var report = CampaignCommandTests.workedDefinition
        report["as_of"] = "2025-06-01T00:00:00.000Z"
        report["sent"] = CampaignCommandTests.workedSend
        report["metrics"] = [
            "audience_size": 10, "sent": 7, "reach_pct": "70.00", "bounced": ["hard": 1, "soft": 0],
            "delivered": 6, "delivered_pct": "85.71", "unique_opens": 4, "open_rate": "66.67", "unique_clicks": 2,
            "click_rate": "33.33", "click_to_open": "50.00", "unsubscribes": 1, "unsubscribe_rate": "16.67",
            "complaints": 0, "responders": 2, "response_rate": "28.57", "converters": 1, "conversion_rate": "16.67",
        ]
        report["attributed"] = [
            "orders": 1, "revenue": ["EUR": "120.00"], "revenue_per_recipient": ["EUR": "17.14"], "roi": "140.00",
        ]
        #expect(
            CampaignOutput.report(.object(report)) == """
                campaign k1: May promo as of 2025-06-01 00:00Z
                  sent to 7 of 10 (reach 70.00%) at 2025-05-05 10:00Z, segment promo version 1
                  orders credited by click within 5 days

                  sent       ████████████████████████  7  100.0%  reach 70.00% of 10
                  delivered  █████████████████████     6   85.7%  delivered 85.71% of sent
                  opened     ██████████████            4   57.1%  open rate 66.67% of delivered
                  clicked    ███████                   2   28.6%  click rate 33.33% of delivered
                  converted  ███                       1   14.3%  conversion rate 16.67% of delivered

                  bounced:           1 (1 hard, 0 soft)
                  unsubscribes:      1 (16.67% of delivered)
                  click-to-open:     50.00%
                  complaints:        0
                  responders:        2 (response rate 28.57% of sent)
                  attributed orders: 1
                  revenue:           120.00 EUR
                  per recipient:     17.14 EUR
                  cost:              50.00 EUR
                  ROI:               140.00%
                """
        )
        // A what-if, several currencies, no cost, and the value read model being rebuilt.
        report["attribution"] = ["touch": "open_or_click", "window_days": 5, "what_if": true]
        report["attributed"] = [
            "orders": 3, "revenue": ["USD": "30.00", "EUR": "200.00"],
            "revenue_per_recipient": ["USD": "4.29", "EUR": "28.57"], "roi": nil,
        ]
        report["cost"] = nil
        var lines = CampaignOutput.report(.object(report)).split(separator: "\n").map(String.init)
        #expect(lines[2] == "  orders credited by open_or_click within 5 days (what-if)")
        #expect(lines.contains("  revenue:           200.00 EUR, 30.00 USD"))
        #expect(lines.contains("  per recipient:     28.57 EUR, 4.29 USD"))
        #expect(lines.suffix(2) == ["  cost:              -", "  ROI:               - (no cost)"])
        report["attributed"] = nil
        lines = CampaignOutput.report(.object(report)).split(separator: "\n").map(String.init)
        #expect(
            lines.suffix(2) == [
                "  attributed orders: - (the value read model is being rebuilt)", "  cost:              -",
            ]
        )
        // Not sent by the instant asked about.
        report["sent"] = nil
        report.removeValue(forKey: "metrics")
        #expect(
            CampaignOutput.report(.object(report)) == """
                campaign k1: May promo as of 2025-06-01 00:00Z
                  not sent by then
                """
        )
    }

    @Test func funnelBarsAreScaledToSent() {
        let lines = CampaignOutput.funnel([("a", 100, "x"), ("bb", 1, "y"), ("c", 0, "z")], sent: 100)
        #expect(lines[0] == "  a   " + String(repeating: "█", count: 24) + "  100  100.0%  x")
        // A count above 0 gets at least one cell; 0 gets none.
        #expect(lines[1] == "  bb  █" + String(repeating: " ", count: 23) + "    1    1.0%  y")
        #expect(lines[2] == "  c   " + String(repeating: " ", count: 24) + "    0    0.0%  z")
        let empty = CampaignOutput.funnel([("sent", 0, "-")], sent: 0)
        #expect(empty == ["  sent  " + String(repeating: " ", count: 24) + "  0       -  -"])
    }

    @Test func listViews() {
        #expect(
            CampaignOutput.members([
                "list_id": "snap", "as_of": "2025-05-03T00:00:00.000Z", "count": 3, "members": ["a", "b"],
                "next_cursor": "b",
            ]) == """
                list snap as of 2025-05-03 00:00Z: 3 members
                a
                b
                more: --cursor b --as-of 2025-05-03T00:00:00.000Z (or --all)
                """
        )
        #expect(
            CampaignOutput.list([
                "list_id": "snap", "name": "Snap", "kind": "snapshot", "created_at": "2025-05-02T00:00:00.000Z",
                "source": ["segment_id": "promo", "version": 2, "as_of": "2025-05-02T00:00:00.000Z"],
            ]) == """
                list snap: Snap
                  kind:    snapshot of segment promo version 2 as of 2025-05-02 00:00Z
                  created: 2025-05-02 00:00Z
                """
        )
    }

    // MARK: - Against crmd

    /// The worked example of docs/protocol/marketing.md §7 through crmctl: customers with confirmed,
    /// opted-in, opted-out and missing addresses; a segment; manual and snapshot lists; a campaign to
    /// a list with an exclusion and one to the segment; the sends (each waited for before recording);
    /// interactions, a retried webhook, a hard bounce, an unsubscribe; orders; the report with its
    /// funnel, a what-if and an added cost; --json; crmd's refusals (exit 1) and crmctl's (exit 64,
    /// nothing written). Every command and report names its instant, so nothing depends on today.
    @Test func theCommandsAgainstARealDaemon() async throws {
        let directory = TemporaryDirectory()
        let daemon = try DaemonProcess(
            socketPath: directory.appending("crmd.sock"),
            dataDirectory: directory.appending("data")
        )
        defer { daemon.stop() }
        let client = try RPCClient(socketPath: daemon.socketPath)
        let crmctl = URL(fileURLWithPath: DaemonProcess.executablePath).deletingLastPathComponent()
            .appendingPathComponent("crmctl").path
        func run(_ arguments: [String]) throws -> ProcessRun {
            try ProcessRun(crmctl, ["--socket", daemon.socketPath] + arguments)
        }
        func succeed(_ arguments: [String]) throws -> String {
            let result = try run(arguments)
            #expect(result.status == 0, "crmctl \(arguments.joined(separator: " ")): \(result.output)")
            return result.output
        }
        /// The output without its first line (which holds a log position).
        func afterFirstLine(_ output: String) -> String {
            String(output.drop { $0 != "\n" }.dropFirst())
        }

        // M1…M7 confirmed, M8 only opted in, M9 opted out, M10 without an email.
        for number in 1...10 {
            let id = "m\(number)"
            var params: JSON = [
                "customer_id": .string(id), "first_name": "M", "tags": ["promo"], "at": "2025-05-01T00:00:00Z",
            ]
            if number <= 9 {
                let address = JSON.string("\(id)@example.com")
                let status: JSON = number <= 7 ? "confirmed_opt_in" : number == 8 ? "opted_in" : "opted_out"
                params["emails"] = [["address": address, "primary": true]]
                params["consent"] = [["channel": "email", "address": address, "status": status]]
            }
            _ = try await client.result("customer.create", params)
        }
        _ = try succeed([
            "segment", "define", "promo", "--name", "Promo", "--where", "tags has promo", "--at",
            "2025-05-01T00:00:00Z",
        ])

        // Lists: manual, changed, and a snapshot of the segment.
        var output = try succeed([
            "list", "create", "vip", "--name", "VIP", "--customer", "m1", "--customer", "m2", "--at",
            "2025-05-02T00:00:00Z",
        ])
        #expect(output.hasPrefix("list vip created with 2 customers (position "), "\(output)")
        output = try succeed(["list", "add", "vip", "m3", "m1", "--at", "2025-05-02T01:00:00Z"])
        #expect(output.hasPrefix("list vip members added (position ") && output.hasSuffix(", 1 event)\n"))
        output = try succeed(["list", "add", "vip", "m3", "--at", "2025-05-02T02:00:00Z"])
        #expect(output.hasPrefix("list vip: nothing changed (position "), "\(output)")
        output = try succeed(["list", "remove", "vip", "m2", "--at", "2025-05-02T03:00:00Z"])
        #expect(output.hasPrefix("list vip members removed (position "), "\(output)")
        output = try succeed(["list", "members", "vip", "--as-of", "2025-05-03"])
        #expect(output == "list vip as of 2025-05-03 00:00Z: 2 members\nm1\nm3\n")
        output = try succeed(["list", "members", "vip", "--as-of", "2025-05-02T01:30:00Z"])
        #expect(output == "list vip as of 2025-05-02 01:30Z: 3 members\nm1\nm2\nm3\n")
        output = try succeed([
            "list", "create", "snap", "--name", "Snapshot", "--from-segment", "promo", "--as-of", "2025-05-02",
            "--at", "2025-05-02T00:00:00Z",
        ])
        #expect(output.hasPrefix("list snap created from segment promo as of 2025-05-02T00:00:00Z (position "))
        output = try succeed(["list", "members", "snap", "--as-of", "2025-05-03", "--limit", "4"])
        #expect(
            output == """
                list snap as of 2025-05-03 00:00Z: 10 members
                m1
                m10
                m2
                m3
                more: --cursor m3 --as-of 2025-05-03T00:00:00.000Z (or --all)

                """
        )
        output = try succeed(["list", "members", "snap", "--as-of", "2025-05-03", "--limit", "4", "--all"])
        let everyone = ["m1", "m10"] + (2...9).map { "m\($0)" }
        #expect(output == "list snap as of 2025-05-03 00:00Z: 10 members\n" + everyone.joined(separator: "\n") + "\n")
        var json = try JSON.parse(
            Array(
                try succeed(["list", "members", "snap", "--as-of", "2025-05-03", "--limit", "3", "--all", "--json"])
                    .utf8
            )
        )
        #expect(json["count"] == 10 && json["members"]?.arrayValue?.count == 10 && json["next_cursor"] == .null)
        output = try succeed(["list", "get", "snap"])
        #expect(
            output == """
                list snap: Snapshot
                  kind:    snapshot of segment promo version 1 as of 2025-05-02 00:00Z
                  created: 2025-05-02 00:00Z

                """
        )
        json = try JSON.parse(Array(try succeed(["list", "get", "vip", "--json"]).utf8))
        #expect(json["kind"] == "manual" && json["source"] == .null)

        // K2 goes to the snapshot less the VIP list, at opt_in: M8 is in, M1 and M3 are excluded.
        output = try succeed([
            "campaign", "create", "k2", "--name", "Snapshot news", "--list", "snap", "--exclude-list", "vip",
            "--at", "2025-05-04T00:00:00Z",
        ])
        #expect(output.hasPrefix("campaign k2 created (position "), "\(output)")
        output = try succeed(["campaign", "send", "k2", "--at", "2025-05-05T09:00:00Z"])
        #expect(output.hasPrefix("campaign k2 sent (position ") && output.contains(", 2 events)\n"), "\(output)")
        #expect(
            afterFirstLine(output) == """
                sent to 6 of 10 (reach 60.00%) at 2025-05-05 09:00Z
                  OUTCOME                 CUSTOMERS
                  recipients              6
                  suppressed: excluded    2
                  suppressed: opted out   1
                  suppressed: no address  1

                """
        )

        // K1, the worked example: to the segment, confirmed addresses only, 50.00 EUR.
        output = try succeed([
            "campaign", "create", "k1", "--name", "May promo", "--segment", "promo", "--opt-in-level",
            "confirmed_opt_in", "--cost", "50.00", "--currency", "EUR", "--subject", "We miss you", "--at",
            "2025-05-04T00:00:00Z",
        ])
        #expect(output.hasPrefix("campaign k1 created (position "), "\(output)")
        output = try succeed(["campaign", "get", "k1"])
        #expect(output.hasSuffix("  cost:        50.00 EUR\n  sent:        not yet\n"), "\(output)")
        output = try succeed(["campaign", "send", "k1", "--at", "2025-05-05T10:00:00Z"])
        #expect(
            afterFirstLine(output) == """
                sent to 7 of 10 (reach 70.00%) at 2025-05-05 10:00Z
                  OUTCOME                   CUSTOMERS
                  recipients                7
                  suppressed: opted out     1
                  suppressed: not opted in  1
                  suppressed: no address    1

                """
        )
        let again = try run(["campaign", "send", "k1", "--at", "2025-05-05T10:30:00Z"])
        #expect(again.status == 1 && again.output.contains("[campaign_already_sent]"), "\(again.output)")

        // The interactions, in the order the sender reports them (--at only moves forward).
        for (customer, kind, id, at, extra) in [
            ("m1", "delivered", "i1", "2025-05-05T10:01:00Z", [] as [String]),
            ("m7", "bounced", "i2", "2025-05-05T10:02:00Z", ["--bounce", "hard"]),
            ("m1", "opened", "i3", "2025-05-05T10:30:00Z", []),
            ("m1", "clicked", "i4", "2025-05-05T11:00:00Z", ["--link", "https://shop.example/may"]),
            ("m2", "opened", "i5", "2025-05-05T12:00:00Z", []), ("m5", "delivered", "i6", "2025-05-05T12:30:00Z", []),
            ("m6", "delivered", "i7", "2025-05-05T12:31:00Z", []), ("m3", "opened", "i8", "2025-05-06T09:00:00Z", []),
            ("m3", "clicked", "i9", "2025-05-06T09:05:00Z", []), ("m4", "opened", "i10", "2025-05-06T10:00:00Z", []),
            ("m4", "unsubscribed", "i11", "2025-05-06T10:01:00Z", []),
        ] {
            output = try succeed(
                ["campaign", "record", "k1", customer, kind, "--interaction-id", id, "--at", at] + extra
            )
            switch kind {
            case "bounced":
                #expect(output.hasPrefix("campaign k1: recorded bounced (hard) by m7 (position "), "\(output)")
                #expect(
                    output.hasSuffix(", 2 events)\n  m7's address is flagged invalid: later sends leave it out\n"),
                    "\(output)"
                )
            case "unsubscribed":
                #expect(output.hasSuffix(", 2 events)\n  m4's address is opted out of email now\n"), "\(output)")
            default:
                #expect(output.hasPrefix("campaign k1: recorded \(kind) by \(customer) (position "), "\(output)")
                #expect(output.hasSuffix(", 1 event)\n"), "\(output)")
            }
        }
        // A webhook retried: nothing is written.
        output = try succeed([
            "campaign", "record", "k1", "m3", "clicked", "--interaction-id", "i9", "--occurred-at",
            "2025-05-06T09:05:00Z", "--at", "2025-05-06T11:00:00Z",
        ])
        #expect(output.hasPrefix("campaign k1: nothing changed (position "), "\(output)")
        #expect(output.hasSuffix("no event): interaction i9 is recorded already\n"), "\(output)")
        // M9 opted out and got nothing.
        let stranger = try run([
            "campaign", "record", "k1", "m9", "opened", "--interaction-id", "i12", "--at", "2025-05-06T11:00:00Z",
        ])
        #expect(stranger.status == 1, "\(stranger.output)")
        #expect(stranger.output.hasPrefix("crmctl: customer m9 did not receive campaign k1 [not_a_recipient]"))
        #expect(stranger.output.contains("\n  customer_id: m9\n"), "\(stranger.output)")

        for (order, customer, amount, at) in [
            ("o1", "m1", "120.00", "2025-05-07T12:00:00Z"), ("o2", "m2", "80.00", "2025-05-08T12:00:00Z"),
            ("o3", "m3", "60.00", "2025-05-13T12:00:00Z"), ("o4", "m6", "50.00", "2025-05-07T12:00:00Z"),
        ] {
            _ = try await client.result(
                "order.record",
                [
                    "order_id": .string(order), "customer_id": .string(customer), "amount": .string(amount),
                    "currency": "EUR", "at": .string(at),
                ]
            )
        }

        output = try succeed(["campaign", "report", "k1", "--as-of", "2025-06-01"])
        #expect(
            output == """
                campaign k1: May promo as of 2025-06-01 00:00Z
                  sent to 7 of 10 (reach 70.00%) at 2025-05-05 10:00Z, segment promo version 1
                  orders credited by click within 5 days

                  sent       ████████████████████████  7  100.0%  reach 70.00% of 10
                  delivered  █████████████████████     6   85.7%  delivered 85.71% of sent
                  opened     ██████████████            4   57.1%  open rate 66.67% of delivered
                  clicked    ███████                   2   28.6%  click rate 33.33% of delivered
                  converted  ███                       1   14.3%  conversion rate 16.67% of delivered

                  bounced:           1 (1 hard, 0 soft)
                  unsubscribes:      1 (16.67% of delivered)
                  click-to-open:     50.00%
                  complaints:        0
                  responders:        2 (response rate 28.57% of sent)
                  attributed orders: 1
                  revenue:           120.00 EUR
                  per recipient:     17.14 EUR
                  cost:              50.00 EUR
                  ROI:               140.00%

                """
        )
        // What if opens counted too: M2's order is credited.
        output = try succeed(["campaign", "report", "k1", "--as-of", "2025-06-01", "--touch", "open_or_click"])
        #expect(output.contains("\n  orders credited by open_or_click within 5 days (what-if)\n"), "\(output)")
        #expect(output.contains("\n  converted  ██████"), "\(output)")
        #expect(output.contains("   2   28.6%  conversion rate 33.33% of delivered\n"), "\(output)")
        #expect(output.contains("\n  revenue:           200.00 EUR\n"), "\(output)")
        #expect(output.hasSuffix("  ROI:               300.00%\n"), "\(output)")
        // Before the send, and before the click.
        output = try succeed(["campaign", "report", "k1", "--as-of", "2025-05-05"])
        #expect(output == "campaign k1: May promo as of 2025-05-05 00:00Z\n  not sent by then\n")
        output = try succeed(["campaign", "report", "k1", "--as-of", "2025-05-05T10:45:00Z"])
        #expect(output.contains("\n  opened     ███"), "\(output)")
        #expect(output.contains("  1   14.3%  open rate 16.67% of delivered\n"), "\(output)")
        #expect(output.contains("  0    0.0%  click rate 0.00% of delivered\n"), "\(output)")

        // A cost on top of the campaign's own: 60.00 EUR, ROI 100.00 %; another currency is refused.
        output = try succeed(["campaign", "cost", "k1", "10.00", "EUR", "--at", "2025-05-20T00:00:00Z"])
        #expect(output.hasPrefix("campaign k1 cost 10.00 EUR added (position "), "\(output)")
        let dollars = try run(["campaign", "cost", "k1", "10.00", "USD", "--at", "2025-05-20T00:00:00Z"])
        #expect(dollars.status == 1 && dollars.output.contains("[currency_mismatch]"), "\(dollars.output)")
        json = try JSON.parse(Array(try succeed(["campaign", "report", "k1", "--as-of", "2025-06-01", "--json"]).utf8))
        #expect(json["cost"] == ["amount": "60.00", "currency": "EUR"] && json["attributed"]?["roi"] == "100.00")
        #expect(json["metrics"]?["open_rate"] == "66.67" && json["metrics"]?["bounced"] == ["hard": 1, "soft": 0])
        #expect(json["attributed"]?["revenue"] == ["EUR": "120.00"] && json["subject"] == "We miss you")

        output = try succeed(["campaign", "get", "k1"])
        #expect(
            output == """
                campaign k1: May promo
                  audience:    segment promo
                  channel:     email, opt-in level confirmed_opt_in
                  subject:     We miss you
                  attribution: click within 5 days
                  cost:        50.00 EUR
                  sent:        2025-05-05 10:00Z to 7 of 10 (reach 70.00%), segment version 1
                  suppressed:  opted out 1, not opted in 1, no address 1

                """
        )
        json = try JSON.parse(Array(try succeed(["campaign", "get", "k2", "--json"]).utf8))
        #expect(json["audience"] == ["kind": "list", "id": "snap"] && json["sent"]?["recipient_count"] == 6)
        let unknown = try run(["campaign", "report", "nope"])
        #expect(unknown.status == 1 && unknown.output.contains("[unknown_campaign]"), "\(unknown.output)")

        // M7's hard bounce and M4's unsubscribe keep them out of a later send.
        _ = try succeed([
            "campaign", "create", "k3", "--name", "June", "--list", "snap", "--opt-in-level", "confirmed_opt_in",
            "--at", "2025-06-01T00:00:00Z",
        ])
        json = try JSON.parse(
            Array(try succeed(["campaign", "send", "k3", "--at", "2025-06-02T00:00:00Z", "--json"]).utf8)
        )
        #expect(json["campaign_id"] == "k3" && json["events"]?.arrayValue?.count == 2, "\(json)")
        output = try succeed(["campaign", "get", "k3"])
        #expect(output.contains("  sent:        2025-06-02 00:00Z to 5 of 10 (reach 50.00%)\n"), "\(output)")
        #expect(
            output.hasSuffix("  suppressed:  opted out 2, not opted in 1, invalid address 1, no address 1\n"),
            "\(output)"
        )

        // Refused before sending: exit 64, a message naming what to give, and nothing written.
        let head = try await client.result("system.stats")["head"]?["position"]
        for (arguments, message) in [
            (
                ["list", "create", "x", "--name", "X", "--customer", "m1", "--from-segment", "promo"],
                "give --customer (a manual list) or --from-segment (a snapshot list), not both"
            ),
            (["campaign", "create", "x", "--name", "X", "--segment", "promo", "--list", "vip"], "not both"),
            (["campaign", "create", "x", "--name", "X"], "give the audience: --segment SEGMENT or --list LIST"),
            (["campaign", "create", "x", "--name", "X", "--list", "vip", "--cost", "5"], "--cost needs --currency"),
            (
                ["campaign", "record", "k1", "m1", "opened", "--interaction-id", "z", "--bounce", "soft"],
                "--bounce goes with the kind bounced, not opened"
            ),
        ] {
            let refused = try run(arguments + ["--at", "2025-06-03T00:00:00Z"])
            #expect(refused.status == 64 && refused.output.contains(message), "\(refused.output)")
        }
        #expect(try await client.result("system.stats")["head"]?["position"] == head)
        #expect(head != nil)
    }
}
