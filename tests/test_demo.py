"""`qi-excel demo`: the whole flow on the sample project; every file it lists exists and opens."""

from __future__ import annotations

import email
import re
import zipfile
from email import policy
from pathlib import Path

import docx
import openpyxl
import pytest
from click.testing import CliRunner

from qi_excel.archive import verify_archive
from qi_excel.cli import main
from qi_excel.collect import load_accepted, panel_status
from qi_excel.consolidation_step import load_consolidation
from qi_excel.demo import run_demo
from qi_excel.errors import QiError


def _opens(path: Path) -> None:
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        wb = openpyxl.load_workbook(path, read_only=True)
        assert wb.sheetnames
        wb.close()
    elif suffix == ".docx":
        assert any(p.text.strip() for p in docx.Document(str(path)).paragraphs)
    elif suffix == ".eml":
        msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        assert any(part.get_filename() for part in msg.iter_attachments())
    elif suffix == ".zip":
        assert zipfile.is_zipfile(path) and verify_archive(path) == []
    elif suffix in {".txt", ".json"}:
        assert path.read_text(encoding="utf-8").strip()
    else:
        raise AssertionError(f"unexpected output {path}")


def test_every_listed_file_exists_and_opens(tmp_path: Path) -> None:
    lines: list[str] = []
    steps = run_demo(tmp_path / "演示", echo=lines.append)
    assert len(steps) == 9
    listed = [p for s in steps for p in s.outputs]
    assert len(listed) > 25
    for path in listed:
        assert path.is_file(), path
        _opens(path)
    # the progress lines name every output, in order
    printed = [line.split("→ ", 1)[1] for line in lines if "→ " in line]
    assert printed == [str(p) for p in listed]
    assert [line for line in lines if line.startswith("[")][-1].startswith("[9/9]")


def test_demo_story(tmp_path: Path) -> None:
    """One pasted score is rejected then corrected, one expert sends twice, one uses email."""
    folder = tmp_path / "演示"
    lines: list[str] = []
    run_demo(folder, echo=lines.append)
    text = "\n".join(lines)
    first_round = text.split("[5/9]")[0]
    assert re.search(r"\[拒收\] 刘卫东（E03）.*\n\s+评分表!G\d+（.*）填写了 \d+ 分，该项允许的分值为", first_round)
    assert "[被替代] 李建国（E05）" in first_round and ".eml[" in first_round
    people = panel_status(folder)
    assert len(people) == 8 and all(p.accepted for p in people)  # 7 experts + the self-evaluation
    accepted = load_accepted(folder)
    assert sorted(rw.kind for rw in accepted).count("self") == 1
    cons = load_consolidation(folder)
    assert len(cons.experts) == 7 and not cons.draft
    assert cons.self_total is not None
    # the experts disagree a little: not everyone gave the same scores
    totals = {e.total for e in cons.experts}
    assert len(totals) > 3


def test_same_seed_same_scores(tmp_path: Path) -> None:
    a = run_demo(tmp_path / "a", echo=lambda _: None, seed=7)
    b = run_demo(tmp_path / "b", echo=lambda _: None, seed=7)
    assert len(a) == len(b)
    assert load_consolidation(tmp_path / "a").total == load_consolidation(tmp_path / "b").total


def test_refuses_a_folder_in_use(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "已有文件.txt").write_text("保留", encoding="utf-8")
    with pytest.raises(QiError, match="不是空文件夹"):
        run_demo(tmp_path / "x", echo=lambda _: None)
    assert [p.name for p in (tmp_path / "x").iterdir()] == ["已有文件.txt"]


def test_cli(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["demo", str(tmp_path / "演示评价")])
    assert result.exit_code == 0, result.output
    assert "[1/9]" in result.output and "[9/9]" in result.output and "演示完成" in result.output
    again = CliRunner().invoke(main, ["demo", str(tmp_path / "演示评价")])
    assert again.exit_code == 3 and "Traceback" not in again.output and "不是空文件夹" in again.output
