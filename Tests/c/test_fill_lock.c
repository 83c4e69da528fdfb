/* The fill lock across C hosts: four processes, each with its own cache on one private
 * redis-server, miss one key at once; the compute callback (which sleeps 1 s) runs exactly once
 * and every process returns its value (the others wait on the lock and read what it stored). */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cachekit.h"
#include "check.h"
#include "redis_server.h"

#define HOSTS 4

static const uint8_t value_doc[] = {0xa5, 'v', 'a', 'l', 'u', 'e'};
static volatile int *runs;  /* shared with every child (MAP_SHARED) */

static int slow_compute(void *userdata, const uint8_t *key, size_t key_len, cachekit_buffer *out) {
    (void)userdata; (void)key; (void)key_len;
    __sync_fetch_and_add(runs, 1);
    pause_ms(1000);
    return cachekit_buffer_set(out, value_doc, sizeof value_doc);
}

/* One host: its own cache, released by the parent closing `go`, one get_or_compute. */
static int host(const char *url, int go) {
    cachekit_config *config = NULL;
    cachekit_cache *cache = NULL;
    cachekit_buffer out = {NULL, 0};
    char byte;
    int ok;
    if (cachekit_config_new(&config) != CACHEKIT_OK) return 2;
    if (cachekit_config_set(config, "redis_url", url) != CACHEKIT_OK) return 3;
    if (cachekit_cache_new(config, &cache) != CACHEKIT_OK) return 4;
    cachekit_config_free(config);
    if (read(go, &byte, 1) != 0) return 5;  /* EOF: every host starts now */
    if (cachekit_cache_get_or_compute(cache, (const uint8_t *)"stampede", 8, 60, slow_compute, NULL, &out)
            != CACHEKIT_OK) return 6;
    ok = out.len == sizeof value_doc && memcmp(out.data, value_doc, out.len) == 0;
    cachekit_buffer_free(&out);
    cachekit_cache_free(cache);
    return ok ? 0 : 7;
}

int main(void) {
    char url[64];
    int port = free_port(), pipe_ends[2], i, status, all_returned = 1;
    pid_t children[HOSTS];
    runs = mmap(NULL, sizeof *runs, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(runs != MAP_FAILED);
    CHECK(port > 0 && start_server(port, NULL));
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", port);
    CHECK(pipe(pipe_ends) == 0);
    for (i = 0; i < HOSTS; i++) {
        children[i] = fork();
        if (children[i] == 0) {
            close(pipe_ends[1]);
            _exit(host(url, pipe_ends[0]));
        }
    }
    close(pipe_ends[0]);
    pause_ms(300);  /* the hosts open their caches; the lock, not this pause, is what is tested */
    close(pipe_ends[1]);
    for (i = 0; i < HOSTS; i++) {
        CHECK(waitpid(children[i], &status, 0) == children[i]);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            printf("host %d ended with status %d\n", i, status);
            all_returned = 0;
        }
    }
    CHECK(all_returned);
    printf("compute ran %d times across %d hosts\n", *runs, HOSTS);
    CHECK(*runs == 1);
    kill(server, SIGTERM);
    waitpid(server, NULL, 0);
    return check_finish("test_fill_lock");
}
