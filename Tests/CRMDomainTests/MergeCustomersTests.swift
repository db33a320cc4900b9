import CRMDomain
import CRMJSON
import CRMRPC
import Testing

/// `customer.merge`, decided on typed values, one test per merge rule: given events, when the merge,
/// then the events (and the decision state they fold into) or the rejection.
@Suite struct MergeCustomersTests {
    /// Primary `p` (lead, tier gold, one email, tag vip), secondaries `s1` (opportunity, a name the
    /// primary lacks, an opted-out copy of the primary's address, another address, tag b2b) and `s2`
    /// (customer-less subscriber with a company and a custom field).
    func harness() throws -> Harness {
        let harness = Harness()
        harness.state.keyedHasher = { "h(\($0))" }
        try harness.given(DefinePipeline.self, salesPipelineParams())
        try harness.given(
            CreateCustomer.self,
            [
                "customer_id": "p", "first_name": "Ada", "emails": [["address": "ada@example.com"]],
                "phones": [["number": "+44 20 7946 0958"]], "tier": "gold", "tags": ["vip"],
                "custom": ["plan": "pro"],
            ]
        )
        try harness.given(
            CreateCustomer.self,
            [
                "customer_id": "s1", "first_name": "Augusta", "last_name": "King", "owner_id": "u7",
                "emails": [["address": "ada@work.example"], ["address": "countess@example.com"]],
                "phones": [["number": "+44 (20) 7946-0958", "type": "mobile"]],
                "lifecycle_stage": "opportunity", "tags": ["b2b", "vip"], "custom": ["plan": "free", "seats": 3],
            ]
        )
        try harness.given(
            SetConsent.self,
            ["customer_id": "s1", "channel": "email", "address": "countess@example.com", "status": "opted_out"]
        )
        try harness.given(
            CreateCustomer.self,
            [
                "customer_id": "s2", "first_name": "A.", "company_name": "Analytical Engines",
                "emails": [["address": "ada@engines.example"]], "lifecycle_stage": "subscriber",
                "source": "import",
            ]
        )
        return harness
    }

    func merged(_ decision: Decision) throws -> CustomersMerged {
        guard case .customer(.merged(let merged)) = try #require(decision.events.first).event else {
            Issue.record("not a CustomersMerged event")
            throw Rejection(.internalError, "not merged")
        }
        return merged
    }

    static let merge: JSON = ["primary_id": "p", "secondary_ids": ["s1", "s2"]]

    @Test func scalarsArePrimaryWinsThenFirstSecondaryInOrder() throws {
        let result = try self.merged(try self.harness().when(MergeCustomers.self, Self.merge)).result
        #expect(result.firstName == "Ada", "the primary's value stays")
        #expect(result.lastName == "King", "the first secondary that has one fills a gap")
        #expect(result.companyName == "Analytical Engines", "…in the order given")
        #expect(result.ownerID == "u7")
        #expect(result.tier == "gold")
        #expect(result.source == "import")
        #expect(result.custom == ["plan": .string("pro"), "seats": .int(3)], "custom keys one by one")
    }

    @Test func resolvePicksAnotherCustomersValueEvenNone() throws {
        var params = Self.merge
        params["resolve"] = ["first_name": "s1", "tier": "s2", "custom.plan": "s1"]
        let result = try self.merged(try self.harness().when(MergeCustomers.self, params)).result
        #expect(result.firstName == "Augusta")
        #expect(result.tier == nil, "s2 has no tier: the explicit choice is no tier")
        #expect(result.custom["plan"] == .string("free"))
    }

    @Test func emailsAndPhonesAreTheUnionWithThePrimarysPrimaryAndOptOutsWin() throws {
        let harness = try self.harness()
        try harness.given(UpdateCustomer.self, ["customer_id": "s2", "set": ["phones": [["number": "+442079460958"]]]])
        try harness.given(SetConsent.self, ["customer_id": "s2", "channel": "phone", "status": "opted_out"])
        let result = try self.merged(try harness.when(MergeCustomers.self, Self.merge)).result
        #expect(
            result.emails.map(\.address) == [
                "ada@example.com", "ada@work.example", "countess@example.com", "ada@engines.example",
            ])
        #expect(result.emails.map(\.primary) == [true, false, false, false], "the primary's primary stays, no other")
        #expect(result.emails[2].optedOut && result.emails[2].consent == "opted_out", "flags carry over")
        #expect(result.phones.count == 1, "numbers are compared normalized")
        #expect(result.phones[0].number == "+44 20 7946 0958" && result.phones[0].primary)
        #expect(result.phones[0].type == "mobile", "a type the primary lacks carries over")
        #expect(result.phones[0].doNotCall && result.phones[0].consent == "opted_out", "an opt-out wins a collision")
    }

    /// Two customers never hold one address (`duplicate_email`), but the rule holds for any lists.
    @Test func anOptedOutAddressStaysOptedOutWhenTwoListsHoldIt() {
        let lists = [
            [CustomerState.Email(address: "a@x.io", primary: true, consent: "confirmed_opt_in")],
            [
                CustomerState.Email(address: "b@x.io", primary: true),
                CustomerState.Email(
                    address: "A@x.io", primary: false, optedOut: true, invalid: true, consent: "opted_out"),
            ],
        ]
        let merged = MergeCustomers.mergedEmails(lists)
        #expect(merged.map(\.address) == ["a@x.io", "b@x.io"])
        #expect(merged[0].optedOut && merged[0].invalid && merged[0].consent == "opted_out" && merged[0].primary)
        #expect(!merged[1].primary)
        let noPrimary = MergeCustomers.mergedEmails([[], [CustomerState.Email(address: "c@x.io", primary: true)]])
        #expect(noPrimary.map(\.primary) == [true], "without the primary's, the first address is primary")
    }

    @Test func tagsAreTheUnion() throws {
        let result = try self.merged(try self.harness().when(MergeCustomers.self, Self.merge)).result
        #expect(result.tags == ["b2b", "vip"])
    }

    @Test func theStageFurthestDownTheFunnelWinsThroughADerivedChange() throws {
        let decision = try self.harness().when(MergeCustomers.self, Self.merge)
        #expect(decision.events.map(\.type) == ["CustomersMerged", "LifecycleStageChanged"])
        guard case .customer(.lifecycleStageChanged(let changed)) = decision.events[1].event else {
            Issue.record("expected a lifecycle change")
            return
        }
        #expect(changed.from == "lead" && changed.to == "opportunity" && changed.source == "merge")
        #expect(decision.events[1].causedBy == 0 && decision.events[1].stream == "customer-p")
        // A primary already further down keeps its stage: no change.
        let harness = try self.harness()
        try harness.given(SetLifecycleStage.self, ["customer_id": "p", "stage": "customer"])
        #expect(try harness.when(MergeCustomers.self, Self.merge).events.count == 1)
    }

    @Test func dealsTicketsAndActivitiesMoveToThePrimary() throws {
        let harness = try self.harness()
        try harness.given(
            CreateDeal.self, ["deal_id": "d1", "pipeline_id": "sales", "name": "Engine", "customer_ids": ["s1", "p"]]
        )
        try harness.given(
            CreateDeal.self, ["deal_id": "d2", "pipeline_id": "sales", "name": "Mill", "customer_ids": ["s2"]])
        try harness.given(
            OpenTicket.self, ["ticket_id": "t1", "customer_id": "s2", "subject": "Help", "channel": "email"])
        try harness.given(LogActivity.self, ["activity_id": "a1", "type": "note", "customer_ids": ["s1"]])
        try harness.given(LogActivity.self, ["activity_id": "a2", "type": "note", "customer_ids": ["s1", "p"]])
        try harness.given(LogActivity.self, ["activity_id": "a3", "type": "note", "customer_ids": ["p"]])
        let decision = try harness.given(MergeCustomers.self, Self.merge)
        let moved = try self.merged(decision).moved
        #expect(moved == CustomersMerged.Moved(deals: ["d1", "d2"], tickets: ["t1"], activities: ["a1", "a2"]))
        #expect(try harness.state.deal("d1")?.customerIDs == ["p"], "a deal naming both names the primary once")
        #expect(try harness.state.deal("d2")?.customerIDs == ["p"])
        #expect(try harness.state.ticket("t1")?.customerID == "p")
        #expect(try harness.state.sharedActivityCustomers("a2") == ["p"])
        #expect(try harness.state.linkedRecords("p", .deal) == ["d1", "d2"])
        #expect(try harness.state.linkedRecords("p", .activity) == ["a1", "a2", "a3"])
        #expect(try harness.state.linkedRecords("s1", .activity).isEmpty)
        // Commands on the moved records now see the primary.
        let reply = try harness.when(
            ReplyToTicket.self, ["ticket_id": "t1", "author": "agent", "body": "On it", "public": true])
        #expect(reply.events.first?.event.namedCustomerIDs == ["p"])
    }

    @Test func secondariesBecomeTombstonesAndTheirAddressesThePrimarys() throws {
        let harness = try self.harness()
        try harness.given(MergeCustomers.self, Self.merge)
        let secondary = try harness.customer("s1")
        #expect(secondary.status == .merged && secondary.mergedInto == "p")
        #expect(secondary.firstName == nil && secondary.emails.isEmpty, "nothing personal stays on a tombstone")
        #expect(try harness.state.customerID(forEmail: "countess@example.com") == "p")
        let rejection = harness.rejection(TagCustomer.self, ["customer_id": "s1", "add": ["x"]])
        expectRejection(rejection, .customerMerged, field: "customer_id")
        #expect(rejection?.details == ["merged_into": "p"])
        expectRejection(
            harness.rejection(CreateDeal.self, ["pipeline_id": "sales", "name": "D", "customer_ids": ["s2"]]),
            .customerMerged, field: "customer_ids[0]"
        )
        // There is no unmerge: merging back is refused.
        expectRejection(
            harness.rejection(MergeCustomers.self, ["primary_id": "s1", "secondary_ids": ["p"]]), .customerMerged,
            field: "primary_id"
        )
        let primary = try harness.customer("p")
        #expect(primary.status == .active && primary.lifecycleStage == "opportunity")
        #expect(primary.emails.count == 4)
    }

    @Test func theKeyRingGrowsRecursivelyAndErasureDestroysIt() throws {
        let harness = try self.harness()
        try harness.given(CreateCustomer.self, ["customer_id": "s0", "first_name": "Older"])
        try harness.given(MergeCustomers.self, ["primary_id": "s1", "secondary_ids": ["s0"]])
        let decision = try harness.given(MergeCustomers.self, Self.merge)
        #expect(try self.merged(decision).mergedFrom == ["s1", "s0", "s2"])
        #expect(try harness.customer("p").mergedFrom == ["s1", "s0", "s2"])
        guard
            case .customer(.erased(let erased)) = try harness.when(EraseCustomer.self, ["customer_id": "p"])
                .events.first?.event
        else {
            Issue.record("expected an erasure")
            return
        }
        #expect(erased.keyIDs == ["c:p", "c:s1", "c:s0", "c:s2"])
        // Erasure goes through the surviving record.
        expectRejection(
            harness.rejection(EraseCustomer.self, ["customer_id": "s2"]), .customerMerged, field: "customer_id")
    }

    @Test func aLegalHoldAnywhereStaysOnThePrimary() throws {
        let harness = try self.harness()
        try harness.given(SetLegalHold.self, ["customer_id": "s2", "on": true])
        try harness.given(MergeCustomers.self, Self.merge)
        #expect(try harness.customer("p").legalHold)
        expectRejection(harness.rejection(EraseCustomer.self, ["customer_id": "p"]), .legalHold, field: "customer_id")
    }

    static let rejections: [RejectionCase] = [
        RejectionCase(
            "into itself", ["primary_id": "p", "secondary_ids": ["s1", "p"]], .invalidMerge, "secondary_ids[1]"
        ),
        RejectionCase(
            "a secondary twice", ["primary_id": "p", "secondary_ids": ["s1", "s1"]], .invalidMerge,
            "secondary_ids[1]"),
        RejectionCase("unknown primary", ["primary_id": "zz", "secondary_ids": ["s1"]], .notFound, "primary_id"),
        RejectionCase(
            "unknown secondary", ["primary_id": "p", "secondary_ids": ["s1", "zz"]], .notFound,
            "secondary_ids[1]"),
        RejectionCase(
            "erased secondary", ["primary_id": "p", "secondary_ids": ["gone"]], .customerErased,
            "secondary_ids[0]"),
        RejectionCase(
            "resolve names an outsider", ["primary_id": "p", "secondary_ids": ["s1"], "resolve": ["tier": "s2"]],
            .invalidMerge, "resolve.tier"
        ),
        RejectionCase(
            "resolve names an unknown field",
            ["primary_id": "p", "secondary_ids": ["s1"], "resolve": ["emails": "s1"]],
            .invalidField, "resolve.emails"
        ),
        RejectionCase("no secondaries", ["primary_id": "p", "secondary_ids": []], .invalidField, "secondary_ids"),
        RejectionCase("missing secondaries", ["primary_id": "p"], .missingField, "secondary_ids"),
        RejectionCase(
            "a bad expected version", ["primary_id": "p", "secondary_ids": ["s1"], "expected_versions": ["s1": -1]],
            .invalidField, "expected_versions.s1"
        ),
    ]

    @Test(arguments: MergeCustomersTests.rejections)
    func badMergesAreRejected(_ testCase: RejectionCase) throws {
        let harness = try self.harness()
        try harness.given(CreateCustomer.self, ["customer_id": "gone", "first_name": "Gone"])
        try harness.given(EraseCustomer.self, ["customer_id": "gone"])
        let before = harness.state.tables
        expectRejection(harness.rejection(MergeCustomers.self, testCase.params), testCase.reason, field: testCase.field)
        #expect(harness.state.tables == before)
    }

    @Test func expectedVersionsNameEachCustomersStream() throws {
        let command = try MergeCustomers(
            params: ["primary_id": "p", "secondary_ids": ["s1"], "expected_versions": ["s1": 2, "p": 1]]
        )
        #expect(
            command.expectedStreamVersions() == [
                ExpectedStreamVersion(stream: "customer-p", version: 1, field: "expected_versions.p"),
                ExpectedStreamVersion(stream: "customer-s1", version: 2, field: "expected_versions.s1"),
            ]
        )
    }
}
