public import CRMDomain
import CRMJSON
public import LMDB

/// The sales funnel read model: per pipeline and for the customer lifecycle.
///
/// Tables (named with ``Projector/tableName(_:)``):
/// - `pipelines`: pipeline id → current definition (the `PipelineDefined` data).
/// - `deals`: deal id → funnel document of the deal (``FunnelItem``, also the `deal.get` result).
/// - `by_pipeline`: pipeline id, `0x00`, deal id → empty.
/// - `by_customer`: customer id, `0x00`, deal id → empty.
/// - `lifecycle`: customer id → funnel document of the customer in the lifecycle funnel, with the
///   customer's owner, source and tier (used by `group_by`).
///
/// Reports are computed from the documents at query time (``FunnelReport``), so they depend only on
/// the folded documents: a projection rebuilt from the log answers exactly like the inline one.
public struct FunnelProjector: Projector {
    /// Version 2: version 1 was an empty placeholder, so data directories folded by it are rebuilt.
    static let identity = (name: "funnel", version: 2)

    /// `funnel`.
    public var name: String { Self.identity.name }
    /// `2`.
    public var version: Int { Self.identity.version }
    /// The table slot this instance uses.
    public let slot: Int

    let pipelines: Database
    let deals: Database
    let byPipeline: Database
    let byCustomer: Database
    let lifecycle: Database

    /// Opens (creating when needed) the projection's tables.
    public init(_ txn: Transaction, slot: Int = 0) throws {
        self.slot = slot
        func open(_ table: String) throws -> Database {
            try txn.openDatabase(
                ProjectionTables.name(Self.identity.name, version: Self.identity.version, slot: slot, table: table)
            )
        }
        self.pipelines = try open("pipelines")
        self.deals = try open("deals")
        self.byPipeline = try open("by_pipeline")
        self.byCustomer = try open("by_customer")
        self.lifecycle = try open("lifecycle")
    }

    /// Every table of this instance.
    public var databases: [Database] { [self.pipelines, self.deals, self.byPipeline, self.byCustomer, self.lifecycle] }

    /// Folds one event; other event types are ignored.
    public func apply(_ event: RecordedEvent, _ txn: Transaction) throws {
        switch event.type {
        case SalesEventType.pipelineDefined:
            guard let id = event.data["pipeline_id"]?.stringValue else { return }
            try txn.put(self.pipelines, id, event.data.serialized())
        case SalesEventType.dealCreated: try self.dealCreated(event, txn)
        case SalesEventType.dealStageChanged: try self.dealStageChanged(event, txn)
        case SalesEventType.dealUpdated: try self.dealUpdated(event, txn)
        default:
            try self.applyCustomerEvent(event, txn)
        }
    }

    /// Folds the customer events the lifecycle funnel uses.
    private func applyCustomerEvent(_ event: RecordedEvent, _ txn: Transaction) throws {
        guard case .customer(let customerEvent) = event.event else { return }
        switch customerEvent {
        case .created(let created): try self.customerCreated(created, event, txn)
        case .lifecycleStageChanged(let changed): try self.lifecycleStageChanged(changed, event, txn)
        case .ownerChanged(let changed):
            try self.updateCustomer(changed.customerID, event, txn) { item in item.ownerID = changed.to }
        case .updated(let updated):
            guard updated.source != nil || updated.tier != nil else { return }
            try self.updateCustomer(updated.customerID, event, txn) { item in
                if let change = updated.source { item.source = change.to }
                if let change = updated.tier { item.tier = change.to }
            }
        default:
            return
        }
    }

    /// `funnel.snapshot`, `funnel.report`, `deal.get`, `deal.list`, `pipeline.get` and `pipeline.list`.
    public var queries: [String: ProjectionQuery] {
        [
            "funnel.snapshot": { params, txn in try self.snapshotQuery(params, txn) },
            "funnel.report": { params, txn in try self.reportQuery(params, txn) },
            "deal.get": { params, txn in try self.dealGetQuery(params, txn) },
            "deal.list": { params, txn in try self.dealListQuery(params, txn) },
            "pipeline.get": { params, txn in try self.pipelineGetQuery(params, txn) },
            "pipeline.list": { params, txn in try self.pipelineListQuery(params, txn) },
        ]
    }

    // MARK: - Storage

    /// The current definition of `id`, or `nil` (the lifecycle is built in).
    func pipeline(_ id: String, _ txn: Transaction) throws -> PipelineDefinition? {
        if id == PipelineDefinition.lifecycleID { return .lifecycle }
        guard let bytes = try txn.get(self.pipelines, id) else { return nil }
        guard let json = try? JSON.parse(bytes), let definition = PipelineDefinition(json: json) else {
            throw ProfileStorageError(message: "stored pipeline \(id) is malformed")
        }
        return definition
    }

    /// The stored item of `key` in `database`, or `nil`.
    func item(_ database: Database, _ key: String, _ txn: Transaction) throws -> FunnelItem? {
        guard let bytes = try txn.get(database, key) else { return nil }
        guard let json = try? JSON.parse(bytes), let item = FunnelItem(json: json) else {
            throw ProfileStorageError(message: "stored funnel item \(key) is malformed")
        }
        return item
    }

    func store(_ item: FunnelItem, _ database: Database, _ txn: Transaction) throws {
        try txn.put(database, item.id, item.json.serialized())
    }

    static func pairKey(_ first: String, _ second: String) -> [UInt8] {
        Array(first.utf8) + [0] + Array(second.utf8)
    }

    // MARK: - Deals

    private func dealCreated(_ event: RecordedEvent, _ txn: Transaction) throws {
        let data = event.data
        guard let id = data["deal_id"]?.stringValue, let pipelineID = data["pipeline_id"]?.stringValue,
            let stage = data["stage_id"]?.stringValue
        else { return }
        var item = FunnelItem(
            id: id,
            pipelineID: pipelineID,
            stage: stage,
            kind: data["kind"]?.stringValue ?? "open",
            probability: Int(data["probability"]?.intValue ?? 0),
            createdAt: event.occurredAt,
            lastOpenStage: data["last_open_stage"]?.stringValue
        )
        item.amount = data["amount"].flatMap(MoneyAmount.init(json:))
        item.currency = data["currency"]?.stringValue
        item.closeDate = data["close_date"]?.stringValue
        item.ownerID = data["owner_id"]?.stringValue
        item.customerIDs = data["customer_ids"]?.arrayValue?.compactMap(\.stringValue) ?? []
        item.name = event.pii["name"]?.stringValue
        item.lostReason = item.kind == "lost" ? data["lost_reason"]?.stringValue : nil
        item.version = Int64(truncatingIfNeeded: event.streamVersion)
        try self.store(item, self.deals, txn)
        try txn.put(self.byPipeline, Self.pairKey(pipelineID, id), [UInt8]())
        for customerID in item.customerIDs {
            try txn.put(self.byCustomer, Self.pairKey(customerID, id), [UInt8]())
        }
    }

    private func dealStageChanged(_ event: RecordedEvent, _ txn: Transaction) throws {
        let data = event.data
        guard let id = data["deal_id"]?.stringValue, var item = try self.item(self.deals, id, txn),
            let to = data["to"]?.stringValue
        else { return }
        item.move(
            to: to,
            kind: data["to_kind"]?.stringValue ?? "open",
            at: event.occurredAt,
            backward: data["backward"]?.boolValue ?? false,
            reopened: data["reopened"]?.boolValue ?? false,
            lastOpenStage: data["last_open_stage"]?.stringValue,
            probability: Int(data["probability"]?.intValue ?? Int64(item.probability)),
            lostReason: data["lost_reason"]?.stringValue
        )
        item.version = Int64(truncatingIfNeeded: event.streamVersion)
        try self.store(item, self.deals, txn)
    }

    private func dealUpdated(_ event: RecordedEvent, _ txn: Transaction) throws {
        guard let id = event.data["deal_id"]?.stringValue, var item = try self.item(self.deals, id, txn) else { return }
        var changes = event.data["changes"]?.objectValue ?? [:]
        for (field, change) in event.pii["changes"]?.objectValue ?? [:] { changes[field] = change }
        for (field, change) in changes {
            let to = change["to"] ?? .null
            switch field {
            case "name": item.name = to.stringValue
            case "amount": item.amount = MoneyAmount(json: to)
            case "currency": item.currency = to.stringValue
            case "close_date": item.closeDate = to.stringValue
            case "owner_id": item.ownerID = to.stringValue
            case "customer_ids":
                let new = to.arrayValue?.compactMap(\.stringValue) ?? item.customerIDs
                for customerID in item.customerIDs where !new.contains(customerID) {
                    try txn.delete(self.byCustomer, Self.pairKey(customerID, id))
                }
                for customerID in new { try txn.put(self.byCustomer, Self.pairKey(customerID, id), [UInt8]()) }
                item.customerIDs = new
            default: continue
            }
        }
        item.updatedAt = max(item.updatedAt, event.occurredAt)
        item.version = Int64(truncatingIfNeeded: event.streamVersion)
        try self.store(item, self.deals, txn)
    }

    // MARK: - Lifecycle

    private func customerCreated(_ created: CustomerCreated, _ event: RecordedEvent, _ txn: Transaction) throws {
        let id = created.customerID
        let lifecycle = PipelineDefinition.lifecycle
        let stage = created.lifecycleStage
        let kind = lifecycle.stage(stage)?.kind ?? "open"
        var item = FunnelItem(
            id: id,
            pipelineID: lifecycle.id,
            stage: stage,
            kind: kind,
            probability: lifecycle.stage(stage)?.probability ?? 0,
            createdAt: event.occurredAt,
            lastOpenStage: lifecycle.initialLastOpenStage(stage, kind: kind)
        )
        item.ownerID = created.ownerID
        item.source = created.source
        item.tier = created.tier
        item.version = Int64(truncatingIfNeeded: event.streamVersion)
        try self.store(item, self.lifecycle, txn)
    }

    private func lifecycleStageChanged(
        _ changed: LifecycleStageChanged,
        _ event: RecordedEvent,
        _ txn: Transaction
    ) throws {
        let to = changed.to
        try self.updateCustomer(changed.customerID, event, txn) { item in
            guard to != item.stage else { return }
            let lifecycle = PipelineDefinition.lifecycle
            let toKind = lifecycle.stage(to)?.kind ?? "open"
            var backward = false
            if item.kind == "open", toKind == "open", let from = lifecycle.openOrder(item.stage),
                let target = lifecycle.openOrder(to)
            {
                backward = target < from
            }
            item.move(
                to: to,
                kind: toKind,
                at: event.occurredAt,
                backward: backward,
                reopened: item.kind != "open" && toKind == "open",
                lastOpenStage: lifecycle.lastOpenStage(
                    from: item.stage,
                    fromKind: item.kind,
                    to: to,
                    toKind: toKind,
                    current: item.lastOpenStage
                ),
                probability: lifecycle.stage(to)?.probability ?? 0,
                lostReason: nil
            )
        }
    }

    private func updateCustomer(
        _ id: String,
        _ event: RecordedEvent,
        _ txn: Transaction,
        _ change: (inout FunnelItem) -> Void
    ) throws {
        guard var item = try self.item(self.lifecycle, id, txn) else { return }
        change(&item)
        item.updatedAt = max(item.updatedAt, event.occurredAt)
        item.version = Int64(truncatingIfNeeded: event.streamVersion)
        try self.store(item, self.lifecycle, txn)
    }
}
