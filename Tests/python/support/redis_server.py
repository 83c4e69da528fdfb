"""Private redis-servers on free loopback ports, started and stopped by the tests: plain, TLS
(certificates made with the openssl CLI) and a Sentinel topology (a master, a replica, three
sentinels)."""
import pathlib
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.parse

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition, timeout: float, what: str, interval: float = 0.05):
    """Polls condition() until it returns something truthy; fails the test with `what` after timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f} s waiting until {what}")


def _answers_ping(stream) -> bool:
    stream.sendall(b"PING\r\n")
    # NOAUTH: a server with requirepass is up too.
    return stream.recv(64).startswith((b"+PONG", b"-NOAUTH"))


class RedisServer:
    """A private redis-server on loopback; `extra` adds command-line arguments."""

    def __init__(self, port: int | None = None, extra=()):
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server not installed (the test command installs it)")
        self.binary = binary
        self.port = port or free_port()
        self.extra = list(extra)
        self.dir = tempfile.mkdtemp(prefix="cachekit-redis-")
        self.process = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def listening(self) -> list[str]:
        return ["--port", str(self.port)]

    def arguments(self) -> list[str]:
        return self.listening() + ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                   "--dir", self.dir] + self.extra

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                return _answers_ping(s)
        except OSError:
            return False

    def start(self):
        self.process = subprocess.Popen([self.binary, *self.arguments()],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.answers():
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not start on port {self.port} ({self.arguments()})")

    def client(self, **options):
        import redis  # installed with cachekit
        return redis.Redis(host="127.0.0.1", port=self.port, **options)

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


# ---------------------------------------------------------------------------------------------
# TLS


class TLSFiles:
    """A test CA, a server certificate it signed (127.0.0.1 and localhost), a client certificate
    it signed, and a second CA that signed neither (a wrong ssl_ca_certs)."""

    def __init__(self, directory: pathlib.Path):
        self.directory = directory
        self.ca = directory / "ca.crt"
        self.server_cert, self.server_key = directory / "server.crt", directory / "server.key"
        self.client_cert, self.client_key = directory / "client.crt", directory / "client.key"
        self.other_ca = directory / "other-ca.crt"


def _openssl(*args, cwd):
    done = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        pytest.fail(f"openssl {args[0]} failed: {done.stderr[-2000:]}")


# P-256 keys: generated in milliseconds, unlike RSA.
_NEW_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


def make_tls_files(directory: pathlib.Path) -> TLSFiles:
    if shutil.which("openssl") is None:
        pytest.fail("openssl not installed (scripts/install-deps.sh installs it)")
    for ca in ("ca", "other-ca"):
        _openssl("req", "-x509", *_NEW_KEY, "-keyout", f"{ca}.key", "-out", f"{ca}.crt", "-days", "2",
                 "-subj", f"/CN=cachekit test {ca}", "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=directory)
    leaves = {"server": "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
              "client": "extendedKeyUsage=clientAuth\n"}
    for name, extensions in leaves.items():
        (directory / f"{name}.ext").write_text("basicConstraints=CA:FALSE\n" + extensions)
        _openssl("req", *_NEW_KEY, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj",
                 f"/CN=cachekit test {name}", cwd=directory)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                 "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext", cwd=directory)
    return TLSFiles(directory)


class TLSRedisServer(RedisServer):
    """redis-server speaking only TLS (--port 0); with require_client_cert, mutual TLS."""

    def __init__(self, files: TLSFiles, require_client_cert: bool = False):
        super().__init__()
        self.files = files
        self.require_client_cert = require_client_cert

    def listening(self) -> list[str]:
        return ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", str(self.files.server_cert),
                "--tls-key-file", str(self.files.server_key), "--tls-ca-cert-file", str(self.files.ca),
                "--tls-auth-clients", "yes" if self.require_client_cert else "no"]

    def answers(self) -> bool:
        context = ssl.create_default_context(cafile=str(self.files.ca))
        if self.require_client_cert:
            context.load_cert_chain(str(self.files.client_cert), str(self.files.client_key))
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as raw:
                with context.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                    return _answers_ping(s)
        except (OSError, ssl.SSLError):
            return False

    def tls_url(self, ca=None, cert_reqs="required", client_cert=None, userinfo="") -> str:
        """A rediss:// URL as cachekit-py (redis-py) takes it: ssl_ca_certs is the test CA unless
        `ca` names another (False: none); client certificates when the server requires them
        unless `client_cert` says otherwise."""
        parameters = {"ssl_cert_reqs": cert_reqs}
        if ca is not False:
            parameters["ssl_ca_certs"] = str(ca or self.files.ca)
        if client_cert if client_cert is not None else self.require_client_cert:
            parameters["ssl_certfile"] = str(self.files.client_cert)
            parameters["ssl_keyfile"] = str(self.files.client_key)
        return f"rediss://{userinfo}127.0.0.1:{self.port}/0?{urllib.parse.urlencode(parameters, safe='/')}"

    @property
    def url(self) -> str:
        return self.tls_url()

    def client(self, **options):
        import redis
        return redis.Redis.from_url(self.url, **options)


# ---------------------------------------------------------------------------------------------
# Sentinel


class SentinelServer(RedisServer):
    """redis-server --sentinel with its own writable config file (Sentinel rewrites it)."""

    def __init__(self, service: str, master_port: int):
        super().__init__()
        self.config = pathlib.Path(self.dir) / "sentinel.conf"
        self.config.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {self.dir}\n"
            f"sentinel monitor {service} 127.0.0.1 {master_port} 2\n"
            f"sentinel down-after-milliseconds {service} 1000\n"
            f"sentinel failover-timeout {service} 3000\n"
            f"sentinel parallel-syncs {service} 1\n")

    def arguments(self) -> list[str]:
        return [str(self.config), "--sentinel"]


class SentinelTopology:
    """A master, a replica of it and three sentinels monitoring it as `service` (quorum 2)."""

    def __init__(self, service: str = "ckmaster"):
        self.service = service
        self.master = RedisServer()
        self.replica = RedisServer(extra=["--replicaof", "127.0.0.1", str(self.master.port)])
        self.sentinels = [SentinelServer(service, self.master.port) for _ in range(3)]

    @property
    def url(self) -> str:
        nodes = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{nodes}/{self.service}/0"

    def start(self):
        self.master.start()
        self.replica.start()
        # In sync before the sentinels' first INFO, so they learn the replica at once.
        wait_until(lambda: self.replica.client().info("replication").get("master_link_status") == "up", 15,
                   "the replica is in sync with the master")
        for sentinel in self.sentinels:
            sentinel.start()
        self.wait_until_settled(self.master_address(), 20)
        return self

    def servers(self):
        return [self.master, self.replica]

    def master_address(self) -> tuple[str, int]:
        return self.master_address_from(self.sentinels[0])

    def master_address_from(self, sentinel) -> tuple[str, int]:
        client = sentinel.client(decode_responses=True)
        try:
            host, port = client.sentinel_get_master_addr_by_name(self.service)
        finally:
            client.close()
        return host, int(port)

    def server_at(self, address) -> RedisServer:
        return next(server for server in self.servers() if ("127.0.0.1", server.port) == tuple(address))

    def wait_until_settled(self, master, timeout):
        """Until every sentinel names `master`, sees a healthy replica and the two other sentinels."""
        def settled():
            for sentinel in self.sentinels:
                client = sentinel.client(decode_responses=True)
                try:
                    host, port = client.sentinel_get_master_addr_by_name(self.service)
                    replicas = client.sentinel_slaves(self.service)
                    peers = client.sentinel_sentinels(self.service)
                except Exception:
                    return False
                finally:
                    client.close()
                healthy = [r for r in replicas if r.get("master-link-status") == "ok"
                           and not r.get("is_sdown") and not r.get("is_disconnected")]
                if (host, int(port)) != tuple(master) or not healthy or len(peers) < 2:
                    return False
            return True
        wait_until(settled, timeout, f"every sentinel knows master {master[1]}, its replica and its peers", 0.2)

    def failover(self):
        """SENTINEL FAILOVER; returns the old master's address once every sentinel names a new one."""
        old = self.master_address()
        assert self.sentinels[0].client().execute_command("SENTINEL", "FAILOVER", self.service)
        def agreed_on_new_master():
            named = {self.master_address_from(sentinel) for sentinel in self.sentinels}
            return len(named) == 1 and old not in named
        wait_until(agreed_on_new_master, 15, "every sentinel names the promoted replica", 0.1)
        return old

    def cleanup(self):
        for server in [*self.sentinels, self.replica, self.master]:
            server.cleanup()
