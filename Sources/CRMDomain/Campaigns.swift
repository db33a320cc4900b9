// Email campaigns: one send to a segment or a static list. The recipients are chosen when the
// campaign is sent (members that may receive marketing email, one per address) and written into the
// log, so a report never depends on evaluating the audience again. Interactions (deliveries, opens,
// clicks, bounces, unsubscribes…) are recorded as events; an unsubscribe or a spam complaint opts the
// address out, a hard bounce flags it invalid.

/// How a campaign credits orders to itself: the kind of touch and the window after it.
public struct CampaignAttribution: Sendable, Hashable {
    /// `click`, `open_or_click` or `delivery`.
    public var touch: String
    /// 1…90 days.
    public var windowDays: Int

    public static let touches = ["click", "open_or_click", "delivery"]
    /// Click within 5 days.
    public static let standard = CampaignAttribution(touch: "click", windowDays: 5)

    public init(touch: String, windowDays: Int) {
        self.touch = touch
        self.windowDays = windowDays
    }
}

/// A campaign's definition (`CampaignCreated`).
public struct CampaignDefinition: Sendable, Hashable {
    public var campaignID: String
    public var name: String
    /// `segment` or `list`, and its id.
    public var audienceKind: String
    public var audienceID: String
    public var excludeLists: [String]
    public var excludeSegments: [String]
    /// `email`.
    public var channel: String
    /// `confirmed_opt_in`, `opt_in` or `disabled` (any address not opted out).
    public var optInLevel: String
    public var attribution: CampaignAttribution
    public var cost: (amount: MoneyAmount, currency: String)?
    public var subject: String?

    public static let optInLevels = ["confirmed_opt_in", "opt_in", "disabled"]
    /// The level of a campaign that names none.
    public static let defaultOptInLevel = "opt_in"

    public init(
        campaignID: String, name: String, audienceKind: String, audienceID: String, excludeLists: [String],
        excludeSegments: [String], channel: String, optInLevel: String, attribution: CampaignAttribution,
        cost: (amount: MoneyAmount, currency: String)?, subject: String?
    ) {
        self.campaignID = campaignID
        self.name = name
        self.audienceKind = audienceKind
        self.audienceID = audienceID
        self.excludeLists = excludeLists
        self.excludeSegments = excludeSegments
        self.channel = channel
        self.optInLevel = optInLevel
        self.attribution = attribution
        self.cost = cost
        self.subject = subject
    }

    public static func == (lhs: CampaignDefinition, rhs: CampaignDefinition) -> Bool {
        lhs.campaignID == rhs.campaignID && lhs.name == rhs.name && lhs.audienceKind == rhs.audienceKind
            && lhs.audienceID == rhs.audienceID && lhs.excludeLists == rhs.excludeLists
            && lhs.excludeSegments == rhs.excludeSegments && lhs.channel == rhs.channel
            && lhs.optInLevel == rhs.optInLevel && lhs.attribution == rhs.attribution
            && lhs.cost?.amount == rhs.cost?.amount && lhs.cost?.currency == rhs.cost?.currency
            && lhs.subject == rhs.subject
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(self.campaignID) }
}

/// Why a member of a campaign's audience got nothing, in the order a customer's reason is chosen.
public enum SuppressionReason: String, Error, Sendable, Hashable, CaseIterable {
    case excluded, blocklisted
    case optedOut = "opted_out"
    case notOptedIn = "not_opted_in"
    case invalidAddress = "invalid_address"
    case noAddress = "no_address"
    case duplicate
}

/// Choosing a customer's address for a marketing email (§ consent): the primary email if it may
/// receive marketing at the campaign's opt-in level, else the first such additional email; with none,
/// the reason of highest priority among its addresses (blocklisted > opted out > not opted in >
/// invalid), or `no_address`.
public enum CampaignAddress {
    /// The address to send to, or the reason there is none. `blocklisted` tells whether an address's
    /// keyed hash is on the blocklist of erased addresses.
    public static func choose(
        _ emails: [CustomerState.Email], level: String, blocklisted: (CustomerState.Email) -> Bool
    ) -> Result<CustomerState.Email, SuppressionReason> {
        guard !emails.isEmpty else { return .failure(.noAddress) }
        var reasons: [SuppressionReason] = []
        for email in emails.sorted(by: { $0.primary && !$1.primary }) {
            if blocklisted(email) {
                reasons.append(.blocklisted)
            } else if email.optedOut || email.consent == Validation.consentOptedOut {
                reasons.append(.optedOut)
            } else if !Self.consents(email.consent, level) {
                reasons.append(.notOptedIn)
            } else if email.invalid || !email.address.contains("@") {
                reasons.append(.invalidAddress)
            } else {
                return .success(email)
            }
        }
        let order: [SuppressionReason] = [.blocklisted, .optedOut, .notOptedIn, .invalidAddress]
        return .failure(order.first(where: reasons.contains) ?? .noAddress)
    }

    /// Whether consent `status` allows marketing at opt-in `level`.
    public static func consents(_ status: String, _ level: String) -> Bool {
        switch level {
        case "confirmed_opt_in": status == "confirmed_opt_in"
        case "opt_in": status == "opted_in" || status == "confirmed_opt_in"
        default: status != Validation.consentOptedOut
        }
    }
}

/// One recipient: a customer and the keyed hash of the address sent to.
public struct CampaignRecipient: Sendable, Hashable {
    public var customerID: String
    public var addressHash: String

    public init(customerID: String, addressHash: String) {
        self.customerID = customerID
        self.addressHash = addressHash
    }
}

/// `CampaignCreated`.
public struct CampaignCreated: Sendable, Hashable {
    public var campaign: CampaignDefinition

    public init(_ campaign: CampaignDefinition) { self.campaign = campaign }
}

/// `CampaignSent{campaign_id, sent_at, audience{kind, id, version}, audience_size, recipient_count,
/// suppressed{…}}`.
public struct CampaignSent: Sendable, Hashable {
    public var campaignID: String
    public var sentAt: Int64
    public var audienceKind: String
    public var audienceID: String
    /// The segment version evaluated (`nil` for a list).
    public var audienceVersion: Int64?
    public var audienceSize: Int
    public var recipientCount: Int
    /// Count per reason (every reason present, zeros included).
    public var suppressed: [SuppressionReason: Int]

    public init(
        campaignID: String, sentAt: Int64, audienceKind: String, audienceID: String, audienceVersion: Int64?,
        audienceSize: Int, recipientCount: Int, suppressed: [SuppressionReason: Int]
    ) {
        self.campaignID = campaignID
        self.sentAt = sentAt
        self.audienceKind = audienceKind
        self.audienceID = audienceID
        self.audienceVersion = audienceVersion
        self.audienceSize = audienceSize
        self.recipientCount = recipientCount
        self.suppressed = suppressed
    }
}

/// `CampaignRecipientsAdded{campaign_id, chunk, recipients[{customer_id, address_hmac}],
/// suppressed[{customer_id, reason}]}`: one chunk of at most 1,000 of each, in customer id order.
public struct CampaignRecipientsAdded: Sendable, Hashable {
    public var campaignID: String
    public var chunk: Int
    public var recipients: [CampaignRecipient]
    public var suppressed: [(customerID: String, reason: SuppressionReason)]

    public static let chunkSize = 1000

    public init(
        campaignID: String, chunk: Int, recipients: [CampaignRecipient],
        suppressed: [(customerID: String, reason: SuppressionReason)]
    ) {
        self.campaignID = campaignID
        self.chunk = chunk
        self.recipients = recipients
        self.suppressed = suppressed
    }

    public static func == (lhs: CampaignRecipientsAdded, rhs: CampaignRecipientsAdded) -> Bool {
        lhs.campaignID == rhs.campaignID && lhs.chunk == rhs.chunk && lhs.recipients == rhs.recipients
            && lhs.suppressed.map(\.customerID) == rhs.suppressed.map(\.customerID)
            && lhs.suppressed.map(\.reason) == rhs.suppressed.map(\.reason)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.campaignID)
        hasher.combine(self.chunk)
    }
}

/// `CampaignInteractionRecorded{campaign_id, interaction_id, customer_id, kind, occurred_at, bounce,
/// link, order_id, goal}`.
public struct CampaignInteraction: Sendable, Hashable {
    public var campaignID: String
    public var interactionID: String
    public var customerID: String
    /// One of ``kinds``.
    public var kind: String
    public var occurredAt: Int64
    /// `hard` or `soft` for a bounce.
    public var bounce: String?
    public var link: String?
    /// For `converted`: the order it credits to the campaign.
    public var orderID: String?
    /// For `converted` without an order (e.g. `signup`).
    public var goal: String?

    public static let kinds = [
        "delivered", "bounced", "opened", "clicked", "replied", "converted", "unsubscribed", "complained",
    ]

    public init(
        campaignID: String, interactionID: String, customerID: String, kind: String, occurredAt: Int64,
        bounce: String?, link: String?, orderID: String?, goal: String?
    ) {
        self.campaignID = campaignID
        self.interactionID = interactionID
        self.customerID = customerID
        self.kind = kind
        self.occurredAt = occurredAt
        self.bounce = bounce
        self.link = link
        self.orderID = orderID
        self.goal = goal
    }
}

/// `CampaignCostRecorded{campaign_id, amount, currency}`: a cost on top of the campaign's own.
public struct CampaignCostRecorded: Sendable, Hashable {
    public var campaignID: String
    public var amount: MoneyAmount
    public var currency: String

    public init(campaignID: String, amount: MoneyAmount, currency: String) {
        self.campaignID = campaignID
        self.amount = amount
        self.currency = currency
    }
}

/// `EmailFlagged{customer_id, address_hmac, invalid}` (stream `customer-<id>`): a hard bounce marks
/// the address invalid, so later sends suppress it.
public struct EmailFlagged: Sendable, Hashable {
    public var customerID: String
    public var addressHash: String
    public var invalid: Bool

    public init(customerID: String, addressHash: String, invalid: Bool) {
        self.customerID = customerID
        self.addressHash = addressHash
        self.invalid = invalid
    }
}

// MARK: - Decision state

/// What the campaign commands know of a campaign, in the `service` table under `campaign:<id>`.
struct CampaignState: Sendable, Hashable {
    var sent: Bool
    var costCurrency: String?

    func encoded() -> [UInt8] {
        var row = BinaryRowWriter(capacity: 16)
        row.bool(self.sent)
        row.optionalString(self.costCurrency)
        return row.bytes
    }

    init(sent: Bool, costCurrency: String?) {
        self.sent = sent
        self.costCurrency = costCurrency
    }

    init(decoding bytes: [UInt8]) throws(StateDecodingError) {
        var row = BinaryRowReader(bytes, what: "campaign")
        self.sent = try row.bool()
        self.costCurrency = try row.optionalString()
        try row.finish()
    }

    static func key(_ id: String) -> String { "campaign:" + id }
    /// Characters of an address hash kept with a recipient.
    static let hashPrefix = 16
    /// A chunk of recipients, keyed by its first customer id: customer id → address hash.
    static func chunkPrefix(_ id: String) -> String { "camprcpt:" + id + "\u{0}" }
    static func interactionKey(_ id: String, _ interaction: String) -> String {
        "campint:" + id + "\u{0}" + interaction
    }
}

extension DecisionState {
    func campaign(_ id: String) throws -> CampaignState {
        guard let bytes = try self.record(.service, CampaignState.key(id)) else {
            throw Rejection(
                .unknownCampaign, field: "campaign_id", "campaign \(id) does not exist",
                details: ["campaign_id": .string(id)]
            )
        }
        return try CampaignState(decoding: bytes)
    }

    /// The start of the address hash `customerID` was sent `campaignID` at (enough to tell its emails
    /// apart), or `nil` when it is not a recipient.
    func recipientAddress(_ campaignID: String, _ customerID: String) throws -> String? {
        let prefix = CampaignState.chunkPrefix(campaignID)
        // Chunks hold consecutive customer ids: the one to look in starts at or before the id.
        guard
            let key = try self.keys(.service, prefix: prefix).last(where: {
                String($0.dropFirst(prefix.count)) <= customerID
            }),
            let bytes = try self.record(.service, key)
        else { return nil }
        var row = BinaryRowReader(bytes, what: "campaign recipients")
        for _ in 0..<(try row.count()) {
            let id = try row.string()
            let hash = try row.string()
            if id == customerID { return hash }
        }
        return nil
    }
}

extension MarketingEvolver {
    static func apply(campaign event: MarketingEvent, _ recorded: RecordedEvent, to store: any DecisionStateStore)
        throws
    {
        switch event {
        case .campaignCreated(let created):
            let state = CampaignState(sent: false, costCurrency: created.campaign.cost?.currency)
            try store.setRecord(.service, CampaignState.key(created.campaign.campaignID), state.encoded())
        case .campaignSent(let sent):
            guard var state = try? store.campaign(sent.campaignID) else { return }
            state.sent = true
            try store.setRecord(.service, CampaignState.key(sent.campaignID), state.encoded())
        case .campaignRecipientsAdded(let added):
            guard let first = added.recipients.first else { return }
            var row = BinaryRowWriter(capacity: 88 * added.recipients.count)
            row.count(added.recipients.count)
            // The start of each hash tells a customer's addresses apart; the whole is in the log.
            for recipient in added.recipients {
                row.string(recipient.customerID)
                row.string(String(decoding: recipient.addressHash.utf8.prefix(CampaignState.hashPrefix), as: UTF8.self))
            }
            try store.setRecord(.service, CampaignState.chunkPrefix(added.campaignID) + first.customerID, row.bytes)
        case .campaignInteractionRecorded(let interaction):
            try store.setRecord(
                .service, CampaignState.interactionKey(interaction.campaignID, interaction.interactionID), [])
        case .emailFlagged(let flagged):
            guard var customer = try store.customer(flagged.customerID, personal: true) else { return }
            for index in customer.emails.indices
            where store.addressHash(customer.emails[index].key).hasPrefix(flagged.addressHash) {
                customer.emails[index].invalid = flagged.invalid
            }
            try store.setCustomer(flagged.customerID, customer)
        default:
            return
        }
    }
}

extension DecisionState {
    /// The hash that stands for an email address (its comparison form) in campaign recipients: the
    /// keyed hash when personal data is encrypted, else ``plainAddressHash(_:)``.
    public func addressHash(_ key: String) -> String { self.keyedHash(key) ?? self.plainAddressHash(key) }
}

// MARK: - Commands

/// `campaign.create`: a campaign to one segment or static list, not sent yet.
public struct CreateCampaign: DomainCommand {
    public static let method = "campaign.create"

    public let campaign: CampaignDefinition

    public init(_ campaign: CampaignDefinition) { self.campaign = campaign }

    public func targetStream(_ context: CommandContext) -> String? { "campaign-" + self.campaign.campaignID }

    public func decide(_ state: any DecisionState, _ context: CommandContext) throws -> Decision {
        let campaign = self.campaign
        if try state.record(.service, CampaignState.key(campaign.campaignID)) != nil {
            throw Rejection(
                .alreadyExists, field: "campaign_id", "campaign \(campaign.campaignID) already exists",
                details: ["id": .string(campaign.campaignID)]
            )
        }
        let segments = (campaign.audienceKind == "segment" ? [campaign.audienceID] : []) + campaign.excludeSegments
        let lists = (campaign.audienceKind == "list" ? [campaign.audienceID] : []) + campaign.excludeLists
        for id in segments { _ = try state.existingSegment(id, field: "audience") }
        for id in lists {
            guard try state.record(.service, ListKeys.list(id)) != nil else {
                throw Rejection(
                    .unknownList, field: "audience", "list \(id) does not exist", details: ["list_id": .string(id)])
            }
        }
        return Decision(
            events: [
                NewEvent(
                    .marketing(.campaignCreated(CampaignCreated(campaign))), stream: "campaign-" + campaign.campaignID)
            ],
            result: CommandResult(.campaign, campaign.campaignID)
        )
    }
}

/// `campaign.send`, once computed: the audience and the recipients chosen off the writer on a read
/// snapshot of the log. Commands that other clients commit while they are chosen do not
/// make it stale: the send is as of that snapshot, which holds every command sent before it on the
/// same connection; only a send of the same campaign meanwhile (`campaign_already_sent`) refuses it.
public struct SendCampaign: DomainCommand {
    public static let method = "campaign.send"

    public let sent: CampaignSent
    /// The `CampaignRecipientsAdded` events, made with the recipients off the writer.
    public let chunks: [CampaignRecipientsAdded]

    /// The send with its recipients and suppressed members (each in customer id order), in chunks
    /// of ``CampaignRecipientsAdded/chunkSize``.
    public init(
        sent: CampaignSent, recipients: [CampaignRecipient],
        suppressed: [(customerID: String, reason: SuppressionReason)]
    ) {
        self.sent = sent
        let size = CampaignRecipientsAdded.chunkSize
        let count = max((recipients.count + size - 1) / size, (suppressed.count + size - 1) / size)
        self.chunks = (0..<count).map { chunk in
            CampaignRecipientsAdded(
                campaignID: sent.campaignID, chunk: chunk + 1,
                recipients: Array(recipients.dropFirst(chunk * size).prefix(size)),
                suppressed: Array(suppressed.dropFirst(chunk * size).prefix(size))
            )
        }
    }

    public func targetStream(_ context: CommandContext) -> String? { "campaign-" + self.sent.campaignID }

    /// `unknown_campaign`, `campaign_already_sent`, `empty_audience`.
    public func decide(_ state: any DecisionState, _ context: CommandContext) throws -> Decision {
        let id = self.sent.campaignID
        let campaign = try state.campaign(id)
        guard !campaign.sent else {
            throw Rejection(.campaignAlreadySent, field: "campaign_id", "campaign \(id) was sent already")
        }
        guard self.sent.recipientCount > 0 else {
            throw Rejection(
                .emptyAudience, field: "campaign_id", "no member of the audience may receive the campaign",
                details: ["audience_size": .int(self.sent.audienceSize)]
            )
        }
        let stream = "campaign-" + id
        var events = [NewEvent(.marketing(.campaignSent(self.sent)), stream: stream)]
        events.reserveCapacity(self.chunks.count + 1)
        for chunk in self.chunks {
            events.append(NewEvent(.marketing(.campaignRecipientsAdded(chunk)), stream: stream, causedBy: 0))
        }
        return Decision(events: events, result: CommandResult(.campaign, id))
    }
}

/// `campaign.record`: an interaction of a recipient. A webhook retry (an `interaction_id` already
/// recorded) writes nothing. An unsubscribe or a spam complaint opts the address out; a hard bounce
/// flags it invalid.
public struct RecordCampaignInteraction: DomainCommand {
    public static let method = "campaign.record"

    public let interaction: CampaignInteraction
    /// Whether `occurred_at` was given (else the command's `at`).
    public let occurredAtGiven: Bool

    public init(_ interaction: CampaignInteraction, occurredAtGiven: Bool) {
        self.interaction = interaction
        self.occurredAtGiven = occurredAtGiven
    }

    public func targetStream(_ context: CommandContext) -> String? { "campaign-" + self.interaction.campaignID }

    /// `unknown_campaign`, `not_a_recipient`.
    public func decide(_ state: any DecisionState, _ context: CommandContext) throws -> Decision {
        var interaction = self.interaction
        if !self.occurredAtGiven { interaction.occurredAt = context.at }
        let id = interaction.campaignID
        _ = try state.campaign(id)
        let result = CommandResult(.campaign, id)
        if try state.record(.service, CampaignState.interactionKey(id, interaction.interactionID)) != nil {
            return Decision(events: [], result: result)
        }
        guard let prefix = try state.recipientAddress(id, interaction.customerID) else {
            throw Rejection(
                .notARecipient, field: "customer_id",
                "customer \(interaction.customerID) did not receive campaign \(id)",
                details: ["campaign_id": .string(id), "customer_id": .string(interaction.customerID)]
            )
        }
        var events = [
            NewEvent(.marketing(.campaignInteractionRecorded(interaction)), stream: "campaign-" + id)
        ]
        let stream = CustomerStream.name(interaction.customerID)
        let customer = try state.customer(interaction.customerID, personal: true)
        let email = customer?.emails.first { state.addressHash($0.key).hasPrefix(prefix) }
        let hash = email.map { state.addressHash($0.key) } ?? prefix
        switch interaction.kind {
        case "unsubscribed", "complained":
            guard var customer, customer.status == .active, let email else { break }
            let consent = CustomerInput.Consent(
                channel: "email", address: email.address, status: Validation.consentOptedOut, legalBasis: nil,
                source: "campaign:" + id, evidence: nil, addressField: "customer_id"
            )
            if let changed = try CustomerInput.consentEvent(consent, on: &customer, causedBy: 0) {
                events.append(changed)
            }
        case "bounced" where interaction.bounce == "hard":
            let flagged = EmailFlagged(customerID: interaction.customerID, addressHash: hash, invalid: true)
            events.append(NewEvent(.marketing(.emailFlagged(flagged)), stream: stream, causedBy: 0))
        default:
            break
        }
        return Decision(events: events, result: result)
    }
}

/// `campaign.record_cost {campaign_id, amount, currency}`.
public struct RecordCampaignCost: DomainCommand {
    public static let method = "campaign.record_cost"

    public let cost: CampaignCostRecorded

    public init(_ cost: CampaignCostRecorded) { self.cost = cost }

    public func targetStream(_ context: CommandContext) -> String? { "campaign-" + self.cost.campaignID }

    /// `unknown_campaign`; a currency other than the campaign's cost currency is `currency_mismatch`.
    public func decide(_ state: any DecisionState, _ context: CommandContext) throws -> Decision {
        let campaign = try state.campaign(self.cost.campaignID)
        if let currency = campaign.costCurrency, currency != self.cost.currency {
            throw Rejection(
                .currencyMismatch, field: "currency", "the campaign's costs are in \(currency)",
                details: ["currency": .string(currency)]
            )
        }
        return Decision(
            events: [
                NewEvent(.marketing(.campaignCostRecorded(self.cost)), stream: "campaign-" + self.cost.campaignID)
            ],
            result: CommandResult(.campaign, self.cost.campaignID)
        )
    }
}
