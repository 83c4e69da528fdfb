"""A TCP proxy on loopback between the library and a real redis-server that injects faults on
command, per direction ("up": client to server, "down": server to client), a thread per pump.

Faults (FaultProxy.inject(direction, fault, **parameters)), applied to each chunk read from then on,
on connections already open and on new ones:
  delay      holds each chunk `seconds` before forwarding it
  drip       forwards one byte every `interval` seconds
  truncate   forwards the first half of the next chunk, then closes both sides (FIN)
  reset      drops the next chunk and resets both sides (RST: SO_LINGER 0)
  duplicate  forwards each chunk twice in one write (a reply read in one chunk arrives twice)
  blackhole  reads and discards: the peer never sees anything
clear() lifts every fault. Written by hand: no Debian package offers a scriptable fault proxy
that Python tests can drive in-process.
"""
import select
import socket
import struct
import threading
import time

from support.loopback import LoopbackService, close_quietly

DIRECTIONS = ("up", "down")
FAULTS = ("delay", "drip", "truncate", "reset", "duplicate", "blackhole")
CHUNK_BYTES = 65536


class FaultProxy(LoopbackService):
    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1"):
        super().__init__()
        self.upstream = (upstream_host, upstream_port)
        self.lock = threading.Lock()
        self.faults = {direction: None for direction in DIRECTIONS}
        self.triggered = {direction: 0 for direction in DIRECTIONS}  # chunks a fault acted on

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def inject(self, direction: str, fault: str, **parameters):
        assert direction in DIRECTIONS and fault in FAULTS, (direction, fault)
        with self.lock:
            self.faults[direction] = (fault, parameters)

    def clear(self):
        with self.lock:
            self.faults = {direction: None for direction in DIRECTIONS}

    def fault_count(self, direction: str) -> int:
        with self.lock:
            return self.triggered[direction]

    def _accepted(self, client):
        try:
            server = socket.create_connection(self.upstream, timeout=2)
        except OSError:
            close_quietly(client)
            return
        pair = [client, server]
        for s in pair:
            s.settimeout(None)
        self._track(*pair)
        self._start(self._pump, client, server, "up", pair)
        self._start(self._pump, server, client, "down", pair)

    def _pump(self, source, sink, direction, pair):
        while not self.stopping.is_set():
            # select with a timeout, so a stopped proxy's pumps end without waiting on a peer.
            try:
                readable, _, _ = select.select([source], [], [], 0.05)
            except (OSError, ValueError):  # the other pump closed the pair
                break
            if not readable:
                continue
            try:
                chunk = source.recv(CHUNK_BYTES)
            except OSError:
                chunk = b""
            if not chunk:
                break
            with self.lock:
                fault = self.faults[direction]
                if fault is not None:
                    self.triggered[direction] += 1
            if not self._forward(chunk, source, sink, fault, pair):
                break
        for s in pair:
            close_quietly(s)

    def _forward(self, chunk, source, sink, fault, pair) -> bool:
        """Sends chunk on through fault; False ends the connection pair."""
        name, parameters = fault if fault is not None else (None, {})
        try:
            if name == "blackhole":
                return True
            if name == "delay":
                time.sleep(parameters.get("seconds", 1.0))
            if name == "drip":
                for index in range(len(chunk)):
                    if self.stopping.is_set() or _closed_by_peer(source):
                        return False
                    sink.sendall(chunk[index:index + 1])
                    time.sleep(parameters.get("interval", 0.02))
                return True
            if name == "truncate":
                sink.sendall(chunk[:len(chunk) // 2])
                return False
            if name == "reset":
                for s in pair:
                    _reset(s)
                return False
            # Both copies in one write, so they arrive together, as a reply sent twice would.
            sink.sendall(chunk * 2 if name == "duplicate" else chunk)
            return True
        except OSError:
            return False


def _closed_by_peer(s: socket.socket) -> bool:
    """True once the peer has closed: a drip stops instead of feeding a connection nobody reads."""
    try:
        readable, _, _ = select.select([s], [], [], 0)
        return bool(readable) and s.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


def _reset(s: socket.socket):
    # close() with a zero linger sends RST; shutdown() first would send a FIN instead.
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    except OSError:
        pass
