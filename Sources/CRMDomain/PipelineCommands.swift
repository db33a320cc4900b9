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

    /// The command with every field given; the RPC edge builds it from the params.
    public init(
        definition: PipelineDefinition
    ) {
        self.definition = definition
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
