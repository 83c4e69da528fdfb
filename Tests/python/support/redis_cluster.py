"""A private Redis Cluster on loopback: six redis-server processes (three primaries, three
replicas) joined by `redis-cli --cluster create`, with helpers to reshard, fail over and kill."""
import random
import shutil
import socket
import subprocess

import pytest
import redis

from support.redis_server import RedisServer, TLSRedisServer, wait_until

# Short, so a killed primary's replica takes over within a few seconds.
NODE_TIMEOUT_MS = 1000
# A node also listens on its cluster bus, port + 10000, which must exist and be free too.
BUS_OFFSET = 10000


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_cluster_port() -> int:
    for _ in range(1000):
        port = random.randint(20000, 65535 - BUS_OFFSET)
        if _free(port) and _free(port + BUS_OFFSET):
            return port
    pytest.fail("no free loopback port with a free cluster bus port")


class RedisCluster:
    """`tls_files`: every node speaks TLS only, to clients and on the cluster bus."""

    def __init__(self, primaries: int = 3, replicas_per_primary: int = 1, tls_files=None):
        self.tls_files = tls_files
        self.count = primaries * (1 + replicas_per_primary)
        self.replicas_per_primary = replicas_per_primary
        self.nodes: list[RedisServer] = []
        self.cli = shutil.which("redis-cli")
        if self.cli is None:
            pytest.fail("redis-cli not installed (the test command installs redis-tools)")

    def start(self):
        try:
            return self._start()
        except BaseException:
            self.stop()  # no node outlives a cluster that failed to form
            raise

    def _start(self):
        for _ in range(self.count):
            node = RedisServer(port=free_cluster_port()) if self.tls_files is None else TLSRedisServer(self.tls_files)
            # A node connecting to another's bus is a TLS client: it shows the client certificate.
            tls = [] if self.tls_files is None else [
                "--tls-cluster", "yes", "--tls-replication", "yes", "--tls-client-cert-file",
                str(self.tls_files.client_cert), "--tls-client-key-file", str(self.tls_files.client_key)]
            node.port = free_cluster_port()
            node.extra = tls + ["--cluster-enabled", "yes", "--cluster-config-file", f"{node.dir}/nodes-{node.port}.conf",
                          "--cluster-node-timeout", str(NODE_TIMEOUT_MS), "--repl-diskless-sync-delay", "0"]
            self.nodes.append(node)  # before start: stop() removes its directory whatever happens
            node.start()
        self.redis_cli("--cluster", "create", *[f"127.0.0.1:{n.port}" for n in self.nodes],
                       "--cluster-replicas", str(self.replicas_per_primary), "--cluster-yes")
        self.wait_until_settled(30)
        return self

    def redis_cli(self, *args, timeout: float = 120):
        tls = [] if self.tls_files is None else ["--tls", "--cacert", str(self.tls_files.ca)]
        result = subprocess.run([self.cli, *tls, *args], capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            pytest.fail(f"redis-cli {' '.join(args[:3])} failed: {result.stdout[-2000:]} {result.stderr[-2000:]}")
        return result.stdout

    @property
    def url(self) -> str:
        """Two seeds, as a user would name them."""
        seeds = ",".join(f"127.0.0.1:{n.port}" for n in self.nodes[:2])
        if self.tls_files is None:
            return f"redis+cluster://{seeds}"
        return f"rediss+cluster://{seeds}?ssl_ca_certs={self.tls_files.ca}"

    def alive(self) -> list[RedisServer]:
        return [n for n in self.nodes if n.process is not None and n.process.poll() is None]

    def client(self, node: RedisServer) -> redis.Redis:
        tls = {} if self.tls_files is None else {"ssl": True, "ssl_ca_certs": str(self.tls_files.ca)}
        return redis.Redis(host="127.0.0.1", port=node.port, socket_timeout=2, **tls)

    def cluster_client(self) -> redis.RedisCluster:
        node = self.alive()[0]
        tls = {} if self.tls_files is None else {"ssl": True, "ssl_ca_certs": str(self.tls_files.ca)}
        return redis.RedisCluster(host="127.0.0.1", port=node.port, socket_timeout=2, **tls)

    def role(self, node: RedisServer) -> str:
        return self.client(node).execute_command("ROLE")[0].decode()

    def primaries(self) -> list[RedisServer]:
        return [n for n in self.alive() if self.role(n) == "master" and self._serves_slots(n)]

    def _serves_slots(self, node: RedisServer) -> bool:
        myself = [line for line in self.client(node).execute_command("CLUSTER", "NODES").decode().splitlines()
                  if "myself" in line][0]
        return len(myself.split()) > 8

    def replicas_of(self, primary: RedisServer) -> list[RedisServer]:
        return [n for n in self.alive() if n is not primary and self.role(n) == "slave"
                and self.client(n).info("replication").get("master_port") == primary.port]

    def settled(self) -> bool:
        for node in self.alive():
            try:
                info = self.client(node).execute_command("CLUSTER", "INFO").decode()
            except redis.RedisError:
                return False
            if "cluster_state:ok" not in info or "cluster_slots_ok:16384" not in info:
                return False
            # CLUSTER SLOTS lists a replica only once the node has heard (by gossip) that it synced.
            if self.replicas_per_primary and any(len(shard) < 3 + self.replicas_per_primary
                                                 for shard in self._slots(node)):
                return False
        return True

    def _slots(self, node: RedisServer):
        return self.client(node).execute_command("CLUSTER", "SLOTS")

    def wait_until_settled(self, timeout: float):
        wait_until(self.settled, timeout, "every cluster node says cluster_state:ok with 16384 slots, replicas synced",
                   interval=0.1)

    def reshard(self, source: RedisServer, target: RedisServer, slots: int):
        """Moves `slots` slots (and their keys) from source to target with redis-cli."""
        ids = [self.client(n).execute_command("CLUSTER", "MYID").decode() for n in (source, target)]
        self.redis_cli("--cluster", "reshard", f"127.0.0.1:{source.port}", "--cluster-from", ids[0],
                       "--cluster-to", ids[1], "--cluster-slots", str(slots), "--cluster-yes",
                       "--cluster-pipeline", "100")

    def manual_failover(self, replica: RedisServer):
        """CLUSTER FAILOVER on a replica: it and its primary swap roles, without data loss."""
        self.client(replica).execute_command("CLUSTER", "FAILOVER")
        wait_until(lambda: self.role(replica) == "master", 15, "the replica took over its primary")
        self.wait_until_settled(15)

    def kill(self, node: RedisServer):
        node.process.kill()
        node.process.wait()

    def stop(self):
        for node in self.nodes:
            node.cleanup()
