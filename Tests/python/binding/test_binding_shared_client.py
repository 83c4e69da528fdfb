"""What the process shares among decorated functions, as cachekit-py shares it: one Redis client
(pool) and one subscriber connection per URL, counted with CLIENT LIST on a private redis-server;
one statistics tracker per module.qualname, so cache_info() across re-decoration, cache_clear()
and fork() equals the real cachekit 0.24.1's, run side by side; and a forked child's functions
working on connections of its own."""
import json
import os
import subprocess
import sys
import textwrap
import threading

import pytest

from support.abi import BINDINGS
from support.redis_server import RedisServer

from cachekit_native import cache


@pytest.fixture
def private_server():
    """A redis-server no other test's caches are connected to."""
    server = RedisServer().start()
    yield server
    server.cleanup()


def connections(server, *, subscribers: bool) -> int:
    """Clients other than the asking one, with (or without) a pub/sub subscription."""
    client = server.client()
    try:
        listed = [c for c in client.client_list() if c["id"] != str(client.client_id())]
        return sum(1 for c in listed if (int(c.get("sub", 0)) > 0 or int(c.get("psub", 0)) > 0) == subscribers)
    finally:
        client.close()


def test_five_functions_on_one_url_share_one_pool_and_one_subscriber(private_server, monkeypatch):
    pool_size = 2
    monkeypatch.setenv("CACHEKIT_CONNECTION_POOL_SIZE", str(pool_size))
    functions = []
    for index in range(5):
        def compute(value, index=index):
            return [index, value]
        compute.__name__ = compute.__qualname__ = f"shared_client_{index}"
        functions.append(cache(redis_url=private_server.url, ttl=300)(compute))

    for function in functions:  # one after another: one connection serves them all
        assert function(0) == [functions.index(function), 0]
    assert connections(private_server, subscribers=False) == 1
    assert connections(private_server, subscribers=True) == 1

    # At once from many threads: never more than pool_size connections (5 pools would open 5 or more).
    errors = []

    def hammer(offset):
        try:
            for value in range(offset, offset + 40):
                for function in functions:
                    function(value)
        except Exception as error:  # noqa: BLE001 (reported below)
            errors.append(error)

    threads = [threading.Thread(target=hammer, args=(100 * n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert 1 <= connections(private_server, subscribers=False) <= pool_size
    assert connections(private_server, subscribers=True) == 1
    stats = [function._cachekit_native.cache.redis_stats() for function in functions]
    assert all(s["pool_size"] == pool_size for s in stats)
    assert len({s["connections_opened"] for s in stats}) == 1  # one pool's counters, read five times


def test_the_collector_counts_a_shared_client_once(private_server):
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from cachekit_native import Cache, observability

    registry = CollectorRegistry()
    registry.register(observability.CachekitCollector())
    caches = [Cache(from_env=False, redis_url=private_server.url, metrics_namespace="svc") for _ in range(3)]
    try:
        for index, handle in enumerate(caches):
            handle.set(f"k{index}", b"\xa1v")
        samples = {(sample.name, sample.labels.get("event")): sample.value
                   for family in text_string_to_metric_families(generate_latest(registry).decode())
                   for sample in family.samples if sample.labels.get("namespace") == "svc"}
        assert samples[("cachekit_redis_pool_size", None)] == 50  # one pool, not three
        assert samples[("cachekit_redis_connections_total", "opened")] == 1
        assert samples[("cachekit_cache_sets_total", None)] == 3  # each cache's own, summed
    finally:
        for handle in caches:
            handle.close()


# The scenario both packages run: cache_info() of every wrapper after each step, in a fresh
# interpreter each (the module-level trackers start empty), a forked child's too.
SCENARIO = """
import json, os, sys
from {package} import cache

def f(x):
    return x * 2

def info(wrapper):
    i = wrapper.cache_info()
    return [i.hits, i.misses, i.l1_hits, i.l2_hits, i.last_operation_at is None, i.session_id.rsplit(":", 1)[-1]]

steps = []
a = cache(ttl=60)(f)
a(1); a(1); a(2)
steps.append(("a", info(a)))
b = cache(ttl=60)(f)               # decorated again: the same counts
steps.append(("b before a call", info(b)))
b(1); b(3)
steps.append(("a after b", info(a)))
b.cache_clear()                    # restarts every wrapper's counts
steps.append(("a after clear", info(a)))
a(1)
steps.append(("b after a", info(b)))
del a                              # a gone: its counts stay
import gc; gc.collect()
c = cache(ttl=30)(f)               # other options, the same function
c(1)
steps.append(("c", info(c)))
read, write = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(read)
    child = [("child before", info(c)), ("child value", c(5)), ("child after", info(c)), ("child b", info(b))]
    os.write(write, json.dumps(child).encode())
    os._exit(0)
os.close(write)
child = json.loads(os.read(read, 65536).decode())
os.waitpid(pid, 0)
steps += [tuple(step) for step in child]
steps.append(("parent after fork", info(b)))
print("STEPS " + json.dumps(steps))
"""


def run_scenario(package: str, redis_url: str) -> list:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CACHEKIT_") or k == "CACHEKIT_LIBRARY_PATH"}
    env["REDIS_URL"] = redis_url
    if package == "cachekit_native":
        env["PYTHONPATH"] = str(BINDINGS)
    else:
        env.pop("PYTHONPATH", None)
    script = textwrap.dedent(SCENARIO).replace("{package}", package)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120, cwd="/")
    for line in done.stdout.splitlines():
        if line.startswith("STEPS "):
            return json.loads(line[len("STEPS "):])
    raise AssertionError(f"{package} scenario failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr[-3000:]}")


def test_cache_info_across_redecoration_clear_and_fork_equals_cachekit_py(private_server):
    client = private_server.client()
    client.flushall()
    theirs = run_scenario("cachekit", private_server.url)
    client.flushall()
    ours = run_scenario("cachekit_native", private_server.url)
    client.close()
    assert ours == theirs
    # What cachekit-py does, spelled out: the second decoration continues the first's counts...
    steps = dict((name, value) for name, value in theirs)
    assert steps["b before a call"] == steps["a"] and steps["a"][:4] == [1, 2, 1, 0]
    # ...cache_clear() on one restarts both, and a forked child starts again at zero.
    assert steps["a after clear"][:5] == [0, 0, 0, 0, True] and steps["a after clear"][5].endswith("#1")
    assert steps["child before"][:5] == [0, 0, 0, 0, True]


def test_a_forked_child_works_on_fresh_connections(private_server):
    function = cache(redis_url=private_server.url, ttl=300)(lambda x: [x, os.getpid()])
    first = function(1)
    parent_stats = function._cachekit_native.cache.redis_stats()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read)
            report = {"inherited": function(1) == first, "new": function(2)[1] == os.getpid()}
            report["redis"] = function._cachekit_native.cache.redis_stats()
            report["info"] = list(function.cache_info()[:4])
            os.write(write, json.dumps(report).encode())
        finally:
            os._exit(0)
    os.close(write)
    report = json.loads(os.read(read, 65536).decode())
    os.waitpid(pid, 0)
    assert report["inherited"] and report["new"]  # a hit from Redis, then a miss stored
    assert report["info"] == [1, 1, 0, 1]
    # The child's cache is on the process's shared client, whose pool let the parent's
    # connection go and opened its own.
    assert report["redis"]["connections_opened"] >= 1
    assert report["redis"]["connections_abandoned"] >= 1
    assert function(2)[1] == pid  # the parent reads what the child stored, on its own connection
    assert function._cachekit_native.cache.redis_stats()["connections_opened"] == parent_stats["connections_opened"]
