/* The codec part of the C ABI, compiled as strict C99 against the header: version, errors,
 * buffers, LZ4, xxHash3-64 and the envelope, including misuse (an error code, never a crash). */
#define _POSIX_C_SOURCE 200809L
#include "cachekit.h"
#include "check.h"
#include <pthread.h>

static const char *simple_string_bin =
    "94c412f00168656c6c6f2c2063616368656b697421986dcc8a34ccb63a3c52ccd310a76d73677061636b";
static const char *simple_string_legacy =
    "94dc0012ccf00168656c6c6f2c2063616368656b697421986dcc8a34ccb63a3c52ccd310a76d73677061636b";

static void test_version_and_errors(void) {
    int codes[] = {CACHEKIT_OK, CACHEKIT_MISS, CACHEKIT_E_NULL_POINTER, CACHEKIT_E_INVALID_ARGUMENT,
                   CACHEKIT_E_BUFFER_TOO_SMALL, CACHEKIT_E_OUT_OF_MEMORY, CACHEKIT_E_INTERNAL,
                   CACHEKIT_E_TOO_LARGE, CACHEKIT_E_INVALID_INPUT, CACHEKIT_E_DECOMPRESSION_BOMB,
                   CACHEKIT_E_DECOMPRESSION_FAILED, CACHEKIT_E_CHECKSUM_MISMATCH,
                   CACHEKIT_E_SIZE_VALIDATION, CACHEKIT_E_COMPRESSION_FAILED};
    size_t i;
    CHECK(cachekit_version_number() == CACHEKIT_VERSION_NUMBER);
    CHECK(strcmp(cachekit_version_string(), CACHEKIT_VERSION_STRING) == 0);
    for (i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        const char *text = cachekit_strerror(codes[i]);
        CHECK(text != NULL && strlen(text) > 0 && strcmp(text, "unknown status") != 0);
    }
    CHECK(strcmp(cachekit_strerror(-12345), "unknown status") == 0);
    CHECK(strcmp(cachekit_strerror(CACHEKIT_E_CHECKSUM_MISMATCH),
                 cachekit_strerror(CACHEKIT_E_SIZE_VALIDATION)) != 0);
    CHECK(cachekit_last_error_message() != NULL);
}

static void test_buffers(void) {
    cachekit_buffer empty = {NULL, 0};
    cachekit_buffer_free(NULL);
    cachekit_buffer_free(&empty);
    CHECK(empty.data == NULL && empty.len == 0);
}

static void test_lz4_and_xxh3(void) {
    unsigned char input[4096], block[8192], output[4096];
    size_t i, block_len = 0, out_len = 0;
    uint64_t hash = 0;
    for (i = 0; i < sizeof input; i++) { input[i] = (unsigned char)(i % 13); }
    CHECK(cachekit_lz4_compress_bound(sizeof input) >= sizeof input);
    CHECK(cachekit_lz4_compress_bound(CACHEKIT_MAX_UNCOMPRESSED_SIZE + 1) == 0);
    CHECK_STATUS(cachekit_lz4_compress(input, sizeof input, block, sizeof block, &block_len), CACHEKIT_OK);
    CHECK(block_len > 0 && block_len < sizeof input);
    CHECK_STATUS(cachekit_lz4_decompress(block, block_len, output, sizeof output, &out_len), CACHEKIT_OK);
    CHECK(out_len == sizeof input && memcmp(input, output, sizeof input) == 0);
    /* Output that would not fit, a short destination, a garbage block. */
    CHECK_STATUS(cachekit_lz4_decompress(block, block_len, output, 100, &out_len),
                 CACHEKIT_E_DECOMPRESSION_FAILED);
    CHECK(strlen(cachekit_last_error_message()) > 0);
    CHECK_STATUS(cachekit_lz4_compress(input, sizeof input, block, 10, &block_len), CACHEKIT_E_BUFFER_TOO_SMALL);
    block[0] = 0x0f; block[1] = 0xff; block[2] = 0xff;
    CHECK_STATUS(cachekit_lz4_decompress(block, 3, output, sizeof output, &out_len),
                 CACHEKIT_E_DECOMPRESSION_FAILED);
    /* Misuse. */
    CHECK_STATUS(cachekit_lz4_compress(NULL, 10, block, sizeof block, &block_len), CACHEKIT_E_NULL_POINTER);
    CHECK_STATUS(cachekit_lz4_compress(input, 10, NULL, 100, &block_len), CACHEKIT_E_NULL_POINTER);
    CHECK_STATUS(cachekit_lz4_compress(input, 10, block, sizeof block, NULL), CACHEKIT_E_NULL_POINTER);
    CHECK_STATUS(cachekit_lz4_decompress(NULL, 0, output, sizeof output, &out_len), CACHEKIT_E_DECOMPRESSION_FAILED);
    CHECK_STATUS(cachekit_lz4_compress(input, (size_t)-1, block, sizeof block, &block_len),
                 CACHEKIT_E_INVALID_ARGUMENT);
    /* xxHash3-64 of "" is the empty vector's checksum. */
    CHECK_STATUS(cachekit_xxh3_64(NULL, 0, &hash), CACHEKIT_OK);
    CHECK(hash == UINT64_C(0x2d06800538d394c2));
    CHECK_STATUS(cachekit_xxh3_64((const uint8_t *)"hello, cachekit!", 16, &hash), CACHEKIT_OK);
    CHECK(hash == UINT64_C(0x6d8a34b63a3c52d3));
    CHECK_STATUS(cachekit_xxh3_64(NULL, 1, &hash), CACHEKIT_E_NULL_POINTER);
    CHECK_STATUS(cachekit_xxh3_64(input, 1, NULL), CACHEKIT_E_NULL_POINTER);
}

static void test_envelope(void) {
    size_t bin_len, legacy_len;
    unsigned char *bin = check_from_hex(simple_string_bin, &bin_len);
    unsigned char *legacy = check_from_hex(simple_string_legacy, &legacy_len);
    cachekit_buffer out = {NULL, 0}, env = {NULL, 0};
    char format[16];

    /* Writing reproduces cachekit-core's bytes. */
    CHECK_STATUS(cachekit_envelope_store((const uint8_t *)"hello, cachekit!", 16, NULL, &env), CACHEKIT_OK);
    CHECK(env.len == bin_len && memcmp(env.data, bin, bin_len) == 0);
    cachekit_buffer_free(&env);
    CHECK(env.data == NULL && env.len == 0);

    /* Both encodings of compressed_data read back, with the format tag. */
    CHECK_STATUS(cachekit_envelope_retrieve(bin, bin_len, &out, format, sizeof format), CACHEKIT_OK);
    CHECK(out.len == 16 && memcmp(out.data, "hello, cachekit!", 16) == 0);
    CHECK(strcmp(format, "msgpack") == 0);
    cachekit_buffer_free(&out);
    CHECK_STATUS(cachekit_envelope_retrieve(legacy, legacy_len, &out, NULL, 0), CACHEKIT_OK);
    CHECK(out.len == 16 && memcmp(out.data, "hello, cachekit!", 16) == 0);
    cachekit_buffer_free(&out);
    CHECK_STATUS(cachekit_envelope_retrieve(bin, bin_len, &out, format, 4), CACHEKIT_E_BUFFER_TOO_SMALL);
    CHECK(out.data == NULL);

    /* Custom format tag, empty value. */
    CHECK_STATUS(cachekit_envelope_store(NULL, 0, "json", &env), CACHEKIT_OK);
    CHECK_STATUS(cachekit_envelope_retrieve(env.data, env.len, &out, format, sizeof format), CACHEKIT_OK);
    CHECK(out.len == 0 && strcmp(format, "json") == 0);
    cachekit_buffer_free(&out);
    cachekit_buffer_free(&env);
    CHECK_STATUS(cachekit_envelope_store((const uint8_t *)"x", 1, "", &env), CACHEKIT_E_INVALID_ARGUMENT);

    /* Each failure has its own status, and *out is untouched on failure. */
    bin[bin_len - 10] ^= 0x01; /* last checksum byte */
    CHECK_STATUS(cachekit_envelope_retrieve(bin, bin_len, &out, NULL, 0), CACHEKIT_E_CHECKSUM_MISMATCH);
    CHECK(out.data == NULL && out.len == 0);
    CHECK(strstr(cachekit_last_error_message(), "xxHash3") != NULL);
    bin[bin_len - 10] ^= 0x01;
    bin[bin_len - 9] = 0x11; /* original_size 16 -> 17 */
    CHECK_STATUS(cachekit_envelope_retrieve(bin, bin_len, &out, NULL, 0), CACHEKIT_E_SIZE_VALIDATION);
    bin[bin_len - 9] = 0x10;
    CHECK_STATUS(cachekit_envelope_retrieve(bin, bin_len - 1, &out, NULL, 0), CACHEKIT_E_INVALID_INPUT);
    CHECK_STATUS(cachekit_envelope_retrieve(bin, 0, &out, NULL, 0), CACHEKIT_E_INVALID_INPUT);
    CHECK_STATUS(cachekit_envelope_retrieve(NULL, 10, &out, NULL, 0), CACHEKIT_E_NULL_POINTER);
    CHECK_STATUS(cachekit_envelope_retrieve(bin, bin_len, NULL, NULL, 0), CACHEKIT_E_NULL_POINTER);
    CHECK_STATUS(cachekit_envelope_store((const uint8_t *)"x", 1, NULL, NULL), CACHEKIT_E_NULL_POINTER);
    CHECK_STATUS(cachekit_envelope_store(NULL, 1, NULL, &env), CACHEKIT_E_NULL_POINTER);
    CHECK_STATUS(cachekit_envelope_store(bin, CACHEKIT_MAX_UNCOMPRESSED_SIZE + 1, NULL, &env), CACHEKIT_E_TOO_LARGE);

    /* A success clears the thread's message. */
    CHECK_STATUS(cachekit_envelope_retrieve(bin, bin_len, &out, NULL, 0), CACHEKIT_OK);
    CHECK(strcmp(cachekit_last_error_message(), "") == 0);
    cachekit_buffer_free(&out);
    free(bin);
    free(legacy);
}

/* Each thread sees its own last error. */
static void *fail_in_thread(void *arg) {
    uint64_t hash;
    (void)arg;
    if (cachekit_xxh3_64(NULL, 5, &hash) != CACHEKIT_E_NULL_POINTER) { return (void *)1; }
    return strstr(cachekit_last_error_message(), "data is NULL") != NULL ? NULL : (void *)1;
}

static void test_thread_local_errors(void) {
    pthread_t thread;
    void *result = (void *)1;
    cachekit_buffer out = {NULL, 0};
    CHECK_STATUS(cachekit_envelope_retrieve((const uint8_t *)"\x93", 1, &out, NULL, 0), CACHEKIT_E_INVALID_INPUT);
    CHECK(pthread_create(&thread, NULL, fail_in_thread, NULL) == 0);
    CHECK(pthread_join(thread, &result) == 0);
    CHECK(result == NULL);
    CHECK(strstr(cachekit_last_error_message(), "array of 4") != NULL);
}

int main(void) {
    test_version_and_errors();
    test_buffers();
    test_lz4_and_xxh3();
    test_envelope();
    test_thread_local_errors();
    return check_finish("test_codec");
}
