/// The SLA vocabulary shared by commands, the clock and the read model.
public enum SlaVocabulary {
    /// The core metrics.
    public static let metrics = [
        "first_reply_time", "next_reply_time", "requester_wait_time", "agent_work_time", "total_resolution_time",
    ]
    /// Ticket priorities, lowest first.
    public static let priorities = ["low", "normal", "high", "urgent"]
    /// Ticket statuses.
    public static let statuses = ["new", "open", "pending", "on_hold", "solved", "closed"]
    /// Statuses a target may pause in.
    public static let pausableStatuses = ["new", "open", "pending", "on_hold"]
    /// Ticket channels.
    public static let channels = ["email", "chat", "phone", "web", "api"]

    /// The default `pause_on` of a metric: RWT pauses in pending, AWT in pending and on_hold, the rest
    /// never pause.
    public static func defaultPauseOn(_ metric: String) -> [String] {
        switch metric {
        case "requester_wait_time": return ["pending"]
        case "agent_work_time": return ["pending", "on_hold"]
        default: return []
        }
    }
}

/// One target of a policy: a metric for a priority.
public struct SlaTarget: Sendable, Hashable {
    /// One of ``SlaVocabulary/metrics``.
    public var metric: String
    /// One of ``SlaVocabulary/priorities``.
    public var priority: String
    /// The target, 1…525600 minutes.
    public var minutes: Int64
    /// Whether the target counts business hours of the policy's schedule.
    public var businessHours: Bool
    /// Statuses in which the clock pauses (defaults filled in).
    public var pauseOn: [String]

    /// A target.
    public init(metric: String, priority: String, minutes: Int64, businessHours: Bool, pauseOn: [String]) {
        self.metric = metric
        self.priority = priority
        self.minutes = minutes
        self.businessHours = businessHours
        self.pauseOn = pauseOn
    }
}

/// An SLA policy definition, as kept in decision state.
public struct SlaPolicy: Sendable, Hashable {
    /// The policy id.
    public var policyID: String
    /// The definition version (from 1).
    public var version: Int64
    /// Display name.
    public var name: String
    /// Order among policies, lower first.
    public var position: Int64
    /// `tiers`, `channels`, `tags_any` (each absent or a non-empty list).
    public var tiers: [String]?
    /// Channels that match, or `nil` for any.
    public var channels: [String]?
    /// Ticket tags of which one must be present, or `nil` for any.
    public var tagsAny: [String]?
    /// The schedule of business-hours targets.
    public var scheduleID: String?
    /// The targets, unique per (metric, priority).
    public var targets: [SlaTarget]
    /// Whether `sla_policy.retire` took it out of matching.
    public var retired: Bool

    /// A policy.
    public init(
        policyID: String,
        version: Int64,
        name: String,
        position: Int64,
        tiers: [String]?,
        channels: [String]?,
        tagsAny: [String]?,
        scheduleID: String?,
        targets: [SlaTarget],
        retired: Bool = false
    ) {
        self.policyID = policyID
        self.version = version
        self.name = name
        self.position = position
        self.tiers = tiers
        self.channels = channels
        self.tagsAny = tagsAny
        self.scheduleID = scheduleID
        self.targets = targets
        self.retired = retired
    }

    /// Whether the policy has no conditions (the fallback).
    public var isFallback: Bool { self.tiers == nil && self.channels == nil && self.tagsAny == nil }

    /// Format of the binary row; bump it with the decision state's version.
    static let rowFormat: UInt8 = 1

    /// The compact binary row stored in the `sla_policies` table.
    public func encoded() -> [UInt8] {
        var row = BinaryRowWriter(capacity: 64 + 48 * self.targets.count)
        row.byte(SlaPolicy.rowFormat)
        row.string(self.policyID)
        row.int(self.version)
        row.string(self.name)
        row.int(self.position)
        row.optionalStrings(self.tiers)
        row.optionalStrings(self.channels)
        row.optionalStrings(self.tagsAny)
        row.optionalString(self.scheduleID)
        row.count(self.targets.count)
        for target in self.targets {
            row.string(target.metric)
            row.string(target.priority)
            row.int(target.minutes)
            row.bool(target.businessHours)
            row.strings(target.pauseOn)
        }
        row.bool(self.retired)
        return row.bytes
    }

    /// Decodes a row written by ``encoded()``.
    public init(decoding bytes: [UInt8]) throws(StateDecodingError) {
        var row = BinaryRowReader(bytes, what: "SLA policy record")
        try row.format(SlaPolicy.rowFormat)
        let policyID = try row.string()
        let version = try row.int()
        let name = try row.string()
        let position = try row.int()
        let tiers = try row.optionalStrings()
        let channels = try row.optionalStrings()
        let tagsAny = try row.optionalStrings()
        let scheduleID = try row.optionalString()
        var targets: [SlaTarget] = []
        for _ in 0..<(try row.count()) {
            targets.append(
                SlaTarget(
                    metric: try row.string(),
                    priority: try row.string(),
                    minutes: try row.int(),
                    businessHours: try row.bool(),
                    pauseOn: try row.strings()
                )
            )
        }
        self.init(
            policyID: policyID,
            version: version,
            name: name,
            position: position,
            tiers: tiers,
            channels: channels,
            tagsAny: tagsAny,
            scheduleID: scheduleID,
            targets: targets,
            retired: try row.bool()
        )
        try row.finish()
    }

    /// Whether a ticket with these facts matches the conditions (all given conditions must hold).
    public func matches(tier: String?, channel: String, tags: [String]) -> Bool {
        if let tiers = self.tiers {
            guard let tier, tiers.contains(tier) else { return false }
        }
        if let channels = self.channels, !channels.contains(channel) { return false }
        if let wanted = self.tagsAny, !wanted.contains(where: tags.contains) { return false }
        return true
    }
}

/// `sla_policy.define`: defines or redefines (new version) an SLA policy.
///
/// Emits `SlaPolicyDefined{policy_id, version, name, position, match, schedule_id, targets}`.
public struct DefineSlaPolicy: DomainCommand {
    /// `sla_policy.define`.
    public static let method = "sla_policy.define"
    /// The largest target, one year in minutes.
    public static let maximumMinutes: Int64 = 525_600

    /// The policy as given (version 0 until decided).
    public let policy: SlaPolicy

    /// The command with every field given; the RPC edge builds it from the params.
    public init(
        policy: SlaPolicy
    ) {
        self.policy = policy
    }

    /// `slapolicy-<policy_id>`.
    public func targetStream(_ context: CommandContext) -> String? { ServiceStream.policy(self.policy.policyID) }

    /// Checks the schedule and the single fallback; appends the next version.
    public func decide(_ state: any DecisionState, _ context: CommandContext) throws -> Decision {
        if let scheduleID = self.policy.scheduleID, try state.schedule(scheduleID) == nil {
            throw Rejection(
                .unknownSchedule,
                field: "schedule_id",
                "schedule \(scheduleID) does not exist",
                details: ["schedule_id": .string(scheduleID)]
            )
        }
        if self.policy.isFallback {
            for other in try state.slaPolicies()
            where other.policyID != self.policy.policyID && !other.retired && other.isFallback {
                throw Rejection.invalid(
                    "match",
                    "policy \(other.policyID) is already the fallback (a policy without conditions)"
                )
            }
        }
        var policy = self.policy
        policy.version = (try state.slaPolicy(policy.policyID)?.version ?? 0) + 1
        let event = NewEvent(
            .service(.slaPolicyDefined(SlaPolicyDefined(policy))),
            stream: ServiceStream.policy(policy.policyID)
        )
        return Decision(
            events: [event],
            result: CommandResult(.slaPolicy, policy.policyID, version: policy.version)
        )
    }
}

/// `sla_policy.retire`: the policy stops matching; tickets under it keep their snapshot.
///
/// Emits `SlaPolicyRetired{policy_id, version}`, or nothing when it is already retired.
public struct RetireSlaPolicy: DomainCommand {
    /// `sla_policy.retire`.
    public static let method = "sla_policy.retire"

    /// The policy to retire.
    public let policyID: String

    /// The command with every field given; the RPC edge builds it from the params.
    public init(
        policyID: String
    ) {
        self.policyID = policyID
    }

    /// `slapolicy-<policy_id>`.
    public func targetStream(_ context: CommandContext) -> String? { ServiceStream.policy(self.policyID) }

    /// `unknown_policy` for a policy never defined.
    public func decide(_ state: any DecisionState, _ context: CommandContext) throws -> Decision {
        guard let policy = try state.slaPolicy(self.policyID) else {
            throw Rejection(
                .unknownPolicy,
                field: "policy_id",
                "policy \(self.policyID) does not exist",
                details: ["policy_id": .string(self.policyID)]
            )
        }
        let result = CommandResult(.slaPolicy, self.policyID, version: policy.version)
        if policy.retired { return Decision(events: [], result: result) }
        let event = NewEvent(
            .service(.slaPolicyRetired(SlaPolicyRetired(policyID: self.policyID, version: policy.version))),
            stream: ServiceStream.policy(self.policyID)
        )
        return Decision(events: [event], result: result)
    }
}

/// The `service` record listing every policy id ever defined, sorted: a row of its own format.
enum PolicyIndex {
    /// Its key in the `service` table.
    static let key = "policy_ids"
    /// Format of the binary row; bump it with the decision state's version.
    static let rowFormat: UInt8 = 1

    /// The row holding `ids`.
    static func encoded(_ ids: [String]) -> [UInt8] {
        var row = BinaryRowWriter(capacity: 8 + 16 * ids.count)
        row.byte(PolicyIndex.rowFormat)
        row.strings(ids)
        return row.bytes
    }

    /// The ids in a row written by ``encoded(_:)``.
    static func decoded(_ bytes: [UInt8]) throws(StateDecodingError) -> [String] {
        var row = BinaryRowReader(bytes, what: "SLA policy index")
        try row.format(PolicyIndex.rowFormat)
        let ids = try row.strings()
        try row.finish()
        return ids
    }
}

extension DecisionState {
    /// The current definition of policy `id`, or `nil`.
    public func slaPolicy(_ id: String) throws -> SlaPolicy? {
        try self.record(.slaPolicies, id).map(SlaPolicy.init(decoding:))
    }

    /// The ids of every policy ever defined, sorted.
    func slaPolicyIDs() throws -> [String] {
        try self.record(.service, PolicyIndex.key).map(PolicyIndex.decoded) ?? []
    }

    /// Every policy ever defined (retired ones included), by id.
    public func slaPolicies() throws -> [SlaPolicy] {
        try self.slaPolicyIDs().compactMap { try self.slaPolicy($0) }
    }

    /// The active policies in the order they are tried: by `position`, then id. Read through
    /// ``activeSlaPolicies(load:)``, so a state may answer from a cache of its own.
    func activePolicies() throws -> [SlaPolicy] {
        try self.activeSlaPolicies {
            try self.slaPolicies().filter { !$0.retired }
                .sorted { ($0.position, $0.policyID) < ($1.position, $1.policyID) }
        }
    }

    /// The policy for a ticket: the first active conditional policy by
    /// `position` (then id) whose conditions match, else the active fallback, else `nil`.
    public func resolvePolicy(tier: String?, channel: String, tags: [String]) throws -> SlaPolicy? {
        let active = try self.activePolicies()
        if let match = active.first(where: { !$0.isFallback && $0.matches(tier: tier, channel: channel, tags: tags) }) {
            return match
        }
        return active.first(where: \.isFallback)
    }
}

extension DecisionStateStore {
    /// Stores `policy` under its id and adds the id to the policy index.
    func setSlaPolicy(_ policy: SlaPolicy) throws {
        let id = policy.policyID
        try self.setRecord(.slaPolicies, id, policy.encoded())
        var ids = try self.slaPolicyIDs()
        if !ids.contains(id) {
            ids.append(id)
            try self.setRecord(.service, PolicyIndex.key, PolicyIndex.encoded(ids.sorted()))
        }
    }
}
