import CRMDomain
import CRMEventStore
import CRMJSON
import CRMRPC
import Testing

@Suite struct LogActivityTests {
    func harness() throws -> Harness {
        let harness = Harness()
        try harness.given(CreateCustomer.self, adaParams("c1", email: "one@example.com"))
        try harness.given(CreateCustomer.self, adaParams("c2", email: "two@example.com"))
        return harness
    }

    @Test func callWithEveryFieldEmitsActivityLogged() throws {
        let harness = try self.harness()
        let decision = try harness.when(
            LogActivity.self,
            [
                "activity_id": "a1", "type": "call", "customer_ids": ["c1", "c2"], "deal_id": "d1", "ticket_id": "t1",
                "occurred_at": "2025-03-07T16:00:00+01:00", "direction": "outbound", "duration_sec": 300,
                "start_at": "2025-03-07T15:00:00Z", "end_at": "2025-03-07T15:05:00Z", "outcome": "connected",
                "owner_id": "u1", "subject": "  Intro call ", "body": "Talked about engines.",
            ]
        )
        #expect(decision.result == CommandResult(.activity, "a1"))
        let event = try #require(decision.events.first)
        #expect(decision.events.count == 1)
        #expect(event.type == "ActivityLogged")
        #expect(event.schemaVersion == 2)
        #expect(event.stream == "activity-a1")
        #expect(
            event.payloadData
                == [
                    "activity_id": "a1", "kind": "call", "customer_ids": ["c1", "c2"], "deal_id": "d1",
                    "ticket_id": "t1", "occurred_at": "2025-03-07T15:00:00.000Z", "direction": "outbound",
                    "duration_sec": 300, "start_at": "2025-03-07T15:00:00.000Z", "end_at": "2025-03-07T15:05:00.000Z",
                    "outcome": "connected", "owner_id": "u1", "task": nil,
                ]
        )
        #expect(event.payloadPII == ["subject": "Intro call", "body": "Talked about engines."])
    }

    @Test func noteDefaultsToCommandTimeAndGeneratedID() throws {
        let harness = try self.harness()
        let command = try LogActivity(params: ["type": "note", "customer_ids": ["c1"]])
        let context = CommandContext(at: Timestamp.parse("2025-03-07T15:30:00Z")!, generatedID: "g-77")
        let decision = try command.decide(harness.state, context)
        #expect(decision.result == CommandResult(.activity, "g-77"))
        #expect(
            decision.events.first?.payloadData
                == [
                    "activity_id": "g-77", "kind": "note", "customer_ids": ["c1"], "deal_id": nil, "ticket_id": nil,
                    "occurred_at": "2025-03-07T15:30:00.000Z", "direction": nil, "duration_sec": nil,
                    "start_at": nil, "end_at": nil, "outcome": nil, "owner_id": nil, "task": nil,
                ]
        )
        #expect(decision.events.first?.payloadPII == ["subject": nil, "body": nil])
    }

    @Test func taskAndMeetingFields() throws {
        let harness = try self.harness()
        let task = try harness.when(
            LogActivity.self,
            ["type": "task", "customer_ids": ["c1"], "due_at": "2025-03-10T09:00:00Z", "task_status": "WAITING"]
        )
        #expect(task.events.first?.payloadData["task"] == ["due_at": "2025-03-10T09:00:00.000Z", "status": "WAITING"])
        let bareTask = try harness.when(LogActivity.self, ["type": "task", "customer_ids": ["c1"]])
        #expect(bareTask.events.first?.payloadData["task"] == ["due_at": nil, "status": nil])
        let meeting = try harness.when(
            LogActivity.self,
            [
                "type": "meeting", "customer_ids": ["c2"], "outcome": "NO_SHOW", "start_at": "2025-03-07T10:00:00Z",
                "end_at": "2025-03-07T10:00:00Z",
            ]
        )
        #expect(meeting.events.first?.payloadData["outcome"] == "NO_SHOW")
        let email = try harness.when(
            LogActivity.self,
            ["type": "email", "customer_ids": ["c2"], "direction": "inbound"]
        )
        #expect(email.events.first?.payloadData["direction"] == "inbound")
    }

    @Test func existingActivityIDIsAlreadyExists() throws {
        let harness = try self.harness()
        try harness.given(LogActivity.self, ["activity_id": "a1", "type": "note", "customer_ids": ["c1"]])
        #expect(try harness.state.activityExists("a1"))
        let rejection = harness.rejection(
            LogActivity.self,
            ["activity_id": "a1", "type": "note", "customer_ids": ["c2"]]
        )
        expectRejection(rejection, .alreadyExists, field: "activity_id")
    }

    @Test(arguments: [
        RejectionCase("missing type", ["customer_ids": ["c1"]], .missingField, "type"),
        RejectionCase("bad type", ["type": "sms", "customer_ids": ["c1"]], .invalidField, "type"),
        RejectionCase("missing customers", ["type": "note"], .missingField, "customer_ids"),
        RejectionCase("no customers", ["type": "note", "customer_ids": []], .invalidField, "customer_ids"),
        RejectionCase(
            "bad customer id",
            ["type": "note", "customer_ids": ["c1", "c 2"]],
            .invalidField,
            "customer_ids[1]"
        ),
        RejectionCase(
            "duplicate customer id",
            ["type": "note", "customer_ids": ["c1", "c1"]],
            .invalidField,
            "customer_ids[1]"
        ),
        RejectionCase(
            "unknown customer",
            ["type": "note", "customer_ids": ["c1", "c9"]],
            .notFound,
            "customer_ids[1]"
        ),
        RejectionCase(
            "bad activity id",
            ["activity_id": "a/1", "type": "note", "customer_ids": ["c1"]],
            .invalidField,
            "activity_id"
        ),
        RejectionCase("call without direction", ["type": "call", "customer_ids": ["c1"]], .missingField, "direction"),
        RejectionCase(
            "email without direction",
            ["type": "email", "customer_ids": ["c1"]],
            .missingField,
            "direction"
        ),
        RejectionCase(
            "bad direction",
            ["type": "call", "customer_ids": ["c1"], "direction": "sideways"],
            .invalidField,
            "direction"
        ),
        RejectionCase(
            "negative duration",
            ["type": "note", "customer_ids": ["c1"], "duration_sec": -1],
            .invalidField,
            "duration_sec"
        ),
        RejectionCase(
            "fractional duration",
            ["type": "note", "customer_ids": ["c1"], "duration_sec": 1.5],
            .invalidField,
            "duration_sec"
        ),
        RejectionCase(
            "bad occurred_at",
            ["type": "note", "customer_ids": ["c1"], "occurred_at": "yesterday"],
            .invalidField,
            "occurred_at"
        ),
        RejectionCase(
            "end before start",
            [
                "type": "meeting", "customer_ids": ["c1"], "start_at": "2025-03-07T10:00:00Z",
                "end_at": "2025-03-07T09:59:59Z",
            ],
            .invalidField,
            "end_at"
        ),
        RejectionCase(
            "bad start_at",
            ["type": "meeting", "customer_ids": ["c1"], "start_at": "2025-02-30T10:00:00Z"],
            .invalidField,
            "start_at"
        ),
        RejectionCase(
            "bad call outcome",
            [
                "type": "call", "customer_ids": ["c1"], "direction": "inbound",
                "outcome": "COMPLETED",
            ],
            .invalidField,
            "outcome"
        ),
        RejectionCase(
            "bad meeting outcome",
            ["type": "meeting", "customer_ids": ["c1"], "outcome": "connected"],
            .invalidField,
            "outcome"
        ),
        RejectionCase(
            "outcome on a note",
            ["type": "note", "customer_ids": ["c1"], "outcome": "connected"],
            .invalidField,
            "outcome"
        ),
        RejectionCase(
            "due_at on a call",
            [
                "type": "call", "customer_ids": ["c1"], "direction": "inbound",
                "due_at": "2025-03-07T10:00:00Z",
            ],
            .invalidField,
            "due_at"
        ),
        RejectionCase(
            "task_status on a note",
            ["type": "note", "customer_ids": ["c1"], "task_status": "WAITING"],
            .invalidField,
            "task_status"
        ),
        RejectionCase(
            "bad task status",
            ["type": "task", "customer_ids": ["c1"], "task_status": "DONE"],
            .invalidField,
            "task_status"
        ),
        RejectionCase(
            "bad due_at",
            ["type": "task", "customer_ids": ["c1"], "due_at": "tomorrow"],
            .invalidField,
            "due_at"
        ),
        RejectionCase(
            "subject too long",
            ["type": "note", "customer_ids": ["c1"], "subject": .string(String(repeating: "s", count: 256))],
            .invalidField,
            "subject"
        ),
        RejectionCase(
            "body too long",
            ["type": "note", "customer_ids": ["c1"], "body": .string(String(repeating: "é", count: 32_769))],
            .invalidField,
            "body"
        ),
        RejectionCase(
            "bad deal id",
            ["type": "note", "customer_ids": ["c1"], "deal_id": "d 1"],
            .invalidField,
            "deal_id"
        ),
        RejectionCase(
            "bad ticket id",
            ["type": "note", "customer_ids": ["c1"], "ticket_id": ""],
            .invalidField,
            "ticket_id"
        ),
        RejectionCase(
            "bad owner id",
            ["type": "note", "customer_ids": ["c1"], "owner_id": "ü"],
            .invalidField,
            "owner_id"
        ),
        RejectionCase(
            "unknown field",
            ["type": "note", "customer_ids": ["c1"], "priority": "high"],
            .invalidField,
            "priority"
        ),
    ])
    func invalidParamsAreRejected(_ testCase: RejectionCase) throws {
        let harness = try self.harness()
        expectRejection(harness.rejection(LogActivity.self, testCase.params), testCase.reason, field: testCase.field)
    }

    @Test func bodyAtTheLimitIsAccepted() throws {
        let harness = try self.harness()
        let body = String(repeating: "é", count: 32_768)
        let decision = try harness.when(
            LogActivity.self,
            ["type": "note", "customer_ids": ["c1"], "body": .string(body)]
        )
        #expect(decision.events.first?.payloadPII["body"] == .string(body))
    }
}
