import CRMJSON
import CRMProtocol
import CRMTesting
import Foundation
import Testing

/// A full disk under the data directory: commands answer `storage_full`, reads keep working, and
/// writes resume once there is room again. Needs a small tmpfs, so it runs only where this process
/// may mount one (as root, outside a restricted container).
@Suite struct DiskFullTests {
    /// Whether `mount -t tmpfs` works here.
    static let canMount: Bool = {
        let directory = TemporaryDirectory(prefix: "crmd-mount-probe")
        guard DiskFullTests.run("/bin/mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", directory.path]) == 0 else {
            return false
        }
        return DiskFullTests.run("/bin/umount", [directory.path]) == 0
    }()

    @discardableResult
    static func run(_ tool: String, _ arguments: [String]) -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return -1 }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// A tmpfs of `size` (`768k`, say) mounted at `<directory>/disk`; its path. Unmount it with
    /// `umount -l` when done.
    static func mountTmpfs(in directory: TemporaryDirectory, size: String) throws -> String {
        let mount = directory.appending("disk")
        try FileManager.default.createDirectory(atPath: mount, withIntermediateDirectories: false)
        #expect(DiskFullTests.run("/bin/mount", ["-t", "tmpfs", "-o", "size=\(size)", "tmpfs", mount]) == 0)
        return mount
    }

    @Test(.enabled(if: DiskFullTests.canMount, "mounting a tmpfs is not permitted here; the disk-full test is skipped"))
    func commandsAnswerStorageFullReadsWorkAndWritesResume() async throws {
        let directory = TemporaryDirectory()
        let mount = try DiskFullTests.mountTmpfs(in: directory, size: "768k")
        defer { DiskFullTests.run("/bin/umount", ["-l", mount]) }
        let socket = directory.appending("crmd.sock")
        let daemon = try DaemonProcess(socketPath: socket, dataDirectory: mount + "/data")
        let client = try RPCClient(socketPath: socket)
        let customer = try await client.createCustomer(["first_name": "Ada"])
        let body = JSON.string(String(repeating: "x", count: 16_000))

        var full: RPCError?
        for index in 1...200 {
            let reply = try await client.call(
                "activity.log",
                ["type": "note", "customer_ids": [.string(customer)], "body": body, "activity_id": .string("a\(index)")]
            )
            if let error = reply["error"], let rpcError = RPCError(json: error) {
                full = rpcError
                break
            }
        }
        let error = try #require(full, "the tmpfs never filled up")
        #expect(error.reason == "storage_full")
        #expect(error.code == -32036)
        #expect(error.message.contains("full"))

        try await DiskFullTests.readsWorkAndWritesResumeWithRoom(client, customer: customer, mount: mount)
        #expect(daemon.stop() == 0)
    }

    /// After a command answered `storage_full` on the tmpfs at `mount`: reads keep working and nothing
    /// half-written shows; with room again, the next command goes through at the next position.
    static func readsWorkAndWritesResumeWithRoom(_ client: RPCClient, customer: String, mount: String) async throws {
        let before = try await Snapshot.take(client, customer: customer)
        #expect(try await client.result("audit.verify")["ok"] == true)
        #expect(DiskFullTests.run("/bin/mount", ["-o", "remount,size=64m", mount]) == 0)
        let after = try await client.result(
            "activity.log",
            ["type": "note", "customer_ids": [.string(customer)], "body": "fits now", "activity_id": "after"]
        )
        #expect(after["position"]?.intValue == (before.head?["position"]?.intValue).map { $0 + 1 })
    }
}
