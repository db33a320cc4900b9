/// What `decide` knows about one deal. Stored in the `deals` state table, folded from the
/// deal's events by ``SalesEvolver``.
public struct DealState: Sendable, Hashable {
    /// Deal id.
    public var id: String
    /// Pipeline id.
    public var pipelineID: String
    /// Current stage id.
    public var stageID: String
    /// Kind of the current stage: `open`, `won` or `lost`.
    public var kind: String
    /// Current probability (stage default or override).
    public var probability: Int
    /// Amount, or `nil`.
    public var amount: MoneyAmount?
    /// Currency, or `nil`.
    public var currency: String?
    /// Expected close date `YYYY-MM-DD`, or `nil`.
    public var closeDate: String?
    /// Customers, the first being the primary contact.
    public var customerIDs: [String]
    /// Owner (user) id.
    public var ownerID: String?
    /// Name (personal data).
    public var name: String
    /// The open stage the deal was last in (for lost deals: where it dropped out).
    public var lastOpenStage: String?
    /// The lost reason while lost.
    public var lostReason: String?

    /// Creates a deal state.
    public init(
        id: String,
        pipelineID: String,
        stageID: String,
        kind: String,
        probability: Int,
        amount: MoneyAmount? = nil,
        currency: String? = nil,
        closeDate: String? = nil,
        customerIDs: [String] = [],
        ownerID: String? = nil,
        name: String = "",
        lastOpenStage: String? = nil,
        lostReason: String? = nil
    ) {
        self.id = id
        self.pipelineID = pipelineID
        self.stageID = stageID
        self.kind = kind
        self.probability = probability
        self.amount = amount
        self.currency = currency
        self.closeDate = closeDate
        self.customerIDs = customerIDs
        self.ownerID = ownerID
        self.name = name
        self.lastOpenStage = lastOpenStage
        self.lostReason = lostReason
    }

    /// Format of the binary row; bump it with the decision state's version.
    static let rowFormat: UInt8 = 1

    /// The compact binary row stored in the `deals` table.
    public func encoded() -> [UInt8] {
        var row = BinaryRowWriter(capacity: 96)
        row.byte(DealState.rowFormat)
        row.string(self.id)
        row.string(self.pipelineID)
        row.string(self.stageID)
        row.string(self.kind)
        row.int(Int64(self.probability))
        row.bool(self.amount != nil)
        if let amount = self.amount { row.int128(amount.units) }
        row.optionalString(self.currency)
        row.optionalString(self.closeDate)
        row.strings(self.customerIDs)
        row.optionalString(self.ownerID)
        row.optionalString(self.lastOpenStage)
        row.optionalString(self.lostReason)
        return row.bytes
    }

    /// Decodes a row written by ``encoded()``.
    public init(decoding bytes: [UInt8]) throws(StateDecodingError) {
        var row = BinaryRowReader(bytes, what: "deal record")
        try row.format(DealState.rowFormat)
        self.init(
            id: try row.string(),
            pipelineID: try row.string(),
            stageID: try row.string(),
            kind: try row.string(),
            probability: Int(try row.int())
        )
        if try row.bool() { self.amount = MoneyAmount(units: try row.int128()) }
        self.currency = try row.optionalString()
        self.closeDate = try row.optionalString()
        self.customerIDs = try row.strings()
        self.ownerID = try row.optionalString()
        self.lastOpenStage = try row.optionalString()
        self.lostReason = try row.optionalString()
        try row.finish()
    }
}
