import CRMDomain
import CRMJSON
import CRMProjections
import CRMRPC
import CRMTesting
import Foundation
import LMDB
import Testing

/// The SLA read model over a real LMDB environment: commands decided by the domain, events folded
/// inline, and a rebuild from the log (clear + re-apply) that must answer exactly the same.
final class SlaHarness {
    let directory: String
    let environment: Environment
    let projector: SlaProjector
    let state = InMemoryDecisionState()
    private(set) var recordedLog = InMemoryLog()
    /// Every event recorded so far.
    var log: [RecordedEvent] { self.recordedLog.events }
    var at: Int64 = Timestamp.parse("2025-03-03T07:00:00Z")!
    private var generated = 0

    init() throws {
        self.directory =
            FileManager.default.temporaryDirectory.appendingPathComponent("crmd-sla-tests-\(UUID().uuidString)").path
        var options = Environment.Options()
        options.mapSize = 1 << 26
        options.noSync = true
        self.environment = try Environment(path: self.directory, options: options)
        self.projector = try self.environment.write { txn in try SlaProjector(txn) }
    }

    deinit {
        try? FileManager.default.removeItem(atPath: self.directory)
    }

    /// Decides `command`; on success records and folds its events and returns `true`.
    @discardableResult
    func run<C: DomainCommand & ParamsDecodable>(_ command: C.Type, _ params: JSON) throws -> Bool {
        self.generated += 1
        let decision: Decision
        do {
            decision = try C(params: params).decide(
                self.state,
                CommandContext(at: self.at, generatedID: "g\(self.generated)")
            )
        } catch is Rejection {
            return false
        }
        for recorded in self.recordedLog.record(decision.events, at: self.at) {
            try DecisionEvolver.apply(recorded, to: self.state)
            try self.environment.write { txn in try self.projector.apply(recorded, txn) }
        }
        return true
    }

    func query(_ method: String, _ params: JSON) throws -> JSON {
        let query = try #require(self.projector.queries[method])
        return try self.environment.read { txn in try query(params, txn) }
    }

    func rebuild() throws {
        try self.environment.write { txn in
            try self.projector.clear(txn)
            for event in self.log { try self.projector.apply(event, txn) }
        }
    }
}

@Suite struct SlaProjectionTests {
    static let hours: JSON = [
        "mon": [["09:00", "12:30"], ["13:30", "18:00"]], "tue": [["09:00", "18:00"]], "wed": [["09:00", "18:00"]],
        "thu": [["09:00", "18:00"]], "fri": [["09:00", "16:00"]], "sat": [["10:00", "14:00"]],
    ]

    static func seed(_ harness: SlaHarness) throws {
        try harness.run(
            DefineSchedule.self,
            [
                "schedule_id": "ny", "name": "NY", "timezone": "America/New_York", "hours": Self.hours,
                "holidays": ["2025-03-17", "2025-07-04"],
            ]
        )
        try harness.run(
            DefineSlaPolicy.self,
            [
                "policy_id": "gold", "name": "Gold", "position": 0, "match": ["tiers": ["gold"]], "schedule_id": "ny",
                "targets": .array(
                    SlaVocabulary.metrics.flatMap { metric in
                        SlaVocabulary.priorities.enumerated().map { index, priority -> JSON in
                            [
                                "metric": .string(metric), "priority": .string(priority),
                                "minutes": .int(Int64(240 / (index + 1))), "business_hours": .bool(index % 2 == 0),
                            ]
                        }
                    }
                ),
            ]
        )
        try harness.run(
            DefineSlaPolicy.self,
            [
                "policy_id": "std", "name": "Standard", "position": 1,
                "targets": [
                    ["metric": "first_reply_time", "priority": "normal", "minutes": 480],
                    ["metric": "total_resolution_time", "priority": "normal", "minutes": 2880],
                ],
            ]
        )
        for (index, tier) in ["gold", "silver", "gold"].enumerated() {
            try harness.run(
                CreateCustomer.self,
                ["customer_id": .string("c\(index)"), "first_name": "C", "tier": .string(tier)]
            )
        }
    }

    /// A seeded random workload of ticket commands, moving time forward by random steps.
    static func workload(_ harness: SlaHarness, seed: UInt64, steps: Int) throws {
        var random = SeededGenerator(seed: seed)
        var tickets: [String] = []
        for step in 0..<steps {
            harness.at += Int64.random(in: 1...(6 * 60), using: &random) * 60_000
            let choice = Int.random(in: 0..<10, using: &random)
            if tickets.isEmpty || choice == 0 {
                let id = "t\(step)"
                let opened = try harness.run(
                    OpenTicket.self,
                    [
                        "ticket_id": .string(id), "customer_id": .string("c\(Int.random(in: 0..<3, using: &random))"),
                        "subject": "S", "channel": .string(SlaVocabulary.channels.randomElement(using: &random)!),
                        "priority": .string(SlaVocabulary.priorities.randomElement(using: &random)!),
                        "first_message": ["body": "hi", "public": true],
                    ]
                )
                if opened { tickets.append(id) }
                continue
            }
            let ticket = JSON.string(tickets.randomElement(using: &random)!)
            switch choice {
            case 1, 2, 3:
                let author = Bool.random(using: &random) ? "agent" : "customer"
                try harness.run(
                    ReplyToTicket.self,
                    ["ticket_id": ticket, "author": .string(author), "public": true, "body": "msg"]
                )
            case 4, 5:
                let status = ["open", "pending", "on_hold", "solved", "closed"].randomElement(using: &random)!
                try harness.run(SetTicketStatus.self, ["ticket_id": ticket, "status": .string(status)])
            case 6:
                let priority = SlaVocabulary.priorities.randomElement(using: &random)!
                try harness.run(SetTicketPriority.self, ["ticket_id": ticket, "priority": .string(priority)])
            default:
                try harness.run(TagTicket.self, ["ticket_id": ticket, "add": ["x"]])
            }
        }
    }

    /// Every query answer the read model gives at a few instants.
    static func answers(_ harness: SlaHarness) throws -> [JSON] {
        var answers: [JSON] = []
        let end = harness.at
        for asOf in [end - 86_400_000 * 3, end - 3_600_000, end, end + 86_400_000] {
            let time = JSON.string(Timestamp.format(asOf))
            let list = try harness.query("ticket.list", ["limit": 200, "at": time])
            answers.append(list)
            for ticket in list["tickets"]?.arrayValue ?? [] {
                answers.append(
                    try harness.query("sla.ticket", ["ticket_id": ticket["ticket_id"] ?? .null, "at": time])
                )
            }
            answers.append(try harness.query("sla.breaching", ["within_minutes": 1440, "at": time, "limit": 200]))
        }
        answers.append(
            try harness.query(
                "sla.report",
                [
                    "from": "2025-01-01T00:00:00Z", "to": .string(Timestamp.format(end)),
                    "group_by": ["policy", "priority", "metric", "channel", "tier"],
                ]
            )
        )
        return answers
    }

    @Test func rebuildingFromTheLogGivesTheSameAnswers() throws {
        for seed in [UInt64(1), 7, 42] {
            let harness = try SlaHarness()
            try Self.seed(harness)
            try Self.workload(harness, seed: seed, steps: 150)
            let inline = try Self.answers(harness)
            try harness.rebuild()
            let rebuilt = try Self.answers(harness)
            #expect(inline == rebuilt, "seed \(seed)")
            #expect(inline.count > 10)
        }
    }

    @Test func clockInvariantsHoldOnRandomWorkloads() throws {
        let harness = try SlaHarness()
        try Self.seed(harness)
        try Self.workload(harness, seed: 99, steps: 200)
        let list = try harness.query("ticket.list", ["limit": 200, "at": .string(Timestamp.format(harness.at))])
        for ticket in list["tickets"]?.arrayValue ?? [] {
            let sla = try harness.query(
                "sla.ticket",
                ["ticket_id": ticket["ticket_id"] ?? .null, "at": .string(Timestamp.format(harness.at))]
            )
            for target in sla["targets"]?.arrayValue ?? [] {
                let elapsed = target["elapsed_seconds"]?.intValue ?? -1
                #expect(elapsed >= 0)
                let minutes = target["target_minutes"]?.intValue ?? 0
                if target["breached"] == false, target["state"] == "fulfilled" {
                    #expect(elapsed <= minutes * 60)
                    #expect(target["achieved"] == true)
                }
                if target["state"] == "paused" { #expect(target["deadline"] == .null) }
                if target["breached"] == true { #expect(target["breached_at"]?.stringValue != nil) }
            }
        }
    }

    @Test func ticketQueriesRejectBadInput() throws {
        let harness = try SlaHarness()
        #expect(throws: Rejection.self) { try harness.query("sla.ticket", ["ticket_id": "nope"]) }
        #expect(throws: Rejection.self) {
            try harness.query("sla.report", ["from": "2025-02-01T00:00:00Z", "to": "2025-01-01T00:00:00Z"])
        }
        #expect(throws: Rejection.self) {
            try harness.query(
                "sla.report",
                ["from": "2025-01-01T00:00:00Z", "to": "2025-02-01T00:00:00Z", "group_by": ["color"]]
            )
        }
        #expect(throws: Rejection.self) { try harness.query("sla.breaching", ["limit": 0]) }
    }
}

