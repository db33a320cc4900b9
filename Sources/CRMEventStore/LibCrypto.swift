import CLibCrypto
public import Crypto
import Synchronization

/// AES-256-GCM for the personal data of events and rows, through OpenSSL's libcrypto: a cipher
/// context is kept and re-keyed for each message. swift-crypto's `AES.GCM` makes a context per call
/// and goes through generic `DataProtocol` code, which for the short texts sealed here (a row, a
/// `pii` object) costs about three times the cipher itself (≈ 3.5 µs against ≈ 1.2 µs for 200 bytes
/// on the development machine); a replay of a log with its personal data opened spent half its time
/// there. The bytes are those of any AES-GCM: what either library seals, the other opens
/// (`LibCryptoTests`), so logs written before read the same.
public enum AESGCM {
    /// Bytes of a nonce.
    static let nonceSize = 12
    /// Bytes of a tag.
    static let tagSize = 16

    /// Appends the ciphertext of `plaintext` and its tag to `out`, sealed under `key` (256 bits) with
    /// the 12-byte `nonce`, authenticating `aad`.
    static func seal(
        _ plaintext: UnsafeRawBufferPointer,
        key: SymmetricKey,
        nonce: UnsafeRawBufferPointer,
        authenticating aad: UnsafeRawBufferPointer,
        appendingTo out: inout [UInt8]
    ) {
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: plaintext.count + AESGCM.tagSize))
        out.withUnsafeMutableBytes { out in
            AESGCM.seal(
                plaintext, key: key, nonce: nonce, authenticating: aad,
                into: UnsafeMutableRawBufferPointer(rebasing: out[start...])
            )
        }
    }

    /// Writes the ciphertext of `plaintext` and its tag to `out` (exactly `plaintext.count + 16` bytes),
    /// sealed under `key` (256 bits) with the 12-byte `nonce`, authenticating `aad`.
    static func seal(
        _ plaintext: UnsafeRawBufferPointer,
        key: SymmetricKey,
        nonce: UnsafeRawBufferPointer,
        authenticating aad: UnsafeRawBufferPointer,
        into out: UnsafeMutableRawBufferPointer
    ) {
        precondition(nonce.count == AESGCM.nonceSize && key.bitCount == 256, "AES-256-GCM with a 12-byte nonce")
        precondition(out.count == plaintext.count + AESGCM.tagSize, "room for the ciphertext and its tag")
        let sealed = AESGCM.contexts.borrowing { context in
            key.withUnsafeBytes { key in
                let output = out.baseAddress!.assumingMemoryBound(to: UInt8.self)
                return crmd_gcm_seal(
                    context, key.bytes, nonce.bytes, aad.bytes, Int32(aad.count), plaintext.bytes,
                    Int32(plaintext.count), output, output + plaintext.count
                )
            }
        }
        // Only an allocation failure inside libcrypto can fail a seal with a valid key and nonce.
        precondition(sealed == 1, "AES-256-GCM sealing failed in libcrypto")
    }

    /// The plaintext of `sealed` (ciphertext ‖ 16-byte tag) under `key` and the 12-byte `nonce`,
    /// authenticating `aad`; `nil` when it does not open (another key, nonce or `aad`, or damaged).
    static func open(
        _ sealed: UnsafeRawBufferPointer,
        key: SymmetricKey,
        nonce: UnsafeRawBufferPointer,
        authenticating aad: UnsafeRawBufferPointer
    ) -> [UInt8]? {
        guard sealed.count >= AESGCM.tagSize else { return nil }
        var opened = false
        let plaintext = [UInt8](unsafeUninitializedCapacity: max(sealed.count - AESGCM.tagSize, 1)) { buffer, count in
            opened = AESGCM.open(
                sealed, key: key, nonce: nonce, authenticating: aad, into: UnsafeMutableRawBufferPointer(buffer)
            )
            count = opened ? sealed.count - AESGCM.tagSize : 0
        }
        return opened ? plaintext : nil
    }

    /// Writes the plaintext of `sealed` (ciphertext ‖ 16-byte tag) under `key` and the 12-byte `nonce`,
    /// authenticating `aad`, to the start of `output` (room for `sealed.count - 16` bytes, at least
    /// one); `false` when it does not open (then `output` holds nothing to use).
    static func open(
        _ sealed: UnsafeRawBufferPointer,
        key: SymmetricKey,
        nonce: UnsafeRawBufferPointer,
        authenticating aad: UnsafeRawBufferPointer,
        into output: UnsafeMutableRawBufferPointer
    ) -> Bool {
        guard sealed.count >= AESGCM.tagSize, nonce.count == AESGCM.nonceSize, key.bitCount == 256 else { return false }
        let length = sealed.count - AESGCM.tagSize
        precondition(output.count >= max(length, 1), "room for the plaintext")
        return AESGCM.contexts.borrowing { context in
            key.withUnsafeBytes { key in
                crmd_gcm_open(
                    context, key.bytes, nonce.bytes, aad.bytes, Int32(aad.count), sealed.bytes, Int32(length),
                    sealed.bytes + length, output.baseAddress!.assumingMemoryBound(to: UInt8.self)
                )
            }
        } == 1
    }

    /// AES-256-GCM contexts without a key, for any key.
    private static let contexts = ContextPool(make: crmd_gcm_context_new, free: EVP_CIPHER_CTX_free)

    /// Frees the idle contexts, whose state still holds the key schedule of the last key each used
    /// (libcrypto wipes it as it frees them): called when data keys are deleted, so that an erased
    /// subject's key leaves no trace in this process's memory beyond a context in use at that moment.
    public static func forgetIdleContexts() {
        AESGCM.contexts.drain()
    }
}

/// libcrypto contexts of one kind that threads borrow one at a time; contexts not in use wait in a
/// small pool, and each is freed (its key material wiped by libcrypto) with the pool or beyond its
/// size.
final class ContextPool: @unchecked Sendable {
    /// A context owned by the pool.
    private final class Context: @unchecked Sendable {
        let pointer: OpaquePointer
        let free: (OpaquePointer) -> Void

        init(_ pointer: OpaquePointer, free: @escaping (OpaquePointer) -> Void) {
            self.pointer = pointer
            self.free = free
        }

        deinit { self.free(self.pointer) }
    }

    private let make: () -> OpaquePointer?
    private let free: (OpaquePointer) -> Void
    /// Contexts not in use.
    private let idle = Mutex<[Context]>([])
    /// Idle contexts kept at most (more threads than this at once make and free their own).
    private static let idleLimit = 16

    /// A pool of contexts `make` makes (`nil`: out of memory) and `free` frees.
    init(make: @escaping () -> OpaquePointer?, free: @escaping (OpaquePointer) -> Void) {
        self.make = make
        self.free = free
    }

    /// `body` with a context no other thread uses meanwhile.
    func borrowing<R>(_ body: (OpaquePointer) -> R) -> R {
        let context = self.idle.withLock { $0.popLast() } ?? self.newContext()
        defer {
            self.idle.withLock { idle in if idle.count < ContextPool.idleLimit { idle.append(context) } }
        }
        return body(context.pointer)
    }

    /// Frees every idle context (the ones in use come back to the pool as usual).
    func drain() {
        self.idle.withLock { $0.removeAll() }
    }

    private func newContext() -> Context {
        guard let pointer = self.make() else { fatalError("libcrypto could not make a context (out of memory)") }
        return Context(pointer, free: self.free)
    }
}

/// HMAC-SHA256 under one key through libcrypto, on contexts keyed once (swift-crypto's `HMAC` copied
/// from a keyed state took ≈ 2 µs for 200 bytes on the development machine, this ≈ 0.8 µs). The codes
/// are HMAC-SHA256's (`LibCryptoTests` checks them against swift-crypto's).
final class HMACSHA256: @unchecked Sendable {
    /// The context keyed with the key, which the ones in use are copies of; owned.
    private let keyed: OpaquePointer
    /// Copies of ``keyed``.
    private let contexts: ContextPool

    init(key: SymmetricKey) {
        let keyed = key.withUnsafeBytes { key in
            crmd_hmac_sha256_new(key.baseAddress?.assumingMemoryBound(to: UInt8.self), key.count)
        }
        guard let keyed else { fatalError("libcrypto could not make an HMAC-SHA256 context") }
        self.keyed = keyed
        // Copies are made one at a time (rarely: only while the pool is empty).
        let copying = Mutex(())
        self.contexts = ContextPool(
            make: { copying.withLock { _ in Copy(pointer: EVP_MAC_CTX_dup(keyed)) }.pointer },
            free: EVP_MAC_CTX_free
        )
    }

    deinit { EVP_MAC_CTX_free(self.keyed) }

    /// A copy made under the lock, handed out of it.
    private struct Copy: @unchecked Sendable {
        let pointer: OpaquePointer?
    }

    /// The 32-byte code of `data`.
    func code(_ data: UnsafeRawBufferPointer) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: 32) { digest, count in
            self.code(data, into: UnsafeMutableRawBufferPointer(digest))
            count = 32
        }
    }

    /// Writes the 32-byte code of `data` to the start of `digest`.
    func code(_ data: UnsafeRawBufferPointer, into digest: UnsafeMutableRawBufferPointer) {
        precondition(digest.count >= 32, "room for the code")
        let done = self.contexts.borrowing { context in
            crmd_hmac_sha256(context, data.bytes, data.count, digest.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        precondition(done == 1, "HMAC-SHA256 failed in libcrypto")
    }
}

extension UnsafeMutableRawBufferPointer {
    /// The first byte (the buffer is never empty here).
    fileprivate var mutableBytes: UnsafeMutablePointer<UInt8> { self.baseAddress!.assumingMemoryBound(to: UInt8.self) }
}

extension UnsafeRawBufferPointer {
    /// The bytes as `unsigned char *` for C, never null (libcrypto reads nothing of an empty buffer).
    fileprivate var bytes: UnsafePointer<UInt8> {
        guard let base = self.baseAddress else { return AESGCM.emptyBytes }
        return base.assumingMemoryBound(to: UInt8.self)
    }
}

extension AESGCM {
    /// A valid pointer standing for empty input.
    nonisolated(unsafe) fileprivate static let emptyBytes: UnsafePointer<UInt8> = {
        let byte = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)
        byte.initialize(to: 0)
        return UnsafePointer(byte)
    }()
}

/// AES key wrap (RFC 3394, the default initial value) through libcrypto's AES-256-ECB, for the key
/// store, many keys at a time: a refold after a restart unwraps nearly every data key, a KEK rotation
/// unwraps and wraps them all, and a key-pool refill wraps 256. OpenSSL 3.0's key-wrap cipher runs AES in
/// portable C one block at a time (≈ 11 µs a key; swift-crypto's `AES.KeyWrap` ≈ 4 µs); here each step
/// of the algorithm runs the block of every key of a batch in one call (≈ 0.5 µs a key). The results
/// are RFC 3394's: `LibCryptoTests` checks them against its test vectors and swift-crypto's
/// `AES.KeyWrap` both ways.
public enum AESKeyWrap {
    /// Keys per libcrypto call at most (the scratch space is 24 bytes a key).
    static let batchLimit = 256

    /// The key `wrapped` holds, unwrapped with the 256-bit `kek`; `nil` when it does not unwrap
    /// (another KEK, or damaged).
    public static func unwrap(_ wrapped: [UInt8], using kek: SymmetricKey) -> SymmetricKey? {
        AESKeyWrap.unwrap([wrapped], using: kek)[0]
    }

    /// The keys `wrapped` hold, in their order, unwrapped with the 256-bit `kek`; `nil` for each that
    /// does not unwrap (another KEK, damaged, or not the length of a wrapped key).
    public static func unwrap(_ wrapped: [[UInt8]], using kek: SymmetricKey) -> [SymmetricKey?] {
        var keys = [SymmetricKey?](repeating: nil, count: wrapped.count)
        guard kek.bitCount == 256 else { return keys }
        // Keys of one length at a time, in batches.
        let wellFormed = wrapped.indices.filter { wrapped[$0].count >= 24 && wrapped[$0].count % 8 == 0 }
        let byLength = Dictionary(grouping: wellFormed) { wrapped[$0].count }
        for (length, indices) in byLength {
            for start in stride(from: 0, to: indices.count, by: AESKeyWrap.batchLimit) {
                let batch = indices[start..<min(start + AESKeyWrap.batchLimit, indices.count)]
                let input = batch.flatMap { wrapped[$0] }
                let keyLength = length - 8
                AESKeyWrap.run(encrypt: false, input, keyLength: keyLength, count: batch.count, kek) { output, valid in
                    for (offset, index) in batch.enumerated() where valid[offset] == 1 {
                        keys[index] = SymmetricKey(data: output[(offset * keyLength)..<((offset + 1) * keyLength)])
                    }
                }
            }
        }
        return keys
    }

    /// libcrypto failed to wrap keys (out of memory).
    public struct WrapFailed: Error, CustomStringConvertible {
        public var description: String { "libcrypto could not wrap data keys (AES key wrap)" }
    }

    /// `keys` (each a multiple of 8 bytes, at least 16) wrapped with the 256-bit `kek`, in their order.
    public static func wrap(_ keys: [SymmetricKey], using kek: SymmetricKey) throws(WrapFailed) -> [[UInt8]] {
        precondition(kek.bitCount == 256, "a KEK is a 256-bit key")
        var wrapped = [[UInt8]](repeating: [], count: keys.count)
        // Keys of one length at a time, in batches.
        for (length, indices) in Dictionary(grouping: keys.indices, by: { keys[$0].bitCount / 8 }) {
            precondition(length >= 16 && length % 8 == 0, "AES key wrap takes keys of 8-byte blocks, at least two")
            for start in stride(from: 0, to: indices.count, by: AESKeyWrap.batchLimit) {
                let batch = indices[start..<min(start + AESKeyWrap.batchLimit, indices.count)]
                var input = [UInt8]()
                input.reserveCapacity(batch.count * length)
                for index in batch { keys[index].withUnsafeBytes { input.append(contentsOf: $0) } }
                defer { AESKeyWrap.wipe(&input) }
                let done = AESKeyWrap.run(encrypt: true, input, keyLength: length, count: batch.count, kek) {
                    output, _ in
                    for (offset, index) in batch.enumerated() {
                        wrapped[index] = Array(output[(offset * (length + 8))..<((offset + 1) * (length + 8))])
                    }
                }
                guard done else { throw WrapFailed() }
            }
        }
        return wrapped
    }

    /// One libcrypto call over `count` keys (wrapped with `encrypt`, else unwrapped): `body` gets the
    /// output, `count` results of the output's length a key laid end to end, and which of them are valid
    /// (an unwrapped key that does not check out is not); `false` when libcrypto failed. The output is
    /// wiped after `body`: it may hold keys in the clear.
    @discardableResult
    private static func run(
        encrypt: Bool,
        _ input: [UInt8],
        keyLength: Int,
        count: Int,
        _ kek: SymmetricKey,
        _ body: (_ output: [UInt8], _ valid: [UInt8]) -> Void
    ) -> Bool {
        var output = [UInt8](repeating: 0, count: count * (encrypt ? keyLength + 8 : keyLength))
        var scratch = [UInt8](repeating: 0, count: count * 24)
        var valid = [UInt8](repeating: 1, count: count)
        defer {
            AESKeyWrap.wipe(&output)
            AESKeyWrap.wipe(&scratch)
        }
        let done = AESKeyWrap.contexts.borrowing { context in
            kek.withUnsafeBytes { kek in
                input.withUnsafeBytes { input in
                    output.withUnsafeMutableBytes { output in
                        valid.withUnsafeMutableBytes { valid in
                            scratch.withUnsafeMutableBytes { scratch in
                                crmd_key_wrap_many(
                                    context, encrypt ? 1 : 0, kek.bytes, input.bytes, Int32(keyLength),
                                    Int32(count), output.mutableBytes, valid.mutableBytes, scratch.mutableBytes
                                )
                            }
                        }
                    }
                }
            }
        }
        guard done == 1 else { return false }
        body(output, valid)
        return true
    }

    private static func wipe(_ bytes: inout [UInt8]) {
        bytes.withUnsafeMutableBytes { _ = $0.initializeMemory(as: UInt8.self, repeating: 0) }
    }

    /// AES-256-ECB contexts without a key, for any KEK.
    private static let contexts = ContextPool(make: crmd_key_wrap_context_new, free: EVP_CIPHER_CTX_free)
}
