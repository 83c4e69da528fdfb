#ifndef CACHEKIT_SHIMS_H
#define CACHEKIT_SHIMS_H
#include <stddef.h>

/* The thread-local last-error message behind cachekit_last_error_message().
 * In C because Swift has no thread-local storage declaration; a fixed buffer because the
 * message must stay valid until the thread's next call and never needs freeing. */
#define CKSHIM_ERROR_CAPACITY 512

/* Copies up to CKSHIM_ERROR_CAPACITY - 1 bytes of message (not NUL-terminated, length len). */
void ckshim_error_set(const char *message, size_t len);
/* Empties the message. */
void ckshim_error_clear(void);
/* The calling thread's message, NUL-terminated, never NULL. */
const char *ckshim_error_get(void);

/* The header's CACHEKIT_VERSION_STRING, static and never NULL. In C because Swift imports a
 * string macro as a String, which cannot give the static C string the export promises. */
const char *ckshim_version_string(void);

/* getaddrinfo() that gives up after timeout_ms (on a lookup thread of its own): 0 with *result to
 * free with freeaddrinfo(), an EAI_* code, or CKSHIM_EAI_TIMEOUT when the time ran out. */
struct addrinfo;
#define CKSHIM_EAI_TIMEOUT (-1000)
int ckshim_getaddrinfo_within(const char *host, const char *service, const struct addrinfo *hints,
                              int timeout_ms, struct addrinfo **result);

/* This process's id, kept current by a pthread_atfork child handler registered at load time. */
int ckshim_process_id(void);

#endif
