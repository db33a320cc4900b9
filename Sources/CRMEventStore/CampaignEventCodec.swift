import CRMDomain
import CRMJSON

/// The campaign events ⇄ their `data` payloads (no personal data: recipients are customer ids and
/// keyed hashes of addresses).
enum CampaignEventCodec {
    static func data(_ event: MarketingEvent) -> JSON {
        switch event {
        case .campaignCreated(let created):
            let campaign = created.campaign
            return [
                "campaign_id": .string(campaign.campaignID), "name": .string(campaign.name),
                "audience": ["kind": .string(campaign.audienceKind), "id": .string(campaign.audienceID)],
                "exclude": ["lists": .strings(campaign.excludeLists), "segments": .strings(campaign.excludeSegments)],
                "channel": .string(campaign.channel), "opt_in_level": .string(campaign.optInLevel),
                "attribution": [
                    "touch": .string(campaign.attribution.touch),
                    "window_days": .int(Int64(campaign.attribution.windowDays)),
                ],
                "cost": campaign.cost.map {
                    ["amount": .string($0.amount.description), "currency": .string($0.currency)]
                }
                    ?? .null,
                "subject": .string(campaign.subject),
            ]
        case .campaignSent(let sent):
            return [
                "campaign_id": .string(sent.campaignID), "sent_at": .string(Timestamp.format(sent.sentAt)),
                "audience": [
                    "kind": .string(sent.audienceKind), "id": .string(sent.audienceID),
                    "version": sent.audienceVersion.map { .int($0) } ?? .null,
                ],
                "audience_size": .int(Int64(sent.audienceSize)), "recipient_count": .int(Int64(sent.recipientCount)),
                "suppressed": .object(
                    Dictionary(
                        uniqueKeysWithValues: SuppressionReason.allCases.map {
                            ($0.rawValue, JSON.int(Int64(sent.suppressed[$0] ?? 0)))
                        })
                ),
            ]
        case .campaignRecipientsAdded(let added):
            return [
                "campaign_id": .string(added.campaignID), "chunk": .int(Int64(added.chunk)),
                "recipients": .array(
                    added.recipients.map {
                        ["customer_id": .string($0.customerID), "address_hmac": .string($0.addressHash)]
                    }),
                "suppressed": .array(
                    added.suppressed.map {
                        ["customer_id": .string($0.customerID), "reason": .string($0.reason.rawValue)]
                    }
                ),
            ]
        case .campaignInteractionRecorded(let interaction):
            return [
                "campaign_id": .string(interaction.campaignID), "interaction_id": .string(interaction.interactionID),
                "customer_id": .string(interaction.customerID), "kind": .string(interaction.kind),
                "occurred_at": .string(Timestamp.format(interaction.occurredAt)), "bounce": .string(interaction.bounce),
                "link": .string(interaction.link), "order_id": .string(interaction.orderID),
                "goal": .string(interaction.goal),
            ]
        case .campaignCostRecorded(let cost):
            return [
                "campaign_id": .string(cost.campaignID), "amount": .string(cost.amount.description),
                "currency": .string(cost.currency),
            ]
        case .emailFlagged(let flagged):
            return [
                "customer_id": .string(flagged.customerID), "address_hmac": .string(flagged.addressHash),
                "invalid": .bool(flagged.invalid),
            ]
        case .segmentDefined, .segmentRetired, .listCreated, .listMembersChanged:
            return .null
        }
    }

    /// The `data` text of a chunk of recipients written straight into bytes (a send of 100,000 writes a
    /// hundred of them in the writer's transaction); equal to the serialized ``data(_:)``.
    static func dataText(_ added: CampaignRecipientsAdded) -> [UInt8] {
        var data = CanonicalJSONWriter(capacity: 64 + 100 * added.recipients.count + 40 * added.suppressed.count)
        data.openObject()
        data.member("campaign_id", added.campaignID)
        data.member("chunk", Int64(added.chunk))
        data.key("recipients")
        data.openArray()
        for recipient in added.recipients {
            data.openObject()
            data.member("address_hmac", recipient.addressHash)
            data.member("customer_id", recipient.customerID)
            data.closeObject()
        }
        data.closeArray()
        data.key("suppressed")
        data.openArray()
        for (customerID, reason) in added.suppressed {
            data.openObject()
            data.member("customer_id", customerID)
            data.member("reason", reason.rawValue)
            data.closeObject()
        }
        data.closeArray()
        data.closeObject()
        return data.bytes
    }

    static func decode(_ event: EventPayload) -> MarketingEvent? {
        let data = event.data
        func string(_ key: String) -> String? { data[key]?.stringValue }
        func strings(_ value: JSON?) -> [String] { value?.arrayValue?.compactMap(\.stringValue) ?? [] }
        switch event.type {
        case MarketingEventType.campaignCreated:
            guard let id = string("campaign_id"), let kind = data["audience"]?["kind"]?.stringValue,
                let audience = data["audience"]?["id"]?.stringValue
            else { return nil }
            let attribution = data["attribution"] ?? .null
            var cost: (MoneyAmount, String)?
            if let amount = data["cost"]?["amount"].flatMap(MoneyAmount.init(json:)),
                let currency = data["cost"]?["currency"]?.stringValue
            {
                cost = (amount, currency)
            }
            return .campaignCreated(
                CampaignCreated(
                    CampaignDefinition(
                        campaignID: id, name: string("name") ?? id, audienceKind: kind, audienceID: audience,
                        excludeLists: strings(data["exclude"]?["lists"]),
                        excludeSegments: strings(data["exclude"]?["segments"]), channel: string("channel") ?? "email",
                        optInLevel: string("opt_in_level") ?? CampaignDefinition.defaultOptInLevel,
                        attribution: CampaignAttribution(
                            touch: attribution["touch"]?.stringValue ?? "click",
                            windowDays: Int(attribution["window_days"]?.intValue ?? 5)
                        ),
                        cost: cost, subject: string("subject")
                    )
                )
            )
        case MarketingEventType.campaignSent:
            guard let id = string("campaign_id"), let sentAt = string("sent_at").flatMap(Timestamp.parse) else {
                return nil
            }
            var suppressed: [SuppressionReason: Int] = [:]
            for reason in SuppressionReason.allCases {
                suppressed[reason] = Int(data["suppressed"]?[reason.rawValue]?.intValue ?? 0)
            }
            return .campaignSent(
                CampaignSent(
                    campaignID: id, sentAt: sentAt, audienceKind: data["audience"]?["kind"]?.stringValue ?? "segment",
                    audienceID: data["audience"]?["id"]?.stringValue ?? "",
                    audienceVersion: data["audience"]?["version"]?.intValue,
                    audienceSize: Int(data["audience_size"]?.intValue ?? 0),
                    recipientCount: Int(data["recipient_count"]?.intValue ?? 0), suppressed: suppressed
                )
            )
        case MarketingEventType.campaignRecipientsAdded:
            guard let id = string("campaign_id") else { return nil }
            let recipients = (data["recipients"]?.arrayValue ?? []).compactMap { item -> CampaignRecipient? in
                guard let customer = item["customer_id"]?.stringValue, let hash = item["address_hmac"]?.stringValue
                else { return nil }
                return CampaignRecipient(customerID: customer, addressHash: hash)
            }
            let suppressed = (data["suppressed"]?.arrayValue ?? []).compactMap {
                item -> (customerID: String, reason: SuppressionReason)? in
                guard let customer = item["customer_id"]?.stringValue,
                    let reason = item["reason"]?.stringValue.flatMap(SuppressionReason.init(rawValue:))
                else { return nil }
                return (customer, reason)
            }
            return .campaignRecipientsAdded(
                CampaignRecipientsAdded(
                    campaignID: id, chunk: Int(data["chunk"]?.intValue ?? 0), recipients: recipients,
                    suppressed: suppressed
                )
            )
        case MarketingEventType.campaignInteractionRecorded:
            guard let id = string("campaign_id"), let interaction = string("interaction_id"),
                let customer = string("customer_id"), let kind = string("kind"),
                let occurredAt = string("occurred_at").flatMap(Timestamp.parse)
            else { return nil }
            return .campaignInteractionRecorded(
                CampaignInteraction(
                    campaignID: id, interactionID: interaction, customerID: customer, kind: kind,
                    occurredAt: occurredAt, bounce: string("bounce"), link: string("link"), orderID: string("order_id"),
                    goal: string("goal")
                )
            )
        case MarketingEventType.campaignCostRecorded:
            guard let id = string("campaign_id"), let amount = data["amount"].flatMap(MoneyAmount.init(json:)),
                let currency = string("currency")
            else { return nil }
            return .campaignCostRecorded(CampaignCostRecorded(campaignID: id, amount: amount, currency: currency))
        case MarketingEventType.emailFlagged:
            guard let customer = string("customer_id"), let hash = string("address_hmac") else { return nil }
            return .emailFlagged(
                EmailFlagged(customerID: customer, addressHash: hash, invalid: data["invalid"]?.boolValue ?? true))
        default:
            return nil
        }
    }
}
