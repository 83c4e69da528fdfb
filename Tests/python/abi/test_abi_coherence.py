"""The coherence section of the C ABI against a real redis-server: the fill lock's exports and
their bytes in Redis, stale-if-error's CACHEKIT_STALE, refresh-ahead through the host's refresher
(on the cache's own thread, joined by cachekit_cache_free), the sliding TTL, and fail-closed
decryption with its counters and cachekit-py's environment variable."""
import ctypes
import os
import time

import msgpack
import redis

from support.abi import OK, Buffer, take
from support.redis_server import wait_until
from cachekit_native._ffi import CoherenceStats, ComputeFunction, FillLockSettings

STALE, E_INVALID_ARGUMENT, E_AUTHENTICATION_FAILED, E_COMPUTE_FAILED = 2, -2, -20, -66
MASTER_KEY = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"


def coherence_stats(cache) -> dict:
    s = CoherenceStats()
    assert cache.lib.cachekit_cache_coherence_stats_get(cache.handle, ctypes.byref(s)) == OK
    return {name: getattr(s, name) for name, _ in CoherenceStats._fields_}


def failing(_key):
    raise RuntimeError("the backing service is down")


def test_fill_lock_exports_write_what_redis_py_writes(make_cache, redis_url):
    client = redis.Redis.from_url(redis_url)
    cache = make_cache(redis_url=redis_url)
    lib = cache.lib
    settings = FillLockSettings()
    assert lib.cachekit_cache_fill_lock_settings_get(cache.handle, ctypes.byref(settings)) == OK
    assert (settings.applies, settings.timeout_ms, settings.wait_ms, settings.poll_ms) == (1, 30000, 5000, 100)
    mine, theirs = b"0f" * 16, b"ab" * 16
    acquired, released = ctypes.c_int(), ctypes.c_int()
    assert lib.cachekit_cache_fill_lock_try(cache.handle, b"k", 1, mine, ctypes.byref(acquired)) == OK
    assert acquired.value == 1
    assert client.get("t:default:k:lock") == mine
    assert 25_000 < client.pttl("t:default:k:lock") <= 30_000
    assert lib.cachekit_cache_fill_lock_try(cache.handle, b"k", 1, theirs, ctypes.byref(acquired)) == OK
    assert acquired.value == 0
    assert lib.cachekit_cache_fill_lock_release(cache.handle, b"k", 1, theirs, ctypes.byref(released)) == OK
    assert released.value == 0 and client.get("t:default:k:lock") == mine
    assert lib.cachekit_cache_fill_lock_release(cache.handle, b"k", 1, mine, ctypes.byref(released)) == OK
    assert released.value == 1 and not client.exists("t:default:k:lock")
    assert lib.cachekit_cache_fill_lock_try(cache.handle, b"k", 1, b"NOT-HEX", ctypes.byref(acquired)) \
        == E_INVALID_ARGUMENT

    # A fill's read: Redis only, a hit fills L1, a miss is not counted again.
    out = Buffer()
    assert lib.cachekit_cache_fill_lock_read(cache.handle, b"k", 1, ctypes.byref(out)) == 1
    assert cache.set("k", {"v": 1}, ttl=60) == OK
    # l1_tracking off: the tracking report of the SET above may reach the reader after its read
    # and drop the copy (a safe extra miss), which is not what this checks.
    reader = make_cache(redis_url=redis_url, l1_tracking="0")
    assert lib.cachekit_cache_fill_lock_read(reader.handle, b"k", 1, ctypes.byref(out)) == OK
    assert msgpack.unpackb(take(lib, out)) == {"v": 1}
    assert reader.get_local("k") == (OK, {"v": 1})
    assert cache.stats()["misses"] == 0

    local = make_cache()  # no Redis: nothing to wait for
    assert lib.cachekit_cache_fill_lock_settings_get(local.handle, ctypes.byref(settings)) == OK
    assert settings.applies == 0
    assert lib.cachekit_cache_fill_lock_try(local.handle, b"k", 1, mine, ctypes.byref(acquired)) == OK
    assert acquired.value == 1


def test_get_or_compute_takes_and_releases_the_lock(make_cache, redis_url):
    client = redis.Redis.from_url(redis_url)
    cache = make_cache(redis_url=redis_url)
    seen = []

    def compute(key):
        seen.append((client.get("t:default:" + key + ":lock"), client.pttl("t:default:" + key + ":lock")))
        return {"v": 1}
    assert cache.get_or_compute("held", compute, ttl=60) == (OK, {"v": 1})
    token, pttl = seen[0]
    assert len(token) == 32 and int(token, 16) >= 0 and token[12:13] == b"4"  # uuid4().hex
    assert 25_000 < pttl <= 30_000
    assert not client.exists("t:default:held:lock")


def test_stale_if_error_returns_the_expired_value_with_cachekit_stale(make_cache, redis_url):
    client = redis.Redis.from_url(redis_url)
    cache = make_cache(redis_url=redis_url, stale_if_error=60, l1_max_entries=0)
    assert cache.get_or_compute("s", lambda _: {"v": "old"}, ttl=60) == (OK, {"v": "old"})
    client.delete("t:default:s")  # its TTL ran out
    assert cache.get_or_compute("s", failing, ttl=60) == (STALE, {"v": "old"})
    assert coherence_stats(cache)["stale_served"] == 1
    assert cache.get_or_compute("s", lambda _: {"v": "new"}, ttl=60) == (OK, {"v": "new"})

    strict = make_cache(redis_url=redis_url, l1_max_entries=0)
    assert strict.get_or_compute("t", lambda _: {"v": "old"}, ttl=60)[0] == OK
    client.delete("t:default:t")
    assert strict.get_or_compute("t", failing, ttl=60) == (E_COMPUTE_FAILED, None)


def test_refresh_ahead_recomputes_on_the_cache_thread_and_free_joins_it(make_cache, redis_url):
    client = redis.Redis.from_url(redis_url)
    cache = make_cache(redis_url=redis_url, refresh_ahead=0.5, l1_max_entries=0)
    lib = cache.lib
    refreshed = []

    def refresher(_userdata, key_ptr, key_len, out):
        refreshed.append(ctypes.string_at(key_ptr, key_len))
        document = msgpack.packb({"v": "refreshed"})
        return lib.cachekit_buffer_set(out, document, len(document))
    callback = ComputeFunction(refresher)
    assert lib.cachekit_cache_refresher_set(cache.handle, callback, None) == OK
    assert cache.get_or_compute("r", lambda _: {"v": "first"}, ttl=60) == (OK, {"v": "first"})
    client.pexpire("t:default:r", 10_000)  # 10 of 60 s left: past the half
    assert cache.get_or_compute("r", failing, ttl=60) == (OK, {"v": "first"})  # at once, the old value
    wait_until(lambda: coherence_stats(cache)["refreshes_ahead"] == 1, 30, "the refresh ran")
    assert refreshed == [b"r"]
    assert msgpack.unpackb(take_value(client, cache, "r")) == {"v": "refreshed"}
    assert 55 <= client.ttl("t:default:r") <= 60
    assert not client.exists("t:default:r:lock")
    cache.close()  # joins the refresh thread; the callback may go after this
    del callback


def take_value(client, cache, key):
    out = Buffer()
    assert cache.lib.cachekit_cache_get(cache.handle, key.encode(), len(key), ctypes.byref(out)) == OK
    return take(cache.lib, out)


def test_refresh_ttl_on_get_slides_a_hit_below_the_threshold(make_cache, redis_url):
    client = redis.Redis.from_url(redis_url)
    cache = make_cache(redis_url=redis_url, refresh_ttl_on_get=1, default_ttl=60, l1_max_entries=0)
    assert cache.set("slide", {"v": 1}) == OK
    client.pexpire("t:default:slide", 40_000)
    assert cache.get("slide") == (OK, {"v": 1})
    assert client.pttl("t:default:slide") <= 40_000  # above half: left alone
    client.pexpire("t:default:slide", 10_000)
    assert cache.get("slide") == (OK, {"v": 1})
    assert client.ttl("t:default:slide") >= 55
    assert coherence_stats(cache)["ttl_refreshes"] == 1


def test_fail_closed_refuses_a_tampered_entry_and_keeps_it(make_cache, redis_url, monkeypatch):
    client = redis.Redis.from_url(redis_url)
    writer = make_cache(redis_url=redis_url, mode="secure", master_key=MASTER_KEY)
    assert writer.set("vault", {"secret": 1}, ttl=60) == OK
    stored = bytearray(client.get("t:default:vault"))
    stored[-1] ^= 1
    client.set("t:default:vault", bytes(stored), ex=60)

    closed = make_cache(redis_url=redis_url, mode="secure", master_key=MASTER_KEY, encryption_fail_closed=1)
    assert closed.get("vault") == (E_AUTHENTICATION_FAILED, None)
    assert closed.get_or_compute("vault", lambda _: {"recomputed": True}, ttl=60) == (E_AUTHENTICATION_FAILED, None)
    assert client.get("t:default:vault") == bytes(stored)  # kept as evidence
    assert coherence_stats(closed)["decrypt_tampered_l2"] == 2 and closed.stats()["computes"] == 0

    # cachekit-py's variable turns it on through cachekit_config_load_env.
    monkeypatch.setenv("CACHEKIT_ENCRYPTION_FAIL_CLOSED", "true")
    lib = closed.lib
    config = ctypes.c_void_p()
    assert lib.cachekit_config_new(ctypes.byref(config)) == OK
    assert lib.cachekit_config_load_env(config) == OK
    for name, value in (("redis_url", redis_url), ("mode", "secure"), ("master_key", MASTER_KEY)):
        assert lib.cachekit_config_set(config, name.encode(), value.encode()) == OK
    handle = ctypes.c_void_p()
    assert lib.cachekit_cache_new(config, ctypes.byref(handle)) == OK
    lib.cachekit_config_free(config)
    out = Buffer()
    assert lib.cachekit_cache_get(handle, b"vault", 5, ctypes.byref(out)) == E_AUTHENTICATION_FAILED
    lib.cachekit_cache_free(handle)

    monkeypatch.delenv("CACHEKIT_ENCRYPTION_FAIL_CLOSED")
    fail_open = make_cache(redis_url=redis_url, mode="secure", master_key=MASTER_KEY)
    assert fail_open.get("vault") == (1, None)  # a miss, and the entry is dropped as before
    assert coherence_stats(fail_open)["decrypt_tampered_l2"] == 1
    assert not client.exists("t:default:vault")
