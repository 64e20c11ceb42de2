"""PxWeb API v1 protocol: folder navigation, MetaTable metadata, data queries (no I/O)."""

from __future__ import annotations

import heapq
import itertools
import re
from collections.abc import Generator, Iterable, Mapping
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import orjson

from .errors import BadRequest, NotFound, PxWebError
from .limits import Limits
from .models import Call, TableInfo, TableMetadata, Variable

_LANG_SEGMENT = re.compile(r"[a-z]{2}")
_VERSION_SEGMENT = re.compile(r"v\d+", re.IGNORECASE)
_CONFIG_KEYS = ("maxValues", "maxCells", "maxCalls", "timeWindow")
# Folder listings a name lookup may walk before giving up (SCB has on the order of 1,000).
MAX_FOLDERS = 3000
CONTENTS_CODES = ("ContentsCode", "Tabellinnehåll")


def config_urls(base_url: str) -> list[str]:
    """Where `?config` may live: the language level (SCB: `.../doris/sv/?config`), then the base."""
    parts = urlsplit(base_url.rstrip("/"))
    segments = [s for s in parts.path.split("/") if s]
    version = next((i for i, s in enumerate(segments) if _VERSION_SEGMENT.fullmatch(s)), -1)
    lang = next(
        (i for i in range(len(segments) - 1, version, -1) if _LANG_SEGMENT.fullmatch(segments[i])),
        None,
    )
    roots = []
    if lang is not None:
        roots.append("/" + "/".join(segments[: lang + 1]))
    roots.append("/" + "/".join(segments))
    urls: list[str] = []
    for root in roots:
        for path in (root.rstrip("/") + "/", root.rstrip("/")):
            url = urlunsplit((parts.scheme, parts.netloc, path, "config", ""))
            if url not in urls:
                urls.append(url)
    return urls


def limits_steps(base_url: str) -> Generator[Call, Any, Limits]:
    """Probe the `?config` candidates; defaults when none answers with limits."""
    for url in config_urls(base_url):
        try:
            raw = yield Call("GET", url, parse_json=False)
            body = orjson.loads(raw)
        except (PxWebError, orjson.JSONDecodeError):
            continue
        if isinstance(body, Mapping) and any(k in body for k in _CONFIG_KEYS):
            return Limits.from_v1_config(body)
    return Limits.defaults("v1")


def table_path(table_id: str) -> str:
    """A table id as a path relative to the base URL (`BE/BE0101/BE0101A/BefolkningNy`)."""
    return "/".join(s for s in table_id.strip().split("/") if s)


def quoted(path: str) -> str:
    """A relative path with each segment URL-encoded (non-ASCII folder and table names)."""
    return "/".join(quote(s, safe="") for s in path.split("/") if s)


def listing_call(folder: str) -> Call:
    """`GET` a folder: a list of `{id, type, text[, updated]}` nodes."""
    return Call("GET", quoted(folder))


def node_info(node: Mapping[str, Any], folder: str) -> TableInfo:
    """A table node of a folder listing as TableInfo (id = path relative to the base URL)."""
    name = str(node.get("id", ""))
    return TableInfo(
        id=f"{folder}/{name}" if folder else name,
        label=str(node.get("text") or ""),
        updated=node.get("updated"),
        v1_name=name,
        raw=dict(node),
    )


def search_call(query: str) -> Call:
    """`GET {base}?query=` (enabled at some offices, 400 at SCB)."""
    return Call("GET", "", {"query": query})


def parse_search(body: Iterable[Mapping[str, Any]]) -> list[TableInfo]:
    """Search hits `{id, path, title, published}` as TableInfo."""
    infos = []
    for hit in body:
        folder = table_path(str(hit.get("path") or ""))
        name = str(hit.get("id", ""))
        infos.append(
            TableInfo(
                id=f"{folder}/{name}" if folder else name,
                label=str(hit.get("title") or ""),
                updated=hit.get("published"),
                v1_name=name,
                raw=dict(hit),
            )
        )
    return infos


def metadata_call(table_id: str) -> Call:
    """`GET` a table: its MetaTable."""
    return Call("GET", quoted(table_path(table_id)))


def parse_metadata(body: Mapping[str, Any], table_id: str) -> TableMetadata:
    """Variables from a MetaTable (`values` is null when over maxValues; flags may be absent)."""
    variables = []
    for var in body.get("variables") or []:
        code = str(var.get("code", ""))
        values = [str(v) for v in var.get("values") or []]
        texts = [str(t) for t in var.get("valueTexts") or []]
        variables.append(
            Variable(
                code=code,
                label=str(var.get("text") or code),
                values=values,
                value_texts=texts if len(texts) == len(values) else list(values),
                elimination=bool(var.get("elimination", False)),
                elimination_value=None,
                is_time=bool(var.get("time", False)),
                is_contents=code in CONTENTS_CODES,
            )
        )
    return TableMetadata(
        table_id=table_path(table_id),
        label=str(body.get("title") or ""),
        updated=None,  # v1 metadata has none: it lives in the parent folder listing
        variables=variables,
        raw=dict(body),
    )


def data_call(table_id: str, request: Mapping[str, list[str]]) -> Call:
    """`POST` a table with an item selection per variable, answered as json-stat2."""
    body = {
        "query": [
            {"code": var, "selection": {"filter": "item", "values": list(codes)}}
            for var, codes in request.items()
        ],
        "response": {"format": "json-stat2"},
    }
    return Call("POST", quoted(table_path(table_id)), json=body)


def resolve_steps(name: str) -> Generator[Call, Any, str]:
    """A table path as is; a bare table name found by `?query=` or by walking the folders."""
    path = table_path(name)
    if "/" in path:
        return path
    folded = path.casefold()
    try:
        hits = parse_search((yield search_call(path)))
    except (BadRequest, NotFound):
        hits = []
    except (TypeError, AttributeError):  # a listing instead of search hits: no search here
        hits = []
    for info in hits:
        if (info.v1_name or "").casefold() == folded:
            return info.id
    # Best-first walk: folders whose id shares the longest prefix with the name go first
    # (MI -> MI1301 -> MI1301D for MI1301T04), so a lookup takes a handful of listings.
    counter = itertools.count()
    frontier: list[tuple[int, int, int, str]] = [(0, 0, next(counter), "")]
    visited = 0
    while frontier and visited < MAX_FOLDERS:
        _, _, _, folder = heapq.heappop(frontier)
        visited += 1
        try:
            nodes = yield listing_call(folder)
        except NotFound:
            continue
        for node in nodes if isinstance(nodes, list) else []:
            node_id = str(node.get("id", ""))
            if node.get("type") == "t" and node_id.casefold() == folded:
                return f"{folder}/{node_id}" if folder else node_id
            if node.get("type") == "l":
                child = f"{folder}/{node_id}" if folder else node_id
                score = _common_prefix(node_id.casefold(), folded)
                heapq.heappush(frontier, (-score, -child.count("/"), next(counter), child))
    raise NotFound(
        f"no table named {name!r} under the base URL",
        table=name,
        hint="give the table's path relative to the base URL",
    )


def table_info_steps(table_id: str) -> Generator[Call, Any, TableInfo]:
    """A table's node (label, `updated`) from its parent folder's listing."""
    path = yield from resolve_steps(table_id)
    folder, _, name = path.rpartition("/")
    nodes = yield listing_call(folder)
    for node in nodes if isinstance(nodes, list) else []:
        if str(node.get("id", "")) == name and node.get("type") == "t":
            return node_info(node, folder)
    raise NotFound(f"table {name!r} is not listed in its folder", table=path)


def _common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n
