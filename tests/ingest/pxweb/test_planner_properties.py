"""Property tests: every split is a partition of the requested cells within the limit, minimal."""

from __future__ import annotations

import itertools
import math
from collections import Counter

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ingest.pxweb.errors import TooManyCells
from ingest.pxweb.limits import Limits
from ingest.pxweb.planner import plan_query, split_requests

from .conftest import make_meta

NAMES = ["Region", "ContentsCode", "Kon", "Tid", "Alder"]


@st.composite
def tables(draw: st.DrawFn, max_size: int) -> tuple[dict[str, int], str | None, str | None]:
    names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=4, unique=True))
    sizes = {name: draw(st.integers(1, max_size)) for name in names}
    time = "Tid" if "Tid" in sizes and draw(st.booleans()) else None
    contents = "ContentsCode" if "ContentsCode" in sizes and draw(st.booleans()) else None
    return sizes, time, contents


def grid_plans(sizes: list[int], fixed: list[bool], limit: int) -> list[tuple[int, ...]]:
    """Every feasible grid split (parts per variable) by brute force: the reference optimum."""
    feasible = []
    ranges = [range(1, 2) if f else range(1, n + 1) for n, f in zip(sizes, fixed, strict=True)]
    for parts in itertools.product(*ranges):
        cells = math.prod(-(-n // p) for n, p in zip(sizes, parts, strict=True))
        if cells <= limit:
            feasible.append(parts)
    return feasible


def cells(request: dict[str, list[str]]) -> list[tuple[str, ...]]:
    return list(itertools.product(*request.values()))


def check_partition(selection: dict[str, list[str]], requests: list[dict[str, list[str]]]) -> None:
    wanted = Counter(cells(selection))
    got = Counter(cell for request in requests for cell in cells(request))
    assert got == wanted  # every requested cell exactly once, nothing else
    for request in requests:
        assert list(request) == list(selection)  # metadata variable order
        for var, codes in request.items():
            positions = [selection[var].index(c) for c in codes]
            assert positions == sorted(positions) and codes  # metadata order, never empty


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=tables(max_size=7), limit=st.integers(1, 400), split_contents=st.booleans())
def test_split_is_a_minimal_partition_within_the_limit(
    table: tuple[dict[str, int], str | None, str | None], limit: int, split_contents: bool
) -> None:
    sizes, time, contents = table
    meta = make_meta(sizes, time=time, contents=contents)
    selection = {v.code: v.values for v in meta.variables}
    total = math.prod(sizes.values())
    names = list(sizes)
    fixed = [name == contents and not split_contents for name in names]
    reference = grid_plans(list(sizes.values()), fixed, limit)
    try:
        plan = plan_query(meta, {}, Limits(max_cells=limit), split_contents=split_contents)
    except TooManyCells as error:
        assert not reference, "a feasible split exists"
        assert error.variable == contents and error.limit == limit
        assert sizes[contents] > limit
        return
    requests = plan.requests
    assert plan.cells == total
    check_partition(selection, requests)
    assert all(len(cells(r)) <= limit for r in requests)
    best = min(math.prod(parts) for parts in reference)
    assert len(requests) == best  # no grid split needs fewer requests
    assert len(requests) >= math.ceil(total / limit)
    if contents and sizes[contents] > 1:
        contents_split = any(len(r[contents]) < sizes[contents] for r in requests)
        if not split_contents:
            assert not contents_split
        elif contents_split:
            whole = [p for p in reference if p[names.index(contents)] == 1]
            assert not whole or min(math.prod(p) for p in whole) > best


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 400), min_size=2, max_size=4),
    limit=st.integers(1, 5000),
    time_index=st.integers(0, 3),
)
def test_large_tables_partition_and_beat_greedy(
    sizes: list[int], limit: int, time_index: int
) -> None:
    total = math.prod(sizes)
    assume(total / limit <= 2000)
    names = NAMES[: len(sizes)]
    selection = {n: [f"{n}{i}" for i in range(s)] for n, s in zip(names, sizes, strict=True)}
    time = names[time_index % len(names)]
    requests = split_requests(selection, limit, time=time)
    assert all(math.prod(len(c) for c in r.values()) <= limit for r in requests)
    assert sum(math.prod(len(c) for c in r.values()) for r in requests) == total
    if total <= 20_000:
        check_partition(selection, requests)
    assert math.ceil(total / limit) <= len(requests) <= greedy_requests(sizes, time_index, limit)


def greedy_requests(sizes: list[int], time_index: int, limit: int) -> int:
    """A simple baseline: split time as far as needed, then the largest variables."""
    order = sorted(range(len(sizes)), key=lambda i: (i != time_index % len(sizes), -sizes[i]))
    chunk = list(sizes)
    for i in order:
        if math.prod(chunk) <= limit:
            break
        rest = math.prod(chunk) // chunk[i]
        chunk[i] = max(1, min(chunk[i], limit // rest))
    return math.prod(-(-n // c) for n, c in zip(sizes, chunk, strict=True))


def test_a_plan_needing_too_many_requests_is_refused() -> None:
    selection = {"A": [str(i) for i in range(300)], "B": [str(i) for i in range(300)]}
    with pytest.raises(TooManyCells, match="narrow the selection"):
        split_requests(selection, 2, max_requests=1000)


@pytest.mark.parametrize("limit", [1, 7, 100])
def test_single_coded_variables_never_split_beyond_one_code(limit: int) -> None:
    selection = {"A": ["a"], "B": ["b1", "b2", "b3"], "C": ["c"]}
    requests = split_requests(selection, limit)
    check_partition(selection, requests)
    assert len(requests) == math.ceil(3 / min(limit, 3))
