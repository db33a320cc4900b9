import CRMDomain
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
            note = .ticketOpened(
                ticketID: ticketID, subject: opened.subject, channel: opened.channel, priority: opened.priority
            )
        case .ticketStatusChanged(let changed):
            let closedStates = ["solved", "closed"]
            let wasOpen = !closedStates.contains(changed.from)
            let isOpen = !closedStates.contains(changed.to)
            if wasOpen, !isOpen { delta.open = -1 }
            if !wasOpen, isOpen { delta.open = 1 }
            note = .ticketStatusChanged(ticketID: ticketID, from: changed.from, to: changed.to)
        case .ticketMessageAdded(let added):
            note = .ticketMessage(ticketID: ticketID, author: added.author, isPublic: added.isPublic)
        default:
            return
        }
        if delta.open != 0 || delta.total != 0 {
            guard var stats = try self.loadStats(customerID, txn) else { return }
            stats.openTickets = max(0, stats.openTickets + Int64(delta.open))
            stats.ticketsTotal += Int64(delta.total)
            try self.storeStats(stats, of: customerID, txn)
        } else {
            guard try self.hasProfile(customerID, txn) else { return }
        }
        try self.putTimelineEntry(note, for: event, customerID: customerID, txn)
    }
}
