"""Excused panel members (clauses 7.2, 8.3.2, 9): no final result while a member is missing."""

from __future__ import annotations

import json
import shutil
import zipfile
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from docx import Document

from qi_excel.cli import main
from qi_excel.collect import collect
from qi_excel.demo import _pasted_out_of_range
from qi_excel.errors import QiError
from qi_excel.evaluation import (
    INBOX_DIR,
    PANEL_SHEET,
    PROJECT_FILE,
    REPORT_FILE,
    Expert,
    Panel,
    evaluation_rubric,
    load_project,
    new_evaluation,
    sample_info,
    sample_panel,
)
from qi_excel.excuse import (
    EXCUSED_FILE,
    Excusal,
    account,
    effective_excusals,
    excuse,
    find_member,
    refusal,
    undo_excuse,
)
from qi_excel.project import reasons_from_rows
from qi_excel.simulate import fill_workbook, platform_levels, simulated_fill
from qi_excel.workbook import issue_workbooks
from qi_excel.workbook_project import fill_project_workbook, project_template_bytes

REASON = "因病未能参加现场考察"


def _experts(n: int) -> list[Expert]:
    return [Expert(i, f"专家{i}", "教授", "", "", "", "", "组长" if i == 1 else "成员") for i in range(1, n + 1)]


# ───────────────────────────── pure ─────────────────────────────


def test_reasons_from_rows_finds_the_column_by_its_header() -> None:
    rows = [
        ("专家组名单", None, None),
        ("序号", "姓名", "角色", "请假说明"),
        (1, "张三", "组长", None),
        (2, "李四", "成员", "  因公\n出差 "),
        (3, "王五", "成员", ""),
    ]
    assert reasons_from_rows(rows) == {4: "因公 出差"}
    assert reasons_from_rows([("序号", "姓名", "角色"), (1, "张三", "因病")]) == {}  # no such column
    assert reasons_from_rows([]) == {}


def test_find_member_by_id_number_or_name() -> None:
    experts = _experts(7)
    assert find_member(experts, "E03").number == 3
    assert find_member(experts, "e3").number == 3
    assert find_member(experts, "3").number == 3
    assert find_member(experts, "专家5").number == 5
    with pytest.raises(QiError, match="专家组名单中没有“赵六”"):
        find_member(experts, "赵六")


def test_account_missing_excused_and_counted() -> None:
    experts = _experts(7)
    excused = (Excusal("E03", "专家3", REASON),)
    a = account(experts, ["E01", "E02", "E04", "E05", "E06"], excused)
    assert a.counted == ("E01", "E02", "E04", "E05", "E06") and a.missing == (("E07", "专家7"),)
    assert not a.complete and a.enough
    text = refusal(a, "评价")
    assert "专家7（E07）还没有已接收的评分表" in text and "qi-excel excuse 评价 E07 --reason" in text
    # an excused member's accepted workbook is left out
    b = account(experts, [f"E0{i}" for i in range(1, 8)], excused)
    assert b.complete and "E03" not in b.counted and b.ignored == ("E03",)
    assert b.to_json() == {"members": 7, "counted": 6,
                           "excused": [{"expert_id": "E03", "expert": "专家3", "reason": REASON}]}
    # fewer than 5 counted: only --draft
    c = account(experts, ["E01", "E02", "E03", "E04"], (Excusal("E05", "专家5", "x"), Excusal("E06", "专家6", "y"),
                                                       Excusal("E07", "专家7", "z")))
    assert c.complete and not c.enough and "只能加 --draft" in refusal(c, "评价")


def test_command_record_wins_over_the_roster_column() -> None:
    experts = _experts(6)
    experts[1] = Expert(2, "专家2", "教授", "", "", "", "", "成员", excused="表中原因")
    experts[2] = Expert(3, "专家3", "教授", "", "", "", "", "成员", excused="表中原因")
    got = effective_excusals(experts, {"E03": "命令原因"})
    assert got == (Excusal("E02", "专家2", "表中原因"), Excusal("E03", "专家3", "命令原因"))


# ───────────────────────────── the folder ─────────────────────────────


def _returns(folder: Path, *, reject: int | None) -> None:
    """Every member returns a filled workbook; member ``reject`` pastes an out-of-range score."""
    rubric = evaluation_rubric(folder)
    levels = platform_levels(rubric, 5)
    tz = timezone(timedelta(hours=8))
    for i, rec in enumerate(issue_workbooks(folder).records):
        fill = simulated_fill(rubric, levels, i, sign_name=rec.name, sign_date=date(2025, 6, 18),
                              saved_at=datetime(2025, 6, 18, 17, i, tzinfo=tz))
        if i == reject:
            cell, bad = _pasted_out_of_range(rubric, fill.scores)
            fill = fill.__class__(**{**fill.__dict__, "scores": {**fill.scores, cell: bad}})
        (folder / INBOX_DIR / Path(rec.file).name).write_bytes(fill_workbook((folder / rec.file).read_bytes(), rubric, fill))
    collect(folder)


@pytest.fixture(scope="module")
def one_rejected(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("excuse") / "评价"
    new_evaluation(folder, sample=True)
    _returns(folder, reject=2)  # E03 刘卫东's sheet is rejected
    return folder


@pytest.fixture
def folder(one_rejected: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(one_rejected, tmp_path / "评价"))


def _cli(*args: str):
    return CliRunner().invoke(main, list(args))


def test_seven_members_one_rejected_then_excused(folder: Path) -> None:
    _info, panel = load_project(folder)
    missing = panel.by_id("E03")
    # a final consolidate names the member and what to do; nothing is written
    result = _cli("consolidate", str(folder))
    assert result.exit_code != 0
    assert f"{missing.name}（E03）还没有已接收的评分表" in result.output
    assert "qi-excel excuse" in result.output and "Traceback" not in result.output
    assert not (folder / ".qi" / "consolidation.json").exists()
    for command in ("report", "archive"):
        assert _cli(command, str(folder)).exit_code != 0

    result = _cli("excuse", str(folder), "E03", "--reason", REASON)
    assert result.exit_code == 0, result.output
    assert f"已登记 {missing.name}（E03）请假：{REASON}" in result.output
    stored = json.loads((folder / EXCUSED_FILE).read_text(encoding="utf-8"))
    assert stored == {"excused": [{"expert_id": "E03", "expert": missing.name, "reason": REASON}]}

    result = _cli("consolidate", str(folder), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["experts"] == 6
    assert data["panel"] == {"members": 7, "counted": 6,
                             "excused": [{"expert_id": "E03", "expert": missing.name, "reason": REASON}]}

    result = _cli("report", str(folder))
    assert result.exit_code == 0, result.output
    doc = Document(str(folder / REPORT_FILE))
    text = "\n".join([p.text for p in doc.paragraphs] + [c.text for t in doc.tables for r in t.rows for c in r.cells])
    assert "共 7 人，实到 6 人" in text
    assert f"{missing.name}{REASON}，未参加本次评价" in text  # 三、评价过程
    assert f"{missing.name}请假（{REASON}）" in text  # 一、基本情况 专家组
    assert "实到的 6 名专家按照附录 A 独立量化打分" in text
    signature = next(t for t in doc.tables if [c.text for c in t.rows[0].cells][:2] == ["序号", "姓名"])
    names = [r.cells[1].text for r in signature.rows[1:]]
    assert len(names) == 6 and missing.name not in names
    assert [e.name for e in panel.experts if e.expert_id != "E03"] == names

    result = _cli("archive", str(folder))
    assert result.exit_code == 0, result.output
    (zip_path,) = folder.glob("评价档案-*.zip")
    with zipfile.ZipFile(zip_path) as zf:
        manifest = json.loads(zf.read("manifest.json").decode("utf-8"))
    assert manifest["excused"] == [{"expert_id": "E03", "expert": missing.name, "reason": REASON,
                                    "role": "评分表（未提交：专家请假）"}]
    assert sum(f["role"] == "评分表（已回收）" for f in manifest["files"]) == 6
    assert _cli("archive", "--verify", str(zip_path)).exit_code == 0


def test_excuse_never_takes_the_panel_below_five(folder: Path) -> None:
    excuse(folder, "E06", "回避：与申请方有利害关系")
    excuse(folder, "E07", REASON)  # 5 remain
    with pytest.raises(QiError, match="请假后只剩 4 人，少于规范 7.2 条要求的 5 人"):
        excuse(folder, "E03", REASON)
    result = _cli("excuse", str(folder), "E05", "--reason", REASON)
    assert result.exit_code != 0 and "只用 --draft" in result.output
    stored = json.loads((folder / EXCUSED_FILE).read_text(encoding="utf-8"))["excused"]
    assert [e["expert_id"] for e in stored] == ["E06", "E07"]
    # E03's sheet was rejected and E03 cannot be excused: only a draft is possible
    result = _cli("consolidate", str(folder))
    assert result.exit_code != 0 and "还没有已接收的评分表" in result.output
    assert _cli("consolidate", str(folder), "--draft").exit_code == 0


def test_undo_takes_the_excusal_back(folder: Path) -> None:
    excuse(folder, "E03", REASON)
    result = _cli("consolidate", str(folder))
    assert result.exit_code == 0, result.output
    name = load_project(folder)[1].by_id("E03").name
    assert f"专家组 7 人，实到 6 人；请假：{name}（E03，{REASON}）。" in result.output
    result = _cli("excuse", str(folder), "E03", "--undo")
    assert result.exit_code == 0 and "已撤销" in result.output
    assert _cli("consolidate", str(folder)).exit_code != 0
    with pytest.raises(QiError, match="没有请假记录"):
        undo_excuse(folder, "E03")
    result = _cli("excuse", str(folder), "E03")
    assert result.exit_code != 0 and "--reason" in result.output


def test_roster_column_records_the_same(folder: Path) -> None:
    """评价项目.xlsx's 未参加原因 column excuses a member without the command."""
    experts = list(sample_panel().experts)
    experts[2] = Expert(*[getattr(experts[2], f) for f in ("number", "name", "title", "employer", "field",
                                                           "phone", "email", "role")], excused=REASON)
    data = fill_project_workbook(project_template_bytes(), sample_info(), Panel(tuple(experts)))
    (folder / PROJECT_FILE).write_bytes(data)
    _info, panel = load_project(folder)
    assert panel.by_id("E03").excused == REASON and panel.by_id("E02").excused == ""
    result = _cli("consolidate", str(folder), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["panel"]["excused"] == [
        {"expert_id": "E03", "expert": experts[2].name, "reason": REASON}]
    with pytest.raises(QiError, match=f"{PANEL_SHEET}.*未参加原因"):
        undo_excuse(folder, "E03")


def test_an_excused_members_accepted_workbook_is_left_out(folder: Path) -> None:
    excuse(folder, "E03", REASON)
    excuse(folder, "E02", "回避：与申请方有利害关系")  # E02's workbook was accepted
    result = _cli("consolidate", str(folder))
    assert result.exit_code == 0, result.output
    assert "注意：E02 已登记请假，其评分表未计入汇总" in result.output
    data = json.loads(_cli("consolidate", str(folder), "--json").output)
    assert data["experts"] == 5 and [x["expert_id"] for x in data["panel"]["excused"]] == ["E02", "E03"]
