@testable import CRMDomain
import CRMJSON
import Testing

/// The resolved SLA policy follows the policy events.
@Suite struct PolicyResolutionTests {
    @Test func everyPolicyEventChangesTheResolvedPolicy() throws {
        let harness = Harness()
        try harness.given(DefineSchedule.self, ScheduleCommandTests.schedule())
        #expect(try harness.state.resolvePolicy(tier: "gold", channel: "email", tags: []) == nil)

        try harness.given(DefineSlaPolicy.self, ScheduleCommandTests.policy(["position": 5]))
        #expect(try harness.state.resolvePolicy(tier: "gold", channel: "email", tags: [])?.policyID == "gold")

        // A conditional policy placed before it wins from now on.
        try harness.given(
            DefineSlaPolicy.self,
            ScheduleCommandTests.policy(["policy_id": "gold2", "name": "Gold 2", "position": 1])
        )
        #expect(try harness.state.resolvePolicy(tier: "gold", channel: "email", tags: [])?.policyID == "gold2")

        try harness.given(RetireSlaPolicy.self, ["policy_id": "gold2"])
        #expect(try harness.state.resolvePolicy(tier: "gold", channel: "email", tags: [])?.policyID == "gold")
    }
}
