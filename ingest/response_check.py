"""Check a parsed data response against the request that asked for it, before it is loaded.

A server (or whatever answered in its place: a proxy, a redirect target) may send cells for
other codes, years or dimensions than were requested. Loading them would put data in
`raw.<dataset>` that nobody asked for, so every response must hold exactly the requested
dimensions and codes. The one documented superset: a variable the request left out because the
table lets it be eliminated may come back as a dimension with a single code (the server's
total or elimination value); it adds no cells.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from ingest.jsonstat import Dataset
from ingest.pxweb.errors import ResponseMismatch
from ingest.pxweb.models import TableMetadata

_SHOWN = 3  # codes named in a mismatch message


def requested_cells(request: Mapping[str, Sequence[str]]) -> int:
    """Cells a request selects (the product of its code counts)."""
    return math.prod(len(codes) for codes in request.values())


def check_response(
    dataset: Dataset,
    request: Mapping[str, Sequence[str]],
    meta: TableMetadata,
    *,
    url: str | None = None,
) -> None:
    """Raise ResponseMismatch (one line naming the mismatch) unless `dataset` holds exactly the
    requested dimensions and codes (plus single-code eliminated variables)."""
    table = meta.table_id

    def mismatch(what: str) -> ResponseMismatch:
        return ResponseMismatch(
            f"the response does not match the request: {what}; nothing was loaded",
            table=table,
            url=url,
            hint="the server (or a proxy in between) answered another query",
        )

    got = {d.id: d for d in dataset.dimensions}
    missing = [var for var in request if var not in got]
    if missing:
        raise mismatch(f"dimension {missing[0]} is missing (response has {', '.join(got)})")
    for name, codes in request.items():
        have, want = set(got[name].codes), set(codes)
        if have != want:
            extra = sorted(have - want)[:_SHOWN]
            lacking = sorted(want - have)[:_SHOWN]
            parts = []
            if extra:
                parts.append(f"codes not requested {extra}")
            if lacking:
                parts.append(f"requested codes missing {lacking}")
            raise mismatch(f"dimension {name} has {' and '.join(parts)}")
    for dim_id, dim in got.items():
        if dim_id in request:
            continue
        var = meta.variable(dim_id)
        if var is None or var.code != dim_id:
            raise mismatch(f"dimension {dim_id} is not one of the table's")
        if not var.elimination:
            raise mismatch(f"dimension {dim_id} was not requested and cannot be eliminated")
        if dim.size != 1 or (var.values and dim.codes[0] not in var.values):
            raise mismatch(
                f"eliminated dimension {dim_id} came back with codes {dim.codes[:_SHOWN]} "
                "(one code of the table's expected)"
            )
