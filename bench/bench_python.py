"""cachekit_native against cachekit-py 0.24.1, side by side in one process, on one private
redis-server: decorator + L1 hit, L2 hit (L1 disabled on both sides) and miss + store, for a
small dict and a ~10 KB dict. Prints microseconds per call (best of several rounds) and the
ratio cachekit-py / cachekit_native (> 1: cachekit_native is faster).

Then, without Redis, what a user would otherwise write: a ten-line cachetools + msgpack
decorator that copies its value the way cachekit_native does (stores msgpack bytes, unpacks on
every hit), against cachekit_native's C hit path and its ctypes path (CACHEKIT_NATIVE_SPEEDUPS=0),
for hits and for misses; and ``@cache.local`` against ``cachetools.cached`` itself (both return
the stored object).

Run with scripts/bench.sh python (it builds the release library and sets CACHEKIT_LIBRARY_PATH).
"""
import itertools
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bindings" / "python"))

SMALL = {"id": 42, "name": "Ada", "tags": ["a", "b"], "active": True}
LARGE = {f"field_{i:03d}": f"value {i} " + "lorem ipsum dolor sit amet " * 3 for i in range(100)}


def start_redis():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    directory = tempfile.mkdtemp(prefix="cachekit-bench-")
    process = subprocess.Popen([shutil.which("redis-server"), "--port", str(port), "--bind", "127.0.0.1",
                                "--save", "", "--appendonly", "no", "--dir", directory],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return process, f"redis://127.0.0.1:{port}/0", directory
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


def per_call_us(function, argument_source, iterations, rounds):
    best = float("inf")
    for _ in range(rounds):
        arguments = [next(argument_source) for _ in range(iterations)]
        start = time.perf_counter()
        for argument in arguments:
            function(argument)
        best = min(best, (time.perf_counter() - start) / iterations * 1e6)
    return best


def cachetools_msgpack(ttl, maxsize=1_000_000):
    """The decorator a user would write with cachetools and msgpack: bytes stored, unpacked per hit."""
    import functools

    import cachetools
    import cachetools.keys
    import msgpack

    def decorator(func):
        store = cachetools.TTLCache(maxsize, ttl)

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            key = cachetools.keys.hashkey(*args, **kwargs)
            try:
                return msgpack.unpackb(store[key])
            except KeyError:
                pass
            value = func(*args, **kwargs)
            store[key] = msgpack.packb(value)
            return value
        return wrapper
    return decorator


def interleaved_us(functions, argument_source, iterations, rounds):
    """per_call_us of each function, their rounds interleaved so a load change on this shared
    machine hits all of them alike; the best round of each."""
    best = [float("inf")] * len(functions)
    for _ in range(rounds):
        for index, function in enumerate(functions):
            best[index] = min(best[index], per_call_us(function, argument_source, iterations, 1))
    return best


def local_rows(native_cache):
    """No Redis: cachekit_native (C and ctypes hit paths) against cachetools + msgpack, and
    @cache.local against cachetools.cached. Rows of (case, baseline us, native us)."""
    import cachetools

    rows = []
    for label, value in (("small", SMALL), ("10KB", LARGE)):
        def function(x):
            return value
        made = {}
        for name, speedups in (("native", "1"), ("native, ctypes path", "0")):
            os.environ["CACHEKIT_NATIVE_SPEEDUPS"] = speedups
            function.__qualname__ = f"bench_local_{name}_{label}"
            made[name] = (native_cache(ttl=600, backend=None)(function), native_cache(ttl=600, backend=None)(function))
        os.environ.pop("CACHEKIT_NATIVE_SPEEDUPS")
        hits = [cachetools_msgpack(600)(function), made["native"][0], made["native, ctypes path"][0]]
        for hit in hits:
            hit(1)
        hit_us = interleaved_us(hits, itertools.repeat(1), 20000, 7)
        misses = [cachetools_msgpack(600)(function), made["native"][1], made["native, ctypes path"][1]]
        miss_us = interleaved_us(misses, itertools.count(10_000_000), 5000, 7)
        for index, name in ((1, "native"), (2, "native, ctypes path")):
            rows.append((f"L1 hit, {label} ({name})", hit_us[0], hit_us[index]))
            rows.append((f"miss + store, {label} ({name})", miss_us[0], miss_us[index]))
    ours = native_cache.local(ttl=600, max_entries=4096)(lambda x: SMALL)
    theirs = cachetools.cached(cachetools.TTLCache(4096, 600))(lambda x: SMALL)
    ours(1), theirs(1)
    theirs_us, ours_us = interleaved_us([theirs, ours], itertools.repeat(1), 20000, 7)
    rows.append(("@cache.local hit vs cachetools.cached", theirs_us, ours_us))
    return rows


def l2_path_rows(native_cache, url):
    """With Redis: the C hit path against the ctypes path (rows of (case, ctypes us, C us)), rounds
    interleaved, so the L2 rows' change is read in one run."""
    rows = []
    for label, value in (("small", SMALL), ("10KB", LARGE)):
        for case, options, source, iterations in (("L2 hit", {"l1_enabled": False}, itertools.repeat(1), 3000),
                                                  ("miss + store", {}, itertools.count(10_000_000), 1000)):
            functions = []
            for speedups in ("0", "1"):
                os.environ["CACHEKIT_NATIVE_SPEEDUPS"] = speedups

                def function(x):
                    return value
                function.__qualname__ = f"bench_paths_{case.replace(' ', '_')}_{speedups}_{label}"
                functions.append(native_cache(ttl=600, redis_url=url, **options)(function))
            os.environ.pop("CACHEKIT_NATIVE_SPEEDUPS")
            if case == "L2 hit":
                for function in functions:
                    function(1)
            rows.append((f"{case} (Redis), {label}", *interleaved_us(functions, source, iterations, 7)))
    return rows


def main():
    process, url, directory = start_redis()
    os.environ["REDIS_URL"] = url  # cachekit-py's environment-configured backend
    try:
        import cachekit
        import cachekit_native
        from cachekit import cache as py_cache
        from cachekit_native import cache as native_cache

        print(f"load average before the run: {open('/proc/loadavg').read().split()[0]}")
        print(f"cachekit {cachekit.__version__ if hasattr(cachekit, '__version__') else '0.24.1'} vs "
              f"cachekit_native {cachekit_native.__version__} on libcachekit {cachekit_native.library_version()} "
              f"({cachekit_native.library_path()})")
        print(f"small dict: {len(cachekit_native.serializer.pack(SMALL))} B msgpack; "
              f"large dict: {len(cachekit_native.serializer.pack(LARGE))} B msgpack\n")

        def decorate(side, value, **options):
            def function(x):
                return value
            function.__qualname__ = f"bench_{side}_{id(options)}_{len(value)}"
            if side == "py":
                return py_cache(ttl=600, **options)(function)
            return native_cache(ttl=600, redis_url=url, **options)(function)

        rows = []
        for label, value in (("small", SMALL), ("10KB", LARGE)):
            cases = []
            # decorator + L1 hit: one argument, called again and again
            for side in ("py", "native"):
                function = decorate(side, value)
                function(1)
                cases.append(per_call_us(function, itertools.repeat(1), 20000, 5))
            rows.append((f"decorator + L1 hit, {label}", *cases))
            # L2 hit: L1 disabled on both sides, the entry is read from Redis each call
            cases = []
            for side in ("py", "native"):
                function = decorate(side, value, l1_enabled=False)
                function(1)
                cases.append(per_call_us(function, itertools.repeat(1), 3000, 5))
            rows.append((f"L2 hit (Redis), {label}", *cases))
            # miss + store: a new argument every call (GET miss, compute, SETEX, L1 fill)
            cases = []
            for side in ("py", "native"):
                function = decorate(side, value)
                cases.append(per_call_us(function, itertools.count(10_000_000), 2000, 5))
            rows.append((f"miss + store, {label}", *cases))

        # async decorator + L1 hit: cachekit-py answers from its Python L1 on the loop; cachekit_native
        # runs every library call in the executor (cachekit_cache_get may block on Redis).
        import asyncio
        cases = []
        for side in ("py", "native"):
            async def function(x):
                return SMALL
            function.__qualname__ = f"bench_async_{side}"
            wrapped = py_cache(ttl=600)(function) if side == "py" else native_cache(ttl=600, redis_url=url)(function)

            async def run(wrapped=wrapped):
                await wrapped(1)
                best = float("inf")
                for _ in range(5):
                    start = time.perf_counter()
                    for _ in range(2000):
                        await wrapped(1)
                    best = min(best, (time.perf_counter() - start) / 2000 * 1e6)
                return best
            cases.append(asyncio.run(run()))
        rows.append(("async decorator + L1 hit, small", *cases))

        print(f"{'case':32s} {'cachekit-py us':>15s} {'native us':>10s} {'ratio':>7s}")
        for name, py_us, native_us in rows:
            print(f"{name:32s} {py_us:15.2f} {native_us:10.2f} {py_us / native_us:6.2f}x")
        print(f"\nwithout Redis (cachekit_native {'with' if cachekit_native._fast.available() else 'WITHOUT'} "
              f"its C hit path); ratio = baseline / native")
        print(f"{'case':40s} {'baseline us':>12s} {'native us':>10s} {'ratio':>7s}")
        for name, base_us, native_us in local_rows(native_cache):
            print(f"{name:40s} {base_us:12.2f} {native_us:10.2f} {base_us / native_us:6.2f}x")
        print(f"\nwith Redis, cachekit_native's ctypes path against its C hit path; ratio = ctypes / C")
        print(f"{'case':40s} {'ctypes us':>12s} {'C us':>10s} {'ratio':>7s}")
        for name, ctypes_us, c_us in l2_path_rows(native_cache, url):
            print(f"{name:40s} {ctypes_us:12.2f} {c_us:10.2f} {ctypes_us / c_us:6.2f}x")
        print(f"\nload average after the run: {open('/proc/loadavg').read().split()[0]}")
    finally:
        process.terminate()
        process.wait()
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
