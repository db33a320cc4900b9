import CRMDomain
import CRMJSON
import Foundation

/// A business date: a calendar day in the reporting time zone (``ValueClock``), as days since 1970-01-01.
struct BusinessDay: Sendable, Hashable, Comparable {
    static let millisPerDay: Int64 = 86_400_000

    var days: Int64

    init(days: Int64) { self.days = days }

    /// The day of the instant `millis`.
    init(instant millis: Int64) {
        self.days = millis >= 0 ? millis / Self.millisPerDay : (millis - Self.millisPerDay + 1) / Self.millisPerDay
    }

    /// Parses `YYYY-MM-DD`; `nil` for anything else (or a day that does not exist).
    init?(_ text: String) {
        guard let days = Timestamp.parseDate(text) else { return nil }
        self.days = Int64(days)
    }

    /// `YYYY-MM-DD`.
    var text: String { BusinessSchedule.date(Int(self.days)) }

    static func < (lhs: BusinessDay, rhs: BusinessDay) -> Bool { lhs.days < rhs.days }
}

/// One customer's value as of the end of a business date, computed from its orders:
///
/// - an order **counts** when it was ordered on or before the date, was not cancelled on or before
///   it, and its net amount (amount less the refunds dated on or before it) is more than 0 — or it
///   was a free order (amount 0): a cancelled order, or one refunded down to 0, is not a purchase;
/// - `gross`, `refunds`, `revenue` (gross − refunds), `aov` (revenue ÷ orders, to the cent, half to
///   even) and `margin` (Σ margin × net ÷ amount; `null` when a counted order has no margin) per
///   currency; `clv_historical` is the revenue so far;
/// - `status`, in this order: `prospect` (no counted order), `churned` (a churn mark effective by
///   the date with no counted order after it, `churned_on` its date; or more than `churn_after_days`
///   (180) since the last order, `churned_on` the day after that), `new` (first order at most
///   `new_customer_days` (90) ago), `active` (last order at most `inactive_after_days` (90) ago), else
///   `inactive`. Dates are business dates in the reporting time zone (``ValueClock``).
struct CustomerValue {

    /// What the counted orders of one currency add up to.
    struct Sums {
        var orders = 0
        var gross: Int128 = 0
        var refunds: Int128 = 0
        var margin: Int128? = 0
    }

    let asOf: BusinessDay
    /// The settings: thresholds and the zone of business dates.
    let clock: ValueClock
    /// The churn mark, when effective by ``asOf``.
    let mark: ChurnMark?
    var orders = 0
    var first: BusinessDay?
    var last: BusinessDay?
    var byCurrency: [String: Sums] = [:]

    /// An order that counts as of a date, with what was refunded of it by then.
    struct Counted {
        var order: ValueOrder
        var date: BusinessDay
        var refunded: Int128
        var net: Int128 { self.order.amount.units - self.refunded }
    }

    /// The orders of `orders` that count as of the end of `day`.
    static func counted(_ orders: [ValueOrder], asOf day: BusinessDay, _ clock: ValueClock = .utc) -> [Counted] {
        orders.compactMap { order in
            let ordered = clock.day(order.orderedAt)
            guard ordered <= day else { return nil }
            if let cancelled = order.cancelledAt, clock.day(cancelled) <= day { return nil }
            let refunded = order.refunds.filter { clock.day($0.at) <= day }.reduce(Int128(0)) {
                $0 + $1.amount.units
            }
            let counted = Counted(order: order, date: ordered, refunded: refunded)
            return order.amount.units == 0 || counted.net > 0 ? counted : nil
        }
    }

    init(orders: [ValueOrder], mark: ChurnMark? = nil, asOf day: BusinessDay, _ clock: ValueClock = .utc) {
        self.asOf = day
        self.clock = clock
        self.mark = mark.flatMap { $0.day <= day ? $0 : nil }
        for counted in Self.counted(orders, asOf: day, clock) {
            let (order, ordered, refunded, net) = (counted.order, counted.date, counted.refunded, counted.net)
            self.orders += 1
            self.first = min(self.first ?? ordered, ordered)
            self.last = max(self.last ?? ordered, ordered)
            var sums = self.byCurrency[order.currency] ?? Sums()
            sums.orders += 1
            sums.gross += order.amount.units
            sums.refunds += refunded
            if let margin = order.margin, let total = sums.margin {
                let share = order.amount.units == 0 ? margin : Self.divided(margin * net, by: order.amount.units)
                sums.margin = total + share
            } else {
                sums.margin = nil
            }
            self.byCurrency[order.currency] = sums
        }
    }

    /// The status and, for a churned customer, the day it churned on.
    var status: (name: String, churnedOn: BusinessDay?) {
        guard let first = self.first, let last = self.last else { return ("prospect", nil) }
        if let mark = self.mark, last <= mark.day { return ("churned", mark.day) }
        let settings = self.clock.settings
        if self.asOf.days - last.days > settings.churnAfterDays {
            return ("churned", BusinessDay(days: last.days + Int64(settings.churnAfterDays) + 1))
        }
        if self.asOf.days - first.days <= settings.newCustomerDays { return ("new", nil) }
        if self.asOf.days - last.days <= settings.inactiveAfterDays { return ("active", nil) }
        return ("inactive", nil)
    }

    /// The value block as canonical JSON text, with the texts `rfm` and `predicted` in their places:
    /// written straight, members in key order, rather than built as a tree and serialized (it is part
    /// of every `customer.get`).
    func text(rfm: [UInt8], predicted: [UInt8]) -> [UInt8] {
        let (status, churnedOn) = self.status
        // Currency codes in UTF-8 order, as canonical JSON orders keys.
        let currencies = self.byCurrency.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        var out: [UInt8] = []
        out.reserveCapacity(512 + rfm.count + predicted.count)
        func raw(_ text: StaticString) {
            out.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
        }
        func string(_ text: String?) {
            if let text { JSON.writeString(text, into: &out) } else { raw("null") }
        }
        func money(_ pick: (Sums) -> Int128?) {
            raw("{")
            for (index, currency) in currencies.enumerated() {
                if index > 0 { raw(",") }
                JSON.writeString(currency, into: &out)
                raw(":")
                string(self.byCurrency[currency].flatMap(pick).map(Self.format))
            }
            raw("}")
        }
        raw(#"{"aov":"#)
        money { Self.divided($0.gross - $0.refunds, by: Int128($0.orders), toUnits: 1_000_000) }
        raw(#","as_of_date":"#)
        string(self.asOf.text)
        raw(#","churn":{"churned":"#)
        raw(status == "churned" ? "true" : "false")
        raw(#","churned_on":"#)
        string(churnedOn?.text)
        raw(#","marked":"#)
        raw(self.mark != nil ? "true" : "false")
        raw(#"},"clv_historical":"#)
        money { $0.gross - $0.refunds }
        raw(#","first_order_date":"#)
        string(self.first?.text)
        raw(#","gross":"#)
        money(\.gross)
        raw(#","last_order_date":"#)
        string(self.last?.text)
        raw(#","margin":"#)
        money(\.margin)
        raw(#","orders":"#)
        JSON.writeInt(Int64(self.orders), into: &out)
        raw(#","predicted":"#)
        out.append(contentsOf: predicted)
        raw(#","refunds":"#)
        money(\.refunds)
        raw(#","revenue":"#)
        money { $0.gross - $0.refunds }
        raw(#","rfm":"#)
        out.append(contentsOf: rfm)
        raw(#","status":"#)
        string(status)
        raw("}")
        return out
    }

    /// `value ÷ divisor` rounded half to even to a multiple of `toUnits` (10⁻⁸ units: 1 keeps every
    /// place, 1,000,000 rounds to the cent).
    static func divided(_ value: Int128, by divisor: Int128, toUnits step: Int128 = 1) -> Int128 {
        let scaled = divisor * step
        var quotient = value / scaled
        let remainder = value % scaled
        let twice = 2 * (remainder < 0 ? -remainder : remainder)
        if twice > scaled || (twice == scaled && quotient % 2 != 0) { quotient += value < 0 ? -1 : 1 }
        return quotient * step
    }

    /// A sum of money in 10⁻⁸ units with at least two decimals (`1320.00`, `12.3456`, `-5.50`), written
    /// digit by digit (reports format one per buyer).
    static func format(_ units: Int128) -> String {
        let negative = units < 0
        let magnitude = negative ? -units : units
        // Least significant digit first: 8 decimals, then at least one integer digit.
        var digits: [UInt8] = []
        digits.reserveCapacity(24)
        if magnitude <= Int128(UInt64.max) {
            var rest = UInt64(magnitude)
            repeat {
                digits.append(UInt8(rest % 10))
                rest /= 10
            } while rest > 0
        } else {
            var rest = magnitude
            repeat {
                digits.append(UInt8(rest % 10))
                rest /= 10
            } while rest > 0
        }
        while digits.count < 9 { digits.append(0) }
        var dropped = 0
        while dropped < 6, digits[dropped] == 0 { dropped += 1 }
        var text: [UInt8] = negative ? [0x2D] : []
        text.reserveCapacity(digits.count + 2)
        for index in stride(from: digits.count - 1, through: 8, by: -1) { text.append(0x30 + digits[index]) }
        text.append(0x2E)
        for index in stride(from: 7, through: dropped, by: -1) { text.append(0x30 + digits[index]) }
        return String(decoding: text, as: UTF8.self)
    }
}

/// A customer's churn mark: the business date it counts as churned from, and why.
struct ChurnMark: Sendable, Hashable {
    var day: BusinessDay
    var reason: String?

    func encoded() -> [UInt8] {
        var row = BinaryRowWriter(capacity: 24)
        row.byte(1)
        row.int(self.day.days)
        row.optionalString(self.reason)
        return row.bytes
    }

    init(day: BusinessDay, reason: String?) {
        self.day = day
        self.reason = reason
    }

    init(decoding bytes: [UInt8]) throws(StateDecodingError) {
        var row = BinaryRowReader(bytes, what: "churn mark")
        try row.format(1)
        self.day = BusinessDay(days: try row.int())
        self.reason = try row.optionalString()
        try row.finish()
    }
}

/// A customer (not merged) of the value read model with its orders and churn mark.
struct ValueCustomer {
    var id: String
    var orders: [ValueOrder]
    var mark: ChurnMark?
}

/// The value settings at work in a query: the status thresholds, and the reporting time zone that
/// turns instants into business dates (UTC needs no zone arithmetic).
struct ValueClock: Sendable {
    let settings: ValueSettings
    private let zone: TimeZone?

    init(_ settings: ValueSettings) {
        self.settings = settings
        self.zone = settings.reportingTimezone == "UTC" ? nil : TimeZone(identifier: settings.reportingTimezone)
    }

    /// The defaults: UTC, 90/90/180 days, a 365-day RFM window.
    static let utc = ValueClock(ValueSettings())

    /// The business date of the instant `millis`.
    func day(_ millis: Int64) -> BusinessDay {
        guard let zone = self.zone else { return BusinessDay(instant: millis) }
        let offset = Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(millis) / 1000)))
        return BusinessDay(instant: millis + offset * 1000)
    }

    /// Today's business date, by the daemon's clock.
    func today() -> BusinessDay { self.day(Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))) }

    /// The settings as every value report echoes them.
    var json: JSON {
        [
            "reporting_timezone": .string(self.settings.reportingTimezone),
            "reporting_currency": .string(self.settings.reportingCurrency),
            "new_customer_days": .int(Int64(self.settings.newCustomerDays)),
            "inactive_after_days": .int(Int64(self.settings.inactiveAfterDays)),
            "churn_after_days": .int(Int64(self.settings.churnAfterDays)),
            "rfm_window_days": .int(Int64(self.settings.rfmWindowDays)),
        ]
    }
}
