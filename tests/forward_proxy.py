"""A small HTTP forward proxy for tests, in a thread: it records which hosts each connection asked for
and, when given a user and password, demands them (407 with Proxy-Authenticate, as real proxies do)."""

from __future__ import annotations

import asyncio
import base64
import threading
from urllib.parse import urlsplit


class ForwardProxy:
    def __init__(self, user: str | None = None, password: str | None = None) -> None:
        self.expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode() if user else None
        self.seen: list[tuple[str, bool]] = []  # (host:port, authenticated) per forwarded connection
        self.refused = 0
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ForwardProxy:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._client, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            writer.close()
            return
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ", 2)
        headers = [line for line in lines[1:] if line]
        auth = next((h.split(":", 1)[1].strip() for h in headers if h.lower().startswith("proxy-authorization:")), None)
        if self.expected and auth != self.expected:
            self.refused += 1
            writer.write(b'HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="t"\r\n'
                         b"Content-Length: 0\r\nConnection: close\r\n\r\n")
            await writer.drain()
            writer.close()
            return
        if method == "CONNECT":  # a tunnel (Chromium opens one for some requests): pipe it as it is
            host, _, port = target.rpartition(":")
            self.seen.append((target, auth is not None))
            try:
                upstream_reader, upstream_writer = await asyncio.open_connection(host, int(port))
            except OSError:  # no such host here (Chromium's own background requests): a proxy's 502
                writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                writer.close()
                return
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
            return
        url = urlsplit(target)
        host, port = url.hostname, url.port or 80
        self.seen.append((f"{host}:{port}", auth is not None))
        upstream_reader, upstream_writer = await asyncio.open_connection(host, port)
        kept = [h for h in headers if not h.lower().startswith(("proxy-", "connection:"))]
        path = (url.path or "/") + (f"?{url.query}" if url.query else "")
        request = [f"{method} {path} {version}", *kept, "Connection: close", "", ""]
        upstream_writer.write("\r\n".join(request).encode("latin-1"))
        await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()
