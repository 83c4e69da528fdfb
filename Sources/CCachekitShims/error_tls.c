#include "cachekit_shims.h"
#include <string.h>

static _Thread_local char last_error[CKSHIM_ERROR_CAPACITY];

void ckshim_error_set(const char *message, size_t len) {
    if (message == NULL) { len = 0; }
    if (len > CKSHIM_ERROR_CAPACITY - 1) {
        len = CKSHIM_ERROR_CAPACITY - 1;
        /* Do not cut a UTF-8 sequence in half. */
        while (len > 0 && ((unsigned char)message[len] & 0xC0) == 0x80) { len--; }
    }
    if (len > 0) { memcpy(last_error, message, len); }
    last_error[len] = '\0';
}

void ckshim_error_clear(void) { last_error[0] = '\0'; }

const char *ckshim_error_get(void) { return last_error; }
