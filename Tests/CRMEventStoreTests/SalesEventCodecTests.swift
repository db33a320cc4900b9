import CRMDomain
import CRMEventStore
import CRMJSON
import CRMRPC
import CRMTesting
import Testing

/// The sales events: typed from `decide`, the same payload bytes as the untyped JSON crmd has always
/// written, and lenient decoding of stored payloads.
@Suite struct SalesEventCodecTests {
    /// Runs commands against a decision state the way the daemon does: decide, record, fold.
    final class Sales {
        let state = InMemoryDecisionState()
        var log = InMemoryLog()
        var at: Int64 = 1_741_165_200_000
        private var generated = 0

        /// Decides `command` with `params`, records and folds its events, and returns them.
        @discardableResult
        func run<C: DomainCommand & ParamsDecodable>(_ command: C.Type, _ params: JSON) throws -> [NewEvent] {
            self.generated += 1
            let context = CommandContext(at: self.at, generatedID: "g\(self.generated)")
            let decision = try C(params: params).decide(self.state, context)
            for event in self.log.record(decision.events, at: self.at) {
                try DecisionEvolver.apply(event, to: self.state)
            }
            return decision.events
        }

        /// The sales pipeline, customers `ada` and `grace`, and deal `deal-1` as in the schema-v1 fixture.
        static func fixture() throws -> (Sales, pipeline: NewEvent, created: NewEvent) {
            let sales = Sales()
            let pipeline = try sales.run(DefinePipeline.self, DefaultPipeline.params())
            try sales.run(CreateCustomer.self, ["customer_id": "ada", "first_name": "Ada"])
            try sales.run(CreateCustomer.self, ["customer_id": "grace", "first_name": "Grace"])
            let created = try sales.run(
                CreateDeal.self,
                [
                    "deal_id": "deal-1", "pipeline_id": "sales", "name": "Engine licence", "customer_ids": ["ada"],
                    "amount": "12000", "currency": "GBP", "close_date": "2025-06-30", "owner_id": "u42",
                ]
            )
            return (sales, pipeline[0], created[0])
        }
    }

    /// The canonical text of a payload part.
    static func text(_ json: JSON) -> String { String(decoding: json.serialized(), as: UTF8.self) }

    /// Checks that `event` is typed, round-trips through its JSON payload, and serializes to `data`
    /// and `pii`.
    static func expect(
        _ event: NewEvent,
        data: String,
        pii: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        guard case .sales = event.event else {
            Issue.record("\(event.type) is not typed", sourceLocation: sourceLocation)
            return
        }
        let roundTripped = EventCodec.typed(.untyped(EventCodec.untyped(event.event)))
        #expect(roundTripped == event.event, sourceLocation: sourceLocation)
        let payload = EventCodec.payload(event.event)
        #expect(SalesEventCodecTests.text(payload.data) == data, sourceLocation: sourceLocation)
        #expect(SalesEventCodecTests.text(payload.pii) == pii, sourceLocation: sourceLocation)
    }

    /// A stored payload of `type` at its current schema version, decoded as the store does.
    static func decode(_ type: String, data: JSON, pii: JSON = .null) -> DomainEvent {
        EventCodec.typed(.untyped(UntypedEvent(type: type, schemaVersion: 1, data: data, pii: pii)))
    }

    @Test func pipelineDefinedKeepsItsBytes() throws {
        let (_, pipeline, _) = try Sales.fixture()
        // Data as in Tests/Fixtures/schema-v1, written by an older crmd.
        SalesEventCodecTests.expect(
            pipeline,
            data: #"{"name":"Sales","pipeline_id":"sales","require_lost_reason":false,"stages":["#
                + #"{"id":"prospecting","kind":"open","name":"Prospecting","probability":10},"#
                + #"{"id":"qualification","kind":"open","name":"Qualification","probability":20},"#
                + #"{"id":"proposal","kind":"open","name":"Proposal","probability":50},"#
                + #"{"id":"negotiation","kind":"open","name":"Negotiation","probability":80},"#
                + #"{"id":"won","kind":"won","name":"Closed Won","probability":100},"#
                + #"{"id":"lost","kind":"lost","name":"Closed Lost","probability":0}],"version":1}"#,
            pii: "null"
        )
        guard case .sales(.pipelineDefined(let defined)) = pipeline.event else { return }
        #expect(defined.definition.version == 1)
        #expect(defined.definition.stages.map(\.kind) == ["open", "open", "open", "open", "won", "lost"])
    }

    @Test func dealCreatedKeepsItsBytes() throws {
        let (sales, _, created) = try Sales.fixture()
        SalesEventCodecTests.expect(
            created,
            data: #"{"amount":"12000","close_date":"2025-06-30","currency":"GBP","customer_ids":["ada"],"#
                + #""deal_id":"deal-1","kind":"open","last_open_stage":"prospecting","lost_reason":null,"#
                + #""owner_id":"u42","pipeline_id":"sales","pipeline_version":1,"probability":10,"#
                + #""stage_id":"prospecting"}"#,
            pii: #"{"name":"Engine licence"}"#
        )
        #expect(
            created.event
                == .sales(
                    .dealCreated(
                        DealCreated(
                            dealID: "deal-1", pipelineID: "sales", pipelineVersion: 1, stageID: "prospecting",
                            kind: "open", probability: 10, amount: MoneyAmount(decimal: "12000"), currency: "GBP",
                            closeDate: "2025-06-30", customerIDs: ["ada"], ownerID: "u42",
                            lastOpenStage: "prospecting", lostReason: nil, name: "Engine licence"
                        )
                    )
                )
        )
        // Created won: no amount, last open stage the most probable open stage.
        let won = try sales.run(
            CreateDeal.self,
            [
                "deal_id": "deal-2", "pipeline_id": "sales", "name": "Quick win", "customer_ids": ["grace", "ada"],
                "stage_id": "won",
            ]
        )
        SalesEventCodecTests.expect(
            won[0],
            data: #"{"amount":null,"close_date":null,"currency":null,"customer_ids":["grace","ada"],"#
                + #""deal_id":"deal-2","kind":"won","last_open_stage":"negotiation","lost_reason":null,"#
                + #""owner_id":null,"pipeline_id":"sales","pipeline_version":1,"probability":100,"#
                + #""stage_id":"won"}"#,
            pii: #"{"name":"Quick win"}"#
        )
    }

    @Test func dealStageChangedKeepsItsBytes() throws {
        let (sales, _, _) = try Sales.fixture()
        sales.at += 86_400_000
        let moved = try sales.run(MoveDeal.self, ["deal_id": "deal-1", "stage_id": "qualification"])
        // Data as in Tests/Fixtures/schema-v1, written by an older crmd.
        SalesEventCodecTests.expect(
            moved[0],
            data: #"{"backward":false,"deal_id":"deal-1","from":"prospecting","from_kind":"open","#
                + #""last_open_stage":"qualification","lost_reason":null,"pipeline_id":"sales","probability":20,"#
                + #""reopened":false,"to":"qualification","to_kind":"open"}"#,
            pii: "null"
        )
        let lost = try sales.run(MoveDeal.self, ["deal_id": "deal-1", "stage_id": "lost", "lost_reason": "price"])
        SalesEventCodecTests.expect(
            lost[0],
            data: #"{"backward":false,"deal_id":"deal-1","from":"qualification","from_kind":"open","#
                + #""last_open_stage":"qualification","lost_reason":"price","pipeline_id":"sales","probability":0,"#
                + #""reopened":false,"to":"lost","to_kind":"lost"}"#,
            pii: "null"
        )
        let reopened = try sales.run(MoveDeal.self, ["deal_id": "deal-1", "stage_id": "prospecting", "probability": 5])
        SalesEventCodecTests.expect(
            reopened[0],
            data: #"{"backward":false,"deal_id":"deal-1","from":"lost","from_kind":"lost","#
                + #""last_open_stage":"prospecting","lost_reason":null,"pipeline_id":"sales","probability":5,"#
                + #""reopened":true,"to":"prospecting","to_kind":"open"}"#,
            pii: "null"
        )
    }

    @Test func dealUpdatedKeepsItsBytes() throws {
        let (sales, _, _) = try Sales.fixture()
        let updated = try sales.run(
            UpdateDeal.self,
            [
                "deal_id": "deal-1", "name": "Engine licence v2", "amount": 15000.5, "close_date": nil,
                "owner_id": nil, "customer_ids": ["ada", "grace"],
            ]
        )
        #expect(updated.map(\.type) == ["DealUpdated", "LifecycleStageChanged"])
        SalesEventCodecTests.expect(
            updated[0],
            data: #"{"changed_fields":["amount","close_date","customer_ids","name","owner_id"],"changes":{"#
                + #""amount":{"from":"12000","to":"15000.5"},"close_date":{"from":"2025-06-30","to":null},"#
                + #""customer_ids":{"from":["ada"],"to":["ada","grace"]},"owner_id":{"from":"u42","to":null}},"#
                + #""deal_id":"deal-1","pipeline_id":"sales"}"#,
            pii: #"{"changes":{"name":{"from":"Engine licence","to":"Engine licence v2"}}}"#
        )
        let currency = try sales.run(UpdateDeal.self, ["deal_id": "deal-1", "currency": "EUR"])
        SalesEventCodecTests.expect(
            currency[0],
            data: #"{"changed_fields":["currency"],"changes":{"currency":{"from":"GBP","to":"EUR"}},"#
                + #""deal_id":"deal-1","pipeline_id":"sales"}"#,
            pii: #"{"changes":{}}"#
        )
        #expect(try sales.state.deal("deal-1")?.currency == "EUR")
        #expect(try sales.state.deal("deal-1")?.name == "Engine licence v2")
    }

    /// Typed and untyped appends of the same event give the same record bytes, hence the same hashes.
    @Test func typedAndUntypedRecordsAreTheSameBytes() throws {
        let (sales, _, _) = try Sales.fixture()
        try sales.run(MoveDeal.self, ["deal_id": "deal-1", "stage_id": "lost", "lost_reason": "price"])
        try sales.run(UpdateDeal.self, ["deal_id": "deal-1", "name": "Renamed", "owner_id": nil])
        let events = sales.log.events.filter { $0.stream.hasPrefix("deal-") || $0.stream.hasPrefix("pipeline-") }
        #expect(events.map(\.type) == ["PipelineDefined", "DealCreated", "DealStageChanged", "DealUpdated"])
        for recorded in events {
            guard case .sales = recorded.event else {
                Issue.record("\(recorded.type) at \(recorded.seq) is not typed")
                continue
            }
            var untyped = recorded
            untyped.event = .untyped(EventCodec.untyped(recorded.event))
            let typedBytes = EventRecord.encode(recorded, previousHash: EventRecord.genesisHash)
            #expect(typedBytes == EventRecord.encode(untyped, previousHash: EventRecord.genesisHash))
            let decoded = try typedBytes.withUnsafeBytes { try EventRecord.decode($0) }
            #expect(decoded == recorded)
        }
    }

    @Test func storedPayloadsWithMissingOrOddFieldsDecodeLeniently() throws {
        // DealCreated with only its ids: the folds' old defaults.
        let bare = SalesEventCodecTests.decode(
            "DealCreated",
            data: ["deal_id": "d1", "pipeline_id": "p", "stage_id": "s", "amount": "not money", "customer_ids": 3]
        )
        #expect(
            bare
                == .sales(
                    .dealCreated(
                        DealCreated(
                            dealID: "d1", pipelineID: "p", pipelineVersion: 1, stageID: "s", kind: "open",
                            probability: 0, amount: nil, currency: nil, closeDate: nil, customerIDs: [], ownerID: nil,
                            lastOpenStage: nil, lostReason: nil, name: nil
                        )
                    )
                )
        )
        // DealStageChanged without probability, kinds or flags: they stay as they were / default.
        let move = SalesEventCodecTests.decode("DealStageChanged", data: ["deal_id": "d1", "to": "s2"])
        #expect(
            move
                == .sales(
                    .dealStageChanged(
                        DealStageChanged(
                            dealID: "d1", pipelineID: "", from: nil, to: "s2", fromKind: "open", toKind: "open",
                            probability: nil, backward: false, reopened: false, lastOpenStage: nil, lostReason: nil
                        )
                    )
                )
        )
        // DealUpdated: a change under `pii` or `data`, a `to` of the wrong type, unknown fields.
        let update = SalesEventCodecTests.decode(
            "DealUpdated",
            data: [
                "deal_id": "d1",
                "changes": [
                    "amount": ["from": "1", "to": "-5"], "customer_ids": ["to": "c1"], "name": ["to": "Data name"],
                    "colour": ["from": "red", "to": "blue"],
                ],
            ],
            pii: ["changes": ["name": ["from": "A", "to": 7]]]
        )
        #expect(
            update
                == .sales(
                    .dealUpdated(
                        DealUpdated(
                            dealID: "d1",
                            pipelineID: "",
                            name: .init(from: "A", to: nil),
                            amount: .init(from: MoneyAmount(decimal: "1"), to: nil),
                            customerIDs: .init(from: nil, to: nil)
                        )
                    )
                )
        )
        // A pipeline whose definition is malformed, deal events without their deal, a move without
        // its target: every fold ignored them, and they stay untyped.
        let ignored: [(String, JSON)] = [
            ("PipelineDefined", ["pipeline_id": "p", "stages": [["id": "a"]]]),
            ("PipelineDefined", ["stages": []]),
            ("DealCreated", ["pipeline_id": "p", "stage_id": "s"]),
            ("DealCreated", ["deal_id": "d1", "stage_id": "s"]),
            ("DealStageChanged", ["deal_id": "d1"]),
            ("DealUpdated", ["changes": [:]]),
            ("DealUpdated", .null),
        ]
        for (type, data) in ignored {
            let event = SalesEventCodecTests.decode(type, data: data)
            #expect(event == .untyped(UntypedEvent(type: type, schemaVersion: 1, data: data, pii: .null)), "\(data)")
        }
    }

    /// The folds read the typed events: a deal's decision state and its open-deal count per stage.
    @Test func theEvolverFoldsTheTypedEvents() throws {
        let (sales, _, _) = try Sales.fixture()
        #expect(try sales.state.pipeline("sales")?.openDeals == ["prospecting": 1])
        try sales.run(MoveDeal.self, ["deal_id": "deal-1", "stage_id": "won"])
        let deal = try #require(try sales.state.deal("deal-1"))
        #expect(deal.stageID == "won" && deal.kind == "won" && deal.probability == 100)
        #expect(deal.lastOpenStage == "prospecting" && deal.name == "Engine licence")
        #expect(try sales.state.pipeline("sales")?.openDeals == [:])
        let lenient = RecordedEvent(
            seq: 99, stream: "deal-deal-1", streamVersion: 9, occurredAt: sales.at, recordedAt: sales.at,
            actor: Actor(uid: 0, gid: 0), commandID: nil, correlationID: nil, causationSeq: nil,
            event: SalesEventCodecTests.decode("DealStageChanged", data: ["deal_id": "deal-1", "to": "proposal"])
        )
        try DecisionEvolver.apply(lenient, to: sales.state)
        let reopened = try #require(try sales.state.deal("deal-1"))
        #expect(reopened.stageID == "proposal" && reopened.kind == "open" && reopened.probability == 100)
        #expect(reopened.lastOpenStage == "prospecting")
        #expect(try sales.state.pipeline("sales")?.openDeals == ["proposal": 1])
    }
}
