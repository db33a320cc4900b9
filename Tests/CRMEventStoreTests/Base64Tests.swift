import CRMTesting
import Foundation
import Testing

@testable import CRMEventStore

/// The envelope's base64 decoder gives back what Foundation encodes (always padded), and refuses
/// anything else, unpadded text included.
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

    @Test func refusesWhatIsNotPaddedBase64() {
        for text in ["A", "AB", "ABC", "AB=C", "A===", "AB$=", "====", "QUJD\n", "Q=JD"] {
            #expect(self.decode(text) == nil, "\(text)")
        }
    }
}
