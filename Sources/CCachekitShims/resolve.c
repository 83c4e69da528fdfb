/* Name resolution bounded by a deadline. In C because it needs a thread of its own and a
 * condition variable with a monotonic timed wait around glibc's getaddrinfo(), which waits as
 * long as resolv.conf says: a connect timeout could not bound it. (glibc's getaddrinfo_a is not
 * used: its resolver threads are made inside libc, where sanitizers and hosts cannot see them.)
 * The lookup thread owns a reference to the request, so a caller that gives up at its deadline
 * returns at once and the thread frees everything when it finishes. */
#define _GNU_SOURCE
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cachekit_shims.h"

struct ckshim_lookup {
    pthread_mutex_t mutex;
    pthread_cond_t finished;
    int references; /* the caller and the lookup thread */
    int done;
    int status;
    struct addrinfo *result;
    struct addrinfo hints;
    char *host;
    char *service;
};

/* Drops one reference (the mutex held); the last one frees the request and any result. */
static void ckshim_lookup_release(struct ckshim_lookup *lookup) {
    int last = --lookup->references == 0;
    pthread_mutex_unlock(&lookup->mutex);
    if (!last) return;
    if (lookup->result != NULL) freeaddrinfo(lookup->result);
    pthread_cond_destroy(&lookup->finished);
    pthread_mutex_destroy(&lookup->mutex);
    free(lookup->host);
    free(lookup->service);
    free(lookup);
}

static void *ckshim_lookup_run(void *argument) {
    struct ckshim_lookup *lookup = argument;
    struct addrinfo *result = NULL;
    sigset_t all;
    int status;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL); /* signals belong to the host's threads */
    status = getaddrinfo(lookup->host, lookup->service, &lookup->hints, &result);
    pthread_mutex_lock(&lookup->mutex);
    lookup->status = status;
    lookup->result = status == 0 ? result : NULL;
    lookup->done = 1;
    pthread_cond_signal(&lookup->finished);
    ckshim_lookup_release(lookup);
    return NULL;
}

int ckshim_getaddrinfo_within(const char *host, const char *service, const struct addrinfo *hints,
                              int timeout_ms, struct addrinfo **result) {
    struct ckshim_lookup *lookup = calloc(1, sizeof *lookup);
    pthread_condattr_t attributes;
    pthread_attr_t thread_attributes;
    pthread_t thread;
    struct timespec deadline;
    int status = 0;
    *result = NULL;
    if (lookup == NULL) return EAI_MEMORY;
    lookup->host = strdup(host);
    lookup->service = strdup(service);
    if (lookup->host == NULL || lookup->service == NULL) {
        free(lookup->host);
        free(lookup->service);
        free(lookup);
        return EAI_MEMORY;
    }
    lookup->hints = *hints;
    lookup->references = 2;
    pthread_mutex_init(&lookup->mutex, NULL);
    pthread_condattr_init(&attributes);
    pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
    pthread_cond_init(&lookup->finished, &attributes);
    pthread_condattr_destroy(&attributes);

    pthread_attr_init(&thread_attributes);
    pthread_attr_setdetachstate(&thread_attributes, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&thread, &thread_attributes, ckshim_lookup_run, lookup) != 0) {
        pthread_attr_destroy(&thread_attributes);
        /* No thread: resolve here, unbounded, rather than fail a connect that could work. */
        lookup->references = 1;
        pthread_mutex_lock(&lookup->mutex);
        status = getaddrinfo(host, service, hints, result);
        ckshim_lookup_release(lookup);
        return status;
    }
    pthread_attr_destroy(&thread_attributes);

    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec += 1;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&lookup->mutex);
    while (!lookup->done) {
        if (pthread_cond_timedwait(&lookup->finished, &lookup->mutex, &deadline) != 0 && !lookup->done) break;
    }
    if (lookup->done) {
        status = lookup->status;
        *result = lookup->result;
        lookup->result = NULL; /* the caller's now */
    } else {
        status = CKSHIM_EAI_TIMEOUT;
    }
    ckshim_lookup_release(lookup);
    return status;
}
