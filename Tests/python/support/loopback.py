"""A loopback TCP service run by a test: a listener, a thread per accepted connection, and a
stop that closes every connection and joins every thread (FaultServer, FaultProxy)."""
import socket
import threading


class LoopbackService:
    """Subclasses implement `_accepted(connection)`; `stop` closes the sockets `_track`ed."""

    def __init__(self):
        self.stopping = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.05)
        self.port = self.listener.getsockname()[1]
        self.sockets_lock = threading.Lock()
        self.connections: list[socket.socket] = []
        self.threads = [threading.Thread(target=self._accept, daemon=True)]

    def __enter__(self):
        self.threads[0].start()
        return self

    def __exit__(self, *_):
        self.stop()

    def stop(self):
        self.stopping.set()
        with self.sockets_lock:
            connections = list(self.connections)
        for connection in connections:
            close_quietly(connection)
        for thread in list(self.threads):
            thread.join(timeout=5)
        self.listener.close()

    def _track(self, *connections: socket.socket):
        with self.sockets_lock:
            self.connections.extend(connections)

    def _start(self, target, *arguments):
        thread = threading.Thread(target=target, args=arguments, daemon=True)
        self.threads.append(thread)
        thread.start()

    def _accept(self):
        while not self.stopping.is_set():
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._accepted(connection)

    def _accepted(self, connection: socket.socket):
        raise NotImplementedError


def close_quietly(connection: socket.socket):
    """shutdown then close: the peer sees a FIN, also when another thread still reads it."""
    try:
        connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        connection.close()
    except OSError:
        pass
