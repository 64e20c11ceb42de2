"""Every data response is checked against its request: exactly the requested dimensions and
codes, or an eliminated variable as one extra single-code dimension."""

from __future__ import annotations

import orjson
import pytest

from ingest.jsonstat import parse
from ingest.pxweb.errors import ResponseMismatch
from ingest.response_check import check_response
from tests.ingest.pxweb.conftest import data_jsonstat, make_meta

META = make_meta({"Region": 3, "Kon": 2, "Tid": 2}, time="Tid", eliminable=("Kon",))
REQUEST = {"Region": ["Region0", "Region2"], "Tid": ["Tid0", "Tid1"]}


def response(selection: dict[str, list[str]]):
    return parse(orjson.dumps(data_jsonstat(selection)))


def test_the_exact_answer_passes_in_any_code_order() -> None:
    check_response(response({"Region": ["Region2", "Region0"], "Tid": ["Tid0", "Tid1"]}),
                   REQUEST, META)  # fmt: skip


def test_an_eliminated_variable_may_come_back_with_one_code() -> None:
    check_response(response({"Region": REQUEST["Region"], "Kon": ["Kon1"],
                             "Tid": REQUEST["Tid"]}), REQUEST, META)  # fmt: skip


@pytest.mark.parametrize(
    ("selection", "message"),
    [
        ({"Region": ["Region0", "Region1"], "Tid": ["Tid0", "Tid1"]},
         r"dimension Region has codes not requested \['Region1'\] and requested codes missing "
         r"\['Region2'\]"),
        ({"Region": ["Region0"], "Tid": ["Tid0", "Tid1"]},
         r"dimension Region has requested codes missing \['Region2'\]"),
        ({"Tid": ["Tid0", "Tid1"]}, r"dimension Region is missing \(response has Tid\)"),
        ({"Region": REQUEST["Region"], "Tid": REQUEST["Tid"], "Other": ["x"]},
         r"dimension Other is not one of the table's"),
        ({"Region": REQUEST["Region"], "Tid": REQUEST["Tid"], "Kon": ["Kon0", "Kon1"]},
         r"eliminated dimension Kon came back with codes \['Kon0', 'Kon1'\]"),
    ],
)  # fmt: skip
def test_mismatches_are_one_line_naming_what_differs(
    selection: dict[str, list[str]], message: str
) -> None:
    with pytest.raises(ResponseMismatch, match=message) as caught:
        check_response(response(selection), REQUEST, META, url="http://x/data")
    text = str(caught.value)
    assert "\n" not in text and "nothing was loaded" in text and "table TAB1" in text


def test_a_variable_that_cannot_be_eliminated_is_not_an_allowed_extra() -> None:
    request = {"Region": ["Region0"], "Kon": ["Kon0"]}
    meta = make_meta({"Region": 3, "Kon": 2, "Tid": 2}, time="Tid")
    with pytest.raises(ResponseMismatch, match="Tid was not requested and cannot be eliminated"):
        check_response(response({**request, "Tid": ["Tid0"]}), request, meta)
