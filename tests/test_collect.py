"""collect / load_accepted / panel_status on real evaluation folders and real returned files."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime, timezone
from email.message import EmailMessage
from pathlib import Path

import pytest
from openpyxl import load_workbook

from qi_excel import evaluation as ev
from qi_excel.collect import collect, load_accepted, panel_status, safe_name
from qi_excel.errors import QiError
from qi_excel.package import MAX_FILE_BYTES
from qi_excel.rubric import shipped_rubric
from shared_corpus import CORPUS
from xlsx_edit import META_PART, edit_part, full_scores, issued_bytes, put, returned, set_cell

RUBRIC = shipped_rubric()


def snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    return {str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def by_file(result) -> dict[str, object]:
    return {Path(f.file).name: f for f in result.files}


def eml(sender: str, attachments: list[tuple[str, bytes, str]], date: str = "Wed, 18 Jun 2025 18:00:00 +0800") -> bytes:
    msg = EmailMessage()
    msg["From"] = f"专家 <{sender}>"
    msg["To"] = "organizer@example.cn"
    msg["Subject"] = "评分表"
    msg["Date"] = date
    msg.set_content("附件是评分表，请查收。")
    for name, data, mime in attachments:
        main, sub = mime.split("/")
        msg.add_attachment(data, maintype=main, subtype=sub, filename=name)
    return msg.as_bytes()


def test_inbox_mixture(issued_folder: Path) -> None:
    inbox = issued_folder / ev.INBOX_DIR
    put(inbox / "周立新.xlsx", returned(issued_folder, "E01", "周立新"))
    put(inbox / "陈晓岚.xlsx", returned(issued_folder, "E02", "陈晓岚", scores=full_scores(RUBRIC) | {"1.1.1": 8}))
    put(inbox / "自评.xlsx", returned(issued_folder, "SELF", "黄志强"))
    put(inbox / "空白.xlsx", issued_bytes(issued_folder, "E03"))
    put(inbox / "说明.txt", "请查收".encode())
    put(inbox / "~$周立新.xlsx", b"lock file of an open workbook")
    if CORPUS.is_dir():
        put(inbox / "autofilter00.xlsx", (CORPUS / "autofilter00.xlsx").read_bytes())
    before = snapshot(inbox)

    result = collect(issued_folder)
    files = by_file(result)
    assert "~$周立新.xlsx" not in files
    assert files["周立新.xlsx"].status == "accepted" and files["周立新.xlsx"].findings == ()
    assert files["周立新.xlsx"].expert == "周立新" and files["周立新.xlsx"].expert_id == "E01"
    assert files["陈晓岚.xlsx"].status == "accepted"
    assert [f.code for f in files["陈晓岚.xlsx"].findings] == ["REMARK_MISSING"]
    assert files["自评.xlsx"].status == "accepted" and files["自评.xlsx"].kind == "self"
    assert files["空白.xlsx"].status == "rejected" and files["空白.xlsx"].expert_id == "E03"
    assert [f.code for f in files["说明.txt"].findings] == ["NOT_WORKBOOK"]
    if CORPUS.is_dir():
        assert [f.code for f in files["autofilter00.xlsx"].findings] == ["NOT_ISSUED"]
    assert result.exit_code == 1

    assert snapshot(inbox) == before  # sources never modified
    stored = sorted(p.name for p in (issued_folder / ev.ACCEPTED_DIR).glob("*.xlsx"))
    assert len(stored) == 3
    for f in (files["周立新.xlsx"], files["自评.xlsx"]):
        copy = issued_folder / f.stored
        assert f.sha256[:16] in copy.name
        assert hashlib.sha256(copy.read_bytes()).hexdigest() == f.sha256
    ledger = json.loads((issued_folder / ev.LEDGER_FILE).read_text(encoding="utf-8"))
    assert {e["status"] for e in ledger["entries"]} == {"accepted", "rejected"}

    accepted = load_accepted(issued_folder)
    assert [(rw.kind, rw.expert_id) for rw in accepted] == [("expert", "E01"), ("expert", "E02"), ("self", "SELF")]
    assert accepted[1].int_scores()["1.1.1"] == 8

    status = {s.expert_id: s for s in panel_status(issued_folder)}
    assert status["E01"].accepted and status["E01"].state == "已接收"
    assert status["E02"].state == "已接收（1 项提醒）"
    assert not status["E03"].accepted and status["E03"].returned == 1 and "拒收" in status["E03"].state
    assert status["E03"].findings[0].code == "SCORE_BLANK"
    assert status["E04"].state == "已发放，尚未交回" and status["E04"].returned == 0
    assert status["SELF"].accepted


def test_second_run_changes_nothing(issued_folder: Path) -> None:
    inbox = issued_folder / ev.INBOX_DIR
    put(inbox / "a.xlsx", returned(issued_folder, "E01", "周立新"))
    put(inbox / "b.xlsx", issued_bytes(issued_folder, "E02"))
    first = collect(issued_folder)
    state = snapshot(issued_folder)
    second = collect(issued_folder)
    assert snapshot(issued_folder) == state
    assert first.to_json() == second.to_json()


def test_later_arrival_wins_save_time_breaks_ties(issued_folder: Path) -> None:
    inbox = issued_folder / ev.INBOX_DIR
    # arrival decides (issue 11): the file that landed later is the expert's latest word
    older = returned(issued_folder, "E01", "周立新", saved_at="2025-06-18T09:00:00Z")
    newer = returned(issued_folder, "E01", "周立新", saved_at="2025-06-19T09:00:00Z",
                     scores=full_scores(RUBRIC) | {"1.1.1": 9}, remarks={"1.1.1": "复核后扣 1 分"})
    put(inbox / "第一版.xlsx", older, mtime=1_750_240_800)  # 2025-06-18T10:00Z
    put(inbox / "第二版.xlsx", newer, mtime=1_750_327_200)  # 2025-06-19T10:00Z
    result = by_file(collect(issued_folder))
    assert result["第二版.xlsx"].status == "accepted"
    assert result["第一版.xlsx"].status == "superseded"
    sup = result["第一版.xlsx"].findings[-1]
    assert sup.code == "SUPERSEDED" and "第二版.xlsx" in sup.message
    local = datetime(2025, 6, 19, 10, 0, tzinfo=timezone.utc).astimezone()
    shown = f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"
    assert f"收到于 {shown}）" in sup.message  # wall-clock time as people write it, not ISO 8601
    assert (issued_folder / result["第一版.xlsx"].stored).is_file()  # kept
    assert load_accepted(issued_folder)[0].int_scores()["1.1.1"] == 9
    assert not [f for f in result["第二版.xlsx"].findings if f.code == "ORDER_DOUBT"]

    # arrived in the same second: the save time is the hint that decides
    put(inbox / "第三版.xlsx", returned(issued_folder, "E01", "周立新 ", saved_at="2025-06-19T09:30:00Z"),
        mtime=1_750_327_200)
    result = by_file(collect(issued_folder))
    assert result["第三版.xlsx"].status == "accepted" and result["第二版.xlsx"].status == "superseded"


def test_later_return_in_a_later_run_supersedes(issued_folder: Path, tmp_path: Path) -> None:
    first = put(tmp_path / "v1.xlsx", returned(issued_folder, "E05", "李建国", saved_at="2025-06-18T08:00:00Z"))
    assert collect(issued_folder, [first]).files[0].status == "accepted"
    second = put(tmp_path / "v2.xlsx", returned(issued_folder, "E05", "李建国", saved_at="2025-06-18T12:00:00Z",
                                                 scores=full_scores(RUBRIC) | {"1.2.1": 5}, remarks={"1.2.1": "无规划"}))
    assert collect(issued_folder, [second]).files[0].status == "accepted"
    again = collect(issued_folder, [first]).files[0]
    assert again.status == "superseded" and again.findings[-1].code == "SUPERSEDED"
    assert load_accepted(issued_folder)[0].int_scores()["1.2.1"] == 5


def test_rejected_return_is_superseded_by_a_later_correction(issued_folder: Path, tmp_path: Path) -> None:
    bad = put(tmp_path / "错.xlsx", returned(issued_folder, "E03", "刘卫东", saved_at="2025-06-18T08:00:00Z",
                                           scores=full_scores(RUBRIC) | {"2.3.4": 8}))
    first = collect(issued_folder, [bad])
    assert first.files[0].status == "rejected" and first.exit_code == 1
    fixed = put(tmp_path / "改.xlsx", returned(issued_folder, "E03", "刘卫东", saved_at="2025-06-18T11:00:00Z"))
    result = by_file(collect(issued_folder, [bad, fixed]))
    assert result["改.xlsx"].status == "accepted"
    old = result["错.xlsx"]
    assert old.status == "superseded"  # no longer someone to chase
    assert [f.code for f in old.findings] == ["SCORE_NOT_ALLOWED", "SUPERSEDED"]
    assert collect(issued_folder, [bad, fixed]).exit_code == 0


def test_rejected_return_saved_after_the_accepted_one_stays_rejected(issued_folder: Path, tmp_path: Path) -> None:
    good = put(tmp_path / "好.xlsx", returned(issued_folder, "E03", "刘卫东", saved_at="2025-06-18T08:00:00Z"))
    worse = put(tmp_path / "后.xlsx", returned(issued_folder, "E03", "刘卫东", saved_at="2025-06-18T11:00:00Z",
                                            scores=full_scores(RUBRIC) | {"2.3.4": 8}))
    result = by_file(collect(issued_folder, [good, worse]))
    assert result["好.xlsx"].status == "accepted" and result["后.xlsx"].status == "rejected"


def test_unattributable_file_is_never_superseded(issued_folder: Path, tmp_path: Path) -> None:
    data = returned(issued_folder, "E03", "刘卫东", saved_at="2025-06-18T08:00:00Z")
    # someone edits the hidden identity: the signed expert name no longer matches
    forged = edit_part(data, META_PART, lambda xml: set_cell(xml, "B4", text="刘卫冬"))
    stranger = put(tmp_path / "伪.xlsx", forged)
    fixed = put(tmp_path / "改.xlsx", returned(issued_folder, "E03", "刘卫东", saved_at="2025-06-18T11:00:00Z"))
    result = by_file(collect(issued_folder, [stranger, fixed]))
    assert result["伪.xlsx"].status == "rejected"
    assert result["伪.xlsx"].findings[0].code in {"BAD_SIGNATURE", "UNKNOWN_EXPERT"}


def test_eml_with_good_and_hostile_attachment(issued_folder: Path, tmp_path: Path) -> None:
    tmp_path = tmp_path / "mail" / "box"
    tmp_path.mkdir(parents=True)
    good = returned(issued_folder, "E04", "王芳")
    mail = put(tmp_path / "来自王芳.eml", eml("wangfang@example.com", [
        ("04-王芳-评分表.xlsx", good, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ("../../evil.xlsx", b"#!/bin/sh\nrm -rf /\n", "application/octet-stream"),
        ("照片.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "image/png"),
    ]))
    before = snapshot(tmp_path)
    result = collect(issued_folder, [mail])
    files = {f.file: f for f in result.files}
    ok = files[f"{mail}[04-王芳-评分表.xlsx]"]
    assert ok.status == "accepted" and ok.expert_id == "E04"
    evil = files[f"{mail}[evil.xlsx]"]
    assert evil.status == "rejected" and [f.code for f in evil.findings] == ["NOT_WORKBOOK"]
    png = files[f"{mail}[照片.png]"]
    assert png.status == "rejected" and "照片.png" in png.findings[0].message
    assert result.exit_code == 1
    assert snapshot(tmp_path) == before
    assert not list(tmp_path.parent.parent.rglob("evil*"))
    assert (issued_folder / ok.stored).read_bytes() == good


def test_eml_without_attachment(issued_folder: Path, tmp_path: Path) -> None:
    mail = put(tmp_path / "空邮件.eml", eml("wangfang@example.com", []))
    f = collect(issued_folder, [mail]).files[0]
    assert f.status == "rejected" and [x.code for x in f.findings] == ["NO_ATTACHMENT"]


def test_self_evaluation_sent_by_expert_mail(issued_folder: Path, tmp_path: Path) -> None:
    data = returned(issued_folder, "SELF", "黄志强")
    mail = put(tmp_path / "m.eml", eml("wangfang@example.com", [("自评.xlsx", data, "application/octet-stream")]))
    f = collect(issued_folder, [mail]).files[0]
    assert f.status == "rejected" and f.findings[0].code == "SELF_AS_EXPERT"


def test_same_content_twice_is_one_file(issued_folder: Path, tmp_path: Path) -> None:
    data = returned(issued_folder, "E06", "赵敏")
    a = put(tmp_path / "赵敏.xlsx", data)
    mail = put(tmp_path / "赵敏.eml", eml("zhaomin@example.com", [("赵敏.xlsx", data, "application/octet-stream")]))
    result = collect(issued_folder, [a, mail])
    assert [f.status for f in result.files] == ["accepted", "superseded"]
    assert result.files[1].findings[-1].code == "DUPLICATE" and "赵敏.xlsx" in result.files[1].findings[-1].message
    assert result.exit_code == 0
    assert len(list((issued_folder / ev.ACCEPTED_DIR).glob("*.xlsx"))) == 1


def test_too_large_file_is_not_read(issued_folder: Path, tmp_path: Path) -> None:
    big = tmp_path / "大文件.xlsx"
    with big.open("wb") as fh:
        fh.truncate(MAX_FILE_BYTES + 1)
    ok = put(tmp_path / "ok.xlsx", returned(issued_folder, "E07", "孙浩然"))
    result = collect(issued_folder, [big, ok])
    assert [f.findings[0].code if f.findings else None for f in result.files] == ["TOO_LARGE", None]


def test_check_report_workbook(issued_folder: Path, tmp_path: Path) -> None:
    inbox = issued_folder / ev.INBOX_DIR
    put(inbox / "a.xlsx", returned(issued_folder, "E01", "周立新", scores=full_scores(RUBRIC) | {"1.1.1": 3}))
    put(inbox / "=HYPERLINK(1).xlsx", issued_bytes(issued_folder, "E02"))
    result = collect(issued_folder)
    wb = load_workbook(result.report)
    ws = wb["检查结果"]
    assert [c.value for c in ws[2]][:8] == ["序号", "专家编号", "专家", "文件", "状态", "级别", "问题类型", "单元格"]
    assert ws.auto_filter.ref and ws.freeze_panes == "A3"
    rows = [[c.value for c in r] for r in ws.iter_rows(min_row=3)]
    assert any(r[6] == "分值不允许" and r[7] == "评分表!G5" and r[5] == "拒收" for r in rows)
    assert all(c.data_type != "f" for r in ws.iter_rows() for c in r)
    assert wb["专家进度"]["A3"].value == "E01"
    assert ws.page_setup.orientation == "landscape"


def test_usage_errors(issued_folder: Path, tmp_path: Path) -> None:
    with pytest.raises(QiError, match="找不到"):
        collect(issued_folder, [tmp_path / "没有这个文件.xlsx"])
    with pytest.raises(QiError, match="不是评价目录"):
        collect(tmp_path)


def test_safe_name() -> None:
    assert safe_name("../../evil.xlsx") == "evil.xlsx"
    assert safe_name("..\\..\\C:\\Windows\\x.xlsx") == "x.xlsx"
    assert safe_name("a\x00b\r\n.xlsx") == "ab.xlsx"
    assert safe_name("...") == "附件"
    assert len(safe_name("很长" * 200 + ".xlsx")) <= 120 and safe_name("很长" * 200 + ".xlsx").endswith(".xlsx")


# ───────────────────── adversarial review ─────────────────────


def test_link_in_inbox_is_reported_not_followed(issued_folder: Path, tmp_path: Path) -> None:
    """Whatever lands in the inbox may point anywhere: a link is reported, never read."""
    secret = tmp_path / "secret.xlsx"
    secret.write_bytes(returned(issued_folder, "E02", "陈晓岚"))
    inbox = issued_folder / ev.INBOX_DIR
    put(inbox / "01.xlsx", returned(issued_folder, "E01", "周立新"))
    (inbox / "02-link.xlsx").symlink_to(secret)
    (inbox / "linked-folder").symlink_to(tmp_path, target_is_directory=True)
    result = collect(issued_folder)
    files = by_file(result)
    assert files["01.xlsx"].status == "accepted"
    for name in ("02-link.xlsx", "linked-folder"):
        assert files[name].status == "rejected" and [f.code for f in files[name].findings] == ["READ_FAILED"]
    assert not any(e.expert_id == "E02" for e in load_accepted(issued_folder))


def test_pipe_named_on_the_command_line_is_not_read(issued_folder: Path, tmp_path: Path) -> None:
    import signal

    fifo = tmp_path / "pipe.xlsx"
    os.mkfifo(fifo)
    signal.signal(signal.SIGALRM, lambda *_: pytest.fail("collect blocked on a pipe"))
    signal.alarm(20)
    try:
        result = collect(issued_folder, [fifo])
    finally:
        signal.alarm(0)
    assert [f.code for f in result.files[0].findings] == ["READ_FAILED"]


def test_winmail_dat_is_explained(issued_folder: Path, tmp_path: Path) -> None:
    mail = put(tmp_path / "outlook.eml", eml("zhou@example.cn", [
        ("winmail.dat", b"\x78\x9f\x3e\x22" + bytes(200), "application/ms-tnef")]))
    f = collect(issued_folder, [mail]).files[0]
    assert f.status == "rejected" and f.findings[0].code == "NOT_WORKBOOK" and "Outlook" in f.findings[0].message


def test_console_line_escapes_control_characters_in_names(issued_folder: Path, tmp_path: Path) -> None:
    """A file name is sender-controlled: it must not break the line or drive the terminal."""
    bad = put(tmp_path / "a\nb\x1b[2J.xlsx", b"PK\x03\x04junk")
    line = collect(issued_folder, [bad]).files[0].summary()
    assert "\n" not in line and "\x1b" not in line and "\\n" in line


def test_one_hostile_file_among_good_ones(issued_folder: Path) -> None:
    """A score of 1E999999999 (whose int() never ends) and 1E30 (quantize overflow) beside good files."""
    from xlsx_edit import SCORE_PART, edit_part, score_ref

    inbox = issued_folder / ev.INBOX_DIR
    ref = score_ref(RUBRIC, RUBRIC.score_cells[0].id)
    put(inbox / "01.xlsx", edit_part(returned(issued_folder, "E01", "周立新"), SCORE_PART,
                                     lambda x: set_cell(x, ref, number="1E999999999")))
    put(inbox / "02.xlsx", edit_part(returned(issued_folder, "E02", "陈晓岚"), SCORE_PART,
                                     lambda x: set_cell(x, ref, number="1E30")))
    put(inbox / "03.xlsx", returned(issued_folder, "E03", "刘卫东"))
    before = snapshot(inbox)
    files = by_file(collect(issued_folder))
    assert [(f.code, f.cell) for f in files["01.xlsx"].findings] == [("SCORE_TEXT", f"评分表!{ref}")]
    assert [(f.code, f.cell) for f in files["02.xlsx"].findings] == [("SCORE_NOT_ALLOWED", f"评分表!{ref}")]
    assert files["03.xlsx"].status == "accepted"
    assert snapshot(inbox) == before
