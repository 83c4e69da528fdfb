"""Shared fixtures for the Python tests: the built library, the test vectors, a real redis-server."""
import ctypes
import os
import pathlib
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
# cachekit 0.24.1's vectors, copied into the repository so a clean clone tests itself.
VECTORS = ROOT / "Tests" / "vectors"


def library_path() -> str:
    path = os.environ.get("CACHEKIT_LIBRARY_PATH") or str(ROOT / ".build" / "release" / "libcachekit.so")
    if not os.path.exists(path):
        pytest.fail(f"libcachekit not built at {path}: run swift build -c release first")
    return path


@pytest.fixture(scope="session")
def lib():
    """The built libcachekit.so through ctypes (raw: callers declare argtypes they use)."""
    return ctypes.CDLL(library_path())


@pytest.fixture(scope="session")
def vectors_dir() -> pathlib.Path:
    if not VECTORS.is_dir():
        pytest.fail(f"test vectors not found at {VECTORS}")
    return VECTORS


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A private redis-server on loopback, started and stopped by the tests."""

    def __init__(self, port: int | None = None):
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server not installed (the test command installs it)")
        self.binary = binary
        self.port = port or _free_port()
        self.dir = tempfile.mkdtemp(prefix="cachekit-redis-")
        self.process = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir, "--protected-mode", "yes"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self):
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


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
