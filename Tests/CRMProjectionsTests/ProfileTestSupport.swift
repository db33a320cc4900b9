import CRMDomain
import CRMEventStore
import CRMJSON
import CRMProjections
import Foundation
import LMDB
import Testing

/// A real LMDB environment in a fresh temporary directory with a ``CustomerProfileProjector``, plus a
/// tiny in-memory log that numbers events like the store does (global `seq`, per-stream version).
final class ProfileHarness {
    let directory: String
    let environment: Environment
    let projector: CustomerProfileProjector
    /// Every event applied so far, in order.
    private(set) var log: [RecordedEvent] = []
    private var streamVersions: [String: UInt64] = [:]
    /// The actor put on every event.
    let actor = Actor(uid: 1000, gid: 1000, onBehalfOf: "agent-7")

    init() throws {
        self.directory =
            FileManager.default.temporaryDirectory
            .appendingPathComponent("crmd-profile-tests-\(UUID().uuidString)").path
        var options = Environment.Options()
        options.mapSize = 1 << 24
        options.noSync = true
        self.environment = try Environment(path: self.directory, options: options)
        self.projector = try self.environment.write { txn in try CustomerProfileProjector(txn) }
    }

    deinit {
        try? FileManager.default.removeItem(atPath: self.directory)
    }

    // MARK: - Events

    /// Records and folds one event, in the current shape of its type, in its own write transaction.
    @discardableResult
    func append(_ type: String, stream: String, at: String, data: JSON, pii: JSON = .null) throws -> RecordedEvent {
        let version = (self.streamVersions[stream] ?? 0) + 1
        self.streamVersions[stream] = version
        let millis = Timestamp.parse(at)!
        var event = RecordedEvent(
            seq: UInt64(self.log.count + 1),
            stream: stream,
            streamVersion: version,
            type: type,
            schemaVersion: EventSchema.currentVersion(of: type),
            occurredAt: millis,
            recordedAt: millis,
            actor: self.actor,
            commandID: nil,
            correlationID: nil,
            causationSeq: nil,
            data: data,
            pii: pii
        )
        event.event = EventCodec.typed(event.event)
        self.log.append(event)
        try self.environment.write { txn in try self.projector.apply(event, txn) }
        return event
    }

    /// A `CustomerCreated` event shaped as docs/EVENTS.md describes.
    @discardableResult
    func create(
        _ id: String,
        at: String = "2025-03-07T15:30:00.000Z",
        first: String? = "Ada",
        last: String? = "Lovelace",
        company: String? = nil,
        emails: [String] = [],
        phones: [(number: String, normalized: String)] = [],
        tags: [String] = [],
        stage: String = "lead",
        owner: String? = nil,
        custom: JSON = [:]
    ) throws -> RecordedEvent {
        let emailList: [JSON] = emails.enumerated().map { index, address in
            ["address": .string(address), "primary": .bool(index == 0), "opted_out": false, "invalid": false]
        }
        let phoneList: [JSON] = phones.enumerated().map { index, phone in
            [
                "number": .string(phone.number), "normalized": .string(phone.normalized), "type": "mobile",
                "primary": .bool(index == 0),
            ]
        }
        return try self.append(
            "CustomerCreated",
            stream: "customer-\(id)",
            at: at,
            data: [
                "customer_id": .string(id), "owner_id": .string(owner), "tags": .strings(tags), "tier": nil,
                "source": "web", "lifecycle_stage": .string(stage), "lead_status": nil,
            ],
            pii: [
                "first_name": .string(first), "last_name": .string(last), "company_name": .string(company),
                "job_title": nil,
                "emails": .array(emailList), "phones": .array(phoneList), "address": nil, "custom": custom,
            ]
        )
    }

    /// An `ActivityLogged` event.
    @discardableResult
    func logActivity(
        _ id: String,
        type: String,
        customers: [String],
        occurredAt: String,
        direction: String? = nil,
        subject: String? = nil,
        recordedAt: String? = nil
    ) throws -> RecordedEvent {
        try self.append(
            "ActivityLogged",
            stream: "activity-\(id)",
            at: recordedAt ?? occurredAt,
            data: [
                "activity_id": .string(id), "kind": .string(type), "customer_ids": .strings(customers),
                "deal_id": nil, "ticket_id": nil, "occurred_at": .string(occurredAt), "direction": .string(direction),
                "duration_sec": nil, "start_at": nil, "end_at": nil, "outcome": nil, "owner_id": nil,
                "task": type == "task" ? ["due_at": nil, "status": nil] : nil,
            ],
            pii: ["subject": .string(subject), "body": nil]
        )
    }

    // MARK: - Queries

    /// Runs query `method` with `params` in a read transaction.
    func query(_ method: String, _ params: JSON?) throws -> JSON {
        let query = try #require(self.projector.queries[method])
        return try self.environment.read { txn in try query(params, txn) }.materialized
    }

    /// The stored profile of `id`.
    func profile(_ id: String) throws -> JSON {
        try self.query("customer.get", ["customer_id": .string(id)])
    }

    /// The ids `customer.find` returns for `params`.
    func findIDs(_ params: JSON) throws -> [String] {
        let result = try self.query("customer.find", params)
        return (result["customers"]?.arrayValue ?? []).compactMap { $0["customer_id"]?.stringValue }
    }

    /// Every timeline entry of `id`, newest first, in one page.
    func timeline(_ id: String) throws -> [JSON] {
        try self.query("customer.timeline", ["customer_id": .string(id), "limit": 200])["entries"]?.arrayValue ?? []
    }

    /// Every stored row of the projector's `table`, as bytes, in key order.
    func rawRows(_ table: String) throws -> [[UInt8]] {
        try self.environment.write { txn in
            let database = try txn.openDatabase(self.projector.tableName(table), create: false)
            return try txn.withCursor(database) { cursor in
                var rows: [[UInt8]] = []
                var entry = try cursor.first()
                while let current = entry {
                    rows.append(current.valueBytes)
                    entry = try cursor.next()
                }
                return rows
            }
        }
    }

    /// The raw bytes of every profile, by id (for byte-for-byte comparisons).
    func profileBytes(_ ids: [String]) throws -> [String: [UInt8]] {
        var result: [String: [UInt8]] = [:]
        for id in ids { result[id] = try self.profile(id).serialized() }
        return result
    }
}

/// The rejection thrown by `body`, or a recorded failure.
func rejection(_ body: () throws -> Void) -> Rejection? {
    do {
        try body()
        Issue.record("expected a rejection")
        return nil
    } catch let rejection as Rejection {
        return rejection
    } catch {
        Issue.record("expected a rejection, got \(error)")
        return nil
    }
}
