"""PxWeb selection semantics: value-code expressions, elimination and slicing of a table's cube."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from pxweb_demo.server.model import NO_STATUS, CubeDimension, Table

_TOP = re.compile(r"^(top|bottom)\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)$", re.IGNORECASE)
_RANGE = re.compile(r"^range\(\s*([^,()]+?)\s*,\s*([^,()]+?)\s*\)$", re.IGNORECASE)
_FROM_TO = re.compile(r"^(from|to)\(\s*([^,()]+?)\s*\)$", re.IGNORECASE)


class SelectionError(Exception):
    """A selection the server rejects; `title` is PxWebApi's problem title."""

    def __init__(self, title: str, detail: str, variable: str | None = None) -> None:
        super().__init__(f"{title}: {detail}")
        self.title = title
        self.detail = detail
        self.variable = variable


def _code_index(dim: CubeDimension, code: str) -> int:
    try:
        return dim.index[code]
    except KeyError:
        raise SelectionError(
            "Non-existent value", f"Value '{code}' does not exist in variable '{dim.code}'"
        ) from None


def _wildcard(dim: CubeDimension, expr: str) -> list[int]:
    if expr.count("*") > 2:
        raise SelectionError("Illegal selection expression", f"At most two wildcards: '{expr}'")
    pattern = re.compile(
        "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in expr)
    )
    return [i for i, c in enumerate(dim.codes) if pattern.fullmatch(c)]


def _top_bottom(dim: CubeDimension, kind: str, n: int, offset: int) -> list[int]:
    # TOP on a time variable means the latest periods (PxWebApi TopExpression); the result is
    # returned in table order (ascending), like every other selection.
    order = list(range(dim.size))
    latest_first = dim.is_time
    if kind == "top" and latest_first or kind == "bottom" and not latest_first:
        order.reverse()
    return order[offset : offset + n]


def resolve_expression(dim: CubeDimension, expr: str) -> list[int]:
    """Positions selected by one value-code expression (code, wildcard or function)."""
    e = expr.strip()
    if not e:
        raise SelectionError("Illegal selection expression", f"Empty value code for '{dim.code}'")
    if e == "*":
        return list(range(dim.size))
    if m := _TOP.match(e):
        n, offset = int(m.group(2)), int(m.group(3) or 0)
        if n < 1:
            raise SelectionError("Illegal selection expression", f"'{expr}': count must be >= 1")
        return _top_bottom(dim, m.group(1).lower(), n, offset)
    if m := _RANGE.match(e):
        a, b = sorted((_code_index(dim, m.group(1)), _code_index(dim, m.group(2))))
        return list(range(a, b + 1))
    if m := _FROM_TO.match(e):
        i = _code_index(dim, m.group(2))
        return list(range(i, dim.size)) if m.group(1).lower() == "from" else list(range(0, i + 1))
    if "(" in e or ")" in e:
        raise SelectionError("Illegal selection expression", f"'{expr}' for variable '{dim.code}'")
    if "*" in e or "?" in e:
        return _wildcard(dim, e)
    return [_code_index(dim, e)]


def resolve_values(dim: CubeDimension, exprs: list[str]) -> np.ndarray:
    """Sorted unique positions selected by a list of expressions; none selected is an error."""
    picked: set[int] = set()
    for e in exprs:
        try:
            picked.update(resolve_expression(dim, e))
        except SelectionError as err:
            err.variable = dim.code
            raise
    if not picked:
        raise SelectionError(
            "Non-existent value", f"No values of '{dim.code}' match {', '.join(exprs)}", dim.code
        )
    return np.array(sorted(picked), dtype=np.intp)


@dataclass
class DimPlan:
    """What happens to one dimension: selected positions, an elimination value, or a sum."""

    dim: CubeDimension
    mode: Literal["select", "code", "sum"]
    idx: np.ndarray


def eliminate(dim: CubeDimension) -> DimPlan:
    """Eliminate a dimension: its elimination value when it has one, else the sum over it."""
    if dim.elimination_code in dim.index:
        return DimPlan(dim, "code", np.array([dim.index[str(dim.elimination_code)]]))
    return DimPlan(dim, "sum", np.arange(dim.size))


def plan_selection(
    table: Table,
    selection: dict[str, list[str]],
    *,
    omitted_mandatory: Literal["error", "all"] = "error",
) -> list[DimPlan]:
    """Resolve a {variable: expressions} selection; omitted eliminable variables are eliminated."""
    given: dict[str, list[str]] = {}
    for var, exprs in selection.items():
        dim = table.dim(var)
        if dim is None:
            raise SelectionError(
                "Non-existent variable", f"Variable '{var}' does not exist in table {table.id}"
            )
        given[dim.code] = [*given.get(dim.code, []), *exprs]
    plans = []
    for dim in table.dims:
        exprs = [e for e in given.get(dim.code, []) if e is not None]
        if exprs:
            plans.append(DimPlan(dim, "select", resolve_values(dim, exprs)))
        elif dim.elimination:
            plans.append(eliminate(dim))
        elif omitted_mandatory == "all":
            plans.append(DimPlan(dim, "select", np.arange(dim.size)))
        else:
            raise SelectionError(
                "Missing selection for mandantory variable",
                f"Variable '{dim.code}' is mandatory and has no selection",
                dim.code,
            )
    return plans


def default_selection(table: Table) -> list[DimPlan]:
    """The demo's default selection: latest period, all other mandatory values, eliminate the rest."""
    plans = []
    for dim in table.dims:
        if dim.elimination:
            plans.append(eliminate(dim))
        elif dim.is_time:
            plans.append(DimPlan(dim, "select", np.array([dim.size - 1])))
        else:
            plans.append(DimPlan(dim, "select", np.arange(dim.size)))
    return plans


def cell_count(plans: list[DimPlan]) -> int:
    """Number of cells a plan returns (eliminated dimensions count once)."""
    n = 1
    for p in plans:
        if p.mode == "select":
            n *= int(p.idx.size)
    return n


def slice_cube(
    table: Table, plans: list[DimPlan]
) -> tuple[list[tuple[CubeDimension, np.ndarray]], np.ndarray, np.ndarray]:
    """Cut the cube to the plan; sums propagate missing (NULL) cells, eliminated dims disappear."""
    grid = np.ix_(*[p.idx for p in plans])
    values = table.values[grid]
    status = table.status[grid]
    missing_code = table.symbol_code("..")
    for axis in reversed(range(len(plans))):
        p = plans[axis]
        if p.mode == "code":
            values = values.take(0, axis=axis)
            status = status.take(0, axis=axis)
        elif p.mode == "sum":
            nan = np.isnan(values)
            # np.sum keeps NaN: a total over a missing part is itself missing, as in PX files.
            summed = values.sum(axis=axis)
            part_status = np.where(nan, status, NO_STATUS).max(axis=axis)
            gone = np.isnan(summed)
            status = np.where(gone, np.where(part_status > 0, part_status, missing_code), 0)
            status = status.astype(np.uint8)
            values = summed
    kept = [(p.dim, p.idx) for p in plans if p.mode == "select"]
    return kept, values, status


def as_list(value: Any) -> list[str]:
    """A selection value given as a string or a list, as a list of strings."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def resolve_cells(table: Table, selection: dict[str, Any]) -> list[np.ndarray]:
    """Positions per dimension for a revision; an omitted variable means all its values."""
    plans = plan_selection(
        table, {k: as_list(v) for k, v in selection.items()}, omitted_mandatory="all"
    )
    return [p.idx if p.mode == "select" else np.arange(p.dim.size) for p in plans]
