import CRMDomain
import CRMEventStore
import CRMJSON
@testable import CRMProjections
import CRMTesting
import LMDB
import Testing

/// SLA tickets are stored as binary rows, a ticket's facts and its log under its id: every field reads
/// back as written, a damaged row is a storage error (never a wrong answer), and the rows of one
/// ticket sit together.
@Suite struct SlaTicketRowTests {
    static let schedule = BusinessSchedule(
        scheduleID: "eu", version: 2, name: "EU ✓", timezone: "Europe/Berlin",
        hours: [[.init(start: 540, end: 1020)], [.init(start: 0, end: 1440)], [], [], [], [], []],
        holidays: [20_000: "Fête", 20_001: ""]
    )!

    static let tickets = [
        SlaTicket(
            ticketID: "t-1", customerID: "c1", channel: "email", priority: "urgent", status: "on_hold",
            tags: ["a", "vip 🎉"], createdBy: "agent", subject: "Drucker brennt 🔥", createdAt: -5,
            updatedAt: 1_764_547_200_000, messageCount: 301,
            policy: SlaPolicyReference(policyID: "gold", version: 7)
        ),
        SlaTicket(
            ticketID: "t9", customerID: nil, channel: "api", priority: "normal", status: "new", tags: [],
            createdBy: "customer", subject: nil, createdAt: 0, updatedAt: 0, messageCount: 0, policy: nil
        ),
    ]

    static let entries: [SlaTicketLogEntry] = [
        .reply(at: 1_764_547_200_000, byAgent: true),
        .reply(at: -1, byAgent: false),
        .status(at: 5, to: "pending"),
        .applied(
            at: 6,
            SlaPolicySnapshot(
                policyID: "gold", policyVersion: 7, priority: "high", schedule: Self.schedule,
                targets: [
                    SlaTarget(
                        metric: "agent_work_time", priority: "high", minutes: 525_600, businessHours: true,
                        pauseOn: ["pending", "on_hold"]
                    ),
                    SlaTarget(
                        metric: "first_reply_time", priority: "high", minutes: 1, businessHours: false, pauseOn: []
                    ),
                ]
            )
        ),
        .applied(
            at: 7,
            SlaPolicySnapshot(policyID: "p", policyVersion: 0, priority: "low", schedule: nil, targets: [])
        ),
        .removed(at: Int64.max / 4),
    ]

    static func decodeTicket(_ bytes: [UInt8]) throws -> SlaTicket {
        try bytes.withUnsafeBytes { try SlaTicketRows.ticket(decoding: $0) }
    }

    static func decodeEntry(_ bytes: [UInt8]) throws -> SlaTicketLogEntry {
        try bytes.withUnsafeBytes { try SlaTicketRows.entry(decoding: $0) }
    }

    @Test(arguments: SlaTicketRowTests.tickets)
    func aTicketRowReadsBackAsWritten(_ ticket: SlaTicket) throws {
        // A ticket's subject is personal data, kept in a table of its own, not in the row.
        var stored = ticket
        stored.subject = nil
        #expect(try Self.decodeTicket(SlaTicketRows.encoded(ticket)) == stored)
    }

    @Test(arguments: SlaTicketRowTests.entries)
    func aLogRowReadsBackAsWritten(_ entry: SlaTicketLogEntry) throws {
        let decoded = try Self.decodeEntry(SlaTicketRows.encoded(entry))
        #expect(decoded == entry)
        if case .applied(_, let snapshot) = decoded, let schedule = snapshot.schedule {
            // BusinessSchedule's == leaves nothing out; check the parts the clock walks too.
            #expect(schedule.hours == Self.schedule.hours && schedule.holidays == Self.schedule.holidays)
        }
    }

    @Test func aDamagedRowIsAStorageError() {
        for row in Self.tickets.map(SlaTicketRows.encoded) {
            #expect(throws: StateDecodingError.self) { try Self.decodeTicket(row + [0]) }
            for length in 0..<row.count {
                #expect(throws: StateDecodingError.self) { try Self.decodeTicket(Array(row.prefix(length))) }
            }
        }
        for row in Self.entries.map(SlaTicketRows.encoded) {
            #expect(throws: StateDecodingError.self) { try Self.decodeEntry(row + [0]) }
            for length in 0..<row.count {
                #expect(throws: StateDecodingError.self) { try Self.decodeEntry(Array(row.prefix(length))) }
            }
        }
        // An unknown entry kind, and a document stored as JSON by version 1, are refused, not misread.
        #expect(throws: StateDecodingError.self) { try Self.decodeEntry([SlaTicketRows.entryFormat, 9, 0]) }
        let document = Array(#"{"ticket_id":"t1","log":[]}"#.utf8)
        #expect(throws: StateDecodingError.self) { try Self.decodeTicket(document) }
        #expect(throws: StateDecodingError.self) { try Self.decodeEntry(document) }
    }

    /// The facts and log rows of one ticket sit under its id, in event order; a ticket whose id extends
    /// another's (`t1`, `t10`) does not mix with it.
    @Test func theRowsOfOneTicketSitTogether() throws {
        let harness = try SlaHarness()
        try SlaProjectionTests.seed(harness)
        for id in ["t1", "t10", "t1-a"] {
            let opened = try harness.run(
                OpenTicket.self,
                [
                    "ticket_id": .string(id), "customer_id": "c0", "channel": "email", "subject": "S",
                    "first_message": ["body": "hi", "public": true],
                ]
            )
            try #require(opened)
        }
        harness.at += 60_000
        for id in ["t10", "t1", "t1-a", "t1"] {
            try #require(
                try harness.run(
                    ReplyToTicket.self,
                    ["ticket_id": .string(id), "author": "agent", "public": true, "body": "ok"]
                )
            )
            harness.at += 60_000
        }
        try #require(
            try harness.run(ReplyToTicket.self, ["ticket_id": "t1", "author": "agent", "public": false, "body": "note"])
        )
        try #require(try harness.run(SetTicketStatus.self, ["ticket_id": "t1", "status": "solved"]))
        let keys = try harness.environment.read { txn in
            try txn.withCursor(harness.projector.tickets) { cursor in
                var keys: [[UInt8]] = []
                var entry = try cursor.first()
                while let found = entry {
                    keys.append(found.keyBytes)
                    entry = try cursor.next()
                }
                return keys
            }
        }
        func ticketOf(_ key: [UInt8]) -> String { String(decoding: key.prefix { $0 != 0 }, as: UTF8.self) }
        #expect(keys.map(ticketOf) == Array(repeating: "t1", count: 6) + Array(repeating: "t1-a", count: 4)
            + Array(repeating: "t10", count: 4))
        #expect(keys[0] == Array("t1".utf8))
        let t1Log = keys[1..<6]
        #expect(t1Log.allSatisfy { $0.count == 2 + 1 + 8 && $0[2] == 0 })
        #expect(t1Log.sorted { $0.lexicographicallyPrecedes($1) } == Array(t1Log))
        // The opening message and the internal note added no log row; the policy application, the two
        // replies and the two status changes (to open by the first reply, then to solved) did.
        let record = try harness.environment.read { txn in try harness.projector.ticketRecord("t1", txn) }
        #expect(record.ticket.messageCount == 4 && record.ticket.status == "solved")
        #expect(record.log.count == 5)
        #expect(record.log.last == .status(at: harness.log.last!.occurredAt, to: "solved"))
        let list = try harness.query("ticket.list", ["after": "t1", "limit": 1])
        #expect(list["tickets"]?[0]?["ticket_id"] == "t1-a" && list["next_after"] == "t1-a")
        #expect(try harness.query("ticket.list", ["after": "t1-a"])["tickets"]?.arrayValue?.count == 1)
        #expect(try harness.query("ticket.list", ["status": "open"])["tickets"]?.arrayValue?.count == 2)
    }

    /// A stored `TicketOpened` for an id the read model already has starts the ticket afresh, its old log
    /// rows removed, exactly as time travel folds the stream.
    @Test func reopeningAnIDStartsAFreshLog() throws {
        let harness = try SlaHarness()
        try SlaProjectionTests.seed(harness)
        try #require(
            try harness.run(
                OpenTicket.self,
                ["ticket_id": "t1", "customer_id": "c0", "channel": "email", "subject": "old"]
            )
        )
        harness.at += 60_000
        try #require(try harness.run(SetTicketStatus.self, ["ticket_id": "t1", "status": "pending"]))
        harness.at += 60_000
        var log = InMemoryLog()
        let reopened = log.record(
            [NewEvent(type: "TicketOpened", stream: "ticket-t1", data: ["ticket_id": "t1", "channel": "chat"])],
            at: harness.at
        )[0]
        var event = reopened
        event.seq = UInt64(harness.log.count + 1)
        try harness.environment.write { txn in try harness.projector.apply(event, txn) }
        let record = try harness.environment.read { txn in try harness.projector.ticketRecord("t1", txn) }
        #expect(record.log.isEmpty)
        #expect(record.ticket.channel == "chat" && record.ticket.subject == nil && record.ticket.status == "new")
        let at = JSON.string(Timestamp.format(harness.at))
        let folded = SlaProjector.slaTicket(folding: harness.log + [event], clock: harness.at)
        #expect(folded == (try harness.query("sla.ticket", ["ticket_id": "t1", "at": at])))
        #expect(try harness.query("ticket.list", ["status": "new"])["tickets"]?.arrayValue?.count == 1)
    }

    /// A damaged stored row makes the query fail with a storage error instead of answering wrongly.
    @Test func aDamagedStoredRowFailsTheQuery() throws {
        let harness = try SlaHarness()
        try SlaProjectionTests.seed(harness)
        try #require(
            try harness.run(
                OpenTicket.self,
                [
                    "ticket_id": "t1", "customer_id": "c0", "channel": "email", "subject": "S",
                    "first_message": ["body": "hi"],
                ]
            )
        )
        try harness.environment.write { txn in
            try txn.put(harness.projector.tickets, SlaTicketRows.logKey("t1", seq: 1), [SlaTicketRows.entryFormat])
        }
        #expect(throws: StateDecodingError.self) { try harness.query("sla.ticket", ["ticket_id": "t1"]) }
        #expect(throws: StateDecodingError.self) { try harness.query("ticket.list", [:]) }
        try harness.environment.write { txn in try txn.put(harness.projector.tickets, "t1", [UInt8]([1, 2])) }
        #expect(throws: StateDecodingError.self) { try harness.query("ticket.get", ["ticket_id": "t1"]) }
    }
}
