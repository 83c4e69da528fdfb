"""Shared fixtures for the Python tests: the built library, the test vectors, a real redis-server.

Helpers live in support/ (this directory is on sys.path while pytest runs); the tests are laid
out by subject: abi/ (the C ABI through ctypes), binding/ (cachekit_native), cli/.
"""
import os
import pathlib

import pytest

from support.abi import VECTORS, raw_library
from support.redis_server import RedisServer


@pytest.fixture(scope="session")
def lib():
    """The built libcachekit through ctypes with the shared signature table (support/abi.py)."""
    return raw_library()


@pytest.fixture(scope="session")
def vectors_dir() -> pathlib.Path:
    if not VECTORS.is_dir():
        pytest.fail(f"test vectors not found at {VECTORS}")
    return VECTORS


@pytest.fixture(scope="session")
def redis_server():
    """One redis-server for the session; the port comes from CACHEKIT_TEST_REDIS_PORT if set."""
    port = int(os.environ["CACHEKIT_TEST_REDIS_PORT"]) if os.environ.get("CACHEKIT_TEST_REDIS_PORT") else None
    server = RedisServer(port).start()
    yield server
    server.cleanup()


@pytest.fixture
def redis_url(redis_server):
    """A flushed database on the session's redis-server."""
    import redis  # installed with cachekit
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return redis_server.url
