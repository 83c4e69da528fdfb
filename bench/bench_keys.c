/* Keys and entries benchmark: libcachekit against the raw C libraries doing the same core work.
 *  1. cachekit_key_auto (decode + canonicalize the arguments, Blake2b-256, key text) vs libb2's
 *     blake2b over the already-canonical msgpack plus snprintf of the key;
 *  2. cachekit_entry_encode + cachekit_entry_decode, auto mode, plain, on a ~1 KiB and ~64 KiB
 *     document vs raw LZ4_compress_default + XXH3_64bits + LZ4_decompress_safe + XXH3_64bits
 *     (the envelope's work without framing, header JSON or document validation);
 *  3. the same entry round trip encrypted vs plain.
 * Ratios come from one run. */
#define _POSIX_C_SOURCE 200809L
#include <blake2.h>
#include <lz4.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "cachekit.h"
#include "common.h"



static void bench_keys(void) {
    /* f(42, "alice", {"offset": 0, "limit": 10}) with kwargs {"verbose": true} */
    const uint8_t args[] = {0x93, 0x2a, 0xa5, 'a', 'l', 'i', 'c', 'e', 0x82, 0xa6, 'o', 'f', 'f', 's', 'e', 't', 0x00,
                            0xa5, 'l', 'i', 'm', 'i', 't', 0x0a};
    const uint8_t kwargs[] = {0x81, 0xa7, 'v', 'e', 'r', 'b', 'o', 's', 'e', 0xc3};
    /* the canonical [args, kwargs] as cachekit hashes it (inner map sorted) */
    const uint8_t canonical[] = {0x92, 0x93, 0x2a, 0xa5, 'a', 'l', 'i', 'c', 'e', 0x82, 0xa5, 'l', 'i', 'm', 'i', 't', 0x0a,
                                 0xa6, 'o', 'f', 'f', 's', 'e', 't', 0x00, 0x81, 0xa7, 'v', 'e', 'r', 'b', 'o', 's', 'e', 0xc3};
    const int rounds = 200000;
    int i, status;
    double t0 = 0, ours, raw;
    char key[512];
    volatile size_t sink = 0;
    for (i = 0; i < rounds; i++) {
        cachekit_buffer out = {NULL, 0};
        if (i == 1) t0 = now();
        if ((status = cachekit_key_auto("app", "app.users.get_user", args, sizeof args, kwargs, sizeof kwargs, 1, NULL, &out)) != 0)
            die("key_auto", status);
        sink += out.len;
        cachekit_buffer_free(&out);
    }
    t0 = now();
    for (i = 0; i < rounds; i++) {
        cachekit_buffer out = {NULL, 0};
        cachekit_key_auto("app", "app.users.get_user", args, sizeof args, kwargs, sizeof kwargs, 1, NULL, &out);
        sink += out.len;
        cachekit_buffer_free(&out);
    }
    ours = (now() - t0) / rounds;
    t0 = now();
    for (i = 0; i < rounds; i++) {
        uint8_t digest[32];
        char hex[65];
        int k;
        blake2b(digest, canonical, NULL, 32, sizeof canonical, 0);
        for (k = 0; k < 32; k++) { static const char d[] = "0123456789abcdef"; hex[2 * k] = d[digest[k] >> 4]; hex[2 * k + 1] = d[digest[k] & 15]; }
        hex[64] = 0;
        sink += (size_t)snprintf(key, sizeof key, "ns:%s:func:%s:args:%s:1s", "app", "app.users.get_user", hex);
    }
    raw = (now() - t0) / rounds;
    printf("key_auto:                 ours %7.2f us   raw blake2b+snprintf %7.2f us   ratio %.2fx\n",
           ours * 1e6, raw * 1e6, ours / raw);
    (void)sink;
}

static void bench_entries(size_t strings, cachekit_keyring *keyring) {
    size_t len, i;
    uint8_t *doc = bench_text_document(strings, &len);
    const char *key = "t:default:func:app.f:args:3870b2ea5735ae639ded9450ef117768db676f037bec636503796c5b81095153:1s";
    int rounds = strings > 100 ? 2000 : 50000, r, status;
    double t0 = 0, plain, raw, secure;
    char *block = malloc((size_t)LZ4_compressBound((int)len));
    uint8_t *back = malloc(len);
    volatile uint64_t sink = 0;
    if (block == NULL || back == NULL) exit(1);

    for (r = -1; r < rounds; r++) {
        cachekit_buffer value = {NULL, 0}, inner = {NULL, 0};
        if (r == 0) t0 = now();
        if ((status = cachekit_entry_encode(doc, len, CACHEKIT_MODE_AUTO, key, NULL, NULL, 0, &value)) != 0) die("encode", status);
        if ((status = cachekit_entry_decode(value.data, value.len, CACHEKIT_MODE_AUTO, key, NULL, NULL, 0, &inner)) != 0) die("decode", status);
        if (inner.len != len) die("round trip", -1);
        cachekit_buffer_free(&value);
        cachekit_buffer_free(&inner);
    }
    plain = (now() - t0) / rounds;

    t0 = now();
    for (r = 0; r < rounds; r++) {
        int c = LZ4_compress_default((const char *)doc, block, (int)len, LZ4_compressBound((int)len));
        uint64_t h = XXH3_64bits(doc, len);
        int d = LZ4_decompress_safe(block, (char *)back, c, (int)len);
        sink += h + XXH3_64bits(back, (size_t)d);
    }
    raw = (now() - t0) / rounds;

    for (r = -1; r < rounds; r++) {
        cachekit_buffer value = {NULL, 0}, inner = {NULL, 0};
        if (r == 0) t0 = now();
        if ((status = cachekit_entry_encode(doc, len, CACHEKIT_MODE_AUTO, key, keyring, NULL, 0, &value)) != 0) die("encode secure", status);
        if ((status = cachekit_entry_decode(value.data, value.len, CACHEKIT_MODE_AUTO, key, keyring, NULL, 0, &inner)) != 0) die("decode secure", status);
        cachekit_buffer_free(&value);
        cachekit_buffer_free(&inner);
    }
    secure = (now() - t0) / rounds;

    printf("entry round trip %6zu B: ours plain %8.2f us   raw lz4+xxh3 %8.2f us   ratio %.2fx   secure %8.2f us (%.2fx plain)\n",
           len, plain * 1e6, raw * 1e6, plain / raw, secure * 1e6, secure / plain);
    for (i = 0; i < 1; i++) (void)sink;
    free(doc);
    free(block);
    free(back);
}

int main(void) {
    cachekit_keyring *keyring = NULL;
    int status;
    if ((status = cachekit_keyring_new("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", NULL, &keyring)) != 0)
        die("keyring_new", status);
    bench_keys();
    bench_entries(20, keyring);     /* ~1 KiB */
    bench_entries(1300, keyring);   /* ~64 KiB */
    cachekit_keyring_free(keyring);
    return 0;
}
