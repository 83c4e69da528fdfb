/* This process's id without a system call per check (glibc's getpid() is a real syscall since
 * 2.25). In C because the fork handler must be registered before any thread can fork: a
 * constructor runs at load time, while a Swift lazy global registered on first use can be caught
 * mid-initialisation by another thread's fork(), leaving the child waiting on it for ever. */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "cachekit_shims.h"

static atomic_int current_pid;

static void ckshim_after_fork_in_child(void) {
    atomic_store_explicit(&current_pid, (int)getpid(), memory_order_relaxed);
}

__attribute__((constructor)) static void ckshim_register_fork_handler(void) {
    atomic_store_explicit(&current_pid, (int)getpid(), memory_order_relaxed);
    pthread_atfork(NULL, NULL, ckshim_after_fork_in_child);
}

int ckshim_process_id(void) {
    return atomic_load_explicit(&current_pid, memory_order_relaxed);
}
