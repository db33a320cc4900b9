public import CRMJSON

/// Every event of the domain as a typed value: one enum per aggregate family, each case a struct.
///
/// `decide` produces these and `evolve` and the read models fold them; only the event codec at the
/// store boundary turns them into the canonical JSON bytes of the log and back. A type whose typed form
/// does not exist yet travels as ``UntypedEvent``, its JSON payload.
public enum DomainEvent: Sendable, Hashable {
    /// An event given as its JSON payload.
    case untyped(UntypedEvent)
    /// A sales event (pipelines, deals).
    case sales(SalesEvent)

    /// The event type name, e.g. `CustomerCreated`.
    public var type: String {
        switch self {
        case .untyped(let event): event.type
        case .sales(let event): event.type
        }
    }

    /// The schema version of the payload: the type's current version for a typed event.
    public var schemaVersion: Int {
        switch self {
        case .untyped(let event): event.schemaVersion
        case .sales(let event): EventSchema.currentVersion(of: event.type)
        }
    }

    /// The `data` of an untyped event, `null` for a typed one.
    public var untypedData: JSON {
        if case .untyped(let event) = self { return event.data }
        return .null
    }

    /// The `pii` of an untyped event, `null` for a typed one.
    public var untypedPII: JSON {
        if case .untyped(let event) = self { return event.pii }
        return .null
    }
}

/// An event as its JSON payload: `data` holds what any read model may use, `pii` personal data only
/// (names, addresses, free text), so that it can be encrypted per customer without touching `data`.
public struct UntypedEvent: Sendable, Hashable {
    /// Event type name.
    public var type: String
    /// Schema version of `data` and `pii`.
    public var schemaVersion: Int
    /// Non-personal payload (a JSON object).
    public var data: JSON
    /// Personal payload (a JSON object), or `null`.
    public var pii: JSON

    public init(type: String, schemaVersion: Int, data: JSON, pii: JSON) {
        self.type = type
        self.schemaVersion = schemaVersion
        self.data = data
        self.pii = pii
    }
}
