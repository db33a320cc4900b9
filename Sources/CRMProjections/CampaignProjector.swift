public import CRMDomain
public import CRMEventStore
import CRMJSON
public import LMDB

/// The campaign read model: each campaign's definition and send, its recipients (one row per chunk of
/// the send, so a send of 100,000 writes a hundred rows), each recipient's interactions, and the
/// orders credited to a campaign explicitly. Orders themselves are read from the value read model
/// when a report is asked for (``campaignReport(_:value:_:)``).
///
/// Tables (named with ``Projector/tableName(_:)``):
/// - `campaigns`: campaign id → ``CampaignRow``;
/// - `recipients`: campaign id, `0x00`, chunk (4 bytes, big-endian) → the chunk's recipients'
///   customer ids, in order (their address hashes are in the log and the decision state);
/// - `interactions`: campaign id, `0x00`, customer id → ``RecipientActivity``; and customer id, `0x01`,
///   campaign id → empty (the campaigns a customer interacted with);
/// - `explicit`: `o` order id → the campaign named by the order; `c` order id → the campaign a
///   `converted` interaction named it for.
public struct CampaignProjector: Projector {
    static let identity = (name: "campaigns", version: 1)

    public var name: String { Self.identity.name }
    public var version: Int { Self.identity.version }
    public let slot: Int

    let campaigns: Database
    let recipients: Database
    let interactions: Database
    let explicit: Database

    public init(_ txn: Transaction, slot: Int = 0, cipher: RowCipher? = nil) throws {
        self.slot = slot
        func open(_ table: String) throws -> Database {
            try txn.openDatabase(
                ProjectionTables.name(Self.identity.name, version: Self.identity.version, slot: slot, table: table)
            )
        }
        self.campaigns = try open("campaigns")
        self.recipients = try open("recipients")
        self.interactions = try open("interactions")
        self.explicit = try open("explicit")
    }

    public var databases: [Database] { [self.campaigns, self.recipients, self.interactions, self.explicit] }

    /// Reads no activity's or ticket message's personal data (``ReadModelPersonalData/unreadTypes``).
    public func readsPersonalData(of type: String) -> Bool { !ReadModelPersonalData.unreadTypes.contains(type) }

    /// `campaign.get`; `campaign.report` is answered with the value read model (see the query router).
    public var queries: [String: ProjectionQuery] {
        ["campaign.get": { params, txn in try self.getQuery(params, txn) }]
    }

    public func apply(_ event: RecordedEvent, _ txn: Transaction) throws {
        switch event.event {
        case .marketing(.campaignCreated(let created)):
            try txn.put(self.campaigns, created.campaign.campaignID, CampaignRow(created.campaign).encoded())
        case .marketing(.campaignSent(let sent)):
            try self.update(sent.campaignID, txn) { $0.sent = sent }
        case .marketing(.campaignRecipientsAdded(let added)):
            guard !added.recipients.isEmpty else { return }
            var row = BinaryRowWriter(capacity: 16 * added.recipients.count)
            row.count(added.recipients.count)
            for recipient in added.recipients { row.string(recipient.customerID) }
            try txn.put(self.recipients, Self.chunkKey(added.campaignID, added.chunk), row.bytes)
        case .marketing(.campaignInteractionRecorded(let interaction)):
            let key = Self.activityKey(interaction.campaignID, interaction.customerID)
            var activity =
                try txn.get(self.interactions, key).map { try RecipientActivity(decoding: $0) }
                ?? RecipientActivity()
            activity.add(interaction)
            try txn.put(self.interactions, key, activity.encoded())
            try txn.put(
                self.interactions, Array(interaction.customerID.utf8) + [1] + Array(interaction.campaignID.utf8),
                [UInt8]())
            if interaction.kind == "converted", let order = interaction.orderID {
                try txn.put(self.explicit, "c" + order, Array(interaction.campaignID.utf8))
            }
        case .marketing(.campaignCostRecorded(let cost)):
            try self.update(cost.campaignID, txn) { $0.extraCosts.append(cost.amount) }
        case .sales(.orderRecorded(let order)):
            if let campaign = order.campaignID { try txn.put(self.explicit, "o" + order.orderID, Array(campaign.utf8)) }
        default:
            return
        }
    }

    private func update(_ id: String, _ txn: Transaction, _ change: (inout CampaignRow) -> Void) throws {
        guard var row = try self.campaign(id, txn) else { return }
        change(&row)
        try txn.put(self.campaigns, id, row.encoded())
    }

    func campaign(_ id: String, _ txn: Transaction) throws -> CampaignRow? {
        try txn.get(self.campaigns, id).map { try CampaignRow(decoding: $0) }
    }

    /// The definition of campaign `id`, for `campaign.send`; `unknown_campaign` when there is none.
    public func definition(_ id: String, _ txn: Transaction) throws -> (CampaignDefinition, sent: Bool) {
        guard let row = try self.campaign(id, txn) else {
            throw Rejection(
                .unknownCampaign, field: "campaign_id", "campaign \(id) does not exist",
                details: ["campaign_id": .string(id)]
            )
        }
        return (row.definition, row.sent != nil)
    }

    static func chunkKey(_ campaignID: String, _ chunk: Int) -> [UInt8] {
        Array(campaignID.utf8) + [0] + [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: chunk >> $0) }
    }

    static func activityKey(_ campaignID: String, _ customerID: String) -> [UInt8] {
        Array(campaignID.utf8) + [0] + Array(customerID.utf8)
    }

    /// Every recipient of `campaignID` (customer ids) in id order.
    func recipientList(_ campaignID: String, _ txn: Transaction) throws -> [String] {
        let prefix = Array(campaignID.utf8) + [0]
        var list: [String] = []
        try txn.withCursor(self.recipients) { cursor in
            var entry = try cursor.seek(atOrAfter: prefix)
            while let found = entry, found.key.starts(with: prefix), found.key.count == prefix.count + 4 {
                var row = BinaryRowReader(found.valueBytes, what: "campaign recipients")
                for _ in 0..<(try row.count()) { list.append(try row.string()) }
                entry = try cursor.next()
            }
        }
        return list
    }

    /// The campaigns `customerID` interacted with.
    func touchedCampaigns(_ customerID: String, _ txn: Transaction) throws -> [String] {
        let prefix = Array(customerID.utf8) + [1]
        var ids: [String] = []
        try txn.withCursor(self.interactions) { cursor in
            var entry = try cursor.seek(atOrAfter: prefix)
            while let found = entry, found.key.starts(with: prefix) {
                ids.append(String(decoding: found.key.dropFirst(prefix.count), as: UTF8.self))
                entry = try cursor.next()
            }
        }
        return ids
    }

    func activity(_ campaignID: String, _ customerID: String, _ txn: Transaction) throws -> RecipientActivity? {
        try txn.get(self.interactions, Self.activityKey(campaignID, customerID)).map {
            try RecipientActivity(decoding: $0)
        }
    }
}

/// A campaign as the read model keeps it.
struct CampaignRow: Sendable {
    var definition: CampaignDefinition
    var sent: CampaignSent?
    var extraCosts: [MoneyAmount] = []

    init(_ definition: CampaignDefinition) { self.definition = definition }

    func encoded() -> [UInt8] {
        let campaign = self.definition
        var row = BinaryRowWriter(capacity: 160)
        row.string(campaign.campaignID)
        row.string(campaign.name)
        row.string(campaign.audienceKind)
        row.string(campaign.audienceID)
        row.strings(campaign.excludeLists)
        row.strings(campaign.excludeSegments)
        row.string(campaign.channel)
        row.string(campaign.optInLevel)
        row.string(campaign.attribution.touch)
        row.int(Int64(campaign.attribution.windowDays))
        row.bool(campaign.cost != nil)
        if let cost = campaign.cost {
            row.int128(cost.amount.units)
            row.string(cost.currency)
        }
        row.optionalString(campaign.subject)
        row.bool(self.sent != nil)
        if let sent = self.sent {
            row.int(sent.sentAt)
            row.optionalInt(sent.audienceVersion)
            row.int(Int64(sent.audienceSize))
            row.int(Int64(sent.recipientCount))
            for reason in SuppressionReason.allCases { row.int(Int64(sent.suppressed[reason] ?? 0)) }
        }
        row.count(self.extraCosts.count)
        for cost in self.extraCosts { row.int128(cost.units) }
        return row.bytes
    }

    init(decoding bytes: [UInt8]) throws(StateDecodingError) {
        var row = BinaryRowReader(bytes, what: "campaign")
        let id = try row.string()
        let name = try row.string()
        let kind = try row.string()
        let audience = try row.string()
        let lists = try row.strings()
        let segments = try row.strings()
        let channel = try row.string()
        let level = try row.string()
        let attribution = CampaignAttribution(touch: try row.string(), windowDays: Int(try row.int()))
        var cost: (MoneyAmount, String)?
        if try row.bool() { cost = (MoneyAmount(units: try row.int128()), try row.string()) }
        self.definition = CampaignDefinition(
            campaignID: id, name: name, audienceKind: kind, audienceID: audience, excludeLists: lists,
            excludeSegments: segments, channel: channel, optInLevel: level, attribution: attribution, cost: cost,
            subject: try row.optionalString()
        )
        if try row.bool() {
            let sentAt = try row.int()
            let version = try row.optionalInt()
            let size = Int(try row.int())
            let count = Int(try row.int())
            var suppressed: [SuppressionReason: Int] = [:]
            for reason in SuppressionReason.allCases { suppressed[reason] = Int(try row.int()) }
            self.sent = CampaignSent(
                campaignID: id, sentAt: sentAt, audienceKind: kind, audienceID: audience, audienceVersion: version,
                audienceSize: size, recipientCount: count, suppressed: suppressed
            )
        }
        for _ in 0..<(try row.count()) { self.extraCosts.append(MoneyAmount(units: try row.int128())) }
        try row.finish()
    }
}

/// What a recipient did with a campaign: the instants of each kind of interaction.
struct RecipientActivity: Sendable, Hashable {
    /// Kind → instants, in the order recorded; bounces are `bounced:hard` and `bounced:soft`.
    var times: [String: [Int64]] = [:]
    /// Orders a `converted` interaction named, and goals without an order.
    var convertedOrders: [String] = []
    var goals: [String] = []

    mutating func add(_ interaction: CampaignInteraction) {
        let kind = interaction.kind == "bounced" ? "bounced:" + (interaction.bounce ?? "soft") : interaction.kind
        self.times[kind, default: []].append(interaction.occurredAt)
        if interaction.kind == "converted" {
            if let order = interaction.orderID { self.convertedOrders.append(order) }
            if let goal = interaction.goal { self.goals.append(goal) }
        }
    }

    /// `hard` or `soft` when the latest delivery status by `instant` is a bounce, else `nil`.
    func bounce(by instant: Int64) -> String? {
        let delivered = self.instants(["delivered"], by: instant).max()
        let hard = self.instants(["bounced:hard"], by: instant).max()
        let soft = self.instants(["bounced:soft"], by: instant).max()
        guard let latest = [hard, soft].compactMap({ $0 }).max(), latest >= (delivered ?? .min) else { return nil }
        return latest == hard ? "hard" : "soft"
    }

    /// Whether any interaction of `kinds` happened by `instant`.
    func any(_ kinds: [String], by instant: Int64) -> Bool {
        kinds.contains { self.times[$0]?.contains { $0 <= instant } ?? false }
    }

    /// The instants of `kinds` by `instant`.
    func instants(_ kinds: [String], by instant: Int64) -> [Int64] {
        kinds.flatMap { self.times[$0] ?? [] }.filter { $0 <= instant }
    }

    func encoded() -> [UInt8] {
        var row = BinaryRowWriter(capacity: 64)
        row.count(self.times.count)
        for kind in self.times.keys.sorted() {
            row.string(kind)
            row.count(self.times[kind]!.count)
            for time in self.times[kind]! { row.int(time) }
        }
        row.strings(self.convertedOrders)
        row.strings(self.goals)
        return row.bytes
    }

    init() {}

    init(decoding bytes: [UInt8]) throws(StateDecodingError) {
        var row = BinaryRowReader(bytes, what: "recipient activity")
        for _ in 0..<(try row.count()) {
            let kind = try row.string()
            var times: [Int64] = []
            for _ in 0..<(try row.count()) { times.append(try row.int()) }
            self.times[kind] = times
        }
        self.convertedOrders = try row.strings()
        self.goals = try row.strings()
        try row.finish()
    }
}
