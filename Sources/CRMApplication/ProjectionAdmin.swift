import CRMDomain
import CRMEventStore
import CRMJSON
import LMDB

/// `projection.status` and `projection.rebuild`.
extension CoreStorage {
    /// Each projection's name, version, state (live, rebuilding with progress and ETA, failed with
    /// the reason), serving slot, checkpoint and lag behind `head`: the decision state first.
    func projectionStatus(head: UInt64, _ txn: Transaction) throws -> [JSON] {
        let lifecycles = self.runner.lifecycles
        return [try self.runner.decisionStateStatus(head: head, txn)]
            + (try lifecycles.indices.map { index in try self.runner.status(index, lifecycles[index], head: head, txn) })
    }

    /// The read models `projection.rebuild {name}` names: one by name, or every one for `all`.
    func rebuildNames(_ name: String) throws(Rejection) -> [String] {
        let known = self.runner.readModels.map(\.name)
        if name == "all" { return known }
        if name == self.runner.state.name {
            throw Rejection(
                .invalidField,
                field: "name",
                "the decision state (\(name)) is rebuilt only at start-up, when its version changes",
                details: ["projections": .strings(known)]
            )
        }
        guard known.contains(name) else {
            throw Rejection(
                .notFound,
                field: "name",
                "no projection named \(name); known: \(known.joined(separator: ", "))",
                details: ["projections": .strings(known)]
            )
        }
        return [name]
    }

    /// Starts the rebuilds on the writer thread, in the batch transaction; a read model already
    /// rebuilding keeps its rebuild. Answers the status rows of the named read models.
    static func startRebuilds(
        _ names: [String],
        txn: Transaction,
        store: EventStore,
        runner: ProjectionRunner,
        _ lifecycles: inout [ProjectionLifecycle]
    ) throws -> CommandOutcome {
        let head = try store.head(txn).seq
        var rows: [JSON] = []
        for index in runner.readModels.indices where names.contains(runner.readModels[index].name) {
            try runner.beginRebuild(&lifecycles[index], index, reason: "requested", txn)
            rows.append(try runner.status(index, lifecycles[index], head: head, txn))
        }
        return .rebuildsStarted(["projections": .array(rows)])
    }
}
