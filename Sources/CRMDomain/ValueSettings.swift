// The settings of the customer-value reports: the reporting time zone that turns instants into
// business dates, the thresholds of the value status, and the RFM window. Changed by
// `value.configure`; every value report says which settings it used.

/// The value settings, with their defaults.
public struct ValueSettings: Sendable, Hashable {
    /// IANA zone of business dates.
    public var reportingTimezone = "UTC"
    /// The currency reports use when a query names none (`nil`: queries must name one).
    public var reportingCurrency: String?
    /// A customer is `new` while its first order is at most this many days old.
    public var newCustomerDays = 90
    /// `active` while its last order is at most this many days old, then `inactive`.
    public var inactiveAfterDays = 90
    /// `churned` once its last order is more than this many days old.
    public var churnAfterDays = 180
    /// The default window of RFM's frequency and monetary value.
    public var rfmWindowDays = 365

    public init() {}

    /// The day counts' range (`invalid_field` outside).
    public static let dayRange = 1...3650

    /// The decision-state record key.
    static let recordKey = "value-settings"

    /// A binary row.
    public func encoded() -> [UInt8] {
        var row = BinaryRowWriter(capacity: 48)
        row.byte(1)
        row.string(self.reportingTimezone)
        row.optionalString(self.reportingCurrency)
        for days in [self.newCustomerDays, self.inactiveAfterDays, self.churnAfterDays, self.rfmWindowDays] {
            row.int(Int64(days))
        }
        return row.bytes
    }

    public init(decoding bytes: [UInt8]) throws(StateDecodingError) {
        var row = BinaryRowReader(bytes, what: "value settings")
        try row.format(1)
        self.reportingTimezone = try row.string()
        self.reportingCurrency = try row.optionalString()
        self.newCustomerDays = Int(try row.int())
        self.inactiveAfterDays = Int(try row.int())
        self.churnAfterDays = Int(try row.int())
        self.rfmWindowDays = Int(try row.int())
        try row.finish()
    }
}

/// `ValueSettingsChanged{changes}` (stream `settings-value`): the settings that changed, with their
/// new values (`reporting_currency` may become `null`).
public struct ValueSettingsChanged: Sendable, Hashable {
    public var reportingTimezone: String?
    /// `.some(nil)`: cleared.
    public var reportingCurrency: String??
    public var newCustomerDays: Int?
    public var inactiveAfterDays: Int?
    public var churnAfterDays: Int?
    public var rfmWindowDays: Int?

    public init(
        reportingTimezone: String? = nil,
        reportingCurrency: String?? = nil,
        newCustomerDays: Int? = nil,
        inactiveAfterDays: Int? = nil,
        churnAfterDays: Int? = nil,
        rfmWindowDays: Int? = nil
    ) {
        self.reportingTimezone = reportingTimezone
        self.reportingCurrency = reportingCurrency
        self.newCustomerDays = newCustomerDays
        self.inactiveAfterDays = inactiveAfterDays
        self.churnAfterDays = churnAfterDays
        self.rfmWindowDays = rfmWindowDays
    }

    /// `settings` with these changes.
    public func applied(to settings: ValueSettings) -> ValueSettings {
        var new = settings
        if let zone = self.reportingTimezone { new.reportingTimezone = zone }
        if let currency = self.reportingCurrency { new.reportingCurrency = currency }
        if let days = self.newCustomerDays { new.newCustomerDays = days }
        if let days = self.inactiveAfterDays { new.inactiveAfterDays = days }
        if let days = self.churnAfterDays { new.churnAfterDays = days }
        if let days = self.rfmWindowDays { new.rfmWindowDays = days }
        return new
    }

    /// The changes from `old` to `new`, only where they differ.
    init(from old: ValueSettings, to new: ValueSettings) {
        func changed<T: Equatable>(_ path: KeyPath<ValueSettings, T>) -> T? {
            old[keyPath: path] == new[keyPath: path] ? nil : new[keyPath: path]
        }
        self.init(
            reportingTimezone: changed(\.reportingTimezone),
            reportingCurrency: old.reportingCurrency == new.reportingCurrency ? nil : .some(new.reportingCurrency),
            newCustomerDays: changed(\.newCustomerDays), inactiveAfterDays: changed(\.inactiveAfterDays),
            churnAfterDays: changed(\.churnAfterDays), rfmWindowDays: changed(\.rfmWindowDays)
        )
    }

    /// Whether nothing changes.
    var isEmpty: Bool { self == ValueSettingsChanged() }
}

/// `value.configure {reporting_timezone?, reporting_currency?, new_customer_days?,
/// inactive_after_days?, churn_after_days?, rfm_window_days?}` (admin): changes the value settings.
/// The RPC edge checks each value; here `inactive_after_days` ≤ `churn_after_days` is checked against
/// the settings that result. Settings that already hold write nothing.
public struct ConfigureValue: DomainCommand {
    /// `value.configure`.
    public static let method = "value.configure"

    public let changes: ValueSettingsChanged

    public init(changes: ValueSettingsChanged) { self.changes = changes }

    /// `settings-value`.
    public func targetStream(_ context: CommandContext) -> String? { ConfigureValue.stream }

    static let stream = "settings-value"

    public func decide(_ state: any DecisionState, _ context: CommandContext) throws -> Decision {
        let current =
            try state.record(.sales, ValueSettings.recordKey).map { try ValueSettings(decoding: $0) }
            ?? ValueSettings()
        let new = self.changes.applied(to: current)
        guard new.inactiveAfterDays <= new.churnAfterDays else {
            throw Rejection.invalid(
                self.changes.inactiveAfterDays != nil ? "inactive_after_days" : "churn_after_days",
                "inactive_after_days (\(new.inactiveAfterDays)) must not exceed churn_after_days "
                    + "(\(new.churnAfterDays))"
            )
        }
        let changes = ValueSettingsChanged(from: current, to: new)
        let result = CommandResult(.settings, "value")
        guard !changes.isEmpty else { return Decision(events: [], result: result) }
        return Decision(events: [NewEvent(.sales(.valueSettingsChanged(changes)), stream: Self.stream)], result: result)
    }
}
