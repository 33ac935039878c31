"""The clock (issue 15): every output function takes the time from its caller; the clock is
only the default. A date far from today shows the caller's time is the one used."""

from __future__ import annotations

import datetime
import email
import json
import zipfile
from email.policy import default
from pathlib import Path

from qi_excel.archive import write_archive
from qi_excel.eml import expert_eml, self_eml
from qi_excel.evaluation import load_secret, new_evaluation, new_secret, sample_info, sample_panel
from qi_excel.remind import remind
from qi_excel.workbook import issue_workbooks

FAR = datetime.datetime(2031, 2, 3, 4, 5, 6, tzinfo=datetime.timezone(datetime.timedelta(hours=8)))


def _body(message: bytes) -> str:
    msg = email.message_from_bytes(message, policy=default)
    part = next(p for p in msg.walk() if p.get_content_type() == "text/plain")
    return str(part.get_content())


def test_the_evaluation_id_carries_the_callers_day(tmp_path: Path) -> None:
    assert new_secret(FAR.date()).evaluation_id.startswith("QI-20310203-")
    new_evaluation(tmp_path / "评价", sample=True, now=FAR)
    assert load_secret(tmp_path / "评价").evaluation_id.startswith("QI-20310203-")


def test_mail_drafts_are_dated_by_the_caller() -> None:
    info, expert = sample_info(), sample_panel().experts[0]
    assert "2031年2月3日" in _body(expert_eml(info, expert, "a.xlsx", b"x", on=FAR.date()))
    assert "2031年2月3日" in _body(self_eml(info, "a.xlsx", b"x", on=FAR.date()))


def test_reminders_are_dated_by_the_caller(issued_folder: Path) -> None:
    result = remind(issued_folder, today=FAR.date())
    assert result.reminders
    assert all("2031年2月3日" in _body((issued_folder / r.file).read_bytes()) for r in result.reminders)


def test_the_archive_is_named_and_dated_by_the_caller(tmp_path: Path, simulated_returns) -> None:
    from qi_excel import Evaluation

    folder = tmp_path / "评价"
    new_evaluation(folder, sample=True)
    issue_workbooks(folder)
    good, _bad, corrected, _ = simulated_returns(folder)
    for name, data in [*good, corrected]:
        (folder / "收件箱" / name).write_bytes(data)
    e = Evaluation(folder)
    e.collect()
    e.consolidate()
    e.report()
    path = write_archive(folder, now=FAR)
    assert path.name == "评价档案-20310203-040506.zip"
    with zipfile.ZipFile(path) as zf:
        assert json.loads(zf.read("manifest.json"))["created_at"].startswith("2031-02-03T")


def test_collect_records_when_it_first_saw_a_file_by_the_callers_clock(issued_folder: Path, simulated_returns) -> None:
    from qi_excel.collect import collect

    good, _bad, _corrected, _ = simulated_returns(issued_folder)
    name, data = good[0]
    (issued_folder / "收件箱" / name).write_bytes(data)
    collect(issued_folder, now=FAR)
    ledger = json.loads((issued_folder / "回收" / "ledger.json").read_text(encoding="utf-8"))
    assert [e["first_seen"] for e in ledger["entries"]] == ["2031-02-02T20:05:06+00:00"]
