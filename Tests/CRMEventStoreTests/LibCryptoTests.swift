import Crypto
import Testing

@testable import CRMEventStore

/// crmd's AES-256-GCM, AES key unwrap and HMAC-SHA256 (libcrypto, reused contexts) against
/// swift-crypto's: the same bytes both ways, so envelopes, rows, index keys and wrapped keys written with
/// either read with the other.
@Suite struct LibCryptoTests {
    /// Seals `plaintext` with crmd's AES-GCM: ciphertext ‖ tag.
    func seal(_ plaintext: [UInt8], _ key: SymmetricKey, _ nonce: [UInt8], _ aad: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0xAA]  // appended after what `out` holds
        plaintext.withUnsafeBytes { plaintext in
            nonce.withUnsafeBytes { nonce in
                aad.withUnsafeBytes { aad in
                    AESGCM.seal(plaintext, key: key, nonce: nonce, authenticating: aad, appendingTo: &out)
                }
            }
        }
        #expect(out.first == 0xAA)
        return Array(out.dropFirst())
    }

    func open(_ sealed: [UInt8], _ key: SymmetricKey, _ nonce: [UInt8], _ aad: [UInt8]) -> [UInt8]? {
        sealed.withUnsafeBytes { sealed in
            nonce.withUnsafeBytes { nonce in
                aad.withUnsafeBytes { aad in AESGCM.open(sealed, key: key, nonce: nonce, authenticating: aad) }
            }
        }
    }

    @Test func sealsAndOpensWhatSwiftCryptoDoes() throws {
        var generator = SystemRandomNumberGenerator()
        for length in [0, 1, 15, 16, 17, 31, 64, 200, 1_000, 5_000] {
            let key = SymmetricKey(size: .bits256)
            let plaintext = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let nonce = (0..<12).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let aad = Array("crmd-row-v1|table|\(length)".utf8)
            let ours = self.seal(plaintext, key, nonce, aad)
            let theirs = try AES.GCM.seal(plaintext, using: key, nonce: AES.GCM.Nonce(data: nonce), authenticating: aad)
            #expect(ours == Array(theirs.ciphertext) + Array(theirs.tag), "\(length) bytes")
            #expect(self.open(Array(theirs.ciphertext) + Array(theirs.tag), key, nonce, aad) == plaintext)
            let box = try AES.GCM.SealedBox(
                nonce: AES.GCM.Nonce(data: nonce), ciphertext: ours.dropLast(16), tag: ours.suffix(16))
            #expect(Array(try AES.GCM.open(box, using: key, authenticating: aad)) == plaintext)
        }
    }

    @Test func refusesWhatWasNotSealedSo() {
        let key = SymmetricKey(size: .bits256)
        let nonce = [UInt8](repeating: 1, count: 12)
        let aad = Array("context".utf8)
        let plaintext = Array("Ada Lovelace".utf8)
        let sealed = self.seal(plaintext, key, nonce, aad)
        #expect(self.open(sealed, key, nonce, aad) == plaintext)
        #expect(self.open(sealed, SymmetricKey(size: .bits256), nonce, aad) == nil, "another key")
        #expect(self.open(sealed, key, [UInt8](repeating: 2, count: 12), aad) == nil, "another nonce")
        #expect(self.open(sealed, key, nonce, Array("other".utf8)) == nil, "another context")
        for index in sealed.indices {
            var damaged = sealed
            damaged[index] ^= 0x01
            #expect(self.open(damaged, key, nonce, aad) == nil, "byte \(index) flipped")
        }
        #expect(self.open(Array(sealed.prefix(15)), key, nonce, aad) == nil, "shorter than a tag")
        #expect(self.open(sealed, key, Array(nonce.prefix(11)), aad) == nil, "an 11-byte nonce")
        // A failed opening leaves the pooled context usable.
        #expect(self.open(sealed, key, nonce, aad) == plaintext)
    }

    @Test func opensFromManyThreadsAtOnceWhileIdleContextsAreFreed() async {
        let key = SymmetricKey(size: .bits256)
        let nonce = [UInt8](repeating: 3, count: 12)
        let aad = Array("aad".utf8)
        let sealed = (0..<64).map { self.seal(Array("row \($0)".utf8), key, nonce, aad) }
        let results = await withTaskGroup(of: Bool.self) { group in
            for round in 0..<32 {
                group.addTask {
                    // Some callers free the idle contexts meanwhile (as an erasure does).
                    if round % 8 == 0 { AESGCM.forgetIdleContexts() }
                    return (0..<64).allSatisfy {
                        self.open(sealed[($0 + round) % 64], key, nonce, aad) == Array("row \(($0 + round) % 64)".utf8)
                    }
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results.allSatisfy { $0 })
    }

    @Test func hmacCodesAreSwiftCryptos() async {
        var generator = SystemRandomNumberGenerator()
        for keyLength in [16, 32, 64, 100] {
            let key = SymmetricKey(data: (0..<keyLength).map { _ in UInt8.random(in: 0...255, using: &generator) })
            let mac = HMACSHA256(key: key)
            for length in [0, 1, 55, 56, 63, 64, 65, 200, 4_096] {
                let data = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
                let ours = data.withUnsafeBytes { mac.code($0) }
                #expect(
                    ours == Array(HMAC<SHA256>.authenticationCode(for: data, using: key)), "\(keyLength), \(length)")
            }
        }
        // Concurrent callers each get their own context.
        let key = SymmetricKey(size: .bits256)
        let mac = HMACSHA256(key: key)
        let inputs = (0..<64).map { Array("address-\($0)@example.com".utf8) }
        let expected = inputs.map { Array(HMAC<SHA256>.authenticationCode(for: $0, using: key)) }
        let agree = await withTaskGroup(of: Bool.self) { group in
            for round in 0..<32 {
                group.addTask {
                    (0..<64).allSatisfy { index in
                        let input = inputs[(index + round) % 64]
                        return input.withUnsafeBytes { mac.code($0) } == expected[(index + round) % 64]
                    }
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(agree.allSatisfy { $0 })
    }

    @Test func unwrapsWhatSwiftCryptoWraps() throws {
        let kek = SymmetricKey(size: .bits256)
        for size in [SymmetricKeySize.bits128, .bits192, .bits256] {
            let key = SymmetricKey(size: size)
            let wrapped = Array(try AES.KeyWrap.wrap(key, using: kek))
            let unwrapped = try #require(AESKeyWrap.unwrap(wrapped, using: kek), "\(size.bitCount) bits")
            #expect(unwrapped == key)
            #expect(AESKeyWrap.unwrap(wrapped, using: SymmetricKey(size: .bits256)) == nil, "another KEK")
            for index in wrapped.indices {
                var damaged = wrapped
                damaged[index] ^= 0x80
                #expect(AESKeyWrap.unwrap(damaged, using: kek) == nil, "byte \(index) flipped")
            }
            #expect(AESKeyWrap.unwrap(Array(wrapped.dropLast()), using: kek) == nil, "one byte short")
            #expect(AESKeyWrap.unwrap(Array(wrapped.prefix(16)), using: kek) == nil, "too short to be a key")
        }
        #expect(AESKeyWrap.unwrap([UInt8](repeating: 0, count: 40), using: SymmetricKey(size: .bits128)) == nil)
    }
}
