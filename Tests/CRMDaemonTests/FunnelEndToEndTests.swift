import CRMJSON
import CRMProtocol
import CRMTesting
import Testing

/// The sales funnel over the socket: the seeded default pipeline, deals, lifecycle automation, and the
/// The funnel worked example of docs/protocol/sales.md §4 as an acceptance case.
@Suite struct FunnelEndToEndTests {
    /// The per-stage member `member` of a report, by stage id.
    func counts(_ report: JSON, _ member: String) -> [String: Int64] {
        var counts: [String: Int64] = [:]
        for stage in report["stages"]?.arrayValue ?? [] {
            if let id = stage["stage_id"]?.stringValue { counts[id] = stage[member]?.intValue }
        }
        return counts
    }

    @Test func workedExampleThroughTheSocket() async throws {
        let daemon = try await TestDaemon(seedDefaults: true)
        let client = try daemon.client()
        // The first start seeded the default pipeline.
        let pipeline = try await client.result("pipeline.get", ["pipeline_id": "sales"])
        #expect(
            pipeline["stages"]?.arrayValue?.map { $0["id"] } == [
                "prospecting", "qualification", "proposal", "negotiation", "won", "lost",
            ]
        )
        #expect(pipeline["stages"]?[2]?["probability"] == 50)
        let first = try await client.result("events.read", ["limit": 1])
        #expect(first["events"]?[0]?["type"] == "PipelineDefined")

        _ = try await client.createCustomer(["customer_id": "c1", "first_name": "Ada", "at": "2025-01-01T00:00:00Z"])
        func create(_ id: String, _ stage: String, _ at: String) async throws {
            _ = try await client.result(
                "deal.create",
                [
                    "deal_id": .string(id), "pipeline_id": "sales", "name": .string("Deal \(id)"),
                    "customer_ids": ["c1"], "stage_id": .string(stage), "amount": "1000", "currency": "EUR",
                    "at": .string(at),
                ]
            )
        }
        func move(_ id: String, _ stage: String, _ at: String) async throws {
            _ = try await client.result(
                "deal.move",
                ["deal_id": .string(id), "stage_id": .string(stage), "at": .string(at)]
            )
        }
        try await create("D1", "prospecting", "2025-01-02T09:00:00Z")
        try await create("D2", "prospecting", "2025-01-02T10:00:00Z")
        try await create("D3", "prospecting", "2025-01-03T09:00:00Z")
        try await create("D4", "qualification", "2025-01-03T10:00:00Z")
        try await move("D1", "qualification", "2025-01-05T09:00:00Z")
        try await move("D1", "proposal", "2025-01-08T09:00:00Z")
        try await move("D1", "won", "2025-01-12T09:00:00Z")
        try await move("D2", "proposal", "2025-01-06T09:00:00Z")
        try await move("D2", "lost", "2025-01-09T09:00:00Z")
        try await move("D3", "qualification", "2025-01-07T09:00:00Z")
        try await move("D3", "lost", "2025-01-10T09:00:00Z")
        try await move("D4", "negotiation", "2025-01-11T09:00:00Z")
        try await move("D4", "won", "2025-01-20T09:00:00Z")

        let range: [String: JSON] = [
            "pipeline_id": "sales", "from": "2025-01-01T00:00:00Z", "to": "2025-02-01T00:00:00Z",
        ]
        var reports: [String: JSON] = [:]
        for mode in ["any", "strict", "implied"] {
            var params = range
            params["mode"] = .string(mode)
            reports[mode] = try await client.result("funnel.report", .object(params))
        }
        #expect(
            self.counts(reports["any"]!, "count")
                == ["prospecting": 3, "qualification": 3, "proposal": 2, "negotiation": 1, "won": 2]
        )
        #expect(
            self.counts(reports["strict"]!, "count")
                == ["prospecting": 3, "qualification": 2, "proposal": 1, "negotiation": 0, "won": 0]
        )
        #expect(
            self.counts(reports["implied"]!, "count")
                == ["prospecting": 4, "qualification": 4, "proposal": 3, "negotiation": 2, "won": 2]
        )
        let implied = try #require(reports["implied"])
        let stages = implied["stages"]?.arrayValue ?? []
        #expect(stages.map { $0["next_step_conversion"]?.doubleValue } == [100, 75, 66.7, 100, nil])
        #expect(stages.last?["stage_id"] == "won")
        #expect(stages.last?["cumulative_conversion"]?.doubleValue == 50)
        #expect(implied["win_rate"]?["rate"]?.doubleValue == 50)
        #expect(implied["won"] == 2)
        #expect(implied["lost"] == 2)
        #expect(implied["lost_by_stage"] == ["proposal": 1, "qualification": 1])
        // The default mode is implied.
        #expect(
            self.counts(try await client.result("funnel.report", .object(range)), "count")
                == self.counts(implied, "implied")
        )

        // Lifecycle automation: c1 became an opportunity with D1, a customer when D1 was won.
        let profile = try await client.result("customer.get", ["customer_id": "c1"])
        #expect(profile["lifecycle"]?["stage"] == "customer")
        #expect(profile["stats"]?["won_deals"] == 2)
        #expect(profile["stats"]?["open_deals"] == 0)
        #expect(profile["stats"]?["won_amount"] == ["EUR": "2000"])
        let d1 = try await client.result("events.read", ["stream": "deal-D1"])
        let created = try #require(d1["events"]?[0])
        let lifted = try await client.result("events.read", ["stream": "customer-c1"])
        let automation = try #require(lifted["events"]?.arrayValue?.first { $0["data"]?["to"] == "opportunity" })
        #expect(automation["data"]?["source"] == "automation")
        #expect(automation["causation_seq"] == created["seq"])
        #expect(automation["seq"]?.intValue == (created["seq"]?.intValue ?? 0) + 1)

        let deal = try await client.result("deal.get", ["deal_id": "D2"])
        #expect(deal["kind"] == "lost")
        #expect(deal["last_open_stage"] == "proposal")
        #expect(deal["name"] == "Deal D2")
        let list = try await client.result("deal.list", ["pipeline_id": "sales", "stage_id": "won"])
        #expect(list["deals"]?.arrayValue?.compactMap { $0["deal_id"]?.stringValue } == ["D1", "D4"])
        let snapshot = try await client.result("funnel.snapshot", ["pipeline_id": "sales"])
        #expect(snapshot["open_count"] == 0)
        #expect(try await client.result("audit.verify")["ok"] == true)
        try await daemon.stop()
    }

    struct BadCommand: Sendable, CustomTestStringConvertible {
        var name: String
        var method: String
        var params: JSON
        var reason: String
        var field: String?
        var testDescription: String { self.name }
    }

    static let badCommands: [BadCommand] = {
        let deal: [String: JSON] = ["pipeline_id": "sales", "name": "D", "customer_ids": ["c1"]]
        func create(_ extra: [String: JSON]) -> JSON { .object(deal.merging(extra) { $1 }) }
        let open: JSON = ["id": "a", "probability": 10]
        let won: JSON = ["id": "w", "kind": "won", "probability": 100]
        let lost: JSON = ["id": "l", "kind": "lost", "probability": 0]
        func pipeline(_ stages: [JSON]) -> JSON { ["pipeline_id": "p2", "name": "P", "stages": .array(stages)] }
        return [
            BadCommand(
                name: "unknown pipeline",
                method: "deal.create",
                params: create(["pipeline_id": "nope"]),
                reason: "unknown_pipeline",
                field: "pipeline_id"
            ),
            BadCommand(
                name: "unknown stage",
                method: "deal.create",
                params: create(["stage_id": "nope"]),
                reason: "unknown_stage",
                field: "stage_id"
            ),
            BadCommand(
                name: "move to unknown stage",
                method: "deal.move",
                params: ["deal_id": "d1", "stage_id": "x"],
                reason: "unknown_stage",
                field: "stage_id"
            ),
            BadCommand(
                name: "amount without currency",
                method: "deal.create",
                params: create(["amount": "5"]),
                reason: "invalid_field",
                field: "currency"
            ),
            BadCommand(
                name: "negative amount",
                method: "deal.create",
                params: create(["amount": -1, "currency": "EUR"]),
                reason: "invalid_field",
                field: "amount"
            ),
            BadCommand(
                name: "bad currency",
                method: "deal.create",
                params: create(["amount": 1, "currency": "euro"]),
                reason: "invalid_field",
                field: "currency"
            ),
            BadCommand(
                name: "probability out of range",
                method: "deal.create",
                params: create(["probability": 150]),
                reason: "invalid_field",
                field: "probability"
            ),
            BadCommand(
                name: "move probability out of range",
                method: "deal.move",
                params: ["deal_id": "d1", "stage_id": "proposal", "probability": -3],
                reason: "invalid_field",
                field: "probability"
            ),
            BadCommand(
                name: "lost without reason",
                method: "deal.move",
                params: ["deal_id": "d1", "stage_id": "lost"],
                reason: "lost_reason_required",
                field: "lost_reason"
            ),
            BadCommand(
                name: "missing customer",
                method: "deal.create",
                params: create(["customer_ids": ["zz"]]),
                reason: "not_found",
                field: "customer_ids[0]"
            ),
            BadCommand(
                name: "pipeline without won stage",
                method: "pipeline.define",
                params: pipeline([open, lost]),
                reason: "invalid_pipeline",
                field: "stages"
            ),
            BadCommand(
                name: "pipeline with duplicate stages",
                method: "pipeline.define",
                params: pipeline([open, open, won, lost]),
                reason: "invalid_pipeline",
                field: "stages[1].id"
            ),
            BadCommand(
                name: "won stage below 100",
                method: "pipeline.define",
                params: pipeline([open, ["id": "w", "kind": "won", "probability": 99], lost]),
                reason: "invalid_pipeline",
                field: "stages[1].probability"
            ),
            BadCommand(
                name: "removing a stage in use",
                method: "pipeline.define",
                params: [
                    "pipeline_id": "sales", "name": "Sales", "require_lost_reason": true,
                    "stages": [["id": "qualification", "probability": 20], won, lost],
                ],
                reason: "stage_in_use",
                field: "stages"
            ),
        ]
    }()

    @Test(arguments: FunnelEndToEndTests.badCommands)
    func badInputIsRejectedAndWritesNothing(_ bad: BadCommand) async throws {
        let daemon = try await TestDaemon()
        let client = try daemon.client()
        _ = try await client.result(
            "pipeline.define",
            [
                "pipeline_id": "sales", "name": "Sales", "require_lost_reason": true,
                "stages": [
                    ["id": "prospecting", "probability": 10], ["id": "qualification", "probability": 20],
                    ["id": "proposal", "probability": 50], ["id": "won", "kind": "won", "probability": 100],
                    ["id": "lost", "kind": "lost", "probability": 0],
                ],
            ]
        )
        _ = try await client.createCustomer(["customer_id": "c1", "first_name": "Ada"])
        _ = try await client.result(
            "deal.create",
            ["deal_id": "d1", "pipeline_id": "sales", "name": "D", "customer_ids": ["c1"]]
        )
        let before = try await Snapshot.take(client, customer: "c1")
        let dealBefore = try await client.result("deal.get", ["deal_id": "d1"])
        let error = try await client.error(bad.method, bad.params)
        #expect(error.data?["reason"] == .string(bad.reason), "\(error)")
        #expect(error.data?["field"] == .string(bad.field), "\(error)")
        #expect(try await Snapshot.take(client, customer: "c1") == before)
        #expect(try await client.result("deal.get", ["deal_id": "d1"]) == dealBefore)
        try await daemon.stop()
    }
}
