import CRMJSON
import CRMTesting
import Foundation
import Testing

/// The real crmd reading config files.
@Suite struct ConfigFileTests {
    static let shippedConfig = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("config/crmd.json").path

    func start(_ directory: TemporaryDirectory, config: String) throws -> DaemonProcess {
        try DaemonProcess(
            socketPath: directory.appending("crmd.sock"),
            dataDirectory: directory.appending("data"),
            extraArguments: ["--config", config]
        )
    }

    @Test func theShippedConfigFileStartsCrmd() async throws {
        let directory = TemporaryDirectory()
        let daemon = try self.start(directory, config: ConfigFileTests.shippedConfig)
        let client = try RPCClient(socketPath: daemon.socketPath)
        #expect(try await client.result("system.ping")["pong"] == true)
        #expect(daemon.stop() == 0)
    }

    @Test(arguments: [
        (#"{"startup_rebuild_limit": -1}"#, "startup_rebuild_limit must be an integer ≥ 0"),
        (#"{"rebuild_chunk_events": 0}"#, "rebuild_chunk_events must be a positive integer"),
        (#"{"rebuild_chunks": 10}"#, #"unknown key "rebuild_chunks""#),
        (#"{"writer_nice": 20}"#, "writer_nice must be an integer from 0 to 19"),
        (#"{"writer_nice": "low"}"#, "writer_nice must be an integer from 0 to 19"),
    ])
    func aBadConfigFileStopsCrmdWithTheReason(_ text: String, _ message: String) throws {
        let directory = TemporaryDirectory()
        let path = directory.appending("crmd.json")
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        #expect {
            _ = try self.start(directory, config: path)
        } throws: { error in
            "\(error)".contains(message)
        }
    }

    @Test func anUnknownCrmdVariableStopsCrmdNamingIt() throws {
        let directory = TemporaryDirectory()
        #expect {
            _ = try DaemonProcess(
                socketPath: directory.appending("crmd.sock"),
                dataDirectory: directory.appending("data"),
                environment: ["CRMD_MAX_BACTH": "10"]
            )
        } throws: { error in
            "\(error)".contains("unknown environment variable CRMD_MAX_BACTH")
        }
    }

    @Test func variablesSetKeysOfTheRealCrmd() async throws {
        let directory = TemporaryDirectory()
        let daemon = try DaemonProcess(
            socketPath: directory.appending("crmd.sock"),
            dataDirectory: directory.appending("data"),
            environment: ["CRMD_SOCKET_MODE": "0600", "CRMD_MAX_BATCH": "8"]
        )
        let attributes = try FileManager.default.attributesOfItem(atPath: daemon.socketPath)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        #expect(daemon.stop() == 0)
    }

    @Test func serveHelpListsEveryKeyWithItsVariable() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: DaemonProcess.executablePath)
        process.arguments = ["serve", "--help"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        for name in ["socket_path (CRMD_SOCKET, --socket; default", "max_batch (CRMD_MAX_BATCH; default 1024)"] {
            #expect(text.contains(name), "\(text)")
        }
    }
}
