import CRMDomain
public import Crypto
import Glibc
import Synchronization

/// Keeps personal data out of the read models and the decision state of a log that encrypts it: rows
/// that hold personal values are sealed under the data key of the data subject (the key that seals the
/// events they were folded from), and indexes over personal values (emails, phone numbers, names) are
/// keyed by a keyed hash instead of the value. Deleting a subject's data key therefore erases that
/// person from the rows too, and the main environment never holds a personal value in plain text.
///
/// A stored row is one of:
/// - `0x00 ‖ row`: no data key was involved (the row holds nothing personal);
/// - `0x01 ‖ varint key number ‖ 12-byte nonce ‖ ciphertext ‖ 16-byte tag`: sealed with AES-256-GCM;
/// - `0x02 ‖ varint key number ‖ row`: the subject's key was gone when the row was written (erased,
///   or a log imported without its keys), so its personal fields were folded as `null`.
///
/// Sealing is deterministic (a synthetic nonce, as in SIV mode): the nonce is the first 12 bytes of
/// HMAC-SHA256, under a nonce key derived from the index key, of the data key's number, the associated
/// data and the row. The same row folded again — a rebuild, `audit.verify` with `read_models` — is
/// the same bytes, and a nonce repeats only for the same row under the same data key and context,
/// which reveals nothing new (a nonce is stored in clear anyway; its key only makes it unpredictable). The
/// associated data names the table and the row's key, so a sealed row copied elsewhere fails to
/// open.
///
/// A log that keeps personal data in plain text has no cipher: its rows are stored as they are.
public final class RowCipher: Sendable {
    /// The data keys, by number.
    public let keys: any PiiKeys
    /// HMAC-SHA256 keyed with the index key, the key of the keyed hashes that index personal values.
    private let indexMac: HMACSHA256
    /// HMAC-SHA256 keyed with the nonce key, HMAC-SHA256(index key, `crmd-row-nonce-v1`).
    private let nonceMac: HMACSHA256
    /// Rows recently sealed or opened with `remember`, by context: a row read back right after it was
    /// written (the decision state reads a customer for `decide`, then again to fold the event) is not
    /// decrypted again. Entries of a deleted key are dropped with it (``forget(_:)``).
    private let recent = Mutex<[[UInt8]: Recent]>([:])
    /// Most recent rows kept; the memo starts over beyond it.
    static let recentLimit = 8192

    /// A stored row and what it opens to.
    private struct Recent {
        var stored: [UInt8]
        var number: UInt64
        var row: [UInt8]
    }

    /// What a stored row holds, once opened.
    public enum Opened: Sendable, Hashable {
        /// The row as written.
        case row([UInt8])
        /// A row written when its subject's key was gone: readable, its personal fields `null`.
        case withoutKey([UInt8])
        /// A sealed row whose key is gone (erased, or never known here): nothing of it can be read.
        case unavailable
    }

    /// A cipher over `keys`, indexing personal values under `indexKey`.
    public init(keys: any PiiKeys, indexKey: SymmetricKey) {
        self.keys = keys
        self.indexMac = HMACSHA256(key: indexKey)
        let nonceKey = HMAC<SHA256>.authenticationCode(for: Array("crmd-row-nonce-v1".utf8), using: indexKey)
        self.nonceMac = HMACSHA256(key: SymmetricKey(data: nonceKey))
    }

    /// The first byte of a row stored without a key.
    public static let plainTag: UInt8 = 0x00
    static let sealedTag: UInt8 = 0x01
    static let withoutKeyTag: UInt8 = 0x02

    // MARK: - Rows

    /// `row` as stored: sealed under key `number` and bound to `context` (the table and the row's
    /// key), or marked as written without a key when key `number` is gone; `row` as it is behind a
    /// plain tag when `number` is `nil`. With `remember`, opening the result soon after costs no
    /// decryption (for rows read back often, such as the decision state's).
    public func seal(_ row: [UInt8], number: UInt64?, context: [UInt8], remember: Bool = false) -> [UInt8] {
        guard let number else { return [RowCipher.plainTag] + row }
        var out = [UInt8]()
        out.reserveCapacity(row.count + 40)
        guard let key = self.keys.readingKey(number) else {
            out.append(RowCipher.withoutKeyTag)
            BinaryRowWriter.appendLEB128(number, to: &out)
            out.append(contentsOf: row)
            return out
        }
        out.append(RowCipher.sealedTag)
        BinaryRowWriter.appendLEB128(number, to: &out)
        // In one temporary buffer (wiped after): the nonce's input, number ‖ associated data ‖ row, in
        // one piece for one HMAC update, then its code, whose first 12 bytes are the nonce.
        let aadCount = RowCipher.associatedDataCount(context)
        let inputCount = 8 + aadCount + row.count
        withUnsafeTemporaryAllocation(byteCount: inputCount + 32, alignment: 16) { scratch in
            defer { explicit_bzero(scratch.baseAddress!, scratch.count) }
            scratch.storeBytes(of: number.bigEndian, as: UInt64.self)
            RowCipher.writeAssociatedData(context, into: UnsafeMutableRawBufferPointer(rebasing: scratch[8...]))
            UnsafeMutableRawBufferPointer(rebasing: scratch[(8 + aadCount)...]).copyBytes(from: row)
            let digest = UnsafeMutableRawBufferPointer(rebasing: scratch[inputCount...])
            self.nonceMac.code(UnsafeRawBufferPointer(rebasing: scratch[..<inputCount]), into: digest)
            let nonce = UnsafeRawBufferPointer(rebasing: digest[..<AESGCM.nonceSize])
            out.append(contentsOf: nonce)
            row.withUnsafeBytes { row in
                AESGCM.seal(
                    row, key: key, nonce: nonce,
                    authenticating: UnsafeRawBufferPointer(rebasing: scratch[8..<(8 + aadCount)]), appendingTo: &out
                )
            }
        }
        if remember { self.remember(context, Recent(stored: out, number: number, row: row)) }
        return out
    }

    /// Keeps `recent` as the row last seen under `context`.
    private func remember(_ context: [UInt8], _ recent: Recent) {
        self.recent.withLock { memo in
            if memo.count >= RowCipher.recentLimit { memo.removeAll(keepingCapacity: true) }
            memo[context] = recent
        }
    }

    /// The row `stored` opens to under `context` when it was sealed or opened lately.
    private func recalled(_ stored: UnsafeRawBufferPointer, _ context: [UInt8]) -> [UInt8]? {
        self.recent.withLock { memo in
            guard let recent = memo[context], recent.stored.elementsEqual(stored) else { return nil }
            return recent.row
        }
    }

    /// The row `stored` holds (see ``seal(_:number:context:)``), or `nil` when `stored` is not a
    /// stored row at all (damaged).
    public func open(_ stored: UnsafeRawBufferPointer, context: [UInt8], remember: Bool = false) -> Opened? {
        guard let tag = stored.first else { return nil }
        switch tag {
        case RowCipher.plainTag:
            return .row(Array(stored.dropFirst()))
        case RowCipher.withoutKeyTag:
            var offset = 1
            guard RowCipher.readVarint(stored, &offset) != nil else { return nil }
            return .withoutKey(Array(stored[offset...]))
        case RowCipher.sealedTag:
            var offset = 1
            guard let number = RowCipher.readVarint(stored, &offset), stored.count - offset >= 12 + 16 else {
                return nil
            }
            if remember, let row = self.recalled(stored, context) { return .row(row) }
            guard let key = self.keys.readingKey(number) else { return .unavailable }
            let nonce = UnsafeRawBufferPointer(rebasing: stored[offset..<(offset + AESGCM.nonceSize)])
            let sealed = UnsafeRawBufferPointer(rebasing: stored[(offset + AESGCM.nonceSize)...])
            let aadCount = RowCipher.associatedDataCount(context)
            let opened = withUnsafeTemporaryAllocation(byteCount: aadCount, alignment: 1) { aad in
                RowCipher.writeAssociatedData(context, into: aad)
                return AESGCM.open(sealed, key: key, nonce: nonce, authenticating: UnsafeRawBufferPointer(aad))
            }
            guard let row = opened else { return .unavailable }
            if remember { self.remember(context, Recent(stored: Array(stored), number: number, row: row)) }
            return .row(row)
        default:
            return nil
        }
    }

    /// ``open(_:context:)-(UnsafeRawBufferPointer,_)`` of a row held in an array.
    public func open(_ stored: [UInt8], context: [UInt8], remember: Bool = false) -> Opened? {
        stored.withUnsafeBytes { self.open($0, context: context, remember: remember) }
    }

    /// The number of the data key a stored row was written with, or `nil` for a row written without
    /// one (or not a stored row).
    public static func number(of stored: UnsafeRawBufferPointer) -> UInt64? {
        guard let tag = stored.first, tag == RowCipher.sealedTag || tag == RowCipher.withoutKeyTag else { return nil }
        var offset = 1
        return RowCipher.readVarint(stored, &offset)
    }

    /// ``number(of:)-(UnsafeRawBufferPointer)`` of a row held in an array.
    public static func number(of stored: [UInt8]) -> UInt64? {
        stored.withUnsafeBytes { RowCipher.number(of: $0) }
    }

    /// `crmd-row-v1|` that begins the associated data.
    private static let associatedDataPrefix = Array("crmd-row-v1|".utf8)

    /// The length of the associated data of `context`.
    private static func associatedDataCount(_ context: [UInt8]) -> Int {
        RowCipher.associatedDataPrefix.count + context.count
    }

    /// Writes the associated data of `context`, `crmd-row-v1|` ‖ `context` (what a sealed row is bound
    /// to), to the start of `out`.
    private static func writeAssociatedData(_ context: [UInt8], into out: UnsafeMutableRawBufferPointer) {
        let prefix = RowCipher.associatedDataPrefix.count
        out.copyBytes(from: RowCipher.associatedDataPrefix)
        UnsafeMutableRawBufferPointer(rebasing: out[prefix..<(prefix + context.count)]).copyBytes(from: context)
    }

    /// Whether data key `number` can be read (it was not erased, and this key store knows it).
    public func hasKey(_ number: UInt64) -> Bool { self.keys.readingKey(number) != nil }

    /// Forgets every row recalled under data key `number` (its key was deleted).
    public func forget(_ number: UInt64) {
        self.recent.withLock { memo in
            for (context, recent) in memo where recent.number == number { memo[context] = nil }
        }
    }

    // MARK: - Keyed hashes

    /// The index key of the personal value `text` (already in its comparison form): HMAC-SHA256 under
    /// the index key, 32 bytes. Equal values give equal keys; the value cannot be read back, and
    /// without the index key it cannot be guessed by hashing candidates.
    public func indexKey(_ text: String) -> [UInt8] {
        var text = text
        return text.withUTF8 { self.indexMac.code(UnsafeRawBufferPointer($0)) }
    }

    // MARK: - Varints

    /// The LEB128 number at `offset` of `bytes` (``CRMDomain/BinaryRowWriter/appendLEB128(_:to:)`` writes
    /// it), consumed; `nil` when it is cut short.
    private static func readVarint(_ bytes: UnsafeRawBufferPointer, _ offset: inout Int) -> UInt64? {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while offset < bytes.count, shift < 64 {
            let byte = bytes[offset]
            offset += 1
            value |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return value }
            shift += 7
        }
        return nil
    }
}

/// The hash that stands for an email address in campaign recipients and `EmailFlagged`: the keyed hash
/// (HMAC under the index key) when personal data is encrypted, a SHA-256 otherwise; hex.
public enum AddressHash {
    /// The hash of `key` (an address in its comparison form, lower-cased).
    public static func of(_ key: String, cipher: RowCipher?) -> String {
        if let cipher { return hexString(cipher.indexKey(key)) }
        return hexString(Array(SHA256.hash(data: Array(key.utf8))))
    }
}
