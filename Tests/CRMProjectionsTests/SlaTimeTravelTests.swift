import CRMDomain
import CRMJSON
import CRMProjections
import Testing

/// `sla.ticket` folded from one ticket's own events (what `at` and `as_of` use) answers exactly like the read
/// model's stored document.
@Suite struct SlaTimeTravelTests {
    @Test(arguments: [UInt64(3), 11, 64])
    func foldingTheTicketStreamMatchesTheReadModel(seed: UInt64) throws {
        let harness = try SlaHarness()
        try SlaProjectionTests.seed(harness)
        try SlaProjectionTests.workload(harness, seed: seed, steps: 120)
        let end = harness.at
        let middle = harness.log[harness.log.count / 2].occurredAt
        let list = try harness.query("ticket.list", ["limit": 200])
        let ids = (list["tickets"]?.arrayValue ?? []).compactMap { $0["ticket_id"]?.stringValue }
        #expect(ids.count > 3)
        var missing = 0
        for id in ids {
            let events = harness.log.filter { $0.stream == ServiceStream.ticket(id) }
            for clock in [middle, end - 86_400_000 * 2, end - 3_600_000, end, end + 86_400_000] {
                let params: JSON = ["ticket_id": .string(id), "at": .string(Timestamp.format(clock))]
                let live = try harness.query("sla.ticket", params)
                let folded = SlaProjector.slaTicket(folding: events.filter { $0.occurredAt <= clock }, clock: clock)
                if let createdAt = events.first?.occurredAt, createdAt > clock {
                    // The read model keeps today's document; time travel says the ticket did not exist.
                    #expect(folded == nil)
                    missing += 1
                } else {
                    #expect(folded == live, "\(id) at \(Timestamp.format(clock))")
                }
            }
        }
        #expect(SlaProjector.slaTicket(folding: [], clock: end) == nil)
        #expect(missing > 0)
    }
}
