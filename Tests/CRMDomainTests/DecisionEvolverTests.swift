import CRMDomain
import CRMEventStore
import CRMJSON
import Testing

@Suite struct DecisionEvolverTests {
    @Test func createdCustomerIsFoldedWithEmailIndex() throws {
        let harness = Harness()
        var params = adaParams("c1", email: "Ada@Example.com")
        params["tags"] = ["b", "a"]
        params["owner_id"] = "u1"
        params["lead_status"] = "NEW"
        params["custom"] = ["plan": "pro"]
        params["address"] = ["city": "London"]
        try harness.given(CreateCustomer.self, params)
        let customer = try harness.customer("c1")
        #expect(customer.status == .active)
        #expect(customer.firstName == "Ada")
        #expect(customer.lastName == "Lovelace")
        #expect(customer.emails == [CustomerState.Email(address: "Ada@Example.com", primary: true)])
        #expect(
            customer.phones
                == [
                    CustomerState.Phone(
                        number: "+44 20 7946 0958",
                        normalized: "+442079460958",
                        type: "office",
                        primary: true
                    )
                ]
        )
        #expect(customer.tags == ["a", "b"])
        #expect(customer.ownerID == "u1")
        #expect(customer.leadStatus == "NEW")
        #expect(customer.lifecycleStage == "lead")
        #expect(customer.custom == ["plan": "pro"])
        #expect(customer.address == CustomerState.PostalAddress(city: "London"))
        #expect(try harness.state.customerID(forEmail: "ada@example.com") == "c1")
        #expect(try harness.state.customerID(forEmail: "Ada@Example.com") == nil)
    }

    @Test func emailIndexMovesOnUpdate() throws {
        let harness = Harness()
        try harness.given(CreateCustomer.self, adaParams("c1", email: "old@example.com"))
        try harness.given(
            UpdateCustomer.self,
            [
                "customer_id": "c1",
                "set": ["emails": [["address": "New@Example.com"], ["address": "other@example.com"]]],
            ]
        )
        #expect(try harness.state.customerID(forEmail: "old@example.com") == nil)
        #expect(try harness.state.customerID(forEmail: "new@example.com") == "c1")
        #expect(try harness.state.customerID(forEmail: "other@example.com") == "c1")
        #expect(harness.state.keys(.emails) == ["new@example.com", "other@example.com"])

        // The released address can now be used by another customer, and leaving it does not unindex it.
        try harness.given(CreateCustomer.self, adaParams("c2", email: "old@example.com"))
        #expect(try harness.state.customerID(forEmail: "old@example.com") == "c2")
        let taken = harness.rejection(
            UpdateCustomer.self,
            ["customer_id": "c1", "set": ["emails": [["address": "OLD@example.com"]]]]
        )
        expectRejection(taken, .duplicateEmail, field: "set.emails[0].address")
    }

    @Test func replayingTheLogRebuildsTheSameState() throws {
        let harness = Harness()
        try harness.given(CreateCustomer.self, adaParams("c1"))
        try harness.given(TagCustomer.self, ["customer_id": "c1", "add": ["vip", "beta"]])
        try harness.given(TagCustomer.self, ["customer_id": "c1", "remove": ["beta"]])
        try harness.given(AssignOwner.self, ["customer_id": "c1", "owner_id": "u3"])
        try harness.given(SetLifecycleStage.self, ["customer_id": "c1", "stage": "salesqualifiedlead"])
        try harness.given(SetLeadStatus.self, ["customer_id": "c1", "status": "OPEN_DEAL"])
        try harness.given(SetConsent.self, ["customer_id": "c1", "channel": "email", "status": "confirmed_opt_in"])
        try harness.given(SetConsent.self, ["customer_id": "c1", "channel": "phone", "status": "opted_out"])
        try harness.given(
            UpdateCustomer.self,
            ["customer_id": "c1", "set": ["company_name": "AE Ltd", "custom": ["x": true]]]
        )
        try harness.given(LogActivity.self, ["activity_id": "a1", "type": "note", "customer_ids": ["c1"]])

        let replayed = try InMemoryDecisionState(events: harness.log)
        #expect(replayed.tables == harness.state.tables)
        let customer = try #require(try replayed.customer("c1"))
        #expect(customer.tags == ["vip"])
        #expect(customer.ownerID == "u3")
        #expect(customer.lifecycleStage == "salesqualifiedlead")
        #expect(customer.leadStatus == "OPEN_DEAL")
        #expect(customer.emails.first?.consent == "confirmed_opt_in")
        #expect(customer.phones.first?.doNotCall == true)
        #expect(customer.phones.first?.consent == "opted_out")
        #expect(customer.companyName == "AE Ltd")
        #expect(customer.custom == ["x": true])
        #expect(try replayed.activityExists("a1"))
        #expect(try replayed.activityExists("a2") == false)
    }

    @Test func unknownEventTypesAreIgnored() throws {
        let harness = Harness()
        try harness.given(CreateCustomer.self, adaParams("c1"))
        let before = harness.state.tables
        try harness.record([
            NewEvent(type: "OrderRecorded", stream: "order-o1", data: ["order_id": "o1", "customer_id": "c1"]),
            NewEvent(
                type: "CustomerTagged",
                stream: "customer-nobody",
                data: ["customer_id": "nobody", "added": ["x"]]
            ),
        ])
        #expect(harness.state.tables == before)
    }

    @Test func customerStateRoundTrips() throws {
        let state = CustomerState(
            id: "c1",
            status: .merged,
            mergedInto: "c2",
            firstName: "Ada",
            lastName: nil,
            companyName: "AE",
            jobTitle: "CTO",
            emails: [
                CustomerState.Email(
                    address: "a@b.co",
                    primary: true,
                    optedOut: true,
                    invalid: true,
                    consent: "opted_out"
                )
            ],
            phones: [
                CustomerState.Phone(
                    number: "+1 555 0100",
                    normalized: "+15550100",
                    type: "mobile",
                    primary: true,
                    doNotCall: true,
                    consent: "opted_out",
                    smsConsent: "opted_in"
                )
            ],
            address: CustomerState.PostalAddress(street: "1 Main St", country: "GB"),
            custom: ["n": 1.5, "s": "x", "i": -7, "t": true, "f": false],
            tags: ["a", "b"],
            ownerID: "u1",
            tier: "gold",
            source: "web",
            lifecycleStage: "customer",
            leadStatus: "CONNECTED"
        )
        #expect(try CustomerState(decoding: state.encoded(), personal: state.personalEncoded()) == state)
        var held = state
        held.legalHold = true
        held.sharedActivities = ["a1", "a2"]
        #expect(try CustomerState(decoding: held.encoded(), personal: held.personalEncoded()) == held)
        // The record alone holds nothing personal; read without its personal record, it keeps every flag
        // and writes back the same record.
        let record = state.encoded()
        for secret in ["Ada", "a@b.co", "+15550100", "1 Main St", "CTO"] {
            #expect(!String(decoding: record, as: UTF8.self).contains(secret))
        }
        let partial = try CustomerState(decoding: record)
        #expect(partial.firstName == nil && partial.emails.map(\.address).allSatisfy(\.isEmpty))
        #expect(partial.emails.map(\.consent) == state.emails.map(\.consent))
        #expect(partial.encoded() == record)
        #expect(throws: StateDecodingError.self) { try CustomerState(decoding: []) }
        #expect(throws: StateDecodingError.self) { try CustomerState(decoding: Array("not a row".utf8)) }
        #expect(throws: StateDecodingError.self) { try CustomerState(decoding: state.encoded() + [0]) }
        #expect(throws: StateDecodingError.self) { try CustomerState(decoding: Array(state.encoded().dropLast())) }
        #expect(throws: StateDecodingError.self) {
            try CustomerState(decoding: record, personal: Array(state.personalEncoded().dropLast()))
        }
        var other = state
        other.emails.removeLast()
        #expect(throws: StateDecodingError.self, "a personal record of another list of emails") {
            try CustomerState(decoding: record, personal: other.personalEncoded())
        }
    }
}

@Suite struct ValidationTests {
    @Test(arguments: ["ada@example.com", "a.b+c@sub.example.co.uk", "x@y.z", "ÄDA@exämple.de"])
    func validEmails(_ address: String) {
        #expect(Validation.isValidEmail(address))
    }

    @Test(arguments: [
        "", "ada", "ada@", "@example.com", "a@b@c.com", "ada@example", "a da@example.com",
        "ada@exa\tmple.com",
    ])
    func invalidEmails(_ address: String) {
        #expect(!Validation.isValidEmail(address))
    }

    @Test(arguments: [
        ("+44 20 7946 0958", "+442079460958"), ("(555) 010.9999", "5550109999"), ("1234567", "1234567"),
        ("+123456789012345", "+123456789012345"),
    ])
    func phonesNormalize(_ number: String, _ normalized: String) {
        #expect(Validation.normalizedPhone(number) == normalized)
    }

    @Test(arguments: ["123456", "+1234567890123456", "555-CALL-NOW", "12+3456789", "++1234567", "12/3456789", ""])
    func invalidPhones(_ number: String) {
        #expect(Validation.normalizedPhone(number) == nil)
    }

    @Test(arguments: ["vip", "VIP 2025", "a_b.c:d-e", "日本", "Ä", String(repeating: "x", count: 64)])
    func validTags(_ tag: String) {
        #expect(Validation.isValidTag(tag))
    }

    @Test(arguments: ["", "a/b", "a,b", "tab\t", "emoji😀", String(repeating: "x", count: 65)])
    func invalidTags(_ tag: String) {
        #expect(!Validation.isValidTag(tag))
    }

    @Test func customKeys() {
        #expect(Validation.isValidCustomKey("plan"))
        #expect(Validation.isValidCustomKey("a1_b"))
        #expect(Validation.isValidCustomKey("a" + String(repeating: "b", count: 39)))
        #expect(!Validation.isValidCustomKey("a" + String(repeating: "b", count: 40)))
        #expect(!Validation.isValidCustomKey("1a"))
        #expect(!Validation.isValidCustomKey("_a"))
        #expect(!Validation.isValidCustomKey("Plan"))
        #expect(!Validation.isValidCustomKey(""))
        #expect(!Validation.isValidCustomKey("a-b"))
    }

    @Test func lifecycleOrder() {
        #expect(Validation.lifecycleRank("subscriber") == 0)
        #expect(Validation.lifecycleRank("other") == 7)
        #expect(Validation.lifecycleRank("nope") == nil)
    }

    @Test func trimming() {
        #expect(Validation.trimmed("  a b \n") == "a b")
        #expect(Validation.trimmed(" \t ") == "")
        #expect(Validation.trimmed("x") == "x")
    }
}
