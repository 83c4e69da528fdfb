/* Credentials do not outlive their owners in freed heap: this program defines free() and
 * realloc(), which interpose over libc's for libcachekit.so too (the Swift runtime, hiredis and
 * OpenSSL all free through free()), and scans every block before it is released for pieces of
 * the Redis password and of the master keys. A cache is configured with both, used against a
 * real redis-server started here with --requirepass, and freed: no freed block may hold them.
 * A wrong password's error message and health detail do not carry it either, nor does the
 * freed heap when a fake server quotes the password back. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <malloc.h>
#include <netinet/in.h>
#include <pthread.h>
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

/* The password as the URL spells it (%40 is '@') and as AUTH sends it. */
#define PASSWORD_IN_URL "ZqX9kW3mV7tKu%40rL8pB2nC6hJ4"
#define PASSWORD "ZqX9kW3mV7tKu@rL8pB2nC6hJ4"
#define WRONG_PASSWORD "Yw8jQ2vN5xR7s%40dF3gH6kL9mP1"
#define MASTER_KEY "7c3e9a1f5b2d8e4c6a0f9b3d7e1c5a2f8d4b6e0c9a3f7d1b5e2c8a4f6d0b9e3c"
#define PREVIOUS_KEY "e4b8d2f6a0c9e3b7d1f5a9c4e8b2d6f0a3c7e1b5d9f4a8c2e6b0d3f7a1c5e9b4"

/* Pieces either side of the percent escape, so the encoded and the decoded form both count;
 * the keys' first and last 20 digits, and the master key's first 8 bytes once decoded. */
static const char *const fragments[] = {
    "ZqX9kW3mV7tKu", "rL8pB2nC6hJ4", "Yw8jQ2vN5xR7s", "dF3gH6kL9mP1",
    "7c3e9a1f5b2d8e4c6a0f", "e0c9a3f7d1b5e2c8a4f6d0b9e3c", "e4b8d2f6a0c9e3b7d1f5", "a3c7e1b5d9f4a8c2e6b0d3f7a1c5e9b4",
    "\x7c\x3e\x9a\x1f\x5b\x2d\x8e\x4c",
};
#define FRAGMENTS (sizeof fragments / sizeof fragments[0])
static size_t fragment_lengths[FRAGMENTS];

static void (*real_free)(void *) = NULL;
static void *(*real_malloc)(size_t) = NULL;
static int resolving = 0;
static int scanning = 0;          /* off until main has set up, off again at the end */
static pthread_mutex_t hits_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long hits = 0;
static unsigned long hits_by_fragment[FRAGMENTS];

static void resolve(void) {
    void *symbol;
    if (real_free != NULL || resolving) return;
    resolving = 1;  /* dlsym may allocate and free: such blocks leak rather than recurse */
    symbol = dlsym(RTLD_NEXT, "malloc");
    memcpy(&real_malloc, &symbol, sizeof symbol);  /* ISO C has no object-to-function cast */
    symbol = dlsym(RTLD_NEXT, "free");
    memcpy(&real_free, &symbol, sizeof symbol);
    resolving = 0;
}

static void scan(const unsigned char *block, size_t size) {
    size_t f;
    for (f = 0; f < FRAGMENTS; f++) {
        if (memmem(block, size, fragments[f], fragment_lengths[f]) != NULL) {
            pthread_mutex_lock(&hits_lock);
            hits++;
            hits_by_fragment[f]++;
            pthread_mutex_unlock(&hits_lock);
        }
    }
}

void free(void *pointer) {
    if (pointer == NULL) return;
    resolve();
    if (real_free == NULL) return;
    if (scanning) scan((const unsigned char *)pointer, malloc_usable_size(pointer));
    real_free(pointer);
}

/* A realloc that always moves, so the old block passes through free() and is scanned. */
void *realloc(void *pointer, size_t size) {
    void *moved;
    size_t old_size;
    resolve();
    if (real_malloc == NULL) return NULL;
    if (pointer == NULL) return real_malloc(size);
    if (size == 0) {
        free(pointer);
        return NULL;
    }
    moved = real_malloc(size);
    if (moved == NULL) return NULL;
    old_size = malloc_usable_size(pointer);
    memcpy(moved, pointer, old_size < size ? old_size : size);
    free(pointer);
    return moved;
}

static int carries_secret(const char *text) {
    size_t f;
    for (f = 0; f < FRAGMENTS; f++) {
        if (memmem(text, strlen(text), fragments[f], fragment_lengths[f]) != NULL) return 1;
    }
    return 0;
}

static cachekit_config *secret_config(const char *url) {
    cachekit_config *config = NULL;
    if (cachekit_config_new(&config) != CACHEKIT_OK) return NULL;
    CHECK_STATUS(cachekit_config_set(config, "redis_url", url), CACHEKIT_OK);
    CHECK_STATUS(cachekit_config_set(config, "mode", "secure"), CACHEKIT_OK);
    CHECK_STATUS(cachekit_config_set(config, "master_key", MASTER_KEY), CACHEKIT_OK);
    CHECK_STATUS(cachekit_config_set(config, "previous_master_keys", PREVIOUS_KEY), CACHEKIT_OK);
    CHECK_STATUS(cachekit_config_set(config, "l1_max_bytes", "0"), CACHEKIT_OK);
    CHECK_STATUS(cachekit_config_set(config, "pool_size", "2"), CACHEKIT_OK);
    CHECK_STATUS(cachekit_config_set(config, "connect_timeout_ms", "2000"), CACHEKIT_OK);
    return config;
}

/* A cache with the right password, a listener, a few operations, then cache and config freed. */
static void use_and_free(int port) {
    static const uint8_t value[] = {0xa5, 'h', 'e', 'l', 'l', 'o'};
    char url[128];
    cachekit_config *config;
    cachekit_cache *cache = NULL;
    cachekit_cache_health_report health;
    cachekit_buffer out = {0};
    const uint8_t *keys[2];
    size_t lengths[2];
    cachekit_buffer values[2];
    int statuses[2];
    snprintf(url, sizeof url, "redis://:%s@127.0.0.1:%d/0", PASSWORD_IN_URL, port);
    config = secret_config(url);
    CHECK(config != NULL);
    if (config == NULL) return;
    CHECK_STATUS(cachekit_config_set(config, "invalidation_listener", "1"), CACHEKIT_OK);
    CHECK_STATUS(cachekit_cache_new(config, &cache), CACHEKIT_OK);
    if (cache != NULL) {
        CHECK_STATUS(cachekit_cache_set(cache, (const uint8_t *)"secret:a", 8, value, sizeof value, 60), CACHEKIT_OK);
        CHECK_STATUS(cachekit_cache_set(cache, (const uint8_t *)"secret:b", 8, value, sizeof value, 60), CACHEKIT_OK);
        CHECK_STATUS(cachekit_cache_get(cache, (const uint8_t *)"secret:a", 8, &out), CACHEKIT_OK);
        CHECK(out.len == sizeof value && memcmp(out.data, value, sizeof value) == 0);
        cachekit_buffer_free(&out);
        keys[0] = (const uint8_t *)"secret:a";
        keys[1] = (const uint8_t *)"secret:b";
        lengths[0] = lengths[1] = 8;
        memset(values, 0, sizeof values);
        CHECK_STATUS(cachekit_cache_get_many(cache, keys, lengths, 2, values, statuses), CACHEKIT_OK);
        CHECK(statuses[0] == CACHEKIT_OK && statuses[1] == CACHEKIT_OK);
        cachekit_buffer_free(&values[0]);
        cachekit_buffer_free(&values[1]);
        CHECK_STATUS(cachekit_cache_delete(cache, (const uint8_t *)"secret:b", 8), CACHEKIT_OK);
        CHECK_STATUS(cachekit_cache_exists(cache, (const uint8_t *)"secret:b", 8), CACHEKIT_MISS);
        CHECK_STATUS(cachekit_cache_health(cache, &health), CACHEKIT_OK);
        CHECK_STATUS(health.l2_status, CACHEKIT_OK);
        CHECK(!carries_secret(health.detail));
        pause_ms(300);  /* the listener's thread connects and authenticates too */
        cachekit_cache_free(cache);
    }
    cachekit_config_free(config);
}

/* A fake server that refuses every command by quoting the password back, as
 * `-WRONGPASS invalid password '...'` can: the library wipes what it read of that reply. */
static int echo_listener = -1;

static void *echo_server(void *unused) {
    static const char reply[] = "-WRONGPASS invalid password '" PASSWORD "'\r\n";
    char request[512];
    int client;
    (void)unused;
    while ((client = accept(echo_listener, NULL, NULL)) >= 0) {
        while (read(client, request, sizeof request) > 0) {
            if (write(client, reply, sizeof reply - 1) < 0) break;
        }
        close(client);
    }
    return NULL;
}

static int start_echo_server(pthread_t *thread) {
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    echo_listener = socket(AF_INET, SOCK_STREAM, 0);
    if (echo_listener < 0 || bind(echo_listener, (struct sockaddr *)&a, sizeof a) != 0 || listen(echo_listener, 8) != 0 ||
        getsockname(echo_listener, (struct sockaddr *)&a, &len) != 0 || pthread_create(thread, NULL, echo_server, NULL) != 0) {
        return -1;
    }
    return ntohs(a.sin_port);
}

/* The same secrets from cachekit-py's environment variables (cache_new with no config). */
static void from_environment(int port) {
    char url[128];
    cachekit_cache *cache = NULL;
    cachekit_cache_health_report health;
    snprintf(url, sizeof url, "redis://:%s@127.0.0.1:%d/0", PASSWORD_IN_URL, port);
    /* The environment is the host's copy: set before scanning, so only the library's count. */
    setenv("CACHEKIT_REDIS_URL", url, 1);
    setenv("CACHEKIT_MODE", "secure", 1);
    setenv("CACHEKIT_MASTER_KEY", MASTER_KEY, 1);
    setenv("CACHEKIT_PREVIOUS_MASTER_KEYS", PREVIOUS_KEY, 1);
    scanning = 1;
    CHECK_STATUS(cachekit_cache_new(NULL, &cache), CACHEKIT_OK);
    if (cache != NULL) {
        CHECK_STATUS(cachekit_cache_health(cache, &health), CACHEKIT_OK);
        CHECK_STATUS(health.l2_status, CACHEKIT_OK);
        cachekit_cache_free(cache);
    }
    scanning = 0;
    unsetenv("CACHEKIT_REDIS_URL");
    unsetenv("CACHEKIT_MODE");
    unsetenv("CACHEKIT_MASTER_KEY");
    unsetenv("CACHEKIT_PREVIOUS_MASTER_KEYS");
}

/* A cache whose AUTH is refused (a wrong password, or a server quoting the password back):
 * the status says so, and neither the message nor the health detail repeats a secret. */
static void refused_without_leak(const char *password_in_url, int port) {
    char url[128];
    cachekit_config *config;
    cachekit_cache *cache = NULL;
    cachekit_cache_health_report health;
    cachekit_buffer out = {0};
    snprintf(url, sizeof url, "redis://:%s@127.0.0.1:%d/0", password_in_url, port);
    config = secret_config(url);
    CHECK(config != NULL);
    if (config == NULL) return;
    CHECK_STATUS(cachekit_cache_new(config, &cache), CACHEKIT_OK);
    if (cache != NULL) {
        CHECK_STATUS(cachekit_cache_get(cache, (const uint8_t *)"secret:a", 8, &out), CACHEKIT_MISS);
        CHECK(!carries_secret(cachekit_last_error_message()));
        CHECK_STATUS(cachekit_cache_health(cache, &health), CACHEKIT_OK);
        CHECK_STATUS(health.l2_status, CACHEKIT_E_BACKEND_AUTH);
        CHECK(!carries_secret(health.detail));
        CHECK(strstr(health.detail, "refused the credentials") != NULL);
        printf("health detail: %s\n", health.detail);
        cachekit_cache_free(cache);
    }
    cachekit_config_free(config);
}

/* A malformed master key is refused without being echoed. */
static void malformed_master_key(void) {
    cachekit_config *config;
    CHECK_STATUS(cachekit_config_new(&config), CACHEKIT_OK);
    CHECK_STATUS(cachekit_config_set(config, "master_key", MASTER_KEY "zz"), CACHEKIT_E_INVALID_CONFIG);
    CHECK(!carries_secret(cachekit_last_error_message()));
    cachekit_config_free(config);
}

int main(void) {
    int port = free_port(), echo_port;
    pthread_t echo_thread;
    size_t f;
    (void)check_from_hex;
    signal(SIGPIPE, SIG_IGN);
    for (f = 0; f < FRAGMENTS; f++) fragment_lengths[f] = strlen(fragments[f]);
    if (port < 0 || !start_server(port, PASSWORD)) {
        fprintf(stderr, "could not start redis-server\n");
        return 1;
    }
    echo_port = start_echo_server(&echo_thread);
    CHECK(echo_port > 0);
    scanning = 1;
    use_and_free(port);
    refused_without_leak(WRONG_PASSWORD, port);
    malformed_master_key();
    if (echo_port > 0) refused_without_leak(PASSWORD_IN_URL, echo_port);
    scanning = 0;
    from_environment(port);
    if (echo_port > 0) {
        shutdown(echo_listener, SHUT_RDWR);
        close(echo_listener);
        pthread_join(echo_thread, NULL);
    }
    for (f = 0; f < FRAGMENTS; f++) {
        if (hits_by_fragment[f] > 0) fprintf(stderr, "fragment %lu was in %lu freed blocks\n", (unsigned long)f, hits_by_fragment[f]);
    }
    printf("freed blocks holding a secret: %lu\n", hits);
    CHECK(hits == 0);
    kill(server, SIGTERM);
    waitpid(server, NULL, 0);
    return check_finish("test_secrets_heap");
}
