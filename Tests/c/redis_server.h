/* A private redis-server for the C tests that need one: a free loopback port, the server
 * started on it (optionally with --requirepass) and waited for. Header-only, as check.h.
 * The includer defines _POSIX_C_SOURCE (or _GNU_SOURCE) and stops `server` with SIGTERM. */
#ifndef CACHEKIT_TEST_REDIS_SERVER_H
#define CACHEKIT_TEST_REDIS_SERVER_H
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

static pid_t server = 0;

static void pause_ms(long ms) {
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    nanosleep(&ts, NULL);
}

static int free_port(void) {
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0) port = ntohs(a.sin_port);
    if (fd >= 0) close(fd);
    return port;
}

/* Starts redis-server on port (requiring password unless it is NULL); 1 once it accepts. */
static int start_server(int port, const char *password) {
    char port_text[16];
    int tries;
    snprintf(port_text, sizeof port_text, "%d", port);
    server = fork();
    if (server == 0) {
        const char *argv[] = {"redis-server", "--port", NULL, "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "no", "--requirepass", NULL, NULL};
        argv[2] = port_text;
        if (password != NULL) argv[10] = password;
        else argv[9] = NULL;
        if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr)) _exit(127);
        execvp("redis-server", (char *const *)argv);
        _exit(127);
    }
    for (tries = 0; tries < 200; tries++) {
        struct sockaddr_in a;
        int fd = socket(AF_INET, SOCK_STREAM, 0), ok;
        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_port = htons((uint16_t)port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
        close(fd);
        if (ok) return 1;
        pause_ms(25);
    }
    return 0;
}
#endif
