/* Name resolution bounded by a deadline. In C because glibc's asynchronous resolver
 * (getaddrinfo_a, gai_suspend, gai_cancel: in libc itself since 2.34) is a GNU extension that
 * Swift's Glibc module does not import. Plain getaddrinfo() waits as long as resolv.conf says,
 * which a connect timeout could not bound. */
#define _GNU_SOURCE
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cachekit_shims.h"

struct ckshim_lookup {
    struct gaicb request;
    struct addrinfo hints;
    char *host;
    char *service;
};

static void ckshim_lookup_free(struct ckshim_lookup *lookup) {
    free(lookup->host);
    free(lookup->service);
    free(lookup);
}

static long ckshim_now_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

int ckshim_getaddrinfo_within(const char *host, const char *service, const struct addrinfo *hints,
                              int timeout_ms, struct addrinfo **result) {
    struct ckshim_lookup *lookup = calloc(1, sizeof *lookup);
    struct gaicb *list[1];
    long deadline = ckshim_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    int status;
    *result = NULL;
    if (lookup == NULL) return EAI_MEMORY;
    lookup->host = strdup(host);
    lookup->service = strdup(service);
    if (lookup->host == NULL || lookup->service == NULL) {
        ckshim_lookup_free(lookup);
        return EAI_MEMORY;
    }
    lookup->hints = *hints;
    lookup->request.ar_name = lookup->host;
    lookup->request.ar_service = lookup->service;
    lookup->request.ar_request = &lookup->hints;
    list[0] = &lookup->request;
    status = getaddrinfo_a(GAI_NOWAIT, list, 1, NULL);
    if (status != 0) {
        ckshim_lookup_free(lookup);
        return status;
    }
    for (;;) {
        long left = deadline - ckshim_now_ms();
        struct timespec wait;
        if (left <= 0) break;
        wait.tv_sec = left / 1000;
        wait.tv_nsec = (left % 1000) * 1000000L;
        status = gai_suspend((const struct gaicb *const *)list, 1, &wait);
        if (status == 0 || status == EAI_ALLDONE) break;
        if (status != EAI_INTR && status != EAI_AGAIN) break;
    }
    status = gai_error(&lookup->request);
    if (status == EAI_INPROGRESS) {
        /* Out of time. A request the resolver thread has not started is cancelled and freed; one
         * it is working on stays its own until it finishes, so it is left (a small, bounded leak
         * per timed-out lookup, never a use after free). */
        if (gai_cancel(&lookup->request) == EAI_CANCELED) ckshim_lookup_free(lookup);
        return CKSHIM_EAI_TIMEOUT;
    }
    if (status == 0) *result = lookup->request.ar_result;
    ckshim_lookup_free(lookup);
    return status;
}
