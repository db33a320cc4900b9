public import CRMDomain
import CRMJSON
public import LMDB

/// The customer-profile read model: one profile document per customer, the
/// customer timeline, and lookup indexes by email, phone and tag.
///
/// Tables (all named with ``Projector/tableName(_:)``):
/// - `rows`: every row of one customer under its id, so that the rows one event changes sit together
///   (usually on one page), in this order (see ``ProfileKeys``):
///   - customer id → canonical JSON of the profile document;
///   - customer id, `0x00 0x01`, inverted big-endian `seq` → empty: the positions of the events that
///     concern the customer (see `CustomerProfilePositions.swift`), newest first, for time travel;
///   - customer id, `0x00 0x02`, inverted big-endian occurred-at ms (sign bit flipped), inverted
///     big-endian `seq` → timeline entry JSON, newest first;
///   - and, under `#deal#<deal id>`, the customers a deal names.
/// - `emails`: lower-cased address → customer id.
/// - `phones`: normalized number, `0x00`, customer id → empty (one number may belong to several
///   customers, since the domain does not require phone numbers to be unique).
/// - `tags`: tag, `0x00`, customer id → empty.
/// - `stream_customers`: deal or ticket stream, `0x00`, customer id → empty: the customers a stream
///   has named.
///
/// The fold never throws for a valid event: events for customers that are not in the table are
/// skipped, and unknown event types are ignored. Only storage errors propagate.
public struct CustomerProfileProjector: Projector {
    /// The projector's name and version, fixed so that table names can be computed during `init`.
    /// Version 2 added the `positions` and `stream_customers` tables; version 3 keeps profiles,
    /// positions and timelines in one table, `rows`.
    static let identity = (name: "customers", version: 3)

    /// `customers`.
    public var name: String { Self.identity.name }
    /// `3`.
    public var version: Int { Self.identity.version }
    /// The table slot this instance uses.
    public let slot: Int

    /// Profiles, positions and timelines (and deal holders).
    let profiles: Database
    let emails: Database
    let phones: Database
    let tags: Database
    let streamCustomers: Database

    /// Opens (creating when needed) the projector's tables inside `txn`, which must be a write
    /// transaction the first time the tables are created.
    public init(_ txn: Transaction, slot: Int = 0) throws {
        self.slot = slot
        func open(_ table: String) throws -> Database {
            try txn.openDatabase(
                ProjectionTables.name(Self.identity.name, version: Self.identity.version, slot: slot, table: table)
            )
        }
        self.profiles = try open("rows")
        self.emails = try open("emails")
        self.phones = try open("phones")
        self.tags = try open("tags")
        self.streamCustomers = try open("stream_customers")
    }

    /// Every table of this instance.
    public var databases: [Database] {
        [self.profiles, self.emails, self.phones, self.tags, self.streamCustomers]
    }

    /// Folds one event. Event types this read model does not use are ignored.
    public func apply(_ event: RecordedEvent, _ txn: Transaction) throws {
        try self.indexPosition(event, txn)
        switch event.event {
        case .customer(.created(let created)): try self.applyCustomerCreated(created, event, txn)
        case .customer(.updated(let updated)):
            try self.applyToCustomer(updated.customerID, event, txn) { try self.foldCustomerUpdated(&$0, updated, txn) }
        case .customer(.tagged(let tagged)):
            try self.applyToCustomer(tagged.customerID, event, txn) { try self.foldCustomerTagged(&$0, tagged, txn) }
        case .customer(.ownerChanged(let changed)):
            try self.applyToCustomer(changed.customerID, event, txn) { Self.foldOwnerChanged(&$0, changed) }
        case .customer(.lifecycleStageChanged(let changed)):
            try self.applyToCustomer(changed.customerID, event, txn) {
                Self.foldLifecycleStageChanged(&$0, changed, at: event.occurredAt)
            }
        case .customer(.leadStatusChanged(let changed)):
            try self.applyToCustomer(changed.customerID, event, txn) { Self.foldLeadStatusChanged(&$0, changed) }
        case .customer(.consentChanged(let changed)):
            try self.applyToCustomer(changed.customerID, event, txn) {
                Self.foldConsentChanged(&$0, changed, at: event.occurredAt)
            }
        case .customer(.activityLogged(let activity)): try self.applyActivityLogged(activity, event, txn)
        default:
            // Deal and ticket events update `stats` (and the timeline) of the customers involved.
            try self.applySalesEvent(event, txn)
            try self.applyServiceEvent(event, txn)
        }
    }

    /// The queries answered from this read model: `customer.get`, `customer.find` and
    /// `customer.timeline`.
    public var queries: [String: ProjectionQuery] {
        [
            "customer.get": { params, txn in try self.getQuery(params, txn) },
            "customer.find": { params, txn in try self.findQuery(params, txn) },
            "customer.timeline": { params, txn in try self.timelineQuery(params, txn) },
        ]
    }

    // MARK: - Storage helpers

    /// The stored profile of `customerID`, or `nil`, as a document: a fold reads and sets a few
    /// members, and the others are written back as they were stored.
    func loadProfile(_ customerID: String, _ txn: Transaction) throws -> JSONDocument? {
        guard let bytes = try txn.get(self.profiles, customerID) else { return nil }
        do {
            return try JSONDocument(canonical: bytes)
        } catch {
            throw ProfileStorageError(message: "stored profile of \(customerID) is not canonical JSON: \(error)")
        }
    }

    /// Stores `profile` under its `customer_id`.
    func storeProfile(_ profile: some JSONMembers, _ customerID: String, _ txn: Transaction) throws {
        try txn.put(self.profiles, customerID, profile.serialized())
    }

    /// Stores the timeline entry `note` of `customerID` for `event`, placed at `at` (default: the
    /// event's business time) and the event's position.
    func putTimelineEntry(
        _ note: TimelineNote,
        for event: RecordedEvent,
        customerID: String,
        at: Int64? = nil,
        _ txn: Transaction
    ) throws {
        let at = at ?? event.occurredAt
        let entry = try Self.timelineEntry(note, event, at: at)
        try txn.put(self.profiles, ProfileKeys.timelineKey(customerID, at: at, seq: event.seq), entry)
    }
}

/// A stored read-model row that cannot be decoded: storage corruption, never a client error.
public struct ProfileStorageError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What was wrong.
    public let message: String

    /// The message.
    public var description: String { self.message }
}
