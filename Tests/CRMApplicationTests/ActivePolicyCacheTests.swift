@testable import CRMApplication
import CRMDomain
import CRMJSON
import CRMRPC
import CRMTesting
import LMDB
import Testing

/// The writer keeps the decoded active SLA policies under the policy-set fingerprint they were read
/// for, and answers from them only while that fingerprint is stored in the reading transaction.
@Suite struct ActivePolicyCacheTests {
    struct Abort: Error {}

    /// Decides `command` against the LMDB decision state in `txn` and folds its events into it.
    func run<C: DomainCommand & ParamsDecodable>(
        _ command: C.Type,
        _ params: JSON,
        _ projector: DecisionStateProjector,
        _ txn: Transaction,
        _ log: inout InMemoryLog
    ) throws {
        let at: Int64 = 1_741_361_400_000
        let decision = try C(params: params).decide(
            projector.state(txn),
            CommandContext(at: at, generatedID: "gen-\(log.events.count)")
        )
        for event in log.record(decision.events, at: at) { try projector.apply(event, txn) }
    }

    /// A policy matching e-mail tickets, tried at `position`.
    func policy(_ id: String, position: Int64) -> JSON {
        [
            "policy_id": .string(id), "name": .string(id), "position": .int(position),
            "match": ["channels": ["email"]],
            "targets": [["metric": "first_reply_time", "priority": "normal", "minutes": 60]],
        ]
    }

    /// The id of the policy an e-mail ticket gets in `txn`.
    func resolved(_ projector: DecisionStateProjector, _ txn: Transaction) throws -> String? {
        try projector.state(txn).resolvePolicy(tier: nil, channel: "email", tags: [])?.policyID
    }

    /// A decision state in `directory` in which policy `a` is defined and resolved.
    func start(_ directory: TemporaryDirectory) throws -> (Environment, DecisionStateProjector) {
        let environment = try Environment(path: directory.appending("data"))
        let projector = try environment.write { try DecisionStateProjector($0) }
        try environment.write { txn in
            var log = InMemoryLog()
            try self.run(DefineSlaPolicy.self, self.policy("a", position: 5), projector, txn, &log)
            #expect(try self.resolved(projector, txn) == "a")
        }
        return (environment, projector)
    }

    @Test func anAbortedPolicyChangeLeavesNoPoliciesBehindThatDifferFromTheStoredOnes() throws {
        let directory = TemporaryDirectory()
        let (environment, projector) = try self.start(directory)
        var log = InMemoryLog()
        // The writer undoes a batch by aborting its transaction and running it again.
        #expect(throws: Abort.self) {
            try environment.write { txn throws in
                var attempt = log
                try self.run(DefineSlaPolicy.self, self.policy("b", position: 1), projector, txn, &attempt)
                // Read (and cached) under the fingerprint of the aborted change.
                #expect(try self.resolved(projector, txn) == "b")
                throw Abort()
            }
        }
        try environment.write { txn throws in
            #expect(try self.resolved(projector, txn) == "a")
        }
        let committed = try environment.read { txn in try self.resolved(projector, txn) }
        #expect(committed == "a")
        // The same change committed this time is seen.
        try environment.write { txn in
            try self.run(DefineSlaPolicy.self, self.policy("b", position: 1), projector, txn, &log)
            #expect(try self.resolved(projector, txn) == "b")
        }
    }

    @Test func theDecodedPoliciesAreReusedOnlyWhileTheFingerprintIsUnchanged() throws {
        let directory = TemporaryDirectory()
        let (environment, projector) = try self.start(directory)
        var log = InMemoryLog()
        try environment.write { txn in
            // A row changed behind the fingerprint's back (never done by crmd) shows that the
            // writer answers from the policies it decoded, without reading the rows again.
            let state = projector.state(txn)
            var retired = try #require(try state.slaPolicy("a"))
            retired.retired = true
            try txn.put(projector.tables[.slaPolicies], "a", retired.encoded())
            #expect(try self.resolved(projector, txn) == "a")
            // Any policy event moves the fingerprint on, and the rows are read again.
            try self.run(DefineSlaPolicy.self, self.policy("c", position: 9), projector, txn, &log)
            #expect(try self.resolved(projector, txn) == "c")
        }
    }

    /// The stored policy-set fingerprint in `txn`.
    func fingerprint(_ projector: DecisionStateProjector, _ txn: Transaction) throws -> [UInt8]? {
        try projector.state(txn).record(.service, LMDBDecisionState.fingerprintKey)
    }

    @Test func everyPolicyEventMovesTheFingerprintAndEqualHistoriesGiveEqualOnes() throws {
        /// The fingerprints after each of `policies` is defined in a new data directory.
        func run(_ policies: [JSON]) throws -> [[UInt8]?] {
            let directory = TemporaryDirectory()
            let environment = try Environment(path: directory.appending("data"))
            let projector = try environment.write { try DecisionStateProjector($0) }
            return try environment.write { txn in
                var log = InMemoryLog()
                var fingerprints = [try self.fingerprint(projector, txn)]
                for policy in policies {
                    try self.run(DefineSlaPolicy.self, policy, projector, txn, &log)
                    fingerprints.append(try self.fingerprint(projector, txn))
                }
                return fingerprints
            }
        }
        let (a, b) = (self.policy("a", position: 5), self.policy("b", position: 1))
        let history = try run([a, b, a])
        #expect(history[0] == nil)
        #expect(Set(history.compactMap { $0 }).count == 3, "every policy event moves the fingerprint on")
        #expect(try run([a, b, a]) == history)
        #expect(try run([b, a, a]).last != history.last)
    }
}
