import CRMJSON
import CRMProtocol
import Foundation

/// A `crmd` child process on a temporary data directory and socket, started with the default
/// (durable) configuration.
final class BenchDaemon {
    /// The crmd the next ``start()`` runs.
    var executable: String
    let socketPath: String
    let dataDirectory: String
    /// crmd's stderr goes to this file (a pipe nobody drains could block the daemon).
    let logPath: String
    /// Arguments added after the socket, data directory and log level (e.g. `--config FILE`).
    var extraArguments: [String] = []
    /// Environment variables set for crmd on top of crm-bench's own (e.g. `CRMD_ENCRYPT_PII`).
    var environment: [String: String] = [:]
    private(set) var process: Process?

    /// The `crmd` beside this `crm-bench` executable (the same build's products directory).
    static func defaultExecutable() -> String {
        let me = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        return me.deletingLastPathComponent().appendingPathComponent("crmd").path
    }

    init(executable: String, workDirectory: String) {
        self.executable = executable
        self.socketPath = workDirectory + "/crmd.sock"
        self.dataDirectory = workDirectory + "/data"
        self.logPath = workDirectory + "/crmd.log"
    }

    /// Starts crmd and returns once it printed its `crmd ready socket=...` line; returns the
    /// seconds from spawning to that line (which includes any projection catch-up).
    @discardableResult
    func start() throws -> Double {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: self.executable)
        process.arguments = ["--socket", self.socketPath, "--data-dir", self.dataDirectory, "--log-level", "warning"]
            + self.extraArguments
        if !self.environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(self.environment) { $1 }
        }
        let output = Pipe()
        if !FileManager.default.fileExists(atPath: self.logPath) {
            _ = FileManager.default.createFile(atPath: self.logPath, contents: nil)
        }
        guard let log = FileHandle(forWritingAtPath: self.logPath) else {
            throw BenchError("cannot write \(self.logPath)")
        }
        defer { try? log.close() }
        log.seekToEndOfFile()
        process.standardOutput = output
        process.standardError = log
        let spawnedAt = LoadRunner.now()
        try process.run()
        let handle = output.fileHandleForReading
        var buffer: [UInt8] = []
        while !buffer.contains(UInt8(ascii: "\n")) {
            let chunk = handle.availableData
            if chunk.isEmpty {
                process.waitUntilExit()
                let message = (try? String(contentsOfFile: self.logPath, encoding: .utf8)) ?? ""
                throw BenchError("crmd exited with \(process.terminationStatus) before it was ready: \(message)")
            }
            buffer.append(contentsOf: chunk)
        }
        let seconds = Double(LoadRunner.now() - spawnedAt) / 1e9
        guard String(decoding: buffer, as: UTF8.self).hasPrefix("crmd ready socket=") else {
            process.terminate()
            throw BenchError("unexpected first line from crmd: \(String(decoding: buffer, as: UTF8.self))")
        }
        self.process = process
        return seconds
    }

    /// Stops crmd with SIGTERM and waits for it to exit.
    func stop() {
        guard let process = self.process else { return }
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        self.process = nil
    }

    /// Resident set size of crmd in bytes (`VmRSS` in `/proc/<pid>/status`), or 0 when unknown.
    /// It counts the pages of LMDB's memory map that crmd has touched (clean, file-backed).
    func residentBytes() -> Int { self.statusBytes("VmRSS") }

    /// crmd's anonymous resident memory in bytes (`RssAnon` in `/proc/<pid>/status`: heap, stacks,
    /// LMDB's dirty-page buffers; not the memory map), or 0 when unknown.
    func anonymousBytes() -> Int { self.statusBytes("RssAnon") }

    private func statusBytes(_ name: String) -> Int {
        guard let process = self.process,
            let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)
        else { return 0 }
        return (ProcFile.value(status, name) ?? 0) * 1024
    }

    /// What crmd has written so far (`/proc/<pid>/io`), or zeros when unknown.
    func ioCounters() -> IOCounters {
        guard let process = self.process,
            let io = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/io", encoding: .utf8)
        else { return IOCounters(writeBytes: 0, wchar: 0) }
        return IOCounters(
            writeBytes: ProcFile.value(io, "write_bytes") ?? 0,
            wchar: ProcFile.value(io, "wchar") ?? 0
        )
    }

    /// CPU time crmd has used so far (user + system, all threads), in seconds, or 0 when unknown.
    /// Divided by the requests of a phase, it gives crmd's CPU cost per request, a figure that
    /// stays meaningful when other work shares the cores.
    func cpuSeconds() -> Double {
        guard let process = self.process else { return 0 }
        return Self.cpuSeconds(stat: "/proc/\(process.processIdentifier)/stat")
    }

    /// CPU time so far of crmd's thread named `thread` (`crmd-writer`: the thread that runs every
    /// command and sets the write rate), in seconds, or 0 when there is no such thread.
    func cpuSeconds(thread: String) -> Double {
        guard let process = self.process else { return 0 }
        let tasks = "/proc/\(process.processIdentifier)/task"
        for task in (try? FileManager.default.contentsOfDirectory(atPath: tasks)) ?? [] {
            let comm = try? String(contentsOfFile: "\(tasks)/\(task)/comm", encoding: .utf8)
            if comm?.trimmingCharacters(in: .whitespacesAndNewlines) == thread {
                // `schedstat` counts nanoseconds on the CPU; `stat` counts clock ticks (10 ms), too coarse
                // for a short phase's few commands.
                let schedstat = try? String(contentsOfFile: "\(tasks)/\(task)/schedstat", encoding: .utf8)
                if let field = schedstat?.split(separator: " ").first, let nanoseconds = Double(field) {
                    return nanoseconds / 1e9
                }
                return Self.cpuSeconds(stat: "\(tasks)/\(task)/stat")
            }
        }
        return 0
    }

    /// User + system time in seconds from a `/proc` `stat` file (of a process or of one thread).
    private static func cpuSeconds(stat path: String) -> Double {
        guard let stat = try? String(contentsOfFile: path, encoding: .utf8), let close = stat.lastIndex(of: ")")
        else { return 0 }
        // Fields after the command name: state is field 3; utime and stime are fields 14 and 15.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// Calls one method on a fresh connection and returns its result (throws on an error reply).
    func call(_ method: String, _ params: JSON? = nil) throws -> JSON {
        let client = try UnixSocketClient(path: self.socketPath, timeout: .seconds(120))
        defer { client.close() }
        var request: JSON = ["jsonrpc": "2.0", "id": 1, "method": .string(method)]
        if let params { request["params"] = params }
        try client.sendLine(request.serialized())
        guard let line = try client.readLine() else { throw BenchError("crmd closed the connection") }
        let reply = try JSON.parse(line)
        if let error = reply["error"] { throw BenchError("\(method) failed: \(error)") }
        return reply["result"] ?? .null
    }

    /// `system.stats`, reduced to the figures the benchmark uses.
    func stats() throws -> DaemonStats {
        let stats = try self.call("system.stats")
        return DaemonStats(
            head: Int(stats["head"]?["position"]?.intValue ?? 0),
            fileSize: Int(stats["file_size_bytes"]?.intValue ?? 0),
            commits: stats["commits"]?.intValue.map { Int($0) }
        )
    }
}

/// The figures of `system.stats` the benchmark reads.
struct DaemonStats {
    var head: Int
    var fileSize: Int
    /// Write transactions committed by the writer since start (`nil` on a crmd without the counter).
    var commits: Int?
}

/// Write counters of a process from `/proc/<pid>/io`.
struct IOCounters {
    /// `write_bytes`: bytes the process caused to be sent to the storage layer (page cache write-back
    /// charged to it, including LMDB's `pwrite`s and the pages `fdatasync` flushes).
    var writeBytes: Int
    /// `wchar`: bytes passed to write-like system calls (`write`, `pwrite`, socket sends), whether or
    /// not they reached the disk.
    var wchar: Int

    static func - (lhs: IOCounters, rhs: IOCounters) -> IOCounters {
        IOCounters(writeBytes: lhs.writeBytes - rhs.writeBytes, wchar: lhs.wchar - rhs.wchar)
    }
}

/// Reads the `name: value` lines of `/proc/<pid>/status` and `/proc/<pid>/io`.
enum ProcFile {
    /// The integer after `name:` in `text` (its first field; `kB` units are left to the caller), or
    /// `nil` when the line is missing or not a number.
    static func value(_ text: String, _ name: String) -> Int? {
        for line in text.split(separator: "\n") where line.hasPrefix(name + ":") {
            let fields = line.dropFirst(name.count + 1).split { $0 == " " || $0 == "\t" }
            return fields.first.flatMap { Int($0) }
        }
        return nil
    }
}
