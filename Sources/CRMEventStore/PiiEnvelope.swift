public import CRMDomain
import CRMJSON
public import Crypto
import Foundation
import Glibc
public import LMDB
import Synchronization

/// The data keys that protect personal data, one per subject key id (`c:<customer_id>`,
/// `a:<activity_id>`, …). The daemon keeps them wrapped in a key store of their own; the log and the
/// read models hold only what they encrypt.
public protocol PiiKeys: Sendable {
    /// The data key numbered `number`, or `nil` when there is none (erased, or never known here).
    func readingKey(_ number: UInt64) -> SymmetricKey?
    /// The data key of subject `kid` and its number, for a new event appended in `txn`; a subject
    /// without one gets one (recorded in `txn`). Called on the writer thread only.
    func writingKey(_ kid: String, _ txn: Transaction) throws -> (key: SymmetricKey, number: UInt64)
    /// The position of the erasure that destroyed subject `kid`'s key, or `nil` when it was not
    /// erased (readers then say `shredded` rather than `unavailable`).
    func erasedSeq(of kid: String) -> UInt64?
    /// Reads every key into memory at once, for a reader about to open most of the log (a full
    /// refold), instead of one lookup per key at its first use. Only before the daemon serves: a key
    /// an erasure deletes meanwhile could be cached again from the snapshot this read.
    func loadAll() throws
}

extension PiiKeys {
    /// No subject is erased.
    public func erasedSeq(of kid: String) -> UInt64? { nil }

    /// Nothing to load ahead.
    public func loadAll() throws {}
}

/// How new events get their personal data encrypted: the keys, and which subject's key protects an
/// event (see ``PiiSubject``), read from the decision state in the appending transaction. A class: the
/// store hands it to every append and every decoded batch, and copying a struct of an existential, a
/// closure and a class retained all three each time.
public final class PiiSealing: Sendable {
    public let keys: any PiiKeys
    /// The nonces of the envelopes this process seals.
    let nonces = NonceSequence()
    /// The subject key id of `event`, appended in the transaction the closure is given.
    public let subject: @Sendable (_ event: DomainEvent, _ stream: String, _ txn: Transaction) throws -> String

    public init(
        keys: any PiiKeys,
        subject: @escaping @Sendable (_ event: DomainEvent, _ stream: String, _ txn: Transaction) throws -> String
    ) {
        self.keys = keys
        self.subject = subject
    }
}

/// Nonces for AES-GCM without a system call each: a random 96-bit base drawn once per process,
/// XORed with a 64-bit counter in its low bits (the per-record nonce of TLS 1.3). Within a process no
/// nonce repeats; two processes repeat one only if their random bases lie within the number of
/// envelopes sealed of each other, about `n / 2^64`.
final class NonceSequence: Sendable {
    /// The first 4 bytes of the base, and its last 8 as a big-endian number.
    private let high: UInt32
    private let low: UInt64
    private let counter = Atomic<UInt64>(0)

    init() {
        var generator = SystemRandomNumberGenerator()
        self.high = generator.next()
        self.low = generator.next()
    }

    /// Writes the next nonce to the first 12 bytes of `out`.
    func next(into out: UnsafeMutableRawBufferPointer) {
        precondition(out.count >= AESGCM.nonceSize, "room for a nonce")
        let count = self.counter.add(1, ordering: .relaxed).newValue
        out.storeBytes(of: self.high, toByteOffset: 0, as: UInt32.self)
        out.storeBytes(of: (self.low ^ count).bigEndian, toByteOffset: 4, as: UInt64.self)
    }
}

/// The encrypted form of an event's `pii`: the canonical JSON text of the `pii` object sealed with
/// AES-256-GCM under the subject's data key. The log stores it in binary (record format 2):
///
/// ```
/// u8      2: a binary envelope, AES-256-GCM
/// LEB128  kn: the number of the data key in the key store
/// LEB128  the length of kid, then kid (UTF-8): the subject's key id, e.g. `c:ada`
/// LEB128  the length of fields, then fields: the names of the encrypted members as quoted JSON
///         strings separated by commas (`"emails","first_name"`)
/// 12      the nonce
/// rest    the ciphertext ‖ the 16-byte tag
/// ```
///
/// and shows it as canonical JSON text wherever an event is shown as stored (exports,
/// `events.read{upcast:false}`, the relay):
///
/// ```json
/// {"alg":"A256GCM","ct":"<base64 ciphertext ‖ tag>","fields":["emails","first_name"],"kid":"c:ada",
///  "kn":17,"n":"<base64 12-byte nonce>","v":2}
/// ```
///
/// That text turns back into the same bytes (``binary(ofText:)``), so an import re-creates the record
/// that was hashed. Logs written before record format 2 store such a text itself, with `"v":1`; it is
/// read the same way. The binary form has no base64, member names or quotes: in crm-bench's seeded
/// mix an event's `pii` takes 168 bytes so, 276 as text, 100 in plain text (docs/PERFORMANCE.md).
///
/// The associated data `crmd-pii-v1|<stream>|<stream version>|<type>|<kid>` binds the ciphertext to
/// its event: an envelope copied into another event does not open. `fields` names the encrypted
/// members in clear (names are not personal data); `kn` is the number of the data key in the key
/// store (a subject's key id can own several numbers, for example after an import). The hash chain
/// covers the envelope as stored, so deleting a subject's key erases its personal data without
/// changing a hash.
public enum PiiEnvelope {
    /// The first byte of a binary envelope (no JSON text begins with it).
    static let binaryVersion: UInt8 = 2
    /// The first bytes of every envelope's JSON text (its members are in canonical order).
    static let prefix = Array(#"{"alg":"A256GCM","#.utf8)

    /// Whether `pii` (a stored `pii`) is an envelope, binary or JSON text.
    public static func isEnvelope(_ pii: UnsafeRawBufferPointer) -> Bool {
        PiiEnvelope.isBinary(pii) || (pii.count > PiiEnvelope.prefix.count && pii.starts(with: PiiEnvelope.prefix))
    }

    /// Whether `pii` (a stored `pii`) is a binary envelope: what a record of format 2 holds.
    public static func isBinary<Bytes: Collection<UInt8>>(_ pii: Bytes) -> Bool {
        pii.first == PiiEnvelope.binaryVersion
    }

    /// Room enough for ``writeAssociatedData(stream:streamVersion:type:kid:into:)`` of these strings
    /// (with the longest stream version).
    static func associatedDataCount(stream: String, type: String, kid: String) -> Int {
        PiiEnvelope.associatedDataPrefix.count + stream.utf8.count + type.utf8.count + kid.utf8.count + 20 + 3
    }

    /// `crmd-pii-v1|` that begins the associated data.
    private static let associatedDataPrefix = Array("crmd-pii-v1|".utf8)

    /// Writes the associated data `crmd-pii-v1|<stream>|<stream version>|<type>|<kid>` to the start of
    /// `out` (``associatedDataCount(stream:type:kid:)`` bytes of room) and returns its length: written
    /// in place, as every event of a replay or a rebuild is opened, and interpolation cost more than
    /// the cipher.
    static func writeAssociatedData(
        stream: String,
        streamVersion: UInt64,
        type: String,
        kid: String,
        into out: UnsafeMutableRawBufferPointer
    ) -> Int {
        var index = 0
        func append(_ bytes: UnsafeBufferPointer<UInt8>) {
            UnsafeMutableRawBufferPointer(rebasing: out[index...]).copyMemory(from: UnsafeRawBufferPointer(bytes))
            index += bytes.count
        }
        func append(_ string: String) {
            var string = string
            string.withUTF8 { append($0) }
        }
        PiiEnvelope.associatedDataPrefix.withUnsafeBufferPointer { append($0) }
        append(stream)
        out[index] = UInt8(ascii: "|")
        // The decimal digits of the stream version, written backwards into their place.
        var digits = 1
        var rest = streamVersion / 10
        while rest > 0 {
            digits += 1
            rest /= 10
        }
        rest = streamVersion
        for position in stride(from: index + digits, to: index, by: -1) {
            out[position] = UInt8(ascii: "0") + UInt8(rest % 10)
            rest /= 10
        }
        index += digits + 1
        out[index] = UInt8(ascii: "|")
        index += 1
        append(type)
        out[index] = UInt8(ascii: "|")
        index += 1
        append(kid)
        return index
    }

    /// The binary envelope of `plaintext` (a canonical `pii` object) sealed under `key`.
    public static func seal(
        _ plaintext: [UInt8],
        key: SymmetricKey,
        kid: String,
        number: UInt64,
        stream: String,
        streamVersion: UInt64,
        type: String,
        nonce: AES.GCM.Nonce = AES.GCM.Nonce()
    ) throws -> [UInt8] {
        nonce.withUnsafeBytes { nonce in
            PiiEnvelope.seal(
                plaintext, key: key, kid: kid, number: number, stream: stream, streamVersion: streamVersion, type: type,
                nonce: nonce
            )
        }
    }

    /// The binary envelope of `plaintext` sealed with the 12-byte `nonce`, the ciphertext written in
    /// place at its end and the associated data to a temporary buffer (on the stack when small): every
    /// event with personal data is sealed on the writer thread.
    static func seal(
        _ plaintext: [UInt8],
        key: SymmetricKey,
        kid: String,
        number: UInt64,
        stream: String,
        streamVersion: UInt64,
        type: String,
        nonce: UnsafeRawBufferPointer
    ) -> [UInt8] {
        let sealedCount = plaintext.count + AESGCM.tagSize
        var out: [UInt8] = []
        out.reserveCapacity(24 + kid.utf8.count + plaintext.count / 2 + AESGCM.nonceSize + sealedCount)
        PiiEnvelope.appendBinaryHeader(number: number, kid: kid, to: &out) {
            PiiEnvelope.appendTopLevelKeys(of: plaintext, to: &$0)
        }
        out.append(contentsOf: nonce)
        let sealedAt = out.count
        out.append(contentsOf: repeatElement(0, count: sealedCount))
        let aadRoom = PiiEnvelope.associatedDataCount(stream: stream, type: type, kid: kid)
        withUnsafeTemporaryAllocation(byteCount: aadRoom, alignment: 16) { aad in
            let aadCount = PiiEnvelope.writeAssociatedData(
                stream: stream, streamVersion: streamVersion, type: type, kid: kid, into: aad
            )
            out.withUnsafeMutableBytes { out in
                plaintext.withUnsafeBytes { plaintext in
                    AESGCM.seal(
                        plaintext, key: key, nonce: nonce,
                        authenticating: UnsafeRawBufferPointer(rebasing: aad[..<aadCount]),
                        into: UnsafeMutableRawBufferPointer(rebasing: out[sealedAt...])
                    )
                }
            }
        }
        return out
    }

    /// Appends what a binary envelope holds before its nonce to `out`: the version byte, the key number
    /// `number`, the key id `kid` and the field names `fields` appends (quoted, comma-separated), each
    /// with its LEB128 length. The names' length is known once they are written: one byte is kept for
    /// it, more made when needed.
    private static func appendBinaryHeader(
        number: UInt64,
        kid: String,
        to out: inout [UInt8],
        fields: (inout [UInt8]) -> Void
    ) {
        out.append(PiiEnvelope.binaryVersion)
        BinaryRowWriter.appendLEB128(number, to: &out)
        BinaryRowWriter.appendLEB128(UInt64(kid.utf8.count), to: &out)
        out.append(contentsOf: kid.utf8)
        let lengthAt = out.count
        out.append(0)
        fields(&out)
        let length = UInt64(out.count - lengthAt - 1)
        guard length >= 0x80 else { return out[lengthAt] = UInt8(length) }
        var bytes: [UInt8] = []
        BinaryRowWriter.appendLEB128(length, to: &bytes)
        out.replaceSubrange(lengthAt...lengthAt, with: bytes)
    }

    /// Appends the member names of the canonical JSON object `text` to `out`, as their quoted JSON
    /// strings in order, separated by commas.
    static func appendTopLevelKeys(of text: [UInt8], to out: inout [UInt8]) {
        text.withUnsafeBufferPointer { text in
            var depth = 0
            var index = 0
            var expectKey = false
            var first = true
            while index < text.count {
                let byte = text[index]
                switch byte {
                case UInt8(ascii: "\""):
                    let start = index
                    // The closing quote: the next one not escaped (after an even number of backslashes),
                    // found with `memchr` (values such as notes are most of the text).
                    let base = UnsafeRawPointer(text.baseAddress!)
                    index += 1
                    while true {
                        guard let found = memchr(base + index, Int32(UInt8(ascii: "\"")), text.count - index) else {
                            index = text.count
                            break
                        }
                        index = base.distance(to: UnsafeRawPointer(found))
                        var backslashes = 0
                        while text[index - 1 - backslashes] == UInt8(ascii: "\\") { backslashes += 1 }
                        if backslashes % 2 == 0 { break }
                        index += 1
                    }
                    if depth == 1, expectKey {
                        if !first { out.append(UInt8(ascii: ",")) }
                        first = false
                        out.append(contentsOf: UnsafeBufferPointer(rebasing: text[start...min(index, text.count - 1)]))
                    }
                    expectKey = false
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    depth += 1
                    expectKey = byte == UInt8(ascii: "{") && depth == 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    depth -= 1
                case UInt8(ascii: ","):
                    expectKey = depth == 1
                default:
                    break
                }
                index += 1
            }
        }
    }

    /// What an envelope says in clear: its key id and the names of the fields it holds.
    public struct Header: Sendable, Hashable {
        public var kid: String
        public var fields: [String]
        /// The number of the data key in the key store.
        public var number: UInt64

        public init(kid: String, fields: [String], number: UInt64) {
            self.kid = kid
            self.fields = fields
            self.number = number
        }
    }

    /// The header of the envelope `stored` (binary or text), or `nil` for one that is not an envelope.
    public static func header(_ stored: UnsafeRawBufferPointer) -> Header? {
        guard let parts = Parts(stored) else { return nil }
        let list = [UInt8(ascii: "[")] + stored[parts.fields] + [UInt8(ascii: "]")]
        let fields = (try? JSON.parse(list))?.arrayValue ?? []
        return Header(kid: parts.kid, fields: fields.compactMap(\.stringValue), number: parts.number)
    }

    /// Where the members of an envelope lie in its stored bytes: the ciphertext and nonce (raw in a
    /// binary envelope, base64 in a text), the field names (quoted, comma-separated), the key id and
    /// number. Both forms are written in one canonical layout and read by position, without a JSON
    /// tree; anything else is not an envelope.
    struct Parts {
        var ciphertext: Range<Int>
        var fields: Range<Int>
        var kid: String
        var number: UInt64
        var nonce: Range<Int>
        /// The envelope's version: 2 for the binary form; 1 or 2 for a text (its `v`).
        var version: Int
        /// Whether it is the binary form.
        var binary: Bool

        init?(_ stored: UnsafeRawBufferPointer) {
            if PiiEnvelope.isBinary(stored) { self.init(binary: stored) } else { self.init(text: stored) }
        }

        /// The parts of a binary envelope; `nil` when it is cut short, or a number in it is not written
        /// in its one shortest form (it would not come back from its text as the same bytes).
        private init?(binary bytes: UnsafeRawBufferPointer) {
            var index = 1
            /// The next `count` bytes, consumed.
            func take(_ count: UInt64) -> Range<Int>? {
                guard count <= UInt64(bytes.count - index) else { return nil }
                defer { index += Int(count) }
                return index..<(index + Int(count))
            }
            guard let number = LEB128.read(bytes, at: &index),
                let kidCount = LEB128.read(bytes, at: &index), let kid = take(kidCount),
                let fieldsCount = LEB128.read(bytes, at: &index), let fields = take(fieldsCount),
                let nonce = take(UInt64(AESGCM.nonceSize)), bytes.count - index >= AESGCM.tagSize
            else { return nil }
            self.ciphertext = index..<bytes.count
            self.fields = fields
            self.kid = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[kid]), as: UTF8.self)
            self.number = number
            self.nonce = nonce
            self.version = Int(PiiEnvelope.binaryVersion)
            self.binary = true
        }

        /// The parts of an envelope's JSON text.
        private init?(text: UnsafeRawBufferPointer) {
            var index = 0
            /// Consumes `literal` at `index`.
            func expect(_ literal: StaticString) -> Bool {
                let bytes = UnsafeRawBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount)
                guard text.count - index >= bytes.count,
                    memcmp(text.baseAddress! + index, bytes.baseAddress!, bytes.count) == 0
                else { return false }
                index += bytes.count
                return true
            }
            /// The bytes up to the next `terminator`, consumed with it; `nil` when they hold a backslash
            /// (envelopes write none here). Found with `memchr`: the ciphertext is most of the text.
            func until(_ terminator: UInt8) -> Range<Int>? {
                let start = index
                guard let found = memchr(text.baseAddress! + start, Int32(terminator), text.count - start) else {
                    return nil
                }
                let end = text.baseAddress!.distance(to: UnsafeRawPointer(found))
                let backslash = Int32(UInt8(ascii: "\\"))
                guard memchr(text.baseAddress! + start, backslash, end - start) == nil else { return nil }
                index = end + 1
                return start..<end
            }
            guard expect(#"{"alg":"A256GCM","ct":""#), let ciphertext = until(UInt8(ascii: "\"")),
                expect(#","fields":["#)
            else { return nil }
            /// Consumes the rest of a JSON array of strings (escapes included), its closing `]` too.
            func stringArray() -> Bool {
                if expect("]") { return true }
                while true {
                    guard expect("\"") else { return false }
                    while index < text.count, text[index] != UInt8(ascii: "\"") {
                        index += text[index] == UInt8(ascii: "\\") ? 2 : 1
                    }
                    guard index < text.count else { return false }
                    index += 1
                    if expect("]") { return true }
                    guard expect(",") else { return false }
                }
            }
            let fieldsStart = index
            // The list ends at the first `]` followed by `,"kid":"` (inside a name, a `]` cannot be: the
            // name's quotes would be escaped), found with `memchr`; read string by string otherwise.
            var fieldsEnd: Int?
            if let close = memchr(text.baseAddress! + index, Int32(UInt8(ascii: "]")), text.count - index) {
                index = text.baseAddress!.distance(to: UnsafeRawPointer(close)) + 1
                if expect(#","kid":""#) { fieldsEnd = index - 9 } else { index = fieldsStart }
            }
            if fieldsEnd == nil {
                guard stringArray() else { return nil }
                fieldsEnd = index - 1
                guard expect(#","kid":""#) else { return nil }
            }
            let fields = fieldsStart..<fieldsEnd!
            /// A decimal number (digits only, as envelopes are written), consumed.
            func decimal() -> UInt64? {
                let start = index
                var value: UInt64 = 0
                while index < text.count, text[index] &- UInt8(ascii: "0") < 10 {
                    let (times10, over) = value.multipliedReportingOverflow(by: 10)
                    let (sum, carry) = times10.addingReportingOverflow(UInt64(text[index] &- UInt8(ascii: "0")))
                    guard !over, !carry else { return nil }
                    value = sum
                    index += 1
                }
                return index > start ? value : nil
            }
            guard let kid = until(UInt8(ascii: "\"")), expect(#","kn":"#),
                let number = decimal(), expect(#","n":""#), let nonce = until(UInt8(ascii: "\"")),
                expect(#","v":"#)
            else { return nil }
            let version: Int
            if expect("1}") { version = 1 } else if expect("2}") { version = 2 } else { return nil }
            guard index == text.count else { return nil }
            self.ciphertext = ciphertext
            self.fields = fields
            self.kid = String(decoding: UnsafeRawBufferPointer(rebasing: text[kid]), as: UTF8.self)
            self.number = number
            self.nonce = nonce
            self.version = version
            self.binary = false
        }
    }

    // MARK: - The two forms

    /// Appends `stored` (a stored `pii`) to `out` as JSON text: the text of a binary envelope, and any
    /// other `pii` (`null`, plain text, an envelope's text) as it is.
    public static func appendText(of stored: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        guard PiiEnvelope.isBinary(stored) else { return out.append(contentsOf: stored) }
        guard let parts = Parts(stored) else {
            // Never written so; a record damaged after it was hashed fails `audit.verify`.
            return out.append(contentsOf: #"{"$pii":"damaged"}"#.utf8)
        }
        PiiEnvelope.appendText(of: stored, parts, version: parts.version, to: &out)
    }

    /// `stored` as JSON text (see ``appendText(of:to:)``).
    public static func text(of stored: UnsafeRawBufferPointer) -> [UInt8] {
        var out: [UInt8] = []
        PiiEnvelope.appendText(of: stored, to: &out)
        return out
    }

    /// Appends the JSON text of the envelope `stored`, taken apart as `parts`, with `"v":version`
    /// (tests write the text of a version-1 envelope, as logs before record format 2 stored it).
    static func appendText(of stored: UnsafeRawBufferPointer, _ parts: Parts, version: Int, to out: inout [UInt8]) {
        out.reserveCapacity(out.count + 96 + Base64.encodedCount(parts.ciphertext.count) + parts.fields.count)
        out.append(contentsOf: PiiEnvelope.prefix)
        out.append(contentsOf: #""ct":""#.utf8)
        Base64.encode(UnsafeRawBufferPointer(rebasing: stored[parts.ciphertext]), into: &out)
        out.append(contentsOf: #"","fields":["#.utf8)
        out.append(contentsOf: stored[parts.fields])
        out.append(contentsOf: #"],"kid":"#.utf8)
        JSON.writeString(parts.kid, into: &out)
        out.append(contentsOf: #","kn":"#.utf8)
        out.append(contentsOf: String(parts.number).utf8)
        out.append(contentsOf: #","n":""#.utf8)
        Base64.encode(UnsafeRawBufferPointer(rebasing: stored[parts.nonce]), into: &out)
        out.append(contentsOf: #"","v":"#.utf8)
        out.append(contentsOf: String(version).utf8)
        out.append(UInt8(ascii: "}"))
    }

    /// The binary envelope whose JSON text (`"v":2`) is `text`, or `nil` for any other text: how a
    /// record of format 2, shown as text in an export, is stored and hashed again on import.
    public static func binary(ofText text: UnsafeRawBufferPointer) -> [UInt8]? {
        guard !PiiEnvelope.isBinary(text), PiiEnvelope.isEnvelope(text), let parts = Parts(text), parts.version == 2,
            parts.nonce.count == Base64.encodedCount(AESGCM.nonceSize)
        else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(24 + parts.kid.utf8.count + parts.fields.count + Base64.decodedRoom(parts.ciphertext.count))
        PiiEnvelope.appendBinaryHeader(number: parts.number, kid: parts.kid, to: &out) {
            $0.append(contentsOf: text[parts.fields])
        }
        let nonceAt = out.count
        guard Base64.decode(UnsafeRawBufferPointer(rebasing: text[parts.nonce]), into: &out),
            out.count - nonceAt == AESGCM.nonceSize,
            Base64.decode(UnsafeRawBufferPointer(rebasing: text[parts.ciphertext]), into: &out),
            out.count - nonceAt >= AESGCM.nonceSize + AESGCM.tagSize
        else { return nil }
        return out
    }

    // MARK: - Opening

    /// The plaintext `pii` text of the envelope `stored` of event `type` at `streamVersion` of `stream`,
    /// or `nil` when `keys` has no key for it (erased or unknown) or it does not open with that key
    /// (damaged, or copied from another event).
    public static func open(
        _ stored: UnsafeRawBufferPointer,
        keys: (any PiiKeys)?,
        stream: String,
        streamVersion: UInt64,
        type: String
    ) -> [UInt8]? {
        guard let parts = Parts(stored) else { return nil }
        return PiiEnvelope.withOpened(
            stored, parts, keys: keys, stream: stream, streamVersion: streamVersion, type: type
        ) { $0.map(Array.init) }
    }

    /// `body` with the plaintext `pii` text of the envelope `stored` (taken apart as `parts`) of event
    /// `type` at `streamVersion` of `stream`, or with `nil` when `keys` has no key for it or it does not
    /// open with that key. A binary envelope is opened where it lies; a text's nonce and ciphertext are
    /// decoded to a temporary buffer first. The associated data and the plaintext lie in another (on
    /// the stack when small), wiped before this returns: a rebuild opens an envelope for most events it
    /// folds, and three arrays a time were a good part of what that cost.
    static func withOpened<Result, Failure: Error>(
        _ stored: UnsafeRawBufferPointer,
        _ parts: Parts,
        keys: (any PiiKeys)?,
        stream: String,
        streamVersion: UInt64,
        type: String,
        _ body: (UnsafeRawBufferPointer?) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        guard let keys, let key = keys.readingKey(parts.number) else { return try body(nil) }
        /// `body` with `sealed` (ciphertext ‖ tag) opened with `nonce`.
        func open(
            _ sealed: UnsafeRawBufferPointer,
            nonce: UnsafeRawBufferPointer
        ) throws(Failure) -> Result {
            let aadRoom = PiiEnvelope.associatedDataCount(stream: stream, type: type, kid: parts.kid)
            let plainCount = sealed.count - AESGCM.tagSize
            return try withUnsafeTemporaryAllocation(byteCount: aadRoom + max(plainCount, 1), alignment: 16) {
                (scratch: UnsafeMutableRawBufferPointer) throws(Failure) -> Result in
                defer { explicit_bzero(scratch.baseAddress!, scratch.count) }
                let aadCount = PiiEnvelope.writeAssociatedData(
                    stream: stream, streamVersion: streamVersion, type: type, kid: parts.kid, into: scratch
                )
                let plaintext = UnsafeMutableRawBufferPointer(rebasing: scratch[aadRoom...])
                guard
                    AESGCM.open(
                        sealed, key: key, nonce: nonce,
                        authenticating: UnsafeRawBufferPointer(rebasing: scratch[..<aadCount]), into: plaintext
                    )
                else { return try body(nil) }
                return try body(UnsafeRawBufferPointer(rebasing: plaintext[..<plainCount]))
            }
        }
        if parts.binary {
            return try open(
                UnsafeRawBufferPointer(rebasing: stored[parts.ciphertext]),
                nonce: UnsafeRawBufferPointer(rebasing: stored[parts.nonce])
            )
        }
        // A nonce of any other length than a 12-byte one's base64 is a damaged envelope.
        guard parts.nonce.count == Base64.encodedCount(AESGCM.nonceSize) else { return try body(nil) }
        // Laid out as: nonce ‖ ciphertext and tag (decoded).
        let size = AESGCM.nonceSize + Base64.decodedRoom(parts.ciphertext.count)
        return try withUnsafeTemporaryAllocation(byteCount: size, alignment: 16) {
            (scratch: UnsafeMutableRawBufferPointer) throws(Failure) -> Result in
            defer { explicit_bzero(scratch.baseAddress!, scratch.count) }
            guard
                Base64.decode(UnsafeRawBufferPointer(rebasing: stored[parts.nonce]), into: scratch) == AESGCM.nonceSize,
                let sealedCount = Base64.decode(
                    UnsafeRawBufferPointer(rebasing: stored[parts.ciphertext]),
                    into: UnsafeMutableRawBufferPointer(rebasing: scratch[AESGCM.nonceSize...])
                ), sealedCount >= AESGCM.tagSize
            else { return try body(nil) }
            return try open(
                UnsafeRawBufferPointer(rebasing: scratch[AESGCM.nonceSize..<(AESGCM.nonceSize + sealedCount)]),
                nonce: UnsafeRawBufferPointer(rebasing: scratch[..<AESGCM.nonceSize])
            )
        }
    }
}

/// Unsigned LEB128 read back (``BinaryRowWriter/appendLEB128(_:to:)`` writes it) from a raw buffer, in its
/// shortest form only.
enum LEB128 {
    /// The value at `index` of `bytes`, consumed; `nil` when it is cut short, does not fit 64 bits, or
    /// is not in its shortest form.
    static func read(_ bytes: UnsafeRawBufferPointer, at index: inout Int) -> UInt64? {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            guard shift < 63 || (shift == 63 && byte <= 1) else { return nil }
            value |= UInt64(byte & 0x7F) << shift
            guard byte & 0x80 != 0 else { return byte == 0 && shift > 0 ? nil : value }
            shift += 7
        }
        return nil
    }
}

/// Standard base64 (RFC 4648 §4, with padding) encoded and decoded straight between bytes and a
/// buffer: an envelope is sealed for every event with personal data and opened for every one a rebuild
/// folds, and Foundation's coder wants `Data` copies of its input and returns another.
enum Base64 {
    /// The alphabet, by 6-bit value.
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// The length of the padded base64 text of `byteCount` bytes.
    static func encodedCount(_ byteCount: Int) -> Int { (byteCount + 2) / 3 * 4 }

    /// The room the bytes of `textCount` characters of base64 need at most (padding not subtracted).
    static func decodedRoom(_ textCount: Int) -> Int { textCount / 4 * 3 }

    /// Appends the padded base64 text of `bytes` to `out`.
    static func encode(_ bytes: UnsafeRawBufferPointer, into out: inout [UInt8]) {
        let start = out.count
        // Written in place, three bytes at a time; the alphabet is read once per call.
        out.append(contentsOf: repeatElement(UInt8(ascii: "="), count: Base64.encodedCount(bytes.count)))
        Base64.alphabet.withUnsafeBufferPointer { alphabet in
            out.withUnsafeMutableBufferPointer { out in
                var write = start
                var index = 0
                while index < bytes.count {
                    let left = bytes.count - index
                    var group = UInt32(bytes[index]) << 16
                    if left > 1 { group |= UInt32(bytes[index + 1]) << 8 }
                    if left > 2 { group |= UInt32(bytes[index + 2]) }
                    out[write] = alphabet[Int(group >> 18)]
                    out[write + 1] = alphabet[Int(group >> 12 & 0x3F)]
                    if left > 1 { out[write + 2] = alphabet[Int(group >> 6 & 0x3F)] }
                    if left > 2 { out[write + 3] = alphabet[Int(group & 0x3F)] }
                    write += 4
                    index += 3
                }
            }
        }
    }

    /// The 6-bit value of each ASCII byte; 0xFF for bytes outside the alphabet.
    private static let values: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, byte) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8.enumerated() {
            table[Int(byte)] = UInt8(index)
        }
        return table
    }()

    /// Appends the bytes `text` encodes to `out`; `false` for text that is not padded base64 (then
    /// `out` holds what it held).
    static func decode(_ text: UnsafeRawBufferPointer, into out: inout [UInt8]) -> Bool {
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: Base64.decodedRoom(text.count)))
        let written = out.withUnsafeMutableBytes { out in
            Base64.decode(text, into: UnsafeMutableRawBufferPointer(rebasing: out[start...]))
        }
        out.removeSubrange((start + (written ?? 0))...)
        return written != nil
    }

    /// Writes the bytes `text` encodes to the start of `out` (room for `decodedRoom(text.count)` bytes) and
    /// returns how many; `nil` for text that is not padded base64.
    static func decode(_ text: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) -> Int? {
        guard text.count % 4 == 0 else { return nil }
        guard text.count > 0 else { return 0 }
        let padding = text[text.count - 1] != UInt8(ascii: "=") ? 0 : text[text.count - 2] != UInt8(ascii: "=") ? 1 : 2
        precondition(out.count >= Base64.decodedRoom(text.count), "room for the decoded bytes")
        // Four characters at a time; the values table is read once per call.
        let valid = Base64.values.withUnsafeBufferPointer { values in
            var write = 0
            var index = 0
            while index < text.count {
                let last = index + 4 == text.count
                let a = values[Int(text[index])]
                let b = values[Int(text[index + 1])]
                let c = last && padding == 2 ? 0 : values[Int(text[index + 2])]
                let d = last && padding >= 1 ? 0 : values[Int(text[index + 3])]
                guard (a | b | c | d) & 0xC0 == 0 else { return false }
                let quad = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6 | UInt32(d)
                out[write] = UInt8(truncatingIfNeeded: quad >> 16)
                if !last || padding < 2 { out[write + 1] = UInt8(truncatingIfNeeded: quad >> 8) }
                if !last || padding < 1 { out[write + 2] = UInt8(truncatingIfNeeded: quad) }
                write += 3
                index += 4
            }
            return true
        }
        return valid ? Base64.decodedRoom(text.count) - padding : nil
    }
}
