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
        precondition(nonce.count == AESGCM.nonceSize && key.bitCount == 256, "AES-256-GCM with a 12-byte nonce")
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: plaintext.count + AESGCM.tagSize))
        let sealed = AESGCM.contexts.borrowing { context in
            key.withUnsafeBytes { key in
                out.withUnsafeMutableBytes { out in
                    let output = out.baseAddress!.advanced(by: start).assumingMemoryBound(to: UInt8.self)
                    return crmd_gcm_seal(
                        context, key.bytes, nonce.bytes, aad.bytes, Int32(aad.count), plaintext.bytes,
                        Int32(plaintext.count), output, output + plaintext.count
                    )
                }
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
        guard sealed.count >= AESGCM.tagSize, nonce.count == AESGCM.nonceSize, key.bitCount == 256 else { return nil }
        let length = sealed.count - AESGCM.tagSize
        var opened = false
        let plaintext = [UInt8](unsafeUninitializedCapacity: max(length, 1)) { buffer, count in
            opened =
                AESGCM.contexts.borrowing { context in
                    key.withUnsafeBytes { key in
                        crmd_gcm_open(
                            context, key.bytes, nonce.bytes, aad.bytes, Int32(aad.count), sealed.bytes, Int32(length),
                            sealed.bytes + length, buffer.baseAddress!
                        )
                    }
                } == 1
            count = opened ? length : 0
        }
        return opened ? plaintext : nil
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
            let done = self.contexts.borrowing { context in
                crmd_hmac_sha256(context, data.bytes, data.count, digest.baseAddress!)
            }
            precondition(done == 1, "HMAC-SHA256 failed in libcrypto")
            count = 32
        }
    }
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

/// AES key unwrap (RFC 3394, the default initial value) through libcrypto, for the key store: every
/// data key a process reads is unwrapped once, and a refold after a restart reads nearly all of them.
/// swift-crypto's `AES.KeyWrap.unwrap` took ≈ 4 µs a key in a refold's profile (a key schedule and
/// generic `DataProtocol` code per call); this re-keys a pooled context. Keys wrapped with
/// swift-crypto's `AES.KeyWrap.wrap`, as the key store wraps them, unwrap here to the same key
/// (`LibCryptoTests`).
public enum AESKeyWrap {
    /// The key `wrapped` holds, unwrapped with the 256-bit `kek`; `nil` when it does not unwrap
    /// (another KEK, or damaged).
    public static func unwrap(_ wrapped: [UInt8], using kek: SymmetricKey) -> SymmetricKey? {
        guard wrapped.count >= 24, wrapped.count % 8 == 0, kek.bitCount == 256 else { return nil }
        var unwrapped = [UInt8](repeating: 0, count: wrapped.count - 8)
        // Wiped before it is released: it held a data key in the clear.
        defer { _ = unwrapped.withUnsafeMutableBytes { $0.initializeMemory(as: UInt8.self, repeating: 0) } }
        let done = AESKeyWrap.contexts.borrowing { context in
            kek.withUnsafeBytes { kek in
                wrapped.withUnsafeBytes { wrapped in
                    unwrapped.withUnsafeMutableBytes { output in
                        crmd_key_unwrap(
                            context, kek.bytes, wrapped.bytes, Int32(wrapped.count),
                            output.baseAddress!.assumingMemoryBound(to: UInt8.self)
                        )
                    }
                }
            }
        }
        return done == 1 ? SymmetricKey(data: unwrapped) : nil
    }

    /// Key-unwrap contexts without a key, for any KEK.
    private static let contexts = ContextPool(make: crmd_key_unwrap_context_new, free: EVP_CIPHER_CTX_free)
}
