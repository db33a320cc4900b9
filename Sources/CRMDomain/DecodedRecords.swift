import CRMJSON
import Synchronization

/// Decoded forms of decision-state records, reused for as long as the stored bytes are the same, so
/// a record read by many commands is parsed once.
///
/// The cache is keyed by the record's key and checked against its stored bytes on every read, so it
/// never answers for a record that changed, whichever transaction changed it (including one that
/// was later aborted): it only saves parsing identical bytes again. Writers that encode a record
/// hand the cache the value with its bytes (``remember(_:_:_:)``), so the next read of a record
/// just written is a hit too.
final class DecodedRecords<Value: Sendable>: Sendable {
    private let entries = Mutex<[String: (bytes: [UInt8], value: Value)]>([:])
    /// Most records kept; beyond it the cache starts over, which bounds its memory whatever the
    /// number of records, at the cost of re-parsing the working set once.
    private let capacity: Int

    init(capacity: Int = 1024) { self.capacity = capacity }

    /// The decoded form of `bytes`, stored under `key`: from the cache when it holds these very bytes,
    /// else from `decode`.
    func value(_ key: String, _ bytes: [UInt8], decode: ([UInt8]) throws -> Value) throws -> Value {
        if let cached = self.entries.withLock({ $0[key] }), cached.bytes == bytes { return cached.value }
        let value = try decode(bytes)
        self.remember(key, bytes, value)
        return value
    }

    /// Records that `bytes`, stored under `key`, decode to `value`.
    func remember(_ key: String, _ bytes: [UInt8], _ value: Value) {
        self.entries.withLock { entries in
            if entries.count >= self.capacity, entries[key] == nil { entries.removeAll(keepingCapacity: true) }
            entries[key] = (bytes, value)
        }
    }
}

enum DecodedState {
    static let slaPolicies = DecodedRecords<SlaPolicy>()
    static let schedules = DecodedRecords<BusinessSchedule>()
    /// Under one key, `active`: the active policies of the last policy-set fingerprint read.
    static let activePolicies = DecodedRecords<[SlaPolicy]>()
    /// Records read by nearly every command; sized for a working set of customers, deals and tickets
    /// (a decoded customer takes about 1–2 KB).
    static let customers = DecodedRecords<CustomerState>(capacity: 32_768)
    static let pipelines = DecodedRecords<PipelineState>()
    static let deals = DecodedRecords<DealState>(capacity: 16_384)
    static let tickets = DecodedRecords<TicketState>(capacity: 16_384)
}

extension DecisionState {
    /// The record `key` of `table` decoded with `decode`, through `cache`; `nil` when there is none.
    func decodedRecord<Value>(
        _ table: StateTable,
        _ key: String,
        _ cache: DecodedRecords<Value>,
        decode: ([UInt8]) throws -> Value
    ) throws -> Value? {
        guard let bytes = try self.record(table, key) else { return nil }
        return try cache.value(key, bytes, decode: decode)
    }
}

extension DecodedRecords {
    /// Reads a record stored as the JSON of a value that `make` builds back, or throws naming the
    /// malformed record (`what`, e.g. "ticket t-1").
    static func fromJSON(
        _ bytes: [UInt8],
        _ what: @autoclosure () -> String,
        _ make: (JSON) -> Value?
    ) throws -> Value {
        guard let value = make(try JSON.parse(bytes)) else {
            throw StateDecodingError("stored \(what()) is malformed")
        }
        return value
    }
}

extension DecisionStateStore {
    /// Stores `bytes`, the encoding of `value`, as record `key` of `table`, and tells `cache`.
    func setDecodedRecord<Value>(
        _ table: StateTable,
        _ key: String,
        _ value: Value,
        encoded bytes: [UInt8],
        _ cache: DecodedRecords<Value>
    ) throws {
        try self.setRecord(table, key, bytes)
        cache.remember(key, bytes, value)
    }
}
