import CRMProjections
import LMDB

/// Every read model the daemon keeps inline, in the order they are applied.
enum ProjectorRegistry {
    static func readModels(_ txn: Transaction) throws -> [any Projector] {
        [try CustomerProfileProjector(txn), try FunnelProjector(txn), try SlaProjector(txn)]
    }
}
