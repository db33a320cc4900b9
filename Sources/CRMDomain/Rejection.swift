/// The stable, machine-readable reason of a rejected command or query.
///
/// The raw value is what clients see in `error.data.reason`.
public enum Reason: String, Sendable, CaseIterable {
    case badRequest = "bad_request"
    case unknownCommand = "unknown_command"
    case missingField = "missing_field"
    case invalidField = "invalid_field"
    case invalidEmail = "invalid_email"
    case invalidPhone = "invalid_phone"
    case notFound = "not_found"
    case alreadyExists = "already_exists"
    case versionConflict = "version_conflict"
    case timestampInFuture = "timestamp_in_future"
    case timestampOutOfOrder = "timestamp_out_of_order"
    case duplicateEmail = "duplicate_email"
    case emailErased = "email_erased"
    case missingIdentity = "missing_identity"
    case customerMerged = "customer_merged"
    case customerErased = "customer_erased"
    case invalidMerge = "invalid_merge"
    case lifecycleBackward = "lifecycle_backward"
    case unknownPipeline = "unknown_pipeline"
    case unknownStage = "unknown_stage"
    case invalidPipeline = "invalid_pipeline"
    case stageInUse = "stage_in_use"
    case lostReasonRequired = "lost_reason_required"
    case ticketClosed = "ticket_closed"
    case invalidTransition = "invalid_transition"
    case invalidTimezone = "invalid_timezone"
    case invalidHours = "invalid_hours"
    case emptySchedule = "empty_schedule"
    case invalidHoliday = "invalid_holiday"
    case unknownSchedule = "unknown_schedule"
    case invalidTarget = "invalid_target"
    case duplicateTarget = "duplicate_target"
    case unknownPolicy = "unknown_policy"
    case forbidden = "forbidden"
    /// The daemon is stopping and takes no more commands.
    case shuttingDown = "shutting_down"
    /// The log failed its start-up checks (hash chain); commands are refused until it is repaired.
    case chainBroken = "chain_broken"
    /// A stored event was written by a newer crmd with a schema version this one cannot read.
    case unsupportedSchemaVersion = "unsupported_schema_version"
    /// The disk of the data directory is full; nothing was written.
    case storageFull = "storage_full"
    /// Erasure refused: the customer is under a legal hold.
    case legalHold = "legal_hold"
    /// `order.refund`: refunds would add up to more than the order's amount (`details.refundable`).
    case refundExceedsOrder = "refund_exceeds_order"
    /// `order.refund` on a cancelled order.
    case orderCancelled = "order_cancelled"
    /// `order.refund` in another currency than the order's (`details.currency`).
    case currencyMismatch = "currency_mismatch"
    /// `value.predict` with no model for the currency.
    case modelNotFitted = "model_not_fitted"
    /// Too little data for a model (`details.needed`).
    case insufficientData = "insufficient_data"
    /// `value.model.fit` could not fit the model (`details.reason`: `no_convergence`, `singular`,
    /// `busy`).
    case fitFailed = "fit_failed"
    /// A survey id that was never defined.
    case unknownSurvey = "unknown_survey"
    /// A score outside the survey's scale (`details.min`, `details.max`).
    case invalidScore = "invalid_score"
    /// A response or offer about a closed ticket.
    case surveyClosed = "survey_closed"
    /// A response after the request's `expires_at`.
    case surveyExpired = "survey_expired"
    /// A segment id that was never defined, or a segment asked about before its first version
    /// (`details.defined_at`).
    case unknownSegment = "unknown_segment"
    /// A segment filter that does not parse (`details.path`, `details.reason`: `unknown_field`,
    /// `bad_operator`, `bad_value`, `personal_field`, `cycle`, `too_many`).
    case invalidFilter = "invalid_filter"
    /// A static list id that was never created.
    case unknownList = "unknown_list"
    /// A campaign id that was never created.
    case unknownCampaign = "unknown_campaign"
    /// `campaign.send` of a campaign that was sent.
    case campaignAlreadySent = "campaign_already_sent"
    /// `campaign.send` with no member of the audience left after suppression (`details`: the counts).
    case emptyAudience = "empty_audience"
    /// `campaign.record` for a customer the campaign was not sent to.
    case notARecipient = "not_a_recipient"
    /// A command sent to a read replica, which answers queries only (`details.primary_socket` names
    /// the primary's socket when configured).
    case readOnlyReplica = "read_only_replica"
    /// `events.read {decrypt: true}` met personal data whose key is unknown (not erased: missing or
    /// damaged in the key store); `details.kid` names it.
    case piiUnavailable = "pii_unavailable"
    /// A read model is being rebuilt and cannot answer yet; `details` carry the progress.
    case projectionRebuilding = "projection_rebuilding"
    /// A read model stopped at an event its projector could not fold; `details` name it.
    case projectionFailed = "projection_failed"
    case internalError = "internal"
}

/// Why a command or query was refused. Nothing is written for a rejected command.
///
/// `field` names the offending parameter as a path (`emails[0].address`), `details` carries
/// reason-specific facts (for `duplicate_email`, `existing_customer_id`; for `version_conflict`,
/// `expected` and `actual`).
public struct Rejection: Error, Sendable, Hashable, CustomStringConvertible {
    public var reason: Reason
    public var field: String?
    public var message: String
    public var details: [String: DetailValue]?

    public init(_ reason: Reason, field: String? = nil, _ message: String, details: [String: DetailValue]? = nil) {
        self.reason = reason
        self.field = field
        self.message = message
        self.details = details
    }

    public var description: String {
        var text = "\(self.reason.rawValue): \(self.message)"
        if let field = self.field { text += " (field \(field))" }
        return text
    }

    /// A `missing_field` rejection for `field`.
    public static func missing(_ field: String) -> Rejection {
        Rejection(.missingField, field: field, "\(field) is required")
    }

    /// An `invalid_field` rejection for `field`.
    public static func invalid(_ field: String, _ message: String) -> Rejection {
        Rejection(.invalidField, field: field, message)
    }

    /// A `not_found` rejection.
    public static func notFound(_ field: String, _ what: String, _ id: String) -> Rejection {
        Rejection(.notFound, field: field, "\(what) \(id) does not exist", details: ["id": .string(id)])
    }
}

/// A value in a rejection's `details`: facts a client may act on (ids, counts, names), typed so the
/// domain needs no JSON. The RPC edge shows it as the JSON value of the same shape.
public indirect enum DetailValue: Sendable, Hashable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    case string(String)
    case int(Int64)
    case double(Double)
    case bool(Bool)
    case list([DetailValue])
    case fields([String: DetailValue])
    /// No value (an absent optional fact).
    case null

    public init(stringLiteral value: String) { self = .string(value) }

    public init(integerLiteral value: Int64) { self = .int(value) }

    /// A list of strings.
    public static func strings(_ values: [String]) -> DetailValue { .list(values.map(DetailValue.string)) }

    /// A count or index.
    public static func int(_ value: Int) -> DetailValue { .int(Int64(value)) }

    /// A string, or ``null`` for `nil`.
    public static func string(_ value: String?) -> DetailValue { value.map(DetailValue.string) ?? .null }
}
