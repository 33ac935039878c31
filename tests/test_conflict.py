"""Conflict of interest at issue: normalised unit names, the refusal and the warning."""

from __future__ import annotations

from pathlib import Path

import openpyxl
from click.testing import CliRunner

from qi_excel.cli import main
from qi_excel.conflict import conflicts, normalise_unit, same_unit
from qi_excel.evaluation import (
    ISSUE_DIR,
    PANEL_SHEET,
    PROJECT_FILE,
    Expert,
    sample_panel,
)

APPLICANT = "长沙县质量基础设施“一站式”服务中心"
SERVICE = "长沙县质量基础设施“一站式”服务"


def test_normalise_unit() -> None:
    assert normalise_unit("长岭检验检测集团有限公司") == "长岭检验检测集团"
    assert normalise_unit("ＡＢＣ 检测 股份有限公司") == "ABC检测"  # full-width letters, spaces
    assert normalise_unit("星沙认证有限责任公司") == normalise_unit("星沙认证有限公司") == "星沙认证"
    assert normalise_unit(APPLICANT) == "长沙县质量基础设施一站式服务"
    assert normalise_unit("中心") == "中心"  # a suffix alone is kept


def test_same_unit_equality_and_containment() -> None:
    assert same_unit(APPLICANT, "长沙县质量基础设施一站式服务中心")  # quotes dropped
    assert same_unit(APPLICANT, "长沙县质量基础设施“一站式”服务中心综合科")  # a department of it
    assert same_unit("星沙认证有限公司", "湖南星沙认证有限公司")  # registered name with province
    assert not same_unit(APPLICANT, "长沙县市场监督管理局")
    assert not same_unit("长沙", "长沙县质量基础设施服务中心")  # too short to mean anything
    assert not same_unit("", APPLICANT)


def _expert(n: int, employer: str) -> Expert:
    return Expert(n, f"专家{n}", "教授", employer, "质量", "", "", "成员")


def test_conflicts_errors_and_warnings() -> None:
    assert conflicts(APPLICANT, SERVICE, sample_panel().experts) == []
    found = conflicts(APPLICANT, SERVICE, [
        _expert(1, "长沙县质量基础设施一站式服务中心"),
        _expert(2, "潇湘大学"), _expert(3, "潇湘 大学"), _expert(4, "湘江研究院"),
    ])
    errors = [p for p in found if p.severity == "error"]
    warnings = [p for p in found if p.severity == "warning"]
    assert [p.expert_ids for p in errors] == [("E01",)] and "专家1" in errors[0].message
    assert [p.expert_ids for p in warnings] == [("E02", "E03")] and "同一单位" in warnings[0].message


def _roster_employer(folder: Path, row: int, employer: str) -> None:
    path = folder / PROJECT_FILE
    wb = openpyxl.load_workbook(path)
    wb[PANEL_SHEET][f"D{row}"].value = employer
    wb.save(path)


def test_issue_refuses_an_expert_working_at_the_applicant(sample_folder: Path) -> None:
    _roster_employer(sample_folder, 5, "长沙县质量基础设施“一站式”服务中心")  # 刘卫东
    result = CliRunner().invoke(main, ["issue", str(sample_folder)])
    assert result.exit_code != 0
    assert "刘卫东" in result.output and "利益冲突" in result.output
    assert not list((sample_folder / ISSUE_DIR).iterdir())


def test_issue_warns_about_experts_from_one_unit(sample_folder: Path) -> None:
    _roster_employer(sample_folder, 8, "星沙认证有限公司")  # 赵敏 is at 星沙认证有限公司 too (row 7)
    _roster_employer(sample_folder, 7, "星沙认证 有限责任公司")
    result = CliRunner().invoke(main, ["issue", str(sample_folder)])
    assert result.exit_code == 0, result.output
    notes = [line for line in result.output.splitlines() if line.startswith("注意：")]
    assert len(notes) == 1 and "李建国" in notes[0] and "赵敏" in notes[0] and "同一单位" in notes[0]
