import CRMDomain
import CRMJSON
import CRMTesting
import Testing

/// Schedule math: open intervals, DST, holidays and `addBusiness`.
@Suite struct BusinessCalendarTests {
    static func ms(_ text: String) -> Int64 { Timestamp.parse(text)! }

    static func weekdays(_ intervals: [BusinessSchedule.Interval], weekend: Bool = false) -> [[BusinessSchedule
        .Interval]]
    {
        (0..<7).map { $0 < 5 || weekend ? intervals : [] }
    }

    /// Schedule `eu` of the SLA worked examples: Mon–Fri 09:00–17:00 Europe/Berlin, holidays 25+26 Dec 2025.
    static let eu = BusinessSchedule(
        scheduleID: "eu",
        version: 1,
        name: "EU",
        timezone: "Europe/Berlin",
        hours: weekdays([.init(start: 540, end: 1020)]),
        holidays: [Timestamp.parseDate("2025-12-25")!: "Christmas", Timestamp.parseDate("2025-12-26")!: "Boxing Day"]
    )!

    @Test func exampleAFridayToMonday() {
        let deadline = Self.eu.addBusiness(Self.ms("2025-03-07T15:30:00Z"), 60 * 60_000)
        #expect(deadline == Self.ms("2025-03-10T08:30:00Z"))
    }

    @Test func exampleBHolidaysAndWeekend() {
        let deadline = Self.eu.addBusiness(Self.ms("2025-12-24T16:00:00+01:00"), 120 * 60_000)
        #expect(deadline == Self.ms("2025-12-29T10:00:00+01:00"))
    }

    @Test func exampleCSpringForward() {
        let daily = BusinessSchedule(
            scheduleID: "d",
            version: 1,
            name: "Daily",
            timezone: "Europe/Berlin",
            hours: Self.weekdays([.init(start: 480, end: 1080)], weekend: true),
            holidays: [:]
        )!
        let start = Self.ms("2025-03-29T16:00:00Z")
        #expect(daily.addBusiness(start, 120 * 60_000) == Self.ms("2025-03-30T07:00:00Z"))
        #expect(daily.elapsed(from: start, to: Self.ms("2025-03-30T07:00:00Z")) == 120 * 60_000)
    }

    @Test func nonExistentLocalTimeMapsToTheTransition() {
        // 02:30 on 2025-03-30 does not exist in Berlin; the next valid instant is 03:00 CEST (01:00Z).
        let day = Timestamp.parseDate("2025-03-30")!
        #expect(Self.eu.instant(day: day, minutes: 150) == Self.ms("2025-03-30T01:00:00Z"))
        // 02:30 on 2025-10-26 happens twice; the earlier one (CEST, 00:30Z) is used.
        let fallBack = Timestamp.parseDate("2025-10-26")!
        #expect(Self.eu.instant(day: fallBack, minutes: 150) == Self.ms("2025-10-26T00:30:00Z"))
    }

    @Test func dayShortenedByDSTLosesAnHour() {
        let night = BusinessSchedule(
            scheduleID: "n",
            version: 1,
            name: "Night",
            timezone: "Europe/Berlin",
            hours: Self.weekdays([.init(start: 0, end: 360)], weekend: true),
            holidays: [:]
        )!
        let open = night.openIntervals(from: Self.ms("2025-03-29T22:00:00Z"), to: Self.ms("2025-03-30T12:00:00Z"))
        #expect(IntervalMath.length(open) == 5 * 3_600_000)
    }

    @Test func twentyFourHundredJoinsTheNextDay() {
        let allDay = BusinessSchedule(
            scheduleID: "a",
            version: 1,
            name: "All day",
            timezone: "UTC",
            hours: Self.weekdays([.init(start: 0, end: 1440)], weekend: true),
            holidays: [:]
        )!
        let open = allDay.openIntervals(from: Self.ms("2025-01-01T00:00:00Z"), to: Self.ms("2025-01-04T00:00:00Z"))
        #expect(open.count == 1)
        #expect(IntervalMath.length(open) == 3 * 86_400_000)
    }

    static func randomSchedule(_ random: inout SeededGenerator) -> BusinessSchedule {
        let zones = [
            "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "UTC", "Asia/Kolkata", "America/Sao_Paulo",
        ]
        var hours: [[BusinessSchedule.Interval]] = []
        for _ in 0..<7 {
            var day: [BusinessSchedule.Interval] = []
            var cursor = Int.random(in: 0...600, using: &random)
            for _ in 0..<Int.random(in: 0...3, using: &random) {
                let start = cursor + Int.random(in: 0...120, using: &random)
                let end = min(1440, start + Int.random(in: 15...600, using: &random))
                if start >= end { break }
                day.append(.init(start: start, end: end))
                cursor = end
                if end == 1440 { break }
            }
            hours.append(day)
        }
        if hours.allSatisfy(\.isEmpty) { hours[2] = [.init(start: 60, end: 180)] }
        var holidays: [Int: String] = [:]
        let base = Timestamp.parseDate("2025-01-01")!
        for _ in 0..<Int.random(in: 0...20, using: &random) {
            holidays[base + Int.random(in: 0...400, using: &random)] = "h"
        }
        return BusinessSchedule(
            scheduleID: "r",
            version: 1,
            name: "Random",
            timezone: zones[Int.random(in: 0..<zones.count, using: &random)],
            hours: hours,
            holidays: holidays
        )!
    }

    @Test func elapsedOfAddBusinessIsTheAmount() {
        var random = SeededGenerator(seed: 20_251_124)
        let base = Self.ms("2025-01-01T00:00:00Z")
        for index in 0..<300 {
            let schedule = Self.randomSchedule(&random)
            let start = base + Int64.random(in: 0...(365 * 86_400), using: &random) * 1000
            let amount = Int64.random(in: 0...(3 * 86_400), using: &random) * 1000
            guard let end = schedule.addBusiness(start, amount) else {
                Issue.record("case \(index): unreachable in \(schedule.timezone)")
                continue
            }
            #expect(end >= start)
            #expect(
                schedule.elapsed(from: start, to: end) == amount,
                "case \(index): \(schedule.timezone) start \(Timestamp.format(start)) amount \(amount)"
            )
        }
    }
}
