"""The opt-in invalidation listener (invalidation_listener / CACHEKIT_INVALIDATION_LISTENER_ENABLED),
one subscriber connection per process (shared with l1_tracking):
events from cachekit-py 0.24.1 and from another libcachekit cache drop this cache's L1 copies;
malformed events are dropped; a restarted Redis is subscribed to again; freeing the cache stops the
thread promptly, also with Redis paused; and nothing subscribes by default.

Each test runs its own redis-server, since some stop, pause or restart it. Waits poll with generous
deadlines; nothing asserts on a fixed sleep."""
import os
import signal
import time

import msgpack
import pytest
import redis
from cachekit.invalidation import CHANNEL

from support.peer import run_peer, shared
from support.redis_server import RedisServer

from cachekit_native import Cache, cache

RID = "ck:reg::00112233aabbccdd"
VALUE = b"\xa1v"  # a MessagePack document, as the cache requires


def wait_until(predicate, timeout=5.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture
def server():
    instance = RedisServer().start()
    yield instance
    if instance.process is not None:
        try:
            os.kill(instance.process.pid, signal.SIGCONT)  # in case a test left it paused
        except ProcessLookupError:
            pass
    instance.cleanup()


def subscribers(url):
    client = redis.Redis.from_url(url)
    try:
        return client.pubsub_numsub(CHANNEL)[0][1]
    finally:
        client.close()


def listening(url, **options):
    """A cache with the listener on, returned once Redis has confirmed its subscription."""
    handle = Cache(from_env=False, redis_url=url, invalidation_listener="1", **options)
    wait_until(lambda: handle.listener_stats()["subscribed"] == 1, what="the listener's subscription")
    return handle


def in_l1(handle, key):
    return handle.get_local(key) is not None


def test_cachekit_py_invalidate_cache_evicts_our_l1(server, monkeypatch):
    # The decorator builds its cache from the environment: the variable alone turns the listener on.
    monkeypatch.setenv("CACHEKIT_INVALIDATION_LISTENER_ENABLED", "true")
    calls = []

    def get_user(user_id):
        calls.append(user_id)
        return {"id": user_id}
    function = cache(redis_url=server.url, ttl=300)(shared(get_user))
    for user_id in (1, 2, 3):
        function(user_id)
    state = function._cachekit_native
    handle = state.cache
    keys = {user_id: state.key((user_id,), {}) for user_id in (1, 2, 3)}
    wait_until(lambda: handle.listener_stats()["subscribed"] == 1, what="the listener's subscription")
    assert subscribers(server.url) == 1
    assert all(in_l1(handle, key) for key in keys.values())

    # cachekit-py, in its own process, invalidates one call: {"r", "k"}.
    run_peer(server.url, """
def get_user(user_id):
    return {"id": user_id}
get_user = cache(ttl=300)(shared(get_user))
get_user.invalidate_cache(1)
out = {}
""")
    wait_until(lambda: not in_l1(handle, keys[1]), what="key 1 to leave L1")
    assert in_l1(handle, keys[2]) and in_l1(handle, keys[3])  # only the named key

    # ... then the whole function: {"r"}.
    run_peer(server.url, """
def get_user(user_id):
    return {"id": user_id}
get_user = cache(ttl=300)(shared(get_user))
get_user.invalidate_cache()
out = {}
""")
    wait_until(lambda: not in_l1(handle, keys[2]) and not in_l1(handle, keys[3]), what="the function's keys to leave L1")
    stats = handle.listener_stats()
    assert stats["applied"] >= 2 and stats["dropped"] == 0
    calls.clear()
    function(2)
    assert calls == [2]  # recomputed: Redis and L1 both lost it


def test_one_cache_publishes_and_the_others_l1_drops_the_key(server):
    with Cache(from_env=False, redis_url=server.url) as publisher, listening(server.url) as listener:
        listener.set_tracked(RID, "func:m.f:args:a:1s", VALUE)
        listener.set_tracked(RID, "func:m.f:args:b:1s", VALUE)
        listener.set("func:m.g:args:untracked", VALUE)
        listener.set_tracked("ck:reg::ffffffffffffffff", "func:m.h:args:c:1s", VALUE)
        assert publisher.publish_invalidation(RID, "func:m.f:args:a:1s") is True
        wait_until(lambda: not in_l1(listener, "func:m.f:args:a:1s"), what="the key event")
        assert in_l1(listener, "func:m.f:args:b:1s")
        assert publisher.publish_invalidation(RID) is True
        wait_until(lambda: not in_l1(listener, "func:m.f:args:b:1s"), what="the whole-function event")
        # Keys of other registries, and keys never tracked, stay.
        assert in_l1(listener, "func:m.g:args:untracked") and in_l1(listener, "func:m.h:args:c:1s")
        assert listener.listener_stats()["applied"] == 2
        assert publisher.listener_stats() == {"running": 0, "subscribed": 0, "received": 0, "applied": 0,
                                              "dropped": 0, "resubscriptions": 0}


def test_malformed_and_oversized_events_are_dropped_and_the_listener_keeps_working(server):
    key = "func:m.f:args:a:1s"
    client = redis.Redis.from_url(server.url)
    bad = [
        b"",
        b"\xc1",                                               # never-used byte
        b"\x91\x01",                                           # an array
        msgpack.packb({"r": 1, "k": key}),                     # registry id not a string
        msgpack.packb({"k": key}),                             # no registry id
        msgpack.packb({"r": RID, "k": key.encode()}),          # key as bin
        msgpack.packb({"r": RID, "k": [key]}),                 # key in an array
        msgpack.packb({"r": RID, "k": 7}),                     # key not a string
        msgpack.packb({"r": RID, "k": key, "a": 1, "b": 2, "c": 3}),  # 5 entries
        msgpack.packb({"r": RID, "k": key}) + b"\x00",         # trailing bytes
        msgpack.packb({"r": "ck:reg:" + "x" * 1100, "k": key}),  # field over 1024 bytes
        msgpack.packb({"r": RID, "k": key, "x": "y" * 1020}) + b"\x00" * 4000,  # over 4096 bytes
        b"\x82\xa1r" + msgpack.packb(RID) + b"\xa1k\xa2\xff\xfe",  # key not UTF-8
        b"\x82\xa1r" + msgpack.packb(RID) + b"\xa1k\xdb\xff\xff\xff\xff",  # a length past the end
        b"\x81" * 4000,                                        # deep nesting
    ]
    with Cache(from_env=False, redis_url=server.url) as writer, listening(server.url) as listener:
        listener.set_tracked(RID, key, VALUE)
        for payload in bad:
            assert client.publish(CHANNEL, payload) == 1
        wait_until(lambda: listener.listener_stats()["dropped"] == len(bad), what="every bad event to be dropped")
        assert in_l1(listener, key)
        stats = listener.listener_stats()
        assert stats["applied"] == 0 and stats["received"] == len(bad) and stats["subscribed"] == 1
        # An unknown scalar field is allowed, as cachekit-py's decoder allows it.
        client.publish(CHANNEL, msgpack.packb({"r": RID, "k": key, "v": 2}))
        wait_until(lambda: not in_l1(listener, key), what="the good event after the bad ones")
        assert listener.listener_stats()["applied"] == 1
        writer.set("other", VALUE)
    client.close()


def test_restarted_redis_is_subscribed_to_again(server):
    key = "func:m.f:args:a:1s"
    with listening(server.url) as listener:
        server.stop()
        wait_until(lambda: listener.listener_stats()["subscribed"] == 0, what="the listener to notice")
        server.start()
        wait_until(lambda: listener.listener_stats()["subscribed"] == 1, timeout=15, what="the resubscription")
        assert listener.listener_stats()["resubscriptions"] >= 1
        assert subscribers(server.url) == 1
        listener.set_tracked(RID, key, VALUE)
        assert in_l1(listener, key)
        with Cache(from_env=False, redis_url=server.url) as publisher:
            assert publisher.publish_invalidation(RID, key) is True
        wait_until(lambda: not in_l1(listener, key), what="an event after the restart")


def test_listener_authenticates_and_selects_as_the_url_says(server):
    client = redis.Redis.from_url(server.url)
    client.config_set("requirepass", "s3cret")
    client.close()
    url = f"redis://:s3cret@127.0.0.1:{server.port}/3"
    key = "func:m.f:args:a:1s"
    with listening(url) as listener, Cache(from_env=False, redis_url=url) as publisher:
        listener.set_tracked(RID, key, VALUE)
        assert redis.Redis.from_url(url).get(f"t:default:{key}") is not None  # db 3, authenticated
        assert publisher.publish_invalidation(RID) is True
        wait_until(lambda: not in_l1(listener, key), what="the event over an authenticated connection")
    with Cache(from_env=False, redis_url=f"redis://:wrong@127.0.0.1:{server.port}/0",
               invalidation_listener="1") as refused:
        # AUTH refused: the listener keeps retrying, never subscribed, and still stops promptly.
        wait_until(lambda: refused.listener_stats()["running"] == 1, what="the listener thread")
        assert refused.listener_stats()["subscribed"] == 0
        assert closes_within(refused, 3.0)


def closes_within(handle, seconds):
    start = time.monotonic()
    handle.close()
    return time.monotonic() - start < seconds  # a bound on a hang, not a speed claim


def test_free_stops_the_listener_promptly(server):
    handle = listening(server.url)
    assert closes_within(handle, 3.0)
    wait_until(lambda: subscribers(server.url) == 0, what="the subscription to close")


def test_free_stops_the_listener_promptly_while_redis_is_paused(server):
    subscribed = listening(server.url)
    os.kill(server.process.pid, signal.SIGSTOP)
    try:
        assert closes_within(subscribed, 3.0)
        # A listener that connects to a paused server waits for the handshake: still prompt.
        connecting = Cache(from_env=False, redis_url=server.url, invalidation_listener="1")
        wait_until(lambda: connecting.listener_stats()["running"] == 1, what="the listener thread")
        time.sleep(0.5)  # long enough for the thread to connect and wait for the SUBSCRIBE reply
        assert connecting.listener_stats()["subscribed"] == 0
        assert closes_within(connecting, 3.0)
    finally:
        os.kill(server.process.pid, signal.SIGCONT)


def test_listener_off_by_default_opens_no_subscriber_connection(server, monkeypatch):
    monkeypatch.delenv("CACHEKIT_INVALIDATION_LISTENER_ENABLED", raising=False)
    client = redis.Redis.from_url(server.url)
    with Cache(from_env=True, redis_url=server.url) as handle, \
            Cache(from_env=False, redis_url=server.url, invalidation_listener="0") as off:
        handle.set("k", VALUE)
        off.set("k2", VALUE)
        assert handle.get("k") == VALUE and off.get("k2") == VALUE
        assert handle.listener_stats()["running"] == 0 and off.listener_stats()["running"] == 0
        assert client.pubsub_numsub(CHANNEL)[0][1] == 0
        # l1_tracking (on by default) shares one subscriber connection, on Redis's channel only.
        assert client.pubsub_channels() == [b"__redis__:invalidate"]
        assert sum(1 for c in client.client_list() if int(c.get("sub", 0)) > 0) == 1
        # The same with it on: still exactly one subscriber connection, now on both channels.
        with listening(server.url):
            assert client.pubsub_numsub(CHANNEL)[0][1] == 1
            assert sum(1 for c in client.client_list() if int(c.get("sub", 0)) > 0) == 1
    client.close()


def test_five_decorated_functions_share_one_subscriber_and_each_gets_the_events(server, monkeypatch):
    """The decorator makes one cache per function; the process still holds one subscriber
    connection (it was one per function), and a whole-function event from cachekit-py reaches
    the function it names, a write by another client reaches every function's L1."""
    monkeypatch.setenv("CACHEKIT_INVALIDATION_LISTENER_ENABLED", "true")
    functions = []
    for index in range(5):
        def compute(user_id, index=index):
            return {"id": user_id, "function": index}
        compute.__name__ = compute.__qualname__ = f"function_{index}"
        functions.append(cache(redis_url=server.url, ttl=300)(compute))
    for function in functions:
        function(1)
    handles = [function._cachekit_native.cache for function in functions]
    wait_until(lambda: all(h.listener_stats()["subscribed"] == 1 for h in handles), what="the subscriptions")
    client = redis.Redis.from_url(server.url)
    try:
        assert sum(1 for c in client.client_list() if int(c.get("sub", 0)) > 0) == 1
        assert subscribers(server.url) == 1
        keys = [function._cachekit_native.key((1,), {}) for function in functions]
        assert all(in_l1(h, key) for h, key in zip(handles, keys))
        # Another client rewrites every function's entry for user 1: each L1 copy goes.
        stored = {key: next(k for k in client.keys() if k.endswith(key)) for key in keys}  # prefix + key
        for redis_key in stored.values():
            client.set(redis_key, client.get(redis_key), ex=300)
        wait_until(lambda: not any(in_l1(h, key) for h, key in zip(handles, keys)), what="every L1 copy dropped")
    finally:
        client.close()
