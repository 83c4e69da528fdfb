/* The cache from a C host: get_or_compute with a callback, a hit from L1, batch get, stats.
 * Runs on the embedded default (L1 only); set CACHEKIT_REDIS_URL to share entries through Redis
 * with other processes, including Python services using cachekit. */
#include "cachekit.h"
#include <stdio.h>
#include <string.h>

/* Values are MessagePack documents; this one is a str. */
static int compute_greeting(void *userdata, const uint8_t *key, size_t key_len, cachekit_buffer *out) {
    int *calls = (int *)userdata;
    uint8_t doc[64];
    int n = snprintf((char *)doc + 1, sizeof doc - 1, "hello, %.*s", (int)key_len, (const char *)key);
    (*calls)++;
    doc[0] = (uint8_t)(0xa0 | n); /* fixstr header (n < 32 here) */
    return cachekit_buffer_set(out, doc, (size_t)n + 1);
}

static int fail(const char *what, int status) {
    fprintf(stderr, "%s: %s (%s)\n", what, cachekit_strerror(status), cachekit_last_error_message());
    return 1;
}

int main(void) {
    cachekit_cache *cache = NULL;
    cachekit_buffer value = {NULL, 0};
    cachekit_cache_stats stats;
    cachekit_cache_health_report health;
    const uint8_t *keys[2] = {(const uint8_t *)"alice", (const uint8_t *)"bob"};
    size_t key_lens[2] = {5, 3};
    cachekit_buffer values[2];
    int statuses[2], calls = 0, status, round;

    /* NULL config: defaults plus cachekit-py's environment variables. */
    if ((status = cachekit_cache_new(NULL, &cache)) != CACHEKIT_OK) return fail("cache_new", status);
    cachekit_cache_health(cache, &health);
    printf("backend: %s\n", health.detail);

    for (round = 0; round < 2; round++) {
        status = cachekit_cache_get_or_compute(cache, keys[0], key_lens[0], 60, compute_greeting, &calls, &value);
        if (status != CACHEKIT_OK) return fail("get_or_compute", status);
        printf("round %d: \"%.*s\" (callback calls so far: %d)\n", round + 1, (int)value.len - 1,
               (const char *)value.data + 1, calls);
        cachekit_buffer_free(&value);
    }

    if ((status = cachekit_cache_get_many(cache, keys, key_lens, 2, values, statuses)) != CACHEKIT_OK) {
        return fail("get_many", status);
    }
    printf("batch: alice %s, bob %s\n", statuses[0] == CACHEKIT_OK ? "hit" : "miss",
           statuses[1] == CACHEKIT_OK ? "hit" : "miss");
    cachekit_buffer_free(&values[0]);
    cachekit_buffer_free(&values[1]);

    cachekit_cache_stats_get(cache, &stats);
    printf("stats: %llu hits (%llu from L1), %llu misses, %llu computes, %llu entries in L1\n",
           (unsigned long long)stats.hits, (unsigned long long)stats.l1_hits,
           (unsigned long long)stats.misses, (unsigned long long)stats.computes,
           (unsigned long long)stats.l1_entries);
    cachekit_cache_free(cache);
    return 0;
}
