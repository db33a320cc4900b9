/// An event produced by `decide`, before the store gives it a position.
public struct NewEvent: Sendable, Hashable {
    /// The event itself: its type, schema version and payload.
    public var event: DomainEvent
    /// Stream the event belongs to, e.g. `customer-01HX…`.
    public var stream: String
    /// For a derived event: index, in the same command's event list, of the event that caused it. The
    /// store turns it into `causation_seq`.
    public var causedBy: Int?

    /// A typed event on `stream`.
    public init(_ event: DomainEvent, stream: String, causedBy: Int? = nil) {
        self.event = event
        self.stream = stream
        self.causedBy = causedBy
    }

    /// Event type name, e.g. `CustomerCreated`.
    public var type: String { self.event.type }
    /// Schema version of the payload.
    public var schemaVersion: Int { self.event.schemaVersion }
}

/// Who caused an event: the socket peer's credentials, plus an optional client-supplied
/// `on_behalf_of` (e.g. an agent id). Clients cannot forge `uid`/`gid`.
public struct Actor: Sendable, Hashable {
    public var uid: UInt32
    public var gid: UInt32
    public var onBehalfOf: String?

    public init(uid: UInt32, gid: UInt32, onBehalfOf: String? = nil) {
        self.uid = uid
        self.gid = gid
        self.onBehalfOf = onBehalfOf
    }

}

/// An event as stored in the log, with its envelope.
public struct RecordedEvent: Sendable, Hashable {
    /// Global position, gapless from 1.
    public var seq: UInt64
    public var stream: String
    /// Version of the event within its stream, from 1.
    public var streamVersion: UInt64
    /// The event type name (the event's; kept beside it so that readers of envelopes, such as
    /// `events.read`, do not take the event apart for it).
    public private(set) var type: String
    /// Schema version of the payload: as stored, or the type's current version once read through
    /// `EventSchema.upcast` (as every reader but the log's own checks does). Only an untyped event's
    /// version can be set: a typed event is always in its type's current version.
    public var schemaVersion: Int {
        didSet {
            guard case .untyped(var untyped) = self.event else {
                precondition(
                    self.schemaVersion == self.event.schemaVersion,
                    "the schema version of a typed \(self.type) event cannot change"
                )
                return
            }
            guard untyped.schemaVersion != self.schemaVersion else { return }
            untyped.schemaVersion = self.schemaVersion
            self.event = .untyped(untyped)
        }
    }
    /// Business time of the event, UTC milliseconds since 1970 (the command's `at`).
    public var occurredAt: Int64
    /// When the daemon recorded it, UTC milliseconds since 1970.
    public var recordedAt: Int64
    public var actor: Actor
    public var commandID: String?
    public var correlationID: String?
    /// Position of the event that caused this one (derived events), if any.
    public var causationSeq: UInt64?
    /// Whose data key seals this event's personal data in the log, whether or not the reader opened
    /// it (or could: an erased key keeps its number); `nil` when the event has no personal data or
    /// the log keeps it in plain text. Read models seal what they fold from the event's personal data
    /// under the same key.
    public var personalData: PersonalDataSeal?
    /// The payload: typed when the event codec knows the type in this schema version.
    public var event: DomainEvent {
        didSet {
            self.type = self.event.type
            self.schemaVersion = self.event.schemaVersion
        }
    }

    /// An event with its envelope; `type` and `schemaVersion` are the event's.
    public init(
        seq: UInt64, stream: String, streamVersion: UInt64, occurredAt: Int64, recordedAt: Int64, actor: Actor,
        commandID: String?, correlationID: String?, causationSeq: UInt64?, event: DomainEvent
    ) {
        self.seq = seq
        self.stream = stream
        self.streamVersion = streamVersion
        self.type = event.type
        self.schemaVersion = event.schemaVersion
        self.occurredAt = occurredAt
        self.recordedAt = recordedAt
        self.actor = actor
        self.commandID = commandID
        self.correlationID = correlationID
        self.causationSeq = causationSeq
        self.event = event
    }
}

/// Facts about the command being decided that are not its parameters.
public struct CommandContext: Sendable, Hashable {
    /// The command's business time (`at`, default: now), UTC milliseconds.
    public var at: Int64
    /// A fresh, time-ordered id (UUIDv7) the command may use when the client gave none.
    public var generatedID: String

    public init(at: Int64, generatedID: String) {
        self.at = at
        self.generatedID = generatedID
    }
}

/// The data key that seals an event's personal data: its subject's key id (`c:<customer_id>`, …, see
/// ``PiiSubject``) and the key's number in the key store.
public struct PersonalDataSeal: Sendable, Hashable {
    /// The subject's key id.
    public var subject: String
    /// The number of the key.
    public var key: UInt64

    public init(subject: String, key: UInt64) {
        self.subject = subject
        self.key = key
    }
}
