import CRMDomain
import CRMJSON

/// The sales events ⇄ their JSON payloads in the log.
///
/// `encode` builds exactly the JSON `decide` has always written for each type (same members, `null`
/// for absent values, integers as integers), so the records and their hashes are the same whether an
/// event was appended typed or untyped. `decode` is as lenient as the folds have always been: members
/// a fold does without get their old defaults, and only a payload every fold ignored gives `nil`.
enum SalesEventCodec {
    /// The `data` and `pii` payloads of `event`.
    static func encode(_ event: SalesEvent) -> (data: JSON, pii: JSON) {
        switch event {
        case .pipelineDefined(let defined): (defined.definition.json, .null)
        case .dealCreated(let created): SalesEventCodec.encode(created)
        case .dealStageChanged(let changed): (SalesEventCodec.encode(changed), .null)
        case .dealUpdated(let updated): SalesEventCodec.encode(updated)
        case .orderRecorded(let order): (OrderEventCodec.data(order), .null)
        case .orderRefunded(let refund): (OrderEventCodec.data(refund), .null)
        case .orderCancelled(let cancel): (OrderEventCodec.data(cancel), .null)
        case .valueModelFitted(let model): (OrderEventCodec.data(model), .null)
        case .churnMarked(let mark):
            (
                [
                    "customer_id": .string(mark.customerID), "effective_date": .string(mark.effectiveDate),
                    "reason": .string(mark.reason),
                ],
                .null
            )
        case .churnUnmarked(let unmark): (["customer_id": .string(unmark.customerID)], .null)
        case .valueSettingsChanged(let changes): (["changes": SalesEventCodec.json(changes)], .null)
        case .rfmSegmentMapDefined(let map):
            (["version": .int(Int64(map.version)), "rules": .array(map.rules.map(\.json))], .null)
        case .rfmSnapshotTaken(let snapshot):
            (
                [
                    "snapshot_id": .string(snapshot.snapshotID), "as_of_date": .string(snapshot.asOfDate),
                    "window_days": .int(Int64(snapshot.windowDays)), "currency": .string(snapshot.currency),
                    "map_version": .int(Int64(snapshot.mapVersion)), "population": .int(Int64(snapshot.population)),
                ],
                .null
            )
        }
    }

    /// The typed event of a current-version payload of a sales type, or `nil` for another type or a
    /// payload the folds ignore (no pipeline definition, no deal id, a stage change without its target).
    static func decode(_ event: EventPayload) -> SalesEvent? {
        switch event.type {
        case SalesEventType.pipelineDefined:
            PipelineDefinition(json: event.data).map { .pipelineDefined(PipelineDefined(definition: $0)) }
        case SalesEventType.dealCreated:
            SalesEventCodec.dealCreated(event.data, event.pii).map(SalesEvent.dealCreated)
        case SalesEventType.dealStageChanged:
            SalesEventCodec.dealStageChanged(event.data).map(SalesEvent.dealStageChanged)
        case SalesEventType.dealUpdated:
            SalesEventCodec.dealUpdated(event.data, event.pii).map(SalesEvent.dealUpdated)
        case SalesEventType.orderRecorded: OrderEventCodec.recorded(event.data).map(SalesEvent.orderRecorded)
        case SalesEventType.orderRefunded: OrderEventCodec.refunded(event.data).map(SalesEvent.orderRefunded)
        case SalesEventType.orderCancelled: OrderEventCodec.cancelled(event.data).map(SalesEvent.orderCancelled)
        case SalesEventType.valueModelFitted: OrderEventCodec.model(event.data).map(SalesEvent.valueModelFitted)
        case SalesEventType.churnMarked:
            event.data["customer_id"]?.stringValue.flatMap { id in
                event.data["effective_date"]?.stringValue.map { date in
                    .churnMarked(
                        ChurnMarked(customerID: id, effectiveDate: date, reason: event.data["reason"]?.stringValue)
                    )
                }
            }
        case SalesEventType.rfmSegmentMapDefined:
            event.data["version"]?.intValue.map { version in
                .rfmSegmentMapDefined(
                    RfmSegmentMapDefined(
                        version: Int(version),
                        rules: (event.data["rules"]?.arrayValue ?? []).compactMap(RfmRule.init(json:))
                    )
                )
            }
        case SalesEventType.rfmSnapshotTaken: SalesEventCodec.snapshot(event.data).map(SalesEvent.rfmSnapshotTaken)
        case SalesEventType.valueSettingsChanged:
            event.data["changes"]?.objectValue.map { .valueSettingsChanged(SalesEventCodec.settingsChanged($0)) }
        case SalesEventType.churnUnmarked:
            event.data["customer_id"]?.stringValue.map { .churnUnmarked(ChurnUnmarked(customerID: $0)) }
        default: nil
        }
    }

    static func snapshot(_ data: JSON) -> RfmSnapshotTaken? {
        guard let id = data["snapshot_id"]?.stringValue, let date = data["as_of_date"]?.stringValue,
            let window = data["window_days"]?.intValue, let currency = data["currency"]?.stringValue,
            let version = data["map_version"]?.intValue, let population = data["population"]?.intValue
        else { return nil }
        return RfmSnapshotTaken(
            snapshotID: id, asOfDate: date, windowDays: Int(window), currency: currency, mapVersion: Int(version),
            population: Int(population)
        )
    }

    /// `ValueSettingsChanged.changes`: the changed settings by their param names.
    static func json(_ changes: ValueSettingsChanged) -> JSON {
        var json: [String: JSON] = [:]
        if let zone = changes.reportingTimezone { json["reporting_timezone"] = .string(zone) }
        if let currency = changes.reportingCurrency { json["reporting_currency"] = .string(currency) }
        let days: [(String, Int?)] = [
            ("new_customer_days", changes.newCustomerDays), ("inactive_after_days", changes.inactiveAfterDays),
            ("churn_after_days", changes.churnAfterDays), ("rfm_window_days", changes.rfmWindowDays),
        ]
        for (key, value) in days { if let value { json[key] = .int(Int64(value)) } }
        return .object(json)
    }

    static func settingsChanged(_ json: [String: JSON]) -> ValueSettingsChanged {
        func days(_ key: String) -> Int? { json[key]?.intValue.map(Int.init) }
        return ValueSettingsChanged(
            reportingTimezone: json["reporting_timezone"]?.stringValue,
            reportingCurrency: json["reporting_currency"].map { $0.stringValue },
            newCustomerDays: days("new_customer_days"), inactiveAfterDays: days("inactive_after_days"),
            churnAfterDays: days("churn_after_days"), rfmWindowDays: days("rfm_window_days")
        )
    }

    /// The payload texts of the deal and order events most commands emit, written straight into bytes
    /// without a JSON tree; `nil` for the others. Equal to the serialized ``encode(_:)``
    /// (`SalesEventCodecTests`, `PayloadDecoderTests`).
    static func payloadTexts(_ event: SalesEvent) -> (data: [UInt8], pii: [UInt8])? {
        var data = CanonicalJSONWriter(capacity: 320)
        data.openObject()
        var pii: [UInt8] = Array("null".utf8)
        switch event {
        case .dealCreated(let created):
            data.member("amount", created.amount?.description)
            data.member("close_date", created.closeDate)
            data.member("currency", created.currency)
            data.member("customer_ids", strings: created.customerIDs)
            data.member("deal_id", created.dealID)
            data.member("kind", created.kind)
            data.member("last_open_stage", created.lastOpenStage)
            data.member("lost_reason", created.lostReason)
            data.member("owner_id", created.ownerID)
            data.member("pipeline_id", created.pipelineID)
            data.member("pipeline_version", Int64(created.pipelineVersion))
            data.member("probability", Int64(created.probability))
            data.member("stage_id", created.stageID)
            var personal = CanonicalJSONWriter(capacity: 32 + (created.name?.utf8.count ?? 0))
            personal.openObject()
            personal.member("name", created.name)
            personal.closeObject()
            pii = personal.bytes
        case .dealStageChanged(let changed):
            data.member("backward", changed.backward)
            data.member("deal_id", changed.dealID)
            data.member("from", changed.from)
            data.member("from_kind", changed.fromKind)
            data.member("last_open_stage", changed.lastOpenStage)
            data.member("lost_reason", changed.lostReason)
            data.member("pipeline_id", changed.pipelineID)
            data.member("probability", changed.probability.map(Int64.init))
            data.member("reopened", changed.reopened)
            data.member("to", changed.to)
            data.member("to_kind", changed.toKind)
        case .orderRecorded(let order):
            data.member("amount", order.amount.description)
            data.member("campaign_id", order.campaignID)
            data.member("channel", order.channel)
            data.member("currency", order.currency)
            data.member("customer_id", order.customerID)
            data.member("external_ref", order.externalRef)
            data.member("lines_count", order.linesCount)
            data.member("margin", order.margin.map { MoneyAmount.format($0, scale: MoneyAmount.scale) })
            data.member("order_id", order.orderID)
            data.member("ordered_at", Timestamp.format(order.orderedAt))
        case .orderRefunded(let refund):
            data.member("amount", refund.amount.description)
            data.member("currency", refund.currency)
            data.member("customer_id", refund.customerID)
            data.member("order_id", refund.orderID)
            data.member("refund_id", refund.refundID)
            data.member("refunded_total", refund.refundedTotal.description)
        case .orderCancelled(let cancel):
            data.member("customer_id", cancel.customerID)
            data.member("order_id", cancel.orderID)
            data.member("reason", cancel.reason)
        case .pipelineDefined, .dealUpdated, .valueModelFitted, .churnMarked, .churnUnmarked, .valueSettingsChanged,
            .rfmSegmentMapDefined, .rfmSnapshotTaken:
            return nil
        }
        data.closeObject()
        return (data.bytes, pii)
    }

    // MARK: - DealCreated

    private static func encode(_ created: DealCreated) -> (data: JSON, pii: JSON) {
        let data: JSON = [
            "deal_id": .string(created.dealID), "pipeline_id": .string(created.pipelineID),
            "pipeline_version": .int(created.pipelineVersion), "stage_id": .string(created.stageID),
            "kind": .string(created.kind), "probability": .int(created.probability),
            "amount": created.amount?.json ?? .null, "currency": .string(created.currency),
            "close_date": .string(created.closeDate), "customer_ids": .strings(created.customerIDs),
            "owner_id": .string(created.ownerID), "last_open_stage": .string(created.lastOpenStage),
            "lost_reason": .string(created.lostReason),
        ]
        return (data, ["name": .string(created.name)])
    }

    private static func dealCreated(_ data: JSON, _ pii: JSON) -> DealCreated? {
        guard let id = data["deal_id"]?.stringValue, let pipelineID = data["pipeline_id"]?.stringValue,
            let stageID = data["stage_id"]?.stringValue
        else { return nil }
        return DealCreated(
            dealID: id,
            pipelineID: pipelineID,
            pipelineVersion: Int(data["pipeline_version"]?.intValue ?? 1),
            stageID: stageID,
            kind: data["kind"]?.stringValue ?? "open",
            probability: Int(data["probability"]?.intValue ?? 0),
            amount: data["amount"].flatMap(MoneyAmount.init(json:)),
            currency: data["currency"]?.stringValue,
            closeDate: data["close_date"]?.stringValue,
            customerIDs: SalesEventCodec.strings(data["customer_ids"]) ?? [],
            ownerID: data["owner_id"]?.stringValue,
            lastOpenStage: data["last_open_stage"]?.stringValue,
            lostReason: data["lost_reason"]?.stringValue,
            name: pii["name"]?.stringValue
        )
    }

    // MARK: - DealStageChanged

    private static func encode(_ changed: DealStageChanged) -> JSON {
        [
            "deal_id": .string(changed.dealID), "pipeline_id": .string(changed.pipelineID),
            "from": .string(changed.from), "to": .string(changed.to), "from_kind": .string(changed.fromKind),
            "to_kind": .string(changed.toKind), "probability": .int(changed.probability),
            "backward": .bool(changed.backward), "reopened": .bool(changed.reopened),
            "last_open_stage": .string(changed.lastOpenStage), "lost_reason": .string(changed.lostReason),
        ]
    }

    private static func dealStageChanged(_ data: JSON) -> DealStageChanged? {
        guard let id = data["deal_id"]?.stringValue, let to = data["to"]?.stringValue else { return nil }
        return DealStageChanged(
            dealID: id,
            pipelineID: data["pipeline_id"]?.stringValue ?? "",
            from: data["from"]?.stringValue,
            to: to,
            fromKind: data["from_kind"]?.stringValue ?? "open",
            toKind: data["to_kind"]?.stringValue ?? "open",
            probability: data["probability"]?.intValue.map { Int($0) },
            backward: data["backward"]?.boolValue ?? false,
            reopened: data["reopened"]?.boolValue ?? false,
            lastOpenStage: data["last_open_stage"]?.stringValue,
            lostReason: data["lost_reason"]?.stringValue
        )
    }

    // MARK: - DealUpdated

    private static func encode(_ updated: DealUpdated) -> (data: JSON, pii: JSON) {
        var changes: [String: JSON] = [:]
        func put<Value>(_ field: String, _ change: DealUpdated.Change<Value>?, _ json: (Value) -> JSON) {
            guard let change else { return }
            changes[field] = ["from": json(change.from), "to": json(change.to)]
        }
        put("amount", updated.amount) { $0?.json ?? .null }
        put("currency", updated.currency) { .string($0) }
        put("close_date", updated.closeDate) { .string($0) }
        put("owner_id", updated.ownerID) { .string($0) }
        put("customer_ids", updated.customerIDs) { $0.map(JSON.strings) ?? .null }
        var piiChanges: [String: JSON] = [:]
        if let name = updated.name { piiChanges["name"] = ["from": .string(name.from), "to": .string(name.to)] }
        let data: JSON = [
            "deal_id": .string(updated.dealID), "pipeline_id": .string(updated.pipelineID),
            "changed_fields": .strings(updated.changedFields), "changes": .object(changes),
        ]
        return (data, ["changes": .object(piiChanges)])
    }

    /// The folds read the changes of `data.changes` and `pii.changes` together (a change under `pii`
    /// wins) and take a missing `to` or `from` as `null`.
    private static func dealUpdated(_ data: JSON, _ pii: JSON) -> DealUpdated? {
        guard let id = data["deal_id"]?.stringValue else { return nil }
        var changes = data["changes"]?.objectValue ?? [:]
        for (field, change) in pii["changes"]?.objectValue ?? [:] { changes[field] = change }
        func change<Value>(_ field: String, _ value: (JSON) -> Value) -> DealUpdated.Change<Value>? {
            guard let change = changes[field] else { return nil }
            return DealUpdated.Change(from: value(change["from"] ?? .null), to: value(change["to"] ?? .null))
        }
        return DealUpdated(
            dealID: id,
            pipelineID: data["pipeline_id"]?.stringValue ?? "",
            name: change("name", \.stringValue),
            amount: change("amount") { MoneyAmount(json: $0) },
            currency: change("currency", \.stringValue),
            closeDate: change("close_date", \.stringValue),
            ownerID: change("owner_id", \.stringValue),
            customerIDs: change("customer_ids") { SalesEventCodec.strings($0) }
        )
    }

    /// The string elements of an array, or `nil` when `value` is not an array.
    private static func strings(_ value: JSON?) -> [String]? { value?.arrayValue?.compactMap(\.stringValue) }
}
