"""The cache against a real redis-server: L2 reads and writes, batch get in one round trip,
AUTH/SELECT/unix sockets, namespace invalidation, entries shared with the real cachekit package,
and fail-open while the server is stopped, paused (SIGSTOP) and restarted."""
import ctypes
import os
import signal
import threading
import time

import pytest
import redis

from support.abi import MISS, OK, last_message
from support.cache import Cache, timed
from support.redis_server import RedisServer, free_port

E_BACKEND_UNAVAILABLE, E_BACKEND_TIMEOUT, E_VALUE_TOO_LARGE, E_COMPUTE_FAILED = -60, -61, -63, -66
E_CIRCUIT_OPEN = -71
# Redis down: refused, timed out, or skipped by the open breaker.
REDIS_DOWN = (E_BACKEND_UNAVAILABLE, E_BACKEND_TIMEOUT, E_CIRCUIT_OPEN)
MASTER_KEY = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"


# ---------------------------------------------------------------------------------------------
# L2 behaviour


def test_set_writes_setex_or_set_and_a_fresh_cache_reads_l2(make_cache, redis_url):
    client = redis.Redis.from_url(redis_url)
    writer = make_cache(redis_url=redis_url)
    assert writer.set("func:m.f:args:01:1s", {"a": 1}, ttl=30) == OK
    assert writer.set("func:m.g:args:01:1s", [1, 2], ttl=0) == OK
    assert 0 < client.ttl("t:default:func:m.f:args:01:1s") <= 30
    assert client.ttl("t:default:func:m.g:args:01:1s") == -1  # SET, no expiry
    assert client.get("t:default:func:m.f:args:01:1s").startswith(b"CK\x03")

    reader = make_cache(redis_url=redis_url)
    assert reader.get("func:m.f:args:01:1s") == (OK, {"a": 1})
    assert reader.get("func:m.f:args:01:1s") == (OK, {"a": 1})
    stats = reader.stats()
    assert stats["l2_hits"] == 1 and stats["l1_hits"] == 1 and stats["hits"] == 2
    assert stats["l2_operations"] >= 1 and stats["l2_latency_total_ns"] > 0
    assert reader.exists("func:m.g:args:01:1s") == OK
    assert reader.delete("func:m.g:args:01:1s") == OK
    assert client.exists("t:default:func:m.g:args:01:1s") == 0
    assert reader.exists("func:m.g:args:01:1s") == MISS


def test_l1_never_outlives_the_redis_ttl(make_cache, redis_url):
    client = redis.Redis.from_url(redis_url)
    writer = make_cache(redis_url=redis_url)
    assert writer.set("short", "v", ttl=100) == OK
    client.pexpire("t:default:short", 1500)  # another writer shortened it
    reader = make_cache(redis_url=redis_url)
    assert reader.get("short") == (OK, "v")  # filled into L1 with Redis's remaining TTL
    time.sleep(1.7)
    assert reader.get("short") == (MISS, None)


def test_batch_get_is_one_round_trip(make_cache, redis_url):
    client = redis.Redis.from_url(redis_url)
    writer = make_cache(redis_url=redis_url)
    keys = [f"batch:{i}" for i in range(100)]
    for i, key in enumerate(keys[:90]):
        assert writer.set(key, i, ttl=60) == OK
    reader = make_cache(redis_url=redis_url)
    assert reader.get("batch:0") == (OK, 0)  # one key already in L1
    client.config_resetstat()
    rc, values = reader.get_many(keys)
    assert rc == OK
    assert values == list(range(90)) + [None] * 10
    stats = client.info("commandstats")
    assert stats["cmdstat_mget"]["calls"] == 1
    assert "cmdstat_get" not in stats
    rc, values = reader.get_many(keys[:5])
    assert values == [0, 1, 2, 3, 4]
    assert client.info("commandstats")["cmdstat_mget"]["calls"] == 1  # all from L1 now


def test_value_too_large_is_refused(make_cache, redis_url):
    cache = make_cache(redis_url=redis_url, max_value_size=1000)
    assert cache.set("big", os.urandom(2000)) == E_VALUE_TOO_LARGE
    assert redis.Redis.from_url(redis_url).exists("t:default:big") == 0
    assert cache.get("big") == (MISS, None)


def test_namespace_invalidation_scans_redis(make_cache, redis_url):
    client = redis.Redis.from_url(redis_url)
    cache = make_cache(redis_url=redis_url)
    for i in range(1500):
        assert cache.set(f"ns:users:func:m.f:args:{i}:1s", i, ttl=60) == OK
    assert cache.set("ns:orders:func:m.f:args:1:1s", "keep", ttl=60) == OK
    client.set("t:default:ns:users*:unrelated", b"x")  # a glob character in another key
    rc, removed = cache.invalidate_namespace("users")
    assert (rc, removed) == (OK, 1500)
    assert cache.get("ns:users:func:m.f:args:7:1s") == (MISS, None)
    assert cache.get("ns:orders:func:m.f:args:1:1s") == (OK, "keep")
    assert client.exists("t:default:ns:users*:unrelated") == 1
    other = make_cache(redis_url=redis_url)
    assert other.get("ns:users:func:m.f:args:8:1s") == (MISS, None)


def test_auth_select_and_unix_socket(make_cache, tmp_path):
    socket_path = str(tmp_path / "redis.sock")
    server = RedisServer(extra=["--requirepass", "s3cret-pw", "--unixsocket", socket_path, "--unixsocketperm", "700"])
    server.start()
    try:
        url = f"redis://:s3cret-pw@127.0.0.1:{server.port}/3"
        cache = make_cache(redis_url=url)
        assert cache.set("k", "v", ttl=60) == OK
        assert cache.health().l2_status == OK
        client = redis.Redis(host="127.0.0.1", port=server.port, password="s3cret-pw", db=3)
        assert client.exists("t:default:k") == 1
        assert redis.Redis(host="127.0.0.1", port=server.port, password="s3cret-pw", db=0).exists("t:default:k") == 0

        via_socket = make_cache(redis_url=f"unix://:s3cret-pw@{socket_path}?db=3")
        assert via_socket.get("k") == (OK, "v")
        assert via_socket.stats()["l2_hits"] == 1

        wrong = make_cache(redis_url=f"redis://:wrong-pw@127.0.0.1:{server.port}/3")
        assert wrong.get("k") == (MISS, None)
        health = wrong.health()
        assert health.l2_status == -73  # CACHEKIT_E_BACKEND_AUTH
        assert b"wrong-pw" not in health.detail and b"s3cret" not in health.detail
        assert wrong.stats()["errors"] >= 1
    finally:
        server.cleanup()


# ---------------------------------------------------------------------------------------------
# Entries shared with the real cachekit package


def test_entries_are_shared_with_cachekit_py(make_cache, redis_url, monkeypatch):
    """cachekit's @cache reads what this library writes, and this library reads what it writes."""
    import subprocess
    import sys
    script = r'''
import json, os, sys
from cachekit import cache
calls = []
@cache(ttl=300)
def answer(x):
    calls.append(x)
    return {"from": "python", "x": x}
@cache(ttl=300)
def shared(x):
    calls.append(x)
    return "python computed"
first = answer(42)
second = shared(42)
print(json.dumps({"answer": first, "shared": second, "calls": calls}))
'''
    client = redis.Redis.from_url(redis_url)
    env = dict(os.environ, CACHEKIT_REDIS_URL=redis_url)
    env.pop("CACHEKIT_MASTER_KEY", None)
    # Pass 1: Python writes both entries; find their keys.
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    keys = sorted(k.decode() for k in client.keys("t:default:*") if b"lib:reg" not in k)
    answer_key = next(k for k in keys if ".answer:" in k)
    shared_key = next(k for k in keys if ".shared:" in k)
    cache = make_cache(redis_url=redis_url)
    # We read Python's entry.
    assert cache.get(answer_key[len("t:default:"):]) == (OK, {"from": "python", "x": 42})
    # We overwrite the other; Python must now return our value without computing.
    assert cache.set(shared_key[len("t:default:"):], "written by libcachekit", ttl=300) == OK
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    import json
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["shared"] == "written by libcachekit"
    assert result["answer"] == {"from": "python", "x": 42}
    assert result["calls"] == []


@pytest.mark.parametrize("deployment_uuid", [None, "123e4567-e89b-12d3-a456-426614174000"])
def test_secure_entries_are_shared_with_cachekit_py(make_cache, redis_url, deployment_uuid):
    import subprocess
    import sys
    import json
    script = r'''
import json
from cachekit import cache
calls = []
@cache.secure(ttl=300)
def private(x):
    calls.append(x)
    return {"secret": "python"}
print(json.dumps({"value": private(7), "calls": calls}))
'''
    client = redis.Redis.from_url(redis_url)
    env = dict(os.environ, CACHEKIT_REDIS_URL=redis_url, CACHEKIT_MASTER_KEY=MASTER_KEY)
    options = dict(redis_url=redis_url, mode="secure", master_key=MASTER_KEY)
    if deployment_uuid:
        env["CACHEKIT_DEPLOYMENT_UUID"] = deployment_uuid
        options["deployment_uuid"] = deployment_uuid
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    key = next(k.decode() for k in client.keys("t:default:*") if b".private:" in k)
    cache = make_cache(**options)
    assert cache.get(key[len("t:default:"):]) == (OK, {"secret": "python"})
    assert cache.set(key[len("t:default:"):], {"secret": "libcachekit"}, ttl=300) == OK
    stored = client.get(key)
    assert b"libcachekit" not in stored and b'"encrypted": true' in stored
    assert f'"tenant_id": "{deployment_uuid or "default"}"'.encode() in stored
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result == {"value": {"secret": "libcachekit"}, "calls": []}


def test_minimal_entries_are_shared_with_cachekit_py(make_cache, redis_url):
    import subprocess
    import sys
    import json
    script = r'''
import json
from cachekit import cache
calls = []
@cache.minimal(ttl=300)
def light(x):
    calls.append(x)
    return [x, "python"]
print(json.dumps({"value": light(3), "calls": calls}))
'''
    client = redis.Redis.from_url(redis_url)
    env = dict(os.environ, CACHEKIT_REDIS_URL=redis_url)
    env.pop("CACHEKIT_MASTER_KEY", None)
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    key = next(k.decode() for k in client.keys("t:default:*") if b".light:" in k)
    assert key.endswith(":0s")
    cache = make_cache(redis_url=redis_url, mode="minimal")
    assert cache.get(key[len("t:default:"):]) == (OK, [3, "python"])
    assert cache.set(key[len("t:default:"):], [3, "libcachekit"], ttl=300) == OK
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout.strip().splitlines()[-1]) == {"value": [3, "libcachekit"], "calls": []}


# ---------------------------------------------------------------------------------------------
# Fail-open


FAST = dict(connect_timeout_ms=300, command_timeout_ms=300, retry_interval_ms=500, failure_threshold=2)


def test_fail_open_when_redis_stops_pauses_and_restarts(make_cache):
    server = RedisServer().start()
    try:
        cache = make_cache(redis_url=server.url, **FAST)
        assert cache.set("warm", "in both tiers", ttl=60) == OK

        # Stopped: connection refused.
        server.stop()
        for i in range(5):
            (rc, _), elapsed = timed(cache.get, f"cold-{i}")
            assert rc == MISS and elapsed < 1.0
        assert cache.get("warm") == (OK, "in both tiers")  # L1 keeps serving
        (rc, value), elapsed = timed(cache.get_or_compute, "computed-while-down", lambda k: "fresh", 60)
        assert (rc, value) == (OK, "fresh") and elapsed < 1.0
        assert cache.get("computed-while-down") == (OK, "fresh")
        assert cache.set("written-while-down", 1, ttl=60) == OK
        rc, elapsed = timed(cache.delete, "warm")
        assert rc in REDIS_DOWN and elapsed < 1.0
        stats = cache.stats()
        assert stats["errors"] >= 5
        assert stats["l2_errors"] + stats["l2_skipped"] >= 5
        assert cache.health().l2_status in REDIS_DOWN
        # Two failures (failure_threshold) opened the breaker; the calls after it were skipped.
        tripped = cache.redis_stats()
        assert tripped["breaker_opened"] >= 1 and tripped["breaker_rejected"] >= 1, tripped
        assert "breaker" in cache.health().detail.decode()

        # Restarted on the same port: Redis is used again after the retry interval.
        server.start()
        time.sleep(0.7)
        deadline = time.monotonic() + 5
        while cache.health().l2_status != OK and time.monotonic() < deadline:
            time.sleep(0.1)
        assert cache.health().l2_status == OK
        assert cache.set("after-restart", "back", ttl=60) == OK
        assert redis.Redis.from_url(server.url).exists("t:default:after-restart") == 1
        # Half-open probes succeeded (success_threshold 3): the breaker closed again.
        for _ in range(3):
            cache.get("probe")
        recovered = cache.redis_stats()
        assert recovered["breaker_state"] == 0 and recovered["breaker_closed"] >= 1, recovered

        # Paused (SIGSTOP): the kernel still accepts connections, the server never answers.
        assert cache.set("before-pause", "kept", ttl=60) == OK
        os.kill(server.process.pid, signal.SIGSTOP)
        try:
            durations = []
            for i in range(6):
                (rc, _), elapsed = timed(cache.get, f"paused-{i}")
                assert rc == MISS
                durations.append(elapsed)
            # Each call waits at most one command timeout (plus a reconnect); after the failure
            # threshold the breaker answers at once.
            assert max(durations) < 1.0, durations
            assert min(durations[2:]) < 0.1, durations  # skipped: no 300 ms timeout
            assert cache.get("before-pause") == (OK, "kept")
            (rc, value), elapsed = timed(cache.get_or_compute, "computed-while-paused", lambda k: 99, 60)
            assert (rc, value) == (OK, 99) and elapsed < 1.0
            rc, elapsed = timed(cache.set, "set-while-paused", 5, 60)
            assert rc == OK and elapsed < 1.0
            h, elapsed = timed(cache.health)
            assert h.l2_status in REDIS_DOWN and elapsed < 1.0
            # Every other operation returns within the timeout too, L1 answering what it holds.
            (rc, values), elapsed = timed(cache.get_many, ["before-pause", "paused-x", "computed-while-paused"])
            assert rc == OK and values == ["kept", None, 99] and elapsed < 1.0
            rc, elapsed = timed(cache.exists, "paused-y")
            assert rc == MISS and elapsed < 1.0
            (rc, _), elapsed = timed(cache.invalidate_namespace, "paused")
            assert rc in REDIS_DOWN and elapsed < 1.0
        finally:
            os.kill(server.process.pid, signal.SIGCONT)
        time.sleep(0.7)
        deadline = time.monotonic() + 5
        while cache.health().l2_status != OK and time.monotonic() < deadline:
            time.sleep(0.1)
        assert cache.set("after-pause", "ok", ttl=60) == OK
        assert redis.Redis.from_url(server.url).get("t:default:after-pause") is not None
        assert cache.stats()["errors"] > stats["errors"]
    finally:
        server.cleanup()


def test_many_threads_compute_once_even_with_redis_down(make_cache):
    server = RedisServer().start()
    try:
        up = make_cache(redis_url=server.url, **FAST)
        down_port = free_port()
        down = make_cache(redis_url=f"redis://127.0.0.1:{down_port}/0", **FAST)
        for cache in (up, down):
            calls = []
            lock = threading.Lock()
            gate = threading.Barrier(16)

            def compute(key):
                with lock:
                    calls.append(key)
                time.sleep(0.3)
                return {"computed": key}

            results = []

            def worker():
                gate.wait()
                results.append(cache.get_or_compute("hot-key", compute, 60))

            threads = [threading.Thread(target=worker) for _ in range(16)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=10)
                assert not t.is_alive(), "a get_or_compute call hung"
            assert len(calls) == 1
            assert results == [(OK, {"computed": "hot-key"})] * 16
            stats = cache.stats()
            assert stats["computes"] == 1
            assert stats["coalesced"] + stats["hits"] >= 15

        # A failing callback: every waiter gets the failure, nothing is cached.
        def fails(key):
            raise RuntimeError("boom")
        assert up.get_or_compute("fails", fails, 60) == (E_COMPUTE_FAILED, None)
        assert up.exists("fails") == MISS
    finally:
        server.cleanup()


def test_configuration_from_cachekit_environment(lib, redis_url, monkeypatch):
    """cachekit_cache_new(NULL) reads cachekit-py's variables: CACHEKIT_REDIS_URL before REDIS_URL."""
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # unreachable: must lose to the next line
    monkeypatch.setenv("CACHEKIT_REDIS_URL", redis_url)
    monkeypatch.setenv("CACHEKIT_DEFAULT_TTL", "77")
    monkeypatch.setenv("CACHEKIT_MAX_VALUE_SIZE", "5000")
    monkeypatch.setenv("CACHEKIT_SOCKET_TIMEOUT", "0.5")
    monkeypatch.setenv("CACHEKIT_DEPLOYMENT_UUID", "123e4567-e89b-12d3-a456-426614174000")
    handle = ctypes.c_void_p()
    assert lib.cachekit_cache_new(None, ctypes.byref(handle)) == OK, last_message(lib)
    cache = Cache.__new__(Cache)
    cache.lib, cache.handle = lib, handle
    try:
        assert cache.set("k", "v") == OK  # default TTL from the environment
        client = redis.Redis.from_url(redis_url)
        key = "t:default:k"  # the deployment UUID selects the encryption tenant, not the key prefix
        assert 70 <= client.ttl(key) <= 77
        assert cache.set("big", os.urandom(6000)) == E_VALUE_TOO_LARGE
    finally:
        cache.close()
    # A bad value names the variable, never the value.
    monkeypatch.setenv("CACHEKIT_MASTER_KEY", "not-hex-" + "ab" * 32)
    assert lib.cachekit_cache_new(None, ctypes.byref(handle)) == -64
    message = last_message(lib)
    assert "CACHEKIT_MASTER_KEY" in message and "abab" not in message


def test_get_local_reads_l1_only_and_never_waits_on_redis(make_cache, redis_url):
    writer = make_cache(redis_url=redis_url)
    assert writer.set("shared", {"v": 1}, ttl=60) == OK
    reader = make_cache(redis_url=redis_url, command_timeout_ms=2000, connect_timeout_ms=2000)
    assert reader.get_local("shared") == (MISS, None)  # only in Redis: not looked up there
    assert reader.get("shared") == (OK, {"v": 1})      # fills L1
    assert reader.get_local("shared") == (OK, {"v": 1})
    stats = reader.stats()
    assert stats["l1_hits"] == 1 and stats["l2_hits"] == 1 and stats["misses"] == 0

    server = RedisServer().start()
    try:
        paused = make_cache(redis_url=server.url, command_timeout_ms=10_000, connect_timeout_ms=10_000)
        assert paused.set("held", "in L1", ttl=60) == OK
        os.kill(server.process.pid, signal.SIGSTOP)
        try:
            # A Redis read would wait out the 10 s command timeout; L1-only reads never touch it
            # (the bound is half the timeout, so a loaded machine cannot make this fail).
            (result, elapsed) = timed(paused.get_local, "held")
            assert result == (OK, "in L1") and elapsed < 5.0
            (result, elapsed) = timed(paused.get_local, "absent")
            assert result == (MISS, None) and elapsed < 5.0
        finally:
            os.kill(server.process.pid, signal.SIGCONT)
    finally:
        server.cleanup()
