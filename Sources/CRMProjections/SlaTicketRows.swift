import CRMDomain
import LMDB

/// The stored form of the SLA read model's tickets: compact binary rows (see `BinaryRowWriter`), all
/// rows of one ticket under its id in the `tickets` table, so that the rows one event changes sit
/// together:
/// - ticket id → the ticket's facts (``SlaTicket``), rewritten by every ticket event;
/// - ticket id, `0x00`, big-endian `seq` → one log entry (``SlaTicketLogEntry``), written once by the
///   event at `seq`, so that the log grows by appending instead of rewriting the ticket.
///
/// Ticket ids never contain `0x00` or `0x01` (they match `^[A-Za-z0-9_-]+$`), so a ticket's log rows
/// sort right after its facts, and `id ‖ 0x01` sorts after them and before the next ticket.
enum SlaTicketRows {
    /// Format of the facts row; bump it with the SLA read model's version.
    static let ticketFormat: UInt8 = 3
    /// Format of a log row; bump it with the SLA read model's version.
    static let entryFormat: UInt8 = 1

    /// The key of a ticket's facts: its id.
    static func ticketKey(_ ticketID: String) -> [UInt8] { Array(ticketID.utf8) }

    /// `id ‖ 0x00`: the prefix of the ticket's log rows.
    static func logPrefix(_ ticketID: String) -> [UInt8] { Array(ticketID.utf8) + [0x00] }

    /// `id ‖ 0x00 ‖ be64(seq)`: the log row written by the event at `seq`.
    static func logKey(_ ticketID: String, seq: UInt64) -> [UInt8] {
        Self.logPrefix(ticketID) + (0..<8).map { UInt8(truncatingIfNeeded: seq >> (56 - 8 * $0)) }
    }

    /// `id ‖ 0x01`: sorts after every row of the ticket and before the next ticket's.
    static func pastTicket(_ ticketID: [UInt8]) -> [UInt8] { ticketID + [0x01] }

    // MARK: - Facts

    /// The facts row of `ticket`, without its subject (personal data, kept in the `subjects` table).
    static func encoded(_ ticket: SlaTicket) -> [UInt8] {
        var row = BinaryRowWriter(capacity: 96 + 8 * ticket.tags.count)
        row.byte(Self.ticketFormat)
        row.string(ticket.ticketID)
        row.optionalString(ticket.customerID)
        row.string(ticket.channel)
        row.string(ticket.priority)
        row.string(ticket.status)
        row.strings(ticket.tags)
        row.string(ticket.createdBy)
        row.int(ticket.createdAt)
        row.int(ticket.updatedAt)
        row.int(ticket.messageCount)
        row.optionalString(ticket.policy?.policyID)
        if let policy = ticket.policy { row.int(policy.version) }
        row.optionalString(ticket.assigneeID)
        row.optionalString(ticket.ticketType)
        row.optionalString(ticket.category)
        return row.bytes
    }

    /// Decodes a row written by ``encoded(_:)-(SlaTicket)``; a malformed row is a storage error.
    static func ticket(decoding bytes: UnsafeRawBufferPointer) throws(StateDecodingError) -> SlaTicket {
        var row = BinaryRowReader(Array(bytes), what: "SLA ticket")
        try row.format(Self.ticketFormat)
        var ticket = SlaTicket(
            ticketID: try row.string(),
            customerID: try row.optionalString(),
            channel: try row.string(),
            priority: try row.string(),
            status: try row.string(),
            tags: try row.strings(),
            createdBy: try row.string(),
            subject: nil,  // kept in the `subjects` table
            createdAt: try row.int(),
            updatedAt: try row.int(),
            messageCount: try row.int(),
            policy: try row.optionalString().map { id throws(StateDecodingError) in
                SlaPolicyReference(policyID: id, version: try row.int())
            }
        )
        ticket.assigneeID = try row.optionalString()
        ticket.ticketType = try row.optionalString()
        ticket.category = try row.optionalString()
        try row.finish()
        return ticket
    }

    // MARK: - Log entries

    /// The kinds of log row, the byte after the format byte.
    private enum Kind: UInt8 {
        case reply = 1
        case status = 2
        case applied = 3
        case removed = 4
    }

    /// The log row of `entry`. An applied snapshot keeps its schedule whole, as the event does.
    static func encoded(_ entry: SlaTicketLogEntry) -> [UInt8] {
        var row = BinaryRowWriter(capacity: 16)
        row.byte(Self.entryFormat)
        switch entry {
        case .reply(let at, let byAgent):
            row.byte(Kind.reply.rawValue)
            row.int(at)
            row.bool(byAgent)
        case .status(let at, let to):
            row.byte(Kind.status.rawValue)
            row.int(at)
            row.string(to)
        case .applied(let at, let snapshot):
            row.byte(Kind.applied.rawValue)
            row.int(at)
            row.string(snapshot.policyID)
            row.int(snapshot.policyVersion)
            row.string(snapshot.priority)
            row.bool(snapshot.schedule != nil)
            snapshot.schedule?.write(to: &row)
            row.count(snapshot.targets.count)
            for target in snapshot.targets {
                row.string(target.metric)
                row.int(target.minutes)
                row.bool(target.businessHours)
                row.strings(target.pauseOn)
            }
        case .removed(let at):
            row.byte(Kind.removed.rawValue)
            row.int(at)
        }
        return row.bytes
    }

    /// Decodes a row written by ``encoded(_:)-(SlaTicketLogEntry)``; a malformed row is a storage
    /// error. A snapshot's targets are for its priority.
    static func entry(decoding bytes: UnsafeRawBufferPointer) throws(StateDecodingError) -> SlaTicketLogEntry {
        var row = BinaryRowReader(Array(bytes), what: "SLA ticket log entry")
        try row.format(Self.entryFormat)
        let kind = try row.byte()
        let at = try row.int()
        let entry: SlaTicketLogEntry
        switch Kind(rawValue: kind) {
        case .reply: entry = .reply(at: at, byAgent: try row.bool())
        case .status: entry = .status(at: at, to: try row.string())
        case .applied:
            let policyID = try row.string()
            let policyVersion = try row.int()
            let priority = try row.string()
            let schedule = try row.bool() ? try BusinessSchedule(reading: &row) : nil
            var targets: [SlaTarget] = []
            for _ in 0..<(try row.count()) {
                targets.append(
                    SlaTarget(
                        metric: try row.string(),
                        priority: priority,
                        minutes: try row.int(),
                        businessHours: try row.bool(),
                        pauseOn: try row.strings()
                    )
                )
            }
            let snapshot = SlaPolicySnapshot(
                policyID: policyID,
                policyVersion: policyVersion,
                priority: priority,
                schedule: schedule,
                targets: targets
            )
            entry = .applied(at: at, snapshot)
        case .removed: entry = .removed(at: at)
        case nil: throw row.malformed("unknown entry kind \(kind)")
        }
        try row.finish()
        return entry
    }
}

/// Reads tickets in id order from the `tickets` table: each ticket's facts, and its log only when
/// asked for (a ticket whose log is not read is skipped with one seek).
struct SlaTicketScan {
    private let cursor: Cursor
    /// Where the cursor stands, not yet consumed.
    private var entry: Cursor.Entry?
    /// The key of the ticket last returned by ``next()``.
    private var current: [UInt8]?
    /// Whether the cursor stands on or in the current ticket's log rows.
    private var inLog = false

    /// A scan from the first ticket, or from the first one after `after`.
    init(_ cursor: Cursor, after: String? = nil) throws {
        self.cursor = cursor
        if let after {
            self.entry = try cursor.seek(atOrAfter: SlaTicketRows.pastTicket(SlaTicketRows.ticketKey(after)))
        } else {
            self.entry = try cursor.first()
        }
    }

    /// A scan standing on ticket `id` (its facts read), or `nil` when there is no such ticket.
    static func ticket(_ id: String, _ cursor: Cursor) throws -> (scan: SlaTicketScan, ticket: SlaTicket)? {
        let key = SlaTicketRows.ticketKey(id)
        var scan = try SlaTicketScan(cursor, at: key)
        guard let found = scan.entry, found.key.elementsEqual(key), let ticket = try scan.next() else { return nil }
        return (scan, ticket)
    }

    private init(_ cursor: Cursor, at key: [UInt8]) throws {
        self.cursor = cursor
        self.entry = try cursor.seek(atOrAfter: key)
    }

    /// The next ticket's facts, or `nil` after the last.
    mutating func next() throws -> SlaTicket? {
        if self.inLog, let current = self.current, let found = self.entry, found.key.starts(with: current + [0x00]) {
            self.entry = try self.cursor.seek(atOrAfter: SlaTicketRows.pastTicket(current))
        }
        guard let found = self.entry else { return nil }
        let key = Array(found.key)
        if let separator = key.firstIndex(of: 0x00) {
            let id = String(decoding: key[..<separator], as: UTF8.self)
            throw StateDecodingError("stored SLA log row of ticket \(id) has no ticket row before it")
        }
        let ticket = try SlaTicketRows.ticket(decoding: found.value)
        self.current = key
        self.entry = try self.cursor.next()
        self.inLog = true
        return ticket
    }

    /// The log of the ticket ``next()`` returned last, in event order.
    mutating func log() throws -> [SlaTicketLogEntry] {
        guard self.inLog, let current = self.current else { return [] }
        let prefix = current + [0x00]
        var log: [SlaTicketLogEntry] = []
        while let found = self.entry, found.key.starts(with: prefix) {
            log.append(try SlaTicketRows.entry(decoding: found.value))
            self.entry = try self.cursor.next()
        }
        self.inLog = false
        return log
    }

    /// The next ticket with its log.
    mutating func nextRecord() throws -> SlaTicketRecord? {
        guard let ticket = try self.next() else { return nil }
        return SlaTicketRecord(ticket: ticket, log: try self.log())
    }
}
