import CRMDomain
import Testing

@testable import CRMProjections

/// The RFM score `1 + floor(5 × below / N)`, checked on seeded random data for its properties: scores
/// in 1…5, equal values with equal scores, monotone in the value, and exact quintiles when the N values
/// are distinct and 5 divides N.
@Suite struct RFMScoreTests {
    /// A small seeded generator (SplitMix64), so every run checks the same data.
    struct Seeded {
        var state: UInt64
        mutating func next(_ bound: Int) -> Int {
            self.state &+= 0x9E37_79B9_7F4A_7C15
            var z = self.state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Int((z ^ (z >> 31)) % UInt64(bound))
        }
    }

    @Test(arguments: [1, 2, 7, 50, 333])
    func scoresAreBoundedTiedAndMonotone(seed: Int) {
        var random = Seeded(state: UInt64(seed))
        for _ in 0..<20 {
            let n = 1 + random.next(120)
            let values = (0..<n).map { _ in random.next(1 + random.next(40)) }
            for higherIsBetter in [true, false] {
                let scores = RFM.scores(values, higherIsBetter: higherIsBetter)
                #expect(scores.allSatisfy { (1...5).contains($0) })
                for i in values.indices {
                    for j in values.indices where values[i] == values[j] { #expect(scores[i] == scores[j]) }
                    for j in values.indices where values[i] < values[j] {
                        if higherIsBetter { #expect(scores[i] <= scores[j]) } else { #expect(scores[i] >= scores[j]) }
                    }
                }
            }
        }
    }

    @Test(arguments: [5, 10, 35, 100])
    func distinctValuesFillExactQuintiles(n: Int) {
        var random = Seeded(state: UInt64(n))
        var values = Array(0..<n)
        for index in values.indices.reversed() { values.swapAt(index, random.next(index + 1)) }
        for higherIsBetter in [true, false] {
            let scores = RFM.scores(values, higherIsBetter: higherIsBetter)
            for score in 1...5 { #expect(scores.filter { $0 == score }.count == n / 5) }
        }
    }

    @Test func theGridCoversEveryCellOnce() {
        for r in 1...5 {
            for f in 1...5 {
                #expect(RfmRule.defaults.filter { $0.r.contains(r) && $0.f.contains(f) }.count == 1, "R\(r) F\(f)")
            }
        }
        #expect(RfmRule.segment(RfmRule.defaults, r: 5, f: 1, m: 3) == "new_customers")
        #expect(RfmRule.segment(RfmRule.defaults, r: 3, f: 3, m: nil) == "need_attention")
        #expect(RfmRule.segment([RfmRule(name: "top", r: 5...5, f: 5...5)], r: 1, f: 1, m: 1) == "other")
    }
}
