public import CRMDomain
import CRMEventStore
import CRMJSON
public import CRMParams

extension CreateDeal {
    /// Parses and validates the params.
    public init(params: inout Params) throws(Rejection) {
        let dealID: String?
        let pipelineID: String
        let name: String
        let customerIDs: [String]
        let stageID: String?
        let amount: MoneyAmount?
        let currency: String?
        let closeDate: String?
        let ownerID: String?
        let probability: Int?
        let lostReason: String?
        dealID = try params.identifier("deal_id")
        pipelineID = try params.identifier("pipeline_id", required: true)!
        name = try DealInput.name(&params, required: true)!
        customerIDs = try DealInput.customerIDs(&params, "customer_ids", required: true)!
        stageID = try params.identifier("stage_id")
        amount = try params.money("amount")
        currency = try params.currency("currency")
        closeDate = try params.date("close_date")
        ownerID = try params.identifier("owner_id")
        probability = try params.probability("probability")
        lostReason = try DealInput.lostReason(&params)
        try params.finish()
        if amount != nil, currency == nil {
            throw Rejection.invalid("currency", "currency is required with an amount")
        }
        self.init(
            dealID: dealID,
            pipelineID: pipelineID,
            name: name,
            customerIDs: customerIDs,
            stageID: stageID,
            amount: amount,
            currency: currency,
            closeDate: closeDate,
            ownerID: ownerID,
            probability: probability,
            lostReason: lostReason
        )
    }
}

extension MoveDeal {
    /// Parses and validates the params.
    public init(params: inout Params) throws(Rejection) {
        let dealID: String
        let stageID: String
        let lostReason: String?
        let probability: Int?
        dealID = try params.identifier("deal_id", required: true)!
        stageID = try params.identifier("stage_id", required: true)!
        lostReason = try DealInput.lostReason(&params)
        probability = try params.probability("probability")
        try params.finish()
        self.init(dealID: dealID, stageID: stageID, lostReason: lostReason, probability: probability)
    }
}

extension UpdateDeal {
    /// Parses and validates the params.
    public init(params: inout Params) throws(Rejection) {
        let dealID: String
        let name: String?
        let currency: String?
        let closeDate: String??
        let ownerID: String??
        let customerIDs: [String]?
        dealID = try params.identifier("deal_id", required: true)!
        name = try DealInput.name(&params, required: false)
        let clearAmount = params.contains("amount")
        let clearDate = params.contains("close_date")
        let clearOwner = params.contains("owner_id")
        let money = try params.money("amount")
        let amount: MoneyAmount?? = money != nil ? .some(money) : clearAmount ? .some(nil) : nil
        currency = try params.currency("currency")
        let date = try params.date("close_date")
        closeDate = date != nil ? .some(date) : clearDate ? .some(nil) : nil
        let owner = try params.identifier("owner_id")
        ownerID = owner != nil ? .some(owner) : clearOwner ? .some(nil) : nil
        customerIDs = try DealInput.customerIDs(&params, "customer_ids", required: false)
        try params.finish()
        guard
            name != nil || amount != nil || currency != nil || closeDate != nil
                || ownerID != nil || customerIDs != nil
        else {
            throw Rejection(.missingField, field: "name", "deal.update needs at least one field to change")
        }
        self.init(
            dealID: dealID,
            name: name,
            amount: amount,
            currency: currency,
            closeDate: closeDate,
            ownerID: ownerID,
            customerIDs: customerIDs
        )
    }
}

extension DealInput {
    /// A non-empty list of distinct customer ids.
    public static func customerIDs(_ params: inout Params, _ key: String, required: Bool) throws(Rejection) -> [String]?
    {
        guard let ids = try params.strings(key, required: required) else { return nil }
        guard !ids.isEmpty else { throw Rejection.invalid(params.fieldPath(key), "a deal needs at least one customer") }
        for (index, id) in ids.enumerated() {
            guard Identifier.isValid(id) else {
                throw Rejection.invalid("\(params.fieldPath(key))[\(index)]", "must match ^[A-Za-z0-9_-]{1,64}$")
            }
            guard !ids[..<index].contains(id) else {
                throw Rejection.invalid("\(params.fieldPath(key))[\(index)]", "\(id) is listed twice")
            }
        }
        return ids
    }

    /// A trimmed deal name, 1 to ``nameLimit`` characters.
    public static func name(_ params: inout Params, required: Bool) throws(Rejection) -> String? {
        guard let raw = try params.string("name", required: required) else { return nil }
        let text = Validation.trimmed(raw)
        guard !text.isEmpty, text.count <= DealInput.nameLimit else {
            throw Rejection.invalid(params.fieldPath("name"), "must be 1 to \(DealInput.nameLimit) characters")
        }
        return text
    }

    /// A trimmed lost reason, or `nil` when absent or blank.
    public static func lostReason(_ params: inout Params) throws(Rejection) -> String? {
        guard let raw = try params.string("lost_reason") else { return nil }
        let text = Validation.trimmed(raw)
        guard text.count <= DealInput.lostReasonLimit else {
            throw Rejection.invalid("lost_reason", "must be at most \(DealInput.lostReasonLimit) characters")
        }
        return text.isEmpty ? nil : text
    }
}
