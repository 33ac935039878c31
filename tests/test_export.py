"""``qi-excel export``: every typed score as one long table, formulas kept inert (issue 14)."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from qi_excel.cli import main
from qi_excel.collect import collect
from qi_excel.evaluation import (
    INBOX_DIR,
    evaluation_rubric,
    load_issued,
    load_secret,
    new_evaluation,
)
from qi_excel.export import neutralise
from qi_excel.simulate import ExpertFill, fill_workbook, platform_levels, simulated_fill
from qi_excel.workbook import issue_workbooks

HYPERLINK = '=HYPERLINK("http://evil.example","点我")'
TRICKY = {"-": "-2 分：无台账", "@": "@SUM(A1)", "+": "+1 合理", "\t": "\t=1+1"}


@pytest.fixture(scope="module")
def returned(tmp_path_factory) -> tuple[Path, dict[str, ExpertFill]]:
    """Sample evaluation: 7 experts and the self-evaluation returned and collected."""
    folder = tmp_path_factory.mktemp("export") / "评价"
    new_evaluation(folder, sample=True)
    issue_workbooks(folder)
    issue_workbooks(folder, self_eval=True)
    rubric = evaluation_rubric(folder)
    levels = platform_levels(rubric, 5)
    part = next(c for c in rubric.score_cells if c.part is not None)
    fills: dict[str, ExpertFill] = {}
    for i, rec in enumerate(load_issued(folder)):
        fill = simulated_fill(rubric, levels, 40 + i, sign_name=rec.name, sign_date=date(2025, 6, 18),
                              saved_at=datetime(2025, 6, 18, 17, i))
        remarks = dict(fill.remarks)
        if i == 0:
            remarks["1.1.1"] = HYPERLINK
            remarks[part.id] = TRICKY["-"]
        if i == 1:
            remarks["1.1.1"] = TRICKY["@"]
            remarks["1.1.2"] = TRICKY["+"]
        fill = ExpertFill(fill.scores, remarks, fill.suggestions, fill.sign_name, fill.sign_date, fill.saved_at)
        fills[rec.expert_id] = fill
        (folder / INBOX_DIR / Path(rec.file).name).write_bytes(fill_workbook((folder / rec.file).read_bytes(), rubric, fill))
    assert all(f.status == "accepted" for f in collect(folder).files)
    return folder, fills


def test_neutralise() -> None:
    assert neutralise("=1+1") == "'=1+1"
    assert neutralise("-3") == "'-3" and neutralise("@x") == "'@x" and neutralise("+x") == "'+x"
    assert neutralise("\tx") == "'\tx" and neutralise("\rx") == "'\rx"
    assert neutralise("资料不全") == "资料不全" and neutralise("") == ""


def test_csv_rows_equal_what_each_expert_typed(returned, tmp_path) -> None:
    folder, fills = returned
    out = tmp_path / "数据.csv"
    result = CliRunner().invoke(main, ["export", str(folder), "-o", str(out)])
    assert result.exit_code == 0, result.output
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw[3:].decode("utf-8"), newline="")))
    rubric = evaluation_rubric(folder)
    assert len(rubric.score_cells) == 79
    experts = [r for r in rows if r["类型"] == "专家"]
    selfs = [r for r in rows if r["类型"] == "自评"]
    assert len(experts) == 7 * 79 and len(selfs) == 79
    assert {r["专家编号"] for r in selfs} == {"SELF"}
    assert f"{len(rows)} 行" in result.output
    evaluation_id = load_secret(folder).evaluation_id
    by_key = {(r["专家编号"], r["打分格"]): r for r in rows}
    for expert_id, fill in fills.items():
        for cell in rubric.score_cells:
            row = by_key[(expert_id, cell.id)]
            assert row["评价编号"] == evaluation_id
            assert int(row["得分"]) == fill.scores[cell.id]
            assert int(row["分值"]) == cell.max and row["评分项"] == cell.item.id
            typed = fill.remarks.get(cell.id, "")
            assert row["扣分说明"] == neutralise(typed)
            if cell.part is not None:
                assert row["打分格"] == cell.part.id != row["评分项"]
    e01 = by_key[("E01", "1.1.1")]
    assert e01["扣分说明"] == "'" + HYPERLINK and e01["一级指标"] == "组织管理" and e01["专家"] == "周立新"
    assert by_key[("E02", "1.1.1")]["扣分说明"] == "'@SUM(A1)"
    # nothing in the file starts a cell with a formula character
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value


def test_xlsx_writes_every_remark_as_text(returned, tmp_path) -> None:
    folder, fills = returned
    out = tmp_path / "数据.xlsx"
    result = CliRunner().invoke(main, ["export", str(folder), "--format", "xlsx", "-o", str(out)])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(out) as zf:
        sheet = zf.read("xl/worksheets/sheet1.xml").decode("utf-8")
    assert "<f>" not in sheet and "<f " not in sheet
    ws = openpyxl.load_workbook(out)["评分数据"]
    header = [c.value for c in ws[1]]
    rows = [dict(zip(header, (c.value for c in r))) for r in ws.iter_rows(min_row=2)]
    assert len(rows) == 8 * 79
    cells = {(r["专家编号"], r["打分格"]): r for r in rows}
    assert cells[("E01", "1.1.1")]["扣分说明"] == HYPERLINK  # exactly as typed, as a string cell
    hyper = next(c for r in ws.iter_rows(min_row=2) for c in r if c.value == HYPERLINK)
    assert hyper.data_type == "s"
    assert cells[("E02", "1.1.2")]["扣分说明"] == "+1 合理"
    for (expert_id, cell_id), row in cells.items():
        assert row["得分"] == fills[expert_id].scores[cell_id]


def test_export_without_returns_is_a_chinese_error(tmp_path) -> None:
    folder = tmp_path / "评价"
    new_evaluation(folder, sample=True)
    result = CliRunner().invoke(main, ["export", str(folder)])
    assert result.exit_code != 0 and "collect" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(main, ["export", str(folder), "--format", "pdf"])
    assert result.exit_code != 0 and "pdf" in result.output
