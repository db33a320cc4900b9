import CRMJSON

/// Segments: the first connection of a phase defines one segment (VIP customers with a recent order,
/// or customers; every customer event then folds into a live segment, as in a CRM with a few saved
/// segments), redefines it once, and retires it late in the run.
enum MarketingWorkload {
    static let entries: [WorkloadEntry] = [
        WorkloadEntry(method: "segment.define", weight: 1, make: define),
        WorkloadEntry(method: "segment.retire", weight: 1, make: retire),
        WorkloadEntry(method: "list.create", weight: 1, make: createList),
        WorkloadEntry(method: "list.add", weight: 1, make: addToList),
        WorkloadEntry(method: "list.remove", weight: 1, make: removeFromList),
        WorkloadEntry(method: "campaign.create", weight: 1, make: createCampaign),
        WorkloadEntry(method: "campaign.record_cost", weight: 1, make: recordCost),
    ]

    /// Each connection plans one campaign to its list (sending it and recording its interactions is
    /// the `marketing` mode's work: a send is computed off the writer, and the mix pipelines blindly).
    static func createCampaign(_ context: inout WorkloadContext) -> JSON? {
        guard context.createdList, !context.createdCampaign else { return nil }
        context.createdCampaign = true
        return [
            "campaign_id": .string("\(context.prefix)cmp"), "name": "Spring newsletter",
            "audience": ["list_id": .string("\(context.prefix)list")], "cost": ["amount": "120.00", "currency": "EUR"],
        ]
    }

    static func recordCost(_ context: inout WorkloadContext) -> JSON? {
        guard context.createdCampaign else { return nil }
        return [
            "campaign_id": .string("\(context.prefix)cmp"),
            "amount": .string(OrderWorkload.decimal(100 + context.rng.below(5000))),
            "currency": "EUR",
        ]
    }

    /// Each connection keeps one static list of a few of its customers.
    static func createList(_ context: inout WorkloadContext) -> JSON? {
        guard !context.createdList, context.customers.count >= 5 else { return nil }
        context.createdList = true
        let ids = context.customers.prefix(5).filter { !$0.merged }.map { JSON.string($0.id) }
        return [
            "list_id": .string("\(context.prefix)list"), "name": "Newsletter", "kind": "manual",
            "customer_ids": .array(ids),
        ]
    }

    static func addToList(_ context: inout WorkloadContext) -> JSON? {
        guard context.createdList, let customer = context.someCustomer() else { return nil }
        return ["list_id": .string("\(context.prefix)list"), "customer_ids": [.string(context.customers[customer].id)]]
    }

    static func removeFromList(_ context: inout WorkloadContext) -> JSON? {
        guard context.createdList, let customer = context.someCustomer() else { return nil }
        return ["list_id": .string("\(context.prefix)list"), "customer_ids": [.string(context.customers[customer].id)]]
    }

    static func define(_ context: inout WorkloadContext) -> JSON? {
        guard context.prefix.hasSuffix("k0"), context.segmentVersions < 2,
            context.segmentVersions == 0 || context.rng.below(4) == 0
        else {
            return nil
        }
        context.segmentVersions += 1
        return [
            "segment_id": .string("\(context.prefix)seg"), "name": "Recent VIP buyers",
            "filter": [
                "any": [
                    [
                        "all": [
                            ["field": "tags", "op": "has", "value": "vip"],
                            [
                                "field": "value.last_order_date", "op": "within_last_days",
                                "value": .int(Int64(30 * context.segmentVersions)),
                            ],
                        ]
                    ],
                    ["all": [["field": "lifecycle.stage", "op": "at_least", "value": "customer"]]],
                ]
            ],
        ]
    }

    static func retire(_ context: inout WorkloadContext) -> JSON? {
        guard context.segmentVersions >= 2, !context.retiredSegment else { return nil }
        context.retiredSegment = true
        return ["segment_id": .string("\(context.prefix)seg")]
    }
}
