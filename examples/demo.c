/* libcachekit at work on its embedded default (no Redis configured: an in-memory L1 cache), as a
 * C host sees it through include/cachekit.h: cachekit-py's keys, get-or-compute, MessagePack values
 * built and read without a msgpack library, the entry that would go to Redis, encryption, integrity
 * and misuse. Set CACHEKIT_REDIS_URL to put Redis behind the same code. */
#define _POSIX_C_SOURCE 200809L
#include "cachekit.h"
#include <stdio.h>
#include <string.h>
#include <time.h>

#define DEMO_MASTER_KEY "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

static int failed(const char *what, int status) {
    fprintf(stderr, "%s: %s (%s)\n", what, cachekit_strerror(status), cachekit_last_error_message());
    return 1;
}

/* The "expensive" function behind the cache: get_user(user_id) -> {"id", "name", "score"}. */
static int compute_user(void *userdata, const uint8_t *key, size_t key_len, cachekit_buffer *out) {
    int *calls = (int *)userdata;
    cachekit_msgpack_writer *w = NULL;
    int status;
    (void)key; (void)key_len;
    (*calls)++;
    if ((status = cachekit_msgpack_writer_new(&w)) != CACHEKIT_OK) return status;
    cachekit_msgpack_write_map(w, 3);
    cachekit_msgpack_write_str(w, "id", 2);
    cachekit_msgpack_write_int(w, 42);
    cachekit_msgpack_write_str(w, "name", 4);
    cachekit_msgpack_write_str(w, "Ada Lovelace", 12);
    cachekit_msgpack_write_str(w, "score", 5);
    cachekit_msgpack_write_float64(w, 0.5);
    status = cachekit_msgpack_writer_finish(w, out);
    cachekit_msgpack_writer_free(w);
    return status;
}

/* Prints one scalar item. */
static void print_item(const cachekit_msgpack_item *item) {
    switch (item->type) {
    case CACHEKIT_MSGPACK_STR: printf("\"%.*s\"", (int)item->len, (const char *)item->data); break;
    case CACHEKIT_MSGPACK_UINT: printf("%llu", (unsigned long long)item->u64); break;
    case CACHEKIT_MSGPACK_INT: printf("%lld", (long long)item->i64); break;
    case CACHEKIT_MSGPACK_FLOAT32: case CACHEKIT_MSGPACK_FLOAT64: printf("%g", item->f64); break;
    case CACHEKIT_MSGPACK_NIL: printf("null"); break;
    case CACHEKIT_MSGPACK_BOOL: printf(item->boolean ? "true" : "false"); break;
    default: printf("..."); break;
    }
}

/* Prints a flat MessagePack map such as compute_user's, with the library's reader. */
static void print_value(const cachekit_buffer *value) {
    cachekit_msgpack_reader *r = NULL;
    cachekit_msgpack_item item;
    size_t pair, pairs;
    if (cachekit_msgpack_reader_new(value->data, value->len, &r) != CACHEKIT_OK) return;
    cachekit_msgpack_reader_next(r, &item);
    pairs = item.type == CACHEKIT_MSGPACK_MAP ? item.count : 0;
    printf("{");
    for (pair = 0; pair < pairs; pair++) {
        printf(pair ? ", " : "");
        cachekit_msgpack_reader_next(r, &item);
        print_item(&item);
        printf(": ");
        cachekit_msgpack_reader_next(r, &item);
        print_item(&item);
    }
    printf("}\n");
    cachekit_msgpack_reader_free(r);
}

static double seconds_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(void) {
    static const uint8_t args[] = {0x91, 0x2a}; /* msgpack [42]: the call's positional arguments */
    cachekit_cache *cache = NULL;
    cachekit_cache_health_report health;
    cachekit_cache_stats stats;
    cachekit_buffer key = {NULL, 0}, value = {NULL, 0}, entry = {NULL, 0}, back = {NULL, 0};
    cachekit_keyring *keyring = NULL, *wrong = NULL;
    char redis_key[512];
    int calls = 0, round, status, i;
    size_t header_len;
    const int hits = 1000000;
    double start;

    printf("libcachekit %s\n", cachekit_version_string());
    if ((status = cachekit_cache_new(NULL, &cache)) != CACHEKIT_OK) return failed("cache_new", status);
    cachekit_cache_health(cache, &health);
    printf("cache: %s\n\n", health.detail);

    /* 1. The key cachekit-py's @cache computes for myapp.users.get_user(42). */
    if ((status = cachekit_key_auto(NULL, "myapp.users.get_user", args, sizeof args, NULL, 0, 1, NULL, &key)) != CACHEKIT_OK) {
        return failed("key_auto", status);
    }
    printf("1. cache key (identical to cachekit-py's): %s\n", (const char *)key.data);

    /* 2. get-or-compute: the first call computes, the next ones hit L1. */
    for (round = 1; round <= 2; round++) {
        status = cachekit_cache_get_or_compute(cache, key.data, key.len, 600, compute_user, &calls, &value);
        if (status != CACHEKIT_OK) return failed("get_or_compute", status);
        printf("2. call %d (%s): ", round, calls == round ? "computed" : "cache hit");
        print_value(&value);
        cachekit_buffer_free(&value);
    }
    start = seconds_now();
    for (i = 0; i < hits; i++) {
        if (cachekit_cache_get(cache, key.data, key.len, &value) != CACHEKIT_OK) return failed("get", -1);
        cachekit_buffer_free(&value);
    }
    printf("   %d L1 hits: %.0f ns each; the function ran %d time(s)\n", hits,
           (seconds_now() - start) / hits * 1e9, calls);
    cachekit_cache_stats_get(cache, &stats);
    printf("   stats: %llu hits (%llu L1), %llu misses, %llu computes, %llu entries / %llu bytes in L1\n\n",
           (unsigned long long)stats.hits, (unsigned long long)stats.l1_hits, (unsigned long long)stats.misses,
           (unsigned long long)stats.computes, (unsigned long long)stats.l1_entries, (unsigned long long)stats.l1_bytes);

    /* 3. The entry that would be stored in Redis, plain and encrypted (zero-knowledge). */
    snprintf(redis_key, sizeof redis_key, "t:default:%s", (const char *)key.data);
    cachekit_cache_get(cache, key.data, key.len, &value);
    if ((status = cachekit_entry_encode(value.data, value.len, CACHEKIT_MODE_AUTO, redis_key, NULL, NULL, 0, &entry)) != CACHEKIT_OK) {
        return failed("entry_encode", status);
    }
    header_len = (size_t)entry.data[3] << 24 | (size_t)entry.data[4] << 16 | (size_t)entry.data[5] << 8 | entry.data[6];
    printf("3. Redis value, plain (%zu bytes): CK v3 frame, header %.*s\n", entry.len, (int)header_len,
           (const char *)entry.data + 7);
    printf("   then a %zu-byte ByteStorage envelope (LZ4 + xxHash3-64)\n", entry.len - 7 - header_len);
    cachekit_buffer_free(&entry);
    if ((status = cachekit_keyring_new(DEMO_MASTER_KEY, NULL, &keyring)) != CACHEKIT_OK) return failed("keyring_new", status);
    if ((status = cachekit_entry_encode(value.data, value.len, CACHEKIT_MODE_AUTO, redis_key, keyring, "default", 0, &entry)) != CACHEKIT_OK) {
        return failed("entry_encode (secure)", status);
    }
    header_len = (size_t)entry.data[3] << 24 | (size_t)entry.data[4] << 16 | (size_t)entry.data[5] << 8 | entry.data[6];
    printf("   encrypted (%zu bytes): CK v3 frame, header %.*s\n", entry.len, (int)header_len, (const char *)entry.data + 7);
    printf("   then %zu bytes of nonce || AES-256-GCM ciphertext || tag\n", entry.len - 7 - header_len);
    status = cachekit_entry_decode(entry.data, entry.len, CACHEKIT_MODE_AUTO, redis_key, keyring, "default", 0, &back);
    printf("   decrypted with the right key: %s\n", status == CACHEKIT_OK && back.len == value.len ? "identical" : "FAILED");
    cachekit_buffer_free(&back);
    cachekit_keyring_new("ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", NULL, &wrong);
    status = cachekit_entry_decode(entry.data, entry.len, CACHEKIT_MODE_AUTO, redis_key, wrong, "default", 0, &back);
    printf("   with another key: %d (%s)\n\n", status, cachekit_strerror(status));

    /* 4. Integrity: one flipped bit in a stored entry is caught, never returned as data. */
    cachekit_buffer_free(&entry);
    cachekit_entry_encode(value.data, value.len, CACHEKIT_MODE_AUTO, redis_key, NULL, NULL, 0, &entry);
    entry.data[entry.len - 12] ^= 0x01;
    status = cachekit_entry_decode(entry.data, entry.len, CACHEKIT_MODE_AUTO, redis_key, NULL, NULL, 0, &back);
    printf("4. corrupted entry -> %d (%s): %s\n", status, cachekit_strerror(status), cachekit_last_error_message());

    /* 5. Misuse is a status and a message, never a crash. */
    status = cachekit_cache_get(cache, NULL, 5, &back);
    printf("5. NULL key -> %d (%s): %s\n", status, cachekit_strerror(status), cachekit_last_error_message());

    cachekit_buffer_free(&entry);
    cachekit_buffer_free(&value);
    cachekit_buffer_free(&key);
    cachekit_keyring_free(keyring);
    cachekit_keyring_free(wrong);
    cachekit_cache_free(cache);
    return 0;
}
