public import CRMDomain
public import CRMJSON

/// The one place where typed events meet the log's bytes: a ``DomainEvent`` ⇄ the canonical JSON
/// `data` and `pii` payloads a record holds.
///
/// Encoding a typed event gives exactly the payload the log has always held for its type, so records
/// and hashes do not depend on whether an event was written typed or untyped. Decoding gives the
/// typed event when a family codec knows the type, in its current schema version (readers upcast
/// first), and the untyped payload otherwise.
public enum EventCodec {
    /// The `data` and `pii` payloads of `event`.
    public static func payload(_ event: DomainEvent) -> (data: JSON, pii: JSON) {
        switch event {
        case .customer(let event): CustomerEventCodec.encode(event)
        case .sales(let event): SalesEventCodec.encode(event)
        case .service(let event): ServiceEventCodec.encode(event)
        case .feedback(let event): FeedbackEventCodec.encode(event)
        case .marketing(let event): MarketingEventCodec.encode(event)
        case .notification(let event): NotificationEventCodec.encode(event)
        case .untyped(let event): (event.data, event.pii)
        }
    }

    /// The canonical JSON texts of the `data` and `pii` payloads of `event`.
    public static func payloadTexts(_ event: DomainEvent) -> (data: [UInt8], pii: [UInt8]) {
        switch event {
        case .untyped(let untyped): return (untyped.dataText, untyped.piiText)
        case .customer(let customer): if let texts = CustomerEventCodec.payloadTexts(customer) { return texts }
        case .sales(let sales): if let texts = SalesEventCodec.payloadTexts(sales) { return texts }
        case .service(let service): if let texts = ServiceEventCodec.payloadTexts(service) { return texts }
        case .marketing(.campaignRecipientsAdded(let added)):
            return (CampaignEventCodec.dataText(added), Array("null".utf8))
        case .feedback, .marketing, .notification: break
        }
        let (data, pii) = EventCodec.payload(event)
        return (data.serialized(), pii.serialized())
    }

    /// `event` typed, when its type has a typed form and the payload is in the type's current schema
    /// version; otherwise unchanged.
    public static func typed(_ event: DomainEvent) -> DomainEvent {
        guard case .untyped(let untyped) = event,
            untyped.schemaVersion == EventSchema.currentVersion(of: untyped.type)
        else { return event }
        let payload = EventPayload(type: untyped.type, data: untyped.data, pii: untyped.pii)
        return EventCodec.typed(payload) ?? event
    }

    /// The typed event of a payload in its type's current schema version, or `nil` when the type has
    /// no typed form or the payload does not fit it.
    public static func typed(_ payload: EventPayload) -> DomainEvent? {
        if let typed = CustomerEventCodec.decode(payload) { return .customer(typed) }
        if let service = ServiceEventCodec.decode(payload) { return .service(service) }
        if let sales = SalesEventCodec.decode(payload) { return .sales(sales) }
        if let feedback = FeedbackEventCodec.decode(payload) { return .feedback(feedback) }
        if let marketing = MarketingEventCodec.decode(payload) { return .marketing(marketing) }
        if let notification = NotificationEventCodec.decode(payload) { return .notification(notification) }
        return nil
    }

    /// `event` untyped: its JSON payload, in the schema version it has.
    public static func untyped(_ event: DomainEvent) -> UntypedEvent {
        if case .untyped(let untyped) = event { return untyped }
        let (data, pii) = EventCodec.payload(event)
        return UntypedEvent(type: event.type, schemaVersion: event.schemaVersion, data: data, pii: pii)
    }
}

/// An event's payloads parsed, as the family codecs read them.
public struct EventPayload: Sendable {
    /// Event type name.
    public var type: String
    /// The non-personal payload.
    public var data: JSON
    /// The personal payload, or `null`.
    public var pii: JSON

    public init(type: String, data: JSON, pii: JSON) {
        self.type = type
        self.data = data
        self.pii = pii
    }
}

extension RecordedEvent {
    /// The `data` payload of the event, typed or not.
    public var payloadData: JSON { EventCodec.untyped(self.event).data }
    /// The `pii` payload of the event, typed or not.
    public var payloadPII: JSON { EventCodec.untyped(self.event).pii }
}

extension NewEvent {
    /// The `data` payload of the event, typed or not.
    public var payloadData: JSON { EventCodec.untyped(self.event).data }
    /// The `pii` payload of the event, typed or not.
    public var payloadPII: JSON { EventCodec.untyped(self.event).pii }
}
