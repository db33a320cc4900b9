public import CRMDomain
public import CRMJSON
public import LMDB

/// A query answered from a projection's tables inside a read transaction. It throws a ``Rejection``
/// for bad params or a missing record (`not_found`), and other errors for storage failures.
public typealias ProjectionQuery = @Sendable (_ params: JSON?, _ txn: Transaction) throws -> JSON

/// A read model folded from the event log (DESIGN.md §4).
///
/// A projector has a `name` and a `version`; its tables are named `proj.<name>.v<version>.<table>`
/// so a new version can be built beside the old one. Inline projectors run inside the command's write
/// transaction, and the runner writes the projector's checkpoint (last position applied) in the same
/// transaction, so a reply to a command means every later query sees its effect.
public protocol Projector: Sendable {
    /// Stable name, e.g. `customers`.
    var name: String { get }
    /// Bumped whenever the fold or the table layout changes; a stored version that differs from this
    /// one makes the daemon rebuild the projection from the log.
    var version: Int { get }
    /// Folds one event into the tables. Must not throw for any valid stored event; only storage
    /// errors may propagate. Events of types it does not read are ignored.
    func apply(_ event: RecordedEvent, _ txn: Transaction) throws
    /// Removes every row of the projection's tables (before a rebuild).
    func clear(_ txn: Transaction) throws
    /// The JSON-RPC query methods this projection answers, by method name.
    var queries: [String: ProjectionQuery] { get }
}

extension Projector {
    /// The name of one of this projector's tables: `proj.<name>.v<version>.<table>`.
    public func tableName(_ table: String) -> String { "proj.\(self.name).v\(self.version).\(table)" }
}
