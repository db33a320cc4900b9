import CRMDomain
import CRMJSON
import Crypto
import Foundation
import LMDB
import Testing

@testable import CRMEventStore

/// The encrypted `pii` envelope: it opens with its key for its own event only, and says in clear only
/// which key and which fields.
@Suite struct PiiEnvelopeTests {
    /// Keys held in memory.
    struct Keys: PiiKeys {
        var keys: [String: SymmetricKey]
        /// Subject `c:ada` has key 1, `c:bob` key 2, anything else 3.
        static func number(_ kid: String) -> UInt64 { kid == "c:ada" ? 1 : kid == "c:bob" ? 2 : 3 }
        func readingKey(_ number: UInt64) -> SymmetricKey? {
            self.keys.first { Keys.number($0.key) == number }?.value
        }
        func writingKey(_ kid: String, _ txn: Transaction) throws -> (key: SymmetricKey, number: UInt64) {
            (self.keys[kid]!, Keys.number(kid))
        }
    }

    /// Keys held in memory by number.
    struct NumberedKeys: PiiKeys {
        var keys: [UInt64: SymmetricKey]
        func readingKey(_ number: UInt64) -> SymmetricKey? { self.keys[number] }
        func writingKey(_ kid: String, _ txn: Transaction) throws -> (key: SymmetricKey, number: UInt64) {
            throw LMDBError(code: -1)
        }
    }

    let plaintext = Array(#"{"emails":[{"address":"ada@example.com"}],"first_name":"Ada"}"#.utf8)

    func seal(_ keys: Keys, kid: String = "c:ada") throws -> [UInt8] {
        try PiiEnvelope.seal(
            self.plaintext, key: keys.keys[kid]!, kid: kid, number: Keys.number(kid), stream: "customer-ada", streamVersion: 1,
            type: "CustomerCreated"
        )
    }

    /// `body` with `bytes` as a raw buffer.
    func with<R>(_ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try bytes.withUnsafeBytes(body)
    }

    /// Opens `stored` as the envelope of Ada's first `CustomerCreated`.
    func open(
        _ stored: [UInt8],
        _ keys: (any PiiKeys)?,
        stream: String = "customer-ada",
        version: UInt64 = 1,
        type: String = "CustomerCreated"
    ) -> [UInt8]? {
        self.with(stored) { PiiEnvelope.open($0, keys: keys, stream: stream, streamVersion: version, type: type) }
    }

    @Test func anEnvelopeOpensWithItsKeyForItsOwnEventOnly() throws {
        let keys = Keys(keys: ["c:ada": SymmetricKey(size: .bits256), "c:bob": SymmetricKey(size: .bits256)])
        let envelope = try self.seal(keys)
        #expect(PiiEnvelope.isBinary(envelope))
        #expect(!String(decoding: envelope, as: UTF8.self).contains("Ada"))
        #expect(!String(decoding: envelope, as: UTF8.self).contains("ada@example.com"))
        // Its text, as exports show it, says the same and opens the same.
        let text = self.with(envelope) { PiiEnvelope.text(of: $0) }
        #expect(try JSON.parse(text).serialized() == text, "the text is canonical JSON")
        #expect(try JSON.parse(text)["v"] == 2)
        for stored in [envelope, text] {
            self.with(stored) { stored in
                #expect(PiiEnvelope.isEnvelope(stored))
                #expect(
                    PiiEnvelope.header(stored)
                        == PiiEnvelope.Header(kid: "c:ada", fields: ["emails", "first_name"], number: 1)
                )
            }
            #expect(self.open(stored, keys) == self.plaintext)
            // Bound to its event: another stream, version or type does not open it.
            #expect(self.open(stored, keys, stream: "customer-bob") == nil)
            #expect(self.open(stored, keys, version: 2) == nil)
            #expect(self.open(stored, keys, type: "CustomerUpdated") == nil)
            // Without its key (erased) or with no keys at all it does not open.
            #expect(self.open(stored, Keys(keys: ["c:bob": keys.keys["c:bob"]!])) == nil)
            #expect(self.open(stored, nil) == nil)
        }
        // A key id or number changed in the envelope (to open it with another subject's key) fails.
        let swapped = Array(
            String(decoding: text, as: UTF8.self).replacingOccurrences(of: "c:ada", with: "c:bob")
                .replacingOccurrences(of: #""kn":1"#, with: #""kn":2"#).utf8
        )
        #expect(self.open(swapped, keys) == nil)
        #expect(self.open(try #require(self.with(swapped) { PiiEnvelope.binary(ofText: $0) }), keys) == nil)
        // A damaged nonce (any length but 12 bytes) does not open, however long.
        let nonce = try #require(String(decoding: text, as: UTF8.self).firstMatch(of: /"n":"([^"]*)"/)?.1)
        for damaged in ["", "AAAA", String(repeating: "QUJD", count: 600)] {
            let text = String(decoding: text, as: UTF8.self).replacingOccurrences(
                of: #""n":"\#(nonce)""#, with: #""n":"\#(damaged)""#)
            #expect(self.open(Array(text.utf8), keys) == nil)
            #expect(self.with(Array(text.utf8)) { PiiEnvelope.binary(ofText: $0) } == nil)
        }
        // Two seals of the same text differ (a fresh nonce each time).
        #expect(try self.seal(keys) != envelope)
    }

    /// An envelope's text turns back into the same bytes (an import re-creates the record that was
    /// hashed); the text of an envelope a log stored as text (`"v":1`) stays text and still opens.
    @Test func theTextOfABinaryEnvelopeTurnsBackIntoItsBytes() throws {
        let key = SymmetricKey(size: .bits256)
        let longKid = "a:" + String(repeating: "x", count: 200)
        for (kid, number) in [("c:ada", UInt64(1)), (longKid, 300), ("c:z", UInt64(Int64.max))] {
            // (Key numbers are counted from 1; JSON numbers round-trip up to Int64.max.)
            let keys = NumberedKeys(keys: [number: key])
            let envelope = try PiiEnvelope.seal(
                self.plaintext, key: key, kid: kid, number: number, stream: "customer-ada", streamVersion: 1,
                type: "CustomerCreated"
            )
            let text = self.with(envelope) { PiiEnvelope.text(of: $0) }
            // Parsed and serialized again, as an import reads an export line.
            let reread = try JSON.parse(text).serialized()
            #expect(self.with(reread) { PiiEnvelope.binary(ofText: $0) } == envelope, "\(kid)")
            #expect(self.open(envelope, keys) == self.plaintext)
            // Fixed overhead: version, key number, key id and names with their lengths, nonce and tag.
            let names = #""emails","first_name""#.utf8.count
            func leb(_ value: Int) -> Int { max(1, (64 - UInt64(value).leadingZeroBitCount + 6) / 7) }
            let lengths = leb(Int(number)) + leb(kid.utf8.count) + leb(names)
            #expect(envelope.count == 1 + lengths + kid.utf8.count + names + 12 + self.plaintext.count + 16)

            // The same envelope as a log stored it before the binary form: text with "v":1.
            let version1 = self.with(envelope) { stored in
                var out: [UInt8] = []
                PiiEnvelope.appendText(of: stored, PiiEnvelope.Parts(stored)!, version: 1, to: &out)
                return out
            }
            #expect(try JSON.parse(version1)["v"] == 1)
            #expect(self.with(version1) { PiiEnvelope.binary(ofText: $0) } == nil, "stays text")
            #expect(self.with(version1) { PiiEnvelope.text(of: $0) } == version1)
            #expect(self.open(version1, keys) == self.plaintext)
        }
    }

    /// Numbers in a binary envelope are read only in their shortest form, and a cut-short envelope is
    /// none: neither would come back from its text as the same bytes.
    @Test func aBinaryEnvelopeIsReadInItsOneCanonicalForm() throws {
        for value in [0, 1, 127, 128, 300, 16_383, 16_384, UInt64(UInt32.max), .max] as [UInt64] {
            var bytes: [UInt8] = []
            BinaryRowWriter.appendLEB128(value, to: &bytes)
            var index = 0
            #expect(self.with(bytes) { LEB128.read($0, at: &index) } == value)
            #expect(index == bytes.count)
        }
        for bad in [[0x80, 0x00], [0x81, 0x80, 0x00], [0x80], Array(repeating: 0xFF, count: 10) + [0x01]] as [[UInt8]] {
            var index = 0
            #expect(self.with(bad) { LEB128.read($0, at: &index) } == nil, "\(bad)")
        }
        let keys = Keys(keys: ["c:ada": SymmetricKey(size: .bits256)])
        let envelope = try self.seal(keys)
        for count in [1, 2, 8, 20, envelope.count - 1 - self.plaintext.count - 16] {
            #expect(self.with(Array(envelope.prefix(count))) { PiiEnvelope.header($0) } == nil, "\(count) bytes")
        }
        // Key number 1 written in two bytes (0x81 0x00) is not an envelope.
        var long = envelope
        long.replaceSubrange(1...1, with: [0x81, 0x00])
        #expect(self.with(long) { PiiEnvelope.header($0) } == nil)
        #expect(self.with(long) { PiiEnvelope.text(of: $0) } == Array(#"{"$pii":"damaged"}"#.utf8))
    }

    @Test func theFieldsAreTheTopLevelMembersOnly() throws {
        let keys = Keys(keys: ["c:x": SymmetricKey(size: .bits256)])
        let tricky = Array(#"{"a\"b]":{"c":[1,{"d":2}]},"e":"x,y:z\"{","f":null}"#.utf8)
        let envelope = try PiiEnvelope.seal(
            tricky, key: keys.keys["c:x"]!, kid: "c:x", number: 3, stream: "customer-x", streamVersion: 3,
            type: "CustomerUpdated"
        )
        let text = self.with(envelope) { PiiEnvelope.text(of: $0) }
        for stored in [envelope, text] {
            self.with(stored) { stored in
                #expect(PiiEnvelope.header(stored)?.fields == ["a\"b]", "e", "f"])
                let opened = PiiEnvelope.open(
                    stored, keys: keys, stream: "customer-x", streamVersion: 3, type: "CustomerUpdated"
                )
                #expect(opened == tricky)
            }
        }
        #expect(try JSON.parse(text)["fields"] == ["a\"b]", "e", "f"])
        #expect(self.with(text) { PiiEnvelope.binary(ofText: $0) } == envelope)
    }

    @Test func theAssociatedDataNamesTheEventInFull() {
        for (version, digits) in [(0, "0"), (9, "9"), (10, "10"), (1_234_567_890, "1234567890")] as [(UInt64, String)]
            + [(UInt64.max, "18446744073709551615")]
        {
            let room = PiiEnvelope.associatedDataCount(stream: "customer-ada", type: "T", kid: "c:ada")
            let aad = [UInt8](unsafeUninitializedCapacity: room) { buffer, count in
                count = PiiEnvelope.writeAssociatedData(
                    stream: "customer-ada", streamVersion: version, type: "T", kid: "c:ada",
                    into: UnsafeMutableRawBufferPointer(buffer)
                )
            }
            #expect(aad == Array("crmd-pii-v1|customer-ada|\(digits)|T|c:ada".utf8))
        }
    }

    @Test func plainTextIsNotAnEnvelope() {
        for text in [#"null"#, #"{"first_name":"Ada"}"#, #"{"alg":"none"}"#, #"{"alg":"A256GCM","#] {
            Array(text.utf8).withUnsafeBytes { #expect(!PiiEnvelope.isEnvelope($0) || PiiEnvelope.header($0) == nil) }
        }
    }
}
