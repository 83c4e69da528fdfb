"""cachekit-py 0.24.1's per-function key registry, live: both SDKs record what they write in the
same tracking set, either SDK's no-argument invalidate_cache() removes every process's entries, and
cachekit_native's invalidation events evict cachekit-py's L1 copies through its listener."""
import asyncio
import json
import os
import subprocess
import sys
import textwrap

import msgpack
import pytest
import redis
from blake3 import blake3
from cachekit.invalidation import CHANNEL, encode_event

from support.peer import PEER_PRELUDE, SHARED_MODULE, run_peer, shared

from cachekit_native import Cache, ConfigurationError, cache

PY_DECORATORS = {None: "cache(ttl=300)", "users": "cache(ttl=300, namespace='users')"}


def registry_id(namespace=None, qualname="get_user"):
    digest = blake3(f"{SHARED_MODULE}.{qualname}".encode()).hexdigest()[:16]
    return f"ck:reg:{namespace or ''}:{digest}"


def native_function(redis_url, calls, namespace=None, is_async=False):
    options = {"redis_url": redis_url, "ttl": 300}
    if namespace:
        options["namespace"] = namespace
    if is_async:
        async def get_user(user_id):
            calls.append(user_id)
            return {"id": user_id}
    else:
        def get_user(user_id):
            calls.append(user_id)
            return {"id": user_id}
    return cache(**options)(shared(get_user))


def peer(redis_url, decorator, calls_before=(), invalidate=False, user_ids=()):
    """cachekit-py in a fresh process: optionally invalidate_cache() first, then call for user_ids."""
    return run_peer(redis_url, f"""
def get_user(user_id):
    calls.append(user_id)
    return {{"id": user_id}}
get_user = {decorator}(shared(get_user))
for user_id in {list(calls_before)!r}:
    get_user(user_id)
if {invalidate!r}:
    get_user.invalidate_cache()
calls.clear()
results = [get_user(u) for u in {list(user_ids)!r}]
out = {{"calls": calls, "results": results}}
""")


def entry_keys(client):
    return sorted(key for key in client.keys("t:default:*") if b":ck:reg:" not in key)


@pytest.mark.parametrize("namespace", [None, "users"], ids=["no-namespace", "namespace"])
def test_both_sdks_record_writes_in_one_registry_set_with_cachekit_pys_name_and_ttl(redis_url, namespace):
    client = redis.Redis.from_url(redis_url)
    function = native_function(redis_url, [], namespace)
    function(1), function(2)
    peer(redis_url, PY_DECORATORS[namespace], user_ids=[3])
    sets = client.keys("*ck:reg:*")
    assert sets == [f"t:default:{registry_id(namespace)}".encode()]
    members = client.smembers(sets[0])
    # Members are the raw cache keys: the entries without the t:default: prefix, from both SDKs.
    assert members == {key[len(b"t:default:"):] for key in entry_keys(client)}
    assert len(members) == 3
    assert 604_790 <= client.ttl(sets[0]) <= 604_800


def test_native_invalidate_cache_removes_entries_cachekit_py_wrote_in_another_process(redis_url):
    client = redis.Redis.from_url(redis_url)
    written = peer(redis_url, PY_DECORATORS[None], user_ids=[11, 12])
    assert written["calls"] == [11, 12]
    calls = []
    function = native_function(redis_url, calls)
    function(13)
    assert function(11) == {"id": 11} and calls == [13]  # the peer's entry is a hit
    function.invalidate_cache()
    assert entry_keys(client) == [] and client.keys("*ck:reg:*") == []
    # cachekit-py recomputes every one, including the ones only it wrote.
    assert peer(redis_url, PY_DECORATORS[None], user_ids=[11, 12, 13])["calls"] == [11, 12, 13]


def test_cachekit_py_invalidate_cache_removes_entries_cachekit_native_wrote(redis_url):
    client = redis.Redis.from_url(redis_url)
    calls = []
    function = native_function(redis_url, calls)
    function(21), function(22)
    assert len(entry_keys(client)) == 2
    # A fresh cachekit-py process that never wrote these keys: only the registry can reach them.
    result = peer(redis_url, PY_DECORATORS[None], invalidate=True, user_ids=[21, 22])
    assert result["calls"] == [21, 22]
    client.delete(*entry_keys(client))  # what the peer's recomputation stored
    fresh_calls = []
    fresh = native_function(redis_url, fresh_calls)  # a new cache: an empty L1
    fresh(21), fresh(22)
    assert fresh_calls == [21, 22]


def test_async_invalidate_cache_drains_the_registry(redis_url):
    client = redis.Redis.from_url(redis_url)
    peer(redis_url, PY_DECORATORS["users"], user_ids=[31])
    calls = []
    function = native_function(redis_url, calls, "users", is_async=True)

    async def scenario():
        await function(32)
        await function.invalidate_cache()
    asyncio.run(scenario())
    assert entry_keys(client) == [] and client.keys("*ck:reg:*") == []
    assert peer(redis_url, PY_DECORATORS["users"], user_ids=[31, 32])["calls"] == [31, 32]


def test_interop_mode_keeps_no_registry_like_cachekit_pys_bare_backend(redis_url):
    client = redis.Redis.from_url(redis_url)

    def get_user(user_id):
        return {"id": user_id}
    function = cache(redis_url=redis_url, interop="get_user", namespace="users")(shared(get_user))
    function(41)
    assert client.keys("*ck:reg:*") == []
    function.invalidate_cache()
    assert client.keys("*") == []


def test_the_ck_namespace_is_reserved_as_in_cachekit_py():
    for namespace in ("ck", "ck:reg"):
        with pytest.raises(ConfigurationError, match="reserved"):
            cache(namespace=namespace, redis_url="redis://127.0.0.1:1")


def test_published_events_are_byte_identical_to_cachekit_pys(redis_url):
    client = redis.Redis.from_url(redis_url)
    subscriber = client.pubsub()
    subscriber.subscribe(CHANNEL)
    assert subscriber.get_message(timeout=5)["type"] == "subscribe"
    rid = registry_id("users")
    keys = [None, "func:m.f:args:ab:1s", "k" * 40, "鍵" * 100, "x" * 1024, "x" * 1025, "鍵" * 400]
    with Cache(from_env=False, redis_url=redis_url) as handle:
        for key in keys:
            assert handle.publish_invalidation(rid, key) is True
            message = subscriber.get_message(timeout=5)
            assert message["type"] == "message" and message["channel"] == CHANNEL.encode()
            assert message["data"] == encode_event(rid, key)
        # Over 1024 bytes no receiver accepts the id: nothing is published, as cachekit-py.
        long_id = "ck:reg:" + "n" * 1024 + ":00ff"
        assert encode_event(long_id, None) is None
        assert handle.publish_invalidation(long_id) is False
        assert subscriber.get_message(timeout=0.3) is None
    assert msgpack.unpackb(encode_event(rid, "鍵" * 400)) == {"r": rid}  # the widened event
    subscriber.close()


def test_drain_reaches_members_local_keys_and_stays_within_the_prefix(redis_url):
    client = redis.Redis.from_url(redis_url)
    rid = registry_id(qualname="many")
    with Cache(from_env=False, redis_url=redis_url) as handle:
        members = [f"func:m.many:args:{i}:1s" for i in range(10_050)]  # more than one drain chunk
        client.sadd(f"t:default:{rid}", *members)
        client.mset({f"t:default:{member}": b"x" for member in members})
        client.set(members[0], b"outside the prefix")
        handle.set("func:m.many:args:local:1s", b"\xa1v")  # untracked: reached as a local key
        assert handle.drain_registry(rid, ["func:m.many:args:local:1s", members[1]]) == 10_051
    assert client.keys("t:default:*") == []
    assert client.get(members[0]) == b"outside the prefix"  # a member never names a key outside t:default:


def test_cache_level_tracking_calls(redis_url):
    client = redis.Redis.from_url(redis_url)
    rid = registry_id(qualname="direct")
    with Cache(from_env=False, redis_url=redis_url) as handle:
        assert handle.track_key(rid, "func:m.direct:args:a:1s") is True
        handle.set_tracked(rid, "func:m.direct:args:b:1s", b"\xa1v", ttl=30)
        assert client.get("t:default:func:m.direct:args:b:1s") is not None
        assert 25 <= client.ttl("t:default:func:m.direct:args:b:1s") <= 30
        assert client.smembers(f"t:default:{rid}") == {b"func:m.direct:args:a:1s", b"func:m.direct:args:b:1s"}
        assert 604_790 <= client.ttl(f"t:default:{rid}") <= 604_800
        with pytest.raises(ValueError):
            handle.track_key("t:default:other", "func:m.direct:args:a:1s")
    with Cache(from_env=False, redis_url="") as local:
        assert local.track_key(rid, "func:m.direct:args:a:1s") is False
        assert local.publish_invalidation(rid) is False


LISTENER_PEER = PEER_PRELUDE + textwrap.dedent("""
    import time as clock  # the prelude's time is datetime.time

    def get_user(user_id):
        calls.append(user_id)
        return {"id": user_id}
    get_user = cache(ttl=300)(shared(get_user))

    def recomputes(user_id, seconds=5.0):
        # An L1 hit costs no call; the first call after an eviction recomputes.
        deadline = clock.monotonic() + seconds
        while clock.monotonic() < deadline:
            before = len(calls)
            get_user(user_id)
            if len(calls) > before:
                return True
            clock.sleep(0.02)
        return False

    def step(payload):
        print(json.dumps(payload), flush=True)
        return sys.stdin.readline().strip()

    for user_id in (1, 2, 3):
        get_user(user_id)
    step({"ready": calls[:]})
    evicted_key = recomputes(1)
    before = len(calls)
    get_user(3)
    control = len(calls) == before
    step({"key_event": evicted_key, "control_kept": control})
    out = {"whole_event": recomputes(2) and recomputes(3, 0.5)}
    print(json.dumps(out), flush=True)
""")


def test_cachekit_native_events_evict_cachekit_pys_l1_through_its_listener(redis_url):
    client = redis.Redis.from_url(redis_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CACHEKIT_")}
    env.pop("PYTHONPATH", None)
    env.update(REDIS_URL=redis_url, CACHEKIT_INVALIDATION_LISTENER_ENABLED="true")
    process = subprocess.Popen([sys.executable, "-c", LISTENER_PEER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env, cwd="/")

    def reply():
        line = process.stdout.readline()
        if not line:
            process.kill()
            raise AssertionError(f"cachekit-py peer failed: {process.stderr.read()}")
        return json.loads(line)
    try:
        assert reply() == {"ready": [1, 2, 3]}
        assert client.pubsub_numsub(CHANNEL)[0][1] == 1  # the peer's listener is subscribed
        calls = []
        function = native_function(redis_url, calls)
        # The peer holds 1 and 3 in L1; Redis loses 3 without an event (the control stays an L1 hit).
        assert client.delete(b"t:default:" + function._cachekit_native.key((3,), {})) == 1
        assert function.invalidate_cache(1).value == "succeeded"  # announces {"r", "k"}
        process.stdin.write("go\n")
        process.stdin.flush()
        assert reply() == {"key_event": True, "control_kept": True}
        function.invalidate_cache()  # drains and announces {"r"}: every key of the function
        process.stdin.write("go\n")
        process.stdin.flush()
        assert reply() == {"whole_event": True}
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
