import CRMEventStore
import CRMJSON
import CRMProjections
import Foundation
import LMDB

extension LogQueries {
    /// How many events one scratch transaction folds during a read-model audit.
    static let auditChunkEvents = 20_000

    /// `audit.verify {read_models: true}`: folds the log up to `head` (the snapshot of `txn`) into
    /// scratch tables with the same projectors and compares them, row by row, with the live tables of
    /// every serving read model in the same snapshot. Names the first difference of each.
    ///
    /// The scratch environment lives in a private subdirectory of the data directory and is removed
    /// afterwards. It runs inside the caller's read transaction, so the log and the live tables are
    /// seen at one position; meanwhile the map cannot grow (commands that need a bigger map wait).
    func auditReadModels(_ txn: Transaction, head: UInt64) throws -> JSON {
        let scratchPath = self.configuration.dataDirectory + "/audit-scratch-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        try PrivateFiles.createDirectory(scratchPath)
        defer { try? FileManager.default.removeItem(atPath: scratchPath) }
        var options = Environment.Options()
        options.noSync = true
        options.maxDatabases = 256
        options.mapSize = max(self.environment.usedBytes * 2, 64 << 20)
        let scratch = try Environment(path: scratchPath, options: options)
        let factories = ProjectorRegistry.readModels + self.configuration.additionalReadModels
        let fresh = try scratch.write { scratchTxn in try factories.map { try $0(scratchTxn, 0, self.runner.cipher) } }

        var next: UInt64 = 1
        while next <= head {
            next = try scratch.write { scratchTxn -> UInt64 in
                var position = next
                try self.store.forEachRecord(from: next, txn) { seq, record in
                    guard seq <= head, seq < next + UInt64(LogQueries.auditChunkEvents) else { return false }
                    let event = try EventRecord.decode(record, keys: self.store.piiKeys)
                    for projector in fresh { try projector.apply(event, scratchTxn) }
                    position = seq + 1
                    return true
                }
                return position
            }
        }

        var models: [JSON] = []
        var allEqual = true
        try scratch.read { scratchTxn in
            for (index, model) in self.runner.readModels.enumerated() {
                guard let (slot, checkpoint) = try self.runner.servingSlot(index, txn), checkpoint == head else {
                    models.append(["name": .string(model.name), "checked": false, "equal": .null])
                    continue
                }
                let live = model.slots[slot].databases
                let built = fresh[index].databases
                var difference: JSON = .null
                for (table, (liveTable, builtTable)) in zip(live, built).enumerated() {
                    if let found = try LogQueries.firstDifference(liveTable, txn, builtTable, scratchTxn) {
                        difference = ["table": .int(Int64(table)), "key": .string(found.key), "problem": .string(found.problem)]
                        break
                    }
                }
                allEqual = allEqual && difference == .null
                models.append([
                    "name": .string(model.name), "checked": true, "equal": .bool(difference == .null),
                    "first_difference": difference,
                ])
            }
        }
        return ["ok": .bool(allEqual), "position": .int(Int64(head)), "projections": .array(models)]
    }

    /// The first key where two tables differ, walking both in key order, and what differs there.
    static func firstDifference(
        _ live: Database,
        _ liveTxn: Transaction,
        _ fresh: Database,
        _ freshTxn: Transaction
    ) throws -> (key: String, problem: String)? {
        try liveTxn.withCursor(live) { liveCursor in
            try freshTxn.withCursor(fresh) { freshCursor in
                var a = try liveCursor.first()
                var b = try freshCursor.first()
                while true {
                    switch (a, b) {
                    case (nil, nil):
                        return nil
                    case (let row?, nil):
                        return (LogQueries.printable(row.keyBytes), "a row the log does not produce")
                    case (nil, let row?):
                        return (LogQueries.printable(row.keyBytes), "a row is missing")
                    case (let row?, let other?):
                        let (key, otherKey) = (row.keyBytes, other.keyBytes)
                        if key != otherKey {
                            return key.lexicographicallyPrecedes(otherKey)
                                ? (LogQueries.printable(key), "a row the log does not produce")
                                : (LogQueries.printable(otherKey), "a row is missing")
                        }
                        if row.valueBytes != other.valueBytes {
                            return (LogQueries.printable(key), "the row differs from a fresh fold of the log")
                        }
                        a = try liveCursor.next()
                        b = try freshCursor.next()
                    }
                }
            }
        }
    }

    /// A key as text when it is printable UTF-8, else as hex.
    static func printable(_ key: [UInt8]) -> String {
        let printable = key.allSatisfy { (0x20..<0x7F).contains($0) }
        return printable ? String(decoding: key, as: UTF8.self) : "0x" + hexString(key)
    }
}
