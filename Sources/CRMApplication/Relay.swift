import CRMDomain
import CRMEventStore
import CRMJSON
import Foundation
public import JetStream
import LMDB
public import Logging
public import ServiceLifecycle
import Synchronization

/// Where the relay publishes the log: a NATS JetStream stream that only the relay writes.
public struct RelayConfiguration: Sendable, Equatable {
    /// The NATS server(s): `nats://host:port`, several separated by commas for a cluster.
    public var url: String
    /// The JetStream stream (created when missing).
    public var stream: String = "CRMD"
    /// Events go to `<prefix>.<type>.<stream>` (e.g. `crmd.events.CustomerCreated.customer-42`).
    public var subjectPrefix: String = "crmd.events"
    /// Copies of each message when the relay creates the stream (3 on a 3-node cluster).
    public var replicas: Int = 1
    /// Publishes waiting for the server's acknowledgement, at most.
    public var maxPending: Int = 512
    /// How long a publish may wait for its acknowledgement before the relay starts over from the
    /// stream's last message.
    public var ackWaitMillis: Int64 = 5_000

    public init(url: String) { self.url = url }

    /// The subject of an event of `type` on `stream`: NATS subject tokens cannot hold `.`, `*`, `>`
    /// or white space, so anything but letters, digits, `_` and `-` becomes `_`.
    public func subject(type: String, stream: String) -> String {
        func token(_ text: String) -> String {
            String(
                String.UnicodeScalarView(
                    text.unicodeScalars.map { scalar in
                        switch scalar {
                        case "a"..."z", "A"..."Z", "0"..."9", "_", "-": scalar
                        default: "_"
                        }
                    }
                )
            )
        }
        return "\(self.subjectPrefix).\(token(type)).\(token(stream))"
    }

    /// The stream's settings: every subject under the prefix, nothing ever removed (no limits; when
    /// full, new messages are refused rather than old ones dropped; deleting and purging denied).
    public var streamSettings: StreamSettings {
        var settings = StreamSettings(name: self.stream, subjects: [self.subjectPrefix + ".>"])
        settings.replicas = self.replicas
        return settings
    }

    /// Why an existing stream's settings are wrong for the relay, or `nil` when they are right.
    public func problems(with existing: StreamSettings) -> [String] {
        var problems: [String] = []
        if !existing.subjects.contains(self.subjectPrefix + ".>") {
            problems.append("subjects \(existing.subjects) do not include \(self.subjectPrefix).>")
        }
        if !existing.discardNew { problems.append("discard is old (must be new)") }
        if !existing.denyDelete { problems.append("deleting messages is allowed (must be denied)") }
        if !existing.denyPurge { problems.append("purging is allowed (must be denied)") }
        if !existing.limitsRetention { problems.append("retention is not by limits") }
        if existing.maxMessages > 0 { problems.append("max_msgs is \(existing.maxMessages) (must be unlimited)") }
        if existing.maxBytes > 0 { problems.append("max_bytes is \(existing.maxBytes) (must be unlimited)") }
        if existing.maxAgeNanos > 0 { problems.append("max_age is set (must be unlimited)") }
        if existing.maxMessagesPerSubject > 0 {
            problems.append("max_msgs_per_subject is \(existing.maxMessagesPerSubject) (must be unlimited)")
        }
        return problems
    }
}

/// The relay: publishes every committed event, in log order and exactly once, to a JetStream stream,
/// so that the stream's sequence equals the log's position.
///
/// Each event at position p goes out with `Nats-Msg-Id: p` and `Nats-Expected-Last-Sequence: p−1`;
/// the server refuses a duplicate, a gap or a reordering. After any failure (a refused publish, a
/// publish unanswered in time, a lost connection) the relay waits for the answers still due, reads
/// the stream's last sequence L, checks that message L carries the log's hash at L, and resumes at
/// L+1 — also after a restart of crmd or of NATS. It runs on a thread of its own, reads the log in
/// read transactions and never holds up the writer: a slow or absent NATS only makes it lag, which
/// `system.stats` shows. The payload is the event's `events.read` envelope as stored (its position
/// and hash included).
public final class Relay: Service, Sendable {
    private let configuration: RelayConfiguration
    private let storage: CoreStorage
    private let headSignal: HeadSignal
    private let worker: StreamWorker
    /// The highest position the stream acknowledged, and the first publish failure since the last
    /// resume.
    private let acks = Mutex<(stored: UInt64, failure: NATSError?, connectedURL: String?)>((0, nil, nil))
    /// The acknowledged position, for those who wait for it.
    private let acknowledged = HeadSignal(head: 0)

    init(configuration: RelayConfiguration, storage: CoreStorage, headSignal: HeadSignal, logger: Logger) {
        self.configuration = configuration
        self.storage = storage
        self.headSignal = headSignal
        self.worker = StreamWorker(name: "crmd-relay", logger: logger)
        headSignal.observe { [worker = self.worker] _ in worker.wake() }
    }

    /// Publishes until graceful shutdown.
    public func run() async {
        await self.worker.run { [self] in try self.session() }
    }

    /// The relay's part of `system.stats`: state, stream, acknowledged position, lag in events and in
    /// seconds (since the oldest event not yet acknowledged was recorded), the last error.
    func stats(head: UInt64, _ txn: Transaction) throws -> JSON {
        let (state, lastError, failures) = self.worker.status
        let (stored, _, url) = self.acks.withLock { $0 }
        let lag = head > stored ? head - stored : 0
        var lagSeconds = 0.0
        if lag > 0, let oldest = try self.storage.store.storedEvent(at: stored + 1, txn) {
            lagSeconds = max(0, Double(CRMCore.nowMillis() - oldest.recordedAt) / 1000)
        }
        return [
            "state": .string(state.rawValue), "url": .string(self.configuration.url),
            "connected_url": url.map { .string($0) } ?? .null, "stream": .string(self.configuration.stream),
            "subject_prefix": .string(self.configuration.subjectPrefix),
            "acknowledged_position": .int(Int64(stored)), "lag_events": .int(Int64(lag)),
            "lag_seconds": .double((lagSeconds * 1000).rounded() / 1000),
            "last_error": lastError.map { .string($0) } ?? .null, "restarts": .int(Int64(failures)),
        ]
    }

    /// How far the stream has acknowledged the log (for metrics and tests).
    public var acknowledgedPosition: UInt64 { self.acks.withLock { $0.stored } }

    /// Returns once the stream has acknowledged `position`, or the relay has stopped (shutdown, or a
    /// stream it must not write: see `system.stats`).
    public func waitUntilAcknowledged(_ position: UInt64) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.acknowledged.wait(after: max(position, 1) - 1) }
            group.addTask { await self.worker.waitUntilEnded() }
            await group.next()
            group.cancelAll()
        }
    }

    /// Returns once the relay has stopped: at shutdown, or on a stream it must not write.
    public func waitUntilStopped() async { await self.worker.waitUntilEnded() }

    // MARK: - On the relay's thread

    private func session() throws {
        self.worker.set(.connecting)
        let configuration = self.configuration
        let connection = try Connection(url: configuration.url, name: "crmd-relay")
        let worker = self.worker
        let context = try JetStreamContext(
            connection: connection,
            maxPending: Int64(configuration.maxPending)
        ) { [self] ack in
            let failed = self.acks.withLock { state -> Bool in
                switch ack {
                case .stored(_, let sequence, _):
                    state.stored = max(state.stored, sequence)
                    return false
                case .failed(_, let error):
                    if state.failure == nil { state.failure = error }
                    return true
                }
            }
            if failed { worker.wake() } else { self.acknowledged.publish(self.acknowledgedPosition) }
        }
        self.acks.withLock { $0.connectedURL = connection.connectedURL }
        var next = try self.resume(context)
        self.worker.set(.running)
        let batch = 256
        while !self.worker.isStopping {
            if let failure = self.acks.withLock({ $0.failure }) {
                self.worker.logger.warning(
                    "the stream refused or did not answer a publish; resuming from its last message",
                    metadata: ["error": "\(failure)"]
                )
                context.drainPublishes(timeoutMillis: configuration.ackWaitMillis)
                next = try self.resume(context)
                continue
            }
            let head = self.headSignal.head
            guard next <= head else {
                self.worker.sleep(millis: 1_000)
                continue
            }
            let envelopes = try self.envelopes(from: next, through: min(head, next + UInt64(batch) - 1))
            for (seq, subject, bytes) in envelopes {
                try context.publishAsync(
                    subject: subject, data: bytes, messageID: String(seq), expectLastSequence: seq - 1,
                    maxWaitMillis: configuration.ackWaitMillis
                )
                next = seq + 1
            }
        }
        // Shutdown: let the answers in flight arrive, so the acknowledged position is current.
        context.drainPublishes(timeoutMillis: 1_000)
    }

    /// Finds the stream (creating it when missing, refusing one with wrong settings), checks that its
    /// last message L is the log's event at L, and returns L+1: where publishing resumes.
    private func resume(_ context: JetStreamContext) throws -> UInt64 {
        let configuration = self.configuration
        let state: StreamState
        if let existing = try context.stream(configuration.stream) {
            let problems = configuration.problems(with: existing.settings)
            guard problems.isEmpty else {
                throw StreamWorker.Fatal(
                    "stream \(configuration.stream) has settings the relay cannot keep its promise with: "
                        + problems.joined(separator: "; ")
                        + ". Fix or recreate it (the relay creates it right when it is missing)"
                )
            }
            state = existing
        } else {
            state = try context.addStream(configuration.streamSettings)
            self.worker.logger.notice(
                "created the relay's JetStream stream",
                metadata: ["stream": "\(configuration.stream)", "subjects": "\(configuration.subjectPrefix).>"]
            )
        }
        let last = state.lastSequence
        let (logHead, logHash) = try self.storage.environment.read { txn in
            (try self.storage.store.head(txn).seq, last > 0 ? try self.storage.store.recordHash(at: last, txn) : nil)
        }
        if last > 0 {
            guard last <= logHead, let logHash else {
                throw StreamWorker.Fatal(
                    "stream \(configuration.stream) holds \(last) messages but the log only \(logHead) events: "
                        + "it belongs to another log"
                )
            }
            guard let message = try context.message(stream: configuration.stream, sequence: last) else {
                throw NATSError(status: -1, message: "message \(last) of stream \(configuration.stream) is missing")
            }
            let published = (try? JSON.parse(message.data))?["hash"]?.stringValue
            guard published == hexString(logHash) else {
                throw StreamWorker.Fatal(
                    "message \(last) of stream \(configuration.stream) does not carry the log's hash at \(last): "
                        + "the stream belongs to another log or was altered"
                )
            }
        }
        self.acks.withLock {
            $0.stored = last
            $0.failure = nil
        }
        self.acknowledged.publish(last)
        return last + 1
    }

    /// The envelopes (as stored, with hashes) of positions `from...through`, with their subjects.
    private func envelopes(from: UInt64, through: UInt64) throws -> [(UInt64, String, [UInt8])] {
        let store = self.storage.store
        return try self.storage.environment.read { txn in
            var out: [(UInt64, String, [UInt8])] = []
            out.reserveCapacity(Int(through - from + 1))
            try store.forEachLinkedRecord(from: from, txn) { seq, record, hash in
                guard seq <= through else { return false }
                let (event, data, pii) = try EventRecord.decodeEnvelope(record)
                var bytes: [UInt8] = []
                bytes.reserveCapacity(record.count + 160)
                LogQueries.writeEnvelope(
                    event, data: data, pii: pii, hash: hash, storedSchemaVersion: nil, into: &bytes
                )
                out.append((seq, self.configuration.subject(type: event.type, stream: event.stream), bytes))
                return true
            }
            return out
        }
    }
}
