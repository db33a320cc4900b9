import CRMDomain
import CRMJSON
import CRMProjections
import CRMRPC
import CRMTesting
import Foundation
import LMDB
import Testing

/// Domain commands decided against in-memory decision state, their events numbered like the store
/// does and folded into a real LMDB environment holding the funnel and profile projectors.
final class FunnelHarness {
    let directory: String
    let environment: Environment
    let funnel: FunnelProjector
    let profiles: CustomerProfileProjector
    let state = InMemoryDecisionState()
    /// Every event recorded so far.
    private(set) var recordedLog = InMemoryLog()
    /// Every event recorded so far.
    var log: [RecordedEvent] { self.recordedLog.events }
    private var generated = 0

    init() throws {
        self.directory =
            FileManager.default.temporaryDirectory
            .appendingPathComponent("crmd-funnel-tests-\(UUID().uuidString)").path
        var options = Environment.Options()
        options.mapSize = 1 << 26
        options.noSync = true
        self.environment = try Environment(path: self.directory, options: options)
        (self.funnel, self.profiles) = try self.environment.write { txn in
            (try FunnelProjector(txn), try CustomerProfileProjector(txn))
        }
    }

    deinit {
        try? FileManager.default.removeItem(atPath: self.directory)
    }

    /// Runs a command at `at` (RFC 3339) and folds its events; the command must succeed.
    @discardableResult
    func run<C: DomainCommand & ParamsDecodable>(_ command: C.Type, _ params: JSON, at: String) throws -> Decision {
        try self.run(command, params, millis: Timestamp.parse(at)!)
    }

    /// Runs a command at `millis` and folds its events; the command must succeed.
    @discardableResult
    func run<C: DomainCommand & ParamsDecodable>(_ command: C.Type, _ params: JSON, millis: Int64) throws -> Decision {
        self.generated += 1
        let decision = try C(params: params).decide(
            self.state,
            CommandContext(at: millis, generatedID: "g\(self.generated)")
        )
        try self.record(decision.events, millis: millis)
        return decision
    }

    /// Records `events` at `millis` (typed by the event codec, as the store does) and folds them into
    /// the decision state and both read models.
    func record(_ events: [NewEvent], millis: Int64) throws {
        let recorded = self.recordedLog.record(events, at: millis)
        for record in recorded {
            try DecisionEvolver.apply(record, to: self.state)
        }
        try self.environment.write { txn in
            for event in recorded {
                try self.funnel.apply(event, txn)
                try self.profiles.apply(event, txn)
            }
        }
    }

    /// Clears the funnel tables and folds the whole log again.
    func rebuildFunnel() throws {
        try self.environment.write { txn in
            try self.funnel.clear(txn)
            for event in self.log { try self.funnel.apply(event, txn) }
        }
    }

    /// Answers a funnel or profile query.
    func query(_ method: String, _ params: JSON) throws -> JSON {
        let query = try #require(self.funnel.queries[method] ?? self.profiles.queries[method])
        return try self.environment.read { txn in try query(params, txn) }.materialized
    }
}

/// The default pipeline as `pipeline.define` params.
func funnelPipelineParams(_ id: String = "sales", requireLostReason: Bool = false) -> JSON {
    DefaultPipeline.params(id: id, requireLostReason: requireLostReason)
}

/// The `count` members of a report's stages, by stage id, for `member` (`any`, `strict`, `implied`,
/// `count`).
func stageCounts(_ report: JSON, _ member: String) -> [String: Int64] {
    var counts: [String: Int64] = [:]
    for stage in report["stages"]?.arrayValue ?? [] {
        if let id = stage["stage_id"]?.stringValue { counts[id] = stage[member]?.intValue }
    }
    return counts
}
