#include "cachekit_shims.h"
#include <stdatomic.h>
#include <string.h>

static _Thread_local char last_error[CKSHIM_ERROR_CAPACITY];

/* How many threads hold a message. Every successful call clears its thread's message; reading
 * thread-local storage from a shared library is a __tls_get_addr call, so a success reads this
 * one shared, rarely written word first and touches its thread's buffer only when some thread
 * has a message. A thread's own set is ordered before its own clear, so while its message is
 * there the count it reads is at least 1. A thread that exits with a message leaves the count
 * up: clears then always look, as before. */
static atomic_long threads_with_message;

void ckshim_error_set(const char *message, size_t len) {
    int had_message = last_error[0] != '\0';
    if (message == NULL) { len = 0; }
    if (len > CKSHIM_ERROR_CAPACITY - 1) {
        len = CKSHIM_ERROR_CAPACITY - 1;
        /* Do not cut a UTF-8 sequence in half. */
        while (len > 0 && ((unsigned char)message[len] & 0xC0) == 0x80) { len--; }
    }
    if (len > 0) { memcpy(last_error, message, len); }
    last_error[len] = '\0';
    if (!had_message && len > 0) { atomic_fetch_add_explicit(&threads_with_message, 1, memory_order_relaxed); }
    if (had_message && len == 0) { atomic_fetch_sub_explicit(&threads_with_message, 1, memory_order_relaxed); }
}

/* Out of line: inlined, clang computes the thread-local address before the test of the count. */
static __attribute__((noinline)) void clear_own_message(void) {
    if (last_error[0] != '\0') {
        last_error[0] = '\0';
        atomic_fetch_sub_explicit(&threads_with_message, 1, memory_order_relaxed);
    }
}

void ckshim_error_clear(void) {
    if (atomic_load_explicit(&threads_with_message, memory_order_relaxed) != 0) { clear_own_message(); }
}

const char *ckshim_error_get(void) { return last_error; }
