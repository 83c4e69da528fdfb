"""Cache.get_many / set_many / delete_many / ttl against a private redis-server: one call for a
batch, values and TTLs as Redis holds them (ttl answers as cachekit-py's get_ttl, which reads
Redis's TTL), per-key failures raised after the other keys were handled, and the fail-open rules
of the single calls when Redis goes away."""
import pytest
import redis

from support.redis_server import RedisServer

from cachekit_native import Cache
from cachekit_native.errors import BackendUnavailableError, InvalidKeyError


def redis_key(client, key):
    """The Redis key the cache wrote for key (the cache's prefix in front)."""
    [found] = [name for name in client.keys("*") if name.endswith(key.encode())]
    return found


def test_set_many_then_get_many_and_ttl_as_redis_reports_it(redis_url):
    client = redis.Redis.from_url(redis_url)
    items = {f"user:{i}": b"\xa5value" for i in range(50)}
    with Cache(from_env=False, redis_url=redis_url) as writer, Cache(from_env=False, redis_url=redis_url) as reader:
        writer.set_many(items, ttl=120)
        writer.set_many([("forever", b"\xc3")], ttl=0)
        assert reader.get_many(list(items) + ["absent"]) == items  # from Redis: another process's L1 is empty
        for key in items:
            assert 0 < client.ttl(redis_key(client, key)) <= 120
            assert reader.ttl(key) == client.ttl(redis_key(client, key))
        assert client.ttl(redis_key(client, "forever")) == -1
        assert reader.ttl("forever") is None  # no expiry reads as None, as cachekit-py's get_ttl
        assert reader.ttl("absent") is None


def test_delete_many_counts_what_existed_and_clears_both_tiers(redis_url):
    client = redis.Redis.from_url(redis_url)
    with Cache(from_env=False, redis_url=redis_url) as cache:
        cache.set_many({"a": b"\x01", "b": b"\x02", "c": b"\x03"})
        assert cache.delete_many(["a", "b", "missing"]) == 2
        assert cache.get_many(["a", "b", "c"]) == {"c": b"\x03"}
        assert len(client.keys("*")) == 1


def test_a_bad_key_raises_after_the_others_were_stored(redis_url):
    with Cache(from_env=False, redis_url=redis_url) as cache:
        with pytest.raises(InvalidKeyError):
            cache.set_many([("ok", b"\x01"), ("", b"\x02"), ("also", b"\x03")])
        assert cache.get_many(["ok", "also"]) == {"ok": b"\x01", "also": b"\x03"}


def test_without_redis_writes_fail_open_and_deletes_report():
    server = RedisServer().start()
    try:
        # l1_tracking off: with it, losing Redis flushes L1 (copies may have missed reports), and
        # this test is about the bulk calls failing open into L1.
        with Cache(from_env=False, redis_url=server.url, connect_timeout_ms=200, command_timeout_ms=200,
                   circuit_breaker="false", l1_tracking=0) as cache:
            cache.set_many({"a": b"\x01"}, ttl=60)
            server.stop()
            cache.set_many({"b": b"\x02"}, ttl=60)  # absorbed: L1 holds it
            assert cache.get_many(["a", "b"]) == {"a": b"\x01", "b": b"\x02"}
            assert 58 <= cache.ttl("b") <= 60  # L1's lifetime when Redis cannot answer
            with pytest.raises(BackendUnavailableError):
                cache.delete_many(["a", "b"])
            assert cache.get_many(["a", "b"]) == {}  # L1 cleared regardless
            assert cache.stats()["errors"] >= 3
    finally:
        server.stop()
