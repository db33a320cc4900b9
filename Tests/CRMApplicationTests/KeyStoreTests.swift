@testable import CRMApplication
import CRMTesting
import Crypto
import Foundation
import LMDB
import Logging
import Testing

/// The key store hands out data keys from a pool it has already committed, records which subject has
/// which key in the caller's transaction, and opens the same keys after a restart.
@Suite struct KeyStoreTests {
    func open(_ directory: TemporaryDirectory, main: Environment, create: Bool) throws -> KeyStore {
        try KeyStore(
            dataDirectory: directory.appending("data"), kekDirectory: directory.appending("data-keys"), main: main,
            create: create, logger: Logger(label: "key-store-test")
        )
    }

    @Test func subjectsKeepTheirKeyAndKeysSurviveARestart() throws {
        let directory = TemporaryDirectory()
        let main = try Environment(path: directory.appending("data"))
        let store = try self.open(directory, main: main, create: true)
        // More subjects than one pool refill.
        let kids = (0..<(KeyStore.poolRefill + 44)).map { "c:\($0)" }
        let first = try main.write { txn in try kids.map { try store.writingKey($0, txn) } }
        #expect(Set(first.map(\.number)).count == kids.count, "one key per subject")
        #expect(first.map(\.number) == first.map(\.number).sorted(), "numbers handed out in ascending order")
        let again = try main.write { txn in try store.writingKey("c:7", txn) }
        #expect(again.number == first[7].number)
        #expect(again.key == first[7].key)
        // A subject recorded in a transaction that aborted gets a new key next time; its number is
        // never reused.
        struct Abort: Error {}
        var abandoned: UInt64 = 0
        #expect(throws: Abort.self) {
            try main.write { txn in
                abandoned = try store.writingKey("c:gone", txn).number
                throw Abort()
            }
        }
        let retried = try main.write { txn in try store.writingKey("c:gone", txn).number }
        #expect(retried != abandoned)
        #expect(!first.map(\.number).contains(retried))

        // One process must not open the key store's environment again while a background refill may
        // still write through the first handle.
        store.refiller.sync {}
        let reopened = try self.open(directory, main: main, create: false)
        for (index, entry) in first.enumerated() where index % 37 == 0 {
            #expect(reopened.readingKey(entry.number) == entry.key)
        }
        #expect(reopened.readingKey(999_999) == nil)
        let afterRestart = try main.write { txn in try reopened.writingKey("c:7", txn) }
        #expect(afterRestart.number == first[7].number)
    }

    @Test func thePoolIsRefilledInTheBackgroundBeforeItRunsOut() throws {
        let directory = TemporaryDirectory()
        let main = try Environment(path: directory.appending("data"))
        let store = try self.open(directory, main: main, create: true)
        // The first key fills the pool; taking it down to the low-water mark starts a refill.
        let taken = KeyStore.poolRefill - KeyStore.poolLowWater + 1
        let numbers = try main.write { txn in try (0..<taken).map { try store.writingKey("c:\($0)", txn).number } }
        #expect(numbers == Array(1...UInt64(taken)))
        store.refiller.sync {}
        let refilled = UInt64(2 * KeyStore.poolRefill)
        #expect(store.readingKey(refilled) != nil, "the next keys were committed before the pool ran out")
        #expect(store.readingKey(refilled + 1) == nil)
        // The keys still in the pool come first, then the refill's, in order.
        let next = try main.write { txn in
            try (taken..<(KeyStore.poolRefill + 10)).map { try store.writingKey("c:\($0)", txn).number }
        }
        #expect(next == Array((UInt64(taken) + 1)...UInt64(KeyStore.poolRefill + 10)))
    }
}
