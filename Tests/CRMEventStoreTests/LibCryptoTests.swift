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

    @Test func wrapsAsSwiftCryptoDoes() throws {
        let kek = SymmetricKey(size: .bits256)
        for size in [SymmetricKeySize.bits128, .bits192, .bits256] {
            let keys = (0..<3).map { _ in SymmetricKey(size: size) }
            let wrapped = try AESKeyWrap.wrap(keys, using: kek)
            #expect(wrapped == (try keys.map { Array(try AES.KeyWrap.wrap($0, using: kek)) }), "\(size.bitCount) bits")
            #expect(try wrapped.map { try AES.KeyWrap.unwrap($0, using: kek) } == keys)
        }
        #expect(try AESKeyWrap.wrap([], using: kek).isEmpty)
        let mixed = (0..<300).map { SymmetricKey(size: $0 % 3 == 0 ? .bits128 : .bits256) }
        let swiftCrypto = try mixed.map { Array(try AES.KeyWrap.wrap($0, using: kek)) }
        #expect(try AESKeyWrap.wrap(mixed, using: kek) == swiftCrypto)
    }

    /// RFC 3394 §4.3, §4.5 and §4.6: a 256-bit KEK wrapping 128-, 192- and 256-bit keys.
    @Test func followsTheTestVectorsOfRFC3394() throws {
        let kekBytes = try #require(bytes(hex: "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"))
        let kek = SymmetricKey(data: kekBytes)
        let vectors = [
            ("00112233445566778899aabbccddeeff", "64e8c3f9ce0f5ba263e9777905818a2a93c8191e7d6e8ae7"),
            (
                "00112233445566778899aabbccddeeff0001020304050607",
                "a8f9bc1612c68b3ff6e6f4fbe30e71e4769c8b80a32cb8958cd5d17d6b254da1"
            ),
            (
                "00112233445566778899aabbccddeeff000102030405060708090a0b0c0d0e0f",
                "28c9f404c4b810f4cbccb35cfb87f8263f5786e2d80ed326cbc7f0e71a99f43bfb988b9b7a02dd21"
            ),
        ]
        for (key, wrapped) in vectors {
            let key = SymmetricKey(data: try #require(bytes(hex: key)))
            #expect(try AESKeyWrap.wrap([key], using: kek) == [try #require(bytes(hex: wrapped))])
            #expect(AESKeyWrap.unwrap(try #require(bytes(hex: wrapped)), using: kek) == key)
        }
    }

    /// Many keys of mixed lengths in one call (more than one batch), some damaged or of no key's
    /// length: each comes back as unwrapping it alone gives.
    @Test func unwrapsManyKeysAtOnce() throws {
        let kek = SymmetricKey(size: .bits256)
        let keys = (0..<600).map { index in SymmetricKey(size: index % 7 == 0 ? .bits128 : .bits256) }
        var wrapped = try keys.map { Array(try AES.KeyWrap.wrap($0, using: kek)) }
        for index in stride(from: 5, to: wrapped.count, by: 11) { wrapped[index][index % wrapped[index].count] ^= 1 }
        wrapped[3] = Array(wrapped[3].dropLast())
        wrapped[4] = []
        let unwrapped = AESKeyWrap.unwrap(wrapped, using: kek)
        #expect(unwrapped.count == keys.count)
        for index in keys.indices {
            let damaged = index == 3 || index == 4 || (index >= 5 && (index - 5) % 11 == 0)
            #expect(unwrapped[index] == (damaged ? nil : keys[index]), "key \(index)")
            #expect(unwrapped[index] == AESKeyWrap.unwrap(wrapped[index], using: kek), "key \(index) alone")
        }
        #expect(AESKeyWrap.unwrap(wrapped, using: SymmetricKey(size: .bits256)).allSatisfy { $0 == nil })
    }
}
