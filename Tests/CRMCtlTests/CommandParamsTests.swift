import ArgumentParser
import CRMJSON
import Testing

@testable import CRMCtl

/// Parses `arguments` as a crmctl command line and returns the command as `T`.
func command<T: ParsableCommand>(_ arguments: [String], as type: T.Type = T.self) throws -> T {
    let parsed = try CRMCtl.parseAsRoot(arguments)
    return try #require(parsed as? T)
}

/// The params and method of the RPC command that `arguments` parse to.
func request(_ arguments: [String]) throws -> (method: String, params: JSON?) {
    let parsed = try CRMCtl.parseAsRoot(arguments)
    let rpc = try #require(parsed as? any RPCCommand)
    return (rpc.method, try rpc.params())
}

/// Flags → JSON-RPC params for every subcommand.
@Suite struct CommandParamsTests {
    @Test func createMapsEveryFlag() throws {
        let (method, params) = try request([
            "customer", "create", "--first-name", "Ada", "--last-name", "Lovelace", "--email", "ada@example.com",
            "--email", "ada@work.example", "--phone", "+44 20 7946 0000", "--phone", "mobile=+44 7700 900123",
            "--tag", "vip", "--tag", "beta", "--tier", "gold", "--owner", "u42", "--custom", "plan=pro",
            "--custom", "seats=5", "--city", "London", "--country", "GB", "--company-name", "Analytical Engines",
            "--job-title", "CTO", "--source", "web", "--lifecycle-stage", "opportunity", "--lead-status", "NEW",
            "--consent", "email:confirmed_opt_in:ada@example.com", "--customer-id", "ada",
        ])
        #expect(method == "customer.create")
        let expected: JSON = [
            "customer_id": "ada", "first_name": "Ada", "last_name": "Lovelace",
            "emails": [["address": "ada@example.com"], ["address": "ada@work.example"]],
            "phones": [["number": "+44 20 7946 0000"], ["number": "+44 7700 900123", "type": "mobile"]],
            "tags": ["vip", "beta"], "tier": "gold", "owner_id": "u42", "custom": ["plan": "pro", "seats": 5],
            "address": ["city": "London", "country": "GB"], "company_name": "Analytical Engines",
            "job_title": "CTO", "source": "web", "lifecycle_stage": "opportunity", "lead_status": "NEW",
            "consent": [["channel": "email", "status": "confirmed_opt_in", "address": "ada@example.com"]],
        ]
        #expect(params == expected)
    }

    @Test func createWithOnlyCommonOptions() throws {
        let (_, params) = try request([
            "customer", "create", "--first-name", "Ada", "--command-id", "import-1", "--expected-version",
            "no_stream", "--at", "2025-03-07T15:30:00Z", "--correlation-id", "batch-9", "--on-behalf-of", "agent-7",
            "--allow-previously-erased",
        ])
        let expected: JSON = [
            "first_name": "Ada", "command_id": "import-1", "expected_version": "no_stream",
            "at": "2025-03-07T15:30:00Z", "correlation_id": "batch-9", "on_behalf_of": "agent-7",
            "allow_previously_erased": true,
        ]
        #expect(params == expected)
    }

    @Test(arguments: [("any", JSON.string("any")), ("no_stream", "no_stream"), ("0", 0), ("17", 17)])
    func expectedVersionForms(text: String, value: JSON) throws {
        let (_, params) = try request(["customer", "tag", "c1", "--add", "vip", "--expected-version", text])
        #expect(params?["expected_version"] == value)
    }

    @Test(arguments: ["-1", "latest", "1.5", ""])
    func invalidExpectedVersionIsAUsageError(text: String) {
        #expect(throws: (any Error).self) {
            try CRMCtl.parseAsRoot(["customer", "tag", "c1", "--add", "vip", "--expected-version", text])
        }
    }

    /// The commands that take `--as-of`, each with the params it sends besides `as_of`.
    static let asOfCommands: [([String], JSON)] = [
        (["customer", "get", "c1"], ["customer_id": "c1"]),
        (["funnel", "report", "sales"], ["pipeline_id": "sales"]),
        (["sla", "report", "--from", "2025-03-01T00:00:00Z", "--to", "2025-04-01T00:00:00Z"],
         ["from": "2025-03-01T00:00:00Z", "to": "2025-04-01T00:00:00Z"]),
        (["sla", "ticket", "t1"], ["ticket_id": "t1"]),
    ]

    /// All digits is a log position; anything else goes to crmd as a string, which it reads as an
    /// RFC 3339 time or rejects (`invalid_field` `as_of`), so `-1` and `1.5` are strings here
    /// (`-1` needs the `--as-of=-1` form, else ArgumentParser takes it for an option).
    @Test(
        arguments: asOfCommands,
        [
            ("0", JSON.int(0)), ("1200", 1200), ("007", 7), ("2025-03-10T08:00:00Z", "2025-03-10T08:00:00Z"),
            ("2025-03-10T09:00:00+01:00", "2025-03-10T09:00:00+01:00"), ("-1", "-1"), ("1.5", "1.5"),
        ]
    )
    func asOfIsAPositionOrATime(command: ([String], JSON), form: (text: String, value: JSON)) throws {
        let (_, params) = try request(command.0 + ["--as-of=\(form.text)"])
        var expected = command.1
        expected["as_of"] = form.value
        #expect(params == expected)
    }

    /// An empty value or a position beyond Int64 is a usage error: exit status 64, naming the option.
    @Test(arguments: asOfCommands, ["", "99999999999999999999"])
    func invalidAsOfIsAUsageError(command: ([String], JSON), text: String) {
        #expect {
            try CRMCtl.parseAsRoot(command.0 + ["--as-of", text])
        } throws: { error in
            let message = CRMCtl.message(for: error)
            return CRMCtl.exitCode(for: error) == .validationFailure && CRMCtl.exitCode(for: error).rawValue == 64
                && message.contains("--as-of") && message.contains("'\(text)'")
        }
    }

    @Test func updateCombinesSetUnsetAndFieldFlags() throws {
        let (method, params) = try request([
            "customer", "update", "c1", "--set", "first_name=Augusta", "--unset", "job_title", "--email",
            "augusta@example.com", "--custom", "plan=team", "--set", "custom.seats=12", "--unset", "custom.trial",
            "--set", #"address={"city":"London"}"#, "--expected-version", "3",
        ])
        #expect(method == "customer.update")
        let expected: JSON = [
            "customer_id": "c1",
            "set": [
                "first_name": "Augusta", "emails": [["address": "augusta@example.com"]],
                "custom": ["plan": "team", "seats": 12], "address": ["city": "London"],
            ],
            "unset": ["job_title", "custom.trial"],
            "expected_version": 3,
        ]
        #expect(params == expected)
    }

    @Test func updateSetTakesTextAsIs() throws {
        let (_, params) = try request(["customer", "update", "c1", "--set", "tier=5", "--set", "source=a=b"])
        #expect(params?["set"] == ["tier": "5", "source": "a=b"])
    }

    @Test func updateOnlyUnset() throws {
        let (_, params) = try request(["customer", "update", "c1", "--unset", "phones"])
        #expect(params == ["customer_id": "c1", "unset": ["phones"]])
    }

    @Test func updateRejectsNothingToChange() {
        #expect(throws: (any Error).self) { try CRMCtl.parseAsRoot(["customer", "update", "c1"]) }
    }

    @Test func updateRejectsAFieldGivenTwice() throws {
        let update = try command(
            ["customer", "update", "c1", "--first-name", "A", "--set", "first_name=B"],
            as: CRMCtl.Customer.Update.self
        )
        #expect(throws: ValidationError.self) { try update.params() }
    }

    @Test func updateRejectsNonJSONForStructuredFields() throws {
        let update = try command(
            ["customer", "update", "c1", "--set", "emails=ada@x.org"],
            as: CRMCtl.Customer.Update.self
        )
        #expect(throws: ValidationError.self) { try update.params() }
    }

    @Test func tag() throws {
        let (method, params) = try request([
            "customer", "tag", "c1", "--add", "vip", "--add", "beta", "--remove", "old",
        ])
        #expect(method == "customer.tag")
        #expect(params == ["customer_id": "c1", "add": ["vip", "beta"], "remove": ["old"]])
        #expect(throws: (any Error).self) { try CRMCtl.parseAsRoot(["customer", "tag", "c1"]) }
    }

    @Test func assignOwnerAndUnassign() throws {
        let (method, params) = try request(["customer", "assign-owner", "c1", "--owner", "u42"])
        #expect(method == "customer.assign_owner")
        #expect(params == ["customer_id": "c1", "owner_id": "u42"])
        let (_, cleared) = try request(["customer", "assign-owner", "c1", "--unassign"])
        #expect(cleared == ["customer_id": "c1", "owner_id": .null])
        #expect(throws: (any Error).self) { try CRMCtl.parseAsRoot(["customer", "assign-owner", "c1"]) }
        #expect(throws: (any Error).self) {
            try CRMCtl.parseAsRoot(["customer", "assign-owner", "c1", "--owner-id", "u1", "--unassign"])
        }
    }

    @Test func lifecycleLeadStatusAndConsent() throws {
        let (m1, p1) = try request(["customer", "set-lifecycle-stage", "c1", "--stage", "lead", "--allow-backward"])
        #expect(m1 == "customer.set_lifecycle_stage")
        #expect(p1 == ["customer_id": "c1", "stage": "lead", "allow_backward": true])
        let (_, forward) = try request(["customer", "set-lifecycle-stage", "c1", "--stage", "customer"])
        #expect(forward == ["customer_id": "c1", "stage": "customer"])

        let (m2, p2) = try request(["customer", "set-lead-status", "c1", "--status", "CONNECTED"])
        #expect(m2 == "customer.set_lead_status")
        #expect(p2 == ["customer_id": "c1", "status": "CONNECTED"])

        let (m3, p3) = try request([
            "customer", "set-consent", "c1", "--channel", "email", "--status", "opted_out", "--address",
            "ada@example.com", "--legal-basis", "consent", "--source", "unsubscribe-link", "--evidence", "msg-1",
        ])
        #expect(m3 == "customer.set_consent")
        let expected: JSON = [
            "customer_id": "c1", "channel": "email", "status": "opted_out", "address": "ada@example.com",
            "legal_basis": "consent", "source": "unsubscribe-link", "evidence": "msg-1",
        ]
        #expect(p3 == expected)
    }

    @Test func queries() throws {
        let (m1, p1) = try request(["customer", "get", "c1"])
        #expect(m1 == "customer.get")
        #expect(p1 == ["customer_id": "c1"])
        #expect(try request(["customer", "get", "c1", "--as-of", "12"]).params == ["customer_id": "c1", "as_of": 12])

        let (m2, p2) = try request(["customer", "find", "--email", "ada@example.com", "--limit", "5", "--after", "c9"])
        #expect(m2 == "customer.find")
        #expect(p2 == ["email": "ada@example.com", "limit": 5, "after": "c9"])
        #expect(throws: (any Error).self) { try CRMCtl.parseAsRoot(["customer", "find"]) }
        #expect(throws: (any Error).self) {
            try CRMCtl.parseAsRoot(["customer", "find", "--tag", "a", "--phone", "1"])
        }

        let (m3, p3) = try request(["customer", "timeline", "c1", "--limit", "20", "--before", "1741361400000:7"])
        #expect(m3 == "customer.timeline")
        #expect(p3 == ["customer_id": "c1", "limit": 20, "before": "1741361400000:7"])
        let (_, numeric) = try request(["customer", "find", "--tag", "vip", "--after", "12345"])
        #expect(numeric == ["tag": "vip", "after": "12345"])
    }

    @Test func activityLog() throws {
        let (method, params) = try request([
            "activity", "log", "--type", "call", "--customer", "c1", "--customer-id", "c2", "--direction", "outbound",
            "--duration-sec", "420", "--outcome", "connected", "--subject", "Intro call", "--owner", "u42",
            "--occurred-at", "2025-03-07T15:45:00Z", "--command-id", "call-1",
        ])
        #expect(method == "activity.log")
        let expected: JSON = [
            "type": "call", "customer_ids": ["c1", "c2"], "direction": "outbound", "duration_sec": 420,
            "outcome": "connected", "subject": "Intro call", "owner_id": "u42",
            "occurred_at": "2025-03-07T15:45:00Z", "command_id": "call-1",
        ]
        #expect(params == expected)
        #expect(throws: (any Error).self) { try CRMCtl.parseAsRoot(["activity", "log", "--type", "note"]) }
    }

    @Test func eventsAuditSystem() throws {
        let (m1, p1) = try request(["events", "read", "--from", "1", "--limit", "20", "--stream", "customer-c1"])
        #expect(m1 == "events.read")
        #expect(p1 == ["from": 1, "limit": 20, "stream": "customer-c1"])
        let (_, empty) = try request(["events", "read"])
        #expect(empty == [:])
        let (_, stored) = try request(["events", "read", "--stored", "--from", "5"])
        #expect(stored == ["from": 5, "upcast": false])
        #expect(try request(["events", "read", "--decrypt"]).params == ["decrypt": true])
        #expect(throws: (any Error).self) { try CRMCtl.parseAsRoot(["events", "read", "--decrypt", "--stored"]) }

        let (m2, p2) = try request(["audit", "verify", "--from", "10", "--to", "20"])
        #expect(m2 == "audit.verify")
        #expect(p2 == ["from": 10, "to": 20])

        let (m3, p3) = try request(["system", "ping"])
        #expect(m3 == "system.ping")
        #expect(p3 == nil)
        let (m4, _) = try request(["system", "stats"])
        #expect(m4 == "system.stats")
        #expect(try request(["system", "metrics"]) == ("system.metrics", nil))
        let metrics = try command(["system", "metrics"], as: CRMCtl.System.Metrics.self)
        let exposition: JSON = ["content_type": "text/plain", "text": "# TYPE a gauge\na 1.0\n"]
        #expect(metrics.render(exposition) == "# TYPE a gauge\na 1.0")
    }

    @Test func callTakesAnyMethodAndJSONParams() throws {
        let (method, params) = try request(["call", "customer.get", #"{"customer_id":"c1"}"#])
        #expect(method == "customer.get")
        #expect(params == ["customer_id": "c1"])
        let (bare, none) = try request(["call", "system.ping"])
        #expect(bare == "system.ping")
        #expect(none == nil)
        #expect(throws: (any Error).self) { try CRMCtl.parseAsRoot(["call", "x", "[1,2]"]) }
        #expect(throws: (any Error).self) { try CRMCtl.parseAsRoot(["call", "x", "{not json"]) }
    }

    @Test func globalOptions() throws {
        let ping = try command(["system", "ping", "--json", "--timeout", "2.5"], as: CRMCtl.System.Ping.self)
        #expect(ping.global.json)
        #expect(ping.global.timeoutDuration == .milliseconds(2500))
        #expect(ping.global.socketPath(environment: [:]) == "./var/crmd.sock")
        #expect(ping.global.socketPath(environment: ["CRMD_SOCKET": "/run/crmd/crmd.sock"]) == "/run/crmd/crmd.sock")
        #expect(ping.global.socketPath(environment: ["CRMD_SOCKET": ""]) == "./var/crmd.sock")

        let explicit = try command(["system", "stats", "--socket", "/tmp/x.sock"], as: CRMCtl.System.Stats.self)
        #expect(explicit.global.socketPath(environment: ["CRMD_SOCKET": "/other"]) == "/tmp/x.sock")
        #expect(!explicit.global.json)
        #expect(throws: (any Error).self) { try CRMCtl.parseAsRoot(["system", "ping", "--timeout", "0"]) }
    }

    @Test func globalOptionsBeforeTheSubcommand() throws {
        let get = try command(
            ["--json", "--socket", "/tmp/y.sock", "--timeout", "5", "customer", "get", "c1"],
            as: CRMCtl.Customer.Get.self
        )
        #expect(get.global.json)
        #expect(get.global.socketPath(environment: [:]) == "/tmp/y.sock")
        #expect(get.global.timeoutDuration == .seconds(5))
        #expect(try get.params() == ["customer_id": "c1"])
    }
}
