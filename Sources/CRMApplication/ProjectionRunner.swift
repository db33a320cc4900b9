import CRMDomain
import CRMEventStore
import CRMJSON
import CRMProjections
import LMDB
import Logging

/// Runs every projector inline with the writer and keeps their versions and checkpoints in the
/// `meta` database (`proj.<name>.version`, `proj.<name>.checkpoint`), written in the same
/// transaction as their tables.
struct ProjectionRunner: Sendable {
    /// The decision state first, then the read models.
    let projectors: [any Projector]
    let store: EventStore

    static func versionKey(_ name: String) -> String { "proj.\(name).version" }
    static func checkpointKey(_ name: String) -> String { "proj.\(name).checkpoint" }

    /// The last position `projector` has applied.
    func checkpoint(_ projector: any Projector, _ txn: Transaction) throws -> UInt64 {
        guard let bytes = try txn.get(self.store.meta, ProjectionRunner.checkpointKey(projector.name)), bytes.count == 8
        else { return 0 }
        return bytes.reduce(0) { $0 << 8 | UInt64($1) }
    }

    func setCheckpoint(_ projector: any Projector, _ seq: UInt64, _ txn: Transaction) throws {
        var bytes: [UInt8] = []
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: seq >> UInt64(shift))) }
        try txn.put(self.store.meta, ProjectionRunner.checkpointKey(projector.name), bytes)
    }

    /// The version of `projector` whose tables are stored, if any.
    func storedVersion(_ projector: any Projector, _ txn: Transaction) throws -> Int? {
        guard let bytes = try txn.get(self.store.meta, ProjectionRunner.versionKey(projector.name)) else { return nil }
        return Int(String(decoding: bytes, as: UTF8.self))
    }

    /// Folds freshly appended events into every projector.
    func apply(_ events: [RecordedEvent], _ txn: Transaction) throws {
        for event in events {
            for projector in self.projectors { try projector.apply(event, txn) }
        }
    }

    /// Records that every projector has applied the log up to `seq`.
    func setCheckpoints(_ seq: UInt64, _ txn: Transaction) throws {
        for projector in self.projectors { try self.setCheckpoint(projector, seq, txn) }
    }

    /// Brings every projector up to the head of the log before the daemon serves requests: a
    /// projector whose stored version differs from its code version is cleared and rebuilt from
    /// position 1; one that is merely behind folds the missing events. Works in chunks of
    /// `chunkSize` events per transaction.
    func catchUp(_ environment: Environment, logger: Logger, chunkSize: Int = 20_000) throws {
        // Reset the projectors whose stored version differs and find where each one resumes.
        let (starts, head) = try environment.write { txn -> ([UInt64], UInt64) in
            let head = try self.store.head(txn).seq
            var starts: [UInt64] = []
            for projector in self.projectors {
                if try self.storedVersion(projector, txn) != projector.version {
                    try projector.clear(txn)
                    try self.setCheckpoint(projector, 0, txn)
                    try txn.put(
                        self.store.meta,
                        ProjectionRunner.versionKey(projector.name),
                        Array(String(projector.version).utf8)
                    )
                    starts.append(1)
                } else {
                    starts.append(try self.checkpoint(projector, txn) + 1)
                }
            }
            return (starts, head)
        }
        guard let first = starts.min(), first <= head else { return }
        for (projector, from) in zip(self.projectors, starts) where from <= head {
            logger.info(
                "bringing projection up to date",
                metadata: ["projection": "\(projector.name)", "from": "\(from)", "head": "\(head)"]
            )
        }
        // One pass over the log: each event is decoded once and folded into every projector that
        // has not seen it, in the same order as inline folding; checkpoints advance per chunk.
        var next = first
        while next <= head {
            next = try environment.write { txn -> UInt64 in
                var position = next
                try self.store.forEachRecord(from: next, txn) { seq, record in
                    guard seq <= head, seq < next + UInt64(chunkSize) else { return false }
                    let event = try EventRecord.decode(record)
                    for (projector, from) in zip(self.projectors, starts) where from <= seq {
                        try projector.apply(event, txn)
                    }
                    position = seq + 1
                    return true
                }
                for (projector, from) in zip(self.projectors, starts) where from < position {
                    try self.setCheckpoint(projector, position - 1, txn)
                }
                return position
            }
        }
    }
}
