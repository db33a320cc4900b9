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

    @Test func anEnvelopeOpensWithItsKeyForItsOwnEventOnly() throws {
        let keys = Keys(keys: ["c:ada": SymmetricKey(size: .bits256), "c:bob": SymmetricKey(size: .bits256)])
        let envelope = try self.seal(keys)
        #expect(!String(decoding: envelope, as: UTF8.self).contains("Ada"))
        #expect(!String(decoding: envelope, as: UTF8.self).contains("ada@example.com"))
        envelope.withUnsafeBytes { text in
            #expect(PiiEnvelope.isEnvelope(text))
            #expect(PiiEnvelope.header(text) == PiiEnvelope.Header(kid: "c:ada", fields: ["emails", "first_name"], number: 1))
            let opened = PiiEnvelope.open(
                text, keys: keys, stream: "customer-ada", streamVersion: 1, type: "CustomerCreated"
            )
            #expect(opened == self.plaintext)
            // Bound to its event: another stream, version or type does not open it.
            #expect(PiiEnvelope.open(text, keys: keys, stream: "customer-bob", streamVersion: 1, type: "CustomerCreated") == nil)
            #expect(PiiEnvelope.open(text, keys: keys, stream: "customer-ada", streamVersion: 2, type: "CustomerCreated") == nil)
            #expect(PiiEnvelope.open(text, keys: keys, stream: "customer-ada", streamVersion: 1, type: "CustomerUpdated") == nil)
            // Without its key (erased) or with no keys at all it does not open.
            let erased = Keys(keys: ["c:bob": keys.keys["c:bob"]!])
            #expect(PiiEnvelope.open(text, keys: erased, stream: "customer-ada", streamVersion: 1, type: "CustomerCreated") == nil)
            #expect(PiiEnvelope.open(text, keys: nil, stream: "customer-ada", streamVersion: 1, type: "CustomerCreated") == nil)
        }
        // A key id or number changed in the envelope (to open it with another subject's key) fails.
        var swapped = String(decoding: envelope, as: UTF8.self).replacingOccurrences(of: "c:ada", with: "c:bob")
            .replacingOccurrences(of: #""kn":1"#, with: #""kn":2"#)
        swapped.withUTF8 { text in
            #expect(
                PiiEnvelope.open(
                    UnsafeRawBufferPointer(text), keys: keys, stream: "customer-ada", streamVersion: 1,
                    type: "CustomerCreated"
                ) == nil
            )
        }
        // A damaged nonce (any length but 12 bytes) does not open, however long.
        let nonce = try #require(String(decoding: envelope, as: UTF8.self).firstMatch(of: /"n":"([^"]*)"/)?.1)
        for damaged in ["", "AAAA", String(repeating: "QUJD", count: 600)] {
            var text = String(decoding: envelope, as: UTF8.self).replacingOccurrences(
                of: #""n":"\#(nonce)""#, with: #""n":"\#(damaged)""#)
            text.withUTF8 { text in
                #expect(
                    PiiEnvelope.open(
                        UnsafeRawBufferPointer(text), keys: keys, stream: "customer-ada", streamVersion: 1,
                        type: "CustomerCreated"
                    ) == nil
                )
            }
        }
        // Two seals of the same text differ (a fresh nonce each time).
        #expect(try self.seal(keys) != envelope)
        #expect(try JSON.parse(envelope).serialized() == envelope, "envelopes are canonical JSON")
    }

    @Test func theFieldsAreTheTopLevelMembersOnly() throws {
        let keys = Keys(keys: ["c:x": SymmetricKey(size: .bits256)])
        let tricky = Array(#"{"a\"b]":{"c":[1,{"d":2}]},"e":"x,y:z\"{","f":null}"#.utf8)
        let envelope = try PiiEnvelope.seal(
            tricky, key: keys.keys["c:x"]!, kid: "c:x", number: 3, stream: "customer-x", streamVersion: 3,
            type: "CustomerUpdated"
        )
        envelope.withUnsafeBytes { text in
            #expect(PiiEnvelope.header(text)?.fields == ["a\"b]", "e", "f"])
            let opened = PiiEnvelope.open(text, keys: keys, stream: "customer-x", streamVersion: 3, type: "CustomerUpdated")
            #expect(opened == tricky)
        }
        #expect(try JSON.parse(envelope)["fields"] == ["a\"b]", "e", "f"])
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
