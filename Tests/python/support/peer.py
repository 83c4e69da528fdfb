"""The real cachekit 0.24.1 as a peer: run in a fresh interpreter against the tests' redis-server.

``run_peer`` runs a script body (its functions get the module and qualname this side gives them
with ``shared``, since the cache key contains both); ``run_peer_phase`` runs cachekit_peer.py,
which caches one value in every mode (PEER_MODES) and reads it back.
"""
import json
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

HERE = pathlib.Path(__file__).resolve().parent
MASTER_KEY = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
SHARED_MODULE = "ckn_interop_probe"

# cachekit_peer.py's functions: mode name -> (entry mode, namespace, integrity, encrypted, tenant prefix)
PEER_MODES = {
    "plain": ("auto", None, True, False, True),
    "plain_ns": ("auto", "oracle", True, False, True),
    "secure": ("auto", None, True, True, True),
    "minimal": ("minimal", None, False, False, True),
    "plain_bare": ("auto", None, True, False, False),
    "secure_bare": ("auto", None, True, True, False),
    "interop": ("interop", None, True, False, False),
    "interop_secure": ("interop", None, True, True, False),
}


def shared(function, qualname=None):
    """Gives function the module and qualname the cachekit-py side uses, before decorating it."""
    function.__module__ = SHARED_MODULE
    function.__qualname__ = qualname or function.__name__
    return function


PEER_PRELUDE = """
import asyncio, json, os, sys
from datetime import date, datetime, time, timezone
from cachekit import cache
calls = []
def shared(function, qualname=None):
    function.__module__ = %r
    function.__qualname__ = qualname or function.__name__
    return function
""" % SHARED_MODULE


def run_peer(redis_url: str, body: str, extra_env: dict | None = None) -> dict:
    """Runs body with the real cachekit package in a fresh interpreter; body sets `out` (JSON)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CACHEKIT_")}
    env.pop("PYTHONPATH", None)
    env["REDIS_URL"] = redis_url
    env.update(extra_env or {})
    script = PEER_PRELUDE + textwrap.dedent(body) + "\nprint('PEER-OUT ' + json.dumps(out, default=repr))\n"
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                               timeout=120, cwd="/")
    for line in completed.stdout.splitlines():
        if line.startswith("PEER-OUT "):
            return json.loads(line[len("PEER-OUT "):])
    raise AssertionError(f"cachekit-py peer failed (exit {completed.returncode}):\n{completed.stdout}\n{completed.stderr}")


def run_peer_phase(redis_url: str, phase: str) -> dict:
    """Runs cachekit_peer.py's `write` or `read` phase; returns its report."""
    env = dict(os.environ, CACHEKIT_REDIS_URL=redis_url, CACHEKIT_MASTER_KEY=MASTER_KEY, PYTHONPATH=str(HERE))
    env.pop("CACHEKIT_DEPLOYMENT_UUID", None)
    env.pop("REDIS_URL", None)
    done = subprocess.run([sys.executable, "-c", "import cachekit_peer; cachekit_peer.main()", phase],
                          env=env, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        pytest.fail(f"cachekit peer ({phase}) failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
