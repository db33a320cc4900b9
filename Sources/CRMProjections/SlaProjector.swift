public import CRMDomain
public import LMDB

/// The service SLA read model (DOMAIN.md §8): tickets, their SLA targets and clocks.
public struct SlaProjector: Projector {
    public let name = "sla"
    public let version = 1

    /// Opens the projection's tables.
    public init(_ txn: Transaction) throws {}

    public func apply(_ event: RecordedEvent, _ txn: Transaction) throws {}

    public func clear(_ txn: Transaction) throws {}

    public var queries: [String: ProjectionQuery] { [:] }
}
