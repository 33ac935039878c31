"""Every ``--help`` is Chinese throughout, and ``qi-excel`` alone shows the help."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from qi_excel.cli import ChineseHelpFormatter, _wrap, all_commands, main

ENGLISH = ("Usage:", "Options:", "Commands:", "Show this message", "Show the version", "[default", "[required",
           "INTEGER", "TEXT", "[OPTIONS]", "Arguments:")


def _help(*args: str) -> str:
    result = CliRunner().invoke(main, [*args, "--help"], prog_name="qi-excel")
    assert result.exit_code == 0, result.output
    return result.output


COMMANDS = [(), *((name,) for name in all_commands()), ("templates", "export")]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "qi-excel")
def test_every_help_is_chinese(command):
    text = _help(*command)
    for english in ENGLISH:
        assert english not in text, (command, english)
    assert text.startswith("用法：qi-excel") and "选项：" in text and "显示本帮助并退出。" in text


def test_defaults_are_marked_in_chinese():
    text = _help("consolidate")
    assert "[默认：mean]" in text and "[默认：2；0<=x<=4]" in text


def test_no_arguments_shows_help_not_an_error():
    result = CliRunner().invoke(main, [], prog_name="qi-excel")
    assert result.exit_code == 0
    assert "错误" not in result.output and "Usage" not in result.output
    assert result.output.startswith("用法：qi-excel") and "命令：" in result.output and "collect" in result.output


def test_help_columns_line_up_by_display_width():
    formatter = ChineseHelpFormatter(width=60)
    formatter.write_dl([("--decimals 整数", "保留的小数位数。"), ("--json", "以 JSON 输出。")])
    lines = formatter.getvalue().splitlines()
    columns = [len(re.sub(r"[\u4e00-\u9fff，。]", "xx", line[: line.index(mark)]))
               for line, mark in zip(lines, ("保留", "以"))]
    assert columns[0] == columns[1]


def test_wrap_keeps_latin_words_and_closing_punctuation():
    lines = _wrap("每个打分格的汇总方法：mean 算术平均；trimmed 去掉一个最高分“草稿”。", 24)
    assert all("trimm" not in line or "trimmed" in line for line in lines)
    assert not any(line.startswith(("”", "。", "，")) for line in lines)
