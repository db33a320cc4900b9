import CRMDomain
import CRMEventStore
import CRMJSON
import Testing

/// The event types of feedback, complaints, segments, lists and campaigns: each decodes from its own
/// payload into the event it was encoded from, the directly written recipient chunks equal their
/// serialized tree, and a ticket opened without a type keeps the payload tickets had before types.
@Suite struct MarketingEventCodecTests {
    static let events: [DomainEvent] = [
        .service(.ticketAssigned(TicketAssigned(ticketID: "t1", customerID: "c1", from: nil, to: "a1"))),
        .service(
            .ticketTypeChanged(
                TicketTypeChanged(ticketID: "t1", customerID: "c1", from: nil, to: "complaint", category: "delivery"))),
        .service(
            .complaintResolved(
                ComplaintResolved(
                    ticketID: "t1", customerID: "c1", outcome: "upheld",
                    remedy: .init(kind: "refund", amount: MoneyAmount(decimal: "10.5"), currency: "EUR", orderID: "o1")
                ))),
        .feedback(
            .surveyDefined(
                SurveyDefined(
                    SurveyDefinition(
                        surveyID: "s1", version: 2, kind: .nps, name: "Rel", question: nil, offersOnSolve: true,
                        responseWindowDays: 14, channels: ["chat", "email"]
                    )))),
        .feedback(
            .surveyOffered(
                SurveyOffered(
                    requestID: "r1", surveyID: "s1", surveyVersion: 2, kind: .nps, customerID: "c1", ticketID: "t1",
                    channel: "email", agentID: "a1", offeredAt: 1_700_000_000_000, expiresAt: 1_701_209_600_000
                ))),
        .feedback(
            .surveyResponded(
                SurveyResponded(
                    requestID: "r1", surveyID: "s1", kind: .nps, customerID: "c1", ticketID: nil, score: 9,
                    reasonCode: "fast", agentID: nil, channel: "email", supersedesSeq: 41, comment: "Great"
                ))),
        .marketing(
            .segmentDefined(
                SegmentDefined(
                    SegmentDefinition(
                        segmentID: "g", version: 1, name: "Gold", description: nil,
                        filter: SegmentFilter(groups: [
                            [
                                SegmentCondition(field: "tier", op: "eq", value: .string("gold")),
                                SegmentCondition(field: "value.orders", op: "gte", value: .int(2)),
                            ],
                            [
                                SegmentCondition(
                                    field: "value.revenue.EUR", op: "gt", value: .money(MoneyAmount(decimal: "99.5")!))
                            ],
                            [SegmentCondition(field: "owner_id", op: "is_set", value: .none)],
                        ])
                    )))),
        .marketing(.segmentRetired(SegmentRetired(segmentID: "g", version: 1))),
        .marketing(
            .listCreated(
                ListCreated(
                    listID: "l", name: "L", kind: "snapshot",
                    source: ListSource(segmentID: "g", version: 1, asOf: 1_700_000_000_000), members: ["a", "b"]
                ))),
        .marketing(.listMembersChanged(ListMembersChanged(listID: "l", added: ["c"], removed: ["a"]))),
        .marketing(
            .campaignCreated(
                CampaignCreated(
                    CampaignDefinition(
                        campaignID: "k", name: "K", audienceKind: "segment", audienceID: "g", excludeLists: ["l"],
                        excludeSegments: [], channel: "email", optInLevel: "confirmed_opt_in",
                        attribution: CampaignAttribution(touch: "open_or_click", windowDays: 7),
                        cost: (MoneyAmount(decimal: "50")!, "EUR"), subject: "Hi"
                    )))),
        .marketing(
            .campaignSent(
                CampaignSent(
                    campaignID: "k", sentAt: 1_700_000_000_000, audienceKind: "segment", audienceID: "g",
                    audienceVersion: 1, audienceSize: 3, recipientCount: 1,
                    suppressed: Dictionary(
                        uniqueKeysWithValues: SuppressionReason.allCases.map { ($0, $0 == .optedOut ? 2 : 0) })
                ))),
        .marketing(
            .campaignRecipientsAdded(
                CampaignRecipientsAdded(
                    campaignID: "k", chunk: 1, recipients: [CampaignRecipient(customerID: "a", addressHash: "ab12")],
                    suppressed: [("b", .optedOut), ("c", .optedOut)]
                ))),
        .marketing(
            .campaignInteractionRecorded(
                CampaignInteraction(
                    campaignID: "k", interactionID: "i1", customerID: "a", kind: "bounced",
                    occurredAt: 1_700_000_100_000, bounce: "hard", link: nil, orderID: nil, goal: nil
                ))),
        .marketing(
            .campaignCostRecorded(
                CampaignCostRecorded(campaignID: "k", amount: MoneyAmount(decimal: "3.25")!, currency: "EUR"))),
        .marketing(.emailFlagged(EmailFlagged(customerID: "a", addressHash: "ab12", invalid: true))),
    ]

    @Test(arguments: Self.events.indices)
    func eachEventDecodesFromItsOwnPayload(_ index: Int) throws {
        let event = Self.events[index]
        let payload = EventCodec.payload(event)
        let texts = EventCodec.payloadTexts(event)
        #expect(String(decoding: texts.data, as: UTF8.self) == payload.data.serializedString())
        #expect(String(decoding: texts.pii, as: UTF8.self) == payload.pii.serializedString())
        let decoded = try #require(
            EventCodec.typed(EventPayload(type: event.type, data: payload.data, pii: payload.pii)))
        #expect(decoded == event)
    }

    @Test func aTicketOpenedWithoutATypeKeepsItsEarlierPayload() {
        let opened = TicketOpened(
            ticketID: "t1", customerID: "c1", channel: "email", priority: "normal", status: "new", tags: [],
            createdBy: "customer", subject: "S"
        )
        let data = EventCodec.payload(.service(.ticketOpened(opened))).data
        #expect(data["type"] == nil && data["category"] == nil)
        var typed = opened
        typed.ticketType = "complaint"
        typed.category = "billing"
        let texts = EventCodec.payloadTexts(.service(.ticketOpened(typed)))
        #expect(
            String(decoding: texts.data, as: UTF8.self)
                == EventCodec.payload(.service(.ticketOpened(typed))).data.serializedString())
        #expect(EventCodec.payload(.service(.ticketOpened(typed))).data["category"] == "billing")
    }
}
