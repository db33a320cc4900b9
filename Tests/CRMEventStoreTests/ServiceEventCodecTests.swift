import CRMDomain
import CRMEventStore
import CRMJSON
import CRMRPC
import CRMTesting
import Foundation
import Testing

/// The service-desk events are typed from `decide` to the folds; the codec writes exactly the bytes
/// crmd has always written for them and reads stored payloads as leniently as the folds did.
@Suite struct ServiceEventCodecTests {
    /// Runs service commands over an in-memory decision state and log.
    final class Desk {
        let state = InMemoryDecisionState()
        var log = InMemoryLog()
        var at = Timestamp.parse("2025-01-06T08:00:00Z")!

        /// Decides `command` with `params`, records and folds its events, and returns them.
        @discardableResult
        func run<C: DomainCommand & ParamsDecodable>(_ command: C.Type, _ params: JSON) throws -> [NewEvent] {
            let decision = try C(params: params).decide(self.state, CommandContext(at: self.at, generatedID: "gen"))
            for recorded in self.log.record(decision.events, at: self.at) {
                try DecisionEvolver.apply(recorded, to: self.state)
            }
            self.at += 60_000
            return decision.events
        }
    }

    /// Every service event of a ticket's life, from real `decide` calls, with the canonical `data` and
    /// `pii` crmd wrote for it before events were typed.
    static func history() throws -> [(event: NewEvent, data: String, pii: String)] {
        let desk = Desk()
        try desk.run(
            CreateCustomer.self,
            ["customer_id": "c1", "first_name": "Ada", "emails": [["address": "ada@example.com"]], "tier": "gold"]
        )
        var events: [NewEvent] = []
        events += try desk.run(
            DefineSchedule.self,
            [
                "schedule_id": "eu", "name": "EU", "timezone": "Europe/Berlin",
                "hours": [
                    "mon": [["09:00", "17:00"]], "tue": [["09:00", "17:00"]], "wed": [["09:00", "17:00"]],
                    "thu": [["09:00", "17:00"]], "fri": [["09:00", "12:00"], ["13:00", "17:00"]],
                ],
                "holidays": [["date": "2025-12-25", "name": "Christmas"], "2025-12-26"],
            ]
        )
        events += try desk.run(
            DefineSlaPolicy.self,
            [
                "policy_id": "std", "name": "Standard", "position": 1, "schedule_id": "eu",
                "targets": [
                    ["metric": "first_reply_time", "priority": "normal", "minutes": 480, "business_hours": true],
                    ["metric": "first_reply_time", "priority": "high", "minutes": 60],
                    ["metric": "requester_wait_time", "priority": "normal", "minutes": 480, "business_hours": true],
                ],
            ]
        )
        events += try desk.run(
            DefineSlaPolicy.self,
            [
                "policy_id": "vip", "name": "VIP", "position": 0, "match": ["tags_any": ["vip"]],
                "targets": [["metric": "first_reply_time", "priority": "high", "minutes": 15, "pause_on": ["on_hold"]]],
            ]
        )
        events += try desk.run(
            OpenTicket.self,
            [
                "ticket_id": "t1", "customer_id": "c1", "subject": "Printer on fire", "channel": "email",
                "tags": ["b", "a"], "first_message": ["body": "It burns"],
            ]
        )
        events += try desk.run(
            ReplyToTicket.self,
            ["ticket_id": "t1", "author": "agent", "author_id": "u7", "public": true, "body": "On it"]
        )
        events += try desk.run(
            SetTicketStatus.self,
            ["ticket_id": "t1", "status": "pending", "reason": "Waiting for photos"]
        )
        events += try desk.run(SetTicketPriority.self, ["ticket_id": "t1", "priority": "high"])
        events += try desk.run(TagTicket.self, ["ticket_id": "t1", "add": ["vip"], "remove": ["a"]])
        events += try desk.run(RetireSlaPolicy.self, ["policy_id": "vip"])
        events += try desk.run(RetireSlaPolicy.self, ["policy_id": "std"])
        events += try desk.run(TagTicket.self, ["ticket_id": "t1", "remove": ["vip"]])

        let schedule = #"{"holidays":[{"date":"2025-12-25","name":"Christmas"},{"date":"2025-12-26","name":null}],"#
            + #""hours":{"fri":[["09:00","12:00"],["13:00","17:00"]],"mon":[["09:00","17:00"]],"#
            + #""thu":[["09:00","17:00"]],"tue":[["09:00","17:00"]],"wed":[["09:00","17:00"]]},"name":"EU","#
            + #""schedule_id":"eu","timezone":"Europe/Berlin","version":1}"#
        let expected: [(data: String, pii: String)] = [
            (schedule, "null"),
            (
                #"{"match":{},"name":"Standard","policy_id":"std","position":1,"schedule_id":"eu","targets":["#
                    + #"{"business_hours":true,"metric":"first_reply_time","minutes":480,"pause_on":[],"#
                    + #""priority":"normal"},{"business_hours":false,"metric":"first_reply_time","minutes":60,"#
                    + #""pause_on":[],"priority":"high"},{"business_hours":true,"metric":"requester_wait_time","#
                    + #""minutes":480,"pause_on":["pending"],"priority":"normal"}],"version":1}"#,
                "null"
            ),
            (
                #"{"match":{"tags_any":["vip"]},"name":"VIP","policy_id":"vip","position":0,"schedule_id":null,"#
                    + #""targets":[{"business_hours":false,"metric":"first_reply_time","minutes":15,"#
                    + #""pause_on":["on_hold"],"priority":"high"}],"version":1}"#,
                "null"
            ),
            (
                #"{"channel":"email","created_by":"customer","customer_id":"c1","priority":"normal","status":"new","#
                    + #""tags":["a","b"],"ticket_id":"t1"}"#,
                #"{"subject":"Printer on fire"}"#
            ),
            (
                #"{"author":"customer","author_id":null,"customer_id":"c1","length":8,"message_id":"t1-m1","#
                    + #""opening":true,"public":true,"ticket_id":"t1"}"#,
                #"{"body":"It burns"}"#
            ),
            (
                #"{"customer_id":"c1","policy_id":"std","policy_version":1,"priority":"normal","reason":"created","#
                    + #""schedule":\#(schedule),"targets":{"first_reply_time":{"business_hours":true,"minutes":480,"#
                    + #""pause_on":[]},"requester_wait_time":{"business_hours":true,"minutes":480,"#
                    + #""pause_on":["pending"]}},"ticket_id":"t1"}"#,
                "null"
            ),
            (
                #"{"author":"agent","author_id":"u7","customer_id":"c1","length":5,"message_id":"t1-m2","#
                    + #""opening":false,"public":true,"ticket_id":"t1"}"#,
                #"{"body":"On it"}"#
            ),
            (#"{"cause":"agent_reply","customer_id":"c1","from":"new","ticket_id":"t1","to":"open"}"#, "null"),
            (
                #"{"cause":"manual","customer_id":"c1","from":"open","ticket_id":"t1","to":"pending"}"#,
                #"{"reason":"Waiting for photos"}"#
            ),
            (#"{"customer_id":"c1","from":"normal","ticket_id":"t1","to":"high"}"#, "null"),
            (
                #"{"customer_id":"c1","policy_id":"std","policy_version":1,"priority":"high","#
                    + #""reason":"priority_changed","schedule":\#(schedule),"targets":{"first_reply_time":"#
                    + #"{"business_hours":false,"minutes":60,"pause_on":[]}},"ticket_id":"t1"}"#,
                "null"
            ),
            (#"{"added":["vip"],"customer_id":"c1","removed":["a"],"ticket_id":"t1"}"#, "null"),
            (
                #"{"customer_id":"c1","policy_id":"vip","policy_version":1,"priority":"high","#
                    + #""reason":"policy_changed","schedule":null,"targets":{"first_reply_time":"#
                    + #"{"business_hours":false,"minutes":15,"pause_on":["on_hold"]}},"ticket_id":"t1"}"#,
                "null"
            ),
            (#"{"policy_id":"vip","version":1}"#, "null"),
            (#"{"policy_id":"std","version":1}"#, "null"),
            (#"{"added":[],"customer_id":"c1","removed":["vip"],"ticket_id":"t1"}"#, "null"),
            (
                #"{"customer_id":"c1","policy_id":"vip","policy_version":1,"reason":"no_matching_policy","#
                    + #""ticket_id":"t1"}"#,
                "null"
            ),
        ]
        try #require(events.count == expected.count)
        return zip(events, expected).map { ($0, $1.data, $1.pii) }
    }

    static func text(_ json: JSON) -> String { String(decoding: json.serialized(), as: UTF8.self) }

    @Test func decideEmitsEveryServiceTypeTypedWithTodaysBytes() throws {
        let history = try Self.history()
        var types: Set<String> = []
        for (event, data, pii) in history {
            guard case .service(let service) = event.event else {
                Issue.record("\(event.type) is not typed")
                continue
            }
            types.insert(service.type)
            #expect(event.schemaVersion == 1)
            #expect(Self.text(event.payloadData) == data, "data of \(event.type)")
            #expect(Self.text(event.payloadPII) == pii, "pii of \(event.type)")
        }
        #expect(types.count == 10)
    }

    @Test func theUntypedPayloadTypesBackToTheSameValue() throws {
        for (event, _, _) in try Self.history() {
            let untyped = EventCodec.untyped(event.event)
            #expect(untyped.type == event.type)
            #expect(EventCodec.typed(.untyped(untyped)) == event.event, "\(event.type)")
        }
    }

    @Test func recordsOfTypedEventsHaveTheBytesOfTheirUntypedPayload() throws {
        for (event, data, pii) in try Self.history() {
            func record(_ payload: DomainEvent) -> [UInt8] {
                let recorded = RecordedEvent(
                    seq: 1, stream: event.stream, streamVersion: 1, occurredAt: 0, recordedAt: 0,
                    actor: Actor(uid: 0, gid: 0), commandID: nil, correlationID: nil, causationSeq: nil,
                    event: payload
                )
                return EventRecord.encode(recorded, previousHash: EventRecord.genesisHash)
            }
            let untyped = UntypedEvent(
                type: event.type,
                schemaVersion: 1,
                data: try JSON.parse(data),
                pii: try JSON.parse(pii)
            )
            let bytes = record(event.event)
            #expect(bytes == record(.untyped(untyped)), "\(event.type)")
            let decoded = try bytes.withUnsafeBytes { try EventRecord.decode($0) }
            #expect(decoded.event == event.event, "\(event.type)")
        }
    }

    /// The ticket events of the schema-1 fixture (written by an earlier crmd) type and re-encode to
    /// their stored bytes.
    @Test func fixtureTicketEventsReencodeToTheirStoredBytes() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/schema-v1/export.ndjson")
        let lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n")
        var checked = 0
        for line in lines {
            let entry = try JSON.parse(String(line))
            guard let type = entry["type"]?.stringValue, type.hasPrefix("Ticket"), let data = entry["data"],
                let pii = entry["pii"]
            else { continue }
            let event = EventCodec.typed(.untyped(UntypedEvent(type: type, schemaVersion: 1, data: data, pii: pii)))
            #expect(event.service != nil, "\(type)")
            let (encodedData, encodedPII) = EventCodec.payload(event)
            #expect(encodedData.serialized() == data.serialized(), "\(type)")
            #expect(encodedPII.serialized() == pii.serialized(), "\(type)")
            checked += 1
        }
        #expect(checked == 4)
    }

    /// A snapshot with a schedule (a named and an unnamed holiday, a split day, a `24:00` close) and
    /// targets with and without pauses, built from typed values.
    static var appliedWithSchedule: SlaPolicyApplied {
        let day = Timestamp.parseDate("2026-05-01")!
        let schedule = BusinessSchedule(
            scheduleID: "ny", version: 3, name: "New York ✓", timezone: "America/New_York",
            hours: [
                [.init(start: 540, end: 720), .init(start: 780, end: 1440)], [], [], [], [.init(start: 0, end: 60)],
                [], [],
            ],
            holidays: [day: "Labour Day", day + 1: ""]
        )!
        let snapshot = SlaPolicySnapshot(
            policyID: "gold", policyVersion: 12, priority: "urgent", schedule: schedule,
            targets: [
                SlaTarget(
                    metric: "agent_work_time", priority: "urgent", minutes: 525_600, businessHours: true,
                    pauseOn: ["pending", "on_hold"]
                ),
                SlaTarget(
                    metric: "first_reply_time", priority: "urgent", minutes: 1, businessHours: false, pauseOn: []
                ),
            ]
        )
        return SlaPolicyApplied(ticketID: "t-1", customerID: "c_9", snapshot: snapshot, reason: "policy_changed")
    }

    /// `SlaPolicyApplied` carries a typed snapshot; the codec writes it as the bytes crmd always wrote
    /// (so records and head hashes are unchanged) and reads them back to the same value.
    @Test func slaPolicyAppliedKeepsItsBytes() throws {
        let withSchedule = Self.appliedWithSchedule
        var withoutSchedule = withSchedule
        withoutSchedule.snapshot.schedule = nil
        withoutSchedule.snapshot.targets = []
        withoutSchedule.reason = "created"
        let expected: [(SlaPolicyApplied, String)] = [
            (
                withSchedule,
                #"{"customer_id":"c_9","policy_id":"gold","policy_version":12,"priority":"urgent","#
                    + #""reason":"policy_changed","schedule":{"holidays":[{"date":"2026-05-01","#
                    + #""name":"Labour Day"},{"date":"2026-05-02","name":null}],"hours":{"fri":[["00:00","01:00"]],"#
                    + #""mon":[["09:00","12:00"],["13:00","24:00"]]},"name":"New York ✓","schedule_id":"ny","#
                    + #""timezone":"America/New_York","version":3},"targets":{"agent_work_time":"#
                    + #"{"business_hours":true,"minutes":525600,"pause_on":["pending","on_hold"]},"#
                    + #""first_reply_time":{"business_hours":false,"minutes":1,"pause_on":[]}},"ticket_id":"t-1"}"#
            ),
            (
                withoutSchedule,
                #"{"customer_id":"c_9","policy_id":"gold","policy_version":12,"priority":"urgent","#
                    + #""reason":"created","schedule":null,"targets":{},"ticket_id":"t-1"}"#
            ),
        ]
        for (applied, data) in expected {
            let event = DomainEvent.service(.slaPolicyApplied(applied))
            let payload = EventCodec.payload(event)
            #expect(Self.text(payload.data) == data)
            #expect(payload.pii == .null)
            // The append path writes the same text without the tree.
            #expect(String(decoding: EventCodec.payloadTexts(event).data, as: UTF8.self) == data)
            #expect(EventCodec.typed(.untyped(EventCodec.untyped(event))) == event)
            // The record, hence the hash chain, is the one the untyped payload gives.
            func record(_ payload: DomainEvent) -> [UInt8] {
                let recorded = RecordedEvent(
                    seq: 9, stream: "ticket-t-1", streamVersion: 4, occurredAt: 1, recordedAt: 2,
                    actor: Actor(uid: 0, gid: 0), commandID: nil, correlationID: nil, causationSeq: nil,
                    event: payload
                )
                return EventRecord.encode(recorded, previousHash: EventRecord.genesisHash)
            }
            let untyped = UntypedEvent(
                type: "SlaPolicyApplied",
                schemaVersion: 1,
                data: try JSON.parse(data),
                pii: .null
            )
            #expect(record(event) == record(.untyped(untyped)))
        }
    }

    /// Events the append path writes without a JSON tree whose shapes the fixtures leave out: a
    /// complaint with and without a remedy, a snapshot whose targets repeat a metric (the last one
    /// counts, as in the tree) and sort differently by UTF-8 than by characters.
    @Test func theTextsWrittenWithoutATreeAreTheSerializedPayload() {
        var repeated = Self.appliedWithSchedule
        repeated.snapshot.targets += [
            SlaTarget(metric: "first_reply_time", priority: "urgent", minutes: 5, businessHours: true, pauseOn: ["x"]),
            SlaTarget(metric: "Zeta ✓", priority: "urgent", minutes: 7, businessHours: false, pauseOn: []),
        ]
        let events: [ServiceEvent] = [
            .complaintResolved(
                ComplaintResolved(
                    ticketID: "t-1", customerID: "c_9", outcome: "partially_upheld",
                    remedy: .init(
                        kind: "refund", amount: MoneyAmount(decimal: "12.50"), currency: "EUR", orderID: "o-1"
                    )
                )
            ),
            .complaintResolved(
                ComplaintResolved(
                    ticketID: "t-1", customerID: "c_9", outcome: "rejected",
                    remedy: .init(kind: "apology", amount: nil, currency: nil, orderID: nil)
                )
            ),
            .complaintResolved(ComplaintResolved(ticketID: "t-1", customerID: "c_9", outcome: "upheld", remedy: nil)),
            .slaPolicyApplied(repeated),
        ]
        for event in events {
            let payload = EventCodec.payload(.service(event))
            let texts = EventCodec.payloadTexts(.service(event))
            #expect(String(decoding: texts.data, as: UTF8.self) == Self.text(payload.data))
            #expect(String(decoding: texts.pii, as: UTF8.self) == Self.text(payload.pii))
        }
    }

    /// The schedule JSON (of `ScheduleDefined` and of snapshots) lives in the codec and round-trips.
    @Test func scheduleJSONRoundTrips() throws {
        let schedule = try #require(Self.appliedWithSchedule.snapshot.schedule)
        let again = try #require(BusinessSchedule(json: schedule.json))
        #expect(again == schedule)
        #expect(again.holidays == schedule.holidays)
        #expect(BusinessSchedule(json: ["timezone": "Europe/Berlin", "hours": ["someday": []]]) == nil)
        #expect(BusinessSchedule(json: ["timezone": "Europe/Berlin", "hours": ["mon": [["9", "17:00"]]]]) == nil)
    }

    /// The SLA events, policies, schedules, clock and ticket record are typed: their JSON lives in this
    /// codec (and the read model renders its own), so no CRMDomain file imports CRMJSON or Crypto.
    @Test func theDomainHoldsNoJSON() throws {
        let domain = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources/CRMDomain")
        let files = try FileManager.default.contentsOfDirectory(atPath: domain.path).filter { $0.hasSuffix(".swift") }
        #expect(files.contains("SlaClock.swift") && files.contains("ServiceEvents.swift"))
        for file in files {
            let text = try String(contentsOf: domain.appendingPathComponent(file), encoding: .utf8)
            for token in ["import CRMJSON", "import Crypto"] {
                #expect(!text.contains(token), "\(file): \(token)")
            }
        }
        let sla = [
            "SlaClock.swift", "SlaTicketRecord.swift", "BusinessCalendar.swift", "ServiceEvents.swift",
            "SlaPolicyCommands.swift",
        ]
        for file in sla {
            let text = try String(contentsOf: domain.appendingPathComponent(file), encoding: .utf8)
            for token in [": JSON", "-> JSON", "JSON."] {
                #expect(!text.contains(token), "\(file) uses JSON (\(token))")
            }
        }
    }

    static func typed(_ type: String, _ data: JSON, _ pii: JSON = .null) -> ServiceEvent? {
        EventCodec.typed(.untyped(UntypedEvent(type: type, schemaVersion: 1, data: data, pii: pii))).service
    }

    @Test func oddStoredPayloadsDecodeWithTheFoldsDefaults() throws {
        // A ticket opened with nothing but its ids: the decision state's defaults.
        let opened = try #require(Self.typed("TicketOpened", ["ticket_id": "t9", "customer_id": "c1", "tags": 3]))
        #expect(
            opened
                == .ticketOpened(
                    TicketOpened(
                        ticketID: "t9", customerID: "c1", channel: "api", priority: "normal", status: "new", tags: [],
                        createdBy: "customer", subject: nil
                    )
                )
        )
        // Without a customer the ticket event still folds into the ticket, but names no customer.
        let message = try #require(Self.typed("TicketMessageAdded", ["ticket_id": "t9", "public": "yes"]))
        #expect(message.ticketID == "t9" && message.customerID == nil)
        guard case .ticketMessageAdded(let added) = message else { throw CodecTestFailure() }
        #expect(!added.isPublic && added.author == "customer" && added.authorID == nil && added.body == "")
        // Tags that are not strings are skipped.
        let tagged = try #require(Self.typed("TicketTagged", ["ticket_id": "t9", "added": ["x", 1], "removed": nil]))
        #expect(tagged == .ticketTagged(TicketTagged(ticketID: "t9", customerID: "", added: ["x"], removed: [])))
        // A snapshot's malformed schedule counts as none; a target without minutes is dropped, a missing
        // pause_on takes the metric's default.
        let applied = try #require(
            Self.typed(
                "SlaPolicyApplied",
                [
                    "ticket_id": "t9", "policy_id": "p", "schedule": ["timezone": "Mars/Olympus"],
                    "targets": ["first_reply_time": ["minutes": "soon"], "agent_work_time": ["minutes": 5]],
                ]
            )
        )
        guard case .slaPolicyApplied(let event) = applied else { throw CodecTestFailure() }
        let snapshot = event.snapshot
        #expect(snapshot.schedule == nil && snapshot.priority == "normal" && snapshot.policyVersion == 0)
        #expect(
            snapshot.targets
                == [
                    SlaTarget(
                        metric: "agent_work_time", priority: "normal", minutes: 5, businessHours: false,
                        pauseOn: ["pending", "on_hold"]
                    )
                ]
        )
        // A policy definition with only its id: the defaults its decision state always read.
        let policy = try #require(Self.typed("SlaPolicyDefined", ["policy_id": "p", "retired": true]))
        guard case .slaPolicyDefined(let defined) = policy else { throw CodecTestFailure() }
        #expect(defined.policy == SlaPolicy(
            policyID: "p", version: 1, name: "", position: 0, tiers: nil, channels: nil, tagsAny: nil,
            scheduleID: nil, targets: []
        ))
    }

    @Test func aStoredTicketWithoutCustomerFoldsAsBefore() throws {
        var log = InMemoryLog()
        let opened = log.record(
            [NewEvent(type: "TicketOpened", stream: "ticket-t9", data: ["ticket_id": "t9", "channel": "chat"])],
            at: 5
        )[0]
        #expect(opened.event.service?.ticketID == "t9")
        // The SLA read model keeps the ticket, with no customer and no subject.
        let ticket = try #require(SlaTicketRecord.fold(nil, opened)?.ticket)
        #expect(ticket.customerID == nil && ticket.subject == nil)
        #expect(ticket.channel == "chat" && ticket.priority == "normal" && ticket.status == "new")
        // The decision state does not: a ticket needs its requester.
        let state = InMemoryDecisionState()
        try DecisionEvolver.apply(opened, to: state)
        #expect(try state.ticket("t9") == nil)
    }

    @Test func payloadsNoFoldCouldUseStayUntyped() {
        let unusable: [(String, JSON)] = [
            ("TicketOpened", ["customer_id": "c1"]),
            ("TicketStatusChanged", ["ticket_id": "t1", "from": "new"]),
            ("TicketPriorityChanged", ["ticket_id": "t1", "to": 3]),
            ("SlaPolicyApplied", ["ticket_id": "t1"]),
            ("SlaPolicyDefined", ["name": "x"]),
            ("SlaPolicyRetired", [:]),
            ("ScheduleDefined", ["schedule_id": "s", "timezone": "Nowhere/City", "hours": [:]]),
            ("ScheduleDefined", ["timezone": "Europe/Berlin", "hours": [:]]),
            ("TicketOpened", .null),
        ]
        for (type, data) in unusable {
            let event = DomainEvent.untyped(UntypedEvent(type: type, schemaVersion: 1, data: data, pii: .null))
            #expect(EventCodec.typed(event) == event, "\(type) \(data)")
        }
    }
}

struct CodecTestFailure: Error {}
