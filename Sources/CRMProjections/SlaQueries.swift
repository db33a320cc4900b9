import CRMDomain
import CRMJSON
import CRMParams
import Foundation
import LMDB

extension SlaProjector {
    /// The page size when a query gives no `limit`.
    static let defaultLimit = 50
    /// The largest `limit` a query accepts.
    static let maximumLimit = 200
    /// The breach window of `sla.breaching` when none is given (minutes).
    static let defaultWindowMinutes: Int64 = 60
    /// The report groupings.
    static let groupings = ["policy", "priority", "metric", "channel", "owner", "tier"]

    /// The current time, UTC milliseconds (the default `at`).
    static func now() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }

    /// How far after the daemon's clock a business time given to an SLA query (`at`, a time `as_of`
    /// of `sla.ticket`, a report's `from`/`to`) may lie: 366 days. Evaluating a clock walks the business calendar up to that time,
    /// so an unbounded time (year 9999) would cost minutes of CPU per ticket.
    package static let maximumDaysAhead: Int64 = 366

    /// `millis`, a business time given as `field`, or `invalid_field` when it lies more than
    /// ``maximumDaysAhead`` days after the daemon's clock.
    package static func boundedBusinessTime(_ millis: Int64, field: String) throws(Rejection) -> Int64 {
        let latest = Self.now() + Self.maximumDaysAhead * 86_400_000
        guard millis <= latest else {
            throw Rejection(
                .invalidField,
                field: field,
                "must be at most \(Self.maximumDaysAhead) days after the daemon's clock (latest now: "
                    + "\(Timestamp.format(latest)))",
                details: ["latest": .string(Timestamp.format(latest))]
            )
        }
        return millis
    }

    /// The business time `key`, bounded by ``boundedBusinessTime(_:field:)``.
    static func businessTime(_ params: inout Params, _ key: String, required: Bool = false) throws -> Int64? {
        guard let millis = try params.timestamp(key, required: required) else { return nil }
        return try Self.boundedBusinessTime(millis, field: params.fieldPath(key))
    }

    /// The optional `at` member: the business time the SLA clocks are evaluated at (at most
    /// ``maximumDaysAhead`` days ahead), default now.
    ///
    /// `as_of` means a point of the log ("what crmd knew then") on every query that takes it; the
    /// clock views `ticket.get`, `ticket.list` and `sla.breaching` evaluate today's documents and
    /// cannot answer for an earlier point of the log, so `as_of` is refused here with a pointer to `at`.
    static func clockTime(_ params: inout Params) throws -> Int64 {
        if try params.raw("as_of") != nil {
            throw Rejection.invalid(
                params.fieldPath("as_of"),
                "as_of (a point of the log) is not supported by this query; give the business time to "
                    + "evaluate the SLA clocks at as at"
            )
        }
        return try Self.businessTime(&params, "at") ?? Self.now()
    }

    /// The optional `limit` member: 1…200, default 50.
    static func limit(_ params: inout Params) throws -> Int {
        guard let value = try params.int("limit") else { return Self.defaultLimit }
        guard (1...Int64(Self.maximumLimit)).contains(value) else {
            throw Rejection.invalid(params.fieldPath("limit"), "must be between 1 and \(Self.maximumLimit)")
        }
        return Int(value)
    }

    /// The ticket document `id`, or `not_found`.
    func ticketDocument(_ id: String, _ txn: Transaction) throws -> JSON {
        guard let document = try self.load(self.tickets, id, txn) else {
            throw Rejection.notFound("ticket_id", "ticket", id)
        }
        return document
    }

    static func time(_ millis: Int64?) -> JSON { .string(millis.map(Timestamp.format)) }

    /// The `policy` and `schedule` members of a snapshot.
    static func policyMembers(_ snapshot: JSON?) -> (policy: JSON, schedule: JSON) {
        guard let snapshot else { return (.null, .null) }
        let policy: JSON = [
            "policy_id": snapshot["policy_id"] ?? .null, "version": snapshot["policy_version"] ?? .null,
        ]
        var schedule: JSON = .null
        if let value = snapshot["schedule"], !value.isNull {
            schedule = ["schedule_id": value["schedule_id"] ?? .null, "version": value["version"] ?? .null]
        }
        return (policy, schedule)
    }

    // MARK: - sla.ticket

    /// `sla.ticket {ticket_id}` → the ticket's SLA document with every clock evaluated now.
    /// (With `at` or `as_of` the daemon answers from the ticket's own events instead, see
    /// ``slaTicket(folding:clock:)``.)
    func slaTicketQuery(_ json: JSON?, _ txn: Transaction) throws -> JSON {
        var params = try Params(json)
        let id = try params.identifier("ticket_id", required: true)!
        let clock = try params.timestamp("at") ?? Self.now()
        try params.finish()
        let document = try self.ticketDocument(id, txn)
        return Self.slaDocument(document, SlaClock.evaluate(document, asOf: clock), clock: clock)
    }

    /// `sla.ticket` answered from the ticket's own events instead of the stored document (time
    /// travel): `events` (the ticket stream up to the chosen point, in order) are folded into a fresh
    /// document exactly as ``apply(_:_:)`` folds them, and every clock is evaluated at `clock`.
    /// Returns `nil` when `events` hold no `TicketOpened` (the ticket did not exist yet).
    package static func slaTicket(folding events: [RecordedEvent], clock: Int64) -> JSON? {
        var document: JSON?
        for event in events {
            let old = event.type == ServiceEventType.ticketOpened ? nil : document
            if let folded = SlaTicketDocument.fold(old, event) { document = folded }
        }
        guard let document else { return nil }
        return Self.slaDocument(document, SlaClock.evaluate(document, asOf: clock), clock: clock)
    }

    /// The `sla.ticket` answer: `at` is the business time the clocks were evaluated at.
    static func slaDocument(_ document: JSON, _ evaluation: SlaEvaluation, clock: Int64) -> JSON {
        let (policy, schedule) = Self.policyMembers(evaluation.snapshot)
        return [
            "ticket_id": document["ticket_id"] ?? .null, "customer_id": document["customer_id"] ?? .null,
            "priority": evaluation.snapshot?["priority"] ?? document["priority"] ?? .null,
            "status": .string(evaluation.status), "at": Self.time(clock), "policy": policy, "schedule": schedule,
            "sla_status": .string(evaluation.slaStatus), "next_breach_at": Self.time(evaluation.nextBreachAt),
            "targets": .array(evaluation.instances.map(\.json)),
        ]
    }

    // MARK: - ticket.get / ticket.list

    /// The public form of a ticket document (without the internal log), with its SLA summary.
    static func ticketSummary(_ document: JSON, asOf: Int64) -> JSON {
        var summary = document
        summary["log"] = nil
        summary["created_at"] = Self.time(document["created_at"]?.intValue)
        summary["updated_at"] = Self.time(document["updated_at"]?.intValue)
        let evaluation = SlaClock.evaluate(document, asOf: asOf)
        summary["sla_status"] = .string(evaluation.slaStatus)
        summary["next_breach_at"] = Self.time(evaluation.nextBreachAt)
        return summary
    }

    /// `ticket.get {ticket_id, at?}` → the ticket with `sla_status` and `next_breach_at` at `at`.
    func ticketGetQuery(_ json: JSON?, _ txn: Transaction) throws -> JSON {
        var params = try Params(json)
        let id = try params.identifier("ticket_id", required: true)!
        let asOf = try Self.clockTime(&params)
        try params.finish()
        return Self.ticketSummary(try self.ticketDocument(id, txn), asOf: asOf)
    }

    /// `ticket.list {customer_id?, status?, limit?, after?, at?}` → `{"tickets":[…], "next_after": id|null}`
    /// in ticket id order.
    func ticketListQuery(_ json: JSON?, _ txn: Transaction) throws -> JSON {
        var params = try Params(json)
        let customerID = try params.identifier("customer_id")
        let status = try params.oneOf("status", SlaVocabulary.statuses)
        let limit = try Self.limit(&params)
        let after = try params.identifier("after")
        let asOf = try Self.clockTime(&params)
        try params.finish()
        return try txn.withCursor(self.tickets) { cursor in
            var entry = try after.map { key in try cursor.seek(atOrAfter: Array(key.utf8)) } ?? cursor.first()
            if let after, let found = entry, found.key.elementsEqual(after.utf8) { entry = try cursor.next() }
            var tickets: [JSON] = []
            var last: String?
            var more = false
            while let found = entry {
                try QueryCancellation.check()
                let document = try JSON.parse(found.value)
                entry = try cursor.next()
                if let customerID, document["customer_id"]?.stringValue != customerID { continue }
                if let status, document["status"]?.stringValue != status { continue }
                if tickets.count == limit {
                    more = true
                    break
                }
                tickets.append(Self.ticketSummary(document, asOf: asOf))
                last = document["ticket_id"]?.stringValue
            }
            return ["tickets": .array(tickets), "next_after": .string(more ? last : nil)]
        }
    }

    // MARK: - sla.breaching

    /// `sla.breaching {within_minutes?, at?, limit?}` → tickets whose next breach falls within
    /// `[at, at + within_minutes]`, soonest first.
    func breachingQuery(_ json: JSON?, _ txn: Transaction) throws -> JSON {
        var params = try Params(json)
        let window = try params.int("within_minutes") ?? Self.defaultWindowMinutes
        guard (0...525_600).contains(window) else {
            throw Rejection.invalid("within_minutes", "must be between 0 and 525600")
        }
        let asOf = try Self.clockTime(&params)
        let limit = try Self.limit(&params)
        try params.finish()
        let horizon = asOf + window * 60_000
        var rows: [(deadline: Int64, id: String, row: JSON)] = []
        try txn.withCursor(self.open) { cursor in
            var entry = try cursor.first()
            while let found = entry {
                try QueryCancellation.check()
                let id = String(decoding: found.key, as: UTF8.self)
                entry = try cursor.next()
                guard let document = try self.load(self.tickets, id, txn) else { continue }
                let evaluation = SlaClock.evaluate(document, asOf: asOf)
                guard let next = evaluation.nextBreachAt, next <= horizon else { continue }
                let instance = evaluation.instances.first {
                    $0.deadline == next && $0.state == "active" && !$0.breached
                }
                let (policy, _) = Self.policyMembers(evaluation.snapshot)
                var row: [String: JSON] = [:]
                row["ticket_id"] = .string(id)
                row["customer_id"] = document["customer_id"] ?? .null
                row["subject"] = document["subject"] ?? .null
                row["priority"] = document["priority"] ?? .null
                row["status"] = .string(evaluation.status)
                row["policy"] = policy
                row["metric"] = .string(instance?.metric)
                row["instance"] = .int(instance.map(\.instance))
                row["next_breach_at"] = Self.time(next)
                row["minutes_left"] = .int((next - asOf) / 60_000)
                row["sla_status"] = .string(evaluation.slaStatus)
                rows.append((deadline: next, id: id, row: .object(row)))
            }
        }
        rows.sort { ($0.deadline, $0.id) < ($1.deadline, $1.id) }
        return [
            "at": Self.time(asOf), "within_minutes": .int(window),
            "tickets": .array(rows.prefix(limit).map(\.row)), "total": .int(Int64(rows.count)),
        ]
    }

    // MARK: - sla.report

    /// `sla.report {from, to, group_by?}` → achievement and hit rates and elapsed-time distribution
    /// over the instances completed in `[from, to)`, per group.
    func reportQuery(_ json: JSON?, _ txn: Transaction) throws -> JSON {
        var params = try Params(json)
        let from = try Self.businessTime(&params, "from", required: true)!
        let to = try Self.businessTime(&params, "to", required: true)!
        guard from < to else { throw Rejection.invalid("to", "to must be after from") }
        var groupBy: [String] = []
        if let raw = try params.raw("group_by") {
            let values: [String]
            switch raw {
            case .string(let single): values = [single]
            case .array(let list): values = list.compactMap(\.stringValue)
            default: throw Rejection.invalid("group_by", "expected a string or an array of strings")
            }
            for (index, value) in values.enumerated() {
                guard Self.groupings.contains(value) else {
                    throw Rejection.invalid(
                        "group_by[\(index)]",
                        "must be one of \(Self.groupings.joined(separator: ", "))"
                    )
                }
                if !groupBy.contains(value) { groupBy.append(value) }
            }
        }
        try params.finish()

        var groups: [JSON: ReportAccumulator] = [:]
        var total = ReportAccumulator()
        try txn.withCursor(self.tickets) { cursor in
            var entry = try cursor.first()
            while let found = entry {
                try QueryCancellation.check()
                let document = try JSON.parse(found.value)
                entry = try cursor.next()
                guard let createdAt = document["created_at"]?.intValue, createdAt < to else { continue }
                let evaluation = SlaClock.evaluate(document, asOf: to)
                guard !evaluation.instances.isEmpty else { continue }
                let customer = try document["customer_id"]?.stringValue.flatMap { id in
                    try self.load(self.customers, id, txn)
                }
                let ticketID = document["ticket_id"]?.stringValue ?? ""
                for instance in evaluation.instances {
                    var key: [String: JSON] = [:]
                    for dimension in groupBy {
                        switch dimension {
                        case "policy": key["policy"] = evaluation.snapshot?["policy_id"] ?? .null
                        case "priority":
                            key["priority"] = evaluation.snapshot?["priority"] ?? document["priority"] ?? .null
                        case "metric": key["metric"] = .string(instance.metric)
                        case "channel": key["channel"] = document["channel"] ?? .null
                        case "owner": key["owner"] = customer?["owner_id"] ?? .null
                        default: key["tier"] = customer?["tier"] ?? .null
                        }
                    }
                    let groupKey = JSON.object(key)
                    groups[groupKey, default: ReportAccumulator()].add(instance, ticketID, from: from, to: to)
                    total.add(instance, ticketID, from: from, to: to)
                }
            }
        }
        let rows: [JSON] = groups.sorted { $0.key.serializedString() < $1.key.serializedString() }.map { key, value in
            var row = value.json
            row["key"] = key
            return row
        }
        return [
            "from": Self.time(from), "to": Self.time(to), "group_by": .strings(groupBy), "groups": .array(rows),
            "totals": total.json,
        ]
    }
}

/// Counts of one report group.
struct ReportAccumulator {
    var completed = 0
    var achieved = 0
    var breached = 0
    /// Instances still running or paused at the report's `to` (clocks are evaluated at `to`).
    var activeAtTo = 0
    /// Of ``activeAtTo``, those already past their deadline at `to`.
    var activeBreachedAtTo = 0
    var tickets: Set<String> = []
    var missedTickets: Set<String> = []
    var elapsed: [String: [Int64]] = [:]

    mutating func add(_ instance: SlaInstanceResult, _ ticketID: String, from: Int64, to: Int64) {
        if instance.completed, let ended = instance.endedAt, ended >= from, ended < to {
            self.completed += 1
            if instance.achieved { self.achieved += 1 }
            if instance.breached { self.breached += 1 }
            self.tickets.insert(ticketID)
            if instance.breached { self.missedTickets.insert(ticketID) }
            self.elapsed[instance.metric, default: []].append(instance.elapsedMinutes)
        } else if instance.state == "active" || instance.state == "paused" {
            self.activeAtTo += 1
            if instance.breached { self.activeBreachedAtTo += 1 }
        }
    }

    static func rate(_ part: Int, _ whole: Int) -> JSON {
        guard whole > 0 else { return .null }
        return .double((Double(part) / Double(whole) * 10_000).rounded() / 10_000)
    }

    var json: JSON {
        var distribution: [String: JSON] = [:]
        for (metric, values) in self.elapsed {
            let sorted = values.sorted()
            func rank(_ fraction: Double) -> Int64 {
                let index = max(0, Int((fraction * Double(sorted.count)).rounded(.up)) - 1)
                return sorted[min(index, sorted.count - 1)]
            }
            let sum = sorted.reduce(0, +)
            let median: Double =
                sorted.count % 2 == 1
                ? Double(sorted[sorted.count / 2])
                : Double(sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
            distribution[metric] = [
                "count": .int(Int64(sorted.count)),
                "avg": .double((Double(sum) / Double(sorted.count) * 100).rounded() / 100), "median": .double(median),
                "p90": .int(rank(0.9)),
            ]
        }
        return [
            "completed": .int(Int64(self.completed)), "achieved": .int(Int64(self.achieved)),
            "breached": .int(Int64(self.breached)),
            "achievement_rate": ReportAccumulator.rate(self.achieved, self.achieved + self.breached),
            "active_at_to": .int(Int64(self.activeAtTo)),
            "active_breached_at_to": .int(Int64(self.activeBreachedAtTo)),
            "tickets_with_sla": .int(Int64(self.tickets.count)),
            "tickets_with_any_miss": .int(Int64(self.missedTickets.count)),
            "hit_rate": ReportAccumulator.rate(self.tickets.count - self.missedTickets.count, self.tickets.count),
            "elapsed_minutes": .object(distribution),
        ]
    }
}
