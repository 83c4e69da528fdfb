"""conftest.py for scripts/peer-suite.sh, in place of cachekit-py's own (which needs pytest-redis
and cachekit internals): a private redis-server for the run, named by CACHEKIT_REDIS_URL and
REDIS_URL before any test module is imported, and emptied before each test."""
import os
import pathlib
import sys

import pytest

sys.path.insert(0, os.path.join(os.environ["PEER_SUITE_REPO"], "Tests", "python"))
from support.redis_server import RedisServer  # noqa: E402

_server = None


def pytest_configure(config):
    global _server
    _server = RedisServer()
    _server.start()
    os.environ["CACHEKIT_REDIS_URL"] = os.environ["REDIS_URL"] = _server.url


def pytest_unconfigure(config):
    if _server is not None:
        _server.cleanup()


def pytest_collection_modifyitems(config, items):
    """Drop the tests peer_suite.py did not select (not-selected.txt), the tests that ask for a
    fixture of cachekit-py's conftest, which this run does not have, and, for cachekit_native, the
    tests the baseline did not pass (PEER_SUITE_ONLY)."""
    only = os.environ.get("PEER_SUITE_ONLY")
    wanted = set(pathlib.Path(only).read_text().split()) if only else None
    not_selected = tuple(pathlib.Path("not-selected.txt").read_text().split())
    kept, dropped = [], []
    for item in items:
        known = getattr(item, "_fixtureinfo", None)
        missing = known is not None and any(name not in known.name2fixturedefs for name in item.fixturenames)
        refused = any(item.nodeid == node or item.nodeid.startswith((node + "::", node + "["))
                      for node in not_selected)
        if missing or refused or (wanted is not None and item.nodeid not in wanted):
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    print(f"\npeer-suite: {len(dropped)} tests deselected (internals, cachekit-py's conftest fixtures"
          f"{', not passed in the baseline' if wanted is not None else ''})")
    items[:] = kept


def pytest_runtest_logreport(report):
    passed = os.environ.get("PEER_SUITE_PASSED")
    if passed and report.when == "call" and report.passed:
        with open(passed, "a", encoding="utf-8") as out:
            out.write(report.nodeid + "\n")


@pytest.fixture(autouse=True)
def _empty_redis():
    client = _server.client()
    client.flushall()
    client.close()
    yield
