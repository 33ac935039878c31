"""The Word documents filled from a real evaluation folder (issued, returned, collected, consolidated)."""

from __future__ import annotations

import dataclasses
import re
import shutil
import zipfile
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from docx import Document
from docx.oxml.ns import qn

from qi_excel.collect import collect, load_accepted
from qi_excel.evaluation import evaluation_rubric
from qi_excel.consolidation_step import consolidate_folder, load_consolidation
from qi_excel.documents import (
    APPLICATION_TEMPLATE,
    DRAFT_REPORT_FILE,
    REPORT_TEMPLATE,
    export_templates,
    make_report,
    report_context,
    REPORT_REQUIRED,
    write_application,
    write_report,
)
from qi_excel.decimals import fmt_decimal
from qi_excel.docx_render import chinese_date, render_template, shipped_template
from qi_excel.errors import QiError
from qi_excel.evaluation import APPLICATION_FILE, INBOX_DIR, REPORT_FILE, load_project, new_evaluation
from qi_excel.simulate import fill_workbook, platform_levels, simulated_fill
from qi_excel.workbook import issue_workbooks

from evaluated import W_T, all_text, assert_no_tags, build_evaluated, docx_texts


def table_rows(table) -> list[list[str]]:
    return [[c.text.strip() for c in row.cells] for row in table.rows]


def find_table(doc, header_first: str, header_second: str):
    for t in doc.tables:
        first = [c.text.strip() for c in t.rows[0].cells]
        if first[:2] == [header_first, header_second]:
            return t
    raise AssertionError(f"no table with header {header_first}/{header_second}")


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory) -> Path:
    return build_evaluated(tmp_path_factory.mktemp("docs") / "评价")


@pytest.fixture
def folder(evaluated: Path, tmp_path: Path) -> Path:
    """A private copy, so a test may change files freely."""
    return Path(shutil.copytree(evaluated, tmp_path / "评价"))


# ───────────────────────────── pure helpers ─────────────────────────────


def test_chinese_date_keeps_time_and_place() -> None:
    assert chinese_date("2025-06-18") == "2025年6月18日"
    assert chinese_date("2025-06-18 09:00 三楼会议室") == "2025年6月18日 09:00 三楼会议室"
    assert chinese_date("2025年6月") == "2025年6月"
    assert chinese_date("") == "—"


def test_fmt_decimal_rounds_half_up() -> None:
    assert fmt_decimal(Decimal("2.345"), 2) == "2.35"
    assert fmt_decimal(Decimal("2.5"), 0) == "3"
    assert fmt_decimal(Decimal("80"), 2) == "80.00"


# ───────────────────────────── application (Appendix B) ─────────────────────────────


def test_application_filled_with_project_and_self_total(folder: Path) -> None:
    paths = write_application(folder)
    assert paths == [folder / APPLICATION_FILE]
    info, _ = load_project(folder)
    text = all_text(paths[0])
    assert_no_tags(paths[0])
    for value in (info.service_name, info.applicant, info.address, info.head, info.head_phone, info.head_email,
                  info.contact, info.contact_phone, info.contact_email, "2025年5月20日"):
        assert value in text, value
    assert info.goals.split("\n")[0] in text
    for note in ("1、服务名称用“XXX质量基础设施‘一站式’服务”。", "5、本表一式三份，字迹要工整清晰，可以打印。"):
        assert note in text
    for material in ("自我评价记录", "工作总结", "相关制度", "规划及实施方案等相关文件"):
        assert material in text
    # 自查得分: the consolidation's self total, which is the self-evaluation workbook's sum.
    cons = load_consolidation(folder)
    self_wb = next(w for w in load_accepted(folder) if w.kind == "self")
    assert cons.self_total == sum(self_wb.int_scores().values())
    doc = Document(str(paths[0]))
    form = find_table(doc, "单位名称", info.applicant)
    score_row = next(r for r in table_rows(form) if r[0] == "自查得分")
    assert score_row[1] == f"{int(cons.self_total)} 分"


def test_application_self_total_from_workbook_without_consolidation(folder: Path) -> None:
    (folder / ".qi" / "consolidation.json").unlink()
    self_wb = next(w for w in load_accepted(folder) if w.kind == "self")
    write_application(folder)
    doc = Document(str(folder / APPLICATION_FILE))
    form = doc.tables[1]
    score_row = next(r for r in table_rows(form) if r[0] == "自查得分")
    assert score_row[1] == f"{sum(self_wb.int_scores().values())} 分"


def test_application_without_self_evaluation_shows_dash(tmp_path: Path) -> None:
    folder = tmp_path / "评价"
    new_evaluation(folder, sample=True)
    write_application(folder)
    doc = Document(str(folder / APPLICATION_FILE))
    score_row = next(r for r in table_rows(doc.tables[1]) if r[0] == "自查得分")
    assert score_row[1] == "—"
    assert_no_tags(folder / APPLICATION_FILE)


# ───────────────────────────── report (Appendix C) ─────────────────────────────


def test_report_filled_and_score_tables_equal_consolidation(folder: Path) -> None:
    paths = write_report(folder)
    assert paths == [folder / REPORT_FILE]
    assert_no_tags(paths[0])
    cons = load_consolidation(folder)
    info, panel = load_project(folder)
    text = all_text(paths[0])
    for value in (info.service_name, info.applicant, info.organizer, "2025年6月18日", "2025年6月19日 10:00",
                  "专家组签字表", "一、基本情况", "二、评价依据", "三、评价过程", "四、评分结果", "五、专家组意见",
                  "六、评价结论", "首次会议", "现场考察", "内部沟通", "末次会议", "亮点", "存在问题", "改进建议"):
        assert value in text, value
    assert "草稿" not in text
    places = cons.decimals
    doc = Document(str(paths[0]))

    level1 = table_rows(find_table(doc, "序号", "一级指标"))
    body = level1[1:-1]
    assert [(r[0], r[1], r[2], r[3], r[4]) for r in body] == [
        (s.id, s.name, str(s.max), fmt_decimal(s.score, places), fmt_decimal(s.rate, places)) for s in cons.level1
    ]
    assert level1[-1][2:] == [str(cons.max_total), fmt_decimal(cons.total, places), fmt_decimal(cons.rate, places)]

    level2 = table_rows(find_table(doc, "一级指标", "序号"))[1:]
    names = {s.id: s.name for s in cons.level1}
    assert [(r[0], r[1], r[2], r[3], r[4], r[5]) for r in level2] == [
        (names[s.parent], s.id, s.name, str(s.max), fmt_decimal(s.score, places), fmt_decimal(s.rate, places))
        for s in cons.level2
    ]
    # the printed second-level scores add up to the printed total
    assert sum(Decimal(r[4]) for r in level2) == cons.total

    signatures = table_rows(find_table(doc, "序号", "姓名"))[1:]
    assert len(signatures) == len(panel.experts) == 7
    for row, expert in zip(signatures, panel.experts):
        assert row[:5] == [str(expert.number), expert.name, expert.title, expert.employer, expert.role]
        assert row[5] == ""  # signed by hand

    # 五 and 六 are 专家组意见.docx's paragraphs, verbatim; no programmer reasoning in the report
    from qi_excel.opinion import OPINION_FILE, read_opinion

    opinion = read_opinion(folder / OPINION_FILE)
    paragraphs = [p.text for p in doc.paragraphs]
    for section in opinion.sections():
        for t in section:
            assert t in paragraphs, t
    assert cons.suggestions[0].text in text
    assert "逐级相加" not in text and "计分规则" not in text and "汇总表" not in text


def test_report_refuses_draft_consolidation_unless_draft(folder: Path) -> None:
    consolidate_folder(folder, draft=True)
    with pytest.raises(QiError, match="--draft"):
        write_report(folder)
    assert not (folder / REPORT_FILE).exists()
    paths = write_report(folder, draft=True)
    assert paths == [folder / DRAFT_REPORT_FILE]
    assert_no_tags(paths[0])
    doc = Document(str(paths[0]))
    titles = [p.text for p in doc.paragraphs if p.style.name == "Title"]
    assert any("草稿" in t for t in titles)
    with zipfile.ZipFile(paths[0]) as zf:
        headers = [zf.read(n).decode("utf-8") for n in zf.namelist() if re.match(r"word/header\d*\.xml", n)]
    body_section_header = doc.sections[-1].header
    assert "草稿" in "".join(p.text for p in body_section_header.paragraphs)
    assert sum('string="草稿"' in h and "PowerPlusWaterMarkObject" in h for h in headers) == len(doc.sections)


def test_expert_text_printed_literally(folder: Path, tmp_path: Path) -> None:
    cons = load_consolidation(folder)
    info, panel = load_project(folder)
    nasty = '=HYPERLINK("http://evil.example","点我") <w:p>&amp; {{ total }}'
    items = list(cons.item_scores)
    k = next(i for i, item in enumerate(items) if item.lost > 0)
    items[k] = dataclasses.replace(items[k], remarks=(nasty,))
    suggestion = dataclasses.replace(cons.suggestions[0], text="+SUM(A1:A9) </w:t>\a\f建议")
    cons = dataclasses.replace(cons, item_scores=tuple(items), suggestions=(suggestion,))
    target = tmp_path / "r.docx"
    render_template(shipped_template(REPORT_TEMPLATE), report_context(info, panel, cons), REPORT_REQUIRED, target)
    text = all_text(target)
    assert nasty in text
    assert "+SUM(A1:A9) </w:t>  建议" in text
    Document(str(target))  # still a valid document


# ───────────────────────────── templates ─────────────────────────────


def _edited_template(tmp_path: Path, extra: str) -> Path:
    doc = Document(str(shipped_template(REPORT_TEMPLATE)))
    doc.add_paragraph().add_run(extra)
    path = tmp_path / "我的报告模板.docx"
    doc.save(str(path))
    return path


def test_unknown_placeholder_is_refused_with_its_name(folder: Path, tmp_path: Path) -> None:
    template = _edited_template(tmp_path, "组长电话：{{ leader_phone }}，{{ servce_name }}")
    with pytest.raises(QiError) as err:
        write_report(folder, template=template)
    message = str(err.value)
    assert "我的报告模板.docx" in message and "leader_phone" in message and "servce_name" in message
    assert not (folder / REPORT_FILE).exists()


def test_template_without_signature_rows_is_refused(folder: Path, tmp_path: Path) -> None:
    doc = Document()
    doc.add_paragraph("{{ service_name }} {{ applicant }} 总分 {{ total }}")
    doc.add_paragraph("{% for r in level1 %}{{ r.name }}{% endfor %}")
    path = tmp_path / "简化.docx"
    doc.save(str(path))
    with pytest.raises(QiError, match="缺少必需的占位符：experts"):
        write_report(folder, template=path)


def test_unknown_field_of_a_row_is_refused(folder: Path, tmp_path: Path) -> None:
    template = _edited_template(tmp_path, "{% for e in experts %}{{ e.mobile }}{% endfor %}")
    with pytest.raises(QiError, match="mobile"):
        write_report(folder, template=template)


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("坏.docx", b"this is not a zip", "不是有效的 Word 文档"),
        ("旧格式.doc", b"\xd0\xcf\x11\xe0", "另存为"),
        ("表格.docx", None, "不是有效的 Word 文档"),
    ],
)
def test_unusable_template_gets_a_clear_message(folder: Path, tmp_path: Path, name: str, data: bytes | None,
                                                 expected: str) -> None:
    path = tmp_path / name
    if data is None:  # a real OOXML package that is a workbook, not a document
        shutil.copyfile(folder / "评价项目.xlsx", path)
    else:
        path.write_bytes(data)
    with pytest.raises(QiError, match=expected):
        write_application(folder, template=path)


def test_broken_jinja_in_template(folder: Path, tmp_path: Path) -> None:
    template = _edited_template(tmp_path, "{{ service_name ")
    with pytest.raises(QiError, match="占位符写法有误"):
        write_report(folder, template=template)


def test_organizer_can_reword_an_exported_template(folder: Path, tmp_path: Path) -> None:
    exported = export_templates(tmp_path / "模板")
    from qi_excel.procedure import PROCEDURE_TEMPLATES

    assert sorted(p.name for p in exported) == sorted([APPLICATION_TEMPLATE, REPORT_TEMPLATE, *PROCEDURE_TEMPLATES])
    doc = Document(str(tmp_path / "模板" / APPLICATION_TEMPLATE))
    doc.add_paragraph().add_run("（本表由{{ applicant }}填写，联系人{{ contact }}）")
    doc.save(str(tmp_path / "模板" / APPLICATION_TEMPLATE))
    write_application(folder, template=tmp_path / "模板" / APPLICATION_TEMPLATE)
    info, _ = load_project(folder)
    assert f"（本表由{info.applicant}填写，联系人{info.contact}）" in all_text(folder / APPLICATION_FILE)
    with pytest.raises(QiError, match="未导出"):
        export_templates(tmp_path / "模板")


def test_shipped_placeholders_each_sit_in_one_run() -> None:
    for name in (APPLICATION_TEMPLATE, REPORT_TEMPLATE, "专家组意见.docx"):
        texts = docx_texts(shipped_template(name))
        tags = [t for t in texts if "{" in t or "}" in t]
        assert tags, name
        for t in tags:
            assert t.count("{{") == t.count("}}") and t.count("{%") == t.count("%}"), (name, t)


def test_shipped_templates_match_their_build_script(tmp_path: Path) -> None:
    import importlib.util

    script = Path(__file__).resolve().parents[1] / "docx_templates" / "build_templates.py"
    spec = importlib.util.spec_from_file_location("build_templates", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(tmp_path)
    for name in (APPLICATION_TEMPLATE, REPORT_TEMPLATE, "专家组意见.docx"):
        with zipfile.ZipFile(tmp_path / name) as fresh, zipfile.ZipFile(shipped_template(name)) as shipped:
            for part in ("word/document.xml", "word/styles.xml", "word/footer1.xml"):
                assert fresh.read(part) == shipped.read(part), (name, part)


# ───────────────────────────── official look ─────────────────────────────


def test_fonts_page_and_tables_are_set_explicitly(folder: Path) -> None:
    write_report(folder)
    write_application(folder)
    for name in (REPORT_FILE, APPLICATION_FILE):
        path = folder / name
        doc = Document(str(path))
        styles = {s.name: s for s in doc.styles}
        for style, font in (("Normal", "仿宋"), ("Title", "黑体"), ("Heading 1", "黑体"), ("QI 表格文字", "宋体")):
            fonts = styles[style].element.rPr.find(qn("w:rFonts"))
            assert fonts.get(qn("w:eastAsia")) == font, (name, style)
            assert not any(k.endswith("Theme") for k in fonts.attrib), (name, style)
        body = doc.element.body
        runs = [r for r in body.iter(qn("w:r")) if r.find(W_T) is not None and (r.find(W_T).text or "").strip()]
        assert runs
        for r in runs:
            fonts = r.find(qn("w:rPr")).find(qn("w:rFonts"))
            assert fonts is not None and fonts.get(qn("w:eastAsia")), (name, r.find(W_T).text)
        for section in doc.sections:
            assert (round(section.page_width.cm, 1), round(section.page_height.cm, 1)) == (21.0, 29.7)
            assert (round(section.left_margin.cm, 1), round(section.right_margin.cm, 1)) == (2.8, 2.6)
        footer_xml = doc.sections[-1].footer._element.xml
        assert "PAGE" in footer_xml and "— " in footer_xml
        rows = list(body.iter(qn("w:tr")))
        assert all(r.find(qn("w:trPr")) is not None for r in rows)
        assert sum(r.find(qn("w:trPr")).find(qn("w:cantSplit")) is not None for r in rows) >= len(rows) - 2
        assert any(r.find(qn("w:trPr")).find(qn("w:tblHeader")) is not None for r in rows)
        for tbl in body.iter(qn("w:tbl")):
            assert tbl.find(qn("w:tblPr")).find(qn("w:tblBorders")) is not None


def test_internal_meeting_date_never_after_last_meeting(folder: Path) -> None:
    from qi_excel.documents import INTERNAL_MEETING_FALLBACK, internal_meeting

    given, _ = load_project(folder)
    cons = load_consolidation(folder)
    # the organizer's own entry in 基本信息 wins
    assert given.internal_meeting.startswith("2025-06-18 17:00")
    assert internal_meeting(given, dataclasses.replace(cons, created_at="2025-07-02T09:00:00+08:00")) \
        .startswith("2025年6月18日")
    # left blank: inferred from the consolidation, never after the last meeting
    info = given._replace(internal_meeting="")
    assert info.site_visit.startswith("2025-06-18") and info.last_meeting.startswith("2025-06-19")
    assert internal_meeting(info, dataclasses.replace(cons, created_at="2025-06-18T18:30:00+08:00")) == "2025年6月18日"
    assert internal_meeting(info, dataclasses.replace(cons, created_at="2025-07-02T09:00:00+08:00")) \
        == INTERNAL_MEETING_FALLBACK


def test_member_without_a_workbook_must_be_excused_and_does_not_sign(tmp_path: Path) -> None:
    """Clauses 7.2, 8.3.2: no final result while a member is missing; an excused member does not sign."""
    from qi_excel.excuse import excuse

    folder = tmp_path / "评价"
    new_evaluation(folder, sample=True)
    records = list(issue_workbooks(folder).records)
    rubric = evaluation_rubric(folder)
    levels = platform_levels(rubric, 3)
    for i, rec in enumerate(records[:6]):  # the seventh member never returns a workbook
        fill = simulated_fill(rubric, levels, i, sign_name=rec.name, sign_date=date(2025, 6, 18),
                              saved_at=datetime(2025, 6, 18, 17, i, tzinfo=timezone(timedelta(hours=8))))
        (folder / INBOX_DIR / Path(rec.file).name).write_bytes(
            fill_workbook((folder / rec.file).read_bytes(), rubric, fill))
    collect(folder)
    with pytest.raises(QiError, match="孙浩然（E07）还没有已接收的评分表"):
        consolidate_folder(folder)
    excuse(folder, "孙浩然", "因公出差未能参加现场考察")
    cons = consolidate_folder(folder)
    assert len(cons.experts) == 6 and cons.members == 7 and not cons.draft
    _info, panel = load_project(folder)
    path = write_report(folder)[0]
    doc = Document(str(path))
    signatures = table_rows(find_table(doc, "序号", "姓名"))[1:]
    assert [r[1] for r in signatures] == [e.name for e in sorted(panel.experts, key=lambda e: e.number)][:6]
    assert len(signatures) == 6
    text = all_text(path)
    assert "共 7 人，实到 6 人" in text and "孙浩然因因公出差未能参加现场考察" not in text
    assert "孙浩然请假（因公出差未能参加现场考察）" in text


def test_placeholder_split_across_runs_by_word_still_fills(folder: Path, tmp_path: Path) -> None:
    """Word's spell checker splits ``{{ applicant }}`` into runs with proofErr marks between them."""
    split = ('</w:t></w:r><w:proofErr w:type="spellStart"/>'
             '<w:r><w:rPr><w:lang w:val="en-US"/></w:rPr><w:t xml:space="preserve">')
    source = shipped_template(REPORT_TEMPLATE)
    target = tmp_path / "拆分.docx"
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item)
            if item.filename == "word/document.xml":
                xml = data.decode("utf-8")
                assert "{{ applicant }}" in xml
                xml = xml.replace("{{ applicant }}", "{" + split + "{ appl" + split + "icant }" + split + "}", 1)
                data = xml.encode("utf-8")
            zout.writestr(item, data)
    path = write_report(folder, template=target)[0]
    assert_no_tags(path)
    info, _panel = load_project(folder)
    assert info.applicant in all_text(path)


def test_report_refuses_a_roster_changed_since_the_consolidation(folder: Path) -> None:
    """An expert added to 评价项目.xlsx after consolidate would give 共 8 人 and an eighth
    signature row beside 专家组 7 名专家: the report is refused until consolidate runs again."""
    import openpyxl

    from qi_excel.project import PANEL_SHEET, PROJECT_FILE

    wb = openpyxl.load_workbook(folder / PROJECT_FILE)
    ws = wb[PANEL_SHEET]
    row = next(r for r in range(3, ws.max_row + 1) if not ws[f"B{r}"].value)
    for col, value in zip("BCDEFGH", ("新增专家", "教授", "某大学", "计量", "13900000000", "x@example.com", "成员")):
        ws[f"{col}{row}"] = value
    wb.save(folder / PROJECT_FILE)
    with pytest.raises(QiError, match="专家组名单在上次汇总之后改动过（汇总时 7 人，现在 8 人）"):
        make_report(folder)
    assert not (folder / REPORT_FILE).exists()
    consolidate_folder(folder, draft=True)  # the new member has no workbook yet
    assert "共 8 人" in all_text(make_report(folder, draft=True).paths[0])
