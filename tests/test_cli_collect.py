"""qi-excel collect / status through the command line, on files in tmp_path."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from qi_excel import evaluation as ev
from qi_excel.cli import main
from qi_excel.rubric import shipped_rubric
from xlsx_edit import fill, full_scores, issued_bytes

RUBRIC = shipped_rubric()


def test_collect_all_accepted_exit_0(issued_folder: Path) -> None:
    (issued_folder / ev.INBOX_DIR / "a.xlsx").write_bytes(fill(issued_bytes(issued_folder, "E01"), RUBRIC, sign="周立新"))
    res = CliRunner().invoke(main, ["collect", str(issued_folder)])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0].startswith("[接收] 周立新（E01）") and "拒收问题 0 项，提醒 0 项" in lines[0]
    assert "接收 1 个，拒收 0 个" in lines[-1] and "检查报告.xlsx" in lines[-1]


def test_collect_json_shape_and_exit_1(issued_folder: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(fill(issued_bytes(issued_folder, "E02"), RUBRIC, full_scores(RUBRIC) | {"1.1.1": 4}, sign="陈晓岚"))
    txt = tmp_path / "note.txt"
    txt.write_text("x", encoding="utf-8")
    res = CliRunner().invoke(main, ["collect", str(issued_folder), str(bad), str(txt), "--json"])
    assert res.exit_code == 1
    data = json.loads(res.output)
    assert list(data) == ["files"]
    first, second = data["files"]
    assert set(first) == {"file", "expert", "status", "findings"}
    assert first["file"] == str(bad) and first["expert"] == "陈晓岚" and first["status"] == "rejected"
    f = next(f for f in first["findings"] if f["code"] == "SCORE_NOT_ALLOWED")
    assert set(f) == {"code", "severity", "cell", "message"} and f["cell"] == "评分表!G5" and f["severity"] == "error"
    assert second["expert"] is None and second["findings"][0]["cell"] is None


def test_usage_errors_exit_2(issued_folder: Path, tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["collect", str(issued_folder), str(tmp_path / "nope.xlsx")])
    assert res.exit_code == 2 and "错误：" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(main, ["collect", str(tmp_path / "空目录")])
    assert res.exit_code == 2 and "错误：" in res.output
    res = CliRunner().invoke(main, ["status", str(tmp_path)])
    assert res.exit_code == 2 and "不是评价目录" in res.output


def test_status(issued_folder: Path) -> None:
    (issued_folder / ev.INBOX_DIR / "a.xlsx").write_bytes(fill(issued_bytes(issued_folder, "E01"), RUBRIC, sign="周立新"))
    (issued_folder / ev.INBOX_DIR / "b.xlsx").write_bytes(issued_bytes(issued_folder, "E02"))
    CliRunner().invoke(main, ["collect", str(issued_folder)])
    res = CliRunner().invoke(main, ["status", str(issued_folder)])
    assert res.exit_code == 0
    lines = res.output.splitlines()
    assert lines[0].startswith("E01") and "已接收" in lines[0]
    assert "E02" in lines[1] and "被拒收" in lines[1] and "没有打分" in lines[1]
    assert "尚未交回" in lines[2]
    assert lines[-1] == "已接收 1/8。"
    data = json.loads(CliRunner().invoke(main, ["status", str(issued_folder), "--json"]).output)
    assert [e["expert_id"] for e in data["experts"]][:2] == ["E01", "E02"]
    assert data["experts"][0]["accepted"] is True and data["experts"][1]["returned"] == 1
