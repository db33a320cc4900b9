import CRMJSON
import CRMProtocol
import CRMTesting
import Foundation
import Testing

/// `write_map`: LMDB writes pages through its map, with the data file allocated on disk up to the map
/// size. The log it writes is the same LMDB file (either setting opens the other's), a truncated file
/// is still refused, and a full disk shows as a refusal at start or `storage_full` when the map must
/// grow, never as a crash.
@Suite struct WriteMapTests {
    static let writeMap = ["CRMD_WRITE_MAP": "true", "CRMD_MAP_SIZE_MB": "1"]

    /// Bytes of `path` allocated on disk.
    static func allocatedBytes(_ path: String) -> Int {
        var info = stat()
        guard stat(path, &info) == 0 else { return 0 }
        return Int(info.st_blocks) * 512
    }

    /// Logs `count` activities of a 16 KB body on `customer`, named `prefix1`…; returns the first
    /// error reply, if any.
    static func logActivities(
        _ client: RPCClient,
        customer: String,
        count: Int,
        prefix: String
    ) async throws -> RPCError? {
        let body = JSON.string(String(repeating: "x", count: 16_000))
        for index in 1...count {
            let reply = try await client.call(
                "activity.log",
                [
                    "type": "note", "customer_ids": [.string(customer)], "body": body,
                    "activity_id": .string("\(prefix)\(index)"),
                ]
            )
            if let error = reply["error"] { return RPCError(json: error) }
        }
        return nil
    }

    @Test func theMapGrowsAllocatedAndEitherSettingOpensTheOthersLog() async throws {
        let directory = TemporaryDirectory()
        let data = directory.appending("data")
        let socket = directory.appending("crmd.sock")
        var daemon = try DaemonProcess(socketPath: socket, dataDirectory: data, environment: Self.writeMap)
        var client = try RPCClient(socketPath: socket)
        let customer = try await client.createCustomer(["first_name": "Ada"])
        // About 2.4 MB of activities: the 1 MiB map doubles twice on the way.
        #expect(try await Self.logActivities(client, customer: customer, count: 150, prefix: "a") == nil)
        let stats = try await client.result("system.stats")
        let mapSize = try #require(stats["map_size_bytes"]?.intValue)
        #expect(mapSize >= 4 << 20)
        #expect(Self.allocatedBytes(data + "/data.mdb") >= mapSize)
        let head = stats["head"]
        #expect(daemon.stop() == 0)

        // The same log opens without write_map, verifies and takes more commands...
        daemon = try DaemonProcess(socketPath: socket, dataDirectory: data)
        client = try RPCClient(socketPath: socket)
        #expect(try await client.result("system.stats")["head"] == head)
        #expect(try await client.result("audit.verify")["ok"] == true)
        #expect(try await Self.logActivities(client, customer: customer, count: 5, prefix: "b") == nil)
        let plainHead = try await client.result("system.stats")["head"]
        #expect(daemon.stop() == 0)

        // ...and again with it.
        daemon = try DaemonProcess(socketPath: socket, dataDirectory: data, environment: Self.writeMap)
        client = try RPCClient(socketPath: socket)
        #expect(try await client.result("system.stats")["head"] == plainHead)
        #expect(try await client.result("audit.verify")["ok"] == true)
        let timeline = try await client.result("customer.timeline", ["customer_id": .string(customer), "limit": 200])
        // The 155 activities and the customer's creation.
        #expect(timeline["entries"]?.arrayValue?.count == 156)
        #expect(daemon.stop() == 0)
    }

    @Test func aTruncatedDataFileIsRefusedAlsoWithWriteMap() async throws {
        let directory = TemporaryDirectory()
        let data = directory.appending("data")
        let socket = directory.appending("crmd.sock")
        let daemon = try DaemonProcess(socketPath: socket, dataDirectory: data)
        let client = try RPCClient(socketPath: socket)
        let customer = try await client.createCustomer(["first_name": "Ada"])
        #expect(try await Self.logActivities(client, customer: customer, count: 40, prefix: "a") == nil)
        #expect(daemon.stop() == 0)
        let file = data + "/data.mdb"
        let size = try #require(try FileManager.default.attributesOfItem(atPath: file)[.size] as? Int)
        #expect(truncate(file, off_t(size / 2 / 4096 * 4096)) == 0)
        // Opened through the map, LMDB would extend the file with zeros first.
        let message = try DataSafetyTests.refusal(directory, data, environment: Self.writeMap)
        #expect(message.contains("\(file) is truncated"), "\(message)")
        #expect(try FileManager.default.attributesOfItem(atPath: file)[.size] as? Int == size / 2 / 4096 * 4096)
    }

    @Test(.enabled(if: DiskFullTests.canMount, "mounting a tmpfs is not permitted here; the disk-full test is skipped"))
    func aFullDiskRefusesTheStartOrAnswersStorageFullWhenTheMapMustGrow() async throws {
        let directory = TemporaryDirectory()
        let mount = try DiskFullTests.mountTmpfs(in: directory, size: "768k")
        defer { DiskFullTests.run("/bin/umount", ["-l", mount]) }
        let socket = directory.appending("crmd.sock")

        // No room for the 1 MiB map: a clear refusal at start.
        let message = try DataSafetyTests.refusal(directory, mount + "/data", environment: Self.writeMap)
        #expect(message.contains("cannot allocate the data file"), "\(message)")
        #expect(message.contains("disk is full"), "\(message)")

        // Room for the map, not for its growth: storage_full, reads work, and writes resume with room.
        #expect(DiskFullTests.run("/bin/mount", ["-o", "remount,size=2m", mount]) == 0)
        let daemon = try DaemonProcess(socketPath: socket, dataDirectory: mount + "/data", environment: Self.writeMap)
        let client = try RPCClient(socketPath: socket)
        let customer = try await client.createCustomer(["first_name": "Ada"])
        let error = try #require(
            try await Self.logActivities(client, customer: customer, count: 200, prefix: "a"),
            "the map never had to grow"
        )
        #expect(error.reason == "storage_full")
        try await DiskFullTests.readsWorkAndWritesResumeWithRoom(client, customer: customer, mount: mount)
        #expect(daemon.stop() == 0)
    }
}
