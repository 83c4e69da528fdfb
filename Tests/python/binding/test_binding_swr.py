"""stale_ttl with an SWR-capable backend object, and the async stampede lock of a lockable one:
each case runs against cachekit-py 0.24.1 and cachekit_native alike (one object, the calls it
sees), and an entry one SDK wrote with its window is revalidated by the other."""
import asyncio
import threading
from contextlib import asynccontextmanager

import pytest

import cachekit
import cachekit_native
from cachekit.config.decorator import DecoratorConfig as PyDecoratorConfig


class SWRBackend:
    """cachekit-py's SWR-capable shape: get_with_freshness on the class, set with a window."""

    def __init__(self, grant_lease=True):
        self.store = {}
        self.stale = False
        self.grant_lease = grant_lease
        self.set_calls = []
        self.leases = []
        self.stored = threading.Condition()

    def get(self, key):
        return self.store.get(key)

    def get_with_freshness(self, key):
        value = self.store.get(key)
        return None if value is None else (value, self.stale)

    def set(self, key, value, ttl=None, stale_ttl=None):
        with self.stored:
            self.store[key] = value
            self.set_calls.append((ttl, stale_ttl))
            self.stored.notify_all()

    def delete(self, key):
        return self.store.pop(key, None) is not None

    def exists(self, key):
        return key in self.store

    def health_check(self):
        return True, {}

    @asynccontextmanager
    async def acquire_lock(self, key, timeout, blocking_timeout=None):
        self.leases.append((key, timeout, blocking_timeout))
        yield self.grant_lease

    def wait_for_sets(self, count):
        with self.stored:
            return self.stored.wait_for(lambda: len(self.set_calls) >= count, timeout=10)


@pytest.fixture(params=["cachekit-py", "cachekit_native"])
def sdk(request):
    return cachekit if request.param == "cachekit-py" else cachekit_native


def test_a_stale_hit_is_served_and_revalidated_in_the_background(sdk):
    backend = SWRBackend()
    runs = []
    done = threading.Event()

    @sdk.cache(backend=backend, ttl=60, stale_ttl=120, l1_enabled=False)
    def compute(x):
        runs.append(x)
        if len(runs) > 1:
            done.wait(10)  # the revalidation waits until the caller has its stale value
        return {"x": x, "run": len(runs)}

    assert compute(1) == {"x": 1, "run": 1}
    assert backend.set_calls == [(60, 120)]  # the miss stores the window
    backend.stale = True
    assert compute(1) == {"x": 1, "run": 1}  # stale, served without waiting for the recompute
    done.set()
    assert backend.wait_for_sets(2)
    assert backend.set_calls == [(60, 120), (60, 120)] and len(runs) == 2
    backend.stale = False
    assert compute(1) == {"x": 1, "run": 2}


def test_async_revalidation_takes_the_lease_and_a_refused_lease_recomputes_nothing(sdk):
    for granted in (True, False):
        backend = SWRBackend(grant_lease=granted)
        runs = []

        release = None

        @sdk.cache(backend=backend, ttl=60, stale_ttl=120, l1_enabled=False)
        async def compute():
            runs.append(1)
            if len(runs) > 1:
                await release.wait()  # the revalidation stays in flight while the stale hits come
            return len(runs)

        async def main():
            nonlocal release
            release = asyncio.Event()
            assert await compute() == 1
            backend.stale = True
            assert await asyncio.gather(*(compute() for _ in range(5))) == [1] * 5
            release.set()
            for _ in range(50):  # let the background task run to its end on this loop
                await asyncio.sleep(0.01)
                if not granted or len(backend.set_calls) == 2:
                    break

        asyncio.run(main())
        key = next(iter(backend.store))
        assert backend.leases[-1] == (key, 30.0, None)  # the bare key, a 30 s lease
        assert len(runs) == (2 if granted else 1)  # five stale hits, one revalidation at most
        assert len(backend.set_calls) == (2 if granted else 1)


def test_a_failing_revalidation_keeps_the_stale_entry(sdk):
    backend = SWRBackend()
    runs = []
    failed = threading.Event()

    @sdk.cache(backend=backend, ttl=60, stale_ttl=120, l1_enabled=False)
    def compute():
        runs.append(1)
        if len(runs) > 1:
            failed.set()
            raise RuntimeError("recompute failed")
        return "first"

    assert compute() == "first"
    backend.stale = True
    assert compute() == "first"
    assert failed.wait(10)
    assert compute() == "first" and backend.set_calls == [(60, 120)]


@pytest.mark.parametrize("ttl, window", [(60, 60), (2_592_000 - 100, 100), (2_592_000, None)])
def test_swr_by_default_makes_the_window_the_ttl_within_30_days(sdk, ttl, window):
    backend = SWRBackend()
    config_class = PyDecoratorConfig if sdk is cachekit else cachekit_native.DecoratorConfig

    def compute():
        return "v"

    compute.__qualname__ = f"compute_{ttl}"  # cachekit-py's L1 is per process: one key per case
    compute = sdk.cache(config=config_class(backend=backend, ttl=ttl, swr_by_default=True))(compute)
    assert compute() == "v"
    assert backend.set_calls == [(ttl, window)]


def test_an_entry_cachekit_py_wrote_with_its_window_is_revalidated_here():
    backend = SWRBackend()
    runs = []

    def body():
        runs.append(1)
        return {"run": len(runs)}

    functions = []
    for _ in range(2):
        def shared():
            return body()
        shared.__module__, shared.__qualname__ = "ckn_swr_probe", "shared"
        functions.append(shared)
    by_py = cachekit.cache(backend=backend, ttl=60, stale_ttl=120, l1_enabled=False)(functions[0])
    by_native = cachekit_native.cache(backend=backend, ttl=60, stale_ttl=120, l1_enabled=False)(functions[1])
    assert by_py() == {"run": 1}
    backend.stale = True
    assert by_native() == {"run": 1}  # cachekit-py's entry, stale, served here
    assert backend.wait_for_sets(2)
    backend.stale = False
    assert by_py() == {"run": 2}  # cachekit-py reads the value this side revalidated


def test_an_async_miss_computes_under_the_objects_lock(sdk):
    class LockOnly(SWRBackend):
        get_with_freshness = None  # not SWR-capable: only the lock

    backend = LockOnly()

    @sdk.cache(backend=backend, ttl=300, l1_enabled=False)
    async def compute(x):
        return x * 2

    assert asyncio.run(compute(21)) == 42
    assert [lease[0] for lease in backend.leases] == list(backend.store)  # the bare key that was stored
    assert backend.leases[0][1:] == (30.0, 5.0)
