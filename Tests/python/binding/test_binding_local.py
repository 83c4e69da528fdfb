"""@cache.local: each case runs against cachekit-py 0.24.1's @cache.local and cachekit_native's,
so the two must behave alike (identity, TTL, LRU, statistics, single flight, refusals, fork)."""
import asyncio
import os
import threading
import time

import pytest

import cachekit
import cachekit_native


@pytest.fixture(params=["cachekit-py", "cachekit_native"])
def local(request):
    return cachekit.cache.local if request.param == "cachekit-py" else cachekit_native.cache.local


def test_a_hit_is_the_same_object_and_tuples_stay_tuples(local):
    runs = []

    @local(ttl=60)
    def make(x):
        runs.append(x)
        return (x, [x], {"x": x})

    first = make(1)
    assert make(1) is first and isinstance(first, tuple)
    assert make(2) is not first
    assert runs == [1, 2]
    info = make.cache_info()
    assert (info.hits, info.misses, info.l1_hits, info.l2_hits, info.maxsize, info.currsize) == (1, 2, 1, 0, 256, 2)


def test_entries_expire_after_their_ttl(local):
    runs = []

    @local(ttl=1)
    def make(x):
        runs.append(x)
        return object()

    first = make(1)
    assert make(1) is first
    time.sleep(1.1)
    assert make(1) is not first
    assert runs == [1, 1]


def test_the_least_recently_used_entry_goes_first(local):
    runs = []

    @local(ttl=60, max_entries=2)
    def make(x):
        runs.append(x)
        return [x]

    make(1), make(2)
    make(1)  # 2 is now the least recently used
    make(3)
    make(1)
    make(2)
    assert runs == [1, 2, 3, 2]
    assert make.cache_info().currsize == 2


def test_invalidation_and_clear(local):
    runs = []

    @local()
    def make(x):
        runs.append(x)
        return [x]

    make(1), make(2)
    assert make.invalidate_cache(1).value == "no_l2"
    make(1), make(2)
    make.cache_clear()
    make(2)
    assert runs == [1, 2, 1, 2]
    assert asyncio.run(make.ainvalidate_cache(2)).value == "no_l2"


def test_a_custom_key_function_names_the_entry(local):
    @local(key=lambda user, request_id: f"user:{user}")
    def load(user, request_id):
        return [user, request_id]

    assert load(7, "a") is load(7, "b")
    assert load(7, "a")[1] == "a"


def test_concurrent_threads_run_the_function_once_and_share_its_object(local):
    runs = []
    gate = threading.Barrier(8)
    results = []

    @local()
    def slow(x):
        runs.append(x)
        time.sleep(0.3)
        return object()

    def call():
        gate.wait()
        results.append(slow(1))

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert runs == [1]
    assert len(results) == 8 and all(result is results[0] for result in results)
    assert slow.cache_info().hits == 7 and slow.cache_info().misses == 1


def test_concurrent_tasks_run_the_coroutine_once(local):
    runs = []

    @local()
    async def slow(x):
        runs.append(x)
        await asyncio.sleep(0.2)
        return object()

    async def main():
        return await asyncio.gather(*(slow(1) for _ in range(6)))

    results = asyncio.run(main())
    assert runs == [1] and all(result is results[0] for result in results)
    assert asyncio.run(main())[0] is results[0]  # a later hit, on another loop
    assert slow.cache_info().misses == 1


def test_a_failure_reaches_every_waiting_caller_and_is_not_cached(local):
    runs = []
    gate = threading.Barrier(4)
    errors = []

    @local()
    def fails(x):
        runs.append(x)
        time.sleep(0.3)
        raise RuntimeError("boom")

    def call():
        gate.wait()
        try:
            fails(1)
        except RuntimeError as error:
            errors.append(str(error))

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == ["boom"] * 4
    assert len(runs) == 1
    with pytest.raises(RuntimeError):
        fails(1)
    assert len(runs) == 2


@pytest.mark.parametrize("options, error", [
    ({"ttl": 0}, ValueError), ({"max_entries": 0}, ValueError), ({"ttl": "5"}, TypeError),
    ({"max_entries": 1.5}, TypeError), ({"backend": None}, TypeError), ({"serializer": "default"}, TypeError),
])
def test_refusals(local, options, error):
    with pytest.raises(error):
        @local(**options)
        def f():
            return 1


def test_config_is_refused(local):
    with pytest.raises(TypeError, match="does not accept config="):
        @local(config=object())
        def f():
            return 1


def test_a_forked_child_keeps_the_entries_and_forgets_calls_in_flight(local):
    runs = []

    @local()
    def make(x):
        runs.append(x)
        return [x]

    make(1)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: hits on its copy of the entry, a miss on a new key
        make(1), make(2), make(2)
        os.write(write, str(len(runs)).encode())
        os._exit(0)
    os.close(write)
    assert os.waitpid(pid, 0)[1] == 0
    assert os.read(read, 16) == b"2"  # the parent's run of 1, the child's of 2
    os.close(read)


def test_a_forked_child_does_not_wait_for_a_call_its_parent_had_in_flight(local):
    import signal
    started = threading.Event()

    @local()
    def slow(x):
        started.set()
        time.sleep(0.5)
        return [x, os.getpid()]

    runner = threading.Thread(target=slow, args=(1,))
    runner.start()
    started.wait(10)
    pid = os.fork()
    if pid == 0:
        signal.alarm(10)  # a child left waiting on the parent's call would hang: fail it instead
        os._exit(0 if slow(1)[1] == os.getpid() else 3)
    runner.join(30)
    assert os.waitpid(pid, 0)[1] == 0


def test_arguments_that_python_calls_equal_but_cachekit_keys_apart_are_separate_entries(local):
    runs = []

    @local()
    def f(x, **kw):
        runs.append((type(x).__name__, kw))
        return [x]

    f(1), f(True), f(1.0), f(0.0), f(-0.0), f("1"), f(b"1")
    assert len(runs) == 6  # 0.0 and -0.0 share an entry, in both
    f(1, a=1, b=2), f(1, b=2, a=1)  # keyword order does not matter
    assert len(runs) == 7
    f([1, 2]), f([1, 2]), f({"a": 1}), f({"a": 1})  # unhashable arguments are keyed too
    assert len(runs) == 9
