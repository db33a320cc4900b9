import CRMDomain
import CRMJSON
import Testing

/// `schedule.define` and `sla_policy.define|retire` validation.
@Suite struct ScheduleCommandTests {
    static let week: JSON = [
        "mon": [["09:00", "17:00"]], "tue": [["09:00", "12:00"], ["13:00", "17:00"]], "wed": [["09:00", "17:00"]],
        "thu": [["09:00", "17:00"]], "fri": [["09:00", "17:00"]],
    ]

    static func schedule(_ changes: [String: JSON] = [:]) -> JSON {
        var params: JSON = [
            "schedule_id": "eu", "name": "EU office", "timezone": "Europe/Berlin", "hours": ScheduleCommandTests.week,
            "holidays": [["date": "2025-12-25", "name": "Christmas"], ["date": "2025-12-26"]],
        ]
        for (key, value) in changes { params[key] = value }
        return params
    }

    @Test func definesVersionsOfASchedule() throws {
        let harness = Harness()
        let first = try harness.given(DefineSchedule.self, Self.schedule())
        #expect(first.result.version == 1)
        #expect(first.events.first?.type == "ScheduleDefined")
        #expect(first.events.first?.stream == "schedule-eu")
        guard case .service(.scheduleDefined(let defined))? = first.events.first?.event else {
            Issue.record("expected ScheduleDefined")
            return
        }
        #expect(defined.schedule.hours[1] == [.init(start: 540, end: 720), .init(start: 780, end: 1020)])
        let second = try harness.given(DefineSchedule.self, Self.schedule(["name": "EU"]))
        #expect(second.result.version == 2)
    }

    static let badSchedules: [RejectionCase] = [
        RejectionCase("unknown zone", schedule(["timezone": "Mars/Olympus"]), .invalidTimezone, "timezone"),
        RejectionCase("bad clock", schedule(["hours": ["mon": [["9:00", "17:00"]]]]), .invalidHours, "hours.mon[0]"),
        RejectionCase(
            "end before start",
            schedule(["hours": ["mon": [["17:00", "09:00"]]]]),
            .invalidHours,
            "hours.mon[0]"
        ),
        RejectionCase(
            "spans midnight",
            schedule(["hours": ["mon": [["22:00", "02:00"]]]]),
            .invalidHours,
            "hours.mon[0]"
        ),
        RejectionCase("past 24:00", schedule(["hours": ["mon": [["22:00", "24:30"]]]]), .invalidHours, "hours.mon[0]"),
        RejectionCase(
            "overlap",
            schedule(["hours": ["mon": [["09:00", "13:00"], ["12:00", "17:00"]]]]),
            .invalidHours,
            "hours.mon[1]"
        ),
        RejectionCase(
            "unknown weekday",
            schedule(["hours": ["monday": [["09:00", "17:00"]]]]),
            .invalidHours,
            "hours.monday"
        ),
        RejectionCase("empty", schedule(["hours": ["mon": []]]), .emptySchedule, "hours"),
        RejectionCase(
            "bad holiday",
            schedule(["holidays": [["date": "2025-02-30"]]]),
            .invalidHoliday,
            "holidays[0].date"
        ),
        RejectionCase(
            "duplicate holiday",
            schedule(["holidays": [["date": "2025-12-25"], ["date": "2025-12-25"]]]),
            .invalidHoliday,
            "holidays[1].date"
        ),
        RejectionCase("unknown field", schedule(["color": "red"]), .invalidField, "color"),
    ]

    @Test(arguments: badSchedules) func rejectsBadSchedules(_ testCase: RejectionCase) {
        expectRejection(
            Harness().rejection(DefineSchedule.self, testCase.params),
            testCase.reason,
            field: testCase.field
        )
    }

    static func policy(_ changes: [String: JSON] = [:]) -> JSON {
        var params: JSON = [
            "policy_id": "gold", "name": "Gold", "position": 0, "match": ["tiers": ["gold"]], "schedule_id": "eu",
            "targets": [
                ["metric": "first_reply_time", "priority": "normal", "minutes": 240, "business_hours": true],
                ["metric": "requester_wait_time", "priority": "normal", "minutes": 960, "business_hours": true],
            ],
        ]
        for (key, value) in changes { params[key] = value }
        return params
    }

    @Test func definesAndRetiresPolicies() throws {
        let harness = Harness()
        try harness.given(DefineSchedule.self, Self.schedule())
        let defined = try harness.given(DefineSlaPolicy.self, Self.policy())
        #expect(defined.result.version == 1)
        let event = try #require(defined.events.first)
        #expect(event.stream == "slapolicy-gold")
        guard case .service(.slaPolicyDefined(let policy)) = event.event else {
            Issue.record("expected SlaPolicyDefined")
            return
        }
        #expect(policy.policy.targets[1].pauseOn == ["pending"])
        let retired = try harness.given(RetireSlaPolicy.self, ["policy_id": "gold"])
        #expect(retired.events.map(\.type) == ["SlaPolicyRetired"])
        #expect(try harness.when(RetireSlaPolicy.self, ["policy_id": "gold"]).events.isEmpty)
    }

    static let badPolicies: [RejectionCase] = [
        RejectionCase(
            "bad metric",
            policy(["targets": [["metric": "speed", "priority": "normal", "minutes": 5]]]),
            .invalidTarget,
            "targets[0].metric"
        ),
        RejectionCase(
            "bad priority",
            policy(["targets": [["metric": "first_reply_time", "priority": "p1", "minutes": 5]]]),
            .invalidTarget,
            "targets[0].priority"
        ),
        RejectionCase(
            "zero minutes",
            policy(["targets": [["metric": "first_reply_time", "priority": "low", "minutes": 0]]]),
            .invalidTarget,
            "targets[0].minutes"
        ),
        RejectionCase(
            "bad pause_on",
            policy([
                "targets": [["metric": "first_reply_time", "priority": "low", "minutes": 5, "pause_on": ["solved"]]]
            ]),
            .invalidTarget,
            "targets[0].pause_on"
        ),
        RejectionCase(
            "duplicate target",
            policy([
                "targets": [
                    ["metric": "first_reply_time", "priority": "low", "minutes": 5],
                    ["metric": "first_reply_time", "priority": "low", "minutes": 9],
                ]
            ]),
            .duplicateTarget,
            "targets[1]"
        ),
        RejectionCase("unknown schedule", policy(["schedule_id": "nowhere"]), .unknownSchedule, "schedule_id"),
        RejectionCase("business hours without schedule", policy(["schedule_id": nil]), .unknownSchedule, "schedule_id"),
        RejectionCase("bad match key", policy(["match": ["region": ["eu"]]]), .invalidField, "match.region"),
        RejectionCase("no targets", policy(["targets": []]), .invalidTarget, "targets"),
    ]

    @Test(arguments: badPolicies) func rejectsBadPolicies(_ testCase: RejectionCase) throws {
        let harness = Harness()
        try harness.given(DefineSchedule.self, Self.schedule())
        expectRejection(
            harness.rejection(DefineSlaPolicy.self, testCase.params),
            testCase.reason,
            field: testCase.field
        )
    }

    @Test func allowsOneFallbackOnly() throws {
        let harness = Harness()
        try harness.given(DefineSchedule.self, Self.schedule())
        try harness.given(DefineSlaPolicy.self, Self.policy(["policy_id": "default", "match": nil]))
        expectRejection(
            harness.rejection(DefineSlaPolicy.self, Self.policy(["policy_id": "other", "match": [:]])),
            .invalidField,
            field: "match"
        )
        // Redefining the fallback itself is fine.
        #expect(harness.rejection(DefineSlaPolicy.self, Self.policy(["policy_id": "default", "match": nil])) == nil)
    }

    @Test func retiringAnUnknownPolicyIsUnknownPolicy() {
        expectRejection(
            Harness().rejection(RetireSlaPolicy.self, ["policy_id": "x"]),
            .unknownPolicy,
            field: "policy_id"
        )
    }
}
