import CRMDomain
import CRMJSON
import CRMTesting
import Testing

@testable import CRMEventStore

/// `EventRecord.decode` reads the frequent payloads straight from their bytes; it must give exactly
/// the event the JSON-tree path gives (`decodeThroughTree`), for every payload: canonical ones of
/// every type, lenient ones (missing, `null` or mistyped members, extra members), non-canonical and
/// broken text.
@Suite struct PayloadDecoderTests {
    /// Every type the direct decoder reads.
    static let types = [
        EventType.customerCreated, EventType.customerUpdated, EventType.customerTagged, EventType.customerOwnerChanged,
        EventType.lifecycleStageChanged, EventType.leadStatusChanged, EventType.consentChanged,
        EventType.activityLogged,
        SalesEventType.dealCreated, SalesEventType.dealStageChanged, SalesEventType.dealUpdated,
        ServiceEventType.ticketOpened, ServiceEventType.ticketMessageAdded, ServiceEventType.ticketStatusChanged,
        ServiceEventType.ticketPriorityChanged, ServiceEventType.ticketTagged, ServiceEventType.slaPolicyRemoved,
        ServiceEventType.ticketAssigned, ServiceEventType.ticketTypeChanged,
        SalesEventType.orderRecorded, SalesEventType.orderRefunded, SalesEventType.orderCancelled,
    ]

    /// A record holding `data` and `pii` as the given bytes.
    static func record(type: String, version: Int? = nil, data: [UInt8], pii: [UInt8]) -> [UInt8] {
        let envelope = RecordedEvent(
            seq: 7, stream: "s-1", streamVersion: 3, type: type,
            schemaVersion: version ?? EventSchema.currentVersion(of: type), occurredAt: 1_000, recordedAt: 2_000,
            actor: Actor(uid: 1000, gid: 100, onBehalfOf: "agent"), commandID: "cmd", correlationID: nil,
            causationSeq: 5, data: .null, pii: .null
        )
        var bytes = EventRecord.encode(envelope, previousHash: EventRecord.genesisHash)
        // The record ends with the two payload fields, each a u32 length and `null`.
        bytes.removeLast(16)
        for payload in [data, pii] {
            bytes.append(contentsOf: withUnsafeBytes(of: UInt32(payload.count).bigEndian, Array.init))
            bytes.append(contentsOf: payload)
        }
        return bytes
    }

    static func bothWays(_ record: [UInt8]) -> (
        direct: Result<RecordedEvent, EventRecordError>, tree: Result<RecordedEvent, EventRecordError>
    ) {
        record.withUnsafeBytes { raw in
            (
                Result { () throws(EventRecordError) in try EventRecord.decode(raw) },
                Result { () throws(EventRecordError) in try EventRecord.decodeThroughTree(raw) }
            )
        }
    }

    @Test func theCodecFixturesDecodeDirectlyToTheirTypedEvents() throws {
        var events: [DomainEvent] = CustomerEventCodecTests.events.map { .customer($0) }
        events += PayloadFuzzer.fixtures
        for event in events {
            let (data, pii) = EventCodec.payload(event)
            let record = Self.record(type: event.type, data: data.serialized(), pii: pii.serialized())
            // Taken by the direct decoder, not handed to the tree path.
            let direct = try data.serialized().withUnsafeBytes { data in
                try pii.serialized().withUnsafeBytes { pii in
                    try PayloadEventDecoder.decode(type: event.type, data: data, pii: pii)
                }
            }
            #expect(direct == event)
            let (decoded, tree) = Self.bothWays(record)
            #expect(try decoded.get() == tree.get())
            #expect(try decoded.get().event == event)
        }
    }

    /// The texts the append path writes without a JSON tree (`EventCodec.payloadTexts`) are the
    /// serialized tree's, byte for byte, for every fixture: the same record, so the same hash.
    @Test func theTextsWrittenWithoutATreeAreTheSerializedPayload() {
        var events: [DomainEvent] = CustomerEventCodecTests.events.map { .customer($0) }
        events += PayloadFuzzer.fixtures
        for event in events {
            let (data, pii) = EventCodec.payload(event)
            let texts = EventCodec.payloadTexts(event)
            #expect(String(decoding: texts.data, as: UTF8.self) == data.serializedString(), "\(event.type)")
            #expect(String(decoding: texts.pii, as: UTF8.self) == pii.serializedString(), "\(event.type)")
        }
    }

    @Test(arguments: PayloadDecoderTests.types)
    func generatedPayloadsDecodeAsThroughTheTree(_ type: String) throws {
        var fuzzer = PayloadFuzzer(seed: type.utf8.reduce(1) { $0 &* 31 &+ UInt64($1) })
        var typed = 0
        for round in 0..<600 {
            var data = fuzzer.object(PayloadFuzzer.dataKeys, required: PayloadFuzzer.required[type] ?? [])
            var pii = round % 7 == 0 ? fuzzer.value(depth: 2) : fuzzer.object(PayloadFuzzer.piiKeys, required: [])
            if round % 11 == 0 { data = fuzzer.value(depth: 2) }
            if round % 13 == 0 { pii = .null }
            var dataBytes = data.serialized()
            var piiBytes = pii.serialized()
            if round % 3 == 0 { fuzzer.mutate(&dataBytes) }
            if round % 5 == 0 { fuzzer.mutate(&piiBytes) }
            let version = round % 17 == 0 ? 1 : nil
            let record = Self.record(type: type, version: version, data: dataBytes, pii: piiBytes)
            let (direct, tree) = Self.bothWays(record)
            let text = (String(decoding: dataBytes, as: UTF8.self), String(decoding: piiBytes, as: UTF8.self))
            #expect(direct == tree, "\(type) data \(text.0) pii \(text.1)")
            if case .success(let event) = direct, event.event.type == type {
                if case .untyped = event.event {} else { typed += 1 }
            }
        }
        // Many generated payloads are typed, so the direct path is what was compared (fewer of an order
        // recorded, which needs five well-formed members: an amount and a time among them).
        let least = [SalesEventType.orderRecorded: 40, SalesEventType.orderRefunded: 100][type] ?? 150
        #expect(typed > least)
    }

    @Test func textTheParserRejectsOrLeavesToItselfGoesThroughTheTree() {
        let payloads: [String] = [
            #"{"customer_id":"c1","customer_id":"c2","to":"x"}"#,  // duplicate key: rejected
            #"{"to":"x","customer_id":"c1"}"#,  // keys out of order: valid, read by the tree
            #"{ "customer_id" : "c1" , "to" : "x" }"#,  // whitespace
            #"{"customer_id":"c\u00e9","to":"\ud83d\ude00"}"#,  // escapes
            #"{"customer_id":"c1","to":"\ud83d"}"#,  // lone surrogate: rejected
            #"{"customer_id":"c1","to":"x","n":1e999}"#,  // number out of range: rejected
            #"{"customer_id":"c1","to":"x","n":12345678901234567890}"#,  // beyond Int64: a double
            #"{"customer_id":"c1","to":"x"} x"#,  // trailing data
            #"{"customer_id":"c1","to":"x""#,  // truncated
            "",
        ]
        for text in payloads {
            let record = Self.record(
                type: EventType.lifecycleStageChanged, data: Array(text.utf8), pii: Array("null".utf8))
            let (direct, tree) = Self.bothWays(record)
            #expect(direct == tree, "\(text)")
        }
        let invalidUTF8: [UInt8] = Array(#"{"customer_id":"c"#.utf8) + [0xC3, 0x28] + Array(#"","to":"x"}"#.utf8)
        let (direct, tree) = Self.bothWays(
            Self.record(type: EventType.leadStatusChanged, data: invalidUTF8, pii: [0x6E, 0x75, 0x6C, 0x6C]))
        #expect(direct == tree)
    }
}

/// Random payloads for the property test: members the decoders read (often of the kind they expect,
/// sometimes of another), unknown members, odd strings; and random byte edits of the text.
struct PayloadFuzzer {
    var random: SeededGenerator

    init(seed: UInt64) { self.random = SeededGenerator(seed: seed) }

    static let dataKeys = [
        "customer_id", "owner_id", "tags", "tier", "source", "lifecycle_stage", "lead_status", "changes", "added",
        "removed", "from", "to", "channel", "legal_basis", "activity_id", "kind", "customer_ids", "deal_id",
        "ticket_id",
        "occurred_at", "direction", "duration_sec", "start_at", "end_at", "outcome", "task", "pipeline_id",
        "pipeline_version", "stage_id", "probability", "amount", "currency", "close_date", "last_open_stage",
        "lost_reason", "from_kind", "to_kind", "backward", "reopened", "priority", "status", "created_by", "message_id",
        "author", "author_id", "public", "length", "opening", "cause", "policy_id", "policy_version", "reason", "zz",
        "category", "order_id", "margin", "ordered_at", "campaign_id", "external_ref", "lines_count", "refund_id",
        "refunded_total",
    ]
    static let piiKeys = [
        "first_name", "last_name", "company_name", "job_title", "emails", "phones", "address", "custom", "changes",
        "contact_point", "evidence", "subject", "body", "name", "reason", "zz",
    ]
    static let changeFields = [
        "first_name", "last_name", "company_name", "job_title", "tier", "source", "emails", "phones", "address",
        "custom.plan", "custom.seats", "name", "amount", "currency", "close_date", "owner_id", "customer_ids", "zz",
    ]
    static let required: [String: [String]] = [
        EventType.activityLogged: ["activity_id"], SalesEventType.dealCreated: ["deal_id", "pipeline_id", "stage_id"],
        SalesEventType.dealStageChanged: ["deal_id", "to"], SalesEventType.dealUpdated: ["deal_id"],
        EventType.lifecycleStageChanged: ["customer_id", "to"],
        EventType.consentChanged: ["customer_id", "channel", "to"],
        ServiceEventType.ticketStatusChanged: ["ticket_id", "to"],
        ServiceEventType.ticketPriorityChanged: ["ticket_id", "to"],
        EventType.customerCreated: ["customer_id"], EventType.customerUpdated: ["customer_id"],
        EventType.customerTagged: ["customer_id"], EventType.customerOwnerChanged: ["customer_id"],
        EventType.leadStatusChanged: ["customer_id"], ServiceEventType.ticketOpened: ["ticket_id"],
        ServiceEventType.ticketMessageAdded: ["ticket_id"], ServiceEventType.ticketTagged: ["ticket_id"],
        ServiceEventType.slaPolicyRemoved: ["ticket_id"], ServiceEventType.ticketAssigned: ["ticket_id"],
        ServiceEventType.ticketTypeChanged: ["ticket_id", "to"],
        SalesEventType.orderRecorded: ["order_id", "customer_id", "amount", "currency", "ordered_at"],
        SalesEventType.orderRefunded: ["order_id", "customer_id", "amount"],
        SalesEventType.orderCancelled: ["order_id", "customer_id"],
    ]
    static let texts = [
        "c1", "Ada", "", "lead", "opted_out", "open", "won", "x y", "é", "日本", "😀", "quote \" in",
        "back\\slash",
        "line\nbreak", "tab\t", "2025-03-10T09:00:00.000Z", "2025-03-10T09:00:00Z", "not a time", "+1 555 0100",
        "99.50", "-1", "custom.plan",
    ]

    mutating func chance(_ percent: Int) -> Bool { Int.random(in: 0..<100, using: &self.random) < percent }
    mutating func pick<T>(_ values: [T]) -> T { values.randomElement(using: &self.random)! }

    mutating func scalar() -> JSON {
        switch Int.random(in: 0..<8, using: &self.random) {
        case 0: .null
        case 1: .bool(self.chance(50))
        case 2: .int(Int64.random(in: -5...1_000, using: &self.random))
        case 3: .int(Int64.random(in: Int64.min...Int64.max, using: &self.random))
        case 4: .double(self.pick([0.5, 1.5, -2.25, 1e20, 3.0, 1e-7]))
        default: .string(self.pick(Self.texts))
        }
    }

    mutating func value(depth: Int) -> JSON {
        guard depth > 0, self.chance(40) else { return self.scalar() }
        if self.chance(50) {
            return .array((0..<Int.random(in: 0...3, using: &self.random)).map { _ in self.value(depth: depth - 1) })
        }
        var members: [String: JSON] = [:]
        for _ in 0..<Int.random(in: 0...3, using: &self.random) {
            members[self.pick(["from", "to", "address", "number", "primary", "city", "zz"])] = self.value(
                depth: depth - 1)
        }
        return .object(members)
    }

    /// A value of the kind the decoders expect under `key`, most of the time.
    mutating func plausible(_ key: String) -> JSON {
        guard self.chance(75) else { return self.value(depth: 2) }
        switch key {
        case "tags", "added", "removed", "customer_ids":
            return .array(
                (0..<Int.random(in: 0...3, using: &self.random)).map { _ in
                    self.chance(85) ? .string(self.pick(Self.texts)) : self.scalar()
                })
        case "emails":
            return .array(
                (0..<Int.random(in: 0...2, using: &self.random)).map { _ in
                    self.object(["address", "primary", "opted_out", "invalid", "consent", "zz"], required: ["address"])
                })
        case "phones":
            return .array(
                (0..<Int.random(in: 0...2, using: &self.random)).map { _ in
                    self.object(
                        ["number", "normalized", "type", "primary", "do_not_call", "consent", "sms_consent"],
                        required: ["number"])
                })
        case "address": return self.object(["street", "city", "state", "postal_code", "country"], required: [])
        case "custom": return .object(["plan": self.scalar(), "seats": self.scalar()])
        case "task": return self.object(["due_at", "status"], required: [])
        case "changes":
            var changes: [String: JSON] = [:]
            for _ in 0..<Int.random(in: 0...4, using: &self.random) {
                let field = self.pick(Self.changeFields)
                changes[field] =
                    self.chance(85) ? ["from": self.plausible(field), "to": self.plausible(field)] : self.scalar()
            }
            return .object(changes)
        case "occurred_at", "start_at", "end_at", "due_at", "ordered_at":
            return .string(self.pick(["2025-03-10T09:00:00.000Z", "2024-02-29T23:59:59.999Z", "bad"]))
        case "primary", "opted_out", "invalid", "do_not_call", "backward", "reopened", "public", "opening":
            return .bool(self.chance(50))
        case "duration_sec", "pipeline_version", "probability", "length", "policy_version", "lines_count":
            return .int(Int64.random(in: 0...100, using: &self.random))
        case "amount", "refunded_total":
            return self.pick([
                .string("99.50"), .int(1_200), .double(12.5), .string("0"), .int(-3), .string("x"), .string("1e3"),
            ])
        case "margin": return self.pick([.string("-1.50"), .string("12.00"), .string("x"), .int(4)])
        default: return .string(self.pick(Self.texts))
        }
    }

    mutating func object(_ keys: [String], required: [String]) -> JSON {
        var members: [String: JSON] = [:]
        for key in required where self.chance(92) {
            if ["amount", "ordered_at"].contains(key), self.chance(90) {
                members[key] = self.plausible(key)
                continue
            }
            members[key] = self.chance(90) ? .string(self.pick(Self.texts)) : self.scalar()
        }
        for key in keys where self.chance(35) { members[key] = self.plausible(key) }
        return .object(members)
    }

    /// Changes one byte of `bytes` (replaces, inserts or deletes).
    mutating func mutate(_ bytes: inout [UInt8]) {
        let pool = Array(#"{}[]",:0-e.a \"#.utf8) + [0x01, 0xC3, 0xFF]
        let at = Int.random(in: 0...bytes.count, using: &self.random)
        switch Int.random(in: 0..<3, using: &self.random) {
        case 0 where at < bytes.count: bytes[at] = self.pick(pool)
        case 1 where at < bytes.count: bytes.remove(at: at)
        default: bytes.insert(self.pick(pool), at: at)
        }
    }

    /// Typed events of the sales and service types the direct decoder reads.
    static let fixtures: [DomainEvent] = [
        .sales(
            .orderRecorded(
                OrderRecorded(
                    orderID: "o1", customerID: "c1", amount: MoneyAmount(decimal: "120.50")!, currency: "EUR",
                    margin: MoneyAmount.signedUnits("-3.25"), orderedAt: 1_700_000_000_123, channel: "web",
                    campaignID: "cm1", externalRef: "ext \"1\"", linesCount: 3
                )
            )
        ),
        .sales(
            .orderRecorded(
                OrderRecorded(
                    orderID: "o2", customerID: "c1", amount: MoneyAmount(decimal: "0")!, currency: "EUR", margin: nil,
                    orderedAt: 1_700_000_000_000, channel: nil, campaignID: nil, externalRef: nil, linesCount: nil
                )
            )
        ),
        .sales(
            .orderRefunded(
                OrderRefunded(
                    refundID: "r1", orderID: "o1", customerID: "c1", amount: MoneyAmount(decimal: "20")!,
                    currency: "EUR", refundedTotal: MoneyAmount(decimal: "20.50")!
                )
            )
        ),
        .sales(.orderCancelled(OrderCancelled(orderID: "o1", customerID: "c1", reason: "fraud"))),
        .sales(.orderCancelled(OrderCancelled(orderID: "o1", customerID: "c1", reason: nil))),
        .service(.ticketAssigned(TicketAssigned(ticketID: "t1", customerID: "c1", from: nil, to: "agent-7"))),
        .service(.ticketAssigned(TicketAssigned(ticketID: "t1", customerID: "c1", from: "agent-7", to: nil))),
        .service(
            .ticketTypeChanged(
                TicketTypeChanged(ticketID: "t1", customerID: "c1", from: nil, to: "complaint", category: "billing")
            )
        ),
        .sales(
            .dealCreated(
                DealCreated(
                    dealID: "d1", pipelineID: "p1", pipelineVersion: 2, stageID: "s1", kind: "open", probability: 20,
                    amount: MoneyAmount(json: "99.50"), currency: "EUR", closeDate: "2025-04-01",
                    customerIDs: ["c1", "c2"],
                    ownerID: "u1", lastOpenStage: "s1", lostReason: nil, name: "Big \"deal\""
                )
            )
        ),
        .sales(
            .dealStageChanged(
                DealStageChanged(
                    dealID: "d1", pipelineID: "p1", from: "s1", to: "won", fromKind: "open", toKind: "won",
                    probability: 100, backward: false, reopened: false, lastOpenStage: "s1", lostReason: nil
                )
            )
        ),
        .sales(
            .dealUpdated(
                DealUpdated(
                    dealID: "d1", pipelineID: "p1", name: .init(from: "a", to: "b"),
                    amount: .init(from: nil, to: MoneyAmount(json: 10)), currency: nil, closeDate: nil,
                    ownerID: .init(from: "u1", to: nil), customerIDs: .init(from: ["c1"], to: ["c1", "c3"])
                )
            )
        ),
        .service(
            .ticketOpened(
                TicketOpened(
                    ticketID: "t1", customerID: "c1", channel: "email", priority: "high", status: "new", tags: ["vip"],
                    createdBy: "agent", subject: "Help\nplease"
                )
            )
        ),
        .service(
            .ticketMessageAdded(
                TicketMessageAdded(
                    ticketID: "t1", customerID: "c1", messageID: "m1", author: "agent", authorID: "u1", isPublic: true,
                    length: 12, opening: false, body: "Hello 😀"
                )
            )
        ),
        .service(
            .ticketStatusChanged(
                TicketStatusChanged(
                    ticketID: "t1", customerID: "c1", from: "new", to: "open", cause: "manual", reason: "x")
            )
        ),
        .service(
            .ticketPriorityChanged(TicketPriorityChanged(ticketID: "t1", customerID: "", from: "normal", to: "high"))),
        .service(.ticketTagged(TicketTagged(ticketID: "t1", customerID: "c1", added: ["a"], removed: ["b"]))),
        .service(
            .slaPolicyRemoved(
                SlaPolicyRemoved(
                    ticketID: "t1", customerID: "c1", policyID: "sla1", policyVersion: 3, reason: "retired")
            )
        ),
    ]
}
