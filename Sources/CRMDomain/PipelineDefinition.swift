/// A sales pipeline: ordered stages, each `open`, `won` or `lost` with a default probability. The
/// same type describes the fixed customer lifecycle to the funnel.
public struct PipelineDefinition: Sendable, Hashable {
    /// One stage of a pipeline.
    public struct Stage: Sendable, Hashable {
        /// Stage id, unique in the pipeline.
        public var id: String
        /// Display name.
        public var name: String
        /// Default probability 0–100 (won = 100, lost = 0).
        public var probability: Int
        /// `open`, `won` or `lost`.
        public var kind: String

        /// Creates a stage.
        public init(id: String, name: String, probability: Int, kind: String) {
            self.id = id
            self.name = name
            self.probability = probability
            self.kind = kind
        }

    }

    /// The stage kinds.
    public static let kinds = ["open", "won", "lost"]
    /// The pseudo pipeline id of the customer lifecycle funnel.
    public static let lifecycleID = "lifecycle"

    /// Pipeline id.
    public var id: String
    /// Version, from 1, bumped by every `pipeline.define` of this id.
    public var version: Int
    /// Display name.
    public var name: String
    /// Stages in funnel order.
    public var stages: [Stage]
    /// Whether a move into a `lost` stage needs a `lost_reason`.
    public var requireLostReason: Bool

    /// Creates a definition.
    public init(id: String, version: Int, name: String, stages: [Stage], requireLostReason: Bool) {
        self.id = id
        self.version = version
        self.name = name
        self.stages = stages
        self.requireLostReason = requireLostReason
    }

    /// The stage `id`, or `nil`.
    public func stage(_ id: String) -> Stage? { self.stages.first { $0.id == id } }

    /// The open stages in order.
    public var openStages: [Stage] { self.stages.filter { $0.kind == "open" } }

    /// The position of open stage `id` among the open stages, or `nil`.
    public func openOrder(_ id: String) -> Int? { self.openStages.firstIndex { $0.id == id } }

    /// The first open stage (the default stage of a new deal).
    public var firstOpenStage: Stage? { self.openStages.first }

    /// The open stage with the lowest probability (first in order on ties): `last_open_stage` of a deal
    /// created as lost (EspoCRM "Created as Lost").
    public var lowestProbabilityOpenStage: Stage? {
        self.openStages.enumerated().min { ($0.element.probability, $0.offset) < ($1.element.probability, $1.offset) }?
            .element
    }

    /// The open stage with the highest probability (last in order on ties): `last_open_stage` of a won
    /// deal that is moved to lost (EspoCRM "Won changed to Lost").
    public var highestProbabilityOpenStage: Stage? {
        self.openStages.enumerated().max { ($0.element.probability, $0.offset) < ($1.element.probability, $1.offset) }?
            .element
    }

    /// The customer lifecycle as a pipeline: the stages up to `opportunity` are
    /// open, `customer` and `evangelist` count as won, and `other` leaves the funnel like a loss.
    public static let lifecycle = PipelineDefinition(
        id: PipelineDefinition.lifecycleID,
        version: 1,
        name: "Customer lifecycle",
        stages: Validation.lifecycleStages.enumerated().map { index, stage in
            let kind = stage == "customer" || stage == "evangelist" ? "won" : stage == "other" ? "lost" : "open"
            let probability = kind == "won" ? 100 : kind == "lost" ? 0 : index * 20
            return Stage(id: stage, name: stage, probability: probability, kind: kind)
        },
        requireLostReason: false
    )

}

/// Stream names of the sales aggregates.
public enum SalesStream {
    /// `pipeline-<id>`.
    public static func pipeline(_ id: String) -> String { "pipeline-\(id)" }
    /// `deal-<id>`.
    public static func deal(_ id: String) -> String { "deal-\(id)" }
}

/// The event types of the sales funnel.
public enum SalesEventType {
    /// `PipelineDefined`.
    public static let pipelineDefined = "PipelineDefined"
    /// `DealCreated`.
    public static let dealCreated = "DealCreated"
    /// `DealStageChanged`.
    public static let dealStageChanged = "DealStageChanged"
    /// `DealUpdated`.
    public static let dealUpdated = "DealUpdated"
    /// `OrderRecorded`.
    public static let orderRecorded = "OrderRecorded"
    /// `OrderRefunded`.
    public static let orderRefunded = "OrderRefunded"
    /// `OrderCancelled`.
    public static let orderCancelled = "OrderCancelled"
    /// `ValueModelFitted`.
    public static let valueModelFitted = "ValueModelFitted"
    /// `ChurnMarked`.
    public static let churnMarked = "ChurnMarked"
    /// `ChurnUnmarked`.
    public static let churnUnmarked = "ChurnUnmarked"
    /// `ValueSettingsChanged`.
    public static let valueSettingsChanged = "ValueSettingsChanged"
    /// `RfmSegmentMapDefined`.
    public static let rfmSegmentMapDefined = "RfmSegmentMapDefined"
    /// `RfmSnapshotTaken`.
    public static let rfmSnapshotTaken = "RfmSnapshotTaken"
}

/// What `decide` knows about a pipeline: its current definition and how many open deals sit in each
/// stage (for `stage_in_use`). Stored in the `pipelines` state table.
public struct PipelineState: Sendable, Hashable {
    /// The current definition.
    public var definition: PipelineDefinition
    /// Stage id → number of deals currently in that stage while it is open.
    public var openDeals: [String: Int]

    /// Creates a state.
    public init(definition: PipelineDefinition, openDeals: [String: Int] = [:]) {
        self.definition = definition
        self.openDeals = openDeals
    }

    /// Format of the binary row; bump it with the decision state's version.
    static let rowFormat: UInt8 = 1

    /// The compact binary row stored in the `pipelines` table.
    public func encoded() -> [UInt8] {
        let definition = self.definition
        var row = BinaryRowWriter(capacity: 64 + 32 * definition.stages.count)
        row.byte(PipelineState.rowFormat)
        row.string(definition.id)
        row.int(Int64(definition.version))
        row.string(definition.name)
        row.count(definition.stages.count)
        for stage in definition.stages {
            row.string(stage.id)
            row.string(stage.name)
            row.int(Int64(stage.probability))
            row.string(stage.kind)
        }
        row.bool(definition.requireLostReason)
        row.count(self.openDeals.count)
        for stageID in self.openDeals.keys.sorted() {
            row.string(stageID)
            row.int(Int64(self.openDeals[stageID]!))
        }
        return row.bytes
    }

    /// Decodes a row written by ``encoded()``.
    public init(decoding bytes: [UInt8]) throws(StateDecodingError) {
        var row = BinaryRowReader(bytes, what: "pipeline record")
        try row.format(PipelineState.rowFormat)
        let id = try row.string()
        let version = Int(try row.int())
        let name = try row.string()
        var stages: [PipelineDefinition.Stage] = []
        for _ in 0..<(try row.count()) {
            stages.append(
                PipelineDefinition.Stage(
                    id: try row.string(),
                    name: try row.string(),
                    probability: Int(try row.int()),
                    kind: try row.string()
                )
            )
        }
        self.definition = PipelineDefinition(
            id: id,
            version: version,
            name: name,
            stages: stages,
            requireLostReason: try row.bool()
        )
        self.openDeals = [:]
        for _ in 0..<(try row.count()) {
            let stageID = try row.string()
            self.openDeals[stageID] = Int(try row.int())
        }
        try row.finish()
    }
}

extension DecisionState {
    /// The pipeline `id`, or `nil`.
    public func pipeline(_ id: String) throws -> PipelineState? {
        try self.record(.pipelines, id).map(PipelineState.init(decoding:))
    }

    /// The deal `id`, or `nil`; its name (personal data) is kept in a record of its own, and is empty
    /// when there is none or when it was erased.
    public func deal(_ id: String) throws -> DealState? {
        guard var deal = try self.record(.deals, id).map(DealState.init(decoding:)) else { return nil }
        deal.name = try self.record(.dealNames, id).map { String(decoding: $0, as: UTF8.self) } ?? ""
        return deal
    }
}

extension DecisionStateStore {
    /// Stores `pipeline` as the pipeline `id`.
    func setPipeline(_ id: String, _ pipeline: PipelineState) throws {
        try self.setRecord(.pipelines, id, pipeline.encoded())
    }

    /// Stores `deal` as the deal `id`, without its name (see ``setDealName(_:_:)``).
    func setDeal(_ id: String, _ deal: DealState) throws {
        try self.setRecord(.deals, id, deal.encoded())
    }

    /// Stores the name of deal `id` (personal data: a record of its own, written only by the events
    /// that name the deal); an empty name removes it.
    func setDealName(_ id: String, _ name: String) throws {
        try self.setRecord(.dealNames, id, name.isEmpty ? nil : Array(name.utf8))
    }
}
