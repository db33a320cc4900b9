/// Every event of the domain as a typed value: one enum per aggregate family, each case a struct.
///
/// `decide` produces these and `evolve` and the read models fold them; only the event codec at the
/// store boundary turns them into the canonical JSON bytes of the log and back. A stored payload in an
/// older schema version (before it is upcast), or of a type this crmd does not know, travels as
/// ``UntypedEvent``, its JSON payload; folds ignore it.
public enum DomainEvent: Sendable, Hashable {
    // The typed families are boxed: their largest cases are big structs, and an event (and every
    // envelope holding one) is copied often; unboxed, each copy would move hundreds of bytes.

    /// Customers, their consent and the activities logged about them.
    indirect case customer(CustomerEvent)
    /// A sales event (pipelines, deals).
    indirect case sales(SalesEvent)
    /// A service-desk event (schedules, SLA policies, tickets).
    indirect case service(ServiceEvent)
    /// A feedback event (surveys and their responses).
    indirect case feedback(FeedbackEvent)
    /// A marketing event (segments).
    indirect case marketing(MarketingEvent)
    /// A notification crmd appends about the SLA clock (no read model folds it).
    indirect case notification(NotificationEvent)
    /// A payload as stored: an older schema version, or an unknown type.
    case untyped(UntypedEvent)

    /// The event type name, e.g. `CustomerCreated`.
    public var type: String {
        switch self {
        case .customer(let event): event.type
        case .sales(let event): event.type
        case .service(let event): event.type
        case .feedback(let event): event.type
        case .marketing(let event): event.type
        case .notification(let event): event.type
        case .untyped(let event): event.type
        }
    }

    /// The schema version of the payload: the type's current version for a typed event.
    public var schemaVersion: Int {
        switch self {
        case .customer, .sales, .service, .feedback, .marketing, .notification:
            EventSchema.currentVersion(of: self.type)
        case .untyped(let event): event.schemaVersion
        }
    }

    /// The customers the event names (`customer_id`, `customer_ids`), which is how deals, tickets and
    /// activities are tied to customers. A customer's own stream names its customer too.
    public var namedCustomerIDs: [String] {
        switch self {
        case .customer(.activityLogged(let activity)): return activity.customerIDs
        case .customer(.merged(let merged)): return [merged.primaryID] + merged.secondaryIDs
        case .customer(let event): return event.customerID.map { [$0] } ?? []
        case .service(let event): return event.customerID.map { [$0] } ?? []
        case .feedback(let event): return event.customerID.map { [$0] } ?? []
        case .marketing(let event): return event.customerID.map { [$0] } ?? []
        case .sales(.dealCreated(let created)): return created.customerIDs
        case .sales(.orderRecorded(let order)): return [order.customerID]
        case .sales(.orderRefunded(let refund)): return [refund.customerID]
        case .sales(.orderCancelled(let cancel)): return [cancel.customerID]
        case .sales: return []
        case .notification, .untyped: return []
        }
    }
}

/// An event as the payload bytes the log holds: `data` holds what any read model may use, `pii`
/// personal data only (names, addresses, free text), so that it can be encrypted per customer without
/// touching `data`. Both are canonical JSON texts, which only the event codec at the store boundary
/// reads; the domain never looks inside.
public struct UntypedEvent: Sendable, Hashable {
    /// Event type name.
    public var type: String
    /// Schema version of the payload.
    public var schemaVersion: Int
    /// The canonical JSON text of the non-personal payload (an object).
    public var dataText: [UInt8]
    /// The canonical JSON text of the personal payload (an object, or `null`).
    public var piiText: [UInt8]

    public init(type: String, schemaVersion: Int, dataText: [UInt8], piiText: [UInt8]) {
        self.type = type
        self.schemaVersion = schemaVersion
        self.dataText = dataText
        self.piiText = piiText
    }
}
