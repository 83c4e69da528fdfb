"""cachekit-cli against a private redis-server and the real cachekit package."""
import json
import os
import pathlib
import socket
import subprocess

import pytest

from support.abi import ROOT
from support.keys_entries import KeysAndEntries
from support.peer import MASTER_KEY, PEER_MODES, run_peer_phase



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


def mode_args(mode):
    entry_mode, _, _, encrypted, _ = PEER_MODES[mode]
    return ["--mode", entry_mode] + (["--secure"] if encrypted else []), encrypted


@pytest.fixture(scope="module")
def ck(lib):
    return KeysAndEntries(lib)


def test_get_reads_what_python_wrote_in_every_mode(ck, redis_url):
    run_peer_phase(redis_url, "write")
    expected = {"name": "alice", "ids": [1, 2, 3], "score": 9.5, "ok": True, "none": None, "blob": {"$bin": "0001fe"},
                "when": {"__datetime__": True, "value": "2024-01-15T12:30:00+00:00"}}
    for mode in PEER_MODES:
        args, secure = mode_args(mode)
        key = ck.peer_key(mode)
        done = cli("get", key, *args, url=redis_url, secure=secure)
        assert done.returncode == 0, (mode, done.stderr)
        assert json.loads(done.stdout) == expected, mode
        raw = cli("get", key, "--raw", *args, url=redis_url, secure=secure)
        assert raw.returncode == 0 and raw.stdout.strip() == raw.stdout.strip().lower()
        inspect = cli("inspect", key, *args, url=redis_url)
        assert inspect.returncode == 0, (mode, inspect.stderr)
        report = json.loads(inspect.stdout)
        assert report["encrypted"] == (None if mode.startswith("interop") else secure)
        if mode == "plain":
            assert report["header"]["s"] == "default" and report["checksum"] == "ok"
            assert report["ttl_seconds"] is None
        if mode == "secure":
            assert report["ttl_seconds"] is not None and 0 < report["ttl_seconds"] <= 600


def test_put_writes_entries_python_reads_as_hits(ck, redis_url):
    value = {"from": "cli", "n": 1, "f": 0.5, "b": {"$bin": "00ff"}, "l": [None, False]}
    for index, mode in enumerate(PEER_MODES):
        args, secure = mode_args(mode)
        key = ck.peer_key(mode)
        if index % 2:
            done = cli("put", key, json.dumps(value), "--ttl", "300", *args, url=redis_url, secure=secure)
        else:
            done = cli("put", key, *args, url=redis_url, secure=secure, stdin=json.dumps(value))
        assert done.returncode == 0, (mode, done.stderr)
    report = run_peer_phase(redis_url, "read")
    assert report["calls"] == {mode: 0 for mode in PEER_MODES}
    for mode in PEER_MODES:
        assert report["results"][mode] == value, mode


def test_put_msgpack_hex_and_exit_codes(redis_url):
    assert cli("put", "k", "--msgpack-hex", "81a16101", "--mode", "minimal", url=redis_url).returncode == 0
    done = cli("get", "k", "--mode", "minimal", "--raw", url=redis_url)
    assert (done.returncode, done.stdout.strip()) == (0, "81a16101")
    miss = cli("get", "absent", url=redis_url)
    assert (miss.returncode, miss.stdout, miss.stderr) == (1, "", "")
    assert cli("inspect", "absent", url=redis_url).returncode == 1


@pytest.mark.parametrize("args,secure", [
    (["get", "k", "--mode", "bogus"], False),
    (["get", "k"], False),                       # minimal entry read in auto mode
    (["get", "k", "--mode", "minimal", "--secure"], True),  # plaintext under an encrypting reader
    (["get", "k", "--secure"], False),           # no master key
    (["put", "k", "{not json"], False),
    (["put", "k", "--msgpack-hex", "zz"], False),
    (["put", "k", "--msgpack-hex", "c1"], False),
    (["put", "k", "[" * 5000 + "]" * 5000], False),
    (["frobnicate", "k"], False),
    (["get"], False),
    (["get", "k", "--url", "http://x"], False),
])
def test_errors_exit_2_with_one_line_and_no_secrets(redis_url, args, secure):
    cli("put", "k", "--msgpack-hex", "81a16101", "--mode", "minimal", url=redis_url)
    done = cli(*args, url=redis_url, secure=secure)
    assert done.returncode == 2, done
    assert done.stdout == ""
    assert done.stderr.startswith("cachekit-cli: error: ") and done.stderr.count("\n") == 1
    assert MASTER_KEY not in done.stderr


def test_errors_never_name_the_key(redis_url):
    secret_key = "t:default:func:m.secret_customer_42:args:abc:1s"
    cli("put", secret_key, "--msgpack-hex", "c0", url=redis_url)
    done = cli("get", secret_key, "--mode", "interop", url=redis_url)
    assert done.returncode == 2 and "secret_customer" not in done.stderr
    done = cli("get", secret_key, "--secure", url=redis_url, secure=True)
    assert done.returncode == 2 and "secret_customer" not in done.stderr and MASTER_KEY not in done.stderr


def _closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("command", [["get", "somekey"], ["inspect", "somekey"], ["put", "somekey", "1"]])
def test_closed_port_exits_2_with_one_line(command):
    # Used to abort with "free(): double free detected" (SIGABRT) after the refused connect.
    done = cli(*command, url=f"redis://127.0.0.1:{_closed_port()}/0")
    assert done.returncode == 2, done
    assert done.stdout == ""
    assert done.stderr.startswith("cachekit-cli: error: cannot connect to Redis") and done.stderr.count("\n") == 1


def test_refused_auth_exits_2_without_the_password(redis_url):
    host_port = redis_url.removeprefix("redis://")
    done = cli("get", "k", url=f"redis://:not-the-password@{host_port}")
    assert done.returncode == 2, done
    assert done.stderr.startswith("cachekit-cli: error: ") and done.stderr.count("\n") == 1
    assert "not-the-password" not in done.stderr


@pytest.mark.parametrize("args", [["--help"], ["get", "--help"], ["help", "put"], ["inspect", "-h"]])
def test_help_goes_to_stdout_with_exit_0(args):
    done = cli(*args, url="redis://127.0.0.1:1/0")
    assert (done.returncode, done.stderr) == (0, "")
    assert "USAGE: cachekit-cli" in done.stdout


@pytest.mark.parametrize("args", [
    ["inspect", "k", "--raw"],                  # an option of another command
    ["get", "k", "--ttl", "5"],
    ["put", "k", "--ttl", "-1"],
    ["put", "k", "1", "--msgpack-hex", "01"],
    ["get", "t:default:secret_customer_42", "extra_customer_43"],
    [],
])
def test_usage_errors_exit_2_with_one_line_naming_no_argument(args):
    done = cli(*args, url="redis://127.0.0.1:1/0")
    assert done.returncode == 2, done
    assert done.stdout == ""
    assert done.stderr.startswith("cachekit-cli: error: ") and done.stderr.count("\n") == 1
    assert "customer" not in done.stderr
