public import CRMDomain
public import CRMApplication
import CRMEventStore
import CRMJSON
import Foundation
public import CRMParams

extension RecordOrder {
    /// Parses and validates the params: money as decimal strings (or numbers) with at most 4 decimals.
    public init(params: inout Params) throws(Rejection) {
        let orderID = try params.identifier("order_id", required: true)!
        let customerID = try params.identifier("customer_id", required: true)!
        guard let amount = try params.money("amount") else { throw Rejection.missing("amount") }
        try RecordOrder.checkPlaces(amount.units, field: "amount")
        guard let currency = try params.currency("currency") else { throw Rejection.missing("currency") }
        var margin: Int128?
        if let text = try params.raw("margin") {
            let parsed = text.stringValue.map(MoneyAmount.signedUnits) ?? MoneyAmount(json: text)?.units
            guard let parsed else {
                throw Rejection.invalid(
                    "margin", "must be a decimal string, possibly negative, with at most 4 decimals")
            }
            try RecordOrder.checkPlaces(parsed, field: "margin")
            guard parsed <= amount.units else { throw Rejection.invalid("margin", "must not exceed the amount") }
            margin = parsed
        }
        let orderedAt = try params.timestamp("ordered_at")
        let channel = try params.oneOf("channel", RecordOrder.channels)
        let campaignID = try params.identifier("campaign_id")
        let externalRef = try CustomerInput.text(&params, "external_ref", limit: CustomerInput.shortTextLimit)
        let linesCount = try params.int("lines_count")
        if let linesCount, linesCount < 0 { throw Rejection.invalid("lines_count", "must be ≥ 0") }
        try params.finish()
        self.init(
            order: OrderRecorded(
                orderID: orderID, customerID: customerID, amount: amount, currency: currency, margin: margin,
                orderedAt: orderedAt ?? 0, channel: channel, campaignID: campaignID, externalRef: externalRef,
                linesCount: linesCount
            ),
            orderedAtGiven: orderedAt != nil
        )
    }

    /// Orders keep at most 4 decimal places.
    static func checkPlaces(_ units: Int128, field: String) throws(Rejection) {
        guard units % 10_000 == 0 else { throw Rejection.invalid(field, "must have at most 4 decimal places") }
    }
}

extension RefundOrder {
    /// Parses and validates the params.
    public init(params: inout Params) throws(Rejection) {
        let orderID = try params.identifier("order_id", required: true)!
        guard let amount = try params.money("amount") else { throw Rejection.missing("amount") }
        try RecordOrder.checkPlaces(amount.units, field: "amount")
        let refundID = try params.identifier("refund_id")
        let currency = try params.currency("currency")
        let reason = try CustomerInput.text(&params, "reason", limit: CustomerInput.shortTextLimit)
        try params.finish()
        self.init(orderID: orderID, amount: amount, refundID: refundID, currency: currency, reason: reason)
    }
}

extension CancelOrder {
    /// Parses and validates the params.
    public init(params: inout Params) throws(Rejection) {
        let orderID = try params.identifier("order_id", required: true)!
        let reason = try CustomerInput.text(&params, "reason", limit: CustomerInput.shortTextLimit)
        try params.finish()
        self.init(orderID: orderID, reason: reason)
    }
}

extension SetValueModel {
    /// Parses and validates the params: every parameter a finite number > 0, and BG/NBD's `a` ≠ 1
    /// (the expected purchases are singular there).
    public init(params: inout Params) throws(Rejection) {
        let modelID = try params.identifier("model_id", required: true)!
        guard let currency = try params.currency("currency") else { throw Rejection.missing("currency") }
        var fit = try params.object("bgnbd", required: true)!
        let bgnbd = BGNBDParameters(
            r: try SetValueModel.positive(&fit, "r"), alpha: try SetValueModel.positive(&fit, "alpha"),
            a: try SetValueModel.positive(&fit, "a"), b: try SetValueModel.positive(&fit, "b")
        )
        try fit.finish()
        guard abs(bgnbd.a - 1) >= 1e-6 else { throw Rejection.invalid("bgnbd.a", "must not be 1") }
        var gammaGamma: GammaGammaParameters?
        if var spend = try params.object("gamma_gamma") {
            gammaGamma = GammaGammaParameters(
                p: try SetValueModel.positive(&spend, "p"), q: try SetValueModel.positive(&spend, "q"),
                gamma: try SetValueModel.positive(&spend, "gamma")
            )
            try spend.finish()
        }
        try params.finish()
        self.init(
            model: ValueModelFitted(
                modelID: modelID, source: "external", currency: currency, bgnbd: bgnbd, gammaGamma: gammaGamma
            )
        )
    }

    /// A required finite number > 0.
    static func positive(_ params: inout Params, _ key: String) throws(Rejection) -> Double {
        let value = try params.raw(key, required: true)!
        guard let number = value.doubleValue ?? value.intValue.map(Double.init), number.isFinite, number > 0 else {
            throw Rejection.invalid(params.fieldPath(key), "must be a finite number > 0")
        }
        return number
    }
}

extension MarkChurned {
    /// Parses and validates the params: `effective_date` a date `YYYY-MM-DD`.
    public init(params: inout Params) throws(Rejection) {
        let customerID = try params.identifier("customer_id", required: true)!
        let reason = try CustomerInput.text(&params, "reason", limit: CustomerInput.shortTextLimit)
        let date = try params.date("effective_date")
        try params.finish()
        self.init(customerID: customerID, reason: reason, effectiveDate: date)
    }
}

extension UnmarkChurned {
    /// Parses and validates the params.
    public init(params: inout Params) throws(Rejection) {
        let customerID = try params.identifier("customer_id", required: true)!
        try params.finish()
        self.init(customerID: customerID)
    }
}

extension ConfigureValue {
    /// Parses and validates the params: at least one setting (`missing_field`), an IANA zone
    /// (`invalid_timezone`), an ISO-4217 currency or `null` to clear it, day counts 1–3650.
    public init(params: inout Params) throws(Rejection) {
        var changes = ValueSettingsChanged()
        if let zone = try params.string("reporting_timezone") {
            guard !zone.isEmpty, TimeZone(identifier: zone) != nil else {
                throw Rejection(
                    .invalidTimezone, field: "reporting_timezone", "\"\(zone)\" is not an IANA time zone",
                    details: ["timezone": .string(zone)]
                )
            }
            changes.reportingTimezone = zone
        }
        let clears = params.contains("reporting_currency")
        if let currency = try params.currency("reporting_currency") {
            changes.reportingCurrency = .some(currency)
        } else if clears {
            changes.reportingCurrency = .some(nil)
        }
        func days(_ key: String) throws(Rejection) -> Int? {
            guard let value = try params.int(key) else { return nil }
            guard ValueSettings.dayRange.contains(Int(value)) else {
                throw Rejection.invalid(key, "must be an integer from 1 to 3650")
            }
            return Int(value)
        }
        changes.newCustomerDays = try days("new_customer_days")
        changes.inactiveAfterDays = try days("inactive_after_days")
        changes.churnAfterDays = try days("churn_after_days")
        changes.rfmWindowDays = try days("rfm_window_days")
        try params.finish()
        guard changes != ValueSettingsChanged() else {
            throw Rejection(
                .missingField,
                "give at least one setting: reporting_timezone, reporting_currency, new_customer_days, "
                    + "inactive_after_days, churn_after_days or rfm_window_days (value.settings shows them)"
            )
        }
        self.init(changes: changes)
    }
}

extension RfmSnapshotRequest {
    /// Parses and validates the params of `rfm.snapshot`.
    public init(params: inout Params) throws(Rejection) {
        let id = try params.identifier("snapshot_id")
        let asOf = try params.date("as_of_date")
        let window = try params.int("window_days")
        if let window, !ValueSettings.dayRange.contains(Int(window)) {
            throw Rejection.invalid("window_days", "must be 1 to 3650")
        }
        let currency = try params.currency("currency")
        try params.finish()
        self.init(snapshotID: id, asOfDate: asOf, windowDays: window.map(Int.init), currency: currency)
    }
}

extension DefineRfmSegmentMap {
    /// Parses and validates `segment_map`: 1–100 rules `{name, r: [lo, hi], f: [lo, hi], m?: [lo, hi]}`,
    /// names `^[a-z][a-z0-9_]{0,39}$`, bounds 1–5 with lo ≤ hi.
    public init(params: inout Params) throws(Rejection) {
        let map = try params.array("segment_map", required: true)!
        guard (1...100).contains(map.count) else { throw Rejection.invalid("segment_map", "give 1 to 100 rules") }
        var rules: [RfmRule] = []
        for (index, entry) in map.enumerated() {
            var rule = try Params(entry, path: "segment_map[\(index)]")
            let name = try rule.string("name", required: true)!
            let nameOK =
                (1...40).contains(name.utf8.count) && name.utf8.first.map { (0x61...0x7A).contains($0) } == true
                && name.utf8.allSatisfy { (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x5F }
            guard nameOK else {
                throw Rejection.invalid(rule.fieldPath("name"), "must match ^[a-z][a-z0-9_]{0,39}$")
            }
            func range(_ key: String, required: Bool) throws(Rejection) -> ClosedRange<Int>? {
                guard let pair = try rule.raw(key, required: required) else { return nil }
                guard let bounds = pair.arrayValue, bounds.count == 2, let low = bounds[0].intValue,
                    let high = bounds[1].intValue, 1 <= low, low <= high, high <= 5
                else { throw Rejection.invalid(rule.fieldPath(key), "must be [lo, hi] with 1 ≤ lo ≤ hi ≤ 5") }
                return Int(low)...Int(high)
            }
            let r = try range("r", required: true)!
            let f = try range("f", required: true)!
            let m = try range("m", required: false) ?? 1...5
            try rule.finish()
            rules.append(RfmRule(name: name, r: r, f: f, m: m))
        }
        try params.finish()
        self.init(rules: rules)
    }
}

extension ValueFitRequest {
    /// Parses and validates the params of `value.model.fit`: `currency` and `as_of_date` required,
    /// the cohort dates in order, `penalizer` a finite number ≥ 0.
    public init(params: inout Params) throws(Rejection) {
        let modelID = try params.identifier("model_id")
        guard let currency = try params.currency("currency") else { throw Rejection.missing("currency") }
        let asOf = try params.date("as_of_date", required: true)!
        let from = try params.date("first_order_from")
        let to = try params.date("first_order_to")
        if let from, let to, from > to {
            throw Rejection.invalid("first_order_to", "must not be before first_order_from")
        }
        var penalizer = 0.0
        if let value = try params.raw("penalizer") {
            guard let number = value.doubleValue ?? value.intValue.map(Double.init), number.isFinite, number >= 0 else {
                throw Rejection.invalid("penalizer", "must be a finite number ≥ 0")
            }
            penalizer = number
        }
        try params.finish()
        self.init(
            modelID: modelID, currency: currency, asOfDate: asOf, firstOrderFrom: from, firstOrderTo: to,
            penalizer: penalizer
        )
    }
}
