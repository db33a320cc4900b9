import CRMJSON
import CRMTesting
import Foundation
import Testing

/// What docs/OPERATIONS.md promises about installing crmd: the shipped config and systemd unit work
/// together.
@Suite struct OperationsTests {
    /// The repository root, found from this file's path (`Tests/CRMCtlTests/…`).
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    static func text(_ relativePath: String) throws -> String {
        try String(contentsOfFile: OperationsTests.root + "/" + relativePath, encoding: .utf8)
    }

    /// Without `backup_dir`, backups go to `<data_dir>-backups`, beside the data directory.
    @Test func backupsGoBesideTheDataDirectoryByDefault() async throws {
        let directory = TemporaryDirectory()
        let daemon = try DaemonProcess(
            socketPath: directory.appending("crmd.sock"),
            dataDirectory: directory.appending("data"),
            extraArguments: ["--config", OperationsTests.root + "/config/crmd.json"]
        )
        let client = try RPCClient(socketPath: daemon.socketPath)
        let backup = try await client.result("system.backup", ["name": "b1"])
        #expect(backup["path"]?.stringValue?.hasPrefix(directory.appending("data-backups/b1")) == true)
        #expect(FileManager.default.fileExists(atPath: directory.appending("data-backups/b1/data.mdb")))
        #expect(daemon.stop() == 0)
    }

    /// Every config key crmd knows (its refusal of an unknown key lists them) has a row in
    /// docs/OPERATIONS.md, and the shipped config file sets no key (or section) that is not documented.
    @Test func everyConfigKeyIsDocumented() throws {
        let directory = TemporaryDirectory()
        let config = directory.appending("crmd.json")
        try Data(#"{"no_such_key": 1}"#.utf8).write(to: URL(fileURLWithPath: config))
        let run = try ProcessRun(
            DaemonProcess.executablePath,
            ["--config", config, "--socket", directory.appending("s"), "--data-dir", directory.appending("d")]
        )
        #expect(run.status != 0)
        let known = try #require(run.output.split(separator: "(known: ").last?.split(separator: ")").first)
        let keys = known.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(keys.count >= 13)
        let operations = try OperationsTests.text("docs/OPERATIONS.md")
        for key in keys {
            #expect(operations.contains("| `\(key)` | "), "docs/OPERATIONS.md has no row for \(key)")
        }
        let shipped = try JSON.parse(Array(try OperationsTests.text("config/crmd.json").utf8))
        for key in shipped.objectValue?.keys.sorted() ?? [] {
            // A section (`relay`) holds dotted keys (`relay.url`).
            let known = keys.contains(key) || keys.contains { $0.hasPrefix(key + ".") }
            #expect(known, "config/crmd.json sets unknown key \(key)")
        }
    }

    /// Under the shipped unit the backups and the signing key land in paths the unit lets crmd write.
    @Test func theUnitLetsCrmdWriteItsBackupsAndKey() throws {
        let unit = try OperationsTests.text("config/crmd.service")
        let lines = unit.split(separator: "\n").map(String.init)
        let execStart = try #require(lines.first { $0.hasPrefix("ExecStart=") })
        let words = execStart.split(separator: " ").map(String.init)
        let dataDirectory = try #require(words.firstIndex(of: "--data-dir").map { words[$0 + 1] })
        let writable = try #require(lines.first { $0.hasPrefix("ReadWritePaths=") })
            .dropFirst("ReadWritePaths=".count).split(separator: " ").map(String.init)
        let config = try JSON.parse(Array(try OperationsTests.text("config/crmd.json").utf8))
        // A configured backup_dir would be resolved against the unit's working directory, "/".
        let backups = config["backup_dir"]?.stringValue.map { $0.hasPrefix("/") ? $0 : "/" + $0 }
            ?? dataDirectory + "-backups"
        #expect(writable.contains { backups == $0 || backups.hasPrefix($0 + "/") }, "\(backups) vs \(writable)")
        let key = config["signing_key"]?.stringValue.map { $0.hasPrefix("/") ? $0 : "/" + $0 }
            ?? dataDirectory + "-keys/signing.key"
        #expect(writable.contains { key.hasPrefix($0 + "/") }, "\(key) vs \(writable)")
        #expect(!key.hasPrefix(dataDirectory + "/"))
        let keyEncryptionKeys = config["kek_dir"]?.stringValue.map { $0.hasPrefix("/") ? $0 : "/" + $0 }
            ?? dataDirectory + "-keys"
        #expect(writable.contains { keyEncryptionKeys == $0 || keyEncryptionKeys.hasPrefix($0 + "/") })
        #expect(!keyEncryptionKeys.hasPrefix(dataDirectory + "/") && !keyEncryptionKeys.hasPrefix(backups + "/"))
        // systemd creates each writable directory (or the unit would fail with "Read-only file system").
        let created = lines.filter { $0.hasPrefix("StateDirectory=") || $0.hasPrefix("RuntimeDirectory=") }
            .flatMap { $0.split(separator: "=")[1].split(separator: " ").map(String.init) }
        for path in writable {
            #expect(created.contains { path == "/var/lib/" + $0 || path == "/run/" + $0 }, "\(path) is not created")
        }
        #expect(lines.contains("Type=notify"))
    }
}
