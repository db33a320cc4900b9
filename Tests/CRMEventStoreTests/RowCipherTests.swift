import CRMEventStore
import Crypto
import Testing

/// Sealed read-model rows: deterministic (a rebuild writes the same bytes), bound to their place,
/// unreadable once their key is gone, and indexes keyed by a keyed hash of the value.
@Suite struct RowCipherTests {
    let ada = SymmetricKey(size: .bits256)
    let bob = SymmetricKey(size: .bits256)
    let row = Array("Ada Lovelace|ada@example.com".utf8)
    let context = Array("customers.rows|ada".utf8)

    /// A cipher over keys 1 (`ada`) and 2 (`bob`), without the keys in `erased`.
    func cipher(erased: Set<UInt64> = []) -> RowCipher {
        var keys: [UInt64: SymmetricKey] = [1: self.ada, 2: self.bob]
        for number in erased { keys[number] = nil }
        return RowCipher(
            keys: PiiEnvelopeTests.NumberedKeys(keys: keys),
            indexKey: SymmetricKey(data: [UInt8](repeating: 7, count: 32)))
    }

    @Test func aSealedRowOpensInItsOwnPlaceOnlyAndHoldsNoPlainText() throws {
        let cipher = self.cipher()
        let sealed = cipher.seal(self.row, number: 1, context: self.context)
        #expect(!String(decoding: sealed, as: UTF8.self).contains("Ada"))
        #expect(!String(decoding: sealed, as: UTF8.self).contains("ada@example.com"))
        #expect(RowCipher.number(of: sealed) == 1)
        #expect(cipher.open(sealed, context: self.context) == .row(self.row))
        // Copied under another row's key, it does not open.
        #expect(cipher.open(sealed, context: Array("customers.rows|bob".utf8)) == .unavailable)
        // One changed byte and it does not open either.
        var tampered = sealed
        tampered[tampered.count - 1] ^= 1
        #expect(cipher.open(tampered, context: self.context) == .unavailable)
    }

    @Test func sealingIsDeterministicPerKeyPlaceAndRow() {
        let cipher = self.cipher()
        let sealed = cipher.seal(self.row, number: 1, context: self.context)
        #expect(cipher.seal(self.row, number: 1, context: self.context) == sealed, "a rebuild writes the same bytes")
        #expect(self.cipher().seal(self.row, number: 1, context: self.context) == sealed, "whatever the process")
        #expect(cipher.seal(self.row, number: 2, context: self.context) != sealed)
        #expect(cipher.seal(self.row, number: 1, context: Array("customers.rows|bob".utf8)) != sealed)
        let other = cipher.seal(Array("Ada Byron|ada@example.com".utf8), number: 1, context: self.context)
        // Different rows get different nonces (bytes 2…13, after the tag and the one-byte key number).
        #expect(other[2..<14] != sealed[2..<14])
    }

    @Test func aSealedRowIsTheDocumentedLayoutWithItsSyntheticNonce() throws {
        // 0x01 ‖ varint number ‖ nonce ‖ AES-256-GCM(row, aad "crmd-row-v1|" ‖ context), the nonce the
        // first 12 bytes of HMAC-SHA256(nonce key, number big-endian ‖ aad ‖ row), computed here with
        // swift-crypto: rows sealed by any build of crmd are these bytes.
        let number: UInt64 = 300
        let cipher = RowCipher(
            keys: PiiEnvelopeTests.NumberedKeys(keys: [number: self.ada]),
            indexKey: SymmetricKey(data: [UInt8](repeating: 7, count: 32)))
        let nonceKey = HMAC<SHA256>.authenticationCode(
            for: Array("crmd-row-nonce-v1".utf8), using: SymmetricKey(data: [UInt8](repeating: 7, count: 32)))
        let aad = Array("crmd-row-v1|".utf8) + self.context
        let input = withUnsafeBytes(of: number.bigEndian) { Array($0) } + aad + self.row
        let nonce = Array(HMAC<SHA256>.authenticationCode(for: input, using: SymmetricKey(data: nonceKey)).prefix(12))
        let box = try AES.GCM.seal(self.row, using: self.ada, nonce: AES.GCM.Nonce(data: nonce), authenticating: aad)
        let expected = [0x01, 0xAC, 0x02] + nonce + Array(box.ciphertext) + Array(box.tag)
        #expect(cipher.seal(self.row, number: number, context: self.context) == expected)
        #expect(cipher.open(expected, context: self.context) == .row(self.row))
    }

    @Test func aRowWhoseKeyIsGoneCannotBeOpenedAndOneWrittenWithoutItSaysSo() {
        let sealed = self.cipher().seal(self.row, number: 1, context: self.context)
        let erased = self.cipher(erased: [1])
        #expect(erased.open(sealed, context: self.context) == .unavailable)
        #expect(erased.open(sealed, context: self.context) != .row(self.row))
        // Written after the key was gone: the row (whose personal fields a fold left null) is kept,
        // marked, with the key number it would have had.
        let cleared = Array("|".utf8)
        let without = erased.seal(cleared, number: 1, context: self.context)
        #expect(RowCipher.number(of: without) == 1)
        #expect(erased.open(without, context: self.context) == .withoutKey(cleared))
    }

    @Test func aRowWithoutAKeyIsStoredAsItIsAndDamageIsNoticed() {
        let cipher = self.cipher()
        let plain = cipher.seal(Array("vip".utf8), number: nil, context: self.context)
        #expect(plain == [0] + Array("vip".utf8))
        #expect(RowCipher.number(of: plain) == nil)
        #expect(cipher.open(plain, context: self.context) == .row(Array("vip".utf8)))
        #expect(cipher.open([], context: self.context) == nil)
        #expect(cipher.open([9, 1, 2], context: self.context) == nil)
        #expect(cipher.open([1, 0x80], context: self.context) == nil, "a key number cut short")
        #expect(cipher.open([1, 1, 0, 0], context: self.context) == nil, "too short for a nonce and a tag")
    }

    @Test func indexKeysAreKeyedHashesOfTheValue() {
        let cipher = self.cipher()
        let key = cipher.indexKey("ada@example.com")
        #expect(key.count == 32)
        #expect(cipher.indexKey("ada@example.com") == key)
        #expect(cipher.indexKey("bob@example.com") != key)
        #expect(key != Array(SHA256.hash(data: Array("ada@example.com".utf8))), "not a plain hash anyone can recompute")
        let expected = HMAC<SHA256>.authenticationCode(
            for: Array("ada@example.com".utf8), using: SymmetricKey(data: [UInt8](repeating: 7, count: 32))
        )
        #expect(key == Array(expected), "HMAC-SHA256 under the index key, whatever keyed it")
        let otherIndexKey = RowCipher(
            keys: PiiEnvelopeTests.NumberedKeys(keys: [:]),
            indexKey: SymmetricKey(data: [UInt8](repeating: 8, count: 32))
        )
        #expect(otherIndexKey.indexKey("ada@example.com") != key)
    }
}
