"""A process for test_abi_crash.py, through the cachekit_native binding: a writer the test kills
with SIGKILL, or the reader that checks what the killed writers left in Redis.

    crash_worker.py write REDIS_URL MODE WRITER_ID SEED LOG_DIR DRAINS (1: drain now and then)
    crash_worker.py read REDIS_URL LOG_DIR      (then one command a line on stdin: check, drain)

Every value names its key, writer and sequence number and carries a body derived from them, so
the reader can tell a value some writer wrote for that key from anything else. A writer appends
"B <seq> <op> <key> <length>" to its log before each operation and "D <seq>" after it (unbuffered
os.write, so a SIGKILL loses neither), which tells the reader which values were ever attempted
and the test whether a kill landed in the middle of an operation.
"""
import json
import os
import pathlib
import random
import sys

import msgpack
from blake3 import blake3

BINDINGS = pathlib.Path(__file__).resolve().parents[3] / "bindings" / "python"
sys.path.insert(0, str(BINDINGS))

from cachekit_native import Cache  # noqa: E402  (needs the path above)

MODES = ("plain", "secure")
KEYS_PER_MODE = 48
MASTER_KEY = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
# The registry id cachekit-py 0.24.1 gives crash_probe.tracked (no namespace), so its
# invalidate_cache() drains the set these writers fill.
REGISTRY_MODULE, REGISTRY_QUALNAME = "crash_probe", "tracked"
REGISTRY_ID = "ck:reg::" + blake3(f"{REGISTRY_MODULE}.{REGISTRY_QUALNAME}".encode()).hexdigest()[:16]
PREFIX = "t:default:"
TTL = 300
VALUE_OPERATIONS = ("set", "set_tracked", "track_then_set")


def entry_keys(mode):
    """Keys written with set, with track-then-set, and with set_tracked (pipelined)."""
    return ([f"crash:{mode}:e:{i}" for i in range(KEYS_PER_MODE)]
            + [f"crash:{mode}:t:{i}" for i in range(KEYS_PER_MODE)])


def body(key, writer, seq, length):
    return random.Random(f"{key}|{writer}|{seq}").randbytes(length)


def value_for(key, writer, seq, length):
    """A MessagePack document (values are documents to the cache): [key, writer, seq, body]."""
    return msgpack.packb([key, writer, seq, body(key, writer, seq, length)])


def open_cache(redis_url, mode, **options):
    extra = {"master_key": MASTER_KEY} if mode == "secure" else {}
    return Cache(from_env=False, redis_url=redis_url, mode=mode, **extra, **options)


# (operation, share of the operations after the first two); drains only when the writer drains.
OPERATIONS = (("set", 0.35), ("set_tracked", 0.35), ("track_then_set", 0.15), ("track_ghost", 0.10),
              ("drain", 0.05))


def operation_key(op, mode, writer, seq, index):
    if op == "set":
        return f"crash:{mode}:e:{index}"
    if op in ("set_tracked", "track_then_set"):
        return f"crash:{mode}:t:{index}"
    if op == "track_ghost":
        return f"crash:{mode}:ghost:{writer}:{seq}"  # a member whose key is never written
    return REGISTRY_ID


def write(redis_url, mode, writer, seed, log_dir, drains):
    """Writes until killed. Its first two operations are a member with no entry and a tracked
    entry, so every round leaves both kinds for the drains the test runs after it."""
    rng = random.Random(seed)
    names = [op for op, _ in OPERATIONS if drains or op != "drain"]
    weights = [share for op, share in OPERATIONS if drains or op != "drain"]
    cache = open_cache(redis_url, mode)
    log = os.open(os.path.join(log_dir, f"{writer}.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    seq = 0
    while True:
        seq += 1
        op = {1: "track_ghost", 2: "set_tracked"}.get(seq) or rng.choices(names, weights)[0]
        key = operation_key(op, mode, writer, seq, rng.randrange(KEYS_PER_MODE))
        # One value in four is large (up to 2 MiB): a kill then often lands mid-transfer.
        length = rng.randrange(256 << 10, 2 << 20) if rng.random() < 0.25 else rng.randrange(1, 3000)
        os.write(log, f"B {seq} {op} {key} {length}\n".encode())
        if op == "set":
            cache.set(key, value_for(key, writer, seq, length), ttl=TTL)
        elif op == "set_tracked":
            cache.set_tracked(REGISTRY_ID, key, value_for(key, writer, seq, length), ttl=TTL)
        elif op == "track_then_set":  # two calls: a kill between them leaves a member with no entry
            cache.track_key(REGISTRY_ID, key)
            cache.set(key, value_for(key, writer, seq, length), ttl=TTL)
        elif op == "track_ghost":
            cache.track_key(REGISTRY_ID, key)
        else:
            cache.drain_registry(REGISTRY_ID)
        os.write(log, f"D {seq}\n".encode())
        if seq == 2:
            print("ready", flush=True)


def attempted(log_dir):
    """{(key, writer, seq): length} of every value a writer began to write, from the logs."""
    values = {}
    for path in pathlib.Path(log_dir).glob("*.log"):
        writer = path.stem
        for line in path.read_text().splitlines():
            parts = line.split(" ")
            if parts[0] == "B" and len(parts) == 5 and parts[2] in VALUE_OPERATIONS:
                values[(parts[3], writer, int(parts[1]))] = int(parts[4])
    return values


def verdict(key, value, attempts):
    """None when value is byte for byte one a writer attempted for key, else why it is not."""
    try:
        named_key, writer, seq, _ = msgpack.unpackb(value)
    except (ValueError, TypeError, msgpack.UnpackException):
        return f"not a value any writer writes ({len(value)} bytes)"
    if named_key != key:
        return f"a value for another key ({named_key!r})"
    length = attempts.get((key, writer, seq))
    if length is None:
        return f"writer {writer} never attempted seq {seq} for this key"
    if value != value_for(key, writer, seq, length):
        return f"writer {writer}'s seq {seq} differs from what it wrote ({len(value)} bytes read)"
    return None


def check(caches, log_dir):
    attempts = attempted(log_dir)
    report = {"hits": 0, "misses": 0, "wrong": [], "errors": []}
    for mode, cache in caches.items():
        for key in entry_keys(mode):
            try:
                value = cache.get(key)
            except Exception as error:  # noqa: BLE001  (the report names it; the test fails on it)
                report["errors"].append(f"{key}: {type(error).__name__}: {error}")
                continue
            if value is None:
                report["misses"] += 1
                continue
            report["hits"] += 1
            reason = verdict(key, value, attempts)
            if reason:
                report["wrong"].append(f"{key}: {reason}")
    report["stats"] = {mode: cache.stats() for mode, cache in caches.items()}
    return report


def read(redis_url, log_dir):
    # L1 off: every read is what Redis holds now.
    caches = {mode: open_cache(redis_url, mode, l1_max_bytes=0) for mode in MODES}
    print("ready", flush=True)
    for line in sys.stdin:
        command = line.strip()
        try:
            if command == "check":
                report = check(caches, log_dir)
            elif command == "drain":
                report = {"removed": caches["plain"].drain_registry(REGISTRY_ID)}
            else:
                report = {"errors": [f"unknown command {command!r}"]}
        except Exception as error:  # noqa: BLE001
            report = {"errors": [f"{command}: {type(error).__name__}: {error}"]}
        print(json.dumps(report), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6], sys.argv[7] == "1")
    else:
        read(sys.argv[2], sys.argv[3])
