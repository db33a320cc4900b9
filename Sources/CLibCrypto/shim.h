#ifndef CLIBCRYPTO_SHIM_H
#define CLIBCRYPTO_SHIM_H
// AES-256-GCM, AES key wrap and HMAC-SHA256 through OpenSSL's libcrypto (Debian libssl-dev), for
// crmd's AESGCM, AESKeyWrap and HMACSHA256 (CRMEventStore): a context is made once and re-keyed (AES)
// or started over (HMAC) for each message, which costs a third to a half of what swift-crypto's calls
// do on short messages; key wrap works on many keys at once. Each function returns 1 on success, 0
// otherwise (for opening: also when the tag does not match; key wrap says per key which unwrapped).
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <string.h>

/// A new AES-256-GCM context without a key, or NULL.
static inline EVP_CIPHER_CTX *crmd_gcm_context_new(void) {
    EVP_CIPHER_CTX *context = EVP_CIPHER_CTX_new();
    if (context == NULL) return NULL;
    if (EVP_CipherInit_ex2(context, EVP_aes_256_gcm(), NULL, NULL, 1, NULL) != 1) {
        EVP_CIPHER_CTX_free(context);
        return NULL;
    }
    return context;
}

/// Encrypts `length` bytes of `input` into `output` (as many bytes) under the 32-byte `key` and the
/// 12-byte `nonce`, authenticating `aad`, and writes the 16-byte tag to `tag`.
static inline int crmd_gcm_seal(EVP_CIPHER_CTX *context, const unsigned char *key, const unsigned char *nonce,
                                const unsigned char *aad, int aadLength, const unsigned char *input, int length,
                                unsigned char *output, unsigned char *tag) {
    int written = 0;
    if (EVP_CipherInit_ex2(context, NULL, key, nonce, 1, NULL) != 1) return 0;
    if (aadLength > 0 && EVP_CipherUpdate(context, NULL, &written, aad, aadLength) != 1) return 0;
    if (length > 0 && EVP_CipherUpdate(context, output, &written, input, length) != 1) return 0;
    if (EVP_CipherFinal_ex(context, output + (length > 0 ? written : 0), &written) != 1) return 0;
    return EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_GET_TAG, 16, tag) == 1;
}

/// Decrypts `length` bytes of `input` into `output` under `key` and `nonce`, authenticating `aad`; 0
/// when the 16-byte `tag` does not match (then `output` must not be used).
static inline int crmd_gcm_open(EVP_CIPHER_CTX *context, const unsigned char *key, const unsigned char *nonce,
                                const unsigned char *aad, int aadLength, const unsigned char *input, int length,
                                const unsigned char *tag, unsigned char *output) {
    int written = 0;
    if (EVP_CipherInit_ex2(context, NULL, key, nonce, 0, NULL) != 1) return 0;
    if (aadLength > 0 && EVP_CipherUpdate(context, NULL, &written, aad, aadLength) != 1) return 0;
    if (length > 0 && EVP_CipherUpdate(context, output, &written, input, length) != 1) return 0;
    if (EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_TAG, 16, (void *)tag) != 1) return 0;
    return EVP_CipherFinal_ex(context, output + (length > 0 ? written : 0), &written) == 1;
}

/// A new AES-256-ECB context without a key and without padding, for AES key wrap (below), or NULL.
static inline EVP_CIPHER_CTX *crmd_key_wrap_context_new(void) {
    EVP_CIPHER_CTX *context = EVP_CIPHER_CTX_new();
    if (context == NULL) return NULL;
    if (EVP_CipherInit_ex2(context, EVP_aes_256_ecb(), NULL, NULL, 0, NULL) != 1) {
        EVP_CIPHER_CTX_free(context);
        return NULL;
    }
    EVP_CIPHER_CTX_set_padding(context, 0);
    return context;
}

/// XORs the step counter `t` (64-bit big-endian) into the 8 bytes at `a`.
static inline void crmd_key_wrap_xor_step(unsigned char *a, unsigned long long t) {
    for (int index = 7; index >= 0; index--, t >>= 8) a[index] ^= (unsigned char)(t & 0xff);
}

/// AES key wrap (RFC 3394, the default initial value A6A6A6A6A6A6A6A6) of `count` keys at once under
/// the 32-byte `kek`, on `context` (``crmd_key_wrap_context_new``). Each of the 6 × n steps (n: the key's
/// 64-bit blocks) runs the AES block of every key in one ECB call, so that the AES instructions work on
/// many blocks together: OpenSSL 3.0's own key-wrap cipher runs its AES in portable C, one block at a
/// time (≈ 11 µs a 256-bit key on the development machine, against ≈ 0.5 µs here for 256 keys at once).
///
/// With `encrypt` 1 the `length`-byte keys laid end to end in `input` are wrapped into `length + 8` bytes
/// each in `output`, with `encrypt` 0 the `length + 8`-byte wrapped keys in `input` are unwrapped into
/// `length` bytes each in `output`, and `valid[k]` says whether key `k` unwrapped (0: another KEK, or
/// damaged; its `output` must not be used). `length` is a multiple of 8, at least 16. `scratch` has
/// 24 × `count` bytes; it holds key material afterwards, as `output` does: the caller wipes both.
static inline int crmd_key_wrap_many(EVP_CIPHER_CTX *context, int encrypt, const unsigned char *kek,
                                     const unsigned char *input, int length, int count, unsigned char *output,
                                     unsigned char *valid, unsigned char *scratch) {
    static const unsigned char initial[8] = {0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6};
    if (length < 16 || length % 8 != 0 || count < 1) return 0;
    const int n = length / 8;
    const int wrappedLength = length + 8;
    unsigned char *a = scratch;
    unsigned char *blocks = scratch + 8 * (size_t)count;
    int written = 0;
    if (EVP_CipherInit_ex2(context, NULL, kek, NULL, encrypt, NULL) != 1) return 0;
    EVP_CIPHER_CTX_set_padding(context, 0);
    if (encrypt) {
        for (int k = 0; k < count; k++) {
            memcpy(a + 8 * (size_t)k, initial, 8);
            memcpy(output + (size_t)wrappedLength * k + 8, input + (size_t)length * k, length);
        }
        for (int j = 0; j <= 5; j++) {
            for (int i = 1; i <= n; i++) {
                for (int k = 0; k < count; k++) {
                    memcpy(blocks + 16 * (size_t)k, a + 8 * (size_t)k, 8);
                    memcpy(blocks + 16 * (size_t)k + 8, output + (size_t)wrappedLength * k + 8 * i, 8);
                }
                if (EVP_CipherUpdate(context, blocks, &written, blocks, 16 * count) != 1 || written != 16 * count)
                    return 0;
                for (int k = 0; k < count; k++) {
                    memcpy(a + 8 * (size_t)k, blocks + 16 * (size_t)k, 8);
                    crmd_key_wrap_xor_step(a + 8 * (size_t)k, (unsigned long long)(n * j + i));
                    memcpy(output + (size_t)wrappedLength * k + 8 * i, blocks + 16 * (size_t)k + 8, 8);
                }
            }
        }
        for (int k = 0; k < count; k++) memcpy(output + (size_t)wrappedLength * k, a + 8 * (size_t)k, 8);
        return 1;
    }
    for (int k = 0; k < count; k++) {
        memcpy(a + 8 * (size_t)k, input + (size_t)wrappedLength * k, 8);
        memcpy(output + (size_t)length * k, input + (size_t)wrappedLength * k + 8, length);
    }
    for (int j = 5; j >= 0; j--) {
        for (int i = n; i >= 1; i--) {
            for (int k = 0; k < count; k++) {
                memcpy(blocks + 16 * (size_t)k, a + 8 * (size_t)k, 8);
                crmd_key_wrap_xor_step(blocks + 16 * (size_t)k, (unsigned long long)(n * j + i));
                memcpy(blocks + 16 * (size_t)k + 8, output + (size_t)length * k + 8 * (i - 1), 8);
            }
            if (EVP_CipherUpdate(context, blocks, &written, blocks, 16 * count) != 1 || written != 16 * count)
                return 0;
            for (int k = 0; k < count; k++) {
                memcpy(a + 8 * (size_t)k, blocks + 16 * (size_t)k, 8);
                memcpy(output + (size_t)length * k + 8 * (i - 1), blocks + 16 * (size_t)k + 8, 8);
            }
        }
    }
    for (int k = 0; k < count; k++) valid[k] = CRYPTO_memcmp(a + 8 * (size_t)k, initial, 8) == 0;
    return 1;
}

/// A new HMAC-SHA256 context keyed with the `length` bytes of `key`, or NULL.
static inline EVP_MAC_CTX *crmd_hmac_sha256_new(const unsigned char *key, size_t length) {
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (mac == NULL) return NULL;
    EVP_MAC_CTX *context = EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac);
    if (context == NULL) return NULL;
    OSSL_PARAM parameters[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    if (EVP_MAC_init(context, key, length, parameters) != 1) {
        EVP_MAC_CTX_free(context);
        return NULL;
    }
    return context;
}

/// Writes the 32-byte HMAC-SHA256 of the `length` bytes of `data` to `digest`, under the key `context`
/// was made with (started over: a NULL key keeps the one set before).
static inline int crmd_hmac_sha256(EVP_MAC_CTX *context, const unsigned char *data, size_t length,
                                   unsigned char *digest) {
    size_t written = 0;
    if (EVP_MAC_init(context, NULL, 0, NULL) != 1) return 0;
    if (length > 0 && EVP_MAC_update(context, data, length) != 1) return 0;
    return EVP_MAC_final(context, digest, &written, 32) == 1 && written == 32;
}

#endif
