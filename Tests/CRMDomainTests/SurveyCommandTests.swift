import CRMDomain
import CRMJSON
import CRMRPC
import Testing

/// Surveys, ticket assignment, ticket types and complaints, decided on typed values: given events,
/// when the command, then the events or the rejection.
@Suite struct SurveyCommandTests {
    static func ms(_ text: String) -> Int64 { Timestamp.parse(text)! }

    /// Customers `c1` and `c2`, a CSAT survey `post` offered on solve, and ticket `t1` of `c1` on email
    /// assigned to agent `a1`.
    func desk() throws -> Harness {
        let harness = Harness()
        harness.at = Self.ms("2025-03-03T09:00:00Z")
        try harness.given(CreateCustomer.self, ["customer_id": "c1", "first_name": "Ada"])
        try harness.given(CreateCustomer.self, ["customer_id": "c2", "first_name": "Bo"])
        try harness.given(
            DefineSurvey.self, ["survey_id": "post", "kind": "csat", "auto_offer_on": ["ticket_solved"]])
        try harness.given(
            OpenTicket.self, ["ticket_id": "t1", "customer_id": "c1", "subject": "Late parcel", "channel": "email"])
        try harness.given(AssignTicket.self, ["ticket_id": "t1", "assignee_id": "a1"])
        return harness
    }

    func offered(_ decision: Decision) -> [SurveyOffered] {
        decision.events.compactMap { event in
            if case .feedback(.surveyOffered(let offered)) = event.event { return offered }
            return nil
        }
    }

    @Test func solvingOffersTheSurveyOnceWhileItsRequestIsOpen() throws {
        let harness = try self.desk()
        let solved = try harness.given(SetTicketStatus.self, ["ticket_id": "t1", "status": "solved"])
        #expect(solved.events.map(\.type) == ["TicketStatusChanged", "SurveyOffered"])
        #expect(solved.events[1].causedBy == 0 && solved.events[1].stream == "surveyreq-gen-6")
        let offer = try #require(self.offered(solved).first)
        #expect(offer.customerID == "c1" && offer.ticketID == "t1" && offer.agentID == "a1")
        #expect(offer.channel == "email" && offer.kind == .csat)
        #expect(offer.expiresAt == Self.ms("2025-03-31T09:00:00Z"), "28 days by default")
        // Reopened by the customer and solved again: the open request stands, no second offer.
        try harness.given(
            ReplyToTicket.self, ["ticket_id": "t1", "author": "customer", "body": "Still missing", "public": true])
        let again = try harness.given(SetTicketStatus.self, ["ticket_id": "t1", "status": "solved"])
        #expect(again.events.map(\.type) == ["TicketStatusChanged"])
        // An explicit offer returns the open request and writes nothing.
        let explicit = try harness.when(OfferSurvey.self, ["survey_id": "post", "ticket_id": "t1"])
        #expect(explicit.events.isEmpty && explicit.result.id == "gen-6")
    }

    @Test func theLatestResponseWinsAndNamesTheOneItReplaces() throws {
        let harness = try self.desk()
        try harness.given(SetTicketStatus.self, ["ticket_id": "t1", "status": "solved"])
        let first = try harness.given(
            RespondToSurvey.self, ["request_id": "gen-6", "score": 1, "comment": "slow"])
        guard case .feedback(.surveyResponded(let one)) = first.events.first?.event else {
            Issue.record("not a response")
            return
        }
        #expect(one.supersedesSeq == nil && one.category == "dissatisfied" && one.agentID == "a1")
        #expect(one.comment == "slow" && first.events[0].stream == "surveyreq-gen-6")
        let firstSeq = harness.log.last!.seq
        let second = try harness.given(RespondToSurvey.self, ["request_id": "gen-6", "score": 3])
        guard case .feedback(.surveyResponded(let two)) = second.events.first?.event else {
            Issue.record("not a response")
            return
        }
        #expect(two.supersedesSeq == firstSeq && two.category == "neutral")
        // Closing the ticket closes the request.
        try harness.given(SetTicketStatus.self, ["ticket_id": "t1", "status": "closed"])
        expectRejection(
            harness.rejection(RespondToSurvey.self, ["request_id": "gen-6", "score": 5]), .surveyClosed,
            field: "ticket_id")
    }

    @Test func aResponseWithoutARequestComesWithAnImplicitOne() throws {
        let harness = try self.desk()
        try harness.given(DefineSurvey.self, ["survey_id": "nps", "kind": "nps"])
        let decision = try harness.given(
            RespondToSurvey.self, ["survey_id": "nps", "customer_id": "c2", "score": 9])
        #expect(decision.events.map(\.type) == ["SurveyOffered", "SurveyResponded"])
        #expect(self.offered(decision).first?.offeredAt == harness.at)
        #expect(decision.events.allSatisfy { $0.stream == "surveyreq-gen-7" })
    }

    @Test func rejections() throws {
        let harness = try self.desk()
        try harness.given(SetTicketStatus.self, ["ticket_id": "t1", "status": "solved"])
        let score = harness.rejection(RespondToSurvey.self, ["request_id": "gen-6", "score": 6])
        expectRejection(score, .invalidScore, field: "score")
        #expect(score?.details == ["min": 1, "max": 5])
        expectRejection(
            harness.rejection(RespondToSurvey.self, ["request_id": "gen-6", "score": 4.5]), .invalidScore,
            field: "score")
        expectRejection(
            harness.rejection(RespondToSurvey.self, ["request_id": "gen-6", "score": 4, "customer_id": "c2"]),
            .invalidField, field: "customer_id")
        expectRejection(
            harness.rejection(OfferSurvey.self, ["survey_id": "nope", "ticket_id": "t1"]), .unknownSurvey,
            field: "survey_id")
        expectRejection(
            harness.rejection(RespondToSurvey.self, ["survey_id": "nope", "customer_id": "c1", "score": 4]),
            .unknownSurvey, field: "survey_id")
        expectRejection(
            harness.rejection(DefineSurvey.self, ["survey_id": "post", "kind": "nps"]), .invalidField, field: "kind")
        expectRejection(
            harness.rejection(DefineSurvey.self, ["survey_id": "s", "kind": "csat", "response_window_days": 400]),
            .invalidField, field: "response_window_days")
        expectRejection(
            harness.rejection(RespondToSurvey.self, ["score": 4]), .missingField, field: "request_id")
        harness.at = Self.ms("2025-03-31T09:00:01Z")
        let expired = harness.rejection(RespondToSurvey.self, ["request_id": "gen-6", "score": 4])
        expectRejection(expired, .surveyExpired, field: "request_id")
        #expect(expired?.details?["expires_at"] == "2025-03-31T09:00:00.000Z")
        // A redefinition with the same fields writes nothing; a change is version 2.
        #expect(
            try harness.when(
                DefineSurvey.self, ["survey_id": "post", "kind": "csat", "auto_offer_on": ["ticket_solved"]]
            ).events.isEmpty)
        let changed = try harness.given(DefineSurvey.self, ["survey_id": "post", "kind": "csat"])
        #expect(changed.result.version == 2)
    }

    @Test func typesAssignmentAndComplaints() throws {
        let harness = try self.desk()
        #expect(try harness.when(AssignTicket.self, ["ticket_id": "t1", "assignee_id": "a1"]).events.isEmpty)
        let unassigned = try harness.when(AssignTicket.self, ["ticket_id": "t1", "assignee_id": nil])
        guard case .service(.ticketAssigned(let assigned)) = unassigned.events.first?.event else {
            Issue.record("not an assignment")
            return
        }
        #expect(assigned.from == "a1" && assigned.to == nil)
        expectRejection(
            harness.rejection(AssignTicket.self, ["ticket_id": "t1"]), .missingField, field: "assignee_id")
        expectRejection(
            harness.rejection(ResolveComplaint.self, ["ticket_id": "t1", "outcome": "upheld"]), .invalidField,
            field: "ticket_id")
        let typed = try harness.given(
            SetTicketType.self, ["ticket_id": "t1", "type": "complaint", "category": "delivery"])
        #expect(typed.events.map(\.type) == ["TicketTypeChanged"])
        expectRejection(
            harness.rejection(SetTicketType.self, ["ticket_id": "t1", "type": "complaint", "category": "Bad"]),
            .invalidField, field: "category")
        expectRejection(
            harness.rejection(
                ResolveComplaint.self,
                ["ticket_id": "t1", "outcome": "upheld", "remedy": ["kind": "refund", "amount": "10"]]),
            .invalidField, field: "remedy.currency")
        let resolved = try harness.given(
            ResolveComplaint.self,
            [
                "ticket_id": "t1", "outcome": "partially_upheld",
                "remedy": ["kind": "refund", "amount": "10.00", "currency": "EUR"],
            ]
        )
        guard case .service(.complaintResolved(let complaint)) = resolved.events.first?.event else {
            Issue.record("not a resolution")
            return
        }
        #expect(complaint.upheld && complaint.remedy?.amount?.description == "10")
        try harness.given(SetTicketStatus.self, ["ticket_id": "t1", "status": "closed"])
        expectRejection(
            harness.rejection(AssignTicket.self, ["ticket_id": "t1", "assignee_id": "a2"]), .ticketClosed,
            field: "ticket_id")
        // The assessment may come after the ticket is closed.
        #expect(try harness.when(ResolveComplaint.self, ["ticket_id": "t1", "outcome": "rejected"]).events.count == 1)
    }
}
