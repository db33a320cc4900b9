import CRMDomain
@testable import CRMEventStore
import CRMJSON
import CRMProtocol
import CRMTesting
import Foundation
import LMDB
import Testing

/// Signed checkpoints: an editor of `data.mdb` who rewrites an event and recomputes every later hash
/// is caught, an export can be checked offline against the public key, and import keeps them.
@Suite struct SignedCheckpointTests {
    /// A config file that signs a checkpoint every `events` events.
    func config(_ directory: TemporaryDirectory, events: Int = 3) throws -> String {
        let path = directory.appending("crmd.json")
        try "{\"checkpoint_every_events\": \(events)}".write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// A log of `count` customers written by a crmd that signs often; crmd is stopped again.
    func makeSignedLog(_ directory: TemporaryDirectory, count: Int = 8) async throws -> (data: String, head: Int64) {
        let data = directory.appending("data")
        let socket = directory.appending("setup.sock")
        let daemon = try DaemonProcess(
            socketPath: socket,
            dataDirectory: data,
            extraArguments: ["--config", try self.config(directory)]
        )
        let client = try RPCClient(socketPath: socket)
        for index in 1...count {
            _ = try await client.result(
                "customer.create",
                ["first_name": .string("Person \(index)"), "correlation_id": .string("c-\(index)")]
            )
        }
        let head = try #require(try await client.result("system.stats")["head"]?["position"]?.intValue)
        #expect(daemon.stop() == 0)
        return (data, head)
    }

    /// Rewrites event `position` (its correlation id) and recomputes the hash of every later record and
    /// of the head, as an editor with write access to the file could.
    func rewriteHistory(_ data: String, at position: UInt64) throws {
        let environment = try Environment(path: data)
        let store = try EventStore(environment: environment)
        try environment.write { txn in
            let head = try store.head(txn)
            var previous = try #require(try store.recordHash(at: position - 1, txn))
            for seq in position...head.seq {
                var event = try #require(try store.storedEvent(at: seq, txn))
                if seq == position { event.correlationID = "rewritten" }
                let bytes = EventRecord.encode(event, previousHash: previous)
                try txn.put(store.events, [UInt8].bigEndian(seq), bytes)
                previous = EventRecord.hash(bytes)
            }
            try txn.put(store.meta, EventStore.headKey, [UInt8].bigEndian(head.seq) + previous)
        }
    }

    @Test func aCleanLogIsSignedUpToItsHead() async throws {
        let directory = TemporaryDirectory()
        let (data, head) = try await self.makeSignedLog(directory)
        // The key was created outside the data directory, with its public half for auditors.
        #expect(FileManager.default.fileExists(atPath: data + "-keys/signing.key"))
        #expect(FileManager.default.fileExists(atPath: data + "-keys/signing.key.pub"))
        #expect(try FileManager.default.attributesOfItem(atPath: data + "-keys/signing.key")[.posixPermissions] as? Int == 0o600)

        let socket = directory.appending("crmd.sock")
        let daemon = try DaemonProcess(socketPath: socket, dataDirectory: data)
        let client = try RPCClient(socketPath: socket)
        let report = try await client.result("audit.verify")
        #expect(report["ok"] == true)
        #expect(report["signatures"]?["ok"] == true)
        #expect(report["signatures"]?["checked"]?.intValue ?? 0 >= 3)
        // Shutdown signed the head.
        #expect(report["signatures"]?["last_signed_position"] == .int(head))
        #expect(report["signatures"]?["unsigned_after"] == 0)
        #expect(try await client.result("system.stats")["commands_refused"] == .null)
        #expect(daemon.stop() == 0)
    }

    @Test func aRewrittenHistoryWithRecomputedHashesFailsTheSignatures() async throws {
        let directory = TemporaryDirectory()
        let (data, _) = try await self.makeSignedLog(directory)
        let target: UInt64 = 4
        try self.rewriteHistory(data, at: target)

        let socket = directory.appending("crmd.sock")
        let daemon = try DaemonProcess(socketPath: socket, dataDirectory: data)
        let client = try RPCClient(socketPath: socket)
        let report = try await client.result("audit.verify")
        // The chain is consistent with itself: only the signatures tell.
        #expect(report["broken_at"] == .null)
        #expect(report["ok"] == false)
        let signatures = try #require(report["signatures"])
        #expect(signatures["ok"] == false)
        let bad = try #require(signatures["first_bad"]?["position"]?.intValue)
        #expect(bad >= Int64(target))
        #expect(signatures["last_signed_position"]?.intValue ?? Int64.max < Int64(target))
        // crmd noticed at start: the log no longer matches its last signed checkpoint; nothing is
        // appended (or signed) on top of it.
        let refused = try await client.error("customer.create", ["first_name": "On top"])
        #expect(refused.reason == "chain_broken")
        #expect(refused.message.contains("last signed checkpoint"))
        // crmctl says the same and exits with status 3.
        let (status, output) = try ExportImportTests.runTool("crmctl", ["--json", "audit", "verify", "--socket", socket])
        #expect(status == 3, "\(output)")
        #expect(daemon.stop() == 0)
    }

    @Test func anExportIsCheckedOfflineAndImportKeepsTheCheckpoints() async throws {
        let directory = TemporaryDirectory()
        let (data, head) = try await self.makeSignedLog(directory)
        let publicKey = data + "-keys/signing.key.pub"
        let socket = directory.appending("crmd.sock")
        let daemon = try DaemonProcess(socketPath: socket, dataDirectory: data)
        let exportFile = directory.appending("log.ndjson")
        let (exportStatus, exportOutput) = try ExportImportTests.runTool(
            "crmctl",
            ["export", "--socket", socket, "--output", exportFile]
        )
        #expect(exportStatus == 0, "\(exportOutput)")
        #expect(try FileManager.default.attributesOfItem(atPath: exportFile)[.posixPermissions] as? Int == 0o600)
        #expect(daemon.stop() == 0)

        // Offline, without crmd.
        let (status, output) = try ExportImportTests.runTool(
            "crmctl",
            ["--json", "audit", "verify", "--input", exportFile, "--public-key", publicKey]
        )
        #expect(status == 0, "\(output)")
        let report = try JSON.parse(String(output.split(separator: "\n")[0]))
        #expect(report["ok"] == true)
        #expect(report["to"] == .int(head))
        #expect(report["signatures"]?["last_signed_position"] == .int(head))

        // A forged checkpoint (one byte of a signature) is named.
        var lines = try String(contentsOfFile: exportFile, encoding: .utf8).split(separator: "\n").map(String.init)
        let checkpointLine = try #require(lines.firstIndex { $0.hasPrefix("{\"checkpoint\"") })
        var checkpoint = try JSON.parse(lines[checkpointLine])
        var signature = try #require(checkpoint["checkpoint"]?["signature"]?.stringValue)
        signature = (signature.first == "0" ? "1" : "0") + signature.dropFirst()
        checkpoint["checkpoint"]?["signature"] = .string(signature)
        lines[checkpointLine] = checkpoint.serializedString()
        let forged = directory.appending("forged.ndjson")
        try (lines.joined(separator: "\n") + "\n").write(toFile: forged, atomically: true, encoding: .utf8)
        let (forgedStatus, forgedOutput) = try ExportImportTests.runTool(
            "crmctl",
            ["--json", "audit", "verify", "--input", forged, "--public-key", publicKey]
        )
        #expect(forgedStatus == 3)
        let forgedReport = try JSON.parse(String(forgedOutput.split(separator: "\n")[0]))
        #expect(forgedReport["signatures"]?["first_bad"]?["position"] == checkpoint["checkpoint"]?["position"])

        // Import keeps the checkpoints: the copy verifies against the original key.
        let (importStatus, importOutput) = try ExportImportTests.runTool(
            "crmd",
            ["import", exportFile, "--data-dir", directory.appending("copy")]
        )
        #expect(importStatus == 0, "\(importOutput)")
        try KeyFiles.copy(fromDataDirectory: data, toDataDirectory: directory.appending("copy"))
        let copySocket = directory.appending("copy.sock")
        let copy = try DaemonProcess(socketPath: copySocket, dataDirectory: directory.appending("copy"))
        let copyClient = try RPCClient(socketPath: copySocket)
        let copyReport = try await copyClient.result(
            "audit.verify",
            ["public_key": .string(try String(contentsOfFile: publicKey, encoding: .utf8))]
        )
        #expect(copyReport["ok"] == true)
        #expect(copyReport["signatures"]?["last_signed_position"] == .int(head))
        #expect(copy.stop() == 0)
    }

    @Test func aSigningKeyInsideTheDataDirectoryIsRefused() throws {
        let directory = TemporaryDirectory()
        let data = directory.appending("data")
        #expect {
            try DaemonProcess(
                socketPath: directory.appending("crmd.sock"),
                dataDirectory: data,
                extraArguments: ["--signing-key", data + "/signing.key"]
            )
        } throws: { error in
            (error as? DaemonProcessError)?.message.contains("is inside the data directory") == true
        }
    }
}
