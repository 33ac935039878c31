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


def test_collect_prints_why_a_file_is_rejected(issued_folder: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(fill(issued_bytes(issued_folder, "E02"), RUBRIC, full_scores(RUBRIC) | {"1.1.1": 4}, sign="陈晓岚"))
    res = CliRunner().invoke(main, ["collect", str(issued_folder), str(bad)])
    assert res.exit_code == 1
    lines = res.output.splitlines()
    assert lines[0].startswith("[拒收] 陈晓岚（E02）")
    assert lines[1].startswith("    评分表!G5") and "4 分" in lines[1]


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
    assert set(first) == SHARED_KEYS | {"stored"}
    assert first["file"] == str(bad) and first["name"] == "陈晓岚" and first["status"] == "rejected"
    assert first["expert_id"] == "E02" and first["kind"] == "expert" and first["stored"] is None
    f = next(f for f in first["findings"] if f["code"] == "SCORE_NOT_ALLOWED")
    assert set(f) == {"code", "severity", "cell", "message"} and f["cell"] == "评分表!G5" and f["severity"] == "error"
    assert second["expert_id"] is None and second["name"] is None and second["findings"][0]["cell"] is None


# The keys every item of ``collect --json`` and ``status --json`` has, whatever else each adds.
SHARED_KEYS = {"expert_id", "name", "kind", "status", "file", "findings"}


def test_data_errors_exit_3_usage_errors_exit_2(issued_folder: Path, tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["collect", str(issued_folder), str(tmp_path / "nope.xlsx")])
    assert res.exit_code == 3 and "错误：" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(main, ["collect", str(tmp_path / "空目录")])
    assert res.exit_code == 3 and "错误：" in res.output
    res = CliRunner().invoke(main, ["status", str(tmp_path)])
    assert res.exit_code == 3 and "不是评价目录" in res.output
    res = CliRunner().invoke(main, ["status", str(issued_folder), "--no-such-option"])
    assert res.exit_code == 2 and "没有选项 --no-such-option" in res.output
    res = CliRunner().invoke(main, ["status"])
    assert res.exit_code == 2 and "缺少参数" in res.output


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
    # 7 panel members; the issued self-evaluation is listed but not counted as one
    assert lines[-2] == "专家组已接收 1/7 份评分表。"
    assert lines[-1] == "申报单位自评表：已发放，尚未交回。"
    data = json.loads(CliRunner().invoke(main, ["status", str(issued_folder), "--json"]).output)
    assert [e["expert_id"] for e in data["experts"]][:2] == ["E01", "E02"]
    assert data["experts"][0]["accepted"] is True and data["experts"][1]["returned"] == 1
    assert all(SHARED_KEYS <= set(e) for e in data["experts"])
    first, second, third = data["experts"][:3]
    assert (first["status"], first["kind"], first["name"]) == ("accepted", "expert", "周立新")
    assert (second["status"], third["status"], data["experts"][-1]["kind"]) == ("rejected", "issued", "self")
    assert first["file"].startswith("回收/") and second["findings"][0]["severity"] == "error"
    # the same person's item in collect's answer has the same keys and values where they overlap
    again = CliRunner().invoke(main, ["collect", str(issued_folder), str(issued_folder / ev.INBOX_DIR / "b.xlsx"),
                                      "--json"])
    item = json.loads(again.output)["files"][0]
    assert {k: item[k] for k in ("expert_id", "name", "kind", "status")} == \
        {k: second[k] for k in ("expert_id", "name", "kind", "status")}


def test_hostile_inbox_through_a_real_process(issued_folder: Path) -> None:
    """As an organizer runs it: no traceback, one line per file, inputs untouched, a rerun changes nothing."""
    import hashlib
    import os
    import subprocess
    import sys

    from xlsx_edit import SCORE_PART, edit_part, score_ref, set_cell

    inbox = issued_folder / ev.INBOX_DIR
    good = fill(issued_bytes(issued_folder, "E01"), RUBRIC, full_scores(RUBRIC), sign="周立新")
    ref = score_ref(RUBRIC, RUBRIC.score_cells[0].id)
    (inbox / "01.xlsx").write_bytes(good)
    (inbox / "02-huge-number.xlsx").write_bytes(
        edit_part(fill(issued_bytes(issued_folder, "E02"), RUBRIC, sign="陈晓岚"), SCORE_PART,
                  lambda x: set_cell(x, ref, number="1E999999999")))
    (inbox / "03-empty.xlsx").write_bytes(b"")
    (inbox / "04-name\nwith\x1b[31mcontrol.xlsx").write_bytes(good[:500])
    (inbox / "05-link.xlsx").symlink_to("/etc/passwd")
    (inbox / "06-folder.xlsx").mkdir()

    def state(folder: Path) -> dict[str, tuple[str, int]]:
        return {str(p): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
                for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()}

    inputs = state(inbox)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    cmd = [sys.executable, "-m", "qi_excel", "collect", str(issued_folder)]
    first = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert first.returncode == 1, first.stderr
    assert "Traceback" not in first.stderr + first.stdout and "\x1b" not in first.stdout
    lines = [x for x in first.stdout.strip().splitlines() if not x.startswith("    ")]  # reasons indented
    assert len(lines) == 6 and lines[0].startswith("[接收]") and all(x.startswith("[拒收]") for x in lines[1:5])
    reasons = [x for x in first.stdout.splitlines() if x.startswith("    ")]
    assert len(reasons) >= 4
    outputs = state(issued_folder)
    second = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert second.returncode == 1 and second.stdout == first.stdout
    assert state(issued_folder) == outputs and state(inbox) == inputs
    assert not [p for p in issued_folder.rglob(".~tmp-*")]  # atomic writes leave nothing behind


def test_collect_names_who_disagrees_when_someone_else_signed(issued_folder: Path) -> None:
    # 陈晓岚 (E02) fills and signs 周立新's forwarded workbook
    forwarded = fill(issued_bytes(issued_folder, "E01"), RUBRIC, sign="陈晓岚")
    (issued_folder / ev.INBOX_DIR / "转发.xlsx").write_bytes(forwarded)
    res = CliRunner().invoke(main, ["collect", str(issued_folder), "--json"])
    assert res.exit_code == 1
    f = json.loads(res.output)["files"][0]
    assert f["status"] == "rejected"
    mismatch = next(x for x in f["findings"] if x["code"] == "SIGNER_MISMATCH")
    assert "陈晓岚" in mismatch["message"] and "周立新" in mismatch["message"] and mismatch["cell"].startswith("评分表!B")
    status = CliRunner().invoke(main, ["status", str(issued_folder)])
    assert status.exit_code == 0 and "Traceback" not in status.output
