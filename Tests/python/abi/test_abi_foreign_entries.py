"""A reader that cannot read an entry leaves it in Redis (issue 13): a stale master key during a
rotation, or a plain-mode reader of a secure entry, must not delete another writer's valid
entries, as cachekit-py 0.24.1 does. Only corrupt or tampered entries are removed. Each reader is
its own cache (its own empty L1), against a real redis-server."""
import ctypes

import msgpack
import pytest
import redis

from cachekit_native._ffi import CacheStats
from support.abi import MISS, OK, Buffer, last_message, take

KEY_A = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
KEY_B = "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
PREFIX = b"t:default:"


class Reader:
    """One cache handle over the raw ABI."""

    def __init__(self, lib, url: str, **options):
        self.lib = lib
        config = ctypes.c_void_p()
        assert lib.cachekit_config_new(ctypes.byref(config)) == OK
        for name, value in {"redis_url": url, **options}.items():
            assert lib.cachekit_config_set(config, name.encode(), value.encode()) == OK, last_message(lib)
        self.handle = ctypes.c_void_p()
        status = lib.cachekit_cache_new(config, ctypes.byref(self.handle))
        lib.cachekit_config_free(config)
        assert status == OK, last_message(lib)

    def set(self, key: bytes, value) -> None:
        document = msgpack.packb(value)
        assert self.lib.cachekit_cache_set(self.handle, key, len(key), document, len(document), 60) == OK

    def get(self, key: bytes):
        out = Buffer()
        status = self.lib.cachekit_cache_get(self.handle, key, len(key), ctypes.byref(out))
        return msgpack.unpackb(take(self.lib, out)) if status == OK else status

    def decode_errors(self) -> int:
        stats = CacheStats()
        assert self.lib.cachekit_cache_stats_get(self.handle, ctypes.byref(stats)) == OK
        return stats.decode_errors

    def close(self) -> None:
        self.lib.cachekit_cache_free(self.handle)


@pytest.fixture
def open_reader(lib, redis_url):
    opened = []

    def make(**options) -> Reader:
        reader = Reader(lib, redis_url, **options)
        opened.append(reader)
        return reader

    yield make
    for reader in opened:
        reader.close()


@pytest.fixture
def client(redis_url):
    connection = redis.Redis.from_url(redis_url)
    yield connection
    connection.close()


def test_a_reader_with_a_stale_master_key_leaves_the_entry(open_reader, client):
    writer = open_reader(mode="secure", master_key=KEY_B, previous_master_keys=KEY_A)
    writer.set(b"rotated", {"v": 1})
    stored = client.get(PREFIX + b"rotated")
    stale = open_reader(mode="secure", master_key=KEY_A)  # has not heard of KEY_B yet
    assert stale.get(b"rotated") == MISS
    assert stale.decode_errors() == 1
    assert client.get(PREFIX + b"rotated") == stored
    # Its rotated peers still read it.
    assert open_reader(mode="secure", master_key=KEY_B, previous_master_keys=KEY_A).get(b"rotated") == {"v": 1}


def test_a_plain_reader_leaves_a_secure_entry(open_reader, client):
    open_reader(mode="secure", master_key=KEY_A).set(b"secret", [1, 2, 3])
    stored = client.get(PREFIX + b"secret")
    plain = open_reader(mode="plain")
    assert plain.get(b"secret") == MISS
    assert plain.decode_errors() == 1
    assert client.get(PREFIX + b"secret") == stored
    assert open_reader(mode="secure", master_key=KEY_A).get(b"secret") == [1, 2, 3]


def test_a_secure_reader_leaves_a_plain_entry(open_reader, client):
    open_reader(mode="plain").set(b"open", "text")
    assert open_reader(mode="secure", master_key=KEY_A).get(b"open") == MISS
    assert client.exists(PREFIX + b"open") == 1


def test_a_tampered_entry_under_a_known_key_is_removed(open_reader, client):
    open_reader(mode="secure", master_key=KEY_A).set(b"tampered", "value")
    stored = bytearray(client.get(PREFIX + b"tampered"))
    stored[-1] ^= 0x01  # the GCM tag's last byte
    client.set(PREFIX + b"tampered", bytes(stored))
    reader = open_reader(mode="secure", master_key=KEY_A)
    assert reader.get(b"tampered") == MISS
    assert reader.decode_errors() == 1
    assert client.exists(PREFIX + b"tampered") == 0


@pytest.mark.parametrize("mode", ["plain", "secure"])
def test_a_malformed_entry_is_removed(open_reader, client, mode):
    client.set(PREFIX + b"garbage", b"\x00not a frame at all")
    options = {"master_key": KEY_A} if mode == "secure" else {}
    assert open_reader(mode=mode, **options).get(b"garbage") == MISS
    assert client.exists(PREFIX + b"garbage") == 0


def test_a_plain_entry_with_a_broken_checksum_is_removed(open_reader, client):
    open_reader(mode="plain").set(b"flipped", "a value long enough to matter")
    stored = bytearray(client.get(PREFIX + b"flipped"))
    stored[-12] ^= 0xFF  # inside the envelope
    client.set(PREFIX + b"flipped", bytes(stored))
    assert open_reader(mode="plain").get(b"flipped") == MISS
    assert client.exists(PREFIX + b"flipped") == 0
