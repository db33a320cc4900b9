import CRMJSON

/// Segments: the first connection of a phase defines one segment (VIP customers with a recent order,
/// or customers; every customer event then folds into a live segment, as in a CRM with a few saved
/// segments), redefines it twice, and retires it late in the run.
enum MarketingWorkload {
    static let entries: [WorkloadEntry] = [
        WorkloadEntry(method: "segment.define", weight: 1, make: define),
        WorkloadEntry(method: "segment.retire", weight: 1, make: retire),
    ]

    static func define(_ context: inout WorkloadContext) -> JSON? {
        guard context.prefix.hasSuffix("k0"), context.segmentVersions < 3,
            context.segmentVersions == 0 || context.rng.below(8) == 0
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
        guard context.segmentVersions >= 3, !context.retiredSegment else { return nil }
        context.retiredSegment = true
        return ["segment_id": .string("\(context.prefix)seg")]
    }
}
