"""PxWeb client: one interface over API v2 and v1, with limits, splitting, rate limiting, retries.

The names below are imported lazily (module `__getattr__`, PEP 562): `from ingest.pxweb import
PxWebClient` works as before, but importing the package (or a light submodule such as
`ingest.pxweb.models`) does not pull in httpx, orjson and the planner. The Airflow DAG processor
imports modules that import this package, and parses DAG files on a tight time budget.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# public name -> submodule that defines it
_EXPORTS: dict[str, str] = {
    "fetch_table_updated": "aio",
    "PxWebClient": "client",
    "BadRequest": "errors",
    "DeadlineExceeded": "errors",
    "InvalidSelection": "errors",
    "NotFound": "errors",
    "PxWebError": "errors",
    "RateLimited": "errors",
    "RedirectRefused": "errors",
    "ResponseError": "errors",
    "ResponseMismatch": "errors",
    "ResponseTooLarge": "errors",
    "ServerError": "errors",
    "SourceUnreachable": "errors",
    "TooManyCells": "errors",
    "UnsupportedURL": "errors",
    "Limits": "limits",
    "ClientStats": "models",
    "FetchedPart": "models",
    "QueryPlan": "models",
    "TableInfo": "models",
    "TableMetadata": "models",
    "Variable": "models",
    "expand_selection": "planner",
    "plan_query": "planner",
    "split_requests": "planner",
    "RateLimiter": "ratelimit",
}

# kept literal (not derived from _EXPORTS) so linters and type checkers see the public names
__all__ = [
    "BadRequest",
    "ClientStats",
    "DeadlineExceeded",
    "FetchedPart",
    "InvalidSelection",
    "Limits",
    "NotFound",
    "PxWebClient",
    "PxWebError",
    "QueryPlan",
    "RateLimited",
    "RateLimiter",
    "RedirectRefused",
    "ResponseError",
    "ResponseMismatch",
    "ResponseTooLarge",
    "ServerError",
    "SourceUnreachable",
    "TableInfo",
    "TableMetadata",
    "TooManyCells",
    "UnsupportedURL",
    "Variable",
    "expand_selection",
    "fetch_table_updated",
    "plan_query",
    "split_requests",
]

if TYPE_CHECKING:  # static analysis sees the real names
    from .aio import fetch_table_updated
    from .client import PxWebClient
    from .errors import (
        BadRequest,
        DeadlineExceeded,
        InvalidSelection,
        NotFound,
        PxWebError,
        RateLimited,
        RedirectRefused,
        ResponseError,
        ResponseMismatch,
        ResponseTooLarge,
        ServerError,
        SourceUnreachable,
        TooManyCells,
        UnsupportedURL,
    )
    from .limits import Limits
    from .models import ClientStats, FetchedPart, QueryPlan, TableInfo, TableMetadata, Variable
    from .planner import expand_selection, plan_query, split_requests
    from .ratelimit import RateLimiter


def __getattr__(name: str) -> Any:
    """Import the submodule that defines `name` on first use, and cache the name here."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
