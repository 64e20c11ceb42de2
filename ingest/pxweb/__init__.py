"""PxWeb client: one interface over API v2 and v1, with limits, splitting, rate limiting, retries."""

from .aio import fetch_table_updated
from .client import PxWebClient
from .errors import (
    BadRequest,
    InvalidSelection,
    NotFound,
    PxWebError,
    RateLimited,
    ResponseError,
    ServerError,
    SourceUnreachable,
    TooManyCells,
)
from .limits import Limits
from .models import ClientStats, FetchedPart, QueryPlan, TableInfo, TableMetadata, Variable
from .planner import expand_selection, plan_query, split_requests
from .ratelimit import RateLimiter

__all__ = [
    "BadRequest",
    "ClientStats",
    "FetchedPart",
    "InvalidSelection",
    "Limits",
    "NotFound",
    "PxWebClient",
    "PxWebError",
    "QueryPlan",
    "RateLimited",
    "RateLimiter",
    "ResponseError",
    "ServerError",
    "SourceUnreachable",
    "TableInfo",
    "TableMetadata",
    "TooManyCells",
    "Variable",
    "expand_selection",
    "fetch_table_updated",
    "plan_query",
    "split_requests",
]
