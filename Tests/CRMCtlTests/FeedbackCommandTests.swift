import ArgumentParser
import CRMJSON
import CRMTesting
import Foundation
import Testing

@testable import CRMCtl

/// `crmctl survey …`, `feedback report`, `complaint …`, `ticket assign` and `ticket set-type`: flags →
/// params, the checks made before anything is sent, the reports drawn as bars and tables, and a run
/// against a real crmd.
@Suite struct FeedbackCommandTests {
    // MARK: - Flags → params

    @Test func ticketCommandsMapTheirFlags() throws {
        var (method, params) = try request(["ticket", "assign", "t1", "agent-7", "--at", "2025-03-02T09:00:00Z"])
        #expect(method == "ticket.assign")
        #expect(params == ["ticket_id": "t1", "assignee_id": "agent-7", "at": "2025-03-02T09:00:00Z"])
        (method, params) = try request(["ticket", "assign", "t1", "--unassign"])
        #expect(params == ["ticket_id": "t1", "assignee_id": nil])
        (method, params) = try request(["ticket", "set-type", "t1", "complaint", "--category", "delivery"])
        #expect(method == "ticket.set_type")
        #expect(params == ["ticket_id": "t1", "type": "complaint", "category": "delivery"])
        (method, params) = try request(["ticket", "set-type", "t1", "question"])
        #expect(params == ["ticket_id": "t1", "type": "question"])
        (method, params) = try request([
            "ticket", "open", "--customer", "c1", "--subject", "Late", "--channel", "email", "--type", "complaint",
            "--category", "delivery",
        ])
        #expect(method == "ticket.open")
        #expect(
            params
                == [
                    "customer_id": "c1", "subject": "Late", "channel": "email", "type": "complaint",
                    "category": "delivery",
                ]
        )
    }

    @Test func surveyCommandsMapTheirFlags() throws {
        var (method, params) = try request([
            "survey", "define", "post", "--kind", "csat", "--name", "After a ticket", "--question", "How did we do?",
            "--offer-on-solve", "--window-days", "14", "--channel", "email", "--channel", "chat",
        ])
        #expect(method == "survey.define")
        #expect(
            params
                == [
                    "survey_id": "post", "kind": "csat", "name": "After a ticket", "question": "How did we do?",
                    "auto_offer_on": ["ticket_solved"], "response_window_days": 14, "channels": ["email", "chat"],
                ]
        )
        (method, params) = try request(["survey", "define", "rel", "--kind", "nps"])
        #expect(params == ["survey_id": "rel", "kind": "nps"])
        (method, params) = try request(["survey", "offer", "post", "--ticket", "t1", "--request-id", "r1"])
        #expect(method == "survey.offer")
        #expect(params == ["survey_id": "post", "ticket_id": "t1", "request_id": "r1"])
        (method, params) = try request(["survey", "offer", "rel", "--customer", "c1", "--channel", "email"])
        #expect(params == ["survey_id": "rel", "customer_id": "c1", "channel": "email"])
        (method, params) = try request([
            "survey", "respond", "--request", "r1", "5", "--comment", "Quick", "--reason-code", "fast_reply",
        ])
        #expect(method == "survey.respond")
        #expect(params == ["request_id": "r1", "score": 5, "comment": "Quick", "reason_code": "fast_reply"])
        (method, params) = try request([
            "survey", "respond", "--survey", "rel", "--customer", "c1", "--ticket", "t1", "0",
        ])
        #expect(params == ["survey_id": "rel", "customer_id": "c1", "ticket_id": "t1", "score": 0])
    }

    @Test func complaintCommandsMapTheirFlags() throws {
        var (method, params) = try request([
            "complaint", "resolve", "t1", "upheld", "--remedy", "refund", "--amount", "10.00", "--currency", "EUR",
            "--order-id", "o-1",
        ])
        #expect(method == "complaint.resolve")
        #expect(
            params
                == [
                    "ticket_id": "t1", "outcome": "upheld",
                    "remedy": ["kind": "refund", "amount": "10.00", "currency": "EUR", "order_id": "o-1"],
                ]
        )
        (method, params) = try request(["complaint", "resolve", "t1", "rejected"])
        #expect(params == ["ticket_id": "t1", "outcome": "rejected"])
        (method, params) = try request([
            "complaint", "report", "--from", "2025-03-01", "--to", "2025-04-01T12:00:00+02:00", "--group-by",
            "category", "--group-by", "agent",
        ])
        #expect(method == "complaint.report")
        #expect(
            params
                == [
                    "from": "2025-03-01T00:00:00Z", "to": "2025-04-01T12:00:00+02:00",
                    "group_by": ["category", "agent"],
                ]
        )
    }

    /// A date alone is midnight UTC at the start of that day, for --to too (the period excludes it).
    @Test func feedbackReportTakesDatesOrTimes() throws {
        var (method, params) = try request([
            "feedback", "report", "--kind", "csat", "--from", "2025-03-01", "--to", "2025-04-01",
        ])
        #expect(method == "feedback.report")
        #expect(params == ["kind": "csat", "from": "2025-03-01T00:00:00Z", "to": "2025-04-01T00:00:00Z"])
        (method, params) = try request([
            "feedback", "report", "--kind", "nps", "--from", "2025-01-01T00:00:00Z", "--to", "2025-07-01",
            "--group-by", "month",
        ])
        #expect(
            params
                == ["kind": "nps", "from": "2025-01-01T00:00:00Z", "to": "2025-07-01T00:00:00Z", "group_by": ["month"]]
        )
        for bad in ["March", "2025-3-1", "2025-03-01 10:00"] {
            #expect {
                try CRMCtl.parseAsRoot(["feedback", "report", "--kind", "csat", "--from", bad, "--to", "2025-04-01"])
            } throws: { error in
                CRMCtl.exitCode(for: error) == .validationFailure
                    && CRMCtl.message(for: error).contains("'--from <date|time>'")
                    && CRMCtl.message(for: error).contains("YYYY-MM-DD")
            }
        }
    }

    /// Flags that do not go together are refused before anything is sent, with a message that says
    /// what to give.
    @Test(arguments: [
        (["ticket", "assign", "t1"], "give the agent to assign the ticket to, or --unassign"),
        (["ticket", "assign", "t1", "a1", "--unassign"], "give either an agent or --unassign, not both"),
        (["survey", "offer", "post"], "give --ticket or --customer"),
        (["survey", "offer", "post", "--ticket", "t1", "--customer", "c1"], "not both"),
        (["survey", "respond", "5"], "give --request, or --survey and --customer"),
        (["survey", "respond", "--survey", "post", "5"], "give --request, or --survey and --customer"),
        (
            ["complaint", "resolve", "t1", "upheld", "--amount", "10.00", "--currency", "EUR"],
            "--amount, --currency describe a remedy: give --remedy too"
        ),
        (["complaint", "resolve", "t1", "upheld", "--order-id", "o-1"], "--order-id describes a remedy"),
        (["complaint", "resolve", "t1", "upheld", "--remedy", "refund", "--amount", "5"], "--amount needs --currency"),
        (["survey", "define", "s", "--kind", "csat", "--window-days", "366"], "between 1 and 365"),
    ])
    func incompatibleFlagsAreRefused(arguments: [String], message: String) {
        #expect {
            try CRMCtl.parseAsRoot(arguments)
        } throws: { error in
            CRMCtl.exitCode(for: error) == .validationFailure && CRMCtl.message(for: error).contains(message)
        }
    }

    // MARK: - Drawing

    @Test func theCSATReportIsAHeadlineBarsAndGroups() {
        let report: JSON = [
            "kind": "csat", "from": "2025-03-01T00:00:00.000Z", "to": "2025-04-01T00:00:00.000Z", "responses": 12,
            "distribution": ["1": 1, "2": 1, "3": 2, "4": 4, "5": 4], "avg_score": "3.75", "requests_offered": 20,
            "requests_answered": 12, "response_rate": "60.00", "csat_pct": "66.67", "satisfied": 8, "neutral": 2,
            "dissatisfied": 2, "good_bad": ["good": 8, "bad": 4, "good_pct": "66.67"],
            "group_by": ["agent"],
            "groups": [
                ["group": ["agent": "A"], "responses": 5, "csat_pct": "60.00", "response_rate": "62.50"],
                ["group": ["agent": "B"], "responses": 7, "csat_pct": "71.43", "response_rate": "58.33"],
            ],
        ]
        let lines = FeedbackOutput.feedbackReport(report).split(separator: "\n", omittingEmptySubsequences: false)
            .map(String.init)
        let bar = String(repeating: "█", count: 30)
        #expect(
            lines == [
                "CSAT report 2025-03-01 00:00Z – 2025-04-01 00:00Z",
                "  responses:     12 (average score 3.75)",
                "  CSAT:          66.67% (8 satisfied, 2 neutral, 2 dissatisfied)",
                "  response rate: 60.00% (12 answered of 20 offered)",
                "",
                "  5  \(bar)  4   33.3%",
                "  4  \(bar)  4   33.3%",
                "  3  \(String(repeating: "█", count: 15))                 2   16.7%",
                "  2  \(String(repeating: "█", count: 8))                        1    8.3%",
                "  1  \(String(repeating: "█", count: 8))                        1    8.3%",
                "",
                "  AGENT  RESPONSES  CSAT    RESPONSE RATE",
                "  A      5          60.00%  62.50%",
                "  B      7          71.43%  58.33%",
            ]
        )
    }

    /// NPS runs from 10 down to 0; an empty period says so instead of drawing empty bars.
    @Test func theNPSAndCESReports() {
        var distribution: [String: JSON] = [:]
        for score in 0...10 { distribution[String(score)] = score == 10 ? 3 : score == 0 ? 1 : 0 }
        let nps: JSON = [
            "kind": "nps", "from": "2025-01-01T00:00:00.000Z", "to": "2025-02-01T00:00:00.000Z", "responses": 4,
            "distribution": .object(distribution), "avg_score": "7.50", "requests_offered": 4, "requests_answered": 4,
            "response_rate": "100.00", "nps": ["promoters": 3, "passives": 0, "detractors": 1, "score": "50.00"],
        ]
        let lines = FeedbackOutput.feedbackReport(nps).split(separator: "\n").map(String.init)
        #expect(lines[2] == "  NPS:           50.00 (3 promoters, 0 passives, 1 detractor)")
        #expect(lines[4].hasPrefix("  10  ███") && lines[4].hasSuffix("3   75.0%"))
        #expect(lines[5].hasPrefix("   9    ") && lines[5].hasSuffix("0    0.0%"))
        #expect(lines.last?.hasPrefix("   0  ██████████  ") == true)
        #expect(lines.last?.hasSuffix("1   25.0%") == true)
        let ces: JSON = [
            "kind": "ces", "from": "2025-01-01T00:00:00.000Z", "to": "2025-02-01T00:00:00.000Z", "responses": 0,
            "distribution": ["1": 0, "7": 0], "avg_score": nil, "requests_offered": 0, "requests_answered": 0,
            "response_rate": nil, "ces": ["avg": nil, "easy_pct": nil],
        ]
        #expect(
            FeedbackOutput.feedbackReport(ces) == """
                CES report 2025-01-01 00:00Z – 2025-02-01 00:00Z
                  responses:     0 (average score -)
                  CES:           - (- easy, 5–7)
                  response rate: - (0 answered of 0 offered)

                  no responses in the period
                """
        )
    }

    @Test func theComplaintReportIsFiguresBarsAndGroups() {
        let group: JSON = [
            "complaints": 2, "by_category": ["billing": 2], "resolved": 2, "median_hours_to_resolution": "40.00",
            "mean_hours_to_resolution": "40.00", "outcomes": ["upheld": 0, "partially_upheld": 1, "rejected": 1],
            "upheld_rate": "50.00", "reopened": 0, "first_reply_achievement": ["met": 0, "missed": 0, "pct": nil],
            "csat": ["responses": 1, "csat_pct": "100.00"], "group": ["category": "billing"],
        ]
        let report: JSON = [
            "from": "2025-03-01T00:00:00.000Z", "to": "2025-04-01T00:00:00.000Z", "complaints": 5,
            "by_category": ["delivery": 2, "billing": 2, "product": 1], "resolved": 4,
            "median_hours_to_resolution": "25.00", "mean_hours_to_resolution": "26.50",
            "outcomes": ["upheld": 2, "partially_upheld": 1, "rejected": 1], "upheld_rate": "75.00", "reopened": 1,
            "first_reply_achievement": ["met": 3, "missed": 1, "pct": "75.00"],
            "csat": ["responses": 3, "csat_pct": "66.67"], "counted_orders": 250, "per_1000_orders": "20.00",
            "complainants_by_status": ["new": 4, "active": 1], "group_by": ["category"], "groups": [group],
        ]
        let lines = FeedbackOutput.complaintReport(report).split(separator: "\n", omittingEmptySubsequences: false)
            .map(String.init)
        let bar = String(repeating: "█", count: 30)
        #expect(
            lines == [
                "complaint report 2025-03-01 00:00Z – 2025-04-01 00:00Z",
                "  complaints:         5",
                "  per 1000 orders:    20.00 (250 counted orders)",
                "  resolved:           4 (hours to resolution: median 25.00, mean 26.50)",
                "  outcomes:           2 upheld, 1 partially upheld, 1 rejected",
                "  upheld rate:        75.00%",
                "  reopened:           1",
                "  first reply in SLA: 75.00% (3 met, 1 missed)",
                "  CSAT:               66.67% (3 responses)",
                "  complainants:       active 1, new 4",
                "",
                "  billing   \(bar)  2   40.0%",
                "  delivery  \(bar)  2   40.0%",
                "  product   \(String(repeating: "█", count: 15))                 1   20.0%",
                "",
                "  CATEGORY  COMPLAINTS  RESOLVED  MEDIAN HOURS  UPHELD RATE  REOPENED  CSAT",
                "  billing   2           2         40.00         50.00%       0         100.00%",
            ]
        )
        let bare = FeedbackOutput.complaintReport([
            "from": "2025-03-01T00:00:00.000Z", "to": "2025-04-01T00:00:00.000Z", "complaints": 0,
            "by_category": [:], "counted_orders": nil, "per_1000_orders": nil, "complainants_by_status": nil,
        ])
        #expect(bare.contains("  per 1000 orders:    -\n") && bare.hasSuffix("  complainants:       -"))
    }

    // MARK: - Against crmd

    /// The commands through a real crmd: a survey, two tickets (one opened as a complaint), assignment,
    /// retyping, offers, responses, a resolution and both reports, as text and as JSON; refused flags
    /// exit 64 and write nothing.
    @Test func theCommandsAgainstARealDaemon() async throws {
        let directory = TemporaryDirectory()
        let daemon = try DaemonProcess(
            socketPath: directory.appending("crmd.sock"),
            dataDirectory: directory.appending("data")
        )
        defer { daemon.stop() }
        let client = try RPCClient(socketPath: daemon.socketPath)
        for id in ["c1", "c2"] {
            _ = try await client.result(
                "customer.create", ["customer_id": .string(id), "first_name": "K", "at": "2025-02-01T00:00:00Z"]
            )
        }
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

        var output = try succeed([
            "survey", "define", "post", "--kind", "csat", "--name", "After a ticket", "--at", "2025-02-01T00:00:00Z",
        ])
        #expect(output.hasPrefix("survey post defined (position ") && output.hasSuffix(" 1 event) version 1\n"))
        output = try succeed([
            "ticket", "open", "--ticket-id", "t1", "--customer", "c1", "--subject", "Parcel late", "--channel", "email",
            "--type", "complaint", "--category", "delivery", "--at", "2025-03-02T09:00:00Z",
        ])
        #expect(output.hasPrefix("ticket t1 opened (position "))
        _ = try succeed([
            "ticket", "open", "--ticket-id", "t2", "--customer", "c2", "--subject", "Invoice", "--channel", "chat",
            "--at", "2025-03-02T09:00:00Z",
        ])
        output = try succeed(["ticket", "assign", "t1", "a1", "--at", "2025-03-02T09:05:00Z"])
        #expect(output.hasPrefix("ticket t1 assigned to a1 (position ") && output.hasSuffix(", 1 event)\n"))
        _ = try succeed(["ticket", "assign", "t2", "a1", "--at", "2025-03-02T09:05:00Z"])
        output = try succeed(["ticket", "assign", "t2", "--unassign", "--at", "2025-03-02T09:06:00Z"])
        #expect(output.hasPrefix("ticket t2 unassigned (position "))
        _ = try succeed(["ticket", "assign", "t2", "a2", "--at", "2025-03-02T09:07:00Z"])
        output = try succeed(["ticket", "assign", "t2", "a2", "--at", "2025-03-02T09:08:00Z"])
        #expect(output.hasPrefix("ticket t2: nothing changed (position ") && output.hasSuffix("no event)\n"))
        output = try succeed([
            "ticket", "set-type", "t2", "question", "--category", "billing", "--at", "2025-03-02T09:10:00Z",
        ])
        #expect(output.hasPrefix("ticket t2 set to type question, category billing (position "))
        output = try succeed([
            "survey", "offer", "post", "--ticket", "t1", "--request-id", "r1", "--at", "2025-03-10T09:00:00Z",
        ])
        #expect(output.hasPrefix("survey request r1 offered (position "))
        _ = try succeed([
            "survey", "offer", "post", "--ticket", "t2", "--request-id", "r2", "--at", "2025-03-10T09:00:00Z",
        ])
        output = try succeed([
            "survey", "respond", "--request", "r1", "5", "--comment", "Quick", "--at", "2025-03-11T09:00:00Z",
        ])
        #expect(output.hasPrefix("survey request r1 answered (position "))
        output = try succeed([
            "survey", "respond", "--survey", "post", "--customer", "c2", "--ticket", "t2", "2", "--reason-code",
            "slow_reply", "--at", "2025-03-11T09:00:00Z",
        ])
        #expect(output.hasPrefix("survey request r2 answered (position "))
        output = try succeed([
            "complaint", "resolve", "t1", "upheld", "--remedy", "refund", "--amount", "10.00", "--currency", "EUR",
            "--at", "2025-03-12T09:00:00Z",
        ])
        #expect(output.hasPrefix("complaint t1 resolved as upheld (position "))

        // crmd's own refusal: exit 1 with its reason.
        let score = try run(["survey", "respond", "--request", "r1", "9", "--at", "2025-03-12T10:00:00Z"])
        #expect(score.status == 1 && score.output.contains("[invalid_score] (field score)"), "\(score.output)")

        let period = ["--from", "2025-03-01", "--to", "2025-04-01"]
        output = try succeed(["feedback", "report", "--kind", "csat", "--group-by", "agent"] + period)
        var lines = output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines[0] == "CSAT report 2025-03-01 00:00Z – 2025-04-01 00:00Z", "\(output)")
        #expect(lines.contains("  CSAT:          50.00% (1 satisfied, 0 neutral, 1 dissatisfied)"), "\(output)")
        #expect(lines.contains("  response rate: 100.00% (2 answered of 2 offered)"), "\(output)")
        #expect(lines.contains("  5  \(String(repeating: "█", count: 30))  1   50.0%"), "\(output)")
        #expect(lines.contains("  4  \(String(repeating: " ", count: 30))  0    0.0%"), "\(output)")
        #expect(lines.contains("  a1     1          100.00%  100.00%"), "\(output)")
        #expect(lines.contains("  a2     1          0.00%    100.00%"), "\(output)")

        let json = try JSON.parse(
            Array(try succeed(["feedback", "report", "--kind", "csat", "--json"] + period).utf8)
        )
        #expect(json["csat_pct"] == "50.00" && json["distribution"] == ["1": 0, "2": 1, "3": 0, "4": 0, "5": 1])
        #expect(json["from"] == "2025-03-01T00:00:00.000Z" && json["to"] == "2025-04-01T00:00:00.000Z")
        // --to is exclusive: a period ending on the day of the responses leaves them out.
        output = try succeed(["feedback", "report", "--kind", "csat", "--from", "2025-03-01", "--to", "2025-03-11"])
        #expect(output.contains("  responses:     0 (average score -)\n"), "\(output)")

        output = try succeed(["complaint", "report", "--group-by", "category"] + period)
        lines = output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines[0] == "complaint report 2025-03-01 00:00Z – 2025-04-01 00:00Z", "\(output)")
        #expect(lines.contains("  complaints:         1"), "\(output)")
        #expect(lines.contains("  outcomes:           1 upheld, 0 partially upheld, 0 rejected"), "\(output)")
        #expect(lines.contains("  delivery  \(String(repeating: "█", count: 30))  1  100.0%"), "\(output)")
        #expect(lines.contains { $0.hasPrefix("  delivery  1           0         -             100.00%") }, "\(output)")
        let complaints = try JSON.parse(Array(try succeed(["complaint", "report", "--json"] + period).utf8))
        #expect(complaints["complaints"] == 1 && complaints["by_category"] == ["delivery": 1])
        #expect(complaints["outcomes"] == ["upheld": 1, "partially_upheld": 0, "rejected": 0])

        // Refused before sending: exit 64, a message naming what to give, and nothing written.
        let head = try await client.result("system.stats")["head"]?["position"]
        for (arguments, message) in [
            (["ticket", "assign", "t1"], "give the agent to assign the ticket to, or --unassign"),
            (
                ["complaint", "resolve", "t1", "rejected", "--amount", "5.00", "--currency", "EUR"],
                "--amount, --currency describe a remedy: give --remedy too"
            ),
        ] {
            let refused = try run(arguments + ["--at", "2025-03-20T09:00:00Z"])
            #expect(refused.status == 64 && refused.output.contains(message), "\(refused.output)")
        }
        #expect(try await client.result("system.stats")["head"]?["position"] == head)
        #expect(head != nil)
    }
}
