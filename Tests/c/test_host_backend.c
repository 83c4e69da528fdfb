/* A cache on the host's own second tier (cachekit_cache_new_with_backend): the callbacks see
 * the entries the library built (envelope, ciphertext in secure mode) under the full keys, L1
 * stays in front, what remaining_ms means for L1, fail-open on every kind of failing or
 * misbehaving callback (error statuses, unknown statuses, no value, a NULL or oversized value,
 * a put after the callback returned), argument checks and the release callback. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "cachekit.h"
#include "check.h"

#define SLOTS 8
static const uint8_t DOC[] = {0xa5, 'v', 'a', 'l', 'u', 'e'}; /* the MessagePack str "value" */
static const uint8_t BIG[600] = {0};

enum behaviour { NORMAL, FAIL_UNAVAILABLE, FAIL_FOREIGN, UNKNOWN_STATUS, OK_WITHOUT_VALUE, NULL_VALUE,
                 OVERSIZED_VALUE, KEEP_SINK };

struct store {
    char keys[SLOTS][128];
    uint8_t values[SLOTS][512];
    size_t lens[SLOTS];
    int used[SLOTS];
    int64_t last_ttl;
    int64_t remaining_ms;    /* handed to every put */
    enum behaviour mode;
    int gets, sets, dels, releases;
    int put_status;          /* what the last put returned */
    cachekit_host_value *kept; /* KEEP_SINK: the sink, for a put after the callback */
};

static int slot_of(struct store *s, const uint8_t *key, size_t len) {
    int i;
    for (i = 0; i < SLOTS; i++)
        if (s->used[i] && strlen(s->keys[i]) == len && memcmp(s->keys[i], key, len) == 0) return i;
    return -1;
}

static int host_get(void *userdata, const uint8_t *key, size_t key_len, cachekit_host_value *out) {
    struct store *s = userdata;
    int i = slot_of(s, key, key_len);
    s->gets++;
    switch (s->mode) {
    case FAIL_UNAVAILABLE: return CACHEKIT_E_BACKEND_UNAVAILABLE;
    case FAIL_FOREIGN: return CACHEKIT_E_AUTHENTICATION_FAILED; /* not a backend status */
    case UNKNOWN_STATUS: return 7;
    case OK_WITHOUT_VALUE: return CACHEKIT_OK;
    case NULL_VALUE: s->put_status = cachekit_host_value_put(out, NULL, 3, s->remaining_ms); return CACHEKIT_OK;
    case OVERSIZED_VALUE: s->put_status = cachekit_host_value_put(out, BIG, sizeof BIG, s->remaining_ms); return CACHEKIT_OK;
    case KEEP_SINK: s->kept = out; return CACHEKIT_MISS;
    case NORMAL: break;
    }
    if (i < 0) return CACHEKIT_MISS;
    s->put_status = cachekit_host_value_put(out, s->values[i], s->lens[i], s->remaining_ms);
    return CACHEKIT_OK;
}

static int host_set(void *userdata, const uint8_t *key, size_t key_len, const uint8_t *value, size_t value_len,
                    int64_t ttl_seconds) {
    struct store *s = userdata;
    int i = slot_of(s, key, key_len);
    s->sets++;
    if (s->mode == FAIL_UNAVAILABLE) return CACHEKIT_E_BACKEND_TIMEOUT;
    if (i < 0) for (i = 0; i < SLOTS && s->used[i]; i++) {}
    if (i >= SLOTS || key_len >= sizeof s->keys[0] || value_len > sizeof s->values[0]) return CACHEKIT_E_BACKEND_ERROR;
    memcpy(s->keys[i], key, key_len);
    s->keys[i][key_len] = '\0';
    memcpy(s->values[i], value, value_len);
    s->lens[i] = value_len;
    s->used[i] = 1;
    s->last_ttl = ttl_seconds;
    return CACHEKIT_OK;
}

static int host_del(void *userdata, const uint8_t *key, size_t key_len) {
    struct store *s = userdata;
    int i = slot_of(s, key, key_len);
    s->dels++;
    if (s->mode == FAIL_UNAVAILABLE) return CACHEKIT_E_BACKEND_UNAVAILABLE;
    if (i < 0) return CACHEKIT_MISS;
    s->used[i] = 0;
    return CACHEKIT_OK;
}

static int host_exists(void *userdata, const uint8_t *key, size_t key_len) {
    struct store *s = userdata;
    if (s->mode == FAIL_UNAVAILABLE) return CACHEKIT_E_BACKEND_UNAVAILABLE;
    return slot_of(s, key, key_len) >= 0 ? CACHEKIT_OK : CACHEKIT_MISS;
}

static void host_release(void *userdata) { ((struct store *)userdata)->releases++; }

static cachekit_host_backend backend_for(struct store *s) {
    cachekit_host_backend b;
    memset(&b, 0, sizeof b);
    b.version = CACHEKIT_HOST_BACKEND_VERSION;
    b.userdata = s;
    b.get = host_get;
    b.set = host_set;
    b.del = host_del;
    b.exists = host_exists;
    b.release = host_release;
    return b;
}

static cachekit_cache *make(struct store *s, const char *mode, const char *l1_entries, const char *max_value) {
    cachekit_config *config = NULL;
    cachekit_cache *cache = NULL;
    cachekit_host_backend b = backend_for(s);
    CHECK_STATUS(cachekit_config_new(&config), CACHEKIT_OK);
    CHECK_STATUS(cachekit_config_set(config, "mode", mode), CACHEKIT_OK);
    CHECK_STATUS(cachekit_config_set(config, "key_prefix", "t:default:"), CACHEKIT_OK);
    CHECK_STATUS(cachekit_config_set(config, "l1_max_entries", l1_entries), CACHEKIT_OK);
    if (max_value) CHECK_STATUS(cachekit_config_set(config, "max_value_size", max_value), CACHEKIT_OK);
    if (strcmp(mode, "secure") == 0)
        CHECK_STATUS(cachekit_config_set(config, "master_key",
                     "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"), CACHEKIT_OK);
    CHECK_STATUS(cachekit_cache_new_with_backend(config, &b, &cache), CACHEKIT_OK);
    cachekit_config_free(config);
    return cache;
}

static int reads(cachekit_cache *cache, const char *key) {
    cachekit_buffer out = {NULL, 0};
    int status = cachekit_cache_get(cache, (const uint8_t *)key, strlen(key), &out);
    if (status == CACHEKIT_OK) {
        CHECK(out.len == sizeof DOC && memcmp(out.data, DOC, sizeof DOC) == 0);
        cachekit_buffer_free(&out);
    }
    return status;
}

static int set(cachekit_cache *cache, const char *key, int64_t ttl) {
    return cachekit_cache_set(cache, (const uint8_t *)key, strlen(key), DOC, sizeof DOC, ttl);
}

static uint64_t errors(cachekit_cache *cache) {
    cachekit_cache_stats stats;
    memset(&stats, 0, sizeof stats);
    CHECK_STATUS(cachekit_cache_stats_get(cache, &stats), CACHEKIT_OK);
    return stats.errors;
}

static void test_round_trip(void) {
    struct store s;
    cachekit_cache *cache;
    int slot;
    memset(&s, 0, sizeof s);
    s.remaining_ms = CACHEKIT_HOST_TTL_UNKNOWN;
    cache = make(&s, "plain", "0", NULL);
    CHECK_STATUS(reads(cache, "k"), CACHEKIT_MISS);
    CHECK_STATUS(set(cache, "k", 30), CACHEKIT_OK);
    CHECK(s.last_ttl == 30);
    slot = slot_of(&s, (const uint8_t *)"t:default:k", 11);
    CHECK(slot >= 0);  /* the full key, prefix included */
    /* The entry, not the document: cachekit-py's CK v3 frame around the ByteStorage envelope. */
    CHECK(slot >= 0 && s.lens[slot] > sizeof DOC && memcmp(s.values[slot], "CK\x03", 3) == 0);
    CHECK_STATUS(reads(cache, "k"), CACHEKIT_OK);
    CHECK(s.gets == 2);  /* no L1: every read reaches the host */
    CHECK_STATUS(cachekit_cache_exists(cache, (const uint8_t *)"k", 1), CACHEKIT_OK);
    CHECK_STATUS(set(cache, "n", CACHEKIT_TTL_NONE), CACHEKIT_OK);
    CHECK(s.last_ttl == 0);
    CHECK_STATUS(cachekit_cache_delete(cache, (const uint8_t *)"k", 1), CACHEKIT_OK);
    CHECK(slot_of(&s, (const uint8_t *)"t:default:k", 11) < 0);
    CHECK_STATUS(reads(cache, "k"), CACHEKIT_MISS);
    CHECK_STATUS(cachekit_cache_invalidate_namespace(cache, "users", NULL), CACHEKIT_E_MODE_UNAVAILABLE);
    CHECK(s.releases == 0);
    cachekit_cache_free(cache);
    CHECK(s.releases == 1);
}

static void test_secure_stores_ciphertext(void) {
    struct store s;
    cachekit_cache *cache;
    int slot;
    size_t i;
    int plaintext = 0;
    memset(&s, 0, sizeof s);
    s.remaining_ms = CACHEKIT_HOST_TTL_UNKNOWN;
    cache = make(&s, "secure", "0", NULL);
    CHECK_STATUS(set(cache, "secret", 60), CACHEKIT_OK);
    slot = slot_of(&s, (const uint8_t *)"t:default:secret", 16);
    CHECK(slot >= 0);
    for (i = 0; slot >= 0 && i + 5 <= s.lens[slot]; i++)
        if (memcmp(s.values[slot] + i, "value", 5) == 0) plaintext = 1;
    CHECK(!plaintext);
    CHECK_STATUS(reads(cache, "secret"), CACHEKIT_OK);
    cachekit_cache_free(cache);
}

/* What remaining_ms tells L1: unknown and known lifetimes fill it, NOT_FOR_L1 does not. */
static void test_remaining_lifetime(void) {
    struct store s;
    cachekit_cache *cache;
    int64_t ttl = 0;
    memset(&s, 0, sizeof s);
    s.remaining_ms = CACHEKIT_HOST_TTL_NOT_FOR_L1;
    cache = make(&s, "plain", "100", NULL);
    CHECK_STATUS(set(cache, "k", 30), CACHEKIT_OK);
    {
        /* A second cache on the same store: its L1 starts empty, so its reads reach the host. */
        cachekit_cache *other = make(&s, "plain", "100", NULL);
        CHECK_STATUS(reads(other, "k"), CACHEKIT_OK);
        CHECK_STATUS(reads(other, "k"), CACHEKIT_OK);
        CHECK(s.gets == 2);  /* NOT_FOR_L1: both reads reached the host */
        s.remaining_ms = 20000;
        CHECK_STATUS(reads(other, "k"), CACHEKIT_OK);
        CHECK_STATUS(reads(other, "k"), CACHEKIT_OK);
        CHECK(s.gets == 3);  /* a known lifetime fills L1 */
        CHECK_STATUS(cachekit_cache_ttl(other, (const uint8_t *)"k", 1, &ttl), CACHEKIT_OK);
        CHECK(ttl == 20);    /* the host's answer */
        cachekit_cache_free(other);
    }
    {
        cachekit_cache *other = make(&s, "plain", "100", NULL);
        s.gets = 0;
        s.remaining_ms = CACHEKIT_HOST_TTL_UNKNOWN;
        CHECK_STATUS(reads(other, "k"), CACHEKIT_OK);
        CHECK_STATUS(reads(other, "k"), CACHEKIT_OK);
        CHECK(s.gets == 1);  /* unknown: L1 keeps it for the cache's default TTL */
        cachekit_cache_free(other);
    }
    cachekit_cache_free(cache);
    CHECK(s.releases == 3);
}

/* Every misbehaviour reads as a counted miss; writes still succeed; delete reports. */
static void test_fail_open(void) {
    struct store s;
    cachekit_cache *cache;
    uint64_t before;
    const enum behaviour failing[] = {FAIL_UNAVAILABLE, FAIL_FOREIGN, UNKNOWN_STATUS, OK_WITHOUT_VALUE,
                                      NULL_VALUE, OVERSIZED_VALUE};
    size_t i;
    memset(&s, 0, sizeof s);
    s.remaining_ms = CACHEKIT_HOST_TTL_UNKNOWN;
    cache = make(&s, "plain", "0", "512");
    CHECK_STATUS(set(cache, "k", 30), CACHEKIT_OK);
    for (i = 0; i < sizeof failing / sizeof failing[0]; i++) {
        s.mode = failing[i];
        before = errors(cache);
        CHECK_STATUS(reads(cache, "k"), CACHEKIT_MISS);
        CHECK(errors(cache) == before + 1);
    }
    s.mode = NULL_VALUE;
    CHECK_STATUS(reads(cache, "k"), CACHEKIT_MISS);
    CHECK(s.put_status == CACHEKIT_E_NULL_POINTER);
    s.mode = OVERSIZED_VALUE;  /* 600 bytes against max_value_size 512 */
    CHECK_STATUS(reads(cache, "k"), CACHEKIT_MISS);
    CHECK(s.put_status == CACHEKIT_E_VALUE_TOO_LARGE);
    s.mode = FAIL_UNAVAILABLE;
    CHECK_STATUS(set(cache, "k", 30), CACHEKIT_OK);  /* fail-open: counted, L1 would keep it */
    CHECK_STATUS(cachekit_cache_delete(cache, (const uint8_t *)"k", 1), CACHEKIT_E_BACKEND_UNAVAILABLE);
    s.mode = KEEP_SINK;
    CHECK_STATUS(reads(cache, "k"), CACHEKIT_MISS);
    CHECK(s.kept != NULL);
    /* The sink died with its callback: a late put is misuse, not a write into freed memory. */
    CHECK_STATUS(cachekit_host_value_put(s.kept, DOC, sizeof DOC, 0), CACHEKIT_E_MISUSE);
    cachekit_cache_free(cache);
}

static void test_arguments(void) {
    struct store s;
    cachekit_cache *cache = NULL;
    cachekit_host_backend b;
    memset(&s, 0, sizeof s);
    b = backend_for(&s);
    CHECK_STATUS(cachekit_cache_new_with_backend(NULL, NULL, &cache), CACHEKIT_E_NULL_POINTER);
    CHECK_STATUS(cachekit_cache_new_with_backend(NULL, &b, NULL), CACHEKIT_E_NULL_POINTER);
    b.get = NULL;
    CHECK_STATUS(cachekit_cache_new_with_backend(NULL, &b, &cache), CACHEKIT_E_NULL_POINTER);
    b = backend_for(&s);
    b.version = 2;
    CHECK_STATUS(cachekit_cache_new_with_backend(NULL, &b, &cache), CACHEKIT_E_INVALID_ARGUMENT);
    CHECK(cache == NULL && s.releases == 0);  /* a refused backend is never released */
    CHECK_STATUS(cachekit_host_value_put(NULL, DOC, sizeof DOC, 0), CACHEKIT_E_NULL_POINTER);
    b = backend_for(&s);
    b.release = NULL;  /* optional */
    CHECK_STATUS(cachekit_cache_new_with_backend(NULL, &b, &cache), CACHEKIT_OK);
    cachekit_cache_free(cache);
    CHECK(s.releases == 0);
}

int main(void) {
    test_round_trip();
    test_secure_stores_ciphertext();
    test_remaining_lifetime();
    test_fail_open();
    test_arguments();
    return check_finish("test_host_backend");
}
