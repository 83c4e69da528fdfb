/* Benchmarks of the Redis client, each against a baseline measured in the same run:
 *  1. the pool under load: 64 threads reading one stored key with L1 off on pool_size 8 (every
 *     get must hit: 0 misses, 0 skipped), throughput against 8 threads, p50/p99 latency;
 *  2. an L2 hit over TCP (L1 off) against a raw hiredis GET of the same bytes plus the library's
 *     entry decoder (target: <= 1.05x);
 *  3. an L2 hit over TLS against a raw OpenSSL + hiredis-reader GET plus the same decoder
 *     (target: <= 1.15x). The certificates are made with the openssl command in a temp dir.
 * Redis: private redis-servers on free loopback ports, stopped at the end. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
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
#include "common.h"
#include "servers.h"

#define HOT_KEY "bench:redis:hot"
#define SAMPLES 2001

static double percentile(double *v, int n, double p) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[(int)((n - 1) * p)];
}

/* A MessagePack bin document of n random bytes. */
static size_t make_doc(uint8_t *out, size_t n) {
    size_t i;
    out[0] = 0xc5; out[1] = (uint8_t)(n >> 8); out[2] = (uint8_t)n;
    for (i = 0; i < n; i++) out[3 + i] = (uint8_t)(rand() >> 5);
    return n + 3;
}

/* ---- servers ---- */

static char cert_dir[64] = "";

static void stop_servers_and_certs(void) {
    stop_servers();
    if (cert_dir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", cert_dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", cert_dir);
    }
}

/* A CA and a server certificate for 127.0.0.1, with the openssl command. */
static int make_certs(void) {
    char cmd[2048];
    strcpy(cert_dir, "/tmp/ck-bench-tls-XXXXXX");
    if (!mkdtemp(cert_dir)) return 0;
    snprintf(cmd, sizeof cmd,
             "cd '%s' && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 1 "
             "-subj /CN=bench-ca 2>/dev/null && "
             "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1 2>/dev/null && "
             "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > ext.cnf && "
             "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt "
             "-days 1 -extfile ext.cnf 2>/dev/null",
             cert_dir);
    return system(cmd) == 0;
}

static cachekit_cache *make_cache(const char *url, int pool_size) {
    cachekit_config *config;
    cachekit_cache *cache;
    char pool[16];
    int rc;
    if ((rc = cachekit_config_new(&config)) != 0) die("config_new", rc);
    if ((rc = cachekit_config_set(config, "redis_url", url)) != 0) die("redis_url", rc);
    cachekit_config_set(config, "l1_max_bytes", "0");
    snprintf(pool, sizeof pool, "%d", pool_size);
    cachekit_config_set(config, "pool_size", pool);
    if ((rc = cachekit_cache_new(config, &cache)) != 0) die("cache_new", rc);
    cachekit_config_free(config);
    return cache;
}

/* ---- 1. the pool under load ---- */

#define GETS_PER_THREAD 2000
static double run_load(const char *url, int threads, int pool_size) {
    cachekit_cache *cache = make_cache(url, pool_size);
    static uint8_t doc[1100];
    size_t n = make_doc(doc, 1024);
    pthread_t tid[64];
    bench_load_worker w[64];
    static const char *const hot[] = {HOT_KEY};
    double *all = malloc(sizeof(double) * (size_t)threads * GETS_PER_THREAD);
    cachekit_cache_stats stats;
    int t, failures = 0, rc;
    uint64_t t0;
    double seconds;
    if (!all) die("malloc", -1);
    if ((rc = cachekit_cache_set(cache, (const uint8_t *)HOT_KEY, sizeof HOT_KEY - 1, doc, n, 300)) != 0) die("set", rc);
    t0 = now_ns();
    for (t = 0; t < threads; t++) {
        bench_load_worker worker = {cache, hot, 1, 0, GETS_PER_THREAD, all + (size_t)t * GETS_PER_THREAD, 0};
        w[t] = worker;
        pthread_create(&tid[t], NULL, bench_load_thread, &w[t]);
    }
    for (t = 0; t < threads; t++) { pthread_join(tid[t], NULL); failures += w[t].failures; }
    seconds = (double)(now_ns() - t0) / 1e9;
    cachekit_cache_stats_get(cache, &stats);
    printf("%2d threads, pool %d: %7.0f gets/s | hits %llu misses %llu skipped %llu failed %d | "
           "p50 %6.1f us p99 %7.1f us\n",
           threads, pool_size, threads * GETS_PER_THREAD / seconds, (unsigned long long)stats.hits,
           (unsigned long long)stats.misses, (unsigned long long)stats.l2_skipped, failures,
           percentile(all, threads * GETS_PER_THREAD, 0.5) / 1e3,
           percentile(all, threads * GETS_PER_THREAD, 0.99) / 1e3);
    free(all);
    cachekit_cache_free(cache);
    return threads * GETS_PER_THREAD / seconds;
}

/* ---- 2 and 3. one L2 hit against the raw libraries ---- */

typedef struct raw_client {
    redisContext *plain;  /* TCP: hiredis end to end */
    SSL *ssl;             /* TLS: OpenSSL for the bytes, hiredis's reader and formatter */
    redisReader *reader;
} raw_client;

static redisReply *raw_tls_command(raw_client *c, const char *key) {
    char *cmd;
    int len = redisFormatCommand(&cmd, "GET %s", key);
    void *reply = NULL;
    char buf[16384];
    if (len < 0 || SSL_write(c->ssl, cmd, len) != len) die("raw TLS write", -1);
    redisFreeCommand(cmd);
    while (!reply) {
        int got = SSL_read(c->ssl, buf, sizeof buf);
        if (got <= 0) die("raw TLS read", -1);
        redisReaderFeed(c->reader, buf, (size_t)got);
        if (redisReaderGetReply(c->reader, &reply) != REDIS_OK) die("raw TLS parse", -1);
    }
    return reply;
}

static int raw_get_decode(void *context, const char *key, cachekit_buffer *out) {
    raw_client *c = context;
    redisReply *r = c->ssl ? raw_tls_command(c, key) : redisCommand(c->plain, "GET %s", key);
    int rc;
    if (!r || r->type != REDIS_REPLY_STRING) die("raw GET", -1);
    rc = cachekit_entry_decode((const uint8_t *)r->str, r->len, CACHEKIT_MODE_AUTO, key, NULL, NULL, 0, out);
    freeReplyObject(r);
    return rc;
}

static SSL *raw_tls_connect(int port, const char *ca_file) {
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    SSL *ssl;
    if (!ctx || SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) die("raw TLS context", -1);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) die("raw TLS connect", -1);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ssl = SSL_new(ctx);
    SSL_set1_host(ssl, "127.0.0.1");
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) != 1) { ERR_print_errors_fp(stderr); die("raw TLS handshake", -1); }
    SSL_CTX_free(ctx);  /* the SSL keeps its own reference */
    return ssl;
}

static void bench_l2_hit(const char *label, const char *url, raw_client *raw, double target) {
    static uint8_t doc[2048];
    static double ours[SAMPLES], base[SAMPLES];
    cachekit_cache *cache = make_cache(url, 4);
    size_t n = make_doc(doc, 1024);
    double a, b;
    int rc;
    if ((rc = cachekit_cache_set(cache, (const uint8_t *)HOT_KEY, sizeof HOT_KEY - 1, doc, n, 300)) != 0) die("set", rc);
    bench_interleaved_gets(cache, HOT_KEY, raw_get_decode, raw, "t:default:" HOT_KEY, SAMPLES, ours, base, &a, &b);
    printf("%-4s L2 hit 1 KiB: libcachekit %6.1f us | raw %-38s %6.1f us | ratio %.3fx (target <= %.2fx)\n",
           label, a / 1e3, strcmp(label, "TLS") == 0 ? "OpenSSL + hiredis reader GET + decode" : "hiredis GET + decode", b / 1e3,
           a / b, target);
    cachekit_cache_free(cache);
}

int main(void) {
    char port_text[16], tls_port_text[16], url[512], ca[128], crt[128], key[128];
    int port = free_port(), tls_port;
    const char *plain_args[] = {"--port", port_text, NULL};
    struct timeval tv = {1, 0};
    raw_client raw = {0};
    double eight, sixty_four;

    signal(SIGPIPE, SIG_IGN);
    snprintf(port_text, sizeof port_text, "%d", port);
    start_server(plain_args);
    wait_for_port(port);
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", port);

    printf("--- 1. pool under load (L1 off, one stored 1 KiB key) ---\n");
    eight = run_load(url, 8, 8);
    sixty_four = run_load(url, 64, 8);
    run_load(url, 64, 50);
    printf("64 threads on pool 8: %.2fx the throughput of 8 threads\n\n", sixty_four / eight);

    printf("--- 2. L2 hit over TCP ---\n");
    raw.plain = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (!raw.plain || raw.plain->err) die("raw connect", -1);
    bench_l2_hit("TCP", url, &raw, 1.05);
    redisFree(raw.plain);
    raw.plain = NULL;

    printf("\n--- 3. L2 hit over TLS ---\n");
    if (!make_certs()) {
        printf("skipped: openssl could not make certificates\n");
    } else {
        const char *tls_args[] = {"--port", "0", "--tls-port", tls_port_text, "--tls-cert-file", crt,
                                  "--tls-key-file", key, "--tls-ca-cert-file", ca, "--tls-auth-clients", "no", NULL};
        tls_port = free_port();
        snprintf(tls_port_text, sizeof tls_port_text, "%d", tls_port);
        snprintf(ca, sizeof ca, "%s/ca.crt", cert_dir);
        snprintf(crt, sizeof crt, "%s/server.crt", cert_dir);
        snprintf(key, sizeof key, "%s/server.key", cert_dir);
        start_server(tls_args);
        wait_for_port(tls_port);
        snprintf(url, sizeof url, "rediss://127.0.0.1:%d/0?ssl_ca_certs=%s&ssl_cert_reqs=required", tls_port, ca);
        raw.ssl = raw_tls_connect(tls_port, ca);
        raw.reader = redisReaderCreate();
        bench_l2_hit("TLS", url, &raw, 1.15);
        redisReaderFree(raw.reader);
        SSL_free(raw.ssl);
    }
    stop_servers_and_certs();
    return 0;
}
