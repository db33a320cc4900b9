public import CRMDomain
import CRMEventStore
import CRMJSON

extension Params {
    /// An `amount` member: a decimal string or number ≥ 0, else `invalid_field`.
    public mutating func money(_ key: String) throws(Rejection) -> MoneyAmount? {
        guard let value = try self.raw(key) else { return nil }
        guard let amount = MoneyAmount(json: value) else {
            throw Rejection.invalid(
                self.fieldPath(key),
                "must be a decimal string or number ≥ 0 with at most \(MoneyAmount.maximumIntegerDigits) digits "
                    + "before and \(MoneyAmount.scale) after the point"
            )
        }
        return amount
    }

    /// A `currency` member: an ISO-4217 code, 3 upper-case letters, else `invalid_field`.
    public mutating func currency(_ key: String) throws(Rejection) -> String? {
        guard let text = try self.string(key) else { return nil }
        guard text.utf8.count == 3, text.utf8.allSatisfy({ $0 >= 0x41 && $0 <= 0x5A }) else {
            throw Rejection.invalid(self.fieldPath(key), "must be an ISO-4217 code of 3 upper-case letters")
        }
        return text
    }

    /// A `probability` member: an integer 0–100, else `invalid_field`.
    public mutating func probability(_ key: String) throws(Rejection) -> Int? {
        guard let value = try self.raw(key) else { return nil }
        guard let number = value.intValue, value.doubleValue == Double(number), (0...100).contains(number) else {
            throw Rejection.invalid(self.fieldPath(key), "must be an integer from 0 to 100")
        }
        return Int(number)
    }

    /// A date member (`close_date`, `as_of_date`, …): an ISO date `YYYY-MM-DD`, else `invalid_field`.
    public mutating func date(_ key: String, required: Bool = false) throws(Rejection) -> String? {
        guard let text = try self.string(key, required: required) else { return nil }
        guard Timestamp.parseDate(text) != nil else {
            throw Rejection.invalid(self.fieldPath(key), "must be a date YYYY-MM-DD")
        }
        return text
    }
}
