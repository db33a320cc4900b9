import CRMDomain
import CRMEventStore
import CRMJSON
import Testing

@Suite struct UpcasterTests {
    /// A recorded event of `type` in schema `version`, as a log would hold it.
    func recorded(_ type: String, version: Int, stream: String, data: JSON, pii: JSON) -> RecordedEvent {
        RecordedEvent(
            seq: 7, stream: stream, streamVersion: 2, type: type, schemaVersion: version,
            occurredAt: Timestamp.parse("2025-03-04T12:30:00Z")!, recordedAt: 0, actor: Actor(uid: 1, gid: 1),
            commandID: "k1", correlationID: nil, causationSeq: nil, data: data, pii: pii
        )
    }

    @Test func currentVersionsFollowTheTable() {
        #expect(EventSchema.currentVersion(of: EventType.activityLogged) == 2)
        #expect(EventSchema.currentVersion(of: EventType.consentChanged) == 2)
        #expect(EventSchema.currentVersion(of: EventType.customerCreated) == 1)
        #expect(EventSchema.currentVersion(of: "NoSuchEvent") == 1)
        // Every type's chain starts at 1 and has no gaps, so any stored version reaches the current one.
        #expect(Set(EventSchema.currentVersions.keys) == Set(EventSchema.upcasters.keys))
        for (type, steps) in EventSchema.upcasters {
            #expect(steps.keys.sorted() == Array(1..<EventSchema.currentVersion(of: type)), "\(type)")
        }
    }

    @Test func newEventsDefaultToTheCurrentVersion() {
        #expect(NewEvent(type: EventType.activityLogged, stream: "activity-a1", data: [:]).schemaVersion == 2)
        #expect(NewEvent(type: EventType.customerTagged, stream: "customer-c1", data: [:]).schemaVersion == 1)
        #expect(NewEvent(type: EventType.consentChanged, schemaVersion: 1, stream: "c", data: [:]).schemaVersion == 1)
    }

    @Test func activityLoggedTaskV1ToV2() {
        let v1: JSON = [
            "activity_id": "act-task-1", "customer_ids": ["grace"], "deal_id": nil, "direction": nil,
            "due_at": "2025-03-10T17:00:00.000Z", "duration_sec": nil, "end_at": nil,
            "occurred_at": "2025-03-04T12:30:00.000Z", "outcome": nil, "owner_id": "u7", "start_at": nil,
            "task_status": "NOT_STARTED", "ticket_id": nil, "type": "task",
        ]
        let pii: JSON = ["subject": "Send COBOL proposal", "body": nil]
        let (data, upcastPII) = EventSchema.upcasters[EventType.activityLogged]![1]!(v1, pii)
        #expect(
            data
                == [
                    "activity_id": "act-task-1", "customer_ids": ["grace"], "deal_id": nil, "direction": nil,
                    "duration_sec": nil, "end_at": nil, "occurred_at": "2025-03-04T12:30:00.000Z", "outcome": nil,
                    "owner_id": "u7", "start_at": nil, "ticket_id": nil, "kind": "task",
                    "task": ["due_at": "2025-03-10T17:00:00.000Z", "status": "NOT_STARTED"],
                ]
        )
        #expect(upcastPII == pii)
    }

    @Test func activityLoggedCallV1ToV2HasNoTask() {
        let v1: JSON = [
            "activity_id": "a1", "type": "call", "direction": "outbound", "due_at": nil, "task_status": nil,
        ]
        let (data, _) = EventSchema.upcasters[EventType.activityLogged]![1]!(v1, .null)
        #expect(data == ["activity_id": "a1", "kind": "call", "direction": "outbound", "task": nil])
    }

    @Test func activityLoggedV2IsWhatLogActivityNowWrites() throws {
        // The upcast of what crmd wrote before version 2 equals what `activity.log` writes today.
        let harness = Harness()
        try harness.given(CreateCustomer.self, adaParams("c1"))
        let decision = try harness.when(
            LogActivity.self,
            [
                "activity_id": "a1", "type": "task", "customer_ids": ["c1"], "due_at": "2025-03-10T09:00:00Z",
                "task_status": "WAITING", "subject": "Send proposal",
            ]
        )
        let event = try #require(decision.events.first)
        let v1 = self.recorded(
            EventType.activityLogged, version: 1, stream: "activity-a1",
            data: [
                "activity_id": "a1", "type": "task", "customer_ids": ["c1"], "deal_id": nil, "ticket_id": nil,
                "occurred_at": "2025-03-07T15:30:00.000Z", "direction": nil, "duration_sec": nil, "start_at": nil,
                "end_at": nil, "outcome": nil, "owner_id": nil, "due_at": "2025-03-10T09:00:00.000Z",
                "task_status": "WAITING",
            ],
            pii: ["subject": "Send proposal", "body": nil]
        )
        let upcast = EventSchema.upcast(v1)
        #expect(upcast.schemaVersion == event.schemaVersion)
        #expect(upcast.payloadData == event.payloadData)
        #expect(upcast.payloadPII == event.payloadPII)
    }

    @Test func consentChangedV1ToV2() {
        let data: JSON = [
            "channel": "email", "customer_id": "grace", "from": "not_set", "legal_basis": "consent",
            "source": "unsubscribe-link", "to": "opted_out",
        ]
        let (upcastData, pii) = EventSchema.upcasters[EventType.consentChanged]![1]!(
            data,
            ["address": "hopper@example.org", "evidence": "msg-881"]
        )
        #expect(upcastData == data)
        #expect(pii == ["contact_point": "hopper@example.org", "evidence": "msg-881"])
        // A consent without an address, and an erased payload.
        let (_, missing) = EventSchema.upcasters[EventType.consentChanged]![1]!(data, ["evidence": nil])
        #expect(missing == ["contact_point": nil, "evidence": nil])
        let (_, erased) = EventSchema.upcasters[EventType.consentChanged]![1]!(data, .null)
        #expect(erased == .null)
    }

    @Test func upcastKeepsTheEnvelopeAndLeavesCurrentEventsAlone() {
        let v1 = self.recorded(
            EventType.consentChanged, version: 1, stream: "customer-c1",
            data: ["customer_id": "c1", "channel": "phone", "from": "not_set", "to": "opted_out"],
            pii: ["address": "+1 555 0100", "evidence": nil]
        )
        let upcast = EventSchema.upcast(v1)
        #expect(upcast.schemaVersion == 2)
        #expect(upcast.payloadPII == ["contact_point": "+1 555 0100", "evidence": nil])
        // Only the payload changed: the envelope is the stored one.
        var envelope = upcast
        envelope.event = v1.event
        #expect(envelope == v1)
        #expect(EventSchema.upcast(upcast) == upcast)
        let other = self.recorded(
            EventType.customerTagged, version: 1, stream: "customer-c1", data: ["added": ["a"]], pii: .null
        )
        #expect(EventSchema.upcast(other) == other)
    }

    @Test func upcastConsentV1FoldsIntoDecisionState() throws {
        let harness = Harness()
        var params = adaParams("c1", email: "ada@example.com")
        params["emails"] = [["address": "ada@example.com"], ["address": "ada@work.example"]]
        try harness.given(CreateCustomer.self, params)
        let v1 = self.recorded(
            EventType.consentChanged, version: 1, stream: "customer-c1",
            data: ["customer_id": "c1", "channel": "email", "from": "not_set", "to": "opted_out"],
            pii: ["address": "ada@work.example", "evidence": nil]
        )
        var current = EventSchema.upcast(v1)
        current.event = EventCodec.typed(current.event)
        try DecisionEvolver.apply(current, to: harness.state)
        let emails = try harness.customer("c1").emails
        #expect(emails.map(\.consent) == ["not_set", "opted_out"])
    }
}
