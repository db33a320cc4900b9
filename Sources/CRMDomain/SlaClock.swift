/// The rules of one applied target (a snapshot row of `SlaPolicyApplied.targets`).
public struct SlaRules: Sendable, Hashable {
    /// Target minutes.
    public var minutes: Int64
    /// Whether the target counts business hours.
    public var businessHours: Bool
    /// Statuses in which the clock pauses.
    public var pauseOn: [String]
    /// The schedule snapshot (only used for business-hours targets).
    public var schedule: BusinessSchedule?

    /// Whether the clock counts in `status` (never in solved or closed).
    public func counts(_ status: String) -> Bool {
        SlaVocabulary.pausableStatuses.contains(status) && !self.pauseOn.contains(status)
    }
}

/// One SLA instance as evaluated at `as_of`.
public struct SlaInstanceResult: Sendable, Hashable {
    /// The metric.
    public var metric: String
    /// 1 for all metrics but `next_reply_time`, whose instances are 2, 3, ….
    public var instance: Int
    /// The target in force.
    public var targetMinutes: Int64
    /// Whether the target counts business hours.
    public var businessHours: Bool
    /// `active`, `paused`, `fulfilled` or `cancelled`.
    public var state: String
    /// Whether the clock crossed the target.
    public var breached: Bool
    /// Start of the instance (UTC ms).
    public var startedAt: Int64
    /// When the instance was fulfilled (or cancelled), if it ended.
    public var endedAt: Int64?
    /// Running time so far (or at the end), in milliseconds.
    public var elapsedMillis: Int64
    /// When the target is (or was) crossed; `nil` while paused or when met.
    public var deadline: Int64?
    /// When the breach happened (never before a target change).
    public var breachedAt: Int64?

    /// Whole elapsed minutes (floor).
    public var elapsedMinutes: Int64 { self.elapsedMillis / 60_000 }
    /// `target − elapsed`, in minutes (Zammad `*_diff_in_min`).
    public var diffMinutes: Int64 { self.targetMinutes - self.elapsedMinutes }
    /// Fulfilled, or cancelled after a breach: counted in reports.
    public var completed: Bool { self.state == "fulfilled" || (self.state == "cancelled" && self.breached) }
    /// Fulfilled without a breach.
    public var achieved: Bool { self.state == "fulfilled" && !self.breached }

}

/// A ticket's SLA as of an instant.
public struct SlaEvaluation: Sendable, Hashable {
    /// The snapshot in effect at `as_of`, or `nil` when no policy applies.
    public var snapshot: SlaPolicySnapshot?
    /// The ticket status at `as_of`.
    public var status: String
    /// Every instance with a target, by metric order then instance.
    public var instances: [SlaInstanceResult]

    /// `active`, `active_with_misses`, `hit`, `missed`, or `nil` without a policy.
    public var slaStatus: String? {
        guard self.snapshot != nil || !self.instances.isEmpty else { return nil }
        let missed = self.instances.contains(where: \.breached)
        if self.status == "solved" || self.status == "closed" { return missed ? "missed" : "hit" }
        return missed ? "active_with_misses" : "active"
    }

    /// The earliest deadline of an active, unbreached instance.
    public var nextBreachAt: Int64? {
        self.instances.filter { $0.state == "active" && !$0.breached }.compactMap(\.deadline).min()
    }
}

/// The SLA clock: computes every metric instance of a ticket from its record, the ticket's
/// `created_at` and its log of replies, status changes and policy applications (``SlaTicketRecord``).
public enum SlaClock {
    /// A far-future instant standing for "still in this status".
    static let forever: Int64 = Int64.max / 4

    private struct Span {
        var metric: String
        var instance: Int
        var start: Int64
        var end: Int64?
        var endState: String?
    }

    /// Evaluates `record` at `asOf`; entries after `asOf` are ignored.
    public static func evaluate(_ record: SlaTicketRecord, asOf: Int64) -> SlaEvaluation {
        let createdAt = record.ticket.createdAt
        guard createdAt <= asOf else { return SlaEvaluation(snapshot: nil, status: "new", instances: []) }
        let log = record.log.filter { $0.at <= asOf }

        // Status timeline and policy applications.
        var statuses: [(at: Int64, status: String)] = [(createdAt, "new")]
        var applications: [(at: Int64, snapshot: SlaPolicySnapshot?)] = []
        for entry in log {
            switch entry {
            case .status(let at, let to): statuses.append((at, to))
            case .applied(let at, let snapshot): applications.append((at, snapshot))
            case .removed(let at): applications.append((at, nil))
            case .reply: break
            }
        }
        let status = statuses.last!.status

        // Instances.
        var spans: [Span] = []
        var frt = Span(metric: "first_reply_time", instance: 1, start: createdAt)
        var frtDone = false
        var nrtCount = 1
        var nrt: Span?
        var current = "new"
        for entry in log {
            switch entry {
            case .reply(let at, let byAgent):
                if byAgent {
                    if !frtDone {
                        frtDone = true
                        if frt.end == nil {
                            frt.end = at
                            frt.endState = "fulfilled"
                        }
                    } else if var open = nrt {
                        open.end = at
                        open.endState = "fulfilled"
                        spans.append(open)
                        nrt = nil
                    }
                } else if frtDone, nrt == nil, current != "closed" {
                    nrtCount += 1
                    nrt = Span(metric: "next_reply_time", instance: nrtCount, start: at)
                }
            case .status(let at, let to):
                current = to
                if to == "solved" || to == "closed", var open = nrt {
                    open.end = at
                    open.endState = "cancelled"
                    spans.append(open)
                    nrt = nil
                }
                if to == "closed", !frtDone, frt.end == nil {
                    frt.end = at
                    frt.endState = "cancelled"
                }
            case .applied, .removed:
                break
            }
        }
        spans.insert(frt, at: 0)
        if let open = nrt { spans.append(open) }
        for metric in ["requester_wait_time", "agent_work_time", "total_resolution_time"] {
            var span = Span(metric: metric, instance: 1, start: createdAt)
            if status == "solved" {
                span.end = statuses.last!.at
                span.endState = "fulfilled"
            } else if status == "closed" {
                let previous = statuses.count >= 2 ? statuses[statuses.count - 2] : statuses[0]
                span.end = previous.status == "solved" ? previous.at : statuses.last!.at
                span.endState = previous.status == "solved" ? "fulfilled" : "cancelled"
            }
            spans.append(span)
        }

        var results: [SlaInstanceResult] = []
        for span in spans {
            if let result = SlaClock.evaluate(span, statuses: statuses, applications: applications, asOf: asOf) {
                results.append(result)
            }
        }
        let order = SlaVocabulary.metrics
        results.sort {
            (order.firstIndex(of: $0.metric) ?? 0, $0.instance) < (order.firstIndex(of: $1.metric) ?? 0, $1.instance)
        }
        let snapshot = applications.last?.snapshot
        return SlaEvaluation(snapshot: snapshot ?? nil, status: status, instances: results)
    }

    /// The rules of `metric` in a snapshot, or `nil` when the snapshot has no such target.
    static func rules(_ snapshot: SlaPolicySnapshot?, _ metric: String) -> SlaRules? {
        guard let snapshot, let target = snapshot.target(metric) else { return nil }
        return SlaRules(
            minutes: target.minutes,
            businessHours: target.businessHours && snapshot.schedule != nil,
            pauseOn: target.pauseOn,
            schedule: snapshot.schedule
        )
    }

    /// The intervals in `[start, stop)` during which the clock of `rules` runs.
    static func running(
        _ rules: SlaRules,
        statuses: [(at: Int64, status: String)],
        start: Int64,
        stop: Int64
    ) -> [(Int64, Int64)] {
        guard start < stop else { return [] }
        var counting: [(Int64, Int64)] = []
        for (index, entry) in statuses.enumerated() where rules.counts(entry.status) {
            let from = max(entry.at, start)
            let to = min(index + 1 < statuses.count ? statuses[index + 1].at : SlaClock.forever, stop)
            guard from < to else { continue }
            if let last = counting.last, last.1 >= from {
                counting[counting.count - 1].1 = max(last.1, to)
            } else {
                counting.append((from, to))
            }
        }
        guard rules.businessHours, let schedule = rules.schedule else { return counting }
        guard let first = counting.first, let last = counting.last else { return [] }
        return IntervalMath.intersect(counting, schedule.openIntervals(from: first.0, to: last.1))
    }

    /// Running time before `instant`.
    static func length(_ intervals: [(Int64, Int64)], until instant: Int64) -> Int64 {
        var total: Int64 = 0
        for (start, end) in intervals {
            if start >= instant { break }
            total += min(end, instant) - start
        }
        return total
    }

    private static func evaluate(
        _ span: Span,
        statuses: [(at: Int64, status: String)],
        applications: [(at: Int64, snapshot: SlaPolicySnapshot?)],
        asOf: Int64
    ) -> SlaInstanceResult? {
        let stop = min(span.end ?? asOf, asOf)
        guard let effective = applications.last(where: { $0.at <= stop }),
            let rules = SlaClock.rules(effective.snapshot, span.metric)
        else { return nil }
        let target = rules.minutes * 60_000
        // Breach detection per application segment: never back-dated before a target change.
        var breachedAt: Int64?
        for (index, application) in applications.enumerated() {
            let next = index + 1 < applications.count ? applications[index + 1].at : SlaClock.forever
            let a = max(application.at, span.start)
            let b = min(next, stop)
            guard application.at <= stop, a <= b, let segmentRules = SlaClock.rules(application.snapshot, span.metric)
            else { continue }
            let limit = segmentRules.minutes * 60_000
            let run = SlaClock.running(segmentRules, statuses: statuses, start: span.start, stop: stop)
            if SlaClock.length(run, until: a) > limit {
                breachedAt = a
                break
            }
            if SlaClock.length(run, until: b) > limit {
                breachedAt = max(a, IntervalMath.reach(run, limit) ?? a)
                break
            }
        }
        let run = SlaClock.running(rules, statuses: statuses, start: span.start, stop: stop)
        let elapsed = IntervalMath.length(run)
        let ended = span.end != nil && span.end! <= asOf
        let currentStatus = statuses.last(where: { $0.at <= stop })?.status ?? "new"
        let state: String
        if ended {
            state = span.endState ?? "fulfilled"
        } else {
            state = rules.counts(currentStatus) ? "active" : "paused"
        }
        var deadline: Int64?
        if state == "active" {
            if breachedAt != nil {
                deadline = IntervalMath.reach(run, target) ?? breachedAt
            } else if rules.businessHours, let schedule = rules.schedule {
                deadline = schedule.addBusiness(stop, target - elapsed)
            } else {
                deadline = stop + (target - elapsed)
            }
        } else if breachedAt != nil, state != "paused" {
            deadline = IntervalMath.reach(run, target) ?? breachedAt
        }
        return SlaInstanceResult(
            metric: span.metric,
            instance: span.instance,
            targetMinutes: rules.minutes,
            businessHours: rules.businessHours,
            state: state,
            breached: breachedAt != nil,
            startedAt: span.start,
            endedAt: ended ? span.end : nil,
            elapsedMillis: elapsed,
            deadline: deadline,
            breachedAt: breachedAt
        )
    }
}
