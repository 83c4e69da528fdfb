"""libcachekit's keys, keyrings and entries through the raw ABI, for the interop and CLI tests."""
import ctypes

from support.abi import Buffer, check, take
from support.peer import MASTER_KEY, PEER_MODES

ENTRY_MODE = {"auto": 0, "minimal": 1, "interop": 2}


class KeysAndEntries:
    """Failures raise the binding's exception for the status (cachekit_native.errors)."""

    def __init__(self, cdll):
        self.c = cdll

    def _check(self, status):
        check(self.c, status)

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
            return take(self.c, buf)
        finally:
            self.c.cachekit_msgpack_writer_free(writer)

    def key_auto(self, namespace, function_id, args, integrity=True):
        buf = Buffer()
        self._check(self.c.cachekit_key_auto(namespace and namespace.encode(), function_id.encode(), args, len(args),
                                             None, 0, 1 if integrity else 0, None, ctypes.byref(buf)))
        return take(self.c, buf).decode()

    def key_interop(self, namespace, operation, args):
        buf = Buffer()
        self._check(self.c.cachekit_key_interop(namespace.encode(), operation.encode(), args, len(args), ctypes.byref(buf)))
        return take(self.c, buf).decode()

    def tenant_prefixed(self, key, tenant="default"):
        buf = Buffer()
        self._check(self.c.cachekit_key_tenant_prefixed(tenant.encode(), key.encode(), ctypes.byref(buf)))
        return take(self.c, buf).decode()

    def keyring(self, master_hex=MASTER_KEY):
        handle = ctypes.c_void_p()
        self._check(self.c.cachekit_keyring_new(master_hex.encode(), None, ctypes.byref(handle)))
        return handle

    def encode(self, inner, mode, key, keyring=None, tenant=None):
        buf = Buffer()
        self._check(self.c.cachekit_entry_encode(inner, len(inner), ENTRY_MODE[mode], key.encode(), keyring,
                                                 tenant and tenant.encode(), 0, ctypes.byref(buf)))
        return take(self.c, buf)

    def decode(self, value, mode, key, keyring=None, tenant=None):
        buf = Buffer()
        self._check(self.c.cachekit_entry_decode(value, len(value), ENTRY_MODE[mode], key.encode(), keyring,
                                                 tenant and tenant.encode(), 0, ctypes.byref(buf)))
        return take(self.c, buf)

    def peer_key(self, mode):
        """The Redis key cachekit_peer.py's function for `mode` uses when called with 42."""
        entry_mode, namespace, integrity, _, prefixed = PEER_MODES[mode]
        args = self.int_args(42)
        if entry_mode == "interop":
            return self.key_interop("peer", mode.replace("_", "-"), args)
        key = self.key_auto(namespace, f"cachekit_peer._functions.<locals>.peer_{mode}", args, integrity)
        return self.tenant_prefixed(key) if prefixed else key
