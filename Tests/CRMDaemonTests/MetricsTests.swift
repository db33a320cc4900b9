import CRMJSON
import CRMProtocol
import CRMTesting
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `system.metrics` and the HTTP metrics listener: after a known mix of accepted and rejected
/// commands, queries and bad lines, the counters say exactly what the client did, and the text
/// parses with the real Prometheus parser of the Python package `prometheus_client`.
@Suite struct MetricsTests {
    /// One sample of the exposition.
    struct Sample: Equatable {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    /// What the client did: requests by `method|outcome|reason` (reason empty for `ok`) and the
    /// number of latency observations by method; and the log head and the number of read models
    /// that `system.stats` gave at the end.
    struct Done {
        var requests: [String: Double] = [:]
        var timed: [String: Double] = [:]
        var head: Int64 = 0
        var projections = 0

        /// Counts a reply to a request of `method` (the outcome and reason read from the reply).
        mutating func count(_ method: String, _ response: JSON) {
            let reason = response["error"]?["data"]?["reason"]?.stringValue
            let failed = reason == "internal" || reason == "storage_full"
            let outcome = reason == nil ? "ok" : failed ? "failed" : "rejected"
            self.requests["\(method)|\(outcome)|\(reason ?? "")", default: 0] += 1
            self.timed[method, default: 0] += 1
        }
    }

    /// Runs the workload: accepted and rejected commands (refused at admission and by the writer),
    /// queries answered and not, an unknown method and a line that is no JSON; `system.stats` last.
    static func runWorkload(_ client: RPCClient) async throws -> Done {
        var done = Done()
        var ids: [String] = []
        for index in 1...3 {
            let response = try await client.call(
                "customer.create", ["first_name": "Ada", "emails": [["address": .string("ada\(index)@example.com")]]]
            )
            done.count("customer.create", response)
            ids.append(try #require(response["result"]?["customer_id"]?.stringValue))
        }
        // Rejected by the writer's decision, and at admission (no customer_id).
        let duplicate = try await client.call(
            "customer.create", ["first_name": "Eve", "emails": [["address": "ADA1@example.com"]]]
        )
        #expect(duplicate["error"]?["data"]?["reason"] == "duplicate_email")
        done.count("customer.create", duplicate)
        let missing = try await client.call("customer.update", ["set": ["job_title": "Analyst"]])
        #expect(missing["error"] != nil)
        done.count("customer.update", missing)
        for id in ids.prefix(2) {
            done.count("customer.get", try await client.call("customer.get", ["customer_id": .string(id)]))
        }
        let absent = try await client.call("customer.get", ["customer_id": "cus_missing"])
        #expect(absent["error"] != nil)
        done.count("customer.get", absent)
        done.count("unknown", try await client.call("no.such_method"))
        try await client.sendRaw("this is not JSON")
        done.count("unknown", try #require(try await client.readJSON()))
        let stats = try await client.call("system.stats")
        done.count("system.stats", stats)
        done.head = try #require(stats["result"]?["head"]?["position"]?.intValue)
        // `projections` lists the decision state first, then the read models.
        done.projections = (stats["result"]?["projections"]?.arrayValue?.count ?? 1) - 1
        return done
    }

    /// The `system.metrics` text, checking the reply's content type.
    static func metricsText(_ client: RPCClient) async throws -> String {
        let result = try await client.result("system.metrics")
        #expect(result["content_type"] == "text/plain; version=0.0.4; charset=utf-8")
        return try #require(result["text"]?.stringValue)
    }

    /// Checks the samples against what the client did and what the log holds (`head`).
    static func check(_ samples: [Sample], done: Done) {
        let head = done.head
        func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
            samples.first { $0.name == name && $0.labels == labels }?.value
        }
        var requests: [String: Double] = [:]
        for sample in samples where sample.name == "crmd_requests_total" {
            let key = [sample.labels["method"], sample.labels["outcome"], sample.labels["reason"]]
            requests[key.map { $0 ?? "" }.joined(separator: "|"), default: 0] += sample.value
        }
        #expect(requests == done.requests)
        #expect(done.requests["customer.create|ok|"] == 3)
        #expect(done.requests["customer.create|rejected|duplicate_email"] == 1)
        #expect(done.requests["unknown|rejected|bad_request"] == 1)
        for (method, count) in done.timed {
            #expect(value("crmd_request_duration_seconds_count", ["method": method]) == count, "\(method)")
            #expect(value("crmd_request_duration_seconds_bucket", ["method": method, "le": "+Inf"]) == count)
        }
        // Four commands reached the writer (three created, one duplicate); the log holds three events.
        #expect(value("crmd_writer_batch_size_sum") == 4)
        #expect(value("crmd_writer_batch_size_count") == value("crmd_writer_commit_duration_seconds_count"))
        #expect((value("crmd_writer_commit_duration_seconds_count") ?? 0) >= 1)
        #expect(value("crmd_events_appended_total") == Double(head))
        #expect(value("crmd_log_head_position") == Double(head))
        #expect((value("crmd_lmdb_file_size_bytes") ?? 0) > 0)
        #expect((value("crmd_lmdb_map_size_bytes") ?? 0) >= value("crmd_lmdb_file_size_bytes") ?? 0)
        #expect(value("crmd_connections_open") == 1)
        #expect(value("crmd_connections_total") == 1)
        #expect(value("crmd_writer_backlog") == 0)
        #expect((value("crmd_start_time_seconds") ?? 0) > 1_700_000_000)
        let checkpoints = samples.filter { $0.name == "crmd_projection_checkpoint_position" }
        #expect(checkpoints.count == done.projections)
        #expect(checkpoints.allSatisfy { $0.value == Double(head) && $0.labels["projection"] != nil })
        #expect(samples.filter { $0.name == "crmd_projection_rebuilding" }.allSatisfy { $0.value == 0 })
        #expect(samples.filter { $0.name == "crmd_projection_failed" }.allSatisfy { $0.value == 0 })
    }

    /// The samples of an exposition, read line by line (label values here hold no `,`, `}` or `"`).
    static func samples(_ text: String) throws -> [Sample] {
        try text.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { line in
            let space = try #require(line.lastIndex(of: " "))
            let series = line[..<space]
            let value = try #require(Double(line[line.index(after: space)...]))
            guard let open = series.firstIndex(of: "{") else {
                return Sample(name: String(series), labels: [:], value: value)
            }
            var labels: [String: String] = [:]
            let inside = series[series.index(after: open)..<series.index(before: series.endIndex)]
            for pair in inside.split(separator: ",") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                labels[String(parts[0])] = String(parts[1].dropFirst().dropLast())
            }
            return Sample(name: String(series[..<open]), labels: labels, value: value)
        }
    }

    @Test func theCountersSayWhatTheClientDid() async throws {
        let daemon = try await TestDaemon()
        let client = try daemon.client()
        let done = try await MetricsTests.runWorkload(client)
        let text = try await MetricsTests.metricsText(client)
        #expect(text.contains("# TYPE crmd_requests_total counter\n"))
        #expect(text.contains("# HELP crmd_requests_total JSON-RPC requests answered"))
        #expect(text.contains("# TYPE crmd_request_duration_seconds histogram\n"))
        MetricsTests.check(try MetricsTests.samples(text), done: done)
        // The scrape itself is counted from the next one on.
        let again = try MetricsTests.samples(try await MetricsTests.metricsText(client))
        let scrapes = Sample(
            name: "crmd_requests_total", labels: ["method": "system.metrics", "outcome": "ok"], value: 1
        )
        #expect(again.contains(scrapes))
        try await daemon.stop()
    }

    /// The Prometheus text parser of `prometheus_client`, run by the system Python: prints every sample
    /// with its family's type as JSON.
    static let parser = """
        import json, sys
        from prometheus_client.parser import text_string_to_metric_families
        out = []
        for family in text_string_to_metric_families(sys.stdin.read()):
            for sample in family.samples:
                out.append({"family": family.name, "type": family.type, "name": sample.name,
                            "labels": sample.labels, "value": sample.value})
        print(json.dumps(out))
        """

    /// The samples `prometheus_client` parses from `text`, with the type of each sample's family;
    /// fails, saying what to install, when Python or the package is missing.
    static func parseWithPrometheusClient(_ text: String) async throws -> [(sample: Sample, type: String)] {
        let python = "/usr/bin/python3"
        try #require(
            FileManager.default.isExecutableFile(atPath: python),
            "\(python) is missing: install python3 and python3-prometheus-client (scripts/test.sh does)"
        )
        // On a thread of its own: waiting for Python must not hold a thread the daemons need.
        let (status, printed, complaint) = try await onOwnThread {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: python)
            process.arguments = ["-c", MetricsTests.parser]
            let (input, output, errors) = (Pipe(), Pipe(), Pipe())
            process.standardInput = input
            process.standardOutput = output
            process.standardError = errors
            try process.run()
            input.fileHandleForWriting.write(Data(text.utf8))
            try input.fileHandleForWriting.close()
            let printed = output.fileHandleForReading.readDataToEndOfFile()
            let complaint = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            return (process.terminationStatus, printed, complaint)
        }
        try #require(
            !complaint.contains("No module named 'prometheus_client'"),
            """
            the Python package prometheus_client is missing: apt-get install -y python3-prometheus-client \
            (scripts/test.sh installs it)
            """
        )
        try #require(status == 0, "prometheus_client could not parse the metrics: \(complaint)")
        let parsed = try #require(try JSON.parse(Array(printed)).arrayValue)
        return try parsed.map { entry in
            var labels: [String: String] = [:]
            for (key, value) in entry["labels"]?.objectValue ?? [:] { labels[key] = value.stringValue }
            let number = try #require(entry["value"]?.doubleValue ?? entry["value"]?.intValue.map(Double.init))
            let sample = Sample(name: entry["name"]?.stringValue ?? "", labels: labels, value: number)
            return (sample, entry["type"]?.stringValue ?? "")
        }
    }

    @Test func theRealPrometheusParserReadsTheSameCounters() async throws {
        let daemon = try await TestDaemon()
        let client = try daemon.client()
        let done = try await MetricsTests.runWorkload(client)
        let parsed = try await MetricsTests.parseWithPrometheusClient(try await MetricsTests.metricsText(client))
        MetricsTests.check(parsed.map(\.sample), done: done)
        func type(_ name: String) -> String? { parsed.first { $0.sample.name == name }?.type }
        #expect(type("crmd_requests_total") == "counter")
        #expect(type("crmd_request_duration_seconds_bucket") == "histogram")
        #expect(type("crmd_writer_batch_size_bucket") == "histogram")
        #expect(type("crmd_log_head_position") == "gauge")
        #expect(type("crmd_connections_open") == "gauge")
        try await daemon.stop()
    }

    // MARK: - The HTTP listener

    /// A plain HTTP/1.1 exchange with 127.0.0.1:`port`: the status code and the body.
    /// A TCP connection to `127.0.0.1:port` (the caller closes it).
    static func connectLoopback(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                connect(fd, pointer, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            let error = POSIXError(.init(rawValue: errno) ?? .ECONNREFUSED)
            close(fd)
            throw error
        }
        return fd
    }

    static func http(port: Int, _ request: String) async throws -> (status: Int, head: String, body: String) {
        try await onOwnThread {
            let fd = try MetricsTests.connectLoopback(port: port)
            defer { close(fd) }
            let bytes = Array(request.utf8)
            guard send(fd, bytes, bytes.count, 0) == bytes.count else { throw POSIXError(.EIO) }
            var reply: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 65_536)
            while true {
                let count = recv(fd, &chunk, chunk.count, 0)
                guard count > 0 else { break }
                reply += chunk[0..<count]
            }
            let text = String(decoding: reply, as: UTF8.self)
            let parts = text.components(separatedBy: "\r\n\r\n")
            let status = Int(parts[0].split(separator: " ").dropFirst().first ?? "") ?? 0
            return (status, parts[0], parts.dropFirst().joined(separator: "\r\n\r\n"))
        }
    }

    /// A GET of `path` that closes the connection after the reply.
    static func get(_ path: String) -> String {
        "GET \(path) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    }

    @Test(.timeLimit(.minutes(1))) func theHTTPListenerServesTheSameMetrics() async throws {
        let daemon = try await TestDaemon(metricsListen: "127.0.0.1:0", shutdownEscalates: false)
        let port = try #require(daemon.metricsPort)
        let client = try daemon.client()
        let done = try await MetricsTests.runWorkload(client)
        let scraped = try await MetricsTests.http(port: port, MetricsTests.get("/metrics"))
        #expect(scraped.status == 200)
        #expect(scraped.head.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8"))
        // A scrape over HTTP is no JSON-RPC request: the counters are the client's alone.
        let parsed = try await MetricsTests.parseWithPrometheusClient(scraped.body)
        MetricsTests.check(parsed.map(\.sample), done: done)

        #expect(try await MetricsTests.http(port: port, MetricsTests.get("/")).status == 404)
        #expect(try await MetricsTests.http(port: port, MetricsTests.get("/metrics/x")).status == 404)
        let post = "POST /metrics HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        #expect(try await MetricsTests.http(port: port, post).status == 405)
        // Two requests on one kept-alive connection are both answered.
        let keepAlive = "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n" + MetricsTests.get("/metrics")
        let both = try await MetricsTests.http(port: port, keepAlive)
        #expect(both.status == 200)
        #expect(both.body.components(separatedBy: "HTTP/1.1 200 OK").count == 2)
        // A scraper that keeps its connection open (answered once, waiting to send its next request)
        // does not hold up a graceful stop, which closes the connection. The daemon never escalates
        // to cancellation here, so a connection that held it up would hang the test to its limit.
        let lingering = try await MetricsTests.keptAlive(port: port)
        defer { close(lingering.fd) }
        #expect(lingering.status == 200)
        try await daemon.stop()
        let closed = try await onOwnThread { () -> Int in
            var byte: UInt8 = 0
            return recv(lingering.fd, &byte, 1, 0)
        }
        #expect(closed == 0, "the listener closed the kept-alive connection")
    }

    /// A connection that sent one keep-alive `GET /metrics` and read its whole reply (headers and
    /// `Content-Length` bytes): its descriptor, still open, and the reply's status.
    static func keptAlive(port: Int) async throws -> (fd: Int32, status: Int) {
        try await onOwnThread {
            let fd = try MetricsTests.connectLoopback(port: port)
            let request = Array("GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n".utf8)
            guard send(fd, request, request.count, 0) == request.count else {
                close(fd)
                throw POSIXError(.EIO)
            }
            var reply: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 65_536)
            let separator = Array("\r\n\r\n".utf8)
            while true {
                if let end = reply.firstRange(of: separator)?.upperBound {
                    let head = String(decoding: reply[..<end], as: UTF8.self)
                    let length = head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                        .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) }
                    if let length, reply.count - end >= length {
                        let status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0
                        return (fd, status)
                    }
                }
                let count = recv(fd, &chunk, chunk.count, 0)
                guard count > 0 else {
                    close(fd)
                    throw POSIXError(.ECONNRESET)
                }
                reply += chunk[0..<count]
            }
        }
    }

    @Test func crmdServesMetricsOnTheConfiguredLoopbackAddress() async throws {
        let directory = TemporaryDirectory()
        let port = try MetricsTests.freePort()
        let config = directory.appending("crmd.json")
        try Data(#"{"metrics_listen": "127.0.0.1:\#(port)"}"#.utf8).write(to: URL(fileURLWithPath: config))
        let daemon = try await MetricsTests.startCrmd(directory, config: config).get()
        let client = try RPCClient(socketPath: daemon.socketPath)
        _ = try await client.result("system.ping")
        // crmd says it is ready only once the metrics listener listens too: one scrape is enough.
        let scraped = try await MetricsTests.http(port: port, MetricsTests.get("/metrics"))
        #expect(scraped.status == 200)
        let samples = try MetricsTests.samples(scraped.body)
        let pings = Sample(name: "crmd_requests_total", labels: ["method": "system.ping", "outcome": "ok"], value: 1)
        #expect(samples.contains(pings))
        #expect(try await onOwnThread { daemon.stop() } == 0)
    }

    @Test(arguments: [
        ("0.0.0.0:9464", "is not a loopback address"),
        ("192.0.2.1:9464", "is not a loopback address"),
        ("[::]:9464", "is not a loopback address"),
        ("example.com:9464", "is not a loopback address"),
        ("127.0.0.1", "is not HOST:PORT"),
        ("127.0.0.1:99999", "is not HOST:PORT"),
    ])
    func crmdRefusesAMetricsAddressThatIsNotLoopback(_ address: String, _ message: String) async throws {
        let directory = TemporaryDirectory()
        let config = directory.appending("crmd.json")
        try Data(#"{"metrics_listen": "\#(address)"}"#.utf8).write(to: URL(fileURLWithPath: config))
        switch try await MetricsTests.startCrmd(directory, config: config) {
        case .success(let daemon):
            _ = try await onOwnThread { daemon.stop() }
            Issue.record("crmd started with metrics_listen \(address)")
        case .failure(let error):
            #expect("\(error)".contains("metrics_listen \"\(address)\" \(message)"), "\(error)")
        }
        // Refused before the data directory was touched.
        #expect(!FileManager.default.fileExists(atPath: directory.appending("data")))
    }

    /// The real crmd on a socket and data directory in `directory` with config file `config`, started
    /// on a thread of its own (waiting for it must not hold a thread the in-process daemons need).
    static func startCrmd(
        _ directory: TemporaryDirectory,
        config: String
    ) async throws -> Result<DaemonProcess, any Error> {
        try await onOwnThread {
            Result {
                try DaemonProcess(
                    socketPath: directory.appending("crmd.sock"),
                    dataDirectory: directory.appending("data"),
                    extraArguments: ["--config", config]
                )
            }
        }
    }

    /// A TCP port on 127.0.0.1 that nobody listens on now.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        try #require(bound, "cannot bind a port on 127.0.0.1")
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
