"""Fork from Python: a cache used before os.fork() keeps working in the parent and in three
children reading at the same time with L1 off: every read returns its own key's value (no
connection is shared across the fork), and no reader deletes another's entries from Redis."""
import os
import signal
import time

import pytest

from support.abi import OK
from support.peer import MASTER_KEY

KEYS = 200
CHILDREN = 3
PREFIX = "t:default:"


def value_of(index):
    return {"key": index, "pad": "v" * (index % 50)}


def wrong_reads(cache, start):
    """Reads every key once, from `start` round; counts the reads that are not the key's value."""
    wrong = 0
    for step in range(KEYS):
        index = (start + step) % KEYS
        if cache.get(f"fork:{index}") != (OK, value_of(index)):
            wrong += 1
    return wrong


def wait_for(pid, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail(f"child {pid} did not finish within {timeout:.0f} s")


@pytest.mark.parametrize("mode", ["plain", "secure"])
def test_parent_and_children_read_their_own_values_after_fork(make_cache, redis_url, redis_server, mode):
    options = {"master_key": MASTER_KEY} if mode == "secure" else {}
    cache = make_cache(redis_url=redis_url, mode=mode, l1_max_bytes=0, pool_size=8, **options)
    for index in range(KEYS):
        assert cache.set(f"fork:{index}", value_of(index), ttl=300) == OK
    assert wrong_reads(cache, 0) == 0  # used before the fork: its pool holds open connections

    children = []
    for child in range(CHILDREN):
        pid = os.fork()
        if pid == 0:  # the child: report the wrong reads through the exit code, never return to pytest
            code = 100
            try:
                code = min(wrong_reads(cache, (child + 1) * KEYS // (CHILDREN + 1)), 99)
            finally:
                os._exit(code)
        children.append(pid)
    parent_wrong = wrong_reads(cache, 0)
    statuses = [wait_for(pid) for pid in children]

    # Per child: wrong reads (99: 99 or more, 100: it raised, negative: the signal that killed it).
    exits = [os.waitstatus_to_exitcode(status) for status in statuses]
    client = redis_server.client()
    left = sum(client.exists(f"{PREFIX}fork:{index}") for index in range(KEYS))
    outcome = {"children": exits, "parent wrong reads": parent_wrong, "entries left in Redis": left}
    assert outcome == {"children": [0] * CHILDREN, "parent wrong reads": 0, "entries left in Redis": KEYS}
    assert cache.stats()["decode_errors"] == 0


def test_the_invalidation_listener_restarts_in_a_child(make_cache, redis_url):
    """fork() copies no thread: the child's first call that reaches Redis starts a listener of
    its own, so an invalidation event published later drops the child's L1 copy."""
    import msgpack
    import redis

    cache = make_cache(redis_url=redis_url, invalidation_listener=1)
    assert cache.set("warm", "before fork", ttl=300) == OK
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            assert cache.set("held", "in the child's L1", ttl=300) == OK  # reaches Redis
            publisher = redis.Redis.from_url(redis_url)
            event = msgpack.packb({"r": "ck:reg::00112233aabbccdd", "k": "held"})
            deadline = time.monotonic() + 10
            code = 2
            while time.monotonic() < deadline:
                publisher.publish("cachekit:py:invalidate:v1", event)
                if cache.get_local("held")[0] != OK:
                    code = 0
                    break
                time.sleep(0.1)
        finally:
            os._exit(code)
    status = wait_for(pid)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
