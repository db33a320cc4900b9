import CRMDomain
import CRMJSON
import CRMProjections
import LMDB

/// Decision state over LMDB, inside one transaction: the `state.<table>` databases.
struct LMDBDecisionState: DecisionStateStore {
    let tables: [StateTable: Database]
    let txn: Transaction

    func record(_ table: StateTable, _ key: String) throws -> [UInt8]? {
        try self.txn.get(self.tables[table]!, key)
    }

    func setRecord(_ table: StateTable, _ key: String, _ value: [UInt8]?) throws {
        if let value {
            try self.txn.put(self.tables[table]!, key, value)
        } else {
            try self.txn.delete(self.tables[table]!, key)
        }
    }
}

/// Keeps the decision state (`state.*` databases) folded from the log, like a projection, so it has
/// a version and a checkpoint and can be rebuilt from the log the same way.
struct DecisionStateProjector: Projector {
    let name = "state"
    /// Bump when `DecisionEvolver` or the layout of a decision-state row changes. Version 2 added the
    /// SLA policy-set fingerprint; version 3 stores customers as binary rows; version 4 stores pipelines,
    /// deals, tickets, schedules, SLA policies and the policy index as binary rows too.
    let version = 4
    let tables: [StateTable: Database]

    init(_ txn: Transaction) throws {
        var tables: [StateTable: Database] = [:]
        for table in StateTable.allCases { tables[table] = try txn.openDatabase("state.\(table.rawValue)") }
        self.tables = tables
    }

    func state(_ txn: Transaction) -> LMDBDecisionState { LMDBDecisionState(tables: self.tables, txn: txn) }

    func apply(_ event: RecordedEvent, _ txn: Transaction) throws {
        try DecisionEvolver.apply(event, to: self.state(txn))
    }

    /// The decision state has one set of tables; it is rebuilt before crmd serves.
    var slot: Int { 0 }

    var databases: [Database] { StateTable.allCases.map { self.tables[$0]! } }

    var queries: [String: ProjectionQuery] { [:] }
}
