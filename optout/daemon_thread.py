"""A blocking call awaited from the event loop with one deadline for the whole of it: urllib's timeouts
bound each socket operation, not a name lookup or a server that trickles its answer. The call runs in a
daemon thread, which cannot keep the process alive at exit (asyncio.to_thread's executor is joined)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from threading import Thread
from typing import TypeVar

T = TypeVar("T")


async def run_in_daemon_thread(call: Callable[[], T], timeout_s: float, *, name: str) -> T:
    """`call()`'s result (or its exception), or TimeoutError after `timeout_s`; the thread is then given
    up on. A cancel (Ctrl-C) stops the wait at once, even one that arrives with the answer (asyncio.timeout,
    not 3.11's wait_for, which can swallow it)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if done.done():  # given up on already
            return
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(result)

    def work() -> None:
        try:
            result, error = call(), None
        except BaseException as exc:  # handed to the awaiting task
            result, error = None, exc
        try:
            loop.call_soon_threadsafe(settle, result, error)
        except RuntimeError:  # the loop is gone: nobody waits any more
            pass

    Thread(target=work, name=name, daemon=True).start()
    async with asyncio.timeout(timeout_s):
        return await done
