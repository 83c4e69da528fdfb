"""Crash consistency of the host's view (issue 13, item 5): writer processes killed with SIGKILL
at random moments, in the middle of large and small writes in plain and secure mode, pipelined
tracked writes (SET + SADD + EXPIRE), separate track-then-set calls and registry drains, leave
Redis in a state another process reads correctly: every entry reads back as exactly a value a
writer wrote for that key, or as a miss; never a wrong value, never a half-written entry taken
as valid, never an error. Afterwards the registry drain, ours and cachekit-py 0.24.1's
invalidate_cache(), removes every entry the set tracks, members that point at nothing included.

The writers and the reader are support/crash_worker.py (the cachekit_native binding). The seed
is CACHEKIT_CRASH_SEED (default 1313); CACHEKIT_CRASH_SECONDS sets the time of the kill rounds
(default 24 s; 48 s in the deep tier, CACHEKIT_TEST_DEEP).
"""
import collections
import json
import os
import random
import select
import signal
import subprocess
import sys
import time

import pytest

from support.crash_worker import MODES, PREFIX, REGISTRY_ID, REGISTRY_MODULE, REGISTRY_QUALNAME, VALUE_OPERATIONS
from support.peer import run_peer

WORKER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "support", "crash_worker.py")
SEED = int(os.environ.get("CACHEKIT_CRASH_SEED", "1313"))
SECONDS = float(os.environ.get("CACHEKIT_CRASH_SECONDS", "48" if os.environ.get("CACHEKIT_TEST_DEEP") else "24"))
WRITERS_PER_MODE = 2
STARTUP_S = 60.0  # for a process's start (a writer's: its first two operations), on a loaded machine
LONGEST_LIFE_S = 0.6  # a writer is killed at a random moment within this after its second operation
LARGE = 256 << 10  # the writers' large values start here
SET_KEY = (PREFIX + REGISTRY_ID).encode()


def read_line(process, timeout, what):
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    if not ready:
        pytest.fail(f"{what}: no answer within {timeout:.0f} s")
    line = process.stdout.readline()
    if not line:
        pytest.fail(f"{what}: the process exited ({process.wait()}): {process.stderr.read()[-2000:]}")
    return line.strip()


class Reader:
    """The reader process: answers `check` and `drain` with a JSON line each."""

    def __init__(self, redis_url, log_dir):
        self.process = subprocess.Popen([sys.executable, WORKER, "read", redis_url, log_dir], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert read_line(self.process, STARTUP_S, "reader start") == "ready"

    def ask(self, command):
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return json.loads(read_line(self.process, 120, f"reader {command}"))

    def check(self):
        """The reader's report, asserted clean: no wrong value, no error, no decode error."""
        report = self.ask("check")
        assert report["wrong"] == [] and report["errors"] == [], report
        for mode, stats in report["stats"].items():
            assert stats["decode_errors"] == 0, (mode, stats)
        return report

    def close(self):
        self.process.stdin.close()
        self.process.wait(timeout=30)


def kill_round(redis_url, log_dir, rng, round_number, interrupted, drains=True):
    """Starts the writers, kills each at its own random moment after its second operation; counts
    in `interrupted` the operations the kills landed in (a begin with no done in the log)."""
    writers = []
    for mode in MODES:
        for index in range(WRITERS_PER_MODE):
            name = f"r{round_number}{mode[0]}{index}"
            process = subprocess.Popen([sys.executable, WORKER, "write", redis_url, mode, name,
                                        str(rng.randrange(1 << 30)), log_dir, "1" if drains else "0"],
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            writers.append((name, process))
    try:
        for name, process in writers:
            assert read_line(process, STARTUP_S, f"writer {name}") == "ready"
        started = time.monotonic()
        for name, process in sorted(writers, key=lambda _: rng.random()):
            time.sleep(max(0.0, started + rng.uniform(0, LONGEST_LIFE_S) - time.monotonic()))
            process.send_signal(signal.SIGKILL)
    finally:
        for _, process in writers:
            process.kill()
            process.wait()
    for name, process in writers:
        assert process.returncode == -signal.SIGKILL, (name, process.returncode, process.stderr.read()[-2000:])
    for name, _ in writers:
        with open(os.path.join(log_dir, f"{name}.log")) as log:
            last = log.read().splitlines()[-1].split(" ")
        if last[0] == "B":  # B seq op key length
            large = last[2] in VALUE_OPERATIONS and int(last[4]) >= LARGE
            interrupted[last[2] + (" (large)" if large else "")] += 1


def kill_rounds(redis_url, log_dir, reader, rng, seconds, first_round, interrupted):
    """Kill rounds for `seconds` (at least 3), the reader checking every key after each; the last
    round's writers do not drain, so what they leave (members with and without entries) waits for
    the test's drain. Returns the rounds and the hits the reader checked."""
    rounds, hits = 0, 0
    deadline = time.monotonic() + seconds
    while True:
        last = rounds >= 2 and time.monotonic() >= deadline
        kill_round(redis_url, log_dir, rng, first_round + rounds, interrupted, drains=not last)
        hits += reader.check()["hits"]
        rounds += 1
        if last:
            return rounds, hits


def tracked_entries(client):
    """The registry's members and which of them have an entry in Redis."""
    members = {member.decode() for member in client.smembers(SET_KEY)}
    present = {member for member in members if client.exists(PREFIX + member)}
    return members, present


def drain_with_cachekit_py(redis_url):
    """A fresh cachekit-py 0.24.1 process: invalidate_cache() with no arguments drains the set."""
    return run_peer(redis_url, f"""
def {REGISTRY_QUALNAME}(x):
    return x
{REGISTRY_QUALNAME}.__module__ = {REGISTRY_MODULE!r}
{REGISTRY_QUALNAME} = cache(ttl=300)({REGISTRY_QUALNAME})
{REGISTRY_QUALNAME}.invalidate_cache()
out = {{"invalidated": True}}
""")


def test_kill_9_mid_writes_and_registry_updates_leaves_a_state_readers_and_drains_handle(
        redis_url, redis_server, tmp_path):
    rng = random.Random(SEED)
    log_dir = str(tmp_path)
    client = redis_server.client()
    interrupted = collections.Counter()
    reader = Reader(redis_url, log_dir)
    try:
        # Phase 1: kill rounds, then our drain in the reader process.
        rounds, hits = kill_rounds(redis_url, log_dir, reader, rng, SECONDS * 0.6, 0, interrupted)
        members, present = tracked_entries(client)
        ghosts = members - present
        assert present and ghosts, (len(members), len(present))  # both kinds of member exist
        assert reader.ask("drain") == {"removed": len(members)}
        left = {member for member in members if client.exists(PREFIX + member)}
        assert (left, client.exists(SET_KEY)) == (set(), 0)
        reader.check()

        # Phase 2: more kill rounds, then cachekit-py's invalidate_cache() drains what they left.
        more_rounds, more_hits = kill_rounds(redis_url, log_dir, reader, rng, SECONDS * 0.4, rounds, interrupted)
        members2, present2 = tracked_entries(client)
        assert present2 and members2 - present2, (len(members2), len(present2))
        assert drain_with_cachekit_py(redis_url) == {"invalidated": True}
        left2 = {member for member in members2 if client.exists(PREFIX + member)}
        assert (left2, client.exists(SET_KEY)) == (set(), 0)
        reader.check()
    finally:
        reader.close()
        client.close()

    # The rounds exercised what they claim: kills inside large writes, entries read back.
    figures = {"rounds": rounds + more_rounds, "kills inside": dict(interrupted), "hits checked": hits + more_hits,
               "ghost members drained": len(ghosts | (members2 - present2))}
    print("crash consistency:", figures)
    inside_large = sum(count for operation, count in interrupted.items() if operation.endswith("(large)"))
    assert inside_large > 0 and figures["hits checked"] > 0, figures
