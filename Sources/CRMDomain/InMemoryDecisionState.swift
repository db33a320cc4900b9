/// Decision state in plain dictionaries, for tests and tools that decide commands without LMDB.
public final class InMemoryDecisionState: DecisionStateStore {
    /// The records, per table.
    public private(set) var tables: [StateTable: [String: [UInt8]]] = [:]

    /// An empty state.
    public init() {}

    /// Folds `events` into a new state with ``DecisionEvolver``.
    public convenience init(events: [RecordedEvent]) throws {
        self.init()
        for event in events { try DecisionEvolver.apply(event, to: self) }
    }

    /// The stored bytes of `key` in `table`, or `nil`.
    public func record(_ table: StateTable, _ key: String) -> [UInt8]? {
        self.tables[table]?[key]
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
