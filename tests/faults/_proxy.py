"""An HTTP fault proxy on 127.0.0.1 between the SDK and the emulator.

It reads each HTTP/1.1 request itself (so it can misbehave at any byte) and
forwards it with aiohttp. Faults are scripted per route and per attempt (the
n-th request the proxy sees on that path) or drawn from a seeded random mix:

==========  ==========================================================  =========
fault       what the client sees                                        reaches
                                                                        the server
==========  ==========================================================  =========
reset       the connection is reset as soon as the request is read      no
drop        the request is forwarded, then the connection is reset      yes
truncate    the response, cut in half (its Content-Length is the full)  yes
drip        the response, one byte at a time, slower than the timeout   yes
blackhole   nothing, ever (the request is swallowed)                    no
status      a canned answer (503 burst, 429 + Retry-After, HTML 502)    no
after       the request is forwarded, then a canned answer replaces it  yes
mangle      the real response with its JSON body rewritten              yes
==========  ==========================================================  =========

Refusing connections happens below HTTP: :meth:`FaultProxy.refuse` closes the
listening socket and keeps the port bound without listening (the kernel
answers RST, so the client gets ECONNREFUSED); :meth:`FaultProxy.accept`
listens again. Both are synchronous, so a test may flip them from a log
handler at an exact point of the SDK's retry loop.

Every wait is bounded and :meth:`FaultProxy.stop` ends every connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
import struct
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import aiohttp

__all__ = ["Fault", "FaultProxy"]

_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "te", "upgrade"}
)
# Nothing in these tests waits longer than this for a client to go away.
_HOLD = 10.0

HTML_502 = (
    "<html><head><title>502 Bad Gateway</title></head><body><center>"
    "<h1>502 Bad Gateway</h1></center><hr><center>cloud edge</center></body></html>"
)


@dataclass(frozen=True)
class Fault:
    """One scripted misbehaviour; build with the class methods."""

    kind: str
    status: int = 0
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    interval: float = 0.0
    rewrite: Callable[[Any], Any] | None = None

    @classmethod
    def reset(cls) -> Fault:
        """Reset the connection before forwarding: the server never sees the request."""
        return cls("reset")

    @classmethod
    def drop(cls) -> Fault:
        """Forward (the server acts), then reset: the client never hears back."""
        return cls("drop")

    @classmethod
    def truncate(cls) -> Fault:
        """Forward, then send half the response body and close."""
        return cls("truncate")

    @classmethod
    def drip(cls, interval: float = 0.05) -> Fault:
        """Forward, then send the response a byte per ``interval`` seconds."""
        return cls("drip", interval=interval)

    @classmethod
    def blackhole(cls) -> Fault:
        """Swallow the request; answer nothing until the client gives up."""
        return cls("blackhole")

    @classmethod
    def answer(
        cls,
        status: int,
        body: str | bytes | Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Fault:
        """Answer ``status`` without forwarding (the server never sees the request)."""
        return cls("status", status, *_encode(status, body, headers))

    @classmethod
    def after(
        cls,
        status: int,
        body: str | bytes | Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Fault:
        """Forward (the server acts), then answer ``status`` instead of its response."""
        return cls("after", status, *_encode(status, body, headers))

    @classmethod
    def mangle(cls, rewrite: Callable[[Any], Any]) -> Fault:
        """Forward, then replace the JSON response body with ``rewrite(body)``."""
        return cls("mangle", rewrite=rewrite)

    @property
    def reaches_server(self) -> bool:
        """True when the server acts on the request despite the fault."""
        return self.kind in {"drop", "truncate", "drip", "after", "mangle"}


def _encode(
    status: int,
    body: str | bytes | Mapping[str, Any] | None,
    headers: Mapping[str, str] | None,
) -> tuple[bytes, dict[str, str]]:
    out = dict(headers or {})
    if body is None:
        body = {"errorCode": "E900000", "errorDescription": f"proxy fault {status}"}
    if isinstance(body, Mapping):
        out.setdefault("Content-Type", "application/json")
        return json.dumps(body).encode(), out
    if isinstance(body, str):
        out.setdefault(
            "Content-Type", "text/html" if body.lstrip().startswith("<") else "text/plain"
        )
        return body.encode(), out
    return body, out


@dataclass
class _Request:
    method: str
    target: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes


class _Chaos:
    def __init__(
        self, rng: random.Random, rate: float, faults: Sequence[Fault], paths: Sequence[str]
    ) -> None:
        self.rng, self.rate, self.faults, self.paths = rng, rate, list(faults), tuple(paths)

    def draw(self, path: str) -> Fault | None:
        if self.paths and not path.startswith(self.paths):
            return None
        if self.rng.random() >= self.rate:
            return None
        return self.rng.choice(self.faults)


class FaultProxy:
    """``async with FaultProxy(upstream) as proxy:``; point the SDK at ``proxy.base_url``."""

    def __init__(self, upstream: str) -> None:
        self._upstream = upstream.rstrip("/")
        self._scripts: dict[str, list[Fault | None]] = {}
        self._chaos: _Chaos | None = None
        self._listener: socket.socket | None = None
        self._listening = False
        self._port = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Requests seen per path (query string excluded).
        self.counts: Counter[str] = Counter()
        #: Requests forwarded to the server per path.
        self.forwarded: Counter[str] = Counter()
        #: Faults applied, as (path, per-path attempt number, kind).
        self.applied: list[tuple[str, int, str]] = []

    # -- lifecycle --------------------------------------------------------

    async def start(self) -> None:
        """Listen on a free port of 127.0.0.1."""
        self._loop = asyncio.get_running_loop()
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=_HOLD), auto_decompress=False
        )
        sock = self._bound_socket(0)
        self._port = sock.getsockname()[1]
        self._listener = sock
        self.accept()

    async def stop(self) -> None:
        """Stop listening and end every connection."""
        self._stop_listening()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=_HOLD)
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> FaultProxy:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """Where clients should send requests."""
        return f"http://127.0.0.1:{self._port}"

    # -- scripting --------------------------------------------------------

    def script(self, path: str, *faults: Fault | None) -> None:
        """Faults for the next requests on ``path``, in order; ``None`` forwards normally."""
        self._scripts.setdefault(path, []).extend(faults)

    def chaos(
        self,
        rng: random.Random,
        rate: float,
        faults: Sequence[Fault],
        paths: Sequence[str] = (),
    ) -> None:
        """Apply a random fault from ``faults`` to a ``rate`` share of requests on ``paths``."""
        self._chaos = _Chaos(rng, rate, faults, paths)

    def calm(self) -> None:
        """Drop every scripted and random fault."""
        self._scripts.clear()
        self._chaos = None

    def _fault_for(self, path: str) -> Fault | None:
        script = self._scripts.get(path)
        if script:
            return script.pop(0)
        return self._chaos.draw(path) if self._chaos is not None else None

    # -- refusing connections ----------------------------------------------

    def refuse(self) -> None:
        """Refuse new connections (ECONNREFUSED) until :meth:`accept`."""
        self._stop_listening()
        if self._listener is not None:
            self._listener.close()
        # Bound but not listening: the port stays ours, and SYNs get an RST.
        self._listener = self._bound_socket(self._port)

    def accept(self) -> None:
        """Accept connections again."""
        assert self._listener is not None
        assert self._loop is not None
        if self._listening:
            return
        self._listener.listen(128)
        self._loop.add_reader(self._listener.fileno(), self._on_connection)
        self._listening = True

    def _stop_listening(self) -> None:
        if self._listening and self._listener is not None and self._loop is not None:
            self._loop.remove_reader(self._listener.fileno())
        self._listening = False

    @staticmethod
    def _bound_socket(port: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.setblocking(False)
        return sock

    def _on_connection(self) -> None:
        assert self._listener is not None
        try:
            conn, _ = self._listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        conn.setblocking(False)
        task = asyncio.ensure_future(self._serve(conn))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- one connection ------------------------------------------------------

    async def _serve(self, conn: socket.socket) -> None:
        reader, writer = await asyncio.open_connection(sock=conn)
        try:
            while True:
                request = await self._read_request(reader)
                if request is None:
                    return
                if not await self._handle(request, reader, writer):
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            return
        finally:
            writer.transport.abort()

    @staticmethod
    async def _read_request(reader: asyncio.StreamReader) -> _Request | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = []
        length = 0
        for line in lines[1:]:
            if not line:
                continue
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
            if name.strip().lower() == "content-length":
                length = int(value)
        body = await reader.readexactly(length) if length else b""
        return _Request(method, target, target.split("?", 1)[0], headers, body)

    async def _handle(
        self, request: _Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Serve one request; False when the connection must end."""
        path = request.path
        self.counts[path] += 1
        fault = self._fault_for(path)
        if fault is not None:
            self.applied.append((path, self.counts[path], fault.kind))
        kind = fault.kind if fault is not None else "pass"
        if kind == "reset":
            _reset(writer)
            return False
        if kind == "blackhole":
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(reader.read(), _HOLD)  # until the client hangs up
            return False
        if kind == "status":
            assert fault is not None
            await _write(writer, fault.status, fault.headers.items(), fault.body)
            return True
        status, headers, body = await self._forward(request)
        if kind == "drop":
            _reset(writer)
            return False
        if kind == "after":
            assert fault is not None
            await _write(writer, fault.status, fault.headers.items(), fault.body)
            return True
        if kind == "mangle":
            assert fault is not None
            assert fault.rewrite is not None
            body = json.dumps(fault.rewrite(json.loads(body))).encode()
        if kind == "truncate":
            writer.write(_head(status, headers, len(body)) + body[: len(body) // 2])
            await writer.drain()
            return False
        if kind == "drip":
            assert fault is not None
            data = _head(status, headers, len(body)) + body
            for i in range(len(data)):
                if writer.is_closing():
                    return False
                writer.write(data[i : i + 1])
                await writer.drain()
                await asyncio.sleep(fault.interval)
            return True
        await _write(writer, status, headers, body)
        return True

    async def _forward(self, request: _Request) -> tuple[int, list[tuple[str, str]], bytes]:
        assert self._session is not None
        headers = [(k, v) for k, v in request.headers if k.lower() not in _HOP_BY_HOP]
        self.forwarded[request.path] += 1
        async with self._session.request(
            request.method,
            self._upstream + request.target,
            headers=headers,
            data=request.body or None,
            allow_redirects=False,
        ) as resp:
            body = await resp.read()
            out = [(k, v) for k, v in resp.headers.items() if k.lower() not in _HOP_BY_HOP]
            return resp.status, out, body


def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        # SO_LINGER 0: close() sends an RST, not a FIN.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def _head(status: int, headers: Sequence[tuple[str, str]] | Any, length: int) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
    lines += [f"{k}: {v}" for k, v in headers]
    lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _write(writer: asyncio.StreamWriter, status: int, headers: Any, body: bytes) -> None:
    writer.write(_head(status, list(headers), len(body)) + body)
    await writer.drain()


_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    520: "Unknown Error",
    521: "Web Server Is Down",
    522: "Connection Timed Out",
    524: "A Timeout Occurred",
    530: "Origin DNS Error",
}
