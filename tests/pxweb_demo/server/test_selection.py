"""Selection semantics over HTTP: wildcards, functions, elimination (sum vs elimination value)."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from pxweb_demo.server import DemoServer
from tests.pxweb_demo.server.helpers import cell, codes


def get(v2: httpx.Client, table: str, **sel: str) -> dict:
    """GET data with valueCodes[VAR]=… for each keyword."""
    r = v2.get(f"/tables/{table}/data", params={f"valueCodes[{k}]": v for k, v in sel.items()})
    assert r.status_code == 200, r.text
    return r.json()


def egss_tid(v2: httpx.Client, expr: str) -> list[str]:
    """The years that a Tid expression selects in TAB9001."""
    return codes(get(v2, "TAB9001", Lan="01", ContentsCode="MI1301SY", Tid=expr), "Tid")


@pytest.mark.parametrize(
    ("expr", "years"),
    [
        ("top(3)", ["2018", "2019", "2020"]),  # latest periods, ascending
        ("TOP(2,1)", ["2018", "2019"]),  # offset skips the latest
        ("bottom(2)", ["2003", "2004"]),
        ("Bottom(2,2)", ["2005", "2006"]),
        ("range(2010,2012)", ["2010", "2011", "2012"]),
        ("RANGE(2012,2010)", ["2010", "2011", "2012"]),
        ("from(2019)", ["2019", "2020"]),
        ("to(2004)", ["2003", "2004"]),
        ("201?", [str(y) for y in range(2010, 2020)]),
        ("*9", ["2009", "2019"]),
        ("20*0", ["2010", "2020"]),
        ("2003,2020,2010", ["2003", "2010", "2020"]),  # table order, not request order
        ("[range(2003,2004)],2020", ["2003", "2004", "2020"]),
    ],
)
def test_time_expressions(v2: httpx.Client, expr: str, years: list[str]) -> None:
    assert egss_tid(v2, expr) == years


def test_wildcards_on_codes(v2: httpx.Client) -> None:
    ds = get(v2, "TAB9001", Lan="2*", ContentsCode="*", Tid="2010")
    assert codes(ds, "Lan") == ["20", "21", "22", "23", "24", "25"]
    ds = get(v2, "TAB9001", Lan="?1", ContentsCode="MI1301S*", Tid="2010")
    assert codes(ds, "Lan") == ["01", "21"]
    assert codes(ds, "ContentsCode") == ["MI1301SY"]


def test_top_on_a_non_time_variable_takes_the_first_values(v2: httpx.Client) -> None:
    ds = get(v2, "TAB9001", Lan="top(2)", ContentsCode="*", Tid="2010")
    assert codes(ds, "Lan") == ["00", "01"]


def test_elimination_by_sum_and_by_elimination_value(server: DemoServer, v2: httpx.Client) -> None:
    table = server.state.snapshot.get("TAB638")
    assert table is not None
    full = get(v2, "TAB638", Region="01", Civilstand="*", Alder="*", Kon="*",
               ContentsCode="BE0101N1", Tid="2020")  # fmt: skip
    eliminated = get(v2, "TAB638", Region="01", ContentsCode="BE0101N1", Tid="2020")
    assert eliminated["id"] == ["Region", "ContentsCode", "Tid"]  # the dimensions disappear
    # Civilstand and Kon are summed; Alder takes its elimination value "tot".
    n = len(full["value"])
    values = np.array(full["value"], dtype=float).reshape(full["size"])
    tot = values[0, :, codes(full, "Alder").index("tot"), :, 0, 0].sum()
    assert n == 4 * 7 * 2
    assert eliminated["value"] == [int(tot)]
    # Prove it is the elimination value, not a sum over ages: revise "tot" only.
    revise = {"selection": {"Region": "01", "Alder": "tot", "Civilstand": "OG", "Kon": "1",
                            "ContentsCode": "BE0101N1", "Tid": "2020"}, "value": 0}  # fmt: skip
    server.touch("TAB638", "2026-06-01T06:00:00Z", {"cells": [revise]})
    after = get(v2, "TAB638", Region="01", ContentsCode="BE0101N1", Tid="2020")
    og_men = cell(full, Region="01", Civilstand="OG", Alder="tot", Kon="1",
                  ContentsCode="BE0101N1", Tid="2020")  # fmt: skip
    assert after["value"] == [int(tot) - og_men]


def test_region_is_eliminated_to_riket(v2: httpx.Client) -> None:
    riket = get(v2, "TAB900", Region="00", SNI2007="*", Kon="*", ContentsCode="*", Tid="2018")
    eliminated = get(v2, "TAB900", SNI2007="*", Kon="*", ContentsCode="*", Tid="2018")
    assert eliminated["id"] == ["SNI2007", "Kon", "ContentsCode", "Tid"]
    assert eliminated["value"] == riket["value"]
    assert eliminated["dimension"]["Kon"]["extension"] == {"elimination": False, "show": "value"}


def test_eliminated_region_keeps_the_status_of_riket(v2: httpx.Client) -> None:
    # Lan omitted → its elimination value Riket (00), whose export 2003 is `..`.
    ds = get(v2, "TAB9001", ContentsCode="MI1301EX", Tid="2003,2010")
    assert ds["value"][0] is None
    assert ds["status"] == {"0": ".."}
    assert isinstance(ds["value"][1], int)


def test_summed_missing_cells_become_null_with_status(server: DemoServer, v2: httpx.Client) -> None:
    revise = {"selection": {"Region": "09", "SNI2007": "A", "Kon": "1", "Tid": "2015"},
              "value": None, "status": "."}  # fmt: skip
    server.touch("TAB900", None, {"cells": [revise]})
    ds = get(v2, "TAB900", Region="09,10", Kon="*", ContentsCode="*", Tid="2015")
    assert ds["id"] == ["Region", "Kon", "ContentsCode", "Tid"]
    assert ds["value"][0] is None  # Gotland, men: one summed part is missing
    assert ds["status"] == {"0": "."}
    assert all(isinstance(v, int) for v in ds["value"][1:])


def test_non_eliminable_variable_must_be_selected(v2: httpx.Client) -> None:
    r = v2.get("/tables/TAB900/data", params={"valueCodes[Region]": "01", "valueCodes[Tid]": "*",
                                              "valueCodes[ContentsCode]": "*"})  # fmt: skip
    assert r.status_code == 400
    assert r.json()["title"] == "Missing selection for mandantory variable"
    assert "Kon" in r.json()["detail"]


def test_variable_codes_are_case_insensitive(v2: httpx.Client) -> None:
    ds = get(v2, "TAB9001", lan="01", contentscode="MI1301SY", TID="2012")
    assert ds["id"] == ["Lan", "ContentsCode", "Tid"]
