import Testing

@testable import CRMProjections

/// The activity counts of a profile's stats: a dictionary's behaviour on a list kept in type order.
@Suite struct ActivityCountsTests {
    @Test func countsStayInTypeOrderWhateverOrderTheyAreSetIn() {
        var counts: ActivityCounts = ["task": 1, "call": 2]
        counts["webinar"] = 3
        counts["email", default: 0] += 4
        counts["call", default: 0] += 1
        #expect(counts.map(\.type) == ["call", "email", "task", "webinar"])
        #expect(counts.map(\.count) == [3, 4, 1, 3])
        #expect(counts["meeting"] == nil && counts["meeting", default: 7] == 7)
        counts["task"] = nil
        counts["absent"] = nil
        #expect(counts.count == 3 && counts["task"] == nil)
        #expect(counts == ["webinar": 3, "call": 3, "email": 4])
        #expect(counts.mapValues { $0 * 2 } == ["call": 6, "email": 8, "webinar": 6])
    }

    @Test func mergingAddsTheCountsOfTypesBothHave() {
        var counts: ActivityCounts = ["call": 1, "note": 2]
        counts.merge(["note": 5, "demo": 1], uniquingKeysWith: +)
        #expect(counts == ["call": 1, "demo": 1, "note": 7])
        #expect(ProfileStats.initialActivityCounts.map(\.type) == ProfileStats.activityTypes.sorted())
    }

    @Test func theStatsRowListsTheTypesInOrder() throws {
        var stats = ProfileStats()
        stats.activityCounts = ["zeta": 1, "alpha": -2]
        let decoded = try ProfileStats(decoding: stats.encoded(), what: "stats")
        #expect(decoded == stats)
        #expect(decoded.activityCounts.map(\.type) == ["alpha", "zeta"])
    }
}
