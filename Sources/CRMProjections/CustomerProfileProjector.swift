public import CRMDomain
public import CRMEventStore
import CRMJSON
public import LMDB

/// The customer-profile read model: one typed profile per customer (rendered as the profile document
/// at query time), the customer timeline, and lookup indexes by email, phone and tag.
///
/// Tables (all named with ``Projector/tableName(_:)``):
/// - `rows`: every row of one customer under its id, so that the rows one event changes sit together
///   (usually on one page), in this order (see ``ProfileKeys``):
///   - customer id → what the customer's own events set that is not personal (classification,
///     lifecycle) as a compact binary row (``CustomerProfile/encodedPlain()``), never sealed;
///   - customer id, `0x00` → the personal fields (``CustomerProfile/encodedPersonal()``), sealed
///     under the customer's data key when the log encrypts personal data (see
///     ``CRMEventStore/RowCipher``), so that tags, owner, stage and lead status change without
///     decrypting anything;
///   - customer id, `0x00 0x00` → the customer's ``ProfileStats`` as a compact binary row: what
///     activities, tickets and deals change (the three rows render as the profile document at query
///     time);
///   - customer id, `0x00 0x01`, inverted big-endian `seq` → empty: the positions of the events that
///     concern the customer (see `CustomerProfilePositions.swift`), newest first, for time travel;
///   - customer id, `0x00 0x02`, inverted big-endian occurred-at ms (sign bit flipped), inverted
///     big-endian `seq` → the timeline entry as a compact binary row (`TimelineRow`), newest first;
///     with encrypted personal data an entry holds none and reads it from its event when shown;
///   - and, under `#deal#<deal id>`, the customers a deal names (a binary row of ids).
/// - `emails`: lower-cased address → customer id.
/// - `phones`: normalized number, `0x00`, customer id → empty (one number may belong to several
///   customers, since the domain does not require phone numbers to be unique).
///   With encrypted personal data, the address, the number and the name below are replaced in the
///   keys by their keyed hash (``personalIndexKey(_:)``).
/// - `tags`: tag, `0x00`, customer id → empty.
/// - `names`: normalized full name, `0x00`, normalized company name, `0x00`, customer id → empty
///   (``ProfileKeys/nameCompanyKey(first:last:company:)``): customers with the same name at the same
///   company, for `customer.find_duplicates`.
/// - `stream_customers`: deal or ticket stream, `0x00`, customer id → empty: the customers a stream
///   has named.
///
/// The fold never throws for a valid event: events for customers that are not in the table are
/// skipped, and unknown event types are ignored. Only storage errors propagate.
public struct CustomerProfileProjector: Projector {
    /// The projector's name and version, fixed so that table names can be computed during `init`.
    /// Version 2 added the `positions` and `stream_customers` tables; version 3 keeps profiles,
    /// positions and timelines in one table, `rows`; version 4 stores profiles and timeline entries
    /// as compact binary rows instead of JSON; version 5 keeps what activities, tickets and deals
    /// change in a stats row of its own beside the profile row; version 6 adds the `names` index;
    /// version 7 seals profile rows and keys the email, phone and name indexes by keyed hash when
    /// personal data is encrypted; version 8 keeps timeline entries free of personal data (read from
    /// the events when shown); version 9 splits the profile row into a plain row and a sealed personal
    /// row; version 10 folds `EmailFlagged` (a hard bounce marks the address invalid).
    static let identity = (name: "customers", version: 10)

    /// `customers`.
    public var name: String { Self.identity.name }
    /// `10`.
    public var version: Int { Self.identity.version }
    /// The table slot this instance uses.
    public let slot: Int

    /// Profiles, positions and timelines (and deal holders).
    let profiles: Database
    let emails: Database
    let phones: Database
    let tags: Database
    let streamCustomers: Database
    let names: Database
    /// Seals the profile rows and keys the email, phone and name indexes by keyed hash (see
    /// ``CRMEventStore/RowCipher``); `nil` for a log that keeps personal data in plain text.
    let cipher: RowCipher?
    /// The log's events, from which timeline entries take their personal values when they are shown;
    /// `nil` in an environment without a log (a scratch fold for `as_of`).
    let events: Database?
    /// The rows a rebuild's batch keeps in memory (``ProfileRowCache``); `nil` outside a batch, where
    /// every row is read from and written to the transaction.
    var rows: ProfileRowCache?

    /// Opens (creating when needed) the projector's tables inside `txn`, which must be a write
    /// transaction the first time the tables are created.
    public init(_ txn: Transaction, slot: Int = 0, cipher: RowCipher? = nil) throws {
        self.slot = slot
        self.cipher = cipher
        self.events = try? txn.openDatabase("events", create: false)
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
        self.names = try open("names")
    }

    /// Every table of this instance.
    public var databases: [Database] {
        [self.profiles, self.emails, self.phones, self.tags, self.streamCustomers, self.names]
    }

    /// Folds one event. Event types this read model does not use are ignored.
    public func apply(_ event: RecordedEvent, _ txn: Transaction) throws {
        try self.indexPosition(event, txn)
        switch event.event {
        case .customer(.created(let created)): try self.applyCustomerCreated(created, event, txn)
        case .customer(.updated(let updated)):
            try self.applyToCustomer(updated.customerID, event, txn) { try self.foldCustomerUpdated(&$0, updated, txn) }
        // Tags, owner, stage and lead status are in the plain row: their events never decrypt.
        case .customer(.tagged(let tagged)):
            try self.applyToCustomer(tagged.customerID, event, txn, personal: false) {
                try self.foldCustomerTagged(&$0, tagged, txn)
            }
        case .customer(.ownerChanged(let changed)):
            try self.applyToCustomer(changed.customerID, event, txn, personal: false) {
                Self.foldOwnerChanged(&$0, changed)
            }
        case .customer(.lifecycleStageChanged(let changed)):
            try self.applyToCustomer(changed.customerID, event, txn, personal: false) {
                Self.foldLifecycleStageChanged(&$0, changed, at: event.occurredAt)
            }
        case .customer(.leadStatusChanged(let changed)):
            try self.applyToCustomer(changed.customerID, event, txn, personal: false) {
                Self.foldLeadStatusChanged(&$0, changed)
            }
        case .customer(.consentChanged(let changed)):
            try self.applyToCustomer(changed.customerID, event, txn) {
                Self.foldConsentChanged(&$0, changed, at: event.occurredAt)
            }
        case .customer(.activityLogged(let activity)): try self.applyActivityLogged(activity, event, txn)
        case .customer(.erased(let erased)): try self.applyCustomerErased(erased, event, txn)
        case .customer(.merged(let merged)): try self.applyCustomersMerged(merged, event, txn)
        case .customer(.legalHoldChanged(let changed)):
            try self.applyToCustomer(changed.customerID, event, txn, personal: false) { _ in nil }
        case .marketing(.emailFlagged(let flagged)):
            try self.applyToCustomer(flagged.customerID, event, txn) { profile in
                for index in profile.emails.indices {
                    let hash = AddressHash.of(Validation.emailKey(profile.emails[index].address), cipher: self.cipher)
                    if hash.hasPrefix(flagged.addressHash) { profile.emails[index].invalid = flagged.invalid }
                }
                return nil
            }
        default:
            // Deal and ticket events update `stats` (and the timeline) of the customers involved.
            try self.applySalesEvent(event, txn)
            try self.applyServiceEvent(event, txn)
        }
    }

    /// Reads no activity's or ticket message's personal data (``ReadModelPersonalData/unreadTypes``)
    /// when the log encrypts it: its timeline entries then hold none. With personal data in plain
    /// text, every event's is read.
    public func readsPersonalData(of type: String) -> Bool {
        self.cipher == nil || !ReadModelPersonalData.unreadTypes.contains(type)
    }

    /// The queries answered from this read model: `customer.get`, `customer.find` and
    /// `customer.timeline`.
    public var queries: [String: ProjectionQuery] {
        [
            "customer.get": { params, txn in try self.getQuery(params, txn) },
            "customer.find": { params, txn in try self.findQuery(params, txn) },
            "customer.timeline": { params, txn in try self.timelineQuery(params, txn) },
            "customer.find_duplicates": { params, txn in try self.findDuplicatesQuery(params, txn) },
        ]
    }

    // MARK: - Storage helpers

    /// The stored profile of `customerID`, or `nil`; with `personal: false` (or when its personal row
    /// cannot be opened: its key is gone) without personal fields, and nothing is decrypted.
    func loadProfile(_ customerID: String, personal: Bool = true, _ txn: Transaction) throws -> CustomerProfile? {
        if let rows = self.rows { return try self.cachedProfile(customerID, personal: personal, rows, txn) }
        let what = "profile of customer \(customerID)"
        guard let plain = try self.openedRow(Array(customerID.utf8), what: what, txn) else { return nil }
        let personalRow = personal ? try self.openedPersonalRow(customerID, txn) : nil
        return try CustomerProfile(decoding: plain, personal: personalRow, what: what)
    }

    /// The personal row of `customerID` opened; `nil` when there is none or it is sealed under a key
    /// that cannot be read (erased, or a damaged key-store entry): its values are unavailable.
    func openedPersonalRow(_ customerID: String, _ txn: Transaction) throws -> [UInt8]? {
        let key = ProfileKeys.personalKey(customerID)
        guard let stored = try txn.get(self.profiles, key) else { return nil }
        guard let cipher = self.cipher else { return stored }
        switch cipher.open(stored, context: Self.rowsContext + key) {
        case .row(let row), .withoutKey(let row): return row
        case .unavailable: return nil
        case nil:
            throw ProfileStorageError(message: "stored personal row of customer \(customerID) is not a sealed row")
        }
    }

    /// What sealed rows of the `rows` table are bound to, before their key.
    static let rowsContext = Array("customers.rows|".utf8)

    /// The row stored under `key` in `rows`, opened (see ``CRMEventStore/RowCipher``); `nil` when
    /// there is none. A row sealed under a key that is gone throws: only erasure removes keys, and it
    /// rewrites the rows it leaves.
    func openedRow(_ key: [UInt8], what: String, _ txn: Transaction) throws -> [UInt8]? {
        guard let stored = try txn.get(self.profiles, key) else { return nil }
        guard let cipher = self.cipher else { return stored }
        switch cipher.open(stored, context: Self.rowsContext + key) {
        case .row(let row), .withoutKey(let row): return row
        case .unavailable: throw ProfileStorageError(message: "stored \(what) is sealed under a data key that is gone")
        case nil: throw ProfileStorageError(message: "stored \(what) is not a sealed row")
        }
    }

    /// Stores `row` under `key` in `rows`, sealed under data key `number` (when the log encrypts
    /// personal data), else — when `inherit` — under the key the stored row has, else without a key.
    func putSealedRow(_ row: [UInt8], key: [UInt8], number: UInt64?, inherit: Bool = true, _ txn: Transaction) throws {
        guard let cipher = self.cipher else { return try txn.put(self.profiles, key, row) }
        var number = number
        if number == nil, inherit { number = try txn.withValue(self.profiles, key) { RowCipher.number(of: $0) } ?? nil }
        try txn.put(self.profiles, key, cipher.seal(row, number: number, context: Self.rowsContext + key))
    }

    /// The index form of a personal value in its comparison form (an email address, a normalized
    /// phone number, a name at a company): its keyed hash, or the value itself without a cipher.
    func personalIndexKey(_ value: String) -> [UInt8] {
        self.cipher?.indexKey(value) ?? Array(value.utf8)
    }

    /// Whether `customerID` has a profile row.
    func hasProfile(_ customerID: String, _ txn: Transaction) throws -> Bool {
        if self.rows?.profiles[customerID] != nil { return true }
        return try txn.withValue(self.profiles, customerID) { _ in true } ?? false
    }

    /// Stores `profile` under its customer id: its plain row, and with `personal` its personal row,
    /// sealed under the data key of `event` (or of the stored row, for an event without personal data).
    func storeProfile(_ profile: CustomerProfile, for event: RecordedEvent, personal: Bool = true, _ txn: Transaction)
        throws
    {
        if let rows = self.rows { return try self.cacheProfile(profile, for: event, personal: personal, rows, txn) }
        let id = profile.customerID
        try self.putSealedRow(profile.encodedPlain(), key: Array(id.utf8), number: nil, inherit: false, txn)
        guard personal else { return }
        // Only under the customer's own key (the events that write a profile are the customer's own).
        let seal = event.personalData.flatMap { $0.subject == "c:" + id ? $0.key : nil }
        try self.putSealedRow(profile.encodedPersonal(), key: ProfileKeys.personalKey(id), number: seal, txn)
    }

    /// Stores `profile` with a personal row that holds nothing and needs no key: an erased or merged
    /// customer's.
    func storeTombstone(_ profile: CustomerProfile, _ txn: Transaction) throws {
        if let rows = self.rows { return self.cacheTombstone(profile, rows) }
        let id = profile.customerID
        try self.putSealedRow(profile.encodedPlain(), key: Array(id.utf8), number: nil, inherit: false, txn)
        try self.putSealedRow(
            CustomerProfile.emptyPersonalRow, key: ProfileKeys.personalKey(id), number: nil, inherit: false, txn
        )
    }

    /// The stored stats of `customerID`, or `nil` for a customer that is not in the table.
    func loadStats(_ customerID: String, _ txn: Transaction) throws -> ProfileStats? {
        if let rows = self.rows { return try self.cachedStats(customerID, rows, txn) }
        guard let bytes = try txn.get(self.profiles, ProfileKeys.statsKey(customerID)) else { return nil }
        return try ProfileStats(decoding: bytes, what: "stats of customer \(customerID)")
    }

    /// Stores the stats of `customerID`.
    func storeStats(_ stats: ProfileStats, of customerID: String, _ txn: Transaction) throws {
        if let rows = self.rows { return rows.stats.set(customerID, stats) }
        try txn.put(self.profiles, ProfileKeys.statsKey(customerID), stats.encoded())
    }

    /// Runs `body` on the customer's plain profile row, its personal row and its stats row in one
    /// buffer, the form ``ProfileRowRenderer`` renders, and whether the personal row could not be
    /// opened (its key is gone: the buffer holds an empty one instead); `nil` when the customer has no
    /// profile row. A missing row leaves the buffer without it, which the renderer refuses as damaged.
    func withProfileRows<Result>(
        _ customerID: String,
        _ txn: Transaction,
        _ body: (UnsafeRawBufferPointer, _ personalUnavailable: Bool) throws -> Result
    ) throws -> Result? {
        let what = "profile of customer \(customerID)"
        guard let plain = try self.openedRow(Array(customerID.utf8), what: what, txn) else { return nil }
        let personal = try self.openedPersonalRow(customerID, txn)
        let unavailable = try personal == nil && txn.get(self.profiles, ProfileKeys.personalKey(customerID)) != nil
        let rows = plain + (personal ?? (unavailable ? CustomerProfile.emptyPersonalRow : []))
        return try rows.withUnsafeBytes { buffer in
            try self.withStats(customerID, buffer, txn) { try body($0, unavailable) }
        }
    }

    /// `body` on the profile row `profile` followed by the stats row of `customerID` (or on `profile`
    /// alone when there is none).
    private func withStats<Result>(
        _ customerID: String,
        _ profile: UnsafeRawBufferPointer,
        _ txn: Transaction,
        _ body: (UnsafeRawBufferPointer) throws -> Result
    ) throws -> Result {
        let stats = try txn.withValue(self.profiles, ProfileKeys.statsKey(customerID)) { stats in
            try Self.joined(profile, stats, body)
        }
        if let stats { return stats }
        return try body(profile)
    }

    /// `body` on `first` and `second` copied into one temporary buffer.
    private static func joined<Result>(
        _ first: UnsafeRawBufferPointer,
        _ second: UnsafeRawBufferPointer,
        _ body: (UnsafeRawBufferPointer) throws -> Result
    ) throws -> Result {
        try withUnsafeTemporaryAllocation(byteCount: first.count + second.count, alignment: 1) { buffer in
            buffer.copyMemory(from: first)
            UnsafeMutableRawBufferPointer(rebasing: buffer[first.count...]).copyMemory(from: second)
            return try body(UnsafeRawBufferPointer(buffer))
        }
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
        let key = ProfileKeys.timelineKey(customerID, at: at ?? event.occurredAt, seq: event.seq)
        // With encrypted personal data an entry never holds any: what it would show of it is read from
        // its event, opened with the event's key, when the timeline is read.
        guard self.cipher != nil, event.personalData != nil, note.mayHoldPersonalData else {
            return try txn.put(self.profiles, key, TimelineRow(actor: event.actor, note: note).encoded())
        }
        let row = TimelineRow(actor: event.actor, note: note.withoutPersonalData, personalInEvent: true)
        try txn.put(self.profiles, key, row.encoded())
    }

    /// `row`, a timeline entry, with the personal values of its event (at `seq`) when it takes them
    /// from there; without the event's key they stay `nil`.
    func withPersonalData(_ row: TimelineRow, seq: UInt64, _ txn: Transaction) throws -> TimelineRow {
        guard row.personalInEvent, let events = self.events else { return row }
        var shown = row
        // The one member an entry shows is read from the opened personal data, without decoding the
        // event (a third of a timeline query's time before); other entries decode it whole.
        if let (type, member) = row.note.personalMember,
            case .read(let text) = try txn.withValue(
                events, ProfileKeys.bigEndian(seq),
                { record in
                    try EventRecord.personalString(record, type: type, member: member, keys: self.cipher?.keys)
                }
            )
        {
            shown.note = row.note.withPersonalText(text)
            return shown
        }
        guard
            let event = try txn.withValue(
                events, ProfileKeys.bigEndian(seq),
                { record in
                    try EventRecord.decode(record, keys: self.cipher?.keys)
                })
        else { return row }
        shown.note = row.note.withPersonalData(from: event)
        return shown
    }
}

/// A stored read-model row that cannot be decoded: storage corruption, never a client error.
public struct ProfileStorageError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What was wrong.
    public let message: String

    /// The message.
    public var description: String { self.message }

    /// Reads the whole row `bytes` of the customers read model with `body`, after checking its format
    /// byte against `format`; `what` names the row in the error (e.g. `stats of customer c1`). A row
    /// of another format, cut short or with bytes left over throws a ``ProfileStorageError``.
    static func reading<Value>(
        _ bytes: [UInt8],
        format: UInt8,
        what: String,
        _ body: (inout BinaryRowReader) throws(StateDecodingError) -> Value
    ) throws(ProfileStorageError) -> Value {
        do throws(StateDecodingError) {
            var row = BinaryRowReader(bytes, what: what)
            let found = try row.byte()
            guard found == format else {
                throw StateDecodingError("stored \(what) has unknown row format \(found)")
            }
            let value = try body(&row)
            try row.finish()
            return value
        } catch {
            throw ProfileStorageError(message: error.message)
        }
    }
}
