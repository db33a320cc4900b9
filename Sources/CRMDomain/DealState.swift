public import CRMJSON

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

    /// The stored form.
    public var json: JSON {
        [
            "deal_id": .string(self.id), "pipeline_id": .string(self.pipelineID), "stage_id": .string(self.stageID),
            "kind": .string(self.kind), "probability": .int(self.probability), "amount": self.amount?.json ?? .null,
            "currency": .string(self.currency), "close_date": .string(self.closeDate),
            "customer_ids": .strings(self.customerIDs), "owner_id": .string(self.ownerID), "name": .string(self.name),
            "last_open_stage": .string(self.lastOpenStage), "lost_reason": .string(self.lostReason),
        ]
    }

    /// The stored bytes.
    public func encoded() -> [UInt8] { self.json.serialized() }

    /// Decodes bytes written by ``encoded()``.
    public init(decoding bytes: [UInt8]) throws {
        guard let json = try? JSON.parse(bytes), let id = json["deal_id"]?.stringValue,
            let pipelineID = json["pipeline_id"]?.stringValue, let stageID = json["stage_id"]?.stringValue
        else { throw StateDecodingError("deal record is malformed") }
        self.init(
            id: id,
            pipelineID: pipelineID,
            stageID: stageID,
            kind: json["kind"]?.stringValue ?? "open",
            probability: Int(json["probability"]?.intValue ?? 0),
            amount: json["amount"].flatMap(MoneyAmount.init(json:)),
            currency: json["currency"]?.stringValue,
            closeDate: json["close_date"]?.stringValue,
            customerIDs: json["customer_ids"]?.arrayValue?.compactMap(\.stringValue) ?? [],
            ownerID: json["owner_id"]?.stringValue,
            name: json["name"]?.stringValue ?? "",
            lastOpenStage: json["last_open_stage"]?.stringValue,
            lostReason: json["lost_reason"]?.stringValue
        )
    }
}
