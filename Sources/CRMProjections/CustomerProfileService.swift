import CRMDomain
import CRMJSON
import LMDB

extension CustomerProfileProjector {
    /// Folds ticket events into the profile of the ticket's customer: `stats.open_tickets` (neither
    /// solved nor closed), `stats.tickets_total`, and timeline entries `ticket.opened`,
    /// `ticket.status_changed` and `ticket.message`. The ticket stream is not the customer's, so the
    /// profile's `version`/`updated_at` stay.
    func applyServiceEvent(_ event: RecordedEvent, _ txn: Transaction) throws {
        guard let service = event.event.service, let customerID = service.customerID else { return }
        let ticketID = service.ticketID
        var delta = (open: 0, total: 0)
        let note: TimelineNote
        switch service {
        case .ticketOpened(let opened):
            delta = (1, 1)
            let subject = opened.subject ?? ""
            note = TimelineNote(
                kind: "ticket.opened",
                refID: ticketID,
                summary: subject.isEmpty ? "Ticket opened via \(opened.channel)" : subject,
                extra: ["channel": .string(opened.channel), "priority": .string(opened.priority)]
            )
        case .ticketStatusChanged(let changed):
            let closedStates = ["solved", "closed"]
            let wasOpen = !closedStates.contains(changed.from)
            let isOpen = !closedStates.contains(changed.to)
            if wasOpen, !isOpen { delta.open = -1 }
            if !wasOpen, isOpen { delta.open = 1 }
            note = TimelineNote(
                kind: "ticket.status_changed",
                refID: ticketID,
                summary: "Ticket \(changed.from) → \(changed.to)",
                extra: ["from": .string(changed.from), "to": .string(changed.to)]
            )
        case .ticketMessageAdded(let added):
            note = TimelineNote(
                kind: "ticket.message",
                refID: ticketID,
                summary: added.isPublic ? "\(Self.capitalized(added.author)) message" : "Internal note",
                extra: ["author": .string(added.author), "public": .bool(added.isPublic)]
            )
        default:
            return
        }
        guard var profile = try self.loadProfile(customerID, txn) else { return }
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
