public import CRMDomain
import CRMJSON
import CRMParams
import Foundation
public import LMDB

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
    /// clock views `ticket.get`, `ticket.list` and `sla.breaching` evaluate today's stored tickets and
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

    /// The record (facts and log) of ticket `id`, or `not_found`.
    func ticketRecord(_ id: String, _ txn: Transaction) throws -> SlaTicketRecord {
        guard let record = try self.record(ofTicket: id, txn) else {
            throw Rejection.notFound("ticket_id", "ticket", id)
        }
        return record
    }

    /// The record (facts and log) of ticket `id`, or `nil` for a ticket the read model does not know.
    public func record(ofTicket id: String, _ txn: Transaction) throws -> SlaTicketRecord? {
        try txn.withCursor(self.tickets) { cursor -> SlaTicketRecord? in
            guard case (var scan, let ticket)? = try SlaTicketScan.ticket(id, cursor) else { return nil }
            return SlaTicketRecord(ticket: ticket, log: try scan.log())
        }
    }

    /// The ids of the tickets neither solved nor closed, in byte order.
    public func openTicketIDs(_ txn: Transaction) throws -> [String] {
        try txn.withCursor(self.open) { cursor in
            var ids: [String] = []
            var entry = try cursor.first()
            while let found = entry {
                ids.append(String(decoding: found.key, as: UTF8.self))
                entry = try cursor.next()
            }
            return ids
        }
    }

    static func time(_ millis: Int64?) -> JSON { .string(millis.map(Timestamp.format)) }

    /// The `policy` and `schedule` members of a snapshot.
    static func policyMembers(_ snapshot: SlaPolicySnapshot?) -> (policy: JSON, schedule: JSON) {
        guard let snapshot else { return (.null, .null) }
        let policy: JSON = ["policy_id": .string(snapshot.policyID), "version": .int(snapshot.policyVersion)]
        var schedule: JSON = .null
        if let value = snapshot.schedule {
            schedule = ["schedule_id": .string(value.scheduleID), "version": .int(value.version)]
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
        let record = try self.ticketRecord(id, txn)
        return Self.slaDocument(record.ticket, SlaClock.evaluate(record, asOf: clock), clock: clock)
    }

    /// `sla.ticket` answered from the ticket's own events instead of the stored rows (time travel):
    /// `events` (the ticket stream up to the chosen point, in order) are folded into a fresh record
    /// exactly as ``apply(_:_:)`` folds them, and every clock is evaluated at `clock`. Returns `nil`
    /// when `events` hold no `TicketOpened` (the ticket did not exist yet).
    package static func slaTicket(folding events: [RecordedEvent], clock: Int64) -> JSON? {
        var record: SlaTicketRecord?
        for event in events {
            if let folded = SlaTicketRecord.fold(record, event) { record = folded }
        }
        guard let record else { return nil }
        return Self.slaDocument(record.ticket, SlaClock.evaluate(record, asOf: clock), clock: clock)
    }

    /// The `sla.ticket` answer: `at` is the business time the clocks were evaluated at.
    static func slaDocument(_ ticket: SlaTicket, _ evaluation: SlaEvaluation, clock: Int64) -> JSON {
        let (policy, schedule) = Self.policyMembers(evaluation.snapshot)
        return [
            "ticket_id": .string(ticket.ticketID), "customer_id": .string(ticket.customerID),
            "priority": .string(evaluation.snapshot?.priority ?? ticket.priority),
            "status": .string(evaluation.status), "at": Self.time(clock), "policy": policy, "schedule": schedule,
            "sla_status": .string(evaluation.slaStatus), "next_breach_at": Self.time(evaluation.nextBreachAt),
            "targets": .array(evaluation.instances.map(\.json)),
        ]
    }

    // MARK: - ticket.get / ticket.list

    /// The public form of a ticket, with its SLA summary at `asOf`.
    static func ticketSummary(_ record: SlaTicketRecord, asOf: Int64) -> JSON {
        let ticket = record.ticket
        let evaluation = SlaClock.evaluate(record, asOf: asOf)
        var policy: JSON = .null
        if let applied = ticket.policy {
            policy = ["policy_id": .string(applied.policyID), "version": .int(applied.version)]
        }
        return [
            "ticket_id": .string(ticket.ticketID), "customer_id": .string(ticket.customerID),
            "channel": .string(ticket.channel), "priority": .string(ticket.priority), "status": .string(ticket.status),
            "tags": .strings(ticket.tags), "created_by": .string(ticket.createdBy), "subject": .string(ticket.subject),
            "created_at": Self.time(ticket.createdAt), "updated_at": Self.time(ticket.updatedAt),
            "message_count": .int(ticket.messageCount), "policy": policy,
            "assignee_id": .string(ticket.assigneeID), "type": .string(ticket.ticketType),
            "category": .string(ticket.category),
            "sla_status": .string(evaluation.slaStatus), "next_breach_at": Self.time(evaluation.nextBreachAt),
        ]
    }

    /// `ticket.get {ticket_id, at?}` → the ticket with `sla_status` and `next_breach_at` at `at`.
    func ticketGetQuery(_ json: JSON?, _ txn: Transaction) throws -> JSON {
        var params = try Params(json)
        let id = try params.identifier("ticket_id", required: true)!
        let asOf = try Self.clockTime(&params)
        try params.finish()
        var record = try self.ticketRecord(id, txn)
        record.ticket.subject = try self.subjects.text(of: id, txn)
        return Self.ticketSummary(record, asOf: asOf)
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
            var scan = try SlaTicketScan(cursor, after: after)
            var tickets: [JSON] = []
            var last: String?
            var more = false
            while let ticket = try scan.next() {
                try QueryCancellation.check()
                if let customerID, ticket.customerID != customerID { continue }
                if let status, ticket.status != status { continue }
                if tickets.count == limit {
                    more = true
                    break
                }
                var record = SlaTicketRecord(ticket: ticket, log: try scan.log())
                record.ticket.subject = try self.subjects.text(of: ticket.ticketID, txn)
                tickets.append(Self.ticketSummary(record, asOf: asOf))
                last = ticket.ticketID
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
        try txn.withCursor(self.tickets) { ticketCursor in
            try txn.withCursor(self.open) { cursor in
                var entry = try cursor.first()
                while let found = entry {
                    try QueryCancellation.check()
                    let id = String(decoding: found.key, as: UTF8.self)
                    entry = try cursor.next()
                    guard case (var scan, let ticket)? = try SlaTicketScan.ticket(id, ticketCursor) else { continue }
                    let evaluation = SlaClock.evaluate(SlaTicketRecord(ticket: ticket, log: try scan.log()), asOf: asOf)
                    guard let next = evaluation.nextBreachAt, next <= horizon else { continue }
                    let instance = evaluation.instances.first {
                        $0.deadline == next && $0.state == "active" && !$0.breached
                    }
                    let (policy, _) = Self.policyMembers(evaluation.snapshot)
                    var row: [String: JSON] = [:]
                    row["ticket_id"] = .string(id)
                    row["customer_id"] = .string(ticket.customerID)
                    row["subject"] = .string(try self.subjects.text(of: id, txn))
                    row["priority"] = .string(ticket.priority)
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
            var scan = try SlaTicketScan(cursor)
            while let ticket = try scan.next() {
                try QueryCancellation.check()
                guard ticket.createdAt < to else { continue }
                let evaluation = SlaClock.evaluate(SlaTicketRecord(ticket: ticket, log: try scan.log()), asOf: to)
                guard !evaluation.instances.isEmpty else { continue }
                let customer = try ticket.customerID.flatMap { id in try self.customer(id, txn) }
                for instance in evaluation.instances {
                    var key: [String: JSON] = [:]
                    for dimension in groupBy {
                        switch dimension {
                        case "policy": key["policy"] = .string(evaluation.snapshot?.policyID)
                        case "priority": key["priority"] = .string(evaluation.snapshot?.priority ?? ticket.priority)
                        case "metric": key["metric"] = .string(instance.metric)
                        case "channel": key["channel"] = .string(ticket.channel)
                        case "owner": key["owner"] = .string(customer?.ownerID)
                        default: key["tier"] = .string(customer?.tier)
                        }
                    }
                    let groupKey = JSON.object(key)
                    groups[groupKey, default: ReportAccumulator()].add(instance, ticket.ticketID, from: from, to: to)
                    total.add(instance, ticket.ticketID, from: from, to: to)
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

extension SlaInstanceResult {
    /// The JSON shape of one SLA instance in `sla.ticket` replies.
    var json: JSON {
        func time(_ millis: Int64?) -> JSON { .string(millis.map(Timestamp.format)) }
        return [
            "metric": .string(self.metric), "instance": .int(Int64(self.instance)),
            "target_minutes": .int(self.targetMinutes), "business_hours": .bool(self.businessHours),
            "state": .string(self.state), "breached": .bool(self.breached), "started_at": time(self.startedAt),
            "fulfilled_at": time(self.state == "fulfilled" ? self.endedAt : nil),
            "cancelled_at": time(self.state == "cancelled" ? self.endedAt : nil),
            "elapsed_seconds": .int(self.elapsedMillis / 1000), "elapsed_minutes": .int(self.elapsedMinutes),
            "deadline": time(self.deadline), "breached_at": time(self.breachedAt),
            "diff_minutes": .int(self.diffMinutes),
            "achieved": self.state == "fulfilled" ? .bool(!self.breached) : .null,
        ]
    }
}
