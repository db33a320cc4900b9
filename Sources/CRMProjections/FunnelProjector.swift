public import CRMDomain
public import CRMEventStore
import CRMJSON
public import LMDB

/// The sales funnel read model: per pipeline and for the customer lifecycle.
///
/// Tables (named with ``Projector/tableName(_:)``):
/// - `pipelines`: pipeline id → current definition (the `PipelineDefined` data).
/// - `deals`: deal id → the deal's ``FunnelItem`` as a binary row (`deal.get` renders it).
/// - `names`: deal id → the deal's name (personal data: sealed when the log encrypts it, see
///   ``PersonalTexts``), so that only the events that name a deal touch it; `names_by_subject`
///   indexes them by the key that seals them, for erasure.
/// - `by_pipeline`: pipeline id, `0x00`, deal id → empty.
/// - `by_customer`: customer id, `0x00`, deal id → empty.
/// - `lifecycle`: customer id → the customer's ``FunnelItem`` in the lifecycle funnel as a binary
///   row, with the customer's owner, source and tier (used by `group_by`).
///
/// Reports are computed from the items at query time (``FunnelReport``), so they depend only on the
/// folded items: a projection rebuilt from the log answers exactly like the inline one.
public struct FunnelProjector: Projector {
    /// Version 2: version 1 was an empty placeholder, so data directories folded by it are rebuilt.
    /// Version 3 stores deals and lifecycle items as binary rows instead of JSON documents; version 4
    /// keeps deal names in a table of their own, sealed when personal data is encrypted.
    static let identity = (name: "funnel", version: 4)

    /// `funnel`.
    public var name: String { Self.identity.name }
    /// `4`.
    public var version: Int { Self.identity.version }
    /// The table slot this instance uses.
    public let slot: Int

    let pipelines: Database
    let deals: Database
    let byPipeline: Database
    let byCustomer: Database
    let lifecycle: Database
    /// Deal names.
    let names: PersonalTexts

    /// Opens (creating when needed) the projection's tables; `cipher` seals deal names (`nil` for a
    /// log that keeps personal data in plain text).
    public init(_ txn: Transaction, slot: Int = 0, cipher: RowCipher? = nil) throws {
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
        self.names = PersonalTexts(
            try open("names"), bySubject: try open("names_by_subject"), readModel: Self.identity.name, table: "names",
            cipher: cipher
        )
    }

    /// Every table of this instance.
    public var databases: [Database] {
        [self.pipelines, self.deals, self.byPipeline, self.byCustomer, self.lifecycle] + self.names.databases
    }

    /// Folds one event; other event types are ignored.
    public func apply(_ event: RecordedEvent, _ txn: Transaction) throws {
        switch event.event {
        case .sales(.pipelineDefined(let defined)):
            try txn.put(self.pipelines, defined.definition.id, defined.definition.json.serialized())
        case .sales(.dealCreated(let created)): try self.dealCreated(created, event, txn)
        case .sales(.dealStageChanged(let changed)): try self.dealStageChanged(changed, event, txn)
        case .sales(.dealUpdated(let updated)): try self.dealUpdated(updated, event, txn)
        case .customer(.created(let created)): try self.customerCreated(created, event, txn)
        case .customer(.erased(let erased)): try self.names.erase(subjects: erased.keyIDs, txn)
        case .customer(.lifecycleStageChanged(let changed)): try self.lifecycleStageChanged(changed, event, txn)
        case .customer(.ownerChanged(let changed)):
            try self.updateCustomer(changed.customerID, event, txn) { item in item.ownerID = changed.to }
        case .customer(.updated(let updated)):
            guard updated.source != nil || updated.tier != nil else { return }
            try self.updateCustomer(updated.customerID, event, txn) { item in
                if let change = updated.source { item.source = change.to }
                if let change = updated.tier { item.tier = change.to }
            }
        case .customer(.merged(let merged)): try self.customersMerged(merged, event, txn)
        default:
            return
        }
    }

    /// Reads no activity's or ticket message's personal data (``ReadModelPersonalData/unreadTypes``).
    public func readsPersonalData(of type: String) -> Bool { !ReadModelPersonalData.unreadTypes.contains(type) }

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
        return try FunnelItem(decoding: bytes)
    }

    func store(_ item: FunnelItem, _ database: Database, _ txn: Transaction) throws {
        try txn.put(database, item.id, item.encoded())
    }

    static func pairKey(_ first: String, _ second: String) -> [UInt8] {
        Array(first.utf8) + [0] + Array(second.utf8)
    }

    // MARK: - Deals

    private func dealCreated(_ created: DealCreated, _ event: RecordedEvent, _ txn: Transaction) throws {
        let id = created.dealID
        var item = FunnelItem(
            id: id,
            pipelineID: created.pipelineID,
            stage: created.stageID,
            kind: created.kind,
            probability: created.probability,
            createdAt: event.occurredAt,
            lastOpenStage: created.lastOpenStage
        )
        item.amount = created.amount
        item.currency = created.currency
        item.closeDate = created.closeDate
        item.ownerID = created.ownerID
        item.customerIDs = created.customerIDs
        try self.names.put(created.name, of: id, for: event, txn)
        item.lostReason = item.kind == "lost" ? created.lostReason : nil
        item.version = Int64(truncatingIfNeeded: event.streamVersion)
        try self.store(item, self.deals, txn)
        try txn.put(self.byPipeline, Self.pairKey(created.pipelineID, id), [UInt8]())
        for customerID in item.customerIDs {
            try txn.put(self.byCustomer, Self.pairKey(customerID, id), [UInt8]())
        }
    }

    private func dealStageChanged(_ changed: DealStageChanged, _ event: RecordedEvent, _ txn: Transaction) throws {
        guard var item = try self.item(self.deals, changed.dealID, txn) else { return }
        item.move(
            to: changed.to,
            kind: changed.toKind,
            at: event.occurredAt,
            backward: changed.backward,
            reopened: changed.reopened,
            lastOpenStage: changed.lastOpenStage,
            probability: changed.probability ?? item.probability,
            lostReason: changed.lostReason
        )
        item.version = Int64(truncatingIfNeeded: event.streamVersion)
        try self.store(item, self.deals, txn)
    }

    private func dealUpdated(_ updated: DealUpdated, _ event: RecordedEvent, _ txn: Transaction) throws {
        let id = updated.dealID
        guard var item = try self.item(self.deals, id, txn) else { return }
        if let change = updated.name { try self.names.put(change.to, of: id, for: event, txn) }
        if let change = updated.amount { item.amount = change.to }
        if let change = updated.currency { item.currency = change.to }
        if let change = updated.closeDate { item.closeDate = change.to }
        if let change = updated.ownerID { item.ownerID = change.to }
        if let change = updated.customerIDs {
            let new = change.to ?? item.customerIDs
            for customerID in item.customerIDs where !new.contains(customerID) {
                try txn.delete(self.byCustomer, Self.pairKey(customerID, id))
            }
            for customerID in new { try txn.put(self.byCustomer, Self.pairKey(customerID, id), [UInt8]()) }
            item.customerIDs = new
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

    /// A merge leaves one person in the lifecycle funnel: the secondaries' items go, the primary's
    /// takes the merged owner, source and tier (its stage moves with the `LifecycleStageChanged` the
    /// merge causes), and the secondaries' deals name the primary instead.
    private func customersMerged(_ merged: CustomersMerged, _ event: RecordedEvent, _ txn: Transaction) throws {
        for id in merged.secondaryIDs { _ = try txn.delete(self.lifecycle, id) }
        try self.updateCustomer(merged.primaryID, event, txn) { item in
            item.ownerID = merged.result.ownerID
            item.source = merged.result.source
            item.tier = merged.result.tier
        }
        let secondaryIDs = Set(merged.secondaryIDs)
        for dealID in merged.moved.deals {
            guard var item = try self.item(self.deals, dealID, txn) else { continue }
            var seen = Set<String>()
            let customers = item.customerIDs.map { secondaryIDs.contains($0) ? merged.primaryID : $0 }
                .filter { seen.insert($0).inserted }
            guard customers != item.customerIDs else { continue }
            for id in item.customerIDs { _ = try txn.delete(self.byCustomer, Self.pairKey(id, dealID)) }
            for id in customers { try txn.put(self.byCustomer, Self.pairKey(id, dealID), [UInt8]()) }
            item.customerIDs = customers
            try self.store(item, self.deals, txn)
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
