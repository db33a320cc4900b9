import Crypto
import Testing

@testable import CRMEventStore

/// The nonces of one process never repeat, and two processes start from different random bases.
@Suite struct NonceSequenceTests {
    @Test func noncesDoNotRepeat() {
        func next(_ sequence: NonceSequence) -> [UInt8] {
            [UInt8](unsafeUninitializedCapacity: 12) { buffer, count in
                sequence.next(into: UnsafeMutableRawBufferPointer(buffer))
                count = 12
            }
        }
        let sequence = NonceSequence()
        var seen: Set<[UInt8]> = []
        let first = next(sequence)
        seen.insert(first)
        for _ in 1..<10_000 { #expect(seen.insert(next(sequence)).inserted) }
        // A counter in the low 64 bits: the first 4 bytes stay, and the 10,001st nonce differs from the
        // first in the bits of 1 ^ 10,001 only.
        let last = next(sequence)
        #expect(last[..<4] == first[..<4])
        let lowFirst = first[4...].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let lowLast = last[4...].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        #expect(lowFirst ^ lowLast == 1 ^ 10_001)
        let other = NonceSequence()
        #expect(!seen.contains(next(other)), "another sequence has its own base")
    }
}
