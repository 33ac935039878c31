"""The small table writer (qi_excel.xlsx_table): what it writes is what Excel, openpyxl and our
own reader see, text stays text, hostile characters cannot break the file."""

from __future__ import annotations

import io
import zipfile
from datetime import datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook

from qi_excel.sheet_reader import unescape_ooxml
from qi_excel.xlsx_read import sheet_rows
from qi_excel.xlsx_table import MAX_TEXT, Sheet, Style, cell_text, to_xlsx

PROPS = {"title": "回收检查报告", "author": "qi-excel", "created": datetime(2025, 6, 18, 9, 30, 5)}
BOXED = Style(valign="top", wrap=True, boxed=True)
HEAD = Style(bold=True, fill="DDEBF7", halign="center", valign="center", wrap=True, boxed=True)
RED = Style(color="C00000", bold=True, boxed=True)
TITLE = Style(size=14, bold=True)


def _table(cells: list[list[object]], **options: object) -> Sheet:
    ws = Sheet("检查结果", (5, 30, 62))
    for r, row in enumerate(cells):
        for c, value in enumerate(row):
            ws.write(r, c, value, BOXED)  # type: ignore[arg-type]
    for key, value in options.items():
        setattr(ws, key, value)
    return ws


def _save(tmp_path: Path, *sheets: Sheet) -> Path:
    path = tmp_path / "表.xlsx"
    path.write_bytes(to_xlsx(list(sheets), **PROPS))
    return path


def test_text_that_looks_like_a_formula_stays_text(tmp_path: Path) -> None:
    hostile = ["=HYPERLINK(\"http://x\",\"点我\")", "+1+1", "-2", "@SUM(A1)", "=1+1", "0012", "1e5", "TRUE"]
    path = _save(tmp_path, _table([[v] for v in hostile] + [[7, 2.5, -3]]))
    ws = load_workbook(path)["检查结果"]
    assert [ws.cell(i + 1, 1).value for i in range(len(hostile))] == hostile
    assert all(ws.cell(i + 1, 1).data_type == "s" for i in range(len(hostile)))
    assert [c.value for c in ws[len(hostile) + 1]] == [7, 2.5, -3]
    with zipfile.ZipFile(path) as z:
        assert "<f>" not in z.read("xl/worksheets/sheet1.xml").decode()


def test_styles_widths_and_heights_read_back(tmp_path: Path) -> None:
    ws = Sheet("检查结果", (5, 30, 62))
    ws.write(0, 0, "标题", TITLE)
    ws.write(1, 0, "序号", HEAD)
    ws.write(2, 0, "拒收", RED)
    ws.write(2, 1, "说明", BOXED)
    ws.set_row_height(2, 33)
    ws.set_row_height(3, 47)  # whole pixels: 62.67 px → 63 px = 47.25 pt, as XlsxWriter stored it
    got = load_workbook(_save(tmp_path, ws))["检查结果"]
    title, head, red, text = got["A1"], got["A2"], got["A3"], got["B3"]
    assert (title.font.name, title.font.sz, title.font.b, title.border.left.style) == ("等线", 14, True, None)
    assert (head.font.b, head.fill.fill_type, head.fill.fgColor.rgb) == (True, "solid", "FFDDEBF7")
    assert (head.alignment.horizontal, head.alignment.vertical, head.alignment.wrap_text) == ("center", "center", True)
    assert (red.font.color.rgb, red.font.b, red.border.bottom.style) == ("FFC00000", True, "thin")
    assert (text.font.name, text.font.sz, text.alignment.vertical, text.alignment.wrap_text) == ("等线", 10, "top", True)
    assert text.font.color is None and text.fill.fill_type is None
    assert got.row_dimensions[3].height == 33 and got.row_dimensions[2].height is None
    assert got.row_dimensions[4].height == 47.25


def test_column_widths_match_what_xlsxwriter_stored() -> None:
    """The report kept XlsxWriter's widths: a column looks exactly as wide as before."""
    xlsxwriter = pytest.importorskip("xlsxwriter")
    widths = (0.5, 5, 8, 12.5, 30, 62, 70)
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True})
    old = wb.add_worksheet("x")
    for c, w in enumerate(widths):
        old.set_column(c, c, w)
    old.write_string(0, 0, "a")
    wb.close()
    new = Sheet("x", widths)
    new.write(0, 0, "a", BOXED)

    def cols(data: bytes) -> str:
        xml = zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml").decode()
        return xml[xml.index("<cols>"):xml.index("</cols>")]

    assert cols(to_xlsx([new], **PROPS)) == cols(buf.getvalue())


def test_freeze_filter_and_print_setup(tmp_path: Path) -> None:
    ws = _table([["标题"], ["序号", "文件", "说明"], [1, "a.xlsx", "好"], [2, "b.xlsx", "坏"]],
                frozen_rows=2, filter=(1, 0, 3, 2), title_rows=(0, 1), landscape=True, fit_width=True,
                margins=(0.4, 0.4, 0.6, 0.6), footer="&C第 &P 页，共 &N 页")
    other = Sheet("专家 进度")  # a name with a space must be quoted in the defined names
    other.write(0, 0, "x", BOXED)
    other.filter = (0, 0, 0, 0)
    wb = load_workbook(_save(tmp_path, ws, other))
    got = wb["检查结果"]
    assert got.freeze_panes == "A3" and got.auto_filter.ref == "A2:C4"
    assert got.print_title_rows == "$1:$2"
    assert got.page_setup.orientation == "landscape" and got.page_setup.paperSize == 9
    assert got.sheet_properties.pageSetUpPr.fitToPage and got.page_setup.fitToHeight == 0
    assert (got.page_margins.left, got.page_margins.top) == (0.4, 0.6)
    assert got.oddFooter.center.text == "第 &P 页，共 &N 页"
    assert [got.column_dimensions[c].width for c in "ABC"] == [5.7109375, 30.7109375, 62.7109375]
    assert wb["专家 进度"].auto_filter.ref == "A1:A1" and wb["专家 进度"].freeze_panes is None
    assert wb.sheetnames == ["检查结果", "专家 进度"] and wb.active.title == "检查结果"
    assert "'专家 进度'!$A$1:$A$1" in zipfile.ZipFile(tmp_path / "表.xlsx").read("xl/workbook.xml").decode()


def test_document_properties_and_identical_bytes(tmp_path: Path) -> None:
    def build() -> bytes:
        return to_xlsx([_table([["标题"], [1, "文件", "说明"]], frozen_rows=2)], **PROPS)

    assert build() == build()  # nothing in the package depends on when it was written
    props = load_workbook(_save(tmp_path, _table([["x"]]))).properties
    assert (props.title, props.creator, props.lastModifiedBy) == ("回收检查报告", "qi-excel", "qi-excel")
    assert props.created == datetime(2025, 6, 18, 9, 30, 5) == props.modified
    later = to_xlsx([_table([["x"]])], **PROPS | {"created": datetime(2025, 6, 19)})
    assert later != to_xlsx([_table([["x"]])], **PROPS)


HOSTILE = [
    "控制\x00字\x01符\x08与\x0b\x0c\x1f",
    "回车\r换行\n制表\t",
    "字面 _x0041_ 与 _x005F_x0041_ 与 _X0041_ 与 _x00_",
    "孤立代理\ud800与\udfff",
    "非字符\ufffe\uffff",
    "标记 <b>&amp;</b> \"引号\" '单引号' ]]>",
    "  两端空格  ",
    "表情😀",
]


def test_hostile_characters_cannot_break_the_file(tmp_path: Path) -> None:
    path = _save(tmp_path, _table([[v] for v in HOSTILE]))
    got = [r[1][0] for r in sheet_rows(path, "检查结果")]  # the project's reader undoes Excel's escapes
    expected = [v.replace("\ud800", "\ufffd").replace("\udfff", "\ufffd") for v in HOSTILE]
    assert got == expected
    ws = load_workbook(path)["检查结果"]  # a strict XML parser accepts every part
    assert ws["F1"].value is None and ws["A6"].value == HOSTILE[5] and ws["A7"].value == "  两端空格  "


def test_cell_text_escapes_as_excel_does() -> None:
    assert cell_text("a\x01b\rc") == "a_x0001_b_x000D_c"
    assert cell_text("_x0041_") == "_x005F_x0041_"
    # overlapping escapes: each underscore that starts one is escaped (XlsxWriter escaped only the first)
    assert unescape_ooxml(cell_text("_x005F_x0041_")) == "_x005F_x0041_"
    assert cell_text("\ufffe") == "_xFFFE_" and cell_text("x\ud800") == "x\ufffd"
    assert cell_text("<&>") == "&lt;&amp;&gt;"
    assert all(unescape_ooxml(cell_text(v).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"))
               == v.replace("\ud800", "\ufffd").replace("\udfff", "\ufffd") for v in HOSTILE)


def test_text_beyond_excels_limit_is_cut(tmp_path: Path) -> None:
    ws = load_workbook(_save(tmp_path, _table([["长" * (MAX_TEXT + 10), "长" + "😀" * MAX_TEXT, "短"]])))["检查结果"]
    assert ws["A1"].value == "长" * MAX_TEXT
    assert ws["B1"].value == "长" + "😀" * (MAX_TEXT // 2)  # 1 + 2 × 16,383: an emoji is two of Excel's characters
    assert ws["C1"].value == "短"


def test_bad_input_is_refused() -> None:
    for name in ("", "a" * 32, "a/b", "[x]", "'x", "a\x01"):
        with pytest.raises(ValueError):
            Sheet(name)
    ws = Sheet("x")
    for bad in (None, True, float("nan"), float("inf"), datetime(2025, 1, 1)):
        with pytest.raises((TypeError, ValueError)):
            ws.write(0, 0, bad, BOXED)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        to_xlsx([Sheet("同名"), Sheet("同名")], **PROPS)


def test_passes_openxml_audit(tmp_path: Path) -> None:
    """Every feature at once, hostile text included, is schema-valid OOXML."""
    openxml_audit = pytest.importorskip("openxml_audit")
    ws = Sheet("检查结果", (5, 30, 62))
    ws.write(0, 0, "标题", TITLE)
    for c, h in enumerate(("序号", "文件", "说明")):
        ws.write(1, c, h, HEAD)
    for r, text in enumerate(HOSTILE, 2):
        ws.write(r, 0, r - 1, BOXED)
        ws.write(r, 1, text, RED)
        ws.write(r, 2, text, BOXED)
        ws.set_row_height(r, 47.5)
    ws.frozen_rows, ws.filter, ws.title_rows = 2, (1, 0, len(HOSTILE) + 1, 2), (0, 1)
    ws.landscape, ws.fit_width, ws.margins, ws.footer = True, True, (0.4, 0.4, 0.6, 0.6), "&C第 &P 页"
    empty = Sheet("空")
    path = _save(tmp_path, ws, empty)
    result = openxml_audit.OpenXmlValidator().validate(path)
    errors = [e for e in result.errors if e.severity == openxml_audit.ValidationSeverity.ERROR]
    assert not errors, [(e.part_uri, e.path, e.description[:200]) for e in errors]


@pytest.mark.office
def test_libreoffice_reads_text_as_text(tmp_path: Path) -> None:
    """The second office suite opens the file and sees every text as the same text.

    Read through a CSV export: re-saving as .xlsx would test LibreOffice's own writer, which
    escapes only the first of overlapping ``_xHHHH_`` sequences (XlsxWriter's mistake too).
    """
    import csv

    from qi_excel.office import convert, soffice_path

    if soffice_path() is None:
        pytest.skip("LibreOffice (soffice) 未安装")
    plain = ["=1+1", "@SUM(A1)", "字面 _x0041_ 与 _x005F_x0041_", HOSTILE[5], "表情😀", "两行\n文字"]
    ws = _table([[v, 7] for v in plain + HOSTILE[:4]], frozen_rows=1, filter=(0, 0, 9, 1))
    out = convert(_save(tmp_path, ws), "csv:Text - txt - csv (StarCalc):44,34,76", tmp_path / "lo")
    with out.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert [r[0] for r in rows[:len(plain)]] == plain and all(r[1] == "7" for r in rows)
    assert len(rows) == len(plain) + 4  # the rows with control characters and surrogates are there too
    assert rows[-1][0].startswith("孤立代理\ufffd")
