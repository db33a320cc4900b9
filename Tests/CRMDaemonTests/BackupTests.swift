import CRMApplication
import CRMJSON
import CRMProtocol
import CRMRPC
import CRMTesting
import Foundation
import Testing

/// Hot backups and projection status.
@Suite struct BackupTests {
    @Test func hotBackupRestoresToTheSameStateAndRefusesPaths() async throws {
        let daemon = try await TestDaemon()
        let client = try daemon.client()
        let id = try await client.createCustomer(["first_name": "Ada", "emails": [["address": "ada@example.com"]]])
        _ = try await client.result("customer.tag", ["customer_id": .string(id), "add": ["vip"]])
        let profile = try await client.result("customer.get", ["customer_id": .string(id)])
        let stats = try await client.result("system.stats")

        let backup = try await client.result("system.backup", ["name": "nightly"])
        #expect(backup["head"] == stats["head"])
        let path = try #require(backup["path"]?.stringValue)
        #expect(path == daemon.directory.appending("backups/nightly"))
        // Owner only, like the live data: 0700 directories, a 0600 file.
        func mode(_ path: String) throws -> Int { try #require(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) }
        #expect(try mode(path) == 0o700)
        #expect(try mode(daemon.directory.appending("backups")) == 0o700)
        #expect(try mode(path + "/data.mdb") == 0o600)
        #expect(try await client.error("system.backup", ["name": "nightly"]).reason == "already_exists")
        #expect(try await client.error("system.backup", ["name": "../../etc"]).reason == "invalid_field")

        // The copy holds no key: the data keys live in the key store, backed up apart from the data.
        #expect(!FileManager.default.fileExists(atPath: path + "/keys"))
        // The copy with the key store and the key-encryption key is a complete data directory: a crmd
        // started on it answers the same.
        try KeyFiles.copy(fromDataDirectory: daemon.directory.appending("data"), toDataDirectory: path)
        let restored = try DaemonProcess(socketPath: daemon.directory.appending("r.sock"), dataDirectory: path)
        let copyClient = try RPCClient(socketPath: restored.socketPath)
        #expect(try await copyClient.result("customer.get", ["customer_id": .string(id)]) == profile)
        #expect(try await copyClient.result("system.stats")["head"] == stats["head"])
        #expect(restored.stop() == 0)
        try await daemon.stop()
    }

    @Test func backupNeedsTheAdminRole() async throws {
        let me = UInt32(getuid())
        let daemon = try await TestDaemon(access: AccessPolicy(rules: [.init(uid: me, roles: [.write, .audit])]))
        let client = try daemon.client()
        #expect(try await client.error("system.backup").reason == "forbidden")
        try await daemon.stop()
    }

    @Test func projectionStatusListsEveryProjectorAsLive() async throws {
        let daemon = try await TestDaemon()
        let client = try daemon.client()
        _ = try await client.createCustomer(["first_name": "Ada"])
        let status = try await client.result("projection.status")
        let projections = try #require(status["projections"]?.arrayValue)
        let names = ["state", "customers", "funnel", "sla", "value", "feedback", "segments", "campaigns"]
        #expect(projections.compactMap { $0["name"]?.stringValue } == names)
        for projection in projections {
            #expect(projection["state"] == "live")
            #expect(projection["lag"] == 0)
            #expect(projection["checkpoint"] == status["head"])
            #expect(projection["stored_version"] == projection["version"])
        }
        try await daemon.stop()
    }
}
