"""Expand a selection against table metadata and split it into requests within the cell limit."""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from functools import lru_cache

from .errors import InvalidSelection, TooManyCells
from .limits import Limits
from .models import QueryPlan, TableMetadata, Variable

Selection = Mapping[str, str | Sequence[str]]
Request = dict[str, list[str]]

_FUNCTION = re.compile(r"^(top|bottom|range|from|to)\((.*)\)$", re.IGNORECASE | re.DOTALL)
_MAX_WILDCARDS = 2
# The split search is exact for real tables; this only bounds pathological inputs.
_MAX_SEARCH_NODES = 200_000
# At SCB's 30 calls / 10 s, 10,000 requests take an hour: beyond that, narrow the selection.
MAX_REQUESTS = 10_000


def split_expressions(spec: str | Sequence[str]) -> list[str]:
    """The expressions in a selection value: a list as is, a string split on top-level commas."""
    if not isinstance(spec, str):
        return [str(item).strip() for item in spec]
    items: list[str] = []
    depth, start = 0, 0
    for i, char in enumerate(spec):
        if char in "([":
            depth += 1
        elif char in ")]" and depth:
            depth -= 1
        elif char == "," and depth == 0:
            items.append(spec[start:i])
            start = i + 1
    items.append(spec[start:])
    # A bracketed item is how a GET query quotes an expression containing a comma: [range(a,b)].
    stripped = [item.strip() for item in items]
    return [s[1:-1].strip() if s.startswith("[") and s.endswith("]") else s for s in stripped]


def expand_values(
    var: Variable, spec: str | Sequence[str], *, table_id: str | None = None
) -> list[str]:
    """The value codes a selection value picks from a variable, in metadata order."""
    expressions = split_expressions(spec)
    if not expressions or any(not e for e in expressions):
        raise InvalidSelection(
            f"empty selection for variable {var.code}", variable=var.code, table=table_id
        )
    if not var.values:
        # v1 metadata omits value lists over maxValues: explicit codes pass through unchecked.
        if any(_is_expression(e) for e in expressions):
            raise InvalidSelection(
                f"variable {var.code} lists no values in the metadata; select explicit codes",
                variable=var.code,
                table=table_id,
            )
        return list(dict.fromkeys(expressions))
    picked: set[int] = set()
    index = _index(var)  # once per variable: a list of n codes stays O(n)
    for expression in expressions:
        picked.update(_positions(var, index, expression, table_id))
    return [var.values[i] for i in sorted(picked)]


def expand_selection(meta: TableMetadata, selection: Selection) -> Request:
    """The full selection in metadata order: eliminable omitted variables left out, others all."""
    chosen: dict[str, str | Sequence[str]] = {}
    for code, spec in selection.items():
        var = meta.variable(code)
        if var is None:
            known = ", ".join(v.code for v in meta.variables)
            raise InvalidSelection(
                f"unknown variable {code!r} (the table has {known})",
                variable=code,
                table=meta.table_id,
            )
        if var.code in chosen:
            raise InvalidSelection(
                f"variable {var.code} selected twice", variable=var.code, table=meta.table_id
            )
        chosen[var.code] = spec
    expanded: Request = {}
    for var in meta.variables:
        if var.code in chosen:
            expanded[var.code] = expand_values(var, chosen[var.code], table_id=meta.table_id)
        elif not var.elimination:
            expanded[var.code] = list(var.values)
    return expanded


def split_requests(
    selection: Mapping[str, Sequence[str]],
    limit: int,
    *,
    contents: str | None = None,
    time: str | None = None,
    split_contents: bool = False,
    table_id: str | None = None,
    max_requests: int = MAX_REQUESTS,
) -> list[Request]:
    """Partition the selection's cells into as few requests of at most `limit` cells as possible."""
    codes = {var: list(values) for var, values in selection.items()}
    total = math.prod(len(values) for values in codes.values())
    if total <= limit:
        return [codes]
    fixed = contents if contents in codes and not split_contents else None
    fixed_cells = len(codes[fixed]) if fixed else 1
    if fixed_cells > limit:
        raise TooManyCells(
            f"contents variable {fixed} alone selects {fixed_cells} codes, over the limit of "
            f"{limit} cells per request",
            variable=fixed,
            limit=limit,
            cells=total,
            table=table_id,
            hint=f"select fewer {fixed} codes",
        )
    order = list(codes)
    splittable = [v for v in order if v != fixed and len(codes[v]) > 1]
    if not splittable:
        raise TooManyCells(
            f"a single cell exceeds the limit of {limit} cells", limit=limit, table=table_id
        )
    # Most preferred to split first: time, then the largest; the contents variable last.
    preference = sorted(
        splittable,
        key=lambda v: (v == contents, v != time, -len(codes[v]), order.index(v)),
    )
    protect_last = preference[-1] == contents
    parts = _best_parts([len(codes[v]) for v in preference], limit // fixed_cells, protect_last)
    if math.prod(parts) > max_requests:
        raise TooManyCells(
            f"the selection ({total} cells) needs {math.prod(parts)} requests of at most {limit} "
            f"cells, more than the {max_requests} allowed",
            variable=preference[0],
            limit=limit,
            cells=total,
            table=table_id,
            hint="narrow the selection",
        )
    chunks = {v: [codes[v]] for v in order}
    for var, n_parts in zip(preference, parts, strict=True):
        chunks[var] = _balanced(codes[var], n_parts)
    return [dict(zip(order, combo, strict=True)) for combo in itertools.product(*chunks.values())]


def plan_query(
    meta: TableMetadata,
    selection: Selection,
    limits: Limits,
    *,
    split_contents: bool = False,
    max_requests: int = MAX_REQUESTS,
) -> QueryPlan:
    """Expand a selection and split it into requests that each fit the server's limits."""
    expanded = expand_selection(meta, selection)
    contents = next((v.code for v in meta.variables if v.is_contents), None)
    time = next((v.code for v in meta.variables if v.is_time), None)
    requests = split_requests(
        expanded,
        limits.request_cells,
        contents=contents,
        time=time,
        split_contents=split_contents,
        table_id=meta.table_id,
        max_requests=max_requests,
    )
    cells = math.prod(len(values) for values in expanded.values())
    return QueryPlan(table_id=meta.table_id, requests=requests, cells=cells, metadata=meta)


def _is_expression(item: str) -> bool:
    return "*" in item or "?" in item or _FUNCTION.match(item) is not None


def _positions(
    var: Variable, index: dict[str, int], expression: str, table_id: str | None
) -> Iterator[int]:
    if expression in index:
        yield index[expression]
        return
    match = _FUNCTION.match(expression)
    if match:
        yield from _function_positions(var, index, match[1].lower(), match[2], expression, table_id)
        return
    if "*" in expression or "?" in expression:
        yield from _wildcard_positions(var, expression, table_id)
        return
    folded = [i for i, code in enumerate(var.values) if code.casefold() == expression.casefold()]
    if len(folded) == 1:
        yield folded[0]
        return
    raise InvalidSelection(
        f"unknown value {expression!r} for variable {var.code}",
        variable=var.code,
        code=expression,
        table=table_id,
    )


def _function_positions(
    var: Variable,
    index: dict[str, int],
    name: str,
    args_text: str,
    expression: str,
    table_id: str | None,
) -> Iterator[int]:
    args = [a.strip() for a in args_text.split(",")]
    n = len(var.values)
    if name in ("top", "bottom"):
        count, offset = _count_offset(args, var, expression, table_id)
        # Time is ordered ascending: top = the latest periods, bottom = the earliest (PxWebApi).
        from_end = (name == "top") == var.is_time
        if from_end:
            stop = max(n - offset, 0)
            yield from range(max(stop - count, 0), stop)
        else:
            yield from range(min(offset, n), min(offset + count, n))
        return
    bounds = []
    expected = 2 if name == "range" else 1
    if len(args) != expected:
        raise _illegal(var, expression, table_id)
    for arg in args:
        if arg not in index:
            raise InvalidSelection(
                f"unknown value {arg!r} in {expression!r} for variable {var.code}",
                variable=var.code,
                code=arg,
                table=table_id,
            )
        bounds.append(index[arg])
    if name == "range":
        yield from range(min(bounds), max(bounds) + 1)
    elif name == "from":
        yield from range(bounds[0], n)
    else:
        yield from range(0, bounds[0] + 1)


def _count_offset(
    args: list[str], var: Variable, expression: str, table_id: str | None
) -> tuple[int, int]:
    if not 1 <= len(args) <= 2 or not all(a.isdigit() for a in args):
        raise _illegal(var, expression, table_id)
    count = int(args[0])
    offset = int(args[1]) if len(args) == 2 else 0
    if count < 1:
        raise _illegal(var, expression, table_id)
    return count, offset


def _wildcard_positions(var: Variable, expression: str, table_id: str | None) -> Iterator[int]:
    if expression.count("*") > _MAX_WILDCARDS:
        raise _illegal(var, expression, table_id, f"at most {_MAX_WILDCARDS} '*' allowed")
    pattern = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in expression)
    regex = re.compile(pattern, re.IGNORECASE | re.DOTALL)
    hits = [i for i, code in enumerate(var.values) if regex.fullmatch(code)]
    if not hits:
        raise InvalidSelection(
            f"{expression!r} matches no value of variable {var.code}",
            variable=var.code,
            code=expression,
            table=table_id,
        )
    yield from hits


def _illegal(
    var: Variable, expression: str, table_id: str | None, why: str | None = None
) -> InvalidSelection:
    detail = f" ({why})" if why else ""
    return InvalidSelection(
        f"illegal selection expression {expression!r} for variable {var.code}{detail}",
        variable=var.code,
        code=expression,
        table=table_id,
    )


def _index(var: Variable) -> dict[str, int]:
    return {code: i for i, code in enumerate(var.values)}


def _balanced(values: list[str], parts: int) -> list[list[str]]:
    size, extra = divmod(len(values), parts)
    chunks, start = [], 0
    for i in range(parts):
        end = start + size + (1 if i < extra else 0)
        chunks.append(values[start:end])
        start = end
    return chunks


@lru_cache(maxsize=1024)
def _chunk_options(n: int) -> tuple[tuple[int, int], ...]:
    """(parts, chunk) pairs worth trying for n values: fewest parts for each distinct chunk size."""
    options: dict[int, int] = {}
    for parts in range(1, n + 1):
        options.setdefault(-(-n // parts), parts)
    return tuple(sorted((p, c) for c, p in options.items()))


def _best_parts(sizes: list[int], budget: int, protect_last: bool = False) -> list[int]:
    """Parts per variable (most preferred to split first) minimising the number of requests."""

    def score(parts: list[int]) -> tuple[int, bool, int, tuple[int, ...]]:
        # Fewest requests; then keep the protected (contents) variable whole; then fewest split
        # variables; then split the least-preferred variables least.
        return (
            math.prod(parts),
            protect_last and parts[-1] > 1,
            sum(p > 1 for p in parts),
            tuple(parts[::-1]),
        )

    greedy = _greedy_parts(sizes, budget)
    best: list[tuple[tuple[int, bool, int, tuple[int, ...]], list[int]]] = [(score(greedy), greedy)]
    # Search least-preferred variables first and compute the most preferred one directly, so
    # that ties keep the least-preferred variables whole.
    reverse = sizes[::-1]
    suffix = [math.prod(reverse[i:]) for i in range(len(reverse) + 1)]
    nodes = 0

    def search(i: int, room: int, chosen: list[int]) -> None:
        nonlocal nodes
        nodes += 1
        if nodes > _MAX_SEARCH_NODES:
            return
        requests_so_far = math.prod(chosen)
        if requests_so_far * -(-suffix[i] // room) > best[0][0][0]:
            return
        n = reverse[i]
        if i == len(reverse) - 1:
            chunk = min(n, room)
            found = (chosen + [-(-n // chunk)])[::-1]
            key = score(found)
            if key < best[0][0]:
                best[0] = (key, found)
            return
        for n_parts, chunk in _chunk_options(n):
            if chunk <= room:
                search(i + 1, room // chunk, chosen + [n_parts])

    search(0, budget, [])
    return best[0][1]


def _greedy_parts(sizes: list[int], budget: int) -> list[int]:
    """Split the most preferred variable as far as needed, then the next: a valid baseline."""
    parts = [1] * len(sizes)
    cells = math.prod(sizes)
    for i, n in enumerate(sizes):
        if cells <= budget:
            break
        others = cells // n
        chunk = max(min(n, budget // others), 1) if others <= budget else 1
        parts[i] = -(-n // chunk)
        cells = others * chunk
    return parts
