@testable import CRMDomain
import CRMJSON
import Testing

/// Every SLA policy event advances the policy-set fingerprint, and the resolved policy follows the events.
@Suite struct PolicySetFingerprintTests {
    func fingerprint(_ harness: Harness) throws -> [UInt8]? {
        try harness.state.record(.service, PolicySetFingerprint.key)
    }

    @Test func everyPolicyEventChangesTheFingerprintAndTheResolvedPolicy() throws {
        let harness = Harness()
        try harness.given(DefineSchedule.self, ScheduleCommandTests.schedule())
        #expect(try self.fingerprint(harness) == nil)
        #expect(try harness.state.resolvePolicy(tier: "gold", channel: "email", tags: []) == nil)

        try harness.given(DefineSlaPolicy.self, ScheduleCommandTests.policy(["position": 5]))
        let first = try #require(try self.fingerprint(harness))
        #expect(try harness.state.resolvePolicy(tier: "gold", channel: "email", tags: [])?.policyID == "gold")

        // A conditional policy placed before it wins from now on.
        try harness.given(
            DefineSlaPolicy.self,
            ScheduleCommandTests.policy(["policy_id": "gold2", "name": "Gold 2", "position": 1])
        )
        let second = try #require(try self.fingerprint(harness))
        #expect(second != first)
        #expect(try harness.state.resolvePolicy(tier: "gold", channel: "email", tags: [])?.policyID == "gold2")

        try harness.given(RetireSlaPolicy.self, ["policy_id": "gold2"])
        #expect(try self.fingerprint(harness) != second)
        #expect(try harness.state.resolvePolicy(tier: "gold", channel: "email", tags: [])?.policyID == "gold")
    }

    @Test func equalHistoriesGiveEqualFingerprintsAndOtherHistoriesDoNot() throws {
        func run(_ policies: [JSON]) throws -> [UInt8]? {
            let harness = Harness()
            try harness.given(DefineSchedule.self, ScheduleCommandTests.schedule())
            for policy in policies { try harness.given(DefineSlaPolicy.self, policy) }
            return try self.fingerprint(harness)
        }
        let a = ScheduleCommandTests.policy()
        let b = ScheduleCommandTests.policy(["policy_id": "silver", "match": ["tiers": ["silver"]]])
        #expect(try run([a, b]) == run([a, b]))
        #expect(try run([a, b]) != run([b, a]))
        #expect(try run([a]) != run([a, b]))
    }
}
