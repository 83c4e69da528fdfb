/* MessagePack writer/reader, cache keys and entries through the C ABI. */
#include "cachekit.h"
#include "check.h"

static int equals_hex(const cachekit_buffer *buf, const char *hex) {
    size_t n;
    unsigned char *expected = check_from_hex(hex, &n);
    int same = buf->len == n && memcmp(buf->data, expected, n) == 0;
    free(expected);
    return same;
}

static void test_writer_and_reader(void) {
    cachekit_msgpack_writer *w = NULL;
    cachekit_buffer doc = {NULL, 0};
    cachekit_msgpack_reader *r = NULL;
    cachekit_msgpack_item item;
    CHECK_STATUS(cachekit_msgpack_writer_new(&w), CACHEKIT_OK);
    CHECK_STATUS(cachekit_msgpack_writer_finish(w, &doc), CACHEKIT_E_WRITER_STATE);
    CHECK_STATUS(cachekit_msgpack_write_map(w, 2), CACHEKIT_OK);
    CHECK_STATUS(cachekit_msgpack_write_str(w, "a", 1), CACHEKIT_OK);
    CHECK_STATUS(cachekit_msgpack_write_int(w, -7), CACHEKIT_OK);
    CHECK_STATUS(cachekit_msgpack_write_str(w, "b", 1), CACHEKIT_OK);
    CHECK_STATUS(cachekit_msgpack_writer_finish(w, &doc), CACHEKIT_E_WRITER_STATE);
    CHECK_STATUS(cachekit_msgpack_write_array(w, 3), CACHEKIT_OK);
    CHECK_STATUS(cachekit_msgpack_write_uint(w, 300), CACHEKIT_OK);
    CHECK_STATUS(cachekit_msgpack_write_float64(w, 1.5), CACHEKIT_OK);
    CHECK_STATUS(cachekit_msgpack_write_str(w, "\xff", 1), CACHEKIT_E_INVALID_UTF8);
    CHECK_STATUS(cachekit_msgpack_write_bin(w, (const uint8_t *)"\x00\x01", 2), CACHEKIT_OK);
    CHECK_STATUS(cachekit_msgpack_write_nil(w), CACHEKIT_E_WRITER_STATE);
    CHECK_STATUS(cachekit_msgpack_writer_finish(w, &doc), CACHEKIT_OK);
    CHECK(equals_hex(&doc, "82a161f9a16293cd012ccb3ff8000000000000c4020001"));

    CHECK_STATUS(cachekit_msgpack_reader_new(doc.data, doc.len, &r), CACHEKIT_OK);
    cachekit_buffer_free(&doc);  /* the reader holds its own copy */
    CHECK_STATUS(cachekit_msgpack_reader_next(r, &item), CACHEKIT_OK);
    CHECK(item.type == CACHEKIT_MSGPACK_MAP && item.count == 2);
    CHECK_STATUS(cachekit_msgpack_reader_next(r, &item), CACHEKIT_OK);
    CHECK(item.type == CACHEKIT_MSGPACK_STR && item.len == 1 && item.data[0] == 'a');
    CHECK_STATUS(cachekit_msgpack_reader_next(r, &item), CACHEKIT_OK);
    CHECK(item.type == CACHEKIT_MSGPACK_INT && item.i64 == -7);
    CHECK_STATUS(cachekit_msgpack_reader_skip(r), CACHEKIT_OK); /* "b" */
    CHECK_STATUS(cachekit_msgpack_reader_skip(r), CACHEKIT_OK); /* the array */
    CHECK_STATUS(cachekit_msgpack_reader_next(r, &item), CACHEKIT_OK);
    CHECK(item.type == CACHEKIT_MSGPACK_END);
    cachekit_msgpack_reader_free(r);

    CHECK_STATUS(cachekit_msgpack_reader_new((const uint8_t *)"\xc0\xc0", 2, &r), CACHEKIT_E_INVALID_INPUT);
    CHECK_STATUS(cachekit_msgpack_reader_new((const uint8_t *)"\xc1", 1, &r), CACHEKIT_E_INVALID_INPUT);
    CHECK_STATUS(cachekit_msgpack_reader_new((const uint8_t *)"\xa1\xff", 2, &r), CACHEKIT_E_INVALID_UTF8);
    CHECK_STATUS(cachekit_msgpack_reader_new(NULL, 1, &r), CACHEKIT_E_NULL_POINTER);
    CHECK_STATUS(cachekit_msgpack_reader_next(NULL, &item), CACHEKIT_E_NULL_POINTER);
    CHECK_STATUS(cachekit_msgpack_write_nil(NULL), CACHEKIT_E_NULL_POINTER);
    cachekit_msgpack_writer_free(w);
    cachekit_msgpack_writer_free(NULL);
    cachekit_msgpack_reader_free(NULL);
}

static void test_keys(void) {
    cachekit_buffer key = {NULL, 0};
    const uint8_t args42[] = {0x91, 0x2a};
    const uint8_t kwargs[] = {0x82, 0xa7, 'u', 's', 'e', 'r', '_', 'i', 'd', 0x2a,
                              0xaf, 'i', 'n', 'c', 'l', 'u', 'd', 'e', '_', 'p', 'r', 'o', 'f', 'i', 'l', 'e', 0xc3};
    const uint8_t int_key_map[] = {0x81, 0x01, 0x01};
    CHECK_STATUS(cachekit_key_auto("test", "__main__.get_user", args42, sizeof args42, NULL, 0, 1, NULL, &key), CACHEKIT_OK);
    CHECK(key.data != NULL && strcmp((const char *)key.data,
        "ns:test:func:__main__.get_user:args:3870b2ea5735ae639ded9450ef117768db676f037bec636503796c5b81095153:1s") == 0);
    cachekit_buffer_free(&key);
    /* kwargs in any order hash as sorted (vector kwargs_only). */
    CHECK_STATUS(cachekit_key_auto("test", "__main__.get_user", NULL, 0, kwargs, sizeof kwargs, 1, "std", &key), CACHEKIT_OK);
    CHECK(key.data != NULL && strcmp((const char *)key.data,
        "ns:test:func:__main__.get_user:args:14570849f0d99524f4149319d37fa0c298278b8f1724c12d6cb7631efaf86f0e:1s") == 0);
    cachekit_buffer_free(&key);
    CHECK_STATUS(cachekit_key_auto(NULL, "m.f", args42, sizeof args42, int_key_map, sizeof int_key_map, 1, NULL, &key),
                 CACHEKIT_E_INVALID_MAP_KEY);
    CHECK_STATUS(cachekit_key_auto(NULL, "m.f", kwargs, sizeof kwargs, NULL, 0, 1, NULL, &key), CACHEKIT_E_TYPE_MISMATCH);
    CHECK_STATUS(cachekit_key_auto("\xc3\x28", "m.f", NULL, 0, NULL, 0, 1, NULL, &key), CACHEKIT_E_INVALID_UTF8);
    CHECK_STATUS(cachekit_key_auto(NULL, NULL, NULL, 0, NULL, 0, 1, NULL, &key), CACHEKIT_E_NULL_POINTER);
    CHECK_STATUS(cachekit_key_auto(NULL, "m.f", (const uint8_t *)"\x92\x01", 2, NULL, 0, 1, NULL, &key), CACHEKIT_E_INVALID_INPUT);

    CHECK_STATUS(cachekit_key_interop("oracle", "dict-simple", args42, sizeof args42, &key), CACHEKIT_OK);
    CHECK(key.data != NULL && strcmp((const char *)key.data,
        "oracle:dict-simple:61598716255080080f6456eb065c2e51badfaa4320b0efe97469c29cffee8875") == 0);
    cachekit_buffer_free(&key);
    CHECK_STATUS(cachekit_key_interop("ns", "get", NULL, 0, &key), CACHEKIT_E_INVALID_SEGMENT);
    CHECK_STATUS(cachekit_key_interop("Users", "get", NULL, 0, &key), CACHEKIT_E_INVALID_SEGMENT);

    CHECK_STATUS(cachekit_key_tenant_prefixed("a:b", "k", &key), CACHEKIT_OK);
    CHECK(key.data != NULL && strcmp((const char *)key.data, "t:a%3Ab:k") == 0);
    cachekit_buffer_free(&key);
    CHECK_STATUS(cachekit_key_tenant_prefixed("", "k", &key), CACHEKIT_E_TENANT_LENGTH);
}

static void test_entries(void) {
    /* The vectors' plain dict_simple row: {"a": 1}. */
    const char *plain_hex =
        "434b030000007d7b2273223a202264656661756c74222c20226d223a207b22666f726d6174223a20226d73677061636b222c2022656e636f64696e67223a20227574662d38222c2022636f6d70726573736564223a20747275652c20226f726967696e616c5f74797065223a20226d73677061636b227d2c202276223a2022322e30227d94c4054081a1610198cc84cc8c4fcc99cce3584cccc804a76d73677061636b";
    const uint8_t inner[] = {0x81, 0xa1, 0x61, 0x01};
    const char *key = "t:default:func:m.f:args:3870b2ea5735ae639ded9450ef117768db676f037bec636503796c5b81095153:1s";
    cachekit_buffer value = {NULL, 0}, decoded = {NULL, 0}, sealed = {NULL, 0};
    cachekit_keyring *keyring = NULL, *other = NULL;
    size_t plain_len;
    unsigned char *plain = check_from_hex(plain_hex, &plain_len);

    CHECK_STATUS(cachekit_entry_encode(inner, sizeof inner, CACHEKIT_MODE_AUTO, key, NULL, NULL, 0, &value), CACHEKIT_OK);
    CHECK(equals_hex(&value, plain_hex));
    CHECK_STATUS(cachekit_entry_decode(plain, plain_len, CACHEKIT_MODE_AUTO, key, NULL, NULL, 0, &decoded), CACHEKIT_OK);
    CHECK(equals_hex(&decoded, "81a16101"));
    cachekit_buffer_free(&decoded);
    CHECK_STATUS(cachekit_entry_decode(plain, plain_len, CACHEKIT_MODE_MINIMAL, key, NULL, NULL, 0, &decoded), CACHEKIT_E_MODE_MISMATCH);
    CHECK_STATUS(cachekit_entry_decode(plain, plain_len, 7, key, NULL, NULL, 0, &decoded), CACHEKIT_E_INVALID_ARGUMENT);
    CHECK_STATUS(cachekit_entry_decode(plain, 5, CACHEKIT_MODE_AUTO, key, NULL, NULL, 0, &decoded), CACHEKIT_E_INVALID_FRAME);
    CHECK_STATUS(cachekit_entry_encode((const uint8_t *)"\xc1", 1, CACHEKIT_MODE_AUTO, key, NULL, NULL, 0, &value), CACHEKIT_E_INVALID_INPUT);

    CHECK_STATUS(cachekit_keyring_new("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", NULL, &keyring), CACHEKIT_OK);
    CHECK_STATUS(cachekit_keyring_new("ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", NULL, &other), CACHEKIT_OK);
    /* An encrypting reader refuses the plaintext entry. */
    CHECK_STATUS(cachekit_entry_decode(plain, plain_len, CACHEKIT_MODE_AUTO, key, keyring, NULL, 0, &decoded), CACHEKIT_E_NOT_ENCRYPTED);
    CHECK_STATUS(cachekit_entry_encode(inner, sizeof inner, CACHEKIT_MODE_AUTO, key, keyring, NULL, 0, &sealed), CACHEKIT_OK);
    CHECK_STATUS(cachekit_entry_decode(sealed.data, sealed.len, CACHEKIT_MODE_AUTO, key, keyring, NULL, 0, &decoded), CACHEKIT_OK);
    CHECK(equals_hex(&decoded, "81a16101"));
    cachekit_buffer_free(&decoded);
    CHECK_STATUS(cachekit_entry_decode(sealed.data, sealed.len, CACHEKIT_MODE_AUTO, "t:default:other", keyring, NULL, 0, &decoded),
                 CACHEKIT_E_AUTHENTICATION_FAILED);
    CHECK_STATUS(cachekit_entry_decode(sealed.data, sealed.len, CACHEKIT_MODE_AUTO, key, other, NULL, 0, &decoded),
                 CACHEKIT_E_AUTHENTICATION_FAILED);
    CHECK_STATUS(cachekit_entry_decode(sealed.data, sealed.len, CACHEKIT_MODE_AUTO, key, NULL, NULL, 0, &decoded),
                 CACHEKIT_E_ENCRYPTED_ENTRY);
    CHECK_STATUS(cachekit_entry_decode(sealed.data, sealed.len, CACHEKIT_MODE_AUTO, key, keyring, "acme",
                                       CACHEKIT_ENTRY_REQUIRE_TENANT, &decoded), CACHEKIT_E_TENANT_MISMATCH);
    CHECK_STATUS(cachekit_entry_encode(inner, sizeof inner, CACHEKIT_MODE_AUTO, NULL, keyring, NULL, 0, &value),
                 CACHEKIT_E_INVALID_ARGUMENT);
    cachekit_buffer_free(&sealed);

    CHECK_STATUS(cachekit_entry_encode(inner, sizeof inner, CACHEKIT_MODE_INTEROP, "ns1:op:abc", keyring, NULL, 0, &sealed), CACHEKIT_OK);
    CHECK(sealed.len == sizeof inner + CACHEKIT_CIPHERTEXT_OVERHEAD);
    CHECK_STATUS(cachekit_entry_decode(sealed.data, sealed.len, CACHEKIT_MODE_INTEROP, "ns1:op:abc", keyring, NULL, 0, &decoded), CACHEKIT_OK);
    CHECK(equals_hex(&decoded, "81a16101"));
    cachekit_buffer_free(&decoded);
    cachekit_buffer_free(&sealed);

    cachekit_buffer_free(&value);
    cachekit_keyring_free(keyring);
    cachekit_keyring_free(other);
    free(plain);
}

int main(void) {
    test_writer_and_reader();
    test_keys();
    test_entries();
    return check_finish("test_keys_entries");
}
