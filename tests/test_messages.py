"""Messages an organizer reads are Chinese throughout: no English OS or parser fragments."""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from qi_excel.cli import main
from qi_excel.errors import QiError, os_error_text, toml_error_text
from qi_excel.fileio import write_bytes_atomic
from qi_excel.rubric import load_rubric

ENGLISH = re.compile(r"[A-Za-z]{4,}")  # a word; file names in these tests are Chinese or short


def _english(message: str, *allowed: str) -> list[str]:
    for word in allowed:
        message = message.replace(word, "")
    return ENGLISH.findall(message)


@pytest.mark.parametrize(
    ("code", "chinese"),
    [(errno.EROFS, "只读文件系统"), (errno.EACCES, "没有权限"), (errno.ENOSPC, "磁盘空间不足"),
     (errno.ENOENT, "找不到"), (errno.EISDIR, "文件夹"), (errno.ENOTDIR, "不是文件夹")],
)
def test_common_errno_in_chinese(code: int, chinese: str) -> None:
    assert chinese in os_error_text(OSError(code, os.strerror(code)))


def test_unknown_errno_still_chinese() -> None:
    text = os_error_text(OSError(9999, "Something odd"))
    assert "9999" in text and not _english(text)


@pytest.mark.parametrize("stage", ["mkstemp", "replace"])
def test_read_only_file_system_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stage: str) -> None:
    def refuse(*_a, **_k):
        raise OSError(errno.EROFS, "Read-only file system")

    if stage == "mkstemp":
        monkeypatch.setattr(os, "open", refuse)  # the temporary file cannot be created
    else:
        monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(QiError) as err:
        write_bytes_atomic(tmp_path / "汇总" / "表.xlsx", b"x")
    message = str(err.value)
    assert "只读文件系统" in message and "Read-only" not in message
    assert not _english(message, str(tmp_path), ".xlsx")
    assert not list((tmp_path / "汇总").glob(".~tmp-*"))


@pytest.mark.parametrize(
    ("text", "where", "what"),
    [
        ('title = "x"\ntotal = 40\nname 组织 = 1\n', "第 3 行第 6 列", "缺少“=”"),
        ('title = "x"\nitems = [1, 2\n', "文件末尾", "右方括号"),
        ('title = 测试\n', "第 1 行", "值无效"),
        ('title = "x"\ntitle = "y"\n', "", "写了两次"),
    ],
)
def test_broken_rubric_names_line_and_column_in_chinese(tmp_path: Path, text: str, where: str, what: str) -> None:
    path = tmp_path / "评价表.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(QiError) as err:
        load_rubric(path)
    message = str(err.value)
    assert where in message and what in message, message
    assert not _english(message, "TOML", ".toml"), message


def test_toml_message_translation_is_pure() -> None:
    class Fake(Exception):
        pass

    assert toml_error_text(Fake("Invalid statement (at line 7, column 2)")) == "第 7 行第 2 列：无法识别的语句"
    assert toml_error_text(Fake("Something new (at end of document)")) == "文件末尾：格式错误"


def test_folder_argument_that_is_a_file(tmp_path: Path) -> None:
    file = tmp_path / "评价"
    file.write_text("x", encoding="utf-8")
    result = CliRunner().invoke(main, ["collect", str(file)])
    assert result.exit_code != 0
    assert "是一个文件" in result.output and "Directory" not in result.output, result.output


def test_unexpected_os_error_in_a_command_is_chinese(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import qi_excel.evaluation as ev

    def broken(*_a, **_k):
        raise OSError(errno.EIO, "Input/output error", str(tmp_path / "评价项目.xlsx"))

    monkeypatch.setattr(ev, "new_evaluation", broken)
    result = CliRunner().invoke(main, ["new", str(tmp_path / "新")])
    assert result.exit_code == 3, result.output
    assert "磁盘读写出错" in result.output and "Input/output" not in result.output
    assert "Traceback" not in result.output
