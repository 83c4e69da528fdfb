"""Every Redis path of the cache through a fault-injecting proxy (support/fault_proxy.py) in front
of a real redis-server, under each fault in each direction. The promise checked: each call
returns within a bound derived from the 200 ms timeouts (correctness, not a benchmark) with the
right status (reads miss, writes land in L1, calls about Redis report a backend status), L1 keeps
serving, and once the fault is lifted every write Redis acknowledged is there with its value and
no read returns another key's value (a duplicated reply must not answer a later command)."""
import ctypes

import msgpack
import pytest
import redis

from support.abi import MISS, OK
from support.cache import timed
from support.fault_proxy import DIRECTIONS, FaultProxy
from support.redis_server import wait_until
from cachekit_native._ffi import ListenerStats

E_BACKEND_UNAVAILABLE, E_BACKEND_TIMEOUT, E_BACKEND_ERROR = -60, -61, -62
BACKEND_STATUSES = {E_BACKEND_UNAVAILABLE, E_BACKEND_TIMEOUT, E_BACKEND_ERROR}
# No breaker, so every call meets the fault instead of being skipped.
TIMEOUTS = dict(connect_timeout_ms=200, command_timeout_ms=200, pool_timeout_ms=200, circuit_breaker=0)
# backpressure 100 + pool 200 + connect 200 + command 200 ms, twice for the stale-connection retry,
# plus a wide margin for a loaded machine.
CALL_BOUND_S = 2.5
PREFIX = "t:default:"
REGISTRY = "ck:reg::00112233aabbccdd"

# name: (fault, parameters); every one of them fails a round trip against 200 ms timeouts,
# except a duplicated reply, which must be answered correctly or not at all.
FAULTS = {
    "delay": ("delay", {"seconds": 0.6}),
    "drip": ("drip", {"interval": 0.1}),
    "truncate": ("truncate", {}),
    "reset": ("reset", {}),
    "duplicate": ("duplicate", {}),
    "blackhole": ("blackhole", {}),
}
REMOTE_KEYS = [f"remote:{index}" for index in range(6)]


def value_of(key: str) -> dict:
    return {"key": key, "payload": key * 3}


class Scenario:
    """A cache through the proxy, a checker straight on Redis (no L1), and the record of what the
    cache reported while the fault was on."""

    def __init__(self, make_cache, redis_url, proxy):
        self.proxy = proxy
        self.cache = make_cache(redis_url=proxy.url(), **TIMEOUTS)
        self.checker = make_cache(redis_url=redis_url, l1_max_bytes=0)
        self.acknowledged = {}  # key: value Redis acknowledged (no error counted for the write)
        self.written = {}       # every key the cache wrote, with its value
        self.lib = self.cache.lib

    def call(self, what, function, *args):
        result, elapsed = timed(function, *args)
        assert elapsed < CALL_BOUND_S, f"{what} took {elapsed:.2f} s under the fault"
        return result

    def write(self, key):
        errors = self.cache.stats()["errors"]
        assert self.call(f"set {key}", self.cache.set, key, value_of(key), 300) == OK  # fail-open
        self.written[key] = value_of(key)
        if self.cache.stats()["errors"] == errors:
            self.acknowledged[key] = value_of(key)


def check_read(rc, value, key, faulted):
    if faulted:
        assert (rc, value) == (MISS, None), (key, rc)
    else:
        assert (rc, value) in [(MISS, None), (OK, value_of(key))], (key, rc, value)


def run_every_path(s: Scenario, faulted: bool):
    """Each Redis path once, with the fault on; `faulted`: every round trip must fail."""
    cache, lib = s.cache, s.lib
    # Reads of entries only Redis holds: misses (fail-open), never another key's value.
    for key in REMOTE_KEYS[:2]:
        rc, value = s.call(f"get {key}", cache.get, key)
        check_read(rc, value, key, faulted)
    rc, values = s.call("get_many", cache.get_many, REMOTE_KEYS[2:5])
    assert rc == OK
    for key, value in zip(REMOTE_KEYS[2:5], values):
        check_read(OK if value is not None else MISS, value, key, faulted)
    # L1 keeps serving what it holds.
    assert s.call("get of an L1 entry", cache.get, "warm") == (OK, value_of("warm"))

    # Writes land in L1 whatever Redis does.
    s.write("during")
    assert cache.get_local("during") == (OK, value_of("during"))
    set_tracked = lib.cachekit_cache_set_tracked
    doc = msgpack.packb(value_of("tracked"))
    assert s.call("set_tracked", set_tracked, cache.handle, REGISTRY.encode(), b"tracked", 7, doc, len(doc), 300) == OK
    s.written["tracked"] = value_of("tracked")
    assert cache.get_local("tracked") == (OK, value_of("tracked"))

    # Calls about Redis report a backend status under the fault; L1 is cleared regardless.
    statuses = {}
    statuses["delete"] = s.call("delete", cache.delete, "doomed")
    assert cache.get_local("doomed") == (MISS, None)
    statuses["invalidate_namespace"], _ = s.call("invalidate_namespace", cache.invalidate_namespace, "users")
    assert cache.get_local("ns:users:a") == (MISS, None)
    for key in ("doomed", "ns:users:a"):  # Redis may have removed them, even when the reply was lost
        s.acknowledged.pop(key)
        s.written.pop(key)
    statuses["track_key"] = s.call("track_key", lib.cachekit_cache_track_key, cache.handle, REGISTRY.encode(),
                                   b"warm", 4)
    statuses["publish"] = s.call("publish", lib.cachekit_cache_publish_invalidation, cache.handle,
                                 REGISTRY.encode(), b"gone", 4)
    removed = ctypes.c_uint64()
    statuses["drain_registry"] = s.call("drain_registry", lib.cachekit_cache_drain_registry, cache.handle,
                                        b"ck:reg::ffeeddccbbaa9988", None, None, 0, ctypes.byref(removed))
    statuses["health"] = s.call("health", cache.health).l2_status
    allowed = BACKEND_STATUSES if faulted else BACKEND_STATUSES | {OK}
    wrong = {name: rc for name, rc in statuses.items() if rc not in allowed}
    assert not wrong, f"statuses outside {sorted(allowed)}: {wrong}"


def check_after_the_fault(s: Scenario):
    """Fault lifted: what Redis acknowledged is there with its value, nothing holds another key's
    value, and the cache's own reads through the proxy (its pooled connections) are right."""
    s.proxy.clear()
    for key, value in s.acknowledged.items():
        assert s.checker.get(key) == (OK, value), f"{key}: acknowledged by Redis, then lost"
    for key, value in s.written.items():
        assert s.checker.get(key) in [(OK, value), (MISS, None)], key
    for key in REMOTE_KEYS:  # each read on whichever pooled connection comes: no stale reply
        assert s.cache.get_local(key) in [(MISS, None), (OK, value_of(key))]
        rc, value = s.cache.get(key)
        assert (rc, value) == (OK, value_of(key)), (key, rc, value)
    rc, values = s.cache.get_many(REMOTE_KEYS[::-1])
    assert (rc, values) == (OK, [value_of(key) for key in REMOTE_KEYS[::-1]])
    assert s.cache.health().l2_status == OK
    s.write("after")
    assert s.checker.get("after") == (OK, value_of("after"))


@pytest.fixture
def proxy(redis_url, redis_server):
    with FaultProxy(redis_server.port) as running:
        yield running


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("fault", list(FAULTS))
def test_every_redis_path_keeps_its_promise_under_the_fault(make_cache, redis_url, proxy, fault, direction):
    s = Scenario(make_cache, redis_url, proxy)
    for key in REMOTE_KEYS:
        assert s.checker.set(key, value_of(key), 300) == OK
    for key in ("warm", "doomed", "ns:users:a"):
        s.write(key)
    assert s.acknowledged.keys() == {"warm", "doomed", "ns:users:a"}  # the proxy passes clean traffic
    name, parameters = FAULTS[fault]
    proxy.inject(direction, name, **parameters)
    run_every_path(s, faulted=fault != "duplicate")
    assert proxy.fault_count(direction) > 0, "the fault never met any traffic"
    check_after_the_fault(s)


CHANNEL = "cachekit:py:invalidate:v1"
LISTENER_BOUND_S = 10.0  # reconnect and resubscribe: the listener's 1000 ms connect cap, with a wide margin


def listener_stats(cache):
    stats = ListenerStats()
    assert cache.lib.cachekit_cache_listener_stats(cache.handle, ctypes.byref(stats)) == OK
    return stats


@pytest.mark.parametrize("fault", ["truncate", "reset", "duplicate"])
def test_the_listener_survives_a_fault_on_its_subscription(make_cache, redis_url, proxy, fault):
    """A message that meets the fault may be lost (pub/sub delivers at most once); the listener
    then resubscribes, and an event published after the fault is lifted drops the L1 copy.
    l1_tracking is off: with it, the resubscription flushes L1 (test_abi_l1_tracking.py)."""
    cache = make_cache(redis_url=proxy.url(), invalidation_listener=1, l1_tracking=0, **TIMEOUTS)
    publisher = redis.Redis.from_url(redis_url)
    wait_until(lambda: listener_stats(cache).subscribed, LISTENER_BOUND_S, "the listener subscribed")
    assert cache.set("held", value_of("held"), 300) == OK
    proxy.inject("down", fault)
    publisher.publish(CHANNEL, msgpack.packb({"r": REGISTRY, "k": "unrelated"}))
    wait_until(lambda: proxy.fault_count("down") > 0, LISTENER_BOUND_S, "the fault met the pushed message")
    assert cache.get_local("held") == (OK, value_of("held"))  # L1 keeps serving meanwhile
    proxy.clear()

    def dropped():
        publisher.publish(CHANNEL, msgpack.packb({"r": REGISTRY, "k": "held"}))
        return cache.get_local("held") == (MISS, None)
    wait_until(dropped, LISTENER_BOUND_S, "an event after the fault reached L1", interval=0.2)
    stats = listener_stats(cache)
    assert stats.running == 1 and stats.dropped == 0, (stats.running, stats.dropped)
    if fault != "duplicate":
        assert stats.resubscriptions >= 1
    publisher.close()
