import CRMDomain
import CRMJSON
import LMDB

extension CustomerProfileProjector {
    /// Folds ticket events into the profile of the ticket's customer: `stats.open_tickets` (neither
    /// solved nor closed), `stats.tickets_total`, and timeline entries `ticket.opened`,
    /// `ticket.status_changed` and `ticket.message`. The ticket stream is not the customer's, so the
    /// profile's `version`/`updated_at` stay.
    func applyServiceEvent(_ event: RecordedEvent, _ txn: Transaction) throws {
        let data = event.data
        let ticketID = data["ticket_id"]?.stringValue
        var delta = (open: 0, total: 0)
        let note: TimelineNote
        switch event.type {
        case ServiceEventType.ticketOpened:
            delta = (1, 1)
            let subject = event.pii["subject"]?.stringValue ?? ""
            let channel = data["channel"]?.stringValue ?? "api"
            note = TimelineNote(
                kind: "ticket.opened",
                refID: ticketID,
                summary: subject.isEmpty ? "Ticket opened via \(channel)" : subject,
                extra: ["channel": .string(channel), "priority": data["priority"] ?? .null]
            )
        case ServiceEventType.ticketStatusChanged:
            let from = data["from"]?.stringValue ?? ""
            let to = data["to"]?.stringValue ?? ""
            let closedStates = ["solved", "closed"]
            let wasOpen = !closedStates.contains(from)
            let isOpen = !closedStates.contains(to)
            if wasOpen, !isOpen { delta.open = -1 }
            if !wasOpen, isOpen { delta.open = 1 }
            note = TimelineNote(
                kind: "ticket.status_changed",
                refID: ticketID,
                summary: "Ticket \(from) → \(to)",
                extra: ["from": .string(from), "to": .string(to)]
            )
        case ServiceEventType.ticketMessageAdded:
            let author = data["author"]?.stringValue ?? "customer"
            let isPublic = data["public"]?.boolValue ?? true
            note = TimelineNote(
                kind: "ticket.message",
                refID: ticketID,
                summary: isPublic ? "\(Self.capitalized(author)) message" : "Internal note",
                extra: ["author": .string(author), "public": .bool(isPublic)]
            )
        default:
            return
        }
        guard let customerID = data["customer_id"]?.stringValue, var profile = try self.loadProfile(customerID, txn)
        else { return }
        if delta.open != 0 || delta.total != 0 {
            var stats = profile["stats"]?.objectValue ?? [:]
            stats["open_tickets"] = .int(max(0, (stats["open_tickets"]?.intValue ?? 0) + Int64(delta.open)))
            stats["tickets_total"] = .int((stats["tickets_total"]?.intValue ?? 0) + Int64(delta.total))
            profile["stats"] = .object(stats)
            try self.storeProfile(profile, customerID, txn)
        }
        try self.putTimelineEntry(note, for: event, customerID: customerID, txn)
    }
}
