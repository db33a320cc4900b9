import CRMDomain
import CRMEventStore
import CRMJSON
import CRMParams
import CRMRPC
import Testing

/// A command type and params that would succeed against an active customer `c1`.
struct CommandCase: Sendable, CustomTestStringConvertible {
    let command: any (DomainCommand & ParamsDecodable).Type
    let params: JSON
    /// Field that names the customer in this command.
    let field: String

    init(_ command: any (DomainCommand & ParamsDecodable).Type, _ params: JSON, field: String = "customer_id") {
        self.command = command
        self.params = params
        self.field = field
    }

    var testDescription: String { self.command.method }

    /// Runs the case in `harness` and returns the rejection, if any.
    func rejection(in harness: Harness) -> Rejection? {
        func run<C: DomainCommand & ParamsDecodable>(_ type: C.Type) -> Rejection? {
            harness.rejection(type, self.params)
        }
        return run(self.command)
    }
}

/// One case per command that targets an existing customer.
let commandsOnC1: [CommandCase] = [
    CommandCase(UpdateCustomer.self, ["customer_id": "c1", "set": ["tier": "gold"]]),
    CommandCase(TagCustomer.self, ["customer_id": "c1", "add": ["vip"]]),
    CommandCase(AssignOwner.self, ["customer_id": "c1", "owner_id": "u9"]),
    CommandCase(SetLifecycleStage.self, ["customer_id": "c1", "stage": "customer"]),
    CommandCase(SetLeadStatus.self, ["customer_id": "c1", "status": "OPEN"]),
    CommandCase(SetConsent.self, ["customer_id": "c1", "channel": "email", "status": "opted_in"]),
    CommandCase(LogActivity.self, ["type": "note", "customer_ids": ["c0", "c1"]], field: "customer_ids[1]"),
    CommandCase(SetLegalHold.self, ["customer_id": "c1", "on": true]),
]

@Suite struct CustomerStatusTests {
    func harness(_ status: CustomerState.Status) throws -> Harness {
        let harness = Harness()
        try harness.given(CreateCustomer.self, adaParams("c0", email: "zero@example.com"))
        try harness.given(CreateCustomer.self, adaParams("c1"))
        var customer = try harness.customer("c1")
        customer.status = status
        customer.mergedInto = status == .merged ? "c7" : nil
        harness.put(customer)
        return harness
    }

    @Test(arguments: commandsOnC1)
    func activeCustomerAccepted(_ testCase: CommandCase) throws {
        #expect(testCase.rejection(in: try self.harness(.active)) == nil)
    }

    @Test(arguments: commandsOnC1)
    func mergedCustomerIsRejected(_ testCase: CommandCase) throws {
        let rejection = testCase.rejection(in: try self.harness(.merged))
        expectRejection(rejection, .customerMerged, field: testCase.field)
        #expect(rejection?.details == ["merged_into": "c7"])
    }

    @Test(arguments: commandsOnC1)
    func erasedCustomerIsRejected(_ testCase: CommandCase) throws {
        expectRejection(testCase.rejection(in: try self.harness(.erased)), .customerErased, field: testCase.field)
    }

    @Test(arguments: commandsOnC1)
    func missingCustomerIsNotFound(_ testCase: CommandCase) throws {
        let harness = Harness()
        try harness.given(CreateCustomer.self, adaParams("c0", email: "zero@example.com"))
        let rejection = testCase.rejection(in: harness)
        expectRejection(rejection, .notFound, field: testCase.field)
        #expect(rejection?.details == ["id": "c1"])
    }

    @Test func targetStreams() throws {
        let context = CommandContext(at: 0, generatedID: "g1")
        #expect(try TagCustomer(params: ["customer_id": "c1", "add": ["x"]]).targetStream(context) == "customer-c1")
        #expect(try CreateCustomer(params: adaParams("c5")).targetStream(context) == "customer-c5")
        #expect(
            try LogActivity(params: ["type": "note", "customer_ids": ["c1"]]).targetStream(context) == "activity-g1"
        )
        #expect(
            try LogActivity(params: ["type": "note", "customer_ids": ["c1"], "activity_id": "a1"])
                .targetStream(context) == "activity-a1"
        )
    }

    @Test func methodTableListsEveryCommand() throws {
        #expect(
            // Customer and activity commands first; sales and service commands follow.
            Array(RPCMethods.all.map(\.name).prefix(9))
                == [
                    "customer.create", "customer.update", "customer.tag", "customer.assign_owner",
                    "customer.set_lifecycle_stage", "customer.set_lead_status", "customer.set_consent",
                    "activity.log", "customer.merge",
                ]
        )
        var params = try Params(["customer_id": "c1", "add": ["vip"]])
        let tag = try RPCMethods.method("customer.tag")?.decode?(&params)
        #expect(tag is TagCustomer)
        #expect(RPCMethods.method("customer.erase")?.access == .admin, "erasure needs the admin role")
        #expect(RPCMethods.method("customer.merge")?.access == .write)
    }
}

@Suite struct TagCustomerTests {
    @Test func tagEmitsOnlyRealChanges() throws {
        let harness = Harness()
        var params = adaParams("c1")
        params["tags"] = ["vip", "beta"]
        try harness.given(CreateCustomer.self, params)
        let decision = try harness.when(
            TagCustomer.self,
            ["customer_id": "c1", "add": ["vip", "new", "Ä 1:x", "new"], "remove": ["beta", "gone"]]
        )
        #expect(decision.result == CommandResult(.customer, "c1"))
        let event = try #require(decision.events.first)
        #expect(event.type == "CustomerTagged")
        #expect(event.stream == "customer-c1")
        #expect(event.payloadData == ["customer_id": "c1", "added": ["new", "Ä 1:x"], "removed": ["beta"]])
        #expect(event.payloadPII == .null)
        try harness.record(decision.events)
        #expect(try harness.customer("c1").tags == ["new", "vip", "Ä 1:x"])
    }

    @Test(arguments: [
        ["customer_id": "c1", "add": ["vip"]] as JSON,
        ["customer_id": "c1", "remove": ["absent"]],
        ["customer_id": "c1", "add": [], "remove": []],
    ])
    func noChangeGivesNoEvent(_ params: JSON) throws {
        let harness = Harness()
        var create = adaParams("c1")
        create["tags"] = ["vip"]
        try harness.given(CreateCustomer.self, create)
        #expect(try harness.when(TagCustomer.self, params).events.isEmpty)
    }

    @Test(arguments: [
        RejectionCase("neither add nor remove", ["customer_id": "c1"], .missingField, "add"),
        RejectionCase("missing customer", ["add": ["x"]], .missingField, "customer_id"),
        RejectionCase("bad added tag", ["customer_id": "c1", "add": ["ok", "b@d"]], .invalidField, "add[1]"),
        RejectionCase("bad removed tag", ["customer_id": "c1", "remove": ["x\ny"]], .invalidField, "remove[0]"),
        RejectionCase(
            "too long tag",
            ["customer_id": "c1", "add": [.string(String(repeating: "t", count: 65))]],
            .invalidField,
            "add[0]"
        ),
        RejectionCase(
            "add and remove same",
            ["customer_id": "c1", "add": ["x"], "remove": ["x"]],
            .invalidField,
            "remove"
        ),
        RejectionCase("add not an array", ["customer_id": "c1", "add": "x"], .invalidField, "add"),
        RejectionCase("unknown field", ["customer_id": "c1", "add": ["x"], "tags": ["y"]], .invalidField, "tags"),
    ])
    func invalidParamsAreRejected(_ testCase: RejectionCase) throws {
        let harness = Harness()
        try harness.given(CreateCustomer.self, adaParams("c1"))
        expectRejection(harness.rejection(TagCustomer.self, testCase.params), testCase.reason, field: testCase.field)
    }
}

@Suite struct AssignOwnerTests {
    @Test func assignReassignAndUnassign() throws {
        let harness = Harness()
        try harness.given(CreateCustomer.self, adaParams("c1"))
        let first = try harness.given(AssignOwner.self, ["customer_id": "c1", "owner_id": "u1"])
        #expect(first.result == CommandResult(.customer, "c1"))
        #expect(first.events.map(\.type) == ["CustomerOwnerChanged"])
        #expect(first.events[0].payloadData == ["customer_id": "c1", "from": nil, "to": "u1"])
        #expect(first.events[0].stream == "customer-c1")
        let second = try harness.given(AssignOwner.self, ["customer_id": "c1", "owner_id": "u2"])
        #expect(second.events[0].payloadData == ["customer_id": "c1", "from": "u1", "to": "u2"])
        let cleared = try harness.given(AssignOwner.self, ["customer_id": "c1", "owner_id": nil])
        #expect(cleared.events[0].payloadData == ["customer_id": "c1", "from": "u2", "to": nil])
        #expect(try harness.customer("c1").ownerID == nil)
    }

    @Test func sameOwnerGivesNoEvent() throws {
        let harness = Harness()
        var params = adaParams("c1")
        params["owner_id"] = "u1"
        try harness.given(CreateCustomer.self, params)
        #expect(try harness.when(AssignOwner.self, ["customer_id": "c1", "owner_id": "u1"]).events.isEmpty)
        try harness.given(AssignOwner.self, ["customer_id": "c1", "owner_id": nil])
        #expect(try harness.when(AssignOwner.self, ["customer_id": "c1", "owner_id": nil]).events.isEmpty)
    }

    @Test(arguments: [
        RejectionCase("owner key missing", ["customer_id": "c1"], .missingField, "owner_id"),
        RejectionCase("bad owner", ["customer_id": "c1", "owner_id": "u 1"], .invalidField, "owner_id"),
        RejectionCase("owner not a string", ["customer_id": "c1", "owner_id": 7], .invalidField, "owner_id"),
        RejectionCase("unknown field", ["customer_id": "c1", "owner_id": "u1", "team": "x"], .invalidField, "team"),
    ])
    func invalidParamsAreRejected(_ testCase: RejectionCase) throws {
        let harness = Harness()
        try harness.given(CreateCustomer.self, adaParams("c1"))
        expectRejection(harness.rejection(AssignOwner.self, testCase.params), testCase.reason, field: testCase.field)
    }
}

@Suite struct LifecycleStageTests {
    @Test func forwardMoveEmitsManualChange() throws {
        let harness = Harness()
        try harness.given(CreateCustomer.self, adaParams("c1"))
        let decision = try harness.given(SetLifecycleStage.self, ["customer_id": "c1", "stage": "opportunity"])
        #expect(decision.result == CommandResult(.customer, "c1"))
        #expect(decision.events.map(\.type) == ["LifecycleStageChanged"])
        #expect(decision.events[0].stream == "customer-c1")
        #expect(
            decision.events[0].payloadData == ["customer_id": "c1", "from": "lead", "to": "opportunity", "source": "manual"]
        )
        #expect(try harness.customer("c1").lifecycleStage == "opportunity")
    }

    @Test func sameStageGivesNoEvent() throws {
        let harness = Harness()
        try harness.given(CreateCustomer.self, adaParams("c1"))
        #expect(try harness.when(SetLifecycleStage.self, ["customer_id": "c1", "stage": "lead"]).events.isEmpty)
    }

    @Test func backwardMoveNeedsAllowBackward() throws {
        let harness = Harness()
        try harness.given(CreateCustomer.self, adaParams("c1"))
        try harness.given(SetLifecycleStage.self, ["customer_id": "c1", "stage": "customer"])
        let rejection = harness.rejection(SetLifecycleStage.self, ["customer_id": "c1", "stage": "lead"])
        expectRejection(rejection, .lifecycleBackward, field: "stage")
        #expect(rejection?.details == ["from": "customer", "to": "lead"])
        let allowed = try harness.when(
            SetLifecycleStage.self,
            ["customer_id": "c1", "stage": "lead", "allow_backward": true]
        )
        #expect(
            allowed.events.first?.payloadData == ["customer_id": "c1", "from": "customer", "to": "lead", "source": "manual"]
        )
    }

    @Test(arguments: [
        RejectionCase("unknown stage", ["customer_id": "c1", "stage": "champion"], .invalidField, "stage"),
        RejectionCase("missing stage", ["customer_id": "c1"], .missingField, "stage"),
        RejectionCase(
            "allow_backward not bool",
            ["customer_id": "c1", "stage": "lead", "allow_backward": 1],
            .invalidField,
            "allow_backward"
        ),
        RejectionCase("unknown field", ["customer_id": "c1", "stage": "lead", "why": "x"], .invalidField, "why"),
    ])
    func invalidParamsAreRejected(_ testCase: RejectionCase) throws {
        let harness = Harness()
        try harness.given(CreateCustomer.self, adaParams("c1"))
        expectRejection(
            harness.rejection(SetLifecycleStage.self, testCase.params),
            testCase.reason,
            field: testCase.field
        )
    }
}

@Suite struct LeadStatusTests {
    @Test func setAndChangeLeadStatus() throws {
        let harness = Harness()
        try harness.given(CreateCustomer.self, adaParams("c1"))
        let first = try harness.given(SetLeadStatus.self, ["customer_id": "c1", "status": "ATTEMPTED_TO_CONTACT"])
        #expect(first.result == CommandResult(.customer, "c1"))
        #expect(first.events.map(\.type) == ["LeadStatusChanged"])
        #expect(first.events[0].payloadData == ["customer_id": "c1", "from": nil, "to": "ATTEMPTED_TO_CONTACT"])
        let second = try harness.given(SetLeadStatus.self, ["customer_id": "c1", "status": "CONNECTED"])
        #expect(second.events[0].payloadData == ["customer_id": "c1", "from": "ATTEMPTED_TO_CONTACT", "to": "CONNECTED"])
        #expect(try harness.when(SetLeadStatus.self, ["customer_id": "c1", "status": "CONNECTED"]).events.isEmpty)
    }

    @Test(arguments: [
        RejectionCase("lower-case status", ["customer_id": "c1", "status": "connected"], .invalidField, "status"),
        RejectionCase("missing status", ["customer_id": "c1"], .missingField, "status"),
        RejectionCase("unknown field", ["customer_id": "c1", "status": "NEW", "x": 1], .invalidField, "x"),
    ])
    func invalidParamsAreRejected(_ testCase: RejectionCase) throws {
        let harness = Harness()
        try harness.given(CreateCustomer.self, adaParams("c1"))
        expectRejection(harness.rejection(SetLeadStatus.self, testCase.params), testCase.reason, field: testCase.field)
    }
}

@Suite struct ConsentTests {
    @Test func emailConsentWithSingleAddress() throws {
        let harness = Harness()
        try harness.given(CreateCustomer.self, adaParams("c1"))
        let decision = try harness.given(
            SetConsent.self,
            ["customer_id": "c1", "channel": "email", "status": "opted_out", "source": "unsubscribe link"]
        )
        #expect(decision.result == CommandResult(.customer, "c1"))
        let event = try #require(decision.events.first)
        #expect(event.type == "ConsentChanged")
        #expect(event.stream == "customer-c1")
        #expect(event.causedBy == nil)
        #expect(
            event.payloadData
                == [
                    "customer_id": "c1", "channel": "email", "from": "not_set", "to": "opted_out",
                    "legal_basis": nil, "source": "unsubscribe link",
                ]
        )
        #expect(event.payloadPII == ["contact_point": "ada@example.com", "evidence": nil])
        let email = try #require(try harness.customer("c1").emails.first)
        #expect(email.optedOut)
        #expect(email.consent == "opted_out")

        let back = try harness.given(
            SetConsent.self,
            ["customer_id": "c1", "channel": "email", "address": "ADA@example.com", "status": "opted_in"]
        )
        #expect(back.events.first?.payloadData["from"] == "opted_out")
        #expect(try harness.customer("c1").emails.first?.optedOut == false)
    }

    @Test func sameStatusGivesNoEvent() throws {
        let harness = Harness()
        try harness.given(CreateCustomer.self, adaParams("c1"))
        #expect(
            try harness.when(SetConsent.self, ["customer_id": "c1", "channel": "email", "status": "not_set"]).events
                .isEmpty
        )
        try harness.given(SetConsent.self, ["customer_id": "c1", "channel": "sms", "status": "opted_in"])
        #expect(
            try harness.when(SetConsent.self, ["customer_id": "c1", "channel": "sms", "status": "opted_in"]).events
                .isEmpty
        )
        // sms and phone consent are separate.
        #expect(
            try harness.when(SetConsent.self, ["customer_id": "c1", "channel": "phone", "status": "opted_in"]).events
                .count == 1
        )
    }

    @Test func phoneConsentMatchesOnNormalizedNumberAndSetsDoNotCall() throws {
        let harness = Harness()
        var params = adaParams("c1")
        params["phones"] = [["number": "+44 20 7946 0958"], ["number": "(555) 010-9999"]]
        try harness.given(CreateCustomer.self, params)
        let decision = try harness.given(
            SetConsent.self,
            [
                "customer_id": "c1", "channel": "phone", "address": "5550109999", "status": "opted_out",
                "legal_basis": "legitimate_interest", "evidence": "call 12",
            ]
        )
        let event = try #require(decision.events.first)
        #expect(
            event.payloadData
                == [
                    "customer_id": "c1", "channel": "phone", "from": "not_set", "to": "opted_out",
                    "legal_basis": "legitimate_interest", "source": nil,
                ]
        )
        #expect(event.payloadPII == ["contact_point": "(555) 010-9999", "evidence": "call 12"])
        let phones = try harness.customer("c1").phones
        #expect(phones.map(\.doNotCall) == [false, true])
    }

    @Test(arguments: [
        RejectionCase(
            "bad channel",
            ["customer_id": "c1", "channel": "post", "status": "opted_in"],
            .invalidField,
            "channel"
        ),
        RejectionCase(
            "bad status",
            ["customer_id": "c1", "channel": "email", "status": "yes"],
            .invalidField,
            "status"
        ),
        RejectionCase("missing channel", ["customer_id": "c1", "status": "opted_in"], .missingField, "channel"),
        RejectionCase("missing status", ["customer_id": "c1", "channel": "email"], .missingField, "status"),
        RejectionCase(
            "unknown email",
            [
                "customer_id": "c1", "channel": "email", "address": "x@y.zz",
                "status": "opted_in",
            ],
            .invalidField,
            "address"
        ),
        RejectionCase(
            "several emails",
            ["customer_id": "c2", "channel": "email", "status": "opted_in"],
            .missingField,
            "address"
        ),
        RejectionCase(
            "no email",
            ["customer_id": "c3", "channel": "email", "status": "opted_in"],
            .invalidField,
            "address"
        ),
        RejectionCase(
            "unknown phone",
            [
                "customer_id": "c1", "channel": "sms", "address": "+1 999 999 9999",
                "status": "opted_in",
            ],
            .invalidField,
            "address"
        ),
        RejectionCase(
            "not a phone",
            [
                "customer_id": "c1", "channel": "phone", "address": "call me",
                "status": "opted_in",
            ],
            .invalidField,
            "address"
        ),
        RejectionCase(
            "no phone",
            ["customer_id": "c3", "channel": "phone", "status": "opted_in"],
            .invalidField,
            "address"
        ),
        RejectionCase(
            "several phones",
            ["customer_id": "c2", "channel": "sms", "status": "opted_in"],
            .missingField,
            "address"
        ),
        RejectionCase(
            "unknown field",
            ["customer_id": "c1", "channel": "email", "status": "opted_in", "at_ms": 1],
            .invalidField,
            "at_ms"
        ),
    ])
    func invalidParamsAreRejected(_ testCase: RejectionCase) throws {
        let harness = Harness()
        try harness.given(CreateCustomer.self, adaParams("c1"))
        try harness.given(
            CreateCustomer.self,
            [
                "customer_id": "c2", "emails": [["address": "a@two.io"], ["address": "b@two.io"]],
                "phones": [["number": "1234567"], ["number": "7654321"]],
            ]
        )
        try harness.given(CreateCustomer.self, ["customer_id": "c3", "first_name": "Nameonly"])
        expectRejection(harness.rejection(SetConsent.self, testCase.params), testCase.reason, field: testCase.field)
    }
}
