import CRMDomain
import CRMProjections
import LMDB

/// Choosing a campaign's recipients at its send: the audience's members at the instant of the send,
/// less the members of the excluded lists and segments; for each, the address to send to (or why
/// there is none); one recipient per address, the lowest customer id keeping it.
enum CampaignSelection {
    static func send(
        _ campaign: CampaignDefinition, at: Int64, segments: SegmentProjector,
        state: some DecisionState, _ txn: Transaction
    ) throws -> SendCampaign {
        var version: Int64?
        var audience: [String]
        if campaign.audienceKind == "segment" {
            let members = try segments.memberIDs(of: campaign.audienceID, at: at, txn)
            (version, audience) = (members.0, members.1)
        } else {
            audience = try segments.listMemberIDs(campaign.audienceID, at: at, txn)
        }
        // Customers merged away or erased since they joined a list are not part of its audience.
        audience = try audience.filter { try state.customer($0, personal: false)?.status == .active }
        var excluded: Set<String> = []
        for list in campaign.excludeLists { excluded.formUnion(try segments.listMemberIDs(list, at: at, txn)) }
        for segment in campaign.excludeSegments {
            excluded.formUnion(try segments.memberIDs(of: segment, at: at, txn).1)
        }
        var recipients: [CampaignRecipient] = []
        var suppressed: [(customerID: String, reason: SuppressionReason)] = []
        var counts = Dictionary(uniqueKeysWithValues: SuppressionReason.allCases.map { ($0, 0) })
        var addresses: Set<String> = []
        for id in audience.sorted() {
            var reason: SuppressionReason?
            var hash = ""
            if excluded.contains(id) {
                reason = .excluded
            } else if let customer = try state.customer(id, personal: true) {
                let choice = CampaignAddress.choose(customer.emails, level: campaign.optInLevel) { email in
                    guard let keyed = state.keyedHash(email.key) else { return false }
                    return (try? state.record(.erasedEmails, keyed)) != nil
                }
                switch choice {
                case .success(let email):
                    hash = state.addressHash(email.key)
                    if !addresses.insert(hash).inserted { reason = .duplicate }
                case .failure(let why):
                    reason = why
                }
            } else {
                reason = .noAddress
            }
            if let reason {
                suppressed.append((id, reason))
                counts[reason, default: 0] += 1
            } else {
                recipients.append(CampaignRecipient(customerID: id, addressHash: hash))
            }
        }
        let sent = CampaignSent(
            campaignID: campaign.campaignID, sentAt: at, audienceKind: campaign.audienceKind,
            audienceID: campaign.audienceID, audienceVersion: version, audienceSize: audience.count,
            recipientCount: recipients.count, suppressed: counts
        )
        return SendCampaign(sent: sent, recipients: recipients, suppressed: suppressed)
    }
}
