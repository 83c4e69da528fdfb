/* Shared by the benchmark programs: a monotonic clock and a fatal-error exit. */
#ifndef CACHEKIT_BENCH_COMMON_H
#define CACHEKIT_BENCH_COMMON_H
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "cachekit.h"

/* Seconds on the monotonic clock. */
static inline double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline void die(const char *what, int status) {
    fprintf(stderr, "%s failed: %d %s\n", what, status, cachekit_last_error_message());
    exit(1);
}
#endif
