/* Hostile callers: every size_t parameter given 2^63 and SIZE_MAX (sizes no object can have) is
 * CACHEKIT_E_INVALID_ARGUMENT and writes nothing, and calls on freed handles, second frees and
 * handles of another type are CACHEKIT_E_MISUSE instead of crashes. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cachekit.h"
#include "check.h"

static const size_t huge[] = {(size_t)1 << (sizeof(size_t) * 8 - 1), SIZE_MAX};
#define HUGE_COUNT (sizeof huge / sizeof huge[0])
static const char *master_hex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
static uint8_t bytes[64];

static int compute_huge(void *userdata, const uint8_t *key, size_t key_len, cachekit_buffer *out) {
    (void)key; (void)key_len; (void)userdata;
    out->data = (uint8_t *)malloc(1); /* the library frees what the callback leaves in out */
    out->len = SIZE_MAX;
    return 0;
}

static void test_sizes_in_codec_and_crypto(cachekit_keyring *keyring) {
    size_t i;
    for (i = 0; i < HUGE_COUNT; i++) {
        size_t n = huge[i], out_len = 7;
        uint64_t hash = 0;
        char format[16];
        cachekit_buffer out = {NULL, 0}, env = {NULL, 0};
        uint8_t key[32];
        char fp[33];
        CHECK_STATUS(cachekit_buffer_set(&out, bytes, n), CACHEKIT_E_INVALID_ARGUMENT);
        CHECK(out.data == NULL);
        CHECK(cachekit_lz4_compress_bound(n) == 0);
        CHECK_STATUS(cachekit_lz4_compress(bytes, n, key, sizeof key, &out_len), CACHEKIT_E_INVALID_ARGUMENT);
        CHECK_STATUS(cachekit_lz4_compress(bytes, 4, key, n, &out_len), CACHEKIT_E_INVALID_ARGUMENT);
        CHECK_STATUS(cachekit_lz4_decompress(bytes, n, key, sizeof key, &out_len), CACHEKIT_E_INVALID_ARGUMENT);
        CHECK_STATUS(cachekit_lz4_decompress(bytes, 4, key, n, &out_len), CACHEKIT_E_INVALID_ARGUMENT);
        CHECK(out_len == 7);
        CHECK_STATUS(cachekit_xxh3_64(bytes, n, &hash), CACHEKIT_E_INVALID_ARGUMENT);
        CHECK_STATUS(cachekit_envelope_store(bytes, n, NULL, &env), CACHEKIT_E_INVALID_ARGUMENT);
        /* format_capacity of 2^63 or more: refused, not OK with an unwritten tag (issue 13). */
        CHECK_STATUS(cachekit_envelope_store(bytes, 3, NULL, &env), CACHEKIT_OK);
        CHECK_STATUS(cachekit_envelope_retrieve(env.data, n, &out, NULL, 0), CACHEKIT_E_INVALID_ARGUMENT);
        memset(format, 'x', sizeof format);
        CHECK_STATUS(cachekit_envelope_retrieve(env.data, env.len, &out, format, n), CACHEKIT_E_INVALID_ARGUMENT);
        CHECK(out.data == NULL);
        CHECK(format[0] == 'x');
        cachekit_buffer_free(&env);
        CHECK_STATUS(cachekit_hkdf_sha256(bytes, n, NULL, 0, NULL, 0, key, 32), CACHEKIT_E_INVALID_ARGUMENT);
        CHECK_STATUS(cachekit_hkdf_sha256(bytes, 32, bytes, n, NULL, 0, key, 32), CACHEKIT_E_INVALID_ARGUMENT);
        CHECK_STATUS(cachekit_hkdf_sha256(bytes, 32, NULL, 0, bytes, n, key, 32), CACHEKIT_E_INVALID_ARGUMENT);
        CHECK_STATUS(cachekit_hkdf_sha256(bytes, 32, NULL, 0, NULL, 0, key, n), CACHEKIT_E_INVALID_ARGUMENT);
        CHECK_STATUS(cachekit_derive_domain_key(bytes, n, "encryption", "default", key), CACHEKIT_E_INVALID_ARGUMENT);
        CHECK_STATUS(cachekit_key_fingerprint(bytes, n, fp), CACHEKIT_E_INVALID_ARGUMENT);
        CHECK_STATUS(cachekit_keyring_fingerprint(keyring, "default", n, fp), CACHEKIT_E_INVALID_ARGUMENT);
        CHECK_STATUS(cachekit_keyring_encrypt(keyring, "default", bytes, n, NULL, 0, &out, NULL), CACHEKIT_E_INVALID_ARGUMENT);
        CHECK_STATUS(cachekit_keyring_encrypt(keyring, "default", bytes, 4, bytes, n, &out, NULL), CACHEKIT_E_INVALID_ARGUMENT);
        CHECK_STATUS(cachekit_keyring_decrypt(keyring, "default", bytes, n, NULL, 0, NULL, &out), CACHEKIT_E_INVALID_ARGUMENT);
        CHECK_STATUS(cachekit_keyring_decrypt(keyring, "default", bytes, 40, bytes, n, NULL, &out), CACHEKIT_E_INVALID_ARGUMENT);
        CHECK(out.data == NULL);
    }
}

static void test_sizes_in_values_keys_and_entries(void) {
    size_t i;
    for (i = 0; i < HUGE_COUNT; i++) {
        size_t n = huge[i];
        cachekit_msgpack_writer *writer = NULL;
        cachekit_msgpack_reader *reader = NULL;
        cachekit_buffer out = {NULL, 0};
        CHECK_STATUS(cachekit_msgpack_writer_new(&writer), CACHEKIT_OK);
        CHECK_STATUS(cachekit_msgpack_write_str(writer, "abc", n), CACHEKIT_E_INVALID_ARGUMENT);
        CHECK_STATUS(cachekit_msgpack_write_bin(writer, bytes, n), CACHEKIT_E_INVALID_ARGUMENT);
        CHECK_STATUS(cachekit_msgpack_write_ext(writer, 1, bytes, n), CACHEKIT_E_INVALID_ARGUMENT);
        CHECK_STATUS(cachekit_msgpack_write_raw(writer, bytes, n), CACHEKIT_E_INVALID_ARGUMENT);
        CHECK_STATUS(cachekit_msgpack_write_array(writer, n), CACHEKIT_E_INVALID_ARGUMENT);
        CHECK_STATUS(cachekit_msgpack_write_map(writer, n), CACHEKIT_E_INVALID_ARGUMENT);
        /* The writer is unchanged: it still finishes one nil. */
        CHECK_STATUS(cachekit_msgpack_write_nil(writer), CACHEKIT_OK);
        CHECK_STATUS(cachekit_msgpack_writer_finish(writer, &out), CACHEKIT_OK);
        CHECK(out.len == 1 && out.data[0] == 0xc0);
        cachekit_buffer_free(&out);
        cachekit_msgpack_writer_free(writer);
        CHECK_STATUS(cachekit_msgpack_reader_new(bytes, n, &reader), CACHEKIT_E_INVALID_ARGUMENT);
        CHECK(reader == NULL);
        CHECK_STATUS(cachekit_key_auto("ns", "f", bytes, n, NULL, 0, 1, NULL, &out), CACHEKIT_E_INVALID_ARGUMENT);
        CHECK_STATUS(cachekit_key_auto("ns", "f", NULL, 0, bytes, n, 1, NULL, &out), CACHEKIT_E_INVALID_ARGUMENT);
        CHECK_STATUS(cachekit_key_interop("ns", "op", bytes, n, &out), CACHEKIT_E_INVALID_ARGUMENT);
        CHECK_STATUS(cachekit_entry_encode(bytes, n, 0, "k", NULL, NULL, 0, &out), CACHEKIT_E_INVALID_ARGUMENT);
        CHECK_STATUS(cachekit_entry_decode(bytes, n, 0, "k", NULL, NULL, 0, &out), CACHEKIT_E_INVALID_ARGUMENT);
        CHECK(out.data == NULL);
    }
}

static void test_sizes_in_the_cache(cachekit_cache *cache) {
    size_t i;
    for (i = 0; i < HUGE_COUNT; i++) {
        size_t n = huge[i], len = 1;
        const uint8_t *keys[1] = {bytes};
        size_t lens[1];
        cachekit_buffer values[1], out = {NULL, 0};
        int statuses[1];
        uint64_t removed = 99;
        lens[0] = n;
        CHECK_STATUS(cachekit_cache_get(cache, bytes, n, &out), CACHEKIT_E_INVALID_ARGUMENT);
        CHECK_STATUS(cachekit_cache_get_local(cache, bytes, n, &out), CACHEKIT_E_INVALID_ARGUMENT);
        CHECK_STATUS(cachekit_cache_set(cache, bytes, n, bytes, 1, -1), CACHEKIT_E_INVALID_ARGUMENT);
        CHECK_STATUS(cachekit_cache_set(cache, (const uint8_t *)"k", 1, bytes, n, -1), CACHEKIT_E_INVALID_ARGUMENT);
        CHECK_STATUS(cachekit_cache_delete(cache, bytes, n), CACHEKIT_E_INVALID_ARGUMENT);
        CHECK_STATUS(cachekit_cache_exists(cache, bytes, n), CACHEKIT_E_INVALID_ARGUMENT);
        CHECK_STATUS(cachekit_cache_get_many(cache, keys, &len, n, values, statuses), CACHEKIT_E_INVALID_ARGUMENT);
        CHECK_STATUS(cachekit_cache_get_many(cache, keys, lens, 1, values, statuses), CACHEKIT_E_INVALID_ARGUMENT);
        CHECK_STATUS(cachekit_cache_get_or_compute(cache, bytes, n, -1, compute_huge, bytes, &out),
                     CACHEKIT_E_INVALID_ARGUMENT);
        /* The callback's own buffer length is checked too. */
        CHECK_STATUS(cachekit_cache_get_or_compute(cache, (const uint8_t *)"huge", 4, -1, compute_huge, bytes, &out),
                     CACHEKIT_E_COMPUTE_FAILED);
        CHECK_STATUS(cachekit_cache_track_key(cache, "ck:reg::f", bytes, n), CACHEKIT_E_INVALID_ARGUMENT);
        CHECK_STATUS(cachekit_cache_set_tracked(cache, "ck:reg::f", bytes, n, bytes, 1, -1), CACHEKIT_E_INVALID_ARGUMENT);
        CHECK_STATUS(cachekit_cache_set_tracked(cache, "ck:reg::f", (const uint8_t *)"k", 1, bytes, n, -1),
                     CACHEKIT_E_INVALID_ARGUMENT);
        CHECK_STATUS(cachekit_cache_drain_registry(cache, "ck:reg::f", keys, &len, n, &removed), CACHEKIT_E_INVALID_ARGUMENT);
        CHECK_STATUS(cachekit_cache_drain_registry(cache, "ck:reg::f", keys, lens, 1, &removed), CACHEKIT_E_INVALID_ARGUMENT);
        CHECK(removed == 99);
        CHECK_STATUS(cachekit_cache_publish_invalidation(cache, "ck:reg::f", bytes, n), CACHEKIT_E_INVALID_ARGUMENT);
        CHECK(out.data == NULL);
    }
}

static void test_freed_handles(void) {
    cachekit_config *config = NULL;
    cachekit_cache *cache = NULL;
    cachekit_keyring *keyring = NULL;
    cachekit_msgpack_writer *writer = NULL;
    cachekit_msgpack_reader *reader = NULL;
    cachekit_msgpack_item item;
    cachekit_buffer out = {NULL, 0};
    cachekit_cache_stats stats;
    size_t count = 0;
    uint8_t nil = 0xc0;

    CHECK_STATUS(cachekit_config_new(&config), CACHEKIT_OK);
    CHECK_STATUS(cachekit_cache_new(config, &cache), CACHEKIT_OK);
    /* A handle of another type is refused, not reinterpreted. */
    CHECK_STATUS(cachekit_cache_stats_get((cachekit_cache *)config, &stats), CACHEKIT_E_MISUSE);
    CHECK_STATUS(cachekit_config_set((cachekit_config *)cache, "mode", "plain"), CACHEKIT_E_MISUSE);
    cachekit_config_free(config);
    CHECK_STATUS(cachekit_config_set(config, "mode", "plain"), CACHEKIT_E_MISUSE);
    CHECK(strstr(cachekit_last_error_message(), "already freed") != NULL);
    CHECK_STATUS(cachekit_cache_new(config, &cache), CACHEKIT_E_MISUSE);
    cachekit_config_free(config); /* a second free is ignored */
    CHECK_STATUS(cachekit_cache_set(cache, (const uint8_t *)"k", 1, &nil, 1, -1), CACHEKIT_OK);
    cachekit_cache_free(cache);
    CHECK_STATUS(cachekit_cache_get(cache, (const uint8_t *)"k", 1, &out), CACHEKIT_E_MISUSE);
    CHECK_STATUS(cachekit_cache_set(cache, (const uint8_t *)"k", 1, &nil, 1, -1), CACHEKIT_E_MISUSE);
    CHECK_STATUS(cachekit_cache_stats_get(cache, &stats), CACHEKIT_E_MISUSE);
    CHECK(out.data == NULL);
    cachekit_cache_free(cache);

    CHECK_STATUS(cachekit_keyring_new(master_hex, NULL, &keyring), CACHEKIT_OK);
    cachekit_keyring_free(keyring);
    CHECK_STATUS(cachekit_keyring_key_count(keyring, &count), CACHEKIT_E_MISUSE);
    CHECK_STATUS(cachekit_entry_encode(&nil, 1, 0, "k", keyring, NULL, 0, &out), CACHEKIT_E_MISUSE);
    CHECK(count == 0);
    cachekit_keyring_free(keyring);

    CHECK_STATUS(cachekit_msgpack_writer_new(&writer), CACHEKIT_OK);
    cachekit_msgpack_writer_free(writer);
    CHECK_STATUS(cachekit_msgpack_write_nil(writer), CACHEKIT_E_MISUSE);
    cachekit_msgpack_writer_reset(writer);
    CHECK(strstr(cachekit_last_error_message(), "already freed") != NULL);
    cachekit_msgpack_writer_free(writer);

    CHECK_STATUS(cachekit_msgpack_reader_new(&nil, 1, &reader), CACHEKIT_OK);
    cachekit_msgpack_reader_free(reader);
    CHECK_STATUS(cachekit_msgpack_reader_next(reader, &item), CACHEKIT_E_MISUSE);
    CHECK_STATUS(cachekit_msgpack_reader_skip(reader), CACHEKIT_E_MISUSE);
    cachekit_msgpack_reader_free(reader);
    CHECK(strcmp(cachekit_strerror(CACHEKIT_E_MISUSE), "unknown status") != 0);
}

/* One failed call and one successful call on the calling thread: the message is set, then "". */
static void *fail_then_succeed(void *unused) {
    cachekit_config *config = NULL;
    (void)unused;
    CHECK(cachekit_config_set(NULL, "mode", "plain") != CACHEKIT_OK);
    CHECK(cachekit_last_error_message()[0] != '\0');
    CHECK_STATUS(cachekit_config_new(&config), CACHEKIT_OK);
    CHECK(cachekit_last_error_message()[0] == '\0');
    cachekit_config_free(config);
    return NULL;
}

/* Each thread's message is its own: a success clears the caller's message only (a success
 * skips the thread-local clear while no thread has a message). */
static void test_last_error_is_per_thread(void) {
    cachekit_config *config = NULL;
    pthread_t other;
    fail_then_succeed(NULL);
    CHECK(cachekit_config_set(NULL, "mode", "plain") != CACHEKIT_OK);
    CHECK(pthread_create(&other, NULL, fail_then_succeed, NULL) == 0);
    CHECK(pthread_join(other, NULL) == 0);
    CHECK(cachekit_last_error_message()[0] != '\0');
    CHECK_STATUS(cachekit_config_new(&config), CACHEKIT_OK);
    CHECK(cachekit_last_error_message()[0] == '\0');
    CHECK_STATUS(cachekit_config_set(config, "mode", "plain"), CACHEKIT_OK);
    CHECK(cachekit_last_error_message()[0] == '\0');
    cachekit_config_free(config);
}

int main(void) {
    cachekit_keyring *keyring = NULL;
    cachekit_config *config = NULL;
    cachekit_cache *cache = NULL;
    size_t master_len = 0;
    unsigned char *master = check_from_hex(master_hex, &master_len);
    memcpy(bytes, master, master_len); /* a valid 32-byte key where one is read */
    free(master);
    CHECK_STATUS(cachekit_keyring_new(master_hex, NULL, &keyring), CACHEKIT_OK);
    test_sizes_in_codec_and_crypto(keyring);
    cachekit_keyring_free(keyring);
    test_sizes_in_values_keys_and_entries();
    CHECK_STATUS(cachekit_config_new(&config), CACHEKIT_OK);
    CHECK_STATUS(cachekit_cache_new(config, &cache), CACHEKIT_OK);
    cachekit_config_free(config);
    test_sizes_in_the_cache(cache);
    cachekit_cache_free(cache);
    test_freed_handles();
    test_last_error_is_per_thread();
    return check_finish("test_misuse");
}
