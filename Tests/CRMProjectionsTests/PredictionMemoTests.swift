import CRMJSON
import Testing

@testable import CRMProjections

/// `customer.get`'s predictions are kept by the stored model row (its bytes), the currency and the
/// customer's inputs: another model or other inputs never get a kept block.
@Suite struct PredictionMemoTests {
    let inputs = ModelInputs(x: 2, tx: 10, T: 30, mean: 42.5)

    @Test func aBlockIsKeptForItsModelRowCurrencyAndInputsOnly() {
        let memo = PredictionMemo()
        let key = PredictionMemo.Key(model: [1, 2, 3], currency: "EUR", inputs: self.inputs)
        memo[key] = ["p_alive": "0.9000"]
        #expect(memo[key] == ["p_alive": "0.9000"])
        #expect(memo[PredictionMemo.Key(model: [1, 2, 4], currency: "EUR", inputs: self.inputs)] == nil)
        #expect(memo[PredictionMemo.Key(model: [1, 2, 3], currency: "USD", inputs: self.inputs)] == nil)
        var later = self.inputs
        later.T += 1
        #expect(memo[PredictionMemo.Key(model: [1, 2, 3], currency: "EUR", inputs: later)] == nil)
    }

    @Test func aFullMemoStartsAgainEmpty() {
        let memo = PredictionMemo()
        func key(_ number: Int) -> PredictionMemo.Key {
            PredictionMemo.Key(
                model: [0],
                currency: "EUR",
                inputs: ModelInputs(x: Double(number), tx: 0, T: 1, mean: 0)
            )
        }
        for number in 0..<PredictionMemo.limit { memo[key(number)] = .int(Int64(number)) }
        #expect(memo[key(0)] == .int(0))
        memo[key(PredictionMemo.limit)] = .null
        #expect(memo[key(0)] == nil)
        #expect(memo[key(PredictionMemo.limit)] == .null)
    }
}
