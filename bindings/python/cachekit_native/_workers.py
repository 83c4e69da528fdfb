"""The threads that run library calls for asyncio code, so the event loop never waits on Redis.

A small pool of daemon threads fed by one queue, resolving asyncio futures through
call_soon_threadsafe: about half the hand-off cost of loop.run_in_executor (no
concurrent.futures future chained to the asyncio one). Started on first use and again in a
forked child (threads do not survive fork).
"""

from __future__ import annotations

import asyncio
import os
import queue
import threading
from typing import Any, Callable

POOL_SIZE = 8


def _resolve(future: asyncio.Future, ok: bool, value: Any) -> None:
    if future.cancelled():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


def _work(tasks: queue.SimpleQueue) -> None:
    while True:
        loop, future, function, arguments = tasks.get()
        try:
            value, ok = function(*arguments), True
        except BaseException as error:  # handed to the awaiting coroutine
            value, ok = error, False
        try:
            loop.call_soon_threadsafe(_resolve, future, ok, value)
        except RuntimeError:
            pass  # the loop closed while the call ran: nobody is waiting any more
        del loop, future, function, arguments, value


class _Pool:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pid: int | None = None
        self.tasks: queue.SimpleQueue = queue.SimpleQueue()

    def start(self) -> None:
        with self.lock:
            if self.pid == os.getpid():
                return
            self.tasks = queue.SimpleQueue()
            for index in range(POOL_SIZE):
                threading.Thread(target=_work, args=(self.tasks,), name=f"cachekit_native-{index}",
                                 daemon=True).start()
            self.pid = os.getpid()

    def submit(self, function: Callable[..., Any], *arguments: Any) -> asyncio.Future:
        """Runs function(*arguments) on a worker thread; await the returned future."""
        if self.pid != os.getpid():
            self.start()
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.tasks.put((loop, future, function, arguments))
        return future


pool = _Pool()
submit = pool.submit
