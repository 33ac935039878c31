"""专家组意见.docx: the panel leader's draft, and the report copying its words verbatim."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from docx import Document
from docx.oxml.ns import qn

from qi_excel.cli import main
from qi_excel.consolidate import ExpertSheet, consolidate
from qi_excel.documents import NEW_REPORT_FILE, make_report
from qi_excel.errors import QiError
from qi_excel.evaluation import REPORT_FILE
from qi_excel.opinion import (
    HEADINGS,
    NEW_DRAFT_FILE,
    OPINION_FILE,
    draft_opinion,
    merge_similar,
    read_opinion,
    split_sections,
)
from qi_excel.rubric import parse_rubric
from evaluated import build_evaluated

SMALL = (Path(__file__).parent / "small_rubric.toml").read_text(encoding="utf-8")
LONG = "现场查阅二〇二四年度机构会议纪要，" * 12 + "未见领导小组专题研究记录"  # > 200 characters


# ───────────────────────────── pure ─────────────────────────────


def test_merge_similar_keeps_distinct_and_the_longest_of_near_duplicates() -> None:
    texts = ["机构职责分工记录不完整", "机构职责分工记录不完整。", "机构职责分工的记录不完整", "档案未按年度归档", ""]
    assert merge_similar(texts) == ["机构职责分工记录不完整。", "档案未按年度归档"]
    # same sentence pattern about different indicators is not a duplicate
    assert merge_similar(["加强人力资源工作，定期汇总分析", "加强服务场所工作，定期汇总分析"]) == [
        "加强人力资源工作，定期汇总分析", "加强服务场所工作，定期汇总分析"]
    assert merge_similar(["加强服务内容工作，定期汇总分析并形成改进计划", "加强服务过程工作，定期汇总分析并形成改进计划"]) \
        == ["加强服务内容工作，定期汇总分析并形成改进计划", "加强服务过程工作，定期汇总分析并形成改进计划"]
    # a one-character variant and a dropped word are the same remark
    assert merge_similar(["应制定年度计划并按期评审", "应制订年度计划并按期评审"]) == ["应制定年度计划并按期评审"]
    assert merge_similar(["建议完善需求收集台账和服务记录", "建议进一步完善需求收集台账和服务记录"]) == [
        "建议进一步完善需求收集台账和服务记录"]


def _sheet(i: int, scores: dict[str, int], remarks: dict[str, str], suggestions=()) -> ExpertSheet:
    return ExpertSheet(f"E0{i}", f"专家{i}", scores, remarks, tuple(suggestions))


def test_draft_groups_remarks_by_item_with_number_and_criterion_nothing_cut() -> None:
    rubric = parse_rubric(SMALL)
    full = {"1.1.1": 10, "1.1.2.1": 10, "1.1.2.2": 10, "2.1.1": 10}
    sheets = [
        _sheet(1, {**full, "1.1.1": 8}, {"1.1.1": LONG}, [("建立需求台账", "1.1")]),
        _sheet(2, {**full, "1.1.1": 7}, {"1.1.1": LONG + "。"}, [("建立需求台账。", "2.1")]),
        _sheet(3, {**full, "1.1.2.2": 6}, {"1.1.2.2": "档案未按年度归档"}),
        _sheet(4, full, {}),
        _sheet(5, full, {}),
    ]
    cons = consolidate(rubric, sheets, service_name="某服务", applicant="某中心")
    op = draft_opinion(cons, rubric)
    assert op.problems == (
        f"1．1.1.1 机构管理第 1 项（满分 10 分，专家组得分 9.00 分），评分标准：有机构的，10 分。专家意见：{LONG}。",
        "2．1.1.2 机构管理第 2 项（满分 20 分，专家组得分 19.20 分），评分标准：两项制度，各 10 分。"
        "专家意见：档案管理：档案未按年度归档。",
    )
    assert op.suggestions == ("1．建立需求台账（涉及：1.1、2.1）。",)
    assert op.conclusion[0].startswith("经专家组现场考察、独立评分和内部沟通，某中心承担的某服务评价总得分为 38.20 分")
    assert op.highlights and all("汇总表" not in t and "……" not in t for s in op.sections() for t in s)


def test_split_sections_takes_the_text_under_each_heading() -> None:
    paras = [("专家组意见", False), ("说明", False), (HEADINGS[0], True), ("亮点一", False), ("", False),
             (HEADINGS[1], True), ("问题一", False), ("问题二", False), (HEADINGS[2], False),  # style lost in WPS
             ("建议一", False), (" 四、 评价结论 ", True), ("结论。", False)]
    op = split_sections(paras, OPINION_FILE)
    assert op.highlights == ("亮点一",) and op.problems == ("问题一", "问题二")
    assert op.suggestions == ("建议一",) and op.conclusion == ("结论。",)


@pytest.mark.parametrize("paras, message", [
    ([(HEADINGS[0], True), (HEADINGS[1], True), (HEADINGS[3], True), ("x", False)], "找不到标题：三、改进建议"),
    ([(h, True) for h in HEADINGS[:3]] + [("五、其他", True), (HEADINGS[3], True), ("x", False)],
     "多出的一级标题“五、其他”"),
    ([(HEADINGS[1], True), (HEADINGS[0], True), (HEADINGS[2], True), (HEADINGS[3], True), ("x", False)],
     "顺序不对"),
    ([(h, True) for h in HEADINGS], "评价结论”下没有文字"),
])
def test_split_sections_refuses_a_broken_structure(paras, message) -> None:
    with pytest.raises(QiError, match=message) as err:
        split_sections(paras, "专家组意见.docx")
    assert "专家组意见.docx" in str(err.value)


# ───────────────────────────── the folder ─────────────────────────────


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory) -> Path:
    return build_evaluated(tmp_path_factory.mktemp("opinion") / "评价")


@pytest.fixture
def folder(evaluated: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(evaluated, tmp_path / "评价"))


def _cli(*args: str):
    return CliRunner().invoke(main, list(args))


def _paragraph_after(doc, heading: str):
    paras = doc.paragraphs
    i = next(k for k, p in enumerate(paras) if p.text == heading)
    return paras[i + 1]


def test_draft_has_four_headings_in_order_and_the_official_look(folder: Path) -> None:
    doc = Document(str(folder / OPINION_FILE))
    level1 = [p.text for p in doc.paragraphs if p.style.name == "Heading 1"]
    assert level1 == list(HEADINGS)
    text = "\n".join(p.text for p in doc.paragraphs)
    assert "汇总表" not in text and "……" not in text and "{{" not in text and "{%" not in text
    styles = {s.name: s for s in doc.styles}
    for style, font in (("Normal", "仿宋"), ("Heading 1", "黑体")):
        assert styles[style].element.rPr.find(qn("w:rFonts")).get(qn("w:eastAsia")) == font
    section = doc.sections[0]
    assert (round(section.page_width.cm, 1), round(section.page_height.cm, 1)) == (21.0, 29.7)
    assert "PAGE" in section.footer._element.xml
    # every problem is an item number with its criterion
    problems = read_opinion(folder / OPINION_FILE).problems
    assert problems and all("评分标准：" in p for p in problems)


def test_edited_conclusion_goes_verbatim_into_the_report_and_survives_consolidate(folder: Path) -> None:
    path = folder / OPINION_FILE
    doc = Document(str(path))
    conclusion = _paragraph_after(doc, HEADINGS[3])
    mine = "专家组一致认为，该平台运行规范、成效明显，同意通过评价；建议在满意度测评方面进一步改进。"
    conclusion.text = mine
    problem = _paragraph_after(doc, HEADINGS[1])
    problem.text = "1．需求收集台账不完整。\t（组长补充）"
    doc.save(str(path))
    edited = path.read_bytes()

    result = _cli("report", str(folder))
    assert result.exit_code == 0, result.output
    report = Document(str(folder / REPORT_FILE))
    paras = [p.text for p in report.paragraphs]
    assert _paragraph_after(report, "六、评价结论").text == mine
    assert "1．需求收集台账不完整。\t（组长补充）" in paras
    assert paras.index("（二）存在问题") < paras.index("1．需求收集台账不完整。\t（组长补充）") < paras.index("（三）改进建议")

    result = _cli("consolidate", str(folder))
    assert result.exit_code == 0, result.output
    assert path.read_bytes() == edited  # never overwritten
    assert (folder / NEW_DRAFT_FILE).is_file() and NEW_DRAFT_FILE in result.output
    assert read_opinion(folder / NEW_DRAFT_FILE).conclusion != (mine,)

    result = _cli("report", str(folder))
    assert result.exit_code == 0, result.output
    assert _paragraph_after(Document(str(folder / REPORT_FILE)), "六、评价结论").text == mine


def test_unedited_draft_is_refreshed_by_consolidate(folder: Path) -> None:
    before = (folder / OPINION_FILE).read_bytes()
    assert _cli("consolidate", str(folder), "--method", "median").exit_code == 0
    assert (folder / OPINION_FILE).read_bytes() != before and not (folder / NEW_DRAFT_FILE).exists()


def test_missing_opinion_is_recreated_by_report_and_said(folder: Path) -> None:
    (folder / OPINION_FILE).unlink()
    result = _cli("report", str(folder))
    assert result.exit_code == 0, result.output
    assert f"未找到 {OPINION_FILE}，已按汇总结果重新生成草稿" in result.output
    assert (folder / OPINION_FILE).is_file()


def test_extra_heading_in_the_edited_opinion_is_a_clear_error(folder: Path) -> None:
    path = folder / OPINION_FILE
    doc = Document(str(path))
    doc.add_paragraph("五、其他意见", style="Heading 1")
    doc.save(str(path))
    result = _cli("report", str(folder))
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert f"{OPINION_FILE} 中有多出的一级标题“五、其他意见”" in result.output


def test_edited_report_is_not_discarded(folder: Path) -> None:
    make_report(folder)
    report = folder / REPORT_FILE
    doc = Document(str(report))
    doc.add_paragraph("组长手工补充的一段。")
    doc.save(str(report))
    edited = report.read_bytes()
    written = make_report(folder)
    assert report.read_bytes() == edited
    assert written.paths == (folder / NEW_REPORT_FILE,)
    assert any(NEW_REPORT_FILE in n and "未覆盖" in n for n in written.notes)


def test_archive_waits_for_a_report_with_the_final_opinion(folder: Path) -> None:
    import os

    from qi_excel.archive import write_archive

    make_report(folder)
    report_time = (folder / REPORT_FILE).stat().st_mtime
    path = folder / OPINION_FILE
    doc = Document(str(path))
    _paragraph_after(doc, HEADINGS[3]).text = "专家组同意通过评价。"
    doc.save(str(path))
    os.utime(path, (report_time + 60, report_time + 60))
    with pytest.raises(QiError, match=f"{OPINION_FILE} 在评价报告生成后又修改过"):
        write_archive(folder)
    make_report(folder)
    assert _paragraph_after(Document(str(folder / REPORT_FILE)), "六、评价结论").text == "专家组同意通过评价。"
    os.utime(folder / REPORT_FILE, (report_time + 120, report_time + 120))
    assert write_archive(folder).is_file()
