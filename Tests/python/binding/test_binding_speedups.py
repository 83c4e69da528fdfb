"""The C hit path (cachekit_native/_speedups.c) against the ctypes path it replaces.

Every scenario runs twice, once per path (CACHEKIT_NATIVE_SPEEDUPS at decoration time), and both
must give the same results, statistics and exceptions. Then what only the C path has: the
decoded-value memo (fresh containers, a changed entry is decoded again, nothing in secure mode),
misuse that must raise instead of crashing, and a hit/miss loop under `python -X dev` with
PYTHONMALLOC=debug, threads (the GIL released around Redis) and a fork.
"""
import copy
import os
import pickle
import subprocess
import sys
import textwrap
from datetime import datetime, timezone

import msgpack
import pytest

from support import speedups
from support.abi import BINDINGS
from support.peer import MASTER_KEY

from cachekit_native import _fast, cache, serializer
from cachekit_native.errors import CachekitError

PATHS = ["ctypes", "c"]


@pytest.fixture(params=PATHS)
def path(request, monkeypatch):
    monkeypatch.setenv("CACHEKIT_NATIVE_SPEEDUPS", "1" if request.param == "c" else "0")
    return request.param


def decorated(path, function, **options):
    wrapped = cache(**options)(function)
    assert (type(wrapped).__name__ == "HitPath") == (path == "c")
    return wrapped


def test_the_extension_is_built_where_it_can_be(monkeypatch):
    if not speedups.can_build():
        pytest.skip("no C compiler or Python.h on this machine: the ctypes path runs alone")
    monkeypatch.delenv("CACHEKIT_NATIVE_SPEEDUPS", raising=False)
    assert _fast.available(), "the tree's cachekit_native/_speedups was not built or does not import"


def scenario(path, redis_url=None):
    """A run of calls; returns what a caller observes."""
    calls = []
    backend = {"redis_url": redis_url, "namespace": path} if redis_url else {"backend": None}

    def lookup(a, b=None, *rest, **options):
        calls.append((a, b, rest, options))
        return {"a": a, "b": b, "rest": list(rest), "nested": [{"x": [1, (2, 3)]}],
                "when": datetime(2024, 1, 1, tzinfo=timezone.utc), "bytes": b"\x00"}

    # cache_info() is kept per module.qualname (as cachekit-py's): one name per path and backend.
    lookup.__qualname__ = f"scenario_{path}_{bool(redis_url)}"
    function = decorated(path, lookup, ttl=60, **backend)
    seen = []
    for args, kwargs in [((1,), {}), ((1,), {}), ((1, "x"), {}), ((1, "x"), {}), ((1.0,), {}), ((True,), {}),
                         ((None, b"k", 3), {}), ((None, b"k", 3), {}), ((1,), {"b": 2}), ((1,), {"b": 2}),
                         (([1, 2],), {}), (([1, 2],), {}), ((1,), {"_bypass_cache": True}), ((1, 2, 3, 4), {})]:
        try:
            seen.append(function(*args, **kwargs))
        except TypeError as error:
            seen.append(("TypeError", str(error)))
    first = function(7)
    hit = function(7)
    hit["nested"][0]["x"].append("mutated")
    hit["a"] = "mutated"
    seen.append(function(7))  # the caller's changes never reach the cache
    info = function.cache_info()
    return seen, calls, (info.hits, info.misses, info.l1_hits, info.l2_hits), first is not hit


def test_both_paths_give_the_same_results_and_statistics(monkeypatch):
    results = {}
    for name in PATHS:
        monkeypatch.setenv("CACHEKIT_NATIVE_SPEEDUPS", "1" if name == "c" else "0")
        results[name] = scenario(name)
    assert results["c"] == results["ctypes"]
    seen, calls, stats, fresh = results["c"]
    assert stats == (7, 9, 7, 0) and fresh
    assert len(calls) == 10  # 1, (1,"x"), 1.0, True, (None,b"k",3), b=2, [1,2], bypass, (1,2,3,4), 7


def test_both_paths_agree_with_redis(monkeypatch, redis_url):
    results = {}
    for name in PATHS:
        monkeypatch.setenv("CACHEKIT_NATIVE_SPEEDUPS", "1" if name == "c" else "0")
        results[name] = scenario(name, redis_url)
    assert results["c"] == results["ctypes"]
    assert results["c"][2] == (7, 9, 7, 0)


def test_methods_bind_like_functions(path):
    def add(self, x):
        return x + self.base

    class Service:
        base = 10
        method = decorated(path, add, backend=None)

    assert Service().method(1) == 11 and Service.method(Service(), 2) == 12  # self cannot be keyed: uncached
    assert Service.method.__name__ == "add" and Service.method.__wrapped__ is add

    def plus_one(x):
        return x + 1

    plus_one.__qualname__ = f"plus_one_{path}"  # cache_info() is kept per module.qualname
    function = decorated(path, plus_one, backend=None)
    assert function(1) == 2 and function(1) == 2 and function.cache_info().hits == 1


def test_a_decorated_function_pickles_and_copies_by_reference_on_both_paths(path, tmp_path, monkeypatch):
    (tmp_path / "pickled_module.py").write_text("from cachekit_native import cache\n\n\n"
                                                "@cache(backend=None)\ndef square(x):\n    return x * x\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("pickled_module", None)
    import pickled_module
    function = pickled_module.square
    assert (type(function).__name__ == "HitPath") == (path == "c")
    assert pickle.loads(pickle.dumps(function)) is function
    assert copy.deepcopy(function) is function and copy.copy(function) is function
    assert "square" in repr(function) and function(3) == 9
    sys.modules.pop("pickled_module", None)


def test_an_error_status_raises_the_same_exception_on_both_paths(path):
    def echo(x):
        return x

    function = decorated(path, echo, backend=None)
    function(1)
    state = function._cachekit_native
    # A memoized key the library refuses (longer than its 4096-byte limit): the status of the
    # one cachekit_cache_get, turned into its exception by the same code on both paths.
    state.memo[((int,), (1,))] = b"k" * 5000
    with pytest.raises(CachekitError) as raised:
        function(1)
    assert type(raised.value).__name__ == "InvalidKeyError" and raised.value.status == -68
    assert "4096" in str(raised.value)


def test_an_undecodable_entry_is_dropped_and_recomputed_on_both_paths(path):
    calls = []

    def value(x):
        calls.append(x)
        return {"x": x}

    function = decorated(path, value, backend=None)
    function(1)
    state = function._cachekit_native
    key = state.memo[((int,), (1,))]
    # Valid MessagePack the library stores, but not a value: a datetime sentinel with no date.
    state.cache.set(key, msgpack.packb({"__datetime__": True, "value": "not a date"}))
    assert function(1) == {"x": 1} and calls == [1, 1]
    assert function(1) == {"x": 1} and calls == [1, 1]


def test_a_changed_entry_is_decoded_again():
    function = decorated("c" if _fast.available() else "ctypes", lambda x: {"v": x}, backend=None)
    function(1)
    assert function(1) == {"v": 1}
    state = function._cachekit_native
    state.cache.set(state.memo[((int,), (1,))], serializer.pack({"v": "changed"}))
    assert function(1) == {"v": "changed"}
    function.invalidate_cache(1)
    assert function(1) == {"v": 1}


def test_secure_mode_keeps_no_decoded_values(redis_url):
    function = cache.secure(master_key=MASTER_KEY, redis_url=redis_url)(lambda x: {"secret": x})
    function(1), function(1)
    assert function._cachekit_native.values is None


def test_the_value_memo_is_bounded_and_skips_values_it_cannot_copy_faithfully():
    if not _fast.available():
        pytest.skip("the C path is not built here")
    big = "x" * (70 * 1024)
    function = cache(backend=None)(lambda x: big if x == "big" else {"n": x})
    for x in range(5000):
        function(x), function(x)
    values = function._cachekit_native.values
    assert 0 < len(values) <= 4096
    function("big"), function("big")
    assert function("big") == big and not any(entry[1] == big for entry in values.values())


def test_hits_and_misses_leave_reference_counts_as_they_found_them(path):
    argument = "an argument"
    result = {"nested": [1, 2]}
    function = decorated(path, lambda x: result, backend=None)
    function(argument), function(argument)  # the miss, then the hit that memoizes the decoded value
    state = function._cachekit_native
    key = state.memo[((str,), (argument,))]
    before = (sys.getrefcount(argument), sys.getrefcount(key), sys.getrefcount(result))
    for _ in range(1000):
        assert function(argument) == result
    for number in range(1000):
        function(number)  # misses: keyed, looked up, computed, stored
    assert (sys.getrefcount(argument), sys.getrefcount(key), sys.getrefcount(result)) == before


def test_values_too_deep_to_memoize_are_fresh_decodes(path):
    deep = [0]
    for _ in range(40):
        deep = [deep, {"k": deep}] if len(str(deep)) < 2000 else [deep]
    function = decorated(path, lambda x: deep, backend=None)
    function(1)
    first, second = function(1), function(1)
    assert first == second == deep and first is not second and first[0] is not second[0]
    assert not function._cachekit_native.values


MISUSE = [
    lambda S: S.HitPath.__new__(S.HitPath)(1),
    lambda S: S.HitPath(None, [], len, len, len, len, len, None, None, ()),
    lambda S: S.HitPath(None, {}, 1, len, len, len, len, None, None, ()),
    lambda S: S.HitPath(None, {}, len, len, 1, len, len, None, None, ()),
    lambda S: S.HitPath(None, {}, len, len, len, len, len, None, [], ()),
    lambda S: S.HitPath(None, {}, len, len, len, len, len, None, None, (1,)),
    lambda S: S.HitPath(None, {}, len, lambda a, k: 1, len, len, len, None, None, ())("not memoized"),
    lambda S: S.bind(0, 0, 0),
    lambda S: S.bind("1", 1, 1),
    lambda S: S.set(object(), b"k", b"v", -1, False),
    lambda S: S.set(None, "not bytes", b"v", -1, False),
    lambda S: S.set(None, b"k", b"v", 2**64, False),
]


@pytest.mark.parametrize("misuse", range(len(MISUSE)))
def test_misuse_raises_instead_of_crashing(misuse):
    if not _fast.available():
        pytest.skip("the C path is not built here")
    from cachekit_native import _speedups
    with pytest.raises((TypeError, ValueError, OverflowError, AttributeError)):
        MISUSE[misuse](_speedups)


def test_a_store_into_a_closed_cache_is_refused_on_both_paths(path):
    from cachekit_native import Cache
    from cachekit_native.errors import CacheClosedError
    store = _fast.document_setter()
    assert (store.__name__ == "_set_through_extension") == (path == "c")
    handle = Cache(from_env=False)
    store(handle, b"k", serializer.pack(1), False)
    assert handle.get(b"k") == serializer.pack(1)
    with pytest.raises(CachekitError) as raised:  # a status the library refuses: the ctypes path's exception
        store(handle, b"k" * 5000, serializer.pack(1), False)
    assert raised.value.status == -68
    handle.close()
    with pytest.raises(CacheClosedError):
        store(handle, b"k", serializer.pack(1), False)


def test_a_state_without_a_cache_attribute_shape_takes_the_python_path():
    if not _fast.available():
        pytest.skip("the C path is not built here")
    from cachekit_native import _speedups

    class State:
        cache = object()  # no _calls: the C path must not guess

    keyed = []
    hit_path = _speedups.HitPath(State(), {((int,), (1,)): b"k"}, lambda *a, **k: "slow",
                                 lambda args, kwargs: keyed.append(args), lambda *a: "uncached", len, len, None, {}, ())
    with pytest.raises(AttributeError):
        hit_path(1)
    assert hit_path("not keyable") == "uncached" and keyed == [("not keyable",)]
    assert hit_path(1, keyword=2) == "slow"


LOOP = textwrap.dedent("""
    import os, sys, threading
    from cachekit_native import cache, _fast
    assert _fast.available()
    url = sys.argv[1] or None
    options = {"redis_url": url, "ttl": 60} if url else {"backend": None}

    @cache(**options)
    def value(x, y=0):
        return {"x": x, "items": list(range(x % 5)), "y": y}

    errors = []

    def run(offset):
        try:
            for round_ in range(300):
                for x in range(20):
                    assert value(x) == {"x": x, "items": list(range(x % 5)), "y": 0}
                    assert value(x, y=offset)["y"] == offset
                    value(1000 + round_ * 20 + x + offset * 100000)  # misses
                if round_ % 100 == 99:
                    value.cache_close()  # the next call opens a new cache; calls in flight finish
        except BaseException as error:
            errors.append(repr(error))

    threads = [threading.Thread(target=run, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    pid = os.fork()
    if pid == 0:
        try:
            assert value(3) == {"x": 3, "items": [0, 1, 2], "y": 0} and value(3)["x"] == 3
            os._exit(0)
        except BaseException:
            os._exit(1)
    assert os.waitpid(pid, 0)[1] == 0
    print("ok", value(3) == value(3) and value.cache_info().hits > 0)
""")


@pytest.mark.parametrize("with_redis", [False, True], ids=["l1", "redis"])
def test_a_hit_and_miss_loop_under_dev_mode_and_the_debug_allocator(with_redis, request):
    if not _fast.available():
        pytest.skip("the C path is not built here")
    url = request.getfixturevalue("redis_url") if with_redis else ""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(BINDINGS), os.environ.get("PYTHONPATH", "")]),
               PYTHONMALLOC="debug", CACHEKIT_NATIVE_SPEEDUPS="1")
    result = subprocess.run([sys.executable, "-X", "dev", "-W", "error", "-c", LOOP, url], env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr[-3000:]}"
    assert result.stdout.split() == ["ok", "True"]
