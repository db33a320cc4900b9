public import CRMJSON

// MARK: - pipeline.define

/// `pipeline.define`: creates a pipeline or replaces its definition with a new version.
///
/// Emits `PipelineDefined{pipeline_id, version, name, stages, require_lost_reason}`, or nothing when the
/// definition equals the current one.
public struct DefinePipeline: DomainCommand {
    /// `pipeline.define`.
    public static let method = "pipeline.define"
    /// Maximum length of pipeline and stage names.
    public static let nameLimit = 100
    /// Most stages a pipeline may have.
    public static let stageLimit = 50

    /// The definition to store (its `version` is set in `decide`).
    public let definition: PipelineDefinition

    /// Parses and validates the params; structural problems are `invalid_pipeline`.
    public init(params: JSON?) throws(Rejection) {
        var params = try Params(params)
        let id = try params.identifier("pipeline_id", required: true)!
        guard id != PipelineDefinition.lifecycleID else {
            throw Rejection.invalid("pipeline_id", "\"\(id)\" is reserved for the customer lifecycle funnel")
        }
        let name = try DefinePipeline.name(&params, "name", required: true)!
        let elements = try params.array("stages", required: true)!
        let requireLostReason = try params.bool("require_lost_reason") ?? false
        try params.finish()
        guard !elements.isEmpty, elements.count <= DefinePipeline.stageLimit else {
            throw Rejection(
                .invalidPipeline,
                field: "stages",
                "a pipeline needs 1 to \(DefinePipeline.stageLimit) stages"
            )
        }
        var stages: [PipelineDefinition.Stage] = []
        for (index, element) in elements.enumerated() {
            var entry = try Params(element, path: "stages[\(index)]")
            let stageID = try entry.identifier("id", required: true)!
            let kind = try entry.oneOf("kind", PipelineDefinition.kinds) ?? "open"
            let stageName = try DefinePipeline.name(&entry, "name", required: false) ?? stageID
            let probabilityField = entry.fieldPath("probability")
            let probability: Int
            if let raw = try entry.raw("probability") {
                guard let number = raw.intValue, raw.doubleValue == Double(number) else {
                    throw Rejection.invalid(probabilityField, "must be an integer")
                }
                probability = Int(clamping: number)
            } else {
                probability = kind == "won" ? 100 : kind == "lost" ? 0 : -1
            }
            try entry.finish()
            switch kind {
            case "won" where probability != 100:
                throw Rejection(.invalidPipeline, field: probabilityField, "a won stage has probability 100")
            case "lost" where probability != 0:
                throw Rejection(.invalidPipeline, field: probabilityField, "a lost stage has probability 0")
            case "open" where !(0...100).contains(probability):
                throw Rejection(
                    .invalidPipeline,
                    field: probabilityField,
                    probability == -1 ? "an open stage needs a probability" : "must be from 0 to 100"
                )
            default:
                break
            }
            if stages.contains(where: { $0.id == stageID }) {
                throw Rejection(
                    .invalidPipeline,
                    field: entry.fieldPath("id"),
                    "stage id \(stageID) is used twice",
                    details: ["stage_id": .string(stageID)]
                )
            }
            stages.append(PipelineDefinition.Stage(id: stageID, name: stageName, probability: probability, kind: kind))
        }
        for kind in PipelineDefinition.kinds where !stages.contains(where: { $0.kind == kind }) {
            throw Rejection(
                .invalidPipeline,
                field: "stages",
                "a pipeline needs at least one open, one won and one lost stage (no \(kind) stage)"
            )
        }
        self.definition = PipelineDefinition(
            id: id,
            version: 1,
            name: name,
            stages: stages,
            requireLostReason: requireLostReason
        )
    }

    /// A trimmed, non-empty name of at most ``nameLimit`` characters.
    static func name(_ params: inout Params, _ key: String, required: Bool) throws(Rejection) -> String? {
        guard let raw = try params.string(key, required: required) else { return nil }
        let text = Validation.trimmed(raw)
        guard !text.isEmpty, text.count <= DefinePipeline.nameLimit else {
            throw Rejection.invalid(params.fieldPath(key), "must be 1 to \(DefinePipeline.nameLimit) characters")
        }
        return text
    }

    /// `pipeline-<pipeline_id>`.
    public func targetStream(_ context: CommandContext) -> String? { SalesStream.pipeline(self.definition.id) }

    /// Rejects removing (or closing) a stage that still holds open deals: `stage_in_use`.
    public func decide(_ state: any DecisionState, _ context: CommandContext) throws -> Decision {
        var definition = self.definition
        var result = CommandResult(.pipeline, definition.id)
        if let current = try state.pipeline(definition.id) {
            var same = current.definition
            same.version = definition.version
            if same == definition {
                result.version = Int64(current.definition.version)
                return Decision(events: [], result: result)
            }
            for (stageID, count) in current.openDeals.sorted(by: { $0.key < $1.key }) where count > 0 {
                guard definition.stage(stageID)?.kind != "open" else { continue }
                throw Rejection(
                    .stageInUse,
                    field: "stages",
                    "stage \(stageID) still holds \(count) open deal(s); move them first",
                    details: ["stage_id": .string(stageID), "open_deals": .int(count)]
                )
            }
            definition.version = current.definition.version + 1
        }
        let event = NewEvent(
            .sales(.pipelineDefined(PipelineDefined(definition: definition))),
            stream: SalesStream.pipeline(definition.id)
        )
        result.version = Int64(definition.version)
        return Decision(events: [event], result: result)
    }
}
