"""Application material review (clause 6.3): the pure parser, the sheet written by the project's
own writer, and the gate in front of `issue`."""

from __future__ import annotations

import datetime
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from qi_excel.cli import main
from qi_excel.errors import QiError
from qi_excel.evaluation import ISSUE_DIR, PROJECT_FILE, read_project
from qi_excel.review import (
    MATERIALS,
    REVIEW_SHEET,
    MaterialCheck,
    MaterialReview,
    date_text,
    parse_review,
    require_review,
    sample_review,
)
from qi_excel.workbook import issue_workbooks


def _rows(conclusion="符合", submitted=("是",) * 5, deadline=None):
    rows = [("申请材料审查记录（规范 6.3 条）", None, None, None), ("序号", "申请材料（规范 6.2 条）", "是否提交", "备注")]
    rows += [(k, n, s, f"备注{k}") for (k, n), s in zip(MATERIALS, submitted)]
    rows += [(None,), ("审查结论", conclusion, None, None), ("整改期限", deadline, None, None),
             ("审查意见", "缺工作总结", None, None), ("审查人：", "邓晓梅")]
    return rows


# ───────────────────────────── pure parser ─────────────────────────────


def test_parse_finds_materials_and_labelled_fields() -> None:
    review = parse_review(_rows(deadline=datetime.datetime(2025, 7, 1)))
    assert review is not None
    assert [m.key for m in review.materials] == ["a)", "b)", "c)", "d)", "e)"]
    assert all(m.submitted == "是" for m in review.materials) and review.materials[2].remark == "备注c)"
    assert review.conclusion == "符合" and review.deadline == "2025-07-01" and review.reviewer == "邓晓梅"
    assert review.passed and review.gate_problems() == []


def test_parse_is_tolerant_of_how_people_type() -> None:
    rows = [("C）", "工作总结", "√", None), ("", "相关制度", "否", "未提供"), ("审查结论", None, " 需 整改 ", None),
            ("整改期限", "2025年7月1日")]
    review = parse_review(rows)
    assert review is not None
    by_key = {m.key: m for m in review.materials}
    assert by_key["c)"].submitted == "是" and by_key["d)"].submitted == "否"
    assert by_key["a)"].submitted == ""  # absent rows are not filled in
    assert review.conclusion == "需整改" and review.deadline == "2025-07-01"
    problems = " ".join(review.gate_problems())
    assert "需整改" in problems and "2025年7月1日" in problems
    assert "d) 相关制度" in problems and "a) 评价申请表" in problems


def test_parse_without_the_sheet_and_dates() -> None:
    assert parse_review(None) is None
    assert date_text(45839) == "2025-07-01"  # an Excel serial from a light reader
    assert date_text("2025/7/1") == "2025-07-01" and date_text("下月底") == "下月底"


def test_gate_messages() -> None:
    with pytest.raises(QiError, match="没有“申请材料审查”工作表"):
        require_review(None)
    blank = MaterialReview(tuple(MaterialCheck(k, n, "", "") for k, n in MATERIALS))
    with pytest.raises(QiError, match="尚未填写审查结论") as err:
        require_review(blank)
    assert "--self" in str(err.value)
    inconsistent = MaterialReview(sample_review().materials[:4] + (MaterialCheck("e)", "规划", "否", ""),),
                                  conclusion="符合")
    with pytest.raises(QiError, match="未提交的材料：e\\) 规划"):
        require_review(inconsistent)
    require_review(sample_review())  # passes


# ───────────────────────────── on real files ─────────────────────────────


def _set_review(folder: Path, **values: object) -> None:
    """Edit 申请材料审查 the way an organizer does in Excel: by the labels in column A."""
    path = folder / PROJECT_FILE
    wb = openpyxl.load_workbook(path)
    ws = wb[REVIEW_SHEET]
    for row in ws.iter_rows(min_row=1, max_row=30, max_col=4):
        label = str(row[0].value or "")
        if label in values:
            row[1].value = values[label]
        for key, submitted in values.items():
            if label == key and key.endswith(")"):
                row[2].value = submitted
    wb.save(path)


def test_sample_folder_is_reviewed_as_compliant(sample_folder: Path) -> None:
    review = read_project(sample_folder).review
    assert review == sample_review()


def test_blank_template_has_the_sheet_with_validations(tmp_path: Path) -> None:
    from qi_excel.evaluation import new_evaluation

    new_evaluation(tmp_path / "空")
    wb = openpyxl.load_workbook(tmp_path / "空" / PROJECT_FILE)
    ws = wb[REVIEW_SHEET]
    lists = {str(dv.sqref): dv.formula1 for dv in ws.data_validations.dataValidation if dv.type == "list"}
    assert '"是,否"' in lists.values() and '"符合,需整改"' in lists.values()
    review = parse_review(list(ws.iter_rows(values_only=True)))
    assert review is not None and review.conclusion == "" and not review.passed
    assert [m.name for m in review.materials] == [n for _, n in MATERIALS]


def test_needs_correction_blocks_issue_but_not_self(sample_folder: Path) -> None:
    _set_review(sample_folder, 审查结论="需整改", 整改期限=datetime.date(2025, 7, 1), **{"c)": "否"})
    result = CliRunner().invoke(main, ["issue", str(sample_folder)])
    assert result.exit_code != 0
    assert "申请材料审查" in result.output and "需整改" in result.output and "2025年7月1日" in result.output
    assert "c) 工作总结" in result.output
    assert not list((sample_folder / ISSUE_DIR).iterdir())
    own = issue_workbooks(sample_folder, self_eval=True)  # 6.1 comes first: never held back
    assert [r.expert_id for r in own.records] == ["SELF"]

    _set_review(sample_folder, 审查结论="符合", 整改期限=None, **{"c)": "是"})
    result = CliRunner().invoke(main, ["issue", str(sample_folder)])
    assert result.exit_code == 0, result.output
    assert "已生成 7 位专家的评分工作簿" in result.output
