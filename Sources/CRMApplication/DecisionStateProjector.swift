import CRMDomain
import CRMEventStore
import CRMProjections
import Crypto
import LMDB
import Synchronization

/// The writer's decoded active SLA policies, read by every ticket command: one entry, keyed by the
/// policy-set fingerprint stored when they were read. Every lookup compares that key with the
/// fingerprint stored now, in the caller's transaction, so the entry never answers for another set of
/// policies, whether a later command changed them or the transaction that changed them was aborted.
final class ActivePolicyCache: Sendable {
    private let entry = Mutex<(fingerprint: [UInt8], policies: [SlaPolicy])?>(nil)

    /// The policies cached under `fingerprint`, else those `load` reads (then cached under it).
    func policies(_ fingerprint: [UInt8], load: () throws -> [SlaPolicy]) throws -> [SlaPolicy] {
        if let entry = self.entry.withLock({ $0 }), entry.fingerprint == fingerprint { return entry.policies }
        let policies = try load()
        self.entry.withLock { $0 = (fingerprint, policies) }
        return policies
    }
}

/// The `state.<table>` databases, one per ``StateTable``, found by a switch rather than by hashing
/// the table (every command and every refolded event looks tables up).
struct StateTables: Sendable {
    private let databases: [Database]

    init(_ txn: Transaction) throws {
        var databases: [Database?] = Array(repeating: nil, count: StateTable.allCases.count)
        for table in StateTable.allCases {
            databases[StateTables.index(table)] = try txn.openDatabase("state.\(table.rawValue)")
        }
        self.databases = databases.map { $0! }
    }

    /// The position of `table` among the tables (0 ..< `StateTable.allCases.count`), by a switch.
    static func index(_ table: StateTable) -> Int {
        switch table {
        case .customers: 0
        case .emails: 1
        case .activities: 2
        case .pipelines: 3
        case .deals: 4
        case .sales: 5
        case .schedules: 6
        case .slaPolicies: 7
        case .tickets: 8
        case .service: 9
        case .erasures: 10
        case .erasedEmails: 11
        case .dealNames: 12
        case .customerPersonal: 13
        case .customerLinks: 14
        case .orders: 15
        }
    }

    subscript(_ table: StateTable) -> Database { self.databases[StateTables.index(table)] }

    /// Every table.
    var all: [Database] { self.databases }
}

/// Decision state over LMDB, inside one transaction: the `state.<table>` databases.
struct LMDBDecisionState: DecisionStateStore {
    let tables: StateTables
    let txn: Transaction
    /// The writer's cache of the active SLA policies.
    let activePolicies: ActivePolicyCache

    /// Where the policy-set fingerprint is kept: `SHA-256(previous ‖ policy id ‖ 0 ‖ row)` over every
    /// policy row written, in order. Equal fingerprints mean equal histories of policy rows, hence equal
    /// policies, so the cache may answer for a fingerprint for as long as it is stored, whichever
    /// transaction wrote it, including one later rolled back.
    static let fingerprintKey = "policy_set_fingerprint"

    func activeSlaPolicies(load: () throws -> [SlaPolicy]) throws -> [SlaPolicy] {
        guard let fingerprint = try self.record(.service, LMDBDecisionState.fingerprintKey) else { return try load() }
        return try self.activePolicies.policies(fingerprint, load: load)
    }

    /// Seals the rows that hold personal values and keys the email index by keyed hash, for a log
    /// that encrypts personal data; `nil` for one that keeps it in plain text.
    let cipher: RowCipher?
    /// The data key of the event being folded (see `RecordedEvent.personalData`).
    var eventSeal: PersonalDataSeal? = nil
    /// Whether the event being folded erases its subject: the rows it writes hold nothing personal
    /// and must not depend on the keys it destroys, so they are stored without a key.
    var erasing = false

    /// Whether rows of `table` hold personal values: customers' personal records (names, contact
    /// points, address) and deal names.
    static func isPersonal(_ table: StateTable) -> Bool { table == .customerPersonal || table == .dealNames }

    /// The hex HMAC-SHA256 of `value` under the index key; `nil` without a cipher.
    func keyedHash(_ value: String) -> String? {
        self.cipher.map { hexString($0.indexKey(value)) }
    }

    /// Whether the log encrypts personal data.
    var encryptsPersonalData: Bool { self.cipher != nil }

    /// The hex SHA-256 of `key`.
    func plainAddressHash(_ key: String) -> String { AddressHash.of(key, cipher: nil) }

    /// The LMDB key of `key` in `table`: the keyed hash of an email address in the email index.
    func storedKey(_ table: StateTable, _ key: String) -> [UInt8] {
        if table == .emails, let cipher = self.cipher { return cipher.indexKey(key) }
        return Array(key.utf8)
    }

    /// The event's key when it is the one that seals `key` of `table`: a customer's record only ever
    /// under the customer's own key (an activity shared with others has a key of its own).
    private func sealingKey(_ table: StateTable, _ key: String) -> UInt64? {
        guard let seal = self.eventSeal else { return nil }
        guard table != .customerPersonal || seal.subject == "c:" + key else { return nil }
        return seal.key
    }

    /// What a sealed row of `table` under `key` is bound to.
    private static func context(_ table: StateTable, _ key: String) -> [UInt8] {
        Array("state.\(table.rawValue)|\(key)".utf8)
    }

    /// A personal row as a write over it sees it: the value it opens to under a key that still exists
    /// (`nil` when it opens without one, or not at all) and the number of the key it was written with.
    struct PersonalRow {
        var row: [UInt8]?
        var number: UInt64?
    }

    /// The personal row `key` of `table` holds now, or `nil` when there is none.
    func storedPersonalRow(_ table: StateTable, _ key: String, _ cipher: RowCipher) throws -> PersonalRow? {
        guard let stored = try self.txn.get(self.tables[table], key) else { return nil }
        var row: [UInt8]?
        let opened = cipher.open(stored, context: LMDBDecisionState.context(table, key), remember: true)
        if case .row(let value) = opened { row = value }
        return PersonalRow(row: row, number: RowCipher.number(of: stored))
    }

    /// The key number writing personal `value` over `previous` seals it under (`.some(nil)`: without a
    /// key), or `nil` when the write changes nothing: a personal record written back unchanged
    /// (consent, a customer updated in other fields) is not sealed again. Under the event's key, else
    /// under the key the row has (an event without personal data); an erasure's rows without one.
    func personalSealing(_ table: StateTable, _ key: String, _ value: [UInt8], over previous: PersonalRow?)
        -> UInt64??
    {
        if self.erasing { return .some(nil) }
        if let previous, previous.row == value { return nil }
        return .some(self.sealingKey(table, key) ?? previous?.number)
    }

    func record(_ table: StateTable, _ key: String) throws -> [UInt8]? {
        guard let cipher = self.cipher, LMDBDecisionState.isPersonal(table) else {
            return try self.txn.get(self.tables[table], self.storedKey(table, key))
        }
        guard let stored = try self.txn.get(self.tables[table], key) else { return nil }
        switch cipher.open(stored, context: LMDBDecisionState.context(table, key), remember: true) {
        case .row(let row), .withoutKey(let row): return row
        case .unavailable:
            // An erased name is no name; personal values whose key is gone (a damaged key-store entry)
            // read as none, and everything else about the customer still works.
            return nil
        case nil:
            throw StateDecodingError("the \(table.rawValue) record \(key) is not a stored row")
        }
    }

    func keys(_ table: StateTable, prefix: String) throws -> [String] {
        let start = self.storedKey(table, prefix)
        return try self.txn.withCursor(self.tables[table]) { cursor in
            var keys: [String] = []
            var entry = try cursor.seek(atOrAfter: start)
            while let found = entry, found.key.starts(with: start) {
                keys.append(String(decoding: found.key, as: UTF8.self))
                entry = try cursor.next()
            }
            return keys
        }
    }

    func setRecord(_ table: StateTable, _ key: String, _ value: [UInt8]?) throws {
        if let cipher = self.cipher, LMDBDecisionState.isPersonal(table), let value {
            let previous = try self.storedPersonalRow(table, key, cipher)
            guard let number = self.personalSealing(table, key, value, over: previous) else { return }
            return try self.write(table, key, value, number: number, remember: true)
        }
        if table == .slaPolicies {
            var hasher = SHA256()
            hasher.update(data: try self.record(.service, LMDBDecisionState.fingerprintKey) ?? [])
            hasher.update(data: Array(key.utf8) + [0])
            hasher.update(data: value ?? [])
            try self.txn.put(self.tables[.service], LMDBDecisionState.fingerprintKey, Array(hasher.finalize()))
        }
        try self.write(table, key, value, number: nil)
    }

    /// Stores `value` (sealed under key `number` in a personal table of an encrypted log) as the row
    /// `key` of `table`, or removes the row when `value` is `nil`. Nothing else: the SLA policy-set
    /// fingerprint is ``setRecord(_:_:_:)``'s. `storedKey` is ``storedKey(_:_:)`` when the caller has it.
    func write(
        _ table: StateTable,
        _ key: String,
        _ value: [UInt8]?,
        number: UInt64?,
        remember: Bool = false,
        storedKey: [UInt8]? = nil
    ) throws {
        let storedKey = storedKey ?? self.storedKey(table, key)
        guard let value else {
            _ = try self.txn.delete(self.tables[table], storedKey)
            return
        }
        if let cipher = self.cipher, LMDBDecisionState.isPersonal(table) {
            let context = LMDBDecisionState.context(table, key)
            return try self.txn.put(
                self.tables[table], storedKey, cipher.seal(value, number: number, context: context, remember: remember)
            )
        }
        try self.txn.put(self.tables[table], storedKey, value)
    }
}

/// Keeps the decision state (`state.*` databases) folded from the log, like a projection, so it has
/// a version and a checkpoint and can be rebuilt from the log the same way.
struct DecisionStateProjector: Projector {
    let name = "state"
    /// Bump when `DecisionEvolver` or the layout of a decision-state row changes. Version 2 added the
    /// SLA policy-set fingerprint (kept by ``LMDBDecisionState`` since); version 3 stores customers as
    /// binary rows; version 4 stores pipelines,
    /// deals, tickets, schedules, SLA policies and the policy index as binary rows too; version 5 seals
    /// customer rows and deal names and keys the email index by keyed hash when personal data is
    /// encrypted; version 6 keeps deal names in a table of their own and adds erasures, the blocklist
    /// of erased addresses, legal holds and the customers of shared activities; version 7 keeps a
    /// customer's personal values in a record of their own (`customer_personal`), so that events that
    /// change only its status or classification never read or seal them; version 8 adds merges: the
    /// records that name each customer (`customer_links`) and each customer's key ring, and orders;
    /// version 9 adds tickets' assignee, type and category, survey definitions and survey requests.
    let version = 9
    let tables: StateTables
    /// Decoded active SLA policies, shared by every transaction of this writer.
    let activePolicies = ActivePolicyCache()
    /// Seals personal rows (see ``LMDBDecisionState/cipher``).
    let cipher: RowCipher?

    init(_ txn: Transaction, cipher: RowCipher? = nil) throws {
        self.tables = try StateTables(txn)
        self.cipher = cipher
    }

    func state(_ txn: Transaction) -> LMDBDecisionState {
        LMDBDecisionState(tables: self.tables, txn: txn, activePolicies: self.activePolicies, cipher: self.cipher)
    }

    func apply(_ event: RecordedEvent, _ txn: Transaction) throws {
        try DecisionEvolver.apply(event, to: self.state(folding: event, txn))
    }

    /// ``apply(_:_:)`` with the tables `buffer` holds in memory (a refold).
    func apply(_ event: RecordedEvent, _ txn: Transaction, buffer: RefoldBuffer) throws {
        let state = BufferedDecisionState(base: self.state(folding: event, txn), buffer: buffer)
        try DecisionEvolver.apply(event, to: state)
    }

    /// The state in `txn` as folding `event` writes it: under the event's key, without keys for an erasure.
    private func state(folding event: RecordedEvent, _ txn: Transaction) -> LMDBDecisionState {
        var state = self.state(txn)
        state.eventSeal = event.personalData
        if case .customer(.erased) = event.event { state.erasing = true }
        return state
    }

    /// The decision state has one set of tables; it is rebuilt before crmd serves.
    var slot: Int { 0 }

    var databases: [Database] { self.tables.all }

    var queries: [String: ProjectionQuery] { [:] }
}
