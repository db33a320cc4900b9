import CRMJSON
import CRMProtocol
import CRMTesting
import Foundation
import LMDB
import Synchronization
import Testing

/// The real `crmd` process, killed with SIGKILL under load and restarted on the same data directory.
@Suite struct DurabilityTests {
    @Test func everyAcknowledgedCommandSurvivesKill9() async throws {
        let directory = TemporaryDirectory()
        let socket = directory.appending("crmd.sock")
        let data = directory.appending("data")
        let daemon = try DaemonProcess(socketPath: socket, dataDirectory: data)

        let acknowledged = Mutex<[String: String]>([:])  // command_id → customer_id
        let acknowledgedCount = Atomic<Int>(0)
        let killAfter = 150
        let writers = 6
        let done = DispatchGroup()
        let reachedKillPoint = DispatchSemaphore(value: 0)
        for writer in 0..<writers {
            done.enter()
            let thread = Thread {
                defer { done.leave() }
                guard let client = try? RPCClient(socketPath: socket) else { return }
                for index in 0..<10_000 {
                    let commandID = "w\(writer)-\(index)"
                    let params: JSON = [
                        "customer_id": .string("cust-\(writer)-\(index)"), "first_name": "Load",
                        "emails": [["address": .string("w\(writer)-\(index)@example.com")]],
                        "command_id": .string(commandID),
                    ]
                    guard let response = try? client.callNow("customer.create", params),
                        let id = response["result"]?["customer_id"]?.stringValue
                    else { return }
                    acknowledged.withLock { $0[commandID] = id }
                    if acknowledgedCount.add(1, ordering: .relaxed).newValue == killAfter { reachedKillPoint.signal() }
                }
            }
            thread.start()
        }
        // Kill once enough commands were acknowledged, while the writers keep sending.
        // (If every writer stopped early, the group's notification releases the wait instead.)
        done.notify(queue: .global()) { reachedKillPoint.signal() }
        try await onOwnThread { reachedKillPoint.wait() }
        daemon.stop(signal: SIGKILL)
        await withCheckedContinuation { continuation in
            done.notify(queue: .global()) { continuation.resume() }
        }
        let acked = acknowledged.withLock { $0 }
        #expect(acked.count >= killAfter)

        let restarted = try DaemonProcess(socketPath: socket, dataDirectory: data)
        let client = try RPCClient(socketPath: socket)
        // Every acknowledged command is in the log and in the profiles.
        for (commandID, id) in acked {
            let profile = try await client.call("customer.get", ["customer_id": .string(id)])
            #expect(profile["result"]?["customer_id"] == .string(id), "acknowledged \(commandID) lost")
        }
        // Nothing is half-applied: every event in the log has its profile, and counts agree.
        var from: Int64 = 1
        var created = 0
        while true {
            let page = try await client.result("events.read", ["from": .int(from), "limit": 1000])
            for event in page["events"]?.arrayValue ?? [] {
                created += 1
                // The first start also seeded the default pipeline (PipelineDefined).
                guard event["type"] == "CustomerCreated" else { continue }
                let id = try #require(event["data"]?["customer_id"])
                let profile = try await client.call("customer.get", ["customer_id": id])
                #expect(profile["result"] != nil)
            }
            guard let next = page["next_from"]?.intValue else { break }
            from = next
        }
        #expect(created >= acked.count)
        let verify = try await client.result("audit.verify")
        #expect(verify["ok"] == true)
        #expect(verify["checked"] == .int(Int64(created)))
        let stats = try await client.result("system.stats")
        #expect(stats["projections"]?[1]?["lag"] == 0)
        // A retried command that was acknowledged gets its original reply and writes nothing.
        if let (commandID, id) = acked.first {
            let parts = commandID.dropFirst().split(separator: "-")
            let retry = try await client.result(
                "customer.create",
                [
                    "customer_id": .string(id), "first_name": "Load",
                    "emails": [["address": .string("w\(parts[0])-\(parts[1])@example.com")]],
                    "command_id": .string(commandID),
                ]
            )
            #expect(retry["customer_id"] == .string(id))
            #expect(try await client.result("system.stats")["event_count"] == .int(Int64(created)))
        }
        #expect(restarted.stop() == 0)
    }

    /// A batch that appends nothing — commands rejected, or changing nothing — writes no page, so its
    /// commit costs no fsync: the environment's last transaction id stays where it was.
    @Test func aBatchThatChangesNothingCommitsNothing() async throws {
        let directory = TemporaryDirectory()
        let socket = directory.appending("crmd.sock")
        let data = directory.appending("data")
        // No signed checkpoint falls due during the test (it would be a commit of its own).
        let daemon = try DaemonProcess(
            socketPath: socket, dataDirectory: data, environment: ["CRMD_CHECKPOINT_EVERY_SECONDS": "3600"]
        )
        let client = try RPCClient(socketPath: socket)
        _ = try await client.result("customer.create", ["customer_id": "c1", "first_name": "Ada", "tags": ["vip"]])
        let environment = try Environment(path: data)
        let before = environment.lastTransactionID
        let again = try await client.error("customer.create", ["customer_id": "c1", "first_name": "A"])
        #expect(again.reason == "already_exists")
        #expect(try await client.result("customer.tag", ["customer_id": "c1", "add": ["vip"]])["events"] == [])
        #expect(try await client.error("customer.tag", ["customer_id": "nobody", "add": ["x"]]).reason == "not_found")
        #expect(environment.lastTransactionID == before, "nothing was committed")
        _ = try await client.result("customer.tag", ["customer_id": "c1", "add": ["gold"]])
        #expect(environment.lastTransactionID > before, "an appended event is")
        #expect(daemon.stop() == 0)
    }

    @Test func secondDaemonOnTheSameDataDirectoryRefusesToStart() throws {
        let directory = TemporaryDirectory()
        let data = directory.appending("data")
        let first = try DaemonProcess(socketPath: directory.appending("a.sock"), dataDirectory: data)
        let error = try #require(throws: DaemonProcessError.self) {
            _ = try DaemonProcess(socketPath: directory.appending("b.sock"), dataDirectory: data)
        }
        #expect(error.message.contains("in use by another crmd"))
        #expect(first.stop() == 0)
        #expect(!FileManager.default.fileExists(atPath: directory.appending("a.sock")))
    }
}
