public import CRMJSON

/// The sales commands (pipelines and deals).
public enum SalesCommands {
    /// Command types of the sales funnel.
    public static let all: [any DomainCommand.Type] = [
        DefinePipeline.self, CreateDeal.self, MoveDeal.self, UpdateDeal.self,
    ]
}

/// Folds sales events into decision state: the `pipelines` table (definition plus open deals per
/// stage, for `stage_in_use`) and the `deals` table.
public enum SalesEvolver {
    /// Applies `event` if it is a sales event; ignores everything else.
    public static func apply(_ event: RecordedEvent, to store: any DecisionStateStore) throws {
        switch event.type {
        case SalesEventType.pipelineDefined:
            guard let definition = PipelineDefinition(json: event.data) else { return }
            var pipeline = try store.pipeline(definition.id) ?? PipelineState(definition: definition)
            pipeline.definition = definition
            try store.setPipeline(definition.id, pipeline)
        case SalesEventType.dealCreated:
            let data = event.data
            guard let id = data["deal_id"]?.stringValue, let pipelineID = data["pipeline_id"]?.stringValue,
                let stageID = data["stage_id"]?.stringValue
            else { return }
            let deal = DealState(
                id: id,
                pipelineID: pipelineID,
                stageID: stageID,
                kind: data["kind"]?.stringValue ?? "open",
                probability: Int(data["probability"]?.intValue ?? 0),
                amount: data["amount"].flatMap(MoneyAmount.init(json:)),
                currency: data["currency"]?.stringValue,
                closeDate: data["close_date"]?.stringValue,
                customerIDs: data["customer_ids"]?.arrayValue?.compactMap(\.stringValue) ?? [],
                ownerID: data["owner_id"]?.stringValue,
                name: event.pii["name"]?.stringValue ?? "",
                lastOpenStage: data["last_open_stage"]?.stringValue,
                lostReason: data["lost_reason"]?.stringValue
            )
            try store.setDeal(id, deal)
            try SalesEvolver.countOpen(pipelineID, stageID, kind: deal.kind, by: 1, store)
        case SalesEventType.dealStageChanged:
            guard let id = event.data["deal_id"]?.stringValue, var deal = try store.deal(id),
                let to = event.data["to"]?.stringValue
            else { return }
            let data = event.data
            try SalesEvolver.countOpen(deal.pipelineID, deal.stageID, kind: deal.kind, by: -1, store)
            deal.stageID = to
            deal.kind = data["to_kind"]?.stringValue ?? "open"
            deal.probability = Int(data["probability"]?.intValue ?? Int64(deal.probability))
            deal.lastOpenStage = data["last_open_stage"]?.stringValue ?? deal.lastOpenStage
            deal.lostReason = deal.kind == "lost" ? data["lost_reason"]?.stringValue : nil
            try store.setDeal(id, deal)
            try SalesEvolver.countOpen(deal.pipelineID, deal.stageID, kind: deal.kind, by: 1, store)
        case SalesEventType.dealUpdated:
            guard let id = event.data["deal_id"]?.stringValue, var deal = try store.deal(id) else { return }
            var changes = event.data["changes"]?.objectValue ?? [:]
            for (field, change) in event.pii["changes"]?.objectValue ?? [:] { changes[field] = change }
            for (field, change) in changes {
                let to = change["to"] ?? .null
                switch field {
                case "name": deal.name = to.stringValue ?? deal.name
                case "amount": deal.amount = MoneyAmount(json: to)
                case "currency": deal.currency = to.stringValue
                case "close_date": deal.closeDate = to.stringValue
                case "owner_id": deal.ownerID = to.stringValue
                case "customer_ids": deal.customerIDs = to.arrayValue?.compactMap(\.stringValue) ?? deal.customerIDs
                default: continue
                }
            }
            try store.setDeal(id, deal)
        default:
            return
        }
    }

    /// Adds `delta` to the open-deal count of `stageID` when `kind` is open.
    private static func countOpen(
        _ pipelineID: String,
        _ stageID: String,
        kind: String,
        by delta: Int,
        _ store: any DecisionStateStore
    ) throws {
        guard kind == "open", var pipeline = try store.pipeline(pipelineID) else { return }
        let count = max(0, (pipeline.openDeals[stageID] ?? 0) + delta)
        pipeline.openDeals[stageID] = count == 0 ? nil : count
        try store.setPipeline(pipelineID, pipeline)
    }
}

/// The default sales pipeline (EspoCRM's probability map), which crmd seeds on
/// the first start of an empty log.
public enum DefaultPipeline {
    /// `pipeline.define` params for the default stages under pipeline id `id`.
    public static func params(id: String = "sales", requireLostReason: Bool = false) -> JSON {
        [
            "pipeline_id": .string(id), "name": "Sales", "require_lost_reason": .bool(requireLostReason),
            "stages": [
                ["id": "prospecting", "name": "Prospecting", "probability": 10, "kind": "open"],
                ["id": "qualification", "name": "Qualification", "probability": 20, "kind": "open"],
                ["id": "proposal", "name": "Proposal", "probability": 50, "kind": "open"],
                ["id": "negotiation", "name": "Negotiation", "probability": 80, "kind": "open"],
                ["id": "won", "name": "Closed Won", "probability": 100, "kind": "won"],
                ["id": "lost", "name": "Closed Lost", "probability": 0, "kind": "lost"],
            ],
        ]
    }
}
