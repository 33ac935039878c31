"""Hostile and careless returns (issue 11): the wrong person, the wrong version, a score that
shows one thing and holds another, macros, and files made to crash or stall the reader.

Each case is a real workbook issued by the project's writer and then altered the way a
colleague, a mail client, a wrong clock or an attacker would leave it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from xlsx_edit import (
    CheckContext,
    codes,
    only,
    META_PART,
    SCORE_PART,
    edit_part,
    fill,
    issued_bytes,
    read_part,
    rezip,
)

from qi_excel import layout as L
from qi_excel.checks import has_errors
from qi_excel.evaluation import load_project
from qi_excel.returned import read_returned
from qi_excel.rubric import shipped_rubric

RUBRIC = shipped_rubric()
LAY = L.score_sheet_layout(RUBRIC)
SST = "xl/sharedStrings.xml"
CORE = "docProps/core.xml"


Ctx = CheckContext


@pytest.fixture
def ctx(issued_folder: Path) -> Ctx:
    return Ctx(issued_folder)


# ───────────────────────────── who filled it ─────────────────────────────


def test_own_workbook_signed_by_its_expert_from_roster_address_is_clean(ctx: Ctx) -> None:
    assert ctx.check(ctx.filled("E01"), sender=ctx.email("E01").upper()) == []


def test_forwarded_workbook_signed_by_another_expert_is_rejected(ctx: Ctx) -> None:
    found = ctx.check(ctx.filled("E01", sign=ctx.name("E02")))
    f = only(found, "SIGNER_MISMATCH")[0]
    assert f.severity == "error" and f.cell == f"评分表!{LAY.signature_cell}"
    assert ctx.name("E02") in f.message and ctx.name("E01") in f.message and "E01" in f.message


def test_signature_with_spaces_or_a_suffix_still_matches(ctx: Ctx) -> None:
    spaced = " ".join(ctx.name("E01"))
    assert "SIGNER_MISMATCH" not in codes(ctx.check(ctx.filled("E01", sign=spaced)))
    assert "SIGNER_MISMATCH" not in codes(ctx.check(ctx.filled("E01", sign=ctx.name("E01") + "（签名）")))


def test_signature_of_a_stranger_is_rejected(ctx: Ctx) -> None:
    f = only(ctx.check(ctx.filled("E01", sign="张三")), "SIGNER_MISMATCH")[0]
    assert "张三" in f.message


def test_self_evaluation_signed_by_its_head_is_not_a_signer_mismatch(ctx: Ctx) -> None:
    assert ctx.check(ctx.filled("SELF", sign="黄志强")) == []


def test_workbook_mailed_from_another_experts_roster_address_is_rejected(ctx: Ctx) -> None:
    f = only(ctx.check(ctx.filled("E01"), sender=ctx.email("E02")), "SENDER_MISMATCH")[0]
    assert f.severity == "error" and ctx.email("E02") in f.message and ctx.name("E02") in f.message
    assert ctx.name("E01") in f.message


def test_workbook_mailed_from_an_unknown_address_is_a_warning(ctx: Ctx) -> None:
    found = ctx.check(ctx.filled("E01"), sender="someone@home.example")
    f = only(found, "SENDER_UNKNOWN")[0]
    assert f.severity == "warning" and "someone@home.example" in f.message and not has_errors(found)


def _copied_identity(ctx: Ctx, victim: str, thief: str, **kw) -> bytes:
    """The thief's own filled file carrying the victim's hidden identity sheet and strings."""
    own = ctx.filled(thief, **kw)
    victim_data = issued_bytes(ctx.folder, victim)
    return rezip(own, {META_PART: read_part(victim_data, META_PART), SST: read_part(victim_data, SST)})


def test_copied_identity_sheet_is_caught_by_what_it_leaves_behind(ctx: Ctx) -> None:
    data = _copied_identity(ctx, "E01", "E02", sign=ctx.name("E01"))
    rw = read_returned(data, "t.xlsx", rubric=RUBRIC)
    assert rw.expert_id == "E01" and rw.sign_name == ctx.name("E01")  # the copy is thorough
    found = ctx.check(data)
    mismatch = only(found, "IDENTITY_MISMATCH")
    text = " ".join(f.message for f in mismatch)
    assert ctx.name("E02") in text and ctx.name("E01") in text
    assert "改进建议" in text and "文件属性" in text
    assert has_errors(found)


def test_expert_name_cell_disagreeing_with_identity_is_rejected(ctx: Ctx) -> None:
    data = edit_part(ctx.filled("E01"), SCORE_PART, lambda x: re.sub(
        rf'<c r="{L.EXPERT_NAME_CELL}"([^>]*?) t="s"><v>\d+</v></c>',
        rf'<c r="{L.EXPERT_NAME_CELL}"\1 t="inlineStr"><is><t>{ctx.name("E03")}</t></is></c>', x))
    f = [f for f in only(ctx.check(data), "IDENTITY_MISMATCH") if f.cell == f"评分表!{L.EXPERT_NAME_CELL}"]
    assert f and ctx.name("E03") in f[0].message


def test_file_created_by_another_expert_is_rejected_saved_by_one_is_a_warning(ctx: Ctx) -> None:
    def core(creator: str | None, by: str | None):
        def edit(x: str) -> str:
            if creator:
                x = re.sub(r"<dc:creator>[^<]*", f"<dc:creator>{creator}", x)
            if by:
                x = re.sub(r"<cp:lastModifiedBy>[^<]*", f"<cp:lastModifiedBy>{by}", x)
            return x
        return edit

    saved_by_other = edit_part(ctx.filled("E01"), CORE, core(None, ctx.name("E02")))
    found = ctx.check(saved_by_other)
    f = only(found, "LAST_SAVED_BY_OTHER")[0]
    assert f.severity == "warning" and ctx.name("E02") in f.message and not has_errors(found)
    assistant = edit_part(ctx.filled("E01"), CORE, core(None, "办公室小李"))
    assert ctx.check(assistant) == []
    created_by_other = edit_part(ctx.filled("E01"), CORE, core(ctx.name("E02"), None))
    assert "IDENTITY_MISMATCH" in codes(ctx.check(created_by_other))


# ───────────────────────────── which issue, what it shows, what it runs ─────────────────────────────


def test_workbook_of_an_earlier_issue_warns_reissued(issued_folder: Path) -> None:
    from qi_excel.workbook import issue_workbooks

    old = fill(issued_bytes(issued_folder, "E01"), RUBRIC)
    issue_workbooks(issued_folder, issued_at="2030-01-02T09:00:00+08:00")
    ctx = Ctx(issued_folder)
    assert len([r for r in ctx.issued if r.expert_id == "E01"]) == 2  # the history is kept
    f = only(ctx.check(old), "REISSUED")[0]
    assert f.severity == "warning" and "2030年1月2日 09:00" in f.message
    assert "REISSUED" not in codes(ctx.check(fill(issued_bytes(issued_folder, "E01"), RUBRIC)))


def _with_number_format(data: bytes, ref: str, code: str) -> bytes:
    """Give one score cell a new cell style whose custom number format is ``code``."""
    styles = read_part(data, "xl/styles.xml").decode("utf-8")
    n_xf = int(re.search(r'<cellXfs count="(\d+)"', styles).group(1))
    styles = re.sub(r'<numFmts count="(\d+)">', lambda m: f'<numFmts count="{int(m.group(1)) + 1}">'
                    f'<numFmt numFmtId="199" formatCode="{code}"/>', styles)
    styles = styles.replace(f'<cellXfs count="{n_xf}">', f'<cellXfs count="{n_xf + 1}">').replace(
        "</cellXfs>", '<xf numFmtId="199" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>')
    sheet = read_part(data, SCORE_PART).decode("utf-8")
    sheet = re.sub(rf'(<c r="{ref}") s="\d+"', rf'\1 s="{n_xf}"', sheet)
    return rezip(data, {"xl/styles.xml": styles.encode("utf-8"), SCORE_PART: sheet.encode("utf-8")})


def test_score_cell_showing_another_number_is_rejected(ctx: Ctx) -> None:
    ref = LAY.inputs[3].score_ref
    data = _with_number_format(ctx.filled(), ref, "&quot;5&quot;")
    f = only(ctx.check(data), "SCORE_FORMAT")[0]
    assert f.severity == "error" and f.cell == f"评分表!{ref}" and '"5"' in f.message


@pytest.mark.parametrize("code", ["0", "General", "0.00", "#,##0", "[$-804]General"])
def test_plain_number_formats_on_score_cells_are_fine(ctx: Ctx, code: str) -> None:
    data = _with_number_format(ctx.filled(), LAY.inputs[0].score_ref, code)
    assert "SCORE_FORMAT" not in codes(ctx.check(data))


def test_macro_enabled_package_named_xlsx_is_rejected(ctx: Ctx) -> None:
    from qi_excel.package import ReadError

    good = ctx.filled()
    types = read_part(good, "[Content_Types].xml").decode("utf-8")
    macro = rezip(good, {"[Content_Types].xml": types.replace(
        "spreadsheetml.sheet.main+xml", "sheet.macroEnabled.main+xml").encode("utf-8")},
        add={"xl/vbaProject.bin": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600})
    with pytest.raises(ReadError) as err:
        read_returned(macro, "t.xlsx", rubric=RUBRIC)
    assert err.value.code == "MACRO_ENABLED" and "宏" in str(err.value)
    only_bin = rezip(good, add={"xl/VBAProject.bin": b"x" * 100})
    with pytest.raises(ReadError) as err:
        read_returned(only_bin, "t.xlsx", rubric=RUBRIC)
    assert err.value.code == "MACRO_ENABLED"


# ───────────────────────────── which version counts ─────────────────────────────


def _put(path: Path, data: bytes, mtime: int | None = None) -> Path:
    import os

    path.write_bytes(data)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def _mail(sender: str, name: str, data: bytes, *, received: str | None, date: str) -> bytes:
    from email.message import EmailMessage

    msg = EmailMessage()
    if received:
        msg["Received"] = f"from mx.sender.example by mail.organizer.example; {received}"
    msg["From"] = sender
    msg["To"] = "organizer@example.cn"
    msg["Subject"] = "评分表"
    msg["Date"] = date
    msg.set_content("附件是评分表。")
    msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    return msg.as_bytes()


def _by_name(result) -> dict[str, object]:
    return {Path(f.file).name: f for f in result.files}


def test_clock_at_2099_does_not_make_an_old_draft_win(issued_folder: Path, tmp_path: Path) -> None:
    from qi_excel.collect import collect, load_accepted

    draft = fill(issued_bytes(issued_folder, "E02"), RUBRIC, saved_at="2099-01-01T08:00:00Z")
    fixed = fill(issued_bytes(issued_folder, "E02"), RUBRIC, {c.id: c.max for c in RUBRIC.score_cells} | {"1.1.1": 9},
                 remarks={"1.1.1": "更正"}, saved_at="2025-06-19T09:00:00Z")
    a = _put(tmp_path / "草稿.xlsx", draft, mtime=1_750_240_800)  # arrived 2025-06-18
    b = _put(tmp_path / "更正.xlsx", fixed, mtime=1_750_327_200)  # arrived 2025-06-19
    result = _by_name(collect(issued_folder, [a, b]))
    assert result["更正.xlsx"].status == "accepted" and result["草稿.xlsx"].status == "superseded"
    clock = only(result["草稿.xlsx"].findings, "CLOCK_WRONG")[0]
    assert clock.severity == "warning" and "2099" in clock.message
    assert load_accepted(issued_folder)[0].int_scores()["1.1.1"] == 9


def test_old_mail_dropped_in_after_the_final_does_not_win(issued_folder: Path, tmp_path: Path) -> None:
    from qi_excel.collect import collect, load_accepted

    ctx = Ctx(issued_folder)
    sender = ctx.email("E03")
    final = fill(issued_bytes(issued_folder, "E03"), RUBRIC, {c.id: c.max for c in RUBRIC.score_cells} | {"1.1.1": 9},
                 remarks={"1.1.1": "终稿"}, saved_at="2025-06-19T09:00:00Z")
    first = _put(tmp_path / "终稿.eml", _mail(sender, "终稿.xlsx", final, received="Thu, 19 Jun 2025 10:00:00 +0000",
                                             date="Thu, 19 Jun 2025 10:00:00 +0000"))
    assert collect(issued_folder, [first]).files[0].status == "accepted"
    # found later in the mailbox and saved into the inbox: received earlier, no save time,
    # and a sender clock that says it was written after the final
    draft = fill(issued_bytes(issued_folder, "E03"), RUBRIC, saved_at=None)
    draft = rezip(draft, {CORE: re.sub(rb"<dcterms:modified[^>]*>[^<]*</dcterms:modified>", b"", read_part(draft, CORE))})
    late = _put(tmp_path / "草稿.eml", _mail(sender, "草稿.xlsx", draft, received="Wed, 18 Jun 2025 10:00:00 +0000",
                                            date="Fri, 20 Jun 2025 10:00:00 +0000"))
    result = collect(issued_folder, [first, late])
    status = {f.file.split("[")[0].rsplit("/", 1)[-1]: f.status for f in result.files}
    assert status == {"终稿.eml": "accepted", "草稿.eml": "superseded"}
    assert load_accepted(issued_folder)[0].int_scores()["1.1.1"] == 9


def test_later_file_with_an_older_save_time_wins_with_a_doubt(issued_folder: Path, tmp_path: Path) -> None:
    from qi_excel.collect import collect

    final = fill(issued_bytes(issued_folder, "E04"), RUBRIC, saved_at="2025-06-19T09:00:00Z")
    a = _put(tmp_path / "终稿.xlsx", final, mtime=1_750_327_200)
    assert collect(issued_folder, [a]).files[0].status == "accepted"
    older = fill(issued_bytes(issued_folder, "E04"), RUBRIC, saved_at="2025-06-17T09:00:00Z", sign_date="2025-06-17")
    b = _put(tmp_path / "后到.xlsx", older)  # lands in the inbox now
    result = _by_name(collect(issued_folder, [a, b]))
    assert result["后到.xlsx"].status == "accepted" and result["终稿.xlsx"].status == "superseded"
    doubt = only(result["后到.xlsx"].findings, "ORDER_DOUBT")[0]
    assert doubt.severity == "warning" and "终稿.xlsx" in doubt.message and "确认" in doubt.message


# ───────────────────────────── one file never stops the others ─────────────────────────────


def _cli(*args: str):
    from click.testing import CliRunner

    from qi_excel.cli import main

    return CliRunner().invoke(main, list(args))


def test_save_time_at_the_end_of_time_is_no_crash(issued_folder: Path, tmp_path: Path) -> None:
    from qi_excel.collect import collect

    far = fill(issued_bytes(issued_folder, "E05"), RUBRIC, saved_at="9999-12-31T23:59:59Z")
    later = fill(issued_bytes(issued_folder, "E05"), RUBRIC, saved_at="2025-06-19T09:00:00Z", sign_date="2025-06-19")
    a = _put(tmp_path / "远.xlsx", far, mtime=1_750_240_800)
    b = _put(tmp_path / "近.xlsx", later, mtime=1_750_327_200)
    other = _put(tmp_path / "他人.xlsx", fill(issued_bytes(issued_folder, "E06"), RUBRIC))
    res = _cli("collect", str(issued_folder), str(a), str(b), str(other))
    assert res.exception is None or isinstance(res.exception, SystemExit), res.output
    assert "Traceback" not in res.output and res.output.count("[接收]") == 2
    result = _by_name(collect(issued_folder, [a, b, other]))
    assert result["远.xlsx"].status == "superseded" and "9999" in only(result["远.xlsx"].findings, "CLOCK_WRONG")[0].message
    # the far one alone, then replaced: its time appears in the SUPERSEDED text of others
    assert _cli("status", str(issued_folder)).exit_code == 0


def test_lone_surrogate_in_a_score_cell_is_a_finding(issued_folder: Path, tmp_path: Path) -> None:
    from qi_excel.collect import collect

    ref = LAY.inputs[0].score_ref
    bad = edit_part(fill(issued_bytes(issued_folder, "E01"), RUBRIC), SCORE_PART,
                    lambda x: re.sub(rf'<c r="{ref}"( s="\d+")?><v>\d+</v></c>',
                                     rf'<c r="{ref}"\1 t="inlineStr"><is><t>十_xD800_分</t></is></c>', x))
    a = _put(tmp_path / "怪字.xlsx", bad)
    b = _put(tmp_path / "好.xlsx", fill(issued_bytes(issued_folder, "E02"), RUBRIC))
    result = _by_name(collect(issued_folder, [a, b]))
    assert result["好.xlsx"].status == "accepted" and result["怪字.xlsx"].status == "rejected"
    f = only(result["怪字.xlsx"].findings, "SCORE_TEXT")[0]
    assert f.cell == f"评分表!{ref}" and "\ufffd" in f.message
    f.message.encode("utf-8")  # writable anywhere
    assert (issued_folder / "检查报告.xlsx").is_file()


def test_lone_surrogate_in_a_remark_consolidates(issued_folder: Path, tmp_path: Path) -> None:
    from qi_excel.collect import collect
    from qi_excel.consolidation_step import consolidate_folder

    names = {e.expert_id: e.name for e in load_project(issued_folder)[1].experts}
    paths = []
    for eid in names:
        scores = {c.id: c.max for c in RUBRIC.score_cells} | {"1.1.1": 8}
        remark = "缺会议记录_xD800_" if eid == "E01" else "缺会议记录"
        paths.append(_put(tmp_path / f"{eid}.xlsx", fill(issued_bytes(issued_folder, eid), RUBRIC, scores,
                                                         remarks={"1.1.1": remark})))
    assert all(f.status == "accepted" for f in collect(issued_folder, paths).files)
    cons = consolidate_folder(issued_folder)
    assert cons is not None
    res = _cli("consolidate", str(issued_folder))
    assert res.exit_code == 0, res.output


@pytest.mark.skipif(not hasattr(__import__("os"), "fsencode") or __import__("sys").platform == "win32",
                    reason="byte file names exist on POSIX file systems only")
def test_inbox_file_name_not_utf8_is_read_and_shown(issued_folder: Path) -> None:
    import os

    from qi_excel import evaluation as ev
    from qi_excel.collect import collect

    inbox = os.fsencode(issued_folder / ev.INBOX_DIR)
    gbk_name = "周立新评分表.xlsx".encode("gbk")
    with open(os.path.join(inbox, gbk_name), "wb") as fh:
        fh.write(fill(issued_bytes(issued_folder, "E01"), RUBRIC))
    _put(issued_folder / ev.INBOX_DIR / "陈晓岚.xlsx", fill(issued_bytes(issued_folder, "E02"), RUBRIC))
    result = collect(issued_folder)
    assert sorted(f.status for f in result.files) == ["accepted", "accepted"]
    labels = [f.file for f in result.files]
    assert any(label.endswith("周立新评分表.xlsx") for label in labels)  # shown as the sender meant it
    for f in result.files:
        f.summary().encode("utf-8")
    res = _cli("collect", str(issued_folder))
    assert res.exit_code == 0 and "Traceback" not in res.output


def test_ledger_entries_without_sha_or_not_objects_are_skipped(issued_folder: Path, tmp_path: Path) -> None:
    import json

    from qi_excel import evaluation as ev
    from qi_excel.collect import collect, load_accepted

    a = _put(tmp_path / "a.xlsx", fill(issued_bytes(issued_folder, "E01"), RUBRIC))
    collect(issued_folder, [a])
    ledger = issued_folder / ev.LEDGER_FILE
    data = json.loads(ledger.read_text(encoding="utf-8"))
    data["entries"] += ["垃圾", {"label": "无指纹.xlsx", "ok": True}, 42, None]
    data["entries"][0]["seq"] = "七"
    data["entries"][0]["sources"] = "not a list"
    ledger.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    b = _put(tmp_path / "b.xlsx", fill(issued_bytes(issued_folder, "E02"), RUBRIC))
    result = collect(issued_folder, [a, b])
    assert [f.status for f in result.files[:2]] == ["accepted", "accepted"]
    skipped = [f for f in result.files if f.file.endswith("ledger.json")]
    assert len(skipped) == 4 and all("已跳过" in f.findings[0].message for f in skipped)
    assert sorted(rw.expert_id for rw in load_accepted(issued_folder)) == ["E01", "E02"]
    kept = json.loads(ledger.read_text(encoding="utf-8"))["entries"]
    assert "垃圾" in kept and 42 in kept  # never dropped silently from the organizer's file
    assert _cli("status", str(issued_folder)).exit_code == 0


# ───────────────────────────── clearer messages ─────────────────────────────


def test_huge_numbers_are_named_not_printed(ctx: Ctx) -> None:
    from xlsx_edit import set_cell

    ref = LAY.inputs[0].score_ref
    data = edit_part(ctx.filled(), SCORE_PART, lambda x: set_cell(x, ref, number="1E+308"))
    found = ctx.check(data)
    f = only(found, "SCORE_NOT_ALLOWED")[0]
    assert "过大的数" in f.message and "0000000000" not in f.message
    total = LAY.total_row.score_ref
    data = edit_part(ctx.filled(), SCORE_PART, lambda x: set_cell(x, total, number="1E+308"))
    t = only(ctx.check(data), "TOTAL_FORMULA_CHANGED")[0]
    assert "过大的数" in t.message and "0000000000" not in t.message
    assert all(len(f.message) < 400 for f in ctx.check(data))


def test_workbook_renamed_eml_is_read_as_the_workbook_it_is(issued_folder: Path, tmp_path: Path) -> None:
    from qi_excel.collect import collect

    p = _put(tmp_path / "回复.eml", fill(issued_bytes(issued_folder, "E01"), RUBRIC))
    f = collect(issued_folder, [p]).files[0]
    assert f.status == "accepted" and f.expert_id == "E01"
    assert not any("没有附件" in x.message for x in f.findings)


@pytest.mark.parametrize("content, words", [
    (bytes(range(256)) * 8, "不是邮件"),
    (b"%PDF-1.4\n" + b"\0" * 200, "PDF"),
])
def test_non_mail_named_eml_says_what_it_is(issued_folder: Path, tmp_path: Path, content: bytes, words: str) -> None:
    from qi_excel.collect import collect

    p = _put(tmp_path / "x.eml", content)
    f = collect(issued_folder, [p]).files[0]
    assert f.status == "rejected"
    text = " ".join(x.message for x in f.findings)
    assert words in text and "没有附件" not in text


def test_utf8_text_split_at_the_sniff_boundary_is_still_text() -> None:
    from qi_excel.package import sniff

    data = b"a" * 4095 + "评分".encode() * 100  # byte 4096 falls inside a character
    code, what = sniff(data)
    assert "纯文本" in what
    data = b"a" * 4094 + "评分".encode("gbk") * 100
    assert "纯文本" in sniff(data)[1]


@pytest.mark.skipif(not hasattr(__import__("os"), "mkfifo"), reason="FIFOs are POSIX")
def test_fifo_in_the_inbox_is_reported_not_skipped(issued_folder: Path) -> None:
    import os

    from qi_excel import evaluation as ev
    from qi_excel.collect import collect

    os.mkfifo(issued_folder / ev.INBOX_DIR / "管道.xlsx")
    _put(issued_folder / ev.INBOX_DIR / "好.xlsx", fill(issued_bytes(issued_folder, "E01"), RUBRIC))
    result = _by_name(collect(issued_folder))
    assert result["好.xlsx"].status == "accepted"
    fifo = result["管道.xlsx"]
    assert fifo.status == "rejected" and "不是普通文件" in fifo.findings[0].message


# ───────────────────────────── bounded work per file ─────────────────────────────


def _padded_sheet(data: bytes, rows: int, per_row: int = 1) -> bytes:
    """The score sheet with ``rows`` extra rows of varied numbers far below the form."""
    import random

    rng = random.Random(7)
    xml = read_part(data, SCORE_PART).decode("utf-8")
    extra = "".join(
        f'<row r="{1000 + i}">' + "".join(f'<c r="{c}{1000 + i}"><v>{rng.randrange(10**9)}</v></c>'
                                        for c in "JKLMNOPQRS"[:per_row]) + "</row>"
        for i in range(rows))
    xml = xml.replace("</sheetData>", extra + "</sheetData>")
    return rezip(data, {SCORE_PART: xml.encode("utf-8")})


@pytest.mark.parametrize("rows, per_row, words", [
    (300_000, 1, "内部文件"),  # a sheet part of ~12 MB
    (20_000, 8, "单元格"),  # 160,000 cells in ~5 MB
])
def test_oversized_sheet_is_rejected_as_too_complex(ctx: Ctx, rows: int, per_row: int, words: str) -> None:
    from qi_excel.package import ReadError

    data = _padded_sheet(ctx.filled(), rows, per_row)
    with pytest.raises(ReadError) as err:
        read_returned(data, "t.xlsx", rubric=RUBRIC)
    assert err.value.code == "TOO_COMPLEX" and words in str(err.value)


def test_huge_shared_string_table_is_rejected(ctx: Ctx) -> None:
    from qi_excel.package import ReadError

    data = ctx.filled()
    sst = read_part(data, SST).decode("utf-8")
    sst = sst.replace("</sst>", "".join(f"<si><t>{i}</t></si>" for i in range(150_000)) + "</sst>")
    with pytest.raises(ReadError) as err:
        read_returned(rezip(data, {SST: sst.encode("utf-8")}), "t.xlsx", rubric=RUBRIC)
    assert err.value.code == "TOO_COMPLEX" and "共享字符串" in str(err.value)


@pytest.mark.parametrize("words, what", [(20_000, "超过 64 KB"), (3_000, "编码文字")])
def test_mail_with_an_attachment_name_of_many_encoded_words_is_refused(
        issued_folder: Path, tmp_path: Path, words: int, what: str) -> None:
    import base64

    from qi_excel.collect import collect

    good = fill(issued_bytes(issued_folder, "E01"), RUBRIC)
    name = " ".join("=?utf-8?q?a?=" for _ in range(words))
    body = base64.encodebytes(good).decode("ascii")
    raw = (
        "From: zhoulixin@example.com\r\nTo: organizer@example.cn\r\nSubject: x\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"BB\"\r\n\r\n"
        "--BB\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
        f"--BB\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
        f"Content-Disposition: attachment; filename=\"{name}\"\r\n\r\n{body}\r\n--BB--\r\n"
    ).encode("ascii")
    mail = _put(tmp_path / "长名.eml", raw)
    other = _put(tmp_path / "好.xlsx", fill(issued_bytes(issued_folder, "E02"), RUBRIC))
    result = _by_name(collect(issued_folder, [mail, other]))
    assert result["好.xlsx"].status == "accepted"
    f = result["长名.eml"]
    assert f.status == "rejected" and f.findings[0].code == "TOO_COMPLEX" and what in f.findings[0].message


# ───────────────────────────── beyond the reported cases ─────────────────────────────


def test_default_cell_style_with_a_number_format_is_caught(ctx: Ctx) -> None:
    """A score cell without its own style shows through the workbook's default style (xf 0)."""
    ref = LAY.inputs[2].score_ref
    data = ctx.filled()
    styles = read_part(data, "xl/styles.xml").decode("utf-8")
    styles = re.sub(r'<numFmts count="(\d+)">', lambda m: f'<numFmts count="{int(m.group(1)) + 1}">'
                    '<numFmt numFmtId="198" formatCode="&quot;5&quot;"/>', styles)
    styles = re.sub(r'(<cellXfs count="\d+"><xf) numFmtId="0"', r'\1 numFmtId="198"', styles)
    sheet = re.sub(rf'(<c r="{ref}") s="\d+"', r"\1", read_part(data, SCORE_PART).decode("utf-8"))
    data = rezip(data, {"xl/styles.xml": styles.encode("utf-8"), SCORE_PART: sheet.encode("utf-8")})
    f = only(ctx.check(data), "SCORE_FORMAT")
    assert [x.cell for x in f] == [f"评分表!{ref}"]


def test_conditional_format_changing_the_shown_number_is_caught(ctx: Ctx) -> None:
    data = ctx.filled()
    styles = read_part(data, "xl/styles.xml").decode("utf-8")
    styles = styles.replace('<dxfs count="2"><dxf>', '<dxfs count="2"><dxf><numFmt numFmtId="200" formatCode="&quot;5&quot;"/>', 1)
    f = only(ctx.check(rezip(data, {"xl/styles.xml": styles.encode("utf-8")})), "SCORE_FORMAT")[0]
    assert f.cell == f"评分表!{LAY.inputs[0].score_ref}" and "条件格式" in f.message


@pytest.mark.parametrize("code", [";;;", "0;0;0;\"5\"", "0%", "0,", "[>5]\"5\";0", "yyyy-mm-dd"])
def test_number_formats_that_hide_or_change_a_score(ctx: Ctx, code: str) -> None:
    from html import escape

    ref = LAY.inputs[1].score_ref
    data = _with_number_format(ctx.filled(), ref, escape(code))
    assert [f.cell for f in only(ctx.check(data), "SCORE_FORMAT")] == [f"评分表!{ref}"]


def test_red_whole_numbers_are_still_faithful(ctx: Ctx) -> None:
    data = _with_number_format(ctx.filled(), LAY.inputs[1].score_ref, "[Red]0")
    assert "SCORE_FORMAT" not in codes(ctx.check(data))


def test_signature_by_formula_is_not_a_signature(ctx: Ctx) -> None:
    """=G2 copies the issued name into the signature: nobody signed."""
    from xlsx_edit import set_cell

    data = edit_part(ctx.filled(), SCORE_PART,
                     lambda x: set_cell(x, LAY.signature_cell, formula=L.EXPERT_NAME_CELL, cached=ctx.name("E01")))
    f = only(ctx.check(data), "SIGNER_MISMATCH")[0]
    assert "公式" in f.message and f.cell == f"评分表!{LAY.signature_cell}"


def test_deeply_nested_ledger_is_a_clear_message(issued_folder: Path) -> None:
    from qi_excel import evaluation as ev

    ledger = issued_folder / ev.LEDGER_FILE
    ledger.parent.mkdir(parents=True, exist_ok=True)
    ledger.write_text('{"entries": ' + "[" * 200_000 + "]" * 200_000 + "}", encoding="utf-8")
    res = _cli("collect", str(issued_folder))
    assert res.exit_code != 0 and "ledger.json" in res.output and "损坏" in res.output
    assert not isinstance(res.exception, RecursionError)


def test_mail_of_thousands_of_parts_is_refused(issued_folder: Path, tmp_path: Path) -> None:
    from qi_excel.collect import collect

    parts = "".join("--BB\r\nContent-Type: text/plain\r\n\r\nx\r\n" for _ in range(5_000))
    raw = ("From: a@example.com\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"BB\"\r\n\r\n"
           + parts + "--BB--\r\n").encode("ascii")
    f = collect(issued_folder, [_put(tmp_path / "多.eml", raw)]).files[0]
    assert f.status == "rejected" and f.findings[0].code == "TOO_COMPLEX" and "部分" in f.findings[0].message


def test_display_name_pretending_to_be_the_expert_does_not_hide_the_sender(ctx: Ctx) -> None:
    from email.utils import parseaddr

    header = f'"{ctx.email("E01")}" <{ctx.email("E02")}>'
    found = ctx.check(ctx.filled("E01"), sender=parseaddr(header)[1])
    assert "SENDER_MISMATCH" in codes(found)


def test_names_with_brackets_in_the_roster_are_not_a_mismatch(sample_folder: Path) -> None:
    """A roster name such as 张丽（女） ends the document title with two closing brackets."""
    from openpyxl import load_workbook

    from qi_excel.evaluation import PANEL_SHEET, PROJECT_FILE
    from qi_excel.workbook import issue_workbooks

    book = load_workbook(sample_folder / PROJECT_FILE)
    ws = book[PANEL_SHEET]
    row = next(r for r in ws.iter_rows() if any(c.value == "周立新" for c in r))
    cell = next(c for c in row if c.value == "周立新")
    cell.value = "周立新（女）"
    book.save(sample_folder / PROJECT_FILE)
    issue_workbooks(sample_folder)
    ctx = Ctx(sample_folder)
    data = ctx.filled("E01")
    assert read_returned(data, "t.xlsx", rubric=RUBRIC).properties["title"].endswith("（周立新（女））")
    assert ctx.check(data) == []


def test_workbook_listing_thousands_of_sheets_is_refused(ctx: Ctx) -> None:
    from qi_excel.package import ReadError

    data = ctx.filled()
    wb = read_part(data, "xl/workbook.xml").decode("utf-8")
    extra = "".join(f'<sheet name="s{i}" sheetId="{100 + i}" r:id="rIdX{i}"/>' for i in range(5_000))
    wb = wb.replace("</sheets>", extra + "</sheets>")
    with pytest.raises(ReadError) as err:
        read_returned(rezip(data, {"xl/workbook.xml": wb.encode("utf-8")}), "t.xlsx", rubric=RUBRIC)
    assert err.value.code == "TOO_COMPLEX" and "工作表" in str(err.value)


def test_last_saved_by_another_experts_account_name_is_a_warning(ctx: Ctx) -> None:
    account = ctx.email("E02").split("@")[0]
    data = edit_part(ctx.filled("E01"), CORE, lambda x: re.sub(r"<cp:lastModifiedBy>[^<]*", f"<cp:lastModifiedBy>{account}", x))
    f = only(ctx.check(data), "LAST_SAVED_BY_OTHER")[0]
    assert ctx.name("E02") in f.message and account in f.message
    own = ctx.email("E01").split("@")[0]
    data = edit_part(ctx.filled("E01"), CORE, lambda x: re.sub(r"<cp:lastModifiedBy>[^<]*", f"<cp:lastModifiedBy>{own}", x))
    assert ctx.check(data) == []


def test_organizer_name_containing_an_experts_name_is_not_a_mismatch(ctx: Ctx) -> None:
    org = f"{ctx.name('E02')}工作室"
    data = edit_part(ctx.filled("E01"), CORE, lambda x: re.sub(
        r"<dc:creator>[^<]*", f"<dc:creator>{org}", re.sub(r"<cp:lastModifiedBy>[^<]*", f"<cp:lastModifiedBy>{org}", x)))
    assert ctx.check(data) == []
