public import CRMDomain
public import LMDB

/// The sales funnel read model (DOMAIN.md §7): per pipeline and for the customer lifecycle.
public struct FunnelProjector: Projector {
    public let name = "funnel"
    public let version = 1

    /// Opens the projection's tables.
    public init(_ txn: Transaction) throws {}

    public func apply(_ event: RecordedEvent, _ txn: Transaction) throws {}

    public func clear(_ txn: Transaction) throws {}

    public var queries: [String: ProjectionQuery] { [:] }
}
