"""The experts' commitment block (clauses 4.3, 8.1.1): written into every expert workbook, never
into the self-evaluation, and required by collect."""

from __future__ import annotations

from pathlib import Path

import openpyxl
from xlsx_edit import fill, issued_bytes

from qi_excel import layout as L
from qi_excel.collect import collect
from qi_excel.evaluation import INBOX_DIR, load_issued
from qi_excel.rubric import shipped_rubric

RUBRIC = shipped_rubric()
LAY = L.score_sheet_layout(RUBRIC)
CELL = L.commitment_cell(LAY)


def test_block_in_expert_workbooks_only(issued_folder: Path) -> None:
    for record in load_issued(issued_folder):
        wb = openpyxl.load_workbook(issued_folder / record.file)
        ws = wb[L.SCORE_SHEET]
        text_row, _ = L.commitment_rows(LAY)
        if record.kind == "self":
            assert L.NAME_COMMITMENT not in wb.defined_names
            assert ws[f"A{text_row}"].value is None
            continue
        assert wb.defined_names[L.NAME_COMMITMENT].attr_text == f"'{L.SCORE_SHEET}'!${CELL[0]}${CELL[1:]}"
        text = ws[f"A{text_row}"].value
        assert "保密" in text and "独立" in text and "利益冲突" in text
        assert "长沙县质量基础设施“一站式”服务中心" in text  # the applicant is named
        assert not ws[CELL].protection.locked and ws[f"A{text_row}"].protection.locked
        dvs = [dv for dv in ws.data_validations.dataValidation if CELL in str(dv.sqref)]
        assert len(dvs) == 1 and dvs[0].type == "list" and dvs[0].formula1 == '"同意"'
        assert dvs[0].errorStyle in (None, "stop")
        assert ws.print_area.endswith(f"$H${text_row + 1}")  # the block is printed with the sheet


def _collect_one(folder: Path, name: str, data: bytes):
    (folder / INBOX_DIR / name).write_bytes(data)
    result = collect(folder)
    return next(f for f in result.files if f.file.endswith(name))


def test_collect_needs_the_commitment(issued_folder: Path) -> None:
    empty = fill(issued_bytes(issued_folder, "E01"), RUBRIC, sign="周立新", commitment=None)
    got = _collect_one(issued_folder, "01-空.xlsx", empty)
    assert got.status == "rejected"
    (f,) = [f for f in got.findings if f.severity == "error"]
    assert f.code == "COMMITMENT_MISSING" and f.cell == f"{L.SCORE_SHEET}!{CELL}" and CELL in f.message

    other = fill(issued_bytes(issued_folder, "E02"), RUBRIC, sign="陈晓岚", commitment="是")
    got = _collect_one(issued_folder, "02-是.xlsx", other)
    assert got.status == "rejected" and "填写的是“是”" in got.findings[0].message

    agreed = fill(issued_bytes(issued_folder, "E01"), RUBRIC, sign="周立新", commitment=L.COMMITMENT_VALUE,
                  saved_at="2025-06-18T11:00:00Z")
    got = _collect_one(issued_folder, "01-同意.xlsx", agreed)
    assert got.status == "accepted" and got.findings == ()


def test_self_evaluation_needs_no_commitment(issued_folder: Path) -> None:
    own = fill(issued_bytes(issued_folder, "SELF"), RUBRIC, sign="黄志强", commitment=None)
    got = _collect_one(issued_folder, "自评.xlsx", own)
    assert got.status == "accepted", got.findings
