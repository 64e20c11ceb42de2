"""Selection expressions, elimination and request splitting."""

from __future__ import annotations

import pytest

from ingest.pxweb.errors import InvalidSelection, TooManyCells
from ingest.pxweb.limits import Limits
from ingest.pxweb.models import Variable
from ingest.pxweb.planner import (
    expand_selection,
    expand_values,
    plan_query,
    split_expressions,
    split_requests,
)

from .conftest import make_meta

TIME = Variable("Tid", "år", [str(y) for y in range(2000, 2010)], [], is_time=True)
REGION = Variable(
    "Region", "region", ["00", "01", "0114", "0115", "03", "0305", "2580"], [], elimination=True
)


def codes(var: Variable, spec: str | list[str]) -> list[str]:
    return expand_values(var, spec, table_id="TAB1")


def test_split_expressions_keeps_function_arguments_together() -> None:
    assert split_expressions("01, 03,range(a,b),[top(5,3)]") == [
        "01",
        "03",
        "range(a,b)",
        "top(5,3)",
    ]
    assert split_expressions(["a,b", "c"]) == ["a,b", "c"]


def test_explicit_codes_come_back_in_metadata_order_without_duplicates() -> None:
    assert codes(REGION, ["03", "01", "03"]) == ["01", "03"]
    assert codes(REGION, "03,01") == ["01", "03"]


def test_star_and_wildcards() -> None:
    assert codes(REGION, "*") == REGION.values
    assert codes(REGION, "01*") == ["01", "0114", "0115"]
    assert codes(REGION, "*5") == ["0115", "0305"]
    assert codes(REGION, "*1*") == ["01", "0114", "0115"]
    assert codes(REGION, "03??") == ["0305"]
    assert codes(REGION, "0?") == ["00", "01", "03"]


def test_more_than_two_stars_is_illegal() -> None:
    with pytest.raises(InvalidSelection, match=r"at most 2"):
        codes(REGION, "*0*1*")


def test_top_on_time_takes_the_latest_periods_ascending() -> None:
    assert codes(TIME, "top(3)") == ["2007", "2008", "2009"]
    assert codes(TIME, "TOP(2,1)") == ["2007", "2008"]
    assert codes(TIME, "bottom(2)") == ["2000", "2001"]
    assert codes(TIME, "Bottom(2,3)") == ["2003", "2004"]


def test_top_and_bottom_on_other_variables_follow_metadata_order() -> None:
    assert codes(REGION, "top(2)") == ["00", "01"]
    assert codes(REGION, "top(2,1)") == ["01", "0114"]
    assert codes(REGION, "bottom(2)") == ["0305", "2580"]
    assert codes(REGION, "top(100)") == REGION.values


def test_range_from_to() -> None:
    assert codes(TIME, "range(2003,2005)") == ["2003", "2004", "2005"]
    assert codes(TIME, "from(2008)") == ["2008", "2009"]
    assert codes(TIME, "TO(2001)") == ["2000", "2001"]
    assert codes(TIME, ["to(2001)", "from(2009)"]) == ["2000", "2001", "2009"]


@pytest.mark.parametrize("bad", ["top(0)", "top(x)", "top(1,2,3)", "range(2003)", "from(1999)"])
def test_illegal_expressions_name_the_variable(bad: str) -> None:
    with pytest.raises(InvalidSelection) as caught:
        codes(TIME, bad)
    assert caught.value.variable == "Tid"
    assert "Tid" in str(caught.value) and "TAB1" in str(caught.value)


def test_unknown_code_names_code_variable_and_table() -> None:
    with pytest.raises(InvalidSelection) as caught:
        codes(REGION, ["01", "99"])
    assert (caught.value.variable, caught.value.code, caught.value.table) == (
        "Region",
        "99",
        "TAB1",
    )
    assert "'99'" in str(caught.value)


def test_wildcard_matching_nothing_is_invalid() -> None:
    with pytest.raises(InvalidSelection, match="matches no value"):
        codes(REGION, "9*")


def test_unknown_variable_lists_the_known_ones() -> None:
    meta = make_meta({"Region": 3, "Tid": 2})
    with pytest.raises(InvalidSelection) as caught:
        expand_selection(meta, {"Kon": "*"})
    assert caught.value.variable == "Kon"
    assert "Region, Tid" in str(caught.value)


def test_variable_codes_match_case_insensitively() -> None:
    meta = make_meta({"Region": 3, "Tid": 2})
    assert expand_selection(meta, {"region": "Region1", "TID": "*"}) == {
        "Region": ["Region1"],
        "Tid": ["Tid0", "Tid1"],
    }


def test_omitted_variables_eliminated_or_all() -> None:
    meta = make_meta({"Region": 3, "Kon": 2, "Tid": 4}, time="Tid", eliminable=("Kon",))
    assert expand_selection(meta, {"Tid": "top(1)"}) == {
        "Region": ["Region0", "Region1", "Region2"],
        "Tid": ["Tid3"],
    }
    # An eliminable variable that is selected stays in, in metadata order.
    assert list(expand_selection(meta, {"Tid": "*", "Kon": "*"})) == ["Region", "Kon", "Tid"]


def test_metadata_without_values_accepts_explicit_codes_only() -> None:
    var = Variable("Big", "big", [], [])
    assert codes(var, ["a", "b"]) == ["a", "b"]
    with pytest.raises(InvalidSelection, match="lists no values"):
        codes(var, "*")


def test_small_selection_is_one_request() -> None:
    sel = {"A": ["a1", "a2"], "B": ["b1"]}
    assert split_requests(sel, 2) == [sel]


def test_splits_time_only_when_that_is_as_good() -> None:
    meta = make_meta(
        {"Region": 22, "ContentsCode": 4, "Tid": 18}, time="Tid", contents="ContentsCode"
    )
    plan = plan_query(meta, {}, Limits(max_cells=900))
    # 88 cells per period: 10 periods per request -> 2 requests, balanced 9 + 9.
    assert plan.cells == 22 * 4 * 18
    assert [len(r["Tid"]) for r in plan.requests] == [9, 9]
    for request in plan.requests:
        assert list(request) == ["Region", "ContentsCode", "Tid"]
        assert len(request["Region"]) == 22 and len(request["ContentsCode"]) == 4


def test_fewest_requests_beats_splitting_time_alone() -> None:
    meta = make_meta(
        {"Region": 22, "ContentsCode": 4, "Tid": 18}, time="Tid", contents="ContentsCode"
    )
    plan = plan_query(meta, {}, Limits(max_cells=400))
    # Time alone needs 5 requests (4 periods of 88 cells); halving Region as well needs 4,
    # which is the lower bound ceil(1584 / 400).
    assert len(plan.requests) == 4
    assert all(len(r["Region"]) * 4 * len(r["Tid"]) <= 400 for r in plan.requests)


def test_splits_a_second_variable_when_time_alone_is_not_enough() -> None:
    meta = make_meta(
        {"Region": 22, "ContentsCode": 4, "Tid": 18}, time="Tid", contents="ContentsCode"
    )
    plan = plan_query(meta, {}, Limits(max_cells=50))
    assert all(len(r["ContentsCode"]) == 4 for r in plan.requests)
    assert all(len(r["Region"]) * 4 * len(r["Tid"]) <= 50 for r in plan.requests)
    # 12 codes of Region x Tid per request: 2 x 6 -> 11 x 3 = 33 (1 x 12 would need 36).
    assert len(plan.requests) == 33


def test_v1_max_values_is_also_respected() -> None:
    meta = make_meta({"Region": 10, "Tid": 10}, time="Tid")
    plan = plan_query(meta, {}, Limits(max_cells=1000, max_values=30))
    assert all(len(r["Region"]) * len(r["Tid"]) <= 30 for r in plan.requests)
    assert len(plan.requests) == 4


def test_contents_too_large_alone_raises_naming_it_and_the_limit() -> None:
    meta = make_meta({"ContentsCode": 12, "Tid": 3}, time="Tid", contents="ContentsCode")
    with pytest.raises(TooManyCells) as caught:
        plan_query(meta, {}, Limits(max_cells=10))
    assert caught.value.variable == "ContentsCode"
    assert caught.value.limit == 10
    assert "ContentsCode" in str(caught.value) and "10" in str(caught.value)
    # Allowed explicitly, the contents variable is split as a last resort.
    plan = plan_query(meta, {}, Limits(max_cells=10), split_contents=True)
    assert all(len(r["ContentsCode"]) * len(r["Tid"]) <= 10 for r in plan.requests)
    assert len(plan.requests) == 4  # ceil(36 / 10)


def test_prefers_the_largest_variable_when_there_is_no_time() -> None:
    meta = make_meta({"Small": 3, "Large": 50})
    plan = plan_query(meta, {}, Limits(max_cells=75))
    assert all(len(r["Small"]) == 3 for r in plan.requests)
    assert len(plan.requests) == 2
