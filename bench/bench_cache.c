/* Benchmarks of the cache, each against a baseline measured in the same run:
 *  1. L1 hit latency (p50) of cachekit_cache_get for a hot 100 B and 1 KiB value, per mode,
 *     against a hand-written C hash map that returns a malloc'd copy (target: <= 100 ns, 1 KiB);
 *  2. L1 hit throughput with 1 and 2 threads;
 *  3. an L2 hit (L1 disabled) against a raw hiredis GET of the same bytes plus decode (the CK
 *     frame skipped, then cachekit_envelope_retrieve) (target: <= 1.15x);
 *  4. a batch get, set and delete of 100 keys against 100 single calls (all on Redis);
 *  5. the L1 hit ratio against LRU and Belady on a Zipf(0.9) trace with scans: run by the Swift
 *     executable cachekit-bench-l1 (it drives the core L1 directly; see docs/cache.md);
 *  6. the L1 hit with l1_tracking on against off, both with Redis (target: <= 1.05x), and how
 *     long after another writer's SET a reader's L1 serves the new value (target: p99 <= 10 ms).
 * Redis: CACHEKIT_BENCH_REDIS_URL (redis://127.0.0.1:PORT/DB), else a private redis-server is
 * started on a free loopback port and stopped at the end. */
#define _GNU_SOURCE
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "cachekit.h"
#include "common.h"

#define SAMPLES 2001
static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

/* A MessagePack bin document of n random bytes (incompressible, like most cached payloads). */
static size_t make_doc(uint8_t *out, size_t n) {
    size_t i;
    out[0] = 0xc5; out[1] = (uint8_t)(n >> 8); out[2] = (uint8_t)n;
    for (i = 0; i < n; i++) out[3 + i] = (uint8_t)(rand() >> 5);
    return n + 3;
}

static cachekit_cache *make_cache(const char *mode, const char *redis_url, int l1) {
    cachekit_config *config;
    cachekit_cache *cache;
    int rc;
    if ((rc = cachekit_config_new(&config)) != 0) die("config_new", rc);
    cachekit_config_set(config, "mode", mode);
    if (strcmp(mode, "secure") == 0) {
        cachekit_config_set(config, "master_key", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
    }
    if (redis_url) cachekit_config_set(config, "redis_url", redis_url);
    if (!l1) cachekit_config_set(config, "l1_max_size_mb", "0");
    if ((rc = cachekit_cache_new(config, &cache)) != 0) die("cache_new", rc);
    cachekit_config_free(config);
    return cache;
}

/* ---- 1. the baseline: a hand-written C hash map (open addressing, xxh3, copy out) ---- */

struct cmap_entry { uint64_t hash; char *key; size_t key_len; uint8_t *value; size_t value_len; };
struct cmap { struct cmap_entry *slots; size_t mask; pthread_mutex_t lock; };

static void cmap_init(struct cmap *m, size_t capacity) {
    m->slots = calloc(capacity, sizeof *m->slots);
    m->mask = capacity - 1;
    pthread_mutex_init(&m->lock, NULL);
}

static void cmap_put(struct cmap *m, const char *key, size_t key_len, const uint8_t *v, size_t n) {
    uint64_t h = XXH3_64bits(key, key_len);
    size_t i = h & m->mask;
    while (m->slots[i].key && !(m->slots[i].hash == h && m->slots[i].key_len == key_len &&
                                memcmp(m->slots[i].key, key, key_len) == 0)) i = (i + 1) & m->mask;
    m->slots[i].hash = h;
    m->slots[i].key = strndup(key, key_len);
    m->slots[i].key_len = key_len;
    m->slots[i].value = malloc(n);
    memcpy(m->slots[i].value, v, n);
    m->slots[i].value_len = n;
}

static int cmap_get(struct cmap *m, const char *key, size_t key_len, cachekit_buffer *out) {
    uint64_t h = XXH3_64bits(key, key_len);
    size_t i = h & m->mask;
    pthread_mutex_lock(&m->lock);
    while (m->slots[i].key) {
        if (m->slots[i].hash == h && m->slots[i].key_len == key_len && memcmp(m->slots[i].key, key, key_len) == 0) {
            out->data = malloc(m->slots[i].value_len);
            memcpy(out->data, m->slots[i].value, m->slots[i].value_len);
            out->len = m->slots[i].value_len;
            pthread_mutex_unlock(&m->lock);
            return 0;
        }
        i = (i + 1) & m->mask;
    }
    pthread_mutex_unlock(&m->lock);
    return 1;
}

#define BATCH 200
static const char HOT_KEY[] = "ns:bench:func:app.hot:args:3870b2ea5735ae639ded9450ef117768:1s";

static double p50_cache_get(cachekit_cache *cache) {
    static double samples[SAMPLES];
    int s, i;
    cachekit_buffer out;
    for (s = 0; s < SAMPLES; s++) {
        uint64_t t0 = now_ns();
        for (i = 0; i < BATCH; i++) {
            if (cachekit_cache_get(cache, (const uint8_t *)HOT_KEY, sizeof HOT_KEY - 1, &out) != 0) die("get", -1);
            cachekit_buffer_free(&out);
        }
        samples[s] = (double)(now_ns() - t0) / BATCH;
    }
    return median(samples, SAMPLES);
}

static double p50_cmap_get(struct cmap *m) {
    static double samples[SAMPLES];
    int s, i;
    cachekit_buffer out = {NULL, 0};
    for (s = 0; s < SAMPLES; s++) {
        uint64_t t0 = now_ns();
        for (i = 0; i < BATCH; i++) {
            cmap_get(m, HOT_KEY, sizeof HOT_KEY - 1, &out);
            free(out.data);
        }
        samples[s] = (double)(now_ns() - t0) / BATCH;
    }
    return median(samples, SAMPLES);
}

static void bench_l1_latency(void) {
    static uint8_t doc[2048];
    static const size_t sizes[2] = {100, 1024};
    static const char *modes[4] = {"plain", "interop", "minimal", "secure"};
    int si, mi;
    printf("\n[1] L1 hit latency, p50 of batches of %d gets (ns per get)\n", BATCH);
    printf("%-10s %8s %12s %12s %8s\n", "mode", "value", "libcachekit", "C hash map", "ratio");
    for (si = 0; si < 2; si++) {
        size_t n = make_doc(doc, sizes[si]);
        struct cmap m;
        double base;
        cmap_init(&m, 1024);
        cmap_put(&m, HOT_KEY, sizeof HOT_KEY - 1, doc, n);
        base = p50_cmap_get(&m);
        for (mi = 0; mi < 4; mi++) {
            cachekit_cache *cache = make_cache(modes[mi], NULL, 1);
            double ours;
            int rc = cachekit_cache_set(cache, (const uint8_t *)HOT_KEY, sizeof HOT_KEY - 1, doc, n, 0);
            if (rc != 0) die("set", rc);
            ours = p50_cache_get(cache);
            printf("%-10s %6zu B %9.1f ns %9.1f ns %7.2fx\n", modes[mi], sizes[si], ours, base, ours / base);
            cachekit_cache_free(cache);
        }
    }
}

/* ---- 2. throughput ---- */

#define HOT_KEYS 1000
struct tp_arg { cachekit_cache *cache; struct cmap *map; char (*keys)[64]; size_t *lens; uint64_t ops; double seconds; uint64_t cpu_ns; };

static uint64_t thread_cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void *tp_worker(void *p) {
    struct tp_arg *a = (struct tp_arg *)p;
    uint64_t t0 = now_ns(), ops = 0, cpu0 = thread_cpu_ns();
    unsigned seed = (unsigned)(uintptr_t)p;
    cachekit_buffer out;
    while (now_ns() - t0 < (uint64_t)(a->seconds * 1e9)) {
        int i;
        for (i = 0; i < 256; i++) {
            int k = rand_r(&seed) % HOT_KEYS;
            if (a->map) {
                if (cmap_get(a->map, a->keys[k], a->lens[k], &out) == 0) free(out.data);
            } else if (cachekit_cache_get(a->cache, (const uint8_t *)a->keys[k], a->lens[k], &out) == 0) {
                cachekit_buffer_free(&out);
            }
        }
        ops += 256;
    }
    a->ops = ops;
    a->cpu_ns = thread_cpu_ns() - cpu0;
    return NULL;
}

static void bench_throughput(void) {
    static uint8_t doc[2048];
    static char keys[HOT_KEYS][64];
    static size_t lens[HOT_KEYS];
    size_t n = make_doc(doc, 1024);
    cachekit_cache *cache = make_cache("plain", NULL, 1);
    double single = 0;
    int threads, i;
    for (i = 0; i < HOT_KEYS; i++) {
        lens[i] = (size_t)snprintf(keys[i], sizeof keys[i], "func:app.f:args:%08d:1s", i);
        cachekit_cache_set(cache, (const uint8_t *)keys[i], lens[i], doc, n, 0);
    }
    {
        struct cmap map;
        cmap_init(&map, 4096);
        for (i = 0; i < HOT_KEYS; i++) cmap_put(&map, keys[i], lens[i], doc, n);
        printf("\n[2] L1 hit throughput, 1 KiB values, %d hot keys, plain mode, 1 s per run\n", HOT_KEYS);
        printf("(baseline: the C hash map of [1] behind one mutex; the machine has 2 cores shared with other jobs)\n");
        for (threads = 1; threads <= 2; threads++) {
            int which;
            for (which = 0; which < 2; which++) {
                pthread_t t[2];
                struct tp_arg args[2];
                uint64_t total = 0, cpu = 0;
                for (i = 0; i < threads; i++) {
                    args[i].cache = cache; args[i].map = which ? &map : NULL;
                    args[i].keys = keys; args[i].lens = lens; args[i].seconds = 1.0;
                    pthread_create(&t[i], NULL, tp_worker, &args[i]);
                }
                for (i = 0; i < threads; i++) { pthread_join(t[i], NULL); total += args[i].ops; cpu += args[i].cpu_ns; }
                if (which == 0 && threads == 1) single = (double)total;
                printf("%d thread%s %-12s %6.2f M gets/s", threads, threads > 1 ? "s" : " ",
                       which ? "C hash map" : "libcachekit", (double)total / 1e6);
                /* CPU time per get shows contention even when a loaded machine denies the second
                   thread a core: cache lines bouncing between cores make each get cost more. */
                printf("  %6.1f ns CPU/get", (double)cpu / (double)total);
                if (which == 0 && threads == 2) printf("  (%.2fx one thread)", (double)total / single);
                printf("\n");
            }
        }
    }
    cachekit_cache_free(cache);
}

/* ---- 3 and 4. Redis ---- */

static pid_t redis_pid = 0;
static char redis_url_buf[128];
static char redis_host[64] = "127.0.0.1";
static int redis_port = 0, redis_db = 0;

static const char *start_redis(void) {
    const char *env = getenv("CACHEKIT_BENCH_REDIS_URL");
    if (env && sscanf(env, "redis://%63[^:]:%d/%d", redis_host, &redis_port, &redis_db) >= 2) return env;
    redis_port = 20000 + (int)(getpid() % 20000);
    fflush(stdout);
    redis_pid = fork();
    if (redis_pid == 0) {
        char port[16];
        snprintf(port, sizeof port, "%d", redis_port);
        if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr)) _exit(127);
        execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning", (char *)NULL);
        _exit(127);
    }
    {
        int tries;
        for (tries = 0; tries < 100; tries++) {
            struct timeval tv = {0, 200000};
            redisContext *c = redisConnectWithTimeout("127.0.0.1", redis_port, tv);
            if (c && !c->err) { redisFree(c); break; }
            if (c) redisFree(c);
            usleep(50000);
        }
    }
    snprintf(redis_url_buf, sizeof redis_url_buf, "redis://127.0.0.1:%d/0", redis_port);
    return redis_url_buf;
}

static void stop_redis(void) {
    if (redis_pid > 0) { kill(redis_pid, SIGTERM); waitpid(redis_pid, NULL, 0); }
}

/* The raw path: GET with hiredis, then for a CK v3 frame skip its header and validate the
 * envelope; for an interop value, copy it out. */
static int raw_get_decode(void *context, const char *key, cachekit_buffer *out) {
    redisContext *c = context;
    redisReply *r = redisCommand(c, "GET %s", key);
    uint32_t header_len;
    int rc;
    if (!r || r->type != REDIS_REPLY_STRING) die("raw GET", -1);
    if (r->len < 7 || memcmp(r->str, "CK\x03", 3) != 0) {
        out->data = malloc(r->len);
        memcpy(out->data, r->str, r->len);
        out->len = r->len;
        freeReplyObject(r);
        return 0;
    }
    header_len = ((uint32_t)(uint8_t)r->str[3] << 24) | ((uint32_t)(uint8_t)r->str[4] << 16) |
                 ((uint32_t)(uint8_t)r->str[5] << 8) | (uint32_t)(uint8_t)r->str[6];
    rc = cachekit_envelope_retrieve((const uint8_t *)r->str + 7 + header_len, r->len - 7 - header_len, out, NULL, 0);
    freeReplyObject(r);
    return rc;
}

/* GET with hiredis, then the library's own entry decoder (what the cache runs after its GET). */
static int raw_get_entry_decode(void *context, const char *key, cachekit_buffer *out) {
    redisContext *c = context;
    redisReply *r = redisCommand(c, "GET %s", key);
    int rc;
    if (!r || r->type != REDIS_REPLY_STRING) die("raw GET", -1);
    rc = cachekit_entry_decode((const uint8_t *)r->str, r->len, CACHEKIT_MODE_AUTO, key, NULL, NULL, 0, out);
    freeReplyObject(r);
    return rc;
}

static void bench_l2_hit(const char *url, const char *mode, bench_raw_get raw_get, const char *raw_label) {
    static uint8_t doc[2048];
    static double ours[SAMPLES], raw[SAMPLES];
    cachekit_cache *cache = make_cache(mode, url, 0);
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout(redis_host, redis_port, tv);
    size_t n = make_doc(doc, 1024);
    char full_key[256];
    int rc;
    if (!c || c->err) { printf("skipped: no Redis at %s\n", url); return; }
    if (redis_db) { redisReply *r = redisCommand(c, "SELECT %d", redis_db); freeReplyObject(r); }
    if ((rc = cachekit_cache_set(cache, (const uint8_t *)HOT_KEY, sizeof HOT_KEY - 1, doc, n, 300)) != 0) die("set", rc);
    snprintf(full_key, sizeof full_key, "t:default:%s", HOT_KEY);
    {
        double a, b;
        bench_interleaved_gets(cache, HOT_KEY, raw_get, c, full_key, SAMPLES, ours, raw, &a, &b);
        printf("%-8s libcachekit get %6.1f us | raw hiredis GET + %-34s %6.1f us | ratio %.3fx\n",
               mode, a / 1e3, raw_label, b / 1e3, a / b);
    }
    redisFree(c);
    cachekit_cache_free(cache);
}

static void bench_redis(void) {
    static uint8_t doc[2048];
    const char *url = start_redis();
    cachekit_cache *cache = make_cache("plain", url, 0);
    size_t n = make_doc(doc, 1024);
    int s, i;
    cachekit_buffer out;
    printf("\n[3] L2 hit, 1 KiB value, L1 disabled, p50 of %d interleaved (target <= 1.15x)\n", SAMPLES);
    bench_l2_hit(url, "plain", raw_get_entry_decode, "cachekit_entry_decode");
    bench_l2_hit(url, "plain", raw_get_decode, "frame skip + envelope retrieve only");
    bench_l2_hit(url, "interop", raw_get_decode, "copy");

    /* 4. batch of 100 vs 100 singles */
    {
        static char keys[100][64];
        static const char *key_ptrs[100];
        static size_t lens[100];
        static cachekit_buffer values[100];
        static int statuses[100];
        static double batch[201], singles[201];
        for (i = 0; i < 100; i++) {
            lens[i] = (size_t)snprintf(keys[i], sizeof keys[i], "func:app.batch:args:%04d:1s", i);
            key_ptrs[i] = keys[i];
            cachekit_cache_set(cache, (const uint8_t *)keys[i], lens[i], doc, n, 300);
        }
        for (s = 0; s < 201; s++) {
            uint64_t t0 = now_ns();
            if (cachekit_cache_get_many(cache, (const uint8_t *const *)key_ptrs, lens, 100, values, statuses) != 0) die("get_many", -1);
            batch[s] = (double)(now_ns() - t0);
            for (i = 0; i < 100; i++) { if (statuses[i] != 0) die("batch miss", statuses[i]); cachekit_buffer_free(&values[i]); }
            t0 = now_ns();
            for (i = 0; i < 100; i++) {
                if (cachekit_cache_get(cache, (const uint8_t *)keys[i], lens[i], &out) != 0) die("single", -1);
                cachekit_buffer_free(&out);
            }
            singles[s] = (double)(now_ns() - t0);
        }
        {
            double a = median(batch, 201), b = median(singles, 201);
            printf("\n[4] 100 keys from Redis (1 KiB values, L1 disabled), p50 of 201\n");
            printf("get_many (one MGET): %8.1f us\n100 single gets:     %8.1f us\nbatch speed-up: %.1fx\n", a / 1e3, b / 1e3, b / a);
        }
        /* set_many and delete_many (one pipeline each) against 100 single calls, interleaved. */
        {
            static const uint8_t *value_ptrs[100];
            static size_t value_lens[100];
            static double set_batch[201], set_singles[201], del_batch[201], del_singles[201];
            for (i = 0; i < 100; i++) { value_ptrs[i] = doc; value_lens[i] = n; }
            for (s = 0; s < 201; s++) {
                uint64_t t0 = now_ns();
                if (cachekit_cache_set_many(cache, (const uint8_t *const *)key_ptrs, lens, value_ptrs, value_lens, 100, 300,
                                            statuses) != 0) die("set_many", -1);
                set_batch[s] = (double)(now_ns() - t0);
                t0 = now_ns();
                if (cachekit_cache_delete_many(cache, (const uint8_t *const *)key_ptrs, lens, 100, statuses) != 0)
                    die("delete_many", -1);
                del_batch[s] = (double)(now_ns() - t0);
                t0 = now_ns();
                for (i = 0; i < 100; i++) {
                    if (cachekit_cache_set(cache, (const uint8_t *)keys[i], lens[i], doc, n, 300) != 0) die("single set", -1);
                }
                set_singles[s] = (double)(now_ns() - t0);
                t0 = now_ns();
                for (i = 0; i < 100; i++) {
                    if (cachekit_cache_delete(cache, (const uint8_t *)keys[i], lens[i]) != 0) die("single delete", -1);
                }
                del_singles[s] = (double)(now_ns() - t0);
            }
            {
                double sb = median(set_batch, 201), ss = median(set_singles, 201);
                double db = median(del_batch, 201), ds = median(del_singles, 201);
                printf("set_many (one pipeline):    %8.1f us   100 single sets:    %8.1f us   speed-up %.1fx\n",
                       sb / 1e3, ss / 1e3, ss / sb);
                printf("delete_many (one pipeline): %8.1f us   100 single deletes: %8.1f us   speed-up %.1fx\n",
                       db / 1e3, ds / 1e3, ds / db);
            }
            /* The ceiling of a write batch: raw hiredis, the same 100 entries as SETEX, pipelined
             * and one by one (Redis's own work per SETEX bounds the speed-up, not round trips). */
            {
                redisContext *raw = redisConnect(redis_host, redis_port);
                redisReply *reply;
                if (raw == NULL || raw->err) die("redisConnect", -1);
                if (redis_db) freeReplyObject(redisCommand(raw, "SELECT %d", redis_db));
                for (s = 0; s < 201; s++) {
                    uint64_t t0 = now_ns();
                    for (i = 0; i < 100; i++) redisAppendCommand(raw, "SETEX raw:%s 300 %b", keys[i], doc, n);
                    for (i = 0; i < 100; i++) {
                        if (redisGetReply(raw, (void **)&reply) != REDIS_OK) die("raw pipeline", -1);
                        freeReplyObject(reply);
                    }
                    set_batch[s] = (double)(now_ns() - t0);
                    t0 = now_ns();
                    for (i = 0; i < 100; i++) {
                        if ((reply = redisCommand(raw, "SETEX raw:%s 300 %b", keys[i], doc, n)) == NULL) die("raw SETEX", -1);
                        freeReplyObject(reply);
                    }
                    set_singles[s] = (double)(now_ns() - t0);
                }
                {
                    double rb = median(set_batch, 201), rs = median(set_singles, 201);
                    printf("raw hiredis, 100 SETEX:     %8.1f us pipelined, %8.1f us one by one: speed-up %.1fx\n",
                           rb / 1e3, rs / 1e3, rs / rb);
                }
                redisFree(raw);
            }
        }
    }
    cachekit_cache_free(cache);
}

static void run_hit_ratio(void) {
    const char *candidates[] = {getenv("CACHEKIT_BENCH_L1"), ".build/release/cachekit-bench-l1", NULL};
    int i;
    printf("\n[5] L1 hit ratio vs LRU and Belady (cachekit-bench-l1)\n");
    fflush(stdout);
    for (i = 0; i < 2; i++) {
        if (candidates[i] && access(candidates[i], X_OK) == 0) {
            if (system(candidates[i]) != 0) printf("cachekit-bench-l1 failed\n");
            return;
        }
    }
    printf("not built: swift build -c release --product cachekit-bench-l1\n");
}

/* ---- 6. l1_tracking ---- */

static cachekit_cache *make_tracking_cache(const char *url, const char *tracking, const char *l1_bytes) {
    cachekit_config *config;
    cachekit_cache *cache;
    int rc;
    if ((rc = cachekit_config_new(&config)) != 0) die("config_new", rc);
    cachekit_config_set(config, "redis_url", url);
    cachekit_config_set(config, "l1_tracking", tracking);
    if (l1_bytes) cachekit_config_set(config, "l1_max_bytes", l1_bytes);
    if ((rc = cachekit_cache_new(config, &cache)) != 0) die("cache_new", rc);
    cachekit_config_free(config);
    return cache;
}

static void bench_tracking(const char *url) {
    static uint8_t doc[2048];
    static double on[SAMPLES], off[SAMPLES], waits[501];
    cachekit_cache *tracked = make_tracking_cache(url, "1", NULL);
    cachekit_cache *untracked = make_tracking_cache(url, "0", NULL);
    cachekit_cache *writer = make_tracking_cache(url, "0", "0"); /* another client, as Redis sees it */
    size_t n = make_doc(doc, 1024);
    cachekit_buffer out;
    int s, i, rc, late = 0;
    usleep(300000); /* the subscriber connects in the background */
    if ((rc = cachekit_cache_set(tracked, (const uint8_t *)HOT_KEY, sizeof HOT_KEY - 1, doc, n, 300)) != 0) die("set", rc);
    if ((rc = cachekit_cache_set(untracked, (const uint8_t *)HOT_KEY, sizeof HOT_KEY - 1, doc, n, 300)) != 0) die("set", rc);
    usleep(100000); /* the own write's report arrives and leaves the value in L1 */
    for (s = 0; s < SAMPLES; s++) { /* interleaved batches, so both see the same machine */
        uint64_t t0 = now_ns();
        for (i = 0; i < BATCH; i++) {
            if (cachekit_cache_get(tracked, (const uint8_t *)HOT_KEY, sizeof HOT_KEY - 1, &out) != 0) die("get", -1);
            cachekit_buffer_free(&out);
        }
        on[s] = (double)(now_ns() - t0) / BATCH;
        t0 = now_ns();
        for (i = 0; i < BATCH; i++) {
            if (cachekit_cache_get(untracked, (const uint8_t *)HOT_KEY, sizeof HOT_KEY - 1, &out) != 0) die("get", -1);
            cachekit_buffer_free(&out);
        }
        off[s] = (double)(now_ns() - t0) / BATCH;
    }
    printf("\n[6] l1_tracking, 1 KiB value, plain mode, Redis configured\n");
    {
        double a = median(on, SAMPLES), b = median(off, SAMPLES);
        printf("L1 hit, p50 of batches of %d: tracking on %6.1f ns | off %6.1f ns | ratio %.3fx (target <= 1.05x)\n",
               BATCH, a, b, a / b);
    }
    /* A write's cost: the set itself, plus the report of it the subscriber thread handles. */
    for (s = 0; s < SAMPLES; s++) {
        uint64_t t0 = now_ns();
        if ((rc = cachekit_cache_set(tracked, (const uint8_t *)HOT_KEY, sizeof HOT_KEY - 1, doc, n, 300)) != 0) die("set", rc);
        on[s] = (double)(now_ns() - t0) / 1e3;
        t0 = now_ns();
        if ((rc = cachekit_cache_set(untracked, (const uint8_t *)HOT_KEY, sizeof HOT_KEY - 1, doc, n, 300)) != 0) die("set", rc);
        off[s] = (double)(now_ns() - t0) / 1e3;
    }
    {
        double a = median(on, SAMPLES), b = median(off, SAMPLES);
        printf("set (Redis + L1), p50 of %d interleaved: tracking on %6.1f us | off %6.1f us | ratio %.3fx\n",
               SAMPLES, a, b, a / b);
    }
    /* Another writer changes the key; the reader polls its L1 until it serves the new value. */
    for (s = 0; s < 501; s++) {
        uint64_t t0, t1;
        doc[3] = (uint8_t)s;
        doc[4] = (uint8_t)(s >> 8);
        if ((rc = cachekit_cache_set(writer, (const uint8_t *)HOT_KEY, sizeof HOT_KEY - 1, doc, n, 300)) != 0) die("set", rc);
        t0 = now_ns();
        for (;;) {
            int fresh;
            if (cachekit_cache_get(tracked, (const uint8_t *)HOT_KEY, sizeof HOT_KEY - 1, &out) != 0) die("get", -1);
            fresh = out.len == n && out.data[3] == doc[3] && out.data[4] == doc[4];
            cachekit_buffer_free(&out);
            t1 = now_ns();
            if (fresh) break;
            if (t1 - t0 > 1000000000ull) { late++; break; }
        }
        waits[s] = (double)(t1 - t0) / 1e3;
    }
    qsort(waits, 501, sizeof *waits, cmp_double);
    printf("invalidation latency after another writer's SET returned, 501 writes: p50 %.0f us, p99 %.0f us, "
           "max %.0f us, over 1 s: %d (target p99 <= 10 ms)\n", waits[250], waits[495], waits[500], late);
    cachekit_cache_free(writer);
    cachekit_cache_free(untracked);
    cachekit_cache_free(tracked);
}

int main(void) {
    srand(1);
    printf("libcachekit %s cache benchmark\n", cachekit_version_string());
    bench_l1_latency();
    bench_throughput();
    /* CACHEKIT_BENCH_ONLY=l1: [1] and [2] only (no Redis), to compare two libraries quickly. */
    if (getenv("CACHEKIT_BENCH_ONLY") && strcmp(getenv("CACHEKIT_BENCH_ONLY"), "l1") == 0) return 0;
    bench_redis();
    bench_tracking(redis_url_buf[0] ? redis_url_buf : getenv("CACHEKIT_BENCH_REDIS_URL"));
    stop_redis();
    run_hit_ratio();
    return 0;
}
