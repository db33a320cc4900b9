import ArgumentParser
import CRMJSON
import Testing

@testable import CRMCtl

/// crmctl's service commands: flags → params, and the readable tables.
@Suite struct ServiceCommandTests {
    @Test func scheduleDefineExpandsDayRanges() throws {
        let (method, params) = try request([
            "schedule", "define", "eu", "--name", "EU office", "--timezone", "Europe/Berlin", "--hours",
            "mon-fri=09:00-12:00,13:00-17:00", "--hours", "sat=10:00-14:00", "--holiday", "2025-12-25=Christmas",
            "--holiday", "2025-12-26", "--at", "2025-01-01T00:00:00Z",
        ])
        #expect(method == "schedule.define")
        let split: JSON = [["09:00", "12:00"], ["13:00", "17:00"]]
        #expect(
            params
                == [
                    "schedule_id": "eu", "name": "EU office", "timezone": "Europe/Berlin",
                    "hours": [
                        "mon": split, "tue": split, "wed": split, "thu": split, "fri": split,
                        "sat": [["10:00", "14:00"]],
                    ],
                    "holidays": [["date": "2025-12-25", "name": "Christmas"], ["date": "2025-12-26"]],
                    "at": "2025-01-01T00:00:00Z",
                ]
        )
        #expect(throws: (any Error).self) {
            _ = try request([
                "schedule", "define", "x", "--name", "X", "--timezone", "UTC", "--hours", "fri-mon=09:00-10:00",
            ])
        }
    }

    @Test func policyDefineParsesTargets() throws {
        let (method, params) = try request([
            "sla-policy", "define", "gold", "--name", "Gold", "--position", "0", "--tier", "gold", "--channel", "email",
            "--tag-any", "vip", "--schedule", "eu", "--target", "first_reply_time:normal:240:business", "--target",
            "requester_wait_time:normal:960:bh:pause=pending+on_hold",
        ])
        #expect(method == "sla_policy.define")
        #expect(params?["match"] == ["tiers": ["gold"], "channels": ["email"], "tags_any": ["vip"]])
        #expect(
            params?["targets"]?[0] == [
                "metric": "first_reply_time", "priority": "normal", "minutes": 240, "business_hours": true,
            ]
        )
        #expect(params?["targets"]?[1]?["pause_on"] == ["pending", "on_hold"])
        let retire = try request(["sla-policy", "retire", "gold"])
        #expect(retire.method == "sla_policy.retire")
        #expect(retire.params == ["policy_id": "gold"])
    }

    @Test func ticketCommandsMapFlags() throws {
        var (method, params) = try request([
            "ticket", "open", "--customer", "c1", "--subject", "Login", "--channel", "email", "--priority", "high",
            "--message", "help", "--tag", "vip", "--ticket-id", "t1",
        ])
        #expect(method == "ticket.open")
        #expect(
            params
                == [
                    "ticket_id": "t1", "customer_id": "c1", "subject": "Login", "channel": "email", "priority": "high",
                    "first_message": ["body": "help", "public": true], "tags": ["vip"],
                ]
        )
        (method, params) = try request([
            "ticket", "reply", "t1", "--author", "agent", "--body", "note", "--internal", "--set-status", "pending",
        ])
        #expect(method == "ticket.reply")
        #expect(
            params == ["ticket_id": "t1", "author": "agent", "body": "note", "public": false, "set_status": "pending"]
        )
        (method, params) = try request(["ticket", "set-status", "t1", "solved", "--reason", "fixed"])
        #expect(params == ["ticket_id": "t1", "status": "solved", "reason": "fixed"])
        (method, params) = try request(["ticket", "set-priority", "t1", "urgent"])
        #expect(method == "ticket.set_priority")
        (method, params) = try request(["ticket", "tag", "t1", "--add", "a", "--remove", "b"])
        #expect(params == ["ticket_id": "t1", "add": ["a"], "remove": ["b"]])
        (method, params) = try request(["ticket", "list", "--customer", "c1", "--status", "open", "--limit", "5"])
        #expect(params == ["customer_id": "c1", "status": "open", "limit": 5])
        (method, params) = try request(["ticket", "list", "--at", "2025-03-10T08:00:00Z"])
        #expect(params == ["at": "2025-03-10T08:00:00Z"])
        (method, params) = try request(["sla", "breaching", "--within", "120", "--at", "2025-03-10T08:00:00Z"])
        #expect(method == "sla.breaching")
        #expect(params == ["within_minutes": 120, "at": "2025-03-10T08:00:00Z"])
        (method, params) = try request(["ticket", "get", "t1", "--at", "2025-03-10T08:00:00Z"])
        #expect(method == "ticket.get")
        #expect(params == ["ticket_id": "t1", "at": "2025-03-10T08:00:00Z"])
        (method, params) = try request([
            "sla", "report", "--from", "2025-03-01T00:00:00Z", "--to", "2025-04-01T00:00:00Z", "--group-by", "policy",
        ])
        #expect(params == ["from": "2025-03-01T00:00:00Z", "to": "2025-04-01T00:00:00Z", "group_by": ["policy"]])
    }

    @Test func slaTimeTravelTakesAPositionOrATime() throws {
        var (method, params) = try request([
            "sla", "report", "--from", "2025-03-01T00:00:00Z", "--to", "2025-04-01T00:00:00Z", "--as-of", "57",
        ])
        #expect(method == "sla.report")
        #expect(params == ["from": "2025-03-01T00:00:00Z", "to": "2025-04-01T00:00:00Z", "as_of": 57])
        (method, params) = try request(["sla", "ticket", "t1", "--at", "2025-03-10T08:00:00Z"])
        #expect(method == "sla.ticket")
        #expect(params == ["ticket_id": "t1", "at": "2025-03-10T08:00:00Z"])
        (_, params) = try request([
            "sla", "ticket", "t1", "--as-of", "2025-03-10T08:00:00Z", "--at", "2025-03-09T08:00:00Z",
        ])
        #expect(params == ["ticket_id": "t1", "as_of": "2025-03-10T08:00:00Z", "at": "2025-03-09T08:00:00Z"])
        (_, params) = try request(["sla", "ticket", "t1", "--as-of", "0"])
        #expect(params == ["ticket_id": "t1", "as_of": 0])
        (_, params) = try request(["sla", "ticket", "t1"])
        #expect(params == ["ticket_id": "t1"])
    }

    /// `sla.ticket --as-of` a position before the policy was applied: no policy, no targets.
    @Test func slaTicketWithoutAPolicy() {
        let text = ServiceOutput.slaTicket([
            "ticket_id": "t1", "customer_id": "c1", "priority": "normal", "status": "new",
            "at": "2025-03-07T15:30:00.000Z", "as_of": ["position": 3], "policy": nil, "schedule": nil,
            "sla_status": nil,
            "next_breach_at": nil, "targets": [],
        ])
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.contains("policy:      none"))
        #expect(lines.contains("at:          2025-03-07 15:30Z as of log position 3"))
    }

    @Test func breachingTable() {
        let text = ServiceOutput.breaching([
            "at": "2025-03-10T08:30:00.000Z", "within_minutes": 120, "total": 1,
            "tickets": [
                [
                    "ticket_id": "t1", "priority": "high", "status": "open", "metric": "first_reply_time",
                    "policy": ["policy_id": "gold", "version": 1], "next_breach_at": "2025-03-10T09:00:00.000Z",
                    "minutes_left": 30, "subject": "Login",
                ]
            ],
        ])
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.count == 2)
        #expect(lines[0].hasPrefix("BREACH AT"))
        #expect(lines[1].hasPrefix("2025-03-10 09:00Z"))
        #expect(lines[1].contains("30m"))
        #expect(lines[1].contains("first_reply_time"))
        #expect(
            ServiceOutput.breaching(["at": "2025-03-10T08:30:00.000Z", "within_minutes": 60, "tickets": []])
                == "no ticket breaches within 60 minutes of 2025-03-10 08:30Z"
        )
    }

    @Test func reportTable() {
        let group: JSON = [
            "key": ["policy": "gold"], "completed": 2, "achieved": 1, "breached": 1, "achievement_rate": 0.5,
            "tickets_with_sla": 2, "hit_rate": 0.5, "active_at_to": 1, "active_breached_at_to": 0,
            "elapsed_minutes": ["first_reply_time": ["count": 2, "avg": 75.0, "median": 75.0, "p90": 75]],
        ]
        let text = ServiceOutput.report([
            "from": "2025-03-01T00:00:00.000Z", "to": "2025-04-01T00:00:00.000Z", "group_by": ["policy"],
            "groups": [group], "totals": group,
        ])
        #expect(text.contains("POLICY"))
        #expect(text.contains("50.0%"))
        #expect(text.contains("ACTIVE AT TO"))
        #expect(text.contains("first_reply_time"))
        #expect(text.hasPrefix("SLA report 2025-03-01 00:00Z – 2025-04-01 00:00Z\n"))
        let past = ServiceOutput.report([
            "from": "2025-03-01T00:00:00.000Z", "to": "2025-04-01T00:00:00.000Z", "group_by": [], "groups": [],
            "totals": group, "as_of": ["position": 57],
        ])
        #expect(past.hasPrefix("SLA report 2025-03-01 00:00Z – 2025-04-01 00:00Z as of log position 57\n"))
        #expect(ServiceOutput.duration(1505) == "1d 1h 5m")
        #expect(ServiceOutput.duration(-30) == "-30m")
    }
}
