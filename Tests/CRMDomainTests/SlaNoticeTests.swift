import CRMDomain
import CRMJSON
import Testing

/// Breach notifications: which notices a ticket's clock makes due (``SlaNotice/pending``), and the
/// internal command that appends them exactly once (``NotifySlaBreach``).
@Suite struct SlaNoticeTests {
    static func ms(_ text: String) -> Int64 { Timestamp.parse(text)! }
    static let opening: JSON = ["ticket_id": "t1", "customer_id": "c1", "subject": "Help", "channel": "web"]

    /// A desk whose policy gives first replies 60 calendar minutes, and ticket `t1` opened at 08:00Z.
    static func ticket() throws -> Harness {
        let harness = try TicketCommandTests.desk(targets: [
            ["metric": "first_reply_time", "priority": "normal", "minutes": 60, "business_hours": false]
        ])
        harness.at = Self.ms("2025-01-06T08:00:00Z")
        try harness.given(OpenTicket.self, Self.opening)
        return harness
    }

    /// The notices of `t1` still to append at `asOf`.
    static func pending(_ harness: Harness, asOf: String, lead: Int64 = 15) throws -> [SlaNotice] {
        let record = try TicketCommandTests.record(harness, "t1")
        return SlaNotice.schedule(
            record, asOf: Self.ms(asOf), leadMinutes: lead, notified: try harness.state.slaNotices("t1")
        ).notices
    }

    /// Appends `notice` as the scheduler does: decided at the notice's time, then folded.
    @discardableResult
    static func notify(_ harness: Harness, _ notice: SlaNotice) throws -> Decision {
        let saved = harness.at
        harness.at = notice.at
        defer { harness.at = saved }
        let decision = try NotifySlaBreach(notice).decide(harness.state, harness.nextContext())
        try harness.record(decision.events)
        return decision
    }

    @Test func anActiveInstanceHasAWarningThenItsBreachToCome() throws {
        let harness = try Self.ticket()
        let notices = try Self.pending(harness, asOf: "2025-01-06T08:30:00Z")
        #expect(notices.map(\.kind) == [.warning, .breach])
        #expect(notices.map(\.at) == [Self.ms("2025-01-06T08:45:00Z"), Self.ms("2025-01-06T09:00:00Z")])
        // On time at the deadline is met: the breach is due only past it.
        #expect(notices.map(\.dueAt) == [Self.ms("2025-01-06T08:45:00Z"), Self.ms("2025-01-06T09:00:00Z") + 1])
        #expect(try Self.pending(harness, asOf: "2025-01-06T08:30:00Z", lead: 0).map(\.kind) == [.breach])
    }

    @Test func theWarningAndTheBreachAreAppendedOnceEach() throws {
        let harness = try Self.ticket()
        let warning = try #require(try Self.pending(harness, asOf: "2025-01-06T08:50:00Z").first)
        let decision = try Self.notify(harness, warning)
        #expect(decision.events.map(\.type) == ["SlaBreachWarning"])
        #expect(decision.events.map(\.stream) == ["ticket-t1"])
        #expect(decision.result == CommandResult(.ticket, "t1"))
        guard case .notification(.slaBreachWarning(let event)) = decision.events[0].event else {
            Issue.record("not a warning: \(decision.events)")
            return
        }
        #expect(event.deadline.at == Self.ms("2025-01-06T09:00:00Z"))
        #expect(event.leadMinutes == 15)
        // Deciding the same notice again appends nothing.
        #expect(try NotifySlaBreach(warning).decide(harness.state, harness.nextContext()).events.isEmpty)

        let breach = try #require(try Self.pending(harness, asOf: "2025-01-06T09:10:00Z").first)
        #expect(breach.kind == .breach)
        #expect(try Self.notify(harness, breach).events.map(\.type) == ["SlaBreached"])
        #expect(try NotifySlaBreach(breach).decide(harness.state, harness.nextContext()).events.isEmpty)
        #expect(try Self.pending(harness, asOf: "2025-01-06T09:10:00Z").isEmpty)

        // A reply after the deadline fulfils the breached instance: no second breach.
        harness.at = Self.ms("2025-01-06T09:20:00Z")
        try harness.given(ReplyToTicket.self, ["ticket_id": "t1", "author": "agent", "public": true, "body": "hi"])
        #expect(try Self.pending(harness, asOf: "2025-01-06T10:00:00Z").isEmpty)
    }

    @Test func aBreachedInstanceGetsNoLateWarning() throws {
        let harness = try Self.ticket()
        let notices = try Self.pending(harness, asOf: "2025-01-06T12:00:00Z")
        #expect(notices.map(\.kind) == [.breach])
        #expect(notices.first?.at == Self.ms("2025-01-06T09:00:00Z"))
        #expect(notices.first?.deadline.at == Self.ms("2025-01-06T09:00:00Z"))
    }

    @Test func anInstanceFulfilledLateStillHasItsBreachToAppend() throws {
        let harness = try Self.ticket()
        harness.at = Self.ms("2025-01-06T09:30:00Z")
        try harness.given(ReplyToTicket.self, ["ticket_id": "t1", "author": "agent", "public": true, "body": "hi"])
        let notices = try Self.pending(harness, asOf: "2025-01-06T09:30:00Z")
        #expect(notices.map(\.kind) == [.breach])
        #expect(notices.first?.at == Self.ms("2025-01-06T09:00:00Z"))
    }

    @Test func aReplyInTimeLeavesNothingToAppend() throws {
        let harness = try Self.ticket()
        harness.at = Self.ms("2025-01-06T08:59:00Z")
        try harness.given(ReplyToTicket.self, ["ticket_id": "t1", "author": "agent", "public": true, "body": "hi"])
        #expect(try Self.pending(harness, asOf: "2025-01-06T12:00:00Z").isEmpty)
    }

    @Test func aBreachCausedByATargetChangeIsDatedAtTheChange() throws {
        // Worked example E: FRT normal 480, high 60 business minutes; created Mon 09:00 Berlin, high at 10:30.
        let harness = try TicketCommandTests.desk()
        harness.at = Self.ms("2025-03-10T08:00:00Z")
        try harness.given(OpenTicket.self, Self.opening)
        harness.at = Self.ms("2025-03-10T09:30:00Z")
        try harness.given(SetTicketPriority.self, ["ticket_id": "t1", "priority": "high"])
        let breaches = try Self.pending(harness, asOf: "2025-03-10T10:00:00Z").filter { $0.kind == .breach }
        let frt = try #require(breaches.first { $0.deadline.metric == "first_reply_time" })
        #expect(frt.at == Self.ms("2025-03-10T09:30:00Z"))
        #expect(frt.deadline.at == Self.ms("2025-03-10T09:00:00Z"))
        let decision = try Self.notify(harness, frt)
        guard case .notification(.slaBreached(let event)) = decision.events.first?.event else {
            Issue.record("not a breach: \(decision.events)")
            return
        }
        #expect(event.breachedAt == Self.ms("2025-03-10T09:30:00Z"))
        #expect(event.deadline.at == Self.ms("2025-03-10T09:00:00Z"))
        #expect(event.deadline.targetMinutes == 60)
    }

    @Test func notificationsNameNoCustomerAndAreExemptFromTheStreamOrder() throws {
        let harness = try Self.ticket()
        let breach = try #require(try Self.pending(harness, asOf: "2025-01-06T10:00:00Z").first)
        let event = try Self.notify(harness, breach).events[0].event
        #expect(event.isNotification)
        #expect(event.namedCustomerIDs.isEmpty)
        let tagged = TicketTagged(ticketID: "t1", customerID: "c1", added: [], removed: [])
        #expect(!DomainEvent.service(.ticketTagged(tagged)).isNotification)
    }

    @Test func aDeadlineOutOfTheClocksReachIsLookedAtAgainLater() throws {
        // 500,000 business minutes on a 40-hour week: the deadline lies years ahead, beyond the clock's walk.
        let harness = try TicketCommandTests.desk(targets: [
            ["metric": "first_reply_time", "priority": "normal", "minutes": 500_000, "business_hours": true]
        ])
        harness.at = Self.ms("2025-01-06T08:00:00Z")
        try harness.given(OpenTicket.self, Self.opening)
        let record = try TicketCommandTests.record(harness, "t1")
        let asOf = Self.ms("2025-01-06T09:00:00Z")
        let schedule = SlaNotice.schedule(record, asOf: asOf, leadMinutes: 15, notified: [])
        #expect(schedule.notices.isEmpty)
        #expect(schedule.recheckAt == asOf + SlaNotice.recheckMillis)
        #expect(schedule.nextDueAt == schedule.recheckAt)
    }

    @Test func noNoticeIsDueBeforeTheEarliestATargetAllows() throws {
        // 60 calendar minutes from 08:00, less the 15-minute lead.
        let calendar = try TicketCommandTests.record(try Self.ticket(), "t1")
        #expect(SlaNotice.earliestDue(calendar, leadMinutes: 15) == Self.ms("2025-01-06T08:45:00Z"))
        // 500,000 business minutes on a 40-hour week (plus an hour): about 206 weeks at the least.
        let harness = try TicketCommandTests.desk(targets: [
            ["metric": "first_reply_time", "priority": "normal", "minutes": 500_000, "business_hours": true]
        ])
        harness.at = Self.ms("2025-01-06T08:00:00Z")
        try harness.given(OpenTicket.self, Self.opening)
        let business = try TicketCommandTests.record(harness, "t1")
        let weeks: Int64 = 500_000 * 60_000 / (5 * 8 * 60 + 60) * 10_080 - 7 * 86_400_000
        #expect(SlaNotice.earliestDue(business, leadMinutes: 0) == Self.ms("2025-01-06T08:00:00Z") + weeks)
        let asOf = Self.ms("2029-01-01T00:00:00Z")
        let evaluated = SlaNotice.schedule(business, asOf: asOf, leadMinutes: 0, notified: [])
        if let deadline = evaluated.notices.first?.deadline.at {
            #expect(deadline >= Self.ms("2025-01-06T08:00:00Z") + weeks)
        }
    }

    @Test func anUnknownTicketIsNotFound() throws {
        let harness = try Self.ticket()
        var notice = try #require(try Self.pending(harness, asOf: "2025-01-06T10:00:00Z").first)
        notice.deadline.ticketID = "nope"
        #expect(throws: Rejection.self) { try NotifySlaBreach(notice).decide(harness.state, harness.nextContext()) }
    }

    @Test func replayingTheLogKeepsTheNotices() throws {
        let harness = try Self.ticket()
        let notices = try Self.pending(harness, asOf: "2025-01-06T08:50:00Z")
        try Self.notify(harness, notices[0])
        let replayed = try InMemoryDecisionState(events: harness.log)
        #expect(replayed.tables == harness.state.tables)
        #expect(try replayed.slaNotices("t1") == ["first_reply_time/1/warning"])
    }
}
