import CRMDomain
import CRMEventStore
import CRMJSON
import CRMProjections
import CRMTesting
import Testing

/// Builds the funnel worked example: D1 P→Q→Pr→Won; D2 P→Pr→Lost; D3 P→Q→Lost; D4 created at
/// Q→N→Won, all created in January 2025.
func workedExample(_ harness: FunnelHarness) throws {
    try harness.run(DefinePipeline.self, funnelPipelineParams(), at: "2025-01-01T00:00:00Z")
    try harness.run(CreateCustomer.self, ["customer_id": "c1", "first_name": "Ada"], at: "2025-01-01T00:00:00Z")
    func create(_ id: String, _ stage: String, _ day: Int) throws {
        try harness.run(
            CreateDeal.self,
            [
                "deal_id": .string(id), "pipeline_id": "sales", "name": .string(id), "customer_ids": ["c1"],
                "stage_id": .string(stage), "amount": "1000", "currency": "EUR",
            ],
            at: "2025-01-0\(day)T09:00:00Z"
        )
    }
    func move(_ id: String, _ stage: String, _ day: Int) throws {
        try harness.run(
            MoveDeal.self,
            ["deal_id": .string(id), "stage_id": .string(stage)],
            at: "2025-01-\(day < 10 ? "0" : "")\(day)T09:00:00Z"
        )
    }
    try create("D1", "prospecting", 2)
    try create("D2", "prospecting", 2)
    try create("D3", "prospecting", 3)
    try create("D4", "qualification", 3)
    try move("D1", "qualification", 5)
    try move("D1", "proposal", 8)
    try move("D1", "won", 12)
    try move("D2", "proposal", 6)
    try move("D2", "lost", 9)
    try move("D3", "qualification", 7)
    try move("D3", "lost", 10)
    try move("D4", "negotiation", 11)
    try move("D4", "won", 20)
}

@Suite struct FunnelProjectionTests {
    let range: [String: JSON] = ["pipeline_id": "sales", "from": "2025-01-01T00:00:00Z", "to": "2025-02-01T00:00:00Z"]

    func report(_ harness: FunnelHarness, _ extra: [String: JSON] = [:]) throws -> JSON {
        try harness.query("funnel.report", .object(self.range.merging(extra) { $1 }))
    }

    @Test func workedExampleCountsConversionsAndWinRate() throws {
        let harness = try FunnelHarness()
        try workedExample(harness)
        let report = try self.report(harness)
        #expect(
            stageCounts(report, "any")
                == ["prospecting": 3, "qualification": 3, "proposal": 2, "negotiation": 1, "won": 2]
        )
        #expect(
            stageCounts(report, "strict")
                == ["prospecting": 3, "qualification": 2, "proposal": 1, "negotiation": 0, "won": 0]
        )
        #expect(
            stageCounts(report, "implied")
                == ["prospecting": 4, "qualification": 4, "proposal": 3, "negotiation": 2, "won": 2]
        )
        let stages = report["stages"]?.arrayValue ?? []
        #expect(stages.map { $0["next_step_conversion"]?.doubleValue } == [100, 75, 66.7, 100, nil])
        #expect(stages.last?["cumulative_conversion"]?.doubleValue == 50)
        #expect(report["win_rate"]?["rate"]?.doubleValue == 50)
        #expect(report["win_rate"]?["won"] == 2)
        #expect(report["win_rate"]?["lost"] == 2)
        #expect(report["lost_by_stage"] == ["proposal": 1, "qualification": 1])
        #expect(report["won"] == 2)
        #expect(report["lost"] == 2)
        #expect(report["cohort_size"] == 4)
        // Strict and any modes choose the `count` member.
        #expect(stageCounts(try self.report(harness, ["mode": "strict"]), "count") == stageCounts(report, "strict"))
        #expect(stageCounts(try self.report(harness, ["mode": "any"]), "count") == stageCounts(report, "any"))
    }

    @Test func timeInStageCycleLengthAndVelocity() throws {
        let harness = try FunnelHarness()
        try workedExample(harness)
        let report = try self.report(harness)
        let stages = report["stages"]?.arrayValue ?? []
        // Qualification visits that ended in January: D1 3 days (5th→8th), D3 3 days (7th→10th), D4 8 days.
        let qualification = try #require(stages.first { $0["stage_id"] == "qualification" })
        let day = 86_400.0
        #expect(qualification["time_in_stage"]?["count"] == 3)
        #expect(qualification["time_in_stage"]?["median_seconds"]?.doubleValue == 3 * day)
        #expect(qualification["time_in_stage"]?["p90_seconds"]?.doubleValue == 8 * day)
        #expect(qualification["time_in_stage"]?["avg_seconds"]?.doubleValue == 14 * day / 3)
        // Won: D1 after 10 days, D4 after 17 days.
        #expect(report["cycle_length"]?["avg_days"]?.doubleValue == 13.5)
        // No deal is open any more, so velocity is 0 per day.
        #expect(report["velocity"]?["per_day"]?["EUR"]?.doubleValue == 0)
        // A range that ends before any deal closed has no win rate.
        let early = try harness.query(
            "funnel.report",
            ["pipeline_id": "sales", "from": "2025-01-01T00:00:00Z", "to": "2025-01-04T00:00:00Z"]
        )
        #expect(early["win_rate"]?["rate"] == .null)
        #expect(early["cohort_size"] == 4)
    }

    @Test func cohortCurrencyAndGroupOptions() throws {
        let harness = try FunnelHarness()
        try workedExample(harness)
        try harness.run(
            CreateDeal.self,
            [
                "deal_id": "D5", "pipeline_id": "sales", "name": "D5", "customer_ids": ["c1"], "amount": "5",
                "currency": "USD", "owner_id": "u9",
            ],
            at: "2025-02-03T00:00:00Z"
        )
        try harness.run(MoveDeal.self, ["deal_id": "D1", "stage_id": "lost"], at: "2025-02-04T00:00:00Z")
        // Created in February: only D5. Entered a stage in February: D5 and D1 (lost).
        let created = try harness.query(
            "funnel.report",
            ["pipeline_id": "sales", "from": "2025-02-01T00:00:00Z", "to": "2025-03-01T00:00:00Z"]
        )
        #expect(created["cohort_size"] == 1)
        let entered = try harness.query(
            "funnel.report",
            [
                "pipeline_id": "sales", "from": "2025-02-01T00:00:00Z", "to": "2025-03-01T00:00:00Z",
                "cohort": "entered",
            ]
        )
        #expect(entered["cohort_size"] == 2)
        #expect(entered["lost_by_stage"] == ["negotiation": 1])
        let usd = try harness.query("funnel.report", ["pipeline_id": "sales", "currency": "USD"])
        #expect(usd["cohort_size"] == 1)
        let grouped = try harness.query("funnel.report", ["pipeline_id": "sales", "group_by": "owner"])
        #expect(grouped["groups"]?.arrayValue?.map { $0["key"] } == ["u9", .null])
        #expect(grouped["groups"]?[1]?["cohort_size"] == 4)
        #expect(throws: Rejection.self) {
            try harness.query(
                "funnel.report",
                ["pipeline_id": "sales", "from": "2025-02-01T00:00:00Z", "to": "2025-01-01T00:00:00Z"]
            )
        }
        #expect(throws: Rejection.self) { try harness.query("funnel.report", ["pipeline_id": "sales", "mode": "all"]) }
    }

    @Test func regressionsReopensAndStaleDeals() throws {
        let harness = try FunnelHarness()
        try harness.run(DefinePipeline.self, funnelPipelineParams(), at: "2025-01-01T00:00:00Z")
        try harness.run(CreateCustomer.self, ["customer_id": "c1", "first_name": "Ada"], at: "2025-01-01T00:00:00Z")
        let deal: JSON = ["deal_id": "d", "pipeline_id": "sales", "name": "D", "customer_ids": ["c1"]]
        try harness.run(CreateDeal.self, deal, at: "2025-01-02T00:00:00Z")
        try harness.run(MoveDeal.self, ["deal_id": "d", "stage_id": "proposal"], at: "2025-01-03T00:00:00Z")
        try harness.run(MoveDeal.self, ["deal_id": "d", "stage_id": "qualification"], at: "2025-01-04T00:00:00Z")
        try harness.run(MoveDeal.self, ["deal_id": "d", "stage_id": "lost"], at: "2025-01-05T00:00:00Z")
        try harness.run(MoveDeal.self, ["deal_id": "d", "stage_id": "negotiation"], at: "2025-01-06T00:00:00Z")
        let report = try self.report(harness, ["stale_after_days": 7])
        let stages = report["stages"]?.arrayValue ?? []
        #expect(report["regressions"] == 1)
        #expect(report["reopens"] == 1)
        #expect(stages.first { $0["stage_id"] == "qualification" }?["regressions"] == 1)
        #expect(stages.first { $0["stage_id"] == "negotiation" }?["reopens"] == 1)
        #expect(stages.first { $0["stage_id"] == "negotiation" }?["time_in_stage"]?["stale"] == 1)
        let document = try harness.query("deal.get", ["deal_id": "d"])
        #expect(document["reopen_count"] == 1)
        #expect(document["regressions"] == 1)
        #expect(document["closed_at"] == .null)
        #expect(document["won"] == .null)
        #expect(document["visits"]?.arrayValue?.count == 5)
        #expect(document["time_in_stage"]?["proposal"]?["cumulative_seconds"]?.doubleValue == 86_400)
    }

    @Test func snapshotSumsOpenAndWeightedAmountsPerCurrency() throws {
        let harness = try FunnelHarness()
        try harness.run(DefinePipeline.self, funnelPipelineParams(), at: "2025-01-01T00:00:00Z")
        try harness.run(CreateCustomer.self, ["customer_id": "c1", "first_name": "Ada"], at: "2025-01-01T00:00:00Z")
        func deal(_ id: String, _ stage: String, _ amount: JSON, _ currency: String, probability: Int? = nil) throws {
            var params: JSON = [
                "deal_id": .string(id), "pipeline_id": "sales", "name": "D", "customer_ids": ["c1"],
                "stage_id": .string(stage), "amount": amount, "currency": .string(currency),
            ]
            if let probability { params["probability"] = .int(probability) }
            try harness.run(CreateDeal.self, params, at: "2025-01-02T00:00:00Z")
        }
        try deal("a", "proposal", "1000.10", "EUR")
        try deal("b", "proposal", 500, "EUR", probability: 33)
        try deal("c", "proposal", "70", "USD")
        try deal("d", "won", "999", "EUR")
        let snapshot = try harness.query("funnel.snapshot", ["pipeline_id": "sales"])
        let proposal = try #require(snapshot["stages"]?.arrayValue?.first { $0["stage_id"] == "proposal" })
        #expect(proposal["open_count"] == 3)
        #expect(proposal["open_amount"] == ["EUR": "1500.1", "USD": "70"])
        // 1000.10 × 50 % + 500 × 33 % = 500.05 + 165.
        #expect(proposal["weighted_amount"] == ["EUR": "665.05", "USD": "35"])
        let won = try #require(snapshot["stages"]?.arrayValue?.first { $0["stage_id"] == "won" })
        #expect(won["closed_count"] == 1)
        #expect(won["closed_amount"] == ["EUR": "999"])
        #expect(snapshot["open_count"] == 3)
        #expect(snapshot["open_amount"] == ["EUR": "1500.1", "USD": "70"])
        // Amount updates move the buckets.
        try harness.run(UpdateDeal.self, ["deal_id": "c", "amount": "100"], at: "2025-01-03T00:00:00Z")
        let after = try harness.query("funnel.snapshot", ["pipeline_id": "sales"])
        #expect(after["open_amount"]?["USD"] == "100")
        #expect(throws: Rejection.self) { try harness.query("funnel.snapshot", ["pipeline_id": "nope"]) }
    }

    @Test func lifecycleFunnelFoldsCustomerStages() throws {
        let harness = try FunnelHarness()
        try harness.run(DefinePipeline.self, funnelPipelineParams(), at: "2025-01-01T00:00:00Z")
        try harness.run(CreateCustomer.self, ["customer_id": "c1", "first_name": "A"], at: "2025-01-02T00:00:00Z")
        try harness.run(
            CreateCustomer.self,
            ["customer_id": "c2", "first_name": "B", "lifecycle_stage": "subscriber", "source": "web"],
            at: "2025-01-02T00:00:00Z"
        )
        try harness.run(
            CreateDeal.self,
            ["deal_id": "d1", "pipeline_id": "sales", "name": "D", "customer_ids": ["c1"]],
            at: "2025-01-03T00:00:00Z"
        )
        try harness.run(MoveDeal.self, ["deal_id": "d1", "stage_id": "won"], at: "2025-01-04T00:00:00Z")
        let report = try harness.query(
            "funnel.report",
            ["pipeline_id": "lifecycle", "from": "2025-01-01T00:00:00Z", "to": "2025-02-01T00:00:00Z"]
        )
        #expect(
            stageCounts(report, "implied")
                == [
                    "subscriber": 2, "lead": 1, "marketingqualifiedlead": 1, "salesqualifiedlead": 1,
                    "opportunity": 1, "customer": 1,
                ]
        )
        #expect(stageCounts(report, "any")["opportunity"] == 1)
        #expect(report["won"] == 1)
        let grouped = try harness.query(
            "funnel.report",
            ["pipeline_id": "lifecycle", "group_by": "source", "from": "2025-01-01T00:00:00Z"]
        )
        #expect(grouped["groups"]?.arrayValue?.map { $0["key"] } == ["web", .null])
        let snapshot = try harness.query("funnel.snapshot", ["pipeline_id": "lifecycle"])
        #expect(snapshot["stages"]?.arrayValue?.first { $0["stage_id"] == "subscriber" }?["open_count"] == 1)
    }

    @Test func profileStatsAndTimelineFollowDeals() throws {
        let harness = try FunnelHarness()
        try harness.run(DefinePipeline.self, funnelPipelineParams(), at: "2025-01-01T00:00:00Z")
        try harness.run(CreateCustomer.self, ["customer_id": "c1", "first_name": "A"], at: "2025-01-01T00:00:00Z")
        try harness.run(CreateCustomer.self, ["customer_id": "c2", "first_name": "B"], at: "2025-01-01T00:00:00Z")
        let deal: JSON = [
            "deal_id": "d1", "pipeline_id": "sales", "name": "D", "customer_ids": ["c1"], "amount": "10",
            "currency": "EUR",
        ]
        try harness.run(CreateDeal.self, deal, at: "2025-01-02T00:00:00Z")
        try harness.run(
            CreateDeal.self,
            ["deal_id": "d2", "pipeline_id": "sales", "name": "E", "customer_ids": ["c1"]],
            at: "2025-01-02T00:00:00Z"
        )
        var stats = try harness.query("customer.get", ["customer_id": "c1"])["stats"]
        #expect(stats?["open_deals"] == 2)
        #expect(stats?["won_deals"] == 0)
        try harness.run(MoveDeal.self, ["deal_id": "d1", "stage_id": "won"], at: "2025-01-03T00:00:00Z")
        try harness.run(UpdateDeal.self, ["deal_id": "d1", "amount": "12.5"], at: "2025-01-04T00:00:00Z")
        stats = try harness.query("customer.get", ["customer_id": "c1"])["stats"]
        #expect(stats?["open_deals"] == 1)
        #expect(stats?["won_deals"] == 1)
        #expect(stats?["won_amount"] == ["EUR": "12.5"])
        try harness.run(UpdateDeal.self, ["deal_id": "d1", "customer_ids": ["c2"]], at: "2025-01-05T00:00:00Z")
        #expect(try harness.query("customer.get", ["customer_id": "c1"])["stats"]?["won_deals"] == 0)
        #expect(try harness.query("customer.get", ["customer_id": "c2"])["stats"]?["won_amount"] == ["EUR": "12.5"])
        let profile = try harness.query("customer.get", ["customer_id": "c1"])
        #expect(profile["lifecycle"]?["stage"] == "customer")
        let kinds = try harness.query("customer.timeline", ["customer_id": "c1"])["entries"]?.arrayValue?
            .compactMap { $0["kind"]?.stringValue }
        #expect(kinds?.filter { $0.hasPrefix("deal.") } == ["deal.stage_changed", "deal.created", "deal.created"])
    }

    /// Stored deal events with members missing or of the wrong type fold as leniently as they always
    /// did: what is missing stays as it was, and an event without its deal or target is ignored.
    @Test func storedDealEventsWithMissingMembersFoldLeniently() throws {
        let harness = try FunnelHarness()
        try harness.run(DefinePipeline.self, funnelPipelineParams(), at: "2025-01-01T00:00:00Z")
        try harness.run(CreateCustomer.self, ["customer_id": "c1", "first_name": "A"], at: "2025-01-01T00:00:00Z")
        let deal: JSON = ["deal_id": "d1", "pipeline_id": "sales", "name": "D", "customer_ids": ["c1"]]
        try harness.run(CreateDeal.self, deal, at: "2025-01-02T00:00:00Z")
        let millis = Timestamp.parse("2025-01-03T00:00:00Z")!
        try harness.record(
            [
                NewEvent(type: "DealStageChanged", stream: "deal-d1", data: ["deal_id": "d1", "to": "proposal"]),
                NewEvent(type: "DealStageChanged", stream: "deal-d1", data: ["deal_id": "d1"]),
                NewEvent(
                    type: "DealUpdated",
                    stream: "deal-d1",
                    data: ["deal_id": "d1", "changes": ["name": ["to": "Renamed"], "customer_ids": ["to": "c9"]]]
                ),
                NewEvent(type: "DealCreated", stream: "deal-d2", data: ["deal_id": "d2", "pipeline_id": "sales"]),
            ],
            millis: millis
        )
        let moved = try harness.query("deal.get", ["deal_id": "d1"])
        #expect(moved["stage_id"] == "proposal" && moved["kind"] == "open")
        #expect(moved["probability"] == 10)
        #expect(moved["last_open_stage"] == "prospecting")
        #expect(moved["visits"]?.arrayValue?.count == 2)
        #expect(moved["name"] == "Renamed")
        #expect(moved["customer_ids"] == ["c1"])
        #expect(moved["version"] == 4)
        let state = try #require(try harness.state.deal("d1"))
        #expect(state.stageID == "proposal" && state.probability == 10 && state.name == "Renamed")
        #expect(try harness.state.pipeline("sales")?.openDeals == ["proposal": 1])
        #expect(try harness.state.deal("d2") == nil)
        let missing = try? harness.query("deal.get", ["deal_id": "d2"])
        #expect(missing == nil)
        let entries = try harness.query("customer.timeline", ["customer_id": "c1"])["entries"]?.arrayValue ?? []
        #expect(entries.first?["summary"] == "Deal moved from ? to proposal")
        #expect(try harness.query("customer.get", ["customer_id": "c1"])["stats"]?["open_deals"] == 1)
    }

    @Test func dealListFiltersAndPages() throws {
        let harness = try FunnelHarness()
        try harness.run(DefinePipeline.self, funnelPipelineParams(), at: "2025-01-01T00:00:00Z")
        try harness.run(DefinePipeline.self, funnelPipelineParams("other"), at: "2025-01-01T00:00:00Z")
        try harness.run(CreateCustomer.self, ["customer_id": "c1", "first_name": "A"], at: "2025-01-01T00:00:00Z")
        try harness.run(CreateCustomer.self, ["customer_id": "c2", "first_name": "B"], at: "2025-01-01T00:00:00Z")
        for index in 0..<5 {
            try harness.run(
                CreateDeal.self,
                [
                    "deal_id": .string("d\(index)"), "pipeline_id": index == 4 ? "other" : "sales", "name": "D",
                    "customer_ids": index % 2 == 0 ? ["c1"] : ["c2"], "owner_id": index < 2 ? "u1" : "u2",
                ],
                at: "2025-01-02T00:00:00Z"
            )
        }
        func ids(_ params: JSON) throws -> [String] {
            try harness.query("deal.list", params)["deals"]?.arrayValue?.compactMap { $0["deal_id"]?.stringValue } ?? []
        }
        #expect(try ids([:]) == ["d0", "d1", "d2", "d3", "d4"])
        let pipelines = try harness.query("pipeline.list", [:])["pipelines"]?.arrayValue
        #expect(pipelines?.map { $0["pipeline_id"] } == ["other", "sales"])
        #expect(try ids(["pipeline_id": "sales"]) == ["d0", "d1", "d2", "d3"])
        #expect(try ids(["customer_id": "c1"]) == ["d0", "d2", "d4"])
        #expect(try ids(["owner_id": "u2", "pipeline_id": "sales"]) == ["d2", "d3"])
        #expect(try ids(["stage_id": "prospecting", "pipeline_id": "other"]) == ["d4"])
        let page = try harness.query("deal.list", ["limit": 2])
        #expect(page["next_after"] == "d1")
        #expect(try ids(["limit": 2, "after": "d1"]) == ["d2", "d3"])
        #expect(try harness.query("deal.list", ["limit": 5])["next_after"] == .null)
        #expect(throws: Rejection.self) { try harness.query("deal.list", ["pipeline_id": "sales", "stage_id": "x"]) }
        #expect(throws: Rejection.self) { try harness.query("deal.get", ["deal_id": "zz"]) }
        #expect(throws: Rejection.self) { try harness.query("deal.list", ["limit": 0]) }
    }

    /// Property: per stage implied ≥ any ≥ strict, over random deal histories; and a
    /// funnel rebuilt from the log reports exactly what the inline one reported.
    @Test func randomHistoriesKeepModeOrderAndRebuildIdentically() throws {
        let harness = try FunnelHarness()
        var random = SeededGenerator(seed: 0x5EED_F00D)
        let stages = ["prospecting", "qualification", "proposal", "negotiation", "won", "lost"]
        let start = Timestamp.parse("2025-01-01T00:00:00Z")!
        try harness.run(CreateCustomer.self, ["customer_id": "c1", "first_name": "A"], millis: start)
        var reports: [JSON] = []
        let histories = 200
        for history in 0..<histories {
            let pipeline = "h\(history)"
            try harness.run(DefinePipeline.self, funnelPipelineParams(pipeline), millis: start)
            var time = start
            for deal in 0..<Int.random(in: 1...6, using: &random) {
                let id = "\(pipeline)-d\(deal)"
                time += Int64.random(in: 1...3_600_000, using: &random)
                var params: JSON = [
                    "deal_id": .string(id), "pipeline_id": .string(pipeline), "name": "D", "customer_ids": ["c1"],
                    "stage_id": .string(stages.randomElement(using: &random)!),
                    "owner_id": .string(["u1", "u2"].randomElement(using: &random)!),
                ]
                if Bool.random(using: &random) {
                    params["amount"] = .string("\(Int.random(in: 0...9999, using: &random))")
                    params["currency"] = .string(["EUR", "USD"].randomElement(using: &random)!)
                }
                try harness.run(CreateDeal.self, params, millis: time)
                var current = params["stage_id"]?.stringValue
                for _ in 0..<Int.random(in: 0...7, using: &random) {
                    let target = stages.randomElement(using: &random)!
                    guard target != current else { continue }
                    time += Int64.random(in: 1...86_400_000, using: &random)
                    try harness.run(MoveDeal.self, ["deal_id": .string(id), "stage_id": .string(target)], millis: time)
                    current = target
                }
            }
            let params: JSON = [
                "pipeline_id": .string(pipeline), "from": "2025-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z",
                "group_by": "owner",
            ]
            let report = try harness.query("funnel.report", params)
            let any = stageCounts(report, "any")
            let strict = stageCounts(report, "strict")
            let implied = stageCounts(report, "implied")
            for stage in any.keys {
                #expect(implied[stage]! >= any[stage]!, "history \(history) stage \(stage)")
                #expect(any[stage]! >= strict[stage]!, "history \(history) stage \(stage)")
            }
            reports.append(report)
            reports.append(try harness.query("funnel.snapshot", ["pipeline_id": .string(pipeline)]))
        }
        let lifecycleParams: JSON = ["pipeline_id": "lifecycle", "group_by": "owner", "to": "2026-01-01T00:00:00Z"]
        let lifecycle = try harness.query("funnel.report", lifecycleParams)
        try harness.rebuildFunnel()
        #expect(try harness.query("funnel.report", lifecycleParams) == lifecycle)
        for history in 0..<histories {
            let params: JSON = [
                "pipeline_id": .string("h\(history)"), "from": "2025-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z",
                "group_by": "owner",
            ]
            #expect(try harness.query("funnel.report", params) == reports[2 * history], "history \(history)")
            #expect(
                try harness.query("funnel.snapshot", ["pipeline_id": .string("h\(history)")])
                    == reports[2 * history + 1]
            )
        }
    }
}
