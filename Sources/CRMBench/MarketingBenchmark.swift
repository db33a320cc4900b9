import CRMJSON
import CRMProtocol
import Foundation

/// The `marketing` mode: a segment over a large population defined and listed, and a campaign sent to
/// all of it while other commands keep coming.
extension Benchmark {
    /// Loads ``BenchSettings/marketingCustomers`` customers (each with a confirmed-opt-in email, all
    /// tagged `news`), then ``valueRepetitions`` rounds of: `segment.define` of a segment holding all
    /// of them and the listing of its members page by page (1,000 a page); then as many campaigns to
    /// that segment, each sent while a light write load (``SteadyWriter``) runs before and during the
    /// send, whose latency during the send is the stall other commands see; then interactions of a
    /// few recipients and `campaign.report`.
    func marketing(_ daemon: BenchDaemon) throws {
        let count = self.settings.marketingCustomers
        var figures: [String: JSON] = ["customers": .int(Int64(count))]
        figures["load"] = try self.loadMarketingPopulation(daemon, count)
        var segments: [JSON] = []
        var totals: [Double] = []
        for round in 1...Benchmark.valueRepetitions {
            let id = "bench-news-\(round)"
            let define = try Benchmark.timedCall(
                daemon, "segment.define",
                [
                    "segment_id": .string(id), "name": "Newsletter readers",
                    "filter": ["all": [["field": "tags", "op": "has", "value": "news"]]],
                ]
            )
            if let error = define.reply["error"] { throw BenchError("segment.define: \(error.serializedString())") }
            let (pages, members, listing) = try self.listSegment(daemon, id)
            totals.append((define.seconds + listing) * 1000)
            segments.append([
                "segment_id": .string(id), "define_ms": .double(define.seconds * 1000),
                "list_ms": .double(listing * 1000),
                "total_ms": .double((define.seconds + listing) * 1000), "members": .int(Int64(members)),
                "pages": .int(Int64(pages)),
            ])
            self.log(
                "marketing: segment \(id) defined in \(Int(define.seconds * 1000)) ms, \(members) members listed "
                    + "in \(Int(listing * 1000)) ms (\(pages) pages)"
            )
        }
        figures["segment"] = [
            "rounds": .array(segments), "median_total_ms": .double(Benchmark.median(totals)),
        ]
        figures["campaign"] = try self.timeCampaignSends(daemon)
        self.report.sections.append(("marketing", .object(figures)))
    }

    /// Creates the customers over the heavy write load's connections, pipelined.
    private func loadMarketingPopulation(_ daemon: BenchDaemon, _ count: Int) throws -> JSON {
        let connections = min(self.settings.connections, count)
        self.log("marketing: loading \(count) customers")
        let created = try LoadRunner.run(
            socket: daemon.socketPath,
            sources: (0..<connections).map { connection in
                var next = connection
                return ClosureSource(seed: self.settings.seed &+ UInt64(connection)) { rng, id in
                    guard next < count else { return nil }
                    defer { next += connections }
                    let address = JSON.string("m\(next)@example.org")
                    let params: JSON = [
                        "customer_id": .string(ValuePopulation.customerID(next)),
                        "last_name": .string(rng.pick(Vocabulary.lastNames)), "tags": ["news"],
                        "emails": [["address": address, "primary": true]],
                        "consent": [["channel": "email", "address": address, "status": "confirmed_opt_in"]],
                    ]
                    return ValuePopulation.request(id: id, method: "customer.create", params: params)
                }
            },
            pipeline: self.settings.pipeline,
            duration: nil,
            recordLatency: false
        )
        guard created.errors == 0 else {
            throw BenchError("marketing: creating customers failed: \(created.firstError ?? "?")")
        }
        self.log("marketing: \(created.requests) customers in \(String(format: "%.1f", created.seconds)) s")
        return ["customers_seconds": .double(created.seconds), "customers_per_s": .double(created.perSecond)]
    }

    /// Lists every member of `segmentID` now, 1,000 a page, on one connection: pages, members, seconds.
    private func listSegment(_ daemon: BenchDaemon, _ segmentID: String) throws -> (Int, Int, Double) {
        let client = try UnixSocketClient(path: daemon.socketPath, timeout: .seconds(600))
        defer { client.close() }
        let started = LoadRunner.now()
        var cursor: JSON = .null
        var pages = 0
        var members = 0
        var asOf: JSON = .null
        repeat {
            var params: JSON = ["segment_id": .string(segmentID), "limit": 1000]
            if !cursor.isNull { params["cursor"] = cursor }
            if !asOf.isNull { params["as_of"] = asOf }
            try client.sendLine(
                ValuePopulation.request(id: Int64(pages + 1), method: "segment.members", params: params))
            guard let line = try client.readLine() else { throw BenchError("crmd closed the connection") }
            let reply = try JSON.parse(line)
            guard let result = reply["result"] else {
                throw BenchError("segment.members: \(line.count) bytes, no result")
            }
            pages += 1
            members += result["members"]?.arrayValue?.count ?? 0
            asOf = result["as_of"] ?? .null
            cursor = result["next_cursor"] ?? .null
        } while !cursor.isNull
        return (pages, members, Double(LoadRunner.now() - started) / 1e9)
    }

    /// Sends ``valueRepetitions`` campaigns to the first segment, each with the light write load
    /// running for `--duration` seconds before and during the send.
    private func timeCampaignSends(_ daemon: BenchDaemon) throws -> JSON {
        var rounds: [JSON] = []
        var seconds: [Double] = []
        var stalls: [Double] = []
        var during: [SteadyWriter.Sample] = []
        var baseline: [SteadyWriter.Sample] = []
        for round in 1...Benchmark.valueRepetitions {
            let id = "bench-campaign-\(round)"
            _ = try daemon.call(
                "campaign.create",
                ["campaign_id": .string(id), "name": "Newsletter", "audience": ["segment_id": "bench-news-1"]]
            )
            let writer = SteadyWriter(
                socket: daemon.socketPath, connections: Benchmark.valueLightConnections,
                customers: self.settings.marketingCustomers, prefix: "mk\(round)",
                seed: self.settings.seed &+ UInt64(round) &* 104_729
            )
            try writer.start()
            usleep(UInt32(min(self.settings.duration, 600) * 1e6))
            let send: TimedReply
            do {
                send = try Benchmark.timedCall(daemon, "campaign.send", ["campaign_id": .string(id)])
            } catch {
                _ = writer.stop()
                throw error
            }
            // Keep the load running a little after the send, so a stall at its end is seen.
            usleep(200_000)
            let light = writer.stop()
            if let error = light.firstError {
                self.report.errors.append("marketing: order.record beside the send: \(error)")
            }
            if let error = send.reply["error"] {
                self.report.errors.append("campaign.send: \(error.serializedString())")
                continue
            }
            let end = send.sentAt + UInt64(send.seconds * 1e9)
            let overlapping = light.samples.filter { $0.sentAt < end && $0.repliedAt > send.sentAt }
            let before = light.samples.filter { $0.repliedAt <= send.sentAt }
            let stall = Double(overlapping.map(\.nanoseconds).max() ?? 0) / 1000
            seconds.append(send.seconds)
            stalls.append(stall / 1000)
            during += overlapping
            baseline += before
            let sent = try daemon.call("campaign.get", ["campaign_id": .string(id)])["sent"] ?? .null
            rounds.append([
                "campaign_id": .string(id), "send_s": .double(send.seconds),
                "recipients": sent["recipient_count"] ?? .null, "max_latency_during_send_ms": .double(stall / 1000),
                "baseline": Benchmark.steadyFigures(before, seconds: self.settings.duration),
                "during_send": Benchmark.steadyFigures(overlapping, seconds: send.seconds),
            ])
            self.log(
                "marketing: campaign.send to \(sent["recipient_count"]?.intValue ?? 0) in "
                    + "\(String(format: "%.2f", send.seconds)) s; order.record max latency during it "
                    + "\(String(format: "%.1f", stall / 1000)) ms"
            )
        }
        // A few interactions and the report of the first campaign.
        guard !rounds.isEmpty else { throw BenchError("marketing: no campaign was sent: \(self.report.errors)") }
        for index in 0..<min(20, self.settings.marketingCustomers) {
            _ = try daemon.call(
                "campaign.record",
                [
                    "campaign_id": "bench-campaign-1", "customer_id": .string(ValuePopulation.customerID(index)),
                    "kind": index % 2 == 0 ? "opened" : "clicked", "interaction_id": .string("bench-i\(index)"),
                ]
            )
        }
        let report = try Benchmark.timedCall(daemon, "campaign.report", ["campaign_id": "bench-campaign-1"])
        if let error = report.reply["error"] {
            self.report.errors.append("campaign.report: \(error.serializedString())")
        }
        return [
            "rounds": .array(rounds), "median_send_s": .double(Benchmark.median(seconds)),
            "median_max_latency_during_send_ms": .double(Benchmark.median(stalls)),
            "light_load": [
                "method": "order.record", "connections": .int(Int64(Benchmark.valueLightConnections)),
                "baseline": Benchmark.steadyFigures(baseline, seconds: Double(rounds.count) * self.settings.duration),
                "during_send": Benchmark.steadyFigures(during, seconds: seconds.reduce(0, +)),
            ],
            "report_ms": .double(report.seconds * 1000),
        ]
    }
}
