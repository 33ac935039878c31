"""Every finding code of the checks, on workbooks issued by the project's own writer and then
altered the way a person or another program would: raw XML edits, openpyxl edits, re-zipping."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from openpyxl import load_workbook

from qi_excel import layout as L
from qi_excel.checks import check_workbook
from qi_excel.findings import CODES, has_errors
from qi_excel.evaluation import IssuedRecord, Panel, new_evaluation
from qi_excel.returned import read_returned
from qi_excel.rubric import parse_rubric, shipped_rubric
from qi_excel.workbook import issue_workbooks
from shared_corpus import CORPUS
from xlsx_edit import (META_PART, CheckContext, codes, only, SCORE_PART, cell_xml, edit_part, fill, full_scores, issued_bytes, score_ref,
                       set_cell)

RUBRIC = shipped_rubric()
LAY = L.score_sheet_layout(RUBRIC)


class Ctx(CheckContext):
    def filled(self, expert_id: str = "E01", **kw) -> bytes:
        name = self.panel.by_id(expert_id).name if expert_id != "SELF" else "申报单位"
        kw.setdefault("sign", name)
        return fill(issued_bytes(self.folder, expert_id), RUBRIC, **kw)


@pytest.fixture
def ctx(issued_folder: Path) -> Ctx:
    return Ctx(issued_folder)


def test_filled_at_maximum_is_clean(ctx: Ctx) -> None:
    assert ctx.check(ctx.filled()) == []


def test_issued_blank_workbook_is_one_blank_finding(ctx: Ctx) -> None:
    found = ctx.check(issued_bytes(ctx.folder, "E02"))
    blank = only(found, "SCORE_BLANK")
    assert len(blank) == 1 and "全部 79 个得分格" in blank[0].message
    assert blank[0].cell == "评分表!G5"


def test_score_not_allowed_names_cell_item_and_allowed_values(ctx: Ctx) -> None:
    scores = full_scores(RUBRIC) | {"2.3.4": 8}
    f = only(ctx.check(ctx.filled(scores=scores, remarks={"2.3.4": "部分材料缺失"})), "SCORE_NOT_ALLOWED")[0]
    ref = score_ref(RUBRIC, "2.3.4")
    assert f.cell == f"评分表!{ref}" and f.severity == "error"
    assert f.message == f"评分表!{ref}（平台服务机构 第4项）填写了 8 分，该项允许的分值为 0、5~7、10，请改正后重新发送。"


@pytest.mark.parametrize("value", [11, -1, "7.5"])
def test_scores_outside_range_or_fractional(ctx: Ctx, value) -> None:
    scores = full_scores(RUBRIC) | {"1.1.1": value}
    f = only(ctx.check(ctx.filled(scores=scores, remarks={"1.1.1": "x"})), "SCORE_NOT_ALLOWED")
    assert [x.cell for x in f] == ["评分表!G5"]


def test_score_typed_as_text(ctx: Ctx) -> None:
    data = edit_part(ctx.filled(), SCORE_PART, lambda x: set_cell(x, "G6", text="八"))
    f = only(ctx.check(data), "SCORE_TEXT")[0]
    assert f.cell == "评分表!G6" and "“八”" in f.message and "0、5~9、10" in f.message


def test_number_stored_as_text_is_text(ctx: Ctx) -> None:
    data = edit_part(ctx.filled(), SCORE_PART, lambda x: set_cell(x, "G6", text="10"))
    assert only(ctx.check(data), "SCORE_TEXT")[0].cell == "评分表!G6"


def test_formula_typed_over_score(ctx: Ctx) -> None:
    data = edit_part(ctx.filled(), SCORE_PART, lambda x: set_cell(x, "G7", formula="5+5", cached=10))
    f = only(ctx.check(data), "SCORE_FORMULA")[0]
    assert f.cell == "评分表!G7" and "=5+5" in f.message


def test_one_blank_score(ctx: Ctx) -> None:
    scores = full_scores(RUBRIC)
    del scores["2.4.1.3"]
    found = ctx.check(ctx.filled(scores=scores))
    blank = only(found, "SCORE_BLANK")
    assert [b.cell for b in blank] == [f"评分表!{score_ref(RUBRIC, '2.4.1.3')}"]
    assert "岗位职责" not in blank[0].message and "平台服务机构管理" in blank[0].message


def test_total_formula_overwritten_is_a_warning(ctx: Ctx) -> None:
    total = LAY.total_row.score_ref
    data = edit_part(ctx.filled(), SCORE_PART, lambda x: set_cell(x, total, number=1000))
    found = ctx.check(data)
    f = only(found, "TOTAL_FORMULA_CHANGED")[0]
    assert f.cell == f"评分表!{total}" and f.severity == "warning" and not has_errors(found)


def test_subtotal_formula_edited_to_add_points(ctx: Ctx) -> None:
    row = LAY.row_for("1.1")

    def edit(x: str) -> str:
        body = cell_xml(x, row.score_ref)
        formula = re.search(r"<f>(.*?)</f>", body).group(1)
        return set_cell(x, row.score_ref, formula=formula + "+5", cached=35)

    f = only(ctx.check(edit_part(ctx.filled(), SCORE_PART, edit)), "TOTAL_FORMULA_CHANGED")[0]
    assert f.cell == f"评分表!{row.score_ref}" and "机构管理 小计" in f.message


def test_cached_total_disagreeing_is_a_warning(ctx: Ctx) -> None:
    total = LAY.total_row.score_ref

    def edit(x: str) -> str:
        formula = re.search(r"<f>(.*?)</f>", cell_xml(x, total)).group(1)
        return set_cell(x, total, formula=formula, cached=990)

    found = ctx.check(edit_part(ctx.filled(), SCORE_PART, edit))
    f = only(found, "CACHED_TOTAL_MISMATCH")[0]
    assert f.cell == f"评分表!{total}" and "990" in f.message and "1000" in f.message
    assert not has_errors(found)


def test_never_recalculated_file_is_not_the_experts_fault(ctx: Ctx) -> None:
    # the writer's cached zeros left in place, as a script that cannot calculate saves it
    found = ctx.check(ctx.filled(recalc=False))
    assert "CACHED_TOTAL_MISMATCH" not in codes(found) and found == []


def test_openpyxl_save_drops_cached_values_but_is_accepted(ctx: Ctx) -> None:
    wb = load_workbook(io.BytesIO(ctx.filled()))
    wb["评分表"]["H6"] = "=以等号开头的说明"
    wb["评分表"]["G6"] = 9
    buf = io.BytesIO()
    wb.save(buf)
    rw = read_returned(buf.getvalue(), "x.xlsx", rubric=RUBRIC)
    assert rw.meta["expert_id"] == "E01"  # openpyxl keeps the veryHidden identity sheet
    assert rw.sheet("_qi").state == "veryHidden"
    assert rw.remarks["1.1.2"] == "=以等号开头的说明"
    found = ctx.check(buf.getvalue())
    assert not has_errors(found), found
    assert "CACHED_TOTAL_MISMATCH" not in codes(found)


def test_sheet_protection_removed(ctx: Ctx) -> None:
    data = edit_part(ctx.filled(), SCORE_PART, lambda x: re.sub(r"<sheetProtection[^>]*/>", "", x))
    found = ctx.check(data)
    f = only(found, "PROTECTION_REMOVED")
    assert [x.cell for x in f] == ["评分表!A1"] and not has_errors(found)


def test_structure_protection_removed_unless_libreoffice_saved_it(ctx: Ctx) -> None:
    data = edit_part(ctx.filled(), "xl/workbook.xml", lambda x: re.sub(r"<workbookProtection[^>]*/>", "", x))
    f = only(ctx.check(data), "PROTECTION_REMOVED")
    assert len(f) == 1 and f[0].cell is None and "结构保护" in f[0].message
    lo = edit_part(data, "docProps/app.xml",
                   lambda x: re.sub(r"<Application>[^<]*</Application>", "<Application>LibreOffice/7.4.7.2$Linux</Application>", x))
    assert "PROTECTION_REMOVED" not in codes(ctx.check(lo))


def test_remark_missing_for_deduction(ctx: Ctx) -> None:
    scores = full_scores(RUBRIC) | {"1.1.2": 7, "1.1.3": 5, "2.4.1.2": 3}
    found = ctx.check(ctx.filled(scores=scores, remarks={"1.1.3": "-制度未发布"}))
    f = only(found, "REMARK_MISSING")
    assert [x.cell for x in f] == ["评分表!H6", f"评分表!{LAY.row_for('2.4.1.2').note_ref}"]
    assert all(x.severity == "warning" for x in f) and not has_errors(found)


def test_signature_and_date_blank(ctx: Ctx) -> None:
    found = ctx.check(ctx.filled(sign="", sign_date=None))
    assert only(found, "SIGNATURE_BLANK")[0].cell == f"评分表!{LAY.signature_cell}"
    assert only(found, "DATE_BLANK")[0].cell == f"评分表!{LAY.sign_date_cell}"
    assert not has_errors(found)


def test_sign_date_as_text_or_serial(ctx: Ctx) -> None:
    rw = read_returned(ctx.filled(), "x.xlsx", rubric=RUBRIC)
    assert rw.sign_date == "2025-06-18" and rw.sign_name == "周立新"
    rw = read_returned(ctx.filled(sign_date="6月18日"), "x.xlsx", rubric=RUBRIC)
    assert rw.sign_date == "6月18日"


def test_rows_inserted_with_openpyxl(ctx: Ctx) -> None:
    wb = load_workbook(io.BytesIO(ctx.filled()))
    wb["评分表"].insert_rows(10, 1)
    buf = io.BytesIO()
    wb.save(buf)
    found = ctx.check(buf.getvalue())
    assert codes(found) == ["STRUCTURE_CHANGED"]
    assert found[0].cell == "评分表!D10" and f"应为 {LAY.rows[5].id}" in found[0].message and "实际为空白" in found[0].message


def test_rows_moved_in_the_xml(ctx: Ctx) -> None:
    # swap the ids of two rows, as a cut-and-paste of whole rows leaves them
    def edit(x: str) -> str:
        a, b = cell_xml(x, "D5"), cell_xml(x, "D6")
        return x.replace(a, "\0").replace(b, a.replace('r="D5"', 'r="D6"')).replace("\0", b.replace('r="D6"', 'r="D5"'))

    found = ctx.check(edit_part(ctx.filled(), SCORE_PART, edit))
    assert codes(found) == ["STRUCTURE_CHANGED"] and found[0].cell == "评分表!D5"


def test_defined_name_moved(ctx: Ctx) -> None:
    data = edit_part(ctx.filled(), "xl/workbook.xml",
                     lambda x: x.replace("'评分表'!$G$5<", "'评分表'!$G$6<"))
    found = ctx.check(data)
    assert codes(found) == ["STRUCTURE_CHANGED"] and "G6" in found[0].message


def test_score_sheet_renamed(ctx: Ctx) -> None:
    data = edit_part(ctx.filled(), "xl/workbook.xml", lambda x: x.replace('name="评分表"', 'name="打分"'))
    assert codes(ctx.check(data)) == ["STRUCTURE_CHANGED"]


def test_criterion_text_and_maximum_changed(ctx: Ctx) -> None:
    def edit(x: str) -> str:
        x = set_cell(x, "E5", text="随便写的评分标准")
        return set_cell(x, "F6", number=20)

    found = ctx.check(edit_part(ctx.filled(), SCORE_PART, edit))
    assert [(f.code, f.cell) for f in found] == [("RUBRIC_CHANGED", "评分表!E5"), ("RUBRIC_CHANGED", "评分表!F6")]


def test_rich_text_criterion_is_read_as_its_text(ctx: Ctx) -> None:
    # WPS/Excel store a partly bold cell as rich-text runs; the words are unchanged
    item = RUBRIC.item("1.1.1")
    half = len(item.criterion) // 2
    run = (f'<is><r><rPr><b/></rPr><t xml:space="preserve">{item.criterion[:half]}</t></r>'
           f'<r><t xml:space="preserve">{item.criterion[half:]}</t></r><rPh sb="0" eb="1"><t>ピン</t></rPh></is>')

    def edit(x: str) -> str:
        old = cell_xml(x, "E5")
        style = re.search(r'\ss="\d+"', old).group(0)
        return x.replace(old, f'<c r="E5"{style} t="inlineStr">{run}</c>')

    data = edit_part(ctx.filled(), SCORE_PART, edit)
    assert read_returned(data, "x", rubric=RUBRIC).cell("E5").value == item.criterion
    assert ctx.check(data) == []


def test_workbook_issued_under_another_rubric(tmp_path: Path) -> None:
    text = RUBRIC.source_text.replace('title = "质量基础设施“一站式”服务评价表"', 'title = "另一版评价表"')
    other = parse_rubric(text, "另一版")
    folder = tmp_path / "评价"
    new_evaluation(folder, sample=True)
    issue_workbooks(folder, rubric=other)
    c = Ctx(folder)
    assert codes(c.check(issued_bytes(folder, "E01"))) == ["RUBRIC_CHANGED"]


def test_not_issued_by_us(ctx: Ctx) -> None:
    corpus = CORPUS / "autofilter00.xlsx"
    if corpus.is_file():
        assert codes(ctx.check(corpus.read_bytes())) == ["NOT_ISSUED"]
    # copy of the sheets without the hidden identity sheet
    wb = load_workbook(io.BytesIO(ctx.filled()))
    del wb["_qi"]
    buf = io.BytesIO()
    wb.save(buf)
    found = ctx.check(buf.getvalue())
    assert codes(found) == ["NOT_ISSUED"] and "_qi" in found[0].message


def test_workbook_of_another_evaluation(ctx: Ctx, tmp_path: Path) -> None:
    other = tmp_path / "另一次"
    new_evaluation(other, sample=True)
    issue_workbooks(other)
    found = ctx.check(fill(issued_bytes(other, "E01"), RUBRIC, sign="周立新"))
    assert codes(found) == ["WRONG_EVALUATION"]


def test_expert_removed_from_roster(ctx: Ctx) -> None:
    panel = Panel(tuple(e for e in ctx.panel.experts if e.expert_id != "E03"))
    found = ctx.check(ctx.filled("E03"), panel=panel)
    assert codes(found) == ["UNKNOWN_EXPERT"] and "E03" in found[0].message


def test_expert_renamed_in_roster(ctx: Ctx) -> None:
    panel = Panel(tuple(e._replace(name="刘卫冬") if e.expert_id == "E03" else e for e in ctx.panel.experts))
    found = ctx.check(ctx.filled("E03"), panel=panel)
    assert codes(found) == ["EXPERT_RENAMED"] and not has_errors(found)


def test_identity_edited_breaks_signature(ctx: Ctx) -> None:
    # someone unhides _qi and types another expert's id: E01's file passed off as E02's
    def edit(x: str) -> str:
        return set_cell(x, f"B{L.META_KEYS.index('expert_id') + 1}", text="E02")

    data = edit_part(ctx.filled(), META_PART, edit)
    assert read_returned(data, "x", rubric=RUBRIC).expert_id == "E02"
    assert codes(ctx.check(data)) == ["BAD_SIGNATURE"]


def test_signed_with_another_key(ctx: Ctx) -> None:
    assert codes(ctx.check(ctx.filled(), rubric=RUBRIC)) == []
    rw = read_returned(ctx.filled(), "x", rubric=RUBRIC)
    found = check_workbook(rw, rubric=RUBRIC, evaluation_id=ctx.secret.evaluation_id, key=b"\0" * 32,
                           panel=ctx.panel, issued=ctx.issued)
    assert codes(found) == ["BAD_SIGNATURE"]


def test_reissued_workbook_is_a_warning(ctx: Ctx) -> None:
    later = [*ctx.issued, IssuedRecord("E01", "周立新", "发放/x.xlsx", "expert", "2099-01-01T00:00:00+08:00", "0")]
    found = ctx.check(ctx.filled(), issued=[r for r in later if r.expert_id != "E01" or r.issued_at.startswith("2099")])
    assert codes(found) == ["REISSUED"] and "已于 2099年1月1日 00:00 重新发放" in found[0].message
    assert "T" not in found[0].message.split("工作簿")[0]  # no ISO stamp where people read it


def test_self_evaluation_alone_is_fine(ctx: Ctx) -> None:
    assert ctx.check(ctx.filled("SELF", sign="黄志强")) == []


def test_self_evaluation_signed_by_an_expert(ctx: Ctx) -> None:
    found = ctx.check(ctx.filled("SELF", sign="王芳"))
    assert codes(found) == ["SELF_AS_EXPERT"] and found[0].cell == f"评分表!{LAY.signature_cell}"


def test_self_evaluation_sent_from_an_experts_address(ctx: Ctx) -> None:
    found = ctx.check(ctx.filled("SELF", sign="黄志强"), sender="WangFang@example.com")
    assert codes(found) == ["SELF_AS_EXPERT"] and "王芳" in found[0].message


def test_many_bad_cells_stay_readable(ctx: Ctx) -> None:
    scores = {c.id: "x" for c in RUBRIC.score_cells}

    def edit(x: str) -> str:
        for row in LAY.inputs:
            x = set_cell(x, row.score_ref, text="好")
        return x

    found = ctx.check(edit_part(ctx.filled(scores={}), SCORE_PART, edit))
    text = only(found, "SCORE_TEXT")
    assert len(text) == 13 and text[-1].cell is None and "另有 67 个" in text[-1].message
    assert scores  # every score cell was text


def test_every_code_has_a_severity() -> None:
    assert set(CODES.values()) == {"error", "warning"}


# ───────────────────── adversarial review ─────────────────────


@pytest.mark.parametrize("literal, code", [("1e30", "SCORE_NOT_ALLOWED"), ("１０", "SCORE_TEXT"), ("1e999999999", "SCORE_TEXT")])
def test_score_literals_no_program_writes(ctx: Ctx, literal: str, code: str) -> None:
    """A score cell holding what no spreadsheet writes is named, never accepted or crashed on."""
    sc = RUBRIC.score_cells[0]
    ref = score_ref(RUBRIC, sc.id)
    data = edit_part(ctx.filled(), SCORE_PART, lambda x: set_cell(x, ref, number=literal))
    f = only(ctx.check(data), code)[0]
    assert f.cell == f"评分表!{ref}" and f.severity == "error"


def test_hidden_score_sheet_is_a_structure_change(ctx: Ctx) -> None:
    """The expert would have filled and printed a visible copy; the hidden original is not what they saw."""
    data = edit_part(ctx.filled(), "xl/workbook.xml",
                     lambda x: x.replace(f'<sheet name="{L.SCORE_SHEET}"', f'<sheet name="{L.SCORE_SHEET}" state="hidden"', 1))
    f = only(ctx.check(data), "STRUCTURE_CHANGED")[0]
    assert "隐藏" in f.message


def test_total_formula_with_an_absurd_row_number_is_a_changed_formula(ctx: Ctx) -> None:
    total = next(r for r in LAY.rows if r.kind == "total")
    formula = "SUM(G" + "9" * 5000 + ")"  # int() refuses 5,000 digits
    data = edit_part(ctx.filled(), SCORE_PART, lambda x: set_cell(x, total.score_ref, formula=formula, cached=1000))
    found = ctx.check(data)
    f = only(found, "TOTAL_FORMULA_CHANGED")[0]
    assert f.cell == f"评分表!{total.score_ref}" and "公式公式" not in f.message
    assert not has_errors(found)


@pytest.mark.parametrize("text", ["周 立新", "周立新\u3000", " 周\t立\xa0新 ", "Ivan·Petrov", "J.R．R", "ĞÜL ŞEN", "周\u200b立新"])
def test_names_compare_without_whitespace_and_dots(text: str) -> None:
    from qi_excel.checks import _name_key

    assert _name_key(text) == re.sub(r"[\s\u3000·•.．]", "", text).casefold()
