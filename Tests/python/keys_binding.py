"""ctypes access to libcachekit's keys and entries API, for the interop tests."""
import ctypes
import os
import pathlib
import subprocess
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
MASTER_KEY = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
MODE = {"auto": 0, "minimal": 1, "interop": 2}

# cachekit_peer.py's functions: (mode name, entry mode, namespace, integrity, encrypted, tenant prefix)
PEER_MODES = {
    "plain": ("auto", None, True, False, True),
    "plain_ns": ("auto", "oracle", True, False, True),
    "secure": ("auto", None, True, True, True),
    "minimal": ("minimal", None, False, False, True),
    "plain_bare": ("auto", None, True, False, False),
    "secure_bare": ("auto", None, True, True, False),
    "interop": ("interop", None, True, False, False),
    "interop_secure": ("interop", None, True, True, False),
}


class Buffer(ctypes.Structure):
    _fields_ = [("data", ctypes.POINTER(ctypes.c_uint8)), ("len", ctypes.c_size_t)]


class CachekitError(Exception):
    def __init__(self, status, message):
        super().__init__(f"{status}: {message}")
        self.status = status


class Lib:
    def __init__(self, cdll):
        self.c = cdll
        c = cdll
        c.cachekit_last_error_message.restype = ctypes.c_char_p
        c.cachekit_buffer_free.argtypes = [ctypes.POINTER(Buffer)]
        c.cachekit_buffer_free.restype = None
        vp, sz, u8p, cp = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_char_p
        c.cachekit_key_auto.argtypes = [cp, cp, u8p, sz, u8p, sz, ctypes.c_int, cp, ctypes.POINTER(Buffer)]
        c.cachekit_key_interop.argtypes = [cp, cp, u8p, sz, ctypes.POINTER(Buffer)]
        c.cachekit_key_tenant_prefixed.argtypes = [cp, cp, ctypes.POINTER(Buffer)]
        for name in ("cachekit_entry_encode", "cachekit_entry_decode"):
            getattr(c, name).argtypes = [u8p, sz, ctypes.c_int, cp, vp, cp, ctypes.c_uint, ctypes.POINTER(Buffer)]
        c.cachekit_keyring_new.argtypes = [cp, cp, ctypes.POINTER(vp)]
        c.cachekit_keyring_free.argtypes = [vp]
        c.cachekit_keyring_free.restype = None
        c.cachekit_msgpack_writer_new.argtypes = [ctypes.POINTER(vp)]
        c.cachekit_msgpack_writer_free.argtypes = [vp]
        c.cachekit_msgpack_writer_free.restype = None
        c.cachekit_msgpack_write_array.argtypes = [vp, sz]
        c.cachekit_msgpack_write_int.argtypes = [vp, ctypes.c_int64]
        c.cachekit_msgpack_writer_finish.argtypes = [vp, ctypes.POINTER(Buffer)]

    def _check(self, status):
        if status != 0:
            raise CachekitError(status, self.c.cachekit_last_error_message().decode())

    def _take(self, buf):
        data = ctypes.string_at(buf.data, buf.len) if buf.len else b""
        self.c.cachekit_buffer_free(ctypes.byref(buf))
        return data

    def int_args(self, *values):
        """A MessagePack array of ints, built with the library's writer."""
        writer = ctypes.c_void_p()
        self._check(self.c.cachekit_msgpack_writer_new(ctypes.byref(writer)))
        try:
            self._check(self.c.cachekit_msgpack_write_array(writer, len(values)))
            for value in values:
                self._check(self.c.cachekit_msgpack_write_int(writer, value))
            buf = Buffer()
            self._check(self.c.cachekit_msgpack_writer_finish(writer, ctypes.byref(buf)))
            return self._take(buf)
        finally:
            self.c.cachekit_msgpack_writer_free(writer)

    def key_auto(self, namespace, function_id, args, integrity=True):
        buf = Buffer()
        self._check(self.c.cachekit_key_auto(namespace and namespace.encode(), function_id.encode(), args, len(args),
                                             None, 0, 1 if integrity else 0, None, ctypes.byref(buf)))
        return self._take(buf).decode()

    def key_interop(self, namespace, operation, args):
        buf = Buffer()
        self._check(self.c.cachekit_key_interop(namespace.encode(), operation.encode(), args, len(args), ctypes.byref(buf)))
        return self._take(buf).decode()

    def tenant_prefixed(self, key, tenant="default"):
        buf = Buffer()
        self._check(self.c.cachekit_key_tenant_prefixed(tenant.encode(), key.encode(), ctypes.byref(buf)))
        return self._take(buf).decode()

    def keyring(self, master_hex=MASTER_KEY):
        handle = ctypes.c_void_p()
        self._check(self.c.cachekit_keyring_new(master_hex.encode(), None, ctypes.byref(handle)))
        return handle

    def encode(self, inner, mode, key, keyring=None, tenant=None):
        buf = Buffer()
        self._check(self.c.cachekit_entry_encode(inner, len(inner), MODE[mode], key.encode(), keyring,
                                                 tenant and tenant.encode(), 0, ctypes.byref(buf)))
        return self._take(buf)

    def decode(self, value, mode, key, keyring=None, tenant=None):
        buf = Buffer()
        self._check(self.c.cachekit_entry_decode(value, len(value), MODE[mode], key.encode(), keyring,
                                                 tenant and tenant.encode(), 0, ctypes.byref(buf)))
        return self._take(buf)

    def peer_key(self, mode):
        """The Redis key cachekit_peer.py's function for `mode` uses when called with 42."""
        entry_mode, namespace, integrity, _, prefixed = PEER_MODES[mode]
        args = self.int_args(42)
        if entry_mode == "interop":
            return self.key_interop("peer", mode.replace("_", "-"), args)
        key = self.key_auto(namespace, f"cachekit_peer._functions.<locals>.peer_{mode}", args, integrity)
        return self.tenant_prefixed(key) if prefixed else key


def run_peer(redis_url, phase):
    """Runs cachekit_peer.py (the real cachekit package) in a fresh interpreter; returns its report."""
    import json
    env = dict(os.environ, CACHEKIT_REDIS_URL=redis_url, CACHEKIT_MASTER_KEY=MASTER_KEY, PYTHONPATH=str(HERE))
    env.pop("CACHEKIT_DEPLOYMENT_UUID", None)
    env.pop("REDIS_URL", None)
    done = subprocess.run([sys.executable, "-c", "import cachekit_peer; cachekit_peer.main()", phase],
                          env=env, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        pytest.fail(f"cachekit peer ({phase}) failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
