/* The cache API from C, embedded (no Redis): configuration, get/set/delete/exists, TTL, batch
 * get, get_or_compute (single-flight across threads), namespace invalidation, the key registry
 * calls without Redis, bounds, stats, health and misuse. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cachekit.h"
#include "check.h"

static const uint8_t *B(const char *s) { return (const uint8_t *)s; }

/* Values are MessagePack documents (what cachekit stores); these helpers write a str or a bin. */
static size_t mp_str(uint8_t *out, const char *s) {
    size_t n = strlen(s);
    if (n < 32) { out[0] = (uint8_t)(0xa0 | n); memcpy(out + 1, s, n); return n + 1; }
    out[0] = 0xd9; out[1] = (uint8_t)n; memcpy(out + 2, s, n); return n + 2;
}

static size_t mp_bin(uint8_t *out, const uint8_t *data, size_t n) {
    out[0] = 0xc5; out[1] = (uint8_t)(n >> 8); out[2] = (uint8_t)n;
    memcpy(out + 3, data, n);
    return n + 3;
}

static int set_str(cachekit_cache *cache, const char *key, const char *value, int64_t ttl) {
    uint8_t doc[300];
    size_t n = mp_str(doc, value);
    return cachekit_cache_set(cache, B(key), strlen(key), doc, n, ttl);
}

static cachekit_cache *make_cache(const char *const *options) {
    cachekit_config *config = NULL;
    cachekit_cache *cache = NULL;
    CHECK_STATUS(cachekit_config_new(&config), CACHEKIT_OK);
    for (; options && options[0]; options += 2) {
        CHECK_STATUS(cachekit_config_set(config, options[0], options[1]), CACHEKIT_OK);
    }
    CHECK_STATUS(cachekit_cache_new(config, &cache), CACHEKIT_OK);
    cachekit_config_free(config);
    return cache;
}

static int expect_value(cachekit_cache *cache, const char *key, const char *value) {
    cachekit_buffer out = {NULL, 0};
    uint8_t doc[300];
    size_t n = mp_str(doc, value);
    int rc = cachekit_cache_get(cache, B(key), strlen(key), &out);
    int ok = rc == CACHEKIT_OK && out.len == n && memcmp(out.data, doc, n) == 0;
    cachekit_buffer_free(&out);
    return ok;
}

static void test_config(void) {
    cachekit_config *config = NULL;
    const char *secret = "zz00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    CHECK_STATUS(cachekit_config_new(&config), CACHEKIT_OK);
    CHECK_STATUS(cachekit_config_set(config, "no_such_option", "1"), CACHEKIT_E_UNKNOWN_OPTION);
    CHECK_STATUS(cachekit_config_set(config, "mode", "\xc3"), CACHEKIT_E_INVALID_UTF8);
    CHECK_STATUS(cachekit_config_set(config, "\xfe", "1"), CACHEKIT_E_INVALID_UTF8);
    CHECK_STATUS(cachekit_config_set(config, "default_ttl", "-5"), CACHEKIT_E_INVALID_CONFIG);
    CHECK_STATUS(cachekit_config_set(config, "default_ttl", "abc"), CACHEKIT_E_INVALID_CONFIG);
    CHECK_STATUS(cachekit_config_set(config, "l1_ttl", "-1"), CACHEKIT_E_INVALID_CONFIG);
    CHECK_STATUS(cachekit_config_set(config, "l1_ttl", "0"), CACHEKIT_OK);
    CHECK_STATUS(cachekit_config_set(config, "mode", "turbo"), CACHEKIT_E_INVALID_CONFIG);
    CHECK_STATUS(cachekit_config_set(config, "redis_url", "http://x"), CACHEKIT_E_INVALID_CONFIG);
    CHECK_STATUS(cachekit_config_set(config, "redis_url", "rediss://h:1/0?ssl_cert_reqs=maybe"), CACHEKIT_E_INVALID_CONFIG);
    CHECK_STATUS(cachekit_config_set(config, "redis_url", "redis://h:1/0?ssl_ca_certs=/ca.pem"), CACHEKIT_E_INVALID_CONFIG);
    CHECK_STATUS(cachekit_config_set(config, "redis_url", "rediss://h:1/0?ssl_ca_certs=/ca.pem"), CACHEKIT_OK);
    CHECK_STATUS(cachekit_config_set(config, "redis_url", "redis+sentinel://s1:26379,s2/mymaster/1"), CACHEKIT_OK);
    CHECK_STATUS(cachekit_config_set(config, "pool_timeout_ms", "-1"), CACHEKIT_E_INVALID_CONFIG);
    CHECK_STATUS(cachekit_config_set(config, "pool_timeout_ms", "250"), CACHEKIT_OK);
    CHECK_STATUS(cachekit_config_set(config, "ssl_cert_reqs", "sometimes"), CACHEKIT_E_INVALID_CONFIG);
    CHECK_STATUS(cachekit_config_set(config, "redis_url", "redis://h:99999/0"), CACHEKIT_E_INVALID_CONFIG);
    CHECK_STATUS(cachekit_config_set(config, "redis_url", "redis://user:s3cr3tpw@h:6380/2"), CACHEKIT_OK);
    CHECK_STATUS(cachekit_config_set(config, "redis_url", "unix:///tmp/redis.sock?db=3"), CACHEKIT_OK);
    CHECK_STATUS(cachekit_config_set(config, "redis_url", ""), CACHEKIT_OK);
    /* A malformed secret: the message names the option, never the value. */
    CHECK_STATUS(cachekit_config_set(config, "master_key", secret), CACHEKIT_E_INVALID_CONFIG);
    CHECK(strstr(cachekit_last_error_message(), "master_key") != NULL);
    CHECK(strstr(cachekit_last_error_message(), "00112233") == NULL);
    CHECK_STATUS(cachekit_config_set(config, "master_key", "0011"), CACHEKIT_E_INVALID_CONFIG);
    CHECK_STATUS(cachekit_config_set(config, "master_key",
                                     "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"),
                 CACHEKIT_OK);
    CHECK_STATUS(cachekit_config_set(config, "previous_master_keys",
                                     "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"),
                 CACHEKIT_E_INVALID_CONFIG); /* the current key may not be a previous key */
    CHECK_STATUS(cachekit_config_set(config, "previous_master_keys", "aa,bb,cc,dd"), CACHEKIT_E_INVALID_CONFIG);
    CHECK_STATUS(cachekit_config_set(config, "deployment_uuid", "not-a-uuid"), CACHEKIT_E_INVALID_CONFIG);
    CHECK_STATUS(cachekit_config_set(config, "deployment_uuid", "123e4567-e89b-12d3-a456-426614174000"), CACHEKIT_OK);
    CHECK_STATUS(cachekit_config_set(NULL, "mode", "plain"), CACHEKIT_E_NULL_POINTER);
    CHECK_STATUS(cachekit_config_set(config, NULL, "plain"), CACHEKIT_E_NULL_POINTER);
    CHECK_STATUS(cachekit_config_set(config, "mode", NULL), CACHEKIT_E_NULL_POINTER);
    cachekit_config_free(config);
    cachekit_config_free(NULL);

    /* Environment: cachekit-py's names; a bad value names the variable, not the value. */
    CHECK_STATUS(cachekit_config_new(&config), CACHEKIT_OK);
    setenv("CACHEKIT_DEFAULT_TTL", "oops", 1);
    CHECK_STATUS(cachekit_config_load_env(config), CACHEKIT_E_INVALID_CONFIG);
    CHECK(strstr(cachekit_last_error_message(), "CACHEKIT_DEFAULT_TTL") != NULL);
    setenv("CACHEKIT_DEFAULT_TTL", "30", 1);
    setenv("CACHEKIT_SOCKET_TIMEOUT", "0.25", 1);
    CHECK_STATUS(cachekit_config_load_env(config), CACHEKIT_OK);
    unsetenv("CACHEKIT_DEFAULT_TTL");
    unsetenv("CACHEKIT_SOCKET_TIMEOUT");
    cachekit_config_free(config);
}

static void test_basic_operations(void) {
    cachekit_cache *cache = make_cache(NULL);
    cachekit_buffer out = {NULL, 0};
    CHECK_STATUS(cachekit_cache_get(cache, B("k1"), 2, &out), CACHEKIT_MISS);
    CHECK(out.data == NULL);
    CHECK_STATUS(set_str(cache, "k1", "value-1", CACHEKIT_TTL_DEFAULT), CACHEKIT_OK);
    CHECK(expect_value(cache, "k1", "value-1"));
    CHECK_STATUS(cachekit_cache_exists(cache, B("k1"), 2), CACHEKIT_OK);
    CHECK_STATUS(set_str(cache, "k1", "value-2", CACHEKIT_TTL_NONE), CACHEKIT_OK);
    CHECK(expect_value(cache, "k1", "value-2"));
    CHECK_STATUS(set_str(cache, "empty", "", 60), CACHEKIT_OK);
    CHECK(expect_value(cache, "empty", ""));
    /* Not one MessagePack document: refused before anything is stored. */
    CHECK(cachekit_cache_set(cache, B("raw"), 3, B("\xc1"), 1, 0) < 0);
    CHECK(cachekit_cache_set(cache, B("raw"), 3, B("\x01\x02"), 2, 0) < 0);
    /* Keys are bound into entries as text: they must be UTF-8. */
    CHECK_STATUS(cachekit_cache_set(cache, B("\xff\xfe"), 2, B("\x01"), 1, 0), CACHEKIT_E_INVALID_KEY);
    CHECK_STATUS(cachekit_cache_delete(cache, B("k1"), 2), CACHEKIT_OK);
    CHECK_STATUS(cachekit_cache_get(cache, B("k1"), 2, &out), CACHEKIT_MISS);
    CHECK_STATUS(cachekit_cache_exists(cache, B("k1"), 2), CACHEKIT_MISS);

    /* Misuse: a status, never a crash. */
    CHECK_STATUS(cachekit_cache_get(NULL, B("k"), 1, &out), CACHEKIT_E_NULL_POINTER);
    CHECK_STATUS(cachekit_cache_get(cache, NULL, 1, &out), CACHEKIT_E_NULL_POINTER);
    CHECK_STATUS(cachekit_cache_get(cache, B("k"), 1, NULL), CACHEKIT_E_NULL_POINTER);
    CHECK_STATUS(cachekit_cache_get(cache, NULL, 0, &out), CACHEKIT_E_INVALID_KEY);
    CHECK_STATUS(set_str(cache, "k", "v", -2), CACHEKIT_E_INVALID_ARGUMENT);
    CHECK_STATUS(cachekit_cache_set(cache, B("k"), 1, NULL, 3, 0), CACHEKIT_E_NULL_POINTER);
    {
        static uint8_t long_key[5000];
        memset(long_key, 'x', sizeof long_key);
        CHECK_STATUS(cachekit_cache_set(cache, long_key, sizeof long_key, B("v"), 1, 0), CACHEKIT_E_INVALID_KEY);
    }
    CHECK_STATUS(cachekit_cache_delete(NULL, B("k"), 1), CACHEKIT_E_NULL_POINTER);
    CHECK_STATUS(cachekit_cache_new(NULL, NULL), CACHEKIT_E_NULL_POINTER);
    cachekit_cache_free(cache);
    cachekit_cache_free(NULL);
}

/* L1-only reads: a hit counts as an L1 hit, a miss is not counted. */
static void test_get_local(void) {
    cachekit_cache *cache = make_cache(NULL);
    cachekit_buffer out = {NULL, 0};
    cachekit_cache_stats stats;
    CHECK_STATUS(cachekit_cache_get_local(cache, B("local"), 5, &out), CACHEKIT_MISS);
    CHECK(out.data == NULL);
    CHECK_STATUS(set_str(cache, "local", "here", 60), CACHEKIT_OK);
    CHECK_STATUS(cachekit_cache_get_local(cache, B("local"), 5, &out), CACHEKIT_OK);
    CHECK(out.len == 5 && out.data != NULL && memcmp(out.data, "\xa4here", 5) == 0);
    cachekit_buffer_free(&out);
    CHECK_STATUS(cachekit_cache_stats_get(cache, &stats), CACHEKIT_OK);
    CHECK(stats.l1_hits == 1 && stats.hits == 1 && stats.misses == 0);
    CHECK_STATUS(cachekit_cache_get_local(NULL, B("k"), 1, &out), CACHEKIT_E_NULL_POINTER);
    CHECK_STATUS(cachekit_cache_get_local(cache, B("k"), 1, NULL), CACHEKIT_E_NULL_POINTER);
    CHECK_STATUS(cachekit_cache_get_local(cache, NULL, 0, &out), CACHEKIT_E_INVALID_KEY);
    cachekit_cache_free(cache);
}

static void test_ttl(void) {
    const char *capped_options[] = {"l1_ttl", "1", NULL};
    cachekit_cache *cache = make_cache(NULL);
    cachekit_cache *capped = make_cache(capped_options);
    CHECK_STATUS(set_str(cache, "short", "v", 1), CACHEKIT_OK);
    CHECK_STATUS(set_str(cache, "long", "v", 60), CACHEKIT_OK);
    CHECK(expect_value(cache, "short", "v"));
    /* l1_ttl bounds every L1 entry, also one without a TTL. */
    CHECK_STATUS(set_str(capped, "forever", "v", CACHEKIT_TTL_NONE), CACHEKIT_OK);
    CHECK(expect_value(capped, "forever", "v"));
    sleep(2);
    {
        cachekit_buffer out = {NULL, 0};
        CHECK_STATUS(cachekit_cache_get(capped, B("forever"), 7, &out), CACHEKIT_MISS);
    }
    cachekit_cache_free(capped);
    {
        cachekit_buffer out = {NULL, 0};
        CHECK_STATUS(cachekit_cache_get(cache, B("short"), 5, &out), CACHEKIT_MISS);
    }
    CHECK(expect_value(cache, "long", "v"));
    cachekit_cache_free(cache);
}

static void test_get_many(void) {
    cachekit_cache *cache = make_cache(NULL);
    const uint8_t *keys[3] = {B("a"), B("missing"), B("c")};
    size_t lens[3] = {1, 7, 1};
    cachekit_buffer values[3];
    int statuses[3];
    CHECK_STATUS(set_str(cache, "a", "AAA", 0), CACHEKIT_OK);
    CHECK_STATUS(set_str(cache, "c", "C", 0), CACHEKIT_OK);
    CHECK_STATUS(cachekit_cache_get_many(cache, keys, lens, 3, values, statuses), CACHEKIT_OK);
    CHECK(statuses[0] == CACHEKIT_OK && values[0].len == 4 && memcmp(values[0].data, "\xa3" "AAA", 4) == 0);
    CHECK(statuses[1] == CACHEKIT_MISS && values[1].data == NULL);
    CHECK(statuses[2] == CACHEKIT_OK && values[2].len == 2 && values[2].data[1] == 'C');
    cachekit_buffer_free(&values[0]);
    cachekit_buffer_free(&values[2]);
    CHECK_STATUS(cachekit_cache_get_many(cache, NULL, NULL, 0, NULL, NULL), CACHEKIT_OK);
    CHECK_STATUS(cachekit_cache_get_many(cache, NULL, lens, 3, values, statuses), CACHEKIT_E_NULL_POINTER);
    lens[1] = 0;
    CHECK_STATUS(cachekit_cache_get_many(cache, keys, lens, 3, values, statuses), CACHEKIT_E_INVALID_KEY);
    CHECK(values[0].data == NULL && values[2].data == NULL);
    cachekit_cache_free(cache);
}

/* get_or_compute */

struct counter {
    pthread_mutex_t lock;
    int calls;
    unsigned sleep_ms;
};

static int compute_value(void *userdata, const uint8_t *key, size_t key_len, cachekit_buffer *out) {
    struct counter *counter = (struct counter *)userdata;
    char value[64];
    int n;
    pthread_mutex_lock(&counter->lock);
    counter->calls++;
    pthread_mutex_unlock(&counter->lock);
    if (counter->sleep_ms) {
        struct timespec ts = {0, (long)counter->sleep_ms * 1000000L};
        nanosleep(&ts, NULL);
    }
    n = snprintf(value + 1, sizeof value - 1, "computed:%.*s", (int)key_len, (const char *)key);
    value[0] = (char)(0xa0 | n); /* a MessagePack fixstr */
    return cachekit_buffer_set(out, (const uint8_t *)value, (size_t)n + 1);
}

static int compute_fails(void *userdata, const uint8_t *key, size_t key_len, cachekit_buffer *out) {
    (void)userdata; (void)key; (void)key_len;
    cachekit_buffer_set(out, B("partial"), 7);
    return 42;
}

struct worker {
    cachekit_cache *cache;
    struct counter *counter;
    int status;
    int correct;
};

static void *worker_main(void *arg) {
    struct worker *w = (struct worker *)arg;
    cachekit_buffer out = {NULL, 0};
    w->status = cachekit_cache_get_or_compute(w->cache, B("hot"), 3, 60, compute_value, w->counter, &out);
    w->correct = out.len == 13 && memcmp(out.data, "\xac" "computed:hot", 13) == 0;
    cachekit_buffer_free(&out);
    return NULL;
}

static void test_get_or_compute(void) {
    cachekit_cache *cache = make_cache(NULL);
    struct counter counter;
    cachekit_buffer out = {NULL, 0};
    pthread_t threads[8];
    struct worker workers[8];
    cachekit_cache_stats stats;
    int i;
    pthread_mutex_init(&counter.lock, NULL);
    counter.calls = 0;
    counter.sleep_ms = 0;

    CHECK_STATUS(cachekit_cache_get_or_compute(cache, B("k"), 1, 60, compute_value, &counter, &out), CACHEKIT_OK);
    CHECK(out.len == 11 && memcmp(out.data, "\xaa" "computed:k", 11) == 0);
    cachekit_buffer_free(&out);
    CHECK_STATUS(cachekit_cache_get_or_compute(cache, B("k"), 1, 60, compute_value, &counter, &out), CACHEKIT_OK);
    cachekit_buffer_free(&out);
    CHECK(counter.calls == 1);
    CHECK(expect_value(cache, "k", "computed:k"));

    CHECK_STATUS(cachekit_cache_get_or_compute(cache, B("bad"), 3, 60, compute_fails, NULL, &out), CACHEKIT_E_COMPUTE_FAILED);
    CHECK(out.data == NULL);
    CHECK_STATUS(cachekit_cache_exists(cache, B("bad"), 3), CACHEKIT_MISS);
    CHECK_STATUS(cachekit_cache_get_or_compute(cache, B("k"), 1, 60, NULL, NULL, &out), CACHEKIT_E_NULL_POINTER);

    /* Eight threads miss the same key at once: the callback runs once. */
    counter.calls = 0;
    counter.sleep_ms = 200;
    for (i = 0; i < 8; i++) {
        workers[i].cache = cache;
        workers[i].counter = &counter;
        pthread_create(&threads[i], NULL, worker_main, &workers[i]);
    }
    for (i = 0; i < 8; i++) {
        pthread_join(threads[i], NULL);
        CHECK_STATUS(workers[i].status, CACHEKIT_OK);
        CHECK(workers[i].correct);
    }
    CHECK(counter.calls == 1);
    CHECK_STATUS(cachekit_cache_stats_get(cache, &stats), CACHEKIT_OK);
    CHECK(stats.computes == 3); /* k, bad, hot */
    pthread_mutex_destroy(&counter.lock);
    cachekit_cache_free(cache);
}

static void test_namespace_invalidation(void) {
    cachekit_cache *cache = make_cache(NULL);
    uint64_t removed = 99;
    CHECK_STATUS(set_str(cache, "ns:users:func:a", "1", 0), CACHEKIT_OK);
    CHECK_STATUS(set_str(cache, "ns:users:func:b", "2", 0), CACHEKIT_OK);
    CHECK_STATUS(set_str(cache, "ns:orders:func:a", "3", 0), CACHEKIT_OK);
    CHECK_STATUS(cachekit_cache_invalidate_namespace(cache, "users", &removed), CACHEKIT_OK);
    CHECK(removed == 0); /* no Redis */
    CHECK_STATUS(cachekit_cache_exists(cache, B("ns:users:func:a"), 15), CACHEKIT_MISS);
    CHECK_STATUS(cachekit_cache_exists(cache, B("ns:users:func:b"), 15), CACHEKIT_MISS);
    CHECK(expect_value(cache, "ns:orders:func:a", "3"));
    CHECK_STATUS(cachekit_cache_invalidate_namespace(cache, "", NULL), CACHEKIT_E_INVALID_ARGUMENT);
    CHECK_STATUS(cachekit_cache_invalidate_namespace(cache, NULL, NULL), CACHEKIT_E_NULL_POINTER);
    cachekit_cache_free(cache);
}

/* The key registry calls without Redis (L1 only), with an unreachable Redis, and their misuse. */
static void test_key_registry(void) {
    const char *id = "ck:reg::12e41c1f46e328d5";
    const uint8_t *keys[3] = {B("func:m.f:args:a:1s"), B("func:m.f:args:b:1s"), B("func:m.f:args:a:1s")};
    size_t lens[3] = {18, 18, 18};
    uint64_t removed = 99;
    char long_id[4200];
    cachekit_cache *cache = make_cache(NULL);
    CHECK_STATUS(set_str(cache, "func:m.f:args:a:1s", "1", 0), CACHEKIT_OK);
    CHECK_STATUS(set_str(cache, "func:m.f:args:b:1s", "2", 0), CACHEKIT_OK);
    CHECK_STATUS(set_str(cache, "func:m.g:args:a:1s", "3", 0), CACHEKIT_OK);
    /* No Redis: nothing to record or announce. */
    CHECK_STATUS(cachekit_cache_track_key(cache, id, keys[0], lens[0]), CACHEKIT_MISS);
    CHECK_STATUS(cachekit_cache_publish_invalidation(cache, id, NULL, 0), CACHEKIT_MISS);
    CHECK_STATUS(cachekit_cache_publish_invalidation(cache, id, keys[0], lens[0]), CACHEKIT_MISS);
    /* set_tracked without Redis is set. */
    {
        uint8_t doc[8];
        size_t n = mp_str(doc, "t");
        CHECK_STATUS(cachekit_cache_set_tracked(cache, id, B("func:m.f:args:t:1s"), 18, doc, n, 0), CACHEKIT_OK);
        CHECK(expect_value(cache, "func:m.f:args:t:1s", "t"));
        CHECK_STATUS(cachekit_cache_set_tracked(cache, "ck:reg", B("func:m.f:args:t:1s"), 18, doc, n, 0),
                     CACHEKIT_E_INVALID_ARGUMENT);
        CHECK_STATUS(cachekit_cache_set_tracked(cache, id, B("\xff\xfe"), 2, doc, n, 0), CACHEKIT_E_INVALID_KEY);
        CHECK_STATUS(cachekit_cache_set_tracked(cache, id, B("k"), 1, doc, n, -2), CACHEKIT_E_INVALID_ARGUMENT);
        CHECK_STATUS(cachekit_cache_set_tracked(cache, id, B("k"), 1, NULL, 3, 0), CACHEKIT_E_NULL_POINTER);
        CHECK_STATUS(cachekit_cache_set_tracked(NULL, id, B("k"), 1, doc, n, 0), CACHEKIT_E_NULL_POINTER);
        CHECK_STATUS(cachekit_cache_set_tracked(cache, NULL, B("k"), 1, doc, n, 0), CACHEKIT_E_NULL_POINTER);
    }
    /* The drain still clears the local keys from L1 (duplicates counted once). */
    CHECK_STATUS(cachekit_cache_drain_registry(cache, id, keys, lens, 3, &removed), CACHEKIT_OK);
    CHECK(removed == 2);
    CHECK_STATUS(cachekit_cache_exists(cache, keys[0], lens[0]), CACHEKIT_MISS);
    CHECK_STATUS(cachekit_cache_exists(cache, keys[1], lens[1]), CACHEKIT_MISS);
    CHECK(expect_value(cache, "func:m.g:args:a:1s", "3"));
    CHECK_STATUS(cachekit_cache_drain_registry(cache, id, NULL, NULL, 0, &removed), CACHEKIT_OK);
    CHECK(removed == 0);
    CHECK_STATUS(cachekit_cache_drain_registry(cache, id, NULL, NULL, 0, NULL), CACHEKIT_OK);

    /* Misuse: NULLs, ids outside "ck:reg:", overlong ids, bad keys and counts. */
    CHECK_STATUS(cachekit_cache_track_key(NULL, id, keys[0], lens[0]), CACHEKIT_E_NULL_POINTER);
    CHECK_STATUS(cachekit_cache_track_key(cache, NULL, keys[0], lens[0]), CACHEKIT_E_NULL_POINTER);
    CHECK_STATUS(cachekit_cache_track_key(cache, id, NULL, 5), CACHEKIT_E_NULL_POINTER);
    CHECK_STATUS(cachekit_cache_track_key(cache, id, keys[0], 0), CACHEKIT_E_INVALID_KEY);
    CHECK_STATUS(cachekit_cache_track_key(cache, "t:default:secret", keys[0], lens[0]), CACHEKIT_E_INVALID_ARGUMENT);
    CHECK(strstr(cachekit_last_error_message(), "ck:reg:") != NULL);
    CHECK_STATUS(cachekit_cache_track_key(cache, "ck:reg:", keys[0], lens[0]), CACHEKIT_E_INVALID_ARGUMENT);
    CHECK_STATUS(cachekit_cache_track_key(cache, "ck:reg:\xff", keys[0], lens[0]), CACHEKIT_E_INVALID_UTF8);
    memcpy(long_id, "ck:reg:", 7);
    memset(long_id + 7, 'x', sizeof long_id - 8);
    long_id[sizeof long_id - 1] = 0;
    CHECK_STATUS(cachekit_cache_track_key(cache, long_id, keys[0], lens[0]), CACHEKIT_E_INVALID_ARGUMENT);
    CHECK_STATUS(cachekit_cache_drain_registry(cache, long_id, NULL, NULL, 0, NULL), CACHEKIT_E_INVALID_ARGUMENT);
    CHECK_STATUS(cachekit_cache_drain_registry(NULL, id, NULL, NULL, 0, NULL), CACHEKIT_E_NULL_POINTER);
    CHECK_STATUS(cachekit_cache_drain_registry(cache, id, NULL, lens, 1, NULL), CACHEKIT_E_NULL_POINTER);
    CHECK_STATUS(cachekit_cache_drain_registry(cache, id, keys, NULL, 1, NULL), CACHEKIT_E_NULL_POINTER);
    CHECK_STATUS(cachekit_cache_drain_registry(cache, id, keys, lens, (size_t)1 << 21, NULL), CACHEKIT_E_INVALID_ARGUMENT);
    CHECK_STATUS(cachekit_cache_drain_registry(cache, id, keys, lens, (size_t)-1, NULL), CACHEKIT_E_INVALID_ARGUMENT);
    {
        size_t bad_lens[2] = {18, 0};
        CHECK_STATUS(cachekit_cache_drain_registry(cache, id, keys, bad_lens, 2, NULL), CACHEKIT_E_INVALID_KEY);
    }
    CHECK_STATUS(cachekit_cache_publish_invalidation(NULL, id, NULL, 0), CACHEKIT_E_NULL_POINTER);
    CHECK_STATUS(cachekit_cache_publish_invalidation(cache, NULL, NULL, 0), CACHEKIT_E_NULL_POINTER);
    CHECK_STATUS(cachekit_cache_publish_invalidation(cache, id, NULL, 3), CACHEKIT_E_NULL_POINTER);
    CHECK_STATUS(cachekit_cache_publish_invalidation(cache, id, B("\xff\xfe"), 2), CACHEKIT_E_INVALID_KEY);
    CHECK_STATUS(cachekit_cache_publish_invalidation(cache, "other", NULL, 0), CACHEKIT_E_INVALID_ARGUMENT);
    cachekit_cache_free(cache);

    /* An unreachable Redis: each call reports the backend status, and the drain still clears L1. */
    {
        const char *options[] = {"redis_url", "redis://127.0.0.1:1/0", "connect_timeout_ms", "200",
                                 "command_timeout_ms", "200", NULL};
        cachekit_cache_stats stats;
        cache = make_cache(options);
        CHECK_STATUS(set_str(cache, "func:m.f:args:a:1s", "1", 0), CACHEKIT_OK);
        CHECK_STATUS(cachekit_cache_track_key(cache, id, keys[0], lens[0]), CACHEKIT_E_BACKEND_UNAVAILABLE);
        {   /* fail-open, as cachekit_cache_set */
            uint8_t doc[8];
            size_t n = mp_str(doc, "1");
            CHECK_STATUS(cachekit_cache_set_tracked(cache, id, keys[0], lens[0], doc, n, 0), CACHEKIT_OK);
            CHECK(expect_value(cache, "func:m.f:args:a:1s", "1"));
        }
        removed = 99;
        CHECK_STATUS(cachekit_cache_drain_registry(cache, id, keys, lens, 1, &removed), CACHEKIT_E_BACKEND_UNAVAILABLE);
        CHECK(removed == 99);
        CHECK_STATUS(cachekit_cache_get_local(cache, keys[0], lens[0], &(cachekit_buffer){NULL, 0}), CACHEKIT_MISS);
        CHECK_STATUS(cachekit_cache_publish_invalidation(cache, id, keys[0], lens[0]), CACHEKIT_E_BACKEND_UNAVAILABLE);
        CHECK_STATUS(cachekit_cache_stats_get(cache, &stats), CACHEKIT_OK);
        CHECK(stats.errors >= 3);
        cachekit_cache_free(cache);
    }
}

static void test_bounds_and_stats(void) {
    const char *options[] = {"l1_max_bytes", "65536", "l1_max_entries", "100", "max_value_size", "20000", NULL};
    cachekit_cache *cache = make_cache(options);
    cachekit_cache_stats stats;
    static uint8_t raw[30000], value[30003];
    size_t value_len;
    char key[32];
    int i;
    memset(raw, 7, sizeof raw);
    value_len = mp_bin(value, raw, 100);
    for (i = 0; i < 500; i++) {
        int n = snprintf(key, sizeof key, "key-%d", i);
        CHECK_STATUS(cachekit_cache_set(cache, B(key), (size_t)n, value, value_len, 0), CACHEKIT_OK);
    }
    CHECK_STATUS(cachekit_cache_stats_get(cache, &stats), CACHEKIT_OK);
    CHECK(stats.l1_entries <= 100);
    CHECK(stats.l1_bytes <= 65536);
    CHECK(stats.evictions >= 400);
    CHECK(stats.sets == 500);

    /* Larger than 1/8 of the L1 budget: accepted but not kept in L1 (no Redis here). */
    srand(7);
    for (i = 0; i < 30000; i++) raw[i] = (uint8_t)(rand() >> 7);
    value_len = mp_bin(value, raw, 9000);
    CHECK_STATUS(cachekit_cache_set(cache, B("big"), 3, value, value_len, 0), CACHEKIT_OK);
    CHECK_STATUS(cachekit_cache_exists(cache, B("big"), 3), CACHEKIT_MISS);
    /* An entry (the stored bytes, as cachekit-py measures it) over max_value_size: refused. */
    value_len = mp_bin(value, raw, 30000);
    CHECK_STATUS(cachekit_cache_set(cache, B("huge"), 4, value, value_len, 0), CACHEKIT_E_VALUE_TOO_LARGE);
    {
        cachekit_buffer out = {NULL, 0};
        CHECK_STATUS(cachekit_cache_get(cache, B("nope"), 4, &out), CACHEKIT_MISS);
        CHECK_STATUS(cachekit_cache_stats_get(cache, &stats), CACHEKIT_OK);
        CHECK(stats.misses >= 1);
        CHECK(stats.errors == 0);
    }
    CHECK_STATUS(cachekit_cache_stats_get(cache, NULL), CACHEKIT_E_NULL_POINTER);
    cachekit_cache_free(cache);

    /* L1 disabled and no Redis: every get misses. */
    {
        const char *off[] = {"l1_max_size_mb", "0", NULL};
        cachekit_buffer out = {NULL, 0};
        cache = make_cache(off);
        CHECK_STATUS(set_str(cache, "k", "v", 0), CACHEKIT_OK);
        CHECK_STATUS(cachekit_cache_get(cache, B("k"), 1, &out), CACHEKIT_MISS);
        cachekit_cache_free(cache);
    }
}

static void test_health_and_modes(void) {
    cachekit_cache *cache = make_cache(NULL);
    cachekit_cache_health_report report;
    CHECK_STATUS(cachekit_cache_health(cache, &report), CACHEKIT_OK);
    CHECK(report.l2_configured == 0);
    CHECK(report.l2_status == CACHEKIT_OK);
    CHECK(strlen(report.detail) > 0);
    CHECK_STATUS(cachekit_cache_health(cache, NULL), CACHEKIT_E_NULL_POINTER);
    cachekit_cache_free(cache);

    /* A configured but unreachable Redis: health says so, operations fail open. */
    {
        const char *options[] = {"redis_url", "redis://:hunter2pw@127.0.0.1:1/0", "connect_timeout_ms", "200",
                                 "command_timeout_ms", "200", NULL};
        cachekit_cache_stats stats;
        cache = make_cache(options);
        CHECK_STATUS(cachekit_cache_health(cache, &report), CACHEKIT_OK);
        CHECK(report.l2_configured == 1);
        CHECK(report.l2_status == CACHEKIT_E_BACKEND_UNAVAILABLE);
        CHECK(strstr(report.detail, "hunter2pw") == NULL);
        CHECK_STATUS(set_str(cache, "k", "v", 0), CACHEKIT_OK);
        CHECK(expect_value(cache, "k", "v"));
        CHECK_STATUS(cachekit_cache_stats_get(cache, &stats), CACHEKIT_OK);
        CHECK(stats.errors >= 1);
        CHECK_STATUS(cachekit_cache_delete(cache, B("k"), 1), CACHEKIT_E_BACKEND_UNAVAILABLE);
        CHECK(strstr(cachekit_last_error_message(), "hunter2pw") == NULL);
        cachekit_cache_free(cache);
    }

    /* Interop mode stores the value itself. */
    {
        const char *options[] = {"mode", "interop", NULL};
        cache = make_cache(options);
        cachekit_buffer out = {NULL, 0};
        CHECK_STATUS(cachekit_cache_set(cache, B("ns:op:h"), 7, B("\x81\xa1\x61\x01"), 4, 0), CACHEKIT_OK);
        CHECK_STATUS(cachekit_cache_get(cache, B("ns:op:h"), 7, &out), CACHEKIT_OK);
        CHECK(out.len == 4 && memcmp(out.data, "\x81\xa1\x61\x01", 4) == 0);
        cachekit_buffer_free(&out);
        cachekit_cache_free(cache);
    }
    /* Secure mode needs a master key; with one, values round-trip through encryption. */
    {
        cachekit_config *config = NULL;
        cachekit_cache *secure = NULL;
        CHECK_STATUS(cachekit_config_new(&config), CACHEKIT_OK);
        CHECK_STATUS(cachekit_config_set(config, "mode", "secure"), CACHEKIT_OK);
        CHECK_STATUS(cachekit_cache_new(config, &secure), CACHEKIT_E_MODE_UNAVAILABLE);
        CHECK(secure == NULL);
        CHECK_STATUS(cachekit_config_set(config, "master_key",
                                         "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"),
                     CACHEKIT_OK);
        CHECK_STATUS(cachekit_cache_new(config, &secure), CACHEKIT_OK);
        cachekit_config_free(config);
        CHECK_STATUS(set_str(secure, "func:m.f:args:00:1s", "secret value", 60), CACHEKIT_OK);
        CHECK(expect_value(secure, "func:m.f:args:00:1s", "secret value"));
        cachekit_cache_free(secure);
    }
    /* Minimal mode. */
    {
        const char *options[] = {"mode", "minimal", NULL};
        cache = make_cache(options);
        CHECK_STATUS(set_str(cache, "func:m.f:args:00:0s", "light", CACHEKIT_TTL_DEFAULT), CACHEKIT_OK);
        CHECK(expect_value(cache, "func:m.f:args:00:0s", "light"));
        cachekit_cache_free(cache);
    }
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_invalidation_listener_options(void) {
    cachekit_config *config = NULL;
    cachekit_cache *cache = NULL;
    cachekit_listener_stats stats;
    const char *accepted[] = {"0", "1", "true", "FALSE", "yes", "no", "on", "Off", "t", "f", "y", "n", NULL};
    const char *refused[] = {"", "2", "maybe", "enabled", NULL};
    int i;
    CHECK_STATUS(cachekit_config_new(&config), CACHEKIT_OK);
    for (i = 0; accepted[i]; i++) CHECK_STATUS(cachekit_config_set(config, "invalidation_listener", accepted[i]), CACHEKIT_OK);
    for (i = 0; refused[i]; i++) {
        CHECK_STATUS(cachekit_config_set(config, "invalidation_listener", refused[i]), CACHEKIT_E_INVALID_CONFIG);
    }
    CHECK(strstr(cachekit_last_error_message(), "invalidation_listener") != NULL);

    /* From the environment, with cachekit-py's variable and truthiness. */
    setenv("CACHEKIT_INVALIDATION_LISTENER_ENABLED", "maybe", 1);
    CHECK_STATUS(cachekit_config_load_env(config), CACHEKIT_E_INVALID_CONFIG);
    CHECK(strstr(cachekit_last_error_message(), "CACHEKIT_INVALIDATION_LISTENER_ENABLED") != NULL);
    setenv("CACHEKIT_INVALIDATION_LISTENER_ENABLED", "True", 1);
    CHECK_STATUS(cachekit_config_load_env(config), CACHEKIT_OK);
    unsetenv("CACHEKIT_INVALIDATION_LISTENER_ENABLED");

    /* On, but no Redis: no listener runs. */
    CHECK_STATUS(cachekit_cache_new(config, &cache), CACHEKIT_OK);
    memset(&stats, 0xff, sizeof stats);
    CHECK_STATUS(cachekit_cache_listener_stats(cache, &stats), CACHEKIT_OK);
    CHECK(stats.running == 0 && stats.subscribed == 0 && stats.received == 0 && stats.applied == 0);
    CHECK_STATUS(cachekit_cache_listener_stats(cache, NULL), CACHEKIT_E_NULL_POINTER);
    CHECK_STATUS(cachekit_cache_listener_stats(NULL, &stats), CACHEKIT_E_NULL_POINTER);
    {
        /* No Redis tier: the Redis client's report is all zero. */
        cachekit_redis_stats redis_stats;
        memset(&redis_stats, 0xff, sizeof redis_stats);
        CHECK_STATUS(cachekit_cache_redis_stats(cache, &redis_stats), CACHEKIT_OK);
        CHECK(redis_stats.configured == 0 && redis_stats.breaker_state == 0 && redis_stats.pool_size == 0);
        CHECK_STATUS(cachekit_cache_redis_stats(cache, NULL), CACHEKIT_E_NULL_POINTER);
        CHECK_STATUS(cachekit_cache_redis_stats(NULL, &redis_stats), CACHEKIT_E_NULL_POINTER);
    }
    cachekit_cache_free(cache);

    /* On, with a Redis URL nothing answers: the thread runs and retries, and free stops it. */
    CHECK_STATUS(cachekit_config_set(config, "redis_url", "redis://127.0.0.1:1/0"), CACHEKIT_OK);
    CHECK_STATUS(cachekit_cache_new(config, &cache), CACHEKIT_OK);
    CHECK_STATUS(cachekit_cache_listener_stats(cache, &stats), CACHEKIT_OK);
    CHECK(stats.running == 1 && stats.subscribed == 0);
    CHECK_STATUS(set_str(cache, "k", "v", 0), CACHEKIT_OK); /* fail-open as ever */
    CHECK(expect_value(cache, "k", "v"));
    {
        /* A forked child has no listener thread: freeing the cache there must not wait for one. */
        int child_status = -1;
        double start = now_seconds();
        pid_t child = fork();
        if (child == 0) {
            cachekit_cache_free(cache);
            _exit(0);
        }
        CHECK(child > 0);
        while (child > 0 && now_seconds() - start < 10.0) {
            if (waitpid(child, &child_status, WNOHANG) == child) break;
            {
                struct timespec pause = {0, 10000000};
                nanosleep(&pause, NULL);
            }
        }
        if (child > 0 && child_status == -1) { kill(child, SIGKILL); waitpid(child, NULL, 0); }
        CHECK(child_status == 0);
        CHECK_STATUS(cachekit_cache_listener_stats(cache, &stats), CACHEKIT_OK);
        CHECK(stats.running == 1); /* the parent's listener is untouched */
    }
    {
        double start = now_seconds();
        cachekit_cache_free(cache);
        CHECK(now_seconds() - start < 5.0); /* a bound on a hang, not a speed claim */
    }
    cachekit_config_free(config);
}

int main(void) {
    (void)check_from_hex; /* shared harness helper, unused here */
    unsetenv("CACHEKIT_REDIS_URL");
    unsetenv("REDIS_URL");
    test_config();
    test_basic_operations();
    test_get_local();
    test_ttl();
    test_get_many();
    test_get_or_compute();
    test_namespace_invalidation();
    test_key_registry();
    test_bounds_and_stats();
    test_health_and_modes();
    test_invalidation_listener_options();
    return check_finish("test_cache");
}
