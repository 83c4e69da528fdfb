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
 *    never aborts the host process. A size_t of 2^63 or more (SIZE_MAX / 2 + 1 and up: no object
 *    is that large) is CACHEKIT_E_INVALID_ARGUMENT from every parameter that takes one.
 *  - Handles (cachekit_cache, cachekit_config, cachekit_keyring, cachekit_msgpack_writer,
 *    cachekit_msgpack_reader) carry a type tag that their free function clears: a call on a
 *    freed handle, a second free, or a handle of another type is CACHEKIT_E_MISUSE (a free
 *    function then does nothing and records the message). The check is cheap, not complete:
 *    the last 4096 freed handles are recognised; a handle freed longer ago, a pointer the library
 *    never returned, or a call that runs while another thread frees its handle remain undefined.
 *    No call on a handle may race its free function: a host whose finalizers run on other
 *    threads (a garbage collector) counts its own calls in flight and frees after the last one
 *    returns, as the Python binding does (bindings/python/cachekit_native/cache.py).
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
/** get_or_compute returned an expired value because the compute failed within stale_if_error
 *  (the value is in *out as on CACHEKIT_OK). Not an error. Since 0.2.0. */
#define CACHEKIT_STALE 2

/* Misuse and resources (-1 .. -9). */
#define CACHEKIT_E_NULL_POINTER (-1)       /* a required pointer was NULL */
#define CACHEKIT_E_INVALID_ARGUMENT (-2)   /* an argument is out of range or inconsistent */
#define CACHEKIT_E_BUFFER_TOO_SMALL (-3)   /* a caller-sized output buffer is too small */
#define CACHEKIT_E_OUT_OF_MEMORY (-4)      /* an allocation failed */
#define CACHEKIT_E_INTERNAL (-5)           /* an underlying library failed unexpectedly */
#define CACHEKIT_E_MISUSE (-6)             /* a freed handle, or a handle of another type (since 0.1.0) */

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

/*
 * Index of all status codes by range (each range is defined in its section):
 *    0 .. 2     CACHEKIT_OK, CACHEKIT_MISS, CACHEKIT_STALE          (above)
 *   -1 .. -9    misuse and resources: NULL_POINTER -1, INVALID_ARGUMENT -2, BUFFER_TOO_SMALL -3,
 *               OUT_OF_MEMORY -4, INTERNAL -5, MISUSE -6             (above)
 *  -10 .. -19   codec: TOO_LARGE -10 .. COMPRESSION_FAILED -16       (above)
 *  -20 .. -39   crypto: AUTHENTICATION_FAILED -20 .. RANDOM_FAILED -32 (crypto section)
 *  -40 .. -49   values and keys: NESTING_TOO_DEEP -40 .. TYPE_MISMATCH -46 (values/keys sections)
 *  -50 .. -59   entries: INVALID_FRAME -50 .. INVALID_VALUE -59      (entries section)
 *  -60 .. -79   cache and backend: BACKEND_UNAVAILABLE -60 .. POOL_TIMEOUT -75 (cache section)
 * Text arguments that are not UTF-8 are CACHEKIT_E_INVALID_UTF8 from every function (changed
 * before 1.0: some functions returned CACHEKIT_E_INVALID_ARGUMENT or, for a tenant,
 * CACHEKIT_E_TENANT_LENGTH). Cache keys given as bytes stay CACHEKIT_E_INVALID_KEY.
 */

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

/**
 * Copies len bytes of data into buf, which the library owns from then on (release with
 * cachekit_buffer_free); any previous content of buf is released first. For compute callbacks
 * (cachekit_cache_get_or_compute) and any caller that hands bytes to the library.
 * data may be NULL only when len is 0. Returns CACHEKIT_OK, CACHEKIT_E_NULL_POINTER or
 * CACHEKIT_E_OUT_OF_MEMORY. Not thread-safe for the same buffer. Since 0.1.0.
 */
CACHEKIT_API int cachekit_buffer_set(cachekit_buffer *buf, const uint8_t *data, size_t len);

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

/*
 * cachekit's zero-knowledge encryption (the `@cache.secure` of the Python SDK), byte-compatible
 * with cachekit-core:
 *  - Tenant keys: HKDF-SHA256 (RFC 5869) with IKM = master key, info = domain, L = 32 and
 *    salt = "cachekit_v1_" || u8(len(domain)) || domain || u16be(len(tenant)) || tenant.
 *    Domains: "encryption" (the one that encrypts), "authentication", "cache_keys".
 *  - Key fingerprint: the first 16 bytes of SHA-256("key_fingerprint_v1" || derived key), written
 *    as 32 lowercase hex digits; cachekit-py stores it in its frame headers to name the key.
 *  - AES-256-GCM, stored as nonce (12) || ciphertext || tag (16). The nonce is an 8-byte instance
 *    id (a process-wide counter seeded from 8 random bytes, +1 per encryptor) || a 4-byte
 *    big-endian per-encryptor counter from 0. Exhaustion is an error, never a wrap.
 *  - AAD v0x03: 0x03, then u32be(len) || bytes for tenant, cache key, format, compressed
 *    ("True"/"False") and an optional original_type.
 * Keys are held in memory wiped with OPENSSL_cleanse when released; no error message, status
 * description or log line ever contains a key or a master key.
 *
 * Shape: encryption goes through a keyring handle rather than raw-key functions, so derived keys,
 * cipher contexts and nonce counters stay inside the library (a caller cannot reuse a nonce) and
 * HKDF runs once per tenant, not per call. Tenants, domains and AAD components are NUL-terminated
 * UTF-8 strings, as they are Python str in cachekit; payloads and AAD are pointer + length.
 */

/* Crypto status codes (-20 .. -39). */
#define CACHEKIT_E_AUTHENTICATION_FAILED (-20)  /* GCM tag check failed: wrong key, tenant or AAD, or tampered data */
#define CACHEKIT_E_CIPHERTEXT_TOO_SHORT (-21)   /* encrypted payload under 28 bytes (nonce + tag) */
#define CACHEKIT_E_KEY_LENGTH (-22)             /* master key too short, or a key that must be 32 bytes is not */
#define CACHEKIT_E_INVALID_HEX (-23)            /* a hex key is not an even number of hex digits */
#define CACHEKIT_E_NONCE_EXHAUSTED (-24)        /* an encryptor's 2^32 - 1 nonces are spent */
#define CACHEKIT_E_DOMAIN_LENGTH (-25)          /* HKDF domain empty or over 255 bytes */
#define CACHEKIT_E_TENANT_LENGTH (-26)          /* tenant id empty or over 1024 bytes */
#define CACHEKIT_E_TOO_MANY_PREVIOUS_KEYS (-27) /* more than 3 previous master keys */
#define CACHEKIT_E_CURRENT_KEY_REPEATED (-28)   /* the current master key is also a previous key */
#define CACHEKIT_E_MISSING_MASTER_KEY (-29)     /* CACHEKIT_MASTER_KEY is unset or empty */
#define CACHEKIT_E_KEY_FINGERPRINT_MISMATCH (-30) /* fail-closed: no keyring key has the entry's fingerprint */
#define CACHEKIT_E_INVALID_FINGERPRINT (-31)    /* a fingerprint that is not 32 lowercase hex digits */
#define CACHEKIT_E_RANDOM_FAILED (-32)          /* the system random number generator failed */

/** AES-256 key and derived-key size in bytes. */
#define CACHEKIT_KEY_SIZE 32
#define CACHEKIT_NONCE_SIZE 12
#define CACHEKIT_TAG_SIZE 16
/** An encrypted payload is this many bytes longer than its plaintext (nonce + tag). */
#define CACHEKIT_CIPHERTEXT_OVERHEAD 28
/** Bytes needed for a fingerprint as text: 32 hex digits and a NUL. */
#define CACHEKIT_FINGERPRINT_HEX_SIZE 33
/** A keyring's master keys (current and previous) decode to at least this many bytes. */
#define CACHEKIT_MIN_MASTER_KEY_SIZE 32
#define CACHEKIT_MAX_PREVIOUS_KEYS 3
#define CACHEKIT_MAX_DOMAIN_SIZE 255
#define CACHEKIT_MAX_TENANT_SIZE 1024
/** The largest plaintext (or ciphertext) the AES-GCM functions accept: 1 GiB. */
#define CACHEKIT_MAX_CRYPTO_INPUT_SIZE ((size_t)1073741824u)

/**
 * HKDF-SHA256 (RFC 5869, extract then expand) of ikm with salt and info, into out (out_len
 * bytes, 1 .. 8160). ikm must not be empty (ikm_len >= 1); salt and info may be NULL when their
 * length is 0. Stateless and thread-safe.
 * Returns CACHEKIT_OK, CACHEKIT_E_NULL_POINTER, CACHEKIT_E_KEY_LENGTH (empty ikm),
 * CACHEKIT_E_INVALID_ARGUMENT (out_len out of range) or CACHEKIT_E_INTERNAL. Since 0.1.0.
 */
CACHEKIT_API int cachekit_hkdf_sha256(const uint8_t *ikm, size_t ikm_len, const uint8_t *salt,
                                      size_t salt_len, const uint8_t *info, size_t info_len,
                                      uint8_t *out, size_t out_len);

/**
 * cachekit's domain key: HKDF-SHA256 with the salt layout above, into out_key (32 bytes, owned by
 * the caller, who should wipe it after use). master_key must be at least 16 bytes (cachekit-core's
 * floor; keyrings require 32). domain and tenant are NUL-terminated: domain 1..255 bytes,
 * tenant 1..1024 bytes of UTF-8. Stateless and thread-safe.
 * Returns CACHEKIT_OK, CACHEKIT_E_NULL_POINTER, CACHEKIT_E_KEY_LENGTH, CACHEKIT_E_DOMAIN_LENGTH,
 * CACHEKIT_E_TENANT_LENGTH, CACHEKIT_E_INVALID_UTF8 (tenant not UTF-8; changed before 1.0: was
 * CACHEKIT_E_TENANT_LENGTH) or CACHEKIT_E_INTERNAL. Since 0.1.0.
 */
CACHEKIT_API int cachekit_derive_domain_key(const uint8_t *master_key, size_t master_key_len,
                                            const char *domain, const char *tenant,
                                            uint8_t *out_key);

/**
 * The fingerprint of a key: first 16 bytes of SHA-256("key_fingerprint_v1" || key) as 32
 * lowercase hex digits and a NUL in out_hex (CACHEKIT_FINGERPRINT_HEX_SIZE bytes). key may be NULL
 * only when key_len is 0. Stateless and thread-safe.
 * Returns CACHEKIT_OK, CACHEKIT_E_NULL_POINTER or CACHEKIT_E_INTERNAL. Since 0.1.0.
 */
CACHEKIT_API int cachekit_key_fingerprint(const uint8_t *key, size_t key_len, char *out_hex);

/**
 * Builds the AAD v0x03 into *out (release with cachekit_buffer_free). tenant and cache_key are
 * required and non-empty; cache_key is the key as authenticated (in cachekit-py's auto mode the
 * full Redis key, `t:{tenant}:` prefix included; in interop mode the bare key). format NULL means
 * "msgpack". compressed: non-zero gives "True", zero "False". original_type NULL gives the
 * 4-component AAD (interop mode); cachekit-py's auto mode passes "msgpack" (5 components).
 * All strings are NUL-terminated UTF-8. Stateless and thread-safe.
 * Returns CACHEKIT_OK, CACHEKIT_E_NULL_POINTER, CACHEKIT_E_TENANT_LENGTH (empty tenant),
 * CACHEKIT_E_INVALID_ARGUMENT (empty cache key), CACHEKIT_E_INVALID_UTF8 (a string that is not
 * UTF-8; changed before 1.0: was CACHEKIT_E_INVALID_ARGUMENT) or CACHEKIT_E_OUT_OF_MEMORY.
 * Since 0.1.0.
 */
CACHEKIT_API int cachekit_aad_v3(const char *tenant, const char *cache_key, const char *format,
                                 int compressed, const char *original_type, cachekit_buffer *out);

/**
 * A keyring: the current master key (encrypts and decrypts) and up to 3 decrypt-only previous
 * keys for rotation. For each tenant it derives the encryption keys of all its master keys once,
 * with their fingerprints and AES-GCM contexts, and caches them (HKDF never runs per operation).
 * Each tenant has its own encryptor (nonce sequence); when one is exhausted the keyring starts a
 * fresh one with a new instance id, so nonces never repeat.
 * A keyring may be shared by any number of threads. Every key it holds is wiped when it is freed.
 */
typedef struct cachekit_keyring cachekit_keyring;

/**
 * Creates a keyring from hex. master_key_hex (required): the current master key, hex digits of
 * either case, surrounding whitespace ignored, at least 32 bytes decoded. previous_keys_hex: NULL
 * or comma-separated hex keys (blank items ignored), each at least 32 bytes, at most 3, none
 * equal to the current key. The keyring starts fail-open. On success *out receives the keyring
 * (release with cachekit_keyring_free); on failure *out is left untouched.
 * The library does not keep or wipe the caller's strings; wipe them if they matter to you.
 * Returns CACHEKIT_OK, CACHEKIT_E_NULL_POINTER, CACHEKIT_E_INVALID_HEX, CACHEKIT_E_KEY_LENGTH,
 * CACHEKIT_E_TOO_MANY_PREVIOUS_KEYS, CACHEKIT_E_CURRENT_KEY_REPEATED or
 * CACHEKIT_E_OUT_OF_MEMORY. Thread-safe. Since 0.1.0.
 */
CACHEKIT_API int cachekit_keyring_new(const char *master_key_hex, const char *previous_keys_hex,
                                      cachekit_keyring **out);

/**
 * Creates a keyring from the environment: CACHEKIT_MASTER_KEY (required) and
 * CACHEKIT_PREVIOUS_MASTER_KEYS (optional), with the rules of cachekit_keyring_new.
 * Returns what cachekit_keyring_new returns, or CACHEKIT_E_MISSING_MASTER_KEY. Reads the
 * environment with getenv: do not call it while another thread changes the environment.
 * Since 0.1.0.
 */
CACHEKIT_API int cachekit_keyring_from_env(cachekit_keyring **out);

/** Wipes and releases a keyring. NULL is a no-op. The keyring must not be in use. Since 0.1.0. */
CACHEKIT_API void cachekit_keyring_free(cachekit_keyring *keyring);

/**
 * Fail-closed (non-zero) or fail-open (zero, the default, as in cachekit-py). It decides what
 * cachekit_keyring_decrypt does with an entry whose fingerprint no keyring key has: fail-closed
 * refuses it with CACHEKIT_E_KEY_FINGERPRINT_MISMATCH before any decryption; fail-open tries the
 * current key (a genuinely different key then gives CACHEKIT_E_AUTHENTICATION_FAILED).
 * Returns CACHEKIT_OK or CACHEKIT_E_NULL_POINTER. Thread-safe. Since 0.1.0.
 */
CACHEKIT_API int cachekit_keyring_set_fail_closed(cachekit_keyring *keyring, int fail_closed);

/**
 * The number of master keys in the keyring (1 + previous keys) in *out.
 * Returns CACHEKIT_OK or CACHEKIT_E_NULL_POINTER. Thread-safe. Since 0.1.0.
 */
CACHEKIT_API int cachekit_keyring_key_count(cachekit_keyring *keyring, size_t *out);

/**
 * The fingerprint of master key `index` (0 = current) derived for tenant (NUL-terminated,
 * 1..1024 bytes of UTF-8), as 32 hex digits and a NUL in out_hex (CACHEKIT_FINGERPRINT_HEX_SIZE
 * bytes). Returns CACHEKIT_OK, CACHEKIT_E_NULL_POINTER, CACHEKIT_E_TENANT_LENGTH,
 * CACHEKIT_E_INVALID_UTF8 (tenant not UTF-8; changed before 1.0: was CACHEKIT_E_TENANT_LENGTH)
 * or CACHEKIT_E_INVALID_ARGUMENT (index out of range). Thread-safe. Since 0.1.0.
 */
CACHEKIT_API int cachekit_keyring_fingerprint(cachekit_keyring *keyring, const char *tenant,
                                              size_t index, char *out_hex);

/**
 * Encrypts plaintext with tenant's current key: *out receives nonce || ciphertext || tag
 * (plaintext_len + 28 bytes; release with cachekit_buffer_free). If fingerprint_out is not NULL
 * it receives the key's fingerprint (CACHEKIT_FINGERPRINT_HEX_SIZE bytes), which cachekit-py
 * writes into its frame header. aad is the AAD v0x03 (cachekit_aad_v3); plaintext and aad may be
 * NULL when their length is 0. On failure *out and fingerprint_out are left untouched.
 * Security: each call takes a fresh nonce; never re-encrypt with a nonce of your own.
 * Returns CACHEKIT_OK, CACHEKIT_E_NULL_POINTER, CACHEKIT_E_TENANT_LENGTH, CACHEKIT_E_INVALID_UTF8
 * (tenant not UTF-8; changed before 1.0: was CACHEKIT_E_TENANT_LENGTH), CACHEKIT_E_TOO_LARGE
 * (over 1 GiB), CACHEKIT_E_RANDOM_FAILED, CACHEKIT_E_OUT_OF_MEMORY or CACHEKIT_E_INTERNAL.
 * Thread-safe. Since 0.1.0.
 */
CACHEKIT_API int cachekit_keyring_encrypt(cachekit_keyring *keyring, const char *tenant,
                                          const uint8_t *plaintext, size_t plaintext_len,
                                          const uint8_t *aad, size_t aad_len,
                                          cachekit_buffer *out, char *fingerprint_out);

/**
 * Decrypts nonce || ciphertext || tag for tenant with the AAD the writer used, into *out
 * (payload_len - 28 bytes; release with cachekit_buffer_free). fingerprint: the key the entry
 * names (32 lowercase hex, NUL-terminated; cachekit-py's frames carry one): exactly the matching
 * key is used, and if none matches the fail-open/fail-closed setting decides. NULL: the keys are
 * tried in order, current first (interop entries carry no key identity); only an authentication
 * failure moves on. Plaintext is never returned unauthenticated: on failure the output is wiped
 * and *out is left untouched.
 * Returns CACHEKIT_OK, CACHEKIT_E_NULL_POINTER, CACHEKIT_E_CIPHERTEXT_TOO_SHORT,
 * CACHEKIT_E_AUTHENTICATION_FAILED, CACHEKIT_E_KEY_FINGERPRINT_MISMATCH,
 * CACHEKIT_E_INVALID_FINGERPRINT, CACHEKIT_E_TENANT_LENGTH, CACHEKIT_E_INVALID_UTF8 (tenant not
 * UTF-8; changed before 1.0: was CACHEKIT_E_TENANT_LENGTH), CACHEKIT_E_TOO_LARGE,
 * CACHEKIT_E_OUT_OF_MEMORY or CACHEKIT_E_INTERNAL. Thread-safe. Since 0.1.0.
 */
CACHEKIT_API int cachekit_keyring_decrypt(cachekit_keyring *keyring, const char *tenant,
                                          const uint8_t *payload, size_t payload_len,
                                          const uint8_t *aad, size_t aad_len,
                                          const char *fingerprint, cachekit_buffer *out);

/* ============================================================================================
 * Values and keys: MessagePack for hosts, cache keys (status codes -40 .. -59)
 * ========================================================================================== */

/*
 * MessagePack for hosts, and cache keys exactly as cachekit-py 0.24.1 builds them.
 *
 * A host builds values and call arguments with a cachekit_msgpack_writer and reads documents back
 * with a cachekit_msgpack_reader, so it needs no MessagePack library of its own. The writer emits
 * the shortest encodings (as msgpack-python and rmp do); the reader validates a whole document up
 * front (one document, no trailing bytes, nesting at most CACHEKIT_MSGPACK_MAX_DEPTH, strings valid
 * UTF-8) and then hands out items one by one without recursion.
 *
 * Keys:
 *  - auto mode (the Python SDK's default): [ns:{namespace}:]func:{function}:args:{hash}:{ic}{ser},
 *    hash = Blake2b-256 (libb2) of msgpack [positional args, keyword args] after cachekit's
 *    normalization (maps sorted by key, -0.0 -> 0.0, floats as float64, ints shortest), spaces and
 *    line breaks replaced by '_', and a key over 250 characters cut to its first 50 characters +
 *    ":" + 32 hex digits of its Blake2b-256;
 *  - interop mode (cross-language): {namespace}:{operation}:{hash}, both segments matching
 *    ^[a-z0-9][a-z0-9._-]{0,63}$ (no "..", namespace not "ns"/"nsapi"), hash over the canonical
 *    msgpack of the argument array (integral floats become ints, NaN/Infinity refused);
 *  - the Redis key of the Python SDK's default backend: "t:" + percent-encoded tenant + ":" + key.
 * Arguments may hold nil, bool, ints, floats, str, bin, arrays and maps with unique string keys;
 * ext values and other map keys are refused, since no peer could hash them the same way.
 */

/* Value and key status codes (-40 .. -49). */
#define CACHEKIT_E_NESTING_TOO_DEEP (-40)  /* MessagePack or JSON nested deeper than the limit */
#define CACHEKIT_E_UNSUPPORTED_VALUE (-41) /* a value type not allowed here (ext in arguments, NaN in interop) */
#define CACHEKIT_E_INVALID_UTF8 (-42)      /* a string, key or name is not valid UTF-8 */
#define CACHEKIT_E_INVALID_MAP_KEY (-43)   /* a map key that is not allowed: not a string, or duplicated */
#define CACHEKIT_E_INVALID_SEGMENT (-44)   /* an interop namespace or operation is not a valid segment */
#define CACHEKIT_E_WRITER_STATE (-45)      /* writer misuse: an item outside any container, or open containers */
#define CACHEKIT_E_TYPE_MISMATCH (-46)     /* an argument document has the wrong top-level type */

/** Deepest nesting the reader and writer accept (cachekit-py's reader limit). */
#define CACHEKIT_MSGPACK_MAX_DEPTH 1024
/** Deepest nesting accepted in key arguments. */
#define CACHEKIT_KEY_ARGS_MAX_DEPTH 256

/** A MessagePack writer. Not thread-safe: use one writer from one thread at a time. */
typedef struct cachekit_msgpack_writer cachekit_msgpack_writer;

/**
 * Creates an empty writer in *out (release with cachekit_msgpack_writer_free).
 * Returns CACHEKIT_OK, CACHEKIT_E_NULL_POINTER or CACHEKIT_E_OUT_OF_MEMORY. Since 0.1.0.
 */
CACHEKIT_API int cachekit_msgpack_writer_new(cachekit_msgpack_writer **out);

/** Releases a writer. NULL is a no-op. Since 0.1.0. */
CACHEKIT_API void cachekit_msgpack_writer_free(cachekit_msgpack_writer *writer);

/** Empties a writer so it can build another document. NULL is a no-op. Since 0.1.0. */
CACHEKIT_API void cachekit_msgpack_writer_reset(cachekit_msgpack_writer *writer);

/*
 * Each write appends one item: a scalar, or a container header that the next `count` items
 * (arrays) or 2 x `count` items (maps: key, value, key, value, ...) fill. A document is exactly one
 * top-level item. Every write returns CACHEKIT_OK, CACHEKIT_E_NULL_POINTER (writer NULL, or data
 * NULL with a non-zero length), CACHEKIT_E_WRITER_STATE (the document is already complete, or a
 * container would nest deeper than CACHEKIT_MSGPACK_MAX_DEPTH), CACHEKIT_E_INVALID_UTF8 (str),
 * CACHEKIT_E_INVALID_MAP_KEY (an array or map as a map key, or more than 32 keys that are not
 * str/bin in a map of more than 32 entries: cachekit's reader refuses both),
 * CACHEKIT_E_TOO_LARGE (a length or count over 2^32 - 1) or CACHEKIT_E_INVALID_INPUT (raw that is
 * not one valid document, or a timestamp ext (-1) not of 4, 8 or 12 bytes).
 * After an error the writer is unchanged. Since 0.1.0.
 */
CACHEKIT_API int cachekit_msgpack_write_nil(cachekit_msgpack_writer *writer);
/** value: zero is false, anything else true. */
CACHEKIT_API int cachekit_msgpack_write_bool(cachekit_msgpack_writer *writer, int value);
CACHEKIT_API int cachekit_msgpack_write_int(cachekit_msgpack_writer *writer, int64_t value);
CACHEKIT_API int cachekit_msgpack_write_uint(cachekit_msgpack_writer *writer, uint64_t value);
/** Always float64 (cachekit stores Python floats as float64). */
CACHEKIT_API int cachekit_msgpack_write_float64(cachekit_msgpack_writer *writer, double value);
CACHEKIT_API int cachekit_msgpack_write_float32(cachekit_msgpack_writer *writer, float value);
/** UTF-8 text of len bytes (need not be NUL-terminated; may contain NUL). */
CACHEKIT_API int cachekit_msgpack_write_str(cachekit_msgpack_writer *writer, const char *text, size_t len);
CACHEKIT_API int cachekit_msgpack_write_bin(cachekit_msgpack_writer *writer, const uint8_t *data, size_t len);
CACHEKIT_API int cachekit_msgpack_write_ext(cachekit_msgpack_writer *writer, int8_t type, const uint8_t *data,
                                            size_t len);
/** An array header: the next `count` items are its elements. */
CACHEKIT_API int cachekit_msgpack_write_array(cachekit_msgpack_writer *writer, size_t count);
/** A map header: the next 2 x `count` items are its keys and values, alternating. */
CACHEKIT_API int cachekit_msgpack_write_map(cachekit_msgpack_writer *writer, size_t count);
/** One complete, valid MessagePack document, appended as one item (validated first). */
CACHEKIT_API int cachekit_msgpack_write_raw(cachekit_msgpack_writer *writer, const uint8_t *msgpack, size_t len);

/**
 * Copies the finished document into *out (release with cachekit_buffer_free); the writer keeps
 * it until reset. Returns CACHEKIT_OK, CACHEKIT_E_NULL_POINTER, CACHEKIT_E_WRITER_STATE (no item,
 * or containers still open) or CACHEKIT_E_OUT_OF_MEMORY. Since 0.1.0.
 */
CACHEKIT_API int cachekit_msgpack_writer_finish(cachekit_msgpack_writer *writer, cachekit_buffer *out);

/* Item types of cachekit_msgpack_item. */
#define CACHEKIT_MSGPACK_END (-1)  /* the document has no more items */
#define CACHEKIT_MSGPACK_NIL 0
#define CACHEKIT_MSGPACK_BOOL 1    /* boolean */
#define CACHEKIT_MSGPACK_INT 2     /* a negative integer, in i64 */
#define CACHEKIT_MSGPACK_UINT 3    /* a non-negative integer, in u64 */
#define CACHEKIT_MSGPACK_FLOAT32 4 /* in f64, widened */
#define CACHEKIT_MSGPACK_FLOAT64 5 /* in f64 */
#define CACHEKIT_MSGPACK_STR 6     /* data/len: UTF-8, not NUL-terminated */
#define CACHEKIT_MSGPACK_BIN 7     /* data/len */
#define CACHEKIT_MSGPACK_ARRAY 8   /* count elements follow */
#define CACHEKIT_MSGPACK_MAP 9     /* count key/value pairs follow (2 x count items) */
#define CACHEKIT_MSGPACK_EXT 10    /* ext_type, data/len */

/** One item of a document, as cachekit_msgpack_reader_next returns it. */
typedef struct cachekit_msgpack_item {
    int type;             /* CACHEKIT_MSGPACK_* */
    int boolean;          /* BOOL: 0 or 1 */
    int64_t i64;          /* INT */
    uint64_t u64;         /* UINT */
    double f64;           /* FLOAT32, FLOAT64 */
    const uint8_t *data;  /* STR, BIN, EXT: owned by the reader, valid until it is freed */
    size_t len;           /* STR, BIN, EXT: bytes at data */
    size_t count;         /* ARRAY: elements; MAP: pairs */
    int8_t ext_type;      /* EXT */
} cachekit_msgpack_item;

/** A pull reader over one MessagePack document. Not thread-safe. */
typedef struct cachekit_msgpack_reader cachekit_msgpack_reader;

/**
 * Validates data as exactly one MessagePack document and creates a reader over a copy of it in
 * *out (release with cachekit_msgpack_reader_free), so the caller may free data at once.
 * Map keys may be any scalar (arrays and maps as keys are refused). Returns CACHEKIT_OK,
 * CACHEKIT_E_NULL_POINTER, CACHEKIT_E_INVALID_INPUT (malformed, truncated or trailing bytes),
 * CACHEKIT_E_NESTING_TOO_DEEP, CACHEKIT_E_INVALID_UTF8, CACHEKIT_E_INVALID_MAP_KEY,
 * CACHEKIT_E_TOO_LARGE (over 512 MiB) or CACHEKIT_E_OUT_OF_MEMORY. Since 0.1.0.
 */
CACHEKIT_API int cachekit_msgpack_reader_new(const uint8_t *data, size_t len, cachekit_msgpack_reader **out);

/** Releases a reader. NULL is a no-op. Since 0.1.0. */
CACHEKIT_API void cachekit_msgpack_reader_free(cachekit_msgpack_reader *reader);

/**
 * Reads the next item in document order (depth first) into *item; after the last item,
 * item->type is CACHEKIT_MSGPACK_END. Returns CACHEKIT_OK or CACHEKIT_E_NULL_POINTER. Since 0.1.0.
 */
CACHEKIT_API int cachekit_msgpack_reader_next(cachekit_msgpack_reader *reader, cachekit_msgpack_item *item);

/**
 * Skips the next complete item (an array or map with everything inside it). At the end of the
 * document it does nothing. Returns CACHEKIT_OK or CACHEKIT_E_NULL_POINTER. Since 0.1.0.
 */
CACHEKIT_API int cachekit_msgpack_reader_skip(cachekit_msgpack_reader *reader);

/**
 * The auto-mode cache key of a call, exactly as cachekit-py computes it, in *out as NUL-terminated
 * UTF-8 (out->len excludes the NUL; release with cachekit_buffer_free).
 *  - namespace_: NULL or "" for none;
 *  - function_id: "module.qualname" as Python spells the function (required; sanitized here);
 *  - args/args_len: a MessagePack array of the positional arguments (NULL/0: none);
 *  - kwargs/kwargs_len: a MessagePack map of the keyword arguments, string keys (NULL/0: none);
 *  - integrity: non-zero for the default (ByteStorage) entries, zero for minimal ones (":0s");
 *  - serializer: NULL for "default"; aliases and other names as cachekit-py codes them.
 * Strings are NUL-terminated UTF-8. Returns CACHEKIT_OK, CACHEKIT_E_NULL_POINTER,
 * CACHEKIT_E_INVALID_UTF8, CACHEKIT_E_INVALID_INPUT (malformed arguments), CACHEKIT_E_TYPE_MISMATCH
 * (args not an array, kwargs not a map), CACHEKIT_E_INVALID_MAP_KEY, CACHEKIT_E_UNSUPPORTED_VALUE,
 * CACHEKIT_E_NESTING_TOO_DEEP (over CACHEKIT_KEY_ARGS_MAX_DEPTH) or CACHEKIT_E_OUT_OF_MEMORY.
 * Thread-safe. Since 0.1.0.
 */
CACHEKIT_API int cachekit_key_auto(const char *namespace_, const char *function_id, const uint8_t *args,
                                   size_t args_len, const uint8_t *kwargs, size_t kwargs_len, int integrity,
                                   const char *serializer, cachekit_buffer *out);

/**
 * The interop-mode key {namespace}:{operation}:{hash} in *out as NUL-terminated ASCII (at most
 * 194 characters). args/args_len: a MessagePack array of the call's bound arguments in declared
 * order (NULL/0: none). Returns what cachekit_key_auto returns, and CACHEKIT_E_INVALID_SEGMENT.
 * Thread-safe. Since 0.1.0.
 */
CACHEKIT_API int cachekit_key_interop(const char *namespace_, const char *operation, const uint8_t *args,
                                      size_t args_len, cachekit_buffer *out);

/**
 * "t:" + percent-encoded tenant + ":" + key (the Redis key cachekit-py's default backend uses;
 * tenant "default" unless CACHEKIT_DEPLOYMENT_UUID is set) in *out, NUL-terminated. Both strings
 * NUL-terminated UTF-8; tenant non-empty. Returns CACHEKIT_OK, CACHEKIT_E_NULL_POINTER,
 * CACHEKIT_E_INVALID_UTF8, CACHEKIT_E_TENANT_LENGTH or CACHEKIT_E_OUT_OF_MEMORY. Thread-safe.
 * Since 0.1.0.
 */
CACHEKIT_API int cachekit_key_tenant_prefixed(const char *tenant, const char *key, cachekit_buffer *out);

/* ============================================================================================
 * Entries: the cachekit entry formats stored in Redis
 * ========================================================================================== */

/*
 * The values cachekit-py stores in Redis, byte for byte:
 *  - CACHEKIT_MODE_AUTO (its default): "CK" | 0x03 | u32be(header length) | JSON header | payload,
 *    payload = the ByteStorage envelope of the MessagePack document;
 *  - CACHEKIT_MODE_MINIMAL (integrity off, key suffix ":0s"): the same frame, payload = the bare
 *    document, header "compressed": false;
 *  - CACHEKIT_MODE_INTEROP: the bare document (no frame, no envelope).
 * Encrypted (with a keyring): the payload becomes nonce || AES-256-GCM(payload) || tag. In auto
 * and minimal mode the header adds "encrypted", "tenant_id", "encryption_algorithm" and
 * "key_fingerprint", and the AAD binds tenant, the FULL Redis key (with its "t:{tenant}:" prefix),
 * "msgpack", "True"/"False" and "msgpack". In interop mode the AAD has 4 components (compressed
 * "False", no original_type) over the bare key, and decryption tries the keyring's keys in order.
 *
 * Reading accepts what cachekit-py's reader accepts (compact JSON, any key order, trailing header
 * padding) and refuses what it refuses, each with its own status. An encrypting reader (keyring
 * given) refuses a plaintext header (the header is not authenticated, so a downgrade is never
 * trusted). Decoded documents are checked as cachekit-py decodes them: one document, nesting at
 * most 1024, valid UTF-8; auto/minimal maps keyed by str or bin only. Legacy (pre-v3) base64 JSON
 * envelopes are refused (CACHEKIT_E_INVALID_FRAME).
 */

/* Entry status codes (-50 .. -59). */
#define CACHEKIT_E_INVALID_FRAME (-50)          /* not a CK v3 frame: magic, truncation, header length */
#define CACHEKIT_E_UNSUPPORTED_FRAME_VERSION (-51) /* CK frame version other than 3 */
/* header not JSON, too large (16 KiB), too deep, or fields of the wrong type */
#define CACHEKIT_E_INVALID_HEADER (-52)
#define CACHEKIT_E_SERIALIZER_MISMATCH (-53)    /* header "s" is not "default" or m.format is not "msgpack" */
/* written in another mode (integrity on/off, or a CK frame read as interop) */
#define CACHEKIT_E_MODE_MISMATCH (-54)
#define CACHEKIT_E_NOT_ENCRYPTED (-55)          /* an encrypting reader got an entry without "encrypted": true */
#define CACHEKIT_E_ENCRYPTED_ENTRY (-56)        /* the entry is encrypted and no keyring was given */
#define CACHEKIT_E_TENANT_MISMATCH (-57)        /* CACHEKIT_ENTRY_REQUIRE_TENANT: encrypted for another tenant */
#define CACHEKIT_E_INVALID_VALUE (-59)          /* the stored document is not one well-formed MessagePack document */

/* Entry modes. */
#define CACHEKIT_MODE_AUTO 0
#define CACHEKIT_MODE_MINIMAL 1
#define CACHEKIT_MODE_INTEROP 2

/* Entry flags. */
/**
 * Decoding: refuse an auto/minimal entry encrypted for a tenant other than `tenant`
 * (CACHEKIT_E_TENANT_MISMATCH). Without it the header's tenant selects the key, as cachekit-py's
 * single-tenant reader does (the AAD binds it, so a forged tenant fails authentication).
 */
#define CACHEKIT_ENTRY_REQUIRE_TENANT 1u

/**
 * Encodes the MessagePack document inner/inner_len as the Redis value cachekit-py would store.
 *  - mode: CACHEKIT_MODE_*;
 *  - key: the key the AAD binds (NUL-terminated UTF-8): the full Redis key in auto and minimal
 *    mode, the bare interop key in interop mode. Required when keyring is not NULL; may be NULL
 *    otherwise;
 *  - keyring: NULL for a plaintext entry; else the entry is encrypted with its current key;
 *  - tenant: NULL for "default"; the tenant the key is derived for;
 *  - flags: 0 (reserved).
 * On success *out holds the value (release with cachekit_buffer_free). Returns CACHEKIT_OK,
 * CACHEKIT_E_NULL_POINTER, CACHEKIT_E_INVALID_ARGUMENT (unknown mode, empty key), the reader's
 * validation statuses for inner (CACHEKIT_E_INVALID_INPUT, CACHEKIT_E_INVALID_UTF8, ...),
 * CACHEKIT_E_TOO_LARGE, a crypto status, or CACHEKIT_E_OUT_OF_MEMORY. Thread-safe (the keyring is).
 * Since 0.1.0.
 */
CACHEKIT_API int cachekit_entry_encode(const uint8_t *inner, size_t inner_len, int mode, const char *key,
                                       const cachekit_keyring *keyring, const char *tenant, unsigned flags,
                                       cachekit_buffer *out);

/**
 * Decodes a stored value into its MessagePack document in *out (release with cachekit_buffer_free).
 * Arguments as for cachekit_entry_encode; flags may hold CACHEKIT_ENTRY_REQUIRE_TENANT. With a
 * keyring, plaintext entries are refused (CACHEKIT_E_NOT_ENCRYPTED); without one, encrypted
 * entries are (CACHEKIT_E_ENCRYPTED_ENTRY). Returns CACHEKIT_OK or the status naming the first
 * failed check: CACHEKIT_E_INVALID_FRAME, CACHEKIT_E_UNSUPPORTED_FRAME_VERSION,
 * CACHEKIT_E_INVALID_HEADER, CACHEKIT_E_SERIALIZER_MISMATCH, CACHEKIT_E_MODE_MISMATCH,
 * CACHEKIT_E_NOT_ENCRYPTED, CACHEKIT_E_ENCRYPTED_ENTRY, CACHEKIT_E_TENANT_MISMATCH,
 * CACHEKIT_E_AUTHENTICATION_FAILED (wrong key, tenant or Redis key), the envelope statuses
 * (-10 .. -15), CACHEKIT_E_INVALID_VALUE, CACHEKIT_E_INVALID_UTF8, CACHEKIT_E_INVALID_MAP_KEY,
 * CACHEKIT_E_NESTING_TOO_DEEP, CACHEKIT_E_NULL_POINTER, CACHEKIT_E_INVALID_ARGUMENT or
 * CACHEKIT_E_OUT_OF_MEMORY. Thread-safe. Since 0.1.0.
 */
CACHEKIT_API int cachekit_entry_decode(const uint8_t *value, size_t value_len, int mode, const char *key,
                                       const cachekit_keyring *keyring, const char *tenant, unsigned flags,
                                       cachekit_buffer *out);

/* ============================================================================================
 * Cache: L1 + Redis L2, get-or-compute (status codes -60 .. -79)
 * ========================================================================================== */

/*
 * A cache is an in-process L1 in front of an optional Redis L2, shared across threads. Values
 * are MessagePack documents (see the values section); what is stored in both tiers is the
 * cachekit entry of the configured mode (see the entries section); each cache mode writes one
 * entry format (CACHEKIT_MODE_*):
 *   "plain"   entry format AUTO: integrity on (LZ4 + xxHash3-64 envelope), the default;
 *   "secure"  entry format AUTO, encrypted: AES-256-GCM under a tenant key derived from
 *             master_key; L1 and Redis hold only ciphertext, decrypted at each read;
 *   "minimal" entry format MINIMAL: integrity off;
 *   "interop" entry format INTEROP: the cross-language format, the MessagePack document itself
 *             (encrypted when a master key is set).
 * Values given to set and get_or_compute must be one MessagePack document (refused otherwise,
 * with the values section's status), as cachekit-py stores nothing else.
 * Keys are UTF-8 strings of 1..4096 bytes (normally a cachekit cache key; they are bound into
 * encrypted entries as text); in Redis and in L1 each is prefixed with key_prefix. By default
 * that is "t:default:", as cachekit-py's environment-configured backend writes whatever the
 * deployment UUID (which selects only the encryption tenant), and "" in interop mode, whose keys
 * other SDKs read bare; so both sides read the same entries.
 *
 * Fail-open: when Redis is down, paused, restarting or slow, reads and writes still succeed from
 * and into L1 (a read that would have hit Redis is a miss), get_or_compute still computes, and
 * every call returns within the configured timeouts. Failures are counted in the stats. The
 * circuit breaker is cachekit-py's: failure_threshold failures within failure_window_ms open it,
 * Redis is then skipped for recovery_timeout_ms, and half_open_requests probes decide whether it
 * closes; so a dead server costs a few timeouts, not one per call. Connections are re-established
 * automatically once the server answers again. Only calls about Redis itself (delete, namespace
 * invalidation, the key registry's track, drain and publish, health) report a backend status.
 *
 * Status changes before 1.0 (the Redis client, docs/redis.md): Redis refusing the credentials is
 * CACHEKIT_E_BACKEND_AUTH (was CACHEKIT_E_BACKEND_ERROR); a call skipped by the open breaker is
 * CACHEKIT_E_CIRCUIT_OPEN (was CACHEKIT_E_BACKEND_UNAVAILABLE); a namespace sweep or registry
 * drain stopped at sweep_max_iterations or sweep_timeout_ms is CACHEKIT_E_SWEEP_INCOMPLETE (they
 * had no bound). New: CACHEKIT_E_TLS, CACHEKIT_E_BACKEND_OVERLOADED (shed by backpressure),
 * CACHEKIT_E_REPLY_TOO_LARGE, CACHEKIT_E_POOL_TIMEOUT (no connection within pool_timeout_ms).
 * A call's time is bounded by backpressure_timeout_ms + pool_timeout_ms + connect_timeout_ms
 * (when a connection is opened) + command_timeout_ms (for one command or a whole pipelined
 * batch); a pooled connection found dead is retried once on a fresh one.
 *
 * L1 eviction is W-TinyLFU (a small LRU window, then admission by a count-min frequency sketch
 * into a segmented LRU), bounded by bytes and by entry count; an entry larger than 1/8 of the
 * L1 byte budget is not kept in L1. L1 entries never outlive their Redis TTL, nor l1_ttl.
 *
 * Server-assisted L1 invalidation (option l1_tracking, on by default) and the invalidation
 * listener (option invalidation_listener) are meaningful only with a Redis URL and an L1. Both
 * run on the process's one subscriber per Redis endpoint and credentials, shared by every cache
 * on it: one background thread with its own Redis connection (same URL and AUTH; connect timeout
 * capped at 1000 ms). With l1_tracking it asks Redis to report every write under the cache's
 * key_prefix (CLIENT TRACKING on REDIRECT to itself, BCAST PREFIX) on "__redis__:invalidate" and
 * drops the L1 copy of each key reported, except the one report of this cache's own write; each
 * reconnection drops all of L1 (a write made meanwhile was not reported). Since 0.2.0. The
 * listener subscribes to cachekit-py's channel "cachekit:py:invalidate:v1". In a child of fork() the thread is started again by the
 * child's first cache call that reaches Redis. Each well-formed event drops L1 copies: {"r", "k"} the
 * key key_prefix + k; {"r"} every key this cache stored with cachekit_cache_set_tracked or
 * recorded with cachekit_cache_track_key under registry id r (all of L1 once more than 100 000
 * such keys were recorded). Entries that reached L1 only by a read from Redis are not indexed:
 * a whole-function event leaves them to l1_ttl. Events are untrusted and decoded under
 * cachekit-py's bounds (at most 4096 bytes, a map of at most 4 scalar entries, strings of at
 * most 1024 bytes); anything else is counted and dropped. After any failure the thread
 * reconnects and subscribes again, backing off from 100 ms to 2 s. Delivery is at most once:
 * an event sent while it is not subscribed is lost, and the copy expires by l1_ttl. See
 * cachekit_cache_listener_stats.
 *
 * Limits of the cache's arguments: keys 1..4096 bytes; text arguments (option names and
 * values, namespaces, registry ids) shorter than 1 MiB; namespaces 1..1024 bytes; registry ids
 * "ck:reg:..." of at most 4096 bytes; batch calls (cachekit_cache_get_many, _set_many, _delete_many,
 * cachekit_cache_drain_registry) at most 1048576 (2^20) keys, else CACHEKIT_E_INVALID_ARGUMENT.
 */

/* Cache and backend status codes (-60 .. -79). */
#define CACHEKIT_E_BACKEND_UNAVAILABLE (-60) /* Redis unreachable, refused, reset or closed */
#define CACHEKIT_E_BACKEND_TIMEOUT (-61)     /* a connect or command deadline passed */
#define CACHEKIT_E_BACKEND_ERROR (-62)       /* Redis answered with an error, or a malformed reply */
#define CACHEKIT_E_VALUE_TOO_LARGE (-63)     /* the entry exceeds max_value_size */
#define CACHEKIT_E_INVALID_CONFIG (-64)      /* a configuration value is malformed or out of range */
#define CACHEKIT_E_UNKNOWN_OPTION (-65)      /* cachekit_config_set was given an unknown name */
#define CACHEKIT_E_COMPUTE_FAILED (-66)      /* the get-or-compute callback returned non-zero */
#define CACHEKIT_E_MODE_UNAVAILABLE (-67)    /* the mode needs something missing (e.g. a master key) */
#define CACHEKIT_E_INVALID_KEY (-68)         /* a cache key is empty, over 4096 bytes or not UTF-8 */
#define CACHEKIT_E_TLS (-69)                 /* TLS handshake or certificate verification failed */
#define CACHEKIT_E_BACKEND_OVERLOADED (-70)  /* shed: too many Redis operations in flight and queued */
#define CACHEKIT_E_CIRCUIT_OPEN (-71)        /* Redis skipped: the circuit breaker is open */
#define CACHEKIT_E_REPLY_TOO_LARGE (-72)     /* a Redis reply declared more than the command's limit */
#define CACHEKIT_E_BACKEND_AUTH (-73)        /* Redis refused the credentials (AUTH, ACL) */
#define CACHEKIT_E_SWEEP_INCOMPLETE (-74)    /* a SCAN or drain stopped at its bound before the end */
#define CACHEKIT_E_POOL_TIMEOUT (-75)        /* no pooled connection came free within pool_timeout_ms */

/** Pass as ttl_seconds to use the cache's default TTL. */
#define CACHEKIT_TTL_DEFAULT ((int64_t)-1)
/** Pass as ttl_seconds for an entry that never expires in Redis (L1 still applies l1_ttl). */
#define CACHEKIT_TTL_NONE ((int64_t)0)

/** Options for a cache. Not thread-safe: configure it on one thread, then create caches. */
typedef struct cachekit_config cachekit_config;
/** A cache. Thread-safe: one handle may be used from any number of threads at once. */
typedef struct cachekit_cache cachekit_cache;

/**
 * Creates a configuration holding the defaults: no Redis (L1 only), mode "plain", default TTL
 * of the mode (plain/interop none, minimal 300 s, secure 600 s), max_value_size 100 MiB,
 * L1 100 MiB, 1 000 000 entries and at most 300 s per entry, connect and command timeouts
 * 5000 ms, pool of 50 connections waiting up to the command timeout for a free one, the circuit
 * breaker on (failure_threshold 5 within failure_window_ms 60000, recovery_timeout_ms 30000,
 * half_open_requests 3, success_threshold 3; changed before 1.0: failure_threshold was 3 and
 * Redis was skipped for retry_interval_ms 1000), backpressure on (max_concurrent_requests 100,
 * queue_size 1000, backpressure_timeout_ms 100), sweeps bounded by 100000 round trips and
 * 30000 ms, key_prefix "t:default:" ("" in interop mode).
 * *out receives the handle (release with cachekit_config_free). Returns CACHEKIT_OK,
 * CACHEKIT_E_NULL_POINTER or CACHEKIT_E_OUT_OF_MEMORY. Thread-safe. Since 0.1.0.
 */
CACHEKIT_API int cachekit_config_new(cachekit_config **out);

/**
 * Releases a configuration and wipes the secrets it holds. NULL is a no-op. Since 0.1.0.
 */
CACHEKIT_API void cachekit_config_free(cachekit_config *config);

/**
 * Sets one option from its text form. name and value are NUL-terminated UTF-8 (neither NULL).
 *   redis_url            redis://[[user]:password@]host[:port][/db][?query], rediss://... (TLS),
 *                        unix://[[user]:password@]/path[?db=N], a socket path,
 *                        redis+sentinel://[user:pw@]host[:port][,host[:port]...]/SERVICE[/db]
 *                        or rediss+sentinel://..., redis+cluster://[user:pw@]host[:port][,host
 *                        [:port]...][/0] or rediss+cluster://... (Redis Cluster seed nodes, db 0
 *                        only; query read_from_replicas=true|false, since 0.2.0; docs/cache.md,
 *                        Redis Cluster); "" means no Redis. Read as redis-py reads
 *                        it: redis://pw@host is the username "pw" (write redis://:pw@host for a
 *                        password). Query: db, username, password, socket_timeout and
 *                        socket_connect_timeout (seconds; they win over the options below), and
 *                        the ssl_* names below. Malformed or unknown parts: CACHEKIT_E_INVALID_CONFIG.
 *   mode                 plain | secure | minimal | interop
 *   default_ttl          seconds, >= 0 (0: entries never expire)
 *   max_value_size       bytes, >= 1: larger entries are refused (CACHEKIT_E_VALUE_TOO_LARGE)
 *   l1_max_size_mb       L1 byte budget in MiB (0 disables L1); l1_max_bytes: the same in bytes
 *   l1_max_entries       L1 entry bound (0 disables L1)
 *   l1_ttl               the longest an entry stays in L1, seconds (default 300, as cachekit-py's
 *                        L1; 0: as long as its TTL). Bounds how long this process can serve a
 *                        copy that another process has since changed or deleted in Redis
 *   connect_timeout_ms   Redis connect timeout (TCP, TLS handshake, AUTH, SELECT, Sentinel
 *                        discovery); command_timeout_ms: the whole of one command or pipelined
 *                        batch, however slowly the server sends
 *   pool_size            most Redis connections open at once
 *   pool_timeout_ms      how long a call waits for a free connection (default: command_timeout_ms;
 *                        then CACHEKIT_E_POOL_TIMEOUT, never counted as a Redis failure)
 *   ssl_cert_reqs        none | optional | required (default): verify Redis's certificate
 *   ssl_ca_certs         PEM file of the CAs to trust (default: the system store)
 *   ssl_check_hostname   true (default; false with ssl_cert_reqs=none) | false: check the host
 *                        or IP against the certificate
 *   ssl_certfile         client certificate (mutual TLS); ssl_keyfile: its key, if a separate file.
 *                        The ssl_* options override the URL's parameters and need a rediss:// URL
 *   circuit_breaker      "1" (default) | "0": the circuit breaker on or off
 *   failure_threshold    failures within failure_window_ms that open the breaker (default 5)
 *   failure_window_ms    the window failures are counted over (default 60000)
 *   recovery_timeout_ms  how long the open breaker skips Redis before probing (default 30000;
 *                        retry_interval_ms is its old name)
 *   half_open_requests   probe calls per half-open cycle (default 3, at least success_threshold)
 *   success_threshold    successful probes that close the breaker (default 3)
 *   backpressure         "1" (default) | "0": the bound on concurrent Redis calls on or off
 *   max_concurrent_requests  Redis calls in flight at once (default 100)
 *   queue_size           calls that may wait for one (default 1000); more are shed
 *   backpressure_timeout_ms  the longest one waits (default 100), then it is shed
 *                        (CACHEKIT_E_BACKEND_OVERLOADED)
 *   redis_client_shared  "1" (default) | "0": share one Redis client (pool, breaker, backpressure)
 *                        with every cache of the process whose Redis settings (URL with
 *                        credentials and TLS files, timeouts, pool, breaker and backpressure
 *                        options) are identical, as cachekit-py shares one pool per process;
 *                        "0": a client of this cache's own. The last cache freed closes it.
 *                        Since 0.2.0
 *   sweep_max_iterations round trips of one namespace sweep or registry drain (default 100000)
 *   sweep_timeout_ms     time of one sweep or drain (default 30000); either bound stops it with
 *                        CACHEKIT_E_SWEEP_INCOMPLETE
 *   key_prefix           prefix of every key in both tiers, at most 1024 bytes ("" for none)
 *   master_key           hex, at least 32 bytes decoded (secret)
 *   previous_master_keys comma-separated hex, at most 3, decrypt-only (secret)
 *   deployment_uuid      the encryption tenant: a UUID in any spelling Python's uuid.UUID takes
 *                        (as cachekit-py: braces, urn:uuid:, 32 bare hex digits, any case),
 *                        used in its canonical lowercase 8-4-4-4-12 form; interop mode takes
 *                        only that form (CACHEKIT_E_INVALID_CONFIG from cachekit_cache_new);
 *                        unset: "default". Non-ASCII text is refused. (Since 0.2.0; 0.1.0
 *                        took only 8-4-4-4-12.)
 *   invalidation_listener "1" runs the invalidation listener (see the cache section's
 *                        introduction), "0" (the default) does not; also true/false, yes/no,
 *                        on/off, t/f, y/n, any case, as cachekit-py reads
 *                        CACHEKIT_INVALIDATION_LISTENER_ENABLED.
 *   single_flight_wait_ms how long a get_or_compute caller waits for another caller's compute
 *                        of the same key before it computes itself, 1..3600000 (default 5000,
 *                        cachekit-py's lock wait). Since 0.1.0.
 *   l1_tracking          "1" (the default) drops L1 copies when anyone writes the key in Redis
 *                        (CLIENT TRACKING, see the cache section's introduction), "0" keeps them
 *                        until l1_ttl; flags read as invalidation_listener. Only with both tiers,
 *                        and not on Redis Cluster (Redis tracks per node; there it is off and
 *                        copies live until l1_ttl). Since 0.2.0.
 * Returns CACHEKIT_OK, CACHEKIT_E_NULL_POINTER, CACHEKIT_E_UNKNOWN_OPTION,
 * CACHEKIT_E_INVALID_CONFIG (the message names the option, never a secret value),
 * CACHEKIT_E_INVALID_ARGUMENT (name or value 1 MiB or longer) or CACHEKIT_E_INVALID_UTF8 (name or
 * value not UTF-8; changed before 1.0: was CACHEKIT_E_INVALID_ARGUMENT); on error the option
 * keeps its previous value. Not thread-safe for the same config. Since 0.1.0.
 */
CACHEKIT_API int cachekit_config_set(cachekit_config *config, const char *name, const char *value);

/**
 * Reads cachekit-py's environment variables into config; unset variables leave options as they
 * are: CACHEKIT_REDIS_URL (else REDIS_URL), CACHEKIT_DEFAULT_TTL, CACHEKIT_MAX_VALUE_SIZE,
 * CACHEKIT_L1_MAX_SIZE_MB, CACHEKIT_L1_MAX_ENTRIES, CACHEKIT_CONNECTION_POOL_SIZE,
 * CACHEKIT_SOCKET_TIMEOUT and CACHEKIT_SOCKET_CONNECT_TIMEOUT (seconds, may be fractional),
 * CACHEKIT_MODE, CACHEKIT_MASTER_KEY, CACHEKIT_PREVIOUS_MASTER_KEYS, CACHEKIT_DEPLOYMENT_UUID,
 * CACHEKIT_INVALIDATION_LISTENER_ENABLED (invalidation_listener), CACHEKIT_L1_TRACKING
 * (l1_tracking, since 0.2.0).
 * Returns CACHEKIT_OK, CACHEKIT_E_NULL_POINTER or CACHEKIT_E_INVALID_CONFIG (the message names
 * the variable, never its value). Not thread-safe (reads the environment). Since 0.1.0.
 */
CACHEKIT_API int cachekit_config_load_env(cachekit_config *config);

/**
 * Creates a cache from config, or, when config is NULL, from the defaults plus the environment
 * (as cachekit_config_load_env). The cache keeps no reference to config. No connection is made
 * here: Redis is contacted on first use (see cachekit_cache_health to check it), except by the
 * process's subscriber thread when invalidation_listener or l1_tracking is on (it connects in the
 * background; with l1_tracking a new cache waits up to 1 s for Redis to confirm tracking of its
 * key prefix, ended at once by a refused connect).
 * *out receives the handle (release with cachekit_cache_free). Returns CACHEKIT_OK,
 * CACHEKIT_E_NULL_POINTER, CACHEKIT_E_INVALID_CONFIG, CACHEKIT_E_MODE_UNAVAILABLE (secure mode
 * without master_key), a crypto status from building the keyring, or CACHEKIT_E_OUT_OF_MEMORY.
 * Thread-safe. Since 0.1.0.
 */
CACHEKIT_API int cachekit_cache_new(const cachekit_config *config, cachekit_cache **out);

/**
 * Releases a cache: frees L1 and closes its Redis connections. With the invalidation listener
 * running it first stops and joins its thread, which takes at most about 200 ms (one poll
 * slice), or up to the listener's connect timeout (at most 1000 ms) while it is connecting, also
 * when Redis is unresponsive. NULL is a no-op; a freed cache is CACHEKIT_E_MISUSE (see the
 * conventions at the top). No call on this cache may be in flight on another thread, nor start
 * while it runs: every cachekit_cache_* function races cachekit_cache_free (a single-flight
 * waiter and the compute callback included). There is no deferred "close when the last call
 * leaves" in C: it would cost an atomic count on every call, which the hot path avoids; hosts
 * with finalizers keep that count themselves. Since 0.1.0.
 */
CACHEKIT_API void cachekit_cache_free(cachekit_cache *cache);

/**
 * Reads the value under key (key_len bytes; key may be NULL only if key_len is 0, which is
 * refused as CACHEKIT_E_INVALID_KEY). On a hit returns CACHEKIT_OK and fills *out (release with
 * cachekit_buffer_free); on a miss returns CACHEKIT_MISS and leaves *out untouched. An entry
 * that does not decode reads as a miss: a corrupt or tampered one (malformed, failed checksum,
 * failed authentication under a key this keyring holds) is removed from Redis; one that may be
 * valid for another reader (a key fingerprint this keyring lacks, another mode) is left there
 * (changed before 1.0: every undecodable entry was removed, as cachekit-py does; SECURITY.md).
 * With encryption_fail_closed (since 0.2.0) an entry that fails authentication, or names a key
 * fingerprint the keyring lacks, is CACHEKIT_E_AUTHENTICATION_FAILED or
 * CACHEKIT_E_KEY_FINGERPRINT_MISMATCH instead, and is left in Redis.
 * Errors: CACHEKIT_E_NULL_POINTER, CACHEKIT_E_INVALID_KEY, CACHEKIT_E_OUT_OF_MEMORY. Redis
 * failures are not errors here (fail-open). Thread-safe. Since 0.1.0.
 */
CACHEKIT_API int cachekit_cache_get(cachekit_cache *cache, const uint8_t *key, size_t key_len,
                                    cachekit_buffer *out);

/**
 * Reads key from L1 only, never from Redis: it never waits on the network, so an event-loop host
 * (Python asyncio, libuv) can call it on its loop thread and hand only misses to a worker that
 * calls cachekit_cache_get. Returns CACHEKIT_OK and fills *out (release with
 * cachekit_buffer_free) on an L1 hit, CACHEKIT_MISS otherwise (not counted as a miss in the
 * stats: the caller's cachekit_cache_get will count it). In secure mode a hit decrypts, which is
 * CPU work only. Errors: CACHEKIT_E_NULL_POINTER, CACHEKIT_E_INVALID_KEY, CACHEKIT_E_OUT_OF_MEMORY.
 * Thread-safe. Since 0.1.0.
 */
CACHEKIT_API int cachekit_cache_get_local(cachekit_cache *cache, const uint8_t *key, size_t key_len,
                                          cachekit_buffer *out);

/**
 * Stores value (value_len bytes; NULL only with length 0) under key for ttl_seconds
 * (CACHEKIT_TTL_DEFAULT: the cache's default; CACHEKIT_TTL_NONE: no expiry). Redis is written
 * with SETEX when the TTL is > 0, else SET, then L1. Returns CACHEKIT_OK (also when Redis
 * failed: counted in the stats), CACHEKIT_E_NULL_POINTER, CACHEKIT_E_INVALID_KEY,
 * CACHEKIT_E_INVALID_ARGUMENT (ttl_seconds below -1), CACHEKIT_E_VALUE_TOO_LARGE (nothing is
 * stored, and an older value under key is dropped from L1) or an encoding error.
 * Thread-safe. Since 0.1.0.
 */
CACHEKIT_API int cachekit_cache_set(cachekit_cache *cache, const uint8_t *key, size_t key_len,
                                    const uint8_t *value, size_t value_len, int64_t ttl_seconds);

/**
 * Invalidates one key: removes it from L1 and deletes it from Redis. Returns CACHEKIT_OK,
 * CACHEKIT_E_NULL_POINTER, CACHEKIT_E_INVALID_KEY, or a backend status when Redis could not be
 * reached (L1 is cleared regardless; CACHEKIT_E_BACKEND_AUTH for refused credentials, changed
 * before 1.0: was CACHEKIT_E_BACKEND_ERROR; CACHEKIT_E_CIRCUIT_OPEN while the breaker is open,
 * changed before 1.0: was CACHEKIT_E_BACKEND_UNAVAILABLE). Thread-safe. Since 0.1.0.
 */
CACHEKIT_API int cachekit_cache_delete(cachekit_cache *cache, const uint8_t *key, size_t key_len);

/**
 * Returns CACHEKIT_OK when key holds an entry (in L1, else in Redis), CACHEKIT_MISS when not
 * (also when Redis fails and L1 does not hold it), or CACHEKIT_E_NULL_POINTER /
 * CACHEKIT_E_INVALID_KEY. Thread-safe. Since 0.1.0.
 */
CACHEKIT_API int cachekit_cache_exists(cachekit_cache *cache, const uint8_t *key, size_t key_len);

/**
 * Reads count keys at once: L1 first, then one Redis round trip (MGET) for the rest.
 * keys[i] / key_lens[i] give each key; values and statuses are caller arrays of count elements:
 * on return statuses[i] is CACHEKIT_OK (values[i] filled; release each with
 * cachekit_buffer_free) or CACHEKIT_MISS (values[i] set to {NULL, 0}). count may be 0.
 * Returns CACHEKIT_OK when every key was looked up, or CACHEKIT_E_NULL_POINTER,
 * CACHEKIT_E_INVALID_KEY (no lookup made, values all {NULL, 0}) or CACHEKIT_E_OUT_OF_MEMORY
 * (values filled so far are released). Thread-safe. Since 0.1.0.
 */
CACHEKIT_API int cachekit_cache_get_many(cachekit_cache *cache, const uint8_t *const *keys,
                                         const size_t *key_lens, size_t count,
                                         cachekit_buffer *values, int *statuses);

/* ---- Bulk writes and the TTL read (Since 0.2.0) ----
 * The batch calls take count keys (keys[i] / key_lens[i]; count may be 0, at most 2^20) and a
 * caller array statuses of count ints. Each key is handled exactly as its single call handles it
 * (same checks, L1 updated the same way, the same fail-open rule); the Redis side of a batch is
 * one pipelined round trip. They return CACHEKIT_OK when no key failed, else the status of the
 * first key that failed (cachekit_last_error_message describes it; the other keys were still
 * handled), or CACHEKIT_E_NULL_POINTER / CACHEKIT_E_INVALID_ARGUMENT for the arrays themselves
 * (nothing done, statuses untouched). */

/**
 * Stores values[i] (value_lens[i] bytes) under keys[i] for ttl_seconds (as cachekit_cache_set:
 * -1 the default TTL, 0 no expiry). statuses[i] is CACHEKIT_OK, or the key's own failure
 * (CACHEKIT_E_INVALID_KEY, CACHEKIT_E_VALUE_TOO_LARGE, which also drops any L1 copy, or
 * CACHEKIT_E_INVALID_VALUE) and that key is not written. A Redis failure fails no key: it is
 * counted and L1 holds the values, as cachekit_cache_set. Thread-safe. Since 0.2.0.
 */
CACHEKIT_API int cachekit_cache_set_many(cachekit_cache *cache, const uint8_t *const *keys,
                                         const size_t *key_lens, const uint8_t *const *values,
                                         const size_t *value_lens, size_t count, int64_t ttl_seconds,
                                         int *statuses);

/**
 * Invalidates keys: each is removed from L1, then all are deleted from Redis in one round trip
 * (one DEL per key, pipelined). statuses[i] is CACHEKIT_OK when the key existed (in Redis; in
 * L1 for a cache without Redis), CACHEKIT_MISS when it did not, CACHEKIT_E_INVALID_KEY, or, for
 * every valid key, the backend status when Redis could not be reached (L1 is cleared
 * regardless, and the call returns that status, as cachekit_cache_delete). Thread-safe.
 * Since 0.2.0.
 */
CACHEKIT_API int cachekit_cache_delete_many(cachekit_cache *cache, const uint8_t *const *keys,
                                            const size_t *key_lens, size_t count, int *statuses);

/**
 * The remaining lifetime of key, as cachekit-py's get_ttl reads it: CACHEKIT_OK with
 * *ttl_seconds the whole seconds left (rounded as Redis's TTL rounds; 0 when under half a
 * second is left) or -1 when the key has no expiry; CACHEKIT_MISS when the key is absent
 * (*ttl_seconds untouched). With Redis the answer is Redis's (one PTTL); without Redis, or when
 * Redis fails (counted), it is L1's, whose entries never outlive their Redis TTL nor l1_ttl.
 * Returns CACHEKIT_E_NULL_POINTER or CACHEKIT_E_INVALID_KEY otherwise. Thread-safe. Since 0.2.0.
 */
CACHEKIT_API int cachekit_cache_ttl(cachekit_cache *cache, const uint8_t *key, size_t key_len,
                                    int64_t *ttl_seconds);

/**
 * Computes the value of key on a miss (see cachekit_cache_get_or_compute). Write the value
 * with cachekit_buffer_set(out, data, len) and return 0; any other return value means failure
 * (nothing is cached). The key is the caller's key (without key_prefix). The callback runs on
 * the calling thread and may call the cache, but not get_or_compute for the same key (refused
 * with CACHEKIT_E_INVALID_ARGUMENT); two callbacks on different threads that each wait for the
 * other's key deadlock, as with any lock order inversion.
 */
typedef int (*cachekit_compute_fn)(void *userdata, const uint8_t *key, size_t key_len,
                                   cachekit_buffer *out);

/**
 * Reads key; on a miss calls compute(userdata, key, key_len, &buffer), stores the value for
 * ttl_seconds (as cachekit_cache_set) and returns it. Concurrent misses for one key within this
 * process call compute once: the other callers wait for that value, at most
 * single_flight_wait_ms (default 5000), after which each computes its own (stored, last write
 * wins), so a callback that never returns blocks its own caller only. With Redis down the value
 * is still computed (and kept in L1). A value too large to cache is returned but not stored.
 * Across processes (since 0.2.0, fill_lock on by default with Redis) the caller computing a
 * miss first takes cachekit-py's Redis fill lock; callers in other processes, of either SDK,
 * wait for it and read its value (see the coherence section). With stale_if_error a failed
 * compute may return CACHEKIT_STALE with the expired value in *out.
 * On success returns CACHEKIT_OK and fills *out (release with cachekit_buffer_free).
 * Errors: CACHEKIT_E_NULL_POINTER (cache, compute or out), CACHEKIT_E_INVALID_KEY,
 * CACHEKIT_E_INVALID_ARGUMENT (ttl below -1, or a callback asking for its own key),
 * CACHEKIT_E_COMPUTE_FAILED (the callback failed; waiting callers get the same status),
 * CACHEKIT_E_OUT_OF_MEMORY. Thread-safe. Since 0.1.0.
 */
CACHEKIT_API int cachekit_cache_get_or_compute(cachekit_cache *cache, const uint8_t *key,
                                               size_t key_len, int64_t ttl_seconds,
                                               cachekit_compute_fn compute, void *userdata,
                                               cachekit_buffer *out);

/**
 * Invalidates a namespace: removes from L1 and Redis every key starting with key_prefix +
 * "ns:{namespace}:" (cachekit-py's key layout for @cache(namespace=...)), or key_prefix +
 * "{namespace}:" in interop mode. Redis is swept with SCAN + UNLINK, never KEYS.
 * namespace_ is NUL-terminated UTF-8, 1..1024 bytes. If removed is not NULL it receives the
 * number of Redis keys removed. Returns CACHEKIT_OK, CACHEKIT_E_NULL_POINTER,
 * CACHEKIT_E_INVALID_ARGUMENT, CACHEKIT_E_INVALID_UTF8 (changed before 1.0: was
 * CACHEKIT_E_INVALID_ARGUMENT), CACHEKIT_E_SWEEP_INCOMPLETE (the sweep stopped at
 * sweep_max_iterations or sweep_timeout_ms; keys removed stay removed, call again for the rest;
 * changed before 1.0: the sweep had no bound), or a backend status (L1 is cleared regardless).
 * *removed is written only on CACHEKIT_OK. Thread-safe. Since 0.1.0.
 */
CACHEKIT_API int cachekit_cache_invalidate_namespace(cachekit_cache *cache, const char *namespace_,
                                                     uint64_t *removed);

/*
 * Key registry: cachekit-py 0.24.1's per-function tracking set, so whole-function invalidation
 * reaches entries any process wrote, with either SDK. A registry id is the text
 * "ck:reg:{namespace}:{function hash}" (cachekit-py: namespace "" when none, the hash the first
 * 16 hex digits of BLAKE3 over "{module}.{qualname}"); the host computes it. These calls take
 * only ids that start with "ck:reg:", at most 4096 bytes, NUL-terminated UTF-8. The set is the
 * Redis key key_prefix + registry id; its members are raw cache keys (without key_prefix).
 * A registry id that is not UTF-8 is CACHEKIT_E_INVALID_UTF8 from each of these calls (changed
 * before 1.0: was CACHEKIT_E_INVALID_ARGUMENT).
 * Redis Cluster and sharding proxies are unsupported, as in cachekit-py (the drain script
 * unlinks keys it does not declare).
 */

/**
 * Records key (key_len bytes, a cache key as given to cachekit_cache_set) in the tracking set
 * of registry_id: SADD, then EXPIRE of the set to 604800 s (7 days after its last write),
 * pipelined in one round trip, as cachekit-py does after each successful write. Call it after
 * cachekit_cache_set. Returns CACHEKIT_OK when recorded, CACHEKIT_MISS when the cache has no
 * Redis (nothing to record), CACHEKIT_E_NULL_POINTER, CACHEKIT_E_INVALID_KEY,
 * CACHEKIT_E_INVALID_ARGUMENT (registry_id malformed), or a backend status. A backend status
 * is not fatal to the write it follows: the entry is stored, only other processes' drains miss
 * it until its TTL (counted in the stats' errors; the caller decides whether to log it).
 * Thread-safe. Since 0.1.0.
 */
CACHEKIT_API int cachekit_cache_track_key(cachekit_cache *cache, const char *registry_id,
                                          const uint8_t *key, size_t key_len);

/**
 * cachekit_cache_set and cachekit_cache_track_key in one Redis round trip: SETEX (or SET), SADD
 * of key to the tracking set of registry_id and EXPIRE of the set to 604800 s, pipelined; then
 * L1. key must be UTF-8 (members are text to cachekit-py). Fail-open exactly as
 * cachekit_cache_set: returns CACHEKIT_OK also when Redis failed (counted in the stats), else
 * CACHEKIT_E_NULL_POINTER, CACHEKIT_E_INVALID_KEY, CACHEKIT_E_INVALID_ARGUMENT (ttl_seconds below
 * -1, registry_id malformed), CACHEKIT_E_VALUE_TOO_LARGE (nothing stored or recorded) or an
 * encoding error. Without Redis it is cachekit_cache_set. Thread-safe. Since 0.1.0.
 */
CACHEKIT_API int cachekit_cache_set_tracked(cachekit_cache *cache, const char *registry_id,
                                            const uint8_t *key, size_t key_len, const uint8_t *value,
                                            size_t value_len, int64_t ttl_seconds);

/**
 * Whole-function invalidation through the registry, as cachekit-py's drain_tracked: runs
 * cachekit-py's Lua drain script (EVAL; each call takes at most 10 000 members with
 * SRANDMEMBER and, per member, UNLINKs key_prefix + member, then SREMs it) until a call returns
 * a short chunk, then UNLINKs the local keys no call returned, 10 000 per command. The drain
 * stops with CACHEKIT_E_SWEEP_INCOMPLETE after sweep_max_iterations calls, sweep_timeout_ms or
 * 250 000 members (changed before 1.0: it stopped silently after 1000 calls); the local keys are
 * then not yet unlinked in Redis (they leave L1): call it again for the rest. local_keys[i] / local_key_lens[i]
 * are count cache keys the caller wrote (1..4096 bytes each; count may be 0, then both arrays
 * may be NULL; at most 1 048 576). Every key reached, and every local key, is removed from L1.
 * Without Redis only L1 is cleared. If removed is not NULL it receives the number of distinct
 * keys reached (drained members plus local keys), not how many existed.
 * Returns CACHEKIT_OK, CACHEKIT_E_NULL_POINTER, CACHEKIT_E_INVALID_KEY,
 * CACHEKIT_E_INVALID_ARGUMENT (registry_id malformed, count too large), or a backend status:
 * keys already unlinked stay deleted, members whose key was not unlinked stay in the set, and
 * L1 is cleared of the local keys regardless (*removed is then left untouched).
 * On Redis Cluster (since 0.2.0) the members' keys live in other slots than the set, so no
 * script runs: each chunk is SRANDMEMBER on the set's node, UNLINK of each member's key on its
 * own node, then SREM of the chunk. A member still never leaves before its key, but a chunk is
 * no longer atomic: a key written again between its UNLINK and the SREM stays in Redis, no
 * longer tracked, until its TTL.
 * Thread-safe. Since 0.1.0.
 */
CACHEKIT_API int cachekit_cache_drain_registry(cachekit_cache *cache, const char *registry_id,
                                               const uint8_t *const *local_keys,
                                               const size_t *local_key_lens, size_t count,
                                               uint64_t *removed);

/**
 * Announces an invalidation to cachekit-py processes, so their listeners drop L1 copies: one
 * PUBLISH on channel "cachekit:py:invalidate:v1" of the MessagePack map {"r": registry_id}
 * (every key of the function: key NULL and key_len 0) or {"r": registry_id, "k": key} (one
 * cache key, UTF-8, 1..4096 bytes), byte for byte as cachekit-py encodes it: a key over 1024
 * bytes widens the event to the whole function. Call it only after the invalidation succeeded
 * in Redis. Returns CACHEKIT_OK when Redis accepted the PUBLISH (whether or not anyone
 * listens), CACHEKIT_MISS when nothing was published (no Redis, or registry_id over 1024 bytes,
 * which no receiver accepts), CACHEKIT_E_NULL_POINTER (key NULL with a length),
 * CACHEKIT_E_INVALID_KEY, CACHEKIT_E_INVALID_ARGUMENT (registry_id malformed), or a backend
 * status (e.g. an ACL without the channel: CACHEKIT_E_BACKEND_ERROR). Thread-safe. Since 0.1.0.
 */
CACHEKIT_API int cachekit_cache_publish_invalidation(cachekit_cache *cache, const char *registry_id,
                                                     const uint8_t *key, size_t key_len);

/* ============================================================================================
 * Observability: stats and health
 * ========================================================================================== */

/*
 * Per-cache counters and a health probe, for dashboards and readiness checks. Neither ever
 * contains a key, a credential or a value. The structs are fixed: later counters come in new
 * structs and functions (cachekit_cache_redis_stats for the Redis client), never by growing these.
 */

/** Counters of one cache since it was created (see cachekit_cache_stats). */
typedef struct cachekit_cache_stats {
    uint64_t hits;                /* gets (and get_many keys) answered from L1 or Redis */
    uint64_t misses;              /* gets answered by neither */
    uint64_t l1_hits;             /* hits served by L1 */
    uint64_t l2_hits;             /* hits served by Redis */
    uint64_t sets;                /* entries stored */
    uint64_t deletes;             /* keys invalidated */
    uint64_t evictions;           /* L1 entries dropped by the eviction policy */
    uint64_t errors;              /* operations that met a Redis failure (fail-open) */
    uint64_t l2_errors;           /* failed Redis round trips (including retries) */
    uint64_t l2_skipped;          /* Redis calls skipped while backing off after failures */
    uint64_t computes;            /* get_or_compute callbacks run */
    uint64_t coalesced;           /* get_or_compute callers served by another caller's compute */
    uint64_t decode_errors;       /* entries that did not decode (corrupt ones were removed) */
    uint64_t l1_entries;          /* entries in L1 now */
    uint64_t l1_bytes;            /* bytes charged to L1 now (keys, values, per-entry overhead) */
    uint64_t l2_operations;       /* successful Redis round trips */
    uint64_t l2_latency_total_ns; /* their summed latency (divide by l2_operations for a mean) */
    uint64_t l2_latency_max_ns;   /* the slowest of them */
} cachekit_cache_stats;

/**
 * Fills *out with a snapshot of the cache's counters (each read atomically, not all at one
 * instant). Returns CACHEKIT_OK or CACHEKIT_E_NULL_POINTER. Thread-safe. Since 0.1.0.
 */
CACHEKIT_API int cachekit_cache_stats_get(cachekit_cache *cache, cachekit_cache_stats *out);

/** The health of a cache's tiers (see cachekit_cache_health). */
typedef struct cachekit_cache_health_report {
    int l2_configured;    /* 1 when a Redis URL is configured */
    int l2_status;        /* CACHEKIT_OK when Redis answered PING, else the failure status */
    uint64_t l2_ping_ns;  /* the PING round trip when it answered */
    uint64_t l1_entries;
    uint64_t l1_bytes;
    char detail[256];     /* NUL-terminated summary; never contains credentials or keys */
} cachekit_cache_health_report;

/**
 * PINGs Redis (within the command timeout) and fills *out. Returns CACHEKIT_OK when the report
 * was made (read l2_status for Redis's state) or CACHEKIT_E_NULL_POINTER. Thread-safe.
 * Since 0.1.0.
 */
CACHEKIT_API int cachekit_cache_health(cachekit_cache *cache, cachekit_cache_health_report *out);

/** The invalidation listener's state and counters (see cachekit_cache_listener_stats). */
typedef struct cachekit_listener_stats {
    int running;              /* 1 while the listener thread runs (invalidation_listener on) */
    int subscribed;           /* 1 while Redis has confirmed its subscription */
    uint64_t received;        /* messages received on the channel */
    uint64_t applied;         /* events decoded and applied to L1 */
    uint64_t dropped;         /* messages dropped as malformed, oversized or of the wrong shape */
    uint64_t resubscriptions; /* subscriptions after the first (after a failure or a restart) */
} cachekit_listener_stats;

/**
 * Fills *out with the invalidation listener's state and counters; all zero when the cache runs
 * no listener (invalidation_listener off, or no Redis URL or no L1). Returns CACHEKIT_OK or
 * CACHEKIT_E_NULL_POINTER. Thread-safe. Since 0.1.0.
 */
CACHEKIT_API int cachekit_cache_listener_stats(cachekit_cache *cache, cachekit_listener_stats *out);

/** Server-assisted L1 invalidation's state and counters (see cachekit_cache_tracking_stats_get). */
typedef struct cachekit_tracking_stats {
    int tracking;             /* 1 while Redis confirms it reports writes under this cache's key_prefix */
    uint64_t invalidations;   /* keys under the prefix Redis reported as written or deleted */
    uint64_t dropped;         /* L1 copies those reports removed */
    uint64_t own_writes_kept; /* reports of this cache's own writes, which leave the value in L1 */
    uint64_t fills_skipped;   /* L1 fills not made: the key was reported while the read or write was in flight */
    uint64_t gap_flushes;     /* all of L1 dropped because tracking (re)started (first start, reconnect, fork) */
    uint64_t server_flushes;  /* all of L1 dropped because Redis reported FLUSHDB or FLUSHALL */
} cachekit_tracking_stats;

/**
 * Fills *out with l1_tracking's state and counters; all zero when the cache does not track
 * (l1_tracking off, or no Redis URL or no L1). Returns CACHEKIT_OK, CACHEKIT_E_NULL_POINTER or
 * CACHEKIT_E_MISUSE (a freed or foreign handle); *out is written only on CACHEKIT_OK.
 * Thread-safe. Since 0.2.0.
 */
CACHEKIT_API int cachekit_cache_tracking_stats_get(cachekit_cache *cache, cachekit_tracking_stats *out);

/** cachekit_redis_stats.breaker_state: cachekit-py's circuit breaker states. */
#define CACHEKIT_BREAKER_OFF (-1)      /* circuit_breaker is 0: Redis is never skipped */
#define CACHEKIT_BREAKER_CLOSED 0      /* calls go to Redis */
#define CACHEKIT_BREAKER_OPEN 1        /* calls are skipped (CACHEKIT_E_CIRCUIT_OPEN) until recovery */
#define CACHEKIT_BREAKER_HALF_OPEN 2   /* a few probe calls decide whether to close or reopen */

/**
 * The Redis client's reliability state and counters (see cachekit_cache_redis_stats and
 * docs/redis.md): the circuit breaker, the connection pool and its waits, backpressure, refused
 * replies, stopped sweeps and Sentinel discovery. Counters only grow, except the pool's, which
 * start again in a child after fork() (its inherited connections are abandoned, not reused).
 * The breaker, pool, backpressure and Sentinel fields are the client's, which every cache with
 * identical Redis settings shares (redis_client_shared); replies_refused and sweeps_incomplete
 * are this cache's.
 */
typedef struct cachekit_redis_stats {
    int configured;                   /* 1 when the cache has a Redis tier (all else 0 when not) */
    int breaker_state;                /* a CACHEKIT_BREAKER_* value */
    uint64_t breaker_opened;          /* transitions to open */
    uint64_t breaker_half_opened;     /* transitions to half-open */
    uint64_t breaker_closed;          /* transitions back to closed */
    uint64_t breaker_rejected;        /* calls skipped while open or with the probes spent */
    uint64_t breaker_failures;        /* failures the breaker counted */
    uint64_t pool_size;               /* pool_size */
    uint64_t pool_in_use;             /* connections handed out now */
    uint64_t pool_idle;               /* connections open and free now */
    uint64_t pool_peak_in_use;        /* the most ever handed out at once */
    uint64_t pool_waits;              /* calls that found every connection busy and waited */
    uint64_t pool_wait_total_ns;      /* their summed wait */
    uint64_t pool_timeouts;           /* waits that ran out (CACHEKIT_E_POOL_TIMEOUT) */
    uint64_t connections_opened;      /* connections made (including reconnects) */
    uint64_t connections_closed;      /* connections closed (failed, stale or replaced) */
    uint64_t connections_abandoned;   /* inherited across fork() and let go without any I/O */
    uint64_t backpressure_in_flight;  /* Redis operations running now */
    uint64_t backpressure_queued;     /* operations waiting for a permit now */
    uint64_t backpressure_shed;       /* operations refused (CACHEKIT_E_BACKEND_OVERLOADED) */
    uint64_t replies_refused;         /* replies over their command's limit (CACHEKIT_E_REPLY_TOO_LARGE) */
    uint64_t sweeps_incomplete;       /* sweeps and drains stopped at a bound (CACHEKIT_E_SWEEP_INCOMPLETE) */
    uint64_t sentinel_discoveries;    /* Sentinel master discoveries run (0 without Sentinel) */
    uint64_t sentinel_master_changes; /* discoveries that found a new master (followed failovers) */
} cachekit_redis_stats;

/**
 * Fills *out with the Redis client's state and counters; all zero (configured 0) for a cache
 * without Redis. Reads counters only: no round trip. Returns CACHEKIT_OK or
 * CACHEKIT_E_NULL_POINTER. Thread-safe. Since 0.2.0.
 */
CACHEKIT_API int cachekit_cache_redis_stats(cachekit_cache *cache, cachekit_redis_stats *out);

/**
 * Each Redis node's health, PINGed through its own pool (on Redis Cluster every node of the slot
 * map; otherwise the one server), as UTF-8 text in *out, one '\n'-terminated line per node:
 *   ADDRESS primary|replica slots=N breaker=closed|open|half-open|off pool_in_use=N ping_ns=N
 * or, when the PING failed, " error=TEXT" (the rest of the line, no credentials) in place of
 * ping_ns. ADDRESS is host:port ([v6]:port), unix:PATH or sentinel:SERVICE, spaces as %20.
 * A failing node is reported, not returned as a status. Takes up to command_timeout_ms per
 * node that does not answer. Free *out with cachekit_buffer_free.
 * Returns CACHEKIT_OK, CACHEKIT_MISS (no Redis; *out untouched), CACHEKIT_E_NULL_POINTER or
 * CACHEKIT_E_OUT_OF_MEMORY. Thread-safe. Since 0.2.0.
 */
CACHEKIT_API int cachekit_cache_node_health_get(cachekit_cache *cache, cachekit_buffer *out);

/* ==========================================================================================
 * Coherence across processes: the fill lock, refresh-ahead, stale-if-error, fail-closed
 * (docs/cache.md, "Coherence"). Options, all through cachekit_config_set:
 *   fill_lock              1 (default) takes cachekit-py's Redis fill lock on a get_or_compute
 *                          miss: "<key_prefix><key>:lock", SET NX PX, released by
 *                          compare-and-delete; other processes wait and read the stored value
 *   fill_lock_timeout_ms   the lock's PX (30000, cachekit-py's lock_timeout)
 *   fill_lock_wait_ms      how long a caller waits for another holder (5000, blocking_timeout)
 *   fill_lock_poll_ms      between attempts (100, redis-py's Lock.sleep)
 *   refresh_ttl_on_get     1: a Redis hit with less than ttl_refresh_threshold (0.5) of its TTL
 *                          left gets EXPIRE key ttl (cachekit-py's names)
 *   refresh_ahead          0..1 (0: off): a get_or_compute hit older than this fraction of its
 *                          TTL returns at once and the refresher (below) recomputes it
 *   stale_if_error         seconds (0: off) past its TTL during which a failed compute returns
 *                          the expired value with CACHEKIT_STALE
 *   encryption_fail_closed 1: an entry that fails authentication (or names a key fingerprint
 *                          the keyring lacks) is CACHEKIT_E_AUTHENTICATION_FAILED or
 *                          CACHEKIT_E_KEY_FINGERPRINT_MISMATCH to the caller, not a miss
 *                          (env CACHEKIT_ENCRYPTION_FAIL_CLOSED, as cachekit-py)
 * ========================================================================================== */

/** The fill lock as a cache applies it (see cachekit_cache_fill_lock_settings_get). */
typedef struct cachekit_fill_lock_settings {
    int applies;          /* 1 when fill_lock is on and the cache has Redis */
    uint64_t timeout_ms;  /* fill_lock_timeout_ms: the lock's PX */
    uint64_t wait_ms;     /* fill_lock_wait_ms */
    uint64_t poll_ms;     /* fill_lock_poll_ms */
} cachekit_fill_lock_settings;

/**
 * Fills *out with the cache's fill-lock settings, for a host that computes itself (with
 * cachekit_cache_fill_lock_try / _release) and must wait as get_or_compute waits. Returns
 * CACHEKIT_OK or CACHEKIT_E_NULL_POINTER. Thread-safe. Since 0.2.0.
 */
CACHEKIT_API int cachekit_cache_fill_lock_settings_get(cachekit_cache *cache, cachekit_fill_lock_settings *out);

/**
 * One attempt at the fill lock of key (without key_prefix), as get_or_compute makes it:
 * SET "<key_prefix><key>:lock" token NX PX fill_lock_timeout_ms. token is NUL-terminated,
 * 1..64 lowercase hex digits (cachekit-py uses uuid4().hex; use a fresh one per fill).
 * *acquired is 1 when the caller now holds the lock, or when the lock does not apply (off, or no
 * Redis), else 0 (another process is filling: wait fill_lock_poll_ms, read the key with
 * cachekit_cache_fill_lock_read, try again until fill_lock_wait_ms has passed, then read once more
 * and compute anyway). After a grant, read once more before computing. Returns CACHEKIT_OK, a backend
 * status (compute without the lock), CACHEKIT_E_NULL_POINTER, CACHEKIT_E_INVALID_KEY or
 * CACHEKIT_E_INVALID_ARGUMENT (token). Thread-safe. Since 0.2.0.
 */
CACHEKIT_API int cachekit_cache_fill_lock_try(cachekit_cache *cache, const uint8_t *key, size_t key_len,
                                              const char *token, int *acquired);

/**
 * Reads key from Redis for a caller filling it (while it waits for the fill lock, and once more
 * after its grant), as get_or_compute reads then: a hit also fills L1; a miss is not counted
 * (the caller's first read was). Returns CACHEKIT_OK and fills *out (release with
 * cachekit_buffer_free), CACHEKIT_MISS (also without Redis), CACHEKIT_E_NULL_POINTER,
 * CACHEKIT_E_INVALID_KEY, or a fail-closed decryption status. Redis failures read as a miss.
 * Thread-safe. Since 0.2.0.
 */
CACHEKIT_API int cachekit_cache_fill_lock_read(cachekit_cache *cache, const uint8_t *key, size_t key_len,
                                               cachekit_buffer *out);

/**
 * Releases the fill lock of key if it still holds token (redis-py's compare-and-delete script),
 * so a lock that expired and was taken by another process is never released by this one.
 * *released (may be NULL) is 1 when this caller's lock was deleted. Returns as
 * cachekit_cache_fill_lock_try. Thread-safe. Since 0.2.0.
 */
CACHEKIT_API int cachekit_cache_fill_lock_release(cachekit_cache *cache, const uint8_t *key, size_t key_len,
                                                  const char *token, int *released);

/**
 * Sets the callback refresh-ahead recomputes with (NULL: none; refresh-ahead then does
 * nothing). It has the shape of a compute callback and is called on the cache's refresh thread
 * (one per cache, started at the first refresh), one key at a time, under a single attempt at
 * the fill lock (a lock held elsewhere skips the refresh). userdata must stay valid until the
 * refresher is replaced or the cache is freed: both wait for a refresh in progress, and
 * cachekit_cache_free joins the thread, so no refresh outlives the cache. A refresh that fails
 * leaves the old value until its TTL. Returns CACHEKIT_OK or CACHEKIT_E_NULL_POINTER (cache).
 * Called from the refresher itself it does not wait (the refresh in progress is its own), and
 * cachekit_cache_free must not be. Thread-safe. Since 0.2.0.
 */
CACHEKIT_API int cachekit_cache_refresher_set(cachekit_cache *cache, cachekit_compute_fn refresh, void *userdata);

/**
 * For a host that refreshes ahead on its own (with cachekit_cache_get for hits, as the Python
 * binding does): after a hit on key, *due is 1 when the entry is older than refresh_ahead of its
 * TTL and this caller is the first in the process to ask since it became due (recompute it in
 * the background, under one attempt at the fill lock, and store it; the next write restarts its
 * clock), else 0 (always 0 with refresh_ahead off). Returns CACHEKIT_OK, CACHEKIT_E_NULL_POINTER
 * or CACHEKIT_E_INVALID_KEY. Thread-safe. Since 0.2.0.
 */
CACHEKIT_API int cachekit_cache_refresh_due(cachekit_cache *cache, const uint8_t *key, size_t key_len, int *due);

/**
 * Hands back a refresh cachekit_cache_refresh_due gave this caller (*due 1) that the host will
 * not run (its own cap on refreshes in flight was reached, say): the next hit on key may be
 * told the entry is due again. A write of key since then already restarted its clock, which
 * stays. Returns CACHEKIT_OK, CACHEKIT_E_NULL_POINTER or CACHEKIT_E_INVALID_KEY. Thread-safe.
 * Since 0.2.0.
 */
CACHEKIT_API int cachekit_cache_refresh_release(cachekit_cache *cache, const uint8_t *key, size_t key_len);

/** Counters of the coherence features (see cachekit_cache_coherence_stats_get). */
typedef struct cachekit_coherence_stats {
    uint64_t fill_lock_waits;          /* fills that found the lock held and waited */
    uint64_t fill_lock_reads;          /* waits that ended reading the holder's value */
    uint64_t fill_lock_timeouts;       /* waits that ran out (the caller computed without it) */
    uint64_t fill_lock_expired;        /* releases that found the lock no longer the caller's */
    uint64_t ttl_refreshes;            /* EXPIREs sent by refresh_ttl_on_get */
    uint64_t stale_served;             /* values served under stale_if_error */
    uint64_t refreshes_ahead;          /* background refreshes stored */
    uint64_t refresh_ahead_failures;   /* background refreshes whose refresher failed */
    uint64_t decrypt_wrong_key_l1;     /* authentication failures under a key this keyring lacks */
    uint64_t decrypt_wrong_key_l2;
    uint64_t decrypt_tampered_l1;      /* authentication failures under a key it holds */
    uint64_t decrypt_tampered_l2;
    uint64_t decrypt_unknown_fingerprint_l1; /* fail-closed: the entry names no keyring key */
    uint64_t decrypt_unknown_fingerprint_l2;
} cachekit_coherence_stats;

/**
 * Fills *out with the cache's coherence counters. Returns CACHEKIT_OK or
 * CACHEKIT_E_NULL_POINTER. Thread-safe. Since 0.2.0.
 */
CACHEKIT_API int cachekit_cache_coherence_stats_get(cachekit_cache *cache, cachekit_coherence_stats *out);

/* ============================================================================================
 * Observability: metrics, log hook, health report
 * ========================================================================================== */

/*
 * The cache's metrics in the Prometheus text exposition format 0.0.4, a process-wide log hook,
 * and a health report with each tier's state (docs/observability.md lists every series and
 * event). Series follow cachekit-py 0.24.1's names, types, labels and bucket bounds where it has
 * them (cache_operations_total, cache_operation_duration_ms, cache_operation_size_bytes,
 * circuit_breaker_state), so one dashboard serves both SDKs; libcachekit's own are `cachekit_*`.
 * No label, log field or report ever holds a key, a value or a credential.
 */

/**
 * Writes the cache's exposition (Prometheus text format 0.0.4, UTF-8, NUL-terminated; len
 * excludes the NUL) into *out, to free with cachekit_buffer_free. Every sample carries the
 * cache's `namespace` label (the metrics_namespace option, default "default"); several caches in
 * one process export the same series, which a scraper sums (the Python binding's collector
 * does), except those with a `client` label: the shared Redis client's (redis_client_shared),
 * the same in every cache on it, to count once per client. Reads counters only: no round trip.
 * Counters and histograms are updated per thread stripe, without a shared lock, and summed
 * here; L1 hits are counted exactly and timed 1 in 64.
 * Returns CACHEKIT_OK, CACHEKIT_E_NULL_POINTER, CACHEKIT_E_MISUSE (a freed handle) or
 * CACHEKIT_E_OUT_OF_MEMORY. Thread-safe. Since 0.2.0.
 */
CACHEKIT_API int cachekit_cache_metrics_text(cachekit_cache *cache, cachekit_buffer *out);

/** Log levels: Python's logging numbers, so a binding passes them through. */
#define CACHEKIT_LOG_DEBUG 10
#define CACHEKIT_LOG_INFO 20
#define CACHEKIT_LOG_WARNING 30
#define CACHEKIT_LOG_ERROR 40

/** One structured field of a log event: NUL-terminated UTF-8, valid only during the call. */
typedef struct cachekit_log_field {
    const char *name;  /* "namespace", "operation", "tier", "status", "duration_ms", "key_hash", ... */
    const char *value;
} cachekit_log_field;

/**
 * A log handler: `level` a CACHEKIT_LOG_* value, `event` a stable name ("cache.hit",
 * "cache.miss", "cache.set", "l2.failure", "entry.undecodable", "single_flight.timeout"), then
 * `field_count` fields. Every pointer is valid only during the call. Keys appear only as
 * `key_hash` (cachekit-py's redact_cache_key digest: blake2b-64 of the key, hex); no field holds
 * a value or a secret. Called on whichever thread caused the event (several at once), outside
 * every cache lock; it may call into libcachekit, except cachekit_set_log_handler.
 */
typedef void (*cachekit_log_fn)(void *userdata, int level, const char *event,
                                const cachekit_log_field *fields, size_t field_count);

/**
 * Sets the process's log handler (NULL removes it): `fn` receives events at `min_level` and
 * above (a CACHEKIT_LOG_* value) from every cache. One handler per process, not per cache,
 * because a host has one logging system; each event names its cache's namespace. DEBUG, INFO
 * and WARNING events are sampled by each cache's log_sampling_rate (cachekit-py's; default 0.1,
 * CACHEKIT_LOG_SAMPLING_RATE); ERROR events never are. With no handler set an event costs one
 * relaxed load: nothing is formatted. When this returns, no call of a replaced handler is still
 * running, so its userdata may be freed. Returns CACHEKIT_OK, CACHEKIT_E_INVALID_ARGUMENT (an
 * unknown min_level) or CACHEKIT_E_MISUSE (called from inside a handler, where it would wait for
 * itself). Thread-safe. Since 0.2.0.
 */
CACHEKIT_API int cachekit_set_log_handler(cachekit_log_fn fn, void *userdata, int min_level);

/**
 * PINGs Redis (within the command timeout) and writes a JSON health report into *out (UTF-8,
 * NUL-terminated, to free with cachekit_buffer_free): cachekit-py's check_health() shape,
 * {"status": "healthy"|"unhealthy", "healthy", "namespace", "components": {"l1", "l2",
 * "listener"}}, where l2 holds its PING, circuit breaker, pool (in use, idle, waits, timeouts,
 * backpressure in flight and queued) and "nodes" (one per Redis node, by redacted URL). JSON,
 * not a struct, because the number of nodes varies; cachekit_cache_health stays for the fixed
 * fields. Unhealthy when Redis does not answer or its breaker is open. Returns CACHEKIT_OK,
 * CACHEKIT_E_NULL_POINTER, CACHEKIT_E_MISUSE (a freed handle) or CACHEKIT_E_OUT_OF_MEMORY.
 * Thread-safe. Since 0.2.0.
 */
CACHEKIT_API int cachekit_cache_health_v2(cachekit_cache *cache, cachekit_buffer *out);

#ifdef __cplusplus
}
#endif

#endif /* CACHEKIT_H */
