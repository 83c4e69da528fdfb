/* Private redis-servers for the benchmark programs: free loopback ports, start (stdout and
 * stderr to /dev/null), wait until one accepts, stop them all. Needs common.h first (die). */
#ifndef CACHEKIT_BENCH_SERVERS_H
#define CACHEKIT_BENCH_SERVERS_H
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define BENCH_MAX_SERVERS 16
static pid_t servers[BENCH_MAX_SERVERS];
static int server_count = 0;

static int free_port(void) {
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        die("free port", -1);
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static void wait_for_port(int port) {
    int tries;
    for (tries = 0; tries < 200; tries++) {
        struct sockaddr_in a;
        int fd = socket(AF_INET, SOCK_STREAM, 0), ok;
        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_port = htons((uint16_t)port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
        close(fd);
        if (ok) { usleep(50000); return; }
        usleep(25000);
    }
    die("redis-server did not start", -1);
}

/* Starts redis-server with the given extra arguments (NULL-terminated). */
static void start_server(const char *const *extra) {
    const char *argv[32];
    int n = 0, i;
    pid_t pid;
    argv[n++] = "redis-server";
    argv[n++] = "--bind"; argv[n++] = "127.0.0.1";
    argv[n++] = "--save"; argv[n++] = "";
    argv[n++] = "--appendonly"; argv[n++] = "no";
    argv[n++] = "--loglevel"; argv[n++] = "warning";
    for (i = 0; extra[i] && n < 31; i++) argv[n++] = extra[i];
    argv[n] = NULL;
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr)) _exit(127);
        execvp("redis-server", (char *const *)argv);
        _exit(127);
    }
    if (server_count == BENCH_MAX_SERVERS) die("too many servers", -1);
    servers[server_count++] = pid;
}

static void stop_servers(void) {
    int i;
    for (i = 0; i < server_count; i++) { kill(servers[i], SIGTERM); waitpid(servers[i], NULL, 0); }
    server_count = 0;
}
#endif
