"""HTTP response values and the error bodies of PxWebApi v2 (RFC 7807) and PxWeb v1."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

JSON = "application/json; charset=utf-8"
PROBLEM = "application/problem+json; charset=utf-8"


@dataclass
class Response:
    """A response before it is written: status, body bytes, content type and extra headers."""

    status: int
    body: bytes
    content_type: str = JSON
    headers: dict[str, str] = field(default_factory=dict)


class ApiError(Exception):
    """Raised by a route to answer with an error response."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def json_response(obj: Any, status: int = 200, content_type: str = JSON) -> Response:
    """A JSON response (orjson; NaN is written as null)."""
    return Response(status, orjson.dumps(obj), content_type)


def problem(status: int, title: str, detail: str | None = None) -> Response:
    """A PxWebApi problem+json body: {type, title, status, detail}."""
    body: dict[str, Any] = {"type": "Parameter error", "title": title, "status": status}
    body["detail"] = detail if detail is not None else title
    return json_response(body, status, PROBLEM)


def json_object_body(raw: bytes) -> dict[str, Any]:
    """A POST body as a JSON object (empty body: {}); anything else is a v2 400 problem."""
    try:
        doc = orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError:
        raise ApiError(problem(400, "Parameter error", "The body is not valid JSON")) from None
    if not isinstance(doc, dict):
        raise ApiError(problem(400, "Parameter error", "The body must be a JSON object"))
    return doc


def v1_error(status: int, message: str) -> Response:
    """A PxWeb v1 error body: {"error": message}."""
    return json_response({"error": message}, status)


V1_PARAMETER_ERROR = "Parameter error"
V1_TOO_MANY_VALUES = "Too many values selected"
V1_TOO_MANY_REQUESTS = "429 - Too many requests in too short timeframe. Please try again later."
