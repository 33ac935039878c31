"""The hash-chained operation log (issue 14): recorded once per command, tampering found."""

from __future__ import annotations

import getpass
import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from evaluated import build_evaluated

from qi_excel import __version__
from qi_excel.audit import (
    HEAD_FILE,
    LOG_FILE,
    READABLE_FILE,
    audited,
    check_folder,
    record,
    verify_log,
)
from qi_excel.cli import main
from qi_excel.errors import QiError
from qi_excel.evaluation import PROJECT_FILE, new_evaluation


def _lines(folder: Path) -> list[str]:
    return (folder / LOG_FILE).read_text(encoding="utf-8").splitlines()


def _write_lines(folder: Path, lines: list[str]) -> None:
    (folder / LOG_FILE).write_text("".join(line + "\n" for line in lines), encoding="utf-8")


@pytest.fixture
def logged(tmp_path: Path) -> Path:
    folder = tmp_path / "评价"
    new_evaluation(folder, sample=True)
    for k in range(5):
        record(folder, f"cmd{k}", {"k": k}, read=[folder / PROJECT_FILE], written=[])
    return folder


def test_records_chain_and_verify(logged: Path) -> None:
    lines = _lines(logged)
    assert len(lines) == 5
    recs = [json.loads(x) for x in lines]
    assert [r["seq"] for r in recs] == [1, 2, 3, 4, 5]
    assert recs[0]["prev"] == "0" * 64
    for a, b in zip(recs, recs[1:]):
        assert b["prev"] == a["hash"]
    body = {k: v for k, v in recs[2].items() if k != "hash"}
    canonical = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")
    assert recs[2]["hash"] == hashlib.sha256(canonical).hexdigest()
    assert recs[0]["read"] == [{"path": PROJECT_FILE,
                                "sha256": hashlib.sha256((logged / PROJECT_FILE).read_bytes()).hexdigest()}]
    assert recs[0]["version"] == __version__ and recs[0]["user"] == getpass.getuser()
    check = check_folder(logged)
    assert check.ok and check.records == 5


def test_editing_a_record_names_it(logged: Path) -> None:
    lines = _lines(logged)
    lines[2] = lines[2].replace('"cmd2"', '"cmdX"')
    _write_lines(logged, lines)
    problems = check_folder(logged).problems
    assert problems and problems[0].startswith("第 3 条操作记录被改动")


def test_rehashing_an_edited_record_is_caught_by_the_next(logged: Path) -> None:
    recs = [json.loads(x) for x in _lines(logged)]
    recs[1]["command"] = "forged"
    body = {k: v for k, v in recs[1].items() if k != "hash"}
    recs[1]["hash"] = hashlib.sha256(json.dumps(body, ensure_ascii=False, sort_keys=True,
                                                separators=(",", ":")).encode("utf-8")).hexdigest()
    _write_lines(logged, [json.dumps(r, ensure_ascii=False) for r in recs])
    problems = check_folder(logged).problems
    assert problems and problems[0].startswith("第 2 条操作记录被改动或替换")


def test_deleting_a_middle_record_names_it(logged: Path) -> None:
    lines = _lines(logged)
    del lines[1]
    _write_lines(logged, lines)
    problems = check_folder(logged).problems
    assert problems and problems[0].startswith("第 2 条操作记录被删除")


def test_deleting_the_last_record_is_caught_by_the_signed_head(logged: Path) -> None:
    lines = _lines(logged)
    _write_lines(logged, lines[:-1])
    problems = check_folder(logged).problems
    assert problems and "第 5 条操作记录被删除" in problems[0]
    # rewriting the head to match needs the folder's key: an unsigned head is refused
    head = json.loads((logged / HEAD_FILE).read_text(encoding="utf-8"))
    head.update(records=4, head=json.loads(lines[3])["hash"])
    (logged / HEAD_FILE).write_text(json.dumps(head), encoding="utf-8")
    assert any("签名" in p for p in check_folder(logged).problems)


def test_verify_log_without_a_head_finds_gaps_only() -> None:
    assert verify_log([]).ok
    assert verify_log(["not json"]).problems[0].startswith("第 1 条操作记录")


def test_audited_records_written_files_and_skips_failures_that_changed_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "评价"
    new_evaluation(folder, sample=True)
    with audited(folder, "test", {"x": 1}):
        (folder / "新文件.txt").write_text("内容", encoding="utf-8")
        (folder / "保护密码.txt").unlink()
    rec = json.loads(_lines(folder)[-1])
    assert rec["command"] == "test" and rec["options"] == {"x": 1} and rec["result"] == "完成"
    assert {"path": "新文件.txt", "sha256": hashlib.sha256("内容".encode()).hexdigest()} in rec["written"]
    assert {"path": "保护密码.txt", "sha256": None} in rec["written"]
    with pytest.raises(QiError), audited(folder, "broken", {}):
        raise QiError("不行")
    assert len(_lines(folder)) == 1


def test_cli_commands_append_one_record_each(tmp_path: Path) -> None:
    folder = tmp_path / "评价"
    runner = CliRunner()
    assert runner.invoke(main, ["new", "--sample", str(folder)]).exit_code == 0
    assert runner.invoke(main, ["issue", str(folder)]).exit_code == 0
    failed = runner.invoke(main, ["consolidate", str(folder)])  # nothing returned yet: refused
    assert failed.exit_code != 0
    recs = [json.loads(x) for x in _lines(folder)]
    assert [r["command"] for r in recs] == ["new", "issue"]
    written = {w["path"]: w["sha256"] for w in recs[1]["written"]}
    issued = sorted(p.relative_to(folder).as_posix() for p in (folder / "发放").glob("*.xlsx"))
    assert len(issued) == 7 and set(issued) <= set(written)
    for rel in issued:
        assert written[rel] == hashlib.sha256((folder / rel).read_bytes()).hexdigest()
    assert PROJECT_FILE in {r["path"] for r in recs[1]["read"]}
    result = runner.invoke(main, ["log", str(folder)])
    assert result.exit_code == 0 and "共 2 条" in result.output


# ───────────────────────────── in the archive ─────────────────────────────


@pytest.fixture(scope="module")
def archived_source(tmp_path_factory) -> Path:
    folder = build_evaluated(tmp_path_factory.mktemp("audit-arch") / "评价")
    runner = CliRunner()
    for args in (["consolidate", str(folder)], ["application", str(folder)], ["report", str(folder)],
                 ["archive", str(folder)]):
        result = runner.invoke(main, args)
        assert result.exit_code == 0, result.output
    return folder


@pytest.fixture
def archive(archived_source: Path, tmp_path: Path) -> Path:
    copy = Path(shutil.copytree(archived_source, tmp_path / "评价"))
    return next(copy.glob("评价档案-*.zip"))


def _rewrite_log(zip_path: Path, change) -> None:
    with zipfile.ZipFile(zip_path) as zf:
        members = [(i, zf.read(i)) for i in zf.infolist()]
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
        for info, data in members:
            if info.filename == LOG_FILE:
                lines = data.decode("utf-8").splitlines()
                data = "".join(x + "\n" for x in change(lines)).encode("utf-8")
            zf.writestr(info, data)


def _verify(zip_path: Path):
    return CliRunner().invoke(main, ["archive", "--verify", str(zip_path)])


def test_archive_holds_the_log_and_a_readable_copy(archive: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        lines = zf.read(LOG_FILE).decode("utf-8").splitlines()
        (archive.parent / "读出.xlsx").write_bytes(zf.read(READABLE_FILE))
    assert [json.loads(x)["command"] for x in lines] == ["consolidate", "application", "report"]
    assert manifest["audit"]["records"] == 3 and manifest["audit"]["head"] == json.loads(lines[-1])["hash"]
    ws = openpyxl.load_workbook(archive.parent / "读出.xlsx")["操作记录"]
    values = [[c.value for c in r] for r in ws.iter_rows()]
    assert "完好" in values[1][0]
    assert [r[2] for r in values[3:]] == ["consolidate", "application", "report"]
    result = _verify(archive)
    assert result.exit_code == 0, result.output
    # the archive run itself is the 4th record of the live log
    assert json.loads(_lines(archive.parent)[-1])["command"] == "archive"


def test_verify_names_an_edited_record(archive: Path) -> None:
    _rewrite_log(archive, lambda lines: [lines[0], lines[1].replace('"application"', '"applicatiom"'), lines[2]])
    result = _verify(archive)
    assert result.exit_code == 1
    assert "第 2 条操作记录被改动" in result.output


def test_verify_names_a_deleted_record(archive: Path) -> None:
    _rewrite_log(archive, lambda lines: [lines[0], lines[2]])
    result = _verify(archive)
    assert result.exit_code == 1 and "第 2 条操作记录被删除" in result.output


def test_verify_finds_the_last_record_deleted(archive: Path) -> None:
    _rewrite_log(archive, lambda lines: lines[:-1])
    result = _verify(archive)
    assert result.exit_code == 1 and "第 3 条操作记录被删除" in result.output


def test_a_run_that_changes_nothing_leaves_no_record(tmp_path: Path) -> None:
    folder = tmp_path / "评价"
    new_evaluation(folder, sample=True)
    with audited(folder, "noop", {}):
        pass
    assert not (folder / LOG_FILE).exists()


def test_concurrent_writers_keep_one_chain(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    folder = tmp_path / "评价"
    new_evaluation(folder, sample=True)
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda k: record(folder, f"c{k}", {}), range(12)))
    check = check_folder(folder)
    assert check.ok, check.problems
    assert check.records == 12 and not (folder / ".qi" / "audit.lock").exists()


@pytest.mark.parametrize("env", [{}, {"USER": "organizer"}, {"LOGNAME": "张三", "USER": "other"},
                                 {"LNAME": "l"}, {"USERNAME": "win"}, {"LOGNAME": "", "USER": "u"}])
def test_os_user_is_the_name_getpass_gives(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    from qi_excel.audit import os_user

    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert os_user() == getpass.getuser()


def test_snapshot_sees_what_walking_the_folder_sees(tmp_path: Path) -> None:
    """The record's before/after comparison: every file by its path in the folder, links to
    files followed, linked folders not entered, temporary and the log's own files left out."""
    import os

    from qi_excel.audit import HEAD_FILE, LOCK_FILE, _snapshot

    folder = tmp_path / "评价"
    new_evaluation(folder, sample=True)
    (folder / "回收" / "深" / "层").mkdir(parents=True)
    (folder / "回收" / "深" / "层" / "a.xlsx").write_bytes(b"abc")
    (folder / "发放" / ".~tmp-abcdefgh.xlsx").write_bytes(b"half")
    (folder / "链接文件").symlink_to(folder / "保护密码.txt")
    (folder / "断链").symlink_to(folder / "没有")
    (folder / "链接目录").symlink_to(folder / "回收")
    for own in (LOG_FILE, HEAD_FILE, LOCK_FILE):
        (folder / own).write_text("x", encoding="utf-8")
    expected: dict[str, tuple[int, int]] = {}
    for dirpath, _dirs, names in os.walk(folder):
        for name in names:
            path = Path(dirpath) / name
            rel = path.relative_to(folder).as_posix()
            if name.startswith(".~tmp-") or rel in (LOG_FILE, HEAD_FILE, LOCK_FILE) or not path.exists():
                continue
            expected[rel] = (path.stat().st_size, path.stat().st_mtime_ns)
    snap = _snapshot(folder)
    assert snap == expected
    assert snap["回收/深/层/a.xlsx"][0] == 3 and "链接文件" in snap
    assert not any(k.startswith("链接目录/") or k == "断链" or ".~tmp-" in k for k in snap)


def test_written_copies_of_read_files_get_the_hash_of_their_bytes(tmp_path: Path) -> None:
    """A file written as a copy of a file read is not hashed again, yet its recorded hash is
    that of its own bytes, also when it differs in one byte or is too large to keep."""
    from qi_excel.audit import _Hashes, sha256_file

    read, same, changed, big, big_copy = (tmp_path / n for n in ("r", "same", "changed", "big", "big_copy"))
    read.write_bytes(b"abc" * 1000)
    same.write_bytes(b"abc" * 1000)
    changed.write_bytes(b"abc" * 999 + b"abd")
    big.write_bytes(b"x" * 5000)
    big_copy.write_bytes(b"x" * 5000)
    for hashes in (_Hashes(), _Hashes(budget=0), _Hashes(largest=100)):
        assert hashes.read(read) == sha256_file(read)
        assert hashes.read(big) == sha256_file(big)
        assert hashes.read(tmp_path / "缺少") is None
        for path in (same, changed, big_copy):
            assert hashes.written(path) == sha256_file(path)
        read.write_bytes(b"changed after it was read")
        assert hashes.written(read) == sha256_file(read)
        read.write_bytes(b"abc" * 1000)
        assert hashes.written(tmp_path / "缺少") is None


def test_chain_end_from_the_logs_end_is_what_reading_all_of_it_gives(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """record() reads only the end of a long log: the next number and the previous hash are
    the same as from the whole log, also for damaged, blank or non-ASCII last lines, wherever
    the end read begins."""
    import qi_excel.audit as audit

    folder = tmp_path / "评价"
    (folder / ".qi").mkdir(parents=True)
    good = [json.dumps({"seq": n, "hash": f"{n:064x}", "command": "操作" * n}, ensure_ascii=False) for n in range(1, 6)]
    logs = [
        "",
        "\n\n",
        good[0] + "\n",
        "\n".join(good) + "\n",
        "\n".join(good) + "\n\n  \n\u3000\n",
        "\n".join(good) + "\n{broken",
        "\n".join(good) + "\n[1, 2]\n",
        "\n".join(good) + '\n{"seq": "x", "hash": "h"}\n',
        "\n".join(good) + '\n{"seq": 9}\n',
        "\n".join(good[:3]) + "\n" + json.dumps({"seq": 4, "hash": "h", "note": "长" * 300}, ensure_ascii=False),
        "\n".join(good) + '\nx{"seq": 99, "hash": "not the last record"}',
    ]
    for text in logs:
        for data in (text.encode("utf-8"), text.encode("utf-8").replace("操".encode(), b"\xe6\x93\n")):
            (folder / LOG_FILE).write_bytes(data)
            expected = audit._chain_end_of(audit.read_lines(folder))
            for tail in (*range(1, 80), 1000, 1 << 20):
                monkeypatch.setattr(audit, "_TAIL", tail)
                assert audit._chain_end(folder) == expected, (tail, data[-80:])
    (folder / LOG_FILE).unlink()
    assert audit._chain_end(folder) == (1, audit.GENESIS)
