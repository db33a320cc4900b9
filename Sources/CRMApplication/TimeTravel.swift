import CRMDomain
import CRMEventStore
import CRMJSON
import CRMParams
import CRMProjections
import Foundation
import LMDB

/// Time travel: answers as the daemon would have given them at an earlier point of the log.
///
/// `customer.get`, `funnel.report` and `sla.report` fold the log up to the point with the projector
/// that serves the live answer, in a throwaway environment, and ask it the same query; `sla.ticket`
/// (with `as_of` or its business time `at`) folds only the ticket's own stream. See
/// docs/protocol/sales.md and service.md for the semantics.
struct TimeTravel: Sendable, ReadsStorage {
    let storage: CoreStorage

    /// Events folded into a scratch environment per write transaction: bounds a transaction's dirty
    /// pages on a long log, and each chunk reads the log in a read transaction of its own.
    static let asOfChunk = 10_000

    /// Answers `method` (one that supports `as_of`) with a non-null `as_of` (or `sla.ticket` with `at`).
    func answerAsOf(_ method: String, _ params: JSON?) throws -> JSON {
        switch method {
        case "customer.get": return try self.customerAsOf(params)
        case "sla.ticket": return try self.slaTicketAsOf(params)
        default: return try self.reportAsOf(method, params)
        }
    }

    /// The position an `as_of` param names: a position (capped at the head), or an RFC 3339 time,
    /// meaning the last event recorded at or before it (0 when none was).
    func position(asOf value: JSON, head: UInt64, _ txn: Transaction) throws -> UInt64 {
        if let number = value.intValue {
            guard number >= 0 else { throw Self.invalidAsOf }
            return min(UInt64(number), head)
        }
        guard let text = value.stringValue, let millis = Timestamp.parse(text) else { throw Self.invalidAsOf }
        // recorded_at grows with the position, so a binary search finds the last event at or before it.
        var low: UInt64 = 0
        var high = head
        while low < high {
            let middle = low + (high - low + 1) / 2
            let recordedAt = try self.store.event(at: middle, txn)?.recordedAt ?? Int64.max
            if recordedAt <= millis { low = middle } else { high = middle - 1 }
        }
        return low
    }

    static var invalidAsOf: Rejection { Rejection.invalid("as_of", "must be a position ≥ 0 or an RFC 3339 time") }

    /// Folds the events at positions 1…`position` (or only those at `positions`, ascending) that
    /// `include` accepts, in log order, into a fresh projector made by `make` in a scratch
    /// environment, then answers `answer` from its tables.
    func foldInScratch<P: Projector, T>(
        upTo position: UInt64,
        only positions: [UInt64]? = nil,
        make: (Transaction) throws -> P,
        include: (RecordedEvent) -> Bool = { _ in true },
        answer: (P, Transaction) throws -> T
    ) throws -> T {
        let scratch = FileManager.default.temporaryDirectory
            .appendingPathComponent("crmd-asof-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        var options = Environment.Options()
        options.mapSize = 64 << 20  // grows on demand
        options.noSync = true  // a throwaway fold, never acknowledged to anyone
        let environment = try Environment(path: scratch, options: options)
        let projector = try environment.write { txn in try make(txn) }
        if let positions {
            for chunk in stride(from: 0, to: positions.count, by: Self.asOfChunk) {
                let part = positions[chunk..<min(chunk + Self.asOfChunk, positions.count)]
                try self.environment.read { source in
                    try environment.write { txn in
                        for seq in part where seq <= position {
                            guard let event = try self.store.event(at: seq, source), include(event) else { continue }
                            try projector.apply(event, txn)
                        }
                    }
                }
            }
            return try environment.read { txn in try answer(projector, txn) }
        }
        var next: UInt64 = 1
        while next <= position {
            let start = next
            next = try self.environment.read { source in
                try environment.write { txn in
                    var next = start
                    var scanned = 0
                    try self.store.forEachRecord(from: start, source) { seq, record in
                        guard seq <= position, scanned < Self.asOfChunk else { return false }
                        let event = try EventRecord.decode(record, keys: self.store.piiKeys)
                        if include(event) { try projector.apply(event, txn) }
                        scanned += 1
                        next = seq + 1
                        return true
                    }
                    return next
                }
            }
            guard next > start else { break }  // the log ended early (cannot happen: position ≤ head)
        }
        return try environment.read { txn in try answer(projector, txn) }
    }

    // MARK: - customer.get

    /// `customer.get {customer_id, as_of}`: the profile as it was at that point, folded afresh from
    /// the events up to it that touch the customer (its own stream, activities naming it, its deals,
    /// tickets and orders) with the same projectors that serve the live answer (the profile, and the
    /// value block as of the business date of that point), in scratch environments.
    ///
    /// The read model's index of the events that concern each customer names them, so only those
    /// are read; while that index has not folded up to `as_of` (a rebuild, a failed projection) the
    /// log up to `as_of` is read instead, with the same filter.
    func customerAsOf(_ params: JSON?) throws -> JSON {
        var reader = try Params(params)
        let id = try reader.identifier("customer_id", required: true)!
        let asOf = try reader.raw("as_of", required: true)!
        try reader.finish()
        let (position, indexed) = try self.environment.read { txn -> (UInt64, [UInt64]?) in
            let position = try self.position(asOf: asOf, head: try self.store.head(txn).seq, txn)
            return (position, try self.indexedPositions(of: id, through: position, txn))
        }
        let own = "customer-\(id)"
        var existed = false
        var deals: Set<String> = []
        var tickets: Set<String> = []
        func touches(_ event: RecordedEvent) -> Bool {
            let names = event.event.namedCustomerIDs.contains(id)
            if event.stream.hasPrefix("deal-"), names { deals.insert(event.stream) }
            if event.stream.hasPrefix("ticket-"), names { tickets.insert(event.stream) }
            if event.stream == own { existed = true }
            // The index lists exactly the events that concern the customer, including those of the
            // customers merged into it, which no test on the event alone could tell.
            if indexed != nil { return true }
            return event.stream == own || names || deals.contains(event.stream) || tickets.contains(event.stream)
        }
        let make = { (txn: Transaction) in try CustomerProfileProjector(txn, cipher: self.runner.cipher) }
        var profile = try self.foldInScratch(upTo: position, only: indexed, make: make, include: touches) {
            projector,
            txn -> JSON in
            guard existed else {
                throw Rejection(
                    .notFound,
                    field: "customer_id",
                    "customer \(id) did not exist at position \(position)",
                    details: ["id": .string(id), "position": .int(Int64(position))]
                )
            }
            guard let get = projector.queries["customer.get"] else { return .null }
            return try get(["customer_id": .string(id)], txn)
        }
        // The value block as the live answer gave it then: the same events folded by the value read
        // model, as of the business date of that point.
        (deals, tickets) = ([], [])
        let day = try self.environment.read { txn in
            try self.store.event(at: position, txn).map { String(Timestamp.format($0.recordedAt).prefix(10)) }
        }
        profile["value"] = try self.foldInScratch(
            upTo: position, only: indexed, make: { txn in try ValueProjector(txn) }, include: touches
        ) { projector, txn in try projector.valueBlock(of: id, asOf: day, txn) ?? .null }
        (deals, tickets) = ([], [])
        profile["feedback"] = try self.foldInScratch(
            upTo: position, only: indexed, make: { txn in try FeedbackProjector(txn) }, include: touches
        ) { projector, txn in try projector.feedbackBlock(of: id, txn) ?? .null }
        profile["as_of"] = ["position": .int(Int64(position))]
        // Erased after that point: the personal values it had then are gone with the key.
        if let erased = self.store.piiKeys?.erasedSeq(of: "c:" + id), erased > position {
            profile["pii_shredded"] = true
        }
        return profile
    }

    /// The positions up to `position` of the events that concern customer `id`, from the active
    /// tables of the customer read model, or `nil` when those have not folded up to `position`.
    func indexedPositions(of id: String, through position: UInt64, _ txn: Transaction) throws -> [UInt64]? {
        guard let index = self.runner.readModels.firstIndex(where: { $0.name == "customers" }),
            let slot = try self.runner.activeSlot(index, txn),
            let projector = self.runner.readModels[index].slots[slot] as? CustomerProfileProjector
        else { return nil }
        let key = ProjectionRunner.checkpointKey(self.runner.readModels[index].name)
        guard let bytes = try txn.get(self.store.meta, key), bytes.count == 8,
            bytes.reduce(UInt64(0), { $0 << 8 | UInt64($1) }) >= position
        else { return nil }
        return try projector.positions(of: id, through: position, txn)
    }

    // MARK: - funnel.report, sla.report, value reports

    /// `funnel.report` / `sla.report` / the value reports with `as_of`: the report the daemon gave
    /// right after position `as_of` (or after the last event recorded at or before the time `as_of`),
    /// from the log folded up to it with the live projector, plus `"as_of":{"position":…}`. The report's own params
    /// (`from`, `to`, …) mean what they mean live; `sla.report` evaluates its clocks at `to` as ever.
    /// Without `to`, funnel `stale` is measured at the `as_of` time, or for a position at the time
    /// its event was recorded; likewise a value report's `as_of_date` defaults to that time's date.
    func reportAsOf(_ method: String, _ params: JSON?) throws -> JSON {
        guard var members = params?.objectValue else {
            throw Rejection(.badRequest, "params must be an object")
        }
        let asOf = members.removeValue(forKey: "as_of") ?? .null
        let rest = JSON.object(members)
        let (position, clock) = try self.environment.read { txn -> (UInt64, Int64) in
            let position = try self.position(asOf: asOf, head: try self.store.head(txn).seq, txn)
            let recorded = try self.store.event(at: position, txn)?.recordedAt ?? 0
            return (position, asOf.stringValue.flatMap(Timestamp.parse) ?? recorded)
        }
        var report: JSON
        if TimeTravel.valueReports.contains(method) {
            // A value report as crmd knew the orders then; its date defaults to that point's.
            var query = members
            if method != "churn.report", query["as_of_date"] == nil {
                query["as_of_date"] = .string(String(Timestamp.format(clock).prefix(10)))
            }
            let make = { (txn: Transaction) in try ValueProjector(txn) }
            report = try self.foldInScratch(upTo: position, make: make) { projector, txn in
                guard let answer = projector.queries[method] else { return .null }
                return try answer(.object(query), txn)
            }
        } else if method == "funnel.report" {
            report = try self.foldInScratch(upTo: position, make: { try FunnelProjector($0, cipher: self.runner.cipher) }) { projector, txn in
                try projector.report(rest, now: clock, txn)
            }
        } else {
            report = try self.foldInScratch(upTo: position, make: { try SlaProjector($0, cipher: self.runner.cipher) }) { projector, txn -> JSON in
                guard let query = projector.queries[method] else { return .null }
                return try query(rest, txn)
            }
        }
        report["as_of"] = ["position": .int(Int64(position))]
        return report
    }

    /// The value read model's queries that take `as_of`.
    static let valueReports: Set<String> = ["value.customer", "rfm.report", "churn.report", "cohort.report"]

    // MARK: - sla.ticket

    /// `sla.ticket {ticket_id, at?, as_of?}` folded from the ticket's own stream, so it costs the
    /// ticket's events, not the log's. `at` is business time, `as_of` a point of the log, as everywhere:
    /// - `at` T alone: the ticket's events whose business time (`occurred_at`) is at or before T, clocks
    ///   evaluated at T;
    /// - `as_of` alone: the ticket's events up to that point of the log (a position P, or the last event
    ///   recorded at or before a time), clocks evaluated at the `as_of` time, or for a position at the
    ///   business time of the event at P, plus `"as_of":{"position":P}`;
    /// - both: the events up to the point of the log that occurred at or before T, clocks at T.
    ///
    /// A ticket without events by then is `not_found`.
    func slaTicketAsOf(_ params: JSON?) throws -> JSON {
        var reader = try Params(params)
        let id = try reader.identifier("ticket_id", required: true)!
        let at = try reader.timestamp("at").map { try SlaProjector.boundedBusinessTime($0, field: "at") }
        let asOf = try reader.raw("as_of")
        try reader.finish()
        let answer = try self.environment.read { txn -> (JSON?, UInt64?) in
            let positions = try self.store.positions(of: ServiceStream.ticket(id), txn)
            var position = UInt64.max
            var clock = at ?? 0
            if let asOf {
                position = try self.position(asOf: asOf, head: try self.store.head(txn).seq, txn)
                if at == nil {
                    if let time = asOf.stringValue.flatMap(Timestamp.parse) {
                        clock = try SlaProjector.boundedBusinessTime(time, field: "as_of")
                    } else {
                        clock = try self.store.event(at: position, txn)?.occurredAt ?? 0
                    }
                }
            }
            // A position alone runs the clocks to the business time the log had reached there, whatever
            // the ticket's own events say; otherwise only events that occurred by the clock count.
            let byBusinessTime = at != nil || asOf?.stringValue != nil
            var events: [RecordedEvent] = []
            for seq in positions where seq <= position {
                guard let event = try self.store.event(at: seq, txn) else { continue }
                if byBusinessTime, event.occurredAt > clock { break }
                events.append(event)
            }
            return (SlaProjector.slaTicket(folding: events, clock: clock), asOf == nil ? nil : position)
        }
        guard var document = answer.0 else {
            var details: [String: DetailValue] = ["id": .string(id)]
            var when: [String] = []
            if let at {
                details["at"] = .string(Timestamp.format(at))
                when.append("at \(Timestamp.format(at))")
            }
            if let position = answer.1 {
                details["position"] = .int(Int64(position))
                when.append("as of log position \(position)")
            }
            throw Rejection(
                .notFound,
                field: "ticket_id",
                "ticket \(id) did not exist \(when.joined(separator: " "))",
                details: details
            )
        }
        if let position = answer.1 { document["as_of"] = ["position": .int(Int64(position))] }
        return document
    }
}
