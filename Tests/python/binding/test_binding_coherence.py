"""The decorator's coherence options: cachekit-py's refresh_ttl_on_get / ttl_refresh_threshold
slide a Redis hit's TTL, encryption_fail_closed turns a tampered entry into an error instead of a
recomputation, and the fill lock is released after every fill, sync and async."""
import asyncio

import pytest
import redis

from cachekit_native import _refresh, cache
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


@pytest.mark.parametrize("is_async", [False, True])
def test_refresh_ahead_recomputes_in_the_background(redis_url, is_async):
    from support.redis_server import wait_until
    client = redis.Redis.from_url(redis_url)
    calls = []

    def body(x):
        calls.append(x)
        return {"x": x, "version": len(calls)}
    options = dict(redis_url=redis_url, ttl=60, l1_enabled=False, refresh_ahead=0.5)
    if is_async:
        async def versioned(x):
            return body(x)
        wrapped = cache(**options)(versioned)

        async def call_and_linger():
            value = await wrapped(3)
            for _ in range(3000):  # the loop runs until the refresh task it started is done
                if not _refresh._tasks:
                    break
                await asyncio.sleep(0.01)
            return value
        call = lambda: asyncio.run(call_and_linger())  # noqa: E731
    else:
        def versioned(x):
            return body(x)
        wrapped = cache(**options)(versioned)
        call = lambda: wrapped(3)  # noqa: E731

    assert call() == {"x": 3, "version": 1}
    (key,) = entry_keys(client)
    client.pexpire(key, 10_000)  # 10 of 60 s left: past the half
    assert call() == {"x": 3, "version": 1}  # the old value, at once
    wait_until(lambda: len(calls) == 2 and client.ttl(key) > 50, 30, "the background refresh stored")
    assert call() == {"x": 3, "version": 2}
    assert client.keys("*:lock") == []
