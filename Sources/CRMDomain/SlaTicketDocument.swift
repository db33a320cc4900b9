public import CRMJSON

/// The ticket document the SLA read model keeps and ``SlaClock`` evaluates: the ticket's current facts
/// plus `log`, its status changes, messages and policy applications in event order.
public enum SlaTicketDocument {
    /// Folds one ticket event into `document` (`nil` before `TicketOpened`). Returns the new document,
    /// or `nil` when the event is not a ticket event or the ticket is unknown.
    public static func fold(_ document: JSON?, _ event: RecordedEvent) -> JSON? {
        let data = event.data
        let at = JSON.int(event.occurredAt)
        if event.type == ServiceEventType.ticketOpened {
            guard let id = data["ticket_id"]?.stringValue else { return nil }
            return [
                "ticket_id": .string(id), "customer_id": data["customer_id"] ?? .null,
                "channel": data["channel"] ?? .null, "priority": data["priority"] ?? "normal",
                "status": data["status"] ?? "new", "tags": data["tags"] ?? [],
                "created_by": data["created_by"] ?? .null,
                "subject": event.pii["subject"] ?? .null, "created_at": at, "updated_at": at, "message_count": 0,
                "policy": .null, "log": [],
            ]
        }
        guard var document else { return nil }
        switch event.type {
        case ServiceEventType.ticketMessageAdded:
            document["message_count"] = .int((document["message_count"]?.intValue ?? 0) + 1)
            SlaTicketDocument.append(
                &document,
                [
                    "at": at, "kind": "message", "author": data["author"] ?? .null, "public": data["public"] ?? false,
                    "opening": data["opening"] ?? false,
                ]
            )
        case ServiceEventType.ticketStatusChanged:
            document["status"] = data["to"] ?? .null
            SlaTicketDocument.append(&document, ["at": at, "kind": "status", "to": data["to"] ?? .null])
        case ServiceEventType.ticketPriorityChanged:
            document["priority"] = data["to"] ?? .null
        case ServiceEventType.ticketTagged:
            let added = data["added"]?.arrayValue?.compactMap(\.stringValue) ?? []
            let removed = Set(data["removed"]?.arrayValue?.compactMap(\.stringValue) ?? [])
            let tags = Set(document["tags"]?.arrayValue?.compactMap(\.stringValue) ?? [])
            document["tags"] = .strings(tags.union(added).subtracting(removed).sorted())
        case ServiceEventType.slaPolicyApplied:
            document["policy"] = ["policy_id": data["policy_id"] ?? .null, "version": data["policy_version"] ?? .null]
            SlaTicketDocument.append(&document, ["at": at, "kind": "applied", "snapshot": data])
        case ServiceEventType.slaPolicyRemoved:
            document["policy"] = .null
            SlaTicketDocument.append(&document, ["at": at, "kind": "removed"])
        default:
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
