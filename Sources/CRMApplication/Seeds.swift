import CRMDomain
import CRMJSON

/// Commands run once, in order, when the daemon starts on an empty log, so a new user can work at
/// once. They are ordinary commands: their events are in the log with the daemon's own uid as actor.
/// ``CoreConfiguration/seedDefaults`` turns them off.
enum Seeds {
    /// `(method, params)` pairs.
    static let onEmptyLog: [(method: String, params: JSON)] = [("pipeline.define", DefaultPipeline.params())]
}
