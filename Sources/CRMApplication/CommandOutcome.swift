public import CRMDomain
public import CRMEventStore
public import CRMJSON
import LMDB

/// What a client may give with any command besides its own fields.
public struct CommandOptions: Sendable, Hashable {
    /// The idempotency key: a retry with the same key gets the first outcome back, and writes nothing.
    public var commandID: String?
    /// The version the command's target stream must be at.
    public var expectedVersion: ExpectedVersion?
    /// The command's business time (UTC milliseconds); `nil` for now.
    public var at: Int64?
    /// Copied into every event's envelope.
    public var correlationID: String?
    /// Who the caller acts for (an agent id), recorded beside the socket peer's credentials.
    public var onBehalfOf: String?

    public init(
        commandID: String? = nil,
        expectedVersion: ExpectedVersion? = nil,
        at: Int64? = nil,
        correlationID: String? = nil,
        onBehalfOf: String? = nil
    ) {
        self.commandID = commandID
        self.expectedVersion = expectedVersion
        self.at = at
        self.correlationID = correlationID
        self.onBehalfOf = onBehalfOf
    }
}

/// One event a command appended, as its reply lists it.
public struct AppendedEvent: Sendable, Hashable {
    public var seq: UInt64
    public var type: String
    public var stream: String
    public var streamVersion: UInt64

    public init(seq: UInt64, type: String, stream: String, streamVersion: UInt64) {
        self.seq = seq
        self.type = type
        self.stream = stream
        self.streamVersion = streamVersion
    }
}

/// What a committed command did: the record it created or changed, the events it appended (none when
/// nothing changed) and the head of the log after it.
public struct CommandReceipt: Sendable, Hashable {
    public var result: CommandResult
    public var events: [AppendedEvent]
    public var position: UInt64

    public init(result: CommandResult, events: [AppendedEvent], position: UInt64) {
        self.result = result
        self.events = events
        self.position = position
    }
}

/// The outcome of a command: what the pipeline answers, and, for a command with a `command_id`, what
/// the idempotency table keeps so that a retry gets the same outcome back.
public enum CommandOutcome: Sendable, Hashable {
    /// Committed durably.
    case committed(CommandReceipt)
    /// Refused; nothing was written.
    case rejected(Rejection)
    /// `projection.rebuild`: the status rows of the read models now rebuilding.
    case rebuildsStarted(JSON)
    /// A read replica applied events from the primary's stream; the log's head is now this.
    case replicated(position: UInt64)
    /// The outcome of an earlier try stored by a crmd before outcomes were typed: the JSON-RPC
    /// `{"result": …}` or `{"error": …}` text, replayed as it is.
    case storedReply([UInt8])

    /// A rejection for `failure` (see ``CRMCore/rejection(failure:context:environment:)``).
    static func failed(_ failure: any Error, context: String, environment: Environment? = nil) -> CommandOutcome {
        .rejected(CRMCore.rejection(failure: failure, context: context, environment: environment))
    }
}

/// The idempotency table's rows: a typed outcome as a compact binary row; rows that start with `{` were
/// stored by an earlier crmd as JSON-RPC reply text and are replayed as they are.
enum StoredOutcome {
    /// First byte of a typed outcome row (never `{`).
    static let rowFormat: UInt8 = 1
    static let committedKind: UInt8 = 0
    static let rejectedKind: UInt8 = 1

    /// The row of a committed or rejected outcome; `nil` for outcomes that are not stored.
    static func encoded(_ outcome: CommandOutcome) -> [UInt8]? {
        var row = BinaryRowWriter()
        row.byte(StoredOutcome.rowFormat)
        switch outcome {
        case .committed(let receipt):
            row.byte(StoredOutcome.committedKind)
            row.string(receipt.result.record.rawValue)
            row.string(receipt.result.id)
            row.optionalInt(receipt.result.version)
            row.count(receipt.events.count)
            for event in receipt.events {
                row.varint(event.seq)
                row.string(event.type)
                row.string(event.stream)
                row.varint(event.streamVersion)
            }
            row.varint(receipt.position)
        case .rejected(let rejection):
            row.byte(StoredOutcome.rejectedKind)
            row.string(rejection.reason.rawValue)
            row.optionalString(rejection.field)
            row.string(rejection.message)
            row.bool(rejection.details != nil)
            if let details = rejection.details { StoredOutcome.write(.fields(details), &row) }
        case .rebuildsStarted, .storedReply, .replicated:
            return nil
        }
        return row.bytes
    }

    /// The outcome in a stored row.
    static func decoded(_ bytes: [UInt8]) throws(StateDecodingError) -> CommandOutcome {
        if bytes.first == UInt8(ascii: "{") { return .storedReply(bytes) }
        var row = BinaryRowReader(bytes, what: "stored command outcome")
        try row.format(StoredOutcome.rowFormat)
        let outcome: CommandOutcome
        switch try row.byte() {
        case StoredOutcome.committedKind:
            let kind = try row.string()
            guard let record = CommandResult.Record(rawValue: kind) else { throw row.malformed("record kind \(kind)") }
            let result = CommandResult(record, try row.string(), version: try row.optionalInt())
            var events: [AppendedEvent] = []
            for _ in 0..<(try row.count()) {
                events.append(
                    AppendedEvent(
                        seq: try row.varint(),
                        type: try row.string(),
                        stream: try row.string(),
                        streamVersion: try row.varint()
                    )
                )
            }
            outcome = .committed(CommandReceipt(result: result, events: events, position: try row.varint()))
        case StoredOutcome.rejectedKind:
            let reasonText = try row.string()
            guard let reason = Reason(rawValue: reasonText) else { throw row.malformed("reason \(reasonText)") }
            let field = try row.optionalString()
            let message = try row.string()
            var details: [String: DetailValue]?
            if try row.bool() {
                guard case .fields(let fields) = try StoredOutcome.read(&row) else { throw row.malformed("details") }
                details = fields
            }
            outcome = .rejected(Rejection(reason, field: field, message, details: details))
        case let kind:
            throw row.malformed("outcome kind \(kind)")
        }
        try row.finish()
        return outcome
    }

    private static func write(_ value: DetailValue, _ row: inout BinaryRowWriter) {
        switch value {
        case .null: row.byte(0)
        case .bool(let flag):
            row.byte(1)
            row.bool(flag)
        case .int(let number):
            row.byte(2)
            row.int(number)
        case .double(let number):
            row.byte(3)
            row.double(number)
        case .string(let text):
            row.byte(4)
            row.string(text)
        case .list(let values):
            row.byte(5)
            row.count(values.count)
            for value in values { StoredOutcome.write(value, &row) }
        case .fields(let members):
            row.byte(6)
            row.count(members.count)
            for key in members.keys.sorted() {
                row.string(key)
                StoredOutcome.write(members[key]!, &row)
            }
        }
    }

    private static func read(_ row: inout BinaryRowReader) throws(StateDecodingError) -> DetailValue {
        switch try row.byte() {
        case 0: return .null
        case 1: return .bool(try row.bool())
        case 2: return .int(try row.int())
        case 3: return .double(try row.double())
        case 4: return .string(try row.string())
        case 5:
            var values: [DetailValue] = []
            for _ in 0..<(try row.count()) { values.append(try StoredOutcome.read(&row)) }
            return .list(values)
        case 6:
            var members: [String: DetailValue] = [:]
            for _ in 0..<(try row.count()) {
                let key = try row.string()
                members[key] = try StoredOutcome.read(&row)
            }
            return .fields(members)
        case let tag:
            throw row.malformed("detail tag \(tag)")
        }
    }
}
