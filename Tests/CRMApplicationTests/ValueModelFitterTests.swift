import CRMDomain
import CRMJSON
import Testing

@testable import CRMApplication

/// One fit at a time: a second while one runs is refused (`fit_failed`, reason `busy`), and the
/// running one shows in `system.stats` until it ends.
@Suite struct ValueModelFitterTests {
    @Test func aSecondFitWhileOneRunsIsBusy() throws {
        let fitter = ValueModelFitter()
        let request = ValueFitRequest(
            modelID: "m1", currency: "EUR", asOfDate: "2025-06-30", firstOrderFrom: nil, firstOrderTo: nil, penalizer: 0
        )
        #expect(fitter.progress == .null)
        #expect(try fitter.begin(request) == "m1")
        #expect(fitter.progress["model_id"] == "m1" && fitter.progress["phase"] == "reading orders")
        var other = request
        other.modelID = nil
        do {
            _ = try fitter.begin(other)
            Issue.record("a second fit started")
        } catch {
            #expect(error.reason == .fitFailed && error.details?["reason"] == "busy")
            #expect(error.details?["running"] == "m1")
        }
        fitter.end()
        #expect(fitter.progress == .null)
        #expect(try fitter.begin(other).isEmpty == false, "a generated id once the first has ended")
    }
}
