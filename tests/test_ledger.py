"""The ledger's typed entries: which return counts, tolerance of damaged entries, the file format."""

from __future__ import annotations

import json
from pathlib import Path

from xlsx_edit import fill, issued_bytes

from qi_excel import evaluation as ev
from qi_excel.collect import accepted_entries, collect, load_accepted
from qi_excel.findings import finding
from qi_excel.ledger import Ledger, LedgerEntry, order_key, resolve_statuses
from qi_excel.rubric import shipped_rubric

RUBRIC = shipped_rubric()


def entry(n: int, **kw) -> LedgerEntry:
    return LedgerEntry(f"{n:064x}", (f"收件箱/{n}.xlsx",), **{"kind": "expert", "expert_id": "E01", "ok": True} | kw)


def test_the_later_arrival_counts_whatever_the_file_says() -> None:
    early = entry(1, arrival="2025-06-18T10:00:00+00:00", saved_at="2025-06-18T09:00:00+00:00", seq=1)
    # saved "later" by a PC clock in 2099: the clock never overrides the arrival
    late = entry(2, arrival="2025-06-18T11:00:00+00:00", saved_at="2025-06-18T10:30:00+00:00", seq=2)
    wrong_clock = entry(3, arrival="2025-06-18T09:30:00+00:00", saved_at="2099-01-01T00:00:00+00:00", seq=3)
    assert resolve_statuses([late, wrong_clock, early]) == {
        late.sha256: "accepted", early.sha256: "superseded", wrong_clock.sha256: "superseded"}
    assert order_key(wrong_clock)[1] == order_key(LedgerEntry("0" * 64))[1]  # its save time is ignored


def test_rejected_attempt_is_superseded_only_when_attributed() -> None:
    bad_scores = entry(1, arrival="2025-06-18T10:00:00+00:00", ok=False,
                       findings=(finding("SCORE_BLANK", "未填"),))
    not_his = entry(2, arrival="2025-06-18T10:00:00+00:00", ok=False,
                    findings=(finding("BAD_SIGNATURE", "校验未通过"),))
    good = entry(3, arrival="2025-06-18T12:00:00+00:00")
    assert resolve_statuses([bad_scores, not_his, good]) == {
        bad_scores.sha256: "superseded", not_his.sha256: "rejected", good.sha256: "accepted"}


def test_damaged_entries_are_kept_as_they_were_and_reported() -> None:
    good = {"sha256": "a" * 64, "sources": "not a list", "ok": "yes", "kind": 5, "label": "x.xlsx",
            "findings": [{"code": "SCORE_BLANK", "severity": "error", "cell": None, "message": "m"}, "junk"],
            "note": "added by hand"}
    raw = {"version": 1, "entries": ["junk", {"sources": []}, good, dict(good), None], "comment": "kept"}
    ledger = Ledger.from_json(raw)
    (e,) = ledger.entries()
    assert (e.sources, e.ok, e.kind, e.label) == (("x.xlsx",), False, None, "x.xlsx")
    assert [f.code for f in e.findings] == ["SCORE_BLANK"]
    out = ledger.to_json()
    assert out["comment"] == "kept" and out["entries"][2]["note"] == "added by hand"
    assert out["entries"][:2] == ["junk", {"sources": []}] and out["entries"][3:] == [good, None]
    messages = [f.message for f in ledger.problems()]
    assert len(messages) == 4 and "第 1 条不是一条完整的记录" in messages[0]
    assert "第 2 条缺少文件指纹" in messages[1] and "第 4 条与前面的记录重复" in messages[2]


def test_ledger_written_by_collect_reads_back_byte_for_byte(issued_folder: Path) -> None:
    inbox = issued_folder / ev.INBOX_DIR
    (inbox / "一.xlsx").write_bytes(fill(issued_bytes(issued_folder, "E01"), RUBRIC, saved_at="2025-06-18T10:00:00Z"))
    (inbox / "二.xlsx").write_bytes(fill(issued_bytes(issued_folder, "E02"), RUBRIC, scores={}))
    collect(issued_folder)
    path = issued_folder / ev.LEDGER_FILE
    written = path.read_bytes()
    assert Ledger.load(issued_folder).to_bytes() == written
    data = json.loads(written)
    assert all(set(e) - {"verified"} == {"sha256", "sources", "first_seen", "arrival", "seq", "kind", "expert_id",
                                         "expert_name", "saved_at", "ok", "findings", "label", "stored", "status"}
               and ("verified" in e) == e["ok"] for e in data["entries"])
    in_use = accepted_entries(issued_folder)
    assert [(e.expert_id, e.status) for e in in_use] == [("E01", "accepted")]
    assert in_use[0].stored and (issued_folder / in_use[0].stored).is_file()
    assert [rw.expert_id for rw in load_accepted(issued_folder)] == ["E01"]
    collect(issued_folder)  # a second run over the same files changes nothing
    assert path.read_bytes() == written
