/* libcachekit at work on its embedded default: what a C host sees through include/cachekit.h. */
#include "cachekit.h"
#include <stdio.h>
#include <string.h>

static int fail(const char *what, int status) {
    fprintf(stderr, "%s: %s (%s)\n", what, cachekit_strerror(status), cachekit_last_error_message());
    return 1;
}

int main(void) {
    /* A MessagePack document as cachekit-py stores it: {"user": "alice", "visits": 42}. */
    static const uint8_t doc[] = {0x82, 0xa4, 'u', 's', 'e', 'r', 0xa5, 'a', 'l', 'i', 'c', 'e',
                                  0xa6, 'v', 'i', 's', 'i', 't', 's', 0x2a};
    uint8_t big[64 * 1024];
    cachekit_buffer envelope = {NULL, 0}, back = {NULL, 0};
    uint64_t checksum = 0;
    size_t i;
    int status;

    printf("libcachekit %s (header %s)\n\n", cachekit_version_string(), CACHEKIT_VERSION_STRING);

    /* 1. The ByteStorage envelope: LZ4 block + xxHash3-64, byte-compatible with cachekit-core. */
    if ((status = cachekit_envelope_store(doc, sizeof doc, NULL, &envelope)) != CACHEKIT_OK) {
        return fail("envelope_store", status);
    }
    printf("envelope of a %zu-byte msgpack document: %zu bytes\n  ", sizeof doc, envelope.len);
    for (i = 0; i < envelope.len; i++) { printf("%02x", envelope.data[i]); }
    printf("\n");
    if ((status = cachekit_envelope_retrieve(envelope.data, envelope.len, &back, NULL, 0)) != CACHEKIT_OK) {
        return fail("envelope_retrieve", status);
    }
    printf("retrieved %zu bytes, identical: %s\n", back.len,
           back.len == sizeof doc && memcmp(back.data, doc, sizeof doc) == 0 ? "yes" : "NO");
    cachekit_buffer_free(&back);

    /* 2. Integrity: one flipped bit in the checksum is caught with its own status. */
    envelope.data[envelope.len - 10] ^= 0x01;
    status = cachekit_envelope_retrieve(envelope.data, envelope.len, &back, NULL, 0);
    printf("\ncorrupted entry -> %d (%s): %s\n", status, cachekit_strerror(status), cachekit_last_error_message());
    cachekit_buffer_free(&envelope);

    /* 3. Compression of a large, repetitive value. */
    for (i = 0; i < sizeof big; i++) { big[i] = (uint8_t)"cachekit "[i % 9]; }
    if ((status = cachekit_envelope_store(big, sizeof big, NULL, &envelope)) != CACHEKIT_OK) {
        return fail("envelope_store", status);
    }
    cachekit_xxh3_64(big, sizeof big, &checksum);
    printf("\n64 KiB value -> %zu-byte envelope (%.0fx smaller), xxh3 %016llx\n", envelope.len,
           (double)sizeof big / (double)envelope.len, (unsigned long long)checksum);
    cachekit_buffer_free(&envelope);

    /* 4. Misuse is a status, never a crash. */
    status = cachekit_envelope_retrieve(NULL, 10, &back, NULL, 0);
    printf("\nNULL input -> %d (%s): %s\n", status, cachekit_strerror(status), cachekit_last_error_message());
    return 0;
}
