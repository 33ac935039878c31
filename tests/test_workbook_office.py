"""Issued workbooks in LibreOffice: recalculated totals, identity after a re-save, the printout."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import openpyxl
import pytest

from qi_excel import layout as L
from qi_excel import office
from qi_excel.evaluation import load_issued, load_secret
from qi_excel.identity import verify
from qi_excel.rubric import shipped_rubric

pytestmark = [
    pytest.mark.office,
    pytest.mark.skipif(office.soffice_path() is None, reason="LibreOffice (soffice) 未安装"),
]

RUBRIC = shipped_rubric()
LAYOUT = L.score_sheet_layout(RUBRIC)


def _fill(source: Path, target: Path, pick) -> None:
    """Type a value into every score_* input cell, as an expert would, through the defined names."""
    wb = openpyxl.load_workbook(source)
    ws = wb[L.SCORE_SHEET]
    cells = {c.id: c for c in RUBRIC.score_cells}
    filled = 0
    for name, dn in wb.defined_names.items():
        if not name.startswith("score_"):
            continue
        ((sheet, ref),) = list(dn.destinations)
        assert sheet == L.SCORE_SHEET
        cell = ws[ref.replace("$", "")]
        if cell.data_type == "f":
            continue  # an item with parts: its cell adds up the parts
        ident = next(i for i in cells if name == L.score_name(i))
        cell.value = pick(cells[ident])
        filled += 1
    assert filled == len(RUBRIC.score_cells)
    wb.save(target)


def _recalculated(path: Path, outdir: Path) -> openpyxl.Workbook:
    return openpyxl.load_workbook(office.convert(path, "xlsx", outdir), data_only=True)


@pytest.mark.parametrize("extreme, total", [("max", 1000), ("min", 0)])
def test_libreoffice_recalculates_the_totals(issued_folder, tmp_path, extreme, total):
    issued = issued_folder / load_issued(issued_folder)[0].file
    filled = tmp_path / f"{extreme}.xlsx"
    _fill(issued, filled, (lambda c: c.max) if extreme == "max" else (lambda c: c.allowed.low))
    wb = _recalculated(filled, tmp_path / "out")
    ws = wb[L.SCORE_SHEET]
    names = {n: list(d.destinations)[0][1].replace("$", "") for n, d in wb.defined_names.items()}
    assert ws[names["total"]].value == total
    for row in LAYOUT.rows:
        if row.kind in ("level1_total", "level2_total"):
            assert ws[row.score_ref].value == (row.max if extreme == "max" else 0), row.id
    assert ws[L.PROGRESS_CELL].value == "已填 79/79"


def test_identity_survives_a_libreoffice_resave(issued_folder, tmp_path):
    secret = load_secret(issued_folder)
    record = load_issued(issued_folder)[2]
    resaved = office.convert(issued_folder / record.file, "xlsx", tmp_path / "resaved")
    wb = openpyxl.load_workbook(resaved)
    qi = wb[L.META_SHEET]
    assert qi.sheet_state in ("hidden", "veryHidden")  # LibreOffice turns veryHidden into hidden
    meta = {qi.cell(i + 1, 1).value: str(qi.cell(i + 1, 2).value) for i in range(len(L.META_KEYS))}
    assert meta["expert_id"] == record.expert_id and meta["expert_name"] == record.name
    assert verify(secret.hmac_key, meta, RUBRIC.source_text, meta["signature"])
    ws = wb[L.SCORE_SHEET]
    assert ws.protection.sheet
    assert len(ws.data_validations.dataValidation) >= len(LAYOUT.inputs)
    assert "score_1_1_1" in wb.defined_names and "total" in wb.defined_names


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext) 未安装")
def test_printed_score_sheet_is_complete(issued_folder, tmp_path):
    record = load_issued(issued_folder)[0]
    pdf = office.convert(issued_folder / record.file, "pdf", tmp_path)
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, check=True,
                          text=True).stdout
    pages = text.split("\f")
    assert "质量基础设施“一站式”服务评分表" in pages[0] and record.name in pages[0]
    assert re.search(r"第1页/共\d+页", "".join(pages[0].split()))
    flat = "".join(text.split())
    for item in RUBRIC.items:
        assert item.id in flat
    assert "专家签名" in flat and "评价发现/改进建议" in flat and "填写说明" in flat
