"""Closing while in use (issue 13): cache_close() on a decorated function and Cache.close() while
other threads are calling must never crash the interpreter. The handle is freed only after the
last call in flight returns; a Cache used after close() raises CacheClosedError, a decorated
function opens a fresh cache. Each scenario runs in a subprocess, several rounds, so a crash
(SIGSEGV, SIGABRT, SIGILL) is a test failure, not a pytest crash."""
import os
import subprocess
import sys
import textwrap

import pytest

from support.abi import BINDINGS

HAMMER = textwrap.dedent("""
    import os, sys, threading, time
    from cachekit_native import Cache, cache
    from cachekit_native import CacheClosedError

    scenario, rounds, url = sys.argv[1], int(sys.argv[2]), sys.argv[3] or None
    backend = {"redis_url": url} if url else {}

    def hammer(call, stop, errors):
        while not stop.is_set():
            try:
                call()
            except CacheClosedError:
                pass
            except BaseException as error:  # anything else is a failure of the test
                errors.append(repr(error))
                return

    for round_ in range(rounds):
        stop, errors = threading.Event(), []
        if scenario == "decorator":
            @cache(backend=None) if not url else cache(ttl=60, namespace=f"close{round_}", redis_url=url)
            def square(x):
                return x * x
            calls = [lambda i=i: square(i % 7) for i in range(6)]
            closer = square.cache_close
        else:
            handle = Cache(from_env=False, **backend)
            handle.set("k", b"\\xa1v")
            def compute():
                time.sleep(0.0005)
                return b"\\xa1c"
            calls = [lambda: handle.get("k"), lambda: handle.set("k", b"\\xa1v"), lambda: handle.exists("k"),
                     lambda: handle.get_or_compute(f"c{time.monotonic_ns() % 5}", compute), handle.stats,
                     lambda: handle.delete("k")]
            closer = handle.close
        threads = [threading.Thread(target=hammer, args=(call, stop, errors)) for call in calls]
        for thread in threads:
            thread.start()
        time.sleep(0.05)
        for _ in range(20):
            closer()  # repeated: idempotent, and the decorator reopens between closes
            time.sleep(0.002)
        stop.set()
        for thread in threads:
            thread.join()
        assert not errors, errors
        if scenario == "cache":
            try:
                handle.get("k")
                raise AssertionError("a closed Cache answered")
            except CacheClosedError as error:
                assert "closed" in str(error)
    print("ok")
""")


def run(scenario: str, url: str = "") -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(BINDINGS), os.environ.get("PYTHONPATH", "")]))
    rounds = "24" if os.environ.get("CACHEKIT_TEST_DEEP") else "5"
    return subprocess.run([sys.executable, "-c", HAMMER, scenario, rounds, url], env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.mark.parametrize("scenario", ["decorator", "cache"])
@pytest.mark.parametrize("attempt", range(3))
def test_close_while_threads_call_does_not_crash(scenario, attempt):
    result = run(scenario)
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr[-3000:]}"
    assert result.stdout.strip() == "ok"


@pytest.mark.parametrize("scenario", ["decorator", "cache"])
def test_close_while_threads_call_with_redis(scenario, redis_url):
    result = run(scenario, redis_url)
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr[-3000:]}"
