public import CRMDomain
public import LMDB

/// One chunk of a rebuild folded by a projector (see ``Projector/batch(after:)``): the events go to
/// ``apply(_:_:)`` one by one, then ``flush(_:)`` writes what the batch kept in memory, in the same
/// transaction, before it commits. Its tables then hold exactly what folding every event with
/// ``Projector/apply(_:_:)`` would have left. Used by one thread (the writer's) at a time.
public protocol ProjectionBatch: AnyObject {
    /// Folds one event, as ``Projector/apply(_:_:)`` does.
    func apply(_ event: RecordedEvent, _ txn: Transaction) throws
    /// Writes the rows held in memory into `txn`, in key order.
    func flush(_ txn: Transaction) throws
}

/// The batch of a projector that keeps nothing in memory.
final class DirectBatch: ProjectionBatch {
    let projector: any Projector

    init(_ projector: any Projector) { self.projector = projector }

    func apply(_ event: RecordedEvent, _ txn: Transaction) throws { try self.projector.apply(event, txn) }

    func flush(_ txn: Transaction) throws {}
}

/// The batch of a projector that keeps `Held` in memory: it folds with `projector` (a copy that refers
/// to `held`) and flushes with `flushing`.
final class HeldBatch<Folding: Projector, Held: AnyObject>: ProjectionBatch {
    let projector: Folding
    let held: Held
    let flushing: (Held, Transaction) throws -> Void

    init(_ projector: Folding, held: Held, flushing: @escaping (Held, Transaction) throws -> Void) {
        self.projector = projector
        self.held = held
        self.flushing = flushing
    }

    func apply(_ event: RecordedEvent, _ txn: Transaction) throws { try self.projector.apply(event, txn) }

    func flush(_ txn: Transaction) throws { try self.flushing(self.held, txn) }

    /// What `previous` holds, when it is a batch of this kind.
    static func held(by previous: (any ProjectionBatch)?) -> Held? { (previous as? HeldBatch<Folding, Held>)?.held }
}

/// Rows of one kind a batch holds in memory, decoded, by key, with the keys of those that changed
/// since they were last written.
struct HeldRows<Value> {
    /// A held row (a class, so that a fold changes it in place).
    final class Row {
        var value: Value
        var changed: Bool

        init(_ value: Value, changed: Bool) {
            self.value = value
            self.changed = changed
        }
    }

    private(set) var rows: [String: Row] = [:]
    /// The keys of the rows that changed, in the order they first did.
    private var changed: [String] = []

    /// How many rows are held.
    var count: Int { self.rows.count }

    /// Most rows a chunk hands over to the next: beyond this, the next chunk starts empty and reads
    /// the rows again. A decoded profile, stats row or segment facts take a few hundred bytes to a
    /// kilobyte, so a rebuild of a large log holds some tens of megabytes per read model at most.
    static var handOverLimit: Int { 32_768 }

    /// Takes over the rows `previous` holds (all written: its chunk committed), unless there are
    /// more than ``handOverLimit``.
    mutating func takeOver(_ previous: inout HeldRows<Value>) {
        guard previous.count <= Self.handOverLimit else { return }
        swap(&self, &previous)
    }

    /// The row held under `key`, else the one `load` reads from the table (held from then on).
    mutating func read(_ key: String, _ load: () throws -> Value?) rethrows -> Value? {
        if let row = self.rows[key] { return row.value }
        guard let value = try load() else { return nil }
        self.rows[key] = Row(value, changed: false)
        return value
    }

    /// Holds `value`, changed, under `key`.
    mutating func set(_ key: String, _ value: Value) {
        guard let row = self.rows[key] else {
            self.rows[key] = Row(value, changed: true)
            return self.changed.append(key)
        }
        if !row.changed { self.changed.append(key) }
        row.value = value
        row.changed = true
    }

    /// Calls `write` with every changed row, in the strings' order of their keys (a table's byte order
    /// for the ASCII ids crmd generates), and keeps them as unchanged.
    mutating func flush(_ write: (String, Value) throws -> Void) rethrows {
        self.changed.sort()
        for key in self.changed {
            guard let row = self.rows[key], row.changed else { continue }
            try write(key, row.value)
            row.changed = false
        }
        self.changed.removeAll(keepingCapacity: true)
    }
}
