"""The cache option verbatim_entries through the raw ABI against a real redis-server: values are
finished entries the caller built, kept in both tiers byte for byte and returned unchanged;
refused with secure and interop mode, whose entries the library itself encrypts or checks."""
import ctypes

import redis

from support.abi import OK, Buffer, last_message, take

E_INVALID_ARGUMENT = -2
E_INVALID_CONFIG = -64

# Not MessagePack (a truncated map header, then JSON): the library's own codec refuses it.
ENTRY = b"CK\x03\x00\x00\x00\x02{}" + b"\xde\x00" + b'{"json": true}'


def raw_get(cache, function, key: bytes):
    out = Buffer()
    rc = function(cache.handle, key, len(key), ctypes.byref(out))
    return rc, take(cache.lib, out) if rc == OK else None


def test_entries_are_stored_and_returned_as_given(lib, make_cache, redis_url):
    writer = make_cache(redis_url=redis_url, verbatim_entries="1")
    assert lib.cachekit_cache_set(writer.handle, b"k", 1, ENTRY, len(ENTRY), 60) == OK, last_message(lib)
    assert raw_get(writer, lib.cachekit_cache_get_local, b"k") == (OK, ENTRY)  # L1 holds the entry as given
    client = redis.Redis.from_url(redis_url)
    assert client.get(b"t:default:k") == ENTRY  # so does Redis, under the usual key prefix
    client.close()
    reader = make_cache(redis_url=redis_url, verbatim_entries="1", mode="minimal")
    assert raw_get(reader, lib.cachekit_cache_get, b"k") == (OK, ENTRY)
    plain = make_cache(redis_url=redis_url)
    assert lib.cachekit_cache_set(plain.handle, b"p", 1, ENTRY, len(ENTRY), 60) < 0  # not a MessagePack document
    assert lib.cachekit_cache_set(writer.handle, b"e", 1, b"", 0, 60) == E_INVALID_ARGUMENT


def test_secure_and_interop_mode_refuse_it(lib, make_cache):
    for mode in ("secure", "interop"):
        config = ctypes.c_void_p()
        assert lib.cachekit_config_new(ctypes.byref(config)) == OK
        for name, value in (("mode", mode), ("master_key", "ab" * 32), ("verbatim_entries", "1")):
            assert lib.cachekit_config_set(config, name.encode(), value.encode()) == OK
        handle = ctypes.c_void_p()
        assert lib.cachekit_cache_new(config, ctypes.byref(handle)) == E_INVALID_CONFIG
        assert "verbatim_entries" in last_message(lib)
        lib.cachekit_config_free(config)
    assert make_cache(verbatim_entries="off").handle  # flags read as the others
