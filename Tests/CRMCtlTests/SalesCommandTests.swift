import ArgumentParser
import CRMJSON
import Testing

@testable import CRMCtl

/// `crmctl pipeline|deal|funnel …`: flags → params, and the readable funnel drawing.
@Suite struct SalesCommandTests {
    @Test func pipelineDefineParsesStages() throws {
        let (method, params) = try request([
            "pipeline", "define", "--pipeline-id", "p", "--name", "P", "--stage", "a:10", "--stage",
            "w:100:won:Closed Won", "--stage", "l:0:lost", "--require-lost-reason", "--at", "2025-01-01T00:00:00Z",
        ])
        #expect(method == "pipeline.define")
        let expected: JSON = [
            "pipeline_id": "p", "name": "P", "require_lost_reason": true, "at": "2025-01-01T00:00:00Z",
            "stages": [
                ["id": "a", "probability": 10], ["id": "w", "probability": 100, "kind": "won", "name": "Closed Won"],
                ["id": "l", "probability": 0, "kind": "lost"],
            ],
        ]
        #expect(params == expected)
        #expect(throws: (any Error).self) { try request(["pipeline", "define", "--pipeline-id", "p", "--name", "P"]) }
        #expect(throws: (any Error).self) {
            try request(["pipeline", "define", "--pipeline-id", "p", "--name", "P", "--stage", "nope"])
        }
    }

    @Test func dealCommandsMapFlags() throws {
        let (create, createParams) = try request([
            "deal", "create", "--name", "Acme", "--customer", "c1", "--customer", "c2", "--amount", "12.50",
            "--currency", "EUR", "--close-date", "2025-06-30", "--owner", "u1", "--stage", "proposal",
            "--deal-id", "d1", "--probability", "40",
        ])
        #expect(create == "deal.create")
        #expect(
            createParams
                == [
                    "pipeline_id": "sales", "deal_id": "d1", "name": "Acme", "customer_ids": ["c1", "c2"],
                    "amount": "12.50", "currency": "EUR", "close_date": "2025-06-30", "owner_id": "u1",
                    "stage_id": "proposal", "probability": 40,
                ]
        )
        let (move, moveParams) = try request(["deal", "move", "d1", "lost", "--lost-reason", "price"])
        #expect(move == "deal.move")
        #expect(moveParams == ["deal_id": "d1", "stage_id": "lost", "lost_reason": "price"])
        let (update, updateParams) = try request(["deal", "update", "d1", "--amount", "9", "--clear", "close_date"])
        #expect(update == "deal.update")
        #expect(updateParams == ["deal_id": "d1", "amount": "9", "close_date": nil])
        let (list, listParams) = try request(["deal", "list", "--pipeline", "sales", "--owner", "u1", "--limit", "5"])
        #expect(list == "deal.list")
        #expect(listParams == ["pipeline_id": "sales", "owner_id": "u1", "limit": 5])
        #expect(throws: (any Error).self) { try request(["deal", "create", "--name", "A"]) }
        #expect(throws: (any Error).self) { try request(["deal", "update", "d1"]) }
    }

    @Test func funnelReportParams() throws {
        let (method, params) = try request([
            "funnel", "report", "lifecycle", "--from", "2025-01-01T00:00:00Z", "--mode", "strict", "--group-by",
            "owner", "--stale-after-days", "14",
        ])
        #expect(method == "funnel.report")
        #expect(
            params
                == [
                    "pipeline_id": "lifecycle", "from": "2025-01-01T00:00:00Z", "mode": "strict", "group_by": "owner",
                    "stale_after_days": 14,
                ]
        )
        #expect(try request(["funnel", "snapshot"]).params == ["pipeline_id": "sales"])
        let (_, asOf) = try request(["funnel", "report", "sales", "--to", "2025-04-01T00:00:00Z", "--as-of", "120"])
        #expect(asOf == ["pipeline_id": "sales", "to": "2025-04-01T00:00:00Z", "as_of": 120])
    }

    /// The funnel worked example as a report result.
    static let report: JSON = {
        func stage(_ id: String, _ name: String, _ count: Int, _ next: JSON, _ cumulative: Double) -> JSON {
            [
                "stage_id": .string(id), "name": .string(name), "count": .int(count), "next_step_conversion": next,
                "cumulative_conversion": .double(cumulative),
            ]
        }
        return [
            "pipeline_id": "sales", "mode": "implied", "cohort": "created", "from": "2025-01-01T00:00:00.000Z",
            "to": "2025-02-01T00:00:00.000Z", "cohort_size": 4,
            "stages": [
                stage("prospecting", "Prospecting", 4, 100.0, 100),
                stage("qualification", "Qualification", 4, 75.0, 100),
                stage("proposal", "Proposal", 3, 66.7, 75), stage("negotiation", "Negotiation", 2, 100.0, 50),
                stage("won", "Closed Won", 2, nil, 50),
            ],
            "won": 2, "lost": 2, "open": 0, "lost_by_stage": ["proposal": 1, "qualification": 1],
            "win_rate": ["won": 2, "lost": 2, "rate": 50.0], "cycle_length": ["avg_days": 13.5],
            "velocity": ["open_count": 0, "per_day": ["EUR": 0.0]],
        ]
    }()

    @Test func reportDrawsBarsWithCountsAndConversions() {
        let lines = SalesOutput.report(SalesCommandTests.report).split(separator: "\n").map(String.init)
        #expect(
            lines[0] == "funnel sales (implied, cohort created, 2025-01-01T00:00:00.000Z → 2025-02-01T00:00:00.000Z)"
        )
        #expect(lines[1] == "4 in cohort")
        let full = String(repeating: "█", count: 40)
        let threeQuarters = String(repeating: "█", count: 30) + String(repeating: " ", count: 10)
        let half = String(repeating: "█", count: 20) + String(repeating: " ", count: 20)
        #expect(lines[2] == "Prospecting    \(full)  4  100.0%  → 100.0%")
        #expect(lines[3] == "Qualification  \(full)  4  100.0%  →  75.0%")
        #expect(lines[4] == "Proposal       \(threeQuarters)  3   75.0%  →  66.7%")
        #expect(lines[5] == "Negotiation    \(half)  2   50.0%  → 100.0%")
        #expect(lines[6] == "Closed Won     \(half)  2   50.0%")
        #expect(lines[7] == "won 2 · lost 2 (proposal 1, qualification 1) · open 0")
        #expect(lines[8].hasPrefix("win rate 50.0% · cycle 13.5 days · velocity EUR "))
    }

    @Test func reportAsOfNamesThePositionInItsTitle() {
        var report = SalesCommandTests.report
        report["as_of"] = ["position": 42]
        let title = SalesOutput.report(report).split(separator: "\n").first.map(String.init)
        #expect(
            title
                == "funnel sales (implied, cohort created, 2025-01-01T00:00:00.000Z → 2025-02-01T00:00:00.000Z)"
                + " as of log position 42"
        )
    }

    @Test func snapshotAndDealRendering() {
        let snapshot: JSON = [
            "pipeline_id": "sales", "open_count": 1, "open_amount": ["EUR": "10"], "weighted_amount": ["EUR": "5"],
            "stages": [
                [
                    "stage_id": "proposal", "name": "Proposal", "kind": "open", "open_count": 1,
                    "open_amount": ["EUR": "10"], "weighted_amount": ["EUR": "5"],
                ],
                ["stage_id": "won", "name": "Closed Won", "kind": "won", "closed_count": 0, "closed_amount": [:]],
            ],
        ]
        let text = SalesOutput.snapshot(snapshot)
        #expect(text.contains("Proposal    open  1      EUR 10  EUR 5"))
        #expect(text.hasSuffix("open: 1 deals, EUR 10, weighted EUR 5"))
        let deal: JSON = [
            "deal_id": "d1", "name": "Acme", "pipeline_id": "sales", "stage_id": "won", "kind": "won",
            "probability": 100, "amount": "10", "currency": "EUR", "customer_ids": ["c1"],
            "visits": [["stage_id": "prospecting", "entered_at": "2025-01-01T00:00:00.000Z"]],
        ]
        #expect(SalesOutput.deal(deal).contains("stage:      won (won, 100%)"))
        #expect(SalesOutput.dealList(["deals": [deal], "next_after": "d1"]).hasSuffix("more: --after d1"))
    }
}
