/* Crypto benchmark: libcachekit's secure path against the plain path and against raw OpenSSL.
 *  1. secure store+retrieve (envelope + AES-256-GCM through a keyring) vs plain (envelope only),
 *     at 1 KiB and 64 KiB;
 *  2. our GCM (cachekit_keyring_encrypt + cachekit_keyring_decrypt, which allocate their output)
 *     vs raw EVP calls on a pre-keyed context into a preallocated buffer, on the same data.
 * Ratios come from one run. Target: our GCM within 1.2x of raw EVP at 64 KiB. */
#define _POSIX_C_SOURCE 200809L
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cachekit.h"
#include "common.h"

#define MASTER_HEX "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"


/* Cache-like data: repetitive msgpack-ish text with some noise, so LZ4 has work to do. */
static void fill(uint8_t *data, size_t len) {
    size_t i;
    unsigned seed = 12345;
    static const char words[] = "user name email ids active score created_at tags ";
    for (i = 0; i < len; i++) {
        seed = seed * 1103515245u + 12345u;
        data[i] = (seed >> 16) % 7 == 0 ? (uint8_t)(seed >> 8) : (uint8_t)words[i % (sizeof words - 1)];
    }
}

static cachekit_keyring *keyring;
static const char *tenant = "default";
static uint8_t aad[512];
static size_t aad_len;

static void secure_round(const uint8_t *data, size_t len) {
    cachekit_buffer envelope = {NULL, 0}, sealed = {NULL, 0}, opened = {NULL, 0}, value = {NULL, 0};
    char fingerprint[CACHEKIT_FINGERPRINT_HEX_SIZE];
    int status;
    if ((status = cachekit_envelope_store(data, len, NULL, &envelope)) != 0) die("envelope_store", status);
    if ((status = cachekit_keyring_encrypt(keyring, tenant, envelope.data, envelope.len, aad, aad_len, &sealed, fingerprint)) != 0)
        die("encrypt", status);
    cachekit_buffer_free(&envelope);
    if ((status = cachekit_keyring_decrypt(keyring, tenant, sealed.data, sealed.len, aad, aad_len, fingerprint, &opened)) != 0)
        die("decrypt", status);
    if ((status = cachekit_envelope_retrieve(opened.data, opened.len, &value, NULL, 0)) != 0) die("envelope_retrieve", status);
    if (value.len != len) die("size check", -1);
    cachekit_buffer_free(&sealed);
    cachekit_buffer_free(&opened);
    cachekit_buffer_free(&value);
}

static void plain_round(const uint8_t *data, size_t len) {
    cachekit_buffer envelope = {NULL, 0}, value = {NULL, 0};
    int status;
    if ((status = cachekit_envelope_store(data, len, NULL, &envelope)) != 0) die("envelope_store", status);
    if ((status = cachekit_envelope_retrieve(envelope.data, envelope.len, &value, NULL, 0)) != 0) die("envelope_retrieve", status);
    if (value.len != len) die("size check", -1);
    cachekit_buffer_free(&envelope);
    cachekit_buffer_free(&value);
}

static void our_gcm_round(const uint8_t *data, size_t len) {
    cachekit_buffer sealed = {NULL, 0}, opened = {NULL, 0};
    int status;
    if ((status = cachekit_keyring_encrypt(keyring, tenant, data, len, aad, aad_len, &sealed, NULL)) != 0) die("encrypt", status);
    if ((status = cachekit_keyring_decrypt(keyring, tenant, sealed.data, sealed.len, aad, aad_len, NULL, &opened)) != 0)
        die("decrypt", status);
    cachekit_buffer_free(&sealed);
    cachekit_buffer_free(&opened);
}

static EVP_CIPHER_CTX *raw_ctx;
static uint8_t *raw_sealed, *raw_opened;
static uint64_t raw_counter;

static void raw_gcm_round(const uint8_t *data, size_t len) {
    uint8_t nonce[12] = {0};
    uint8_t tag[16];
    int out_len = 0, final_len = 0;
    raw_counter++;
    memcpy(nonce + 4, &raw_counter, sizeof raw_counter);
    if (EVP_EncryptInit_ex(raw_ctx, NULL, NULL, NULL, nonce) != 1 ||
        EVP_EncryptUpdate(raw_ctx, NULL, &out_len, aad, (int)aad_len) != 1 ||
        EVP_EncryptUpdate(raw_ctx, raw_sealed, &out_len, data, (int)len) != 1 ||
        EVP_EncryptFinal_ex(raw_ctx, raw_sealed + out_len, &final_len) != 1 ||
        EVP_CIPHER_CTX_ctrl(raw_ctx, EVP_CTRL_GCM_GET_TAG, 16, tag) != 1)
        die("raw encrypt", -1);
    if (EVP_DecryptInit_ex(raw_ctx, NULL, NULL, NULL, nonce) != 1 ||
        EVP_DecryptUpdate(raw_ctx, NULL, &out_len, aad, (int)aad_len) != 1 ||
        EVP_DecryptUpdate(raw_ctx, raw_opened, &out_len, raw_sealed, (int)len) != 1 ||
        EVP_CIPHER_CTX_ctrl(raw_ctx, EVP_CTRL_GCM_SET_TAG, 16, tag) != 1 ||
        EVP_DecryptFinal_ex(raw_ctx, raw_opened + out_len, &final_len) != 1)
        die("raw decrypt", -1);
}

/* ns per round, best of 5 batches sized to about 0.1 s each. */
static double measure(void (*round)(const uint8_t *, size_t), const uint8_t *data, size_t len) {
    long iterations = 1, i;
    double best = 1e30, start, elapsed;
    int batch;
    for (;;) {
        start = now();
        for (i = 0; i < iterations; i++) round(data, len);
        elapsed = now() - start;
        if (elapsed > 0.02) break;
        iterations *= 4;
    }
    iterations = (long)((double)iterations * 0.1 / elapsed) + 1;
    for (batch = 0; batch < 5; batch++) {
        start = now();
        for (i = 0; i < iterations; i++) round(data, len);
        elapsed = (now() - start) / (double)iterations;
        if (elapsed < best) best = elapsed;
    }
    return best * 1e9;
}

int main(void) {
    static const size_t sizes[] = {1024, 65536};
    size_t s, key_len = 0, i;
    uint8_t key[32], master[32];
    cachekit_buffer aad_buffer = {NULL, 0};
    int status;

    for (i = 0; i < 32; i++) master[i] = (uint8_t)i;
    if ((status = cachekit_keyring_new(MASTER_HEX, NULL, &keyring)) != 0) die("keyring_new", status);
    if ((status = cachekit_aad_v3(tenant, "t:default:func:bench.f:args:3870b2ea5735ae639ded9450ef117768db676f037bec636503796c5b81095153:1s",
                                  NULL, 1, "msgpack", &aad_buffer)) != 0) die("aad", status);
    aad_len = aad_buffer.len;
    if (aad_len > sizeof aad) die("aad size", -1);
    memcpy(aad, aad_buffer.data, aad_len);
    cachekit_buffer_free(&aad_buffer);
    if ((status = cachekit_derive_domain_key(master, sizeof master, "encryption", tenant, key)) != 0) die("derive", status);
    key_len = sizeof key;
    raw_ctx = EVP_CIPHER_CTX_new();
    if (raw_ctx == NULL || EVP_EncryptInit_ex(raw_ctx, EVP_aes_256_gcm(), NULL, key, NULL) != 1) die("raw init", -1);

    printf("%-10s %14s %14s %8s   %14s %14s %8s\n", "size", "secure ns/op", "plain ns/op", "ratio",
           "our GCM ns/op", "raw EVP ns/op", "ratio");
    for (s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t len = sizes[s];
        uint8_t *data = malloc(len);
        double secure, plain, ours, raw;
        raw_sealed = malloc(len + 16);
        raw_opened = malloc(len + 16);
        if (data == NULL || raw_sealed == NULL || raw_opened == NULL) die("malloc", -1);
        fill(data, len);
        secure = measure(secure_round, data, len);
        plain = measure(plain_round, data, len);
        ours = measure(our_gcm_round, data, len);
        raw = measure(raw_gcm_round, data, len);
        printf("%-10zu %14.0f %14.0f %7.2fx   %14.0f %14.0f %7.2fx   (GCM %.0f MB/s vs raw %.0f MB/s)\n", len, secure, plain,
               secure / plain, ours, raw, ours / raw, 2.0 * (double)len / ours * 1e3, 2.0 * (double)len / raw * 1e3);
        free(data);
        free(raw_sealed);
        free(raw_opened);
    }
    printf("(store+retrieve and encrypt+decrypt round trips; ratios from this run; key %zu bytes)\n", key_len);
    EVP_CIPHER_CTX_free(raw_ctx);
    cachekit_keyring_free(keyring);
    return 0;
}
