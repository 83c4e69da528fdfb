"""Shared fixtures for the Python tests: the built library, the test vectors, a real redis-server.

Helpers live in support/ (this directory is on sys.path while pytest runs); the tests are laid
out by subject: abi/ (the C ABI through ctypes), binding/ (cachekit_native), cli/.
"""
import os
import pathlib

import pytest

from support import speedups

speedups.build_in_place()  # before anything imports cachekit_native

from support.abi import VECTORS, raw_library  # noqa: E402
from support.cache import Cache  # noqa: E402
from support.redis_server import RedisServer, SentinelTopology, TLSRedisServer, make_tls_files  # noqa: E402


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


def flushed(server):
    client = server.client()
    client.flushall()
    client.close()
    return server


@pytest.fixture
def redis_url(redis_server):
    """A flushed database on the session's redis-server."""
    return flushed(redis_server).url


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory):
    """A CA, server and client certificates and a second, unrelated CA (openssl CLI)."""
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def tls_server(tls_files):
    """A redis-server speaking only TLS, not asking for client certificates."""
    server = TLSRedisServer(tls_files).start()
    yield server
    server.cleanup()


@pytest.fixture(scope="session")
def mtls_server(tls_files):
    """A redis-server speaking only TLS that requires a client certificate from the test CA."""
    server = TLSRedisServer(tls_files, require_client_cert=True).start()
    yield server
    server.cleanup()


@pytest.fixture
def tls_redis(tls_server):
    """The TLS server, flushed; .url is its rediss:// URL with ssl_ca_certs and ssl_cert_reqs=required."""
    return flushed(tls_server)


@pytest.fixture
def mtls_redis(mtls_server):
    return flushed(mtls_server)


@pytest.fixture(scope="session")
def sentinel_topology():
    """A master, a replica and three sentinels; a test may fail it over (ask it for the master)."""
    topology = SentinelTopology().start()
    yield topology
    topology.cleanup()


@pytest.fixture
def make_cache(lib):
    """Makes caches through the raw ABI (support/cache.py); frees them after the test."""
    caches = []

    def factory(**options):
        cache = Cache(lib, **options)
        caches.append(cache)
        return cache
    yield factory
    for cache in caches:
        cache.close()
