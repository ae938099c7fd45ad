"""The replica's aiohttp application, and ``ReplicaServer`` to run it beside a test in one process.

The middleware here does what X does to every request regardless of route: network latency, the
CSRF check on POSTs, rate limiting, and (replica-only) the request log the admin API exposes.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from pathlib import Path
from typing import Awaitable, Callable

from aiohttp import web

from . import admin, api, graphql, pages
from .admin import AdminClient
from .login import LoginMachine
from .state import ReplicaState
from .web import HANDLE, STATE, session_of, state_of, x_error

STATIC_DIR = Path(__file__).with_name("static")
LATENCY_MS = web.AppKey("latency_ms", int)
LOGIN_FLOWS = ("account", "legacy", "new")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def x_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith(admin.PREFIX):
        return await handler(request)
    state = state_of(request)
    session = session_of(request)
    handle = session.handle if session else None
    request[HANDLE] = handle
    status = 500
    try:
        slow = state.take_fault("slow", handle, request.path)
        delay_ms = request.app[LATENCY_MS] + (slow.ms if slow else 0)
        if delay_ms:
            await asyncio.sleep(delay_ms / 1000)
        if handle and state.take_fault("session_expired", handle, request.path):
            state.expire_sessions(handle)
        limit = state.take_fault("rate_limit", handle, graphql.fault_path(request.path))
        if request.method == "POST" and not _csrf_ok(request):
            response = x_error(403, 353, "This request requires a matching csrf cookie and header.")
        elif limit:
            response = _rate_limited(limit.style, limit.reset_s)
        else:
            response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        state.log_request(request.method, request.path, status, request.get(HANDLE))


def _csrf_ok(request: web.Request) -> bool:
    """X rejects a POST unless its x-csrf-token header equals the ct0 cookie."""
    cookie = request.cookies.get("ct0", "")
    header = request.headers.get("x-csrf-token", "")
    return bool(cookie) and secrets.compare_digest(cookie.encode(), header.encode())


def _rate_limited(style: str, reset_s: int) -> web.Response:
    headers = {
        "x-rate-limit-limit": "50",
        "x-rate-limit-remaining": "0",
        "x-rate-limit-reset": str(int(time.time()) + reset_s),
    }
    if style == "code88":
        return web.json_response({"errors": [{"code": 88, "message": "Rate limit exceeded."}]}, headers=headers)
    return x_error(429, 88, "Rate limit exceeded.", headers=headers)


DEFAULT_SETTLE_MS = (150, 400)  # X's pages draw 150-400 ms after load


def make_app(accounts_file: str | Path | None = None, latency_ms: int = 0, login_flow: str = "account",
             settle_ms: tuple[int, int] = DEFAULT_SETTLE_MS, automation_check: bool = True) -> web.Application:
    if login_flow not in LOGIN_FLOWS:
        raise ValueError(f"login_flow must be one of {LOGIN_FLOWS}, not {login_flow!r}")
    app = web.Application(middlewares=[x_middleware])
    state = ReplicaState(accounts_file)
    app[STATE] = state
    app[LATENCY_MS] = latency_ms
    app[api.LOGIN] = LoginMachine(state, login_flow, automation_check)
    app[pages.LOGIN_FLOW] = login_flow
    app[pages.SETTLE_MS] = tuple(settle_ms)
    app.router.add_routes(admin.routes())
    app.router.add_routes(api.routes())
    app.router.add_routes(graphql.routes())
    app[graphql.QUERY_IDS] = graphql.new_query_ids()
    app.router.add_static("/static", STATIC_DIR)
    app.router.add_routes(pages.routes())
    return app


async def serve(app: web.Application, host: str, port: int, stop: asyncio.Event,
                on_ready: Callable[[int], None]) -> None:
    """Serve ``app`` until ``stop`` is set; ``on_ready`` gets the bound port."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        on_ready(runner.addresses[0][1])
        await stop.wait()
    finally:
        await runner.cleanup()


class ReplicaServer:
    """The replica in a background thread with its own event loop, for tests and the demo."""

    def __init__(self, accounts_file: str | Path | None = None, latency_ms: int = 0, login_flow: str = "account",
                 host: str = "127.0.0.1", port: int = 0, settle_ms: tuple[int, int] = DEFAULT_SETTLE_MS,
                 automation_check: bool = True) -> None:
        self.host, self.port = host, port
        self._app = make_app(accounts_file, latency_ms, login_flow, settle_ms, automation_check)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._ready = threading.Event()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def admin(self) -> AdminClient:
        return AdminClient(self.base_url)

    def start(self) -> ReplicaServer:
        self._thread = threading.Thread(target=self._run, name="recordings-replica", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=30)
        if self._error:
            raise RuntimeError(f"replica failed to start: {self._error}") from self._error
        if not self._ready.is_set():
            raise RuntimeError("replica did not start within 30 s")
        return self

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        self._stop = asyncio.Event()

        def ready(port: int) -> None:
            self.port = port
            self._ready.set()

        try:
            self._loop.run_until_complete(serve(self._app, self.host, self.port, self._stop, ready))
        except BaseException as err:  # reported to start(); the thread must not die silently
            self._error = err
            self._ready.set()
        finally:
            self._loop.close()

    def stop(self) -> None:
        if self._loop and self._stop and self._thread and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout=10)

    def __enter__(self) -> ReplicaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
