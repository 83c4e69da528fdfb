"""The fill lock across processes and SDKs, through one private redis-server: processes that miss
one cold key at once run the function exactly once and all return its value, whatever mix of the
real cachekit 0.24.1 (async), cachekit_native (sync and async) and the C entry point
(cachekit_cache_get_or_compute) they are; a holder killed mid-compute is taken over after the
lock's expiry. Runs are counted with INCR in Redis (support/stampede_worker.py)."""
import json
import os
import pathlib
import signal
import subprocess
import sys

import pytest

from support.abi import BINDINGS, library_path
from support.redis_server import RedisServer, wait_until

WORKER = pathlib.Path(__file__).resolve().parents[1] / "support" / "stampede_worker.py"


@pytest.fixture
def server():
    redis_server = RedisServer()
    redis_server.start()
    yield redis_server
    redis_server.cleanup()


def start(roles, url, options=None, sleep="1.5"):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CACHEKIT_")}
    env["PYTHONPATH"] = str(BINDINGS)
    env["CACHEKIT_LIBRARY_PATH"] = library_path()
    env["REDIS_URL"] = url  # the real cachekit reads its backend from here
    env["CK_STAMPEDE_SLEEP"] = sleep
    return [subprocess.Popen([sys.executable, str(WORKER), role, url, json.dumps(options or {})],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd="/")
            for role in roles]


def release(client, count):
    wait_until(lambda: int(client.get("ready") or 0) == count, 60, f"{count} workers are ready")
    client.set("go", 1)


def results(processes):
    out = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr[-3000:]
        line = [text for text in stdout.splitlines() if text.startswith("RESULT ")]
        assert line, stdout + stderr[-3000:]
        out.append(json.loads(line[-1][len("RESULT "):]))
    return out


def test_nine_processes_of_three_kinds_run_the_function_once(server):
    client = server.client()
    roles = ["py-async"] * 3 + ["native-sync"] * 3 + ["native-async"] * 2 + ["abi"]
    processes = start(roles, server.url)
    release(client, len(roles))
    values = results(processes)
    assert int(client.get("runs")) == 1
    assert len({json.dumps(value, sort_keys=True) for value in values}) == 1  # one value, whoever computed it
    assert all(value["v"] == 7 for value in values)
    assert not client.keys("*:lock")  # released


def test_c_hosts_alone_run_the_function_once(server):
    client = server.client()
    roles = ["abi"] * 4
    processes = start(roles, server.url)
    release(client, len(roles))
    values = results(processes)
    assert int(client.get("runs")) == 1
    assert all(value == {"v": 7, "by": "abi"} for value in values)


def test_a_killed_holder_is_taken_over_after_the_lock_expires(server):
    client = server.client()
    options = {"fill_lock_timeout_ms": 2500, "fill_lock_wait_ms": 20000}
    roles = ["abi", "native-sync", "native-async"]
    processes = start(roles, server.url, options)
    release(client, len(roles))
    holder = int(wait_until(lambda: client.get("holder"), 30, "a holder computes"))
    victim = next(process for process in processes if process.pid == holder)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    survivors = [process for process in processes if process is not victim]
    values = results(survivors)
    # The killed holder's run and exactly one takeover after its lock expired.
    assert int(client.get("runs")) == 2
    assert len({json.dumps(value, sort_keys=True) for value in values}) == 1
    assert not client.keys("*:lock")


@pytest.mark.parametrize("holder_role, waiter_roles", [("py-async", ["native-sync", "native-async", "abi"]),
                                                       ("abi", ["py-async", "py-async"])])
def test_each_sdk_honours_the_others_lock(server, holder_role, waiter_roles):
    client = server.client()
    (holder,) = start([holder_role], server.url, sleep="4")
    release(client, 1)
    wait_until(lambda: client.get("holder"), 30, "the holder computes")
    assert client.keys("*:lock"), "the holder took no lock"
    waiters = start(waiter_roles, server.url)  # "go" is set: they call at once, while the lock is held
    values = results([holder] + waiters)
    assert int(client.get("runs")) == 1
    assert all(value == {"v": 7, "by": holder_role} for value in values)
    assert client.lrange("arrivals", 1, -1) == [b"1"] * len(waiter_roles)  # every waiter met the held lock
