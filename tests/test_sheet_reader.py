"""Cell references and stored numbers read as the general rules say, memoised or not."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from qi_excel import sheet_reader as S
from qi_excel.sheet_reader import RawCell, cell_position

_PATTERN = re.compile(r"\$?([A-Z]{1,3})\$?(\d*)$", re.ASCII)


def _by_pattern(ref: str) -> tuple[int, int, bool] | None:
    m = _PATTERN.match(ref)
    if m is None:
        return None
    return S.col_index(m.group(1)), int(m.group(2)) if m.group(2) else 0, "$" not in ref and bool(m.group(2))


@pytest.mark.parametrize("ref", [
    "A1", "H114", "BK7", "BL7", "XFD1048576", "$G$12", "G$12", "a1", "A", "AAAA1", "A1\n", "A1 ", "1",
    "", "A0", "A٣", "Ａ1", "$", "AB",
])
def test_cell_position_is_what_the_pattern_says(ref: str) -> None:
    S._POSITIONS.pop(ref, None)
    assert cell_position(ref) == _by_pattern(ref)
    assert cell_position(ref) == _by_pattern(ref)  # memoised


@pytest.mark.parametrize(("text", "want"), [
    ("10", Decimal(10)), (" 10 ", Decimal(10)), ("9.5", Decimal("9.5")), ("1E+2", Decimal(100)),
    ("1E999999999", None), ("NaN", None), ("１０", None), ("1_0", None), ("1e308", Decimal("1e308")),
    ("1e309", None), ("0E-500", Decimal(0)),
])
def test_number_is_the_same_every_time(text: str, want: Decimal | None) -> None:
    for _ in range(2):
        got = RawCell("G5", "number", text).number()
        assert got == want and (got is None) == (want is None)
        assert RawCell("G5", "formula", text, "SUM(G1:G4)").number() == want
    assert RawCell("G5", "text", text).number() is None
