import CRMJSON
import Foundation
import LMDB

/// The storage engine alone: pre-encoded records appended straight into a fresh LMDB environment
/// (durable: default sync, one fsync'd commit per batch), in-process, with the batch size the
/// writer achieved. crmd's throughput is reported as a ratio of this, so the figures mean the same
/// on any machine.
enum Baseline {
    struct Result {
        var records: Int
        var recordBytes: Int
        var batch: Int
        var seconds: Double
        /// How long each commit took (its `write` call, fsync included), in nanoseconds.
        var commitLatencies: [UInt64] = []
        var perSecond: Double { self.seconds > 0 ? Double(self.records) / self.seconds : 0 }
    }

    /// Appends `records` records of `recordBytes` bytes in commits of `batch` records each
    /// (big-endian sequence keys with `MDB_APPEND`, as crmd's `events` database).
    static func run(records: Int, recordBytes: Int, batch: Int, directory: String) throws -> Result {
        let appender = try Appender(directory: directory, recordBytes: recordBytes)
        let batch = max(batch, 1)
        var latencies: [UInt64] = []
        latencies.reserveCapacity(records / batch + 1)
        let startedAt = LoadRunner.now()
        while appender.records < records {
            latencies.append(try appender.commit(min(batch, records - appender.records)))
        }
        let seconds = Double(LoadRunner.now() - startedAt) / 1e9
        return Result(
            records: records,
            recordBytes: recordBytes,
            batch: batch,
            seconds: seconds,
            commitLatencies: latencies
        )
    }

    /// A fresh LMDB environment (default sync) that pre-encoded records are appended to, one
    /// durable commit at a time.
    final class Appender {
        private let environment: Environment
        private let database: Database
        /// A pool of distinct records made before timing.
        private let pool: [[UInt8]]
        /// Records appended so far (the last key).
        private(set) var records = 0
        let recordBytes: Int

        init(directory: String, recordBytes: Int) throws {
            self.recordBytes = recordBytes
            self.environment = try Environment(path: directory)
            self.database = try self.environment.openDatabase("events")
            var rng = SplitMix64(seed: 42)
            self.pool = (0..<64).map { _ in
                (0..<max(recordBytes, 16)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            }
        }

        /// Appends `count` records in one commit and returns how long the commit took (its `write`
        /// call, fsync included), in nanoseconds.
        func commit(_ count: Int) throws -> UInt64 {
            let startedAt = LoadRunner.now()
            try self.environment.write { txn in
                for _ in 0..<count {
                    self.records += 1
                    var key = UInt64(self.records).bigEndian
                    let keyBytes = withUnsafeBytes(of: &key) { Array($0) }
                    try txn.put(self.database, keyBytes, self.pool[self.records % 64], flags: .append)
                }
            }
            return LoadRunner.now() - startedAt
        }

        /// One-record commits for `seconds`; the latency of each, in nanoseconds.
        func commitOneByOne(for seconds: Double) throws -> [UInt64] {
            var latencies: [UInt64] = []
            let deadline = LoadRunner.now() + UInt64(seconds * 1e9)
            repeat { latencies.append(try self.commit(1)) } while LoadRunner.now() < deadline
            return latencies
        }
    }

    /// What the storage engine reads on this machine: a cursor scan of every record in key order
    /// (the bound for replay and rebuild), and point lookups of random records, each in its own read
    /// transaction with the value copied out (the bound for a query).
    struct Reads {
        var scanPerSecond: Double
        var getPerSecond: Double

        var json: JSON { ["scan_records_per_s": .double(self.scanPerSecond), "get_per_s": .double(self.getPerSecond)] }
    }

    /// Measures ``Reads`` on an environment written by ``run(records:recordBytes:batch:directory:)``.
    static func reads(directory: String, records: Int) throws -> Reads {
        let environment = try Environment(path: directory)
        let database = try environment.openDatabase("events")
        var checksum = 0
        var startedAt = LoadRunner.now()
        let scanned = try environment.read { txn in
            try txn.withCursor(database) { cursor -> Int in
                var count = 0
                var entry = try cursor.first()
                while let current = entry {
                    checksum &+= Int(current.value.first ?? 0)
                    count += 1
                    entry = try cursor.next()
                }
                return count
            }
        }
        let scanSeconds = Double(LoadRunner.now() - startedAt) / 1e9
        var rng = SplitMix64(seed: 7)
        let lookups = min(max(records, 1), 200_000)
        startedAt = LoadRunner.now()
        for _ in 0..<lookups {
            var key = UInt64(1 + rng.below(max(records, 1))).bigEndian
            let keyBytes = withUnsafeBytes(of: &key) { Array($0) }
            let value = try environment.read { txn in try txn.get(database, keyBytes) }
            checksum &+= value?.count ?? 0
        }
        let getSeconds = Double(LoadRunner.now() - startedAt) / 1e9
        precondition(checksum != Int.min)  // keeps the reads from being optimized away
        return Reads(
            scanPerSecond: scanSeconds > 0 ? Double(scanned) / scanSeconds : 0,
            getPerSecond: getSeconds > 0 ? Double(lookups) / getSeconds : 0
        )
    }

    /// The average size of crmd's stored event records, estimated from a page of `events.read`
    /// envelopes with the layout of `EventRecord.encode` (fixed header, previous hash, five
    /// length-prefixed strings, then the data and pii JSON).
    static func averageRecordBytes(_ events: [JSON]) -> Int {
        guard !events.isEmpty else { return 300 }
        var total = 0
        for event in events {
            var size = 1 + 2 + 8 * 4 + 4 + 4 + 8 + 32 + 7 * 4
            for key in ["type", "stream", "command_id", "correlation_id"] {
                size += event[key]?.stringValue?.utf8.count ?? 0
            }
            size += event["actor"]?["on_behalf_of"]?.stringValue?.utf8.count ?? 0
            size += (event["data"] ?? .null).serialized().count
            size += (event["pii"] ?? .null).serialized().count
            total += size
        }
        return total / events.count
    }
}
