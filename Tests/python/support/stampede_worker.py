"""One process of the fill-lock stampede tests (test_fill_lock_stampede.py).

    python stampede_worker.py ROLE REDIS_URL [OPTIONS_JSON]

ROLE: py-async (the real cachekit 0.24.1, async), native-sync / native-async (cachekit_native's
decorator) or abi (cachekit_cache_get_or_compute through cachekit_native.Cache). Every role
caches the same function under the same key, so they contend for one entry and one fill lock.
The body counts its runs with INCR runs, records its pid under "holder" and sleeps
CK_STAMPEDE_SLEEP seconds (default 1.5). The worker says it is ready (INCR ready), waits for
the key "go", notes under "arrivals" whether a fill lock was held then, calls once and prints
one line: RESULT <json of the value>.
"""
import asyncio
import json
import os
import sys
import time

import redis

ROLE, URL = sys.argv[1], sys.argv[2]
OPTIONS = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
SLEEP = float(os.environ.get("CK_STAMPEDE_SLEEP", "1.5"))
client = redis.Redis.from_url(URL)


def body(x):
    client.incr("runs")
    client.set("holder", os.getpid())
    return {"v": x, "by": ROLE}


def shared(function):
    function.__module__ = "ckn_interop_probe"
    function.__qualname__ = "stampede"
    return function


def wait_for_go():
    client.incr("ready")
    while not client.exists("go"):
        time.sleep(0.005)
    client.rpush("arrivals", 1 if client.keys("*:lock") else 0)  # whether a fill lock was held as it called


def main():
    if ROLE == "py-async":
        from cachekit import cache

        async def stampede(x):
            value = body(x)
            await asyncio.sleep(SLEEP)
            return value
        function = cache(ttl=60)(shared(stampede))
        wait_for_go()
        result = asyncio.run(function(7))
    elif ROLE in ("native-sync", "native-async"):
        from cachekit_native import cache

        if ROLE == "native-sync":
            def stampede(x):
                value = body(x)
                time.sleep(SLEEP)
                return value
        else:
            async def stampede(x):
                value = body(x)
                await asyncio.sleep(SLEEP)
                return value
        function = cache(ttl=60, redis_url=URL, **OPTIONS)(shared(stampede))
        wait_for_go()
        result = asyncio.run(function(7)) if ROLE == "native-async" else function(7)
    else:  # abi: the C entry point, with the decorator's key and document format
        from cachekit_native import Cache, serializer
        from cachekit_native.keys import AutoKeyBuilder

        def stampede(x):
            return x
        key = AutoKeyBuilder(shared(stampede), None, True).key((7,), {})
        cache = Cache(from_env=False, redis_url=URL, default_ttl=60, **OPTIONS)

        def compute():
            value = body(7)
            time.sleep(SLEEP)
            return serializer.pack(value)
        wait_for_go()
        result = serializer.unpack(cache.get_or_compute(key, compute, ttl=60))
    print("RESULT " + json.dumps(result), flush=True)


main()
