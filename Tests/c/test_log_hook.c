/* The process log hook (issue 12): events arrive at the level asked, from several threads at
 * once, with the namespace and a key hash but never the key or the value; a handler cannot
 * replace itself from inside a call; nothing arrives once it is removed. Also the argument
 * checks of the metrics text and the health report. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cachekit.h"
#include "check.h"

#define THREADS 4
#define ROUNDS 200

struct tally {
    pthread_mutex_t lock;
    long sets, hits, misses, other, below_level, bad_fields, leaked, reentry_refused;
    int min_level;
    int try_reentry;
    pthread_t threads[THREADS + 1];
    int thread_count;
};

static struct tally tally = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, {0}, 0};

static const char *field(const cachekit_log_field *fields, size_t count, const char *name) {
    size_t i;
    for (i = 0; i < count; i++) {
        if (strcmp(fields[i].name, name) == 0) return fields[i].value;
    }
    return NULL;
}

static int is_hex16(const char *text) {
    size_t i;
    if (text == NULL || strlen(text) != 16) return 0;
    for (i = 0; i < 16; i++) {
        if (!((text[i] >= '0' && text[i] <= '9') || (text[i] >= 'a' && text[i] <= 'f'))) return 0;
    }
    return 1;
}

static void handler(void *userdata, int level, const char *event, const cachekit_log_field *fields, size_t count) {
    struct tally *t = (struct tally *)userdata;
    const char *ns = field(fields, count, "namespace");
    size_t i;
    int j, known = 0, leaked = 0;
    for (i = 0; i < count; i++) {
        if (strstr(fields[i].value, "user-secret") != NULL || strstr(fields[i].value, "VALUE") != NULL) leaked = 1;
    }
    pthread_mutex_lock(&t->lock);
    if (level < t->min_level) t->below_level++;
    if (ns == NULL || strcmp(ns, "c-test") != 0) t->bad_fields++;
    if (leaked) t->leaked++;
    if (strcmp(event, "cache.set") == 0) {
        t->sets++;
        if (!is_hex16(field(fields, count, "key_hash"))) t->bad_fields++;
    } else if (strcmp(event, "cache.hit") == 0) {
        t->hits++;
        if (!is_hex16(field(fields, count, "key_hash"))) t->bad_fields++;
        if (field(fields, count, "tier") == NULL || strcmp(field(fields, count, "tier"), "l1") != 0) t->bad_fields++;
    } else if (strcmp(event, "cache.miss") == 0) {
        t->misses++;
    } else {
        t->other++;
    }
    for (j = 0; j < t->thread_count; j++) {
        if (pthread_equal(t->threads[j], pthread_self())) known = 1;
    }
    if (!known && t->thread_count < THREADS + 1) t->threads[t->thread_count++] = pthread_self();
    if (t->try_reentry) {
        t->try_reentry = 0;
        pthread_mutex_unlock(&t->lock);
        if (cachekit_set_log_handler(NULL, NULL, CACHEKIT_LOG_DEBUG) == CACHEKIT_E_MISUSE) {
            pthread_mutex_lock(&t->lock);
            t->reentry_refused++;
            pthread_mutex_unlock(&t->lock);
        }
        return;
    }
    pthread_mutex_unlock(&t->lock);
}

static cachekit_cache *make_cache(void) {
    cachekit_config *config = NULL;
    cachekit_cache *cache = NULL;
    CHECK_STATUS(cachekit_config_new(&config), CACHEKIT_OK);
    CHECK_STATUS(cachekit_config_set(config, "metrics_namespace", "c-test"), CACHEKIT_OK);
    CHECK_STATUS(cachekit_config_set(config, "log_sampling_rate", "1.0"), CACHEKIT_OK);
    CHECK_STATUS(cachekit_cache_new(config, &cache), CACHEKIT_OK);
    cachekit_config_free(config);
    return cache;
}

static void *worker(void *cache) {
    static const uint8_t value[] = {0xa5, 'V', 'A', 'L', 'U', 'E'};
    char key[64];
    int i, n = 0;
    for (i = 0; i < ROUNDS; i++) {
        cachekit_buffer out = {NULL, 0};
        n = snprintf(key, sizeof key, "user-secret-%lu-%d", (unsigned long)(uintptr_t)&out % 100000u, i);
        if (cachekit_cache_set((cachekit_cache *)cache, (const uint8_t *)key, (size_t)n, value, sizeof value, 60) != CACHEKIT_OK) return (void *)1;
        if (cachekit_cache_get((cachekit_cache *)cache, (const uint8_t *)key, (size_t)n, &out) != CACHEKIT_OK) return (void *)1;
        cachekit_buffer_free(&out);
    }
    return NULL;
}

static void run_threads(cachekit_cache *cache) {
    pthread_t threads[THREADS];
    int i;
    for (i = 0; i < THREADS; i++) CHECK(pthread_create(&threads[i], NULL, worker, cache) == 0);
    for (i = 0; i < THREADS; i++) {
        void *result = NULL;
        pthread_join(threads[i], &result);
        CHECK(result == NULL);
    }
}

static void reset(int min_level) {
    pthread_mutex_lock(&tally.lock);
    tally.sets = tally.hits = tally.misses = tally.other = tally.below_level = 0;
    tally.bad_fields = tally.leaked = 0;
    tally.thread_count = 0;
    tally.min_level = min_level;
    pthread_mutex_unlock(&tally.lock);
}

int main(void) {
    cachekit_cache *cache = make_cache();
    cachekit_buffer out = {NULL, 0};

    CHECK_STATUS(cachekit_set_log_handler(handler, &tally, 15), CACHEKIT_E_INVALID_ARGUMENT);

    /* DEBUG: every set and hit, from every worker thread. */
    reset(CACHEKIT_LOG_DEBUG);
    CHECK_STATUS(cachekit_set_log_handler(handler, &tally, CACHEKIT_LOG_DEBUG), CACHEKIT_OK);
    run_threads(cache);
    CHECK_STATUS(cachekit_cache_get(cache, (const uint8_t *)"absent", 6, &out), CACHEKIT_MISS);
    CHECK(tally.sets == THREADS * ROUNDS);
    CHECK(tally.hits == THREADS * ROUNDS);
    CHECK(tally.misses == 1);
    CHECK(tally.thread_count >= THREADS);
    CHECK(tally.below_level == 0);
    CHECK(tally.bad_fields == 0);
    CHECK(tally.leaked == 0);

    /* WARNING: the same operations produce no DEBUG event. */
    reset(CACHEKIT_LOG_WARNING);
    CHECK_STATUS(cachekit_set_log_handler(handler, &tally, CACHEKIT_LOG_WARNING), CACHEKIT_OK);
    run_threads(cache);
    CHECK(tally.sets == 0 && tally.hits == 0 && tally.misses == 0);
    CHECK(tally.below_level == 0);

    /* A handler may not replace itself from inside a call (it would wait for itself). */
    reset(CACHEKIT_LOG_DEBUG);
    CHECK_STATUS(cachekit_set_log_handler(handler, &tally, CACHEKIT_LOG_DEBUG), CACHEKIT_OK);
    pthread_mutex_lock(&tally.lock);
    tally.try_reentry = 1;
    pthread_mutex_unlock(&tally.lock);
    CHECK_STATUS(cachekit_cache_get(cache, (const uint8_t *)"absent", 6, &out), CACHEKIT_MISS);
    CHECK(tally.reentry_refused == 1);

    /* A forked child keeps the handler and logs from its own thread. */
    CHECK_STATUS(cachekit_set_log_handler(handler, &tally, CACHEKIT_LOG_DEBUG), CACHEKIT_OK);
    {
        pid_t child;
        int status = -1;
        fflush(NULL);
        child = fork();
        if (child == 0) {
            cachekit_buffer miss = {NULL, 0};
            reset(CACHEKIT_LOG_DEBUG);
            cachekit_cache_get(cache, (const uint8_t *)"absent", 6, &miss);
            _exit(tally.misses == 1 ? 0 : 1);
        }
        CHECK(child > 0 && waitpid(child, &status, 0) == child);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }

    /* Removed: nothing more arrives. */
    CHECK_STATUS(cachekit_set_log_handler(NULL, NULL, CACHEKIT_LOG_DEBUG), CACHEKIT_OK);
    reset(CACHEKIT_LOG_DEBUG);
    run_threads(cache);
    CHECK_STATUS(cachekit_cache_get(cache, (const uint8_t *)"absent", 6, &out), CACHEKIT_MISS);
    CHECK(tally.sets == 0 && tally.hits == 0 && tally.misses == 0 && tally.other == 0);

    /* The metrics text and the health report: NUL-terminated text, NULL arguments refused. */
    CHECK_STATUS(cachekit_cache_metrics_text(cache, &out), CACHEKIT_OK);
    CHECK(out.data != NULL && out.data[out.len] == 0 && strstr((const char *)out.data, "namespace=\"c-test\"") != NULL);
    CHECK(strstr((const char *)out.data, "user-secret") == NULL);
    cachekit_buffer_free(&out);
    CHECK_STATUS(cachekit_cache_health_v2(cache, &out), CACHEKIT_OK);
    CHECK(out.data != NULL && strncmp((const char *)out.data, "{\"status\": \"healthy\"", strlen("{\"status\": \"healthy\"")) == 0);
    cachekit_buffer_free(&out);
    CHECK_STATUS(cachekit_cache_metrics_text(NULL, &out), CACHEKIT_E_NULL_POINTER);
    CHECK_STATUS(cachekit_cache_metrics_text(cache, NULL), CACHEKIT_E_NULL_POINTER);
    CHECK_STATUS(cachekit_cache_health_v2(NULL, &out), CACHEKIT_E_NULL_POINTER);
    CHECK_STATUS(cachekit_cache_health_v2(cache, NULL), CACHEKIT_E_NULL_POINTER);

    cachekit_cache_free(cache);
    return check_finish("test_log_hook");
}
