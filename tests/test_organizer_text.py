"""The organizer's own text (custom rubric, roster, 基本信息) is written as text everywhere.

XlsxWriter's ``write``/``merge_range`` and openpyxl's ``cell.value = …`` turn a string
starting with ``=`` into a formula; a custom rubric's second-level name ``=1+1`` then became a
live formula ``1+1 小计`` in every issued workbook. Every text here starts with a character a
spreadsheet treats as a formula (= + - @) and carries a marker; no workbook the project
writes may hold that marker inside a formula, and each must hold it as text.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest
from evaluated import returned_and_consolidated

from qi_excel.evaluation import PROJECT_FILE, new_evaluation, sample_info, sample_panel
from qi_excel.evaluation import Panel
from qi_excel.workbook import issue_workbooks
from qi_excel.review import sample_review
from qi_excel.workbook_project import fill_project_workbook, project_template_bytes

SMALL = Path(__file__).with_name("small_rubric.toml")

RUBRIC_TEXTS = {
    'name = "组织管理"': 'name = "+QIMARK1 组织管理"',  # first level
    'name = "机构管理"': 'name = "=QIMARK2+1"',  # second level (its 小计 label)
    'requirement = "成立机构"': 'requirement = "@QIMARK3 成立机构"',  # 内容要求
    'criterion = "有机构的，10 分"': 'criterion = "-QIMARK4 有机构的，10 分"',
    'name = "岗位职责"': 'name = "=QIMARK5"',  # a part
    'name = "综合效果"': 'name = "=QIMARK6*2"',
}


def _hostile_rubric(tmp_path: Path) -> Path:
    text = SMALL.read_text(encoding="utf-8")
    for old, new in RUBRIC_TEXTS.items():
        assert old in text
        text = text.replace(old, new, 1)
    path = tmp_path / "自定义评价表.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("organizer")
    root = tmp / "评价"
    new_evaluation(root, rubric=_hostile_rubric(tmp))
    info = sample_info()._replace(service_name="=QIMARK7 服务", applicant="+QIMARK8 中心",
                               organizer="-QIMARK9 局", goals="@QIMARKA 目标")
    experts = list(sample_panel().experts)
    experts[1] = experts[1]._replace(name="=QIMARKB", employer="+QIMARKC 单位")
    data = fill_project_workbook(project_template_bytes(), info, Panel(tuple(experts)), sample_review())
    (root / PROJECT_FILE).write_bytes(data)
    records = list(issue_workbooks(root, accept_titles=True).records)
    records += issue_workbooks(root, self_eval=True).records
    return returned_and_consolidated(root, records)


_F = re.compile(rb"<(?:\w+:)?f\b[^>]*>(.*?)</(?:\w+:)?f>", re.S)


def _written(folder: Path) -> list[Path]:
    files = [folder / PROJECT_FILE, folder / "检查报告.xlsx", folder / "汇总表.xlsx"]
    files += sorted((folder / "发放").glob("*.xlsx"))
    return files


def test_every_written_workbook_is_covered(folder: Path) -> None:
    names = {p.name for p in _written(folder)}
    assert {"评价项目.xlsx", "检查报告.xlsx", "汇总表.xlsx"} <= names
    assert any("自我评价" in n for n in names) and any("评分表" in n for n in names)


@pytest.mark.parametrize("which", ["评价项目.xlsx", "检查报告.xlsx", "汇总表.xlsx", "评分表", "自我评价"])
def test_organizer_text_is_never_a_formula(folder: Path, which: str) -> None:
    paths = [p for p in _written(folder) if which in p.name]
    assert paths
    for path in paths:
        with zipfile.ZipFile(path) as zf:
            xml = {n: zf.read(n) for n in zf.namelist() if n.endswith(".xml")}
        for name, data in xml.items():
            for formula in _F.findall(data):
                assert b"QIMARK" not in formula, (path.name, name, formula[:120])
        text = b"".join(xml.values())
        assert b"QIMARK" in text, path.name  # the texts are there, as text


def test_issued_workbook_shows_the_names_as_typed(folder: Path) -> None:
    from openpyxl import load_workbook

    path = next(p for p in _written(folder) if "评分表" in p.name)
    wb = load_workbook(path)
    values = [c.value for ws in wb for row in ws.iter_rows() for c in row if isinstance(c.value, str)]
    for expected in ("=QIMARK2+1 小计", "-QIMARK4 有机构的，10 分", "@QIMARK3 成立机构", "=QIMARK7 服务", "+QIMARK8 中心"):
        assert any(expected in v for v in values), expected
    assert all(not (v.startswith("=") and "QIMARK" in v) or c_is_text for v, c_is_text in
               ((c.value, c.data_type == "s") for ws in wb for row in ws.iter_rows() for c in row
                if isinstance(c.value, str)))


def test_long_service_name_keeps_page_header_within_excel_limit(tmp_path: Path) -> None:
    from html import unescape

    root = tmp_path / "评价"
    new_evaluation(root)
    info = sample_info()._replace(service_name="长" * 290 + "&服务" + "x" * 8)  # 301 characters
    assert len(info.service_name) == 301
    (root / PROJECT_FILE).write_bytes(fill_project_workbook(project_template_bytes(), info, sample_panel(), sample_review()))
    record = issue_workbooks(root).records[0]
    with zipfile.ZipFile(root / record.file) as zf:
        xml = b"".join(zf.read(n) for n in zf.namelist() if n.startswith("xl/worksheets/"))
    headers = [unescape(h.decode("utf-8")) for h in re.findall(rb"<oddHeader>(.*?)</oddHeader>", xml)]
    assert headers and any("长长长" in h for h in headers)
    assert all(len(h) <= 255 for h in headers), [len(h) for h in headers]
