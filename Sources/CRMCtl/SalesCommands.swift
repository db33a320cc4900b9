import ArgumentParser

/// `crmctl funnel …` and `crmctl deal …` subcommands (sales funnel).
enum SalesSubcommands {
    /// Top-level command groups added to `crmctl`.
    static let groups: [any ParsableCommand.Type] = []
}
