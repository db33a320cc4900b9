public import CRMJSON

/// The ticket document the SLA read model keeps and ``SlaClock`` evaluates: the ticket's current facts
/// plus `log`, its status changes, messages and policy applications in event order.
public enum SlaTicketDocument {
    /// Folds one ticket event into `document` (`nil` before `TicketOpened`). Returns the new document,
    /// or `nil` when the event is not a ticket event or the ticket is unknown.
    public static func fold(_ document: JSON?, _ event: RecordedEvent) -> JSON? {
        guard let service = event.event.service else { return nil }
        let at = JSON.int(event.occurredAt)
        if case .ticketOpened(let opened) = service {
            return [
                "ticket_id": .string(opened.ticketID), "customer_id": .string(service.customerID),
                "channel": .string(opened.channel), "priority": .string(opened.priority),
                "status": .string(opened.status), "tags": .strings(opened.tags),
                "created_by": .string(opened.createdBy),
                "subject": .string(opened.subject), "created_at": at, "updated_at": at, "message_count": 0,
                "policy": .null, "log": [],
            ]
        }
        guard var document else { return nil }
        switch service {
        case .ticketMessageAdded(let added):
            document["message_count"] = .int((document["message_count"]?.intValue ?? 0) + 1)
            SlaTicketDocument.append(
                &document,
                [
                    "at": at, "kind": "message", "author": .string(added.author), "public": .bool(added.isPublic),
                    "opening": .bool(added.opening),
                ]
            )
        case .ticketStatusChanged(let changed):
            document["status"] = .string(changed.to)
            SlaTicketDocument.append(&document, ["at": at, "kind": "status", "to": .string(changed.to)])
        case .ticketPriorityChanged(let changed):
            document["priority"] = .string(changed.to)
        case .ticketTagged(let tagged):
            let tags = Set(document["tags"]?.arrayValue?.compactMap(\.stringValue) ?? [])
            document["tags"] = .strings(tags.union(tagged.added).subtracting(tagged.removed).sorted())
        case .slaPolicyApplied(let applied):
            document["policy"] = ["policy_id": .string(applied.policyID), "version": .int(applied.policyVersion)]
            SlaTicketDocument.append(&document, ["at": at, "kind": "applied", "snapshot": applied.snapshot])
        case .slaPolicyRemoved:
            document["policy"] = .null
            SlaTicketDocument.append(&document, ["at": at, "kind": "removed"])
        case .scheduleDefined, .slaPolicyDefined, .slaPolicyRetired, .ticketOpened:
            return nil
        }
        document["updated_at"] = at
        return document
    }

    private static func append(_ document: inout JSON, _ entry: JSON) {
        var log = document["log"]?.arrayValue ?? []
        log.append(entry)
        document["log"] = .array(log)
    }
}
