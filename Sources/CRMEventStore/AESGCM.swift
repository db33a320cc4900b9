import CLibCrypto
public import Crypto
import Synchronization

/// AES-256-GCM for the personal data of events and rows, through OpenSSL's libcrypto: a cipher
/// context is kept and re-keyed for each message. swift-crypto's `AES.GCM` makes a context per call
/// and goes through generic `DataProtocol` code, which for the short texts sealed here (a row, a
/// `pii` object) costs about three times the cipher itself (≈ 3.5 µs against ≈ 1.2 µs for 200 bytes
/// on the development machine); a replay of a log with its personal data opened spent half its time
/// there. The bytes are those of any AES-GCM: what either library seals, the other opens
/// (`AESGCMTests`), so logs written before read the same.
enum AESGCM {
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
        let sealed = Context.borrowing { context in
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
                Context.borrowing { context in
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

    /// A libcrypto cipher context for AES-256-GCM; contexts not in use wait in a small pool.
    private final class Context: @unchecked Sendable {
        /// Owned: freed (and its key schedule wiped) with the context.
        let pointer: OpaquePointer

        /// Contexts not in use.
        private static let idle = Mutex<[Context]>([])
        /// Idle contexts kept at most (more threads than this at once make and free their own).
        private static let idleLimit = 16

        private init() {
            guard let pointer = crmd_gcm_context_new() else {
                fatalError("libcrypto could not make an AES-256-GCM context")
            }
            self.pointer = pointer
        }

        deinit { EVP_CIPHER_CTX_free(self.pointer) }

        /// `body` with a context no other thread uses meanwhile.
        static func borrowing<R>(_ body: (OpaquePointer) -> R) -> R {
            let context = Context.idle.withLock { $0.popLast() } ?? Context()
            defer {
                Context.idle.withLock { idle in if idle.count < Context.idleLimit { idle.append(context) } }
            }
            return body(context.pointer)
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
