"""A server's text never carries the password into a message, and never carries raw control
characters (log injection): a fake server on loopback echoes the password the way
`-WRONGPASS invalid password '...'` can, and answers data commands with an error full of
terminal escapes and line breaks. Checked in cachekit_last_error_message, the health detail
and the CLI's output."""
import pytest

from support.abi import MISS, last_message
from support.cli import cli
from support.fault_server import FaultServer

E_BACKEND_ERROR, E_BACKEND_AUTH = -62, -73
PASSWORD = "Echo3dSecretPw9Kq"
HOSTILE_ERROR = b"-ERR \x1b[31mred\x1b[0m\nFAKE LOG LINE\rover\x07 '" + PASSWORD.encode() + b"'\r\n"
OPTIONS = dict(connect_timeout_ms=500, command_timeout_ms=500, l1_max_bytes=0, failure_threshold=100)


def echoes_the_password(server, connection, command):
    """AUTH (and anything else) is refused with the password it was sent, quoted back."""
    connection.sendall(b"-WRONGPASS invalid password '" + command[-1] + b"'\r\n")
    return True


def hostile_error(server, connection, command):
    connection.sendall(HOSTILE_ERROR)
    return True


def assert_clean(text: str, password_configured=True):
    assert PASSWORD not in text or not password_configured, text
    assert not any(ord(c) < 0x20 or ord(c) == 0x7f for c in text), repr(text)


def test_a_server_echoing_the_password_on_auth_never_shows_it(lib, make_cache):
    with FaultServer(echoes_the_password, setup_commands={b"SELECT", b"CLIENT"}) as server:
        cache = make_cache(redis_url=server.url(userinfo=f":{PASSWORD}@"), **OPTIONS)
        rc, _ = cache.get("k")
        assert rc == MISS
        assert_clean(last_message(lib))
        health = cache.health()
        assert health.l2_status == E_BACKEND_AUTH, (health.l2_status, health.detail)
        assert_clean(health.detail.decode())
        assert [b"AUTH", PASSWORD.encode()] in server.commands_seen  # the server did hear it


@pytest.mark.parametrize("userinfo", ["", f":{PASSWORD}@"])
def test_server_error_text_is_escaped_and_never_repeats_the_password(lib, make_cache, userinfo):
    with FaultServer(hostile_error) as server:
        cache = make_cache(redis_url=server.url(userinfo=userinfo), **OPTIONS)
        rc, _ = cache.get("k")
        assert rc == MISS
        assert_clean(last_message(lib), bool(userinfo))
        health = cache.health()
        assert health.l2_status == E_BACKEND_ERROR, (health.l2_status, health.detail)
        detail = health.detail.decode()
        assert_clean(detail, bool(userinfo))
        if userinfo:
            assert "withheld" in detail, detail
        else:
            assert "\\x1b[31mred" in detail, detail  # the server's words, escaped
        assert cache.stats()["l2_errors"] >= 1


@pytest.mark.parametrize("fault, setup", [(echoes_the_password, {b"SELECT", b"CLIENT"}), (hostile_error, None)])
def test_the_cli_never_prints_the_password_or_raw_control_characters(fault, setup):
    options = {"setup_commands": setup} if setup else {}
    with FaultServer(fault, **options) as server:
        done = cli("get", "t:default:k", url=server.url(userinfo=f":{PASSWORD}@"))
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1, repr(done.stderr)
    assert_clean(done.stderr.rstrip("\n"))
