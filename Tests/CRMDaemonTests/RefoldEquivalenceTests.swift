import CRMApplication
import CRMDomain
import CRMJSON
import CRMTesting
import Foundation
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

    /// The version of the decision state stored in `directory`'s data.
    static func storedStateVersion(_ directory: TemporaryDirectory) throws -> String? {
        let environment = try Environment(path: directory.appending("data"))
        return try environment.read { txn in
            try txn.get(try txn.openDatabase("meta", create: false), "proj.state.version").map {
                String(decoding: $0, as: UTF8.self)
            }
        }
    }

    /// crmd killed in the middle of a refold (after its first chunk committed: the tables written
    /// through hold rows, the buffered ones not yet) leaves the old version stored, and the next start
    /// refolds from scratch to the state the commands folded.
    @Test func aRefoldCutShortIsDoneAgainFromScratch() async throws {
        let directory = TemporaryDirectory()
        let data = directory.appending("data")
        let socket = directory.appending("crmd.sock")
        var daemon = try DaemonProcess(socketPath: socket, dataDirectory: data)
        let client = try RPCClient(socketPath: socket)
        for request in try Self.workload(600) {
            _ = try await client.call(request["method"]?.stringValue ?? "", request["params"])
        }
        #expect(daemon.stop() == 0)
        let inline = try Self.decisionState(directory)
        let current = try Self.storedStateVersion(directory)
        #expect(current != nil)
        do {
            let environment = try Environment(path: data)
            try environment.write { txn in
                try txn.put(try txn.openDatabase("meta"), "proj.state.version", Array("1".utf8))
            }
        }
        // Small chunks, so that the refold commits a first chunk well before its end.
        let small = ["CRMD_REBUILD_CHUNK_EVENTS": "50"]
        let crashing = small.merging(["CRMD_TEST_CRASH_AT": "during-refold"]) { $1 }
        let killed = #expect(throws: DaemonProcessError.self) {
            try DaemonProcess(socketPath: socket, dataDirectory: data, environment: crashing)
        }
        #expect(killed?.message.hasPrefix("crmd exited with \(SIGKILL)") == true, "killed by the crash point")
        #expect(try Self.storedStateVersion(directory) == "1", "the refold did not end")
        #expect(try Self.decisionState(directory) != inline)
        daemon = try DaemonProcess(socketPath: socket, dataDirectory: data, environment: small)
        #expect(daemon.stop() == 0)
        #expect(try Self.storedStateVersion(directory) == current)
        #expect(try Self.decisionState(directory) == inline)
    }
}
