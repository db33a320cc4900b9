import CRMDomain

/// Commands run once, in order, when the daemon starts on an empty log, so a new user can work at
/// once. They are ordinary commands: their events are in the log with the daemon's own uid as actor.
/// ``CoreConfiguration/seedDefaults`` turns them off.
enum Seeds {
    /// The commands, in order.
    static let onEmptyLog: [any DomainCommand] = [DefaultPipeline.command()]
}
