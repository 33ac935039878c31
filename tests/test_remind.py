"""`qi-excel remind`: drafts for exactly the members without an accepted return."""

from __future__ import annotations

import email
import hashlib
import json
from datetime import UTC, datetime
from email import policy
from pathlib import Path

from click.testing import CliRunner
from xlsx_edit import fill, issued_bytes

from qi_excel import layout as L
from qi_excel.checks import finding
from qi_excel.cli import main
from qi_excel.collect import collect
from qi_excel.demo import _mail
from qi_excel.evaluation import INBOX_DIR, load_issued, sample_info
from qi_excel.remind import (
    REMIND_DIR,
    deadline_from,
    finding_lines,
    load_excused,
    remind,
)
from qi_excel.rubric import shipped_rubric

RUBRIC = shipped_rubric()


def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _message(path: Path):
    return email.message_from_bytes(path.read_bytes(), policy=policy.default)


def _attachment(msg) -> tuple[str, bytes]:
    (part,) = list(msg.iter_attachments())
    return part.get_filename(), part.get_payload(decode=True)


def _bad_score(data: bytes) -> tuple[bytes, str]:
    """A filled workbook with one score above its maximum, and that cell's reference."""
    cell = RUBRIC.score_cells[0]
    scores = {c.id: c.max for c in RUBRIC.score_cells} | {cell.id: cell.max + 3}
    ref = next(r.score_ref for r in L.score_sheet_layout(RUBRIC).inputs if r.cell == cell)
    return fill(data, RUBRIC, scores), ref  # signed by the expert it was issued to


def test_deadline_and_pure_helpers(tmp_path: Path) -> None:
    info = sample_info()
    assert deadline_from(info) == "2025年6月18日 17:00前"  # 内部沟通 (8.3)
    no_internal = info._replace(internal_meeting="")
    assert deadline_from(no_internal) == "2025年6月19日 10:00前"  # else 末次会议
    assert deadline_from(info._replace(internal_meeting="", last_meeting="待定")) == ""
    lines = finding_lines([finding("SCORE_BLANK", "评分表!G7（x）没有打分", "评分表!G7"),
                           finding("PROTECTION_REMOVED", "保护被撤销"),
                           finding("NOT_ISSUED", "不是本次评价的工作簿")])
    assert lines == ["1．评分表!G7（x）没有打分", "2．整个文件：不是本次评价的工作簿"]  # warnings left out
    assert load_excused(tmp_path) == set()
    (tmp_path / ".qi").mkdir()
    for content in ('["E03"]', '[{"expert_id": "E03"}]', '{"E03": {"reason": "生病"}}', '{"excused": ["E03"]}'):
        (tmp_path / ".qi" / "excused.json").write_text(content, encoding="utf-8")
        assert load_excused(tmp_path) == {"E03"}


def test_remind_follows_collect(tmp_path: Path) -> None:
    folder = tmp_path / "评价"
    assert _run("new", folder, "--sample").exit_code == 0
    assert _run("issue", folder, "--eml").exit_code == 0
    issued = {r.expert_id: r for r in load_issued(folder)}

    # nothing returned yet: everybody is reminded, their own issued workbook attached again
    result = _run("remind", folder, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [(r["expert_id"], r["reason"]) for r in data["reminders"]] == [(f"E0{i}", "missing") for i in range(1, 8)]
    for r in data["reminders"]:
        msg = _message(folder / r["file"])
        assert msg["X-Unsent"] == "1" and r["expert"] in str(msg["To"])
        name, payload = _attachment(msg)
        record = issued[r["expert_id"]]
        assert name == Path(record.file).name and hashlib.sha256(payload).hexdigest() == record.sha256
        assert "2025年6月18日 17:00前" in msg.get_body().get_content()

    # 周立新 returns a good workbook, 刘卫东 one with a score above the maximum, 陈晓岚 a bad one by mail
    inbox = folder / INBOX_DIR
    (inbox / "01.xlsx").write_bytes(fill(issued_bytes(folder, "E01"), RUBRIC, sign="周立新"))
    bad, bad_ref = _bad_score(issued_bytes(folder, "E03"))
    (inbox / "03.xlsx").write_bytes(bad)
    mailed, _ = _bad_score(issued_bytes(folder, "E02"))
    when = datetime(2025, 6, 18, 12, tzinfo=UTC)
    (inbox / "02.eml").write_bytes(_mail("chenxiaolan@example.com", "org@example.cn", "回复", "见附件",
                                         "02-陈晓岚-评分表.xlsx", mailed, when))
    statuses = {f.expert_id: f.status for f in collect(folder).files}
    assert statuses == {"E01": "accepted", "E02": "rejected", "E03": "rejected"}

    result = _run("remind", folder, "--json")
    data = json.loads(result.output)
    got = {r["expert_id"]: r for r in data["reminders"]}
    assert sorted(got) == ["E02", "E03", "E04", "E05", "E06", "E07"]  # exactly those without an accepted return
    assert got["E03"]["reason"] == "rejected" and got["E02"]["reason"] == "rejected"
    assert {got[e]["reason"] for e in ("E04", "E05", "E06", "E07")} == {"missing"}
    for eid, sent in (("E03", bad), ("E02", mailed)):
        msg = _message(folder / got[eid]["file"])
        body = msg.get_body().get_content()
        assert f"{L.SCORE_SHEET}!{bad_ref}" in body and "允许的分值" in body
        name, payload = _attachment(msg)
        assert payload == sent  # their own returned file, for correction
    assert _attachment(_message(folder / got["E02"]["file"]))[0] == "02-陈晓岚-评分表.xlsx"
    # the accepted member's earlier reminder is gone; only current drafts remain
    drafts = sorted(p.name for p in (folder / REMIND_DIR).iterdir())
    assert drafts == sorted(Path(r["file"]).name for r in data["reminders"])
    assert not any(name.startswith("01-") for name in drafts)

    # an excused member gets nothing
    (folder / ".qi" / "excused.json").write_text('["E04"]', encoding="utf-8")
    result = remind(folder)
    assert [r.expert_id for r in result.reminders] == ["E02", "E03", "E05", "E06", "E07"]
    text = _run("remind", folder).output
    assert "刘卫东（E03）被拒收，需更正 1 项" in text and "王芳" not in text


def test_remind_before_issue(sample_folder: Path) -> None:
    result = _run("remind", sample_folder)
    assert result.exit_code != 0 and "还没有发放" in result.output


def test_a_damaged_ledger_entry_does_not_stop_the_reminders(tmp_path: Path) -> None:
    """collect keeps entries it cannot use as they are; remind must skip them, not crash."""
    folder = tmp_path / "评价"
    assert _run("new", folder, "--sample").exit_code == 0
    assert _run("issue", folder).exit_code == 0
    (folder / INBOX_DIR / "01.xlsx").write_bytes(fill(issued_bytes(folder, "E01"), RUBRIC, sign="周立新"))
    collect(folder)
    path = folder / "回收" / "ledger.json"
    ledger = json.loads(path.read_text(encoding="utf-8"))
    ledger["entries"] += ["不是记录", {"expert_id": "E02", "ok": True}]
    path.write_text(json.dumps(ledger, ensure_ascii=False), encoding="utf-8")
    result = _run("remind", folder, "--json")
    assert result.exit_code == 0, result.output
    assert [r["expert_id"] for r in json.loads(result.output)["reminders"]] == [f"E0{i}" for i in range(2, 8)]
