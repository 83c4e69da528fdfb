"""cachekit-cli over the shared Redis client: TLS (rediss:// with the test CA) and Sentinel
(redis+sentinel://) for get and put, and connection failures (refused, closed mid-reply, silent,
TLS refused) that each end with exit 2 and one line on stderr, never a signal, never the password."""
import json
import socket

import pytest

from support.cli import cli
from support.fault_server import FaultServer, close_mid_reply, never_answer

UNREACHABLE = "redis://127.0.0.1:1/0"  # in the environment: --url must win over it
PASSWORD = "cli-s3cret-pw"
VALUE = {"over": "tls", "n": [1, 2]}


def one_error_line(done):
    assert done.returncode == 2, (done.returncode, done.stderr)  # negative would be a signal
    assert done.stdout == ""
    assert done.stderr.startswith("cachekit-cli: error: ") and done.stderr.count("\n") == 1, done.stderr
    assert PASSWORD not in done.stderr


def test_get_and_put_over_tls(tls_redis):
    url = tls_redis.url  # rediss://...?ssl_ca_certs=<test CA>&ssl_cert_reqs=required
    put = cli("put", "t:default:cli-tls", json.dumps(VALUE), "--ttl", "60", "--url", url, url=UNREACHABLE)
    assert put.returncode == 0, put.stderr
    assert tls_redis.client().exists("t:default:cli-tls") == 1
    got = cli("get", "t:default:cli-tls", "--url", url, url=UNREACHABLE)
    assert (got.returncode, json.loads(got.stdout or "null")) == (0, VALUE), got.stderr
    assert cli("get", "t:default:absent", "--url", url, url=UNREACHABLE).returncode == 1


def test_get_and_put_through_sentinel(sentinel_topology):
    url = sentinel_topology.url
    put = cli("put", "t:default:cli-sentinel", json.dumps(VALUE), "--url", url, url=UNREACHABLE)
    assert put.returncode == 0, put.stderr
    master = sentinel_topology.server_at(sentinel_topology.master_address())
    assert master.client().exists("t:default:cli-sentinel") == 1
    got = cli("get", "t:default:cli-sentinel", "--url", url, url=UNREACHABLE)
    assert (got.returncode, json.loads(got.stdout or "null")) == (0, VALUE), got.stderr


def test_a_refused_port_exits_2():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    one_error_line(cli("get", "k", "--url", f"redis://:{PASSWORD}@127.0.0.1:{port}/0", url=UNREACHABLE))


@pytest.mark.parametrize("fault", [close_mid_reply, never_answer], ids=["closed mid-reply", "silent"])
@pytest.mark.parametrize("command", [["get", "k"], ["put", "k", "1"]], ids=["get", "put"])
def test_a_misbehaving_server_exits_2(fault, command):
    with FaultServer(fault) as server:
        done = cli(*command, "--url", server.url(userinfo=f":{PASSWORD}@"), url=UNREACHABLE)
    one_error_line(done)
    assert any(seen[:1] == [b"AUTH"] for seen in server.commands_seen)  # it got as far as the server


def test_a_tls_failure_exits_2(tls_redis, tls_files):
    # The same server with the right CA: connected, the key is simply absent.
    reached = cli("get", "k", "--url", tls_redis.url, url=UNREACHABLE)
    assert reached.returncode == 1, reached.stderr
    one_error_line(cli("get", "k", "--url", tls_redis.tls_url(ca=tls_files.other_ca, userinfo=f":{PASSWORD}@"),
                       url=UNREACHABLE))
    with FaultServer(never_answer) as stalled:  # accepts TCP, never answers the handshake
        one_error_line(cli("get", "k", "--url", stalled.url("rediss", f":{PASSWORD}@", f"ssl_ca_certs={tls_files.ca}"),
                           url=UNREACHABLE))
