/* A program outside the tree that finds libcachekit through pkg-config or CMake, round-trips a
 * value through the envelope and checks the header matches the library it loaded. */
#include <cachekit.h>
#include <stdio.h>
#include <string.h>

int main(void) {
    static const char value[] = "found through the installed header and library";
    cachekit_buffer envelope = {NULL, 0}, back = {NULL, 0};
    int ok;
    if (cachekit_version_number() != CACHEKIT_VERSION_NUMBER) {
        fprintf(stderr, "header %s but library %s\n", CACHEKIT_VERSION_STRING, cachekit_version_string());
        return 1;
    }
    if (cachekit_envelope_store((const uint8_t *)value, sizeof value, NULL, &envelope) != CACHEKIT_OK ||
        cachekit_envelope_retrieve(envelope.data, envelope.len, &back, NULL, 0) != CACHEKIT_OK) {
        fprintf(stderr, "envelope failed: %s\n", cachekit_last_error_message());
        return 1;
    }
    ok = back.len == sizeof value && memcmp(back.data, value, sizeof value) == 0;
    printf("libcachekit %s: envelope of %zu bytes, round trip %s\n", cachekit_version_string(),
           envelope.len, ok ? "ok" : "FAILED");
    cachekit_buffer_free(&envelope);
    cachekit_buffer_free(&back);
    return ok ? 0 : 1;
}
