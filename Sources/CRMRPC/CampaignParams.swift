public import CRMDomain
import CRMEventStore
import CRMJSON
public import CRMParams

extension CreateCampaign {
    /// `audience` names exactly one segment or list.
    public init(params: inout Params) throws(Rejection) {
        let id = try params.identifier("campaign_id", required: true)!
        guard let name = try CustomerInput.text(&params, "name", limit: CustomerInput.nameLimit) else {
            throw Rejection.missing("name")
        }
        var audience = try params.object("audience", required: true)!
        let segment = try audience.identifier("segment_id")
        let list = try audience.identifier("list_id")
        try audience.finish()
        guard (segment == nil) != (list == nil) else {
            throw Rejection.invalid("audience", "name exactly one of segment_id and list_id")
        }
        var lists: [String] = []
        var segments: [String] = []
        if var exclude = try params.object("exclude") {
            lists = try exclude.strings("lists") ?? []
            segments = try exclude.strings("segments") ?? []
            try exclude.finish()
        }
        for (index, value) in (lists + segments).enumerated() where !Identifier.isValid(value) {
            throw Rejection.invalid(
                index < lists.count ? "exclude.lists[\(index)]" : "exclude.segments[\(index - lists.count)]",
                "must match ^[A-Za-z0-9_-]{1,64}$"
            )
        }
        let channel = try params.oneOf("channel", ["email"]) ?? "email"
        let level =
            try params.oneOf("opt_in_level", CampaignDefinition.optInLevels) ?? CampaignDefinition.defaultOptInLevel
        var attribution = CampaignAttribution.standard
        if var rule = try params.object("attribution") {
            let touch = try rule.oneOf("touch", CampaignAttribution.touches) ?? "click"
            let window = try rule.int("window_days") ?? 5
            guard (1...90).contains(window) else { throw Rejection.invalid("attribution.window_days", "must be 1…90") }
            try rule.finish()
            attribution = CampaignAttribution(touch: touch, windowDays: Int(window))
        }
        var cost: (MoneyAmount, String)?
        if var money = try params.object("cost") {
            guard let amount = try money.money("amount") else { throw Rejection.missing("cost.amount") }
            guard let currency = try money.currency("currency") else { throw Rejection.missing("cost.currency") }
            try money.finish()
            cost = (amount, currency)
        }
        let subject = try CustomerInput.text(&params, "subject", limit: CustomerInput.longTextLimit)
        try params.finish()
        self.init(
            CampaignDefinition(
                campaignID: id, name: name, audienceKind: segment != nil ? "segment" : "list",
                audienceID: segment ?? list!, excludeLists: lists, excludeSegments: segments, channel: channel,
                optInLevel: level, attribution: attribution, cost: cost, subject: subject
            )
        )
    }
}

extension RecordCampaignInteraction {
    /// `bounce` only with `bounced`; `order_id` and `goal` only with `converted`.
    public init(params: inout Params) throws(Rejection) {
        let campaignID = try params.identifier("campaign_id", required: true)!
        let customerID = try params.identifier("customer_id", required: true)!
        let kind = try params.oneOf("kind", CampaignInteraction.kinds, required: true)!
        let interactionID = try params.identifier("interaction_id", required: true)!
        let occurredAt = try params.timestamp("occurred_at")
        let bounce = try params.oneOf("bounce", ["hard", "soft"])
        let link = try CustomerInput.text(&params, "link", limit: CustomerInput.customStringLimit)
        let orderID = try params.identifier("order_id")
        let goal = try params.identifier("goal")
        try params.finish()
        if bounce != nil, kind != "bounced" { throw Rejection.invalid("bounce", "only a bounced interaction has one") }
        if orderID != nil || goal != nil, kind != "converted" {
            throw Rejection.invalid(orderID != nil ? "order_id" : "goal", "only a converted interaction has one")
        }
        self.init(
            CampaignInteraction(
                campaignID: campaignID, interactionID: interactionID, customerID: customerID, kind: kind,
                occurredAt: occurredAt ?? 0, bounce: kind == "bounced" ? bounce ?? "soft" : nil, link: link,
                orderID: orderID, goal: goal
            ),
            occurredAtGiven: occurredAt != nil
        )
    }
}

extension RecordCampaignCost {
    public init(params: inout Params) throws(Rejection) {
        let campaignID = try params.identifier("campaign_id", required: true)!
        guard let amount = try params.money("amount") else { throw Rejection.missing("amount") }
        guard let currency = try params.currency("currency") else { throw Rejection.missing("currency") }
        try params.finish()
        self.init(CampaignCostRecorded(campaignID: campaignID, amount: amount, currency: currency))
    }
}
