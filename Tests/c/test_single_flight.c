/* get_or_compute's in-process single flight is bounded: while one caller's compute callback
 * blocks, a second caller for the same key waits single_flight_wait_ms, then computes its own
 * value and returns it (issue 13: it used to wait for ever). */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "cachekit.h"
#include "check.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static int leader_entered = 0, leader_released = 0, waiter_done = 0;
static int waiter_status = 0;
static cachekit_buffer waiter_value = {NULL, 0};

static const uint8_t leader_doc[] = {0xa6, 'l', 'e', 'a', 'd', 'e', 'r'};
static const uint8_t waiter_doc[] = {0xa6, 'w', 'a', 'i', 't', 'e', 'r'};

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1000.0 + (double)t.tv_nsec / 1e6;
}

/* Blocks until the test releases it: a callback that does not return. */
static int blocking_compute(void *userdata, const uint8_t *key, size_t key_len, cachekit_buffer *out) {
    (void)userdata; (void)key; (void)key_len;
    pthread_mutex_lock(&lock);
    leader_entered = 1;
    pthread_cond_broadcast(&changed);
    while (!leader_released) pthread_cond_wait(&changed, &lock);
    pthread_mutex_unlock(&lock);
    return cachekit_buffer_set(out, leader_doc, sizeof leader_doc);
}

static int quick_compute(void *userdata, const uint8_t *key, size_t key_len, cachekit_buffer *out) {
    (void)userdata; (void)key; (void)key_len;
    return cachekit_buffer_set(out, waiter_doc, sizeof waiter_doc);
}

static void *leader(void *cache) {
    cachekit_buffer out = {NULL, 0};
    CHECK_STATUS(cachekit_cache_get_or_compute((cachekit_cache *)cache, (const uint8_t *)"k", 1, 60,
                                               blocking_compute, NULL, &out), CACHEKIT_OK);
    CHECK(out.len == sizeof leader_doc && memcmp(out.data, leader_doc, out.len) == 0);
    cachekit_buffer_free(&out);
    return NULL;
}

static void *waiter(void *cache) {
    cachekit_buffer out = {NULL, 0};
    int status = cachekit_cache_get_or_compute((cachekit_cache *)cache, (const uint8_t *)"k", 1, 60,
                                               quick_compute, NULL, &out);
    pthread_mutex_lock(&lock);
    waiter_status = status;
    waiter_value = out;
    waiter_done = 1;
    pthread_cond_broadcast(&changed);
    pthread_mutex_unlock(&lock);
    return NULL;
}

static void test_a_waiter_computes_after_its_bound(void) {
    cachekit_config *config = NULL;
    cachekit_cache *cache = NULL;
    cachekit_cache_stats stats;
    pthread_t leader_thread, waiter_thread;
    struct timespec deadline;
    double started, waited;
    CHECK_STATUS(cachekit_config_new(&config), CACHEKIT_OK);
    CHECK_STATUS(cachekit_config_set(config, "single_flight_wait_ms", "200"), CACHEKIT_OK);
    CHECK_STATUS(cachekit_cache_new(config, &cache), CACHEKIT_OK);
    cachekit_config_free(config);

    pthread_create(&leader_thread, NULL, leader, cache);
    pthread_mutex_lock(&lock);
    while (!leader_entered) pthread_cond_wait(&changed, &lock);
    pthread_mutex_unlock(&lock);

    started = now_ms();
    pthread_create(&waiter_thread, NULL, waiter, cache);
    /* Give the waiter 5 s (25 x its bound) before calling it stuck; then release the leader so
     * the test ends either way. */
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 5;
    pthread_mutex_lock(&lock);
    while (!waiter_done) {
        if (pthread_cond_timedwait(&changed, &lock, &deadline) != 0) break;
    }
    waited = now_ms() - started;
    CHECK(waiter_done);
    leader_released = 1;
    pthread_cond_broadcast(&changed);
    pthread_mutex_unlock(&lock);
    pthread_join(waiter_thread, NULL);
    pthread_join(leader_thread, NULL);

    CHECK(waited >= 190.0);
    CHECK(waited < 5000.0);
    CHECK_STATUS(waiter_status, CACHEKIT_OK);
    CHECK(waiter_value.len == sizeof waiter_doc && memcmp(waiter_value.data, waiter_doc, waiter_value.len) == 0);
    cachekit_buffer_free(&waiter_value);
    CHECK_STATUS(cachekit_cache_stats_get(cache, &stats), CACHEKIT_OK);
    CHECK(stats.computes == 2);   /* the leader's and the waiter's own */
    CHECK(stats.coalesced == 0);  /* the waiter did not get the leader's value */
    cachekit_cache_free(cache);
}

static void test_the_option_is_bounded(void) {
    cachekit_config *config = NULL;
    CHECK_STATUS(cachekit_config_new(&config), CACHEKIT_OK);
    CHECK_STATUS(cachekit_config_set(config, "single_flight_wait_ms", "0"), CACHEKIT_E_INVALID_CONFIG);
    CHECK_STATUS(cachekit_config_set(config, "single_flight_wait_ms", "3600001"), CACHEKIT_E_INVALID_CONFIG);
    CHECK_STATUS(cachekit_config_set(config, "single_flight_wait_ms", "3600000"), CACHEKIT_OK);
    CHECK_STATUS(cachekit_config_set(config, "single_flight_wait_ms", "1"), CACHEKIT_OK);
    cachekit_config_free(config);
}

int main(void) {
    test_the_option_is_bounded();
    test_a_waiter_computes_after_its_bound();
    return check_finish("test_single_flight");
}
