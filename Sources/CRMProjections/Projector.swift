public import CRMDomain
public import CRMEventStore
public import CRMJSON
public import LMDB

/// A query answered from a projection's tables inside a read transaction. It throws a ``Rejection``
/// for bad params or a missing record (`not_found`), and other errors for storage failures.
public typealias ProjectionQuery = @Sendable (_ params: JSON?, _ txn: Transaction) throws -> JSON

/// A read model folded from the event log.
///
/// A projector has a `name` and a `version`; its tables are named by ``ProjectionTables/name(_:version:slot:table:)``
/// so a new version, or a fresh build of the same version, can be built beside the live one. Each
/// read model has two table slots: queries and inline folding use the active one while a rebuild
/// fills the other, and the switch is one committed write. Inline projectors run inside the
/// command's write transaction, and the runner writes the projector's checkpoint (last position
/// applied) in the same transaction, so a reply to a command means every later query sees its effect.
public protocol Projector: Sendable {
    /// Stable name, e.g. `customers`.
    var name: String { get }
    /// Bumped whenever the fold or the table layout changes; a stored version that differs from this
    /// one makes the daemon rebuild the projection from the log.
    var version: Int { get }
    /// The table slot (0 or 1) this instance reads and writes.
    var slot: Int { get }
    /// Every table of this instance, for clearing and for comparing two builds.
    var databases: [Database] { get }
    /// Folds one event into the tables. Must not throw for any valid stored event; only storage
    /// errors may propagate. Events of types it does not read are ignored. A projector that throws
    /// anything else has a bug: the daemon marks the projection failed at that event.
    func apply(_ event: RecordedEvent, _ txn: Transaction) throws
    /// The JSON-RPC query methods this projection answers, by method name.
    var queries: [String: ProjectionQuery] { get }
    /// Whether the fold reads the personal data (`pii`) of events of `type`. A rebuild leaves the
    /// encrypted personal data of the types no read model it folds reads unopened (AES-GCM is a fifth
    /// of its decoding). The default, `true`, opens every type.
    func readsPersonalData(of type: String) -> Bool
    /// The fold of a rebuild's next chunk into this instance's tables: one write transaction, many
    /// events. A batch may keep the rows it changes in memory, decoded, and write each once when the
    /// chunk ends (``ProjectionBatch/flush(_:)``). `previous` is the batch of the same rebuild's chunk
    /// before, when that chunk committed (its rows, flushed, are what the tables hold), else `nil`: a
    /// batch may take over the rows it kept instead of reading and decoding them again. The default
    /// folds every event straight into the transaction (``Projector/apply(_:_:)``).
    func batch(after previous: (any ProjectionBatch)?) -> any ProjectionBatch
}

/// What crmd's read models leave of the events' personal data.
public enum ReadModelPersonalData {
    /// The event types whose personal data no read model folds: an activity's subject and body, a
    /// ticket message's body. (The customer timeline shows them, but with encrypted personal data its
    /// entries hold none: they are read from the events when the timeline is.)
    public static let unreadTypes: Set<String> = [EventType.activityLogged, ServiceEventType.ticketMessageAdded]
}

/// Makes the instance of a read model that uses one table slot, opening (creating) its tables in a
/// write transaction. `cipher` seals the rows that hold personal values (`nil` for a log that keeps
/// personal data in plain text); a read model that folds no personal data ignores it.
public typealias ProjectorFactory =
    @Sendable (_ txn: Transaction, _ slot: Int, _ cipher: RowCipher?) throws -> any Projector

extension Projector {
    /// Every type's personal data may be read.
    public func readsPersonalData(of type: String) -> Bool { true }

    /// A batch that folds every event straight into the transaction.
    public func batch(after previous: (any ProjectionBatch)?) -> any ProjectionBatch { DirectBatch(self) }

    /// The name of one of this projector's tables.
    public func tableName(_ table: String) -> String {
        ProjectionTables.name(self.name, version: self.version, slot: self.slot, table: table)
    }

    /// Removes every row of the projection's tables (before a rebuild into them).
    public func clear(_ txn: Transaction) throws {
        for database in self.databases { try txn.clear(database) }
    }
}

/// Names of projection tables.
public enum ProjectionTables {
    /// `proj.<name>.v<version>.<table>` for slot 0 and `proj.<name>.v<version>.s<slot>.<table>` for
    /// the others.
    public static func name(_ projection: String, version: Int, slot: Int, table: String) -> String {
        slot == 0 ? "proj.\(projection).v\(version).\(table)" : "proj.\(projection).v\(version).s\(slot).\(table)"
    }
}
