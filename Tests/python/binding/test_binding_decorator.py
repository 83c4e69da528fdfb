"""@cache from cachekit_native on its own: presets, statistics, invalidation, sync and async,
unsupported types, against a real redis-server."""
import asyncio
import threading
import time
from datetime import date, datetime, timezone

import pytest
import redis

from support.peer import MASTER_KEY

from cachekit_native import CacheInfo, ConfigurationError, InteropError, cache


def test_l1_only_hits_and_cache_info():
    calls = []

    @cache(backend=None)
    def square(x):
        calls.append(x)
        return x * x

    assert square(4) == 16 and square(4) == 16 and square(5) == 25
    assert calls == [4, 5]
    info = square.cache_info()
    assert isinstance(info, CacheInfo)
    assert (info.hits, info.misses, info.l1_hits, info.l2_hits) == (1, 2, 1, 0)
    assert info.maxsize is None and info.currsize is None
    assert info.session_id.endswith(":test_binding_decorator.test_l1_only_hits_and_cache_info._locals_.square")
    assert info.last_operation_at is not None


def test_hits_return_fresh_equal_copies():
    @cache(backend=None)
    def data():
        return {"list": [1, 2], "when": datetime(2024, 1, 1, tzinfo=timezone.utc), "day": date(2024, 1, 2),
                "tuple": (1, 2), "bytes": b"\x00"}

    first = data()
    assert first["tuple"] == (1, 2)  # the miss returns the function's own object
    second = data()
    assert second == {"list": [1, 2], "when": datetime(2024, 1, 1, tzinfo=timezone.utc), "day": date(2024, 1, 2),
                      "tuple": [1, 2], "bytes": b"\x00"}  # a hit is the stored document, tuples as lists
    second["list"].append(3)
    assert data()["list"] == [1, 2]


def test_redis_l2_hits_across_function_instances(redis_url):
    calls = []

    def make():
        @cache(redis_url=redis_url, namespace="shared")
        def lookup(user_id, *, verbose=False):
            calls.append(user_id)
            return {"id": user_id, "verbose": verbose}
        return lookup

    first, second = make(), make()
    assert first(1) == {"id": 1, "verbose": False}
    assert second(1) == {"id": 1, "verbose": False}
    assert calls == [1]
    info = second.cache_info()
    # One tracker per module.qualname, as cachekit-py's: the first instance's miss counts too.
    assert (info.hits, info.l2_hits, info.l1_hits, info.misses) == (1, 1, 0, 1)
    assert first.cache_info()[:4] == info[:4]
    assert info.l2_avg_latency_ms > 0
    assert second(1, verbose=True) == {"id": 1, "verbose": True}
    assert calls == [1, 1]


def test_ttl_sets_redis_expiry_and_presets_have_cachekits_defaults(redis_url):
    client = redis.Redis.from_url(redis_url)

    @cache(redis_url=redis_url, ttl=120)
    def with_ttl(x):
        return x

    @cache.minimal(redis_url=redis_url)
    def minimal(x):
        return x

    @cache.production(redis_url=redis_url)
    def production(x):
        return x

    @cache(redis_url=redis_url)
    def forever(x):
        return x

    for function in (with_ttl, minimal, production, forever):
        function(1)
    ttls = {key.decode(): client.ttl(key) for key in client.keys("*") if b":ck:reg:" not in key}
    assert len(ttls) == 4
    by_name = {name: next(ttl for key, ttl in ttls.items() if f".{name}:" in key)
               for name in ("with_ttl", "minimal", "production", "forever")}
    assert 110 < by_name["with_ttl"] <= 120
    assert 290 < by_name["minimal"] <= 300
    assert 590 < by_name["production"] <= 600
    assert by_name["forever"] == -1
    minimal_key = next(key for key in ttls if ".minimal:" in key)
    assert minimal_key.startswith("t:default:func:") and minimal_key.endswith(":0s")
    production_key = next(key for key in ttls if ".production:" in key)
    assert production_key.endswith(":1s")


def test_invalidate_one_entry_and_the_whole_function(redis_url):
    calls = []

    @cache(redis_url=redis_url, namespace="inv")
    def value(x):
        calls.append(x)
        return x

    value(1), value(2), value(1)
    assert calls == [1, 2]
    value.invalidate_cache(1)
    value(1), value(2)
    assert calls == [1, 2, 1]
    value.invalidate_cache()
    value(1), value(2)
    assert calls == [1, 2, 1, 1, 2]
    assert redis.Redis.from_url(redis_url).keys("*ns:inv:*") != []


def test_cache_clear_resets_statistics(redis_url):
    @cache(redis_url=redis_url)
    def value(x):
        return x

    value(1), value(1)
    assert value.cache_info().hits == 1
    value.cache_clear()
    info = value.cache_info()
    assert (info.hits, info.misses) == (0, 0)
    assert info.session_id.endswith("#1")
    value(1)
    assert value.cache_info().misses == 1


def test_exceptions_propagate_and_are_not_cached(redis_url):
    calls = []

    @cache(redis_url=redis_url)
    def failing(x):
        calls.append(x)
        raise KeyError(x)

    for _ in range(2):
        with pytest.raises(KeyError):
            failing(1)
    assert calls == [1, 1]


class Opaque:
    pass


def test_unsupported_results_are_returned_uncached_as_in_cachekit(redis_url, caplog):
    calls = []

    @cache(redis_url=redis_url)
    def make(x):
        calls.append(x)
        return Opaque() if x else {1, 2}

    assert isinstance(make(1), Opaque) and isinstance(make(1), Opaque)
    assert make(0) == {1, 2} and make(0) == {1, 2}
    assert calls == [1, 1, 0, 0]
    assert "not cached" in caplog.text


def test_unkeyable_arguments_run_uncached(redis_url, caplog):
    calls = []

    @cache(redis_url=redis_url)
    def echo(x):
        calls.append(1)
        return 1

    echo({1, 2}), echo({1, 2}), echo(Opaque())
    assert len(calls) == 3
    assert "uncached" in caplog.text


def test_secure_round_trip_and_ciphertext_at_rest(redis_url):
    calls = []

    @cache.secure(master_key=MASTER_KEY, redis_url=redis_url)
    def secret(x):
        calls.append(x)
        return {"ssn": "123-45-6789", "x": x}

    assert secret(1) == secret(1) == {"ssn": "123-45-6789", "x": 1}
    assert calls == [1]
    client = redis.Redis.from_url(redis_url)
    (key,) = [key for key in client.keys("*") if b":ck:reg:" not in key]
    assert b"123-45-6789" not in client.get(key)
    assert 590 < client.ttl(key) <= 600


def test_decorator_options_are_validated():
    with pytest.raises(ValueError, match="master_key"):
        cache.secure(redis_url="redis://127.0.0.1:1")(lambda: 1)
    with pytest.raises(ConfigurationError, match="backend"):
        cache.secure(master_key=MASTER_KEY, backend=None)
    with pytest.raises(ConfigurationError, match="not bytes"):
        cache.secure(master_key=bytes(32))
    with pytest.raises(ConfigurationError, match="does not accept"):
        cache(circuit_breakr=True)
    with pytest.raises(ConfigurationError, match="ttl"):
        cache(ttl=-1)
    with pytest.raises(InteropError):
        cache(interop="Bad Name", namespace="users")(lambda: 1)
    with pytest.raises(InteropError, match="namespace"):
        cache(interop="get_user")(lambda: 1)
    with pytest.raises(ConfigurationError, match="interop"):
        cache(interop="get_user", namespace="users", backend=None)


def test_concurrent_misses_compute_once(redis_url):
    calls = []
    gate = threading.Event()

    @cache(redis_url=redis_url)
    def slow(x):
        calls.append(x)
        gate.wait(5)
        return x

    threads = [threading.Thread(target=slow, args=(7,)) for _ in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(0.2)
    gate.set()
    for thread in threads:
        thread.join()
    assert calls == [7]


def test_async_functions_hit_and_share_one_computation(redis_url):
    calls = []

    @cache(redis_url=redis_url, namespace="aio")
    async def fetch(x):
        calls.append(x)
        await asyncio.sleep(0.05)
        return {"x": x}

    async def main():
        results = await asyncio.gather(*(fetch(3) for _ in range(5)))
        again = await fetch(3)
        await fetch.invalidate_cache(3)
        after = await fetch(3)
        return results, again, after

    results, again, after = asyncio.run(main())
    assert results == [{"x": 3}] * 5 and again == {"x": 3} and after == {"x": 3}
    assert calls == [3, 3]
    assert fetch.cache_info().hits >= 1


def test_async_calls_do_not_block_the_event_loop(redis_server):
    # A paused redis-server answers nothing: cache calls wait out their timeout in worker threads
    # while the loop keeps running.
    server = redis_server
    ticks = []

    @cache(redis_url=server.url, namespace="blocked", command_timeout_ms=1000, connect_timeout_ms=1000)
    async def fetch(x):
        return x

    async def ticker():
        for _ in range(20):
            ticks.append(time.monotonic())
            await asyncio.sleep(0.01)

    async def main():
        return await asyncio.gather(fetch(1), ticker())

    import os
    import signal
    os.kill(server.process.pid, signal.SIGSTOP)
    try:
        results, _ = asyncio.run(main())
    finally:
        os.kill(server.process.pid, signal.SIGCONT)
    assert results == 1
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    assert max(gaps) < 0.5


def test_equal_arguments_of_different_types_are_different_entries():
    # 1 == 1.0 == True in Python, but cachekit's keys (msgpack) tell them apart: so must the key memo.
    @cache(backend=None)
    def kind(x, flag=None):
        return type(x).__name__

    for _ in range(2):
        assert [kind(1), kind(1.0), kind(True), kind(-0.0), kind(0.0)] == ["int", "float", "bool", "float", "float"]
        assert kind(1, flag=1) == "int" and kind(1, flag=True) == "int"
    info = kind.cache_info()
    assert info.misses == 6  # -0.0 and 0.0 share cachekit's key (it normalizes -0.0)
    from cachekit.key_generator import CacheKeyGenerator
    generator = CacheKeyGenerator()
    state = kind._cachekit_native
    for args, kwargs in (((1,), {}), ((1.0,), {}), ((True,), {}), ((1,), {"flag": True})):
        assert state.key(args, kwargs).decode() == generator.generate_key(kind.__wrapped__, args, kwargs)


def test_cache_handle_get_or_compute_runs_once_and_propagates_errors(redis_url):
    from cachekit_native import Cache
    with Cache(redis_url=redis_url) as handle:
        runs = []

        def compute():
            runs.append(1)
            time.sleep(0.1)
            return b"\x81\xa1v\x01"

        threads = [threading.Thread(target=handle.get_or_compute, args=("shared-key", compute)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert runs == [1]
        assert handle.get_or_compute("shared-key", compute) == b"\x81\xa1v\x01"

        def broken():
            raise RuntimeError("boom")

        with pytest.raises(RuntimeError, match="boom"):
            handle.get_or_compute("other-key", broken)
        assert handle.get("other-key") is None
        assert handle.exists("shared-key") and not handle.exists("other-key")
        stats = handle.stats()
        assert stats["computes"] == 2 and stats["sets"] == 1
        health = handle.health()
        assert health["l2_configured"] and health["l2_status"] == 0


def test_l1_hits_after_a_redis_write_are_counted_as_l1(redis_url):
    @cache(redis_url=redis_url)
    def value(x):
        return [x]

    value(1), value(1), value(1)
    info = value.cache_info()
    assert (info.misses, info.l1_hits, info.l2_hits, info.hits) == (1, 2, 0, 2)


def test_a_master_key_in_the_environment_needs_a_stated_intent_as_in_cachekit(monkeypatch, redis_url):
    monkeypatch.setenv("CACHEKIT_MASTER_KEY", MASTER_KEY)
    for form in (cache, cache.minimal, cache.production):
        with pytest.raises(ConfigurationError, match="encryption intent"):
            form(redis_url=redis_url)
    calls = []

    @cache(redis_url=redis_url, encryption=False)
    def plain(x):
        calls.append(x)
        return x

    @cache(redis_url=redis_url, encryption=True)
    def sealed(x):
        calls.append(x)
        return {"secret": x}

    assert plain(1) == plain(1) == 1 and sealed(2) == sealed(2) == {"secret": 2}
    assert calls == [1, 2]
    client = redis.Redis.from_url(redis_url)
    stored = {key.decode(): client.get(key) for key in client.keys("*") if b":ck:reg:" not in key}
    assert any(b'"encrypted": true' in value for value in stored.values())
    assert any(b'"encrypted"' not in value for value in stored.values())
    with pytest.raises(ConfigurationError, match="integrity"):
        cache.minimal(encryption=True)


def test_invalidate_cache_reports_its_outcome_like_cachekit(redis_url):
    from cachekit_native import InvalidationOutcome

    @cache(redis_url=redis_url)
    def shared_value(x):
        return x

    @cache(backend=None)
    def local_value(x):
        return x

    shared_value(1), local_value(1)
    assert shared_value.invalidate_cache(1) is InvalidationOutcome.SUCCEEDED
    assert local_value.invalidate_cache(1) is InvalidationOutcome.NO_L2
    assert shared_value.invalidate_cache() is None


def test_a_forked_child_opens_its_own_cache(redis_url):
    import os
    calls = []

    @cache(redis_url=redis_url, namespace="fork")
    def value(x):
        calls.append(x)
        return {"x": x, "pid": os.getpid()}

    parent = value(1)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            hit = value(1)  # an L2 (or inherited L1) hit through the child's own handle
            fresh = value(2)
            ok = hit == parent and fresh["pid"] == os.getpid() and value._cachekit_native.cache is not None
            os.write(write, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(write)
    assert os.read(read, 1) == b"1"
    os.waitpid(pid, 0)
    assert value(2)["pid"] == pid  # what the child stored is a hit here
    assert calls == [1]


def test_worker_threads_hand_back_results_errors_and_survive_cancellation():
    from cachekit_native import _workers
    errors = []

    async def main():
        asyncio.get_running_loop().set_exception_handler(lambda loop, context: errors.append(context))
        assert await _workers.submit(lambda a, b: a + b, 2, 3) == 5
        with pytest.raises(ZeroDivisionError):
            await _workers.submit(lambda: 1 / 0)
        slow = asyncio.ensure_future(_workers.submit(time.sleep, 0.1))
        await asyncio.sleep(0.01)
        slow.cancel()
        await asyncio.sleep(0.2)  # the worker finishes and resolves a cancelled future: ignored
        started = time.monotonic()
        results = await asyncio.gather(*(_workers.submit(time.sleep, 0.25) for _ in range(8)))
        # Side by side they take 0.25 s, one after another 2 s: the bound leaves room for a loaded machine.
        assert time.monotonic() - started < 1.5
        return results

    assert asyncio.run(main()) == [None] * 8
    assert errors == []


def test_cache_clear_refuses_async_functions_with_redis_as_cachekit_does(redis_url):
    @cache(redis_url=redis_url)
    async def fetch(x):
        return x

    assert asyncio.run(fetch(1)) == 1
    with pytest.raises(TypeError, match="ainvalidate_cache"):
        fetch.cache_clear()


def test_async_waiters_get_their_own_copies_and_survive_a_cancelled_leader(redis_url):
    calls = []

    @cache(redis_url=redis_url, namespace="aio2")
    async def fetch(x):
        calls.append(x)
        await asyncio.sleep(0.1)
        return {"items": [x]}

    async def main():
        first = await asyncio.gather(*(fetch(1) for _ in range(3)))
        assert first[0] == first[1] == first[2] == {"items": [1]}
        assert first[1] is not first[2]
        leader = asyncio.ensure_future(fetch(2))
        await asyncio.sleep(0.01)
        waiter = asyncio.ensure_future(fetch(2))
        await asyncio.sleep(0.01)
        leader.cancel()
        return await waiter

    assert asyncio.run(main()) == {"items": [2]}
    assert calls == [1, 2, 2]


def test_many_threads_share_one_function_correctly(redis_url):
    calls = []

    @cache(redis_url=redis_url, namespace="threads")
    def square(x):
        calls.append(x)
        return {"x": x, "square": x * x}

    failures = []

    def worker(offset):
        for i in range(300):
            x = (i + offset) % 25
            if square(x) != {"x": x, "square": x * x}:
                failures.append(x)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert sorted(calls) == list(range(25))  # each value computed once across all threads
    info = square.cache_info()
    assert info.misses >= 25 and info.hits >= 8 * 300 - info.misses


def test_async_functions_without_redis_run_on_the_loop(monkeypatch):
    from cachekit_native import _workers
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("CACHEKIT_REDIS_URL", raising=False)
    handed_off = []
    original = _workers.pool.submit

    def spy(function, *arguments):
        handed_off.append(function)
        return original(function, *arguments)

    monkeypatch.setattr("cachekit_native._function._submit", spy)

    @cache(backend=None)
    async def local(x):
        return [x]

    async def main():
        return [await local(1), await local(1)]

    assert asyncio.run(main()) == [[1], [1]]
    assert len(handed_off) == 1  # only opening the cache; gets and sets ran inline
    assert local.cache_info().l1_hits == 1


def test_async_l1_hits_with_redis_run_on_the_loop(monkeypatch, redis_url):
    # With Redis configured, a miss goes to a worker thread, but an L1 hit is answered on the loop
    # by cachekit_cache_get_local, which never touches the network.
    from cachekit_native import _workers
    handed_off = []
    original = _workers.pool.submit

    def spy(function, *arguments):
        handed_off.append(getattr(function, "__name__", repr(function)))
        return original(function, *arguments)

    monkeypatch.setattr("cachekit_native._function._submit", spy)

    @cache(redis_url=redis_url, namespace="aio-local")
    async def remote(x):
        return {"x": x}

    async def main():
        first = await remote(5)
        before_hits = list(handed_off)
        hits = [await remote(5) for _ in range(3)]
        return first, hits, before_hits

    first, hits, before_hits = asyncio.run(main())
    assert first == {"x": 5} and hits == [{"x": 5}] * 3
    assert "get" in before_hits and "store" in before_hits  # the miss: Redis read and write off the loop
    assert handed_off == before_hits  # the three hits handed nothing off
    assert remote.cache_info().l1_hits == 3
