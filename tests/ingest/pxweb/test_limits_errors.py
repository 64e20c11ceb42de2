"""Limits from server config, and typed errors from the real error body shapes."""

from __future__ import annotations

import pytest

from ingest.pxweb.errors import (
    BadRequest,
    NotFound,
    PxWebError,
    RateLimited,
    ServerError,
    TooManyCells,
    error_for_status,
    server_message,
)
from ingest.pxweb.limits import Limits

from .conftest import fixture_json


def test_limits_from_the_real_scb_v2_config() -> None:
    limits = Limits.from_v2_config(fixture_json("scb_v2_config.json"))
    # What the server says (test-tuned 3 calls / 1 s in pxwebpy's capture), not the defaults.
    assert limits == Limits(max_cells=150_000, max_values=None, max_calls=3, time_window=1.0)


def test_v2_zero_means_not_announced() -> None:
    limits = Limits.from_v2_config(
        {"maxDataCells": 800000, "maxCallsPerTimeWindow": 0, "timeWindow": 0}
    )
    assert (limits.max_cells, limits.max_calls, limits.time_window) == (800_000, 30, 10.0)
    assert Limits.from_v2_config({}) == Limits.defaults("v2") == Limits(150_000, None, 30, 10.0)


def test_v1_config_and_defaults() -> None:
    config = {
        "maxValues": 110000,
        "maxCells": 150000,
        "maxCalls": 30,
        "timeWindow": 10,
        "CORS": True,
    }
    limits = Limits.from_v1_config(config)
    assert limits == Limits(max_cells=150_000, max_values=110_000, max_calls=30, time_window=10.0)
    assert limits.request_cells == 110_000
    # Without maxCells the value limit is the cell limit too (as R-pxweb reads it).
    assert Limits.from_v1_config({"maxValues": 5000}).request_cells == 5000
    assert Limits.from_v1_config({}) == Limits.defaults("v1") == Limits(100_000, 100_000, 30, 10.0)


def test_invalid_limits_are_refused() -> None:
    with pytest.raises(ValueError):
        Limits(max_cells=0)


def test_v2_problem_json_message() -> None:
    body = b'{"type":"Parameter error","title":"Non-existent variable","status":400}'
    error = error_for_status(400, body, table="TAB638", url="https://x/api/v2/tables/TAB638/data")
    assert type(error) is BadRequest
    assert error.server_message == "Non-existent variable"
    text = str(error)
    assert "\n" not in text
    for part in (
        "TAB638",
        "HTTP 400",
        "Non-existent variable",
        "https://x/api/v2/tables/TAB638/data",
    ):
        assert part in text


def test_v2_problem_json_with_detail_and_404() -> None:
    body = b'{"type":"x","title":"Non-existent table","status":404,"detail":"No table TAB0"}'
    error = error_for_status(404, body, table="TAB0")
    assert isinstance(error, NotFound)
    assert error.server_message == "Non-existent table: No table TAB0"


def test_cell_limit_on_400_and_403() -> None:
    v2 = error_for_status(400, b'{"title":"Too many cells selected","status":400}')
    v1 = error_for_status(403, b'{"error":"Too many values selected"}')
    finland = error_for_status(403, b"<html><body><h1>403 - Forbidden</h1></body></html>")
    assert all(isinstance(e, TooManyCells) for e in (v2, v1, finland))
    assert v1.server_message == "Too many values selected"
    assert finland.server_message == "403 - Forbidden"


def test_v1_json_error_and_scb_plain_text_400() -> None:
    assert server_message(b'{"error":"Parameter error"}') == "Parameter error"
    plain = error_for_status(400, b"Bad Request")
    assert type(plain) is BadRequest and plain.server_message == "Bad Request"


def test_classified_by_status_not_body() -> None:
    # A JSON body that looks like a v1 error still yields the status's type.
    assert isinstance(error_for_status(503, b'{"error":"x"}'), ServerError)
    rate = error_for_status(429, b"", retry_after=10.0)
    assert isinstance(rate, RateLimited) and rate.retry_after == 10.0
    assert isinstance(error_for_status(418, b"teapot"), BadRequest)
    assert all(
        isinstance(error_for_status(s, b""), PxWebError) for s in (400, 403, 404, 429, 500, 502)
    )


def test_long_html_messages_are_one_short_line() -> None:
    html = b"<html>\n<head><title>Error</title></head>\n<body>" + b"x " * 500 + b"</body></html>"
    message = server_message(html)
    assert message is not None and "\n" not in message and len(message) <= 300
