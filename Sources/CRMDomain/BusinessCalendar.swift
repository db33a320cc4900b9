import Foundation

/// A business-hours schedule: an IANA time zone, weekly open intervals that do
/// not cross midnight, and full-day holidays. All instants are UTC milliseconds.
///
/// Local wall times become instants in the schedule's zone. A local time that does not exist (spring
/// forward) maps to the next valid instant; an ambiguous one (fall back) maps to the earlier instant.
public struct BusinessSchedule: Sendable, Hashable {
    /// One open interval of a weekday, in minutes after local midnight (`end` may be 1440, i.e. `24:00`).
    public struct Interval: Sendable, Hashable {
        /// Minutes after local midnight when the interval opens.
        public var start: Int
        /// Minutes after local midnight when it closes (1440 = `24:00`).
        public var end: Int

        /// An interval `[start, end)` in minutes after midnight.
        public init(start: Int, end: Int) {
            self.start = start
            self.end = end
        }
    }

    /// The weekday keys, Monday first.
    public static let weekdays = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    /// How far ``addBusiness(_:_:)`` walks before giving up (400 days).
    public static let walkLimitMillis: Int64 = 400 * 86_400_000

    /// The schedule id.
    public var scheduleID: String
    /// The definition version (from 1).
    public var version: Int64
    /// Display name.
    public var name: String
    /// IANA zone identifier.
    public var timezone: String
    /// Open intervals per weekday (index 0 = Monday), sorted and disjoint.
    public var hours: [[Interval]]
    /// Holidays as days since 1970-01-01 (local dates), with their names.
    public var holidays: [Int: String]
    private let zone: TimeZone

    /// A schedule; `nil` when `timezone` does not resolve.
    public init?(
        scheduleID: String,
        version: Int64,
        name: String,
        timezone: String,
        hours: [[Interval]],
        holidays: [Int: String]
    ) {
        guard let zone = TimeZone(identifier: timezone), hours.count == 7 else { return nil }
        self.scheduleID = scheduleID
        self.version = version
        self.name = name
        self.timezone = timezone
        self.hours = hours
        self.holidays = holidays
        self.zone = zone
    }

    /// Equal when every defining field is equal.
    public static func == (lhs: BusinessSchedule, rhs: BusinessSchedule) -> Bool {
        lhs.scheduleID == rhs.scheduleID && lhs.version == rhs.version && lhs.name == rhs.name
            && lhs.timezone == rhs.timezone && lhs.hours == rhs.hours && lhs.holidays == rhs.holidays
    }

    /// Hashes the identity fields.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.scheduleID)
        hasher.combine(self.version)
        hasher.combine(self.timezone)
    }

    // MARK: - Binary row

    /// Format of the binary row; bump it with the decision state's version.
    static let rowFormat: UInt8 = 1

    /// The compact binary row stored in the `schedules` table: per weekday its intervals in minutes,
    /// then the holidays by day.
    public func encoded() -> [UInt8] {
        var row = BinaryRowWriter(capacity: 96)
        row.byte(BusinessSchedule.rowFormat)
        self.write(to: &row)
        return row.bytes
    }

    /// Appends the schedule's fields to `row` (the layout of ``encoded()`` after its format byte), for
    /// rows that embed a schedule.
    public func write(to row: inout BinaryRowWriter) {
        row.string(self.scheduleID)
        row.int(self.version)
        row.string(self.name)
        row.string(self.timezone)
        for day in self.hours {
            row.count(day.count)
            for interval in day {
                row.int(Int64(interval.start))
                row.int(Int64(interval.end))
            }
        }
        row.count(self.holidays.count)
        for day in self.holidays.keys.sorted() {
            row.int(Int64(day))
            row.string(self.holidays[day]!)
        }
    }

    /// Decodes a row written by ``encoded()``.
    public init(decoding bytes: [UInt8]) throws(StateDecodingError) {
        var row = BinaryRowReader(bytes, what: "schedule record")
        try row.format(BusinessSchedule.rowFormat)
        try self.init(reading: &row)
        try row.finish()
    }

    /// Reads the fields ``write(to:)`` appended; an unknown time zone is a storage error.
    public init(reading row: inout BinaryRowReader) throws(StateDecodingError) {
        let scheduleID = try row.string()
        let version = try row.int()
        let name = try row.string()
        let timezone = try row.string()
        var hours: [[Interval]] = []
        for _ in 0..<7 {
            var day: [Interval] = []
            for _ in 0..<(try row.count()) {
                day.append(Interval(start: Int(try row.int()), end: Int(try row.int())))
            }
            hours.append(day)
        }
        var holidays: [Int: String] = [:]
        for _ in 0..<(try row.count()) {
            let day = Int(try row.int())
            holidays[day] = try row.string()
        }
        guard
            let schedule = BusinessSchedule(
                scheduleID: scheduleID,
                version: version,
                name: name,
                timezone: timezone,
                hours: hours,
                holidays: holidays
            )
        else { throw StateDecodingError("stored schedule record \(scheduleID) has an unknown time zone \(timezone)") }
        self = schedule
    }

    /// Parses `HH:MM` (00:00 … 24:00) into minutes after midnight.
    public static func parseClock(_ text: String) -> Int? {
        let bytes = Array(text.utf8)
        guard bytes.count == 5, bytes[2] == UInt8(ascii: ":") else { return nil }
        let digits = [bytes[0], bytes[1], bytes[3], bytes[4]]
        guard digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        let hour = Int(digits[0] - 0x30) * 10 + Int(digits[1] - 0x30)
        let minute = Int(digits[2] - 0x30) * 10 + Int(digits[3] - 0x30)
        guard minute < 60, hour < 24 || (hour == 24 && minute == 0) else { return nil }
        return hour * 60 + minute
    }

    /// Formats minutes after midnight as `HH:MM`.
    public static func clock(_ minutes: Int) -> String {
        let hour = minutes / 60
        let minute = minutes % 60
        return (hour < 10 ? "0" : "") + "\(hour):" + (minute < 10 ? "0" : "") + "\(minute)"
    }

    /// Formats days since 1970-01-01 as `YYYY-MM-DD`.
    public static func date(_ days: Int) -> String {
        String(Timestamp.format(Int64(days) * 86_400_000).prefix(10))
    }

    // MARK: - Time zone arithmetic

    /// The zone's offset from UTC at `millis`, in seconds.
    func offsetSeconds(at millis: Int64) -> Int64 {
        Int64(self.zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(millis) / 1000)))
    }

    /// The local date (days since 1970-01-01) of an instant.
    public func localDay(_ millis: Int64) -> Int {
        let local = millis / 1000 + self.offsetSeconds(at: millis)
        return Int(local >= 0 ? local / 86_400 : (local - 86_399) / 86_400)
    }

    /// The instant of local wall time `minutes` after midnight of local date `day` (minutes may reach
    /// 1440). Non-existent times map to the next valid instant, ambiguous ones to the earlier instant.
    public func instant(day: Int, minutes: Int) -> Int64 {
        let local = Int64(day) * 86_400 + Int64(minutes) * 60
        let before = self.offsetSeconds(at: (local - 86_400) * 1000)
        let after = self.offsetSeconds(at: (local + 86_400) * 1000)
        let early = local - max(before, after)
        let late = local - min(before, after)
        var valid: [Int64] = []
        for candidate in [early, late] where self.offsetSeconds(at: candidate * 1000) == local - candidate {
            valid.append(candidate)
        }
        if let first = valid.min() { return first * 1000 }
        // In a gap: the next valid instant is the transition itself, between the two candidates.
        var low = early
        var high = late
        let lowOffset = self.offsetSeconds(at: low * 1000)
        while high - low > 1 {
            let middle = low + (high - low) / 2
            if self.offsetSeconds(at: middle * 1000) == lowOffset { low = middle } else { high = middle }
        }
        return high * 1000
    }

    // MARK: - Business time

    /// The open intervals intersecting `[from, to)`, clipped, merged and sorted.
    public func openIntervals(from: Int64, to: Int64) -> [(Int64, Int64)] {
        guard from < to else { return [] }
        var raw: [(Int64, Int64)] = []
        let first = self.localDay(from) - 1
        let last = self.localDay(to) + 1
        var day = first
        while day <= last {
            defer { day += 1 }
            if self.holidays[day] != nil { continue }
            let weekday = ((day + 3) % 7 + 7) % 7
            for interval in self.hours[weekday] {
                let start = self.instant(day: day, minutes: interval.start)
                let end = self.instant(day: day, minutes: interval.end)
                let clippedStart = max(start, from)
                let clippedEnd = min(end, to)
                if clippedStart < clippedEnd { raw.append((clippedStart, clippedEnd)) }
            }
        }
        raw.sort { $0.0 < $1.0 }
        var merged: [(Int64, Int64)] = []
        for interval in raw {
            if let lastInterval = merged.last, interval.0 <= lastInterval.1 {
                merged[merged.count - 1].1 = max(lastInterval.1, interval.1)
            } else {
                merged.append(interval)
            }
        }
        return merged
    }

    /// Business milliseconds in `[from, to)`.
    public func elapsed(from: Int64, to: Int64) -> Int64 {
        self.openIntervals(from: from, to: to).reduce(0) { $0 + ($1.1 - $1.0) }
    }

    /// The instant at which `amount` business milliseconds after `start` have passed, or `nil` when
    /// the schedule does not provide them within 400 days (`schedule_unreachable`).
    public func addBusiness(_ start: Int64, _ amount: Int64) -> Int64? {
        var remaining = amount
        if remaining <= 0 { return start }
        var chunkStart = start
        let week: Int64 = 7 * 86_400_000
        while chunkStart - start < BusinessSchedule.walkLimitMillis {
            let chunkEnd = chunkStart + week
            for (open, close) in self.openIntervals(from: chunkStart, to: chunkEnd) {
                let length = close - open
                if remaining <= length { return open + remaining }
                remaining -= length
            }
            chunkStart = chunkEnd
        }
        return nil
    }
}

/// Set operations on sorted, disjoint half-open intervals of UTC milliseconds.
public enum IntervalMath {
    /// The intersection of two sorted, disjoint interval lists.
    public static func intersect(_ a: [(Int64, Int64)], _ b: [(Int64, Int64)]) -> [(Int64, Int64)] {
        var result: [(Int64, Int64)] = []
        var i = 0
        var j = 0
        while i < a.count, j < b.count {
            let start = max(a[i].0, b[j].0)
            let end = min(a[i].1, b[j].1)
            if start < end { result.append((start, end)) }
            if a[i].1 < b[j].1 { i += 1 } else { j += 1 }
        }
        return result
    }

    /// Total length of a list of intervals.
    public static func length(_ intervals: [(Int64, Int64)]) -> Int64 {
        intervals.reduce(0) { $0 + ($1.1 - $1.0) }
    }

    /// The instant at which `amount` milliseconds of `intervals` have passed, or `nil`.
    public static func reach(_ intervals: [(Int64, Int64)], _ amount: Int64) -> Int64? {
        var remaining = amount
        for (start, end) in intervals {
            if remaining <= end - start { return start + remaining }
            remaining -= end - start
        }
        return nil
    }
}
