"""The folder lock: two runs at once lose nothing; a held lock is named; a dead one is taken over."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from xlsx_edit import fill, issued_bytes

from qi_excel import evaluation as ev
from qi_excel.collect import load_accepted
from qi_excel.errors import QiError
from qi_excel.lock import LOCK_FILE, _host, folder_lock
from qi_excel.rubric import shipped_rubric

RUBRIC = shipped_rubric()


def _collect_proc(folder: Path, path: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "qi_excel", "collect", str(folder), str(path)],
        # a loaded machine may take longer than the default wait for one run: the test is
        # about losing nothing, not about the wait
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "QI_EXCEL_LOCK_WAIT": "120"},
    )


def test_two_concurrent_collects_lose_nothing(issued_folder: Path, tmp_path: Path) -> None:
    names = {e.expert_id: e.name for e in ev.load_project(issued_folder)[1].experts}
    files = {}
    for eid in ("E01", "E02"):
        p = tmp_path / f"{eid}.xlsx"
        p.write_bytes(fill(issued_bytes(issued_folder, eid), RUBRIC, sign=names[eid]))
        files[eid] = p
    ledger = issued_folder / ev.LEDGER_FILE
    for trial in range(10):
        ledger.unlink(missing_ok=True)
        procs = [_collect_proc(issued_folder, files[eid]) for eid in ("E01", "E02")]
        outs = [p.communicate(timeout=120) for p in procs]
        for p, (out, err) in zip(procs, outs):
            assert p.returncode == 0, (trial, out.decode(), err.decode())
            assert "[接收]" in out.decode()
        got = sorted(rw.expert_id for rw in load_accepted(issued_folder))
        assert got == ["E01", "E02"], f"trial {trial}: {got}"
        assert not (issued_folder / LOCK_FILE).exists()


def test_held_lock_names_command_and_time(issued_folder: Path) -> None:
    lock = issued_folder / LOCK_FILE
    lock.write_text(json.dumps({"pid": os.getpid(), "host": _host(), "command": "consolidate",
                                "time": time.time()}), encoding="utf-8")
    with pytest.raises(QiError) as err:
        with folder_lock(issued_folder, command="collect", wait=0.2):
            pass
    assert "汇总（consolidate）" in str(err.value) and "正被" in str(err.value) and "起" in str(err.value)
    assert lock.exists()  # someone else's lock is never removed


def test_lock_of_a_dead_process_is_taken_over(issued_folder: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    dead = int(proc.stdout)
    lock = issued_folder / LOCK_FILE
    lock.write_text(json.dumps({"pid": dead, "host": _host(), "command": "collect",
                                "time": time.time()}), encoding="utf-8")
    with folder_lock(issued_folder, command="collect", wait=0.2):
        assert json.loads(lock.read_text(encoding="utf-8"))["pid"] == os.getpid()
    assert not lock.exists()


def test_lock_is_reentrant_in_one_thread(issued_folder: Path) -> None:
    with folder_lock(issued_folder, command="collect"):
        with folder_lock(issued_folder, command="consolidate", wait=0):
            assert (issued_folder / LOCK_FILE).exists()
        assert (issued_folder / LOCK_FILE).exists()
    assert not (issued_folder / LOCK_FILE).exists()


def test_cli_collect_while_locked_is_a_clear_message(issued_folder: Path, monkeypatch) -> None:
    lock = issued_folder / LOCK_FILE
    lock.write_text(json.dumps({"pid": os.getpid(), "host": _host(), "command": "issue",
                                "time": time.time()}), encoding="utf-8")
    from click.testing import CliRunner

    import qi_excel.lock as lk
    from qi_excel.cli import main
    monkeypatch.setattr(lk, "WAIT_SECONDS", 0.2)
    monkeypatch.delenv("QI_EXCEL_LOCK_WAIT", raising=False)
    res = CliRunner().invoke(main, ["collect", str(issued_folder)])
    assert res.exit_code != 0 and "Traceback" not in res.output
    assert "发放（issue）" in res.output


@pytest.mark.parametrize("args", [["issue"], ["consolidate"], ["report"], ["application"], ["archive"]])
def test_every_writing_command_waits_for_the_lock(issued_folder: Path, monkeypatch, args: list[str]) -> None:

    from click.testing import CliRunner

    import qi_excel.lock as lk
    from qi_excel.cli import main

    monkeypatch.setattr(lk, "WAIT_SECONDS", 0.2)
    monkeypatch.delenv("QI_EXCEL_LOCK_WAIT", raising=False)
    lock = issued_folder / LOCK_FILE
    lock.write_text(json.dumps({"pid": os.getpid(), "host": _host(), "command": "collect",
                                "time": time.time()}), encoding="utf-8")
    before = sorted(p.name for p in issued_folder.rglob("*"))
    res = CliRunner().invoke(main, [*args, str(issued_folder)])
    assert res.exit_code != 0 and "回收检查（collect）" in res.output, res.output
    assert sorted(p.name for p in issued_folder.rglob("*")) == before  # nothing written
