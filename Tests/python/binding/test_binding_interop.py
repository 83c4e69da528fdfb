"""Live interop with the real cachekit 0.24.1 through one redis-server: what cachekit-py caches
in another process is a hit for cachekit_native and the other way round, plain, minimal,
production, secure and interop mode, sync and async. Calls are counted on both sides."""
import asyncio
import inspect
from datetime import date, datetime, time, timezone

import pytest
import redis

from support.peer import MASTER_KEY, run_peer, shared

from cachekit_native import cache


def value_for(user_id):
    return {"id": user_id, "name": "Ada Lovelace", "when": datetime(2024, 5, 17, 8, 30, 15, 250, tzinfo=timezone.utc),
            "day": date(2024, 5, 17), "at": time(23, 59, 1), "naive": datetime(2020, 1, 2, 3, 4, 5),
            "blob": b"\x00\x01\xfe", "scores": [1.5, -2, None, True, 2**63], "pair": (1, "two"),
            "nested": {"z": [], "a": {"deep": "é"}}}


def hit_value(user_id):
    """What a hit returns: the stored document, tuples read back as lists."""
    value = value_for(user_id)
    value["pair"] = list(value["pair"])
    return value


def canonical(value):
    """repr-stable form: interop stores maps with sorted keys, so compare key-sorted reprs."""
    if isinstance(value, dict):
        return {key: canonical(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [canonical(item) for item in value]
    return value


def small_value(user_id):
    return {"id": user_id, "ok": True}


# The peer builds its values with these same functions, from this file's source.
PEER_VALUE = "\n".join(inspect.getsource(function) for function in (canonical, small_value, value_for))

# name: (cachekit_native decorator factory, cachekit-py decorator source)
FLAVORS = {
    "plain": (lambda url: cache(redis_url=url), "cache"),
    "namespace-ttl": (lambda url: cache(redis_url=url, ttl=300, namespace="users"), "cache(ttl=300, namespace='users')"),
    "minimal": (lambda url: cache.minimal(redis_url=url), "cache.minimal"),
    "production": (lambda url: cache.production(redis_url=url), "cache.production"),
    "secure": (lambda url: cache.secure(master_key=MASTER_KEY, redis_url=url),
               f"cache.secure(master_key={MASTER_KEY!r})"),
    "secure-namespace": (lambda url: cache.secure(master_key=MASTER_KEY, redis_url=url, namespace="vault", ttl=60),
                         f"cache.secure(master_key={MASTER_KEY!r}, namespace='vault', ttl=60)"),
    "interop": (lambda url: cache(redis_url=url, interop="get_user", namespace="users"),
                "cache(interop='get_user', namespace='users', backend=__import__('cachekit.backends.redis', "
                "fromlist=['RedisBackend']).RedisBackend(os.environ['REDIS_URL']))"),
    "secure-interop": (lambda url: cache.secure(master_key=MASTER_KEY, redis_url=url, interop="get_user",
                                                namespace="users"),
                       f"cache.secure(master_key={MASTER_KEY!r}, interop='get_user', namespace='users', "
                       "backend=__import__('cachekit.backends.redis', fromlist=['RedisBackend'])"
                       ".RedisBackend(os.environ['REDIS_URL']))"),
}


def peer_calls(redis_url, decorator, user_ids, is_async=False, value="value_for"):
    """cachekit-py in a subprocess: decorate, call for each id, report calls and repr of results."""
    if is_async:
        body = PEER_VALUE + f"""
async def get_user(user_id):
    calls.append(user_id)
    return {value}(user_id)
get_user = {decorator}(shared(get_user))
async def main():
    return [await get_user(u) for u in {user_ids!r}]
results = asyncio.run(main())
out = {{"calls": calls, "results": [repr(canonical(r)) for r in results]}}
"""
    else:
        body = PEER_VALUE + f"""
def get_user(user_id):
    calls.append(user_id)
    return {value}(user_id)
get_user = {decorator}(shared(get_user))
results = [get_user(u) for u in {user_ids!r}]
out = {{"calls": calls, "results": [repr(canonical(r)) for r in results]}}
"""
    return run_peer(redis_url, body)


def native_function(decorator, calls, is_async=False, value=value_for):
    if is_async:
        async def get_user(user_id):
            calls.append(user_id)
            return value(user_id)
    else:
        def get_user(user_id):
            calls.append(user_id)
            return value(user_id)
    return decorator(shared(get_user))


def call_native(function, user_id, is_async):
    return asyncio.run(function(user_id)) if is_async else function(user_id)


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("flavor", list(FLAVORS))
def test_cachekit_py_writes_cachekit_native_hits(redis_url, flavor, is_async):
    make_native, peer_decorator = FLAVORS[flavor]
    peer = peer_calls(redis_url, peer_decorator, [11, 11], is_async)
    assert peer["calls"] == [11]  # the peer's second call is its own hit
    calls = []
    function = native_function(make_native(redis_url), calls, is_async)
    before = function.cache_info()  # the function's counts go on across the cases (one per qualname)
    result = call_native(function, 11, is_async)
    assert calls == []
    assert result == hit_value(11)
    assert repr(canonical(result)) == peer["results"][1]
    info = function.cache_info()
    assert (info.hits - before.hits, info.l2_hits - before.l2_hits, info.misses - before.misses) == (1, 1, 0)


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("flavor", list(FLAVORS))
def test_cachekit_native_writes_cachekit_py_hits(redis_url, flavor, is_async):
    make_native, peer_decorator = FLAVORS[flavor]
    calls = []
    function = native_function(make_native(redis_url), calls, is_async)
    assert call_native(function, 22, is_async) == value_for(22)
    assert call_native(function, 22, is_async) == hit_value(22)
    assert calls == [22]
    peer = peer_calls(redis_url, peer_decorator, [22], is_async)
    assert peer["calls"] == []
    assert peer["results"] == [repr(canonical(hit_value(22)))]


@pytest.mark.parametrize("flavor", ["plain", "minimal", "namespace-ttl", "interop"])
def test_stored_bytes_and_keys_are_identical_to_cachekit_pys(redis_url, flavor):
    make_native, peer_decorator = FLAVORS[flavor]
    client = redis.Redis.from_url(redis_url)
    # A small value: LZ4 encoders agree byte for byte only on literal-only blocks (PROTOCOL.md).
    function = native_function(make_native(redis_url), [], False, value=small_value)
    function(33)
    (native_key,) = [key for key in client.keys("*") if b":reg:" not in key]
    native_bytes = client.get(native_key)
    native_ttl = client.ttl(native_key)
    client.flushall()
    peer_calls(redis_url, peer_decorator, [33], value="small_value")
    peer_keys = [key for key in client.keys("*") if b":reg:" not in key]
    assert peer_keys == [native_key]
    assert client.get(native_key) == native_bytes
    assert abs(client.ttl(native_key) - native_ttl) <= 2


def test_secure_entries_need_the_same_master_key(redis_url):
    other_key = "ff" * 32
    peer_calls(redis_url, f"cache.secure(master_key={other_key!r})", [44])
    calls = []
    function = native_function(cache.secure(master_key=MASTER_KEY, redis_url=redis_url), calls)
    assert function(44) == value_for(44)
    assert calls == [44]  # undecryptable under our key: recomputed, never served


def test_interop_refuses_to_encrypt_silently_with_a_master_key_in_the_environment(monkeypatch):
    from cachekit_native import ConfigurationError
    monkeypatch.setenv("CACHEKIT_MASTER_KEY", MASTER_KEY)
    with pytest.raises(ConfigurationError, match="CACHEKIT_MASTER_KEY"):
        cache(interop="get_user", namespace="users", redis_url="redis://127.0.0.1:1")


def test_interop_whole_function_invalidation_reaches_the_peers_entries(redis_url):
    make_native, peer_decorator = FLAVORS["interop"]
    peer_calls(redis_url, peer_decorator, [71, 72])
    calls = []
    function = native_function(make_native(redis_url), calls)
    function(71)
    assert calls == []
    function.invalidate_cache()
    function(71), function(72)
    assert calls == [71, 72]


def test_invalidation_by_cachekit_native_is_seen_by_cachekit_py(redis_url):
    calls = []
    function = native_function(cache(redis_url=redis_url, namespace="users"), calls)
    function(55)
    function.invalidate_cache(55)
    peer = peer_calls(redis_url, "cache(namespace='users')", [55])
    assert peer["calls"] == [55]


def test_whole_function_invalidation_reaches_entries_cachekit_py_wrote(redis_url):
    peer_calls(redis_url, "cache(namespace='users')", [61, 62])
    calls = []
    function = native_function(cache(redis_url=redis_url, namespace="users"), calls)
    function(61)
    assert calls == []
    function.invalidate_cache()
    function(61), function(62)
    assert calls == [61, 62]


def test_secure_entries_with_a_deployment_tenant_are_shared(redis_url, monkeypatch):
    tenant = "7f3c5b1e-9a2d-4c8e-b6f0-123456789abc"
    peer = run_peer(redis_url, PEER_VALUE + f"""
def get_user(user_id):
    calls.append(user_id)
    return value_for(user_id)
get_user = cache.secure(master_key={MASTER_KEY!r})(shared(get_user))
get_user(81)
out = {{"calls": calls}}
""", extra_env={"CACHEKIT_DEPLOYMENT_UUID": tenant})
    assert peer["calls"] == [81]
    # The deployment UUID is the encryption tenant (HKDF salt, AAD); cachekit-py's Redis prefix stays t:default:.
    keys = [key.decode() for key in redis.Redis.from_url(redis_url).keys("*") if b":reg:" not in key]
    assert keys and all(key.startswith("t:default:") for key in keys)
    monkeypatch.setenv("CACHEKIT_DEPLOYMENT_UUID", tenant)
    calls = []
    function = native_function(cache.secure(master_key=MASTER_KEY, redis_url=redis_url), calls)
    assert function(81) == hit_value(81)
    assert calls == []


@pytest.mark.parametrize("current_key_from", ["option", "environment"])
def test_entries_sealed_under_a_previous_master_key_still_hit_after_rotation(redis_url, monkeypatch,
                                                                              current_key_from):
    old_key, argument = ("aa" * 32, 91) if current_key_from == "option" else ("bb" * 32, 92)
    peer_calls(redis_url, f"cache.secure(master_key={old_key!r})", [argument])
    monkeypatch.setenv("CACHEKIT_PREVIOUS_MASTER_KEYS", old_key)
    if current_key_from == "option":
        decorator = cache.secure(master_key=MASTER_KEY, redis_url=redis_url)
    else:
        monkeypatch.setenv("CACHEKIT_MASTER_KEY", MASTER_KEY)
        decorator = cache.secure(redis_url=redis_url)
    calls = []
    function = native_function(decorator, calls)
    assert function(argument) == hit_value(argument)
    assert calls == []
