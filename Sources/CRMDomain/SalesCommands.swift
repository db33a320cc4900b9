/// Folds sales events into decision state: the `pipelines` table (definition plus open deals per
/// stage, for `stage_in_use`) and the `deals` table.
public enum SalesEvolver {
    /// Applies `event` if it is a sales event; ignores everything else.
    public static func apply(_ event: RecordedEvent, to store: any DecisionStateStore) throws {
        guard case .sales(let sales) = event.event else { return }
        switch sales {
        case .pipelineDefined(let defined):
            let definition = defined.definition
            var pipeline = try store.pipeline(definition.id) ?? PipelineState(definition: definition)
            pipeline.definition = definition
            try store.setPipeline(definition.id, pipeline)
        case .dealCreated(let created):
            let deal = DealState(
                id: created.dealID,
                pipelineID: created.pipelineID,
                stageID: created.stageID,
                kind: created.kind,
                probability: created.probability,
                amount: created.amount,
                currency: created.currency,
                closeDate: created.closeDate,
                customerIDs: created.customerIDs,
                ownerID: created.ownerID,
                name: created.name ?? "",
                lastOpenStage: created.lastOpenStage,
                lostReason: created.lostReason
            )
            try store.setDeal(deal.id, deal)
            try store.setDealName(deal.id, deal.name)
            for id in Set(deal.customerIDs) { try store.setLink(id, .deal, deal.id, linked: true) }
            try SalesEvolver.countOpen(deal.pipelineID, deal.stageID, kind: deal.kind, by: 1, store)
        case .dealStageChanged(let changed):
            guard var deal = try store.deal(changed.dealID) else { return }
            try SalesEvolver.countOpen(deal.pipelineID, deal.stageID, kind: deal.kind, by: -1, store)
            deal.stageID = changed.to
            deal.kind = changed.toKind
            deal.probability = changed.probability ?? deal.probability
            deal.lastOpenStage = changed.lastOpenStage ?? deal.lastOpenStage
            deal.lostReason = deal.kind == "lost" ? changed.lostReason : nil
            try store.setDeal(changed.dealID, deal)
            try SalesEvolver.countOpen(deal.pipelineID, deal.stageID, kind: deal.kind, by: 1, store)
        case .dealUpdated(let updated):
            guard var deal = try store.deal(updated.dealID) else { return }
            if let change = updated.name, let name = change.to { try store.setDealName(updated.dealID, name) }
            if let change = updated.amount { deal.amount = change.to }
            if let change = updated.currency { deal.currency = change.to }
            if let change = updated.closeDate { deal.closeDate = change.to }
            if let change = updated.ownerID { deal.ownerID = change.to }
            if let change = updated.customerIDs, let new = change.to {
                for id in Set(deal.customerIDs).subtracting(new) {
                    try store.setLink(id, .deal, deal.id, linked: false)
                }
                for id in Set(new) { try store.setLink(id, .deal, deal.id, linked: true) }
                deal.customerIDs = new
            }
            try store.setDeal(updated.dealID, deal)
        case .orderRecorded, .orderRefunded, .orderCancelled:
            try SalesEvolver.applyOrder(sales, to: store)
        case .valueModelFitted(let model):
            try store.setRecord(.sales, "model:" + model.modelID, [])
        case .churnMarked(let mark):
            try store.setRecord(.sales, ChurnMarked.recordKey(mark.customerID), ChurnMarked.recorded(mark))
        case .churnUnmarked(let unmark):
            try store.setRecord(.sales, ChurnMarked.recordKey(unmark.customerID), nil)
        case .rfmSegmentMapDefined(let map):
            var row = BinaryRowWriter(capacity: 10)
            row.int(Int64(map.version))
            try store.setRecord(.sales, RfmSegmentMapDefined.versionKey, row.bytes)
        case .rfmSnapshotTaken(let snapshot):
            try store.setRecord(.sales, "rfm:" + snapshot.snapshotID, [])
        case .valueSettingsChanged(let changes):
            let current = try store.record(.sales, ValueSettings.recordKey).map { try ValueSettings(decoding: $0) }
            let settings = changes.applied(to: current ?? ValueSettings())
            try store.setRecord(.sales, ValueSettings.recordKey, settings.encoded())
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
    /// The default stages: `(id, name, probability, kind)`.
    public static let stages: [PipelineDefinition.Stage] = [
        PipelineDefinition.Stage(id: "prospecting", name: "Prospecting", probability: 10, kind: "open"),
        PipelineDefinition.Stage(id: "qualification", name: "Qualification", probability: 20, kind: "open"),
        PipelineDefinition.Stage(id: "proposal", name: "Proposal", probability: 50, kind: "open"),
        PipelineDefinition.Stage(id: "negotiation", name: "Negotiation", probability: 80, kind: "open"),
        PipelineDefinition.Stage(id: "won", name: "Closed Won", probability: 100, kind: "won"),
        PipelineDefinition.Stage(id: "lost", name: "Closed Lost", probability: 0, kind: "lost"),
    ]

    /// The `pipeline.define` command for the default stages under pipeline id `id`, named "Sales".
    public static func command(id: String = "sales", requireLostReason: Bool = false) -> DefinePipeline {
        DefinePipeline(
            definition: PipelineDefinition(
                id: id,
                version: 1,
                name: "Sales",
                stages: DefaultPipeline.stages,
                requireLostReason: requireLostReason
            )
        )
    }
}
