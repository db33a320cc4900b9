public import CRMDomain
import CRMEventStore

/// Gives decided events their positions, stream versions and causation the way the event store does
/// (including the typed form of an event given untyped), for pure tests that fold events without
/// LMDB's log.
public struct InMemoryLog: Sendable {
    /// Every event recorded so far, in order.
    public private(set) var events: [RecordedEvent] = []
    private var versions: [String: UInt64] = [:]

    public init() {}

    /// Records `newEvents` (one command's events) at business time `at`; returns them recorded.
    @discardableResult
    public mutating func record(
        _ newEvents: [NewEvent],
        at: Int64,
        actor: Actor = Actor(uid: 1000, gid: 1000)
    ) -> [RecordedEvent] {
        let first = UInt64(self.events.count) + 1
        var recorded: [RecordedEvent] = []
        for event in newEvents {
            let version = (self.versions[event.stream] ?? 0) + 1
            self.versions[event.stream] = version
            let record = RecordedEvent(
                seq: UInt64(self.events.count) + 1,
                stream: event.stream,
                streamVersion: version,
                occurredAt: at,
                recordedAt: at,
                actor: actor,
                commandID: nil,
                correlationID: nil,
                causationSeq: event.causedBy.map { first + UInt64($0) },
                event: EventCodec.typed(event.event)
            )
            self.events.append(record)
            recorded.append(record)
        }
        return recorded
    }
}
