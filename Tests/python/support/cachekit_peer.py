"""The real cachekit package as a peer, run in a subprocess by the interop tests.

    python -c "import cachekit_peer; cachekit_peer.main()" write|read

Environment: CACHEKIT_REDIS_URL (the tests' private redis-server), CACHEKIT_MASTER_KEY.
`write` calls every cached function once (each stores its entry) and prints the Redis keys;
`read` calls every function again and prints, per mode, the value returned and how many times the
function body ran (0 means the entry was read from Redis: a cache hit, not a recomputation).
Each mode's function is named `peer_{mode}`; interop entries use namespace "peer" and operation
"{mode}" with dashes.
"""
import json
import os
import sys
from datetime import datetime, timezone

from cachekit import cache
from cachekit.backends.redis import RedisBackend

MODES = ["plain", "plain_ns", "secure", "minimal", "plain_bare", "secure_bare", "interop", "interop_secure"]

VALUE = {
    "name": "alice",
    "ids": [1, 2, 3],
    "score": 9.5,
    "ok": True,
    "none": None,
    "blob": b"\x00\x01\xfe",
    "when": datetime(2024, 1, 15, 12, 30, tzinfo=timezone.utc),
}

calls = {mode: 0 for mode in MODES}


def _body(mode):
    calls[mode] += 1
    if os.environ.get("CACHEKIT_PEER_PHASE") == "read":
        return {"recomputed": True}
    return VALUE


def _functions():
    url = os.environ["CACHEKIT_REDIS_URL"]
    bare = RedisBackend(redis_url=url)

    @cache(encryption=False)
    def peer_plain(x):
        return _body("plain")

    @cache(namespace="oracle", ttl=3600, encryption=False)
    def peer_plain_ns(x):
        return _body("plain_ns")

    @cache.secure
    def peer_secure(x):
        return _body("secure")

    @cache.minimal(encryption=False)
    def peer_minimal(x):
        return _body("minimal")

    @cache(backend=bare, encryption=False)
    def peer_plain_bare(x):
        return _body("plain_bare")

    @cache.secure(backend=bare)
    def peer_secure_bare(x):
        return _body("secure_bare")

    @cache(interop="interop", namespace="peer", backend=bare, encryption=False)
    def peer_interop(x):
        return _body("interop")

    @cache.secure(interop="interop-secure", namespace="peer", backend=bare)
    def peer_interop_secure(x):
        return _body("interop_secure")

    return {
        "plain": peer_plain, "plain_ns": peer_plain_ns, "secure": peer_secure, "minimal": peer_minimal,
        "plain_bare": peer_plain_bare, "secure_bare": peer_secure_bare, "interop": peer_interop,
        "interop_secure": peer_interop_secure,
    }


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return {"$bin": value.hex()}
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    return value


def main():
    phase = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("CACHEKIT_PEER_PHASE", "write")
    os.environ["CACHEKIT_PEER_PHASE"] = phase
    functions = _functions()
    results = {}
    for mode, function in functions.items():
        results[mode] = _jsonable(function(42))
    out = {"results": results, "calls": calls}
    if phase == "write":
        import redis
        client = redis.Redis.from_url(os.environ["CACHEKIT_REDIS_URL"])
        out["keys"] = sorted(k.decode() for k in client.keys("*") if b":ck:reg:" not in k and not k.endswith(b":lock"))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
