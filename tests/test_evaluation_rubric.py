"""Each evaluation keeps the rubric it was set up with, from `new` to `consolidate`."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from qi_excel import rubric as rubric_module
from qi_excel.cli import main
from qi_excel.collect import collect
from qi_excel.consolidation_step import consolidate_folder
from qi_excel.errors import QiError
from qi_excel.evaluation import INBOX_DIR, RUBRIC_FILE, evaluation_rubric, load_issued, new_evaluation
from qi_excel.rubric import default_rubric_text, shipped_rubric
from qi_excel.simulate import ExpertFill, fill_workbook
from qi_excel.workbook import issue_workbooks

SMALL_RUBRIC = Path(__file__).parent / "small_rubric.toml"  # 40 points, shared with test_consolidate


def _return_all(folder: Path, scores: dict[str, int]) -> None:
    rubric = evaluation_rubric(folder)
    for i, record in enumerate(r for r in load_issued(folder) if r.kind == "expert"):
        fill = ExpertFill(scores, {k: "现场核查后扣分" for k, v in scores.items() if v < rubric.cell(k).max},
                          sign_name=record.name, sign_date=date(2025, 6, 18),
                          saved_at=datetime(2025, 6, 18, 10, i, tzinfo=timezone.utc))
        data = fill_workbook((folder / record.file).read_bytes(), rubric, fill)
        (folder / INBOX_DIR / Path(record.file).name).write_bytes(data)


def test_custom_rubric_runs_end_to_end(tmp_path: Path) -> None:
    folder = tmp_path / "评价"
    new_evaluation(folder, sample=True, rubric=SMALL_RUBRIC)
    assert (folder / RUBRIC_FILE).read_bytes() == SMALL_RUBRIC.read_bytes()
    assert evaluation_rubric(folder).total == 40
    issue_workbooks(folder)
    _return_all(folder, {"1.1.1": 8, "1.1.2.1": 10, "1.1.2.2": 7, "2.1.1": 10})
    result = collect(folder)
    assert [f.status for f in result.files] == ["accepted"] * 7, [f.findings for f in result.files]
    cons = consolidate_folder(folder)
    assert str(cons.total) == "35.00" and cons.max_total == 40


def test_broken_custom_rubric_writes_nothing(tmp_path: Path) -> None:
    custom = tmp_path / "坏.toml"
    custom.write_text(SMALL_RUBRIC.read_text(encoding="utf-8").replace("total = 40", "total = 41"), encoding="utf-8")
    with pytest.raises(QiError, match="各一级指标分值之和 40 分与总分 41 分不符"):
        new_evaluation(tmp_path / "评价", rubric=custom)
    assert not (tmp_path / "评价").exists()


def test_upgraded_shipped_rubric_does_not_break_an_evaluation_in_flight(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "评价"
    new_evaluation(folder, sample=True)
    issue_workbooks(folder)
    full = {c.id: c.max for c in shipped_rubric().score_cells}
    _return_all(folder, full)
    # a later qi-excel release corrects a criterion's wording: the signed rubric text changes
    corrected = default_rubric_text().replace("否则 0 分", "否则0分", 1)
    assert corrected != default_rubric_text()
    monkeypatch.setattr(rubric_module, "default_rubric_text", lambda: corrected)
    monkeypatch.setattr(rubric_module, "_cache", {})
    assert shipped_rubric().source_text == corrected
    result = collect(folder)
    assert all(f.status == "accepted" for f in result.files), [f.findings for f in result.files]


def test_folder_made_before_rubric_copies_uses_the_shipped_one(tmp_path: Path) -> None:
    folder = tmp_path / "评价"
    new_evaluation(folder, sample=True)
    (folder / RUBRIC_FILE).unlink()
    assert evaluation_rubric(folder) == shipped_rubric()


def test_cli_new_with_rubric(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["new", str(tmp_path / "评价"), "--rubric", str(SMALL_RUBRIC)])
    assert result.exit_code == 0, result.output
    assert evaluation_rubric(tmp_path / "评价").title == "测试评价表"
    bad = CliRunner().invoke(main, ["new", str(tmp_path / "另一个"), "--rubric", str(tmp_path / "无.toml")])
    assert bad.exit_code == 3 and "不存在" in bad.output and not (tmp_path / "另一个").exists()
