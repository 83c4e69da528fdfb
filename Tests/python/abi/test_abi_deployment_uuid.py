"""deployment_uuid in every spelling cachekit-py accepts, checked against the live interpreter's
uuid.UUID (what cachekit-py parses it with) and against cachekit-py itself through Redis."""
import ctypes
import uuid

import pytest
import redis

from support.abi import OK, last_message
from support.peer import run_peer

E_INVALID_CONFIG = -64
MASTER_KEY = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
BASE = "123e4567e89b12d3a456426614174000"
FORMS = [
    "123e4567-e89b-12d3-a456-426614174000", BASE, BASE.upper(), "{" + BASE + "}", "{{" + BASE + "}}",
    "{" + BASE, "urn:uuid:" + BASE, "uuid:" + BASE, "urn:urn:uuid:" + BASE, "1-2-3e4567e89b12d3a45642661417400-0",
    " " + BASE[2:] + " ", "+" + BASE[1:], "0x" + BASE[2:], "0X" + BASE[2:], "0x_" + BASE[3:], "1_" + BASE[2:],
    "_" + BASE[1:], "1__" + BASE[3:], BASE[:-1] + "_", BASE[:-1], BASE + "0", "g" + BASE[1:], "ur{n:" + BASE,
    "++" + BASE[2:], "not-a-uuid", "\t" + BASE[1:],
]


def python_canonical(form):
    try:
        return str(uuid.UUID(form))
    except ValueError:
        return None


def set_status(lib, name, value):
    config = ctypes.c_void_p()
    assert lib.cachekit_config_new(ctypes.byref(config)) == OK
    try:
        return lib.cachekit_config_set(config, name.encode(), value.encode())
    finally:
        lib.cachekit_config_free(config)


@pytest.mark.parametrize("form", FORMS)
def test_the_library_accepts_exactly_what_uuid_UUID_accepts(lib, form):
    expected = python_canonical(form)
    status = set_status(lib, "deployment_uuid", form)
    assert status == (OK if expected else E_INVALID_CONFIG), (form, expected, last_message(lib))
    if expected is None:
        assert form not in last_message(lib) or form == ""  # the value is never echoed: it may be a key


@pytest.mark.parametrize("form", [f for f in FORMS if python_canonical(f)])
def test_entries_carry_the_tenant_cachekit_py_derives(make_cache, redis_url, form):
    cache = make_cache(redis_url=redis_url, mode="secure", master_key=MASTER_KEY, deployment_uuid=form)
    assert cache.set("k", {"v": 1}, ttl=60) == OK
    stored = redis.Redis.from_url(redis_url).get("t:default:k")
    assert f'"tenant_id": "{python_canonical(form)}"'.encode() in stored


def test_cachekit_py_reads_an_entry_written_under_another_spelling(make_cache, redis_url):
    body = """
def private(x):
    calls.append(x)
    return {"secret": "python"}
private = cache.secure(ttl=300)(shared(private))
out = {"value": private(7), "calls": calls}
"""
    env = {"CACHEKIT_MASTER_KEY": MASTER_KEY, "CACHEKIT_DEPLOYMENT_UUID": "{" + BASE.upper() + "}"}
    assert run_peer(redis_url, body, env) == {"value": {"secret": "python"}, "calls": [7]}
    client = redis.Redis.from_url(redis_url)
    key = next(k.decode() for k in client.keys("t:default:*") if b".private:" in k)
    cache = make_cache(redis_url=redis_url, mode="secure", master_key=MASTER_KEY, deployment_uuid="urn:uuid:" + BASE)
    assert cache.get(key[len("t:default:"):]) == (OK, {"secret": "python"})
    assert cache.set(key[len("t:default:"):], {"secret": "libcachekit"}, ttl=300) == OK
    assert run_peer(redis_url, body, env) == {"value": {"secret": "libcachekit"}, "calls": []}


def test_interop_mode_takes_only_the_canonical_spelling(lib):
    def open_status(form):
        config = ctypes.c_void_p()
        handle = ctypes.c_void_p()
        assert lib.cachekit_config_new(ctypes.byref(config)) == OK
        for name, value in (("mode", "interop"), ("master_key", MASTER_KEY), ("deployment_uuid", form)):
            assert lib.cachekit_config_set(config, name.encode(), value.encode()) == OK
        rc = lib.cachekit_cache_new(config, ctypes.byref(handle))
        lib.cachekit_config_free(config)
        if rc == OK:
            lib.cachekit_cache_free(handle)
        return rc

    assert open_status("123e4567-e89b-12d3-a456-426614174000") == OK
    assert open_status(BASE.upper()) == E_INVALID_CONFIG
    assert "canonical" in last_message(lib)
    assert open_status("{123e4567-e89b-12d3-a456-426614174000}") == E_INVALID_CONFIG
