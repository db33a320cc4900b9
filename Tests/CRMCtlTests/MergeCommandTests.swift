import ArgumentParser
import CRMJSON
import Testing

@testable import CRMCtl

/// `crmctl customer merge`: arguments and flags → params, refusals before anything is sent, and the
/// line it prints.
@Suite struct MergeCommandTests {
    @Test func mergeMapsItsArgumentsAndFlags() throws {
        let merge = try request([
            "customer", "merge", "c1", "c2", "c3", "--resolve", "last_name=c3", "--resolve", "custom.plan=c2",
            "--expect", "c1=4", "--expect", "c2=0",
        ])
        #expect(merge.method == "customer.merge")
        #expect(
            merge.params
                == [
                    "primary_id": "c1", "secondary_ids": ["c2", "c3"],
                    "resolve": ["last_name": "c3", "custom.plan": "c2"], "expected_versions": ["c1": 4, "c2": 0],
                ]
        )
        #expect(
            try request(["customer", "merge", "c1", "c2"]).params == ["primary_id": "c1", "secondary_ids": ["c2"]])
    }

    @Test func badArgumentsAreRefusedBeforeAnythingIsSent() throws {
        #expect(throws: (any Error).self) { try CRMCtl.parseAsRoot(["customer", "merge", "c1"]) }
        for bad in [["--resolve", "last_name"], ["--resolve", "=c2"], ["--expect", "c2=x"], ["--expect", "c2=-1"]] {
            #expect(throws: (any Error).self, "\(bad)") { try request(["customer", "merge", "c1", "c2"] + bad) }
        }
    }

    @Test func theReplySaysWhoSurvives() throws {
        let parsed = try CRMCtl.parseAsRoot(["customer", "merge", "c1", "c2", "c3"])
        let merge = try #require(parsed as? CRMCtl.Customer.Merge)
        let reply: JSON = ["customer_id": "c1", "position": 12, "events": [["seq": 11], ["seq": 12]]]
        #expect(
            merge.render(reply)
                == "customer c1 merged (position 12, 2 events)\nc2, c3 now point at c1 (customer_merged)"
        )
    }
}
