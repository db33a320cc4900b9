import CRMDomain
import CRMEventStore
import Testing

/// The notification events (``NotificationEvent``) in the log: their canonical bytes, and back.
@Suite struct NotificationEventCodecTests {
    static let breached = DomainEvent.notification(
        .slaBreached(
            SlaBreached(
                SlaDeadline(
                    ticketID: "t1", metric: "first_reply_time", instance: 1, targetMinutes: 60,
                    at: Timestamp.parse("2025-03-10T09:00:00Z")!
                ),
                breachedAt: Timestamp.parse("2025-03-10T09:30:00Z")!
            )
        )
    )
    static let warning = DomainEvent.notification(
        .slaBreachWarning(
            SlaBreachWarning(
                SlaDeadline(
                    ticketID: "t1", metric: "next_reply_time", instance: 2, targetMinutes: 240,
                    at: Timestamp.parse("2025-03-10T12:00:00Z")!
                ),
                leadMinutes: 15
            )
        )
    )

    @Test(arguments: [
        (
            breached,
            #"{"breached_at":"2025-03-10T09:30:00.000Z","deadline":"2025-03-10T09:00:00.000Z","instance":1,"#
                + #""metric":"first_reply_time","target_minutes":60,"ticket_id":"t1"}"#
        ),
        (
            warning,
            #"{"deadline":"2025-03-10T12:00:00.000Z","instance":2,"lead_minutes":15,"metric":"next_reply_time","#
                + #""target_minutes":240,"ticket_id":"t1"}"#
        ),
    ])
    func payloadBytesAndBack(event: DomainEvent, data: String) {
        let texts = EventCodec.payloadTexts(event)
        #expect(String(decoding: texts.data, as: UTF8.self) == data)
        #expect(String(decoding: texts.pii, as: UTF8.self) == "null")
        let stored = UntypedEvent(
            type: event.type, schemaVersion: event.schemaVersion, dataText: texts.data, piiText: texts.pii
        )
        #expect(EventCodec.typed(.untyped(stored)) == event)
        #expect(event.schemaVersion == 1)
        #expect(event.isNotification)
        #expect(DomainEvent.untyped(stored).isNotification)
    }

    @Test func aPayloadWithoutItsTicketStaysUntyped() {
        let stored = UntypedEvent(
            type: "SlaBreached", schemaVersion: 1, dataText: Array(#"{"metric":"first_reply_time"}"#.utf8),
            piiText: Array("null".utf8)
        )
        #expect(EventCodec.typed(.untyped(stored)) == .untyped(stored))
    }
}
