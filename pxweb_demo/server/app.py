"""The local PxWeb server: stdlib ThreadingHTTPServer, API v2 + v1, limits and fault injection."""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from ingest.pxweb.limits import (
    DEFAULT_MAX_CALLS,
    DEFAULT_MAX_CELLS,
    DEFAULT_MAX_VALUES_V1,
    DEFAULT_TIME_WINDOW,
)
from pxweb_demo.paths import demo_snapshot_dir
from pxweb_demo.server import control, v1, v2
from pxweb_demo.server.faults import FaultPlan, Faults
from pxweb_demo.server.limits import ServerLimits, Verdict
from pxweb_demo.server.responses import (
    V1_TOO_MANY_REQUESTS,
    ApiError,
    Response,
    json_response,
    problem,
    v1_error,
)
from pxweb_demo.server.state import ServerState


class Handler(BaseHTTPRequestHandler):
    """One HTTP/1.1 connection (keep-alive) to the demo server."""

    protocol_version = "HTTP/1.1"
    server_version = "DemoPxWeb/1.0"
    timeout = 60  # idle keep-alive connections end eventually
    server: _HTTPServer

    def setup(self) -> None:
        """Track the connection so stop() can close it."""
        super().setup()
        self.server.connections.add(self.connection)

    def finish(self) -> None:
        """Forget the connection."""
        self.server.connections.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log (the request log has it)."""

    def do_GET(self) -> None:
        """GET."""
        self._dispatch("GET")

    def do_POST(self) -> None:
        """POST."""
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        """DELETE (control endpoints)."""
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        state = self.server.state
        length, refused = _body_length(
            self.headers.get("Content-Length"), self.headers.get("Transfer-Encoding")
        )
        if refused is not None:
            # The body is not read: the connection cannot be reused after this answer.
            self._send(refused, None, close=True)
            return
        body = self.rfile.read(length) if length > 0 else b""
        url = urlsplit(self.path)
        parts = [unquote(p) for p in url.path.split("/") if p]
        query = parse_qsl(url.query, keep_blank_values=True)
        if parts[:1] == ["_control"]:
            if not state.control:
                self._send(problem(404, "Not found", f"No such path: {url.path}"), None)
                return
            denied = control.refuse(method, self.headers, state.base_url)
            response = denied or _call(lambda: control.route(state, method, parts[1:], body))
            self._send(response, None)
            return
        api = "/".join(parts[:2]) if parts[:1] == ["api"] else ""
        if api not in ("api/v2", "api/v1"):
            self._send(problem(404, "Not found", f"No such path: {url.path}"), None)
            return
        started = time.monotonic()
        record: dict[str, Any] = {
            "t": started,
            "method": method,
            "path": url.path,
            "query": url.query,
            "api": api[4:],
        }
        verdict = state.rate.check()
        plan = FaultPlan()
        if not verdict.allowed:
            response = rate_limited(api, verdict, state.limits)
        else:
            plan = state.faults.take()
            if plan.fail_status is not None:
                response = injected_failure(api, plan)
            elif api == "api/v2":
                response = _call(lambda: v2.route(state, method, parts[2:], query, body))
            else:
                response = _call(lambda: v1.route(state, method, parts[2:], query, body))
        response.headers.update(rate_headers(verdict, state.limits))
        if plan.delay:
            time.sleep(plan.delay)
        # Log before writing, so a client that has its answer also finds it in the log.
        record.update(
            status=response.status,
            bytes=len(response.body) // 2 if plan.truncate else len(response.body),
            seconds=time.monotonic() - started,
            faults=plan.names,
            rate_limited=not verdict.allowed,
        )
        state.log(record)
        self._send(response, plan.truncate)

    def _send(self, response: Response, truncate: str | None, *, close: bool = False) -> int:
        """Write the response; a truncated one sends half the body (see Faults.truncate_next)."""
        body = response.body
        declared = len(body)
        if truncate == "cut":
            body = body[: len(body) // 2]
            declared = len(body)
        elif truncate == "short":
            body = body[: len(body) // 2]
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(declared))
        for k, v in response.headers.items():
            self.send_header(k, v)
        if truncate == "short" or close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        try:
            self.wfile.write(body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        return len(body)


# Selections are small (SCB's largest tables have a few thousand codes per variable): a body
# over this is refused with 413 before it is read.
MAX_REQUEST_BODY = 1024 * 1024


def _body_length(header: str | None, transfer_encoding: str | None) -> tuple[int, Response | None]:
    """The request body's length, or the 400/413 problem that refuses it unread."""
    if transfer_encoding and transfer_encoding.strip().lower() != "identity":
        return 0, problem(400, "Bad request", "Chunked request bodies are not accepted")
    text = (header or "").strip()
    if not text:
        return 0, None
    if not text.isdigit() or not text.isascii():
        return 0, problem(400, "Bad request", f"Content-Length is not a number: {text[:40]!r}")
    length = int(text)
    if length > MAX_REQUEST_BODY:
        return 0, problem(
            413,
            "Request body too large",
            f"The body is {length} bytes; at most {MAX_REQUEST_BODY} are accepted",
        )
    return length, None


def _call(fn: Any) -> Response:
    """Run a route, turning ApiError into its response and any bug into a 500 problem."""
    try:
        return fn()
    except ApiError as e:
        return e.response
    except Exception as e:  # a bug in the demo server must not kill the connection silently
        return problem(500, "Internal server error", f"{type(e).__name__}: {e}")


def rate_headers(verdict: Verdict, limits: ServerLimits) -> dict[str, str]:
    """AspNetCoreRateLimit-style headers (X-Rate-Limit-*), plus Retry-After when refused."""
    window = limits.time_window
    reset = datetime.now(UTC) + timedelta(seconds=verdict.retry_after or window)
    headers = {
        "X-Rate-Limit-Limit": f"{window:g}s",
        "X-Rate-Limit-Remaining": str(verdict.remaining),
        "X-Rate-Limit-Reset": reset.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }
    if not verdict.allowed:
        headers["Retry-After"] = verdict.retry_after_header
    return headers


def rate_limited(api: str, verdict: Verdict, limits: ServerLimits) -> Response:
    """The 429 answer: v1's {"error": …} body, or a problem+json body on v2."""
    if api == "api/v1":
        return v1_error(429, V1_TOO_MANY_REQUESTS)
    detail = f"API calls quota exceeded! maximum admitted {limits.max_calls} per {limits.time_window:g}s."
    return problem(429, "Too many requests", detail)


def injected_failure(api: str, plan: FaultPlan) -> Response:
    """The response of a request that fail_next() told to fail."""
    status = int(plan.fail_status or 503)
    if status == 429 and api == "api/v1":
        response = v1_error(429, V1_TOO_MANY_REQUESTS)
    else:
        response = json_response(
            {
                "type": "Injected fault",
                "title": "Injected fault",
                "status": status,
                "detail": "Fault injected by the demo server (fail_next)",
            },
            status,
        )
    if plan.retry_after is not None or status == 429:
        response.headers["Retry-After"] = str(
            int(plan.retry_after if plan.retry_after is not None else 1)
        )
    return response


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], state: ServerState) -> None:
        super().__init__(address, Handler)
        self.state = state
        self.connections: set[socket.socket] = set()


class DemoServer:
    """A running demo server (background thread); use as a context manager or call stop()."""

    def __init__(self, httpd: _HTTPServer, thread: threading.Thread) -> None:
        self._httpd = httpd
        self._thread = thread
        self.state = httpd.state
        host, port = httpd.server_address[:2]
        self.host = str(host)
        self.port = int(port)
        self.url = f"http://{self.host}:{self.port}"
        self.state.base_url = self.url

    @property
    def base_url_v2(self) -> str:
        """…/api/v2"""
        return f"{self.url}/api/v2"

    @property
    def base_url_v1(self) -> str:
        """…/api/v1/sv/ssd"""
        return f"{self.url}/api/v1/sv/ssd"

    @property
    def faults(self) -> Faults:
        """Fault injection: fail_next, delay_next, truncate_next, reset."""
        return self.state.faults

    @property
    def limits(self) -> ServerLimits:
        """The live limits (change with set_limits)."""
        return self.state.limits

    @property
    def request_log(self) -> list[dict[str, Any]]:
        """API calls so far: t (monotonic), method, path, query, api, status, bytes, faults, …"""
        return self.state.request_log()

    def clear_log(self) -> None:
        """Empty the request log."""
        self.state.clear_log()

    def set_limits(self, **changes: Any) -> ServerLimits:
        """Change max_cells, max_values_v1, max_calls or time_window while running."""
        return self.state.set_limits(**changes)

    def touch(
        self, table_id: str, updated: str | None = None, revise: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Simulate a new publication: bump `updated` (default now) and revise cells."""
        return control.touch(self.state, table_id, {"updated": updated, "revise": revise})

    def reload(self, snapshot_dir: Path | None = None) -> None:
        """Re-read the snapshot files (optionally from another folder); touches are kept."""
        self.state.snapshot.reload(snapshot_dir)

    def reset(self) -> None:
        """Back to the start: no faults, empty log and rate window, no touches, initial limits."""
        self.state.reset()

    def stop(self) -> None:
        """Stop serving and close every open connection."""
        self._httpd.shutdown()
        for conn in list(self._httpd.connections):
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> DemoServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_server(
    snapshot_dir: Path | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    max_cells: int = DEFAULT_MAX_CELLS,
    max_values_v1: int = DEFAULT_MAX_VALUES_V1,
    max_calls: int = DEFAULT_MAX_CALLS,
    time_window: float = DEFAULT_TIME_WINDOW,
    control: bool = False,
) -> DemoServer:
    """Start the demo PxWeb server in a background thread (port 0 = any free port); `control`
    enables the /_control endpoints (fault injection, touch, reload) for tests and demos."""
    root = Path(snapshot_dir) if snapshot_dir is not None else demo_snapshot_dir()
    if not (root / "tables").is_dir():
        raise FileNotFoundError(f"not a snapshot folder (no tables/): {root}")
    limits = ServerLimits(max_cells, max_values_v1, max_calls, float(time_window))
    state = ServerState(root, limits)
    state.control = control
    httpd = _HTTPServer((host, port), state)
    thread = threading.Thread(
        target=httpd.serve_forever,
        kwargs={"poll_interval": 0.1},
        name=f"demo-pxweb-{httpd.server_address[1]}",
        daemon=True,
    )
    thread.start()
    return DemoServer(httpd, thread)


def serve(
    snapshot_dir: Path | None = None,
    host: str = "127.0.0.1",
    port: int = 8123,
    **limits: Any,
) -> None:
    """Run the server until Ctrl-C or SIGTERM (blocking); prints one line with the URL."""
    server = start_server(snapshot_dir, host=host, port=port, **limits)
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    control = "; /_control enabled" if server.state.control else ""
    print(
        f"Demo PxWeb server (DEMO DATA) at {server.base_url_v2} (v1: {server.base_url_v1})"
        f"{control}; Ctrl-C to stop",
        flush=True,
    )
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
