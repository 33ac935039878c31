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
