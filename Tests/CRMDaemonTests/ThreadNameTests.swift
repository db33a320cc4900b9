import CRMTesting
import Foundation
import Testing

/// Operators find crmd's own threads by name (`top -H -p PID`, `ps -L`, `perf`): the writer, which
/// sets the write rate, and the SLA scheduler's reader.
@Suite struct ThreadNameTests {
    /// The names of the threads of process `pid`.
    func threadNames(_ pid: Int32) throws -> Set<String> {
        let tasks = "/proc/\(pid)/task"
        return Set(
            try FileManager.default.contentsOfDirectory(atPath: tasks).compactMap { task in
                try? String(contentsOfFile: "\(tasks)/\(task)/comm", encoding: .utf8)
                    .trimmingCharacters(in: .whitespacesAndNewlines)
            }
        )
    }

    @Test(.timeLimit(.minutes(1))) func crmdsThreadsCarryTheirNames() throws {
        let directory = TemporaryDirectory()
        let daemon = try DaemonProcess(
            socketPath: directory.appending("crmd.sock"), dataDirectory: directory.appending("data")
        )
        let client = try RPCClient(socketPath: daemon.socketPath)
        // The writer starts before the socket answers; the SLA scheduler is a service of its own, started
        // beside the socket's, so its thread may come a moment later: each ping's round trip gives it one.
        var names = try self.threadNames(daemon.process.processIdentifier)
        var pings = 0
        while !names.isSuperset(of: ["crmd-writer", "crmd-sla"]), pings < 100_000 {
            _ = try client.callNow("system.ping")
            pings += 1
            names = try self.threadNames(daemon.process.processIdentifier)
        }
        #expect(names.contains("crmd-writer"), "threads: \(names.sorted())")
        #expect(names.contains("crmd-sla"), "threads after \(pings) pings: \(names.sorted())")
        #expect(daemon.stop() == 0)
    }
}
