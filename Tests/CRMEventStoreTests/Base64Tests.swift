import CRMTesting
import Foundation
import Testing

@testable import CRMEventStore

/// The envelope's base64 encoder writes what Foundation writes (always padded); its decoder gives back
/// what Foundation encodes, and refuses anything else, unpadded text included.
@Suite struct Base64Tests {
    func decode(_ text: String) -> [UInt8]? {
        var out: [UInt8] = []
        let ok = Array(text.utf8).withUnsafeBytes { Base64.decode($0, into: &out) }
        return ok ? out : nil
    }

    @Test func decodesWhatFoundationEncodes() {
        var rng = SeededGenerator(seed: 64)
        for length in 0..<200 {
            let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let text = Data(bytes).base64EncodedString()
            #expect(self.decode(text) == bytes, "\(length) bytes")
        }
    }

    @Test func encodesWhatFoundationEncodes() {
        var rng = SeededGenerator(seed: 65)
        for length in 0..<200 {
            let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            var out: [UInt8] = Array("prefix".utf8)
            bytes.withUnsafeBytes { Base64.encode($0, into: &out) }
            #expect(out == Array(("prefix" + Data(bytes).base64EncodedString()).utf8), "\(length) bytes")
        }
    }

    @Test func decodingAppendsAndLeavesTheBufferAsItWasWhenRefused() {
        var out: [UInt8] = [1, 2, 3]
        #expect(Array("QUJD".utf8).withUnsafeBytes { Base64.decode($0, into: &out) })
        #expect(out == [1, 2, 3] + Array("ABC".utf8))
        #expect(!Array("QUJDQU$=".utf8).withUnsafeBytes { Base64.decode($0, into: &out) })
        #expect(out == [1, 2, 3] + Array("ABC".utf8))
    }

    @Test func refusesWhatIsNotPaddedBase64() {
        for text in ["A", "AB", "ABC", "AB=C", "A===", "AB$=", "====", "QUJD\n", "Q=JD", "QUJD=AAA", "QUJDQ=A="] {
            #expect(self.decode(text) == nil, "\(text)")
        }
    }
}
