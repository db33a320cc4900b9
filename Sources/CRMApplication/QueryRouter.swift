import CRMDomain
import CRMEventStore
public import CRMJSON
import CRMParams
import CRMProjections
import Foundation
import LMDB
import Logging

/// How a query is to be run, from the method table of the RPC edge.
public struct QueryTraits: Sendable, Hashable {
    /// The query may read much of the log or every record of a read model: it runs on a dispatch
    /// thread, never on a thread connections need.
    public var isLong: Bool
    /// The query answers `as_of` by folding the log up to a past position or time.
    public var supportsAsOf: Bool
    /// The caller may read encrypted personal data opened (`events.read`): the RPC edge sets it for
    /// the admin role only.
    public var readsPersonalData: Bool

    public init(isLong: Bool, supportsAsOf: Bool, readsPersonalData: Bool = true) {
        self.isLong = isLong
        self.supportsAsOf = supportsAsOf
        self.readsPersonalData = readsPersonalData
    }

    /// A quick query without `as_of`.
    public static let quick = QueryTraits(isLong: false, supportsAsOf: false)
}

/// Query routing: which part answers a method (a read model, a system query, the log queries, time
/// travel), read-your-writes (a query waits until the commands queued before it have committed), and
/// where it runs: at once on the calling thread, in the request's task, or, for long queries, on a
/// dispatch thread. Queries read in read transactions of their own, never on the writer thread.
public final class QueryRouter: Sendable, ReadsStorage {
    let storage: CoreStorage
    private let writer: Writer<CommandPipeline.WriterJob>
    /// `events.read`, the `*.history` methods and the audits.
    let log: LogQueries
    /// The `as_of` variants of queries.
    let timeTravel: TimeTravel
    /// Query method → index of the read model answering it.
    let queryOwners: [String: Int]
    let logger: Logger
    /// The core's metrics, which `system.metrics` exports.
    let metrics: CRMMetrics
    private let startedAt = Date()
    /// The relay and the replica's follower, when running, for `system.stats`.
    private let links: (relay: Relay?, follower: ReplicaFollower?)

    /// A router answering from `storage`, whose queries wait for commands queued with `writer`.
    init(
        storage: CoreStorage,
        writer: Writer<CommandPipeline.WriterJob>,
        links: (relay: Relay?, follower: ReplicaFollower?) = (nil, nil),
        metrics: CRMMetrics,
        logger: Logger
    ) {
        self.storage = storage
        self.writer = writer
        self.links = links
        self.metrics = metrics
        self.log = LogQueries(storage: storage)
        self.timeTravel = TimeTravel(storage: storage)
        self.logger = logger
        var queryOwners: [String: Int] = [:]
        for (index, model) in storage.runner.readModels.enumerated() {
            for method in model.queries[0].keys where queryOwners[method] == nil { queryOwners[method] = index }
        }
        self.queryOwners = queryOwners
    }

    /// The methods answered here rather than by a read model.
    static let systemMethods = [
        "system.ping", "system.stats", "system.metrics", "system.backup", "events.read", "audit.verify",
        "audit.checkpoints",
        "customer.history", "deal.history", "ticket.history", "projection.status", "customer.export",
        "system.migrate", "keys.rotate", "keys.backup", "customer.erasure_status",
    ]

    /// Answers a query after every command queued before it has committed (read-your-writes for
    /// pipelined requests).
    public func query(
        method: String,
        params: JSON?,
        traits: QueryTraits = .quick
    ) -> Task<Result<JSON, Rejection>, Never> {
        let ticket = self.writer.lastTicket
        return Task {
            await self.writer.waitUntilCompleted(ticket)
            return await self.answerQuery(method: method, params: params, traits: traits)
        }
    }

    /// ``query(method:params:)`` without a task of its own, for callers that already run one per
    /// request: returns a closure that waits until the command with writer ticket `after` (default:
    /// every command queued so far) has committed and then answers. A connection passes the ticket
    /// of its own last command, so its pipelined requests read their writes without waiting for
    /// other clients' commands; commands acknowledged before the query was sent are committed already.
    public func startQuery(
        method: String,
        params: JSON?,
        traits: QueryTraits = .quick,
        after: UInt64? = nil
    ) -> @Sendable () async -> Result<JSON, Rejection> {
        let ticket = after ?? self.writer.lastTicket
        return {
            await self.writer.waitUntilCompleted(ticket)
            return await self.answerQuery(method: method, params: params, traits: traits)
        }
    }

    /// The answer to a quick query, given right away on the calling thread, when nothing needs to be
    /// awaited: `nil` for a long query (see ``answerQuery(method:params:)``) or while commands queued
    /// before it (`after`, as for ``startQuery(method:params:after:)``) are not done. Saves a task
    /// and a hop between threads for the common read.
    public func answerAtOnce(
        method: String,
        params: JSON?,
        traits: QueryTraits = .quick,
        after: UInt64? = nil
    ) -> Result<JSON, Rejection>? {
        guard self.writer.isCompleted(after ?? self.writer.lastTicket), !QueryRouter.isLong(traits, params) else {
            return nil
        }
        return self.runQuery(method: method, params: params, traits: traits)
    }

    /// Answers a query: quick ones right here; long ones (by their traits, and any `as_of` fold) on a
    /// dispatch thread, so they never hold a thread that connections need (the event loops serving
    /// the sockets, or the few cooperative threads).
    private func answerQuery(method: String, params: JSON?, traits: QueryTraits) async -> Result<JSON, Rejection> {
        guard QueryRouter.isLong(traits, params) else {
            return self.runQuery(method: method, params: params, traits: traits)
        }
        // Cancelling the task (the client went away, or a hard stop) stops the query at its next
        // check (``QueryCancellation``).
        let cancellation = QueryCancellation.Flag()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                DispatchQueue.global(qos: .userInitiated).async {
                    let result = QueryCancellation.run(cancellation) {
                        self.runQuery(method: method, params: params, traits: traits)
                    }
                    continuation.resume(returning: result)
                }
            }
        } onCancel: {
            cancellation.raise()
        }
    }

    /// Whether a query is long by its traits or asks for an `as_of` fold.
    static func isLong(_ traits: QueryTraits, _ params: JSON?) -> Bool {
        traits.isLong || QueryRouter.asksAsOf(params)
    }

    /// Whether `params` hold a non-null `as_of`.
    static func asksAsOf(_ params: JSON?) -> Bool { params?["as_of"].map { !$0.isNull } == true }

    /// Whether `method` is a query or a system method.
    public func isQuery(_ method: String) -> Bool {
        self.queryOwners[method] != nil || QueryRouter.systemMethods.contains(method)
            || QueryRouter.combinedQueries.contains(method)
    }

    /// The queries answered here from several read models in one read transaction.
    static let combinedQueries = ["complaint.report", "campaign.report"]

    private func runQuery(method: String, params: JSON?, traits: QueryTraits) -> Result<JSON, Rejection> {
        do {
            return .success(try self.answer(method: method, params: params, traits: traits))
        } catch let rejection as Rejection {
            return .failure(rejection)
        } catch is CancellationError {
            return .failure(Rejection(.internalError, "query cancelled: its client went away or crmd is stopping"))
        } catch {
            self.logger.error("query failed", metadata: ["method": "\(method)", "error": "\(error)"])
            return .failure(CRMCore.rejection(failure: error, context: "query failed", environment: self.environment))
        }
    }

    private func answer(method: String, params: JSON?, traits: QueryTraits) throws -> JSON {
        switch method {
        case "system.ping":
            try Params(params).finish()
            return [
                "pong": true, "version": .string(CRMCore.version),
                "time": .string(Timestamp.format(CRMCore.nowMillis())),
            ]
        case "system.stats":
            try Params(params).finish()
            return try self.stats()
        case "system.metrics":
            try Params(params).finish()
            return ["content_type": .string(CRMMetrics.contentType), "text": .string(self.metricsExposition())]
        case "events.read":
            return try self.log.readEvents(params, personalData: traits.readsPersonalData)
        case "customer.history", "deal.history", "ticket.history":
            return try self.log.recordHistory(method, params, personalData: traits.readsPersonalData)
        case "projection.status":
            try Params(params).finish()
            return try self.environment.read { txn in
                let head = try self.store.head(txn).seq
                let projections = try self.storage.projectionStatus(head: head, txn)
                return ["head": .int(Int64(head)), "projections": .array(projections)]
            }
        case "system.backup":
            return try self.backup(params)
        case "customer.export":
            return try self.exportSubject(params)
        case "customer.erasure_status":
            return try self.erasureStatus(params)
        case "system.migrate":
            return try self.migrate(params)
        case "keys.backup":
            try Params(params).finish()
            let keyStore = try self.keyStore(for: "back up")
            guard let directory = self.configuration.backupDirectory else {
                throw Rejection(.badRequest, "backups are not configured (set backup_dir)")
            }
            let path = try keyStore.backup(into: directory)
            return ["path": .string(path), "kek_epoch": .int(Int64(keyStore.epoch))]
        case "keys.rotate":
            try Params(params).finish()
            let keyStore = try self.keyStore(for: "rotate")
            let rotation = try keyStore.rotate(logger: self.logger)
            // The key store is backed up right after each rotation, apart from the data's backups.
            let backup = try self.configuration.backupDirectory.map { try keyStore.backup(into: $0) }
            return [
                "kek_epoch_from": .int(Int64(rotation.from)), "kek_epoch_to": .int(Int64(rotation.to)),
                "keys": .int(Int64(rotation.keys)),
                "kek_file": .string(keyStore.kekDirectory + "/kek-\(rotation.to).key"),
                "key_store_backup": .string(backup),
            ]
        case "audit.verify":
            return try self.log.verify(params)
        case "audit.checkpoints":
            return try self.log.listCheckpoints(params)
        case _ where traits.supportsAsOf && QueryRouter.asksAsOf(params):
            return try self.timeTravel.answerAsOf(method, params)
        case "sla.ticket" where params?["at"].map({ !$0.isNull }) == true:
            return try self.timeTravel.slaTicketAsOf(params)
        case "customer.get":
            return try self.customerWithValue(params)
        case "segment.members", "segment.preview":
            return try self.segmentQuery(method, params)
        case "campaign.report":
            return try self.environment.read { txn in
                guard let campaigns = try self.runner.servingProjector(named: "campaigns", txn) as? CampaignProjector
                else { throw Rejection(.internalError, "the campaign read model is missing") }
                let value = try? self.runner.servingProjector(named: "value", txn) as? ValueProjector
                return try campaigns.campaignReport(params, value: value, txn)
            }
        case "complaint.report":
            return try self.environment.read { txn in
                guard let feedback = try self.runner.servingProjector(named: "feedback", txn) as? FeedbackProjector
                else {
                    throw Rejection(.internalError, "the feedback read model is missing")
                }
                return try feedback.complaintReport(
                    params,
                    value: try? self.runner.servingProjector(named: "value", txn) as? ValueProjector,
                    sla: try? self.runner.servingProjector(named: "sla", txn) as? SlaProjector,
                    txn
                )
            }
        default:
            guard let index = self.queryOwners[method] else {
                throw Rejection(.unknownCommand, "unknown method \(method)")
            }
            return try self.runner.query(index, method: method, params: params, self.environment)
        }
    }

    /// `customer.get`: the profile, with its `value` block from the value read model as of today and its
    /// `feedback` block from the feedback read model, read in the same transaction (`null` while that
    /// read model is not serving).
    private func customerWithValue(_ params: JSON?) throws -> JSON {
        try self.environment.read { txn in try self.customerWithValue(params, txn) }
    }

    /// ``customerWithValue(_:)`` in `txn`.
    func customerWithValue(_ params: JSON?, _ txn: Transaction) throws -> JSON {
        guard let profiles = try self.runner.servingProjector(named: "customers", txn) as? CustomerProfileProjector
        else { throw Rejection(.internalError, "the customer profile read model is missing") }
        // The blocks are written into the profile's text as it is rendered from its rows.
        return try profiles.getQuery(params, txn) { id in
            let value = try? self.runner.servingProjector(named: "value", txn) as? ValueProjector
            let feedback = try? self.runner.servingProjector(named: "feedback", txn) as? FeedbackProjector
            return ProfileBlocks(
                feedback: (try feedback?.feedbackBlock(of: id, txn) ?? .null).serialized(),
                value: (try value?.valueBlock(of: id, asOf: nil, txn) ?? .null).serialized()
            )
        }
    }

    /// `segment.members` and `segment.preview`, from the segment read model, or — for what it keeps no
    /// history of (the newest definition before it was defined, a filter on an instant before some
    /// customer's last event) — from the events up to the instant folded again into a scratch model.
    private func segmentQuery(_ method: String, _ params: JSON?) throws -> JSON {
        let (plan, head) = try self.environment.read { txn in
            guard let segments = try self.runner.servingProjector(named: "segments", txn) as? SegmentProjector else {
                throw Rejection(.internalError, "the segment read model is missing")
            }
            return (try segments.replayPlan(method, params, txn), try self.store.head(txn).seq)
        }
        guard let plan else {
            guard let index = self.queryOwners[method] else { throw Rejection(.unknownCommand, "unknown method \(method)") }
            return try self.runner.query(index, method: method, params: params, self.environment)
        }
        var answer = try self.timeTravel.foldInScratch(
            upTo: head, make: { txn in try SegmentProjector(txn) }, include: { $0.occurredAt <= plan.instant }
        ) { scratch, txn in
            try scratch.answerReplayed(method, params, instant: plan.instant, filter: plan.filter, txn)
        }
        if let version = plan.version { answer["version"] = .int(version) }
        return answer
    }

    /// The key store, or `bad_request` on a log whose personal data is in plain text.
    private func keyStore(for action: String) throws -> KeyStore {
        guard let keyStore = self.storage.keyStore else {
            throw Rejection(
                .badRequest,
                "this log stores personal data in plain text: there is no key to \(action) "
                    + "(crmctl migrate --encrypt-pii copies it into an encrypted log)"
            )
        }
        return keyStore
    }

    /// The query methods of the read models, `system.*` and log methods included: every method this
    /// router answers.
    public var queryMethods: [String] {
        Array(self.queryOwners.keys) + QueryRouter.systemMethods + QueryRouter.combinedQueries
    }

    /// The core's metrics in the Prometheus text format (`system.metrics`, the HTTP listener), with
    /// the figures read at scrape time brought up to date first: the log head, the LMDB file, the
    /// writer's backlog and where each read model stands.
    public func metricsExposition() -> String {
        let metrics = self.metrics
        do {
            let (head, links) = try self.environment.read { txn in
                let head = try self.store.head(txn).seq
                return (head, try self.linkStats(head: head, txn))
            }
            metrics.set("crmd_log_head_position", Double(head))
            for (prefix, stats) in links {
                metrics.set("crmd_\(prefix)_up", stats["state"] == "running" ? 1 : 0)
                for key in ["lag_events", "lag_seconds", "restarts", "acknowledged_position", "position"] {
                    guard let value = stats[key]?.doubleValue else { continue }
                    metrics.set("crmd_\(prefix)_\(key)", value)
                }
            }
            metrics.set("crmd_lmdb_file_size_bytes", Double(self.environment.usedBytes))
            metrics.set("crmd_lmdb_map_size_bytes", Double(self.environment.mapSize))
            metrics.set("crmd_writer_backlog", Double(self.writer.backlog))
            for (model, lifecycle) in zip(self.runner.readModels, self.runner.lifecycles) {
                let labels = [("projection", model.name)]
                let rebuild = lifecycle.rebuild
                metrics.set("crmd_projection_checkpoint_position", Double(lifecycle.checkpoint), labels: labels)
                metrics.set("crmd_projection_rebuilding", rebuild == nil ? 0 : 1, labels: labels)
                metrics.set("crmd_projection_rebuild_position", Double(rebuild?.checkpoint ?? 0), labels: labels)
                let target = rebuild == nil ? 0 : Double(head)
                metrics.set("crmd_projection_rebuild_target_position", target, labels: labels)
                metrics.set("crmd_projection_failed", lifecycle.failure == nil ? 0 : 1, labels: labels)
            }
        } catch {
            self.logger.warning("reading the figures of the metrics failed", metadata: ["error": "\(error)"])
        }
        return metrics.emit()
    }

    /// The `system.stats` sections of the relay and of a replica's follower that run here.
    private func linkStats(head: UInt64, _ txn: Transaction) throws -> [(String, JSON)] {
        var sections: [(String, JSON)] = []
        if let relay = self.links.relay { sections.append(("relay", try relay.stats(head: head, txn))) }
        if let follower = self.links.follower { sections.append(("replica", follower.stats(head: head))) }
        return sections
    }

    private func stats() throws -> JSON {
        try self.environment.read { txn in
            let head = try self.store.head(txn)
            let projections = try self.storage.projectionStatus(head: head.seq, txn)
            return [
                "head": ["position": .int(Int64(head.seq)), "hash": .string(hexString(head.hash))],
                "event_count": .int(Int64(try self.store.count(txn))),
                "file_size_bytes": .int(Int64(self.environment.usedBytes)),
                "map_size_bytes": .int(Int64(self.environment.mapSize)),
                "writer_backlog": .int(Int64(self.writer.backlog)),
                "commits": .int(Int64(self.writer.batches)),
                "commands_refused": self.storage.appendBlock.map { block in
                    ["reason": .string(block.reason.rawValue), "message": .string(block.message)]
                } ?? .null,
                "projections": .array(projections),
                "personal_data": [
                    "encrypted": .bool(self.storage.keyStore != nil),
                    "kek_epoch": self.storage.keyStore.map { .int(Int64($0.epoch)) } ?? .null,
                ],
                "value_fit": self.storage.valueFitter.progress,
                "relay": try self.links.relay?.stats(head: head.seq, txn) ?? .null,
                "replica": self.links.follower?.stats(head: head.seq) ?? .null,
                "uptime_seconds": .int(Int64(Date().timeIntervalSince(self.startedAt))),
                "data_dir": .string(self.configuration.dataDirectory),
            ]
        }
    }
}
