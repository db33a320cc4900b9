import CRMDomain
import LMDB

extension CustomerProfileProjector {
    /// Folds deal events into the profiles of the deal's customers (stats, timeline).
    func applySalesEvent(_ event: RecordedEvent, _ txn: Transaction) throws {}
}
