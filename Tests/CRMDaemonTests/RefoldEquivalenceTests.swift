import CRMApplication
import CRMDomain
import CRMJSON
import CRMTesting
import LMDB
import Testing

/// Folding the log again — the decision state at start-up, the read models in a rebuild — reads every
/// event back through `EventRecord.decode`, while commands fold the events `decide` made. Both must
/// give the same bytes, for a workload of every command.
@Suite struct RefoldEquivalenceTests {
    /// The first `count` requests of `crm-bench`'s seeded workload (every command of the domain).
    static func workload(_ count: Int) throws -> [JSON] {
        try BenchSmokeTests.dumpWorkload(count: count).split(separator: "\n").map { try JSON.parse(String($0)) }
    }

    /// Every row of every decision-state table, by table.
    static func decisionState(_ directory: TemporaryDirectory) throws -> [String: [[UInt8]: [UInt8]]] {
        let environment = try Environment(path: directory.appending("data"))
        return try environment.read { txn in
            var tables: [String: [[UInt8]: [UInt8]]] = [:]
            for table in StateTable.allCases {
                var rows: [[UInt8]: [UInt8]] = [:]
                try txn.withCursor(try txn.openDatabase("state.\(table.rawValue)", create: false)) { cursor in
                    var entry = try cursor.first()
                    while let row = entry {
                        rows[row.keyBytes] = row.valueBytes
                        entry = try cursor.next()
                    }
                }
                tables[table.rawValue] = rows
            }
            return tables
        }
    }

    @Test func theRefoldedDecisionStateAndTheRebuiltReadModelsEqualTheInlineFolds() async throws {
        let directory = TemporaryDirectory()
        do {
            let daemon = try await TestDaemon(directory: directory, seedDefaults: true) { $0.rebuildChunkEvents = 300 }
            let client = try daemon.client()
            var failed: [JSON] = []
            for request in try Self.workload(1500) {
                let response = try await client.call(request["method"]?.stringValue ?? "", request["params"])
                if let error = response["error"] { failed.append(error) }
            }
            #expect(failed.isEmpty, "\(failed.prefix(3))")
            // The read models, folded again from the log into scratch tables, equal the live ones.
            let audit = try await client.result("audit.verify", ["read_models": true])
            #expect(audit["read_models"]?["ok"] == true, "\(audit)")
            // And so do the tables a rebuild fills.
            _ = try await client.result("projection.rebuild", ["name": "all"])
            _ = try await ProjectionLifecycleTests.waitUntilSettled(client)
            let rebuilt = try await client.result("audit.verify", ["read_models": true])
            #expect(rebuilt["read_models"]?["ok"] == true, "\(rebuilt)")
            try await daemon.stop()
        }
        let inline = try Self.decisionState(directory)
        #expect(inline["customers"]?.isEmpty == false && inline["deals"]?.isEmpty == false)
        #expect(inline["tickets"]?.isEmpty == false)
        // A refold keeps the busiest tables in memory: written once at the end, and written every few
        // chunks when the buffer is small.
        for bufferBytes in [64 << 20, 4096] {
            do {
                // As if the stored decision state had been folded by an older crmd: start-up refolds it.
                let environment = try Environment(path: directory.appending("data"))
                try environment.write { txn in
                    try txn.put(try txn.openDatabase("meta"), "proj.state.version", Array("1".utf8))
                }
            }
            let daemon = try await TestDaemon(directory: directory, seedDefaults: true) {
                $0.rebuildChunkEvents = 300
                $0.refoldBufferBytes = bufferBytes
            }
            let status = try await daemon.client().result("projection.status")
            #expect(ProjectionLifecycleTests.row(status, "state")?["last_rebuild"]?["reason"] == "version")
            try await daemon.stop()
            #expect(try Self.decisionState(directory) == inline, "refold buffer of \(bufferBytes) bytes")
        }
    }
}
