"""Atomic writes: the old file or the complete new one, and a Chinese message on failure."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from qi_excel.errors import QiError
from qi_excel.fileio import atomic_path, write_bytes_atomic


def test_replaces_whole_file_with_ordinary_permissions(tmp_path: Path) -> None:
    target = tmp_path / "汇总表.xlsx"
    target.write_bytes(b"old")
    write_bytes_atomic(target, b"new content")
    assert target.read_bytes() == b"new content"
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask
    assert [p.name for p in tmp_path.iterdir()] == ["汇总表.xlsx"]  # no temp file left


def test_crash_midway_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "报告.docx"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("crash")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["报告.docx"]


def test_folder_in_the_way_is_a_chinese_error(tmp_path: Path) -> None:
    (tmp_path / "检查报告.xlsx").mkdir()
    with pytest.raises(QiError, match="检查报告.xlsx：已有同名文件夹"):
        write_bytes_atomic(tmp_path / "检查报告.xlsx", b"x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["检查报告.xlsx"]


def test_parent_that_is_a_file_is_a_chinese_error(tmp_path: Path) -> None:
    (tmp_path / "回收").write_bytes(b"not a folder")
    with pytest.raises(QiError, match="无法在 .*回收 中写入 a.xlsx"):
        write_bytes_atomic(tmp_path / "回收" / "a.xlsx", b"x")


def test_temporary_file_is_private_fresh_and_named_as_the_cleaner_expects(tmp_path: Path) -> None:
    from qi_excel.fileio import _TEMP_NAME

    names = set()
    for _ in range(5):
        with atomic_path(tmp_path / "评分表.xlsx") as tmp:
            assert tmp.parent == tmp_path and tmp.is_absolute() and tmp.is_file()
            assert _TEMP_NAME.match(tmp.name) and tmp.name.endswith(".xlsx")
            assert stat.S_IMODE(tmp.stat().st_mode) == 0o600  # private until complete
            names.add(tmp.name)
            tmp.write_bytes(b"x")
    assert len(names) == 5
    assert [p.name for p in tmp_path.iterdir()] == ["评分表.xlsx"]


def test_write_if_changed_leaves_an_identical_file_untouched(tmp_path: Path) -> None:
    from qi_excel.fileio import write_bytes_if_changed

    target = tmp_path / "record.json"
    write_bytes_if_changed(target, b"one")
    os.utime(target, ns=(1_000_000_000, 1_000_000_000))
    write_bytes_if_changed(target, b"one")
    assert target.stat().st_mtime_ns == 1_000_000_000
    write_bytes_if_changed(target, b"two")
    assert target.read_bytes() == b"two" and target.stat().st_mtime_ns != 1_000_000_000
