import CRMDomain
import CRMEventStore
import CRMJSON
import CRMParams
import Foundation
import LMDB

/// What the BG/NBD and Gamma-Gamma models need of one customer in one currency, as of a date: `x`
/// repeat purchase days (purchase days − 1; same-day orders are one purchase), `tx` the weeks from
/// the first to the last purchase day, `T` the weeks from the first purchase day to the date, and
/// `mean` the mean value of the repeat days (0 when x = 0). Weeks are exact (days ÷ 7).
public struct ModelInputs: Sendable, Hashable {
    public var x: Double
    public var tx: Double
    public var T: Double
    public var mean: Double

    /// The inputs of `counted` orders in `currency` as of `day`; `nil` without a purchase.
    init?(_ counted: [CustomerValue.Counted], currency: String, asOf day: BusinessDay) {
        var byDay: [Int64: Int128] = [:]
        for order in counted where order.order.currency == currency { byDay[order.date.days, default: 0] += order.net }
        let days = byDay.keys.sorted()
        guard let first = days.first, let last = days.last else { return nil }
        self.x = Double(days.count - 1)
        self.tx = Double(last - first) / 7
        self.T = Double(day.days - first) / 7
        let repeats = days.dropFirst().map { Double(byDay[$0]!) / 100_000_000 }
        self.mean = repeats.isEmpty ? 0 : repeats.reduce(0, +) / Double(repeats.count)
    }

    public init(x: Double, tx: Double, T: Double, mean: Double) {
        self.x = x
        self.tx = tx
        self.T = T
        self.mean = mean
    }

    /// The row of the canonical input table whose SHA-256 a fitted model records: `x`, `t_x`, `T` and
    /// `m̄` separated by tabs, the last three with 6 decimals, ended by a newline.
    public var canonicalLine: String { String(format: "%.0f\t%.6f\t%.6f\t%.6f\n", self.x, self.tx, self.T, self.mean) }
}

extension ValueProjector {
    // MARK: - value.model.fit

    /// The inputs of a fit, in customer-id order: every customer (merged ones count in their
    /// survivor) with an order that counts in `currency` by `asOfDate`, whose first purchase day in
    /// that currency lies within `firstOrderFrom`…`firstOrderTo` when given (all dates `YYYY-MM-DD`,
    /// checked by the caller).
    public func fitInputs(
        currency: String,
        asOfDate: String,
        firstOrderFrom: String?,
        firstOrderTo: String?,
        _ txn: Transaction
    ) throws -> [ModelInputs] {
        guard let day = BusinessDay(asOfDate) else { throw Rejection.invalid("as_of_date", "expected YYYY-MM-DD") }
        let clock = try self.clock(txn)
        let from = firstOrderFrom.flatMap(BusinessDay.init)?.days ?? .min
        let to = firstOrderTo.flatMap(BusinessDay.init)?.days ?? .max
        var inputs: [ModelInputs] = []
        for customer in try self.everyCustomer(txn) {
            try QueryCancellation.check()
            let counted = CustomerValue.counted(customer.orders, asOf: day, clock)
            guard let input = ModelInputs(counted, currency: currency, asOf: day) else { continue }
            let firstDay = day.days - Int64((input.T * 7).rounded())
            if (from...to).contains(firstDay) { inputs.append(input) }
        }
        return inputs
    }
}

/// BG/NBD and Gamma-Gamma predictions (FHL 2005 eq. 10 and P(alive); FH 2013 E[M]), with the
/// discounted lifetime value as lifetimes computes it (monthly steps of 4.345 weeks).
enum ValueModel {
    /// Weeks per month in the lifetime value.
    static let weeksPerMonth = 4.345

    /// The Gauss hypergeometric series 2F1(a, b; c; z), summed until a term is below 1e-15 of the
    /// sum (at most 10,000 terms).
    static func hypergeometric(_ a: Double, _ b: Double, _ c: Double, _ z: Double) -> Double {
        var term = 1.0
        var sum = 1.0
        for n in 0..<10_000 {
            let k = Double(n)
            term *= (a + k) * (b + k) / ((c + k) * (k + 1)) * z
            sum += term
            if abs(term) < 1e-15 * abs(sum) { break }
        }
        return sum
    }

    /// `D0`: the denominator of P(alive) and of E[Y].
    static func d0(_ m: BGNBDParameters, _ input: ModelInputs) -> Double {
        guard input.x > 0 else { return 1 }
        return 1 + m.a / (m.b + input.x - 1) * pow((m.alpha + input.T) / (m.alpha + input.tx), m.r + input.x)
    }

    /// The probability that the customer is still alive.
    static func pAlive(_ m: BGNBDParameters, _ input: ModelInputs) -> Double { 1 / Self.d0(m, input) }

    /// The expected number of purchases in the next `t` weeks.
    static func expectedPurchases(_ m: BGNBDParameters, _ input: ModelInputs, weeks t: Double) -> Double {
        let (x, T) = (input.x, input.T)
        let factor = (m.a + m.b + x - 1) / (m.a - 1)
        let ratio = pow((m.alpha + T) / (m.alpha + T + t), m.r + x)
        let series = Self.hypergeometric(m.r + x, m.b + x, m.a + m.b + x - 1, t / (m.alpha + T + t))
        return factor * (1 - ratio * series) / Self.d0(m, input)
    }

    /// The expected value of one future purchase.
    static func expectedValue(_ g: GammaGammaParameters, _ input: ModelInputs) -> Double {
        g.p * (g.gamma + input.x * input.mean) / (g.p * input.x + g.q - 1)
    }

    /// The lifetime value over `months`, discounted by `discount` a month.
    static func lifetimeValue(
        _ m: BGNBDParameters,
        _ g: GammaGammaParameters,
        _ input: ModelInputs,
        months: Int,
        discount: Double
    ) -> Double {
        let value = Self.expectedValue(g, input)
        var total = 0.0
        var previous = 0.0
        for month in 1...max(months, 1) {
            let purchases = Self.expectedPurchases(m, input, weeks: Double(month) * Self.weeksPerMonth)
            total += value * (purchases - previous) / pow(1 + discount, Double(month))
            previous = purchases
        }
        return total
    }

    /// `value` rounded to 4 decimals, as text: C's `%.4f` (what `String(format:)` gives, without
    /// Foundation's formatter, which was 3.5 % of a `customer.get`). Below 10¹⁴ in magnitude the digits
    /// are worked out exactly from the binary value, rounding a tie to even as C does; beyond, and for
    /// infinities and NaN, `vsnprintf` writes them into a stack buffer.
    static func text(_ value: Double) -> String {
        if let exact = Self.fourDecimals(value) { return exact }
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: 352) { buffer in
            let count = withVaList([value]) { vsnprintf(buffer.baseAddress, buffer.count, "%.4f", $0) }
            guard count >= 0, Int(count) < buffer.count else { return String(format: "%.4f", value) }
            return String(decoding: UnsafeRawBufferPointer(start: buffer.baseAddress, count: Int(count)), as: UTF8.self)
        }
    }

    /// ``text(_:)`` of a finite `value` below 10¹⁴ in magnitude, else `nil`: |value| × 10⁴ rounded to
    /// the nearest integer (a tie to even) in 128-bit integer arithmetic on the value's significand
    /// and exponent, which are exact.
    private static func fourDecimals(_ value: Double) -> String? {
        guard value.isFinite, value.magnitude < 1e14 else { return nil }
        var scaled: UInt128 = 0
        if value != 0 {
            let significand = UInt128(value.significandBitPattern | (value.isNormal ? 1 << 52 : 0))
            let exponent = value.isNormal ? Int(value.exponent) - 52 : -1074
            if exponent >= 0 {
                scaled = (significand << exponent) * 10_000  // < 10¹⁸: no overflow
            } else if -exponent < 128 {
                let product = significand * 10_000  // < 2⁶⁷
                let shift = UInt128(-exponent)
                scaled = product >> shift
                let remainder = product & ((1 << shift) - 1)
                let half: UInt128 = 1 << (shift - 1)
                if remainder > half || (remainder == half && scaled & 1 == 1) { scaled += 1 }
            }  // else below 2⁻⁶⁰ (its product with 10⁴ under half of the 2^-exponent unit): 0
        }
        let fraction = String(scaled % 10_000)
        let sign = value.sign == .minus ? "-" : ""
        return sign + String(scaled / 10_000) + "." + String(repeating: "0", count: 4 - fraction.count) + fraction
    }
}

extension ValueModelFitted {
    /// A binary row of the model.
    func encoded() -> [UInt8] {
        var row = BinaryRowWriter(capacity: 160)
        row.byte(2)
        row.string(self.modelID)
        row.string(self.source)
        row.string(self.currency)
        for value in [self.bgnbd.r, self.bgnbd.alpha, self.bgnbd.a, self.bgnbd.b] { row.double(value) }
        row.bool(self.gammaGamma != nil)
        if let g = self.gammaGamma { for value in [g.p, g.q, g.gamma] { row.double(value) } }
        row.bool(self.fit != nil)
        guard let fit = self.fit else { return row.bytes }
        row.string(fit.asOfDate)
        row.varint(fit.basedOnSeq)
        row.optionalString(fit.firstOrderFrom)
        row.optionalString(fit.firstOrderTo)
        row.double(fit.penalizer)
        for count in [fit.customers, fit.repeaters, fit.sumX, fit.gammaGammaCustomers] { row.int(Int64(count)) }
        row.double(fit.bgnbdLogLikelihood)
        row.double(fit.gammaGammaLogLikelihood ?? .nan)
        for count in [fit.bgnbdIterations, fit.gammaGammaIterations] { row.int(Int64(count)) }
        row.string(fit.inputDigest)
        return row.bytes
    }

    init(decoding bytes: [UInt8]) throws(StateDecodingError) {
        var row = BinaryRowReader(bytes, what: "value model")
        try row.format(2)
        let id = try row.string()
        let source = try row.string()
        let currency = try row.string()
        var values: [Double] = []
        for _ in 0..<4 { values.append(try row.double()) }
        var gammaGamma: GammaGammaParameters?
        if try row.bool() {
            var spend: [Double] = []
            for _ in 0..<3 { spend.append(try row.double()) }
            gammaGamma = GammaGammaParameters(p: spend[0], q: spend[1], gamma: spend[2])
        }
        var fit: ModelFit?
        if try row.bool() {
            let asOf = try row.string()
            let seq = try row.varint()
            let from = try row.optionalString()
            let to = try row.optionalString()
            let penalizer = try row.double()
            var counts: [Int] = []
            for _ in 0..<4 { counts.append(Int(try row.int())) }
            let bgnbdLL = try row.double()
            let spendLL = try row.double()
            let bgnbdIterations = Int(try row.int())
            let spendIterations = Int(try row.int())
            fit = ModelFit(
                asOfDate: asOf, basedOnSeq: seq, firstOrderFrom: from, firstOrderTo: to, penalizer: penalizer,
                customers: counts[0], repeaters: counts[1], sumX: counts[2], bgnbdLogLikelihood: bgnbdLL,
                gammaGammaLogLikelihood: spendLL.isNaN ? nil : spendLL, gammaGammaCustomers: counts[3],
                bgnbdIterations: bgnbdIterations, gammaGammaIterations: spendIterations, inputDigest: try row.string()
            )
        }
        try row.finish()
        self.init(
            modelID: id, source: source, currency: currency,
            bgnbd: BGNBDParameters(r: values[0], alpha: values[1], a: values[2], b: values[3]), gammaGamma: gammaGamma,
            fit: fit
        )
    }
}

extension ValueProjector {
    // MARK: - value.predict

    /// `value.predict {customer_id | frequency + recency_weeks + age_weeks + mean_value, model_id?,
    /// currency?, as_of_date?, horizon_weeks? = 52, months? = 12, discount_monthly? = 0.01}`: the
    /// model's predictions for a customer (its inputs from its orders in the model's currency as of
    /// the date) or for given inputs: P(alive), expected purchases in the horizon, and with a
    /// Gamma-Gamma part the expected value of a purchase and the discounted lifetime value. The model
    /// is `model_id`, else the latest for `currency` (which may be left out when one currency has
    /// models).
    func predict(_ json: JSON?, _ txn: Transaction) throws -> JSON {
        var params = try Params(json)
        let customerID = try params.identifier("customer_id")
        let frequency = try Self.number(&params, "frequency")
        let recency = try Self.number(&params, "recency_weeks")
        let age = try Self.number(&params, "age_weeks")
        let mean = try Self.number(&params, "mean_value")
        let modelID = try params.identifier("model_id")
        let currency = try params.currency("currency")
        let clock = try self.clock(txn)
        let day = try Self.day(&params, "as_of_date") ?? clock.today()
        let horizon = try Self.number(&params, "horizon_weeks") ?? 52
        let months = try params.int("months") ?? 12
        guard (1...600).contains(months) else { throw Rejection.invalid("months", "must be 1 to 600") }
        let discount = try Self.number(&params, "discount_monthly") ?? 0.01
        try params.finish()
        let model = try self.model(modelID, currency: currency, txn)
        let inputs: ModelInputs
        if let customerID {
            try self.requireCustomer(customerID, txn)
            let counted = CustomerValue.counted(try self.orders(of: customerID, txn), asOf: day, clock)
            guard let found = ModelInputs(counted, currency: model.currency, asOf: day) else {
                throw Rejection(
                    .insufficientData, field: "customer_id",
                    "customer \(customerID) has no order that counts in \(model.currency) by \(day.text)",
                    details: ["needed": .string("an order in \(model.currency)")]
                )
            }
            inputs = found
        } else {
            guard let frequency, let recency, let age else {
                throw Rejection.missing("customer_id")
            }
            guard frequency >= 0, frequency.rounded() == frequency, recency <= age else {
                throw Rejection.invalid("frequency", "give a whole frequency ≥ 0 and recency_weeks ≤ age_weeks")
            }
            inputs = ModelInputs(x: frequency, tx: recency, T: age, mean: mean ?? 0)
        }
        let m = model.bgnbd
        var result: JSON = [
            "model_id": .string(model.modelID), "currency": .string(model.currency), "horizon_weeks": .double(horizon),
            "inputs": [
                "frequency": .int(Int64(inputs.x)), "recency_weeks": .string(ValueModel.text(inputs.tx)),
                "age_weeks": .string(ValueModel.text(inputs.T)), "mean_value": .string(ValueModel.text(inputs.mean)),
            ],
            "p_alive": .string(ValueModel.text(ValueModel.pAlive(m, inputs))),
            "expected_purchases": .string(ValueModel.text(ValueModel.expectedPurchases(m, inputs, weeks: horizon))),
            "expected_order_value": .null, "clv": .null,
        ]
        if customerID != nil { result["as_of_date"] = .string(day.text) }
        if let g = model.gammaGamma {
            result["expected_order_value"] = .string(ValueModel.text(ValueModel.expectedValue(g, inputs)))
            let clv = ValueModel.lifetimeValue(m, g, inputs, months: Int(months), discount: discount)
            result["clv"] = [
                "months": .int(months), "discount_monthly": .double(discount), "value": .string(ValueModel.text(clv)),
            ]
        }
        return result
    }

    /// `value.model.get {model_id? | currency?}`: a model as its event holds it (the latest of the
    /// currency, or of the only currency with models, without `model_id`).
    func modelQuery(_ json: JSON?, _ txn: Transaction) throws -> JSON {
        var params = try Params(json)
        let modelID = try params.identifier("model_id")
        let currency = try params.currency("currency")
        try params.finish()
        return try self.model(modelID, currency: currency, txn).eventJSON
    }

    /// The model `id`, else the latest for `currency` (or for the only currency with models).
    func model(_ id: String?, currency: String?, _ txn: Transaction) throws -> ValueModelFitted {
        var modelID = id
        if modelID == nil {
            if let currency {
                modelID = try txn.get(self.models, "#latest#" + currency).map { String(decoding: $0, as: UTF8.self) }
            } else {
                let latest = try txn.withCursor(self.models) { cursor in
                    var found: [String] = []
                    var entry = try cursor.seek(atOrAfter: Array("#latest#".utf8))
                    while let current = entry, current.key.starts(with: Array("#latest#".utf8)) {
                        found.append(String(decoding: current.valueBytes, as: UTF8.self))
                        entry = try cursor.next()
                    }
                    return found
                }
                guard latest.count <= 1 else { throw Rejection.missing("currency") }
                modelID = latest.first
            }
        }
        guard let modelID, let bytes = try txn.get(self.models, modelID) else {
            throw Rejection(
                .modelNotFitted, field: id == nil ? "currency" : "model_id",
                id.map { "there is no model \($0)" }
                    ?? "no value model was fitted or set\(currency.map { " for \($0)" } ?? "")"
            )
        }
        return try ValueModelFitted(decoding: bytes)
    }

    /// A number member (JSON number or decimal string).
    static func number(_ params: inout Params, _ key: String) throws -> Double? {
        guard let value = try params.raw(key) else { return nil }
        if let number = value.doubleValue ?? value.intValue.map(Double.init) ?? value.stringValue.flatMap(Double.init),
            number.isFinite, number >= 0
        {
            return number
        }
        throw Rejection.invalid(params.fieldPath(key), "must be a number ≥ 0")
    }
}
