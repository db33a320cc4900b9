import CRMDomain
import CRMJSON
import CRMRPC
import Testing

/// `customer.erase` and `customer.set_legal_hold`, decided on typed values: given events, when the
/// command, then the events or the rejection.
@Suite struct EraseCustomerTests {
    /// A harness whose state stands for an encrypted log: keyed hashes are `h(<value>)`.
    func harness() throws -> Harness {
        let harness = Harness()
        harness.state.keyedHasher = { "h(\($0))" }
        try harness.given(CreateCustomer.self, adaParams("c1"))
        try harness.given(CreateCustomer.self, adaParams("c2", email: "two@example.com"))
        return harness
    }

    func erased(_ decision: Decision) throws -> CustomerErased {
        guard case .customer(.erased(let erased)) = try #require(decision.events.first).event else {
            Issue.record("not a CustomerErased event")
            throw Rejection(.internalError, "not erased")
        }
        return erased
    }

    @Test func erasingRecordsWhichFieldsKeyedHashesAndKeys() throws {
        let harness = try self.harness()
        let decision = try harness.when(
            EraseCustomer.self,
            ["customer_id": "c1", "reason": "art17_1a", "request_ref": "DSR-1", "requested_at": "2025-03-01T00:00:00Z"]
        )
        #expect(decision.events.count == 1)
        #expect(decision.events.first?.stream == "customer-c1")
        let erased = try self.erased(decision)
        #expect(erased.erasedFields == ["emails", "first_name", "last_name", "phones"])
        #expect(erased.emailHashes == ["h(ada@example.com)"])
        #expect(erased.phoneHashes == ["h(+442079460958)"])
        #expect(erased.keyIDs == ["c:c1"])
        #expect(erased.reason == "art17_1a")
        #expect(erased.requestRef == "DSR-1")
        #expect(erased.requestedAt == Timestamp.parse("2025-03-01T00:00:00Z"))
    }

    @Test func anErasedCustomerIsATombstoneAndItsAddressIsBlocked() throws {
        let harness = try self.harness()
        try harness.given(EraseCustomer.self, ["customer_id": "c1"])
        let customer = try harness.customer("c1")
        #expect(customer.status == .erased)
        #expect(customer.firstName == nil && customer.emails.isEmpty && customer.phones.isEmpty)
        #expect(try harness.state.customerID(forEmail: "ada@example.com") == nil, "the address is released")
        #expect(try harness.state.erasure("c1")?.keyIDs == ["c:c1"])
        // Erasing again is accepted and records nothing.
        #expect(try harness.when(EraseCustomer.self, ["customer_id": "c1"]).events.isEmpty)
        // The address comes back only when the person asks.
        expectRejection(
            harness.rejection(CreateCustomer.self, adaParams("c3")), .emailErased, field: "emails[0].address"
        )
        var params = adaParams("c3")
        params["allow_previously_erased"] = true
        #expect(harness.rejection(CreateCustomer.self, params) == nil)
        expectRejection(
            harness.rejection(UpdateCustomer.self, ["customer_id": "c1", "set": ["first_name": "A"]]),
            .customerErased, field: "customer_id"
        )
    }

    @Test func aSharedActivityLosesItsKeyWithItsLastCustomer() throws {
        let harness = try self.harness()
        try harness.given(LogActivity.self, ["activity_id": "a1", "type": "note", "customer_ids": ["c1", "c2"]])
        try harness.given(LogActivity.self, ["activity_id": "a2", "type": "note", "customer_ids": ["c1"]])
        #expect(try harness.customer("c1").sharedActivities == ["a1"])
        try harness.given(EraseCustomer.self, ["customer_id": "c1"])
        #expect(try harness.state.erasure("c1")?.keyIDs == ["c:c1"])
        let last = try self.erased(try harness.when(EraseCustomer.self, ["customer_id": "c2"]))
        #expect(last.keyIDs == ["c:c2", "a:a1"])
    }

    @Test func aLegalHoldRefusesErasureUntilLifted() throws {
        let harness = try self.harness()
        try harness.given(SetLegalHold.self, ["customer_id": "c1", "on": true, "reason": "case 12"])
        #expect(try harness.customer("c1").legalHold)
        #expect(try harness.when(SetLegalHold.self, ["customer_id": "c1", "on": true]).events.isEmpty)
        expectRejection(harness.rejection(EraseCustomer.self, ["customer_id": "c1"]), .legalHold, field: "customer_id")
        try harness.given(SetLegalHold.self, ["customer_id": "c1", "on": false])
        #expect(harness.rejection(EraseCustomer.self, ["customer_id": "c1"]) == nil)
    }

    @Test func mergedMissingAndPlainTextAreRefused() throws {
        let harness = try self.harness()
        var merged = try harness.customer("c2")
        merged.status = .merged
        merged.mergedInto = "c1"
        harness.put(merged)
        let rejection = harness.rejection(EraseCustomer.self, ["customer_id": "c2"])
        expectRejection(rejection, .customerMerged, field: "customer_id")
        #expect(rejection?.details == ["merged_into": "c1"])
        expectRejection(harness.rejection(EraseCustomer.self, ["customer_id": "c9"]), .notFound, field: "customer_id")
        harness.state.keyedHasher = nil
        expectRejection(harness.rejection(EraseCustomer.self, ["customer_id": "c1"]), .badRequest, field: nil)
        expectRejection(
            harness.rejection(EraseCustomer.self, ["customer_id": "c1", "requested_at": "soon"]),
            .invalidField, field: "requested_at")
    }
}
