import CRMJSON
import CRMTesting
import Foundation
import Testing

/// `crmctl customer export`: the document goes to a file only its owner can read, with a summary.
@Suite struct SubjectExportCommandTests {
    @Test func theExportFileIsPrivateAndHoldsTheDocument() async throws {
        let directory = TemporaryDirectory()
        let daemon = try DaemonProcess(
            socketPath: directory.appending("crmd.sock"),
            dataDirectory: directory.appending("data")
        )
        defer { daemon.stop() }
        let client = try RPCClient(socketPath: daemon.socketPath)
        _ = try await client.result(
            "customer.create", ["customer_id": "ada", "first_name": "Ada", "emails": [["address": "ada@example.com"]]]
        )
        let crmctl = URL(fileURLWithPath: DaemonProcess.executablePath).deletingLastPathComponent()
            .appendingPathComponent("crmctl").path
        let file = directory.appending("ada.json")
        let run = try ProcessRun(crmctl, ["--socket", daemon.socketPath, "customer", "export", "ada", "--output", file])
        #expect(run.status == 0, "\(run.output)")
        #expect(run.output.hasPrefix("exported customer ada to \(file) (0600)\n"))
        #expect(run.output.contains("  events    1\n"))
        let mode = try #require(FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int)
        #expect(mode == 0o600)
        let document = try JSON.parse(Array(try Data(contentsOf: URL(fileURLWithPath: file))))
        #expect(document["customer_id"] == "ada")
        #expect(document["profile"]?["emails"]?[0]?["address"] == "ada@example.com")
        #expect(document["events"]?.arrayValue?.count == 1)

        let missing = try ProcessRun(crmctl, ["--socket", daemon.socketPath, "customer", "export", "nobody"])
        #expect(missing.status == 1)
        #expect(missing.output.contains("not_found"), "\(missing.output)")
    }
}
