import CRMDomain
import CRMEventStore
import CRMJSON
import CRMParams
import Foundation
import LMDB

extension FunnelProjector {
    /// The page size of `deal.list` when no `limit` is given.
    static let defaultLimit = 50
    /// The largest `limit` `deal.list` accepts.
    static let maximumLimit = 200

    // MARK: - Shared

    /// The pipeline named by `pipeline_id` (or `lifecycle`), else `unknown_pipeline`.
    func requirePipeline(_ id: String, _ txn: Transaction) throws -> PipelineDefinition {
        guard let pipeline = try self.pipeline(id, txn) else {
            throw Rejection(
                .unknownPipeline,
                field: "pipeline_id",
                "pipeline \(id) does not exist",
                details: ["pipeline_id": .string(id)]
            )
        }
        return pipeline
    }

    /// Every item of a pipeline: its deals, or every customer for `lifecycle`.
    func items(of pipelineID: String, _ txn: Transaction) throws -> [FunnelItem] {
        var items: [FunnelItem] = []
        if pipelineID == PipelineDefinition.lifecycleID {
            try txn.withCursor(self.lifecycle) { cursor in
                var entry = try cursor.first()
                while let found = entry {
                    items.append(try FunnelItem(decoding: found.valueBytes))
                    entry = try cursor.next()
                }
            }
            return items
        }
        for id in try self.dealIDs(self.byPipeline, prefix: pipelineID, after: nil, txn) {
            if let item = try self.item(self.deals, id, txn) { items.append(item) }
        }
        return items
    }

    /// Deal ids of the index rows `prefix ‖ 0x00 ‖ id`, after `after`, in id order.
    func dealIDs(_ database: Database, prefix: String, after: String?, _ txn: Transaction) throws -> [String] {
        let start = Array(prefix.utf8) + [0]
        return try txn.withCursor(database) { cursor in
            var entry: Cursor.Entry?
            if let after {
                let key = Self.pairKey(prefix, after)
                entry = try cursor.seek(atOrAfter: key)
                if let found = entry, found.key.elementsEqual(key) { entry = try cursor.next() }
            } else {
                entry = try cursor.seek(atOrAfter: start)
            }
            var ids: [String] = []
            while let found = entry, found.key.starts(with: start) {
                ids.append(String(decoding: found.key.dropFirst(start.count), as: UTF8.self))
                entry = try cursor.next()
            }
            return ids
        }
    }

    // MARK: - funnel.snapshot

    /// `funnel.snapshot {pipeline_id}` → per stage counts, amounts and weighted amounts of what sits there
    /// now (``FunnelReport/snapshot(_:)``).
    func snapshotQuery(_ json: JSON?, _ txn: Transaction) throws -> JSON {
        var params = try Params(json)
        let id = try params.identifier("pipeline_id", required: true)!
        try params.finish()
        let pipeline = try self.requirePipeline(id, txn)
        return FunnelReport(pipeline: pipeline).snapshot(try self.items(of: id, txn))
    }

    // MARK: - funnel.report

    /// `funnel.report {pipeline_id, from?, to?, mode?, cohort?, group_by?, currency?, stale_after_days?}`.
    func reportQuery(_ json: JSON?, _ txn: Transaction) throws -> JSON {
        try self.report(json, now: Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)), txn)
    }

    /// `funnel.report` with `stale` measured at `now` (UTC ms) when the params give no `to`: the live
    /// query passes the current time, time travel (`as_of`) the time of the point it answers for.
    package func report(_ json: JSON?, now: Int64, _ txn: Transaction) throws -> JSON {
        var params = try Params(json)
        let id = try params.identifier("pipeline_id", required: true)!
        var options = FunnelReportOptions()
        options.from = try params.timestamp("from")
        options.to = try params.timestamp("to")
        options.mode = try params.oneOf("mode", ["implied", "strict", "any"]) ?? "implied"
        options.cohort = try params.oneOf("cohort", ["created", "entered"]) ?? "created"
        options.groupBy = try params.oneOf("group_by", ["owner", "source", "tier"])
        options.currency = try params.currency("currency")
        if let days = try params.int("stale_after_days") {
            guard (1...3650).contains(days) else {
                throw Rejection.invalid("stale_after_days", "must be from 1 to 3650")
            }
            options.staleAfterDays = Int(days)
        }
        try params.finish()
        if let from = options.from, let to = options.to, to <= from {
            throw Rejection.invalid("to", "must be after from")
        }
        options.now = now
        let pipeline = try self.requirePipeline(id, txn)
        let items = try self.items(of: id, txn)
        var attributes: [String: (owner: String?, source: String?, tier: String?)] = [:]
        if options.groupBy == "source" || options.groupBy == "tier", id != PipelineDefinition.lifecycleID {
            for customerID in Set(items.compactMap(\.customerIDs.first)) {
                if let customer = try self.item(self.lifecycle, customerID, txn) {
                    attributes[customerID] = (customer.ownerID, customer.source, customer.tier)
                }
            }
        }
        let groupBy = options.groupBy
        return FunnelReport(pipeline: pipeline).report(items, options: options) { item in
            switch groupBy {
            case "owner": return item.ownerID
            case "source":
                return item.pipelineID == PipelineDefinition.lifecycleID
                    ? item.source : item.customerIDs.first.flatMap { attributes[$0]?.source }
            case "tier":
                return item.pipelineID == PipelineDefinition.lifecycleID
                    ? item.tier : item.customerIDs.first.flatMap { attributes[$0]?.tier }
            default: return nil
            }
        }
    }

    // MARK: - deal.get, deal.list

    /// `deal.get {deal_id}` → the deal's funnel document; `not_found` for an unknown deal.
    func dealGetQuery(_ json: JSON?, _ txn: Transaction) throws -> JSON {
        var params = try Params(json)
        let id = try params.identifier("deal_id", required: true)!
        try params.finish()
        guard var item = try self.item(self.deals, id, txn) else { throw Rejection.notFound("deal_id", "deal", id) }
        item.name = try self.names.text(of: id, txn)
        return item.json
    }

    /// `deal.list {pipeline_id?, stage_id?, owner_id?, customer_id?, limit?, after?}` →
    /// `{"deals": [document…], "next_after": deal id|null}` in deal id order.
    func dealListQuery(_ json: JSON?, _ txn: Transaction) throws -> JSON {
        var params = try Params(json)
        let pipelineID = try params.identifier("pipeline_id")
        let stageID = try params.identifier("stage_id")
        let ownerID = try params.identifier("owner_id")
        let customerID = try params.identifier("customer_id")
        var limit = Self.defaultLimit
        if let value = try params.int("limit") {
            guard (1...Int64(Self.maximumLimit)).contains(value) else {
                throw Rejection.invalid("limit", "must be between 1 and \(Self.maximumLimit)")
            }
            limit = Int(value)
        }
        let after = try params.identifier("after")
        try params.finish()
        if let pipelineID {
            let pipeline = try self.requirePipeline(pipelineID, txn)
            if let stageID, pipeline.stage(stageID) == nil {
                throw Rejection(
                    .unknownStage,
                    field: "stage_id",
                    "pipeline \(pipelineID) has no stage \(stageID)",
                    details: ["pipeline_id": .string(pipelineID), "stage_id": .string(stageID)]
                )
            }
        }
        guard pipelineID != PipelineDefinition.lifecycleID else {
            throw Rejection.invalid("pipeline_id", "the lifecycle funnel has no deals")
        }
        let candidates: [String]
        if let customerID {
            candidates = try self.dealIDs(self.byCustomer, prefix: customerID, after: after, txn)
        } else if let pipelineID {
            candidates = try self.dealIDs(self.byPipeline, prefix: pipelineID, after: after, txn)
        } else {
            candidates = try txn.withCursor(self.deals) { cursor in
                var entry = try after.map { try cursor.seek(atOrAfter: Array($0.utf8)) } ?? cursor.first()
                if let found = entry, let after, found.key.elementsEqual(Array(after.utf8)) {
                    entry = try cursor.next()
                }
                var ids: [String] = []
                while let found = entry {
                    ids.append(String(decoding: found.key, as: UTF8.self))
                    entry = try cursor.next()
                }
                return ids
            }
        }
        var deals: [JSON] = []
        var last: String?
        var more = false
        for id in candidates {
            guard var item = try self.item(self.deals, id, txn) else { continue }
            if let pipelineID, item.pipelineID != pipelineID { continue }
            if let stageID, item.stage != stageID { continue }
            if let ownerID, item.ownerID != ownerID { continue }
            if deals.count == limit {
                more = true
                break
            }
            item.name = try self.names.text(of: id, txn)
            deals.append(item.json)
            last = id
        }
        return ["deals": .array(deals), "next_after": .string(more ? last : nil)]
    }

    // MARK: - pipeline.get, pipeline.list

    /// `pipeline.get {pipeline_id}` → the current definition (`lifecycle` gives the built-in one).
    func pipelineGetQuery(_ json: JSON?, _ txn: Transaction) throws -> JSON {
        var params = try Params(json)
        let id = try params.identifier("pipeline_id", required: true)!
        try params.finish()
        return try self.requirePipeline(id, txn).json
    }

    /// `pipeline.list {}` → `{"pipelines": [definition…]}` in id order.
    func pipelineListQuery(_ json: JSON?, _ txn: Transaction) throws -> JSON {
        try Params(json).finish()
        var pipelines: [JSON] = []
        try txn.withCursor(self.pipelines) { cursor in
            var entry = try cursor.first()
            while let found = entry {
                if let json = try? JSON.parse(found.value) { pipelines.append(json) }
                entry = try cursor.next()
            }
        }
        return ["pipelines": .array(pipelines)]
    }
}
