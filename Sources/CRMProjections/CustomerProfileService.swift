import CRMDomain
import LMDB

extension CustomerProfileProjector {
    /// Folds ticket events into the profile of the ticket's customer (stats, timeline).
    func applyServiceEvent(_ event: RecordedEvent, _ txn: Transaction) throws {}
}
