/* Redis Cluster against a single Redis, measured in the same run (L1 off, 1 KiB values):
 *  1. one get: p50 through a 3-primary cluster (redis+cluster://) against the same get through a
 *     single redis-server, interleaved (target: <= 1.1x once the slot map is warm);
 *  2. gets/s of 4 threads reading 1000 keys, cluster against single;
 *  3. get_many of 100 keys (spread over every primary): p50 and ratio.
 * Servers: a private single redis-server and three cluster-enabled ones joined with
 * `redis-cli --cluster create` on free loopback ports, stopped at the end. */
#define _GNU_SOURCE
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cachekit.h"
#include "common.h"
#include "servers.h"

#define KEYS 1000
#define SAMPLES 4001
#define MANY 100
#define MANY_SAMPLES 1001
#define THREADS 4
#define GETS_PER_THREAD 5000
#define PRIMARIES 3

static char keys[KEYS][32];
static const char *key_list[KEYS];
static char conf_dir[64] = "";

static cachekit_cache *make_cache(const char *url) {
    cachekit_config *config;
    cachekit_cache *cache;
    int rc;
    if ((rc = cachekit_config_new(&config)) != 0) die("config_new", rc);
    if ((rc = cachekit_config_set(config, "redis_url", url)) != 0) die("redis_url", rc);
    cachekit_config_set(config, "l1_max_bytes", "0");
    if ((rc = cachekit_cache_new(config, &cache)) != 0) die("cache_new", rc);
    cachekit_config_free(config);
    return cache;
}

static int cluster_ok(int port) {
    redisContext *c = redisConnect("127.0.0.1", port);
    redisReply *r;
    int ok;
    if (!c || c->err) { if (c) redisFree(c); return 0; }
    r = redisCommand(c, "CLUSTER INFO");
    ok = r && r->type == REDIS_REPLY_STRING && strstr(r->str, "cluster_state:ok") != NULL;
    if (r) freeReplyObject(r);
    redisFree(c);
    return ok;
}

/* Three primaries, no replicas: throughput is what is measured. Returns the first port. */
static int start_cluster(void) {
    char ports[PRIMARIES][8], buses[PRIMARIES][8], files[PRIMARIES][128], cmd[512];
    int port[PRIMARIES], i, tries;
    strcpy(conf_dir, "/tmp/ck-bench-cluster-XXXXXX");
    if (!mkdtemp(conf_dir)) die("mkdtemp", -1);
    for (i = 0; i < PRIMARIES; i++) {
        port[i] = free_port();
        snprintf(ports[i], sizeof ports[i], "%d", port[i]);
        snprintf(buses[i], sizeof buses[i], "%d", free_port());  /* the bus port, set apart from port + 10000 */
        snprintf(files[i], sizeof files[i], "%s/nodes-%d.conf", conf_dir, port[i]);
        {
            const char *args[] = {"--port", ports[i], "--cluster-enabled", "yes", "--cluster-port", buses[i],
                                  "--cluster-config-file", files[i], "--dir", conf_dir, NULL};
            start_server(args);
        }
        wait_for_port(port[i]);
    }
    snprintf(cmd, sizeof cmd, "redis-cli --cluster create 127.0.0.1:%d 127.0.0.1:%d 127.0.0.1:%d --cluster-yes >/dev/null",
             port[0], port[1], port[2]);
    if (system(cmd) != 0) die("redis-cli --cluster create", -1);
    for (tries = 0; tries < 400; tries++) {
        int ready = 1;
        for (i = 0; i < PRIMARIES; i++) ready = ready && cluster_ok(port[i]);
        if (ready) return port[0];
        usleep(25000);
    }
    die("the cluster did not reach cluster_state:ok", -1);
    return 0;
}

static int single_get(void *context, const char *key, cachekit_buffer *out) {
    return cachekit_cache_get((cachekit_cache *)context, (const uint8_t *)key, strlen(key), out);
}

static double throughput(cachekit_cache *cache) {
    pthread_t tid[THREADS];
    bench_load_worker w[THREADS];
    int t, failures = 0;
    uint64_t t0 = now_ns();
    for (t = 0; t < THREADS; t++) {
        bench_load_worker worker = {cache, key_list, KEYS, t * 131, GETS_PER_THREAD, NULL, 0};
        w[t] = worker;
        pthread_create(&tid[t], NULL, bench_load_thread, &w[t]);
    }
    for (t = 0; t < THREADS; t++) { pthread_join(tid[t], NULL); failures += w[t].failures; }
    if (failures) die("a get under load", failures);
    return THREADS * GETS_PER_THREAD / ((double)(now_ns() - t0) / 1e9);
}

static double get_many_ns(cachekit_cache *cache, int first) {
    const uint8_t *ptrs[MANY];
    size_t lens[MANY];
    cachekit_buffer values[MANY];
    int statuses[MANY], i, rc;
    uint64_t t0;
    for (i = 0; i < MANY; i++) {
        ptrs[i] = (const uint8_t *)keys[(first + i) % KEYS];
        lens[i] = strlen(keys[(first + i) % KEYS]);
    }
    t0 = now_ns();
    rc = cachekit_cache_get_many(cache, ptrs, lens, MANY, values, statuses);
    t0 = now_ns() - t0;
    if (rc != CACHEKIT_OK) die("get_many", rc);
    for (i = 0; i < MANY; i++) {
        if (statuses[i] != CACHEKIT_OK) die("get_many value", statuses[i]);
        cachekit_buffer_free(&values[i]);
    }
    return (double)t0;
}

int main(void) {
    static uint8_t doc[1100];
    static double ours[SAMPLES], base[SAMPLES];
    char single_url[64], cluster_url[64], port_text[8];
    double cluster_p50, single_p50, cluster_rate, single_rate;
    cachekit_cache *single, *cluster;
    int single_port = free_port(), cluster_port, i, rc, s;
    size_t n;

    snprintf(port_text, sizeof port_text, "%d", single_port);
    {
        const char *args[] = {"--port", port_text, NULL};
        start_server(args);
    }
    wait_for_port(single_port);
    cluster_port = start_cluster();
    snprintf(single_url, sizeof single_url, "redis://127.0.0.1:%d/0", single_port);
    snprintf(cluster_url, sizeof cluster_url, "redis+cluster://127.0.0.1:%d", cluster_port);
    single = make_cache(single_url);
    cluster = make_cache(cluster_url);

    doc[0] = 0xc5; doc[1] = 4; doc[2] = 0;  /* a MessagePack bin of 1024 bytes */
    for (i = 3; i < 1027; i++) doc[i] = (uint8_t)(rand() >> 5);
    n = 1027;
    for (i = 0; i < KEYS; i++) {
        snprintf(keys[i], sizeof keys[i], "bench:cluster:%d", i);
        key_list[i] = keys[i];
        if ((rc = cachekit_cache_set(single, (const uint8_t *)keys[i], strlen(keys[i]), doc, n, 600)) != 0) die("set", rc);
        if ((rc = cachekit_cache_set(cluster, (const uint8_t *)keys[i], strlen(keys[i]), doc, n, 600)) != 0) die("cluster set", rc);
    }

    printf("1. one get, L1 off, 1 KiB (p50 of %d, interleaved, slot map warm)\n", SAMPLES);
    bench_interleaved_gets(cluster, keys[17], single_get, single, keys[17], SAMPLES, ours, base, &cluster_p50, &single_p50);
    printf("   cluster %6.1f us | single %6.1f us | ratio %.3fx (target <= 1.1x)\n",
           cluster_p50 / 1e3, single_p50 / 1e3, cluster_p50 / single_p50);

    printf("2. gets/s, %d threads over %d keys\n", THREADS, KEYS);
    single_rate = throughput(single);
    cluster_rate = throughput(cluster);
    single_rate = (single_rate + throughput(single)) / 2;
    cluster_rate = (cluster_rate + throughput(cluster)) / 2;
    printf("   cluster %7.0f | single %7.0f | cluster/single %.2fx\n", cluster_rate, single_rate, cluster_rate / single_rate);

    printf("3. get_many of %d keys (p50 of %d, interleaved)\n", MANY, MANY_SAMPLES);
    for (s = 0; s < 200; s++) { get_many_ns(cluster, s); get_many_ns(single, s); }
    for (s = 0; s < MANY_SAMPLES; s++) {
        ours[s] = get_many_ns(cluster, s * 3);
        base[s] = get_many_ns(single, s * 3);
    }
    qsort(ours, MANY_SAMPLES, sizeof *ours, cmp_double);
    qsort(base, MANY_SAMPLES, sizeof *base, cmp_double);
    printf("   cluster %6.1f us | single %6.1f us | ratio %.2fx (one pipeline per primary against one MGET)\n",
           ours[MANY_SAMPLES / 2] / 1e3, base[MANY_SAMPLES / 2] / 1e3, ours[MANY_SAMPLES / 2] / base[MANY_SAMPLES / 2]);

    cachekit_cache_free(cluster);
    cachekit_cache_free(single);
    stop_servers();
    {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", conf_dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", conf_dir);
    }
    return 0;
}
