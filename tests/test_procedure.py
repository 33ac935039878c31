"""The procedure's papers: review record, plan, sign-in sheets and pledge, from real folders."""

from __future__ import annotations

import importlib.util
import shutil
import zipfile
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from docx import Document
from docx.oxml.ns import qn
from evaluated import W_T, all_text, assert_no_tags, build_evaluated

from qi_excel.cli import main
from qi_excel.docx_render import shipped_template
from qi_excel.opinion import OPINION_FILE, read_opinion
from qi_excel.errors import QiError
from qi_excel.evaluation import PROJECT_FILE, load_project, sample_info
from qi_excel.procedure import (
    FIRST_SIGNIN_FILE,
    LAST_SIGNIN_FILE,
    PLAN_FILE,
    PLEDGE_FILE,
    PROCEDURE_TEMPLATES,
    REVIEW_FILE,
    signin_context,
    split_when_where,
    write_documents,
    write_pledge,
    write_review,
    write_signin,
)
from qi_excel.review import REVIEW_SHEET


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory) -> Path:
    return build_evaluated(tmp_path_factory.mktemp("proc") / "评价")


@pytest.fixture
def folder(evaluated: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(evaluated, tmp_path / "副本"))


def test_split_when_where() -> None:
    assert split_when_where("2025-06-18 09:00 服务中心三楼会议室") == ("2025年6月18日 09:00", "服务中心三楼会议室")
    assert split_when_where("2025-06-18 10:00—16:30 服务大厅") == ("2025年6月18日 10:00—16:30", "服务大厅")
    assert split_when_where("2025年6月19日 下午 2:30 三楼") == ("2025年6月19日 下午 2:30", "三楼")
    assert split_when_where("2025-06-19") == ("2025年6月19日", "—")
    assert split_when_where("另行通知") == ("另行通知", "—")
    assert split_when_where("") == ("—", "—")


def test_signin_context_pre_prints_the_panel(evaluated: Path) -> None:
    info, panel = load_project(evaluated)
    ctx = signin_context(info, panel, "last")
    assert [e["name"] for e in ctx["experts"]] == [e.name for e in panel.experts]
    assert ctx["experts"][0]["role"] == "组长" and ctx["chair"].startswith("周立新")
    assert ctx["meeting_when"] == "2025年6月19日 10:00" and ctx["meeting_where"] == "服务中心三楼会议室"
    assert ctx["applicant_rows"][0] == len(panel.experts) + 1  # blank rows numbered on


def test_an_excused_member_is_not_pre_printed_to_sign_in(folder: Path) -> None:
    """Like the report's signature table: the sheets never ask an excused member to sign."""
    from qi_excel.excuse import excuse

    excuse(folder, "E03", "因病未能参加现场考察")
    write_signin(folder)
    for name in (FIRST_SIGNIN_FILE, LAST_SIGNIN_FILE):
        rows = [[c.text for c in r.cells] for r in Document(str(folder / name)).tables[1].rows]
        names = [r[1] for r in rows[2:8]]
        assert "刘卫东" not in names and names[:3] == ["周立新", "陈晓岚", "王芳"], name
        assert [r[0] for r in rows[2:8]] == ["1", "2", "3", "4", "5", "6"], name  # numbered without a gap
        assert "刘卫东（因病未能参加现场考察）请假" in all_text(folder / name), name


def test_every_paper_renders_from_the_folder(folder: Path) -> None:
    info, panel = load_project(folder)
    paths = write_documents(folder)
    assert [p.name for p in paths] == [REVIEW_FILE, PLAN_FILE, FIRST_SIGNIN_FILE, LAST_SIGNIN_FILE, PLEDGE_FILE]
    for path in paths:
        assert_no_tags(path)
        text = all_text(path)
        assert info.applicant in text, path.name
    review = all_text(folder / REVIEW_FILE)
    assert "规划及实施方案等相关文件" in review and "符合规范 6.2 条要求" in review and "邓晓梅" in review
    plan = all_text(folder / PLAN_FILE)
    for e in panel.experts:
        assert e.name in plan and e.employer in plan and e.title in plan
    for stage in ("首次会议", "现场考察", "内部沟通", "末次会议"):
        assert stage in plan
    assert "服务中心二楼小会议室" in plan and "评价纪律" in plan and "保密" in plan
    first = Document(str(folder / FIRST_SIGNIN_FILE))
    rows = [[c.text for c in r.cells] for r in first.tables[1].rows]
    assert rows[0][:3] == ["序号", "姓名", "工作单位"]
    assert any(r[1] == "周立新" and r[4] == "组长" for r in rows)
    assert any(r[0] == "申报单位参会人员" for r in rows) and any(r[0] == "12" and r[1] == "" for r in rows)
    assert "首次会议签到表" in all_text(folder / FIRST_SIGNIN_FILE)
    assert "末次会议签到表" in all_text(folder / LAST_SIGNIN_FILE)
    pledge = all_text(folder / PLEDGE_FILE)
    suggestions = read_opinion(folder / OPINION_FILE).suggestions  # the panel's words, as in the report
    assert suggestions[0] in pledge and "持续改进" in pledge and "负责人（签字）" in pledge


def test_fonts_and_page_like_the_report(folder: Path) -> None:
    for path in write_documents(folder):
        doc = Document(str(path))
        styles = {s.name: s for s in doc.styles}
        for style, font in (("Normal", "仿宋"), ("Title", "黑体"), ("Heading 1", "黑体"), ("QI 表格文字", "宋体")):
            assert styles[style].element.rPr.find(qn("w:rFonts")).get(qn("w:eastAsia")) == font
        runs = [r for r in doc.element.body.iter(qn("w:r")) if (r.findtext(W_T) or "").strip()]
        assert runs and all(r.find(qn("w:rPr")).find(qn("w:rFonts")).get(qn("w:eastAsia")) for r in runs)
        section = doc.sections[0]
        assert (round(section.page_width.cm, 1), round(section.page_height.cm, 1)) == (21.0, 29.7)
        assert "PAGE" in section.footer._element.xml


def test_review_record_follows_the_sheet(folder: Path) -> None:
    path = folder / PROJECT_FILE
    wb = openpyxl.load_workbook(path)
    ws = wb[REVIEW_SHEET]
    for row in ws.iter_rows(max_col=4):
        if row[0].value == "审查结论":
            row[1].value = "需整改"
        if row[0].value == "d)":
            row[2].value = "否"
    wb.save(path)
    write_review(folder)
    text = all_text(folder / REVIEW_FILE)
    assert "需整改" in text and "否" in text


def test_pledge_needs_a_final_consolidation(sample_folder: Path) -> None:
    with pytest.raises(QiError, match="还没有汇总结果"):
        write_pledge(sample_folder)
    result = CliRunner().invoke(main, ["pledge", str(sample_folder)])
    assert result.exit_code != 0 and "qi-excel consolidate" in result.output
    # three of seven experts returned: only a draft consolidation is possible
    from datetime import date, datetime, timezone

    from qi_excel.collect import collect
    from qi_excel.consolidation_step import consolidate_folder
    from qi_excel.evaluation import INBOX_DIR, evaluation_rubric
    from qi_excel.simulate import fill_workbook, platform_levels, simulated_fill
    from qi_excel.workbook import issue_workbooks

    rubric = evaluation_rubric(sample_folder)
    levels = platform_levels(rubric, 1)
    for i, rec in enumerate(issue_workbooks(sample_folder).records[:3]):
        fill = simulated_fill(rubric, levels, i, sign_name=rec.name, sign_date=date(2025, 6, 18),
                              saved_at=datetime(2025, 6, 18, 17, i, tzinfo=timezone.utc))
        data = fill_workbook((sample_folder / rec.file).read_bytes(), rubric, fill)
        (sample_folder / INBOX_DIR / Path(rec.file).name).write_bytes(data)
    collect(sample_folder)
    assert consolidate_folder(sample_folder, draft=True).draft
    with pytest.raises(QiError, match="草稿"):
        write_pledge(sample_folder)


def test_cli_commands(folder: Path) -> None:
    for args, name in ((["review"], REVIEW_FILE), (["plan"], PLAN_FILE), (["signin", "--meeting", "last"], LAST_SIGNIN_FILE),
                       (["pledge"], PLEDGE_FILE)):
        result = CliRunner().invoke(main, [args[0], str(folder), *args[1:]])
        assert result.exit_code == 0, result.output
        assert name in result.output and (folder / name).is_file()
    assert not (folder / FIRST_SIGNIN_FILE).exists()
    with pytest.raises(QiError, match="--meeting"):
        write_signin(folder, template=shipped_template(FIRST_SIGNIN_FILE))


def test_templates_exported_and_reworded(folder: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["templates", "export", str(tmp_path / "模板")])
    assert result.exit_code == 0, result.output
    for name in PROCEDURE_TEMPLATES:
        assert (tmp_path / "模板" / name).is_file()
    edited = tmp_path / "模板" / PLAN_FILE
    doc = Document(str(edited))
    doc.add_paragraph().add_run("联络：{{ contact }}；{{ 不存在 }}")
    doc.save(str(edited))
    result = CliRunner().invoke(main, ["plan", str(folder), "--template", str(edited)])
    assert result.exit_code != 0 and "不存在" in result.output


def test_shipped_templates_match_their_build_script(tmp_path: Path) -> None:
    script = Path(__file__).resolve().parents[1] / "docx_templates" / "build_procedure_templates.py"
    spec = importlib.util.spec_from_file_location("build_procedure_templates", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(tmp_path)
    for name in PROCEDURE_TEMPLATES:
        with zipfile.ZipFile(tmp_path / name) as fresh, zipfile.ZipFile(shipped_template(name)) as shipped:
            for part in ("word/document.xml", "word/styles.xml", "word/footer1.xml"):
                assert fresh.read(part) == shipped.read(part), (name, part)


def test_sample_info_dates_feed_the_plan() -> None:
    assert split_when_where(sample_info().internal_meeting)[1] == "服务中心二楼小会议室"
