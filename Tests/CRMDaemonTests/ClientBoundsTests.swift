import CRMJSON
import CRMProtocol
import CRMTesting
import Foundation
import Testing

/// How much work and memory one client can make the real crmd spend (issue 13, items 6–8).
@Suite struct ClientBoundsTests {
    /// `count` `system.ping` requests in one batch line.
    static func pingBatch(_ count: Int) -> String {
        "[" + (1...count).map { #"{"jsonrpc":"2.0","id":\#($0),"method":"system.ping"}"# }.joined(separator: ",") + "]"
    }

    /// The resident set size of process `pid`, in bytes (`VmRSS` of `/proc/<pid>/status`).
    static func residentBytes(of pid: Int32) throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") })
        let kilobytes = try #require(Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]))
        return kilobytes * 1024
    }

    @Test func aBatchLongerThanTheLimitIsRefusedWholeAndTheConnectionStaysUsable() async throws {
        let directory = TemporaryDirectory()
        let daemon = try DaemonProcess(socketPath: directory.appending("crmd.sock"), dataDirectory: directory.appending("data"))
        defer { daemon.stop() }
        let client = try RPCClient(socketPath: daemon.socketPath)
        let before = try await Snapshot.take(client)

        let creates = (1...1001).map {
            #"{"jsonrpc":"2.0","id":\#($0),"method":"customer.create","params":{"first_name":"C\#($0)"}}"#
        }
        try await client.sendRaw("[" + creates.joined(separator: ",") + "]")
        let reply = try #require(try await client.readJSON())
        #expect(reply["id"] == .null)
        let error = try #require(reply["error"].flatMap(RPCError.init(json:)))
        #expect(error.code == RPCErrorCode.invalidRequest)
        #expect(error.reason == "bad_request")
        #expect(error.field == nil)
        #expect(error.data?["details"]?["limit"] == 1000)
        #expect(error.data?["details"]?["length"] == 1001)
        #expect(error.message.contains("exceeds the limit of 1000"))
        #expect(try await Snapshot.take(client) == before)

        // A batch at the limit is served, on the same connection.
        try await client.sendRaw(Self.pingBatch(1000))
        let replies = try #require(try await client.readJSON()?.arrayValue)
        #expect(replies.count == 1000)
        #expect(replies.allSatisfy { $0["result"]?["pong"] == true })
    }

    @Test func theBatchLimitIsAConfigKey() async throws {
        let directory = TemporaryDirectory()
        let config = directory.appending("crmd.json")
        try Data(#"{"max_batch_requests": 3}"#.utf8).write(to: URL(fileURLWithPath: config))
        let daemon = try DaemonProcess(
            socketPath: directory.appending("crmd.sock"),
            dataDirectory: directory.appending("data"),
            extraArguments: ["--config", config]
        )
        defer { daemon.stop() }
        let client = try RPCClient(socketPath: daemon.socketPath)
        try await client.sendRaw(Self.pingBatch(4))
        let error = try #require(try await client.readJSON()?["error"].flatMap(RPCError.init(json:)))
        #expect(error.reason == "bad_request")
        #expect(error.data?["details"]?["limit"] == 3)
        try await client.sendRaw(Self.pingBatch(3))
        #expect(try await client.readJSON()?.arrayValue?.count == 3)
    }

    /// Clients that pipeline queries with big replies and never read them: crmd stops producing and
    /// reading for them once `max_unsent_reply_bytes` wait, so its memory stays bounded (before, each
    /// such connection held all 64 in-flight replies), and other clients are still served.
    @Test func clientsThatDoNotReadTheirRepliesCannotGrowCrmdsMemory() async throws {
        let directory = TemporaryDirectory()
        let daemon = try DaemonProcess(socketPath: directory.appending("crmd.sock"), dataDirectory: directory.appending("data"))
        defer { daemon.stop() }
        let probe = try RPCClient(socketPath: daemon.socketPath)
        // 1,000 events, so that one `events.read {limit: 1000}` reply is several hundred KB.
        let creates = (1...1000).map {
            #"{"jsonrpc":"2.0","id":\#($0),"method":"customer.create","params":{"#
                + #""first_name":"Customer number \#($0) with a longish first name","#
                + #""last_name":"and an even longer last name to make the event bigger \#($0)"}}"#
        }
        try await probe.sendRaw("[" + creates.joined(separator: ",") + "]")
        #expect(try await probe.readJSON()?.arrayValue?.count == 1000)
        let page = try await probe.result("events.read", ["from": 1, "limit": 1000])
        let replyBytes = page.serialized().count
        #expect(replyBytes > 300_000)

        let pid = daemon.process.processIdentifier
        let baseline = try Self.residentBytes(of: pid)
        let request = #"{"jsonrpc":"2.0","id":1,"method":"events.read","params":{"from":1,"limit":1000}}"#
        let pipelined = Array(repeating: request, count: 64).joined(separator: "\n")
        var hogs: [RPCClient] = []
        for _ in 0..<6 {
            let hog = try RPCClient(socketPath: daemon.socketPath)
            try await hog.sendRaw(pipelined)
            hogs.append(hog)
        }
        // The probe's query is queued behind whatever the hogs' queries made runnable; its reply
        // also proves that crmd still serves other clients.
        for _ in 0..<3 {
            #expect(try await probe.result("events.read", ["from": 1, "limit": 1000])["events"]?.arrayValue?.count == 1000)
        }
        let grown = try Self.residentBytes(of: pid) - baseline
        // Unbounded, 6 × 64 replies would be held (well over 100 MB); bounded, about 4 MiB plus a
        // few replies per connection.
        let bound = 6 * ((4 << 20) + 16 * replyBytes)
        #expect(grown < bound, "crmd grew by \(grown) bytes with 6 non-reading clients (bound \(bound))")

        // A hog that starts reading gets all 64 replies.
        let reader = hogs.removeFirst()
        let lines = try await onOwnThread {
            try (0..<64).map { _ in try reader.connection.readLine()?.count ?? 0 }
        }
        #expect(lines.allSatisfy { $0 > replyBytes / 2 })
        hogs.removeAll()
        #expect(try await probe.result("system.ping")["pong"] == true)
    }
}
