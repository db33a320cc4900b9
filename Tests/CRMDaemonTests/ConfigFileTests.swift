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
}
