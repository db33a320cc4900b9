/// Whose key protects the personal data of an event: the key id of its data subject. Deleting that
/// key (erasure) makes the personal data of every event under it unreadable, so an event's key is
/// the person the data is about:
///
/// | event | key id |
/// |---|---|
/// | customer events | `c:<customer_id>` |
/// | `ActivityLogged` with one customer | `c:<that customer>` |
/// | `ActivityLogged` with several | `a:<activity_id>` (destroyed when its last customer is erased) |
/// | ticket events | `c:<the ticket's customer>` |
/// | survey responses | `c:<the responding customer>` |
/// | `DealCreated` | `c:<first customer>` (`d:<deal_id>` for a deal without customers) |
/// | `DealUpdated` | `c:<the deal's first customer now>` (`d:<deal_id>` without one) |
/// | anything else with personal data | `s:<stream>` |
public enum PiiSubject {
    /// The key id of `event`, appended to `stream` against `state` (the decision state before it).
    public static func keyID(for event: DomainEvent, stream: String, state: some DecisionState) throws -> String {
        switch event {
        case .customer(.activityLogged(let activity)):
            // One customer, possibly named more than once.
            let customers = activity.customerIDs
            guard let first = customers.first, customers.allSatisfy({ $0 == first }) else {
                return "a:" + activity.activityID
            }
            return "c:" + first
        case .customer(let customerEvent):
            if let id = customerEvent.customerID { return "c:" + id }
        case .service(let serviceEvent):
            if let id = serviceEvent.customerID { return "c:" + id }
        case .feedback(let feedbackEvent):
            if let id = feedbackEvent.customerID { return "c:" + id }
        case .sales(.dealCreated(let created)):
            return created.customerIDs.first.map { "c:" + $0 } ?? "d:" + created.dealID
        case .sales(.dealUpdated(let updated)):
            let customers = try state.deal(updated.dealID)?.customerIDs ?? []
            return customers.first.map { "c:" + $0 } ?? "d:" + updated.dealID
        default:
            break
        }
        return "s:" + stream
    }
}
