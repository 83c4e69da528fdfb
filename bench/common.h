/* Shared by the benchmark programs: monotonic clocks, a sample order and a fatal-error exit. */
#ifndef CACHEKIT_BENCH_COMMON_H
#define CACHEKIT_BENCH_COMMON_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cachekit.h"

/* Seconds on the monotonic clock. */
static inline double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Nanoseconds on the monotonic clock, for per-operation samples. */
static inline uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* qsort order for samples. */
static inline int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static inline void die(const char *what, int status);

/* A msgpack array of `strings` ASCII strings of 48 bytes each: cache-like, compressible, valid
 * UTF-8 (malloc'd; *len gets its size). */
static inline uint8_t *bench_text_document(size_t strings, size_t *len) {
    static const char words[] = "user name email ids active score created_at tags ";
    uint8_t *out = malloc(5 + strings * 50);
    size_t pos = 0, i, j;
    unsigned seed = 7;
    if (out == NULL) exit(1);
    out[pos++] = 0xdd;
    out[pos++] = (uint8_t)(strings >> 24); out[pos++] = (uint8_t)(strings >> 16);
    out[pos++] = (uint8_t)(strings >> 8); out[pos++] = (uint8_t)strings;
    for (i = 0; i < strings; i++) {
        out[pos++] = 0xd9; out[pos++] = 48;
        for (j = 0; j < 48; j++) {
            seed = seed * 1103515245u + 12345u;
            out[pos++] = (seed >> 16) % 5 == 0 ? (uint8_t)('a' + (seed >> 8) % 26) : (uint8_t)words[(i * 48 + j) % (sizeof words - 1)];
        }
    }
    *len = pos;
    return out;
}

/* A baseline read of the same stored entry, through the raw libraries: 0 on success. */
typedef int (*bench_raw_get)(void *context, const char *key, cachekit_buffer *out);

/* p50 (ns) of `samples` gets of `key` through the cache and of `raw_key` through `raw`, after a
 * warm-up of both, interleaved so both see the same machine; any failure ends the program.
 * `ours` and `base` hold `samples` doubles each. */
static inline void bench_interleaved_gets(cachekit_cache *cache, const char *key, bench_raw_get raw, void *context,
                                          const char *raw_key, int samples, double *ours, double *base,
                                          double *ours_p50, double *base_p50) {
    cachekit_buffer out;
    size_t key_len = strlen(key);
    int s;
    for (s = 0; s < 2000; s++) {
        if (cachekit_cache_get(cache, (const uint8_t *)key, key_len, &out) != 0) die("L2 get", -1);
        cachekit_buffer_free(&out);
        if (raw(context, raw_key, &out) != 0) die("raw get", -1);
        cachekit_buffer_free(&out);
    }
    for (s = 0; s < samples; s++) {
        uint64_t t0 = now_ns();
        if (cachekit_cache_get(cache, (const uint8_t *)key, key_len, &out) != 0) die("L2 get", -1);
        ours[s] = (double)(now_ns() - t0);
        cachekit_buffer_free(&out);
        t0 = now_ns();
        if (raw(context, raw_key, &out) != 0) die("raw get", -1);
        base[s] = (double)(now_ns() - t0);
        cachekit_buffer_free(&out);
    }
    qsort(ours, (size_t)samples, sizeof *ours, cmp_double);
    qsort(base, (size_t)samples, sizeof *base, cmp_double);
    *ours_p50 = ours[samples / 2];
    *base_p50 = base[samples / 2];
}

/* One thread of a load test: `gets` gets through `cache`, the i-th of keys[(offset + 7 i) % key_count],
 * each timed into latencies[i] when latencies is not NULL; failures counts the gets not OK. */
typedef struct {
    cachekit_cache *cache;
    const char *const *keys;
    int key_count;
    int offset;
    int gets;
    double *latencies;
    int failures;
} bench_load_worker;

static inline void *bench_load_thread(void *arg) {
    bench_load_worker *w = arg;
    int i;
    for (i = 0; i < w->gets; i++) {
        cachekit_buffer out;
        const char *key = w->keys[(w->offset + i * 7) % w->key_count];
        uint64_t t0 = now_ns();
        int rc = cachekit_cache_get(w->cache, (const uint8_t *)key, strlen(key), &out);
        if (w->latencies) w->latencies[i] = (double)(now_ns() - t0);
        if (rc == CACHEKIT_OK) cachekit_buffer_free(&out);
        else w->failures++;
    }
    return NULL;
}

static inline void die(const char *what, int status) {
    fprintf(stderr, "%s failed: %d %s\n", what, status, cachekit_last_error_message());
    exit(1);
}
#endif
