"""End to end: issue to a 7-member panel, fill with known scores, collect, consolidate.

All cells are filled with their maximum except three items, so the panel result can be
worked out by hand (see ``KNOWN``); the expectations below are that hand computation.
"""

from __future__ import annotations

import json
import zipfile
from datetime import date, datetime
from decimal import Decimal as D
from pathlib import Path

import pytest
from click.testing import CliRunner

from qi_excel import evaluation as ev
from qi_excel.cli import main
from qi_excel.collect import collect
from qi_excel.consolidation_step import load_consolidation
from qi_excel.errors import QiError
from qi_excel.rubric import shipped_rubric
from qi_excel.simulate import ExpertFill, fill_workbook

HYPERLINK = '=HYPERLINK("http://x","y")'

# E01..E07; every other cell at its maximum
KNOWN = {
    "1.1.1": [10, 9, 9, 8, 5, 10, 0],  # max 10, allowed 0 / 5~9 / 10
    "2.4.1.1": [5, 4, 4, 3, 5, 5, 4],  # parts of 2.4.1 (max 5 each, 12 parts, item max 60)
    "2.4.1.2": [5, 5, 5, 5, 5, 5, 1],
    "3.4.1": [60, 30, 30, 25, 60, 60, 30],  # max 60, allowed 0 / 5~30 / 60
}

# Hand computation, n = 7:
#   1.1.1   sum 51 → 51/7 = 7.2857 → 7.29 | trimmed: drop 0 and a 10 → 41/5 = 8.20 | median 9
#   2.4.1.1 sum 30 → 4.2857 → 4.29       | drop 3 and a 5 → 22/5 = 4.40             | median 4
#   2.4.1.2 sum 31 → 4.4286 → 4.43       | drop 1 and a 5 → 5.00                    | median 5
#   2.4.1 = parts: mean 4.29 + 4.43 + 10·5 = 58.72 | trimmed 59.40 | median 59.00
#   3.4.1   sum 295 → 42.1429 → 42.14    | drop 25 and a 60 → 210/5 = 42.00         | median 30
EXPECTED = {
    "mean": {"1.1.1": "7.29", "2.4.1": "58.72", "3.4.1": "42.14",
             # 1000 − (10 − 7.29) − (60 − 58.72) − (60 − 42.14) = 1000 − 21.85
             "total": "978.15",
             "level1": {"组织管理": "97.29", "服务平台建设": "398.72", "服务实施": "282.14", "服务效果": "200.00"}},
    "trimmed": {"1.1.1": "8.20", "2.4.1": "59.40", "3.4.1": "42.00", "total": "979.60",
                "level1": {"组织管理": "98.20", "服务平台建设": "399.40", "服务实施": "282.00", "服务效果": "200.00"}},
    "median": {"1.1.1": "9.00", "2.4.1": "59.00", "3.4.1": "30.00", "total": "968.00",
               "level1": {"组织管理": "99.00", "服务平台建设": "399.00", "服务实施": "270.00", "服务效果": "200.00"}},
}
# the experts' own totals: E01 1000, E02 968, E03 968, E04 961, E05 995, E06 1000, E07 955
EXPERT_TOTALS = [1000, 968, 968, 961, 995, 1000, 955]


def _fill(folder: Path, *, experts: int = 7, self_eval: bool = True) -> None:
    """Type the known scores into the issued workbooks and drop them into the inbox."""
    rubric = shipped_rubric()
    inbox = folder / ev.INBOX_DIR
    inbox.mkdir(exist_ok=True)
    for rec in ev.load_issued(folder):
        scores = {c.id: c.max for c in rubric.score_cells}
        remarks: dict[str, str] = {}
        suggestions: list[tuple[str, str]] = []
        if rec.kind == "self":
            if not self_eval:
                continue
            scores["3.4.1"] = 30
        else:
            k = int(rec.expert_id[1:]) - 1
            if k >= experts:
                continue
            for cell, values in KNOWN.items():
                scores[cell] = values[k]
            if k == 6:
                remarks["1.1.1"] = HYPERLINK
            if k == 1:
                suggestions.append((HYPERLINK, "1.1"))
            suggestions.append((f"{rec.name}的建议：完善持续改进机制", "3.4.1"))
        data = fill_workbook((folder / rec.file).read_bytes(), rubric, ExpertFill(
            scores, remarks, suggestions, sign_name=rec.name, sign_date=date(2024, 5, 20),
            saved_at=datetime(2024, 5, 20, 16, 0),
        ))
        (inbox / Path(rec.file).name).write_bytes(data)
    result = collect(folder)
    assert all(f.status == "accepted" for f in result.files), [(f.file, f.findings) for f in result.files]


def _run(*args: str):
    return CliRunner().invoke(main, ["consolidate", *args])


@pytest.mark.parametrize("method", ["mean", "trimmed", "median"])
def test_three_methods_equal_the_hand_computation(issued_folder, method):
    _fill(issued_folder)
    result = _run(str(issued_folder), "--method", method, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    want = EXPECTED[method]
    assert set(data) == {"method", "experts", "total", "level1", "level2", "items", "divergent",
                         "agreement", "leniency", "panel"}
    assert data["panel"] == {"members": 7, "counted": 7, "excused": []}
    assert data["method"] == method and data["experts"] == 7  # the self-evaluation is not an expert
    assert data["total"] == want["total"]
    assert data["level1"] == want["level1"]
    for item in ("1.1.1", "2.4.1", "3.4.1"):
        assert data["items"][item] == want[item]
    assert data["items"]["1.1.2"] == "10.00" and len(data["items"]) == 54
    assert data["level2"]["持续改进"] == str(D(100) - (D(60) - D(want["3.4.1"])))
    # 1.1.1 spread 10 > 3 and 3.4.1 spread 35 > 18; 2.4.1 item sums 55..60, spread 5 ≤ 18
    assert data["divergent"] == ["1.1.1", "3.4.1"]

    c = load_consolidation(issued_folder)
    assert str(c.total) == want["total"] and c.method == method
    assert [int(e.total) for e in c.experts] == EXPERT_TOTALS
    assert c.self_total == 970
    assert (issued_folder / ev.SUMMARY_FILE).is_file()


def test_text_output_names_total_levels_divergence_and_workbook(issued_folder):
    _fill(issued_folder)
    result = _run(str(issued_folder), "--deviation", "25")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "总分：978.15 分" in out and "得分率 97.82%" in out  # 978.15 / 1000
    assert "服务平台建设" in out and "398.72" in out
    assert "1.1.1 机构管理 第1项：极差 10 分" in out and "3.4.1 持续改进 第1项：极差 35 分" in out
    # others' mean for E01: (5847)/6 = 974.5 → +25.50; E07: 955 − 5892/6 = −27.00
    assert "比其他专家平均总分高 25.50 分" in out and "比其他专家平均总分低 27.00 分" in out
    assert "申请方自评总分：970 分（未计入专家组得分）" in out
    assert ev.SUMMARY_FILE in out and "【草稿】" not in out
    assert "专家组意见.docx" in out and (issued_folder / "专家组意见.docx").is_file()


def test_spread_option_and_bad_values(issued_folder):
    _fill(issued_folder)
    result = _run(str(issued_folder), "--spread", "60%", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["divergent"] == ["1.1.1"]  # 35 ≤ 36 for 3.4.1; 10 > 6 for 1.1.1
    result = _run(str(issued_folder), "--spread", "abc")
    assert result.exit_code == 2 and "不是数字" in result.output
    result = _run(str(issued_folder), "--spread", "2")
    assert result.exit_code == 3 and "错误：分歧比例" in result.output and "Traceback" not in result.output


def test_fewer_than_five_refused_unless_draft(issued_folder):
    _fill(issued_folder, experts=4, self_eval=False)
    result = _run(str(issued_folder))
    assert result.exit_code == 3
    assert "李建国（E05）、赵敏（E06）、孙浩然（E07）还没有已接收的评分表" in result.output
    assert "计入评分的专家只有 4 人，少于规范 7.2 条要求的 5 人，只能加 --draft" in result.output
    assert not (issued_folder / ev.SUMMARY_FILE).exists()
    with pytest.raises(QiError, match="还没有汇总结果"):
        load_consolidation(issued_folder)

    result = _run(str(issued_folder), "--draft")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("【草稿】本次汇总只有 4 位专家")
    c = load_consolidation(issued_folder)
    assert c.draft and len(c.experts) == 4 and c.self_total is None
    with zipfile.ZipFile(issued_folder / ev.SUMMARY_FILE) as z:
        strings = z.read("xl/sharedStrings.xml").decode("utf-8")
        sheet1 = z.read("xl/worksheets/sheet1.xml").decode("utf-8")
    assert "【草稿】" in strings  # every title
    assert "草稿" in sheet1.split("<headerFooter", 1)[1]  # and the printed page header


def test_missing_folder_and_damaged_record(tmp_path, issued_folder):
    result = _run(str(tmp_path / "nope"))
    assert result.exit_code == 3 and "不存在" in result.output
    (issued_folder / ev.CONSOLIDATION_FILE).write_text("{broken", encoding="utf-8")
    with pytest.raises(QiError, match="已损坏"):
        load_consolidation(issued_folder)


def test_draft_on_a_full_panel_does_not_claim_experts_are_missing(issued_folder):
    _fill(issued_folder, experts=7, self_eval=False)
    result = _run(str(issued_folder), "--draft")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("【草稿】") and "只有" not in result.output
    assert load_consolidation(issued_folder).draft


def test_panel_members_not_counted_are_named(issued_folder):
    _fill(issued_folder, experts=5, self_eval=False)
    result = _run(str(issued_folder))  # a final result needs every member (or an excusal)
    assert result.exit_code != 0
    assert "赵敏（E06）、孙浩然（E07）还没有已接收的评分表" in result.output
    assert "qi-excel excuse" in result.output and not (issued_folder / ev.SUMMARY_FILE).exists()
    result = _run(str(issued_folder), "--draft")
    assert result.exit_code == 0, result.output
    c = load_consolidation(issued_folder)
    assert len(c.experts) == 5 and c.not_counted == ("赵敏（E06）", "孙浩然（E07）")
    assert "注意：专家组中 赵敏（E06）、孙浩然（E07） 没有已接收的评分表，未计入汇总" in result.output


def test_full_panel_has_no_such_note(issued_folder):
    _fill(issued_folder, experts=7, self_eval=False)
    result = _run(str(issued_folder))
    assert "未计入汇总" not in result.output and load_consolidation(issued_folder).not_counted == ()
