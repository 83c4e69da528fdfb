/* The bulk writes and the TTL read from C: cachekit_cache_set_many, cachekit_cache_delete_many
 * and cachekit_cache_ttl, embedded and against a private redis-server (one pipelined round trip
 * per batch; values and TTLs as Redis holds them), per-key statuses, argument misuse, and the
 * fail-open rules of the single calls once the server is gone. */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include "cachekit.h"
#include "check.h"
#include "redis_server.h"

#define KEYS 100
static const uint8_t DOC[] = {0xa5, 'v', 'a', 'l', 'u', 'e'}; /* the MessagePack str "value" */

struct batch {
    char names[KEYS][16];
    const uint8_t *keys[KEYS], *values[KEYS];
    size_t key_lens[KEYS], value_lens[KEYS];
    int statuses[KEYS];
};

static void fill(struct batch *b, const char *prefix) {
    int i;
    for (i = 0; i < KEYS; i++) {
        snprintf(b->names[i], sizeof b->names[i], "%s%d", prefix, i);
        b->keys[i] = (const uint8_t *)b->names[i];
        b->key_lens[i] = strlen(b->names[i]);
        b->values[i] = DOC;
        b->value_lens[i] = sizeof DOC;
        b->statuses[i] = 99;
    }
}

static cachekit_cache *make_cache(const char *redis_url) {
    cachekit_config *config = NULL;
    cachekit_cache *cache = NULL;
    CHECK_STATUS(cachekit_config_new(&config), CACHEKIT_OK);
    if (redis_url) {
        CHECK_STATUS(cachekit_config_set(config, "redis_url", redis_url), CACHEKIT_OK);
        CHECK_STATUS(cachekit_config_set(config, "connect_timeout_ms", "200"), CACHEKIT_OK);
        CHECK_STATUS(cachekit_config_set(config, "command_timeout_ms", "200"), CACHEKIT_OK);
        CHECK_STATUS(cachekit_config_set(config, "circuit_breaker", "0"), CACHEKIT_OK);
    }
    CHECK_STATUS(cachekit_config_set(config, "l1_ttl", "0"), CACHEKIT_OK);
    CHECK_STATUS(cachekit_cache_new(config, &cache), CACHEKIT_OK);
    cachekit_config_free(config);
    return cache;
}

static int all(const int *statuses, int count, int expected) {
    int i;
    for (i = 0; i < count; i++) if (statuses[i] != expected) return 0;
    return 1;
}

static int holds(cachekit_cache *cache, const char *key) {
    cachekit_buffer out = {NULL, 0};
    int rc = cachekit_cache_get(cache, (const uint8_t *)key, strlen(key), &out);
    int ok = rc == CACHEKIT_OK && out.len == sizeof DOC && memcmp(out.data, DOC, sizeof DOC) == 0;
    cachekit_buffer_free(&out);
    return ok;
}

static void test_embedded(void) {
    static struct batch b;
    cachekit_cache *cache = make_cache(NULL);
    int64_t ttl = 12345;
    fill(&b, "k");
    CHECK_STATUS(cachekit_cache_set_many(cache, b.keys, b.key_lens, b.values, b.value_lens, KEYS, 60, b.statuses),
                 CACHEKIT_OK);
    CHECK(all(b.statuses, KEYS, CACHEKIT_OK) && holds(cache, "k0") && holds(cache, "k99"));
    CHECK_STATUS(cachekit_cache_ttl(cache, (const uint8_t *)"k7", 2, &ttl), CACHEKIT_OK);
    CHECK(ttl == 60);
    ttl = 12345;
    CHECK_STATUS(cachekit_cache_ttl(cache, (const uint8_t *)"absent", 6, &ttl), CACHEKIT_MISS);
    CHECK(ttl == 12345); /* untouched on a miss */
    CHECK_STATUS(cachekit_cache_set_many(cache, b.keys, b.key_lens, b.values, b.value_lens, 1, 0, b.statuses),
                 CACHEKIT_OK);
    CHECK_STATUS(cachekit_cache_ttl(cache, b.keys[0], b.key_lens[0], &ttl), CACHEKIT_OK);
    CHECK(ttl == -1); /* no expiry */

    /* One bad key: its status, the call returns it, the others are still written. */
    b.key_lens[1] = 0;
    b.value_lens[2] = 1; /* "\xa5" alone: a truncated document */
    CHECK_STATUS(cachekit_cache_set_many(cache, b.keys, b.key_lens, b.values, b.value_lens, 3, 60, b.statuses),
                 CACHEKIT_E_INVALID_KEY);
    CHECK(b.statuses[0] == CACHEKIT_OK && b.statuses[1] == CACHEKIT_E_INVALID_KEY);
    CHECK(b.statuses[2] != CACHEKIT_OK && b.statuses[2] < 0);
    fill(&b, "k");

    b.key_lens[KEYS - 1] = 0;
    CHECK_STATUS(cachekit_cache_delete_many(cache, b.keys, b.key_lens, KEYS, b.statuses), CACHEKIT_E_INVALID_KEY);
    CHECK(all(b.statuses, KEYS - 1, CACHEKIT_OK) && b.statuses[KEYS - 1] == CACHEKIT_E_INVALID_KEY);
    CHECK(!holds(cache, "k0") && holds(cache, "k99"));
    CHECK_STATUS(cachekit_cache_delete_many(cache, b.keys, b.key_lens, 3, b.statuses), CACHEKIT_OK);
    CHECK(all(b.statuses, 3, CACHEKIT_MISS));

    /* The arrays themselves: nothing done, statuses untouched. */
    b.statuses[0] = 99;
    CHECK_STATUS(cachekit_cache_set_many(cache, NULL, b.key_lens, b.values, b.value_lens, 2, 60, b.statuses),
                 CACHEKIT_E_NULL_POINTER);
    CHECK_STATUS(cachekit_cache_set_many(cache, b.keys, b.key_lens, b.values, b.value_lens, 2, 60, NULL),
                 CACHEKIT_E_NULL_POINTER);
    CHECK_STATUS(cachekit_cache_set_many(cache, b.keys, b.key_lens, b.values, b.value_lens, 2, -2, b.statuses),
                 CACHEKIT_E_INVALID_ARGUMENT);
    CHECK_STATUS(cachekit_cache_delete_many(cache, b.keys, b.key_lens, (size_t)1 << 21, b.statuses),
                 CACHEKIT_E_INVALID_ARGUMENT);
    CHECK(b.statuses[0] == 99);
    CHECK_STATUS(cachekit_cache_set_many(cache, NULL, NULL, NULL, NULL, 0, 60, NULL), CACHEKIT_OK);
    CHECK_STATUS(cachekit_cache_delete_many(cache, NULL, NULL, 0, NULL), CACHEKIT_OK);
    CHECK_STATUS(cachekit_cache_ttl(cache, (const uint8_t *)"k", 1, NULL), CACHEKIT_E_NULL_POINTER);
    CHECK_STATUS(cachekit_cache_ttl(NULL, (const uint8_t *)"k", 1, &ttl), CACHEKIT_E_NULL_POINTER);
    cachekit_cache_free(cache);
}

static void test_redis(const char *url) {
    static struct batch b;
    cachekit_cache *writer = make_cache(url), *reader = make_cache(url);
    int64_t ttl = 0;
    fill(&b, "r");
    CHECK_STATUS(cachekit_cache_set_many(writer, b.keys, b.key_lens, b.values, b.value_lens, KEYS, 120, b.statuses),
                 CACHEKIT_OK);
    CHECK(all(b.statuses, KEYS, CACHEKIT_OK));
    CHECK(holds(reader, "r0") && holds(reader, "r99")); /* from Redis: the reader's L1 was empty */
    CHECK_STATUS(cachekit_cache_ttl(reader, (const uint8_t *)"r5", 2, &ttl), CACHEKIT_OK);
    CHECK(ttl > 110 && ttl <= 120);
    CHECK_STATUS(cachekit_cache_delete_many(reader, b.keys, b.key_lens, KEYS / 2, b.statuses), CACHEKIT_OK);
    CHECK(all(b.statuses, KEYS / 2, CACHEKIT_OK));
    CHECK_STATUS(cachekit_cache_delete_many(reader, b.keys, b.key_lens, KEYS / 2, b.statuses), CACHEKIT_OK);
    CHECK(all(b.statuses, KEYS / 2, CACHEKIT_MISS)); /* gone from Redis */
    /* l1_tracking: Redis reports the reader's deletes, and the writer drops its L1 copy. */
    int writer_status = CACHEKIT_OK;
    for (int i = 0; i < 200 && (writer_status = cachekit_cache_exists(writer, (const uint8_t *)"r0", 2)) == CACHEKIT_OK; i++)
        nanosleep(&(struct timespec){0, 10 * 1000000L}, NULL);
    CHECK_STATUS(writer_status, CACHEKIT_MISS);
    CHECK_STATUS(cachekit_cache_ttl(reader, (const uint8_t *)"r0", 2, &ttl), CACHEKIT_MISS);

    /* Redis gone: writes fail open into L1, deletes report the backend status and clear L1. */
    kill(server, SIGTERM);
    waitpid(server, NULL, 0);
    fill(&b, "down");
    CHECK_STATUS(cachekit_cache_set_many(writer, b.keys, b.key_lens, b.values, b.value_lens, 2, 60, b.statuses),
                 CACHEKIT_OK);
    CHECK(all(b.statuses, 2, CACHEKIT_OK) && holds(writer, "down0"));
    CHECK_STATUS(cachekit_cache_ttl(writer, (const uint8_t *)"down0", 5, &ttl), CACHEKIT_OK);
    CHECK(ttl == 60); /* L1's lifetime when Redis cannot answer */
    CHECK(cachekit_cache_delete_many(writer, b.keys, b.key_lens, 2, b.statuses) == CACHEKIT_E_BACKEND_UNAVAILABLE);
    CHECK(all(b.statuses, 2, CACHEKIT_E_BACKEND_UNAVAILABLE) && !holds(writer, "down0"));
    cachekit_cache_free(writer);
    cachekit_cache_free(reader);
}

int main(void) {
    char url[64];
    int port = free_port();
    (void)check_from_hex;
    signal(SIGPIPE, SIG_IGN);
    unsetenv("CACHEKIT_REDIS_URL");
    unsetenv("REDIS_URL");
    test_embedded();
    if (port < 0 || !start_server(port, NULL)) {
        fprintf(stderr, "could not start redis-server\n");
        return 1;
    }
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", port);
    test_redis(url);
    return check_finish("test_cache_bulk");
}
