/* Minimal test harness for the C tests: counts checks, prints failures with their location and
 * ends with the standard "N passed, N failed" line. Header-only so each test is one file. */
#ifndef CACHEKIT_TEST_CHECK_H
#define CACHEKIT_TEST_CHECK_H
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

static int check_passed = 0;
static int check_failed = 0;

#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (cond) { check_passed++; }                                                  \
        else { check_failed++; fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__,  \
                                       __LINE__, #cond); }                             \
    } while (0)

#define CHECK_STATUS(expr, expected)                                                   \
    do {                                                                               \
        int check_status_ = (expr);                                                    \
        if (check_status_ == (expected)) { check_passed++; }                           \
        else { check_failed++; fprintf(stderr, "%s:%d: %s returned %d, expected %d (%s)\n", \
                                       __FILE__, __LINE__, #expr, check_status_,       \
                                       (int)(expected), cachekit_last_error_message()); } \
    } while (0)

static int check_finish(const char *name) {
    printf("%s: %d passed, %d failed\n", name, check_passed, check_failed);
    return check_failed == 0 ? 0 : 1;
}

/* Hex helpers for vectors. Returns a malloc'd buffer (caller frees) and its length. */
static inline unsigned char *check_from_hex(const char *hex, size_t *out_len) {
    size_t n = strlen(hex) / 2, i;
    unsigned char *out = (unsigned char *)malloc(n ? n : 1);
    if (out == NULL) { abort(); }
    for (i = 0; i < n; i++) {
        unsigned int byte;
        if (sscanf(hex + 2 * i, "%2x", &byte) != 1) { abort(); }
        out[i] = (unsigned char)byte;
    }
    *out_len = n;
    return out;
}
#endif
