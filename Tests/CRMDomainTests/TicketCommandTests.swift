import CRMDomain
import CRMJSON
import Testing

/// Ticket commands, policy re-evaluation and the SLA clock on worked examples (business hours,
/// pauses, breaches).
@Suite struct TicketCommandTests {
    static func ms(_ text: String) -> Int64 { Timestamp.parse(text)! }

    /// A harness with customer `c1` (tier `gold`), schedule `eu` and a fallback policy `std`.
    static func desk(targets: JSON? = nil) throws -> Harness {
        let harness = Harness()
        harness.at = Self.ms("2025-01-06T08:00:00Z")
        var customer = adaParams()
        customer["tier"] = "gold"
        try harness.given(CreateCustomer.self, customer)
        try harness.given(
            DefineSchedule.self,
            [
                "schedule_id": "eu", "name": "EU", "timezone": "Europe/Berlin",
                "hours": [
                    "mon": [["09:00", "17:00"]], "tue": [["09:00", "17:00"]], "wed": [["09:00", "17:00"]],
                    "thu": [["09:00", "17:00"]], "fri": [["09:00", "17:00"]],
                ],
                "holidays": [["date": "2025-12-25"], ["date": "2025-12-26"]],
            ]
        )
        try harness.given(
            DefineSlaPolicy.self,
            [
                "policy_id": "std", "name": "Standard", "position": 1, "schedule_id": "eu",
                "targets": targets ?? [
                    ["metric": "first_reply_time", "priority": "normal", "minutes": 480, "business_hours": true],
                    ["metric": "first_reply_time", "priority": "high", "minutes": 60, "business_hours": true],
                    ["metric": "requester_wait_time", "priority": "normal", "minutes": 480, "business_hours": true],
                    ["metric": "next_reply_time", "priority": "normal", "minutes": 60, "business_hours": true],
                ],
            ]
        )
        return harness
    }

    /// The status change `event` is, or `nil`.
    static func statusChange(_ event: NewEvent) -> TicketStatusChanged? {
        if case .service(.ticketStatusChanged(let changed)) = event.event { return changed }
        return nil
    }

    /// The policy application `event` is, or `nil`.
    static func application(_ event: NewEvent?) -> SlaPolicyApplied? {
        if case .service(.slaPolicyApplied(let applied))? = event?.event { return applied }
        return nil
    }

    /// The SLA record of ticket `id` folded from the harness log.
    static func record(_ harness: Harness, _ id: String) throws -> SlaTicketRecord {
        var record: SlaTicketRecord?
        for event in harness.log where event.event.service?.ticketID == id {
            record = SlaTicketRecord.fold(record, event) ?? record
        }
        return try #require(record)
    }

    static func instance(_ evaluation: SlaEvaluation, _ metric: String, _ number: Int = 1) throws -> SlaInstanceResult {
        try #require(evaluation.instances.first { $0.metric == metric && $0.instance == number })
    }

    @Test func openAppliesThePolicyInTheSameDecision() throws {
        let harness = try Self.desk()
        let decision = try harness.given(
            OpenTicket.self,
            [
                "ticket_id": "t1", "customer_id": "c1", "subject": "Help", "channel": "email",
                "first_message": ["body": "It broke", "public": true],
            ]
        )
        #expect(decision.events.map(\.type) == ["TicketOpened", "TicketMessageAdded", "SlaPolicyApplied"])
        let applied = decision.events[2]
        #expect(applied.causedBy == 0)
        let event = try #require(Self.application(applied))
        #expect(event.reason == "created")
        let snapshot = event.snapshot
        #expect(snapshot.targets.first { $0.metric == "first_reply_time" }?.minutes == 480)
        #expect(snapshot.schedule?.timezone == "Europe/Berlin")
        #expect(applied.stream == "ticket-t1")
    }

    @Test func statusRules() throws {
        let harness = try Self.desk()
        try harness.given(
            OpenTicket.self,
            ["ticket_id": "t1", "customer_id": "c1", "subject": "Help", "channel": "chat"]
        )
        // An internal agent note keeps the status.
        var decision = try harness.given(
            ReplyToTicket.self,
            ["ticket_id": "t1", "author": "agent", "public": false, "body": "looking"]
        )
        #expect(decision.events.map(\.type) == ["TicketMessageAdded"])
        decision = try harness.given(
            ReplyToTicket.self,
            ["ticket_id": "t1", "author": "agent", "public": true, "body": "hi"]
        )
        #expect(decision.events.map(\.type) == ["TicketMessageAdded", "TicketStatusChanged"])
        #expect(Self.statusChange(decision.events[1])?.to == "open")
        #expect(Self.statusChange(decision.events[1])?.cause == "agent_reply")
        try harness.given(SetTicketStatus.self, ["ticket_id": "t1", "status": "pending"])
        decision = try harness.given(
            ReplyToTicket.self,
            ["ticket_id": "t1", "author": "customer", "public": true, "body": "still broken"]
        )
        #expect(Self.statusChange(decision.events[1])?.from == "pending")
        #expect(Self.statusChange(decision.events[1])?.cause == "customer_reply")
        decision = try harness.given(
            ReplyToTicket.self,
            ["ticket_id": "t1", "author": "agent", "public": true, "body": "fixed", "set_status": "solved"]
        )
        #expect(Self.statusChange(decision.events[1])?.to == "solved")
        // Solved reopens on a customer reply; closed is terminal.
        decision = try harness.given(
            ReplyToTicket.self,
            ["ticket_id": "t1", "author": "customer", "public": true, "body": "no"]
        )
        #expect(Self.statusChange(decision.events[1])?.to == "open")
        try harness.given(SetTicketStatus.self, ["ticket_id": "t1", "status": "closed"])
        expectRejection(
            harness.rejection(
                ReplyToTicket.self,
                ["ticket_id": "t1", "author": "customer", "public": true, "body": "?"]
            ),
            .ticketClosed,
            field: "ticket_id"
        )
        expectRejection(
            harness.rejection(SetTicketStatus.self, ["ticket_id": "t1", "status": "open"]),
            .ticketClosed,
            field: "ticket_id"
        )
    }

    @Test func rejections() throws {
        let harness = try Self.desk()
        try harness.given(
            OpenTicket.self,
            ["ticket_id": "t1", "customer_id": "c1", "subject": "Help", "channel": "web"]
        )
        expectRejection(
            harness.rejection(SetTicketStatus.self, ["ticket_id": "t1", "status": "new"]),
            .invalidTransition,
            field: "status"
        )
        expectRejection(
            harness.rejection(
                ReplyToTicket.self,
                ["ticket_id": "t1", "author": "customer", "public": false, "body": "x"]
            ),
            .invalidField,
            field: "public"
        )
        expectRejection(
            harness.rejection(OpenTicket.self, ["customer_id": "c1", "subject": "Help", "channel": "fax"]),
            .invalidField,
            field: "channel"
        )
        expectRejection(
            harness.rejection(OpenTicket.self, ["customer_id": "nobody", "subject": "Help", "channel": "web"]),
            .notFound,
            field: "customer_id"
        )
        expectRejection(
            harness.rejection(
                OpenTicket.self,
                ["ticket_id": "t1", "customer_id": "c1", "subject": "Help", "channel": "web"]
            ),
            .alreadyExists,
            field: "ticket_id"
        )
        expectRejection(
            harness.rejection(SetTicketPriority.self, ["ticket_id": "nope", "priority": "high"]),
            .notFound,
            field: "ticket_id"
        )
        expectRejection(
            harness.rejection(SetTicketPriority.self, ["ticket_id": "t1", "priority": "p0"]),
            .invalidField,
            field: "priority"
        )
    }

    @Test func policyFollowsTagsAndRetirement() throws {
        let harness = try Self.desk()
        try harness.given(
            DefineSlaPolicy.self,
            [
                "policy_id": "vip", "name": "VIP", "position": 0, "match": ["tags_any": ["vip"]],
                "targets": [["metric": "first_reply_time", "priority": "normal", "minutes": 30]],
            ]
        )
        try harness.given(
            OpenTicket.self,
            ["ticket_id": "t1", "customer_id": "c1", "subject": "Help", "channel": "web"]
        )
        var decision = try harness.given(TagTicket.self, ["ticket_id": "t1", "add": ["vip"]])
        #expect(decision.events.map(\.type) == ["TicketTagged", "SlaPolicyApplied"])
        #expect(Self.application(decision.events[1])?.snapshot.policyID == "vip")
        #expect(Self.application(decision.events[1])?.reason == "policy_changed")
        // Nothing changes: no event at all.
        decision = try harness.given(SetTicketPriority.self, ["ticket_id": "t1", "priority": "normal"])
        #expect(decision.events.isEmpty)
        try harness.given(RetireSlaPolicy.self, ["policy_id": "vip"])
        try harness.given(RetireSlaPolicy.self, ["policy_id": "std"])
        decision = try harness.given(SetTicketPriority.self, ["ticket_id": "t1", "priority": "low"])
        #expect(decision.events.map(\.type) == ["TicketPriorityChanged", "SlaPolicyRemoved"])
    }

    @Test func replayingTheLogRebuildsTheSameDecisionState() throws {
        let harness = try Self.desk()
        try harness.given(OpenTicket.self, ["ticket_id": "t1", "customer_id": "c1", "subject": "Help", "channel": "web"])
        try harness.given(TagTicket.self, ["ticket_id": "t1", "add": ["a", "b"]])
        try harness.given(SetTicketPriority.self, ["ticket_id": "t1", "priority": "high"])
        try harness.given(ReplyToTicket.self, ["ticket_id": "t1", "author": "agent", "public": true, "body": "hi"])
        try harness.given(RetireSlaPolicy.self, ["policy_id": "std"])
        try harness.given(SetTicketStatus.self, ["ticket_id": "t1", "status": "solved"])
        let replayed = try InMemoryDecisionState(events: harness.log)
        #expect(replayed.tables == harness.state.tables)
        let ticket = try #require(try replayed.ticket("t1"))
        #expect(ticket.status == "solved")
        #expect(ticket.tags == ["a", "b"])
        #expect(ticket.messageCount == 1)
        #expect(ticket.appliedPolicyID == nil)
    }

    // MARK: - The SLA worked examples on the clock

    @Test func exampleDRequesterWaitTimePausesInPending() throws {
        let harness = try Self.desk()
        harness.at = Self.ms("2025-03-10T08:00:00Z")  // Mon 09:00 CET
        try harness.given(
            OpenTicket.self,
            ["ticket_id": "t1", "customer_id": "c1", "subject": "Help", "channel": "email"]
        )
        harness.at = Self.ms("2025-03-10T11:00:00Z")
        try harness.given(SetTicketStatus.self, ["ticket_id": "t1", "status": "pending"])
        var rwt = try Self.instance(
            SlaClock.evaluate(try Self.record(harness, "t1"), asOf: Self.ms("2025-03-10T15:00:00Z")),
            "requester_wait_time"
        )
        #expect(rwt.state == "paused")
        #expect(rwt.deadline == nil)
        #expect(rwt.elapsedMinutes == 180)
        harness.at = Self.ms("2025-03-11T09:00:00Z")
        try harness.given(
            ReplyToTicket.self,
            ["ticket_id": "t1", "author": "customer", "public": true, "body": "hello?"]
        )
        rwt = try Self.instance(
            SlaClock.evaluate(try Self.record(harness, "t1"), asOf: harness.at),
            "requester_wait_time"
        )
        #expect(rwt.state == "active")
        #expect(rwt.deadline == Self.ms("2025-03-11T14:00:00Z"))
        harness.at = Self.ms("2025-03-11T13:00:00Z")
        try harness.given(SetTicketStatus.self, ["ticket_id": "t1", "status": "solved"])
        let evaluation = SlaClock.evaluate(try Self.record(harness, "t1"), asOf: harness.at)
        rwt = try Self.instance(evaluation, "requester_wait_time")
        #expect(rwt.state == "fulfilled")
        #expect(rwt.elapsedMinutes == 420)
        #expect(rwt.achieved)
        #expect(rwt.diffMinutes == 60)
    }

    @Test func exampleEBreachIsDatedToThePriorityChange() throws {
        let harness = try Self.desk()
        harness.at = Self.ms("2025-03-10T08:00:00Z")
        try harness.given(
            OpenTicket.self,
            ["ticket_id": "t1", "customer_id": "c1", "subject": "Help", "channel": "email"]
        )
        harness.at = Self.ms("2025-03-10T09:30:00Z")
        let decision = try harness.given(SetTicketPriority.self, ["ticket_id": "t1", "priority": "high"])
        #expect(Self.application(decision.events.last)?.reason == "priority_changed")
        let frt = try Self.instance(
            SlaClock.evaluate(try Self.record(harness, "t1"), asOf: Self.ms("2025-03-10T10:00:00Z")),
            "first_reply_time"
        )
        #expect(frt.targetMinutes == 60)
        #expect(frt.breached)
        #expect(frt.breachedAt == Self.ms("2025-03-10T09:30:00Z"))
        #expect(frt.elapsedMinutes == 120)
    }

    @Test func nextReplyTimeStartsAfterTheFirstReplyAndIsCancelledOnSolve() throws {
        let harness = try Self.desk()
        harness.at = Self.ms("2025-03-10T08:00:00Z")
        try harness.given(
            OpenTicket.self,
            ["ticket_id": "t1", "customer_id": "c1", "subject": "Help", "channel": "email"]
        )
        harness.at = Self.ms("2025-03-10T08:30:00Z")
        try harness.given(ReplyToTicket.self, ["ticket_id": "t1", "author": "agent", "public": true, "body": "hi"])
        harness.at = Self.ms("2025-03-10T09:00:00Z")
        try harness.given(
            ReplyToTicket.self,
            ["ticket_id": "t1", "author": "customer", "public": true, "body": "and?"]
        )
        var evaluation = SlaClock.evaluate(try Self.record(harness, "t1"), asOf: harness.at)
        let frt = try Self.instance(evaluation, "first_reply_time")
        #expect(frt.state == "fulfilled")
        #expect(frt.elapsedMinutes == 30)
        var nrt = try Self.instance(evaluation, "next_reply_time", 2)
        #expect(nrt.deadline == Self.ms("2025-03-10T10:00:00Z"))
        #expect(evaluation.nextBreachAt == Self.ms("2025-03-10T10:00:00Z"))
        harness.at = Self.ms("2025-03-10T09:20:00Z")
        try harness.given(SetTicketStatus.self, ["ticket_id": "t1", "status": "solved"])
        evaluation = SlaClock.evaluate(try Self.record(harness, "t1"), asOf: harness.at)
        nrt = try Self.instance(evaluation, "next_reply_time", 2)
        #expect(nrt.state == "cancelled")
        #expect(!nrt.breached)
        #expect(evaluation.slaStatus == "hit")
    }

    @Test func agentCreatedOpeningMessageDoesNotFulfilFirstReply() throws {
        let harness = try Self.desk()
        harness.at = Self.ms("2025-03-10T08:00:00Z")
        try harness.given(
            OpenTicket.self,
            [
                "ticket_id": "t1", "customer_id": "c1", "subject": "Outreach", "channel": "email",
                "created_by": "agent",
                "first_message": ["body": "Hello from us", "public": true],
            ]
        )
        let frt = try Self.instance(
            SlaClock.evaluate(try Self.record(harness, "t1"), asOf: Self.ms("2025-03-10T09:00:00Z")),
            "first_reply_time"
        )
        #expect(frt.state == "active")
        #expect(frt.elapsedMinutes == 60)
    }
}
