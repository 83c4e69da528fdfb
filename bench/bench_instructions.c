/* Instructions and nanoseconds per operation of each hot path, libcachekit beside its raw-C
 * baseline, in one run:
 *   l1_plain_1k    cachekit_cache_get, plain L1 hit, 1 KiB    vs a C hash map behind one mutex
 *   l1_secure_100  cachekit_cache_get, secure L1 hit, 100 B   vs raw EVP AES-256-GCM decrypt
 *   l1_secure_1k   the same at 1 KiB                          (reused context, same sizes)
 *   key_auto       cachekit_key_auto, 3 args + 1 kwarg        vs libb2 + snprintf
 *   entry_1k       entry encode + decode, plain, ~1 KiB       vs LZ4 + XXH3 both ways
 *   entry_64k      the same at ~64 KiB
 * Run plainly it prints ns/op. Under `valgrind --tool=callgrind` (scripts/bench.sh --instructions)
 * each loop is bracketed by CALLGRIND_ZERO_STATS and CALLGRIND_DUMP_STATS_AT("path side ops"), so
 * the script reads instructions per operation from the dumps: a count that does not depend on
 * how busy the shared machine is. CACHEKIT_BENCH_OPS sets the loop length (default 20000). */
#define _POSIX_C_SOURCE 200809L
#include <blake2.h>
#include <lz4.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <valgrind/callgrind.h>
#include <xxhash.h>

#include "cachekit.h"
#include "common.h"

static long ops = 20000;

/* One measured loop: zeroes the counters, runs `body` ops times, dumps them under a name the
 * script parses, and prints ns/op (meaningless under valgrind, which the script ignores). */
#define MEASURE(path, side, body)                                                      \
    do {                                                                               \
        char dump_name[96];                                                            \
        long op_;                                                                      \
        uint64_t t0_;                                                                  \
        for (op_ = 0; op_ < ops / 10 + 1; op_++) { body; } /* warm-up */               \
        snprintf(dump_name, sizeof dump_name, "%s %s %ld", path, side, ops);           \
        CALLGRIND_ZERO_STATS;                                                          \
        t0_ = now_ns();                                                                \
        for (op_ = 0; op_ < ops; op_++) { body; }                                      \
        CALLGRIND_DUMP_STATS_AT(dump_name);                                            \
        printf("%-14s %-12s %10.1f ns/op\n", path, side, (double)(now_ns() - t0_) / (double)ops); \
    } while (0)

static const char HOT_KEY[] = "ns:bench:func:app.hot:args:3870b2ea5735ae639ded9450ef117768:1s";
static const char MASTER[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/* A MessagePack bin document of n pseudo-random bytes. */
static size_t make_doc(uint8_t *out, size_t n) {
    size_t i;
    unsigned seed = 11;
    out[0] = 0xc5; out[1] = (uint8_t)(n >> 8); out[2] = (uint8_t)n;
    for (i = 0; i < n; i++) { seed = seed * 1103515245u + 12345u; out[3 + i] = (uint8_t)(seed >> 16); }
    return n + 3;
}

/* ---- baselines ---- */

struct cmap_entry { uint64_t hash; char *key; size_t key_len; uint8_t *value; size_t value_len; };
static struct cmap_entry cmap_slots[1024];
static pthread_mutex_t cmap_lock = PTHREAD_MUTEX_INITIALIZER;

static void cmap_put(const char *key, size_t key_len, const uint8_t *v, size_t n) {
    uint64_t h = XXH3_64bits(key, key_len);
    struct cmap_entry *e = &cmap_slots[h & 1023];
    e->hash = h; e->key = strndup(key, key_len); e->key_len = key_len;
    e->value = malloc(n); memcpy(e->value, v, n); e->value_len = n;
}

/* Not inlined: inlined into raw_hit, GCC 12 -O2 drops the malloc, memcpy and free of a result
 * nobody reads, and the baseline measured a probe under the mutex without its copy. */
static __attribute__((noinline)) int cmap_get(const char *key, size_t key_len, cachekit_buffer *out) {
    uint64_t h = XXH3_64bits(key, key_len);
    size_t i = h & 1023;
    pthread_mutex_lock(&cmap_lock);
    while (cmap_slots[i].key) {
        struct cmap_entry *e = &cmap_slots[i];
        if (e->hash == h && e->key_len == key_len && memcmp(e->key, key, key_len) == 0) {
            out->data = malloc(e->value_len);
            memcpy(out->data, e->value, e->value_len);
            out->len = e->value_len;
            pthread_mutex_unlock(&cmap_lock);
            return 0;
        }
        i = (i + 1) & 1023;
    }
    pthread_mutex_unlock(&cmap_lock);
    return 1;
}

/* AES-256-GCM over n bytes with a context set up once: the floor of a secure L1 hit. */
struct gcm { EVP_CIPHER_CTX *ctx; uint8_t nonce[12], tag[16], aad[64], *cipher; size_t n; };

static void gcm_setup(struct gcm *g, size_t n) {
    static const uint8_t key[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    uint8_t *plain = calloc(1, n);
    int len = 0;
    g->n = n;
    g->cipher = malloc(n);
    memset(g->nonce, 7, sizeof g->nonce);
    memset(g->aad, 'k', sizeof g->aad);
    g->ctx = EVP_CIPHER_CTX_new();
    if (!plain || !g->cipher || !g->ctx || EVP_EncryptInit_ex(g->ctx, EVP_aes_256_gcm(), NULL, key, g->nonce) != 1 ||
        EVP_EncryptUpdate(g->ctx, NULL, &len, g->aad, sizeof g->aad) != 1 ||
        EVP_EncryptUpdate(g->ctx, g->cipher, &len, plain, (int)n) != 1 || EVP_EncryptFinal_ex(g->ctx, g->cipher, &len) != 1 ||
        EVP_CIPHER_CTX_ctrl(g->ctx, EVP_CTRL_GCM_GET_TAG, 16, g->tag) != 1 ||
        EVP_DecryptInit_ex(g->ctx, EVP_aes_256_gcm(), NULL, key, NULL) != 1) die("raw GCM setup", -1);
    free(plain);
}

static void gcm_open(struct gcm *g) {
    uint8_t *out = malloc(g->n);
    int len = 0;
    if (!out || EVP_DecryptInit_ex(g->ctx, NULL, NULL, NULL, g->nonce) != 1 ||
        EVP_DecryptUpdate(g->ctx, NULL, &len, g->aad, sizeof g->aad) != 1 ||
        EVP_DecryptUpdate(g->ctx, out, &len, g->cipher, (int)g->n) != 1 ||
        EVP_CIPHER_CTX_ctrl(g->ctx, EVP_CTRL_GCM_SET_TAG, 16, g->tag) != 1 ||
        EVP_DecryptFinal_ex(g->ctx, out + len, &len) != 1) die("raw GCM open", -1);
    free(out);
}

/* ---- paths ---- */

static cachekit_cache *l1_cache(const char *mode, const uint8_t *doc, size_t n) {
    cachekit_config *config;
    cachekit_cache *cache;
    int rc;
    if ((rc = cachekit_config_new(&config)) != 0) die("config_new", rc);
    cachekit_config_set(config, "mode", mode);
    if (strcmp(mode, "secure") == 0) cachekit_config_set(config, "master_key", MASTER);
    if ((rc = cachekit_cache_new(config, &cache)) != 0) die("cache_new", rc);
    cachekit_config_free(config);
    if ((rc = cachekit_cache_set(cache, (const uint8_t *)HOT_KEY, sizeof HOT_KEY - 1, doc, n, 0)) != 0) die("set", rc);
    return cache;
}

static void cache_hit(cachekit_cache *cache) {
    cachekit_buffer out;
    int rc = cachekit_cache_get(cache, (const uint8_t *)HOT_KEY, sizeof HOT_KEY - 1, &out);
    if (rc != 0) die("get", rc);
    cachekit_buffer_free(&out);
}

static void raw_hit(void) {
    cachekit_buffer out;
    if (cmap_get(HOT_KEY, sizeof HOT_KEY - 1, &out) != 0) die("cmap get", 1);
    free(out.data);
}

static void l1_paths(void) {
    static uint8_t doc[2048];
    size_t n = make_doc(doc, 1024);
    cachekit_cache *plain = l1_cache("plain", doc, n);
    cmap_put(HOT_KEY, sizeof HOT_KEY - 1, doc, n);
    MEASURE("l1_plain_1k", "libcachekit", cache_hit(plain));
    MEASURE("l1_plain_1k", "raw", raw_hit());
    cachekit_cache_free(plain);
    {
        static const size_t sizes[2] = {100, 1024};
        static const char *names[2] = {"l1_secure_100", "l1_secure_1k"};
        int i;
        for (i = 0; i < 2; i++) {
            struct gcm g;
            cachekit_cache *secure = l1_cache("secure", doc, make_doc(doc, sizes[i]));
            gcm_setup(&g, sizes[i] + 3);
            MEASURE(names[i], "libcachekit", cache_hit(secure));
            MEASURE(names[i], "raw", gcm_open(&g));
            EVP_CIPHER_CTX_free(g.ctx);
            free(g.cipher);
            cachekit_cache_free(secure);
        }
    }
}

static void key_auto(const uint8_t *args, size_t args_len, const uint8_t *kwargs, size_t kwargs_len) {
    cachekit_buffer out = {NULL, 0};
    int rc = cachekit_key_auto("app", "app.users.get_user", args, args_len, kwargs, kwargs_len, 1, NULL, &out);
    if (rc != 0) die("key_auto", rc);
    cachekit_buffer_free(&out);
}

static void raw_key(const uint8_t *canonical, size_t len) {
    static const char digits[] = "0123456789abcdef";
    uint8_t digest[32];
    char hex[65], key[256];
    int k;
    blake2b(digest, canonical, NULL, 32, len, 0);
    for (k = 0; k < 32; k++) { hex[2 * k] = digits[digest[k] >> 4]; hex[2 * k + 1] = digits[digest[k] & 15]; }
    hex[64] = 0;
    if (snprintf(key, sizeof key, "ns:%s:func:%s:args:%s:1s", "app", "app.users.get_user", hex) <= 0) die("snprintf", -1);
}

static void key_path(void) {
    /* f(42, "alice", {"offset": 0, "limit": 10}) with kwargs {"verbose": true}, as bench_keys */
    static const uint8_t args[] = {0x93, 0x2a, 0xa5, 'a', 'l', 'i', 'c', 'e', 0x82, 0xa6, 'o', 'f', 'f', 's', 'e', 't', 0x00,
                                   0xa5, 'l', 'i', 'm', 'i', 't', 0x0a};
    static const uint8_t kwargs[] = {0x81, 0xa7, 'v', 'e', 'r', 'b', 'o', 's', 'e', 0xc3};
    static const uint8_t canonical[] = {0x92, 0x93, 0x2a, 0xa5, 'a', 'l', 'i', 'c', 'e', 0x82, 0xa5, 'l', 'i', 'm', 'i', 't',
                                        0x0a, 0xa6, 'o', 'f', 'f', 's', 'e', 't', 0x00, 0x81, 0xa7, 'v', 'e', 'r', 'b', 'o',
                                        's', 'e', 0xc3};
    MEASURE("key_auto", "libcachekit", key_auto(args, sizeof args, kwargs, sizeof kwargs));
    MEASURE("key_auto", "raw", raw_key(canonical, sizeof canonical));
}


static const char ENTRY_KEY[] = "t:default:func:app.f:args:3870b2ea5735ae639ded9450ef117768db676f037bec636503796c5b81095153:1s";

static void entry_round_trip(const uint8_t *doc, size_t len) {
    cachekit_buffer value = {NULL, 0}, inner = {NULL, 0};
    int rc = cachekit_entry_encode(doc, len, CACHEKIT_MODE_AUTO, ENTRY_KEY, NULL, NULL, 0, &value);
    if (rc != 0) die("encode", rc);
    if ((rc = cachekit_entry_decode(value.data, value.len, CACHEKIT_MODE_AUTO, ENTRY_KEY, NULL, NULL, 0, &inner)) != 0)
        die("decode", rc);
    cachekit_buffer_free(&value);
    cachekit_buffer_free(&inner);
}

static uint64_t raw_round_trip(const uint8_t *doc, size_t len, char *block, uint8_t *back) {
    int c = LZ4_compress_default((const char *)doc, block, (int)len, LZ4_compressBound((int)len));
    uint64_t h = XXH3_64bits(doc, len);
    int d = LZ4_decompress_safe(block, (char *)back, c, (int)len);
    if (d < 0) die("LZ4_decompress_safe", d);
    return h + XXH3_64bits(back, (size_t)d);
}

static void entry_paths(void) {
    static const size_t strings[2] = {20, 1300};
    static const char *names[2] = {"entry_1k", "entry_64k"};
    int i;
    for (i = 0; i < 2; i++) {
        size_t len;
        uint8_t *doc = bench_text_document(strings[i], &len);
        char *block = malloc((size_t)LZ4_compressBound((int)len));
        uint8_t *back = malloc(len);
        volatile uint64_t sink = 0;
        long saved = ops;
        if (!block || !back) exit(1);
        if (i == 1) ops = ops / 20 + 1; /* 64 KiB is 60x the work of 1 KiB */
        MEASURE(names[i], "libcachekit", entry_round_trip(doc, len));
        MEASURE(names[i], "raw", sink += raw_round_trip(doc, len, block, back));
        ops = saved;
        (void)sink;
        free(doc); free(block); free(back);
    }
}

int main(int argc, char **argv) {
    const char *env = getenv("CACHEKIT_BENCH_OPS");
    int i;
    if (env && atol(env) > 0) ops = atol(env);
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "l1") == 0) l1_paths();
        else if (strcmp(argv[i], "keys") == 0) key_path();
        else if (strcmp(argv[i], "entries") == 0) entry_paths();
        else { fprintf(stderr, "unknown path group %s (l1, keys, entries)\n", argv[i]); return 2; }
    }
    if (argc == 1) { l1_paths(); key_path(); entry_paths(); }
    return 0;
}
