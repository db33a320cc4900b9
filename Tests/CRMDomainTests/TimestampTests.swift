import CRMDomain
import CRMTesting
import Testing

/// RFC 3339 times as crmd writes and reads them (UTC, milliseconds).
@Suite struct TimestampTests {
    @Test(arguments: [
        (Int64(0), "1970-01-01T00:00:00.000Z"),
        (-1, "1969-12-31T23:59:59.999Z"),
        (1_700_000_000_123, "2023-11-14T22:13:20.123Z"),
        (951_782_400_000, "2000-02-29T00:00:00.000Z"),
        (253_402_300_799_999, "9999-12-31T23:59:59.999Z"),
        (253_402_300_800_000, "10000-01-01T00:00:00.000Z"),
        (-62_135_596_800_000, "0001-01-01T00:00:00.000Z"),
    ])
    func formatsUTCWithMilliseconds(_ millis: Int64, _ text: String) {
        #expect(Timestamp.format(millis) == text)
        var quoted: [UInt8] = Array("x".utf8)
        Timestamp.writeQuoted(millis, into: &quoted)
        #expect(String(decoding: quoted, as: UTF8.self) == "x\"\(text)\"")
    }

    @Test func parsingWhatIsFormattedGivesTheSameInstant() {
        var generator = SeededGenerator(seed: 7)
        for _ in 0..<2000 {
            // Between 1900 and 2200.
            let millis = Int64.random(in: -2_208_988_800_000..<7_258_118_400_000, using: &generator)
            #expect(Timestamp.parse(Timestamp.format(millis)) == millis)
        }
    }
}
