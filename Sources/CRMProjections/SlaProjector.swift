public import CRMDomain
import CRMJSON
public import LMDB

/// The service SLA read model: tickets, their SLA snapshots and clocks.
///
/// Tables (named with ``Projector/tableName(_:)``):
/// - `tickets`: ticket id → ticket document, including `log` (status changes, messages, applied
///   snapshots in event order) from which ``SlaClock`` computes every number at query time, so that
///   answers depend only on the log and `as_of`.
/// - `open`: ticket id → empty, for tickets neither solved nor closed (the `sla.breaching` scan).
/// - `customers`: customer id → `{tier, owner_id}` (the `tier` and `owner` report groupings).
public struct SlaProjector: Projector {
    static let identity = (name: "sla", version: 1)

    /// `sla`.
    public var name: String { Self.identity.name }
    /// `1`.
    public var version: Int { Self.identity.version }
    /// The table slot this instance uses.
    public let slot: Int

    let tickets: Database
    let open: Database
    let customers: Database

    /// Opens the projection's tables.
    public init(_ txn: Transaction, slot: Int = 0) throws {
        self.slot = slot
        func open(_ table: String) throws -> Database {
            try txn.openDatabase(
                ProjectionTables.name(Self.identity.name, version: Self.identity.version, slot: slot, table: table)
            )
        }
        self.tickets = try open("tickets")
        self.open = try open("open")
        self.customers = try open("customers")
    }

    /// Every table of this instance.
    public var databases: [Database] { [self.tickets, self.open, self.customers] }

    /// Folds one event; event types this read model does not use are ignored.
    public func apply(_ event: RecordedEvent, _ txn: Transaction) throws {
        switch event.event {
        case .customer(.created(let created)):
            let row: JSON = ["tier": .string(created.tier), "owner_id": .string(created.ownerID)]
            try txn.put(self.customers, created.customerID, row.serialized())
            return
        case .customer(.updated(let updated)):
            guard let tier = updated.tier else { return }
            var row = try self.load(self.customers, updated.customerID, txn) ?? [:]
            row["tier"] = .string(tier.to)
            try txn.put(self.customers, updated.customerID, row.serialized())
            return
        case .customer(.ownerChanged(let changed)):
            var row = try self.load(self.customers, changed.customerID, txn) ?? [:]
            row["owner_id"] = .string(changed.to)
            try txn.put(self.customers, changed.customerID, row.serialized())
            return
        default:
            break
        }
        switch event.type {
        case ServiceEventType.ticketOpened, ServiceEventType.ticketMessageAdded, ServiceEventType.ticketStatusChanged,
            ServiceEventType.ticketPriorityChanged, ServiceEventType.ticketTagged, ServiceEventType.slaPolicyApplied,
            ServiceEventType.slaPolicyRemoved:
            guard let id = event.event.service?.ticketID else { return }
            let old = event.type == ServiceEventType.ticketOpened ? nil : try self.load(self.tickets, id, txn)
            guard let document = SlaTicketDocument.fold(old, event) else { return }
            try txn.put(self.tickets, id, document.serialized())
            let status = document["status"]?.stringValue ?? "new"
            if status == "solved" || status == "closed" {
                try txn.delete(self.open, id)
            } else {
                try txn.put(self.open, id, [UInt8]())
            }
        default:
            return
        }
    }

    /// `sla.ticket`, `sla.breaching`, `sla.report`, `ticket.get`, `ticket.list`.
    public var queries: [String: ProjectionQuery] {
        [
            "sla.ticket": { params, txn in try self.slaTicketQuery(params, txn) },
            "sla.breaching": { params, txn in try self.breachingQuery(params, txn) },
            "sla.report": { params, txn in try self.reportQuery(params, txn) },
            "ticket.get": { params, txn in try self.ticketGetQuery(params, txn) },
            "ticket.list": { params, txn in try self.ticketListQuery(params, txn) },
        ]
    }

    // MARK: - Storage helpers

    func load(_ database: Database, _ key: String, _ txn: Transaction) throws -> JSON? {
        guard let bytes = try txn.get(database, key) else { return nil }
        do {
            return try JSON.parse(bytes)
        } catch {
            throw ProfileStorageError(message: "stored SLA row \(key) is not JSON: \(error)")
        }
    }
}
