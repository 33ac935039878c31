"""The organizer's 评价项目.xlsx read with the project's own light reader (qi_excel.xlsx_read).

Workbooks are built the way organizers' files come about: the project's own template filled
by openpyxl (as Excel would save it), then edited — a stray cell at the bottom of the sheet,
a hidden row, a formula nobody calculated, a date typed as a number.
"""

from __future__ import annotations

import datetime
import io
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pytest

from qi_excel.errors import QiError
from qi_excel.evaluation import INFO_SHEET, PANEL_SHEET, PROJECT_FILE, load_project, new_evaluation, read_project
from qi_excel.xlsx_read import excel_date, is_date_format, open_book, sheet_rows


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "评价"
    new_evaluation(root, sample=True)
    return root


def _edit(folder: Path, change) -> None:
    path = folder / PROJECT_FILE
    wb = openpyxl.load_workbook(path)
    change(wb)
    wb.save(path)


def _info_row(ws, label: str) -> int:
    return next(r for r in range(1, 40) if ws.cell(r, 1).value == label)


# ───────────────────────────── pure ─────────────────────────────


@pytest.mark.parametrize(
    ("serial", "shown"),
    [(1, "1900-01-01"), (59, "1900-02-28"), (60, "1900-02-29"), (61, "1900-03-01"), (45826, "2025-06-18"),
     (45826.375, "2025-06-18 09:00")],
)
def test_excel_serials_read_as_excel_shows_them(serial: float, shown: str) -> None:
    value = excel_date(serial)
    text = value if isinstance(value, str) else value.strftime("%Y-%m-%d %H:%M").removesuffix(" 00:00")
    assert text == shown


def test_1904_date_system_and_limits() -> None:
    assert excel_date(0, date1904=True) == datetime.datetime(1904, 1, 1)
    assert excel_date(-1) is None and excel_date(2_958_466) is None and excel_date(float("nan")) is None


@pytest.mark.parametrize(
    ("fid", "code", "is_date"),
    [(14, None, True), (0, None, False), (49, None, False), (58, None, True), (176, 'yyyy"年"m"月"d"日"', True),
     (177, "0.00_);[Red](0.00)", False), (178, '"day "0', False), (179, "[$-F800]dddd, mmmm dd, yyyy", True),
     (180, "[h]:mm:ss", True), (181, "General", False), (182, "0.0E+00", False)],
)
def test_date_formats(fid: int, code: str | None, is_date: bool) -> None:
    assert is_date_format(fid, code) is is_date


# ───────────────────────────── the reader on real files ─────────────────────────────


def test_rows_as_plain_values(folder: Path) -> None:
    rows = dict(sheet_rows(folder / PROJECT_FILE, PANEL_SHEET))
    header = next(r for r, v in rows.items() if "姓名" in v)
    first = rows[header + 1]
    assert first[0] == 1 and first[1] == "周立新" and first[7] == "组长"
    with pytest.raises(QiError, match="缺少工作表“专家名册”"):
        sheet_rows(folder / PROJECT_FILE, "专家名册")


def test_reading_matches_openpyxl_on_the_sample(folder: Path) -> None:
    """Same values as openpyxl's data_only read of the same file, cell by cell."""
    book = open_book(folder / PROJECT_FILE)
    wb = openpyxl.load_workbook(folder / PROJECT_FILE, data_only=True)
    for name in (INFO_SHEET, PANEL_SHEET):
        ours = book.sheet(name)
        for row in wb[name].iter_rows():
            for c in row:
                if c.value is not None:
                    assert ours.value(c.row, c.column) == c.value, (name, c.coordinate)


def test_stray_cell_at_the_last_row_is_reported_not_read(folder: Path) -> None:
    _edit(folder, lambda wb: wb[PANEL_SHEET].cell(1_048_576, 3, "x"))
    project = read_project(folder)
    assert len(project.experts) == 7
    (problem,) = project.errors
    assert "之后还有内容" in problem.text and "没有读取" in problem.text
    with pytest.raises(QiError, match="之后还有内容"):
        load_project(folder)


def test_roster_longer_than_the_cap_is_reported(folder: Path) -> None:
    book = open_book(folder / PROJECT_FILE, max_rows=5)
    sheet = book.sheet(PANEL_SHEET)
    assert sheet.truncated and len(sheet.rows) == 5


def test_expert_in_a_hidden_row_is_reported_with_its_row(folder: Path) -> None:
    def hide(wb) -> None:
        ws = wb[PANEL_SHEET]
        row = next(r for r in range(1, 30) if ws.cell(r, 2).value == "王芳")
        ws.row_dimensions[row].hidden = True

    _edit(folder, hide)
    project = read_project(folder)
    hidden = [p for p in project.errors if "隐藏" in p.message]
    assert len(hidden) == 1 and "王芳" in hidden[0].message and hidden[0].row is not None
    assert f"第 {hidden[0].row} 行" in hidden[0].text


def test_formula_without_cached_value_is_named_as_a_formula(folder: Path) -> None:
    def formulas(wb) -> None:
        ws = wb[INFO_SHEET]
        ws.cell(_info_row(ws, "服务名称"), 2).value = '=CONCATENATE("长沙县","服务")'
        ws.cell(_info_row(ws, "申报单位"), 2).value = "=D1"

    _edit(folder, formulas)
    with pytest.raises(QiError) as err:
        load_project(folder)
    message = str(err.value)
    assert "服务名称" in message and "申报单位" in message
    assert message.count("是公式") == 2 and "CONCATENATE" in message and "计算结果" in message


def test_date_typed_as_a_serial_in_a_general_cell(folder: Path) -> None:
    def serials(wb) -> None:
        ws = wb[INFO_SHEET]
        ws.cell(_info_row(ws, "评价日期"), 2).value = 45826  # General format: Excel stores the number
        ws.cell(_info_row(ws, "申请日期"), 2).value = 60
        ws.cell(_info_row(ws, "负责人电话"), 2).value = 84010001  # a number that is not a date stays one

    _edit(folder, serials)
    info, _ = load_project(folder)
    assert info.evaluation_date == "2025-06-18"
    assert info.application_date == "1900-02-29"
    assert info.head_phone == "84010001"


def test_report_prints_serial_dates_as_dates(folder: Path) -> None:
    from qi_excel.docx_render import chinese_date

    def serial(wb) -> None:
        ws = wb[INFO_SHEET]
        ws.cell(_info_row(ws, "评价日期"), 2).value = 45826

    _edit(folder, serial)
    info, _ = load_project(folder)
    assert chinese_date(info.evaluation_date) == "2025年6月18日"
    assert chinese_date("1900-02-29") == "1900年2月29日"


def test_damaged_or_hostile_files(tmp_path: Path) -> None:
    bad = tmp_path / "坏.xlsx"
    bad.write_bytes(b"not a zip")
    with pytest.raises(QiError, match="不是有效的 Excel 工作簿"):
        open_book(bad)
    # a DTD with entities inside a worksheet: refused, never expanded
    source = io.BytesIO()
    wb = openpyxl.Workbook()
    wb.active.title = PANEL_SHEET
    wb.active["A1"] = "姓名"
    wb.save(source)
    hostile = tmp_path / "实体.xlsx"
    with zipfile.ZipFile(io.BytesIO(source.getvalue())) as zin, zipfile.ZipFile(hostile, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                dtd = b'<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">]>'
                data = data.replace(b"?>", b"?>" + dtd, 1) if data.startswith(b"<?xml") else dtd + data
            zout.writestr(info, data)
    with pytest.raises(QiError, match="实体"):
        open_book(hostile).sheet(PANEL_SHEET)


def test_status_and_collect_do_not_load_openpyxl(folder: Path) -> None:
    """The light reader is what collect/status use: openpyxl is never imported on that path."""
    code = (
        "import sys\n"
        "from qi_excel.collect import panel_status, collect\n"
        f"panel_status({str(folder)!r})\n"
        f"collect({str(folder)!r})\n"
        "print('openpyxl' in sys.modules)\n"
    )
    from qi_excel.workbook import issue_workbooks

    issue_workbooks(folder)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr
