import CRMTesting
import Foundation
import Testing

/// Operators find crmd's own threads by name (`top -H -p PID`, `ps -L`, `perf`): the writer, which
/// sets the write rate, and the SLA scheduler's reader.
@Suite struct ThreadNameTests {
    @Test func crmdsThreadsCarryTheirNames() throws {
        let directory = TemporaryDirectory()
        let daemon = try DaemonProcess(
            socketPath: directory.appending("crmd.sock"), dataDirectory: directory.appending("data")
        )
        let tasks = "/proc/\(daemon.process.processIdentifier)/task"
        let names = Set(
            try FileManager.default.contentsOfDirectory(atPath: tasks).compactMap { task in
                try? String(contentsOfFile: "\(tasks)/\(task)/comm", encoding: .utf8)
                    .trimmingCharacters(in: .whitespacesAndNewlines)
            }
        )
        #expect(names.contains("crmd-writer"), "threads: \(names.sorted())")
        #expect(names.contains("crmd-sla"), "threads: \(names.sorted())")
        #expect(daemon.stop() == 0)
    }
}
