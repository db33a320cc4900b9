/// Decision state in plain dictionaries, for tests and tools that decide commands without LMDB.
public final class InMemoryDecisionState: DecisionStateStore {
    /// The records, per table.
    public private(set) var tables: [StateTable: [String: [UInt8]]] = [:]

    /// What ``keyedHash(_:)`` answers with; `nil` (the default) stands for a log that keeps personal data
    /// in plain text. Tests set a stand-in (the daemon's is an HMAC under the index key).
    public var keyedHasher: (@Sendable (String) -> String)?

    /// An empty state.
    public init() {}

    /// ``keyedHasher`` of `value`.
    public func keyedHash(_ value: String) -> String? { self.keyedHasher?(value) }

    /// ``DecisionState/plainAddressHash(_:)``: a stand-in digest for tests (the daemon's is SHA-256).
    public func plainAddressHash(_ key: String) -> String {
        "h"
            + String(
                key.unicodeScalars.reduce(UInt64(1_469_598_103_934_665_603)) {
                    ($0 ^ UInt64($1.value)) &* 1_099_511_628_211
                }, radix: 16)
    }

    /// Whether a ``keyedHasher`` is set.
    public var encryptsPersonalData: Bool { self.keyedHasher != nil }

    /// Folds `events` into a new state with ``DecisionEvolver``.
    public convenience init(events: [RecordedEvent]) throws {
        self.init()
        for event in events { try DecisionEvolver.apply(event, to: self) }
    }

    /// The stored bytes of `key` in `table`, or `nil`.
    public func record(_ table: StateTable, _ key: String) -> [UInt8]? {
        self.tables[table]?[key]
    }

    /// The keys of `table` starting with `prefix`, in byte order.
    public func keys(_ table: StateTable, prefix: String) -> [String] {
        (self.tables[table] ?? [:]).keys.filter { $0.utf8.starts(with: prefix.utf8) }
            .sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    /// Stores or removes a record.
    public func setRecord(_ table: StateTable, _ key: String, _ value: [UInt8]?) {
        self.tables[table, default: [:]][key] = value
    }

    /// The keys present in `table`, sorted.
    public func keys(_ table: StateTable) -> [String] {
        (self.tables[table] ?? [:]).keys.sorted()
    }
}
