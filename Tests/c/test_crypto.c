/* The crypto section of cachekit.h from C: HKDF (RFC 5869), cachekit's tenant key and fingerprint
 * vector, the AAD builder, keyrings (round trip, rotation, fail-closed, an interop entry written by
 * cachekit-py) and the documented status of every misuse. */
#include "cachekit.h"
#include "check.h"

#define MASTER_HEX "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define KEY_B_HEX "2222222222222222222222222222222222222222222222222222222222222222"
#define KEY_C_HEX "3333333333333333333333333333333333333333333333333333333333333333"
#define INTEROP_KEY "oracle-secure:dict-simple:61598716255080080f6456eb065c2e51badfaa4320b0efe97469c29cffee8875"
#define INTEROP_VALUE "443ee011d752380a0000000097b4467580cfd8500fa72f8c54697e81671c2b73"
#define INTEROP_AAD "030000000764656661756c740000005a6f7261636c652d7365637572653a646963742d73696d706c653a3631353938373136323535303830303830663634353665623036356332653531626164666161343332306230656665393734363963323963666665653838373500" \
                    "0000076d73677061636b0000000546616c7365"

static int bytes_equal_hex(const uint8_t *data, size_t len, const char *hex) {
    size_t n;
    unsigned char *expected = check_from_hex(hex, &n);
    int same = n == len && memcmp(data, expected, n) == 0;
    free(expected);
    return same;
}

static void test_hkdf(void) {
    size_t ikm_len, salt_len, info_len;
    unsigned char *ikm = check_from_hex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", &ikm_len);
    unsigned char *salt = check_from_hex("000102030405060708090a0b0c", &salt_len);
    unsigned char *info = check_from_hex("f0f1f2f3f4f5f6f7f8f9", &info_len);
    uint8_t okm[42];
    CHECK_STATUS(cachekit_hkdf_sha256(ikm, ikm_len, salt, salt_len, info, info_len, okm, sizeof okm), CACHEKIT_OK);
    CHECK(bytes_equal_hex(okm, sizeof okm, "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"));
    /* RFC 5869 case 3: empty salt and info. */
    CHECK_STATUS(cachekit_hkdf_sha256(ikm, ikm_len, NULL, 0, NULL, 0, okm, sizeof okm), CACHEKIT_OK);
    CHECK(bytes_equal_hex(okm, sizeof okm, "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"));
    CHECK_STATUS(cachekit_hkdf_sha256(ikm, 0, NULL, 0, NULL, 0, okm, sizeof okm), CACHEKIT_E_KEY_LENGTH);
    CHECK_STATUS(cachekit_hkdf_sha256(ikm, ikm_len, NULL, 0, NULL, 0, okm, 0), CACHEKIT_E_INVALID_ARGUMENT);
    CHECK_STATUS(cachekit_hkdf_sha256(ikm, ikm_len, NULL, 0, NULL, 0, okm, 8161), CACHEKIT_E_INVALID_ARGUMENT);
    CHECK_STATUS(cachekit_hkdf_sha256(ikm, ikm_len, NULL, 5, NULL, 0, okm, 32), CACHEKIT_E_NULL_POINTER);
    CHECK_STATUS(cachekit_hkdf_sha256(ikm, ikm_len, NULL, 0, NULL, 0, NULL, 32), CACHEKIT_E_NULL_POINTER);
    free(ikm); free(salt); free(info);
}

static void test_tenant_key_and_fingerprint(void) {
    size_t master_len;
    unsigned char *master = check_from_hex(MASTER_HEX, &master_len);
    uint8_t key[CACHEKIT_KEY_SIZE];
    char fingerprint[CACHEKIT_FINGERPRINT_HEX_SIZE];
    char big[1100];
    CHECK_STATUS(cachekit_derive_domain_key(master, master_len, "encryption", "default", key), CACHEKIT_OK);
    CHECK(bytes_equal_hex(key, sizeof key, "c5e86e5b07aef4007cf2b95d6d47941d3d81cd38c33546ee12324e8ffa641bda"));
    CHECK_STATUS(cachekit_key_fingerprint(key, sizeof key, fingerprint), CACHEKIT_OK);
    CHECK(strcmp(fingerprint, "1f42496441f47a81c6957e116519f95b") == 0);
    CHECK_STATUS(cachekit_derive_domain_key(master, 15, "encryption", "default", key), CACHEKIT_E_KEY_LENGTH);
    CHECK_STATUS(cachekit_derive_domain_key(master, master_len, "", "default", key), CACHEKIT_E_DOMAIN_LENGTH);
    CHECK_STATUS(cachekit_derive_domain_key(master, master_len, "encryption", "", key), CACHEKIT_E_TENANT_LENGTH);
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    CHECK_STATUS(cachekit_derive_domain_key(master, master_len, "encryption", big, key), CACHEKIT_E_TENANT_LENGTH);
    /* Text that is not UTF-8 is CACHEKIT_E_INVALID_UTF8 from every reader, tenants included. */
    CHECK_STATUS(cachekit_derive_domain_key(master, master_len, "encryption", "\xff", key), CACHEKIT_E_INVALID_UTF8);
    big[256] = '\0';
    CHECK_STATUS(cachekit_derive_domain_key(master, master_len, big, "default", key), CACHEKIT_E_DOMAIN_LENGTH);
    big[255] = '\0';
    CHECK_STATUS(cachekit_derive_domain_key(master, master_len, big, "default", key), CACHEKIT_OK);
    CHECK_STATUS(cachekit_derive_domain_key(master, master_len, NULL, "default", key), CACHEKIT_E_NULL_POINTER);
    CHECK_STATUS(cachekit_key_fingerprint(key, sizeof key, NULL), CACHEKIT_E_NULL_POINTER);
    free(master);
}

static void test_aad(void) {
    cachekit_buffer aad = {NULL, 0};
    CHECK_STATUS(cachekit_aad_v3("default", INTEROP_KEY, "msgpack", 0, NULL, &aad), CACHEKIT_OK);
    CHECK(bytes_equal_hex(aad.data, aad.len, INTEROP_AAD));
    cachekit_buffer_free(&aad);
    CHECK_STATUS(cachekit_aad_v3("t", "k", NULL, 1, "msgpack", &aad), CACHEKIT_OK);
    CHECK(bytes_equal_hex(aad.data, aad.len, "030000000174000000016b000000076d73677061636b0000000454727565000000076d73677061636b"));
    cachekit_buffer_free(&aad);
    CHECK_STATUS(cachekit_aad_v3(NULL, "k", NULL, 1, NULL, &aad), CACHEKIT_E_NULL_POINTER);
    CHECK_STATUS(cachekit_aad_v3("", "k", NULL, 1, NULL, &aad), CACHEKIT_E_TENANT_LENGTH);
    CHECK_STATUS(cachekit_aad_v3("t", "", NULL, 1, NULL, &aad), CACHEKIT_E_INVALID_ARGUMENT);
    CHECK_STATUS(cachekit_aad_v3("t", "\xff\xfe", NULL, 1, NULL, &aad), CACHEKIT_E_INVALID_UTF8);
    CHECK(aad.data == NULL);
}

static void test_interop_entry(void) {
    cachekit_keyring *keyring = NULL;
    cachekit_buffer aad = {NULL, 0}, plain = {NULL, 0};
    size_t value_len;
    unsigned char *value = check_from_hex(INTEROP_VALUE, &value_len);
    CHECK_STATUS(cachekit_keyring_new(MASTER_HEX, NULL, &keyring), CACHEKIT_OK);
    CHECK_STATUS(cachekit_aad_v3("default", INTEROP_KEY, "msgpack", 0, NULL, &aad), CACHEKIT_OK);
    CHECK_STATUS(cachekit_keyring_decrypt(keyring, "default", value, value_len, aad.data, aad.len, NULL, &plain), CACHEKIT_OK);
    CHECK(bytes_equal_hex(plain.data, plain.len, "81a16101"));
    cachekit_buffer_free(&plain);
    CHECK_STATUS(cachekit_keyring_decrypt(keyring, "default", value, value_len, aad.data, aad.len,
                                          "1f42496441f47a81c6957e116519f95b", &plain), CACHEKIT_OK);
    cachekit_buffer_free(&plain);
    value[value_len - 1] ^= 1; /* tag */
    CHECK_STATUS(cachekit_keyring_decrypt(keyring, "default", value, value_len, aad.data, aad.len, NULL, &plain),
                 CACHEKIT_E_AUTHENTICATION_FAILED);
    CHECK(plain.data == NULL);
    value[value_len - 1] ^= 1;
    value[0] ^= 0x80; /* nonce */
    CHECK_STATUS(cachekit_keyring_decrypt(keyring, "default", value, value_len, aad.data, aad.len, NULL, &plain),
                 CACHEKIT_E_AUTHENTICATION_FAILED);
    value[0] ^= 0x80;
    value[13] ^= 0x01; /* ciphertext */
    CHECK_STATUS(cachekit_keyring_decrypt(keyring, "default", value, value_len, aad.data, aad.len, NULL, &plain),
                 CACHEKIT_E_AUTHENTICATION_FAILED);
    value[13] ^= 0x01;
    CHECK_STATUS(cachekit_keyring_decrypt(keyring, "other", value, value_len, aad.data, aad.len, NULL, &plain),
                 CACHEKIT_E_AUTHENTICATION_FAILED);
    CHECK_STATUS(cachekit_keyring_decrypt(keyring, "default", value, 27, aad.data, aad.len, NULL, &plain),
                 CACHEKIT_E_CIPHERTEXT_TOO_SHORT);
    CHECK_STATUS(cachekit_keyring_decrypt(keyring, "default", value, value_len, aad.data, aad.len - 1, NULL, &plain),
                 CACHEKIT_E_AUTHENTICATION_FAILED);
    CHECK_STATUS(cachekit_keyring_decrypt(keyring, "default", value, value_len, aad.data, aad.len, "zz", &plain),
                 CACHEKIT_E_INVALID_FINGERPRINT);
    CHECK(plain.data == NULL);
    cachekit_buffer_free(&aad);
    cachekit_keyring_free(keyring);
    free(value);
}

static void test_round_trip_and_rotation(void) {
    cachekit_keyring *old_ring = NULL, *rotated = NULL, *cut_over = NULL;
    cachekit_buffer sealed = {NULL, 0}, plain = {NULL, 0};
    const uint8_t message[] = "a secret cached value";
    const uint8_t aad[] = "\x03 any aad bytes";
    char fingerprint[CACHEKIT_FINGERPRINT_HEX_SIZE], listed[CACHEKIT_FINGERPRINT_HEX_SIZE];
    size_t count = 0;

    CHECK_STATUS(cachekit_keyring_new(MASTER_HEX, NULL, &old_ring), CACHEKIT_OK);
    CHECK_STATUS(cachekit_keyring_encrypt(old_ring, "tenant-1", message, sizeof message, aad, sizeof aad, &sealed, fingerprint),
                 CACHEKIT_OK);
    CHECK(sealed.len == sizeof message + CACHEKIT_CIPHERTEXT_OVERHEAD);
    CHECK_STATUS(cachekit_keyring_fingerprint(old_ring, "tenant-1", 0, listed), CACHEKIT_OK);
    CHECK(strcmp(fingerprint, listed) == 0);
    CHECK_STATUS(cachekit_keyring_fingerprint(old_ring, "tenant-1", 1, listed), CACHEKIT_E_INVALID_ARGUMENT);

    CHECK_STATUS(cachekit_keyring_new(KEY_B_HEX, KEY_C_HEX "," MASTER_HEX, &rotated), CACHEKIT_OK);
    CHECK_STATUS(cachekit_keyring_key_count(rotated, &count), CACHEKIT_OK);
    CHECK(count == 3);
    CHECK_STATUS(cachekit_keyring_fingerprint(rotated, "tenant-1", 2, listed), CACHEKIT_OK);
    CHECK(strcmp(fingerprint, listed) == 0);
    CHECK_STATUS(cachekit_keyring_decrypt(rotated, "tenant-1", sealed.data, sealed.len, aad, sizeof aad, fingerprint, &plain),
                 CACHEKIT_OK);
    CHECK(plain.len == sizeof message && memcmp(plain.data, message, sizeof message) == 0);
    cachekit_buffer_free(&plain);
    CHECK_STATUS(cachekit_keyring_decrypt(rotated, "tenant-1", sealed.data, sealed.len, aad, sizeof aad, NULL, &plain),
                 CACHEKIT_OK);
    cachekit_buffer_free(&plain);

    CHECK_STATUS(cachekit_keyring_new(KEY_B_HEX, NULL, &cut_over), CACHEKIT_OK);
    CHECK_STATUS(cachekit_keyring_decrypt(cut_over, "tenant-1", sealed.data, sealed.len, aad, sizeof aad, fingerprint, &plain),
                 CACHEKIT_E_AUTHENTICATION_FAILED);
    CHECK_STATUS(cachekit_keyring_set_fail_closed(cut_over, 1), CACHEKIT_OK);
    CHECK_STATUS(cachekit_keyring_decrypt(cut_over, "tenant-1", sealed.data, sealed.len, aad, sizeof aad, fingerprint, &plain),
                 CACHEKIT_E_KEY_FINGERPRINT_MISMATCH);
    CHECK(plain.data == NULL);

    /* Empty plaintext, NULL with length 0. */
    cachekit_buffer_free(&sealed);
    CHECK_STATUS(cachekit_keyring_encrypt(old_ring, "tenant-1", NULL, 0, NULL, 0, &sealed, NULL), CACHEKIT_OK);
    CHECK(sealed.len == CACHEKIT_CIPHERTEXT_OVERHEAD);
    CHECK_STATUS(cachekit_keyring_decrypt(old_ring, "tenant-1", sealed.data, sealed.len, NULL, 0, NULL, &plain), CACHEKIT_OK);
    CHECK(plain.len == 0);
    cachekit_buffer_free(&plain);
    cachekit_buffer_free(&sealed);

    CHECK_STATUS(cachekit_keyring_encrypt(old_ring, "", message, sizeof message, NULL, 0, &sealed, NULL), CACHEKIT_E_TENANT_LENGTH);
    CHECK_STATUS(cachekit_keyring_encrypt(old_ring, NULL, message, sizeof message, NULL, 0, &sealed, NULL), CACHEKIT_E_NULL_POINTER);
    CHECK_STATUS(cachekit_keyring_encrypt(NULL, "t", message, sizeof message, NULL, 0, &sealed, NULL), CACHEKIT_E_NULL_POINTER);
    CHECK_STATUS(cachekit_keyring_encrypt(old_ring, "t", NULL, 5, NULL, 0, &sealed, NULL), CACHEKIT_E_NULL_POINTER);
    CHECK_STATUS(cachekit_keyring_encrypt(old_ring, "t", message, sizeof message, NULL, 0, NULL, NULL), CACHEKIT_E_NULL_POINTER);
    CHECK(sealed.data == NULL);

    cachekit_keyring_free(old_ring);
    cachekit_keyring_free(rotated);
    cachekit_keyring_free(cut_over);
    cachekit_keyring_free(NULL);
}

static void test_keyring_configuration(void) {
    cachekit_keyring *keyring = NULL;
    CHECK_STATUS(cachekit_keyring_new(NULL, NULL, &keyring), CACHEKIT_E_NULL_POINTER);
    CHECK_STATUS(cachekit_keyring_new(MASTER_HEX, NULL, NULL), CACHEKIT_E_NULL_POINTER);
    CHECK_STATUS(cachekit_keyring_new("0001020304050607", NULL, &keyring), CACHEKIT_E_KEY_LENGTH);
    CHECK_STATUS(cachekit_keyring_new(MASTER_HEX "0", NULL, &keyring), CACHEKIT_E_INVALID_HEX);
    CHECK_STATUS(cachekit_keyring_new("zz" MASTER_HEX, NULL, &keyring), CACHEKIT_E_INVALID_HEX);
    CHECK_STATUS(cachekit_keyring_new(MASTER_HEX, KEY_B_HEX ",00", &keyring), CACHEKIT_E_KEY_LENGTH);
    CHECK_STATUS(cachekit_keyring_new(MASTER_HEX, KEY_B_HEX "," MASTER_HEX, &keyring), CACHEKIT_E_CURRENT_KEY_REPEATED);
    CHECK_STATUS(cachekit_keyring_new(MASTER_HEX, KEY_B_HEX "," KEY_C_HEX "," KEY_B_HEX "," KEY_C_HEX, &keyring),
                 CACHEKIT_E_TOO_MANY_PREVIOUS_KEYS);
    CHECK(keyring == NULL);
    CHECK_STATUS(cachekit_keyring_set_fail_closed(NULL, 1), CACHEKIT_E_NULL_POINTER);
    CHECK_STATUS(cachekit_keyring_key_count(NULL, NULL), CACHEKIT_E_NULL_POINTER);
}

static void test_status_descriptions(void) {
    int code;
    for (code = -32; code <= -20; code++) {
        CHECK(strcmp(cachekit_strerror(code), "unknown status") != 0);
    }
    CHECK(strcmp(cachekit_strerror(-33), "unknown status") == 0);
}

int main(void) {
    test_hkdf();
    test_tenant_key_and_fingerprint();
    test_aad();
    test_interop_entry();
    test_round_trip_and_rotation();
    test_keyring_configuration();
    test_status_descriptions();
    return check_finish("test_crypto");
}
