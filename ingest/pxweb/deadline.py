"""A request's total deadline over real sockets, on new and reused (keep-alive) connections.

httpx's timeouts bound each socket operation, not a whole request: a server that drips one
byte at a time never trips them. So every stream the connection pool hands out is wrapped
(`DeadlineStream`): each connect, write and read of a request tells that request's `Watchdog`
which socket carries it and gets at most the time left as its timeout, and the watchdog's timer
shuts that socket down at the deadline. A request on a reused connection is bounded from the
moment its first byte is written, before any status line or header comes back.

The current request is per thread (`Watchdog.start` / `cancel`): httpx runs a sync request on
the caller's thread, and the client's worker threads each run one request at a time.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

_current = threading.local()


class Watchdog:
    """Ends a request at its deadline (a `time.monotonic()` value) by shutting its socket down
    from a timer thread, and caps every socket operation of the request to the time left."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.fired = False
        self._done = False
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def trace(self, event: str, info: dict[str, Any]) -> None:
        """httpcore trace callback: remember the socket of a new connection (a transport whose
        streams are not wrapped, see `bound_pools`)."""
        if event == "connection.connect_tcp.complete":
            self.watch(info.get("return_value"))

    def watch(self, stream: Any) -> None:
        """Watch the socket of a network stream (ignored when it has none, e.g. mock transports)."""
        try:
            sock = stream.get_extra_info("socket") if stream is not None else None
        except Exception:  # a transport without socket access: the read checks still apply
            sock = None
        if isinstance(sock, socket.socket):
            with self._lock:
                if self._sock is sock:
                    return
                self._sock = sock
                late = self.fired
            if late:
                self._shutdown()

    def start(self) -> Watchdog:
        """Arm the timer and make this the current request of the calling thread."""
        _current.watchdog = self
        self._timer = threading.Timer(max(self.deadline - time.monotonic(), 0.0), self._fire)
        self._timer.daemon = True
        self._timer.start()
        return self

    def cancel(self) -> None:
        """Disarm the timer (the request finished): its socket may go back to the pool."""
        with self._lock:
            self._done = True
        if self._timer is not None:
            self._timer.cancel()
        if getattr(_current, "watchdog", None) is self:
            _current.watchdog = None

    def remaining(self) -> float:
        """Seconds left before the deadline (0 once passed)."""
        return max(self.deadline - time.monotonic(), 0.0)

    def expired(self) -> bool:
        """True once the deadline has passed."""
        return self.fired or time.monotonic() >= self.deadline

    def _fire(self) -> None:
        with self._lock:
            if self._done:  # finished as the timer went off: the socket is someone else's now
                return
            self.fired = True
        self._shutdown()

    def _shutdown(self) -> None:
        with self._lock:
            sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def current() -> Watchdog | None:
    """The watchdog of the request the calling thread is making, if any."""
    return getattr(_current, "watchdog", None)


def _bounded(
    timeout: float | None, stream: Any, expired: type[Exception]
) -> tuple[float | None, Watchdog | None]:
    """The timeout for one socket operation of the current request: at most the time left.
    Raises `expired` (an httpcore timeout, so httpx maps it) once the deadline has passed."""
    watchdog = current()
    if watchdog is None:
        return timeout, None
    if stream is not None:
        watchdog.watch(stream)
    left = watchdog.deadline - time.monotonic()
    if left <= 0:
        watchdog.fired = True
        raise expired("the request deadline has passed")
    if timeout is None or left < timeout:
        return left, watchdog
    return timeout, None  # the usual per-operation timeout is the tighter bound


class DeadlineStream(httpcore.NetworkStream):
    """A network stream whose every operation is bounded by the current request's deadline."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        """Read within the time left."""
        bounded, capped = _bounded(timeout, self._stream, httpcore.ReadTimeout)
        try:
            return self._stream.read(max_bytes, bounded)
        except httpcore.ReadTimeout:
            if capped is not None:
                capped.fired = True  # the deadline, not the per-read timeout, ran out
            raise

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        """Write within the time left (the first write of a request on a reused connection
        is where its watchdog learns the socket)."""
        bounded, capped = _bounded(timeout, self._stream, httpcore.WriteTimeout)
        try:
            self._stream.write(buffer, bounded)
        except httpcore.WriteTimeout:
            if capped is not None:
                capped.fired = True
            raise

    def close(self) -> None:
        """Close the underlying stream."""
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        """The TLS handshake within the time left; the TLS stream is bounded too."""
        bounded, _ = _bounded(timeout, self._stream, httpcore.ConnectTimeout)
        return DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, bounded))

    def get_extra_info(self, info: str) -> Any:
        """Socket, TLS and readability details of the underlying stream."""
        return self._stream.get_extra_info(info)


class DeadlineBackend(httpcore.NetworkBackend):
    """A network backend whose connects and streams are bounded by the current request's deadline."""

    def __init__(self, backend: httpcore.NetworkBackend | None = None) -> None:
        self._backend = backend or httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        """Connect within the time left."""
        bounded, _ = _bounded(timeout, None, httpcore.ConnectTimeout)
        stream = self._backend.connect_tcp(host, port, bounded, local_address, socket_options)
        return DeadlineStream(stream)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        """Connect within the time left."""
        bounded, _ = _bounded(timeout, None, httpcore.ConnectTimeout)
        return DeadlineStream(self._backend.connect_unix_socket(path, bounded, socket_options))

    def sleep(self, seconds: float) -> None:
        """Sleep (httpcore's connect retries)."""
        self._backend.sleep(seconds)


def bound_pools(client: httpx.Client) -> int:
    """Wrap the network backend of every connection pool of `client` (its transport and the
    proxy mounts) in a DeadlineBackend; the number of pools wrapped. A transport of another
    kind (a test's MockTransport) is left alone: it has no sockets to bound."""
    transports = [client._transport, *client._mounts.values()]
    wrapped = 0
    for transport in transports:
        pool = getattr(transport, "_pool", None)
        if isinstance(pool, httpcore.ConnectionPool) and hasattr(pool, "_network_backend"):
            if not isinstance(pool._network_backend, DeadlineBackend):
                pool._network_backend = DeadlineBackend(pool._network_backend)
            wrapped += 1
    return wrapped
