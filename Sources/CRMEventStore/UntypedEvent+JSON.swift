public import CRMDomain
public import CRMJSON

// Untyped events as JSON: what the event codec reads and writes for payloads it has no typed form for
// (an older schema version before upcasting, an unknown type), and what tests and tools use to write
// payloads as they are.

extension UntypedEvent {
    /// An event of `type` in `schemaVersion` with the payloads `data` and `pii`.
    public init(type: String, schemaVersion: Int, data: JSON, pii: JSON) {
        self.init(type: type, schemaVersion: schemaVersion, dataText: data.serialized(), piiText: pii.serialized())
    }

    /// The non-personal payload (`null` if its text is not JSON, which the store never writes).
    public var data: JSON {
        get { (try? JSON.parse(self.dataText)) ?? .null }
        set { self.dataText = newValue.serialized() }
    }

    /// The personal payload (`null` if its text is not JSON, which the store never writes).
    public var pii: JSON {
        get { (try? JSON.parse(self.piiText)) ?? .null }
        set { self.piiText = newValue.serialized() }
    }
}

extension DomainEvent {
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

extension NewEvent {
    /// An event of `type` in `schemaVersion` (default: the type's current version,
    /// `EventSchema.currentVersion(of:)`), given as its JSON payload. `decide` always emits typed
    /// events; this is for tests and tools that write payloads as they are.
    public init(
        type: String,
        schemaVersion: Int? = nil,
        stream: String,
        data: JSON,
        pii: JSON = .null,
        causedBy: Int? = nil
    ) {
        let version = schemaVersion ?? EventSchema.currentVersion(of: type)
        self.init(
            .untyped(UntypedEvent(type: type, schemaVersion: version, data: data, pii: pii)),
            stream: stream,
            causedBy: causedBy
        )
    }
}

extension RecordedEvent {
    /// An event given as its JSON payload (an ``UntypedEvent``).
    public init(
        seq: UInt64,
        stream: String,
        streamVersion: UInt64,
        type: String,
        schemaVersion: Int,
        occurredAt: Int64,
        recordedAt: Int64,
        actor: Actor,
        commandID: String?,
        correlationID: String?,
        causationSeq: UInt64?,
        data: JSON,
        pii: JSON
    ) {
        self.init(
            seq: seq,
            stream: stream,
            streamVersion: streamVersion,
            occurredAt: occurredAt,
            recordedAt: recordedAt,
            actor: actor,
            commandID: commandID,
            correlationID: correlationID,
            causationSeq: causationSeq,
            event: .untyped(UntypedEvent(type: type, schemaVersion: schemaVersion, data: data, pii: pii))
        )
    }
}
