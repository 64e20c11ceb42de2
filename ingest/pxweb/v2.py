"""PxWebApi v2 protocol: URLs, request bodies and response parsing (no I/O)."""

from __future__ import annotations

import re
from collections.abc import Generator, Mapping
from typing import Any
from urllib.parse import quote

from .errors import BadRequest, NotFound
from .limits import Limits
from .models import Call, TableInfo, TableMetadata, Variable

TAB_ID = re.compile(r"TAB\d+", re.IGNORECASE)
# Metadata calls spent checking search hits for a v1 name (extension.px.matrix) before giving up.
MAX_MATRIX_CHECKS = 10


def lang_params(lang: str | None) -> dict[str, Any]:
    """The `lang` query parameter, when a language is set."""
    return {"lang": lang} if lang else {}


def config_call() -> Call:
    """`GET /config`: limits and languages."""
    return Call("GET", "config")


def parse_limits(config: Mapping[str, Any]) -> Limits:
    """Limits from a `/config` body."""
    return Limits.from_v2_config(config)


def tables_call(
    *,
    query: str | None,
    past_days: int | None,
    page_number: int,
    page_size: int,
    lang: str | None,
) -> Call:
    """`GET /tables` for one page (pageNumber is 1-based)."""
    params: dict[str, Any] = {**lang_params(lang), "pageNumber": page_number, "pageSize": page_size}
    if query:
        params["query"] = query
    if past_days is not None:
        params["pastDays"] = past_days
    return Call("GET", "tables", params)


def parse_tables_page(body: Mapping[str, Any]) -> tuple[list[TableInfo], bool]:
    """The tables on a `/tables` page and whether another page follows."""
    tables = [parse_table_info(t) for t in body.get("tables") or []]
    page = body.get("page") or {}
    number, total = page.get("pageNumber"), page.get("totalPages")
    if isinstance(number, int) and isinstance(total, int):
        has_next = number < total
    else:
        has_next = any(link.get("rel") == "next" for link in page.get("links") or [])
    return tables, has_next


def table_call(table_id: str, lang: str | None) -> Call:
    """`GET /tables/{id}`."""
    return Call("GET", f"tables/{quote(table_id, safe='')}", lang_params(lang))


def parse_table_info(body: Mapping[str, Any]) -> TableInfo:
    """A `Table` object from `/tables` or `/tables/{id}`."""
    return TableInfo(
        id=str(body.get("id", "")),
        label=str(body.get("label") or ""),
        updated=body.get("updated"),
        first_period=body.get("firstPeriod"),
        last_period=body.get("lastPeriod"),
        v1_name=body.get("matrix") or None,
        discontinued=bool(body.get("discontinued", False)),
        raw=dict(body),
    )


def metadata_call(table_id: str, lang: str | None) -> Call:
    """`GET /tables/{id}/metadata` as json-stat2."""
    params = {**lang_params(lang), "outputFormat": "json-stat2"}
    return Call("GET", f"tables/{quote(table_id, safe='')}/metadata", params)


def parse_metadata(body: Mapping[str, Any], table_id: str) -> TableMetadata:
    """Variables from a json-stat2 metadata dataset (`value: []`)."""
    role = body.get("role") or {}
    times = set(role.get("time") or [])
    metrics = set(role.get("metric") or [])
    dimensions = body.get("dimension") or {}
    variables = []
    for code in body.get("id") or list(dimensions):
        dim = dimensions.get(code) or {}
        category = dim.get("category") or {}
        codes = category_codes(category)
        labels = category.get("label") or {}
        ext = dim.get("extension") or {}
        variables.append(
            Variable(
                code=code,
                label=str(dim.get("label") or code),
                values=codes,
                value_texts=[str(labels.get(c, c)) for c in codes],
                elimination=bool(ext.get("elimination", False)),
                elimination_value=ext.get("eliminationValueCode"),
                is_time=code in times or (not times and code in ("Tid", "TIME")),
                is_contents=code in metrics or (not metrics and code == "ContentsCode"),
            )
        )
    px = (body.get("extension") or {}).get("px") or {}
    return TableMetadata(
        table_id=str(px.get("tableid") or table_id),
        label=str(body.get("label") or ""),
        updated=body.get("updated"),
        variables=variables,
        raw=dict(body),
    )


def category_codes(category: Mapping[str, Any]) -> list[str]:
    """Category ids in order: `index` as a list or {id: position}, else the `label` keys."""
    index = category.get("index")
    if isinstance(index, list):
        return [str(c) for c in index]
    if isinstance(index, Mapping):
        return [str(c) for c, _ in sorted(index.items(), key=lambda item: item[1])]
    return [str(c) for c in category.get("label") or {}]


def matrix_name(metadata: Mapping[str, Any]) -> str | None:
    """The v1 table name (`extension.px.matrix`) in a metadata body."""
    px = (metadata.get("extension") or {}).get("px") or {}
    return px.get("matrix")


def data_call(table_id: str, request: Mapping[str, list[str]], lang: str | None) -> Call:
    """`POST /tables/{id}/data` for one request, as json-stat2."""
    body = {
        "selection": [
            {"variableCode": var, "valueCodes": list(codes)} for var, codes in request.items()
        ],
        "placement": {"heading": [], "stub": []},
    }
    params = {**lang_params(lang), "outputFormat": "json-stat2"}
    return Call("POST", f"tables/{quote(table_id, safe='')}/data", params, body)


def resolve_steps(name: str, lang: str | None) -> Generator[Call, Any, str]:
    """Resolve a TAB id or a v1 name (matched on id or extension.px.matrix) to a v2 table id."""
    if TAB_ID.fullmatch(name):
        return name
    folded = name.casefold()
    try:
        page = yield tables_call(
            query=name, past_days=None, page_number=1, page_size=100, lang=lang
        )
        hits, _ = parse_tables_page(page)
    except (NotFound, BadRequest):
        hits = []
    for info in hits:
        if folded in (info.id.casefold(), (info.v1_name or "").casefold()):
            return info.id
    for info in hits[:MAX_MATRIX_CHECKS]:
        metadata = yield metadata_call(info.id, lang)
        if (matrix_name(metadata) or "").casefold() == folded:
            return info.id
    # Other offices use ids that are not TAB ids (SSB: digits); ask for the table directly.
    try:
        direct = yield table_call(name, lang)
    except (NotFound, BadRequest):
        direct = None
    if direct:
        return parse_table_info(direct).id or name
    raise NotFound(
        f"no table matches {name!r}",
        table=name,
        hint="search with `/tables?query=` or use the TAB id",
    )


def table_info_steps(table_id: str, lang: str | None) -> Generator[Call, Any, TableInfo]:
    """Resolve a table name and fetch its `/tables/{id}` entry."""
    resolved = yield from resolve_steps(table_id, lang)
    info = parse_table_info((yield table_call(resolved, lang)))
    if info.v1_name is None and resolved.casefold() != table_id.casefold():
        info.v1_name = table_id  # resolved from its v1 name (extension.px.matrix)
    return info
