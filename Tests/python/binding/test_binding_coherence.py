"""The decorator's coherence options: cachekit-py's refresh_ttl_on_get / ttl_refresh_threshold
slide a Redis hit's TTL, encryption_fail_closed turns a tampered entry into an error instead of a
recomputation, and the fill lock is released after every fill, sync and async."""
import asyncio

import pytest
import redis

from cachekit_native import cache
from cachekit_native.errors import AuthenticationFailedError

MASTER_KEY = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"


def entry_keys(client):
    return [key for key in client.keys("*") if b":ck:reg:" not in key]


def test_refresh_ttl_on_get_slides_the_redis_ttl(redis_url):
    client = redis.Redis.from_url(redis_url)
    calls = []

    @cache(redis_url=redis_url, ttl=60, l1_enabled=False, refresh_ttl_on_get=True, ttl_refresh_threshold=0.5)
    def profile(user_id):
        calls.append(user_id)
        return {"id": user_id}

    assert profile(1) == {"id": 1}
    (key,) = entry_keys(client)
    client.pexpire(key, 10_000)
    assert profile(1) == {"id": 1} and calls == [1]
    assert client.ttl(key) >= 55


def test_fail_closed_raises_instead_of_recomputing(redis_url):
    client = redis.Redis.from_url(redis_url)
    calls = []

    def secret(user_id):
        calls.append(user_id)
        return {"id": user_id}
    closed = cache.secure(master_key=MASTER_KEY, redis_url=redis_url, l1_enabled=False,
                          encryption_fail_closed=True)(secret)
    assert closed(7) == {"id": 7}
    (key,) = entry_keys(client)
    tampered = bytearray(client.get(key))
    tampered[-1] ^= 1
    client.set(key, bytes(tampered), ex=60)
    with pytest.raises(AuthenticationFailedError):
        closed(7)
    assert calls == [7] and client.get(key) == bytes(tampered)


@pytest.mark.parametrize("is_async", [False, True])
def test_each_fill_takes_and_releases_the_lock(redis_url, is_async):
    client = redis.Redis.from_url(redis_url)
    locks_seen = []

    if is_async:
        async def compute(x):
            locks_seen.extend(client.keys("*:lock"))
            return x * 2
        wrapped = cache(redis_url=redis_url, ttl=60)(compute)
        assert asyncio.run(wrapped(21)) == 42
    else:
        def compute(x):
            locks_seen.extend(client.keys("*:lock"))
            return x * 2
        wrapped = cache(redis_url=redis_url, ttl=60)(compute)
        assert wrapped(21) == 42
    (key,) = entry_keys(client)
    assert locks_seen == [key + b":lock"]  # held during the compute, named as cachekit-py names it
    assert client.keys("*:lock") == []
