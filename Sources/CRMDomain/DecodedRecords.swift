import Synchronization

/// Decoded forms of decision-state records that change rarely but are read by many commands (SLA
/// policies, schedules), reused for as long as the stored bytes are the same.
///
/// The cache is keyed by the record's key and checked against its stored bytes on every read, so it
/// never answers for a record that changed, whichever transaction changed it (including one that
/// was later aborted): it only saves parsing identical bytes again.
final class DecodedRecords<Value: Sendable>: Sendable {
    private let entries = Mutex<[String: (bytes: [UInt8], value: Value)]>([:])
    /// Most records kept; beyond it the cache starts over (these tables hold few records).
    private let capacity: Int

    init(capacity: Int = 1024) { self.capacity = capacity }

    /// The decoded form of `bytes`, stored under `key`: from the cache when it holds these very bytes,
    /// else from `decode`.
    func value(_ key: String, _ bytes: [UInt8], decode: ([UInt8]) throws -> Value) throws -> Value {
        if let cached = self.entries.withLock({ $0[key] }), cached.bytes == bytes { return cached.value }
        let value = try decode(bytes)
        self.entries.withLock { entries in
            if entries.count >= self.capacity { entries.removeAll(keepingCapacity: true) }
            entries[key] = (bytes, value)
        }
        return value
    }
}

enum DecodedState {
    static let slaPolicies = DecodedRecords<SlaPolicy>()
    static let schedules = DecodedRecords<BusinessSchedule>()
    /// Under one key, `active`: the active policies of the last policy-set fingerprint read.
    static let activePolicies = DecodedRecords<[SlaPolicy]>()
}
