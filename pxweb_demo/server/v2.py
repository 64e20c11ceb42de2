"""PxWebApi v2 routes: /config, /tables, /tables/{id}, /tables/{id}/metadata, /tables/{id}/data."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from pxweb_demo.server.jsonstat_writer import dataset_doc, metadata_doc
from pxweb_demo.server.model import Table
from pxweb_demo.server.responses import ApiError, Response, json_object_body, json_response, problem
from pxweb_demo.server.selection import (
    SelectionError,
    as_list,
    cell_count,
    default_selection,
    plan_selection,
    slice_cube,
)
from pxweb_demo.server.state import ServerState

LANGUAGES = ("sv", "en")
DEFAULT_PAGE_SIZE = 20


def route(
    state: ServerState, method: str, parts: list[str], query: list[tuple[str, str]], body: bytes
) -> Response:
    """Dispatch a request below /api/v2 (parts are the decoded path segments after it)."""
    params = {k.lower(): v for k, v in query}
    lang = params.get("lang", "sv")
    if lang not in LANGUAGES:
        raise ApiError(problem(400, "Unsupported language", f"Language '{lang}' is not supported"))
    if parts == ["config"] and method == "GET":
        return json_response(config(state))
    if parts == ["tables"] and method == "GET":
        return json_response(list_tables(state, params, lang))
    if len(parts) >= 2 and parts[0] == "tables":
        table = state.snapshot.get(parts[1])
        if table is None:
            raise ApiError(problem(404, "Non-existent table", f"Table '{parts[1]}' does not exist"))
        rest = parts[2:]
        if rest == [] and method == "GET":
            return json_response({"language": lang, **table_entry(state, table, lang)})
        if rest == ["metadata"] and method == "GET":
            return json_response(metadata_doc(table))
        if rest == ["data"] and method in ("GET", "POST"):
            return data(state, table, method, query, body)
    raise ApiError(problem(404, "Not found", f"No such endpoint: /api/v2/{'/'.join(parts)}"))


def config(state: ServerState) -> dict[str, Any]:
    """The /config document with the server's live limits."""
    doc = state.snapshot.config()
    window = state.limits.time_window
    doc["maxDataCells"] = state.limits.max_cells
    doc["maxCallsPerTimeWindow"] = state.limits.max_calls
    doc["timeWindow"] = int(window) if float(window).is_integer() else window
    return doc


def table_links(state: ServerState, table_id: str, lang: str) -> list[dict[str, str]]:
    """self, alternate, metadata and data links of a table, as SCB gives them."""
    base, other = f"{state.base_v2}/tables/{quote(table_id)}", "en" if lang == "sv" else "sv"
    return [
        {"rel": "self", "hreflang": lang, "href": f"{base}?lang={lang}"},
        {"rel": "alternate", "hreflang": other, "href": f"{base}?lang={other}"},
        {"rel": "metadata", "hreflang": lang, "href": f"{base}/metadata?lang={lang}"},
        {
            "rel": "data",
            "hreflang": lang,
            "href": f"{base}/data?lang={lang}&outputFormat=json-stat2",
        },
    ]


def table_entry(state: ServerState, table: Table, lang: str) -> dict[str, Any]:
    """A `Table` object (SCB shape) with links."""
    return {**table.info, "links": table_links(state, table.id, lang)}


def _int_param(params: dict[str, str], name: str, default: int | None) -> int | None:
    raw = params.get(name.lower())
    if raw in (None, ""):
        return default
    try:
        return int(str(raw))
    except ValueError:
        raise ApiError(problem(400, "Parameter error", f"'{name}' must be an integer")) from None


def _parse_updated(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _word_matches(word: str, tokens: set[str]) -> bool:
    # Word search like SCB's index: "TAB900" must not find TAB9001; "folk*" is a prefix search.
    if word.endswith("*"):
        return any(t.startswith(word[:-1]) for t in tokens)
    return word in tokens


def list_tables(state: ServerState, params: dict[str, str], lang: str) -> dict[str, Any]:
    """/tables: word search over id, label and v1 name; pastDays; 1-based pages."""
    words = (params.get("query") or "").lower().split()
    past_days = _int_param(params, "pastDays", None)
    page_number = _int_param(params, "pageNumber", 1)
    page_size = _int_param(params, "pageSize", DEFAULT_PAGE_SIZE)
    assert page_number is not None and page_size is not None
    since = datetime.now(UTC) - timedelta(days=past_days) if past_days is not None else None
    hits = []
    for t in state.snapshot.tables():
        tokens = set(re.split(r"[^\w+]+", f"{t.id} {t.info.get('label', '')} {t.matrix}".lower()))
        if not all(_word_matches(w, tokens) for w in words):
            continue
        if since is not None and _parse_updated(t.updated) < since:
            continue
        hits.append(t)
    if page_size < 1:
        raise ApiError(problem(400, "Parameter error", "pageSize must be at least 1"))
    total_pages = math.ceil(len(hits) / page_size)
    if page_number < 1 or page_number > max(total_pages, 1):
        raise ApiError(problem(404, "Non-existent page", "Non-existent page"))
    extra = {k: v for k, v in (("query", params.get("query")), ("pastDays", past_days)) if v}

    def href(n: int) -> str:
        q = urlencode({"lang": lang, **extra, "pagesize": page_size, "pageNumber": n})
        return f"{state.base_v2}/tables/?{q}"

    links = []
    if page_number > 1:
        links.append({"rel": "previous", "hreflang": lang, "href": href(page_number - 1)})
    if page_number < total_pages:
        links.append({"rel": "next", "hreflang": lang, "href": href(page_number + 1)})
        links.append({"rel": "last", "hreflang": lang, "href": href(total_pages)})
    page = hits[(page_number - 1) * page_size : page_number * page_size]
    return {
        "language": lang,
        "tables": [table_entry(state, t, lang) for t in page],
        "page": {
            "pageNumber": page_number,
            "pageSize": page_size,
            "totalElements": len(hits),
            "totalPages": total_pages,
            "links": links,
        },
        "links": [{"rel": "self", "hreflang": lang, "href": href(page_number)}],
    }


def split_value_codes(raw: str) -> list[str]:
    """Split a GET valueCodes value on commas outside brackets; unwrap `[top(5,3)]` items."""
    items, buf, depth = [], "", 0
    for ch in raw:
        depth += ch in "[("
        depth -= ch in "])"
        if ch == "," and depth <= 0:
            items.append(buf)
            buf = ""
        else:
            buf += ch
    items.append(buf)
    out = [i.strip() for i in items]
    return [i[1:-1] if i.startswith("[") and i.endswith("]") else i for i in out]


def _bracket_key(key: str, prefix: str) -> str | None:
    if key.lower().startswith(prefix) and key.endswith("]"):
        return key[len(prefix) : -1]
    return None


def parse_get_selection(query: list[tuple[str, str]]) -> tuple[dict[str, list[str]], list[str]]:
    """valueCodes[VAR]=… into {VAR: expressions}, plus the variables that name a codelist."""
    selection: dict[str, list[str]] = {}
    codelists = []
    for key, value in query:
        if (var := _bracket_key(key, "valuecodes[")) is not None:
            selection.setdefault(var, []).extend(split_value_codes(value))
        elif (var := _bracket_key(key, "codelist[")) is not None and value:
            codelists.append(var)
    return selection, codelists


def parse_post_selection(body: bytes, table: Table) -> tuple[dict[str, list[str]], list[str]]:
    """The POST body's selection (and checks its placement) into {VAR: expressions}."""
    doc = json_object_body(body)
    _check_post_shape(doc)
    selection: dict[str, list[str]] = {}
    codelists = []
    for item in doc.get("selection") or []:
        var = str(item.get("variableCode", ""))
        selection.setdefault(var, []).extend(as_list(item.get("valueCodes")))
        if item.get("codelist"):
            codelists.append(var)
    for var in [
        *((doc.get("placement") or {}).get("heading") or []),
        *((doc.get("placement") or {}).get("stub") or []),
    ]:
        if table.dim(var) is None:
            raise ApiError(
                problem(400, "Illegal placment", f"Unknown variable '{var}' in placement")
            )
    return selection, codelists


def _check_post_shape(doc: dict[str, Any]) -> None:
    """400 unless the body is shaped as PxWebApi's VariablesSelection (types, not content)."""

    def bad(detail: str) -> ApiError:
        return ApiError(problem(400, "Parameter error", detail))

    selection = doc.get("selection")
    if selection is not None and not isinstance(selection, list):
        raise bad("'selection' must be an array of {variableCode, valueCodes}")
    for item in selection or []:
        if not isinstance(item, dict):
            raise bad("each 'selection' item must be an object {variableCode, valueCodes}")
        if not isinstance(item.get("variableCode"), str):
            raise bad("'variableCode' must be a string")
        codes = item.get("valueCodes")
        if codes is not None and not (
            isinstance(codes, str)
            or (isinstance(codes, list) and all(isinstance(c, str) for c in codes))
        ):
            raise bad("'valueCodes' must be an array of strings")
        if item.get("codelist") is not None and not isinstance(item["codelist"], str):
            raise bad("'codelist' must be a string")
    placement = doc.get("placement")
    if placement is not None:
        if not isinstance(placement, dict):
            raise bad("'placement' must be an object {heading, stub}")
        for key in ("heading", "stub"):
            names = placement.get(key)
            if names is not None and not (
                isinstance(names, list) and all(isinstance(n, str) for n in names)
            ):
                raise bad(f"'placement.{key}' must be an array of strings")


def data(
    state: ServerState, table: Table, method: str, query: list[tuple[str, str]], body: bytes
) -> Response:
    """/tables/{id}/data as json-stat2, with PxWebApi's selection semantics and cell limit."""
    params = {k.lower(): v for k, v in query}
    fmt = params.get("outputformat", "json-stat2").lower()
    if fmt != "json-stat2" or params.get("outputformatparams"):
        raise ApiError(problem(400, "Unsupported output format", "The demo serves json-stat2 only"))
    if method == "POST":
        selection, codelists = parse_post_selection(body, table)
    else:
        selection, codelists = parse_get_selection(query)
    for var in codelists:
        if table.dim(var) is None:
            raise ApiError(
                problem(400, "Non-existent variable", f"Variable '{var}' does not exist")
            )
        raise ApiError(problem(400, "Non-existent codelist", f"The demo has no codelists ({var})"))
    try:
        plans = plan_selection(table, selection) if selection else default_selection(table)
    except SelectionError as e:
        raise ApiError(problem(400, e.title, e.detail)) from None
    cells = cell_count(plans)
    if cells > state.limits.max_cells:
        detail = f"The selection has {cells} cells; the limit is {state.limits.max_cells}"
        raise ApiError(problem(400, "Too many cells selected", detail))
    kept, values, status = slice_cube(table, plans)
    return json_response(dataset_doc(table, kept, values, status))
