public import CRMDomain
public import CRMEventStore
import CRMJSON
public import LMDB

/// The service-feedback read model: survey requests with their current responses, the facts of
/// tickets that reports group and count by (type, category, complaint clock, first solve, reopening,
/// outcome), and each customer's feedback block.
///
/// Tables (named with ``Projector/tableName(_:)``):
/// - `requests`: request id → ``FeedbackRequest``;
/// - `tickets`: ticket id → ``FeedbackTicket``;
/// - `customers`: customer id → ``FeedbackCustomer``; and `#settings` → the value settings (the
///   reporting time zone that `month` groups by).
///
/// Scores, categories and agents are not personal data; response comments are, and are not kept here
/// (they stay in the log, sealed under the customer's key).
public struct FeedbackProjector: Projector {
    static let identity = (name: "feedback", version: 1)

    public var name: String { Self.identity.name }
    public var version: Int { Self.identity.version }
    public let slot: Int

    let requests: Database
    let tickets: Database
    let customers: Database
    /// The tickets a rebuild's batch keeps in memory (see ``batch(after:)``); `nil` outside a batch.
    var rows: FeedbackRowCache?

    /// Opens (creating when needed) the tables of `slot` in `txn`; `cipher` is not used.
    public init(_ txn: Transaction, slot: Int = 0, cipher: RowCipher? = nil) throws {
        self.slot = slot
        func open(_ table: String) throws -> Database {
            try txn.openDatabase(
                ProjectionTables.name(Self.identity.name, version: Self.identity.version, slot: slot, table: table)
            )
        }
        self.requests = try open("requests")
        self.tickets = try open("tickets")
        self.customers = try open("customers")
    }

    public var databases: [Database] { [self.requests, self.tickets, self.customers] }

    static let settingsKey = "#settings"

    public func apply(_ event: RecordedEvent, _ txn: Transaction) throws {
        let at = event.occurredAt
        switch event.event {
        case .customer(.created(let created)):
            try self.put(created.customerID, FeedbackCustomer(tier: created.tier), txn)
        case .customer(.updated(let updated)):
            guard let tier = updated.tier else { return }
            try self.updateCustomer(updated.customerID, txn) { $0.tier = tier.to }
        case .customer(.merged(let merged)):
            for id in merged.secondaryIDs {
                try self.updateCustomer(id, txn) { $0.mergedInto = merged.primaryID }
            }
        case .service(.ticketOpened(let opened)):
            let ticket = FeedbackTicket(
                customerID: opened.customerID, channel: opened.channel, ticketType: opened.ticketType,
                category: opened.category, openedAt: at,
                complaintOpenedAt: opened.ticketType == TicketType.complaint ? at : nil, status: opened.status
            )
            try self.storeTicket(ticket, of: opened.ticketID, txn)
        case .service(.ticketTypeChanged(let changed)):
            try self.updateTicket(changed.ticketID, txn) { ticket in
                ticket.ticketType = changed.to
                ticket.category = changed.category
                if changed.to == TicketType.complaint, ticket.complaintOpenedAt == nil { ticket.complaintOpenedAt = at }
            }
        case .service(.ticketStatusChanged(let changed)):
            var requests: [String] = []
            try self.updateTicket(changed.ticketID, txn) { ticket in
                ticket.status = changed.to
                if changed.to == "solved", ticket.firstSolvedAt == nil { ticket.firstSolvedAt = at }
                if changed.from == "solved", changed.to == "open" { ticket.reopened = true }
                if changed.to == "closed" { requests = ticket.requests }
            }
            for id in requests {
                try self.updateRequest(id, txn) { request in request.closedAt = request.closedAt ?? at }
            }
        case .service(.ticketAssigned(let assigned)):
            try self.updateTicket(assigned.ticketID, txn) { $0.assigneeID = assigned.to }
        case .service(.complaintResolved(let resolved)):
            try self.updateTicket(resolved.ticketID, txn) { $0.outcome = resolved.outcome }
        case .feedback(.surveyOffered(let offered)):
            let request = FeedbackRequest(
                surveyID: offered.surveyID, kind: offered.kind, customerID: offered.customerID,
                ticketID: offered.ticketID, channel: offered.channel, agentID: offered.agentID,
                offeredAt: offered.offeredAt, expiresAt: offered.expiresAt
            )
            try txn.put(self.requests, offered.requestID, request.encoded())
            if let ticketID = offered.ticketID {
                try self.updateTicket(ticketID, txn) { $0.requests.append(offered.requestID) }
            }
        case .feedback(.surveyResponded(let responded)):
            try self.updateRequest(responded.requestID, txn) { request in
                request.response = FeedbackRequest.Response(
                    score: responded.score, respondedAt: at, agentID: responded.agentID, channel: responded.channel
                )
            }
            try self.updateCustomer(responded.customerID, txn) { customer in
                if responded.supersedesSeq == nil { customer.responsesTotal += 1 }
                switch responded.kind {
                case .csat: customer.lastCsat = (responded.score, at)
                case .nps: customer.lastNps = (responded.score, at)
                case .ces: break
                }
            }
        case .sales(.valueSettingsChanged(let changes)):
            let settings = changes.applied(to: try self.settings(txn))
            try txn.put(self.customers, Self.settingsKey, settings.encoded())
        default:
            return
        }
    }

    /// Reads no activity's or ticket message's personal data (``ReadModelPersonalData/unreadTypes``).
    public func readsPersonalData(of type: String) -> Bool { !ReadModelPersonalData.unreadTypes.contains(type) }

    public var queries: [String: ProjectionQuery] {
        ["feedback.report": { params, txn in try self.feedbackReport(params, txn) }]
    }

    // MARK: - Storage

    func settings(_ txn: Transaction) throws -> ValueSettings {
        try txn.get(self.customers, Self.settingsKey).map { try ValueSettings(decoding: $0) } ?? ValueSettings()
    }

    func customer(_ id: String, _ txn: Transaction) throws -> FeedbackCustomer? {
        try txn.get(self.customers, id).map { try FeedbackCustomer(decoding: $0) }
    }

    func ticket(_ id: String, _ txn: Transaction) throws -> FeedbackTicket? {
        func stored() throws -> FeedbackTicket? {
            try txn.get(self.tickets, id).map { try FeedbackTicket(decoding: $0) }
        }
        guard let rows = self.rows else { return try stored() }
        return try rows.tickets.read(id, stored)
    }

    /// Stores ticket `id` (in a batch's memory, written when it flushes).
    private func storeTicket(_ ticket: FeedbackTicket, of id: String, _ txn: Transaction) throws {
        guard let rows = self.rows else { return try txn.put(self.tickets, id, ticket.encoded()) }
        rows.tickets.set(id, ticket)
    }

    /// Writes every ticket of `rows` that changed, in id order.
    func flushTickets(_ rows: FeedbackRowCache, _ txn: Transaction) throws {
        try rows.tickets.flush { id, ticket in try txn.put(self.tickets, id, ticket.encoded()) }
    }

    /// A batch that keeps tickets, which most service events change, in memory, decoded, and takes
    /// over those `previous` kept.
    public func batch(after previous: (any ProjectionBatch)?) -> any ProjectionBatch {
        let rows = FeedbackRowCache()
        if let held = HeldBatch<Self, FeedbackRowCache>.held(by: previous) { rows.tickets.takeOver(&held.tickets) }
        var projector = self
        projector.rows = rows
        return HeldBatch(projector, held: rows) { rows, txn in try projector.flushTickets(rows, txn) }
    }

    private func put(_ id: String, _ customer: FeedbackCustomer, _ txn: Transaction) throws {
        try txn.put(self.customers, id, customer.encoded())
    }

    private func updateCustomer(_ id: String, _ txn: Transaction, _ change: (inout FeedbackCustomer) -> Void) throws {
        guard var customer = try self.customer(id, txn) else { return }
        change(&customer)
        try self.put(id, customer, txn)
    }

    private func updateTicket(_ id: String, _ txn: Transaction, _ change: (inout FeedbackTicket) -> Void) throws {
        guard var ticket = try self.ticket(id, txn) else { return }
        change(&ticket)
        try self.storeTicket(ticket, of: id, txn)
    }

    private func updateRequest(_ id: String, _ txn: Transaction, _ change: (inout FeedbackRequest) -> Void) throws {
        guard let bytes = try txn.get(self.requests, id) else { return }
        var request = try FeedbackRequest(decoding: bytes)
        change(&request)
        try txn.put(self.requests, id, request.encoded())
    }

    /// Calls `body` with every request, in id order.
    func forEachRequest(_ txn: Transaction, _ body: (FeedbackRequest) throws -> Void) throws {
        try txn.withCursor(self.requests) { cursor in
            var entry = try cursor.first()
            while let found = entry {
                try body(try FeedbackRequest(decoding: found.valueBytes))
                entry = try cursor.next()
            }
        }
    }

    /// Calls `body` with every ticket and its id, in id order.
    func forEachTicket(_ txn: Transaction, _ body: (String, FeedbackTicket) throws -> Void) throws {
        // A batch's tickets are written first, so that the scan reads them.
        if let rows = self.rows { try self.flushTickets(rows, txn) }
        try txn.withCursor(self.tickets) { cursor in
            var entry = try cursor.first()
            while let found = entry {
                try body(String(decoding: found.key, as: UTF8.self), try FeedbackTicket(decoding: found.valueBytes))
                entry = try cursor.next()
            }
        }
    }
}

/// A survey request as the feedback model keeps it.
struct FeedbackRequest: Sendable, Hashable {
    struct Response: Sendable, Hashable {
        var score: Int
        var respondedAt: Int64
        var agentID: String?
        var channel: String?
    }

    var surveyID: String
    var kind: SurveyKind
    var customerID: String
    var ticketID: String?
    var channel: String?
    /// The agent when offered.
    var agentID: String?
    var offeredAt: Int64
    var expiresAt: Int64
    /// When its ticket was closed.
    var closedAt: Int64?
    /// The current response.
    var response: Response?

    /// The agent a report credits: the response's, else the offer's.
    var creditedAgent: String? { self.response.map(\.agentID) ?? self.agentID }
    /// The channel a report groups by: the response's, else the offer's.
    var creditedChannel: String? { self.response.map(\.channel) ?? self.channel }

    /// `open`, `answered`, `closed` or `expired` at `instant`.
    func state(at instant: Int64) -> String {
        if let closed = self.closedAt, closed <= instant { return "closed" }
        if instant > self.expiresAt { return "expired" }
        return self.response == nil ? "open" : "answered"
    }

    init(
        surveyID: String, kind: SurveyKind, customerID: String, ticketID: String?, channel: String?, agentID: String?,
        offeredAt: Int64, expiresAt: Int64
    ) {
        self.surveyID = surveyID
        self.kind = kind
        self.customerID = customerID
        self.ticketID = ticketID
        self.channel = channel
        self.agentID = agentID
        self.offeredAt = offeredAt
        self.expiresAt = expiresAt
    }

    func encoded() -> [UInt8] {
        var row = BinaryRowWriter(capacity: 96)
        row.string(self.surveyID)
        row.string(self.kind.rawValue)
        row.string(self.customerID)
        row.optionalString(self.ticketID)
        row.optionalString(self.channel)
        row.optionalString(self.agentID)
        row.int(self.offeredAt)
        row.int(self.expiresAt)
        row.optionalInt(self.closedAt)
        row.bool(self.response != nil)
        if let response = self.response {
            row.int(Int64(response.score))
            row.int(response.respondedAt)
            row.optionalString(response.agentID)
            row.optionalString(response.channel)
        }
        return row.bytes
    }

    init(decoding bytes: [UInt8]) throws {
        var row = BinaryRowReader(bytes, what: "feedback request")
        self.surveyID = try row.string()
        guard let kind = SurveyKind(rawValue: try row.string()) else { throw row.malformed("unknown survey kind") }
        self.kind = kind
        self.customerID = try row.string()
        self.ticketID = try row.optionalString()
        self.channel = try row.optionalString()
        self.agentID = try row.optionalString()
        self.offeredAt = try row.int()
        self.expiresAt = try row.int()
        self.closedAt = try row.optionalInt()
        if try row.bool() {
            self.response = Response(
                score: Int(try row.int()), respondedAt: try row.int(), agentID: try row.optionalString(),
                channel: try row.optionalString()
            )
        }
        try row.finish()
    }
}

/// What the feedback model keeps of a ticket.
struct FeedbackTicket: Sendable, Hashable {
    var customerID: String
    var channel: String
    var ticketType: String?
    var category: String?
    var openedAt: Int64
    /// When it became a complaint: opened as one, or changed to one.
    var complaintOpenedAt: Int64?
    var status: String
    var firstSolvedAt: Int64?
    /// Whether it went from solved back to open at least once.
    var reopened = false
    /// The latest complaint outcome.
    var outcome: String?
    var assigneeID: String?
    /// Its survey requests.
    var requests: [String] = []

    var isComplaint: Bool { self.ticketType == TicketType.complaint }

    init(
        customerID: String, channel: String, ticketType: String?, category: String?, openedAt: Int64,
        complaintOpenedAt: Int64?, status: String
    ) {
        self.customerID = customerID
        self.channel = channel
        self.ticketType = ticketType
        self.category = category
        self.openedAt = openedAt
        self.complaintOpenedAt = complaintOpenedAt
        self.status = status
    }

    func encoded() -> [UInt8] {
        var row = BinaryRowWriter(capacity: 96)
        row.string(self.customerID)
        row.string(self.channel)
        row.optionalString(self.ticketType)
        row.optionalString(self.category)
        row.int(self.openedAt)
        row.optionalInt(self.complaintOpenedAt)
        row.string(self.status)
        row.optionalInt(self.firstSolvedAt)
        row.bool(self.reopened)
        row.optionalString(self.outcome)
        row.optionalString(self.assigneeID)
        row.strings(self.requests)
        return row.bytes
    }

    init(decoding bytes: [UInt8]) throws {
        var row = BinaryRowReader(bytes, what: "feedback ticket")
        self.customerID = try row.string()
        self.channel = try row.string()
        self.ticketType = try row.optionalString()
        self.category = try row.optionalString()
        self.openedAt = try row.int()
        self.complaintOpenedAt = try row.optionalInt()
        self.status = try row.string()
        self.firstSolvedAt = try row.optionalInt()
        self.reopened = try row.bool()
        self.outcome = try row.optionalString()
        self.assigneeID = try row.optionalString()
        self.requests = try row.strings()
        try row.finish()
    }
}

/// A customer's feedback facts: the profile's `feedback` block, and the tier reports group by.
struct FeedbackCustomer: Sendable, Hashable {
    var tier: String?
    var lastCsat: (score: Int, at: Int64)?
    var lastNps: (score: Int, at: Int64)?
    /// Requests with a current response.
    var responsesTotal: Int64 = 0
    var mergedInto: String?

    init(tier: String?) { self.tier = tier }

    static func == (lhs: FeedbackCustomer, rhs: FeedbackCustomer) -> Bool { lhs.encoded() == rhs.encoded() }
    func hash(into hasher: inout Hasher) { hasher.combine(self.encoded()) }

    func encoded() -> [UInt8] {
        var row = BinaryRowWriter(capacity: 48)
        row.optionalString(self.tier)
        row.optionalInt(self.lastCsat.map { Int64($0.score) })
        if let csat = self.lastCsat { row.int(csat.at) }
        row.optionalInt(self.lastNps.map { Int64($0.score) })
        if let nps = self.lastNps { row.int(nps.at) }
        row.int(self.responsesTotal)
        row.optionalString(self.mergedInto)
        return row.bytes
    }

    init(decoding bytes: [UInt8]) throws {
        var row = BinaryRowReader(bytes, what: "feedback customer")
        self.tier = try row.optionalString()
        if let score = try row.optionalInt() { self.lastCsat = (Int(score), try row.int()) }
        if let score = try row.optionalInt() { self.lastNps = (Int(score), try row.int()) }
        self.responsesTotal = try row.int()
        self.mergedInto = try row.optionalString()
        try row.finish()
    }

    /// The profile's `feedback` block.
    var json: JSON {
        [
            "last_csat": self.lastCsat.map { .int(Int64($0.score)) } ?? .null,
            "last_csat_at": .string(self.lastCsat.map { Timestamp.format($0.at) }),
            "last_nps": self.lastNps.map { .int(Int64($0.score)) } ?? .null,
            "last_nps_category": .string(self.lastNps.map { SurveyKind.nps.category($0.score) }),
            "last_nps_at": .string(self.lastNps.map { Timestamp.format($0.at) }),
            "responses_total": .int(self.responsesTotal),
        ]
    }
}

/// The tickets a rebuild of the feedback read model keeps in memory over its chunks (see
/// ``FeedbackProjector/batch(after:)``). Used by the writer thread only; the projector that holds it
/// must be `Sendable`, hence `@unchecked`.
final class FeedbackRowCache: @unchecked Sendable {
    var tickets = HeldRows<FeedbackTicket>()
}
