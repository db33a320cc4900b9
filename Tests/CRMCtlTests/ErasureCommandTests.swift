import ArgumentParser
import CRMJSON
import Testing

@testable import CRMCtl

/// `crmctl customer erase`, `legal-hold` and `erasure-status`: flags → params, and the status drawn
/// for people.
@Suite struct ErasureCommandTests {
    @Test func eraseAndLegalHoldMapTheirFlags() throws {
        let erase = try request([
            "customer", "erase", "c7", "--reason", "art17_1a", "--request-ref", "DSR-42", "--requested-at",
            "2026-11-30T09:00:00Z",
        ])
        #expect(erase.method == "customer.erase")
        #expect(
            erase.params
                == [
                    "customer_id": "c7", "reason": "art17_1a", "request_ref": "DSR-42",
                    "requested_at": "2026-11-30T09:00:00Z",
                ]
        )
        let hold = try request(["customer", "legal-hold", "c7", "--on", "--reason", "case 12"])
        #expect(hold.method == "customer.set_legal_hold")
        #expect(hold.params == ["customer_id": "c7", "on": true, "reason": "case 12"])
        #expect(try request(["customer", "legal-hold", "c7", "--off"]).params == ["customer_id": "c7", "on": false])
        #expect(throws: (any Error).self) { try CRMCtl.parseAsRoot(["customer", "legal-hold", "c7"]) }
        #expect(throws: (any Error).self) { try CRMCtl.parseAsRoot(["customer", "legal-hold", "c7", "--on", "--off"]) }
        let status = try request(["customer", "erasure-status", "c7"])
        #expect(status.method == "customer.erasure_status")
        #expect(status.params == ["customer_id": "c7"])
    }

    @Test func theStatusShowsEachStepAndEachKey() {
        let status: JSON = [
            "customer_id": "c7", "state": "erased", "legal_hold": false, "erased_seq": 14,
            "erased_at": "2026-12-01T10:00:00.000Z",
            "keys": [["kid": "c:c7", "deleted_at": "2026-12-01T10:00:00.010Z"], ["kid": "a:a2", "deleted_at": nil]],
            "keys_deleted_at": nil, "kek_rotated_at": nil, "complete": false,
        ]
        #expect(
            Output.erasureStatus(status).split(separator: "\n", omittingEmptySubsequences: false).map(String.init) == [
                "customer:     c7",
                "erased:       position 14 at 2026-12-01T10:00:00.000Z",
                "keys deleted: -",
                "kek replaced: -",
                "complete:     not yet",
                "",
                "KEY   DELETED",
                "c:c7  2026-12-01T10:00:00.010Z",
                "a:a2  still held",
            ]
        )
        #expect(
            Output.erasureStatus(["customer_id": "c1", "erased_seq": nil, "legal_hold": true])
                == "customer c1 is not erased (under legal hold)"
        )
    }
}
