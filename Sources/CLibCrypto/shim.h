#ifndef CLIBCRYPTO_SHIM_H
#define CLIBCRYPTO_SHIM_H
// AES-256-GCM, AES key unwrap and HMAC-SHA256 through OpenSSL's libcrypto (Debian libssl-dev), for
// crmd's AESGCM, AESKeyWrap and HMACSHA256 (CRMEventStore): a context is made once and re-keyed (AES)
// or started over (HMAC) for each message, which costs a third to a half of what swift-crypto's calls
// do on short messages. Each function returns 1 on success, 0 otherwise (for opening: also when the
// tag does not match; for unwrapping, when the key does not unwrap).
#include <openssl/core_names.h>
#include <openssl/evp.h>

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

/// A new AES-256 key-wrap (RFC 3394) context for unwrapping, without a key, or NULL.
static inline EVP_CIPHER_CTX *crmd_key_unwrap_context_new(void) {
    EVP_CIPHER_CTX *context = EVP_CIPHER_CTX_new();
    if (context == NULL) return NULL;
    EVP_CIPHER_CTX_set_flags(context, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    if (EVP_CipherInit_ex2(context, EVP_aes_256_wrap(), NULL, NULL, 0, NULL) != 1) {
        EVP_CIPHER_CTX_free(context);
        return NULL;
    }
    return context;
}

/// Unwraps the `length` bytes of `wrapped` (a key of `length` - 8 bytes, wrapped with the default
/// initial value) under the 32-byte `kek` into `output`; 0 when they do not unwrap (another KEK, or
/// damaged), then `output` must not be used.
static inline int crmd_key_unwrap(EVP_CIPHER_CTX *context, const unsigned char *kek, const unsigned char *wrapped,
                                  int length, unsigned char *output) {
    int written = 0;
    int final = 0;
    if (length < 24 || length % 8 != 0) return 0;
    if (EVP_CipherInit_ex2(context, NULL, kek, NULL, 0, NULL) != 1) return 0;
    if (EVP_CipherUpdate(context, output, &written, wrapped, length) != 1 || written != length - 8) return 0;
    return EVP_CipherFinal_ex(context, output + written, &final) == 1 && final == 0;
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
