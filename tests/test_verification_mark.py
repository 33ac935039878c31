"""``status`` trusts an accepted return without a full check only through a mark made with
the folder's own key; anything else about the ledger gets the full check again."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import qi_excel.collect as collect_mod
from qi_excel import evaluation as ev
from qi_excel.collect import panel_status, verification_mark
from evaluated import build_evaluated


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory) -> Path:
    return build_evaluated(tmp_path_factory.mktemp("mark") / "评价")


@pytest.fixture
def folder(evaluated: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(evaluated, tmp_path / "评价"))


@pytest.fixture
def full_checks(monkeypatch) -> list[str]:
    """The sha256 of every accepted entry that gets the full re-check."""
    calls: list[str] = []
    real = collect_mod._reverify

    def counting(ctx, entry):
        calls.append(entry.sha256)
        return real(ctx, entry)

    monkeypatch.setattr(collect_mod, "_reverify", counting)
    return calls


def _ledger(folder: Path) -> dict:
    return json.loads((folder / ev.LEDGER_FILE).read_text(encoding="utf-8"))


def _accepted(folder: Path) -> list[dict]:
    return [e for e in _ledger(folder)["entries"] if e.get("ok")]


def test_collect_marks_what_it_accepted_with_the_folder_key(folder: Path) -> None:
    secret = ev.load_secret(folder)
    rubric_sha = ev.rubric_fingerprint(folder)
    panel = ev.load_project(folder)[1]
    emails = {e.expert_id: f"{e.name}\x1f{e.email}" for e in panel.experts}
    accepted = _accepted(folder)
    assert len(accepted) == 8  # 7 experts and the self-evaluation
    for e in accepted:
        want = verification_mark(secret.hmac_key, secret.evaluation_id, rubric_sha, e["sha256"], e["kind"],
                                 e["expert_id"], emails.get(e["expert_id"], ""))
        assert e["verified"] == want


def test_status_of_marked_returns_needs_no_full_check(folder: Path, full_checks: list[str]) -> None:
    people = panel_status(folder)
    assert sum(p.accepted for p in people) == 8
    assert full_checks == []


def test_a_forged_or_foreign_mark_means_the_full_check(folder: Path, full_checks: list[str]) -> None:
    ledger = _ledger(folder)
    first = next(e for e in ledger["entries"] if e.get("ok"))
    first["verified"] = "0" * 64
    (folder / ev.LEDGER_FILE).write_text(json.dumps(ledger, ensure_ascii=False), encoding="utf-8")
    people = panel_status(folder)
    assert full_checks == [first["sha256"]]
    assert sum(p.accepted for p in people) == 8  # the file itself still verifies


def test_a_changed_stored_file_is_caught_even_with_a_valid_mark(folder: Path, full_checks: list[str]) -> None:
    entry = _accepted(folder)[0]
    stored = folder / entry["stored"]
    stored.write_bytes(stored.read_bytes() + b"\0")
    people = panel_status(folder)
    who = next(p for p in people if p.expert_id == entry["expert_id"])
    assert not who.accepted and "已被改动" in who.findings[0].message
    assert full_checks == []  # the hash alone refuses it


def test_a_changed_roster_entry_invalidates_the_mark(folder: Path, full_checks: list[str], monkeypatch) -> None:
    real = ev.load_project

    def moved(root):
        info, panel = real(root)
        experts = tuple(e if e.expert_id != "E02" else e._replace(email="new@example.cn")
                        for e in panel.experts)
        return info, type(panel)(experts)

    monkeypatch.setattr(ev, "load_project", moved)
    panel_status(folder)
    e02 = next(e for e in _accepted(folder) if e["expert_id"] == "E02")
    assert full_checks == [e02["sha256"]]


def test_status_of_marked_returns_loads_neither_reader_nor_rubric(folder: Path) -> None:
    """What ``status`` skips costs a person's wait only if it is never imported either."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from qi_excel.collect import panel_status\n"
        f"people = panel_status({str(folder)!r})\n"
        "assert sum(p.accepted for p in people) == 8\n"
        "print(sorted(m for m in ('qi_excel.returned', 'qi_excel.checks', 'qi_excel.rubric', 'defusedxml')"
        " if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stderr


def test_collect_reads_each_earlier_accepted_file_once(folder: Path, monkeypatch) -> None:
    """A second run verifies every file accepted before, once, and still refuses a changed one."""
    from qi_excel.collect import collect

    reads: list[str] = []
    real = collect_mod._stored_bytes

    def counting(ctx, entry):
        reads.append(entry.sha256)
        return real(ctx, entry)

    monkeypatch.setattr(collect_mod, "_stored_bytes", counting)
    accepted = _accepted(folder)
    changed = accepted[0]
    stored = folder / changed["stored"]
    stored.write_bytes(stored.read_bytes() + b"\0")
    nothing_new = folder.parent / "空文件夹"
    nothing_new.mkdir()
    collect(folder, [nothing_new])
    assert sorted(reads) == sorted(e["sha256"] for e in accepted)
    after = {e["sha256"]: e for e in _ledger(folder)["entries"]}
    assert after[changed["sha256"]]["ok"] is False and "verified" not in after[changed["sha256"]]
    assert all(after[e["sha256"]]["ok"] for e in accepted[1:])
