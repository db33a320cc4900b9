import CRMDomain
import CRMEventStore
import CRMJSON
import Foundation
import JetStream
import LMDB
public import Logging
public import ServiceLifecycle
import Synchronization

/// What a read replica follows: the primary's relay stream.
public struct ReplicaConfiguration: Sendable, Equatable {
    /// The NATS server(s), as for the relay.
    public var url: String
    /// The stream the primary's relay writes.
    public var stream: String
    /// The primary's socket, named in the `read_only_replica` answer to commands, when known.
    public var primarySocket: String?

    public init(url: String, stream: String, primarySocket: String? = nil) {
        self.url = url
        self.stream = stream
        self.primarySocket = primarySocket
    }

    /// Reads `--replica-of`'s `NATS_URL/STREAM` (e.g. `nats://10.0.0.5:4222/CRMD`; several servers
    /// separated by commas); `nil` when it is not of that form.
    public static func parse(_ text: String, primarySocket: String? = nil) -> ReplicaConfiguration? {
        guard let slash = text.lastIndex(of: "/"), slash > text.startIndex else { return nil }
        let url = String(text[..<slash])
        let stream = String(text[text.index(after: slash)...])
        guard url.hasPrefix("nats://") || url.hasPrefix("tls://"), url.count > 7, !stream.isEmpty,
            stream.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" })
        else { return nil }
        return ReplicaConfiguration(url: url, stream: stream, primarySocket: primarySocket)
    }

    /// The answer of a replica to every command.
    var refusal: Rejection {
        var message = "this crmd is a read replica of stream \(self.stream) at \(self.url): it answers queries only"
        var details: [String: DetailValue] = ["stream": .string(self.stream)]
        if let socket = self.primarySocket {
            message += "; send commands to the primary at \(socket)"
            details["primary_socket"] = .string(socket)
        } else {
            message += "; send commands to the primary"
        }
        return Rejection(.readOnlyReplica, message, details: details)
    }
}

/// A read replica's follower: applies the primary's relay stream to this crmd's log, in order, through
/// the writer (so the same folds build the same read models), each event checked against the hash the
/// primary gave it. A message out of order or whose hash does not chain stops the follower with a
/// clear error (the replica keeps answering queries from what it has); a lost connection is retried.
public final class ReplicaFollower: Service, Sendable {
    private let configuration: ReplicaConfiguration
    private let storage: CoreStorage
    private let writer: Writer<CommandPipeline.WriterJob>
    private let worker: StreamWorker
    /// The stream's last sequence as last seen (a message's sequence plus the messages its metadata
    /// says follow it), and when the last event applied was recorded on the primary.
    private let progress = Mutex<(streamLast: UInt64, lastRecordedAt: Int64?)>((0, nil))

    init(
        configuration: ReplicaConfiguration,
        storage: CoreStorage,
        writer: Writer<CommandPipeline.WriterJob>,
        logger: Logger
    ) {
        self.configuration = configuration
        self.storage = storage
        self.writer = writer
        self.worker = StreamWorker(name: "crmd-replica", logger: logger)
    }

    /// Follows the stream until graceful shutdown.
    public func run() async {
        await self.worker.run { [self] in try self.session() }
    }

    /// The replica's part of `system.stats`: state, stream, applied position, lag in events (messages
    /// of the stream not applied yet) and seconds (since the last applied event was recorded, while
    /// behind), the last error.
    func stats(head: UInt64) -> JSON {
        let (state, lastError, failures) = self.worker.status
        let (streamLast, recordedAt) = self.progress.withLock { $0 }
        let pending = streamLast > head ? streamLast - head : 0
        let lagSeconds = pending > 0 ? recordedAt.map { max(0, Double(CRMCore.nowMillis() - $0) / 1000) } ?? 0 : 0
        return [
            "state": .string(state.rawValue), "url": .string(self.configuration.url),
            "stream": .string(self.configuration.stream), "position": .int(Int64(head)),
            "lag_events": .int(Int64(pending)), "lag_seconds": .double((lagSeconds * 1000).rounded() / 1000),
            "primary_socket": self.configuration.primarySocket.map { .string($0) } ?? .null,
            "last_error": lastError.map { .string($0) } ?? .null, "restarts": .int(Int64(failures)),
        ]
    }

    /// Returns once the follower has stopped: at shutdown, or on a message it must not apply.
    public func waitUntilStopped() async { await self.worker.waitUntilEnded() }

    // MARK: - On the follower's thread

    private func session() throws {
        self.worker.set(.connecting)
        let (configuration, store) = (self.configuration, self.storage.store)
        let connection = try Connection(url: configuration.url, name: "crmd-replica")
        let context = try JetStreamContext(connection: connection)
        guard let stream = try context.stream(configuration.stream) else {
            throw NATSError(
                status: -1, message: "stream \(configuration.stream) does not exist (yet) at \(configuration.url)")
        }
        let local = try self.storage.environment.read { txn in try store.head(txn) }
        if local.seq > stream.lastSequence {
            throw StreamWorker.Fatal(
                "this replica's log holds \(local.seq) events but stream \(configuration.stream) only "
                    + "\(stream.lastSequence): it was built from another stream"
            )
        }
        if local.seq > 0 {
            let message = try context.message(stream: configuration.stream, sequence: local.seq)
            let hash = message.flatMap { (try? JSON.parse($0.data))?["hash"]?.stringValue }
            guard hash == hexString(local.hash) else {
                throw StreamWorker.Fatal(
                    "message \(local.seq) of stream \(configuration.stream) does not carry this replica's hash at "
                        + "\(local.seq): the replica was built from another stream, or the stream was altered"
                )
            }
        }
        self.progress.withLock { $0.streamLast = max($0.streamLast, stream.lastSequence) }
        let subscription = try context.orderedSubscription(
            stream: configuration.stream, subject: stream.settings.subjects.first ?? ">", startSequence: local.seq + 1
        )
        self.worker.set(.running)
        var expected = local.seq + 1
        while !self.worker.isStopping {
            guard let first = try subscription.next(timeoutMillis: 250) else { continue }
            var messages = [first]
            while messages.count < 1_000, let more = try subscription.next(timeoutMillis: 1) { messages.append(more) }
            if let last = messages.last, let sequence = last.streamSequence {
                self.progress.withLock { $0.streamLast = max($0.streamLast, sequence + (last.pending ?? 0)) }
            }
            var events: [(event: RecordedEvent, hash: [UInt8])] = []
            events.reserveCapacity(messages.count)
            for message in messages {
                let (event, hash) = try self.event(of: message, expected: expected)
                events.append((event, hash))
                expected += 1
            }
            try self.apply(events)
            self.progress.withLock { $0.lastRecordedAt = events.last?.event.recordedAt }
        }
    }

    /// The event a message carries, which must be the one at `expected`.
    private func event(of message: StreamMessage, expected: UInt64) throws -> (RecordedEvent, [UInt8]) {
        let sequence = message.streamSequence ?? 0
        guard sequence == expected else {
            throw StreamWorker.Fatal(
                "stream \(self.configuration.stream) delivered message \(sequence) where \(expected) was due"
            )
        }
        do {
            let envelope = try JSON.parse(message.data)
            let (event, hash) = try ExportedLog.event(fromEnvelope: envelope, line: Int(sequence))
            guard event.seq == expected else {
                throw ImportError("message \(sequence) holds the event at position \(event.seq)")
            }
            return (event, hash)
        } catch let error as ImportError {
            throw StreamWorker.Fatal("message \(sequence) of stream \(self.configuration.stream): \(error.description)")
        } catch {
            throw StreamWorker.Fatal(
                "message \(sequence) of stream \(self.configuration.stream) is not an event envelope: \(error)"
            )
        }
    }

    /// Appends `events` through the writer and waits for their commit.
    private func apply(_ events: [(event: RecordedEvent, hash: [UInt8])]) throws {
        let reply = Pending<CommandOutcome>()
        guard self.writer.enqueue(.replicate(events: events, reply: reply)) != nil else { return }
        let done = DispatchSemaphore(value: 0)
        let outcome = Mutex<CommandOutcome?>(nil)
        Task {
            let value = await reply.value
            outcome.withLock { $0 = value }
            done.signal()
        }
        done.wait()
        switch outcome.withLock({ $0 }) {
        case .replicated?:
            return
        case .rejected(let rejection)? where rejection.reason == .chainBroken:
            throw StreamWorker.Fatal(
                "stream \(self.configuration.stream) does not chain onto this replica's log: "
                    + "\(rejection.message) (the stream was altered, or the replica was built from another stream)"
            )
        case .rejected(let rejection)?:
            throw NATSError(status: -1, message: "applying events failed: \(rejection.message)")
        default:
            throw NATSError(status: -1, message: "applying events failed")
        }
    }
}
