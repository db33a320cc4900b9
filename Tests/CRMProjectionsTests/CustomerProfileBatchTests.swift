import CRMDomain
import CRMEventStore
import CRMJSON
import CRMProjections
import CRMTesting
import Crypto
import LMDB
import Synchronization
import Testing

/// A rebuild folds its chunks through ``CustomerProfileProjector/batch(after:)``, which keeps profile
/// and stats rows in memory, decoded, from one chunk to the next: its tables must end byte for byte as
/// folding each event into the transaction leaves them, also when a data key is destroyed (an
/// erasure) between two chunks.
@Suite struct CustomerProfileBatchTests {
    /// Data keys by number, some of which can be destroyed.
    final class Keys: PiiKeys {
        let keys: Mutex<[UInt64: SymmetricKey]>

        init(_ numbers: [UInt64]) {
            self.keys = Mutex(Dictionary(uniqueKeysWithValues: numbers.map { ($0, SymmetricKey(size: .bits256)) }))
        }

        func readingKey(_ number: UInt64) -> SymmetricKey? { self.keys.withLock { $0[number] } }

        func writingKey(_ kid: String, _ txn: Transaction) throws -> (key: SymmetricKey, number: UInt64) {
            throw LMDBError(code: -1)
        }

        func erasedSeq(of kid: String) -> UInt64? { nil }

        func destroy(_ number: UInt64) { _ = self.keys.withLock { $0.removeValue(forKey: number) } }
    }

    /// Three chunks of events about two customers (`c1` under key 1, `c2` under key 2).
    static func chunks() throws -> [[RecordedEvent]] {
        let log = try ProfileHarness()
        try log.create("c1", emails: ["ada@example.com"], phones: [("+1 555 0100 200", "+15550100200")], tags: ["x"])
        try log.create("c2", first: "Grace", last: "Hopper", emails: ["grace@example.com"], tags: ["y"])
        try log.append(
            "CustomerTagged",
            stream: "customer-c1",
            at: "2025-03-08T00:00:00.000Z",
            data: ["customer_id": "c1", "added": ["z"], "removed": ["x"]]
        )
        try log.logActivity("a1", type: "call", customers: ["c1", "c2"], occurredAt: "2025-03-08T01:00:00.000Z")
        try log.append(
            "CustomerUpdated",
            stream: "customer-c1",
            at: "2025-03-08T02:00:00.000Z",
            data: ["customer_id": "c1", "changed_fields": ["first_name"], "changes": [:]],
            pii: ["changes": ["first_name": ["from": "Ada", "to": "Augusta"]]]
        )
        // Key 1 is destroyed here, between the first chunk and the second.
        try log.append(
            "LifecycleStageChanged",
            stream: "customer-c1",
            at: "2025-03-09T00:00:00.000Z",
            data: ["customer_id": "c1", "from": "lead", "to": "customer", "source": "manual"]
        )
        for (id, address, at) in [("c1", "ada@example.com", "01"), ("c2", "grace@example.com", "02")] {
            try log.append(
                "ConsentChanged",
                stream: "customer-\(id)",
                at: "2025-03-09T\(at):00:00.000Z",
                data: [
                    "customer_id": .string(id), "channel": "email", "from": "not_set", "to": "opted_in",
                    "legal_basis": "consent", "source": nil,
                ],
                pii: ["contact_point": .string(address), "evidence": nil]
            )
        }
        try log.logActivity("a2", type: "meeting", customers: ["c2"], occurredAt: "2025-03-09T03:00:00.000Z")
        try log.append(
            "CustomerTagged",
            stream: "customer-c2",
            at: "2025-03-10T00:00:00.000Z",
            data: ["customer_id": "c2", "added": ["w"], "removed": ["y"]]
        )
        try log.append(
            "CustomerUpdated",
            stream: "customer-c2",
            at: "2025-03-10T01:00:00.000Z",
            data: ["customer_id": "c2", "changed_fields": ["last_name"], "changes": [:]],
            pii: ["changes": ["last_name": ["from": "Hopper", "to": "Murray Hopper"]]]
        )
        let events = log.log.map { event in
            var event = event
            if event.stream == "customer-c1" { event.personalData = PersonalDataSeal(subject: "c:c1", key: 1) }
            if event.stream == "customer-c2" { event.personalData = PersonalDataSeal(subject: "c:c2", key: 2) }
            return event
        }
        return [Array(events[0..<5]), Array(events[5..<9]), Array(events[9...])]
    }

    /// Every row of every table of `projector`, in key order, table by table.
    static func rows(_ projector: CustomerProfileProjector, _ environment: Environment) throws -> [[[UInt8]]] {
        try environment.read { txn in
            try projector.databases.map { database in
                try txn.withCursor(database) { cursor in
                    var rows: [[UInt8]] = []
                    var entry = try cursor.first()
                    while let row = entry {
                        rows.append(row.keyBytes + [0xFF] + row.valueBytes)
                        entry = try cursor.next()
                    }
                    return rows
                }
            }
        }
    }

    @Test(arguments: [false, true])
    func batchedChunksLeaveTheRowsOfOneFoldPerEvent(encrypted: Bool) throws {
        let chunks = try Self.chunks()
        let directory = TemporaryDirectory()
        var options = Environment.Options()
        options.mapSize = 1 << 24
        options.noSync = true
        let environment = try Environment(path: directory.path, options: options)
        let keys = Keys([1, 2])
        let cipher = encrypted ? RowCipher(keys: keys, indexKey: SymmetricKey(size: .bits256)) : nil
        let (direct, batched) = try environment.write { txn in
            (
                try CustomerProfileProjector(txn, slot: 0, cipher: cipher),
                try CustomerProfileProjector(txn, slot: 1, cipher: cipher)
            )
        }
        var previous: (any ProjectionBatch)?
        for (number, chunk) in chunks.enumerated() {
            if number == 1 { keys.destroy(1) }
            try environment.write { txn in
                for event in chunk { try direct.apply(event, txn) }
                let batch = batched.batch(after: previous)
                for event in chunk { try batch.apply(event, txn) }
                try batch.flush(txn)
                previous = batch
            }
        }
        let expected = try Self.rows(direct, environment)
        #expect(expected[0].count > 10)
        #expect(try Self.rows(batched, environment) == expected)
        if encrypted {
            // The personal row of c1, written after its key was gone, holds none of Ada's data.
            let stored = try environment.read { txn in
                try txn.get(batched.databases[0], Array("c1".utf8) + [0])
            }
            #expect(!String(decoding: try #require(stored), as: UTF8.self).contains("Augusta"))
        }
    }
}
