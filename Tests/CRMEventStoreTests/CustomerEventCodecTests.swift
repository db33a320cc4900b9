import CRMDomain
import CRMEventStore
import CRMJSON
import Testing

/// The customer family of the event codec: typed events give exactly the payload bytes the log has
/// always held for their type, and those bytes decode to the same typed events.
@Suite struct CustomerEventCodecTests {
    static var created: CustomerCreated {
        var customer = CustomerState(id: "c1")
        customer.firstName = "Ada"
        customer.emails = [CustomerState.Email(address: "Ada@Example.com", primary: true, consent: "opted_in")]
        customer.phones = [CustomerState.Phone(number: "+1 555 0100", normalized: "+15550100", type: "mobile", primary: true)]
        customer.address = CustomerState.PostalAddress(city: "London")
        customer.custom = ["plan": "pro", "seats": 3, "ratio": 1.5, "trial": false]
        customer.tags = ["vip"]
        customer.tier = "gold"
        return CustomerCreated(customer)
    }

    static var updated: CustomerUpdated {
        var old = CustomerState(id: "c1")
        old.firstName = "Ada"
        old.tier = "gold"
        old.custom = ["seats": 3]
        var new = old
        new.firstName = nil
        new.tier = "silver"
        new.custom = ["plan": "pro"]
        new.emails = [CustomerState.Email(address: "ada@example.com", primary: true)]
        return CustomerUpdated(from: old, to: new)
    }

    static var activity: ActivityLogged {
        var activity = ActivityLogged(activityID: "a1", kind: "task", customerIDs: ["c1", "c2"])
        activity.occurredAt = 1_741_361_400_000
        activity.task = ActivityLogged.Task(dueAt: 1_741_597_200_000, status: "WAITING")
        activity.subject = "Send proposal"
        return activity
    }

    /// One event of every customer type.
    static let events: [CustomerEvent] = [
        .created(created),
        .updated(updated),
        .tagged(CustomerTagged(customerID: "c1", added: ["a", "b"], removed: [])),
        .ownerChanged(CustomerOwnerChanged(customerID: "c1", from: nil, to: "u1")),
        .lifecycleStageChanged(LifecycleStageChanged(customerID: "c1", from: "lead", to: "customer", source: "automation")),
        .leadStatusChanged(LeadStatusChanged(customerID: "c1", from: "NEW", to: nil)),
        .consentChanged(
            ConsentChanged(
                customerID: "c1", channel: "email", from: "not_set", to: "opted_out", legalBasis: nil,
                source: "form", contactPoint: "ada@example.com", evidence: "msg-1"
            )
        ),
        .activityLogged(activity),
    ]

    @Test(arguments: CustomerEventCodecTests.events)
    func everyTypeRoundTripsThroughItsPayload(_ event: CustomerEvent) {
        let untyped = EventCodec.untyped(.customer(event))
        #expect(untyped.type == event.type)
        #expect(EventCodec.typed(.untyped(untyped)) == .customer(event))
    }

    @Test(arguments: CustomerEventCodecTests.events + [
        .activityLogged(ActivityLogged(activityID: "a2", kind: "call", customerIDs: [])),
        .activityLogged(
            {
                var call = ActivityLogged(activityID: "a3", kind: "call", customerIDs: ["c1"])
                (call.direction, call.durationSec, call.outcome, call.ownerID) = ("inbound", 125, "connected", "u1")
                (call.startAt, call.endAt, call.dealID, call.ticketID) = (1, 2, "d1", "t1")
                (call.subject, call.body) = ("Call \"back\"", "Line 1\nLine 2 ✓")
                return call
            }()
        ),
        .tagged(CustomerTagged(customerID: "c1", added: [], removed: ["x", "y"])),
        .created(CustomerCreated(CustomerState(id: "bare"))),
        .created(
            {
                var customer = CustomerState(id: "c2")
                customer.lastName = "Ørsted"
                customer.emails = [
                    CustomerState.Email(address: "a@x.io", primary: false, optedOut: true, invalid: true),
                    CustomerState.Email(address: "b@x.io", primary: true),
                ]
                customer.phones = [CustomerState.Phone(number: "0100", normalized: "0100", type: nil, primary: true)]
                customer.address = CustomerState.PostalAddress(street: "1 Main St", postalCode: "N1", country: "UK")
                customer.custom = ["zeta": "z", "Alpha": 1, "a_b": true, "é": 2.5, "ab": "x"]
                (customer.ownerID, customer.source, customer.leadStatus) = ("u1", "web", "NEW")
                return CustomerCreated(customer)
            }()
        ),
        .ownerChanged(CustomerOwnerChanged(customerID: "c1", from: "u1", to: nil)),
        .updated(
            {
                // Every field changed, custom keys whose order differs between UTF-8 and other orders.
                var old = CustomerState(id: "c1")
                (old.lastName, old.jobTitle, old.source) = ("Lovelace", "CTO", "web")
                old.address = CustomerState.PostalAddress(street: "1 Main St", country: "UK")
                old.phones = [CustomerState.Phone(number: "0100", normalized: "0100", type: nil, primary: true)]
                old.custom = ["zeta": "z", "Alpha": 1, "é": 2.5]
                var new = CustomerState(id: "c1")
                (new.firstName, new.companyName, new.tier) = ("Ada \"A\"", "Analytical Engines", "gold")
                new.emails = [
                    CustomerState.Email(address: "a@x.io", primary: false, optedOut: true, invalid: true),
                    CustomerState.Email(address: "b@x.io", primary: true),
                ]
                new.phones = [CustomerState.Phone(number: "+44 20", normalized: "+4420", type: "work", primary: true)]
                new.custom = ["zeta": "y", "a_b": true, "ab": "x", "é": 3]
                return CustomerUpdated(from: old, to: new)
            }()
        ),
        .updated(
            {
                // Only fields outside `pii`, and an address added.
                var new = CustomerState(id: "c1")
                new.tier = "silver"
                new.address = CustomerState.PostalAddress(city: "Paris")
                return CustomerUpdated(from: CustomerState(id: "c1"), to: new)
            }()
        ),
        .updated(
            {
                var old = CustomerState(id: "c1")
                old.source = "import"
                return CustomerUpdated(from: old, to: CustomerState(id: "c1"))
            }()
        ),
        .lifecycleStageChanged(LifecycleStageChanged(customerID: "c1", from: nil, to: "lead", source: nil)),
        .consentChanged(
            ConsentChanged(
                customerID: "c1", channel: "sms", from: nil, to: "opted_in", legalBasis: "consent", source: nil,
                contactPoint: nil, evidence: nil
            )
        ),
    ])
    func theDirectlyWrittenPayloadEqualsTheSerializedOne(_ event: CustomerEvent) {
        let payload = EventCodec.payload(.customer(event))
        let texts = EventCodec.payloadTexts(.customer(event))
        #expect(String(decoding: texts.data, as: UTF8.self) == payload.data.serializedString())
        #expect(String(decoding: texts.pii, as: UTF8.self) == payload.pii.serializedString())
    }

    @Test func thePayloadBytesAreTheLogsCanonicalJSON() {
        func text(_ event: CustomerEvent) -> (String, String) {
            let payload = EventCodec.payload(.customer(event))
            return (payload.data.serializedString(), payload.pii.serializedString())
        }
        #expect(
            text(.created(Self.created)) == (
                #"{"customer_id":"c1","lead_status":null,"lifecycle_stage":"lead","owner_id":null,"source":null,"tags":["vip"],"tier":"gold"}"#,
                #"{"address":{"city":"London","country":null,"postal_code":null,"state":null,"street":null},"company_name":null,"#
                    + #""custom":{"plan":"pro","ratio":1.5,"seats":3,"trial":false},"emails":[{"address":"Ada@Example.com","#
                    + #""invalid":false,"opted_out":false,"primary":true}],"first_name":"Ada","job_title":null,"last_name":null,"#
                    + #""phones":[{"normalized":"+15550100","number":"+1 555 0100","primary":true,"type":"mobile"}]}"#
            )
        )
        #expect(
            text(.updated(Self.updated)) == (
                #"{"changed_fields":["custom.plan","custom.seats","emails","first_name","tier"],"changes":{"tier":"#
                    + #"{"from":"gold","to":"silver"}},"customer_id":"c1"}"#,
                #"{"changes":{"custom.plan":{"from":null,"to":"pro"},"custom.seats":{"from":3,"to":null},"emails":{"from":[],"#
                    + #""to":[{"address":"ada@example.com","invalid":false,"opted_out":false,"primary":true}]},"#
                    + #""first_name":{"from":"Ada","to":null}}}"#
            )
        )
        #expect(
            text(Self.events[4]) == (
                #"{"customer_id":"c1","from":"lead","source":"automation","to":"customer"}"#, "null"
            )
        )
        #expect(
            text(Self.events[6]) == (
                #"{"channel":"email","customer_id":"c1","from":"not_set","legal_basis":null,"source":"form","to":"opted_out"}"#,
                #"{"contact_point":"ada@example.com","evidence":"msg-1"}"#
            )
        )
        #expect(
            text(.activityLogged(Self.activity)) == (
                #"{"activity_id":"a1","customer_ids":["c1","c2"],"deal_id":null,"direction":null,"duration_sec":null,"#
                    + #""end_at":null,"kind":"task","occurred_at":"2025-03-07T15:30:00.000Z","outcome":null,"owner_id":null,"#
                    + #""start_at":null,"task":{"due_at":"2025-03-10T09:00:00.000Z","status":"WAITING"},"ticket_id":null}"#,
                #"{"body":null,"subject":"Send proposal"}"#
            )
        )
    }

    @Test func oddStoredPayloadsDecodeLenientlyOrStayUntyped() {
        func typed(_ type: String, _ data: JSON, _ pii: JSON = .null) -> DomainEvent {
            EventCodec.typed(.untyped(UntypedEvent(type: type, schemaVersion: EventSchema.currentVersion(of: type), data: data, pii: pii)))
        }
        // Mistyped and missing members read as absent.
        let tagged = typed(EventType.customerTagged, ["customer_id": "c1", "added": [1, "x"]])
        #expect(tagged == .customer(.tagged(CustomerTagged(customerID: "c1", added: ["x"], removed: []))))
        // Without the customer it is about, or the stage it moves to, an event stays untyped (folds skip it).
        #expect(typed(EventType.customerTagged, ["added": ["x"]]).untypedData == ["added": ["x"]])
        #expect(typed(EventType.lifecycleStageChanged, ["customer_id": "c1"]).untypedData == ["customer_id": "c1"])
        // An older schema version is never typed as if it were current.
        let old = DomainEvent.untyped(UntypedEvent(type: EventType.consentChanged, schemaVersion: 1, data: [:], pii: .null))
        #expect(EventCodec.typed(old) == old)
        // Types of other families pass through.
        let other = DomainEvent.untyped(UntypedEvent(type: "SomethingElse", schemaVersion: 1, data: ["a": 1], pii: .null))
        #expect(EventCodec.typed(other) == other)
    }
}
