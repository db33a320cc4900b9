import CRMJSON
import CRMProtocol
import CRMTesting
import Foundation
import Testing

/// End-to-end over the real socket of an in-process daemon: the tour of a customer's life, and every
/// kind of bad input with proof that nothing changed.
@Suite struct SocketProtocolTests {
    @Test func customerLifecycleThroughTheSocket() async throws {
        let daemon = try await TestDaemon()
        let client = try daemon.client()
        let id = try await client.createCustomer([
            "first_name": "Ada", "last_name": "Lovelace", "emails": [["address": "ada@example.com"]],
            "phones": [["number": "+44 20 7946 0000", "type": "office"]], "tags": ["vip"], "tier": "gold",
        ])
        var profile = try await client.result("customer.get", ["customer_id": .string(id)])
        #expect(profile["name"]?["full"] == "Ada Lovelace")
        #expect(profile["version"] == 1)
        #expect(profile["lifecycle"]?["stage"] == "lead")

        let updated = try await client.result(
            "customer.update",
            ["customer_id": .string(id), "expected_version": 1, "set": ["job_title": "Analyst"]]
        )
        #expect(updated["events"]?[0]?["type"] == "CustomerUpdated")
        _ = try await client.result("customer.tag", ["customer_id": .string(id), "add": ["beta"], "remove": ["vip"]])
        _ = try await client.result("customer.assign_owner", ["customer_id": .string(id), "owner_id": "u42"])
        _ = try await client.result("customer.set_lifecycle_stage", ["customer_id": .string(id), "stage": "opportunity"])
        _ = try await client.result("customer.set_lead_status", ["customer_id": .string(id), "status": "CONNECTED"])
        _ = try await client.result(
            "customer.set_consent",
            ["customer_id": .string(id), "channel": "email", "status": "confirmed_opt_in", "legal_basis": "consent"]
        )
        let activity = try await client.result(
            "activity.log",
            ["type": "call", "customer_ids": [.string(id)], "direction": "outbound", "outcome": "connected"]
        )
        #expect(activity["activity_id"]?.stringValue != nil)

        profile = try await client.result("customer.get", ["customer_id": .string(id)])
        #expect(profile["job_title"] == "Analyst")
        #expect(profile["tags"] == ["beta"])
        #expect(profile["owner_id"] == "u42")
        #expect(profile["lifecycle"]?["stage"] == "opportunity")
        #expect(profile["lead_status"] == "CONNECTED")
        #expect(profile["emails"]?[0]?["consent"] == "confirmed_opt_in")
        #expect(profile["stats"]?["activity_counts"]?["call"] == 1)
        #expect(profile["version"] == 7)

        let found = try await client.result("customer.find", ["email": "ADA@example.com"])
        #expect(found["customers"]?.arrayValue?.count == 1)
        let timeline = try await client.result("customer.timeline", ["customer_id": .string(id), "limit": 3])
        #expect(timeline["entries"]?.arrayValue?.count == 3)
        #expect(timeline["next_before"]?.stringValue != nil)

        let events = try await client.result("events.read", ["from": 1, "stream": .string("customer-\(id)")])
        let first = try #require(events["events"]?[0])
        #expect(first["actor"]?["uid"] == .int(Int64(getuid())))
        #expect(first["actor"]?["gid"] == .int(Int64(getgid())))
        #expect(events["events"]?.arrayValue?.count == 7)
        let verify = try await client.result("audit.verify")
        #expect(verify["ok"] == true)
        #expect(verify["checked"] == 8)
        try await daemon.stop()
    }

    @Test func commandResultsCarryEventsAndPosition() async throws {
        let daemon = try await TestDaemon()
        let client = try daemon.client()
        let result = try await client.result("customer.create", ["first_name": "Grace", "on_behalf_of": "agent-9"])
        let event = try #require(result["events"]?[0])
        #expect(event["seq"] == 1)
        #expect(event["type"] == "CustomerCreated")
        #expect(event["stream_version"] == 1)
        #expect(result["position"] == 1)
        let noop = try await client.result(
            "customer.tag",
            ["customer_id": try #require(result["customer_id"]), "add": []]
        )
        #expect(noop["events"] == [])
        #expect(noop["position"] == 1)
        let read = try await client.result("events.read")
        #expect(read["events"]?[0]?["actor"]?["on_behalf_of"] == "agent-9")
        try await daemon.stop()
    }

    struct BadRequest: Sendable, CustomTestStringConvertible {
        var name: String
        var line: [UInt8]
        var code: Int
        var reason: String
        var field: String?
        var testDescription: String { self.name }
    }

    static let badRequests: [BadRequest] = [
        BadRequest(name: "not JSON", line: Array("hello".utf8), code: -32700, reason: "bad_request"),
        BadRequest(name: "invalid UTF-8", line: [0x7B, 0x22, 0xC3, 0x28, 0x22, 0x3A, 0x31, 0x7D], code: -32700, reason: "bad_request"),
        BadRequest(name: "a number", line: Array("42".utf8), code: -32600, reason: "bad_request"),
        BadRequest(name: "empty batch", line: Array("[]".utf8), code: -32600, reason: "bad_request"),
        BadRequest(
            name: "wrong jsonrpc",
            line: Array(#"{"jsonrpc":"1.0","id":1,"method":"system.ping"}"#.utf8),
            code: -32600,
            reason: "bad_request"
        ),
        BadRequest(name: "missing method", line: Array(#"{"jsonrpc":"2.0","id":1}"#.utf8), code: -32600, reason: "bad_request"),
        BadRequest(
            name: "unknown method",
            line: Array(#"{"jsonrpc":"2.0","id":1,"method":"customer.explode"}"#.utf8),
            code: -32601,
            reason: "unknown_command"
        ),
        BadRequest(
            name: "params not an object",
            line: Array(#"{"jsonrpc":"2.0","id":1,"method":"customer.create","params":[1]}"#.utf8),
            code: -32602,
            reason: "invalid_field",
            field: "params"
        ),
        BadRequest(
            name: "wrong field type",
            line: Array(#"{"jsonrpc":"2.0","id":1,"method":"customer.create","params":{"first_name":5}}"#.utf8),
            code: -32602,
            reason: "invalid_field",
            field: "first_name"
        ),
        BadRequest(
            name: "unknown field",
            line: Array(#"{"jsonrpc":"2.0","id":1,"method":"customer.create","params":{"first_name":"A","shoe":1}}"#.utf8),
            code: -32602,
            reason: "invalid_field",
            field: "shoe"
        ),
        BadRequest(
            name: "email without @",
            line: Array(#"{"jsonrpc":"2.0","id":1,"method":"customer.create","params":{"emails":[{"address":"nope"}]}}"#.utf8),
            code: -32001,
            reason: "invalid_email",
            field: "emails[0].address"
        ),
        BadRequest(
            name: "no identity",
            line: Array(#"{"jsonrpc":"2.0","id":1,"method":"customer.create","params":{"tier":"gold"}}"#.utf8),
            code: -32010,
            reason: "missing_identity"
        ),
        BadRequest(
            name: "unknown customer",
            line: Array(#"{"jsonrpc":"2.0","id":1,"method":"customer.tag","params":{"customer_id":"nobody","add":["x"]}}"#.utf8),
            code: -32003,
            reason: "not_found",
            field: "customer_id"
        ),
        BadRequest(
            name: "at in the future",
            line: Array(#"{"jsonrpc":"2.0","id":1,"method":"customer.create","params":{"first_name":"A","at":"2999-01-01T00:00:00Z"}}"#.utf8),
            code: -32006,
            reason: "timestamp_in_future",
            field: "at"
        ),
        BadRequest(
            name: "bad expected_version",
            line: Array(#"{"jsonrpc":"2.0","id":1,"method":"customer.create","params":{"first_name":"A","expected_version":"x"}}"#.utf8),
            code: -32602,
            reason: "invalid_field",
            field: "expected_version"
        ),
    ]

    @Test(arguments: SocketProtocolTests.badRequests)
    func badInputGetsTheRightErrorAndChangesNothing(_ bad: BadRequest) async throws {
        let daemon = try await TestDaemon()
        let client = try daemon.client()
        let id = try await client.createCustomer(["first_name": "Ada", "emails": [["address": "ada@example.com"]]])
        let before = try await Snapshot.take(client, customer: id)
        try await client.sendRaw(bad.line)
        let response = try #require(try await client.readJSON())
        let error = try #require(response["error"].flatMap(RPCError.init(json:)))
        #expect(error.code == bad.code)
        #expect(error.reason == bad.reason)
        #expect(error.field == bad.field)
        #expect(try await Snapshot.take(client, customer: id) == before)
        try await daemon.stop()
    }

    @Test func duplicateEmailIsRejectedWithTheExistingCustomer() async throws {
        let daemon = try await TestDaemon()
        let client = try daemon.client()
        let id = try await client.createCustomer(["first_name": "Ada", "emails": [["address": "ada@example.com"]]])
        let before = try await Snapshot.take(client, customer: id)
        let error = try await client.error("customer.create", ["first_name": "Eve", "emails": [["address": "ADA@Example.com"]]])
        #expect(error.code == -32008)
        #expect(error.reason == "duplicate_email")
        #expect(error.field == "emails[0].address")
        #expect(error.data?["details"]?["existing_customer_id"] == .string(id))
        #expect(try await Snapshot.take(client, customer: id) == before)
        let found = try await client.result("customer.find", ["email": "ada@example.com"])
        #expect(found["customers"]?.arrayValue?.count == 1)
        try await daemon.stop()
    }

    @Test func versionConflictReportsTheActualVersion() async throws {
        let daemon = try await TestDaemon()
        let client = try daemon.client()
        let id = try await client.createCustomer(["first_name": "Ada"])
        _ = try await client.result("customer.update", ["customer_id": .string(id), "set": ["last_name": "King"]])
        let before = try await Snapshot.take(client, customer: id)
        let error = try await client.error(
            "customer.update",
            ["customer_id": .string(id), "expected_version": 1, "set": ["last_name": "Byron"]]
        )
        #expect(error.reason == "version_conflict")
        #expect(error.code == -32005)
        #expect(error.data?["details"]?["actual"] == 2)
        #expect(error.data?["details"]?["expected"] == 1)
        #expect(try await Snapshot.take(client, customer: id) == before)
        try await daemon.stop()
    }

    @Test func retriedCommandGetsTheOriginalReplyAndWritesNothing() async throws {
        let daemon = try await TestDaemon()
        let client = try daemon.client()
        let params: JSON = ["first_name": "Ada", "command_id": "create-ada-1"]
        let first = try await client.call("customer.create", params)
        let again = try await client.call("customer.create", params)
        #expect(first["result"] == again["result"])
        let stats = try await client.result("system.stats")
        #expect(stats["event_count"] == 1)

        let rejected: JSON = ["emails": [["address": "bad"]], "command_id": "bad-1"]
        let firstError = try await client.call("customer.create", rejected)
        let secondError = try await client.call("customer.create", rejected)
        #expect(firstError["error"] != nil)
        #expect(firstError["error"] == secondError["error"])
        try await daemon.stop()
    }

    @Test func outOfOrderBusinessTimeIsRejected() async throws {
        let daemon = try await TestDaemon()
        let client = try daemon.client()
        let id = try await client.createCustomer(["first_name": "Ada", "at": "2025-03-07T15:30:00Z"])
        let error = try await client.error(
            "customer.update",
            ["customer_id": .string(id), "set": ["last_name": "L"], "at": "2025-03-07T15:29:59Z"]
        )
        #expect(error.reason == "timestamp_out_of_order")
        #expect(error.field == "at")
        try await daemon.stop()
    }

    @Test func batchesAnswerEveryRequestInOrderAndSkipNotifications() async throws {
        let daemon = try await TestDaemon()
        let client = try daemon.client()
        try await client.sendRaw(
            #"[{"jsonrpc":"2.0","id":"a","method":"customer.create","params":{"first_name":"A"}},"#
                + #"{"jsonrpc":"2.0","method":"customer.create","params":{"first_name":"B"}},"#
                + #"{"jsonrpc":"2.0","id":"c","method":"nope"},"#
                + #"{"jsonrpc":"2.0","id":"d","method":"system.stats"}]"#
        )
        let reply = try #require(try await client.readJSON()?.arrayValue)
        #expect(reply.map { $0["id"] } == ["a", "c", "d"])
        #expect(reply[1]["error"]?["code"] == -32601)
        #expect(reply[2]["result"]?["event_count"] == 2)
        // A lone notification gets no reply: the next reply on the line is for the ping.
        try await client.sendRaw(#"{"jsonrpc":"2.0","method":"system.ping"}"#)
        try await client.sendRaw(#"{"jsonrpc":"2.0","id":9,"method":"system.ping"}"#)
        #expect(try await client.readJSON()?["id"] == 9)
        try await daemon.stop()
    }

    @Test func pipelinedRequestsAreAnsweredInOrderWithReadYourWrites() async throws {
        let daemon = try await TestDaemon()
        let client = try daemon.client()
        var lines: [UInt8] = []
        for index in 0..<200 {
            let id = "p\(index)"
            let create = RPCRequest(
                id: .int(Int64(index * 2)),
                method: "customer.create",
                params: ["customer_id": .string(id), "first_name": .string("N\(index)")]
            )
            let get = RPCRequest(id: .int(Int64(index * 2 + 1)), method: "customer.get", params: ["customer_id": .string(id)])
            lines += create.json.serialized() + [0x0A] + get.json.serialized() + [0x0A]
        }
        let payload = lines
        try await onOwnThread { try client.connection.send(payload) }
        for index in 0..<400 {
            let reply = try #require(try await client.readJSON())
            #expect(reply["id"] == .int(Int64(index)))
            #expect(reply["error"] == nil)
        }
        try await daemon.stop()
    }

    @Test func oversizedLineClosesOnlyThatConnection() async throws {
        let directory = TemporaryDirectory()
        let daemon = try await TestDaemon(directory: directory, maxLineBytes: 1024)
        let other = try daemon.client()
        let id = try await other.createCustomer(["first_name": "Ada"])
        let before = try await Snapshot.take(other, customer: id)
        let client = try daemon.client()
        let huge = #"{"jsonrpc":"2.0","id":1,"method":"customer.create","params":{"first_name":""#
            + String(repeating: "x", count: 4096) + #""}}"#
        try await client.sendRaw(huge)
        let reply = try #require(try await client.readJSON())
        #expect(reply["error"]?["code"] == -32600)
        #expect(reply["error"]?["data"]?["reason"] == "bad_request")
        #expect(try await client.readJSON() == nil)
        #expect(try await Snapshot.take(other, customer: id) == before)
        #expect(try await other.result("system.ping")["pong"] == true)
        try await daemon.stop()
    }

    @Test func clientDisconnectingMidRequestDisturbsNobody() async throws {
        let daemon = try await TestDaemon()
        let other = try daemon.client()
        for index in 0..<20 {
            let quitter = try daemon.client()
            try await quitter.sendRaw(
                RPCRequest(id: 1, method: "customer.create", params: ["first_name": .string("Q\(index)")]).json
                    .serializedString()
            )
            let partial = Array(#"{"jsonrpc":"2.0","id":2,"method":"customer.cre"#.utf8)
            try await onOwnThread { try quitter.connection.send(partial) }
            quitter.connection.close()
        }
        #expect(try await other.result("system.ping")["pong"] == true)
        let stats = try await other.result("system.stats")
        // Every complete command was either committed or not; the daemon is consistent.
        #expect(try await other.result("audit.verify")["ok"] == true)
        #expect((stats["event_count"]?.intValue ?? -1) <= 20)
        try await daemon.stop()
    }

    @Test func concurrentConnectionsAllCommit() async throws {
        let daemon = try await TestDaemon()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for connection in 0..<16 {
                group.addTask {
                    let client = try daemon.client()
                    for index in 0..<25 {
                        _ = try await client.result(
                            "customer.create",
                            ["first_name": "C", "emails": [["address": .string("c\(connection)-\(index)@example.com")]]]
                        )
                    }
                }
            }
            try await group.waitForAll()
        }
        let client = try daemon.client()
        let stats = try await client.result("system.stats")
        #expect(stats["event_count"] == 400)
        #expect(stats["head"]?["position"] == 400)
        #expect(try await client.result("audit.verify")["ok"] == true)
        try await daemon.stop()
    }

    @Test func unknownQueryParamsAndMissingCustomersAreRejected() async throws {
        let daemon = try await TestDaemon()
        let client = try daemon.client()
        var error = try await client.error("customer.get", ["customer_id": "ghost"])
        #expect(error.reason == "not_found")
        #expect(error.field == "customer_id")
        error = try await client.error("events.read", ["from": 0])
        #expect(error.reason == "invalid_field")
        #expect(error.field == "from")
        error = try await client.error("system.ping", ["x": 1])
        #expect(error.field == "x")
        try await daemon.stop()
    }
}
