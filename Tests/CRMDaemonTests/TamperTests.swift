import CRMJSON
import CRMTesting
import Foundation
import Testing

/// One byte of one event changed inside the LMDB file while crmd is stopped is detected and located.
@Suite struct TamperTests {
    @Test func aChangedByteInTheDataFileIsLocatedByAuditVerify() async throws {
        let directory = TemporaryDirectory()
        let socket = directory.appending("crmd.sock")
        let data = directory.appending("data")
        var daemon = try DaemonProcess(socketPath: socket, dataDirectory: data)
        var client = try RPCClient(socketPath: socket)
        var target: Int64 = 0
        for index in 1...6 {
            let marker = index == 4 ? "tamper-target-4711" : "plain-\(index)"
            let result = try await client.result(
                "customer.create",
                ["first_name": .string("Person \(index)"), "correlation_id": .string(marker)]
            )
            if index == 4 { target = try #require(result["position"]?.intValue) }
        }
        #expect(try await client.result("audit.verify")["ok"] == true)
        #expect(daemon.stop() == 0)

        // The correlation id is stored only inside the event record: change one of its bytes. LMDB
        // copies pages on write, so stale copies may remain on free pages; change every copy.
        let file = data + "/data.mdb"
        var bytes = try #require(FileManager.default.contents(atPath: file))
        let needle = Data("tamper-target-4711".utf8)
        var searchFrom = bytes.startIndex
        var changed = 0
        while let range = bytes.range(of: needle, in: searchFrom..<bytes.endIndex) {
            bytes[range.lowerBound] = UInt8(ascii: "T")
            searchFrom = range.upperBound
            changed += 1
        }
        #expect(changed >= 1)
        try bytes.write(to: URL(fileURLWithPath: file))

        daemon = try DaemonProcess(socketPath: socket, dataDirectory: data)
        client = try RPCClient(socketPath: socket)
        let verify = try await client.result("audit.verify")
        #expect(verify["ok"] == false)
        #expect(verify["broken_at"] == .int(target))
        #expect(verify["checked"] == .int(target - 1))
        #expect(verify["expected_hash"] != verify["found_hash"])
        // crmctl says the same and exits with status 3.
        let (status, output) = try ExportImportTests.runTool("crmctl", ["--json", "audit", "verify", "--socket", socket])
        #expect(status == 3)
        #expect(try JSON.parse(output.split(separator: "\n")[0].description)["broken_at"] == .int(target))
        #expect(daemon.stop() == 0)
    }
}

/// `crmctl export` → `crmd import` into a fresh directory → the same head hash and answers (profiles
/// with their value blocks, funnel, SLA and RFM reports).
@Suite struct ExportImportTests {
    /// The products directory holding crmd and crmctl.
    static var productsDirectory: URL { URL(fileURLWithPath: DaemonProcess.executablePath).deletingLastPathComponent() }

    static func runTool(_ name: String, _ arguments: [String], stdout: FileHandle? = nil) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = ExportImportTests.productsDirectory.appendingPathComponent(name)
        process.arguments = arguments
        let errors = Pipe()
        process.standardError = errors
        let output = Pipe()
        process.standardOutput = stdout ?? output
        try process.run()
        let text = stdout == nil ? String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) : ""
        let errorText = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, text + errorText)
    }

    @Test func exportedLogImportsWithTheSameHeadHashAndAnswers() async throws {
        let directory = TemporaryDirectory()
        let socket = directory.appending("a.sock")
        let original = try DaemonProcess(socketPath: socket, dataDirectory: directory.appending("a"))
        let client = try RPCClient(socketPath: socket)
        var ids: [String] = []
        for index in 0..<30 {
            let id = try await client.createCustomer([
                "first_name": .string("P\(index)"), "emails": [["address": .string("p\(index)@example.com")]],
                "tags": index % 3 == 0 ? ["vip"] : [],
            ])
            ids.append(id)
            if index % 4 == 0 {
                _ = try await client.result("customer.update", ["customer_id": .string(id), "set": ["job_title": "CTO"]])
            }
        }
        // A deal through the seeded pipeline and a ticket under an SLA policy, so the funnel and SLA
        // read models have something to compare.
        _ = try await client.result(
            "deal.create",
            ["deal_id": "d1", "pipeline_id": "sales", "name": "Renewal", "customer_ids": [.string(ids[0])],
             "amount": "1200", "currency": "EUR"]
        )
        _ = try await client.result("deal.move", ["deal_id": "d1", "stage_id": "won"])
        _ = try await client.result(
            "schedule.define",
            ["schedule_id": "eu", "name": "EU", "timezone": "Europe/Berlin",
             "hours": ["mon": [["09:00", "17:00"]], "tue": [["09:00", "17:00"]], "wed": [["09:00", "17:00"]],
                       "thu": [["09:00", "17:00"]], "fri": [["09:00", "17:00"]]]]
        )
        _ = try await client.result(
            "sla_policy.define",
            ["policy_id": "std", "name": "Standard", "position": 0, "schedule_id": "eu",
             "targets": [["metric": "first_reply_time", "priority": "normal", "minutes": 60, "business_hours": true]]]
        )
        _ = try await client.result(
            "ticket.open",
            ["ticket_id": "t1", "customer_id": .string(ids[1]), "subject": "Help", "channel": "email"]
        )
        _ = try await client.result(
            "ticket.reply",
            ["ticket_id": "t1", "author": "agent", "public": true, "body": "On it"]
        )
        // Orders, a churn mark, value settings and an RFM snapshot, for the value read model.
        for (index, id) in ids.prefix(6).enumerated() {
            for order in 0...index % 3 {
                _ = try await client.result(
                    "order.record",
                    [
                        "order_id": .string("o\(index)-\(order)"), "customer_id": .string(id),
                        "amount": .string("\(10 * (index + 1)).50"), "currency": "EUR",
                        "ordered_at": .string("2025-0\(order + 1)-1\(index)T10:00:00Z"),
                    ])
            }
        }
        _ = try await client.result(
            "customer.mark_churned", ["customer_id": .string(ids[2]), "effective_date": "2025-05-01"])
        _ = try await client.result("value.configure", ["reporting_currency": "EUR", "churn_after_days": 120])
        _ = try await client.result("rfm.snapshot", ["as_of_date": "2025-06-30"])
        let rfmParams: JSON = ["as_of_date": "2025-06-30"]
        let rfm = try await client.result("rfm.report", rfmParams)
        let funnelParams: JSON = ["pipeline_id": "sales", "to": "2100-01-01T00:00:00Z"]
        // SLA times may lie at most 366 days ahead (docs/protocol/service.md).
        let slaTo = ISO8601DateFormatter().string(from: Date().addingTimeInterval(300 * 86_400))
        let slaParams: JSON = ["from": "2000-01-01T00:00:00Z", "to": .string(slaTo)]
        let funnel = try await client.result("funnel.report", funnelParams)
        let sla = try await client.result("sla.report", slaParams)
        let exportFile = directory.appending("log.ndjson")
        let (exportStatus, exportOutput) = try ExportImportTests.runTool(
            "crmctl",
            ["export", "--socket", socket, "--output", exportFile, "--page-size", "7"]
        )
        #expect(exportStatus == 0, "\(exportOutput)")
        let before = try await client.result("system.stats")
        var profiles: [JSON] = []
        for id in ids { profiles.append(try await client.result("customer.get", ["customer_id": .string(id)])) }
        #expect(profiles[0]["value"]?["rfm"]?["snapshot_id"] == "rfm-20250630")
        let vip = try await client.result("customer.find", ["tag": "vip"])
        #expect(original.stop() == 0)

        let (importStatus, importOutput) = try ExportImportTests.runTool(
            "crmd",
            ["import", exportFile, "--data-dir", directory.appending("b")]
        )
        #expect(importStatus == 0, "\(importOutput)")
        #expect(importOutput.contains("its personal data is encrypted"))
        // The imported log's personal data opens with the source's key store and key-encryption key.
        try KeyFiles.copy(fromDataDirectory: directory.appending("a"), toDataDirectory: directory.appending("b"))
        let copySocket = directory.appending("b.sock")
        let copy = try DaemonProcess(socketPath: copySocket, dataDirectory: directory.appending("b"))
        let copyClient = try RPCClient(socketPath: copySocket)
        let after = try await copyClient.result("system.stats")
        #expect(after["head"] == before["head"])
        #expect(after["event_count"] == before["event_count"])
        for (id, profile) in zip(ids, profiles) {
            #expect(try await copyClient.result("customer.get", ["customer_id": .string(id)]) == profile)
        }
        #expect(try await copyClient.result("customer.find", ["tag": "vip"]) == vip)
        #expect(try await copyClient.result("funnel.report", funnelParams) == funnel)
        #expect(try await copyClient.result("sla.report", slaParams) == sla)
        #expect(try await copyClient.result("rfm.report", rfmParams) == rfm)
        #expect(try await copyClient.result("audit.verify")["ok"] == true)
        #expect(copy.stop() == 0)

        // A second import into the now non-empty directory is refused; so is an altered export.
        let (again, againOutput) = try ExportImportTests.runTool(
            "crmd",
            ["import", exportFile, "--data-dir", directory.appending("b")]
        )
        #expect(again == 1)
        #expect(againOutput.contains("already holds events"))
        var text = try String(contentsOfFile: exportFile, encoding: .utf8)
        text = text.replacingOccurrences(of: #""tags":["vip"]"#, with: #""tags":["vap"]"#)
        try text.write(toFile: exportFile, atomically: true, encoding: .utf8)
        let (altered, alteredOutput) = try ExportImportTests.runTool(
            "crmd",
            ["import", exportFile, "--data-dir", directory.appending("c")]
        )
        #expect(altered == 1)
        #expect(alteredOutput.contains("does not match its hash"))
    }
}
