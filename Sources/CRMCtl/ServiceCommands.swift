import ArgumentParser

/// `crmctl sla …`, `crmctl ticket …` subcommands (service desk).
enum ServiceSubcommands {
    /// Top-level command groups added to `crmctl`.
    static let groups: [any ParsableCommand.Type] = []
}
