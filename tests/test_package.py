"""The package layer's shortcuts give exactly what the general way gives."""

from __future__ import annotations

import html
import itertools
import re

import pytest

from qi_excel.package import ReadError, _sheet_data_end, parse_sheet_head, parse_xml, unescape_markup


@pytest.mark.parametrize("text", [
    "", "plain", "&amp;lt;", "a&amp;amp;b", '&L&amp;"宋体"&amp;10&R评价专家：周立新', "&lt;&gt;&apos;&quot;&amp;",
    "&nbsp;x", "&#65;&#x42;", "&amp", "&ampx;", "&&amp;", "&#128;", "x&y",
])
def test_unescape_markup_is_html_unescape(text: str) -> None:
    assert unescape_markup(text) == html.unescape(text)


def test_unescape_markup_is_html_unescape_for_every_short_mix() -> None:
    parts = ["&", "amp", "lt", ";", "quot", "#", "x", "4", "1", " "]
    for n in range(1, 5):
        for combo in itertools.product(parts, repeat=n):
            text = "".join(combo)
            assert unescape_markup(text) == html.unescape(text), text


_END = re.compile(rb"</(?:[A-Za-z_][\w.\-]*:)?sheetData\s*>")


@pytest.mark.parametrize("data", [
    b"<worksheet><sheetData><row/></sheetData></worksheet>",
    b"<x:worksheet><x:sheetData></x:sheetData ></x:worksheet>",
    b"<w><sheetData></sheetData.x:sheetData></sheetData>",  # the name inside a prefix
    b"<w><c>sheetData sheetData sheetData sheetData sheetData sheetData sheetData sheetData sheetData</c>"
    b"</sheetData></w>",  # more mentions than the shortcut tries: the plain search
    b"<w><sheetData/></w>",
    b"no markup at all",
    b"sheetData</sheetData>",
])
def test_sheet_data_end_is_the_first_match(data: bytes) -> None:
    got, want = _sheet_data_end(data), _END.search(data)
    assert (got.span() if got else None) == (want.span() if want else None)


def test_the_sheet_head_keeps_protection_and_drops_the_rest() -> None:
    data = (b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            b'<sheetData><row r="1"><c r="A1"><v>1</v></c></row></sheetData>'
            b'<sheetProtection sheet="1"/><mergeCells count="1"><mergeCell ref="A1:B1"/></mergeCells></worksheet>')
    root = parse_sheet_head(data)
    assert [child.tag.rsplit("}", 1)[-1] for child in root] == ["sheetData", "sheetProtection"]


def test_a_part_with_a_dtd_is_refused_as_such() -> None:
    from qi_excel.package import Package

    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>'
    with pytest.raises(Exception) as raised:
        parse_xml(bomb)
    assert raised.type.__name__ in ("EntitiesForbidden", "DTDForbidden")
    with pytest.raises(ReadError, match="实体"):
        Package.parse(None, "xl/sharedStrings.xml", bomb)  # type: ignore[arg-type]
    with pytest.raises(ReadError, match="不是有效的 XML"):
        Package.parse(None, "xl/sharedStrings.xml", b"<x><y></x>")  # type: ignore[arg-type]
