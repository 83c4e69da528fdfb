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


def test_a_refresh_handed_back_is_due_again_for_a_later_hit():
    from support.redis_server import wait_until
    from cachekit_native import Cache

    with Cache(from_env=False, refresh_ahead=0.5) as store:
        store.set("k", b"\xa1v", ttl=2)
        assert store.refresh_due("k") is False  # fresh
        wait_until(lambda: store.get("k") is not None and store.refresh_due("k"), 10, "the entry due")
        assert store.refresh_due("k") is False  # the first caller took it
        store.refresh_release("k")
        assert store.refresh_due("k") is True  # handed back: due again
        store.refresh_release("k")
        store.set("k", b"\xa1w", ttl=60)  # a write restarts the clock; a hand-back after it changes nothing
        store.refresh_release("k")
        assert store.refresh_due("k") is False


def test_l1_only_refreshes_in_flight_are_capped_per_function_and_retried_later():
    """cachekit-py caps one function's L1-only SWR refreshes at 32 in flight: 40 stale keys hit
    together refresh 32 now; the other 8 are served stale and refresh on a later hit."""
    from cachekit_native.config import L1CacheConfig
    calls = []
    release = None

    @cache(ttl=4, backend=None, l1=L1CacheConfig(swr_enabled=True, swr_threshold_ratio=0.5))
    async def value(i):
        calls.append(i)
        if len(calls) > 40:
            await release.wait()  # refreshes hold their slots until the test lets them go
        return i

    async def scenario():
        nonlocal release
        release = asyncio.Event()
        for i in range(40):
            assert await value(i) == i
        await asyncio.sleep(2.3)  # every entry past half its TTL, none expired
        for i in range(40):
            assert await value(i) == i  # served at once
        await asyncio.sleep(0.3)  # the admitted refreshes start and wait for the release
        started = len(calls) - 40
        release.set()
        for _ in range(200):
            if not _refresh._tasks:
                break
            await asyncio.sleep(0.01)
        for i in range(40):  # the 8 handed back are due again
            assert await value(i) == i
        for _ in range(200):
            if not _refresh._tasks:
                break
            await asyncio.sleep(0.01)
        return started

    started = asyncio.run(scenario())
    assert started == _refresh.MAX_REFRESHES_IN_FLIGHT == 32
    assert sorted(calls[40:]) == sorted(set(calls[40:])) and len(calls) == 40 + 40  # each key refreshed once
    value.cache_close()
