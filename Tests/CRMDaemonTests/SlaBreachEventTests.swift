import CRMApplication
import CRMDomain
import CRMJSON
import CRMTesting
import Foundation
import Testing

/// Breach notifications through the socket: a breach that fell due while crmd was down is appended when
/// it starts, dated at its deadline, and never twice.
@Suite struct SlaBreachEventTests {
    static func wallClock() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }

    @Test func aBreachThatFellDueWhileCrmdWasDownIsAppendedAtStartAndOnlyOnce() async throws {
        let directory = TemporaryDirectory()
        // Written with the scheduler off (the default of in-process daemons)…
        let daemon = try await TestDaemon(directory: directory)
        let client = try daemon.client()
        _ = try await client.result("customer.create", ["customer_id": "c1", "first_name": "Ada"])
        _ = try await client.result(
            "sla_policy.define",
            [
                "policy_id": "std", "name": "Standard", "position": 0,
                "targets": [["metric": "first_reply_time", "priority": "normal", "minutes": 60]],
            ]
        )
        _ = try await client.result(
            "ticket.open",
            ["ticket_id": "t1", "customer_id": "c1", "subject": "Help", "channel": "web", "at": "2025-01-06T08:00:00Z"]
        )
        let head = try #require(try await client.result("system.stats")["event_count"]?.intValue)
        try await daemon.stop()

        // …then started with it on: the deadline (09:00) lies in the past.
        let restarted = try await TestDaemon(directory: directory) { $0.slaBreachEvents = true }
        let scheduler = try #require(restarted.core.slaScheduler)
        scheduler.nudge()
        await scheduler.waitUntilIdle(at: Self.wallClock())
        let read = try await restarted.client().result("events.read", ["from": .int(head + 1)])
        let events = read["events"]?.arrayValue ?? []
        #expect(events.map { $0["type"] } == ["SlaBreached"])
        #expect(events.first?["stream"] == "ticket-t1")
        let occurredAt = events.first?["occurred_at"]?.stringValue.flatMap(Timestamp.parse)
        #expect(occurredAt == Timestamp.parse("2025-01-06T09:00:00Z"))
        #expect(events.first?["data"]?["deadline"] == "2025-01-06T09:00:00.000Z")
        #expect(events.first?["data"]?["breached_at"] == "2025-01-06T09:00:00.000Z")
        #expect(events.first?["pii"] == .null)
        // The SLA read model shows the breach as before: derived, not read from the event.
        let sla = try await restarted.client().result("sla.ticket", ["ticket_id": "t1"])
        #expect(sla["targets"]?[0]?["breached_at"] == sla["targets"]?[0]?["deadline"])
        try await restarted.stop()

        // A second start appends nothing more.
        let again = try await TestDaemon(directory: directory) { $0.slaBreachEvents = true }
        let secondScheduler = try #require(again.core.slaScheduler)
        secondScheduler.nudge()
        await secondScheduler.waitUntilIdle(at: Self.wallClock())
        #expect(try await again.client().result("system.stats")["event_count"]?.intValue == head + 1)
        #expect(try await again.client().result("audit.verify", ["read_models": true])["ok"] == true)
        try await again.stop()
    }
}
