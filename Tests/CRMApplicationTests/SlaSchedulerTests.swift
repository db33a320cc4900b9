import CRMApplication
import CRMDomain
import CRMJSON
import CRMProtocol
import CRMRPC
import CRMTesting
import Logging
import Synchronization
import Testing

/// The SLA scheduler in a core of its own, driven by a clock the test moves: warnings and breaches are
/// appended once each, dated when they fell due, also across restarts.
@Suite struct SlaSchedulerTests {
    let origin = RequestOrigin(uid: 1000, gid: 1000)

    /// A clock the test sets.
    final class TestClock: Sendable {
        private let millis: Mutex<Int64>
        init(_ text: String) { self.millis = Mutex(Timestamp.parse(text)!) }
        var now: Int64 { self.millis.withLock { $0 } }
        func set(_ text: String) { self.millis.withLock { $0 = Timestamp.parse(text)! } }
    }

    /// A core with the scheduler on, reading `clock`, with its scheduler running until `body` returns.
    func withScheduler(
        _ directory: TemporaryDirectory,
        _ clock: TestClock,
        _ body: (CRMCore, SlaScheduler) async throws -> Void
    ) async throws {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        var configuration = CoreConfiguration(dataDirectory: directory.appending("data"))
        configuration.seedDefaults = false
        configuration.slaBreachEvents = true
        configuration.slaBreachWarningMinutes = 15
        configuration.slaClock = { clock.now }
        let core = try await CRMCore.start(configuration: configuration, logger: logger)
        let scheduler = try #require(core.slaScheduler)
        let running = Task { await scheduler.run() }
        do {
            try await body(core, scheduler)
        } catch {
            running.cancel()
            await running.value
            await core.shutdown()
            throw error
        }
        running.cancel()
        await running.value
        await core.shutdown()
    }

    /// Lets the scheduler catch up with `clock` (no sleeping: it says when it is done).
    func settle(_ scheduler: SlaScheduler, _ clock: TestClock) async {
        scheduler.nudge()
        await scheduler.waitUntilIdle(at: clock.now)
    }

    func run(_ core: CRMCore, _ method: String, _ params: JSON) async throws {
        _ = try await core.commands.submit(method: method, params: params, origin: self.origin).value.get()
    }

    /// The events from position `from` on: type, stream, business time and data.
    func events(_ core: CRMCore, from: Int64) async throws -> [(type: String, stream: String, at: Int64, data: JSON)] {
        let read = try await core.queries.query(method: "events.read", params: ["from": .int(from)]).value.get()
        return (read["events"]?.arrayValue ?? []).map { envelope in
            (
                envelope["type"]?.stringValue ?? "", envelope["stream"]?.stringValue ?? "",
                Timestamp.parse(envelope["occurred_at"]?.stringValue ?? "") ?? 0, envelope["data"] ?? .null
            )
        }
    }

    /// Customer `c1` and a policy giving first replies 60 calendar minutes.
    func desk(_ core: CRMCore) async throws {
        try await self.run(
            core, "customer.create", ["customer_id": "c1", "first_name": "Ada", "at": "2025-01-06T07:00:00Z"]
        )
        try await self.run(
            core, "sla_policy.define",
            [
                "policy_id": "std", "name": "Standard", "position": 0, "at": "2025-01-06T07:00:00Z",
                "targets": [["metric": "first_reply_time", "priority": "normal", "minutes": 60]],
            ]
        )
    }

    func head(_ core: CRMCore) async throws -> Int64 {
        try await core.queries.query(method: "system.stats", params: nil).value.get()["event_count"]?.intValue ?? 0
    }

    @Test func warningsAndBreachesAreAppendedOnceWhenTheyFallDueAndAfterARestart() async throws {
        let directory = TemporaryDirectory()
        let clock = TestClock("2025-01-06T08:00:00Z")
        var afterFirstRun: Int64 = 0
        try await self.withScheduler(directory, clock) { core, scheduler in
            try await self.desk(core)
            let ticket: JSON = ["ticket_id": "t1", "customer_id": "c1", "subject": "Help", "channel": "web"]
            var open = ticket
            open["at"] = "2025-01-06T08:00:00Z"
            try await self.run(core, "ticket.open", open)
            let opened = try await self.head(core)

            // Before the warning's time: nothing.
            clock.set("2025-01-06T08:30:00Z")
            await self.settle(scheduler, clock)
            #expect(try await self.head(core) == opened)

            // Past the warning's time: one warning, dated 15 minutes before the deadline.
            clock.set("2025-01-06T08:50:00Z")
            await self.settle(scheduler, clock)
            var events = try await self.events(core, from: opened + 1)
            #expect(events.map(\.type) == ["SlaBreachWarning"])
            #expect(events.first?.stream == "ticket-t1")
            #expect(events.first?.at == Timestamp.parse("2025-01-06T08:45:00Z"))
            #expect(events.first?.data["deadline"] == "2025-01-06T09:00:00.000Z")

            // Past the deadline: one breach, dated at the deadline.
            clock.set("2025-01-06T09:10:00Z")
            await self.settle(scheduler, clock)
            events = try await self.events(core, from: opened + 2)
            #expect(events.map(\.type) == ["SlaBreached"])
            #expect(events.first?.at == Timestamp.parse("2025-01-06T09:00:00Z"))
            #expect(events.first?.data["metric"] == "first_reply_time")
            #expect(events.first?.data["instance"] == 1)

            // A reply after the deadline: no second breach. A second ticket is due while crmd is down.
            try await self.run(
                core, "ticket.reply",
                ["ticket_id": "t1", "author": "agent", "public": true, "body": "hi", "at": "2025-01-06T09:20:00Z"]
            )
            var second = ticket
            second["ticket_id"] = "t2"
            second["at"] = "2025-01-06T09:25:00Z"
            try await self.run(core, "ticket.open", second)
            clock.set("2025-01-06T09:30:00Z")
            await self.settle(scheduler, clock)
            events = try await self.events(core, from: opened + 1)
            #expect(events.map(\.type).filter { $0.hasPrefix("SlaBreach") } == ["SlaBreachWarning", "SlaBreached"])
            afterFirstRun = try await self.head(core)
        }

        // Restarted at noon: t2's breach (10:25) fell due while down and is appended with its deadline, with
        // no warning any more; t1 gets nothing twice.
        clock.set("2025-01-06T12:00:00Z")
        try await self.withScheduler(directory, clock) { core, scheduler in
            await self.settle(scheduler, clock)
            let events = try await self.events(core, from: afterFirstRun + 1)
            #expect(events.map(\.type) == ["SlaBreached"])
            #expect(events.first?.stream == "ticket-t2")
            #expect(events.first?.at == Timestamp.parse("2025-01-06T10:25:00Z"))
        }

        // Once more, later still: nothing new.
        clock.set("2025-01-07T12:00:00Z")
        try await self.withScheduler(directory, clock) { core, scheduler in
            await self.settle(scheduler, clock)
            let head = try await self.head(core)
            #expect(head == afterFirstRun + 1)
        }
    }

    @Test func aNotificationDoesNotStopALaterCommandDatedBeforeIt() async throws {
        // The breach is appended at 09:00 after a tag dated 09:30; a later command may still be dated 09:40,
        // and one dated before the tag is still refused by the tag, never by the notification.
        let directory = TemporaryDirectory()
        let clock = TestClock("2025-01-06T08:00:00Z")
        try await self.withScheduler(directory, clock) { core, scheduler in
            try await self.desk(core)
            try await self.run(
                core, "ticket.open",
                [
                    "ticket_id": "t1", "customer_id": "c1", "subject": "Help", "channel": "web",
                    "at": "2025-01-06T08:00:00Z",
                ]
            )
            try await self.run(core, "ticket.tag", ["ticket_id": "t1", "add": ["x"], "at": "2025-01-06T09:30:00Z"])
            clock.set("2025-01-06T09:35:00Z")
            await self.settle(scheduler, clock)
            let events = try await self.events(core, from: 1)
            #expect(events.suffix(1).map(\.type) == ["SlaBreached"])
            #expect(events.last?.at == Timestamp.parse("2025-01-06T09:00:00Z"))
            try await self.run(core, "ticket.tag", ["ticket_id": "t1", "add": ["y"], "at": "2025-01-06T09:31:00Z"])
            let refused = await core.commands.submit(
                method: "ticket.tag", params: ["ticket_id": "t1", "add": ["z"], "at": "2025-01-06T09:10:00Z"],
                origin: self.origin
            ).value
            #expect(throws: RPCError.self) { try refused.get() }
        }
    }
}
