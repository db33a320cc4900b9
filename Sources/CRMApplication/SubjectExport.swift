import CRMDomain
import CRMEventStore
import CRMJSON
import CRMParams
import CRMProjections
import LMDB

extension QueryRouter {
    /// `customer.export {customer_id}` (admin): everything crmd holds about one person, for a subject
    /// access or data portability request (GDPR Art. 15 and 20), as one JSON document read in one read
    /// transaction, so its parts agree with each other and with `head`:
    ///
    /// - `profile`: the `customer.get` document;
    /// - `timeline`: every timeline entry, newest first (as `customer.timeline` pages them);
    /// - `deals` and `tickets`: the `deal.get` and `ticket.get` documents of every deal and ticket
    ///   whose events concern the customer;
    /// - `consent_history`: every consent change, oldest first;
    /// - `events`: every event that concerns the customer (its own stream, activities naming it, its
    ///   deals' and tickets' streams), oldest first, as `events.read` returns them (upcast, with hash).
    ///
    /// For a customer others were merged into, all of this covers them too (their events, records
    /// and consent changes): they are the same person.
    ///
    /// Rejections: `missing_field`/`invalid_field` `customer_id`, unknown fields, `not_found`,
    /// `customer_merged`, and `projection_rebuilding` while the customers read model is not serving.
    func exportSubject(_ params: JSON?) throws -> JSON {
        var reader = try Params(params)
        let customerID = try reader.identifier("customer_id", required: true)!
        try reader.finish()
        let generatedAt = CRMCore.nowMillis()
        return try self.environment.read { txn in
            let head = try self.store.head(txn)
            let profile = try self.customerWithValue(["customer_id": .string(customerID)], txn)
            let timeline = try self.wholeTimeline(of: customerID, txn)
            let positions = try self.subjectPositions(of: customerID, head: head.seq, txn)
            // The customers merged into this one are the same person: their consent changes count.
            let ring = Set([customerID] + (profile["merged_from"]?.arrayValue?.compactMap(\.stringValue) ?? []))

            var events: [JSON] = []
            var consent: [JSON] = []
            var deals: [String] = []
            var tickets: [String] = []
            for seq in positions {
                guard let event = try self.store.storedEvent(at: seq, txn) else { continue }
                let hash = try self.store.link(of: seq, head: head, txn)
                var envelope: [UInt8] = []
                let view = LogQueries.PiiView.opened(self.store.piiKeys)
                try LogQueries.writeUpcastEnvelope(event, hash: hash, view: view, into: &envelope)
                events.append(.serialized(SerializedJSON(envelope)))
                // The envelope above renders the stored payload; a consent change is decoded as a value.
                if event.type == "ConsentChanged", let typed = try self.store.event(at: seq, txn),
                    case .customer(.consentChanged(let changed)) = typed.event, ring.contains(changed.customerID)
                {
                    consent.append(Self.consentEntry(changed, typed))
                }
                if let id = Self.recordID(of: event.stream, prefix: "deal-"), !deals.contains(id) { deals.append(id) }
                if let id = Self.recordID(of: event.stream, prefix: "ticket-"), !tickets.contains(id) {
                    tickets.append(id)
                }
            }
            return [
                "customer_id": .string(customerID),
                "generated_at": .string(Timestamp.format(generatedAt)),
                "head": ["position": .int(Int64(head.seq)), "hash": .string(hexString(head.hash))],
                "profile": profile,
                "timeline": .array(timeline),
                "deals": .array(try deals.map { try self.readModelQuery("deal.get", ["deal_id": .string($0)], txn) }),
                "tickets": .array(
                    try tickets.map { try self.readModelQuery("ticket.get", ["ticket_id": .string($0)], txn) }
                ),
                "consent_history": .array(consent),
                "events": .array(events),
            ]
        }
    }

    /// The answer of the read model that owns `method`, inside `txn`.
    private func readModelQuery(_ method: String, _ params: JSON, _ txn: Transaction) throws -> JSON {
        guard let index = self.queryOwners[method] else {
            throw Rejection(.internalError, "no read model answers \(method)")
        }
        return try self.runner.query(index, method: method, params: params, txn)
    }

    /// Every timeline entry of `customerID`, newest first, page by page.
    private func wholeTimeline(of customerID: String, _ txn: Transaction) throws -> [JSON] {
        var entries: [JSON] = []
        var before: JSON = .null
        repeat {
            let page = try self.readModelQuery(
                "customer.timeline", ["customer_id": .string(customerID), "limit": 200, "before": before], txn
            )
            entries.append(contentsOf: page["entries"]?.arrayValue ?? [])
            before = page["next_before"] ?? .null
        } while !before.isNull
        return entries
    }

    /// The positions of the events that concern `customerID`, from the customers read model's index.
    private func subjectPositions(of customerID: String, head: UInt64, _ txn: Transaction) throws -> [UInt64] {
        guard let index = self.runner.readModels.firstIndex(where: { $0.name == "customers" }),
            let slot = try self.runner.activeSlot(index, txn),
            let projector = self.runner.readModels[index].slots[slot] as? CustomerProfileProjector
        else { throw Rejection(.internalError, "the customers read model is not serving") }
        return try projector.positions(of: customerID, through: head, txn)
    }

    /// The id in a stream name such as `deal-<id>`, or `nil` for a stream of another kind.
    private static func recordID(of stream: String, prefix: String) -> String? {
        stream.hasPrefix(prefix) ? String(stream.dropFirst(prefix.count)) : nil
    }

    /// One entry of `consent_history`.
    private static func consentEntry(_ changed: ConsentChanged, _ event: RecordedEvent) -> JSON {
        [
            "seq": .int(Int64(event.seq)), "at": .string(Timestamp.format(event.occurredAt)),
            "channel": .string(changed.channel), "contact_point": .string(changed.contactPoint),
            "from": .string(changed.from), "to": .string(changed.to), "legal_basis": .string(changed.legalBasis),
            "source": .string(changed.source), "evidence": .string(changed.evidence),
            "actor": event.actor.json,
        ]
    }
}
