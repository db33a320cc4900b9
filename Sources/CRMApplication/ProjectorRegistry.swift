import CRMProjections
import LMDB

/// Every read model the daemon keeps inline, in the order they are applied.
enum ProjectorRegistry {
    static let readModels: [ProjectorFactory] = [
        { txn, slot in try CustomerProfileProjector(txn, slot: slot) },
        { txn, slot in try FunnelProjector(txn, slot: slot) },
        { txn, slot in try SlaProjector(txn, slot: slot) },
    ]
}
