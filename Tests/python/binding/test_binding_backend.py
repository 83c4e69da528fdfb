"""backend= objects (cachekit-py's BaseBackend protocol) as the library's second tier: the same
in-process object serves cachekit-py 0.24.1 and cachekit_native, so each reads what the other
wrote, byte for byte the entries cachekit-py would hand it; fail-open on a failing or
misbehaving object; cachekit-py's RedisBackend is the library's own Redis client."""
import asyncio
import threading

import pytest
import redis

import cachekit
import cachekit_native
from cachekit.backends.redis import RedisBackend
from support.peer import MASTER_KEY


class DictBackend:
    """A backend object as cachekit-py's docs describe one: bytes in, bytes out."""

    def __init__(self):
        self.store: dict[str, bytes] = {}
        self.calls: list[tuple] = []
        self.lock = threading.Lock()

    def get(self, key):
        self.calls.append(("get", key))
        return self.store.get(key)

    def set(self, key, value, ttl=None):
        self.calls.append(("set", key, ttl))
        assert isinstance(value, bytes)
        self.store[key] = value

    def delete(self, key):
        self.calls.append(("delete", key))
        return self.store.pop(key, None) is not None

    def exists(self, key):
        return key in self.store

    def health_check(self):
        return True, {"latency_ms": 0.0, "backend_type": "dict"}


def twins(qualname, body):
    """Two functions with one module and qualname (the cache key holds both), one per SDK."""
    made = []
    for _ in range(2):
        def function(x):
            return body(x)
        function.__module__, function.__qualname__ = "ckn_backend_probe", qualname
        made.append(function)
    return made


@pytest.mark.parametrize("intent", ["plain", "minimal", "secure"])
def test_each_sdk_reads_what_the_other_wrote(intent, monkeypatch):
    monkeypatch.delenv("CACHEKIT_MASTER_KEY", raising=False)
    backend = DictBackend()
    runs = []
    options = {"backend": backend, "ttl": 60, "namespace": "probe"}
    if intent == "secure":
        options["master_key"] = MASTER_KEY

    def decorate(sdk, function):
        decorator = getattr(sdk.cache, intent) if intent != "plain" else sdk.cache
        return decorator(**options)(function)

    py_side, native_side = twins(f"shared_{intent}", lambda x: runs.append(x) or {"x": x, "items": [1, 2.5, "s"]})
    by_py, by_native = decorate(cachekit, py_side), decorate(cachekit_native, native_side)
    assert by_py(1) == {"x": 1, "items": [1, 2.5, "s"]}
    written_by_py = dict(backend.store)
    assert by_native(1) == {"x": 1, "items": [1, 2.5, "s"]}  # a hit on cachekit-py's entry
    assert runs == [1]
    assert by_native(2) == {"x": 2, "items": [1, 2.5, "s"]}
    assert by_py(2) == {"x": 2, "items": [1, 2.5, "s"]}  # and the other way round
    assert runs == [1, 2]
    # Bare keys, as cachekit-py hands them, with the decorator's ttl.
    assert len(backend.store) == 2 and all(key.startswith("ns:probe:func:ckn_backend_probe.shared_") for key in backend.store)
    assert ("set", next(iter(written_by_py)), 60) in backend.calls
    if intent == "secure":
        assert not any(b"items" in value for value in backend.store.values())


def test_the_object_sees_the_calls_cachekit_py_makes():
    py_backend, native_backend = DictBackend(), DictBackend()
    py_side, native_side = twins("same_calls", lambda x: {"x": x, "name": "n" * 40})
    by_py, by_native = cachekit.cache(backend=py_backend)(py_side), cachekit_native.cache(backend=native_backend)(native_side)
    frames = []
    for function, backend in ((by_py, py_backend), (by_native, native_backend)):
        function(7), function(7)
        frames.append([value[:3] for value in backend.store.values()])
        function.invalidate_cache(7)
    assert native_backend.calls == py_backend.calls  # get, set with ttl None, delete: same keys
    # Both CK v3 frames (the LZ4 payload inside may be compressed differently, and reads either way).
    assert frames == [[b"CK\x03"], [b"CK\x03"]]


def test_l1_in_front_and_invalidation_through_the_object():
    backend = DictBackend()
    runs = []

    @cachekit_native.cache(backend=backend, ttl=60)
    def compute(x):
        runs.append(x)
        return x * 2

    assert compute(3) == 6 and compute(3) == 6
    assert [call[0] for call in backend.calls] == ["get", "set"]  # the second call was an L1 hit
    assert compute.cache_info().l2_avg_latency_ms > 0  # the object's calls are timed as Redis's are
    compute.invalidate_cache(3)
    assert backend.store == {} and backend.calls[-1][0] == "delete"
    assert compute(3) == 6 and runs == [3, 3]
    compute.invalidate_cache()  # whole function: the keys this process knows, as cachekit-py
    assert backend.store == {}


class FailingBackend(DictBackend):
    def __init__(self, failure):
        super().__init__()
        self.failure = failure

    def get(self, key):
        super().get(key)
        if isinstance(self.failure, BaseException):
            raise self.failure
        return self.failure  # not bytes

    def set(self, key, value, ttl=None):
        super().set(key, value, ttl)
        if isinstance(self.failure, BaseException):
            raise self.failure


@pytest.mark.parametrize("failure", [ConnectionError("down"), TimeoutError("slow"), RuntimeError("bug"),
                                     "not bytes", 12])
def test_a_failing_object_fails_open(failure):
    backend = FailingBackend(failure)
    runs = []

    @cachekit_native.cache(backend=backend, ttl=60, l1_enabled=False)
    def compute(x):
        runs.append(x)
        return {"x": x}

    assert compute(1) == {"x": 1} and compute(1) == {"x": 1}
    assert runs == [1, 1]  # every read missed, no exception reached the caller
    assert [call[0] for call in backend.calls] == ["get", "set", "get", "set"]


def test_async_functions_use_the_object_off_the_loop():
    backend = DictBackend()
    loop_threads = set()

    @cachekit_native.cache(backend=backend, ttl=60, l1_enabled=False)
    async def compute(x):
        return [x]

    async def main():
        loop_threads.add(threading.get_ident())
        assert await compute(1) == [1]
        assert await compute(1) == [1]

    asyncio.run(main())
    assert [call[0] for call in backend.calls] == ["get", "set", "get"]
    with pytest.raises(TypeError, match="cache_clear"):
        compute.cache_clear()  # as cachekit-py with a backend: it would block the loop


def test_cachekit_pys_redis_backend_is_the_native_redis_client(redis_url):
    client = redis.Redis.from_url(redis_url)
    runs = []
    py_side, native_side = twins("redis_backend", lambda x: runs.append(x) or {"x": x})
    by_native = cachekit_native.cache(backend=RedisBackend(redis_url=redis_url), ttl=30, namespace="rb")(native_side)
    assert by_native(5) == {"x": 5}
    keys = client.keys("*")
    # Bare keys and no key registry, as cachekit-py with a RedisBackend object.
    assert len(keys) == 1 and keys[0].startswith(b"ns:rb:func:ckn_backend_probe.redis_backend:args:")
    assert 0 < client.ttl(keys[0]) <= 30
    by_py = cachekit.cache(backend=RedisBackend(redis_url=redis_url), ttl=30, namespace="rb")(py_side)
    assert by_py(5) == {"x": 5}
    assert runs == [5]  # cachekit-py read the library's entry


def test_a_cache_handle_on_an_object():
    backend = DictBackend()
    with cachekit_native.Cache(host_backend=backend, from_env=False, mode="plain") as direct:
        direct.set("k", b"\xa1v", 30)
        assert direct.get("k") == b"\xa1v"
        assert ("set", "t:default:k", 30) in backend.calls  # the library's own key prefix
        assert direct.exists("k")
        direct.delete("k")
        assert backend.store == {} and not direct.exists("k")
    # Freed with the handle: the library's release callback let go of the object.
    from cachekit_native import _host_backend
    assert all(host.backend is not backend for host in _host_backend._live.values())
