"""Shared fixtures: real evaluation folders built with the project's own writer."""

from __future__ import annotations

from pathlib import Path

import pytest

from qi_excel.evaluation import new_evaluation
from qi_excel.workbook import issue_workbooks


@pytest.fixture
def sample_folder(tmp_path: Path) -> Path:
    """A new evaluation folder with the sample 评价项目.xlsx (7 experts), nothing issued yet."""
    folder = tmp_path / "评价"
    new_evaluation(folder, sample=True)
    return folder


@pytest.fixture
def issued_folder(tmp_path: Path) -> Path:
    """A sample evaluation with every expert's workbook and the self-evaluation issued."""
    folder = tmp_path / "评价"
    new_evaluation(folder, sample=True)
    issue_workbooks(folder)
    issue_workbooks(folder, self_eval=True)
    return folder


@pytest.fixture
def simulated_returns():
    """Factory: the experts' filled workbooks for an issued folder, as an expert would send them.

    Returns ``(good, bad, corrected, bad_ref)``: ``good`` is [(file name, bytes)] for every expert
    but the third, whose return ``bad`` carries a pasted value two points above a cell's maximum
    at ``bad_ref`` ("评分表!G12"); ``corrected`` is that expert's fixed return.
    """
    from dataclasses import replace
    from datetime import date, datetime, timedelta, timezone

    from qi_excel import layout as L
    from qi_excel.evaluation import evaluation_rubric, load_issued
    from qi_excel.simulate import fill_workbook, platform_levels, simulated_fill

    def make(folder: Path):
        rubric = evaluation_rubric(folder)
        levels = platform_levels(rubric, 7)
        latest = {r.expert_id: r for r in load_issued(folder) if r.kind == "expert"}
        saved = datetime(2026, 6, 18, 9, 0, tzinfo=timezone.utc)
        good, bad, corrected, bad_ref = [], None, None, ""
        for i, (_expert_id, record) in enumerate(sorted(latest.items())):
            issued = (folder / record.file).read_bytes()
            fill = simulated_fill(rubric, levels, 100 + i, sign_name=record.name, sign_date=date(2026, 6, 18),
                                  saved_at=saved + timedelta(minutes=i))
            name = Path(record.file).name
            if i == 2:
                cell = next(c for c in rubric.score_cells if isinstance(fill.scores[c.id], int))
                wrong = replace(fill, scores={**fill.scores, cell.id: cell.max + 2})
                bad = (name, fill_workbook(issued, rubric, wrong))
                later = replace(fill, saved_at=saved + timedelta(hours=2))
                corrected = (name.replace(".xlsx", "-更正.xlsx"), fill_workbook(issued, rubric, later))
                row = next(r for r in L.score_sheet_layout(rubric).rows if r.cell is not None and r.cell.id == cell.id)
                bad_ref = f"{L.SCORE_SHEET}!{row.score_ref}"
            else:
                good.append((name, fill_workbook(issued, rubric, fill)))
        return good, bad, corrected, bad_ref

    return make
