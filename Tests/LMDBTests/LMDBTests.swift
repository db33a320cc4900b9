import CRMTesting
import LMDB
import Testing

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

    @Test func nestedTransactionAbortKeepsParentWrites() throws {
        struct Rejected: Error {}
        let directory = TemporaryDirectory()
        let env = try Environment(path: directory.appending("db"))
        let db = try env.openDatabase("t")
        try env.write { txn throws in
            try txn.put(db, "parent", [1])
            try? txn.nested { child in
                try child.put(db, "child", [2])
                throw Rejected()
            }
            try txn.nested { child in try child.put(db, "kept", [3]) }
        }
        try env.read { txn throws in
            #expect(try txn.get(db, "parent") == [1])
            #expect(try txn.get(db, "child") == nil)
            #expect(try txn.get(db, "kept") == [3])
        }
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

    @Test func mapGrowsWhenFull() throws {
        let directory = TemporaryDirectory()
        var options = Environment.Options()
        options.mapSize = 64 * 1024
        let env = try Environment(path: directory.appending("db"), options: options)
        let db = try env.openDatabase("t")
        let value = [UInt8](repeating: 7, count: 1000)
        for batch in 0..<20 {
            try env.write { txn throws in
                for index in 0..<50 { try txn.put(db, "k\(batch)-\(index)", value) }
            }
        }
        #expect(env.mapSize > 64 * 1024)
        #expect(try env.read { txn in try txn.count(db) } == 1000)
    }

    @Test func errorsCarryLMDBText() {
        #expect(LMDBError.notFound.description.contains("MDB_NOTFOUND"))
        #expect(LMDBError.mapFull.description.contains("MDB_MAP_FULL"))
    }
}
