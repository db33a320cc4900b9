public import CRMDomain
import CRMEventStore
public import CRMJSON
public import CRMParams
import Foundation

extension DefineSchedule {
    /// Parses and validates the params: `invalid_timezone`, `invalid_hours`, `empty_schedule`,
    /// `invalid_holiday`.
    public init(params: inout Params) throws(Rejection) {
        let schedule: BusinessSchedule
        let id = try params.identifier("schedule_id", required: true)!
        let name = try CustomerInput.text(&params, "name", limit: CustomerInput.longTextLimit)
        guard let name else { throw Rejection.missing("name") }
        let timezone = try params.string("timezone", required: true)!
        guard !timezone.isEmpty, TimeZone(identifier: timezone) != nil else {
            throw Rejection(
                .invalidTimezone,
                field: "timezone",
                "\"\(timezone)\" is not an IANA time zone",
                details: ["timezone": .string(timezone)]
            )
        }
        let hours = try DefineSchedule.hours(try params.raw("hours", required: true)!)
        let holidays = try DefineSchedule.holidays(try params.raw("holidays"))
        try params.finish()
        schedule = BusinessSchedule(
            scheduleID: id,
            version: 0,
            name: name,
            timezone: timezone,
            hours: hours,
            holidays: holidays
        )!
        self.init(schedule: schedule)
    }
}

extension DefineSchedule {
    /// Parses the weekly hours: `{"mon":[["09:00","17:00"],…],…}`.
    public static func hours(_ json: JSON) throws(Rejection) -> [[BusinessSchedule.Interval]] {
        guard case .object(let members) = json else {
            throw Rejection(.invalidHours, field: "hours", "expected an object of weekdays, got \(json.typeName)")
        }
        var hours: [[BusinessSchedule.Interval]] = Array(repeating: [], count: 7)
        for key in members.keys.sorted() {
            let field = "hours.\(key)"
            guard let index = BusinessSchedule.weekdays.firstIndex(of: key) else {
                throw Rejection(.invalidHours, field: field, "weekdays are mon, tue, wed, thu, fri, sat, sun")
            }
            let value = members[key]!
            if value.isNull { continue }
            guard case .array(let pairs) = value else {
                throw Rejection(.invalidHours, field: field, "expected an array of [start, end] pairs")
            }
            var previousEnd = -1
            for (position, pair) in pairs.enumerated() {
                let pairField = "\(field)[\(position)]"
                guard case .array(let ends) = pair, ends.count == 2, let startText = ends[0].stringValue,
                    let endText = ends[1].stringValue
                else { throw Rejection(.invalidHours, field: pairField, "expected [\"HH:MM\", \"HH:MM\"]") }
                guard let start = BusinessSchedule.parseClock(startText), let end = BusinessSchedule.parseClock(endText)
                else {
                    throw Rejection(.invalidHours, field: pairField, "times are HH:MM between 00:00 and 24:00")
                }
                guard start < end else {
                    throw Rejection(
                        .invalidHours,
                        field: pairField,
                        "an interval must start before it ends and cannot span calendar days"
                    )
                }
                guard start >= previousEnd else {
                    throw Rejection(.invalidHours, field: pairField, "intervals must be sorted and must not overlap")
                }
                previousEnd = end
                hours[index].append(BusinessSchedule.Interval(start: start, end: end))
            }
        }
        guard hours.contains(where: { !$0.isEmpty }) else {
            throw Rejection(.emptySchedule, field: "hours", "a schedule needs at least one open interval")
        }
        return hours
    }

    /// Parses the holidays: `[{"date":"YYYY-MM-DD","name":…}]` (a bare date string is accepted too).
    public static func holidays(_ json: JSON?) throws(Rejection) -> [Int: String] {
        guard let json else { return [:] }
        guard case .array(let entries) = json else {
            throw Rejection(.invalidHoliday, field: "holidays", "expected an array, got \(json.typeName)")
        }
        var holidays: [Int: String] = [:]
        for (index, entry) in entries.enumerated() {
            let field = "holidays[\(index)]"
            let dateText: String?
            var name = ""
            switch entry {
            case .string(let text):
                dateText = text
            case .object(let members):
                dateText = members["date"]?.stringValue
                guard members.keys.allSatisfy({ $0 == "date" || $0 == "name" }) else {
                    throw Rejection(.invalidHoliday, field: field, "a holiday has only date and name")
                }
                if let given = members["name"], !given.isNull {
                    guard let text = given.stringValue, text.count <= CustomerInput.longTextLimit else {
                        throw Rejection(
                            .invalidHoliday,
                            field: "\(field).name",
                            "expected a string of ≤ 255 characters"
                        )
                    }
                    name = text
                }
            default:
                dateText = nil
            }
            guard let dateText, let day = Timestamp.parseDate(dateText) else {
                throw Rejection(.invalidHoliday, field: "\(field).date", "expected an ISO date YYYY-MM-DD")
            }
            guard holidays[day] == nil else {
                throw Rejection(.invalidHoliday, field: "\(field).date", "\(dateText) is listed twice")
            }
            holidays[day] = name
        }
        return holidays
    }
}
