public import CRMDomain
public import CRMJSON

/// The upcasters that turn an older stored payload into the current shape of its type, one schema
/// version step at a time (see ``EventSchema``). Readers that fold or show events (projectors, decision
/// state, `events.read`, `customer.history`) see stored events through `EventSchema.upcast`, which
/// ``EventRecord/decode(_:)`` applies before typing them.
extension EventSchema {
    /// Turns the `data` and `pii` of one schema version of an event type into those of the next.
    /// It must be total: it never fails, whatever an old event holds (fields may be missing or `null`).
    public typealias Upcaster = @Sendable (_ data: JSON, _ pii: JSON) -> (data: JSON, pii: JSON)

    /// Per event type, the upcaster from each older version to the next one. The versions of a type
    /// run from 1 without gaps; its current version (``EventSchema/currentVersions``) is one past the
    /// highest key.
    public static let upcasters: [String: [Int: Upcaster]] = [
        EventType.activityLogged: [1: EventSchema.activityLoggedV1ToV2],
        EventType.consentChanged: [1: EventSchema.consentChangedV1ToV2],
    ]

    /// `event` in the current shape of its type, with `schemaVersion` set to the current version. An
    /// event already current (or newer than this crmd knows), or already typed, comes back unchanged.
    public static func upcast(_ event: RecordedEvent) -> RecordedEvent {
        guard case .untyped(var payload) = event.event, let steps = EventSchema.upcasters[payload.type] else {
            return event
        }
        while let step = steps[payload.schemaVersion] {
            (payload.data, payload.pii) = step(payload.data, payload.pii)
            payload.schemaVersion += 1
        }
        var event = event
        event.event = .untyped(payload)
        return event
    }

    // MARK: - ActivityLogged

    /// `ActivityLogged` 1 → 2: the activity's `type` is called `kind` (it is not the event's type),
    /// and the two task-only fields `due_at` and `task_status` become one `task` object
    /// (`{"due_at", "status"}`), present exactly when the activity is a task and `null` otherwise.
    @Sendable static func activityLoggedV1ToV2(_ data: JSON, _ pii: JSON) -> (data: JSON, pii: JSON) {
        guard var members = data.objectValue else { return (data, pii) }
        let kind = members.removeValue(forKey: "type") ?? .null
        let dueAt = members.removeValue(forKey: "due_at") ?? .null
        let status = members.removeValue(forKey: "task_status") ?? .null
        members["kind"] = kind
        members["task"] = kind.stringValue == "task" ? ["due_at": dueAt, "status": status] : .null
        return (.object(members), pii)
    }

    // MARK: - ConsentChanged

    /// `ConsentChanged` 1 → 2: the email address or phone number the consent is about moves from
    /// `pii.address` to `pii.contact_point`, so that `address` means a postal address in every
    /// customer event (as in `CustomerCreated`).
    @Sendable static func consentChangedV1ToV2(_ data: JSON, _ pii: JSON) -> (data: JSON, pii: JSON) {
        guard var members = pii.objectValue else { return (data, pii) }
        members["contact_point"] = members.removeValue(forKey: "address") ?? .null
        return (data, .object(members))
    }
}
