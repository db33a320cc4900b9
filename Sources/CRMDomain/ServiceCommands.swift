/// The service commands (schedules, SLA policies, tickets, DOMAIN.md §2.1, §2.2, §5.1).
public enum ServiceCommands {
    /// Command types of the service desk.
    public static let all: [any DomainCommand.Type] = []
}

/// Folds service events into decision state.
public enum ServiceEvolver {
    /// Applies `event` if it is a service event; ignores everything else.
    public static func apply(_ event: RecordedEvent, to store: any DecisionStateStore) throws {}
}
