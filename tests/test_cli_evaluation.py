"""`qi-excel new` and `qi-excel issue` through click's runner, on real folders in tmp_path."""

from __future__ import annotations

import json

import openpyxl
from click.testing import CliRunner

from qi_excel.cli import main
from qi_excel.evaluation import ISSUE_DIR, PANEL_SHEET, PROJECT_FILE, load_issued


def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_new_then_issue_then_self_and_eml(tmp_path):
    folder = tmp_path / "评价"
    result = _run("new", folder, "--sample")
    assert result.exit_code == 0, result.output
    assert "已建立评价目录" in result.output and PROJECT_FILE in result.output
    assert "secret" not in result.output  # the key's location is not advertised

    result = _run("issue", folder, "--eml")
    assert result.exit_code == 0, result.output
    assert "已生成 7 位专家的评分工作簿" in result.output
    assert f"{ISSUE_DIR}/01-周立新-评分表.xlsx" in result.output
    assert f"{ISSUE_DIR}/07-孙浩然-评分表.eml" in result.output
    assert "保护密码.txt" in result.output
    for record in load_issued(folder):
        assert (folder / record.file).is_file()

    result = _run("issue", folder, "--self", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [w["expert_id"] for w in data["workbooks"]] == ["SELF"]
    assert (folder / data["workbooks"][0]["file"]).is_file()


def test_issue_json_lists_every_workbook(tmp_path):
    folder = tmp_path / "评价"
    _run("new", folder, "--sample")
    result = _run("issue", folder, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [w["expert_id"] for w in data["workbooks"]] == [f"E0{i}" for i in range(1, 8)]
    assert data["workbooks"][0]["name"] == "周立新" and data["eml"] == []


def test_new_refuses_an_existing_evaluation(tmp_path):
    folder = tmp_path / "评价"
    _run("new", folder)
    result = _run("new", folder, "--sample")
    assert result.exit_code == 3
    assert result.output.startswith("错误：") and "未写入任何文件" in result.output
    assert "Traceback" not in result.output


def test_blank_project_tells_what_to_fill(tmp_path):
    folder = tmp_path / "评价"
    result = _run("new", folder)
    assert "下一步" in result.output
    result = _run("issue", folder)
    assert result.exit_code == 3 and "必填项为空：服务名称" in result.output


def test_bad_roster_and_title_confirmation(tmp_path):
    folder = tmp_path / "评价"
    _run("new", folder, "--sample")
    path = folder / PROJECT_FILE
    wb = openpyxl.load_workbook(path)
    wb[PANEL_SHEET]["C4"].value = "工程师"
    wb.save(path)
    result = _run("issue", folder)
    assert result.exit_code == 3
    assert "错误：" in result.output and "专家组 第 4 行：陈晓岚的职称“工程师”" in result.output
    assert not list((folder / ISSUE_DIR).iterdir())
    result = _run("issue", folder, "--accept-titles")
    assert result.exit_code == 0, result.output
    assert "已确认：专家组 第 4 行" in result.output

    wb = openpyxl.load_workbook(path)
    wb[PANEL_SHEET]["B6"].value = None
    wb.save(path)
    result = _run("issue", folder, "--accept-titles")
    assert result.exit_code == 3 and "专家组 第 6 行：姓名为空" in result.output


def test_issue_outside_an_evaluation_folder(tmp_path):
    result = _run("issue", tmp_path)
    assert result.exit_code == 3 and "不是评价目录" in result.output
