@testable import CRMDomain
import CRMJSON
import Testing

/// Every decision-state record is a compact binary row that reads back as written, and any row that is
/// cut short, has bytes left over or has another format throws ``StateDecodingError``.
@Suite struct StateRowTests {
    /// Checks that `value` round-trips through `encode`/`decode` and that damaged rows throw.
    func expectRow<Value: Equatable>(
        _ value: Value,
        _ encode: (Value) -> [UInt8],
        _ decode: ([UInt8]) throws -> Value,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let row = encode(value)
        #expect(try decode(row) == value, sourceLocation: sourceLocation)
        #expect(row.first == 1, "a row starts with its format byte", sourceLocation: sourceLocation)
        #expect(throws: StateDecodingError.self, sourceLocation: sourceLocation) { try decode([]) }
        #expect(throws: StateDecodingError.self, sourceLocation: sourceLocation) { try decode(row + [0]) }
        #expect(throws: StateDecodingError.self, sourceLocation: sourceLocation) { try decode(Array(row.dropLast())) }
        #expect(throws: StateDecodingError.self, sourceLocation: sourceLocation) {
            try decode([2] + row.dropFirst())
        }
        // The canonical JSON the records were stored as before is not a row of any format.
        #expect(throws: StateDecodingError.self, sourceLocation: sourceLocation) {
            try decode(Array(#"{"id":"x"}"#.utf8))
        }
        // Every proper prefix is rejected, never misread.
        for length in 0..<row.count {
            #expect(throws: StateDecodingError.self, sourceLocation: sourceLocation) {
                try decode(Array(row.prefix(length)))
            }
        }
    }

    @Test func dealRows() throws {
        let full = DealState(
            id: "d-ü1",
            pipelineID: "sales",
            stageID: "lost",
            kind: "lost",
            probability: 0,
            amount: MoneyAmount(decimal: "999999999999999999.99999999"),
            currency: "EUR",
            closeDate: "2025-03-31",
            customerIDs: ["c1", "c2", "クライアント"],
            ownerID: "u1",
            name: "",  // personal data: kept in a record of its own (`deal_names`), not in the row
            lastOpenStage: "negotiation",
            lostReason: "price"
        )
        try self.expectRow(full, { $0.encoded() }, DealState.init(decoding:))
        var named = full
        named.name = "Großauftrag 🚀"
        #expect(named.encoded() == full.encoded(), "the name is not in the row")
        let bare = DealState(id: "d2", pipelineID: "p", stageID: "s", kind: "open", probability: -5)
        try self.expectRow(bare, { $0.encoded() }, DealState.init(decoding:))
        var zero = bare
        zero.amount = .zero
        zero.name = ""
        try self.expectRow(zero, { $0.encoded() }, DealState.init(decoding:))
    }

    @Test func ticketRows() throws {
        var applied = TicketState(
            ticketID: "t-1",
            customerID: "c-é",
            channel: "email",
            priority: "urgent",
            status: "pending",
            tags: ["billing", "vip", "日本"],
            messageCount: 12_345_678_901,
            appliedPolicyID: "gold",
            appliedPolicyVersion: 3,
            appliedPriority: "high"
        )
        applied.assigneeID = "agent-7"
        applied.lastAgentID = "agent-2"
        applied.ticketType = "complaint"
        applied.category = "delivery"
        try self.expectRow(applied, { $0.encoded() }, TicketState.init(decoding:))
        let bare = TicketState(
            ticketID: "t-2",
            customerID: "c",
            channel: "api",
            priority: "low",
            status: "new",
            tags: [],
            messageCount: -1
        )
        try self.expectRow(bare, { $0.encoded() }, TicketState.init(decoding:))
    }

    @Test func pipelineRows() throws {
        let definition = PipelineDefinition(
            id: "sales-ø",
            version: 7,
            name: "Ventes — 2025",
            stages: [
                .init(id: "new", name: "Neu", probability: 10, kind: "open"),
                .init(id: "won", name: "Gewonnen ✅", probability: 100, kind: "won"),
                .init(id: "lost", name: "", probability: 0, kind: "lost"),
            ],
            requireLostReason: true
        )
        let busy = PipelineState(definition: definition, openDeals: ["new": 3, "zzz": 1, "a": 40_000])
        try self.expectRow(busy, { $0.encoded() }, PipelineState.init(decoding:))
        let empty = PipelineState(
            definition: PipelineDefinition(id: "p", version: 1, name: "", stages: [], requireLostReason: false)
        )
        try self.expectRow(empty, { $0.encoded() }, PipelineState.init(decoding:))
        // The open-deal counts are written in key order, so equal states give equal rows.
        let reordered = PipelineState(definition: definition, openDeals: ["a": 40_000, "zzz": 1, "new": 3])
        #expect(reordered.encoded() == busy.encoded())
    }

    @Test func scheduleRows() throws {
        let weekdays = [BusinessSchedule.Interval(start: 0, end: 720), .init(start: 780, end: 1440)]
        let schedule = try #require(
            BusinessSchedule(
                scheduleID: "eu-ß",
                version: 4,
                name: "Büro Berlin",
                timezone: "Europe/Berlin",
                hours: [weekdays, weekdays, [], weekdays, [.init(start: 540, end: 600)], [], []],
                holidays: [20_082: "Weihnachten 🎄", 20_083: "", -3: "before 1970"]
            )
        )
        try self.expectRow(schedule, { $0.encoded() }, BusinessSchedule.init(decoding:))
        let decoded = try BusinessSchedule(decoding: schedule.encoded())
        // The decoded schedule computes in its zone like the original.
        let monday = Timestamp.parse("2025-03-10T08:00:00Z")!
        let day: Int64 = 86_400_000
        #expect(decoded.elapsed(from: monday, to: monday + day) == schedule.elapsed(from: monday, to: monday + day))
        let plain = try #require(
            BusinessSchedule(
                scheduleID: "",
                version: 1,
                name: "",
                timezone: "UTC",
                hours: [[.init(start: 0, end: 1440)], [], [], [], [], [], []],
                holidays: [:]
            )
        )
        try self.expectRow(plain, { $0.encoded() }, BusinessSchedule.init(decoding:))
    }

    @Test func aScheduleRowWithAnUnknownTimeZoneThrows() throws {
        var row = BinaryRowWriter()
        row.byte(1)
        row.string("eu")
        row.int(1)
        row.string("EU")
        row.string("Mars/Olympus_Mons")
        for _ in 0..<7 { row.count(0) }
        row.count(0)
        #expect(throws: StateDecodingError.self) { try BusinessSchedule(decoding: row.bytes) }
    }

    @Test func slaPolicyRows() throws {
        let conditional = SlaPolicy(
            policyID: "gold-✓",
            version: 2,
            name: "Gold — priorité",
            position: -4,
            tiers: ["gold", "platinum"],
            channels: ["email"],
            tagsAny: [],
            scheduleID: "eu",
            targets: [
                SlaTarget(
                    metric: "first_reply_time",
                    priority: "urgent",
                    minutes: 525_600,
                    businessHours: true,
                    pauseOn: []
                ),
                SlaTarget(
                    metric: "agent_work_time",
                    priority: "low",
                    minutes: 1,
                    businessHours: false,
                    pauseOn: ["pending", "on_hold"]
                ),
            ],
            retired: true
        )
        try self.expectRow(conditional, { $0.encoded() }, SlaPolicy.init(decoding:))
        // An absent condition (matches anything) stays distinct from an empty list.
        #expect(try SlaPolicy(decoding: conditional.encoded()).tagsAny == [])
        let fallback = SlaPolicy(
            policyID: "f",
            version: 1,
            name: "",
            position: 0,
            tiers: nil,
            channels: nil,
            tagsAny: nil,
            scheduleID: nil,
            targets: []
        )
        try self.expectRow(fallback, { $0.encoded() }, SlaPolicy.init(decoding:))
        #expect(try SlaPolicy(decoding: fallback.encoded()).isFallback)
    }

    @Test func policyIndexRows() throws {
        try self.expectRow(["a", "gold", "ü"], PolicyIndex.encoded, PolicyIndex.decoded)
        try self.expectRow([], PolicyIndex.encoded, PolicyIndex.decoded)
    }

    @Test func wideAndOptionalListFieldsRoundTrip() throws {
        let values: [Int128] = [0, 1, -1, 63, -64, 64, .max, .min, Int128(Int64.max) + 1, -(Int128(1) << 100)]
        var writer = BinaryRowWriter()
        for value in values { writer.int128(value) }
        writer.optionalStrings(nil)
        writer.optionalStrings([])
        writer.optionalStrings(["x", ""])
        var reader = BinaryRowReader(writer.bytes, what: "test row")
        for value in values { #expect(try reader.int128() == value) }
        #expect(try reader.optionalStrings() == nil)
        #expect(try reader.optionalStrings() == [])
        #expect(try reader.optionalStrings() == ["x", ""])
        try reader.finish()
        // A varint longer than 128 bits is malformed, not silently truncated.
        var tooLong = BinaryRowReader(Array(repeating: 0xFF, count: 19) + [0x01], what: "test row")
        #expect(throws: StateDecodingError.self) { try tooLong.int128() }
    }

    /// Reads go to the stored bytes every time: a record set back to other bytes (as when the
    /// transaction that wrote it is aborted) or removed reads as stored.
    @Test func recordsAreReadAsStoredEachTime() throws {
        let harness = Harness()
        try harness.given(CreateCustomer.self, adaParams("c1"))
        try harness.given(DefineSchedule.self, ScheduleCommandTests.schedule())
        try harness.given(DefineSlaPolicy.self, ScheduleCommandTests.policy(["match": ["channels": ["email"]]]))
        try harness.given(
            OpenTicket.self,
            ["ticket_id": "t1", "customer_id": "c1", "subject": "Hi", "channel": "email"]
        )
        let ticket = try #require(try harness.state.ticket("t1"))
        #expect(ticket.appliedPolicyID == "gold")
        var older = ticket
        older.status = "pending"
        harness.state.setRecord(.tickets, "t1", older.encoded())
        #expect(try harness.state.ticket("t1")?.status == "pending")
        harness.state.setRecord(.tickets, "t1", nil)
        #expect(try harness.state.ticket("t1") == nil)

        #expect(try harness.state.resolvePolicy(tier: nil, channel: "email", tags: [])?.policyID == "gold")
        var retired = try #require(try harness.state.slaPolicy("gold"))
        retired.retired = true
        harness.state.setRecord(.slaPolicies, "gold", retired.encoded())
        #expect(try harness.state.resolvePolicy(tier: nil, channel: "email", tags: []) == nil)
    }
}
