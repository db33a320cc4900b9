import CRMDomain
import CRMJSON
import CRMParams
import LMDB

extension QueryRouter {
    /// `customer.erasure_status {customer_id}` (admin) → where the customer's erasure stands:
    ///
    /// ```json
    /// {"customer_id":"c7","state":"erased","legal_hold":false,"erased_seq":14,"erased_at":"…",
    ///  "keys":[{"kid":"c:c7","deleted_at":"…"}],"keys_deleted_at":"…","kek_rotated_at":"…",
    ///  "complete":true}
    /// ```
    ///
    /// An erasure is complete once every key it destroys is deleted from the key store and the
    /// key-encryption key was replaced since (which makes any stale copy of the deleted keys useless).
    /// A customer that was not erased has `erased_seq` `null` and `complete` `false`.
    ///
    /// Rejections: `missing_field`/`invalid_field` `customer_id`, unknown fields, `not_found`.
    func erasureStatus(_ params: JSON?) throws -> JSON {
        var reader = try Params(params)
        let customerID = try reader.identifier("customer_id", required: true)!
        try reader.finish()
        let (customer, erasure) = try self.environment.read { txn in
            let state = self.storage.runner.state.state(txn)
            return (try state.customer(customerID), try state.erasure(customerID))
        }
        guard let customer else { throw Rejection.notFound("customer_id", "customer", customerID) }
        var status: [String: JSON] = [
            "customer_id": .string(customerID), "state": .string(customer.status.rawValue),
            "legal_hold": .bool(customer.legalHold), "erased_seq": .null, "erased_at": .null, "keys": [],
            "keys_deleted_at": .null, "kek_rotated_at": .null, "complete": false,
        ]
        guard let erasure, let keyStore = self.storage.keyStore else { return .object(status) }
        status["erased_seq"] = .int(Int64(erasure.seq))
        status["erased_at"] = .string(Timestamp.format(erasure.at))
        var keys: [JSON] = []
        var allDeleted = true
        var lastDeleted: Int64?
        var oldestEpoch = Int.max
        for kid in erasure.keyIDs {
            let tombstone = try keyStore.tombstone(kid)
            let held = try keyStore.holdsKey(of: kid, main: self.environment)
            let deletedAt = held ? nil : tombstone?.deletedAt
            if let deletedAt {
                lastDeleted = max(lastDeleted ?? deletedAt, deletedAt)
                oldestEpoch = min(oldestEpoch, tombstone?.epoch ?? Int.max)
            } else {
                allDeleted = false
            }
            keys.append(["kid": .string(kid), "deleted_at": .string(deletedAt.map(Timestamp.format))])
        }
        status["keys"] = .array(keys)
        guard allDeleted, let lastDeleted else { return .object(status) }
        status["keys_deleted_at"] = .string(Timestamp.format(lastDeleted))
        let rotated = keyStore.epoch > oldestEpoch
        if rotated { status["kek_rotated_at"] = .string(keyStore.rotatedAt.map(Timestamp.format)) }
        status["complete"] = .bool(rotated)
        return .object(status)
    }
}
