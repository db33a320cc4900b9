import CRMProjections
import LMDB

/// Every read model the daemon keeps inline, in the order they are applied.
enum ProjectorRegistry {
    static let readModels: [ProjectorFactory] = [
        { txn, slot, cipher in try CustomerProfileProjector(txn, slot: slot, cipher: cipher) },
        { txn, slot, cipher in try FunnelProjector(txn, slot: slot, cipher: cipher) },
        { txn, slot, cipher in try SlaProjector(txn, slot: slot, cipher: cipher) },
        { txn, slot, cipher in try ValueProjector(txn, slot: slot, cipher: cipher) },
        { txn, slot, cipher in try FeedbackProjector(txn, slot: slot, cipher: cipher) },
        { txn, slot, cipher in try SegmentProjector(txn, slot: slot, cipher: cipher) },
        { txn, slot, cipher in try CampaignProjector(txn, slot: slot, cipher: cipher) },
    ]
}
