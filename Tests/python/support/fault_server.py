"""Misbehaving Redis servers on loopback (a thread per connection) for the fault tests.

A FaultServer answers the connection set-up commands (AUTH, SELECT, CLIENT) with +OK and
every other command with its fault, so each fault meets the command the test is about
(GET for a get, PING for the health probe). Floods are capped so that a client that buffers
what it is sent shows in its RSS without exhausting the machine.
"""
import socket
import threading

from support.loopback import LoopbackService

SETUP_COMMANDS = {b"AUTH", b"SELECT", b"CLIENT"}
FLOOD_CAP_BYTES = 256 * 1024 * 1024
ARRAY_FLOOD_CAP_BYTES = 16 * 1024 * 1024  # 4 M elements: hiredis makes an object of each


class CommandReader:
    """Splits the RESP arrays of bulk strings a client sends into commands (lists of bytes)."""

    def __init__(self):
        self.buffer = b""

    def feed(self, data: bytes) -> list[list[bytes]]:
        self.buffer += data
        commands = []
        while (command := self._next()) is not None:
            commands.append(command)
        return commands

    def _next(self):
        if not self.buffer.startswith(b"*"):
            return None
        end = self.buffer.find(b"\r\n")
        if end < 0:
            return None
        count, position, arguments = int(self.buffer[1:end]), end + 2, []
        for _ in range(count):
            end = self.buffer.find(b"\r\n", position)
            if end < 0:
                return None
            length = int(self.buffer[position + 1:end])
            start = end + 2
            if len(self.buffer) < start + length + 2:
                return None
            arguments.append(self.buffer[start:start + length])
            position = start + length + 2
        self.buffer = self.buffer[position:]
        return arguments


class FaultServer(LoopbackService):
    """A loopback server whose `fault(server, connection, command)` answers each data command.

    A fault returns True to keep reading commands on the connection, False to end it.
    """

    def __init__(self, fault, setup_commands=SETUP_COMMANDS):
        super().__init__()
        self.fault = fault
        self.setup_commands = setup_commands  # answered +OK; pass a smaller set to fault AUTH too
        self.commands_seen: list[list[bytes]] = []

    def url(self, scheme="redis", userinfo="", query="") -> str:
        return f"{scheme}://{userinfo}127.0.0.1:{self.port}/0" + (f"?{query}" if query else "")

    def _accepted(self, connection):
        self._track(connection)
        self._start(self._serve, connection)

    def _serve(self, connection):
        reader = CommandReader()
        connection.settimeout(0.05)
        try:
            while not self.stopping.is_set():
                try:
                    data = connection.recv(65536)
                except TimeoutError:
                    continue
                if not data:
                    return
                for command in reader.feed(data):
                    self.commands_seen.append(command)
                    if command and command[0].upper() in self.setup_commands:
                        connection.sendall(b"+OK\r\n")
                    elif not self.fault(self, connection, command):
                        return
        except OSError:
            return  # the client hung up: what a client refusing the reply does
        finally:
            connection.close()

    def hold(self, connection) -> bool:
        """Keeps the connection open, unanswered, until the client closes it or the server stops."""
        connection.settimeout(0.05)
        while not self.stopping.is_set():
            try:
                if not connection.recv(65536):
                    return False
            except TimeoutError:
                continue
        return False

    def flood(self, connection, chunk: bytes, cap: int = FLOOD_CAP_BYTES) -> bool:
        """Sends chunk again and again (up to cap bytes) while the client reads, then holds."""
        connection.settimeout(2.0)  # a slow reader is still reading: only a stalled one ends it
        sent = 0
        while not self.stopping.is_set() and sent < cap:
            connection.sendall(chunk)
            sent += len(chunk)
        return self.hold(connection)


# Faults: each answers one data command.

def close_mid_reply(server, connection, command):
    connection.sendall(b"$100\r\nonly part of the")
    return False


def never_answer(server, connection, command):
    return server.hold(connection)


def one_byte_every_100_ms(server, connection, command):
    reply = b"$40\r\n" + b"x" * 40 + b"\r\n"  # 47 bytes: 4.7 s at this pace
    for byte in reply:
        if server.stopping.wait(0.1):
            return False
        connection.sendall(bytes([byte]))
    return True


def claims_a_2_gib_bulk(server, connection, command):
    """$2147483648 then filler: a client that waits for the body instead of refusing the header
    buffers the filler (capped at 256 MiB)."""
    connection.sendall(b"$2147483648\r\n")
    return server.flood(connection, b"\0" * 65536)


def claims_20_million_elements(server, connection, command):
    connection.sendall(b"*20000000\r\n")
    return server.flood(connection, b":1\r\n" * 16384, ARRAY_FLOOD_CAP_BYTES)


class EndlessScan:
    """SCAN always answers a non-zero cursor and a new key of the namespace; DEL/UNLINK succeed."""

    def __init__(self, namespace: str):
        self.namespace = namespace.encode()
        self.pages = 0

    def __call__(self, server, connection, command):
        name = command[0].upper() if command else b""
        if name == b"SCAN":
            self.pages += 1
            key = b"t:default:ns:%s:func:m.f:args:%d:1s" % (self.namespace, self.pages)
            connection.sendall(b"*2\r\n$1\r\n7\r\n*1\r\n$%d\r\n%s\r\n" % (len(key), key))
        elif name in (b"DEL", b"UNLINK"):
            connection.sendall(b":%d\r\n" % (len(command) - 1))
        elif name == b"PING":
            connection.sendall(b"+PONG\r\n")
        else:
            connection.sendall(b"$-1\r\n" if name == b"GET" else b"+OK\r\n")
        return True


class EndlessDrain:
    """EVAL (the registry drain script) always pops a full chunk of new members, as a set that
    another writer refills faster than it drains; UNLINK succeeds."""

    def __init__(self):
        self.rounds = 0

    def __call__(self, server, connection, command):
        name = command[0].upper() if command else b""
        if name == b"EVAL":
            self.rounds += 1
            chunk = int(command[-1])
            members = [b"func:m.f:args:%d:%d:1s" % (self.rounds, i) for i in range(chunk)]
            connection.sendall(b"*%d\r\n" % len(members) + b"".join(b"$%d\r\n%s\r\n" % (len(m), m) for m in members))
        elif name in (b"DEL", b"UNLINK"):
            connection.sendall(b":%d\r\n" % (len(command) - 1))
        elif name == b"PING":
            connection.sendall(b"+PONG\r\n")
        else:
            connection.sendall(b"+OK\r\n")
        return True
