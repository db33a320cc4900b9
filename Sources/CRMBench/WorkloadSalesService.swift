import CRMJSON

/// What the generator knows about a deal it created.
struct BenchDeal: Sendable {
    var id: String
    var customer: Int
    /// Index in ``SalesWorkload/stages``; the last two are won and lost.
    var stage: Int
}

/// What the generator knows about a ticket it opened.
struct BenchTicket: Sendable {
    var id: String
    var status: String
    /// Whether it was made a complaint, and whether it was offered a survey (or solved, which offers
    /// one): see WorkloadFeedback.swift.
    var complaint = false
    var surveyed = false
}

/// Pipelines and deals: deals are created on the seeded `sales` pipeline (crm-bench starts crmd with
/// its default configuration), move forward, and close won or lost; each connection also defines a
/// pipeline of its own once.
enum SalesWorkload {
    static let stages = ["prospecting", "qualification", "proposal", "negotiation", "won", "lost"]
    static let currencies = ["EUR", "USD", "GBP"]

    static let entries: [WorkloadEntry] = [
        WorkloadEntry(method: "pipeline.define", weight: 1, make: definePipeline),
        WorkloadEntry(method: "deal.create", weight: 4, make: create),
        WorkloadEntry(method: "deal.move", weight: 5, make: move),
        WorkloadEntry(method: "deal.update", weight: 2, make: update),
    ]

    static func definePipeline(_ context: inout WorkloadContext) -> JSON? {
        guard !context.definedPipeline else { return nil }
        context.definedPipeline = true
        return [
            "pipeline_id": .string("\(context.prefix)pl"), "name": "Renewals", "require_lost_reason": true,
            "stages": [
                ["id": "open", "name": "Open", "probability": 30, "kind": "open"],
                ["id": "agreed", "name": "Agreed", "probability": 90, "kind": "open"],
                ["id": "renewed", "name": "Renewed", "probability": 100, "kind": "won"],
                ["id": "churned", "name": "Churned", "probability": 0, "kind": "lost"],
            ],
        ]
    }

    static func create(_ context: inout WorkloadContext) -> JSON? {
        guard let customer = context.someCustomer() else { return nil }
        let id = "\(context.prefix)d\(context.deals.count)"
        context.deals.append(BenchDeal(id: id, customer: customer, stage: 0))
        // A deal lifts its customer to opportunity (index 4) if it is earlier.
        context.customers[customer].stage = max(context.customers[customer].stage, 4)
        return [
            "deal_id": .string(id), "pipeline_id": "sales", "name": "Subscription",
            "customer_ids": [.string(context.customers[customer].id)],
            "amount": .string("\(1_000 + context.rng.below(50_000))"), "currency": .string(context.rng.pick(Self.currencies)),
            "owner_id": .string("u\(context.rng.below(20))"),
        ]
    }

    static func move(_ context: inout WorkloadContext) -> JSON? {
        let open = context.deals.indices.filter { context.deals[$0].stage < 4 }
        guard !open.isEmpty else { return nil }
        let index = context.rng.pick(open)
        var deal = context.deals[index]
        var next = deal.stage + 1 + (context.rng.chance(20) ? 1 : 0)
        if next >= 4 { next = context.rng.chance(40) ? 4 : 5 }
        deal.stage = next
        context.deals[index] = deal
        var params: [String: JSON] = ["deal_id": .string(deal.id), "stage_id": .string(Self.stages[next])]
        if next == 5 { params["lost_reason"] = "price" }
        if next == 4 { context.customers[deal.customer].stage = max(context.customers[deal.customer].stage, 5) }
        return .object(params)
    }

    static func update(_ context: inout WorkloadContext) -> JSON? {
        guard !context.deals.isEmpty else { return nil }
        let deal = context.rng.pick(context.deals)
        return ["deal_id": .string(deal.id), "close_date": .string("2027-0\(1 + context.rng.below(9))-15")]
    }
}

/// Schedules, SLA policies and tickets: each connection defines a business-hours schedule and an SLA
/// policy matching its own ticket tag once (and retires the policy late in the run), opens tickets,
/// answers them, changes their status and priority and tags them.
enum ServiceWorkload {
    static let entries: [WorkloadEntry] = [
        WorkloadEntry(method: "schedule.define", weight: 1, make: defineSchedule),
        WorkloadEntry(method: "sla_policy.define", weight: 1, make: definePolicy),
        WorkloadEntry(method: "sla_policy.retire", weight: 1, make: retirePolicy),
        WorkloadEntry(method: "ticket.open", weight: 4, make: open),
        WorkloadEntry(method: "ticket.reply", weight: 6, make: reply),
        WorkloadEntry(method: "ticket.set_status", weight: 3, make: setStatus),
        WorkloadEntry(method: "ticket.set_priority", weight: 1, make: setPriority),
        WorkloadEntry(method: "ticket.tag", weight: 1, make: tag),
    ]

    static func defineSchedule(_ context: inout WorkloadContext) -> JSON? {
        guard !context.definedSchedule else { return nil }
        context.definedSchedule = true
        let day: JSON = [["09:00", "17:00"]]
        return [
            "schedule_id": .string("\(context.prefix)s"), "name": "Office", "timezone": "Europe/Berlin",
            "hours": ["mon": day, "tue": day, "wed": day, "thu": day, "fri": day],
            "holidays": [["date": "2026-12-25", "name": "Christmas"]],
        ]
    }

    static func definePolicy(_ context: inout WorkloadContext) -> JSON? {
        guard context.definedSchedule, !context.definedPolicy else { return nil }
        context.definedPolicy = true
        return [
            "policy_id": .string("\(context.prefix)pol"), "name": "Standard", "position": 1,
            "match": ["tags_any": [.string("\(context.prefix)t")]], "schedule_id": .string("\(context.prefix)s"),
            "targets": [
                ["metric": "first_reply_time", "priority": "normal", "minutes": 240, "business_hours": true],
                ["metric": "first_reply_time", "priority": "high", "minutes": 60, "business_hours": false],
                ["metric": "total_resolution_time", "priority": "normal", "minutes": 2400, "business_hours": true],
            ],
        ]
    }

    static func retirePolicy(_ context: inout WorkloadContext) -> JSON? {
        guard context.definedPolicy, !context.retiredPolicy, context.tickets.count >= 50 else { return nil }
        context.retiredPolicy = true
        return ["policy_id": .string("\(context.prefix)pol")]
    }

    static func open(_ context: inout WorkloadContext) -> JSON? {
        guard let customer = context.someCustomer() else { return nil }
        let id = "\(context.prefix)t\(context.tickets.count)"
        context.tickets.append(BenchTicket(id: id, status: "new"))
        return [
            "ticket_id": .string(id), "customer_id": .string(context.customers[customer].id),
            "subject": "Cannot log in", "channel": .string(context.rng.pick(["email", "chat", "web"])),
            "tags": [.string("\(context.prefix)t")],
            "first_message": ["body": "Since this morning the login page fails.", "public": true],
        ]
    }

    /// A random ticket that is not closed, or `nil`.
    static func someOpenTicket(_ context: inout WorkloadContext) -> Int? {
        let open = context.tickets.indices.filter { context.tickets[$0].status != "closed" }
        return open.isEmpty ? nil : context.rng.pick(open)
    }

    static func reply(_ context: inout WorkloadContext) -> JSON? {
        guard let index = someOpenTicket(&context) else { return nil }
        let agent = context.rng.chance(60)
        var ticket = context.tickets[index]
        if agent, ticket.status == "new" { ticket.status = "open" }
        if !agent, ["pending", "on_hold", "solved"].contains(ticket.status) { ticket.status = "open" }
        context.tickets[index] = ticket
        return [
            "ticket_id": .string(ticket.id), "author": agent ? "agent" : "customer", "public": true,
            "body": agent ? "We are looking into it." : "Any news?",
        ]
    }

    static func setStatus(_ context: inout WorkloadContext) -> JSON? {
        guard let index = someOpenTicket(&context) else { return nil }
        let choices = ["open", "pending", "on_hold", "solved", "closed"].filter { $0 != context.tickets[index].status }
        let status = context.rng.pick(choices)
        context.tickets[index].status = status
        if status == "solved" { context.tickets[index].surveyed = true }
        return ["ticket_id": .string(context.tickets[index].id), "status": .string(status)]
    }

    static func setPriority(_ context: inout WorkloadContext) -> JSON? {
        guard let index = someOpenTicket(&context) else { return nil }
        return [
            "ticket_id": .string(context.tickets[index].id),
            "priority": .string(context.rng.pick(["low", "normal", "high", "urgent"])),
        ]
    }

    static func tag(_ context: inout WorkloadContext) -> JSON? {
        guard let index = someOpenTicket(&context) else { return nil }
        return ["ticket_id": .string(context.tickets[index].id), "add": [.string(context.rng.pick(Vocabulary.tags))]]
    }
}
