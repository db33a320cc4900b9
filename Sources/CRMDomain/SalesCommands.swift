/// The sales commands (pipelines and deals, DOMAIN.md §2.3, §4).
public enum SalesCommands {
    /// Command types of the sales funnel.
    public static let all: [any DomainCommand.Type] = []
}

/// Folds sales events into decision state.
public enum SalesEvolver {
    /// Applies `event` if it is a sales event; ignores everything else.
    public static func apply(_ event: RecordedEvent, to store: any DecisionStateStore) throws {}
}
