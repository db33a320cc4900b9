import CRMApplication
import CRMJSON
import CRMProtocol
import CRMRPC
import CRMTesting
import Foundation
import Testing

/// Roles by uid/gid: an auditor reads history but cannot write; a denied call changes nothing.
@Suite struct AccessTests {
    @Test func auditRoleReadsHistoryButCannotWrite() async throws {
        let me = UInt32(getuid())
        let daemon = try await TestDaemon(access: AccessPolicy(rules: [.init(uid: me, roles: [.audit])]))
        let client = try daemon.client()
        let denied = try await client.error("customer.create", ["first_name": "Ada"])
        #expect(denied.reason == "forbidden")
        #expect(denied.code == RPCErrorCode.code(forReason: "forbidden"))
        #expect(denied.data?["details"]?["roles"] == ["audit"])
        #expect(try await client.result("events.read")["events"] == [])
        let decrypt = try await client.error("events.read", ["decrypt": true])
        #expect(decrypt.reason == "forbidden" && decrypt.field == "decrypt", "opened personal data is for admins")
        #expect(try await client.result("audit.verify")["ok"] == true)
        #expect(try await client.result("system.stats")["event_count"] == 0)
        try await daemon.stop()
    }

    @Test func erasureAndLegalHoldNeedTheAdminRole() async throws {
        let me = UInt32(getuid())
        let daemon = try await TestDaemon(access: AccessPolicy(rules: [.init(uid: me, roles: [.read, .write])]))
        let client = try daemon.client()
        _ = try await client.result("customer.create", ["customer_id": "c7", "first_name": "Ada"])
        let before = try await Snapshot.take(client, customer: "c7")
        for (method, params) in [
            ("customer.erase", ["customer_id": "c7"]),
            ("customer.set_legal_hold", ["customer_id": "c7", "on": true]),
            ("customer.erasure_status", ["customer_id": "c7"]),
        ] as [(String, JSON)] {
            #expect(try await client.error(method, params).reason == "forbidden", "\(method)")
        }
        #expect(try await Snapshot.take(client, customer: "c7") == before)
        try await daemon.stop()
    }

    @Test func readRoleCannotReadTheAuditTrailAndStrangersOnlyPing() async throws {
        let me = UInt32(getuid())
        let reader = try await TestDaemon(access: AccessPolicy(rules: [.init(uid: me, roles: [.read])]))
        var client = try reader.client()
        #expect(try await client.error("events.read").reason == "forbidden")
        #expect(try await client.error("customer.get", ["customer_id": "x"]).reason == "not_found")
        try await reader.stop()

        let stranger = try await TestDaemon(access: AccessPolicy(rules: [.init(uid: me &+ 1, roles: [.admin])]))
        client = try stranger.client()
        #expect(try await client.result("system.ping")["pong"] == true)
        #expect(try await client.error("system.stats").reason == "forbidden")
        try await stranger.stop()
    }

    @Test func policiesParseFromConfigAndRejectNonsense() throws {
        let policy = try AccessPolicy(json: [["uid": 1000, "roles": ["write"]], ["gid": 27, "roles": ["audit", "read"]]])
        #expect(policy.roles(uid: 1000, gid: 27) == [.write, .audit, .read])
        #expect(policy.roles(uid: 5, gid: 5) == [])
        #expect(AccessPolicy.open.roles(uid: 5, gid: 5) == [.admin])
        #expect(throws: AccessPolicyError.self) { try AccessPolicy(json: [["uid": 1, "roles": ["root"]]]) }
        #expect(throws: AccessPolicyError.self) { try AccessPolicy(json: [["uid": 1, "gid": 2, "roles": ["read"]]]) }
        #expect(throws: AccessPolicyError.self) { try AccessPolicy(json: [["roles": ["read"]]]) }
    }
}
