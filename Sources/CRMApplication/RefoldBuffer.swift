import CRMDomain
import CRMEventStore
import LMDB

/// The decision state's busiest tables held in memory while the log is folded into them afresh
/// (start-up after a version change): the rows of customers, deals, tickets, orders and activities
/// change many times over a log, and folding them in memory reads, decodes, seals and writes each one
/// once per flush instead of once per event. The other tables (queried by key prefix, or kept with a
/// fingerprint) are written through to the transaction.
///
/// Entries hold rows as ``DecisionEvolver`` writes them, personal values unsealed: they are sealed
/// when flushed, under the key the same writes would have sealed them with one at a time, so a
/// flushed table holds exactly the bytes of the inline folds.
///
/// A chunk's writes are journaled so that a chunk folded again (``Environment/write(_:)`` runs its
/// closure again after growing the map) starts from the same buffer.
final class RefoldBuffer {
    /// A buffered row: its value (`nil`: removed) and, for a personal row of an encrypted log, the
    /// number of the key it is sealed under when flushed.
    struct Entry {
        var value: [UInt8]?
        var number: UInt64?
    }

    /// The tables held in memory (``holds(_:)``).
    static let tables = StateTable.allCases.filter(RefoldBuffer.holds)

    /// Per table (by ``StateTables/index(_:)``), the entries by key.
    private var entries: [[String: Entry]] = Array(repeating: [:], count: StateTable.allCases.count)
    /// What each write of the current chunk replaced, in order.
    private var journal: [(table: StateTable, key: String, previous: Entry?)] = []
    /// About how many bytes the entries hold.
    private(set) var bytes = 0

    /// Whether `table` is held in memory: the tables read and written by key only.
    static func holds(_ table: StateTable) -> Bool {
        switch table {
        case .customers, .customerPersonal, .emails, .activities, .deals, .dealNames, .tickets, .orders: true
        default: false
        }
    }

    /// The buffered row `key` of `table`, or `nil` when the buffer does not hold it (the stored row, if
    /// any, is then the current one).
    func entry(_ table: StateTable, _ key: String) -> Entry? {
        self.entries[StateTables.index(table)][key]
    }

    /// Every entry of `table`, in no order.
    func entries(_ table: StateTable) -> [String: Entry] {
        self.entries[StateTables.index(table)]
    }

    /// Holds `entry` as the row `key` of `table`, journaling what it replaces.
    func set(_ table: StateTable, _ key: String, _ entry: Entry) {
        let previous = self.entries[StateTables.index(table)].updateValue(entry, forKey: key)
        self.journal.append((table, key, previous))
        self.bytes += RefoldBuffer.size(key, entry) - (previous.map { RefoldBuffer.size(key, $0) } ?? 0)
    }

    /// Roughly what an entry costs in memory, dictionary slot included.
    private static func size(_ key: String, _ entry: Entry) -> Int {
        key.utf8.count + (entry.value?.count ?? 0) + 96
    }

    /// Starts a chunk: undoes what an earlier run of the same chunk wrote, then journals afresh.
    func beginChunk() {
        for (table, key, previous) in self.journal.reversed() {
            let replaced = self.entries[StateTables.index(table)][key]
            self.entries[StateTables.index(table)][key] = previous
            let restored = previous.map { RefoldBuffer.size(key, $0) } ?? 0
            self.bytes += restored - (replaced.map { RefoldBuffer.size(key, $0) } ?? 0)
        }
        self.journal.removeAll(keepingCapacity: true)
    }

    /// Ends a chunk whose transaction committed: its writes are kept.
    func endChunk() {
        self.journal.removeAll(keepingCapacity: true)
    }

    /// Writes every entry into `state`'s transaction, table by table in stored-key order. The buffer
    /// keeps them until ``clear()``: the transaction may still be run again.
    func flush(into state: LMDBDecisionState) throws {
        for table in RefoldBuffer.tables {
            let rows = self.entries[StateTables.index(table)]
            guard !rows.isEmpty else { continue }
            let ordered = rows.map { (stored: state.storedKey(table, $0.key), key: $0.key, entry: $0.value) }
                .sorted { $0.stored.lexicographicallyPrecedes($1.stored) }
            for row in ordered {
                try state.write(table, row.key, row.entry.value, number: row.entry.number, storedKey: row.stored)
            }
        }
    }

    /// Forgets every entry (after a flush committed).
    func clear() {
        self.entries = Array(repeating: [:], count: StateTable.allCases.count)
        self.journal.removeAll()
        self.bytes = 0
    }
}

/// Decision state for a refold: ``RefoldBuffer``'s tables in memory, the others in the transaction.
struct BufferedDecisionState: DecisionStateStore {
    /// The stored state, in the chunk's transaction, with the event's key and erasure flag.
    let base: LMDBDecisionState
    let buffer: RefoldBuffer

    /// The buffered row, else the stored one.
    func record(_ table: StateTable, _ key: String) throws -> [UInt8]? {
        guard RefoldBuffer.holds(table), let entry = self.buffer.entry(table, key) else {
            return try self.base.record(table, key)
        }
        return entry.value
    }

    /// The stored keys with the buffered ones (no table the buffer holds is queried by prefix today,
    /// so this merge is correct rather than quick).
    func keys(_ table: StateTable, prefix: String) throws -> [String] {
        var keys = Set(try self.base.keys(table, prefix: prefix))
        if RefoldBuffer.holds(table) {
            for (key, entry) in self.buffer.entries(table) where key.utf8.starts(with: prefix.utf8) {
                if entry.value == nil { keys.remove(key) } else { keys.insert(key) }
            }
        }
        return keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    /// Into the buffer for its tables (personal rows with the key number the inline write would seal
    /// them under, and not at all when unchanged), through to the transaction for the others.
    func setRecord(_ table: StateTable, _ key: String, _ value: [UInt8]?) throws {
        guard RefoldBuffer.holds(table) else { return try self.base.setRecord(table, key, value) }
        guard let cipher = self.base.cipher, LMDBDecisionState.isPersonal(table), let value else {
            return self.buffer.set(table, key, RefoldBuffer.Entry(value: value, number: nil))
        }
        let previous: LMDBDecisionState.PersonalRow?
        if let entry = self.buffer.entry(table, key) {
            // As the row this entry would be once sealed opens: to its value while its key exists.
            let opens = entry.value != nil && entry.number.map(cipher.hasKey) == true
            previous = entry.value == nil ? nil : .init(row: opens ? entry.value : nil, number: entry.number)
        } else {
            previous = try self.base.storedPersonalRow(table, key, cipher)
        }
        guard let number = self.base.personalSealing(table, key, value, over: previous) else { return }
        self.buffer.set(table, key, RefoldBuffer.Entry(value: value, number: number))
    }

    func activeSlaPolicies(load: () throws -> [SlaPolicy]) throws -> [SlaPolicy] {
        try self.base.activeSlaPolicies(load: load)
    }

    func keyedHash(_ value: String) -> String? { self.base.keyedHash(value) }

    var encryptsPersonalData: Bool { self.base.encryptsPersonalData }

    func plainAddressHash(_ key: String) -> String { self.base.plainAddressHash(key) }
}
