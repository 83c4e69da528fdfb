/* Shared by the benchmark programs: monotonic clocks, a sample order and a fatal-error exit. */
#ifndef CACHEKIT_BENCH_COMMON_H
#define CACHEKIT_BENCH_COMMON_H
#include <stdint.h>
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

/* Nanoseconds on the monotonic clock, for per-operation samples. */
static inline uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* qsort order for samples. */
static inline int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static inline void die(const char *what, int status) {
    fprintf(stderr, "%s failed: %d %s\n", what, status, cachekit_last_error_message());
    exit(1);
}
#endif
