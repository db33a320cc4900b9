public import CRMDomain
import CRMEventStore
import CRMJSON
public import CRMParams

extension DefineSlaPolicy {
    /// Parses and validates the params (`invalid_target`, `duplicate_target`, `invalid_field`).
    public init(params: inout Params) throws(Rejection) {
        let policy: SlaPolicy
        let id = try params.identifier("policy_id", required: true)!
        guard let name = try CustomerInput.text(&params, "name", limit: CustomerInput.longTextLimit) else {
            throw Rejection.missing("name")
        }
        let position = try params.int("position", required: true)!
        guard position >= 0 else { throw Rejection.invalid("position", "must be 0 or more") }
        var tiers: [String]?
        var channels: [String]?
        var tagsAny: [String]?
        if var match = try params.object("match") {
            func list(_ match: inout Params, _ key: String) throws(Rejection) -> [String]? {
                guard let values = try match.strings(key), !values.isEmpty else { return nil }
                return Array(Set(values)).sorted()
            }
            tiers = try list(&match, "tiers")
            channels = try list(&match, "channels")
            tagsAny = try list(&match, "tags_any")
            try match.finish()
            for (index, channel) in (channels ?? []).enumerated() where !SlaVocabulary.channels.contains(channel) {
                throw Rejection.invalid(
                    "match.channels[\(index)]",
                    "must be one of \(SlaVocabulary.channels.joined(separator: ", "))"
                )
            }
        }
        let scheduleID = try params.identifier("schedule_id")
        let targetList = try params.array("targets", required: true)!
        guard !targetList.isEmpty else {
            throw Rejection(.invalidTarget, field: "targets", "a policy needs at least one target")
        }
        var targets: [SlaTarget] = []
        for (index, element) in targetList.enumerated() {
            let field = "targets[\(index)]"
            guard case .object(let members) = element else {
                throw Rejection(.invalidTarget, field: field, "expected an object")
            }
            for key in members.keys.sorted()
            where !["metric", "priority", "minutes", "business_hours", "pause_on"].contains(key) {
                throw Rejection(.invalidTarget, field: "\(field).\(key)", "unknown field \"\(key)\"")
            }
            guard let metric = members["metric"]?.stringValue, SlaVocabulary.metrics.contains(metric) else {
                throw Rejection(
                    .invalidTarget,
                    field: "\(field).metric",
                    "metric must be one of \(SlaVocabulary.metrics.joined(separator: ", "))"
                )
            }
            guard let priority = members["priority"]?.stringValue, SlaVocabulary.priorities.contains(priority) else {
                throw Rejection(
                    .invalidTarget,
                    field: "\(field).priority",
                    "priority must be low, normal, high or urgent"
                )
            }
            guard let minutes = members["minutes"]?.intValue, (1...DefineSlaPolicy.maximumMinutes).contains(minutes)
            else {
                throw Rejection(.invalidTarget, field: "\(field).minutes", "minutes must be an integer in 1…525600")
            }
            var businessHours = false
            if let flag = members["business_hours"], !flag.isNull {
                guard let value = flag.boolValue else {
                    throw Rejection(.invalidTarget, field: "\(field).business_hours", "expected a boolean")
                }
                businessHours = value
            }
            var pauseOn = SlaVocabulary.defaultPauseOn(metric)
            if let given = members["pause_on"], !given.isNull {
                guard let list = given.arrayValue?.compactMap(\.stringValue), list.count == given.arrayValue?.count,
                    list.allSatisfy(SlaVocabulary.pausableStatuses.contains)
                else {
                    throw Rejection(
                        .invalidTarget,
                        field: "\(field).pause_on",
                        "pause_on is a subset of new, open, pending, on_hold"
                    )
                }
                pauseOn = SlaVocabulary.pausableStatuses.filter(list.contains)
            }
            if targets.contains(where: { $0.metric == metric && $0.priority == priority }) {
                throw Rejection(
                    .duplicateTarget,
                    field: field,
                    "\(metric) for priority \(priority) is given twice",
                    details: ["metric": .string(metric), "priority": .string(priority)]
                )
            }
            targets.append(
                SlaTarget(
                    metric: metric,
                    priority: priority,
                    minutes: minutes,
                    businessHours: businessHours,
                    pauseOn: pauseOn
                )
            )
        }
        try params.finish()
        if targets.contains(where: \.businessHours), scheduleID == nil {
            throw Rejection(.unknownSchedule, field: "schedule_id", "business-hours targets need a schedule_id")
        }
        policy = SlaPolicy(
            policyID: id,
            version: 0,
            name: name,
            position: position,
            tiers: tiers,
            channels: channels,
            tagsAny: tagsAny,
            scheduleID: scheduleID,
            targets: targets
        )
        self.init(policy: policy)
    }
}

extension RetireSlaPolicy {
    /// Parses the params.
    public init(params: inout Params) throws(Rejection) {
        let policyID: String
        policyID = try params.identifier("policy_id", required: true)!
        try params.finish()
        self.init(policyID: policyID)
    }
}
