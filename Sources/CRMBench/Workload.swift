import CRMJSON

/// A small, fast, seedable pseudo-random generator (SplitMix64): the same seed gives the same
/// workload on every machine.
struct SplitMix64 {
    private var state: UInt64

    init(seed: UInt64) { self.state = seed }

    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A value in `0..<bound` (`bound` > 0).
    mutating func below(_ bound: Int) -> Int { Int(self.next() % UInt64(bound)) }

    /// `true` with probability `percent` / 100.
    mutating func chance(_ percent: Int) -> Bool { self.below(100) < percent }

    /// A random element of a non-empty array.
    mutating func pick<T>(_ values: [T]) -> T { values[self.below(values.count)] }
}

/// What the generator knows about a customer it created, so follow-up commands are valid (a
/// lifecycle move goes forward, an owner change changes the owner, ...).
struct BenchCustomer: Sendable {
    var id: String
    var email: String
    var stage: Int
    var leadStatus: Int
    var owner: Int
    var tags: [String]
    /// How many phone numbers it has: with exactly one, an SMS consent need not name it.
    var phones: Int
    /// Merged into another customer: commands no longer name it.
    var merged = false
}

/// The state a workload entry works on: the random source, the customers created so far on this
/// connection, and counters for explicit ids.
struct WorkloadContext {
    var rng: SplitMix64
    /// Prefix of every id this connection creates (unique per connection and phase).
    let prefix: String
    /// At most this many customers are created; afterwards only follow-up commands are generated.
    let maxCustomers: Int
    var customers: [BenchCustomer] = []
    var nextActivity = 0
    /// Deals and tickets this connection created (see WorkloadSalesService.swift).
    var deals: [BenchDeal] = []
    var tickets: [BenchTicket] = []
    /// Orders this connection recorded (see WorkloadOrders.swift).
    var orders: [BenchOrder] = []
    /// Whether this connection has defined its pipeline, schedule and SLA policy, and retired it.
    var definedPipeline = false
    var definedSchedule = false
    var definedPolicy = false
    var retiredPolicy = false
    /// Whether this connection has set its value model.
    var definedModel = false
    /// Whether this connection has defined its survey, and the survey requests it offered: request id
    /// and index of the ticket.
    var definedSurvey = false
    var surveyRequests: [(id: String, ticket: Int)] = []
    /// Versions of this connection's segment defined so far, and whether it was retired.
    var segmentVersions = 0
    var retiredSegment = false
    /// Whether this connection has created its static list and its campaign.
    var createdList = false
    var createdCampaign = false

    /// A random existing customer's index, or `nil` when none exists yet or the one drawn was merged
    /// (the generator then draws again).
    mutating func someCustomer() -> Int? {
        guard !self.customers.isEmpty else { return nil }
        let index = self.rng.below(self.customers.count)
        return self.customers[index].merged ? nil : index
    }
}

/// One kind of command in the mix: its method, its relative weight, and how to make its params.
/// `make` returns `nil` when the command cannot be made right now (e.g. no customer exists yet);
/// the generator then draws again.
struct WorkloadEntry: Sendable {
    var method: String
    var weight: Int
    var make: @Sendable (inout WorkloadContext) -> JSON?
}

/// The command mix of the benchmark. Every command crmd has is in ``standard``; a later feature
/// (deals, tickets) adds a file with its entries and appends them here, so the workload always
/// covers every command that exists.
enum WorkloadMix {
    /// Every entry, with realistic proportions: per customer roughly one create, a few activities,
    /// and a handful of profile changes.
    static let standard: [WorkloadEntry] =
        CustomerWorkload.entries + ActivityWorkload.entries + SalesWorkload.entries + ServiceWorkload.entries
        + OrderWorkload.entries + FeedbackWorkload.entries + MarketingWorkload.entries

    /// `customer.create` alone (the scale mode's `--scale-customers`); a generator with these entries
    /// must be limited to its `maxCustomers` commands.
    static let customersOnly: [WorkloadEntry] = CustomerWorkload.entries.filter { $0.method == "customer.create" }

    /// Every command method the mix uses.
    static var methods: [String] { self.standard.map(\.method) }
}

/// A deterministic stream of request lines for one connection.
final class WorkloadGenerator: @unchecked Sendable {
    // @unchecked: used by one thread at a time (built on the main thread, then handed to a client).
    private(set) var context: WorkloadContext
    private let entries: [WorkloadEntry]
    private let totalWeight: Int
    private var nextID: Int64 = 1
    /// Commands generated per method.
    private(set) var counts: [String: Int] = [:]
    /// Commands generated so far.
    private(set) var generated = 0
    /// Most commands to generate (`nil`: unbounded).
    let limit: Int?

    init(
        seed: UInt64,
        prefix: String,
        maxCustomers: Int,
        limit: Int? = nil,
        entries: [WorkloadEntry] = WorkloadMix.standard
    ) {
        self.context = WorkloadContext(rng: SplitMix64(seed: seed), prefix: prefix, maxCustomers: maxCustomers)
        self.limit = limit
        self.entries = entries
        self.totalWeight = entries.reduce(0) { $0 + $1.weight }
    }

    /// The next request line (JSON-RPC, without the newline), or `nil` after ``limit`` commands.
    func nextLine() -> [UInt8]? {
        if let limit = self.limit, self.generated >= limit { return nil }
        self.generated += 1
        while true {
            var draw = self.context.rng.below(self.totalWeight)
            for entry in self.entries {
                draw -= entry.weight
                guard draw < 0 else { continue }
                if let params = entry.make(&self.context) {
                    self.counts[entry.method, default: 0] += 1
                    return self.line(method: entry.method, params: params)
                }
                break
            }
        }
    }

    private func line(method: String, params: JSON) -> [UInt8] {
        let id = self.nextID
        self.nextID += 1
        let request: JSON = ["jsonrpc": "2.0", "id": .int(id), "method": .string(method), "params": params]
        return request.serialized()
    }
}

/// Vocabulary shared by the entries.
enum Vocabulary {
    static let firstNames = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Margaret", "Ken", "Radia", "Linus"]
    static let lastNames = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Hamilton", "Thompson"]
    static let companies = ["Analytical Engines Ltd", "Compilers Inc", "Enigma GmbH", "Structured SA", "Apollo LLC"]
    static let titles = ["CTO", "Engineer", "Buyer", "VP Sales", "Founder", "Analyst", "Office Manager"]
    static let tags = ["vip", "newsletter", "trial", "churn-risk", "enterprise", "smb", "partner", "event:2026"]
    static let stages = [
        "subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer", "evangelist",
    ]
    static let leadStatuses = [
        "NEW", "OPEN", "IN_PROGRESS", "OPEN_DEAL", "UNQUALIFIED", "ATTEMPTED_TO_CONTACT", "CONNECTED", "BAD_TIMING",
    ]
    static let consentStatuses = ["opted_in", "confirmed_opt_in", "opted_out"]
    static let plans = ["free", "starter", "pro", "enterprise"]
    static let noteBody = String(
        repeating: "Discussed renewal, pricing and the onboarding plan; follow up next week. ",
        count: 3
    )
}

/// `customer.*` commands.
enum CustomerWorkload {
    static let entries: [WorkloadEntry] = [
        WorkloadEntry(method: "customer.create", weight: 14, make: create),
        WorkloadEntry(method: "customer.update", weight: 8, make: update),
        WorkloadEntry(method: "customer.tag", weight: 8, make: tag),
        WorkloadEntry(method: "customer.assign_owner", weight: 4, make: assignOwner),
        WorkloadEntry(method: "customer.set_lifecycle_stage", weight: 8, make: setLifecycleStage),
        WorkloadEntry(method: "customer.set_lead_status", weight: 6, make: setLeadStatus),
        WorkloadEntry(method: "customer.set_consent", weight: 4, make: setConsent),
        WorkloadEntry(method: "customer.merge", weight: 1, make: merge),
    ]

    static func create(_ context: inout WorkloadContext) -> JSON? {
        guard context.customers.count < context.maxCustomers else { return nil }
        let number = context.customers.count
        let id = "\(context.prefix)c\(number)"
        let email = "\(id)@bench.example"
        var params: [String: JSON] = [
            "customer_id": .string(id),
            "first_name": .string(context.rng.pick(Vocabulary.firstNames)),
            "last_name": .string(context.rng.pick(Vocabulary.lastNames)),
            "emails": [["address": .string(email)]],
            "source": "web",
        ]
        let hasPhone = context.rng.chance(50)
        if hasPhone {
            let digits = String(1_000_000 + context.rng.below(9_000_000))
            params["phones"] = [["number": .string("+1555\(digits)"), "type": "mobile"]]
        }
        if context.rng.chance(60) { params["company_name"] = .string(context.rng.pick(Vocabulary.companies)) }
        let stage = context.rng.chance(30) ? 0 : 1
        params["lifecycle_stage"] = .string(Vocabulary.stages[stage])
        let owner = context.rng.below(20)
        params["owner_id"] = .string("u\(owner)")
        var tags: [String] = []
        if context.rng.chance(50) { tags.append(context.rng.pick(Vocabulary.tags)) }
        if !tags.isEmpty { params["tags"] = .strings(tags) }
        if context.rng.chance(20) { params["consent"] = [["channel": "email", "status": "opted_in"]] }
        context.customers.append(
            BenchCustomer(
                id: id,
                email: email,
                stage: stage,
                leadStatus: -1,
                owner: owner,
                tags: tags,
                phones: hasPhone ? 1 : 0
            )
        )
        return .object(params)
    }

    static func update(_ context: inout WorkloadContext) -> JSON? {
        guard let index = context.someCustomer() else { return nil }
        var set: [String: JSON] = ["job_title": .string(context.rng.pick(Vocabulary.titles))]
        if context.rng.chance(50) { set["custom"] = ["plan": .string(context.rng.pick(Vocabulary.plans))] }
        return ["customer_id": .string(context.customers[index].id), "set": .object(set)]
    }

    static func tag(_ context: inout WorkloadContext) -> JSON? {
        guard let index = context.someCustomer() else { return nil }
        var customer = context.customers[index]
        let tag = context.rng.pick(Vocabulary.tags)
        let params: JSON
        if let position = customer.tags.firstIndex(of: tag) {
            customer.tags.remove(at: position)
            params = ["customer_id": .string(customer.id), "remove": [.string(tag)]]
        } else {
            customer.tags.append(tag)
            params = ["customer_id": .string(customer.id), "add": [.string(tag)]]
        }
        context.customers[index] = customer
        return params
    }

    static func assignOwner(_ context: inout WorkloadContext) -> JSON? {
        guard let index = context.someCustomer() else { return nil }
        let owner = (context.customers[index].owner + 1 + context.rng.below(19)) % 20
        context.customers[index].owner = owner
        return ["customer_id": .string(context.customers[index].id), "owner_id": .string("u\(owner)")]
    }

    static func setLifecycleStage(_ context: inout WorkloadContext) -> JSON? {
        guard let index = context.someCustomer() else { return nil }
        let current = context.customers[index].stage
        let next = current + 1 < Vocabulary.stages.count ? current + 1 : 1
        context.customers[index].stage = next
        var params: [String: JSON] = [
            "customer_id": .string(context.customers[index].id), "stage": .string(Vocabulary.stages[next]),
        ]
        if next < current { params["allow_backward"] = true }
        return .object(params)
    }

    static func setLeadStatus(_ context: inout WorkloadContext) -> JSON? {
        guard let index = context.someCustomer() else { return nil }
        let current = context.customers[index].leadStatus
        let next = (max(current, 0) + 1 + context.rng.below(Vocabulary.leadStatuses.count - 1))
            % Vocabulary.leadStatuses.count
        context.customers[index].leadStatus = next
        return ["customer_id": .string(context.customers[index].id), "status": .string(Vocabulary.leadStatuses[next])]
    }

    /// Merges another random customer into a random one, as a clean-up of duplicates does now and then.
    static func merge(_ context: inout WorkloadContext) -> JSON? {
        guard context.customers.count > 1, let primary = context.someCustomer() else { return nil }
        let secondary = (primary + 1 + context.rng.below(context.customers.count - 1)) % context.customers.count
        guard !context.customers[secondary].merged else { return nil }
        let other = context.customers[secondary]
        var survivor = context.customers[primary]
        survivor.stage = max(survivor.stage, other.stage)
        survivor.tags += other.tags.filter { !survivor.tags.contains($0) }
        if survivor.leadStatus < 0 { survivor.leadStatus = other.leadStatus }
        // With several numbers, an SMS consent would have to name one: the workload leaves them alone.
        // (Counted, not flagged: a survivor of two merges may hold three.)
        survivor.phones += other.phones
        context.customers[primary] = survivor
        context.customers[secondary].merged = true
        return ["primary_id": .string(survivor.id), "secondary_ids": [.string(other.id)]]
    }

    static func setConsent(_ context: inout WorkloadContext) -> JSON? {
        guard let index = context.someCustomer() else { return nil }
        let customer = context.customers[index]
        let channel = customer.phones == 1 && context.rng.chance(30) ? "sms" : "email"
        // A customer that absorbed another has several addresses: name the customer's own.
        let address: JSON = channel == "email" ? .string(customer.email) : .null
        return [
            "customer_id": .string(customer.id), "channel": .string(channel), "address": address,
            "status": .string(context.rng.pick(Vocabulary.consentStatuses)), "legal_basis": "consent",
            "source": "web-form",
        ]
    }
}

/// `activity.log`: the most frequent command, as in a real CRM.
enum ActivityWorkload {
    static let entries: [WorkloadEntry] = [
        WorkloadEntry(method: "activity.log", weight: 48, make: log)
    ]

    static func log(_ context: inout WorkloadContext) -> JSON? {
        guard let first = context.someCustomer() else { return nil }
        var ids: [JSON] = [.string(context.customers[first].id)]
        if context.customers.count > 1, context.rng.chance(10) {
            let second = (first + 1 + context.rng.below(context.customers.count - 1)) % context.customers.count
            if !context.customers[second].merged { ids.append(.string(context.customers[second].id)) }
        }
        let id = "\(context.prefix)a\(context.nextActivity)"
        context.nextActivity += 1
        var params: [String: JSON] = ["activity_id": .string(id), "customer_ids": .array(ids)]
        switch context.rng.below(10) {
        case 0, 1, 2:
            params["type"] = "call"
            params["direction"] = context.rng.chance(50) ? "outbound" : "inbound"
            params["duration_sec"] = .int(Int64(30 + context.rng.below(1200)))
            params["outcome"] = "connected"
        case 3, 4, 5:
            params["type"] = "email"
            params["direction"] = context.rng.chance(70) ? "outbound" : "inbound"
            params["subject"] = "Re: your quote"
        case 6:
            params["type"] = "meeting"
            params["subject"] = "Quarterly review"
            params["outcome"] = "COMPLETED"
        case 7, 8:
            params["type"] = "note"
            params["body"] = .string(Vocabulary.noteBody)
        default:
            params["type"] = "task"
            params["subject"] = "Send the contract"
            params["task_status"] = "NOT_STARTED"
        }
        return .object(params)
    }
}
