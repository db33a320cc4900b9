import CRMDomain
import CRMEventStore
import CRMJSON
import Testing

@Suite struct UpdateCustomerTests {
    /// A harness with customer `c1` (Ada, one email, one phone, custom plan=pro, tier gold).
    func givenAda() throws -> Harness {
        let harness = Harness()
        var params = adaParams("c1")
        params["custom"] = ["plan": "pro", "seats": 3]
        params["tier"] = "gold"
        params["address"] = ["city": "London"]
        try harness.given(CreateCustomer.self, params)
        return harness
    }

    @Test func updateSplitsPersonalAndNonPersonalChanges() throws {
        let harness = try self.givenAda()
        let decision = try harness.when(
            UpdateCustomer.self,
            [
                "customer_id": "c1",
                "set": [
                    "first_name": "Augusta", "tier": "platinum", "custom": ["plan": "enterprise", "seats": nil],
                    "address": ["city": "London", "country": "GB"],
                ],
                "unset": ["source", "job_title"],
            ]
        )
        #expect(decision.result == CommandResult(.customer, "c1"))
        let event = try #require(decision.events.first)
        #expect(decision.events.count == 1)
        #expect(event.type == "CustomerUpdated")
        #expect(event.stream == "customer-c1")
        #expect(
            event.payloadData
                == [
                    "customer_id": "c1",
                    "changed_fields": ["address", "custom.plan", "custom.seats", "first_name", "tier"],
                    "changes": ["tier": ["from": "gold", "to": "platinum"]],
                ]
        )
        let nullAddressParts: JSON = ["street": nil, "state": nil, "postal_code": nil]
        var fromAddress = nullAddressParts
        fromAddress["city"] = "London"
        fromAddress["country"] = .null
        var toAddress = fromAddress
        toAddress["country"] = "GB"
        #expect(
            event.payloadPII
                == [
                    "changes": [
                        "first_name": ["from": "Ada", "to": "Augusta"],
                        "custom.plan": ["from": "pro", "to": "enterprise"],
                        "custom.seats": ["from": 3, "to": nil],
                        "address": ["from": fromAddress, "to": toAddress],
                    ]
                ]
        )
        try harness.record(decision.events)
        let customer = try harness.customer("c1")
        #expect(customer.firstName == "Augusta")
        #expect(customer.tier == "platinum")
        #expect(customer.custom == ["plan": "enterprise"])
        #expect(customer.address?.country == "GB")
    }

    @Test func onlyPersonalChangesLeaveDataChangesEmpty() throws {
        let harness = try self.givenAda()
        let event = try #require(
            try harness.when(UpdateCustomer.self, ["customer_id": "c1", "set": ["job_title": "Countess"]]).events.first
        )
        #expect(event.payloadData == ["customer_id": "c1", "changed_fields": ["job_title"], "changes": [:]])
        #expect(event.payloadPII == ["changes": ["job_title": ["from": nil, "to": "Countess"]]])
    }

    @Test func unsetCustomKeyAndWholeCustom() throws {
        let harness = try self.givenAda()
        let one = try harness.when(UpdateCustomer.self, ["customer_id": "c1", "unset": ["custom.plan"]])
        #expect(one.events.first?.payloadData["changed_fields"] == ["custom.plan"])
        let all = try harness.when(UpdateCustomer.self, ["customer_id": "c1", "unset": ["custom"]])
        #expect(all.events.first?.payloadData["changed_fields"] == ["custom.plan", "custom.seats"])
        #expect(all.events.first?.payloadPII["changes"]?["custom.seats"] == ["from": 3, "to": nil])
    }

    @Test(arguments: [
        ["customer_id": "c1", "set": ["first_name": "Ada", "tier": "gold"]] as JSON,
        ["customer_id": "c1", "set": ["first_name": " Ada  ", "custom": ["plan": "pro"]]],
        ["customer_id": "c1", "set": [:]],
        ["customer_id": "c1", "unset": ["company_name", "custom.unknown"]],
        ["customer_id": "c1", "set": ["emails": [["address": "ada@example.com"]]]],
        ["customer_id": "c1", "set": ["phones": [["number": "+44 20 7946 0958", "type": "office"]]]],
    ])
    func unchangedValuesGiveNoEvent(_ params: JSON) throws {
        let harness = try self.givenAda()
        let decision = try harness.when(UpdateCustomer.self, params)
        #expect(decision.events.isEmpty)
        #expect(decision.result == CommandResult(.customer, "c1"))
    }

    @Test func emailsReplaceTheListAndKeepFlags() throws {
        let harness = try self.givenAda()
        try harness.given(SetConsent.self, ["customer_id": "c1", "channel": "email", "status": "opted_out"])
        try harness.given(SetConsent.self, ["customer_id": "c1", "channel": "sms", "status": "opted_in"])
        let decision = try harness.when(
            UpdateCustomer.self,
            [
                "customer_id": "c1",
                "set": ["emails": [["address": "new@example.com"], ["address": "ADA@example.com", "primary": true]]],
            ]
        )
        let event = try #require(decision.events.first)
        #expect(event.payloadData["changed_fields"] == ["emails"])
        #expect(
            event.payloadPII["changes"]?["emails"]
                == [
                    "from": [["address": "ada@example.com", "primary": true, "opted_out": true, "invalid": false]],
                    "to": [
                        ["address": "new@example.com", "primary": false, "opted_out": false, "invalid": false],
                        ["address": "ADA@example.com", "primary": true, "opted_out": true, "invalid": false],
                    ],
                ]
        )
        try harness.record(decision.events)
        let customer = try harness.customer("c1")
        #expect(customer.emails.map(\.consent) == ["not_set", "opted_out"])
        #expect(try harness.state.customerID(forEmail: "new@example.com") == "c1")

        // Phones: replacing with the same number in another format keeps the sms consent.
        let phones = try harness.when(
            UpdateCustomer.self,
            ["customer_id": "c1", "set": ["phones": [["number": "+442079460958"]]]]
        )
        try harness.record(phones.events)
        let phone = try #require(try harness.customer("c1").phones.first)
        #expect(phone.number == "+442079460958")
        #expect(phone.type == nil)
        #expect(phone.smsConsent == "opted_in")
    }

    @Test func unsetEmailsAndPhonesClearsThemWhileANameRemains() throws {
        let harness = try self.givenAda()
        let decision = try harness.when(UpdateCustomer.self, ["customer_id": "c1", "unset": ["emails", "phones"]])
        #expect(decision.events.first?.payloadData["changed_fields"] == ["emails", "phones"])
        try harness.record(decision.events)
        #expect(try harness.state.customerID(forEmail: "ada@example.com") == nil)
    }

    @Test func settingNullClearsAField() throws {
        let harness = try self.givenAda()
        let decision = try harness.when(UpdateCustomer.self, ["customer_id": "c1", "set": ["first_name": nil]])
        #expect(decision.events.first?.payloadPII["changes"] == ["first_name": ["from": "Ada", "to": nil]])
    }

    @Test(arguments: [
        RejectionCase("no set or unset", ["customer_id": "c1"], .missingField, "set"),
        RejectionCase("missing customer_id", ["set": ["first_name": "A"]], .missingField, "customer_id"),
        RejectionCase("bad customer_id", ["customer_id": "c 1", "set": [:]], .invalidField, "customer_id"),
        RejectionCase("set not an object", ["customer_id": "c1", "set": ["first_name"]], .invalidField, "set"),
        RejectionCase("unset not strings", ["customer_id": "c1", "unset": [1]], .invalidField, "unset[0]"),
        RejectionCase(
            "unknown set field",
            ["customer_id": "c1", "set": ["nickname": "x"]],
            .invalidField,
            "set.nickname"
        ),
        RejectionCase(
            "owner via update",
            ["customer_id": "c1", "set": ["owner_id": "u1"]],
            .invalidField,
            "set.owner_id"
        ),
        RejectionCase("tags via update", ["customer_id": "c1", "set": ["tags": ["a"]]], .invalidField, "set.tags"),
        RejectionCase(
            "stage via update",
            ["customer_id": "c1", "set": ["lifecycle_stage": "customer"]],
            .invalidField,
            "set.lifecycle_stage"
        ),
        RejectionCase(
            "lead status via update",
            ["customer_id": "c1", "set": ["lead_status": "NEW"]],
            .invalidField,
            "set.lead_status"
        ),
        RejectionCase(
            "unknown unset field",
            ["customer_id": "c1", "unset": ["first_name", "nickname"]],
            .invalidField,
            "unset[1]"
        ),
        RejectionCase("owner via unset", ["customer_id": "c1", "unset": ["owner_id"]], .invalidField, "unset[0]"),
        RejectionCase(
            "bad custom key in unset",
            ["customer_id": "c1", "unset": ["custom.Bad"]],
            .invalidField,
            "unset[0]"
        ),
        RejectionCase(
            "set and unset same field",
            ["customer_id": "c1", "set": ["tier": "x"], "unset": ["tier"]],
            .invalidField,
            "unset[0]"
        ),
        RejectionCase(
            "set and unset same custom key",
            ["customer_id": "c1", "set": ["custom": ["plan": "x"]], "unset": ["custom.plan"]],
            .invalidField,
            "unset[0]"
        ),
        RejectionCase(
            "bad email",
            ["customer_id": "c1", "set": ["emails": [["address": "nope"]]]],
            .invalidEmail,
            "set.emails[0].address"
        ),
        RejectionCase(
            "bad phone",
            ["customer_id": "c1", "set": ["phones": [["number": "123"]]]],
            .invalidPhone,
            "set.phones[0].number"
        ),
        RejectionCase(
            "two primaries",
            [
                "customer_id": "c1",
                "set": ["emails": [["address": "a@b.co", "primary": true], ["address": "c@b.co", "primary": true]]],
            ],
            .invalidField,
            "set.emails[1].primary"
        ),
        RejectionCase(
            "bad custom value",
            ["customer_id": "c1", "set": ["custom": ["plan": [1]]]],
            .invalidField,
            "set.custom.plan"
        ),
        RejectionCase(
            "long first name",
            ["customer_id": "c1", "set": ["first_name": .string(String(repeating: "x", count: 101))]],
            .invalidField,
            "set.first_name"
        ),
        RejectionCase(
            "unknown address key",
            ["customer_id": "c1", "set": ["address": ["zip": "1"]]],
            .invalidField,
            "set.address.zip"
        ),
        RejectionCase(
            "unknown top-level field",
            ["customer_id": "c1", "set": [:], "force": true],
            .invalidField,
            "force"
        ),
    ])
    func invalidParamsAreRejected(_ testCase: RejectionCase) throws {
        let harness = try self.givenAda()
        expectRejection(harness.rejection(UpdateCustomer.self, testCase.params), testCase.reason, field: testCase.field)
    }

    @Test func redirectMessageNamesTheCommand() throws {
        let harness = try self.givenAda()
        let rejection = try #require(
            harness.rejection(UpdateCustomer.self, ["customer_id": "c1", "set": ["tags": []]])
        )
        #expect(rejection.message.contains("customer.tag"))
        let owner = try #require(harness.rejection(UpdateCustomer.self, ["customer_id": "c1", "unset": ["owner_id"]]))
        #expect(owner.message.contains("customer.assign_owner"))
    }

    @Test func removingTheLastIdentityIsMissingIdentity() throws {
        let harness = try self.givenAda()
        let rejection = harness.rejection(
            UpdateCustomer.self,
            ["customer_id": "c1", "unset": ["first_name", "last_name", "emails", "phones"]]
        )
        expectRejection(rejection, .missingIdentity, field: nil)
    }

    @Test func emailOfAnotherCustomerIsDuplicate() throws {
        let harness = try self.givenAda()
        try harness.given(CreateCustomer.self, adaParams("c2", email: "grace@example.com"))
        let rejection = harness.rejection(
            UpdateCustomer.self,
            [
                "customer_id": "c1",
                "set": ["emails": [["address": "ada@example.com"], ["address": "Grace@Example.com"]]],
            ]
        )
        expectRejection(rejection, .duplicateEmail, field: "set.emails[1].address")
        #expect(rejection?.details == ["existing_customer_id": "c2"])
    }

    @Test func unknownCustomerIsNotFound() throws {
        let rejection = Harness().rejection(UpdateCustomer.self, ["customer_id": "nobody", "set": ["tier": "x"]])
        expectRejection(rejection, .notFound, field: "customer_id")
    }
}
