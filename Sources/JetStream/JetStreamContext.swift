import CNATS
import Glibc

/// The settings of a JetStream stream that crmd checks or creates.
public struct StreamSettings: Sendable, Equatable {
    public var name: String
    public var subjects: [String]
    /// When full, refuse new messages (`true`) rather than drop old ones.
    public var discardNew: Bool = true
    public var denyDelete: Bool = true
    public var denyPurge: Bool = true
    /// Limits; 0 or below means none.
    public var maxMessages: Int64 = -1
    public var maxBytes: Int64 = -1
    public var maxAgeNanos: Int64 = 0
    public var maxMessagesPerSubject: Int64 = -1
    /// Copies of each message in a cluster (1 on a single server).
    public var replicas: Int = 1
    /// Messages on disk (`true`) or in memory.
    public var fileStorage: Bool = true
    /// Whether messages are kept by limits (rather than removed once consumed).
    public var limitsRetention: Bool = true

    public init(name: String, subjects: [String]) {
        self.name = name
        self.subjects = subjects
    }
}

/// What the server says about a stream: its settings and the sequences it holds.
public struct StreamState: Sendable {
    public var settings: StreamSettings
    public var messages: UInt64
    public var firstSequence: UInt64
    public var lastSequence: UInt64
    /// The server leading the stream, in a cluster.
    public var leader: String?
}

/// A message read from a stream, with its stream sequence when known.
public struct StreamMessage: Sendable {
    public var subject: String
    public var data: [UInt8]
    public var streamSequence: UInt64?
    /// Messages of the consumer still to come after this one (ordered consumers only).
    public var pending: UInt64?
    public var headers: [String: String]
}

/// The outcome of one asynchronous publish, as the server acknowledged it (or refused it).
public enum PublishAck: Sendable {
    /// Stored at `sequence` (`duplicate`: it was stored earlier; the server did not store it again).
    case stored(id: String, sequence: UInt64, duplicate: Bool)
    /// Refused, or no answer in time.
    case failed(id: String, NATSError)
}

/// A JetStream context on a ``Connection``: stream management, reading messages by sequence, ordered
/// consumption and asynchronous publishing with acknowledgements delivered to `onAck` (on a client
/// thread).
public final class JetStreamContext: @unchecked Sendable {
    let pointer: OpaquePointer
    /// Keeps the connection alive as long as the context.
    private let connection: Connection
    private let ackBox: AckBox?

    /// Boxes the acknowledgement callback for the C client.
    private final class AckBox {
        let onAck: @Sendable (PublishAck) -> Void
        init(_ onAck: @escaping @Sendable (PublishAck) -> Void) { self.onAck = onAck }
    }

    /// A context whose API requests wait `waitMillis` for an answer and whose asynchronous publishes
    /// keep at most `maxPending` unacknowledged messages in flight (a publish beyond that waits).
    public init(
        connection: Connection,
        waitMillis: Int64 = 5_000,
        maxPending: Int64 = 512,
        onAck: (@Sendable (PublishAck) -> Void)? = nil
    ) throws(NATSError) {
        var options = jsOptions()
        try check(jsOptions_Init(&options), "jsOptions_Init")
        options.Wait = waitMillis
        options.PublishAsync.MaxPending = maxPending
        let box = onAck.map(AckBox.init)
        if let box {
            options.PublishAsync.AckHandler = { _, message, ack, error, closure in
                let box = Unmanaged<AckBox>.fromOpaque(closure!).takeUnretainedValue()
                var id = ""
                if let message, let value = JetStreamContext.header(message, "Nats-Msg-Id") { id = value }
                if let ack {
                    box.onAck(.stored(id: id, sequence: ack.pointee.Sequence, duplicate: ack.pointee.Duplicate))
                } else if let error {
                    let text = error.pointee.ErrText.map { String(cString: $0) } ?? ""
                    let status = String(cString: natsStatus_GetText(error.pointee.Err))
                    box.onAck(
                        .failed(
                            id: id,
                            NATSError(
                                status: Int32(error.pointee.Err.rawValue), code: Int(error.pointee.ErrCode.rawValue),
                                message: text.isEmpty ? status : text
                            )
                        )
                    )
                }
                natsMsg_Destroy(message)
            }
            options.PublishAsync.AckHandlerClosure = Unmanaged.passUnretained(box).toOpaque()
        }
        var context: OpaquePointer?
        try check(natsConnection_JetStream(&context, connection.pointer, &options), "natsConnection_JetStream")
        self.pointer = context!
        self.connection = connection
        self.ackBox = box
    }

    deinit {
        jsCtx_Destroy(self.pointer)
        _ = self.ackBox
    }

    /// The value of header `name` of `message`, if present.
    static func header(_ message: OpaquePointer, _ name: String) -> String? {
        var value: UnsafePointer<CChar>?
        guard natsMsgHeader_Get(message, name, &value) == NATS_OK, let value else { return nil }
        return String(cString: value)
    }

    // MARK: - Streams

    /// The stream `name` as the server holds it, or `nil` when there is none.
    public func stream(_ name: String) throws(NATSError) -> StreamState? {
        var info: UnsafeMutablePointer<jsStreamInfo>?
        var code = jsErrCode(0)
        let status = js_GetStreamInfo(&info, self.pointer, name, nil, &code)
        if status == NATS_NOT_FOUND || Int(code.rawValue) == NATSError.streamNotFound { return nil }
        try check(status, code: code, "reading stream \(name)")
        defer { jsStreamInfo_Destroy(info) }
        return JetStreamContext.state(info!.pointee)
    }

    /// Creates the stream `settings` describes.
    public func addStream(_ settings: StreamSettings) throws(NATSError) -> StreamState {
        var config = jsStreamConfig()
        try check(jsStreamConfig_Init(&config), "jsStreamConfig_Init")
        let name = strdup(settings.name)
        var subjects: [UnsafePointer<CChar>?] = settings.subjects.map { UnsafePointer(strdup($0)) }
        defer {
            free(name)
            for subject in subjects { free(UnsafeMutablePointer(mutating: subject)) }
        }
        config.Name = UnsafePointer(name)
        config.SubjectsLen = Int32(subjects.count)
        config.Retention = settings.limitsRetention ? js_LimitsPolicy : js_InterestPolicy
        config.MaxMsgs = settings.maxMessages
        config.MaxBytes = settings.maxBytes
        config.MaxAge = settings.maxAgeNanos
        config.MaxMsgsPerSubject = settings.maxMessagesPerSubject
        config.Discard = settings.discardNew ? js_DiscardNew : js_DiscardOld
        config.Storage = settings.fileStorage ? js_FileStorage : js_MemoryStorage
        config.Replicas = Int64(settings.replicas)
        config.DenyDelete = settings.denyDelete
        config.DenyPurge = settings.denyPurge
        var info: UnsafeMutablePointer<jsStreamInfo>?
        var code = jsErrCode(0)
        let status = subjects.withUnsafeMutableBufferPointer { buffer in
            config.Subjects = buffer.baseAddress
            return js_AddStream(&info, self.pointer, &config, nil, &code)
        }
        try check(status, code: code, "creating stream \(settings.name)")
        defer { jsStreamInfo_Destroy(info) }
        return JetStreamContext.state(info!.pointee)
    }

    private static func state(_ info: jsStreamInfo) -> StreamState {
        let config = info.Config!.pointee
        var settings = StreamSettings(
            name: String(cString: config.Name),
            subjects: (0..<Int(config.SubjectsLen)).compactMap { index in
                config.Subjects[index].map { String(cString: $0) }
            }
        )
        settings.discardNew = config.Discard == js_DiscardNew
        settings.denyDelete = config.DenyDelete
        settings.denyPurge = config.DenyPurge
        settings.maxMessages = config.MaxMsgs
        settings.maxBytes = config.MaxBytes
        settings.maxAgeNanos = config.MaxAge
        settings.maxMessagesPerSubject = config.MaxMsgsPerSubject
        settings.replicas = Int(config.Replicas)
        settings.fileStorage = config.Storage == js_FileStorage
        settings.limitsRetention = config.Retention == js_LimitsPolicy
        return StreamState(
            settings: settings,
            messages: info.State.Msgs,
            firstSequence: info.State.FirstSeq,
            lastSequence: info.State.LastSeq,
            leader: info.Cluster?.pointee.Leader.map { String(cString: $0) }
        )
    }

    /// The message at `sequence` of `stream`, or `nil` when the stream holds none there.
    public func message(stream: String, sequence: UInt64) throws(NATSError) -> StreamMessage? {
        var message: OpaquePointer?
        var code = jsErrCode(0)
        let status = js_GetMsg(&message, self.pointer, stream, sequence, nil, &code)
        if status == NATS_NOT_FOUND || Int(code.rawValue) == NATSError.noMessageFound { return nil }
        try check(status, code: code, "reading message \(sequence) of stream \(stream)")
        defer { natsMsg_Destroy(message) }
        var read = JetStreamContext.read(message!)
        read.streamSequence = sequence
        return read
    }

    /// Copies a message's subject, data and headers.
    static func read(_ message: OpaquePointer) -> StreamMessage {
        let count = Int(natsMsg_GetDataLength(message))
        var data = [UInt8](repeating: 0, count: count)
        if count > 0, let bytes = natsMsg_GetData(message) {
            data.withUnsafeMutableBytes { target in
                target.copyMemory(from: UnsafeRawBufferPointer(start: bytes, count: count))
            }
        }
        var headers: [String: String] = [:]
        var keys: UnsafeMutablePointer<UnsafePointer<CChar>?>?
        var keyCount: Int32 = 0
        if natsMsgHeader_Keys(message, &keys, &keyCount) == NATS_OK, let keys {
            for index in 0..<Int(keyCount) {
                guard let key = keys[index] else { continue }
                let name = String(cString: key)
                headers[name] = JetStreamContext.header(message, name)
            }
            free(keys)
        }
        return StreamMessage(
            subject: natsMsg_GetSubject(message).map { String(cString: $0) } ?? "",
            data: data,
            streamSequence: nil,
            pending: nil,
            headers: headers
        )
    }

    // MARK: - Publishing

    /// Publishes `data` on `subject` without waiting for the server's acknowledgement, which reaches
    /// `onAck`. `messageID` becomes the `Nats-Msg-Id` header (the server drops a repeat within its
    /// duplicate window); `expectLastSequence`, when above 0, makes the server refuse the message
    /// unless the stream's last sequence is that (`Nats-Expected-Last-Sequence`). No answer within
    /// `maxWaitMillis` fails the message. Waits while `maxPending` messages are in flight.
    public func publishAsync(
        subject: String,
        data: [UInt8],
        messageID: String,
        expectLastSequence: UInt64,
        maxWaitMillis: Int64
    ) throws(NATSError) {
        var message: OpaquePointer?
        let status = data.withUnsafeBytes { bytes in
            natsMsg_Create(
                &message, subject, nil, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), Int32(bytes.count)
            )
        }
        try check(status, "natsMsg_Create")
        var options = jsPubOptions()
        try check(jsPubOptions_Init(&options), "jsPubOptions_Init")
        options.MaxWait = maxWaitMillis
        options.ExpectLastSeq = expectLastSequence
        let published = messageID.withCString { id in
            options.MsgId = id
            return js_PublishMsgAsync(self.pointer, &message, &options)
        }
        // On success the client owns the message (and set `message` to nil).
        natsMsg_Destroy(message)
        try check(published, "publishing to \(subject)")
    }

    /// Waits up to `timeoutMillis` until every asynchronous publish is acknowledged (or failed);
    /// then gives up on what is still unanswered (those messages are dropped, not acknowledged).
    /// Returns whether everything was answered.
    @discardableResult
    public func drainPublishes(timeoutMillis: Int64) -> Bool {
        var options = jsPubOptions()
        jsPubOptions_Init(&options)
        options.MaxWait = timeoutMillis
        guard js_PublishAsyncComplete(self.pointer, &options) != NATS_OK else { return true }
        var pending = natsMsgList()
        if js_PublishAsyncGetPendingList(&pending, self.pointer) == NATS_OK {
            natsMsgList_Destroy(&pending)
        }
        return false
    }

    // MARK: - Consuming

    /// An ordered consumer of `stream` (every subject `subject` matches) from `startSequence`: messages
    /// arrive in stream order, without gaps or repeats, and the client recreates the consumer by
    /// itself when the server loses it.
    public func orderedSubscription(
        stream: String,
        subject: String,
        startSequence: UInt64
    ) throws(NATSError) -> OrderedSubscription {
        var options = jsSubOptions()
        try check(jsSubOptions_Init(&options), "jsSubOptions_Init")
        options.Ordered = true
        options.Config.DeliverPolicy = startSequence <= 1 ? js_DeliverAll : js_DeliverByStartSequence
        options.Config.OptStartSeq = startSequence <= 1 ? 0 : startSequence
        var subscription: OpaquePointer?
        var code = jsErrCode(0)
        let status = stream.withCString { name in
            options.Stream = name
            return js_SubscribeSync(&subscription, self.pointer, subject, nil, &options, &code)
        }
        try check(status, code: code, "subscribing to stream \(stream)")
        return OrderedSubscription(pointer: subscription!, context: self)
    }
}

/// A synchronous subscription of an ordered consumer (see ``JetStreamContext/orderedSubscription``).
public final class OrderedSubscription: @unchecked Sendable {
    private let pointer: OpaquePointer
    private let context: JetStreamContext

    init(pointer: OpaquePointer, context: JetStreamContext) {
        self.pointer = pointer
        self.context = context
    }

    /// The next message, waiting up to `timeoutMillis`; `nil` when none came in that time.
    public func next(timeoutMillis: Int64) throws(NATSError) -> StreamMessage? {
        var message: OpaquePointer?
        let status = natsSubscription_NextMsg(&message, self.pointer, timeoutMillis)
        if status == NATS_TIMEOUT { return nil }
        try check(status, "waiting for the next message")
        defer { natsMsg_Destroy(message) }
        var read = JetStreamContext.read(message!)
        var metadata: UnsafeMutablePointer<jsMsgMetaData>?
        if natsMsg_GetMetaData(&metadata, message) == NATS_OK, let metadata {
            read.streamSequence = metadata.pointee.Sequence.Stream
            read.pending = metadata.pointee.NumPending
            jsMsgMetaData_Destroy(metadata)
        }
        return read
    }

    deinit {
        natsSubscription_Unsubscribe(self.pointer)
        natsSubscription_Destroy(self.pointer)
    }
}
