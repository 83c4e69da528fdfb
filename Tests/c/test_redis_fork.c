/* A cache used before fork() keeps working in the parent and in every child: each process reads
 * only its own replies (no connection is shared across the fork), in plain and secure mode, and
 * no reader deletes another's valid entries. Starts its own redis-server on a free loopback port. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cachekit.h"
#include "check.h"
#include "redis_server.h"

#define KEYS 200
#define CHILDREN 3
#define MASTER_KEY "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

static cachekit_cache *make_cache(const char *url, const char *mode) {
    cachekit_config *config = NULL;
    cachekit_cache *cache = NULL;
    if (cachekit_config_new(&config) != CACHEKIT_OK) return NULL;
    cachekit_config_set(config, "redis_url", url);
    cachekit_config_set(config, "mode", mode);
    cachekit_config_set(config, "l1_max_bytes", "0");
    cachekit_config_set(config, "pool_size", "4");
    if (strcmp(mode, "secure") == 0) cachekit_config_set(config, "master_key", MASTER_KEY);
    if (cachekit_cache_new(config, &cache) != CACHEKIT_OK) cache = NULL;
    cachekit_config_free(config);
    return cache;
}

static void key_name(char *out, size_t size, int i) { snprintf(out, size, "fork:key:%d", i); }

/* The value stored under key i: a MessagePack str naming the key, so a crossed reply shows. */
static size_t value_for(uint8_t *out, int i) {
    char text[32];
    int n = snprintf(text, sizeof text, "value-of-%d", i);
    out[0] = (uint8_t)(0xa0 | n);
    memcpy(out + 1, text, (size_t)n);
    return (size_t)n + 1;
}

/* Reads every key several times in a process-specific order; returns the number of wrong or
 * failed reads. */
static int read_all(cachekit_cache *cache, unsigned seed) {
    int round, j, wrong = 0;
    for (round = 0; round < 5; round++) {
        for (j = 0; j < KEYS; j++) {
            int i = (int)((j * 7u + seed * 13u + (unsigned)round * 31u) % KEYS);
            char key[32];
            uint8_t expected[40];
            size_t expected_len = value_for(expected, i);
            cachekit_buffer out = {0};
            key_name(key, sizeof key, i);
            if (cachekit_cache_get(cache, (const uint8_t *)key, strlen(key), &out) != CACHEKIT_OK ||
                out.len != expected_len || memcmp(out.data, expected, expected_len) != 0) wrong++;
            cachekit_buffer_free(&out);
        }
    }
    return wrong;
}

static void run_mode(const char *url, const char *mode) {
    cachekit_cache *cache = make_cache(url, mode);
    pid_t children[CHILDREN];
    int i, status, wrong;
    CHECK(cache != NULL);
    if (!cache) return;
    for (i = 0; i < KEYS; i++) {
        char key[32];
        uint8_t value[40];
        size_t len = value_for(value, i);
        key_name(key, sizeof key, i);
        CHECK_STATUS(cachekit_cache_set(cache, (const uint8_t *)key, strlen(key), value, len, 300), CACHEKIT_OK);
    }
    CHECK(read_all(cache, 0) == 0);  /* the pool now holds open connections */
    for (i = 0; i < CHILDREN; i++) {
        children[i] = fork();
        if (children[i] == 0) {
            /* The child reads through connections of its own: the inherited ones were let go. */
            cachekit_redis_stats redis_stats;
            int wrong_in_child = read_all(cache, (unsigned)i + 1);
            if (cachekit_cache_redis_stats(cache, &redis_stats) != CACHEKIT_OK) _exit(3);
            if (redis_stats.connections_abandoned < 1 || redis_stats.connections_opened < 1) _exit(2);
            _exit(wrong_in_child == 0 ? 0 : 1);
        }
    }
    wrong = read_all(cache, 99);
    for (i = 0; i < CHILDREN; i++) {
        CHECK(waitpid(children[i], &status, 0) == children[i]);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    CHECK(wrong == 0);
    /* No reader deleted anything: every entry is still in Redis. */
    for (i = 0; i < KEYS; i++) {
        char key[32];
        key_name(key, sizeof key, i);
        CHECK_STATUS(cachekit_cache_exists(cache, (const uint8_t *)key, strlen(key)), CACHEKIT_OK);
    }
    printf("%s mode: parent %d wrong reads after fork\n", mode, wrong);
    cachekit_cache_free(cache);
}

int main(void) {
    char url[64];
    int port = free_port();
    (void)check_from_hex;
    signal(SIGPIPE, SIG_IGN);
    if (port < 0 || !start_server(port, NULL)) {
        fprintf(stderr, "could not start redis-server\n");
        return 1;
    }
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", port);
    run_mode(url, "plain");
    run_mode(url, "secure");
    kill(server, SIGTERM);
    waitpid(server, NULL, 0);
    return check_finish("test_redis_fork");
}
