import Crypto
import Testing

@testable import CRMEventStore

/// The nonces of one process never repeat, and two processes start from different random bases.
@Suite struct NonceSequenceTests {
    @Test func noncesDoNotRepeat() {
        let sequence = NonceSequence()
        var seen: Set<[UInt8]> = []
        for _ in 0..<10_000 { #expect(seen.insert(Array(sequence.next())).inserted) }
        let other = NonceSequence()
        #expect(!seen.contains(Array(other.next())), "another sequence has its own base")
    }
}
