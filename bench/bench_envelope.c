/* Envelope store and retrieve through libcachekit against the same work done by calling liblz4
 * and libxxhash directly (compress + hash + copy into a malloc'd envelope; decompress + hash),
 * at 1 KiB, 64 KiB and 1 MiB, on JSON-like (compressible) and random (incompressible) data.
 * Prints the ratio libcachekit / raw C. */
#define _POSIX_C_SOURCE 200809L
#include "cachekit.h"
#include <lz4.h>
#include <xxhash.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static volatile uint64_t sink;

/* The raw C baseline for store: what any envelope writer must at least do. */
static void raw_store(const uint8_t *data, size_t len, uint8_t **out, size_t *out_len) {
    int bound = LZ4_compressBound((int)len);
    uint8_t *buf = malloc((size_t)bound + 64);
    int clen = LZ4_compress_default((const char *)data, (char *)buf + 6, (int)len, bound);
    uint64_t h = XXH3_64bits(data, len);
    memcpy(buf + 6 + clen, &h, 8);
    *out = buf;
    *out_len = (size_t)clen + 14;
}

static void raw_retrieve(const uint8_t *block, size_t block_len, size_t original, uint8_t **out) {
    uint8_t *buf = malloc(original);
    int n = LZ4_decompress_safe((const char *)block, (char *)buf, (int)block_len, (int)original);
    sink += XXH3_64bits(buf, (size_t)n);
    *out = buf;
}

static size_t iterations_for(size_t size) {
    size_t it = (size_t)(256u << 20) / (size ? size : 1);
    return it < 200 ? 200 : (it > 200000 ? 200000 : it);
}

/* Best of 5 rounds of `iterations` calls, in ns per call. */
#define MEASURE(result, iterations, body)                                   \
    do {                                                                    \
        int round_; double best_ = 1e30;                                    \
        for (round_ = 0; round_ < 5; round_++) {                            \
            size_t i_; double t0_ = now_ns();                               \
            for (i_ = 0; i_ < (iterations); i_++) { body; }                 \
            double t_ = (now_ns() - t0_) / (double)(iterations);            \
            if (t_ < best_) best_ = t_;                                     \
        }                                                                   \
        (result) = best_;                                                   \
    } while (0)

int main(void) {
    const size_t sizes[] = {1024, 64 * 1024, 1024 * 1024};
    size_t s;
    int random_data;
    for (random_data = 0; random_data <= 1; random_data++) {
    printf("\n%s data\n", random_data ? "random (incompressible)" : "JSON-like (compressible)");
    printf("%-8s %-9s %12s %12s %8s %10s\n", "size", "op", "libcachekit", "raw C", "ratio", "MB/s");
    for (s = 0; s < 3; s++) {
        size_t size = sizes[s], i, iterations = iterations_for(size);
        uint8_t *data = malloc(size);
        cachekit_buffer env = {NULL, 0}, back = {NULL, 0};
        uint8_t *raw_env, *raw_back;
        size_t raw_len;
        double ck_store, c_store, ck_get, c_get;
        /* JSON-like records: compressible the way cached API responses are. */
        for (i = 0; i < size; i++) {
            static const char rec[] = "{\"id\":%05u,\"name\":\"user\",\"score\":0.%03u,\"tags\":[\"a\",\"b\"]},";
            data[i] = (uint8_t)rec[(i * 7 + i / 61) % (sizeof rec - 1)];
        }
        if (random_data) {
            uint64_t x = 0x9e3779b97f4a7c15u;
            for (i = 0; i < size; i++) { x ^= x << 13; x ^= x >> 7; x ^= x << 17; data[i] = (uint8_t)x; }
        }
        MEASURE(ck_store, iterations, {
            cachekit_envelope_store(data, size, NULL, &env);
            cachekit_buffer_free(&env);
        });
        MEASURE(c_store, iterations, {
            raw_store(data, size, &raw_env, &raw_len);
            free(raw_env);
        });
        cachekit_envelope_store(data, size, NULL, &env);
        raw_store(data, size, &raw_env, &raw_len);
        MEASURE(ck_get, iterations, {
            if (cachekit_envelope_retrieve(env.data, env.len, &back, NULL, 0) != CACHEKIT_OK) { return 1; }
            cachekit_buffer_free(&back);
        });
        MEASURE(c_get, iterations, {
            raw_retrieve(raw_env + 6, raw_len - 14, size, &raw_back);
            free(raw_back);
        });
        printf("%-8zu %-9s %10.0f ns %10.0f ns %7.3fx %10.0f\n", size, "store", ck_store, c_store,
               ck_store / c_store, (double)size / ck_store * 1e3);
        printf("%-8zu %-9s %10.0f ns %10.0f ns %7.3fx %10.0f\n", size, "retrieve", ck_get, c_get,
               ck_get / c_get, (double)size / ck_get * 1e3);
        cachekit_buffer_free(&env);
        free(raw_env);
        free(data);
    }
    }
    return 0;
}
