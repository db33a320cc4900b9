import CRMDomain
import CRMEventStore
import CRMJSON
import CRMRPC
import Testing

@Suite struct CreateCustomerTests {
    @Test func createEmitsCustomerCreatedWithEveryKey() throws {
        let harness = Harness()
        let decision = try harness.when(
            CreateCustomer.self,
            [
                "customer_id": "c1", "first_name": "  Ada ", "last_name": "Lovelace",
                "emails": [["address": " Ada@Example.com "], ["address": "ada2@example.com", "primary": true]],
                "phones": [["number": "+44 (20) 7946-0958", "type": "office"]],
                "company_name": "Analytical Engines", "job_title": "", "address": ["city": "London", "country": "GB"],
                "owner_id": "u42", "tags": ["vip", "beta", "vip"], "tier": "gold", "source": "web",
                "lead_status": "NEW", "custom": ["plan": "pro", "seats": 5, "trial": false],
            ]
        )
        #expect(decision.result == CommandResult(.customer, "c1"))
        let event = try #require(decision.events.first)
        #expect(decision.events.count == 1)
        #expect(event.type == "CustomerCreated")
        #expect(event.stream == "customer-c1")
        #expect(event.schemaVersion == 1)
        #expect(
            event.payloadData
                == [
                    "customer_id": "c1", "owner_id": "u42", "tags": ["beta", "vip"], "tier": "gold", "source": "web",
                    "lifecycle_stage": "lead", "lead_status": "NEW",
                ]
        )
        #expect(
            event.payloadPII
                == [
                    "first_name": "Ada", "last_name": "Lovelace", "company_name": "Analytical Engines",
                    "job_title": nil,
                    "emails": [
                        ["address": "Ada@Example.com", "primary": false, "opted_out": false, "invalid": false],
                        ["address": "ada2@example.com", "primary": true, "opted_out": false, "invalid": false],
                    ],
                    "phones": [
                        [
                            "number": "+44 (20) 7946-0958", "normalized": "+442079460958", "type": "office",
                            "primary": true,
                        ]
                    ],
                    "address": [
                        "street": nil, "city": "London", "state": nil, "postal_code": nil, "country": "GB",
                    ],
                    "custom": ["plan": "pro", "seats": 5, "trial": false],
                ]
        )
    }

    @Test func minimalCreateUsesGeneratedIDAndDefaults() throws {
        let harness = Harness()
        let command = try CreateCustomer(params: ["last_name": "Hopper"])
        let context = CommandContext(at: 0, generatedID: "0190f000-aaaa")
        #expect(command.targetStream(context) == "customer-0190f000-aaaa")
        let decision = try command.decide(harness.state, context)
        #expect(decision.result == CommandResult(.customer, "0190f000-aaaa"))
        let event = try #require(decision.events.first)
        #expect(event.stream == "customer-0190f000-aaaa")
        #expect(
            event.payloadData
                == [
                    "customer_id": "0190f000-aaaa", "owner_id": nil, "tags": [], "tier": nil, "source": nil,
                    "lifecycle_stage": "lead", "lead_status": nil,
                ]
        )
        #expect(
            event.payloadPII
                == [
                    "first_name": nil, "last_name": "Hopper", "company_name": nil, "job_title": nil, "emails": [],
                    "phones": [], "address": nil, "custom": [:],
                ]
        )
    }

    @Test func firstEmailAndPhoneArePrimaryByDefault() throws {
        let harness = Harness()
        let decision = try harness.when(
            CreateCustomer.self,
            [
                "emails": [["address": "a@x.io"], ["address": "b@x.io"]],
                "phones": [["number": "1234567"], ["number": "7654321", "type": "mobile"]],
            ]
        )
        let pii = try #require(decision.events.first?.payloadPII)
        #expect(pii["emails"]?.arrayValue?.map { $0["primary"] } == [true, false])
        #expect(pii["phones"]?.arrayValue?.map { $0["primary"] } == [true, false])
        #expect(pii["phones"]?.arrayValue?.map { $0["type"] } == [.null, "mobile"])
    }

    @Test func explicitLifecycleStageIsKeptWithoutSeparateEvent() throws {
        let decision = try Harness().when(CreateCustomer.self, ["first_name": "A", "lifecycle_stage": "subscriber"])
        #expect(decision.events.map(\.type) == ["CustomerCreated"])
        #expect(decision.events[0].payloadData["lifecycle_stage"] == "subscriber")
    }

    @Test func nullCustomValuesAreDroppedAndErasedFlagIsAccepted() throws {
        let decision = try Harness().when(
            CreateCustomer.self,
            ["first_name": "A", "custom": ["a": nil, "b": 1.5], "allow_previously_erased": true]
        )
        #expect(decision.events[0].payloadPII["custom"] == ["b": 1.5])
    }

    @Test func consentOnCreateEmitsConsentChangedAfterCreation() throws {
        let harness = Harness()
        let decision = try harness.when(
            CreateCustomer.self,
            [
                "customer_id": "c1", "emails": [["address": "Ada@Example.com"]],
                "phones": [["number": "+1 555 0100 99"]],
                "consent": [
                    [
                        "channel": "email", "status": "confirmed_opt_in", "legal_basis": "consent", "source": "form",
                        "evidence": "double opt-in 2025-03-07",
                    ],
                    ["channel": "phone", "status": "opted_out"],
                    ["channel": "sms", "status": "not_set"],
                ],
            ]
        )
        #expect(decision.events.map(\.type) == ["CustomerCreated", "ConsentChanged", "ConsentChanged"])
        let email = decision.events[1]
        #expect(email.schemaVersion == 2)
        #expect(email.stream == "customer-c1")
        #expect(email.causedBy == 0)
        #expect(
            email.payloadData
                == [
                    "customer_id": "c1", "channel": "email", "from": "not_set", "to": "confirmed_opt_in",
                    "legal_basis": "consent", "source": "form",
                ]
        )
        #expect(email.payloadPII == ["contact_point": "Ada@Example.com", "evidence": "double opt-in 2025-03-07"])
        let phone = decision.events[2]
        #expect(phone.causedBy == 0)
        #expect(
            phone.payloadData
                == [
                    "customer_id": "c1", "channel": "phone", "from": "not_set", "to": "opted_out", "legal_basis": nil,
                    "source": nil,
                ]
        )
        #expect(phone.payloadPII == ["contact_point": "+1 555 0100 99", "evidence": nil])

        try harness.record(decision.events)
        let customer = try harness.customer("c1")
        #expect(customer.emails[0].consent == "confirmed_opt_in")
        #expect(customer.emails[0].optedOut == false)
        #expect(customer.phones[0].doNotCall)
    }

    @Test(arguments: [
        RejectionCase("no identity", ["company_name": "ACME"], .missingIdentity, nil),
        RejectionCase(
            "empty lists are no identity",
            ["emails": [], "phones": [], "first_name": " "],
            .missingIdentity,
            nil
        ),
        RejectionCase("bad customer_id", ["customer_id": "a b", "first_name": "A"], .invalidField, "customer_id"),
        RejectionCase(
            "long customer_id",
            ["customer_id": .string(String(repeating: "a", count: 65)), "first_name": "A"],
            .invalidField,
            "customer_id"
        ),
        RejectionCase(
            "name too long",
            ["first_name": .string(String(repeating: "x", count: 101))],
            .invalidField,
            "first_name"
        ),
        RejectionCase(
            "last name too long",
            ["last_name": .string(String(repeating: "x", count: 101))],
            .invalidField,
            "last_name"
        ),
        RejectionCase(
            "company too long",
            ["first_name": "A", "company_name": .string(String(repeating: "x", count: 256))],
            .invalidField,
            "company_name"
        ),
        RejectionCase(
            "title too long",
            ["first_name": "A", "job_title": .string(String(repeating: "x", count: 256))],
            .invalidField,
            "job_title"
        ),
        RejectionCase("name not a string", ["first_name": 5], .invalidField, "first_name"),
        RejectionCase("emails not an array", ["emails": "a@b.co"], .invalidField, "emails"),
        RejectionCase("email entry not an object", ["emails": ["a@b.co"]], .invalidField, "emails[0]"),
        RejectionCase("email without address", ["emails": [["primary": true]]], .missingField, "emails[0].address"),
        RejectionCase("email no at", ["emails": [["address": "ada.example.com"]]], .invalidEmail, "emails[0].address"),
        RejectionCase(
            "email two ats",
            ["emails": [["address": "a@b@example.com"]]],
            .invalidEmail,
            "emails[0].address"
        ),
        RejectionCase(
            "email empty local",
            ["emails": [["address": "@example.com"]]],
            .invalidEmail,
            "emails[0].address"
        ),
        RejectionCase(
            "email domain without dot",
            ["emails": [["address": "ada@localhost"]]],
            .invalidEmail,
            "emails[0].address"
        ),
        RejectionCase(
            "email with space",
            ["emails": [["address": "a@b.co"], ["address": "ad a@b.co"]]],
            .invalidEmail,
            "emails[1].address"
        ),
        RejectionCase(
            "email too long",
            ["emails": [["address": .string(String(repeating: "a", count: 250) + "@b.co")]]],
            .invalidEmail,
            "emails[0].address"
        ),
        RejectionCase(
            "same email twice",
            ["emails": [["address": "a@b.co"], ["address": "A@B.CO"]]],
            .invalidField,
            "emails[1].address"
        ),
        RejectionCase(
            "two primary emails",
            ["emails": [["address": "a@b.co", "primary": true], ["address": "c@b.co", "primary": true]]],
            .invalidField,
            "emails[1].primary"
        ),
        RejectionCase(
            "unknown email key",
            ["emails": [["address": "a@b.co", "opted_out": true]]],
            .invalidField,
            "emails[0].opted_out"
        ),
        RejectionCase("phone letters", ["phones": [["number": "+44 20 CALL ME"]]], .invalidPhone, "phones[0].number"),
        RejectionCase("phone too few digits", ["phones": [["number": "12-34-56"]]], .invalidPhone, "phones[0].number"),
        RejectionCase(
            "phone too many digits",
            ["phones": [["number": "+1234567890123456"]]],
            .invalidPhone,
            "phones[0].number"
        ),
        RejectionCase(
            "phone plus in the middle",
            ["phones": [["number": "12+34567890"]]],
            .invalidPhone,
            "phones[0].number"
        ),
        RejectionCase("phone without number", ["phones": [["type": "home"]]], .missingField, "phones[0].number"),
        RejectionCase(
            "phone bad type",
            ["phones": [["number": "1234567", "type": "pager"]]],
            .invalidField,
            "phones[0].type"
        ),
        RejectionCase(
            "same phone twice",
            ["phones": [["number": "123 4567"], ["number": "123-4567"]]],
            .invalidField,
            "phones[1].number"
        ),
        RejectionCase(
            "two primary phones",
            ["phones": [["number": "1234567", "primary": true], ["number": "7654321", "primary": true]]],
            .invalidField,
            "phones[1].primary"
        ),
        RejectionCase(
            "unknown address key",
            ["first_name": "A", "address": ["town": "X"]],
            .invalidField,
            "address.town"
        ),
        RejectionCase(
            "address part too long",
            ["first_name": "A", "address": ["city": .string(String(repeating: "x", count: 256))]],
            .invalidField,
            "address.city"
        ),
        RejectionCase("address not an object", ["first_name": "A", "address": "London"], .invalidField, "address"),
        RejectionCase("bad custom key", ["first_name": "A", "custom": ["Plan": "x"]], .invalidField, "custom.Plan"),
        RejectionCase(
            "custom object value",
            ["first_name": "A", "custom": ["plan": ["a": 1]]],
            .invalidField,
            "custom.plan"
        ),
        RejectionCase(
            "custom array value",
            ["first_name": "A", "custom": ["plan": [1]]],
            .invalidField,
            "custom.plan"
        ),
        RejectionCase(
            "custom string too long",
            ["first_name": "A", "custom": ["plan": .string(String(repeating: "x", count: 1001))]],
            .invalidField,
            "custom.plan"
        ),
        RejectionCase("bad tag", ["first_name": "A", "tags": ["ok", "no/slash"]], .invalidField, "tags[1]"),
        RejectionCase("empty tag", ["first_name": "A", "tags": [""]], .invalidField, "tags[0]"),
        RejectionCase("tag not a string", ["first_name": "A", "tags": [1]], .invalidField, "tags[0]"),
        RejectionCase(
            "bad lifecycle stage",
            ["first_name": "A", "lifecycle_stage": "prospect"],
            .invalidField,
            "lifecycle_stage"
        ),
        RejectionCase("bad lead status", ["first_name": "A", "lead_status": "new"], .invalidField, "lead_status"),
        RejectionCase("bad owner", ["first_name": "A", "owner_id": "u 42"], .invalidField, "owner_id"),
        RejectionCase(
            "tier too long",
            ["first_name": "A", "tier": .string(String(repeating: "x", count: 65))],
            .invalidField,
            "tier"
        ),
        RejectionCase(
            "source too long",
            ["first_name": "A", "source": .string(String(repeating: "x", count: 65))],
            .invalidField,
            "source"
        ),
        RejectionCase(
            "erased flag not a bool",
            ["first_name": "A", "allow_previously_erased": "yes"],
            .invalidField,
            "allow_previously_erased"
        ),
        RejectionCase("unknown field", ["first_name": "A", "nickname": "Ace"], .invalidField, "nickname"),
        RejectionCase("params not an object", ["x"], .invalidField, "params"),
        RejectionCase(
            "consent bad channel",
            ["emails": [["address": "a@b.co"]], "consent": [["channel": "fax", "status": "opted_in"]]],
            .invalidField,
            "consent[0].channel"
        ),
        RejectionCase(
            "consent missing status",
            ["emails": [["address": "a@b.co"]], "consent": [["channel": "email"]]],
            .missingField,
            "consent[0].status"
        ),
        RejectionCase(
            "consent unknown address",
            [
                "emails": [["address": "a@b.co"]],
                "consent": [["channel": "email", "address": "z@b.co", "status": "opted_in"]],
            ],
            .invalidField,
            "consent[0].address"
        ),
        RejectionCase(
            "consent ambiguous address",
            [
                "emails": [["address": "a@b.co"], ["address": "c@b.co"]],
                "consent": [["channel": "email", "status": "opted_in"]],
            ],
            .missingField,
            "consent[0].address"
        ),
        RejectionCase(
            "consent without phones",
            ["first_name": "A", "consent": [["channel": "sms", "status": "opted_in"]]],
            .invalidField,
            "consent[0].address"
        ),
        RejectionCase(
            "consent unknown key",
            [
                "emails": [["address": "a@b.co"]],
                "consent": [["channel": "email", "status": "opted_in", "note": "x"]],
            ],
            .invalidField,
            "consent[0].note"
        ),
    ])
    func invalidParamsAreRejected(_ testCase: RejectionCase) {
        expectRejection(
            Harness().rejection(CreateCustomer.self, testCase.params),
            testCase.reason,
            field: testCase.field
        )
    }

    @Test func existingIDIsAlreadyExists() throws {
        let harness = Harness()
        try harness.given(CreateCustomer.self, adaParams("c1"))
        let rejection = harness.rejection(CreateCustomer.self, ["customer_id": "c1", "first_name": "Other"])
        expectRejection(rejection, .alreadyExists, field: "customer_id")
    }

    @Test func emailOfAnotherActiveCustomerIsDuplicate() throws {
        let harness = Harness()
        try harness.given(CreateCustomer.self, adaParams("c1", email: "ada@example.com"))
        let rejection = harness.rejection(
            CreateCustomer.self,
            ["emails": [["address": "x@example.com"], ["address": " ADA@example.COM "]]]
        )
        expectRejection(rejection, .duplicateEmail, field: "emails[1].address")
        #expect(rejection?.details == ["existing_customer_id": "c1"])
    }

    @Test func emailOfAMergedCustomerIsNotDuplicate() throws {
        let harness = Harness()
        try harness.given(CreateCustomer.self, adaParams("c1", email: "ada@example.com"))
        var merged = try harness.customer("c1")
        merged.status = .merged
        merged.mergedInto = "c9"
        harness.put(merged)
        let decision = try harness.when(CreateCustomer.self, adaParams("c2", email: "ada@example.com"))
        #expect(decision.events.count == 1)
    }
}
