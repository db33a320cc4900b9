public import CRMDomain
import CRMEventStore
public import CRMJSON
public import CRMParams

extension DefinePipeline {
    /// Parses and validates the params; structural problems are `invalid_pipeline`.
    public init(params: inout Params) throws(Rejection) {
        let definition: PipelineDefinition
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
        definition = PipelineDefinition(
            id: id,
            version: 1,
            name: name,
            stages: stages,
            requireLostReason: requireLostReason
        )
        self.init(definition: definition)
    }
}

extension DefinePipeline {
    /// A trimmed, non-empty name of at most ``nameLimit`` characters.
    public static func name(_ params: inout Params, _ key: String, required: Bool) throws(Rejection) -> String? {
        guard let raw = try params.string(key, required: required) else { return nil }
        let text = Validation.trimmed(raw)
        guard !text.isEmpty, text.count <= DefinePipeline.nameLimit else {
            throw Rejection.invalid(params.fieldPath(key), "must be 1 to \(DefinePipeline.nameLimit) characters")
        }
        return text
    }
}

extension DefaultPipeline {
    /// The `pipeline.define` params of ``command(id:requireLostReason:)``.
    public static func params(id: String = "sales", requireLostReason: Bool = false) -> JSON {
        [
            "pipeline_id": .string(id), "name": "Sales", "require_lost_reason": .bool(requireLostReason),
            "stages": .array(
                DefaultPipeline.stages.map { stage in
                    [
                        "id": .string(stage.id), "name": .string(stage.name), "probability": .int(stage.probability),
                        "kind": .string(stage.kind),
                    ]
                }
            ),
        ]
    }
}
