import CRMTesting
import Dispatch
import Testing

@testable import LMDB

@Suite struct LMDBTests {
    @Test func writeCommitsAndReadSeesIt() throws {
        let directory = TemporaryDirectory()
        let env = try Environment(path: directory.appending("db"))
        let db = try env.openDatabase("t")
        try env.write { txn in try txn.put(db, "k", Array("v".utf8)) }
        #expect(try env.read { txn in try txn.get(db, "k") } == Array("v".utf8))
    }

    @Test func throwingWriteAborts() throws {
        struct Boom: Error {}
        let directory = TemporaryDirectory()
        let env = try Environment(path: directory.appending("db"))
        let db = try env.openDatabase("t")
        #expect(throws: Boom.self) {
            try env.write { txn throws in
                try txn.put(db, "k", [1])
                throw Boom()
            }
        }
        #expect(try env.read { txn in try txn.get(db, "k") } == nil)
    }

    @Test func cursorsWalkInKeyOrder() throws {
        let directory = TemporaryDirectory()
        let env = try Environment(path: directory.appending("db"))
        let db = try env.openDatabase("t")
        try env.write { txn throws in
            for key: [UInt8] in [[3], [1], [2], [5]] { try txn.put(db, key, key) }
        }
        try env.read { txn throws in
            try txn.withCursor(db) { cursor throws in
                var keys: [[UInt8]] = []
                var entry = try cursor.first()
                while let current = entry {
                    keys.append(current.keyBytes)
                    entry = try cursor.next()
                }
                #expect(keys == [[1], [2], [3], [5]])
                #expect(try cursor.seek(atOrAfter: [4] as [UInt8])?.keyBytes == [5])
                #expect(try cursor.seek(atOrBefore: [4] as [UInt8])?.keyBytes == [3])
                #expect(try cursor.seek(atOrBefore: [3] as [UInt8])?.keyBytes == [3])
                #expect(try cursor.seek(atOrAfter: [6] as [UInt8]) == nil)
            }
        }
    }

    @Test func appendRejectsOutOfOrderKeys() throws {
        let directory = TemporaryDirectory()
        let env = try Environment(path: directory.appending("db"))
        let db = try env.openDatabase("t")
        #expect(throws: LMDBError.keyExists) {
            try env.write { txn throws in
                try txn.put(db, [2] as [UInt8], [0], flags: .append)
                try txn.put(db, [1] as [UInt8], [0], flags: .append)
            }
        }
    }

    /// A value of the writes of ``fillPastTheMap(_:_:afterEach:)``.
    static let value = [UInt8](repeating: 7, count: 1000)

    /// An environment whose map is 64 KiB at first.
    static func smallEnvironment(_ directory: TemporaryDirectory) throws -> Environment {
        var options = Environment.Options()
        options.mapSize = 64 * 1024
        return try Environment(path: directory.appending("db"), options: options)
    }

    /// Writes 1000 values of 1000 bytes to `db` in 20 commits, calling `afterEach` after each with the
    /// values written so far; the map grows on the way.
    static func fillPastTheMap(_ env: Environment, _ db: Database, afterEach: (Int) throws -> Void = { _ in }) throws {
        for batch in 0..<20 {
            try env.write { txn throws in
                for index in 0..<50 { try txn.put(db, "k\(batch)-\(index)", Self.value) }
            }
            try afterEach((batch + 1) * 50)
        }
    }

    @Test func mapGrowsWhenFull() throws {
        let directory = TemporaryDirectory()
        let env = try Self.smallEnvironment(directory)
        let db = try env.openDatabase("t")
        try Self.fillPastTheMap(env, db)
        #expect(env.mapSize > 64 * 1024)
        #expect(try env.read { txn in try txn.count(db) } == 1000)
    }

    @Test func errorsCarryLMDBText() {
        #expect(LMDBError.notFound.description.contains("MDB_NOTFOUND"))
        #expect(LMDBError.mapFull.description.contains("MDB_MAP_FULL"))
    }

    @Test func readTransactionsAreRenewedAndSeeTheLatestCommit() throws {
        let directory = TemporaryDirectory()
        let env = try Self.smallEnvironment(directory)
        let db = try env.openDatabase("t")
        #expect(env.pooledReads == 0)
        // Each read renews the transaction the one before reset, and sees every commit before it,
        // also across growths of the map.
        try Self.fillPastTheMap(env, db) { written throws in
            #expect(try env.read { txn in try txn.count(db) } == written)
            #expect(env.pooledReads == 1)
        }
        #expect(env.mapSize > 64 * 1024)
        // A read inside a read takes a second transaction; both are kept afterwards.
        let nested = try env.read { outer in
            try env.read { inner in try inner.count(db) } + (try outer.count(db))
        }
        #expect(nested == 2000)
        #expect(env.pooledReads == 2)
        // A thrown error ends the transaction all the same.
        struct Boom: Error {}
        #expect(throws: Boom.self) { try env.read { _ in throw Boom() } }
        #expect(env.pooledReads == 2)
        // Many at once (the daemon shares its environment between threads the same way): at most the
        // pool's bound is kept.
        nonisolated(unsafe) let shared = env
        DispatchQueue.concurrentPerform(iterations: 64) { _ in
            _ = try? shared.read { outer in try shared.read { inner in try inner.count(db) + outer.count(db) } }
        }
        #expect(env.pooledReads <= Environment.maxPooledReads)
        #expect(try env.read { txn in try txn.get(db, "k19-49") } == Self.value)
    }
}
