public import CRMDomain
public import CRMEventStore
import CRMJSON
public import LMDB

/// The service SLA read model: tickets, their SLA snapshots and clocks.
///
/// Tables (named with ``Projector/tableName(_:)``), every row a compact binary row:
/// - `tickets`: every row of one ticket under its id (see ``SlaTicketRows``): its facts, then its log
///   (replies, status changes, applied snapshots, in event order), one row per event appended by that
///   event. ``SlaClock`` computes every number from the log at query time, so that answers depend only
///   on the log and `as_of`; the JSON of every answer is rendered then.
/// - `open`: ticket id → empty, for tickets neither solved nor closed (the `sla.breaching` scan).
/// - `customers`: customer id → tier and owner (the `tier` and `owner` report groupings).
/// - `subjects`: ticket id → the ticket's subject (personal data: sealed when the log encrypts it, see
///   ``PersonalTexts``), written once, when the ticket opens; `subjects_by_subject` indexes them by
///   the key that seals them, for erasure.
public struct SlaProjector: Projector {
    /// Version 2 stores binary rows, a ticket's log one row per event, instead of one JSON document
    /// per ticket; version 3 keeps ticket subjects in a table of their own, sealed when personal data
    /// is encrypted; version 4 adds a ticket's assignee, type and category.
    static let identity = (name: "sla", version: 4)

    /// `sla`.
    public var name: String { Self.identity.name }
    /// `3`.
    public var version: Int { Self.identity.version }
    /// The table slot this instance uses.
    public let slot: Int

    let tickets: Database
    let open: Database
    let customers: Database
    /// Ticket subjects.
    let subjects: PersonalTexts

    /// Opens the projection's tables; `cipher` seals ticket subjects (`nil` for a log that keeps
    /// personal data in plain text).
    public init(_ txn: Transaction, slot: Int = 0, cipher: RowCipher? = nil) throws {
        self.slot = slot
        func open(_ table: String) throws -> Database {
            try txn.openDatabase(
                ProjectionTables.name(Self.identity.name, version: Self.identity.version, slot: slot, table: table)
            )
        }
        self.tickets = try open("tickets")
        self.open = try open("open")
        self.customers = try open("customers")
        self.subjects = PersonalTexts(
            try open("subjects"), bySubject: try open("subjects_by_subject"), readModel: Self.identity.name,
            table: "subjects", cipher: cipher
        )
    }

    /// Every table of this instance.
    public var databases: [Database] { [self.tickets, self.open, self.customers] + self.subjects.databases }

    /// Folds one event; event types this read model does not use are ignored.
    public func apply(_ event: RecordedEvent, _ txn: Transaction) throws {
        switch event.event {
        case .customer(.created(let created)):
            let row = SlaCustomer(tier: created.tier, ownerID: created.ownerID)
            try txn.put(self.customers, created.customerID, row.encoded())
        case .customer(.updated(let updated)):
            guard let tier = updated.tier else { return }
            var row = try self.customer(updated.customerID, txn) ?? SlaCustomer()
            row.tier = tier.to
            try txn.put(self.customers, updated.customerID, row.encoded())
        case .customer(.erased(let erased)):
            try self.subjects.erase(subjects: erased.keyIDs, txn)
        case .customer(.ownerChanged(let changed)):
            var row = try self.customer(changed.customerID, txn) ?? SlaCustomer()
            row.ownerID = changed.to
            try txn.put(self.customers, changed.customerID, row.encoded())
        case .customer(.merged(let merged)):
            // The secondaries' tickets are the primary's, grouped by its merged tier and owner.
            let row = SlaCustomer(tier: merged.result.tier, ownerID: merged.result.ownerID)
            try txn.put(self.customers, merged.primaryID, row.encoded())
            for id in merged.moved.tickets {
                guard var ticket = try self.ticket(id, txn) else { continue }
                ticket.customerID = merged.primaryID
                try txn.put(self.tickets, SlaTicketRows.ticketKey(id), SlaTicketRows.encoded(ticket))
            }
        case .service(let service):
            guard let id = service.ticketID else { return }
            let opens = SlaTicket.opens(event)
            let old = opens ? nil : try self.ticket(id, txn)
            guard let (ticket, entry) = SlaTicket.fold(old, event) else { return }
            if opens {
                try self.deleteLog(id, txn)
                try self.subjects.put(ticket.subject, of: id, for: event, txn)
            }
            try txn.put(self.tickets, SlaTicketRows.ticketKey(id), SlaTicketRows.encoded(ticket))
            if let entry {
                try txn.put(self.tickets, SlaTicketRows.logKey(id, seq: event.seq), SlaTicketRows.encoded(entry))
            }
            // Only an opening or a status change can move the ticket in or out of `open`.
            guard opens || ticket.status != old?.status else { return }
            if ticket.isOpen {
                try txn.put(self.open, id, [UInt8]())
            } else {
                try txn.delete(self.open, id)
            }
        default:
            return
        }
    }

    /// Removes the log rows of ticket `id` (a `TicketOpened` for an id already known starts it afresh).
    private func deleteLog(_ id: String, _ txn: Transaction) throws {
        let prefix = SlaTicketRows.logPrefix(id)
        let keys = try txn.withCursor(self.tickets) { cursor in
            var keys: [[UInt8]] = []
            var entry = try cursor.seek(atOrAfter: prefix)
            while let found = entry, found.key.starts(with: prefix) {
                keys.append(found.keyBytes)
                entry = try cursor.next()
            }
            return keys
        }
        for key in keys { try txn.delete(self.tickets, key) }
    }

    /// Reads no activity's or ticket message's personal data (``ReadModelPersonalData/unreadTypes``).
    public func readsPersonalData(of type: String) -> Bool { !ReadModelPersonalData.unreadTypes.contains(type) }

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

    /// The facts of ticket `id`, or `nil`.
    func ticket(_ id: String, _ txn: Transaction) throws -> SlaTicket? {
        try txn.withValue(self.tickets, SlaTicketRows.ticketKey(id)) { bytes in
            try SlaTicketRows.ticket(decoding: bytes)
        }
    }

    /// The tier and owner of customer `id`, or `nil`.
    func customer(_ id: String, _ txn: Transaction) throws -> SlaCustomer? {
        try txn.withValue(self.customers, id) { bytes in try SlaCustomer(decoding: Array(bytes)) }
    }
}

/// What the SLA report groups by of a ticket's requester: tier and owner, as a binary row.
struct SlaCustomer: Hashable {
    /// Format of the row; bump it with the SLA read model's version.
    static let rowFormat: UInt8 = 1

    var tier: String?
    var ownerID: String?

    /// The row.
    func encoded() -> [UInt8] {
        var row = BinaryRowWriter(capacity: 24)
        row.byte(Self.rowFormat)
        row.optionalString(self.tier)
        row.optionalString(self.ownerID)
        return row.bytes
    }

    /// Decodes a row written by ``encoded()``; a malformed row is a storage error.
    init(decoding bytes: [UInt8]) throws(StateDecodingError) {
        var row = BinaryRowReader(bytes, what: "SLA customer")
        try row.format(Self.rowFormat)
        self.tier = try row.optionalString()
        self.ownerID = try row.optionalString()
        try row.finish()
    }

    /// A customer with `tier` and owner `ownerID`.
    init(tier: String? = nil, ownerID: String? = nil) {
        self.tier = tier
        self.ownerID = ownerID
    }
}
