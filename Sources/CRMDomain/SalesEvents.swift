/// The events of the sales funnel (pipelines and deals), typed.
///
/// `decide` of the sales commands emits these; ``SalesEvolver`` and the funnel and customer-profile
/// read models fold them. The event codec turns each into the JSON payload the log has always held for
/// its type (the deal name under `pii`, everything else under `data`).
public enum SalesEvent: Sendable, Hashable {
    /// `PipelineDefined`: a pipeline was created or got a new definition version.
    case pipelineDefined(PipelineDefined)
    /// `DealCreated`: a new deal in a pipeline stage.
    case dealCreated(DealCreated)
    /// `DealStageChanged`: a deal moved to another stage of its pipeline.
    case dealStageChanged(DealStageChanged)
    /// `DealUpdated`: name, amount, currency, close date, owner or customers of a deal changed.
    case dealUpdated(DealUpdated)
    /// `OrderRecorded`: a customer's purchase (stream `order-<id>`).
    case orderRecorded(OrderRecorded)
    /// `OrderRefunded`: part or all of an order paid back.
    case orderRefunded(OrderRefunded)
    /// `OrderCancelled`: an order that no longer counts.
    case orderCancelled(OrderCancelled)
    /// `ValueModelFitted`: parameters of a lifetime-value model (stream `model-<id>`).
    case valueModelFitted(ValueModelFitted)
    /// `ChurnMarked`: a customer marked as churned from a date (stream `customer-<id>`).
    case churnMarked(ChurnMarked)
    /// `ChurnUnmarked`: the mark withdrawn.
    case churnUnmarked(ChurnUnmarked)
    /// `ValueSettingsChanged`: reporting time zone, thresholds, RFM window (stream `settings-value`).
    case valueSettingsChanged(ValueSettingsChanged)
    /// `RfmSegmentMapDefined`: the RFM segment rules (stream `settings-rfm`).
    case rfmSegmentMapDefined(RfmSegmentMapDefined)
    /// `RfmSnapshotTaken`: every buyer's RFM scores as of a date (stream `rfm-<id>`).
    case rfmSnapshotTaken(RfmSnapshotTaken)

    /// The event type name, e.g. `DealCreated`.
    public var type: String {
        switch self {
        case .pipelineDefined: SalesEventType.pipelineDefined
        case .dealCreated: SalesEventType.dealCreated
        case .dealStageChanged: SalesEventType.dealStageChanged
        case .dealUpdated: SalesEventType.dealUpdated
        case .orderRecorded: SalesEventType.orderRecorded
        case .orderRefunded: SalesEventType.orderRefunded
        case .orderCancelled: SalesEventType.orderCancelled
        case .valueModelFitted: SalesEventType.valueModelFitted
        case .churnMarked: SalesEventType.churnMarked
        case .churnUnmarked: SalesEventType.churnUnmarked
        case .valueSettingsChanged: SalesEventType.valueSettingsChanged
        case .rfmSegmentMapDefined: SalesEventType.rfmSegmentMapDefined
        case .rfmSnapshotTaken: SalesEventType.rfmSnapshotTaken
        }
    }
}

/// `PipelineDefined{pipeline_id, version, name, stages, require_lost_reason}`: the whole new
/// definition of a pipeline.
public struct PipelineDefined: Sendable, Hashable {
    /// The definition, with its new version.
    public var definition: PipelineDefinition

    /// The event for `definition`.
    public init(definition: PipelineDefinition) {
        self.definition = definition
    }
}

/// `DealCreated`: a new deal, with everything `decide` knew about it. Stage kinds are `open`, `won` or
/// `lost`, as in ``PipelineDefinition/Stage``.
public struct DealCreated: Sendable, Hashable {
    /// Deal id.
    public var dealID: String
    /// Pipeline id.
    public var pipelineID: String
    /// The pipeline's definition version at creation.
    public var pipelineVersion: Int
    /// The stage the deal starts in.
    public var stageID: String
    /// Kind of that stage.
    public var kind: String
    /// Probability (stage default or override).
    public var probability: Int
    /// Amount, or `nil`.
    public var amount: MoneyAmount?
    /// Currency, or `nil`.
    public var currency: String?
    /// Expected close date `YYYY-MM-DD`, or `nil`.
    public var closeDate: String?
    /// Customers, the first being the primary contact.
    public var customerIDs: [String]
    /// Owner (user) id, or `nil`.
    public var ownerID: String?
    /// The open stage the deal counts as last in (for a deal created closed: EspoCRM's rule).
    public var lastOpenStage: String?
    /// Lost reason of a deal created in a lost stage, or `nil`.
    public var lostReason: String?
    /// Name (personal data). `decide` always gives one; `nil` only for a stored event without it.
    public var name: String?

    /// Creates the event.
    public init(
        dealID: String,
        pipelineID: String,
        pipelineVersion: Int,
        stageID: String,
        kind: String,
        probability: Int,
        amount: MoneyAmount?,
        currency: String?,
        closeDate: String?,
        customerIDs: [String],
        ownerID: String?,
        lastOpenStage: String?,
        lostReason: String?,
        name: String?
    ) {
        self.dealID = dealID
        self.pipelineID = pipelineID
        self.pipelineVersion = pipelineVersion
        self.stageID = stageID
        self.kind = kind
        self.probability = probability
        self.amount = amount
        self.currency = currency
        self.closeDate = closeDate
        self.customerIDs = customerIDs
        self.ownerID = ownerID
        self.lastOpenStage = lastOpenStage
        self.lostReason = lostReason
        self.name = name
    }
}

/// `DealStageChanged`: a deal moved from one stage of its pipeline to another.
public struct DealStageChanged: Sendable, Hashable {
    /// Deal id.
    public var dealID: String
    /// Pipeline id.
    public var pipelineID: String
    /// The stage the deal left (`nil` only for a stored event without it).
    public var from: String?
    /// The stage the deal entered.
    public var to: String
    /// Kind of the stage left.
    public var fromKind: String
    /// Kind of the stage entered.
    public var toKind: String
    /// The deal's probability from now on (`nil` only for a stored event without it: unchanged).
    public var probability: Int?
    /// A move back to an earlier open stage.
    public var backward: Bool
    /// A move from a closed stage back to an open one.
    public var reopened: Bool
    /// The open stage the deal counts as last in after the move (`nil`: unchanged).
    public var lastOpenStage: String?
    /// Why the deal was lost (moves into a lost stage only).
    public var lostReason: String?

    /// Creates the event.
    public init(
        dealID: String,
        pipelineID: String,
        from: String?,
        to: String,
        fromKind: String,
        toKind: String,
        probability: Int?,
        backward: Bool,
        reopened: Bool,
        lastOpenStage: String?,
        lostReason: String?
    ) {
        self.dealID = dealID
        self.pipelineID = pipelineID
        self.from = from
        self.to = to
        self.fromKind = fromKind
        self.toKind = toKind
        self.probability = probability
        self.backward = backward
        self.reopened = reopened
        self.lastOpenStage = lastOpenStage
        self.lostReason = lostReason
    }
}

/// `DealUpdated`: the fields of a deal that changed, each from its old to its new value; a field that
/// did not change is `nil`. The name change is personal data.
public struct DealUpdated: Sendable, Hashable {
    /// One field's change.
    public struct Change<Value: Sendable & Hashable>: Sendable, Hashable {
        /// The value before.
        public var from: Value
        /// The value after.
        public var to: Value

        /// A change from `from` to `to`.
        public init(from: Value, to: Value) {
            self.from = from
            self.to = to
        }
    }

    /// Deal id.
    public var dealID: String
    /// Pipeline id.
    public var pipelineID: String
    /// New name (personal data). An end is `nil` only in a stored event where it is not a string.
    public var name: Change<String?>?
    /// New amount (`nil` ends: no amount).
    public var amount: Change<MoneyAmount?>?
    /// New currency.
    public var currency: Change<String?>?
    /// New expected close date.
    public var closeDate: Change<String?>?
    /// New owner.
    public var ownerID: Change<String?>?
    /// New customer list. An end is `nil` only in a stored event where it is not a list.
    public var customerIDs: Change<[String]?>?

    /// Creates the event.
    public init(
        dealID: String,
        pipelineID: String,
        name: Change<String?>? = nil,
        amount: Change<MoneyAmount?>? = nil,
        currency: Change<String?>? = nil,
        closeDate: Change<String?>? = nil,
        ownerID: Change<String?>? = nil,
        customerIDs: Change<[String]?>? = nil
    ) {
        self.dealID = dealID
        self.pipelineID = pipelineID
        self.name = name
        self.amount = amount
        self.currency = currency
        self.closeDate = closeDate
        self.ownerID = ownerID
        self.customerIDs = customerIDs
    }

    /// The names of the changed fields, sorted (`changed_fields`).
    public var changedFields: [String] {
        var fields: [String] = []
        if self.amount != nil { fields.append("amount") }
        if self.closeDate != nil { fields.append("close_date") }
        if self.currency != nil { fields.append("currency") }
        if self.customerIDs != nil { fields.append("customer_ids") }
        if self.name != nil { fields.append("name") }
        if self.ownerID != nil { fields.append("owner_id") }
        return fields
    }

    /// Whether no field changed.
    public var isEmpty: Bool { self.changedFields.isEmpty }
}
