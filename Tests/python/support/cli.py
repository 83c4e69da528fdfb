"""The built cachekit-cli, run in a subprocess with the Redis URL in CACHEKIT_REDIS_URL."""
import os
import pathlib
import subprocess

import pytest

from support.abi import ROOT
from support.peer import MASTER_KEY


def cli_path():
    candidates = [os.environ.get("CACHEKIT_CLI_PATH"),
                  str(pathlib.Path(os.environ.get("CACHEKIT_LIBRARY_PATH", "")).parent / "cachekit-cli"),
                  str(ROOT / ".build" / "release" / "cachekit-cli"), str(ROOT / ".build" / "debug" / "cachekit-cli")]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK) and os.path.isfile(candidate):
            return candidate
    pytest.fail(f"cachekit-cli not built (tried {[c for c in candidates if c]}): run swift build")


def cli(*args, url, secure=False, stdin=None):
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CACHEKIT_MASTER_KEY", "CACHEKIT_DEPLOYMENT_UUID")}
    env["CACHEKIT_REDIS_URL"] = url
    if secure:
        env["CACHEKIT_MASTER_KEY"] = MASTER_KEY
    return subprocess.run([cli_path(), *args], env=env, input=stdin, capture_output=True, text=True, timeout=60)
