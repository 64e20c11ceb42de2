"""A loopback PxWeb v2 server that misbehaves on purpose, one way per URL prefix.

`http://127.0.0.1:PORT/<mode>/api/v2` answers /config, /tables/TAB1 and its metadata correctly
(a tiny table: Region 01/03/05, ContentsCode C1, Tid 2020/2021); the data POST misbehaves
according to `mode`:

- `ok`: the right answer (json-stat2 for exactly the requested codes)
- `drip`: declares 100,000 bytes, then sends one byte every 0.5 s
- `endless`: a chunked body that never ends, 64 KiB chunks as fast as the client reads
- `gzipbomb`: `Content-Encoding: gzip`, a gzip stream of zeros that never ends (~1000:1)
- `hugelength`: declares a 2 GB `Content-Length`, sends a few bytes, then hangs
- `redirect-foreign`: 302 to the same path on another origin (127.0.0.2)
- `redirect-foreign-307`: 307 (method-keeping) to another origin
- `redirect-302`: 302 to the same origin (would turn the POST into a GET)
- `redirect-307`: 307 to the same origin's `ok` prefix (followed: the right answer)
- `othercodes`: a valid dataset for codes that were not requested, one dimension missing
- `badjson`: 200 with a body that is not JSON
- `dripheaders`: the status line, then one header byte every 0.5 s (never a complete head)
- `hangheaders`: reads the request and never answers (the connection stays open)
- `slowmeta`: the metadata GET takes 0.6 s and answers 503 (retryable), every time

Every data request is counted per mode (`data_requests`), so tests can check retries, and
whether it came on a reused keep-alive connection is noted in order (`data_on_reused`).
"""

from __future__ import annotations

import itertools
import sys
import threading
import time
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

TABLE = "TAB1"
CODES = {"Region": ["01", "03", "05"], "ContentsCode": ["C1"], "Tid": ["2020", "2021"]}


def metadata() -> dict[str, Any]:
    """The table's json-stat2 metadata (`value: []`)."""
    return {
        "version": "2.0",
        "class": "dataset",
        "label": "Hostile test table",
        "source": "hostile test server",
        "updated": "2025-01-01T00:00:00Z",
        "id": list(CODES),
        "size": [len(c) for c in CODES.values()],
        "role": {"time": ["Tid"], "metric": ["ContentsCode"], "geo": ["Region"]},
        "dimension": {
            dim: {
                "label": dim.lower(),
                "category": {
                    "index": {c: i for i, c in enumerate(codes)},
                    "label": {c: f"{dim} {c}" for c in codes},
                },
                "extension": {"elimination": False},
            }
            for dim, codes in CODES.items()
        },
        "extension": {"px": {"tableid": TABLE, "matrix": "HOSTILE"}},
        "value": [],
    }


def dataset(selection: dict[str, list[str]]) -> dict[str, Any]:
    """A json-stat2 data response for a selection (values 1, 2, 3, …)."""
    n = 1
    for codes in selection.values():
        n *= len(codes)
    return {
        "version": "2.0",
        "class": "dataset",
        "label": "Hostile test table",
        "source": "hostile test server",
        "updated": "2025-01-01T00:00:00Z",
        "id": list(selection),
        "size": [len(c) for c in selection.values()],
        "dimension": {
            d: {"category": {"index": {c: i for i, c in enumerate(codes)}}}
            for d, codes in selection.items()
        },
        "value": [float(i + 1) for i in range(n)],
    }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        """Listing, table and metadata calls answer correctly; a GET on data is a mistake."""
        self._served = getattr(self, "_served", 0) + 1
        mode, path = self._split()
        if path == "config":
            self._json({"maxDataCells": 150_000, "maxCallsPerTimeWindow": 1000, "timeWindow": 10})
        elif path == f"tables/{TABLE}":
            self._json({"id": TABLE, "label": "Hostile", "updated": "2025-01-01T00:00:00Z"})
        elif path == f"tables/{TABLE}/metadata":
            self.server.metadata_requests[mode] += 1
            if mode == "slowmeta":
                time.sleep(0.6)
                self._json({"title": "Service unavailable", "status": 503}, 503)
            else:
                self._json(metadata())
        elif path == f"tables/{TABLE}/data":
            # What a POST redirected with 302/303 turns into: a GET that selects other data.
            self._json(dataset({"Region": ["05"], "Tid": ["2021"]}))
        else:
            self._json({"title": "Not found", "status": 404}, 404)

    def do_POST(self) -> None:
        """The data call: answered according to the mode."""
        self._served = getattr(self, "_served", 0) + 1
        length = int(self.headers.get("Content-Length") or 0)
        body = orjson.loads(self.rfile.read(length)) if length else {}
        mode, path = self._split()
        if path != f"tables/{TABLE}/data":
            self._json({"title": "Not found", "status": 404}, 404)
            return
        self.server.data_requests[mode] += 1
        self.server.data_on_reused[mode].append(self._served > 1)
        selection = {s["variableCode"]: s["valueCodes"] for s in body.get("selection", [])}
        getattr(self, "_" + mode.replace("-", "_"))(selection)

    # -- modes ---------------------------------------------------------------------------------

    def _ok(self, selection: dict[str, list[str]]) -> None:
        self._json(dataset(selection))

    def _drip(self, selection: dict[str, list[str]]) -> None:
        self._head(200, {"Content-Length": "100000"})
        self._forever(itertools.repeat(b" "), pause=0.5)

    def _endless(self, selection: dict[str, list[str]]) -> None:
        self._head(200, {"Transfer-Encoding": "chunked"})
        chunk = b"[" + b"1," * 32_000
        self._forever(_chunked(itertools.repeat(chunk)))

    def _gzipbomb(self, selection: dict[str, list[str]]) -> None:
        self._head(200, {"Transfer-Encoding": "chunked", "Content-Encoding": "gzip"})
        self._forever(_chunked(_gzip_zeros()))

    def _hugelength(self, selection: dict[str, list[str]]) -> None:
        self._head(200, {"Content-Length": "2000000000"})
        self._forever(itertools.chain([b'{"version": "2.0", '], itertools.repeat(b"")), pause=1)

    def _redirect_foreign(self, selection: dict[str, list[str]]) -> None:
        port = self.server.server_address[1]
        self._redirect(302, f"http://127.0.0.2:{port}{self.path}")

    def _redirect_foreign_307(self, selection: dict[str, list[str]]) -> None:
        port = self.server.server_address[1]
        path = self.path.replace("/redirect-foreign-307/", "/ok/", 1)
        self._redirect(307, f"http://127.0.0.2:{port}{path}")

    def _redirect_302(self, selection: dict[str, list[str]]) -> None:
        self._redirect(302, self.path)

    def _redirect_307(self, selection: dict[str, list[str]]) -> None:
        self._redirect(307, self.path.replace("/redirect-307/", "/ok/", 1))

    def _othercodes(self, selection: dict[str, list[str]]) -> None:
        self._json(dataset({"Region": ["05"], "Tid": ["2021"]}))

    def _badjson(self, selection: dict[str, list[str]]) -> None:
        body = b'{"version": "2.0", "class": "dataset", "value": [1, 2,'
        self._head(200, {"Content-Length": str(len(body))})
        self.wfile.write(body)

    def _dripheaders(self, selection: dict[str, list[str]]) -> None:
        self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Drip: ")
        self._forever(itertools.repeat(b"a"), pause=0.5)

    def _hangheaders(self, selection: dict[str, list[str]]) -> None:
        self._forever(itertools.repeat(b""), pause=0.5)

    # -- helpers -------------------------------------------------------------------------------

    def _split(self) -> tuple[str, str]:
        path = self.path.split("?")[0].strip("/")
        mode, _, rest = path.partition("/")
        return mode, rest.removeprefix("api/v2").strip("/")

    def _head(self, status: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.flush()

    def _json(self, obj: Any, status: int = 200) -> None:
        body = orjson.dumps(obj)
        self._head(status, {"Content-Length": str(len(body))})
        self.wfile.write(body)

    def _redirect(self, status: int, location: str) -> None:
        self._head(status, {"Location": location, "Content-Length": "0"})

    def _forever(self, pieces: Iterator[bytes], pause: float = 0.0) -> None:
        """Send until the client hangs up (or the server stops)."""
        self.close_connection = True
        try:
            for piece in pieces:
                if self.server.stopping.is_set():
                    return
                if piece:
                    self.wfile.write(piece)
                    self.wfile.flush()
                if pause:
                    time.sleep(pause)
        except OSError:  # the client gave up: that is what the test wants
            return


def _chunked(pieces: Iterator[bytes]) -> Iterator[bytes]:
    for piece in pieces:
        if piece:
            yield b"%x\r\n%s\r\n" % (len(piece), piece)


def _gzip_zeros() -> Iterator[bytes]:
    """An endless gzip stream of zeros (each 4 MiB of zeros compresses to ~4 KiB)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(4 * 1024 * 1024)
    while True:
        yield packer.compress(zeros) + packer.flush(zlib.Z_SYNC_FLUSH)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        # The foreign redirect target (127.0.0.2) needs no listener: the client must refuse it
        # before connecting.
        super().__init__(("127.0.0.1", 0), _Handler)
        self.data_requests: Counter[str] = Counter()
        self.metadata_requests: Counter[str] = Counter()
        self.data_on_reused: defaultdict[str, list[bool]] = defaultdict(list)
        self.stopping = threading.Event()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up mid-answer is what these tests provoke: no traceback."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class HostileServer:
    """The running server: `url(mode)` is the base URL of one misbehaviour."""

    def __init__(self) -> None:
        self._httpd = _Server()
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    @property
    def data_requests(self) -> Counter[str]:
        """Data POSTs received, per mode."""
        return self._httpd.data_requests

    @property
    def metadata_requests(self) -> Counter[str]:
        """Metadata GETs received, per mode."""
        return self._httpd.metadata_requests

    @property
    def data_on_reused(self) -> defaultdict[str, list[bool]]:
        """Per mode, for each data POST in order: did it come on a reused connection?"""
        return self._httpd.data_on_reused

    def url(self, mode: str) -> str:
        """The v2 base URL of a mode."""
        return f"http://127.0.0.1:{self.port}/{mode}/api/v2"

    def stop(self) -> None:
        """Stop serving (endless senders stop at their next piece)."""
        self._httpd.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()


@contextmanager
def hostile_server() -> Iterator[HostileServer]:
    """A HostileServer for the duration of a with-block."""
    server = HostileServer()
    try:
        yield server
    finally:
        server.stop()
