"""Helpers for the cachekit_native tests: import the package from this tree, run cachekit-py in a
subprocess against the same redis-server, and build functions whose module and qualname both
sides share (the cache key contains them)."""
import json
import os
import pathlib
import subprocess
import sys
import textwrap

ROOT = pathlib.Path(__file__).resolve().parents[2]
BINDINGS = ROOT / "bindings" / "python"
# The tree's package wins over an installed copy, so the tests always test this checkout.
if str(BINDINGS) not in sys.path:
    sys.path.insert(0, str(BINDINGS))

MASTER_KEY = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
SHARED_MODULE = "ckn_interop_probe"


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
