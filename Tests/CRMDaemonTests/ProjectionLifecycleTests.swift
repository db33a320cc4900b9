@testable import CRMApplication
import CRMDomain
import CRMEventStore
import CRMJSON
import CRMProjections
import CRMProtocol
import CRMRPC
import CRMTesting
import Foundation
import LMDB
import Logging
import Synchronization
import Testing

/// A read model with a switchable bug: it counts customers, and while `broken` is set it throws on a
/// customer whose first name is `Boom`, the way a projector with a bug would.
struct ProbeProjector: Projector {
    static let broken = Mutex(false)
    let name = "probe"
    let version = 1
    let slot: Int
    let counts: Database

    init(_ txn: Transaction, slot: Int) throws {
        self.slot = slot
        self.counts = try txn.openDatabase(ProjectionTables.name("probe", version: 1, slot: slot, table: "counts"))
    }

    var databases: [Database] { [self.counts] }

    struct Bug: Error, CustomStringConvertible {
        var description: String { "probe cannot fold a customer named Boom" }
    }

    func apply(_ event: RecordedEvent, _ txn: Transaction) throws {
        guard case .customer(.created(let created)) = event.event else { return }
        if ProbeProjector.broken.withLock({ $0 }), created.firstName == "Boom" { throw Bug() }
        let count = try txn.get(self.counts, "customers").map { Int(String(decoding: $0, as: UTF8.self)) ?? 0 } ?? 0
        try txn.put(self.counts, "customers", Array(String(count + 1).utf8))
    }

    var queries: [String: ProjectionQuery] {
        [
            "probe.count": { _, txn in
                .int(Int64(try txn.get(self.counts, "customers").map { Int(String(decoding: $0, as: UTF8.self)) ?? 0 } ?? 0))
            }
        ]
    }
}

/// Projection lifecycle (issue: online rebuilds, version changes, failed projectors).
@Suite(.serialized) struct ProjectionLifecycleTests {
    /// Every row of every table of each read model's serving slot, by read model name.
    static func contents(of core: CRMCore) throws -> [String: [[[UInt8]]]] {
        let lifecycles = core.runner.lifecycles
        return try core.environment.read { txn in
            var result: [String: [[[UInt8]]]] = [:]
            for (index, model) in core.runner.readModels.enumerated() {
                guard let slot = lifecycles[index].activeSlot else { continue }
                result[model.name] = try model.slots[slot].databases.map { try Self.rows($0, txn) }
            }
            return result
        }
    }

    static func rows(_ database: Database, _ txn: Transaction) throws -> [[UInt8]] {
        try txn.withCursor(database) { cursor in
            var rows: [[UInt8]] = []
            var entry = try cursor.first()
            while let current = entry {
                rows.append(current.keyBytes + [0xFF] + current.valueBytes)
                entry = try cursor.next()
            }
            return rows
        }
    }

    /// The same read models folded from scratch over `core`'s whole log in a throwaway environment.
    static func foldedFromScratch(_ core: CRMCore) throws -> [String: [[[UInt8]]]] {
        let directory = TemporaryDirectory()
        let scratch = try Environment(path: directory.path)
        let events = try core.environment.read { txn in
            var events: [RecordedEvent] = []
            try core.store.forEachRecord(from: 1, txn) { _, record in
                events.append(try EventRecord.decode(record, keys: core.store.piiKeys))
                return true
            }
            return events
        }
        return try scratch.write { txn in
            var result: [String: [[[UInt8]]]] = [:]
            for factory in ProjectorRegistry.readModels {
                let projector = try factory(txn, 0, core.queries.storage.runner.cipher)
                for event in events { try projector.apply(event, txn) }
                result[projector.name] = try projector.databases.map { try Self.rows($0, txn) }
            }
            return result
        }
    }

    /// Polls `projection.status` until no projection is rebuilding; returns the last status.
    static func waitUntilSettled(_ client: RPCClient) async throws -> JSON {
        while true {
            let status = try await client.result("projection.status")
            let states = status["projections"]?.arrayValue?.compactMap { $0["state"]?.stringValue } ?? []
            if !states.contains("rebuilding") { return status }
        }
    }

    static func row(_ status: JSON, _ name: String) -> JSON? {
        status["projections"]?.arrayValue?.first { $0["name"]?.stringValue == name }
    }

    @Test func rebuildsEveryProjectionWhileWritersKeepSendingCommands() async throws {
        // Small chunks, so that the rebuild takes many steps and commands commit between them. Rebuilds
        // are held where the test must be sure of the order: the first builds are let go at once.
        let daemon = try await TestDaemon(seedDefaults: true) {
            $0.rebuildChunkEvents = 50
            $0.holdRebuilds = true
        }
        daemon.core.releaseRebuilds()
        let admin = try daemon.client()
        _ = try await Self.waitUntilSettled(admin)
        // The writers pause halfway until the rebuild has started, so that commands surely commit
        // while it runs.
        let rebuildStarted = DispatchSemaphore(value: 0)
        // Should the test stop early, the writers must not wait for ever.
        defer { for _ in 0..<2 { rebuildStarted.signal() } }
        // History before the rebuild starts, so there is something to fold.
        for index in 0..<300 {
            _ = try await admin.result("customer.create", ["customer_id": .string("pre-\(index)"), "first_name": "Pre"])
        }
        let socketPath = daemon.socketPath
        let writers = (0..<2).map { writer in
            Task {
                try await onOwnThread { () throws -> Int in
                    let client = try RPCClient(socketPath: socketPath)
                    var acknowledged = 0
                    for index in 0..<400 {
                        if index == 200 { rebuildStarted.wait() }
                        let id = "w\(writer)-\(index)"
                        _ = try RPCResponse.result(
                            of: try client.callNow("customer.create", ["customer_id": .string(id), "first_name": "Live"])
                        )
                        _ = try RPCResponse.result(
                            of: try client.callNow(
                                "activity.log",
                                ["type": "note", "customer_ids": [.string(id)], "activity_id": .string("a-\(id)")]
                            )
                        )
                        if index % 20 == 0 {
                            _ = try RPCResponse.result(
                                of: try client.callNow(
                                    "deal.create",
                                    [
                                        "deal_id": .string("d-\(id)"), "name": "Renewal", "customer_ids": [.string(id)],
                                        "pipeline_id": "sales",
                                    ]
                                )
                            )
                            _ = try RPCResponse.result(
                                of: try client.callNow(
                                    "ticket.open",
                                    [
                                        "ticket_id": .string("t-\(id)"), "customer_id": .string(id), "subject": "Help",
                                        "channel": "email",
                                    ]
                                )
                            )
                        }
                        acknowledged += 1
                    }
                    return acknowledged
                }
            }
        }
        // Start the rebuild once the writers are under way (they go on for much longer).
        while try await admin.result("system.stats")["head"]?["position"]?.intValue ?? 0 < 400 {}
        daemon.core.runner.setHeld(true)
        let started = try await admin.result("projection.rebuild", ["name": "all"])
        let startHead = try #require(started["projections"]?[0]?["rebuild"]?["head"]?.intValue)
        for _ in 0..<2 { rebuildStarted.signal() }
        // Let the rebuild run once a command has committed after its start.
        while try await admin.result("system.stats")["head"]?["position"]?.intValue ?? 0 <= startHead {}
        daemon.core.releaseRebuilds()
        let names = started["projections"]?.arrayValue?.compactMap { $0["name"]?.stringValue }
        #expect(names == ["customers", "funnel", "sla", "value", "feedback", "segments", "campaigns"])
        #expect(started["projections"]?.arrayValue?.allSatisfy { $0["state"] == "rebuilding" } == true)
        // Queries keep their usual answers while the new tables fill.
        #expect(try await admin.result("customer.get", ["customer_id": "pre-7"])["name"]?["first"] == "Pre")
        #expect(try await admin.result("funnel.report", ["pipeline_id": "sales"])["pipeline_id"] == "sales")
        for writer in writers { #expect(try await writer.value == 400) }
        let status = try await Self.waitUntilSettled(admin)
        for name in ["customers", "funnel", "sla", "value", "feedback", "segments", "campaigns"] {
            let row = try #require(Self.row(status, name))
            #expect(row["state"] == "live")
            #expect(row["lag"] == 0)
            #expect(row["slot"] == 1)
            // Commands committed while it ran were folded into the new tables before they took over.
            #expect(row["last_rebuild"]?["head"]?.intValue ?? 0 > startHead)
            #expect(row["last_rebuild"]?["reason"] == "requested")
        }
        #expect(try await admin.result("customer.get", ["customer_id": "w1-399"])["name"]?["first"] == "Live")
        // The switched-to tables equal a fold of the whole log from scratch, and the old slot is empty.
        #expect(try Self.contents(of: daemon.core) == Self.foldedFromScratch(daemon.core))
        let oldSlotRows = try daemon.core.environment.read { txn in
            try daemon.core.runner.readModels.flatMap { model in try model.slots[0].databases.map { try txn.count($0) } }
        }
        #expect(oldSlotRows.allSatisfy { $0 == 0 })
        // Commands stamped concurrently by two connections still get non-decreasing recorded_at.
        let recorded = try daemon.core.environment.read { txn in
            var times: [Int64] = []
            try daemon.core.store.forEachRecord(from: 1, txn) { _, record in
                times.append(try EventRecord.decodeEnvelope(record).event.recordedAt)
                return true
            }
            return times
        }
        #expect(recorded.count > 2000)
        #expect(zip(recorded, recorded.dropFirst()).allSatisfy { $0 <= $1 })
        try await daemon.stop()
    }

    @Test func aVersionChangeRebuildsOnStartWhileCommandsAreAccepted() async throws {
        let directory = TemporaryDirectory()
        let before: JSON
        do {
            let daemon = try await TestDaemon(directory: directory)
            let client = try daemon.client()
            for index in 0..<50 {
                _ = try await client.result("customer.create", ["customer_id": .string("c\(index)"), "first_name": "Ada"])
            }
            _ = try await client.result("customer.tag", ["customer_id": "c3", "add": ["vip"]])
            before = try await client.result("customer.get", ["customer_id": "c3"])
            try await daemon.stop()
        }

        // As if the stored profile tables had been written by another version of the projector.
        do {
            let environment = try Environment(path: directory.appending("data"))
            try environment.write { txn in
                try txn.put(try txn.openDatabase("meta"), "proj.customers.version", Array("0".utf8))
            }
        }
        let daemon = try await TestDaemon(directory: directory) { $0.holdRebuilds = true }
        let client = try daemon.client()
        let refused = try await client.error("customer.get", ["customer_id": "c3"])
        #expect(refused.code == RPCErrorCode.code(forReason: "projection_rebuilding"))
        #expect(refused.reason == "projection_rebuilding")
        let progress = try #require(refused.data?["details"]?["progress"])
        #expect(progress["reason"] == "version")
        #expect(progress["head"] == 51)
        #expect(progress["checkpoint"] == 0)
        // Commands are accepted, other read models answer, and the status says what is going on.
        _ = try await client.result("customer.create", ["customer_id": "late", "first_name": "Late"])
        #expect(try await client.result("ticket.list")["tickets"] == [])
        let row = try #require(Self.row(try await client.result("projection.status"), "customers"))
        #expect(row["state"] == "rebuilding")
        #expect(row["serving"] == false)
        #expect(row["stored_version"] == row["version"])

        daemon.core.releaseRebuilds()
        _ = try await Self.waitUntilSettled(client)
        #expect(try await client.result("customer.get", ["customer_id": "c3"]) == before)
        #expect(try await client.result("customer.get", ["customer_id": "late"])["name"]?["first"] == "Late")
        #expect(try Self.contents(of: daemon.core) == Self.foldedFromScratch(daemon.core))
        try await daemon.stop()
    }

    @Test func aSmallRebuildFinishesBeforeTheSocketOpensInChunks() async throws {
        let directory = TemporaryDirectory()
        do {
            let daemon = try await TestDaemon(directory: directory)
            let client = try daemon.client()
            for index in 0..<40 {
                _ = try await client.result("customer.create", ["customer_id": .string("c\(index)"), "first_name": "Ada"])
            }
            try await daemon.stop()
        }
        do {
            let environment = try Environment(path: directory.appending("data"))
            try environment.write { txn in
                try txn.put(try txn.openDatabase("meta"), "proj.customers.version", Array("0".utf8))
            }
        }
        // 40 events in chunks of 7: several transactions, all before the daemon answers.
        var daemon = try await TestDaemon(directory: directory) { $0.rebuildChunkEvents = 7 }
        let client = try daemon.client()
        #expect(try await client.result("customer.get", ["customer_id": "c39"])["name"]?["first"] == "Ada")
        let row = try #require(Self.row(try await client.result("projection.status"), "customers"))
        #expect(row["state"] == "live")
        #expect(row["last_rebuild"]?["reason"] == "version")
        #expect(row["last_rebuild"]?["events"] == 40)
        #expect(try Self.contents(of: daemon.core) == Self.foldedFromScratch(daemon.core))
        try await daemon.stop()

        // Live tables found behind the head (as if the log had been written without them) are
        // built afresh as well.
        do {
            let environment = try Environment(path: directory.appending("data"))
            try environment.write { txn in
                try txn.put(try txn.openDatabase("meta"), "proj.funnel.checkpoint", [UInt8](repeating: 0, count: 8))
            }
        }
        daemon = try await TestDaemon(directory: directory)
        let behind = try #require(Self.row(try await daemon.client().result("projection.status"), "funnel"))
        #expect(behind["state"] == "live")
        #expect(behind["checkpoint"] == 40)
        #expect(behind["last_rebuild"]?["reason"] == "behind")
        try await daemon.stop()
    }


    /// The decision state's refold at start-up is reported in its `projection.status` row (crm-bench
    /// times it from there); a start-up that only catches up reports none.
    @Test func theDecisionStateRefoldAtStartUpIsReportedAsItsLastRebuild() async throws {
        let directory = TemporaryDirectory()
        do {
            let daemon = try await TestDaemon(directory: directory)
            let client = try daemon.client()
            for index in 0..<30 {
                let params: JSON = ["customer_id": .string("c\(index)"), "first_name": "Ada"]
                _ = try await client.result("customer.create", params)
            }
            let fresh = try #require(Self.row(try await client.result("projection.status"), "state"))
            #expect(fresh["last_rebuild"]?["reason"] == "new")
            #expect(fresh["last_rebuild"]?["events"] == 0)
            try await daemon.stop()
        }
        do {
            let daemon = try await TestDaemon(directory: directory)
            let row = try #require(Self.row(try await daemon.client().result("projection.status"), "state"))
            #expect(row["last_rebuild"] == .null)
            try await daemon.stop()
        }
        do {
            let environment = try Environment(path: directory.appending("data"))
            // As if the stored decision state had been folded by an older crmd.
            try environment.write { txn in
                try txn.put(try txn.openDatabase("meta"), "proj.state.version", Array("1".utf8))
            }
        }
        let daemon = try await TestDaemon(directory: directory)
        let client = try daemon.client()
        let row = try #require(Self.row(try await client.result("projection.status"), "state"))
        #expect(row["state"] == "live")
        #expect(row["checkpoint"] == 30)
        #expect(row["last_rebuild"]?["reason"] == "version")
        #expect(row["last_rebuild"]?["head"] == 30)
        #expect(row["last_rebuild"]?["events"] == 30)
        #expect((row["last_rebuild"]?["seconds"]?.doubleValue ?? -1) >= 0)
        // The refolded state decides as before: the customers exist.
        let duplicate = try await client.error("customer.create", ["customer_id": "c7", "first_name": "Ada"])
        #expect(duplicate.reason == "already_exists")
        try await daemon.stop()
    }
    static let probe: ProjectorFactory = { txn, slot, _ in try ProbeProjector(txn, slot: slot) }

    @Test func aFailingProjectorIsIsolatedAndARebuildAfterTheFixRecoversIt() async throws {
        ProbeProjector.broken.withLock { $0 = true }
        defer { ProbeProjector.broken.withLock { $0 = false } }
        let directory = TemporaryDirectory()
        do {
            let daemon = try await TestDaemon(directory: directory, logLevel: .critical) { $0.additionalReadModels = [Self.probe] }
            let client = try daemon.client()
            _ = try await client.result("customer.create", ["customer_id": "ok", "first_name": "Ada"])
            #expect(try await client.result("probe.count") == 1)
            // The command whose event the probe cannot fold is still committed and acknowledged.
            let boom = try await client.result("customer.create", ["customer_id": "boom", "first_name": "Boom"])
            #expect(boom["position"] == 2)
            _ = try await client.result("customer.create", ["customer_id": "after", "first_name": "Bob"])
            #expect(try await client.result("customer.get", ["customer_id": "boom"])["name"]?["first"] == "Boom")
            let failed = try await client.error("probe.count")
            #expect(failed.reason == "projection_failed")
            #expect(failed.data?["details"]?["position"] == 2)
            let row = try #require(Self.row(try await client.result("projection.status"), "probe"))
            #expect(row["state"] == "failed")
            #expect(row["checkpoint"] == 1)
            #expect(row["failure"]?["position"] == 2)
            #expect(row["failure"]?["error"] == "probe cannot fold a customer named Boom")
            // Other read models are unaffected.
            let customers = try #require(Self.row(try await client.result("projection.status"), "customers"))
            #expect(customers["state"] == "live")
            #expect(customers["checkpoint"] == 3)

            // A rebuild that hits the same bug fails again at the same event.
            _ = try await client.result("projection.rebuild", ["name": "probe"])
            let again = try #require(Self.row(try await Self.waitUntilSettled(client), "probe"))
            #expect(again["state"] == "failed")
            #expect(again["failure"]?["position"] == 2)

            // The fix ships: a rebuild recovers it, and it keeps folding new events.
            ProbeProjector.broken.withLock { $0 = false }
            _ = try await client.result("projection.rebuild", ["name": "probe"])
            let recovered = try #require(Self.row(try await Self.waitUntilSettled(client), "probe"))
            #expect(recovered["state"] == "live")
            #expect(recovered["failure"] == .null)
            #expect(try await client.result("probe.count") == 3)
            _ = try await client.result("customer.create", ["customer_id": "later", "first_name": "Cy"])
            #expect(try await client.result("probe.count") == 4)
            // A projection still failed when crmd stops is rebuilt on the next start.
            ProbeProjector.broken.withLock { $0 = true }
            _ = try await client.result("customer.create", ["customer_id": "boom2", "first_name": "Boom"])
            #expect(try await client.error("probe.count").reason == "projection_failed")
            try await daemon.stop()
        }
        ProbeProjector.broken.withLock { $0 = false }
        let daemon = try await TestDaemon(directory: directory, logLevel: .critical) { $0.additionalReadModels = [Self.probe] }
        let client = try daemon.client()
        #expect(try await client.result("probe.count") == 5)
        try await daemon.stop()
    }

    /// `crmd_writer_isolated_batches_total` from `system.metrics`.
    static func isolatedBatches(_ client: RPCClient) async throws -> Int? {
        let text = try await client.result("system.metrics")["text"]?.stringValue ?? ""
        let line = text.split(separator: "\n").first { $0.hasPrefix("crmd_writer_isolated_batches_total ") }
        return line.flatMap { Double($0.split(separator: " ")[1]) }.map { Int($0) }
    }

    @Test func aBatchRunsAgainOnlyWhenACommandFailsAfterItWrote() async throws {
        ProbeProjector.broken.withLock { $0 = true }
        defer { ProbeProjector.broken.withLock { $0 = false } }
        let daemon = try await TestDaemon(logLevel: .critical) { $0.additionalReadModels = [Self.probe] }
        let client = try daemon.client()
        // Rejections, pipelined into few batches, are all made before their command writes anything:
        // no batch runs twice, and nothing of theirs is in the log.
        let lines: [JSON] = [
            ["customer_id": "a", "first_name": "Ada", "at": "2025-03-07T15:30:00Z"],
            ["customer_id": "a", "first_name": "Ada"],
            ["customer_id": "a", "set": ["last_name": "L"], "at": "2025-03-07T15:29:59Z"],
            ["customer_id": "b", "first_name": "Bea"],
        ]
        for (index, params) in lines.enumerated() {
            let method = index == 2 ? "customer.update" : "customer.create"
            let request = RPCRequest(id: .int(Int64(index)), method: method, params: params)
            try await client.sendRaw(request.json.serialized())
        }
        var replies: [JSON] = []
        for _ in lines { replies.append(try #require(try await client.readJSON())) }
        let reasons = replies.map { $0["error"]?["data"]?["reason"] }
        #expect(reasons == [nil, "already_exists", "timestamp_out_of_order", nil])
        #expect(replies.map { $0["result"]?["position"] } == [1, nil, nil, 2])
        #expect(try await Self.isolatedBatches(client) == 0)

        // The probe fails on Boom's event after the customers read model stored its row: that batch is
        // aborted and runs again once, with the probe marked failed before Boom's command, and every
        // command of it commits (the second Boom finds the probe failed already).
        let names = (0..<12).map { $0 == 6 || $0 == 9 ? "Boom" : "N\($0)" }
        let results = try await client.results(
            names.enumerated().map { index, name in
                ("customer.create", ["customer_id": .string("n\(index)"), "first_name": .string(name)])
            }
        )
        #expect(results.map { $0["position"] } == (3...14).map { JSON.int(Int64($0)) })
        #expect(try await Self.isolatedBatches(client) == 1)
        #expect(try await client.error("probe.count").data?["details"]?["position"] == 9)
        let customers = try #require(Self.row(try await client.result("projection.status"), "customers"))
        #expect(customers["checkpoint"] == 14)
        #expect(try await client.result("customer.get", ["customer_id": "n6"])["name"]?["first"] == "Boom")
        #expect(try await client.result("customer.get", ["customer_id": "n11"])["name"]?["first"] == "N11")
        #expect(try await client.result("audit.verify")["ok"] == true)
        try await daemon.stop()
    }

    @Test func rebuildRequestsAreValidatedAndNeedTheAdminRole() async throws {
        let daemon = try await TestDaemon()
        let client = try daemon.client()
        _ = try await client.result("customer.create", ["customer_id": "a", "first_name": "Ada"])
        let before = try await client.result("system.stats")
        let missing = try await client.error("projection.rebuild")
        #expect(missing.reason == "missing_field")
        #expect(missing.field == "name")
        let wrongType = try await client.error("projection.rebuild", ["name": 3])
        #expect(wrongType.reason == "invalid_field")
        #expect(wrongType.field == "name")
        let unknown = try await client.error("projection.rebuild", ["name": "nope"])
        #expect(unknown.reason == "not_found")
        #expect(unknown.field == "name")
        #expect(unknown.data?["details"]?["projections"] == ["customers", "funnel", "sla", "value", "feedback", "segments", "campaigns"])
        let state = try await client.error("projection.rebuild", ["name": "state"])
        #expect(state.reason == "invalid_field")
        let extra = try await client.error("projection.rebuild", ["name": "customers", "force": true])
        #expect(extra.reason == "invalid_field")
        let after = try await client.result("system.stats")
        #expect(after["head"] == before["head"])
        #expect(after["projections"] == before["projections"])
        try await daemon.stop()

        let me = UInt32(getuid())
        let restricted = try await TestDaemon(access: AccessPolicy(rules: [.init(uid: me, roles: [.write, .audit])]))
        let writer = try restricted.client()
        #expect(try await writer.error("projection.rebuild", ["name": "all"]).reason == "forbidden")
        try await restricted.stop()
    }
}
