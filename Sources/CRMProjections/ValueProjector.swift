public import CRMDomain
public import CRMEventStore
import CRMJSON
import CRMParams
public import LMDB
import Synchronization

/// The customer-value read model: every order of every customer with its refunds and cancellation,
/// as facts with their instants. Nothing that depends on the date asked about is stored: counted
/// orders, sums and the value status are computed for the `as_of_date` of each query (see
/// ``CustomerValue``), so a rebuild answers exactly like the inline model, and any past date can be
/// asked about.
///
/// Tables (named with ``Projector/tableName(_:)``):
/// - `orders`: customer id, `0x00`, order id → the order as a binary row (``ValueOrder``);
/// - `customers`: customer id → empty for a customer, or the id of the customer it was merged into
///   (for `not_found` and `customer_merged`);
/// - `churn`: customer id → its churn mark (``ChurnMark``);
/// - `rfm`: the scores of every RFM snapshot;
/// - `models`: value models, and the rows `#settings`, `#rfm-map`, `#rfm-map-version` and
///   `#rfm-snapshots`.
///
/// Orders carry no personal data, so nothing here is sealed.
public struct ValueProjector: Projector {
    static let identity = (name: "value", version: 2)

    /// `value`.
    public var name: String { Self.identity.name }
    /// `1`.
    public var version: Int { Self.identity.version }
    public let slot: Int

    let orders: Database
    let customers: Database
    /// Value models: model id → parameters; and `#latest#<currency>` → the id of the latest one.
    let models: Database
    let churn: Database
    /// RFM snapshots: snapshot id, `0x00`, customer id → the buyer's scores (``SnapshotScore``).
    let rfm: Database
    /// Predictions already worked out, by model row and inputs (see ``PredictionMemo``).
    let predictions = PredictionMemo()

    /// Opens (creating when needed) the tables of `slot` in `txn`; `cipher` is not used.
    public init(_ txn: Transaction, slot: Int = 0, cipher: RowCipher? = nil) throws {
        self.slot = slot
        func open(_ table: String) throws -> Database {
            try txn.openDatabase(
                ProjectionTables.name(Self.identity.name, version: Self.identity.version, slot: slot, table: table)
            )
        }
        self.orders = try open("orders")
        self.customers = try open("customers")
        self.models = try open("models")
        self.churn = try open("churn")
        self.rfm = try open("rfm")
    }

    public var databases: [Database] { [self.orders, self.customers, self.models, self.churn, self.rfm] }

    /// Folds one event; other event types are ignored.
    public func apply(_ event: RecordedEvent, _ txn: Transaction) throws {
        switch event.event {
        case .customer(.created(let created)):
            try txn.put(self.customers, created.customerID, [UInt8]())
        case .customer(.merged(let merged)):
            try self.customersMerged(merged, txn)
        case .sales(.orderRecorded(let recorded)):
            let order = ValueOrder(
                orderedAt: recorded.orderedAt, amount: recorded.amount, currency: recorded.currency,
                margin: recorded.margin
            )
            try txn.put(self.orders, Self.orderKey(recorded.customerID, recorded.orderID), order.encoded())
        case .sales(.orderRefunded(let refunded)):
            try self.update(refunded.customerID, refunded.orderID, txn) { order in
                order.refunds.append(ValueOrder.Refund(at: event.occurredAt, amount: refunded.amount))
            }
        case .sales(.valueModelFitted(let model)):
            try txn.put(self.models, model.modelID, model.encoded())
            try txn.put(self.models, "#latest#" + model.currency, Array(model.modelID.utf8))
        case .sales(.churnMarked(let mark)):
            let day = BusinessDay(mark.effectiveDate) ?? BusinessDay(instant: event.occurredAt)
            try txn.put(self.churn, mark.customerID, ChurnMark(day: day, reason: mark.reason).encoded())
        case .sales(.churnUnmarked(let unmark)):
            _ = try txn.delete(self.churn, unmark.customerID)
        case .sales(.rfmSegmentMapDefined(let map)):
            var row = BinaryRowWriter(capacity: 8)
            row.int(Int64(map.version))
            try txn.put(self.models, Self.segmentMapKey, RfmRule.encoded(map.rules))
            try txn.put(self.models, Self.segmentMapKey + "-version", row.bytes)
        case .sales(.rfmSnapshotTaken(let snapshot)):
            try self.snapshotTaken(snapshot, txn)
        case .sales(.valueSettingsChanged(let changes)):
            try txn.put(self.models, Self.settingsKey, changes.applied(to: try self.clock(txn).settings).encoded())
        case .sales(.orderCancelled(let cancelled)):
            try self.update(cancelled.customerID, cancelled.orderID, txn) { order in
                order.cancelledAt = order.cancelledAt ?? event.occurredAt
            }
        default:
            return
        }
    }

    /// Reads no activity's or ticket message's personal data (``ReadModelPersonalData/unreadTypes``).
    public func readsPersonalData(of type: String) -> Bool { !ReadModelPersonalData.unreadTypes.contains(type) }

    /// `value.customer`.
    public var queries: [String: ProjectionQuery] {
        [
            "value.customer": { params, txn in try self.customerQuery(params, txn) },
            "rfm.report": { params, txn in try self.rfmReport(params, txn) },
            "churn.report": { params, txn in try self.churnReport(params, txn) },
            "cohort.report": { params, txn in try self.cohortReport(params, txn) },
            "value.clv_simple": { params, txn in try self.clvSimple(params, txn) },
            "value.predict": { params, txn in try self.predict(params, txn) },
            "value.model.get": { params, txn in try self.modelQuery(params, txn) },
            "value.settings": { params, txn in
                try Params(params).finish()
                return try self.clock(txn).json
            },
        ]
    }

    // MARK: - Storage

    /// `customer id ‖ 0x00 ‖ order id` (ids never hold `0x00`).
    static func orderKey(_ customerID: String, _ orderID: String) -> [UInt8] {
        Array(customerID.utf8) + [0] + Array(orderID.utf8)
    }

    /// Rewrites the order `orderID` of `customerID` with `change`; skips an order it does not hold.
    private func update(
        _ customerID: String,
        _ orderID: String,
        _ txn: Transaction,
        _ change: (inout ValueOrder) -> Void
    ) throws {
        let key = Self.orderKey(customerID, orderID)
        guard let bytes = try txn.get(self.orders, key) else { return }
        var order = try ValueOrder(decoding: bytes)
        change(&order)
        try txn.put(self.orders, key, order.encoded())
    }

    /// The secondaries point at the primary; their orders are the primary's.
    private func customersMerged(_ merged: CustomersMerged, _ txn: Transaction) throws {
        for id in merged.secondaryIDs { try txn.put(self.customers, id, Array(merged.primaryID.utf8)) }
        for orderID in merged.moved.orders {
            for id in merged.secondaryIDs {
                let key = Self.orderKey(id, orderID)
                guard let row = try txn.get(self.orders, key) else { continue }
                try txn.put(self.orders, Self.orderKey(merged.primaryID, orderID), row)
                _ = try txn.delete(self.orders, key)
            }
        }
    }

    /// Every order of `customerID`.
    /// The orders of `customerID` with their ids.
    func ordersWithIDs(of customerID: String, _ txn: Transaction) throws -> [(id: String, order: ValueOrder)] {
        let prefix = Array(customerID.utf8) + [0]
        return try txn.withCursor(self.orders) { cursor in
            var orders: [(String, ValueOrder)] = []
            var entry = try cursor.seek(atOrAfter: prefix)
            while let found = entry, found.key.starts(with: prefix) {
                orders.append(
                    (
                        String(decoding: found.key.dropFirst(prefix.count), as: UTF8.self),
                        try ValueOrder(decoding: found.valueBytes)
                    )
                )
                entry = try cursor.next()
            }
            return orders
        }
    }

    func orders(of customerID: String, _ txn: Transaction) throws -> [ValueOrder] {
        let prefix = Array(customerID.utf8) + [0]
        return try txn.withCursor(self.orders) { cursor in
            var orders: [ValueOrder] = []
            var entry = try cursor.seek(atOrAfter: prefix)
            while let found = entry, found.key.starts(with: prefix) {
                orders.append(try ValueOrder(decoding: found.valueBytes))
                entry = try cursor.next()
            }
            return orders
        }
    }

    // MARK: - value.customer

    /// `value.customer {customer_id, as_of_date?}` → the customer's value block as of the end of
    /// `as_of_date` (a business date in UTC; default: today).
    ///
    /// Rejections: `missing_field`/`invalid_field` `customer_id`, `as_of_date` not a date, unknown
    /// fields, `not_found`, `customer_merged` (with `details.merged_into`).
    func customerQuery(_ json: JSON?, _ txn: Transaction) throws -> JSON {
        var params = try Params(json)
        let customerID = try params.identifier("customer_id", required: true)!
        let date = try Self.day(&params, "as_of_date")
        try params.finish()
        let clock = try self.clock(txn)
        let day = date ?? clock.today()
        try self.requireCustomer(customerID, txn)
        return try self.block(of: customerID, asOf: day, clock, txn)
    }

    /// The value block of `customerID` as of the end of `date` (`YYYY-MM-DD`; default: today) for
    /// `customer.get`, or `nil` for a customer this model does not hold.
    public func valueBlock(of customerID: String, asOf date: String?, _ txn: Transaction) throws -> JSON? {
        guard let marker = try txn.get(self.customers, customerID), marker.isEmpty else { return nil }
        let clock = try self.clock(txn)
        let day = date.flatMap(BusinessDay.init) ?? clock.today()
        return try self.block(of: customerID, asOf: day, clock, txn)
    }

    /// The value block of `customerID` as of `day`, with its scores in the latest RFM snapshot and
    /// its predictions by the latest value model of its currencies.
    func block(of customerID: String, asOf day: BusinessDay, _ clock: ValueClock, _ txn: Transaction) throws -> JSON {
        let orders = try self.orders(of: customerID, txn)
        let value = CustomerValue(orders: orders, mark: try self.mark(of: customerID, txn), asOf: day, clock)
        let rfm = try self.snapshotBlock(of: customerID, asOf: day, txn)
        let predicted = try self.predictedBlock(CustomerValue.counted(orders, asOf: day, clock), asOf: day, clock, txn)
        return .serialized(SerializedJSON(value.text(rfm: rfm.serialized(), predicted: predicted.serialized())))
    }

    /// The profile's `predicted` block: by the latest model of the reporting currency, else of the
    /// first of the customer's currencies (in code order) that has one, the predictions for the
    /// customer's own inputs as of `day`: P(alive), purchases in 52 weeks, the value of a purchase and
    /// the 12-month lifetime value at 1 % a month; `null` without a model.
    func predictedBlock(
        _ counted: [CustomerValue.Counted],
        asOf day: BusinessDay,
        _ clock: ValueClock,
        _ txn: Transaction
    ) throws -> JSON {
        let currencies = Set(counted.map(\.order.currency))
        let order =
            [clock.settings.reportingCurrency].compactMap { $0 }.filter(currencies.contains)
            + currencies.sorted()
        for currency in order {
            guard let id = try txn.get(self.models, "#latest#" + currency),
                let bytes = try txn.get(self.models, String(decoding: id, as: UTF8.self)),
                let inputs = ModelInputs(counted, currency: currency, asOf: day)
            else { continue }
            let key = PredictionMemo.Key(model: bytes, currency: currency, inputs: inputs)
            if let known = self.predictions[key] { return known }
            let predicted = try Self.predicted(by: ValueModelFitted(decoding: bytes), currency: currency, inputs)
            self.predictions[key] = predicted
            return predicted
        }
        return .null
    }

    /// The `predicted` block of `inputs` in `currency` by `model`.
    static func predicted(by model: ValueModelFitted, currency: String, _ inputs: ModelInputs) -> JSON {
        let m = model.bgnbd
        return [
            "model_id": .string(model.modelID), "currency": .string(currency),
            "p_alive": .string(ValueModel.text(ValueModel.pAlive(m, inputs))),
            "expected_purchases_52w": .string(ValueModel.text(ValueModel.expectedPurchases(m, inputs, weeks: 52))),
            "expected_order_value": model.gammaGamma.map {
                .string(ValueModel.text(ValueModel.expectedValue($0, inputs)))
            }
                ?? .null,
            "clv_12m": model.gammaGamma.map {
                .string(ValueModel.text(ValueModel.lifetimeValue(m, $0, inputs, months: 12, discount: 0.01)))
            } ?? .null,
        ]
    }

    /// The key of the value settings in the models table (ids never hold `#`).
    static let settingsKey = "#settings"

    /// The value settings (``ValueSettings``' defaults until `value.configure`).
    func clock(_ txn: Transaction) throws -> ValueClock {
        ValueClock(
            try txn.get(self.models, Self.settingsKey).map { try ValueSettings(decoding: $0) } ?? ValueSettings())
    }

    /// The churn mark of `customerID`, if any.
    func mark(of customerID: String, _ txn: Transaction) throws -> ChurnMark? {
        try txn.get(self.churn, customerID).map { try ChurnMark(decoding: $0) }
    }

    /// Throws `not_found` for a customer this model never saw, `customer_merged` (with
    /// `details.merged_into`) for one merged into another, whose orders are the survivor's.
    func requireCustomer(_ customerID: String, _ txn: Transaction) throws {
        guard let marker = try txn.get(self.customers, customerID) else {
            throw Rejection.notFound("customer_id", "customer", customerID)
        }
        guard marker.isEmpty else {
            let primary = String(decoding: marker, as: UTF8.self)
            throw Rejection(
                .customerMerged, field: "customer_id", "customer \(customerID) was merged into \(primary)",
                details: ["merged_into": .string(primary)]
            )
        }
    }
}

/// An order as the value read model keeps it.
struct ValueOrder: Sendable, Hashable {
    /// A refund: when (its event's business time) and how much.
    struct Refund: Sendable, Hashable {
        var at: Int64
        var amount: MoneyAmount
    }

    var orderedAt: Int64
    var amount: MoneyAmount
    var currency: String
    /// In 10⁻⁸ units, possibly negative.
    var margin: Int128?
    var refunds: [Refund] = []
    var cancelledAt: Int64?

    static let rowFormat: UInt8 = 1

    func encoded() -> [UInt8] {
        var row = BinaryRowWriter(capacity: 48 + 12 * self.refunds.count)
        row.byte(Self.rowFormat)
        self.write(to: &row)
        return row.bytes
    }

    /// The order's fields, without a format byte (also inside other rows).
    func write(to row: inout BinaryRowWriter) {
        row.int(self.orderedAt)
        row.int128(self.amount.units)
        row.string(self.currency)
        row.bool(self.margin != nil)
        if let margin = self.margin { row.int128(margin) }
        row.count(self.refunds.count)
        for refund in self.refunds {
            row.int(refund.at)
            row.int128(refund.amount.units)
        }
        row.optionalInt(self.cancelledAt)
    }

    init(orderedAt: Int64, amount: MoneyAmount, currency: String, margin: Int128?) {
        self.orderedAt = orderedAt
        self.amount = amount
        self.currency = currency
        self.margin = margin
    }

    init(decoding bytes: [UInt8]) throws(StateDecodingError) {
        var row = BinaryRowReader(bytes, what: "value order")
        try row.format(Self.rowFormat)
        try self.init(reading: &row)
        try row.finish()
    }

    /// Reads what ``write(to:)`` wrote.
    init(reading row: inout BinaryRowReader) throws(StateDecodingError) {
        self.orderedAt = try row.int()
        self.amount = MoneyAmount(units: try row.int128())
        self.currency = try row.string()
        if try row.bool() { self.margin = try row.int128() }
        for _ in 0..<(try row.count()) {
            self.refunds.append(Refund(at: try row.int(), amount: MoneyAmount(units: try row.int128())))
        }
        self.cancelledAt = try row.optionalInt()
    }
}

/// The `predicted` blocks a value read model worked out lately: a pure function of the stored model
/// row (its bytes are the key, so a memo never answers for another model), the currency and the
/// customer's inputs, and the BG/NBD and Gamma-Gamma figures are most of a `customer.get`'s work.
/// Shared by the copies of a projector and by concurrent queries; emptied when it holds
/// ``limit`` blocks.
final class PredictionMemo: Sendable {
    struct Key: Hashable, Sendable {
        let model: [UInt8]
        let currency: String
        let inputs: ModelInputs
    }

    /// Most blocks held.
    static let limit = 16_384

    private let blocks = Mutex<[Key: JSON]>([:])

    subscript(_ key: Key) -> JSON? {
        get { self.blocks.withLock { $0[key] } }
        set {
            self.blocks.withLock { blocks in
                if blocks.count >= Self.limit { blocks.removeAll(keepingCapacity: true) }
                blocks[key] = newValue
            }
        }
    }
}
