/// Every command of the domain; the daemon builds its JSON-RPC method table from this list.
public enum DomainCommands {
    /// The command types, customer commands first.
    public static let all: [any DomainCommand.Type] = [
        CreateCustomer.self, UpdateCustomer.self, TagCustomer.self, AssignOwner.self, SetLifecycleStage.self,
        SetLeadStatus.self, SetConsent.self, LogActivity.self,
    ] + SalesCommands.all + ServiceCommands.all

    /// The command type for a JSON-RPC method name, or `nil`.
    public static func command(forMethod method: String) -> (any DomainCommand.Type)? {
        DomainCommands.all.first { $0.method == method }
    }
}
