public import CRMDomain
import CRMEventStore
public import CRMJSON
import CRMParams
public import LMDB

// `feedback.report` and `complaint.report`, computed from the feedback model's rows at query time.

/// A fixed-point decimal with two places, rounded half up (away from zero): `numerator ÷ denominator`;
/// `nil` when the denominator is 0.
func decimal2(_ numerator: Int128, _ denominator: Int128) -> String? {
    guard denominator > 0 else { return nil }
    let negative = numerator < 0
    let hundredths = (abs(numerator) * 200 + denominator) / (2 * denominator)
    let fraction = hundredths % 100
    return "\(negative && hundredths > 0 ? "-" : "")\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
}

/// `part ÷ whole × 100` with two decimals, half up; `nil` when `whole` is 0.
func percent2(_ part: Int, _ whole: Int) -> String? { decimal2(Int128(part) * 100, Int128(whole)) }

/// The response metrics of one group (or of the whole period) of one survey kind.
struct FeedbackTally {
    /// Score → current responses with that score.
    var distribution: [Int: Int] = [:]
    /// Requests offered in the period, and how many of them have a current response.
    var offered = 0
    var answered = 0

    var responses: Int { self.distribution.values.reduce(0, +) }

    func count(_ scores: ClosedRange<Int>) -> Int { scores.reduce(0) { $0 + (self.distribution[$1] ?? 0) } }

    func json(_ kind: SurveyKind) -> JSON {
        let responses = self.responses
        let sum = self.distribution.reduce(0) { $0 + $1.key * $1.value }
        var json: JSON = [
            "responses": .int(Int64(responses)),
            "distribution": .object(
                Dictionary(
                    uniqueKeysWithValues: kind.scale.map { (String($0), .int(Int64(self.distribution[$0] ?? 0))) })
            ),
            "avg_score": .string(decimal2(Int128(sum), Int128(responses))),
            "requests_offered": .int(Int64(self.offered)), "requests_answered": .int(Int64(self.answered)),
            "response_rate": .string(percent2(self.answered, self.offered)),
        ]
        switch kind {
        case .csat:
            let satisfied = self.count(4...5)
            json["csat_pct"] = .string(percent2(satisfied, responses))
            json["satisfied"] = .int(Int64(satisfied))
            json["neutral"] = .int(Int64(self.count(3...3)))
            json["dissatisfied"] = .int(Int64(self.count(1...2)))
            json["good_bad"] = [
                "good": .int(Int64(satisfied)), "bad": .int(Int64(responses - satisfied)),
                "good_pct": .string(percent2(satisfied, responses)),
            ]
        case .nps:
            let (promoters, detractors) = (self.count(9...10), self.count(0...6))
            json["nps"] = [
                "promoters": .int(Int64(promoters)), "passives": .int(Int64(self.count(7...8))),
                "detractors": .int(Int64(detractors)), "score": .string(percent2(promoters - detractors, responses)),
            ]
        case .ces:
            json["ces"] = [
                "avg": .string(decimal2(Int128(sum), Int128(responses))),
                "easy_pct": .string(
                    percent2(self.count(5...7), responses)),
            ]
        }
        return json
    }
}

extension FeedbackProjector {
    static let feedbackGroupings = ["agent", "channel", "survey", "ticket_type", "tier", "month"]

    /// `feedback.report {kind, from, to, group_by?}`.
    func feedbackReport(_ json: JSON?, _ txn: Transaction) throws -> JSON {
        var params = try Params(json)
        let kind = SurveyKind(
            rawValue: try params.oneOf("kind", SurveyKind.allCases.map(\.rawValue), required: true)!
        )!
        let (from, to) = try Self.period(&params)
        let groupBy = try Self.groupBy(&params, Self.feedbackGroupings)
        try params.finish()
        let clock = ValueClock(try self.settings(txn))
        var total = FeedbackTally()
        var groups: [[String]: FeedbackTally] = [:]
        var tickets: [String: FeedbackTicket?] = [:]
        var customers: [String: FeedbackCustomer?] = [:]
        try self.forEachRequest(txn) { request in
            guard request.kind == kind else { return }
            let offeredIn = (from..<to).contains(request.offeredAt)
            let respondedIn = request.response.map { (from..<to).contains($0.respondedAt) } ?? false
            guard offeredIn || respondedIn else { return }
            func key(at instant: Int64) throws -> [String] {
                try groupBy.map { dimension -> String in
                    switch dimension {
                    case "agent": return request.creditedAgent ?? "unassigned"
                    case "channel": return request.creditedChannel ?? "none"
                    case "survey": return request.surveyID
                    case "ticket_type":
                        guard let id = request.ticketID else { return "none" }
                        if tickets[id] == nil { tickets[id] = try self.ticket(id, txn) }
                        return tickets[id]??.ticketType ?? "none"
                    case "tier":
                        if customers[request.customerID] == nil {
                            customers[request.customerID] = try self.customer(request.customerID, txn)
                        }
                        return customers[request.customerID]??.tier ?? "none"
                    default: return String(clock.day(instant).text.prefix(7))
                    }
                }
            }
            if respondedIn, let response = request.response {
                total.distribution[response.score, default: 0] += 1
                if !groupBy.isEmpty {
                    groups[try key(at: response.respondedAt), default: FeedbackTally()].distribution[
                        response.score, default: 0] += 1
                }
            }
            if offeredIn {
                let answered = request.response != nil ? 1 : 0
                total.offered += 1
                total.answered += answered
                if !groupBy.isEmpty {
                    let offerKey = try key(at: request.offeredAt)
                    groups[offerKey, default: FeedbackTally()].offered += 1
                    groups[offerKey, default: FeedbackTally()].answered += answered
                }
            }
        }
        var report = total.json(kind)
        report["kind"] = .string(kind.rawValue)
        report["from"] = .string(Timestamp.format(from))
        report["to"] = .string(Timestamp.format(to))
        report["populations"] = [
            "responses": "current responses with responded_at in [from, to)",
            "response_rate": "requests with offered_at in [from, to); answered = has a current response",
        ]
        report["reporting_timezone"] = .string(clock.settings.reportingTimezone)
        if !groupBy.isEmpty {
            report["group_by"] = .strings(groupBy)
            report["groups"] = .array(
                groups.sorted { $0.key.lexicographicallyPrecedes($1.key) }.map { key, tally in
                    var row = tally.json(kind)
                    row["group"] = .object(Dictionary(uniqueKeysWithValues: zip(groupBy, key.map(JSON.string))))
                    return row
                }
            )
        }
        return report
    }

    /// The required `from` and `to` (RFC 3339), `from` < `to`.
    static func period(_ params: inout Params) throws -> (Int64, Int64) {
        let from = try params.timestamp("from", required: true)!
        let to = try params.timestamp("to", required: true)!
        guard from < to else { throw Rejection.invalid("to", "must be after from") }
        return (from, to)
    }

    /// `group_by`: one dimension or a list of them.
    static func groupBy(_ params: inout Params, _ allowed: [String]) throws -> [String] {
        guard let raw = try params.raw("group_by") else { return [] }
        let names: [String]
        if let name = raw.stringValue {
            names = [name]
        } else if let list = raw.arrayValue, list.allSatisfy({ $0.stringValue != nil }) {
            names = list.compactMap(\.stringValue)
        } else {
            throw Rejection.invalid("group_by", "must be a dimension or a list of dimensions")
        }
        for (index, name) in names.enumerated() where !allowed.contains(name) {
            throw Rejection.invalid(
                raw.stringValue == nil ? "group_by[\(index)]" : "group_by",
                "must be one of: \(allowed.joined(separator: ", "))"
            )
        }
        guard Set(names).count == names.count else { throw Rejection.invalid("group_by", "names a dimension twice") }
        return names
    }
}

// MARK: - complaint.report

/// The complaint metrics of one group (or of the whole period).
struct ComplaintTally {
    var complaints = 0
    var categories: [String: Int] = [:]
    /// Milliseconds from complaint open to first solve, of the solved ones.
    var resolutionMillis: [Int64] = []
    var outcomes: [String: Int] = [:]
    var reopened = 0
    var firstReplyMet = 0
    var firstReplyMissed = 0
    var csat = FeedbackTally()
    var complainants: Set<String> = []

    var json: JSON {
        let sorted = self.resolutionMillis.sorted()
        var median: Int128?
        if !sorted.isEmpty {
            let middle = sorted.count / 2
            median = sorted.count % 2 == 1 ? Int128(sorted[middle]) * 2 : Int128(sorted[middle - 1] + sorted[middle])
        }
        let assessed = self.outcomes.values.reduce(0, +)
        let upheld = (self.outcomes["upheld"] ?? 0) + (self.outcomes["partially_upheld"] ?? 0)
        let satisfied = self.csat.count(4...5)
        return [
            "complaints": .int(Int64(self.complaints)),
            "by_category": .object(self.categories.mapValues { .int(Int64($0)) }),
            "resolved": .int(Int64(sorted.count)),
            "median_hours_to_resolution": .string(median.flatMap { decimal2($0, 2 * 3_600_000) }),
            "mean_hours_to_resolution": .string(
                decimal2(Int128(sorted.reduce(0, +)), Int128(sorted.count) * 3_600_000)),
            "outcomes": .object(
                ComplaintResolved.outcomes.reduce(into: [:]) { $0[$1] = .int(Int64(self.outcomes[$1] ?? 0)) }),
            "upheld_rate": .string(percent2(upheld, assessed)),
            "reopened": .int(Int64(self.reopened)),
            "first_reply_achievement": [
                "met": .int(Int64(self.firstReplyMet)), "missed": .int(Int64(self.firstReplyMissed)),
                "pct": .string(percent2(self.firstReplyMet, self.firstReplyMet + self.firstReplyMissed)),
            ],
            "csat": [
                "responses": .int(Int64(self.csat.responses)),
                "csat_pct": .string(percent2(satisfied, self.csat.responses)),
            ],
        ]
    }
}

extension FeedbackProjector {
    static let complaintGroupings = ["category", "channel", "agent", "tier"]

    /// `complaint.report {from, to, group_by?}` over complaints opened in `[from, to)`. `value` gives the
    /// counted orders of the period and the complainants' value status at `to`, `sla` the first-reply
    /// achievement; a model that is not serving leaves its figures `null`.
    public func complaintReport(
        _ json: JSON?,
        value: ValueProjector?,
        sla: SlaProjector?,
        _ txn: Transaction
    ) throws -> JSON {
        var params = try Params(json)
        let (from, to) = try Self.period(&params)
        let groupBy = try Self.groupBy(&params, Self.complaintGroupings)
        try params.finish()
        var total = ComplaintTally()
        var groups: [[String]: ComplaintTally] = [:]
        try self.forEachTicket(txn) { ticketID, ticket in
            guard ticket.isComplaint, let opened = ticket.complaintOpenedAt, (from..<to).contains(opened) else {
                return
            }
            var customerTier: String?
            if groupBy.contains("tier") { customerTier = try self.customer(ticket.customerID, txn)?.tier }
            let key = groupBy.map { dimension -> String in
                switch dimension {
                case "category": ticket.category ?? "uncategorized"
                case "channel": ticket.channel
                case "agent": ticket.assigneeID ?? "unassigned"
                default: customerTier ?? "none"
                }
            }
            var firstReply: Bool?
            if let sla, let record = try? sla.ticketRecord(ticketID, txn) {
                let instance = SlaClock.evaluate(record, asOf: to).instances.first { $0.metric == "first_reply_time" }
                if let instance, instance.breached || instance.state == "fulfilled" { firstReply = !instance.breached }
            }
            var csat: [Int] = []
            for id in ticket.requests {
                guard let bytes = try txn.get(self.requests, id) else { continue }
                let request = try FeedbackRequest(decoding: bytes)
                if request.kind == .csat, let response = request.response { csat.append(response.score) }
            }
            func add(_ tally: inout ComplaintTally) {
                tally.complaints += 1
                tally.categories[ticket.category ?? "uncategorized", default: 0] += 1
                if let solved = ticket.firstSolvedAt, solved <= to { tally.resolutionMillis.append(solved - opened) }
                if let outcome = ticket.outcome { tally.outcomes[outcome, default: 0] += 1 }
                if ticket.reopened { tally.reopened += 1 }
                if let firstReply { if firstReply { tally.firstReplyMet += 1 } else { tally.firstReplyMissed += 1 } }
                for score in csat { tally.csat.distribution[score, default: 0] += 1 }
                tally.complainants.insert(ticket.customerID)
            }
            add(&total)
            if !groupBy.isEmpty { add(&groups[key, default: ComplaintTally()]) }
        }
        var report = total.json
        report["from"] = .string(Timestamp.format(from))
        report["to"] = .string(Timestamp.format(to))
        if let value {
            let orders = try value.countedOrders(from: from, to: to, txn)
            report["counted_orders"] = .int(Int64(orders))
            report["per_1000_orders"] = .string(decimal2(Int128(total.complaints) * 1000, Int128(orders)))
            report["complainants_by_status"] = .object(
                try value.statusCounts(of: total.complainants.sorted(), at: to - 1, txn).mapValues { .int(Int64($0)) }
            )
        } else {
            report["counted_orders"] = .null
            report["per_1000_orders"] = .null
            report["complainants_by_status"] = .null
        }
        if !groupBy.isEmpty {
            report["group_by"] = .strings(groupBy)
            report["groups"] = .array(
                groups.sorted { $0.key.lexicographicallyPrecedes($1.key) }.map { key, tally in
                    var row = tally.json
                    row["group"] = .object(Dictionary(uniqueKeysWithValues: zip(groupBy, key.map(JSON.string))))
                    return row
                }
            )
        }
        return report
    }

    /// The `feedback` block of a customer's profile, or `nil` for a customer this model never saw.
    public func feedbackBlock(of customerID: String, _ txn: Transaction) throws -> JSON? {
        try self.customer(customerID, txn)?.json
    }
}

extension ValueProjector {
    /// Orders placed in `[from, to)` that count as of the business day of `to` (neither cancelled nor
    /// fully refunded by then).
    func countedOrders(from: Int64, to: Int64, _ txn: Transaction) throws -> Int {
        let clock = try self.clock(txn)
        let day = clock.day(to - 1)
        var orders: [ValueOrder] = []
        try txn.withCursor(self.orders) { cursor in
            var entry = try cursor.first()
            while let found = entry {
                let order = try ValueOrder(decoding: found.valueBytes)
                if (from..<to).contains(order.orderedAt) { orders.append(order) }
                entry = try cursor.next()
            }
        }
        return CustomerValue.counted(orders, asOf: day, clock).count
    }

    /// How many of `customerIDs` have each value status at the instant `at`.
    func statusCounts(of customerIDs: [String], at: Int64, _ txn: Transaction) throws -> [String: Int] {
        let clock = try self.clock(txn)
        let day = clock.day(at)
        var counts: [String: Int] = [:]
        for id in customerIDs {
            let value = CustomerValue(
                orders: try self.orders(of: id, txn), mark: try self.mark(of: id, txn), asOf: day, clock)
            counts[value.status.name, default: 0] += 1
        }
        return counts
    }
}
