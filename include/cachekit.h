/*
 * cachekit.h - the C ABI of libcachekit.
 *
 * This file is the specification. Every exported function is declared here, with what it
 * returns, who owns each pointer, how NULL is handled and whether it is thread-safe. The Swift
 * implementation is checked against these declarations by the compiler
 * (`@_cdecl @implementation`), and the shared library exports exactly these `cachekit_*` names.
 *
 * libcachekit is wire-compatible with the cachekit family (the `cachekit` Python SDK and its
 * Rust core cachekit-core): the ByteStorage envelope, the encryption scheme, cache keys and the
 * entries stored in Redis are byte-for-byte those of cachekit 0.24.1.
 *
 * Conventions used throughout:
 *  - Fallible functions return an `int` status: CACHEKIT_OK (0), a non-error outcome (> 0, for
 *    example CACHEKIT_MISS) or an error (< 0). Codes are pinned and never renumbered.
 *  - On error, `cachekit_last_error_message()` holds a specific message for the calling thread.
 *    Messages never contain key material.
 *  - Misuse (a NULL pointer where one is required, a bad length) returns an error; the library
 *    never aborts the host process.
 *  - Memory the library allocates is released by the library's own free functions
 *    (`cachekit_buffer_free`, ...). Every free function accepts NULL.
 *  - Output parameters are written only on success unless a function says otherwise.
 *  - Shipped signatures never change; a changed function gets a `_v2` name.
 */
#ifndef CACHEKIT_H
#define CACHEKIT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(CACHEKIT_BUILDING) && defined(__GNUC__)
#define CACHEKIT_API __attribute__((visibility("default")))
#else
#define CACHEKIT_API
#endif

/* ============================================================================================
 * Version
 * ========================================================================================== */

#define CACHEKIT_VERSION_MAJOR 0
#define CACHEKIT_VERSION_MINOR 1
#define CACHEKIT_VERSION_PATCH 0
/** MAJOR * 10000 + MINOR * 100 + PATCH. */
#define CACHEKIT_VERSION_NUMBER \
    (CACHEKIT_VERSION_MAJOR * 10000 + CACHEKIT_VERSION_MINOR * 100 + CACHEKIT_VERSION_PATCH)
#define CACHEKIT_VERSION_STRING "0.1.0"

/**
 * The version of the loaded library as "MAJOR.MINOR.PATCH".
 * Returns a static, NUL-terminated string (never NULL; do not free). Thread-safe. Since 0.1.0.
 */
CACHEKIT_API const char *cachekit_version_string(void);

/**
 * The version of the loaded library as MAJOR * 10000 + MINOR * 100 + PATCH; compare it with
 * CACHEKIT_VERSION_NUMBER to detect a header/library mismatch. Thread-safe. Since 0.1.0.
 */
CACHEKIT_API unsigned cachekit_version_number(void);

/* ============================================================================================
 * Status codes and errors
 * ========================================================================================== */

/* Success and non-error outcomes. */
#define CACHEKIT_OK 0
/** The key is not in the cache. Not an error: no message is recorded. */
#define CACHEKIT_MISS 1

/* Misuse and resources (-1 .. -9). */
#define CACHEKIT_E_NULL_POINTER (-1)       /* a required pointer was NULL */
#define CACHEKIT_E_INVALID_ARGUMENT (-2)   /* an argument is out of range or inconsistent */
#define CACHEKIT_E_BUFFER_TOO_SMALL (-3)   /* a caller-sized output buffer is too small */
#define CACHEKIT_E_OUT_OF_MEMORY (-4)      /* an allocation failed */
#define CACHEKIT_E_INTERNAL (-5)           /* an underlying library failed unexpectedly */

/* Codec: envelope, LZ4, checksums (-10 .. -19). */
#define CACHEKIT_E_TOO_LARGE (-10)              /* input or field over a size limit (512 MiB) */
#define CACHEKIT_E_INVALID_INPUT (-11)          /* not a well-formed envelope or encoding */
#define CACHEKIT_E_DECOMPRESSION_BOMB (-12)     /* ratio over 1000:1, or empty compressed data */
#define CACHEKIT_E_DECOMPRESSION_FAILED (-13)   /* the LZ4 block does not decode */
#define CACHEKIT_E_CHECKSUM_MISMATCH (-14)      /* xxHash3-64 of the decoded data differs */
#define CACHEKIT_E_SIZE_VALIDATION (-15)        /* decoded length differs from original_size */
#define CACHEKIT_E_COMPRESSION_FAILED (-16)     /* the LZ4 encoder failed */

/* Crypto (-20 .. -39) are defined in the crypto section. */
/* Keys, values and entries (-40 .. -59) are defined in their sections. */
/* Cache and backend (-60 .. -79) are defined in the cache section. */

/**
 * A static, NUL-terminated description of a status code (never NULL; do not free).
 * Unknown codes give "unknown status". Thread-safe. Since 0.1.0.
 */
CACHEKIT_API const char *cachekit_strerror(int status);

/**
 * The detailed message of the last error on the calling thread, or "" when the last call on
 * this thread succeeded. Never NULL. The string is owned by the library and stays valid until
 * the next libcachekit call on the same thread. Never contains key material. Thread-safe (each
 * thread has its own message). Since 0.1.0.
 */
CACHEKIT_API const char *cachekit_last_error_message(void);

/* ============================================================================================
 * Buffers
 * ========================================================================================== */

/**
 * A byte buffer allocated by the library. Functions that fill one overwrite both fields; release
 * it with cachekit_buffer_free. A zero-initialized buffer ({NULL, 0}) is valid and empty.
 */
typedef struct cachekit_buffer {
    uint8_t *data;
    size_t len;
} cachekit_buffer;

/**
 * Releases buf->data (allocated by libcachekit) and resets buf to {NULL, 0}. buf may be NULL and
 * buf->data may be NULL (no-op). Not thread-safe for the same buffer. Since 0.1.0.
 */
CACHEKIT_API void cachekit_buffer_free(cachekit_buffer *buf);

/* ============================================================================================
 * Codec: LZ4 block, xxHash3-64 and the ByteStorage envelope
 *
 * The ByteStorage envelope is cachekit's integrity and compression layer: a MessagePack array
 * [compressed_data (bin), checksum (8 x uint8, xxHash3-64 big-endian of the uncompressed data),
 *  original_size (uint), format (str)]. All functions here are stateless and thread-safe.
 * ========================================================================================== */

/** The largest input cachekit accepts anywhere: 512 MiB. */
#define CACHEKIT_MAX_UNCOMPRESSED_SIZE ((size_t)536870912u)
/** The largest compressed payload and envelope accepted on read: 512 MiB. */
#define CACHEKIT_MAX_COMPRESSED_SIZE ((size_t)536870912u)
/** original_size may be at most this many times the compressed size (exactly 1000:1 passes). */
#define CACHEKIT_MAX_COMPRESSION_RATIO 1000u

/**
 * The largest LZ4 block that cachekit_lz4_compress can produce for src_len input bytes, or 0
 * when src_len is over CACHEKIT_MAX_UNCOMPRESSED_SIZE. Since 0.1.0.
 */
CACHEKIT_API size_t cachekit_lz4_compress_bound(size_t src_len);

/**
 * Compresses src into one LZ4 block (raw block format, no frame, no size prefix) in dst.
 * src may be NULL only when src_len is 0. dst must hold dst_capacity bytes; a capacity of
 * cachekit_lz4_compress_bound(src_len) always suffices. On success *out_len is the block length.
 * Returns CACHEKIT_OK, CACHEKIT_E_NULL_POINTER, CACHEKIT_E_TOO_LARGE (src_len over 512 MiB),
 * CACHEKIT_E_BUFFER_TOO_SMALL or CACHEKIT_E_COMPRESSION_FAILED. Since 0.1.0.
 */
CACHEKIT_API int cachekit_lz4_compress(const uint8_t *src, size_t src_len, uint8_t *dst,
                                       size_t dst_capacity, size_t *out_len);

/**
 * Decompresses one LZ4 block into dst, which holds dst_capacity bytes (the decoded size must be
 * known; cachekit stores it as original_size). Any valid block is accepted, whichever encoder
 * wrote it; a malformed or hostile block never reads or writes out of bounds.
 * On success *out_len is the decoded length. Returns CACHEKIT_OK, CACHEKIT_E_NULL_POINTER,
 * CACHEKIT_E_TOO_LARGE (either length over 512 MiB) or CACHEKIT_E_DECOMPRESSION_FAILED (malformed
 * block, or output that would exceed dst_capacity). Since 0.1.0.
 */
CACHEKIT_API int cachekit_lz4_decompress(const uint8_t *src, size_t src_len, uint8_t *dst,
                                         size_t dst_capacity, size_t *out_len);

/**
 * xxHash3-64 with seed 0 of data into *out. data may be NULL only when len is 0.
 * Returns CACHEKIT_OK or CACHEKIT_E_NULL_POINTER. Since 0.1.0.
 */
CACHEKIT_API int cachekit_xxh3_64(const uint8_t *data, size_t len, uint64_t *out);

/**
 * Wraps data in a ByteStorage envelope, byte-compatible with cachekit-core's writer:
 * compressed_data as msgpack bin (shortest form), checksum as 8 integers, original_size as the
 * shortest uint, format as str. format is the envelope's format tag (NUL-terminated UTF-8,
 * 1..255 bytes); NULL means "msgpack". data may be NULL only when len is 0.
 * On success *out receives a new buffer (release with cachekit_buffer_free); on failure *out is
 * left untouched. Returns CACHEKIT_OK, CACHEKIT_E_NULL_POINTER, CACHEKIT_E_INVALID_ARGUMENT (bad
 * format), CACHEKIT_E_TOO_LARGE (len over 512 MiB), CACHEKIT_E_COMPRESSION_FAILED or
 * CACHEKIT_E_OUT_OF_MEMORY. Since 0.1.0.
 */
CACHEKIT_API int cachekit_envelope_store(const uint8_t *data, size_t len, const char *format,
                                         cachekit_buffer *out);

/**
 * Validates a ByteStorage envelope and returns the original bytes in *out (release with
 * cachekit_buffer_free; on failure *out is left untouched). Accepts compressed_data as msgpack
 * bin and as the legacy array of integers 0..255. Checks run in cachekit-core's order, each
 * failure with its own status:
 *   envelope over 512 MiB                              -> CACHEKIT_E_TOO_LARGE
 *   not a well-formed envelope                         -> CACHEKIT_E_INVALID_INPUT
 *   compressed_data over 512 MiB                       -> CACHEKIT_E_TOO_LARGE
 *   original_size over 512 MiB                         -> CACHEKIT_E_TOO_LARGE
 *   compressed_data empty                              -> CACHEKIT_E_DECOMPRESSION_BOMB
 *   original_size > 1000 x len(compressed_data)        -> CACHEKIT_E_DECOMPRESSION_BOMB
 *   LZ4 block does not decode                          -> CACHEKIT_E_DECOMPRESSION_FAILED
 *   checksum differs                                   -> CACHEKIT_E_CHECKSUM_MISMATCH
 *   decoded length differs from original_size          -> CACHEKIT_E_SIZE_VALIDATION
 * Trailing bytes after the envelope are refused (CACHEKIT_E_INVALID_INPUT): no cachekit writer
 * produces them, so they mean corruption or tampering. (cachekit-core ignores them.)
 * If format_out is not NULL and format_capacity > 0, the envelope's format tag is copied there,
 * NUL-terminated; a tag that does not fit returns CACHEKIT_E_BUFFER_TOO_SMALL.
 * Returns CACHEKIT_OK or one of the statuses above, or CACHEKIT_E_NULL_POINTER,
 * CACHEKIT_E_OUT_OF_MEMORY. Since 0.1.0.
 */
CACHEKIT_API int cachekit_envelope_retrieve(const uint8_t *envelope, size_t envelope_len,
                                            cachekit_buffer *out, char *format_out,
                                            size_t format_capacity);

/* ============================================================================================
 * Crypto: HKDF tenant keys, AES-256-GCM, AAD v0x03, keyrings (status codes -20 .. -39)
 * ========================================================================================== */

/* (section: crypto) */

/* ============================================================================================
 * Values and keys: MessagePack for hosts, cache keys (status codes -40 .. -59)
 * ========================================================================================== */

/* (section: keys) */

/* ============================================================================================
 * Entries: the cachekit entry formats stored in Redis
 * ========================================================================================== */

/* (section: entries) */

/* ============================================================================================
 * Cache: L1 + Redis L2, get-or-compute (status codes -60 .. -79)
 * ========================================================================================== */

/* (section: cache) */

/* ============================================================================================
 * Observability: stats and health
 * ========================================================================================== */

/* (section: observability) */

#ifdef __cplusplus
}
#endif

#endif /* CACHEKIT_H */
