"""Malformed requests get 400 (or 413) with a problem body, never a traceback or a dropped
connection; the /_control endpoints exist only when the server was started for tests, take only
application/json from the server's own origin, and cannot point outside the snapshot folders."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import orjson
import pytest

from pxweb_demo.paths import demo_snapshot_dir
from pxweb_demo.server import DemoServer, start_server
from tests.pxweb_demo.server.conftest import client


def raw_request(server: DemoServer, head: str, body: bytes = b"") -> tuple[int, dict, bytes]:
    """Send raw bytes; the status, headers and body of the answer (read until the server closes
    or the declared length arrives)."""
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(head.encode() + b"\r\n" + body)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        head_bytes, _, rest = data.partition(b"\r\n\r\n")
        lines = head_bytes.decode().split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
        length = int(headers.get("content-length", 0))
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
    return int(lines[0].split()[1]), headers, rest


def post_head(path: str, length: str, extra: str = "") -> str:
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n{extra}"
    )


@pytest.mark.parametrize(
    ("length", "status", "detail"),
    [
        ("abc", 400, "Content-Length is not a number"),
        ("-5", 400, "Content-Length is not a number"),
        ("1e3", 400, "Content-Length is not a number"),
        ("99999999999999999999", 413, "at most 1048576 are accepted"),
        ("2000000", 413, "The body is 2000000 bytes"),
    ],
)
def test_bad_content_length_is_a_problem_and_closes(
    server: DemoServer, length: str, status: int, detail: str
) -> None:
    code, headers, body = raw_request(server, post_head("/api/v2/tables/TAB9001/data", length))
    assert code == status
    assert headers["content-type"].startswith("application/problem+json")
    assert headers.get("connection") == "close"
    problem = orjson.loads(body)
    assert problem["status"] == status and detail in problem["detail"]
    # the server is still fine
    with client(server.base_url_v2) as c:
        assert c.get("/config").status_code == 200


def test_chunked_request_bodies_are_refused(server: DemoServer) -> None:
    head = (
        "POST /api/v2/tables/TAB9001/data HTTP/1.1\r\nHost: x\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
    )
    code, _, body = raw_request(server, head, b"2\r\n{}\r\n0\r\n\r\n")
    assert code == 400 and "Chunked" in orjson.loads(body)["detail"]


@pytest.mark.parametrize(
    "body",
    [
        {"selection": 5},
        {"selection": [5]},
        {"selection": [{"variableCode": 5, "valueCodes": ["01"]}]},
        {"selection": [{"variableCode": "Lan", "valueCodes": [1, 2]}]},
        {"selection": [{"variableCode": "Lan", "valueCodes": {"a": 1}}]},
        {"placement": 3},
        {"placement": {"heading": "Lan"}},
        [1],
    ],
)
def test_wrongly_shaped_v2_selections_are_400(server: DemoServer, body: object) -> None:
    with client(server.base_url_v2) as c:
        r = c.post("/tables/TAB9001/data", content=orjson.dumps(body))
    assert r.status_code == 400, r.text
    assert r.json()["status"] == 400 and r.json()["title"] != "Internal server error"


@pytest.mark.parametrize(
    "body",
    [{"query": 5}, {"query": [5]}, {"query": [{"code": 5}]},
     {"query": [{"code": "Lan", "selection": 5}]},
     {"query": [{"code": "Lan", "selection": {"filter": "item", "values": "01"}}]}],
)  # fmt: skip
def test_wrongly_shaped_v1_queries_are_400(server: DemoServer, body: object) -> None:
    with client(server.base_url_v1) as c:
        r = c.post("/MI/MI1301/MI1301D/MI1301T04", content=orjson.dumps(body))
    assert r.status_code == 400, r.text
    assert r.json() == {"error": "Parameter error"}


def test_control_endpoints_need_the_flag(tmp_path: Path) -> None:
    with start_server() as s, client(s.url) as c:
        assert c.get("/_control/health").status_code == 404
        r = c.post("/_control/reload", json={"snapshot_dir": str(tmp_path)})
        assert r.status_code == 404
        assert s.state.snapshot.root == demo_snapshot_dir()


def test_control_takes_only_json_from_its_own_origin(
    server: DemoServer, http: httpx.Client
) -> None:
    # What a web page could send cross-origin without a preflight: text/plain, form data.
    r = http.post("/_control/tables/TAB9001/touch", content=b"{}",
                  headers={"Content-Type": "text/plain"})  # fmt: skip
    assert r.status_code == 415
    assert http.post("/_control/reset").status_code == 415  # no content type at all
    r = http.post("/_control/reset", json={}, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403
    assert http.post("/_control/reset", json={}, headers={"Origin": server.url}).status_code == 200
    assert http.get("/api/v2/tables/TAB9001").json()["updated"] == "2026-05-29T06:00:00Z"


def test_reload_cannot_point_outside_the_snapshot_folders(
    server: DemoServer, http: httpx.Client, tmp_path: Path
) -> None:
    (tmp_path / "tables").mkdir()
    for folder in (str(tmp_path), "/etc", str(demo_snapshot_dir() / "..")):
        r = http.post("/_control/reload", json={"snapshot_dir": folder})
        assert r.status_code == 403, folder
        assert "may only switch between the snapshot folders" in r.json()["detail"]
    assert http.post("/_control/reload", json={"snapshot_dir": 5}).status_code == 400
    r = http.post("/_control/reload", json={"snapshot_dir": str(demo_snapshot_dir())})
    assert r.status_code == 200
    assert http.post("/_control/reload", json={}).status_code == 200
