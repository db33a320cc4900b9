// MARK: - Shared helpers

/// Parsing and automation shared by the deal commands.
public enum DealInput {
    /// Maximum length of a deal name.
    public static let nameLimit = 255
    /// Maximum length of a lost reason.
    public static let lostReasonLimit = 500

    /// `LifecycleStageChanged{source:"automation"}` for each active customer of `customerIDs` whose
    /// lifecycle stage is before `target` (a deal lifts its customers to `opportunity`,
    /// winning lifts them to `customer`). Merged or erased customers are skipped.
    static func lift(
        _ customerIDs: [String],
        to target: String,
        _ state: any DecisionState,
        causedBy: Int
    ) throws -> [NewEvent] {
        guard let targetRank = Validation.lifecycleRank(target) else { return [] }
        var events: [NewEvent] = []
        for id in customerIDs {
            guard let customer = try state.customer(id, personal: false), customer.status == .active,
                let rank = Validation.lifecycleRank(customer.lifecycleStage), rank < targetRank
            else { continue }
            events.append(
                NewEvent(
                    .customer(
                        .lifecycleStageChanged(
                            LifecycleStageChanged(
                                customerID: id, from: customer.lifecycleStage, to: target, source: "automation"
                            )
                        )
                    ),
                    stream: CustomerStream.name(id),
                    causedBy: causedBy
                )
            )
        }
        return events
    }

    /// Checks the probability override of a move or creation into `stage`: closed stages keep their
    /// fixed probability.
    static func probability(_ override: Int?, for stage: PipelineDefinition.Stage) throws(Rejection) -> Int {
        guard let override else { return stage.probability }
        if stage.kind != "open", override != stage.probability {
            throw Rejection.invalid(
                "probability",
                "a \(stage.kind) stage has probability \(stage.probability)"
            )
        }
        return override
    }

    /// The pipeline `id` or `unknown_pipeline`.
    static func pipeline(_ id: String, _ state: any DecisionState, field: String) throws -> PipelineState {
        guard let pipeline = try state.pipeline(id) else {
            throw Rejection(
                .unknownPipeline,
                field: field,
                "pipeline \(id) does not exist",
                details: ["pipeline_id": .string(id)]
            )
        }
        return pipeline
    }

    /// The stage `id` of `pipeline` or `unknown_stage`.
    static func stage(_ id: String, _ pipeline: PipelineDefinition) throws(Rejection) -> PipelineDefinition.Stage {
        guard let stage = pipeline.stage(id) else {
            throw Rejection(
                .unknownStage,
                field: "stage_id",
                "pipeline \(pipeline.id) has no stage \(id)",
                details: ["pipeline_id": .string(pipeline.id), "stage_id": .string(id)]
            )
        }
        return stage
    }

    /// Rejects a lost stage without reason when the pipeline requires one, and a reason for any other
    /// stage.
    static func checkLostReason(
        _ reason: String?,
        stage: PipelineDefinition.Stage,
        pipeline: PipelineDefinition
    ) throws(Rejection) {
        if stage.kind == "lost", pipeline.requireLostReason, reason == nil {
            throw Rejection(
                .lostReasonRequired,
                field: "lost_reason",
                "pipeline \(pipeline.id) requires a lost_reason to close a deal as lost"
            )
        }
        if stage.kind != "lost", reason != nil {
            throw Rejection.invalid("lost_reason", "only a move into a lost stage takes a lost_reason")
        }
    }
}

/// The reply members of every deal command.
private func dealResult(_ id: String) -> CommandResult { CommandResult(.deal, id) }

// MARK: - deal.create

/// `deal.create`: a new deal in a pipeline stage.
///
/// Emits `DealCreated`, then `LifecycleStageChanged{source:"automation"}` for each customer before
/// `opportunity` (before `customer` when the deal is created won).
public struct CreateDeal: DomainCommand {
    /// `deal.create`.
    public static let method = "deal.create"

    /// The client-supplied id, or `nil` to use the generated one.
    public let dealID: String?
    /// Pipeline id.
    public let pipelineID: String
    /// Name (personal data).
    public let name: String
    /// Customers, the first being the primary contact.
    public let customerIDs: [String]
    /// Stage id, or `nil` for the first open stage.
    public let stageID: String?
    /// Amount, or `nil`.
    public let amount: MoneyAmount?
    /// Currency (required with an amount).
    public let currency: String?
    /// Expected close date.
    public let closeDate: String?
    /// Owner (user) id.
    public let ownerID: String?
    /// Probability override.
    public let probability: Int?
    /// Lost reason, for a deal created in a lost stage.
    public let lostReason: String?

    /// The command with every field given; the RPC edge builds it from the params.
    public init(
        dealID: String?,
        pipelineID: String,
        name: String,
        customerIDs: [String],
        stageID: String?,
        amount: MoneyAmount?,
        currency: String?,
        closeDate: String?,
        ownerID: String?,
        probability: Int?,
        lostReason: String?
    ) {
        self.dealID = dealID
        self.pipelineID = pipelineID
        self.name = name
        self.customerIDs = customerIDs
        self.stageID = stageID
        self.amount = amount
        self.currency = currency
        self.closeDate = closeDate
        self.ownerID = ownerID
        self.probability = probability
        self.lostReason = lostReason
    }

    /// `deal-<deal_id>`.
    public func targetStream(_ context: CommandContext) -> String? {
        SalesStream.deal(self.dealID ?? context.generatedID)
    }

    /// Rejects an existing deal id, an unknown pipeline or stage, missing, merged or erased customers
    /// and a lost stage without a required reason.
    public func decide(_ state: any DecisionState, _ context: CommandContext) throws -> Decision {
        let id = self.dealID ?? context.generatedID
        if try state.deal(id) != nil {
            throw Rejection(.alreadyExists, field: "deal_id", "deal \(id) already exists", details: ["id": .string(id)])
        }
        let pipeline = try DealInput.pipeline(self.pipelineID, state, field: "pipeline_id").definition
        let stage: PipelineDefinition.Stage
        if let stageID = self.stageID {
            stage = try DealInput.stage(stageID, pipeline)
        } else {
            guard let first = pipeline.firstOpenStage else {
                throw Rejection(.invalidPipeline, field: "pipeline_id", "pipeline \(pipeline.id) has no open stage")
            }
            stage = first
        }
        for (index, customerID) in self.customerIDs.enumerated() {
            _ = try state.activeCustomer(customerID, field: "customer_ids[\(index)]", personal: false)
        }
        try DealInput.checkLostReason(self.lostReason, stage: stage, pipeline: pipeline)
        let probability = try DealInput.probability(self.probability, for: stage)
        let lastOpenStage: String?
        switch stage.kind {
        case "open": lastOpenStage = stage.id
        case "lost": lastOpenStage = pipeline.lowestProbabilityOpenStage?.id
        default: lastOpenStage = pipeline.highestProbabilityOpenStage?.id
        }
        let created = DealCreated(
            dealID: id,
            pipelineID: pipeline.id,
            pipelineVersion: pipeline.version,
            stageID: stage.id,
            kind: stage.kind,
            probability: probability,
            amount: self.amount,
            currency: self.currency,
            closeDate: self.closeDate,
            customerIDs: self.customerIDs,
            ownerID: self.ownerID,
            lastOpenStage: lastOpenStage,
            lostReason: self.lostReason,
            name: self.name
        )
        let target = stage.kind == "won" ? "customer" : "opportunity"
        let lifted = try DealInput.lift(self.customerIDs, to: target, state, causedBy: 0)
        let event = NewEvent(.sales(.dealCreated(created)), stream: SalesStream.deal(id))
        return Decision(events: [event] + lifted, result: dealResult(id))
    }
}

// MARK: - deal.move

/// `deal.move`: moves a deal to another stage of its pipeline. Skipping, moving back and
/// reopening are plain stage changes, flagged in the event.
///
/// Emits `DealStageChanged` (nothing for the current stage); into a won stage, also
/// `LifecycleStageChanged{source:"automation", to:"customer"}` for each customer before `customer`.
public struct MoveDeal: DomainCommand {
    /// `deal.move`.
    public static let method = "deal.move"

    /// The deal.
    public let dealID: String
    /// The target stage.
    public let stageID: String
    /// Why the deal was lost (moves into a lost stage only).
    public let lostReason: String?
    /// Probability override, kept until the next stage change.
    public let probability: Int?

    /// The command with every field given; the RPC edge builds it from the params.
    public init(
        dealID: String,
        stageID: String,
        lostReason: String?,
        probability: Int?
    ) {
        self.dealID = dealID
        self.stageID = stageID
        self.lostReason = lostReason
        self.probability = probability
    }

    /// `deal-<deal_id>`.
    public func targetStream(_ context: CommandContext) -> String? { SalesStream.deal(self.dealID) }

    /// Rejects an unknown deal or stage and a lost stage without a required reason.
    public func decide(_ state: any DecisionState, _ context: CommandContext) throws -> Decision {
        guard let deal = try state.deal(self.dealID) else { throw Rejection.notFound("deal_id", "deal", self.dealID) }
        let pipeline = try DealInput.pipeline(deal.pipelineID, state, field: "deal_id").definition
        let to = try DealInput.stage(self.stageID, pipeline)
        guard to.id != deal.stageID else { return Decision(events: [], result: dealResult(self.dealID)) }
        try DealInput.checkLostReason(self.lostReason, stage: to, pipeline: pipeline)
        let probability = try DealInput.probability(self.probability, for: to)
        let fromKind = deal.kind
        var backward = false
        if fromKind == "open", to.kind == "open", let fromOrder = pipeline.openOrder(deal.stageID),
            let toOrder = pipeline.openOrder(to.id)
        {
            backward = toOrder < fromOrder
        }
        let reopened = fromKind != "open" && to.kind == "open"
        let lastOpenStage: String?
        switch (fromKind, to.kind) {
        case (_, "open"): lastOpenStage = to.id
        case ("open", _): lastOpenStage = deal.stageID
        case ("won", "lost"): lastOpenStage = pipeline.highestProbabilityOpenStage?.id ?? deal.lastOpenStage
        default: lastOpenStage = deal.lastOpenStage
        }
        let changed = DealStageChanged(
            dealID: self.dealID,
            pipelineID: pipeline.id,
            from: deal.stageID,
            to: to.id,
            fromKind: fromKind,
            toKind: to.kind,
            probability: probability,
            backward: backward,
            reopened: reopened,
            lastOpenStage: lastOpenStage,
            lostReason: self.lostReason
        )
        let event = NewEvent(.sales(.dealStageChanged(changed)), stream: SalesStream.deal(self.dealID))
        var events = [event]
        if to.kind == "won" {
            events += try DealInput.lift(deal.customerIDs, to: "customer", state, causedBy: 0)
        }
        return Decision(events: events, result: dealResult(self.dealID))
    }
}

// MARK: - deal.update

/// `deal.update`: changes name, amount, currency, close date, owner or customers.
/// `amount`, `close_date` and `owner_id` given as `null` are cleared.
///
/// Emits `DealUpdated{changed_fields, changes}` (the name change under `pii.changes`), or nothing when no
/// value changes; customers added to the deal are lifted like on `deal.create`.
public struct UpdateDeal: DomainCommand {
    /// `deal.update`.
    public static let method = "deal.update"

    /// The deal.
    public let dealID: String
    /// New name.
    public let name: String?
    /// New amount (`.some(nil)` clears it).
    public let amount: MoneyAmount??
    /// New currency.
    public let currency: String?
    /// New close date (`.some(nil)` clears it).
    public let closeDate: String??
    /// New owner (`.some(nil)` clears it).
    public let ownerID: String??
    /// New customer list.
    public let customerIDs: [String]?

    /// The command with every field given; the RPC edge builds it from the params.
    public init(
        dealID: String,
        name: String?,
        amount: MoneyAmount??,
        currency: String?,
        closeDate: String??,
        ownerID: String??,
        customerIDs: [String]?
    ) {
        self.dealID = dealID
        self.name = name
        self.amount = amount
        self.currency = currency
        self.closeDate = closeDate
        self.ownerID = ownerID
        self.customerIDs = customerIDs
    }

    /// `deal-<deal_id>`.
    public func targetStream(_ context: CommandContext) -> String? { SalesStream.deal(self.dealID) }

    /// Rejects an unknown deal, an amount without currency and added customers that are missing,
    /// merged or erased.
    public func decide(_ state: any DecisionState, _ context: CommandContext) throws -> Decision {
        guard let old = try state.deal(self.dealID) else { throw Rejection.notFound("deal_id", "deal", self.dealID) }
        var new = old
        if let name = self.name { new.name = name }
        if let amount = self.amount { new.amount = amount }
        if let currency = self.currency { new.currency = currency }
        if let date = self.closeDate { new.closeDate = date }
        if let owner = self.ownerID { new.ownerID = owner }
        if let ids = self.customerIDs { new.customerIDs = ids }
        if new.amount != nil, new.currency == nil {
            throw Rejection.invalid("currency", "currency is required with an amount")
        }
        let added = new.customerIDs.filter { !old.customerIDs.contains($0) }
        for id in added {
            let index = new.customerIDs.firstIndex(of: id) ?? 0
            _ = try state.activeCustomer(id, field: "customer_ids[\(index)]", personal: false)
        }
        func change<Value: Sendable & Hashable>(_ from: Value, _ to: Value) -> DealUpdated.Change<Value>? {
            from == to ? nil : DealUpdated.Change(from: from, to: to)
        }
        let updated = DealUpdated(
            dealID: self.dealID,
            pipelineID: old.pipelineID,
            name: change(old.name as String?, new.name),
            amount: change(old.amount, new.amount),
            currency: change(old.currency, new.currency),
            closeDate: change(old.closeDate, new.closeDate),
            ownerID: change(old.ownerID, new.ownerID),
            customerIDs: change(old.customerIDs as [String]?, new.customerIDs)
        )
        guard !updated.isEmpty else { return Decision(events: [], result: dealResult(self.dealID)) }
        let event = NewEvent(.sales(.dealUpdated(updated)), stream: SalesStream.deal(self.dealID))
        let target = new.kind == "won" ? "customer" : "opportunity"
        let lifted = try DealInput.lift(added, to: target, state, causedBy: 0)
        return Decision(events: [event] + lifted, result: dealResult(self.dealID))
    }
}
