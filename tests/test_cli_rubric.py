"""`qi-excel rubric` through click's runner, on real files in tmp_path."""

from __future__ import annotations

import json

from click.testing import CliRunner

from qi_excel.cli import main
from qi_excel.rubric import default_rubric_text


def test_json_output_is_the_contract():
    result = CliRunner().invoke(main, ["rubric", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["total"] == 1000 and len(data["items"]) == 54
    assert data["items"][0]["allowed"] == [[0, 0], [5, 9], [10, 10]]


def test_table_lists_every_item():
    result = CliRunner().invoke(main, ["rubric"])
    assert result.exit_code == 0
    for item_id in ("1.1.1", "2.4.1.12", "4.3.5.8", "4.2.4"):
        assert item_id in result.output
    assert "共 54 个评分项，79 个打分格" in result.output


def test_custom_file_and_check(tmp_path):
    custom = tmp_path / "my.toml"
    custom.write_text(default_rubric_text().replace("title = ", 'title = "自定义" #', 1), encoding="utf-8")
    result = CliRunner().invoke(main, ["rubric", "--file", str(custom), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["title"] == "自定义"
    result = CliRunner().invoke(main, ["rubric", "--file", str(custom), "--check"])
    assert result.exit_code == 0 and "评价表校验通过" in result.output


def test_broken_file_gives_one_chinese_line(tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text(default_rubric_text().replace("total = 1000", "total = 1001"), encoding="utf-8")
    result = CliRunner().invoke(main, ["rubric", "--file", str(broken), "--check"])
    assert result.exit_code == 3
    assert "Traceback" not in result.output
    assert "评价表 broken.toml 有误：文件头：各一级指标分值之和 1000 分与总分 1001 分不符" in result.output


def test_missing_and_binary_files(tmp_path):
    result = CliRunner().invoke(main, ["rubric", "--file", str(tmp_path / "nope.toml")])
    assert result.exit_code == 3 and "不存在" in result.output
    junk = tmp_path / "junk.toml"
    junk.write_bytes(b"\xff\xfe\x00binary")
    result = CliRunner().invoke(main, ["rubric", "--file", str(junk)])
    assert result.exit_code == 3 and "不是 UTF-8" in result.output


def test_usage_errors_are_chinese():
    runner = CliRunner()
    for args, expected in (
        (["rubric", "--bogus"], "错误：没有选项 --bogus。"),
        (["collect"], "错误：缺少参数 DIR。"),
        (["nonsense"], "错误：没有命令 nonsense。"),
        (["consolidate", "x", "--method", "max"], "错误：参数 --method 的值 max 无效"),
    ):
        result = runner.invoke(main, args)
        assert result.exit_code == 2, args
        assert expected in result.output, result.output
        assert "查看用法" in result.output and "Usage:" not in result.output


def test_help_and_version_exit_zero():
    runner = CliRunner()
    assert runner.invoke(main, ["--help"]).exit_code == 0
    version = runner.invoke(main, ["--version"])
    assert version.exit_code == 0 and version.output.startswith("qi-excel ")
