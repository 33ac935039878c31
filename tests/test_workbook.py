"""Issued score workbooks opened with openpyxl: validation, protection, names, formulas, identity."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import openpyxl
import pytest
from openpyxl.utils import range_boundaries

from qi_excel import layout as L
from qi_excel.evaluation import Expert, load_issued, load_secret, new_secret, sample_info, sample_panel
from qi_excel.identity import verify
from qi_excel.rubric import shipped_rubric
from qi_excel.workbook import (
    issue_workbooks, safe_file_part,
)
from qi_excel.score_package import render_score_workbook
from qi_excel.score_sheet import legacy_password_hash
from qi_excel.score_validation import DROPDOWN_MAX_VALUES, validation_for

RUBRIC = shipped_rubric()
LAYOUT = L.score_sheet_layout(RUBRIC)
ISSUED_AT = "2025-06-10T09:30:00+08:00"


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    from qi_excel.evaluation import new_evaluation

    root = tmp_path_factory.mktemp("issue") / "评价"
    new_evaluation(root, sample=True)
    issue_workbooks(root)
    issue_workbooks(root, self_eval=True)
    return root


@pytest.fixture(scope="module")
def books(folder) -> dict[str, openpyxl.Workbook]:
    """expert_id → the workbook as issued (all 7 experts and SELF)."""
    return {r.expert_id: openpyxl.load_workbook(folder / r.file) for r in load_issued(folder)}


def _cells(sqref) -> set[str]:
    out = set()
    for rng in str(sqref).split():
        c1, r1, c2, r2 = range_boundaries(rng)
        for r in range(r1, r2 + 1):
            for c in range(c1, c2 + 1):
                out.add(f"{openpyxl.utils.get_column_letter(c)}{r}")
    return out


def _accepts(dv, ref: str, value: int) -> bool:
    """Evaluate an openpyxl DataValidation for an integer the way Excel would."""
    if dv.type == "list":
        return str(value) in dv.formula1.strip('"').split(",")
    if dv.type == "whole":
        assert dv.operator in (None, "between")
        return int(dv.formula1) <= value <= int(dv.formula2)
    assert dv.type == "custom", dv.type
    expr = dv.formula1.lstrip("=").replace(ref, "x")
    expr = re.sub(r"(?<![<>])=", "==", expr)
    for fn, py in (("AND(", "_and("), ("OR(", "_or("), ("ISNUMBER(", "_isnum("), ("INT(", "int(")):
        expr = expr.replace(fn, py)
    env = {"_and": lambda *a: all(a), "_or": lambda *a: any(a), "_isnum": lambda v: True, "int": int, "x": value}
    return bool(eval(expr, {"__builtins__": {}}, env))  # noqa: S307 - our own formula, test only


def test_one_validation_per_score_cell_allowing_exactly_the_rubric(books):
    for book in books.values():
        ws = book[L.SCORE_SHEET]
        dvs = ws.data_validations.dataValidation
        for row in LAYOUT.inputs:
            ref = row.score_ref
            covering = [dv for dv in dvs if ref in _cells(dv.sqref)]
            assert len(covering) == 1, ref
            dv = covering[0]
            cell = row.cell
            accepted = {v for v in range(-3, cell.max + 4) if _accepts(dv, ref, v)}
            assert accepted == set(cell.allowed.values()), ref
            assert dv.showErrorMessage and dv.errorStyle in (None, "stop")
            assert dv.error and "只能填写" in dv.error and cell.allowed.describe() in dv.error
            assert dv.showInputMessage and len(dv.promptTitle) <= 32 and len(dv.prompt) <= 255
            assert cell.allowed.describe() in dv.prompt
            if cell.item.explain:
                assert cell.item.explain[:20] in dv.prompt
            if dv.type == "list":
                assert len(cell.allowed.values()) <= DROPDOWN_MAX_VALUES and len(dv.formula1) <= 257
        # no validation sits on a locked or formula cell
        inputs = {r.score_ref for r in LAYOUT.inputs} | {LAYOUT.sign_date_cell, L.commitment_cell(LAYOUT)}
        for dv in dvs:
            assert _cells(dv.sqref) <= inputs


def test_validation_kind_follows_the_value_set():
    kinds = {c.id: validation_for(c, "G5").kind for c in RUBRIC.score_cells}
    assert kinds["1.1.1"] == "list"  # 0、5~9、10
    assert kinds["2.2.1"] == "whole"  # 0~60, contiguous
    assert kinds["3.1.1"] == "custom"  # 0、10~30、40: 23 values, typed
    assert kinds["4.1.1"] == "list"  # 0、7、10、15、17、20
    formula = validation_for(RUBRIC.item("1.1.1").cells[0], "G5").options
    assert formula["source"] == ["0", "5", "6", "7", "8", "9", "10"]


def test_only_score_remark_and_signature_cells_are_unlocked(books):
    unlocked_expected = {r.score_ref for r in LAYOUT.inputs} | {r.note_ref for r in LAYOUT.inputs}
    sign = LAYOUT.sign_row
    unlocked_expected |= {f"{c}{sign}" for c in "BCDGH"}  # merged B:D and G:H signature cells
    confirm = L.commitment_rows(LAYOUT)[1]
    for expert_id, book in books.items():
        ws = book[L.SCORE_SHEET]
        unlocked = set()
        for row in ws.iter_rows(min_row=1, max_row=LAYOUT.last_row + 6, max_col=10):
            for c in row:
                if not c.protection.locked:
                    unlocked.add(c.coordinate)
        # experts also confirm their commitment (merged G:H); the self-evaluation has no such block
        commitment = {f"{c}{confirm}" for c in "GH"} if expert_id != "SELF" else set()
        assert unlocked == unlocked_expected | commitment
        sug = book[L.SUGGESTION_SHEET]
        first, last = L.SUGGESTION_FIRST_ROW, L.SUGGESTION_FIRST_ROW + L.SUGGESTION_ROW_COUNT - 1
        for r in range(first, last + 1):
            assert not sug[f"{L.SUGGESTION_TEXT_COL}{r}"].protection.locked
            assert not sug[f"{L.SUGGESTION_REF_COL}{r}"].protection.locked
            assert sug[f"A{r}"].protection.locked
        assert sug["B1"].protection.locked


def test_sheet_and_structure_protection_with_the_folder_password(folder, books):
    password = load_secret(folder).password
    expected = legacy_password_hash(password)
    for book in books.values():
        assert book.security.lockStructure
        assert book.security.workbookPassword == expected
        for ws in book.worksheets:
            assert ws.protection.sheet, ws.title
            assert ws.protection.password == expected
    # the password itself is nowhere in the package
    for r in load_issued(folder):
        with zipfile.ZipFile(folder / r.file) as z:
            for name in z.namelist():
                assert password.encode() not in z.read(name)


def test_defined_names_point_at_the_right_cells(books):
    for book in books.values():
        names = {n: d.attr_text for n, d in book.defined_names.items()}

        def target(ref: str) -> str:
            col, row = re.match(r"([A-Z]+)(\d+)", ref).groups()
            return f"'{L.SCORE_SHEET}'!${col}${row}"

        for row in LAYOUT.inputs:
            assert names[L.score_name(row.cell.id)] == target(row.score_ref)
            assert names[L.note_name(row.cell.id)] == target(row.note_ref)
        for item in RUBRIC.items:
            if item.parts:
                row = LAYOUT.row_for(item.id)
                assert names["score_" + item.id.replace(".", "_")] == target(row.score_ref)
                assert book[L.SCORE_SHEET][row.score_ref].data_type == "f"
        assert names["score_2_4_1_1"] == target(LAYOUT.row_for("2.4.1.1").score_ref)
        assert names["expert_name"] == target(L.EXPERT_NAME_CELL)
        assert names["sign_date"] == target(LAYOUT.sign_date_cell)
        assert names["expert_sign"] == target(LAYOUT.signature_cell)
        assert names["total"] == target(LAYOUT.total_row.score_ref)
        assert len([n for n in names if n.startswith("score_")]) == len(RUBRIC.score_cells) + 3


def _formula_rows(formula: str) -> set[int]:
    m = re.fullmatch(r"=SUM\((.*)\)", formula)
    assert m, formula
    rows: set[int] = set()
    for ref in m.group(1).split(","):
        c1, r1, c2, r2 = range_boundaries(ref)
        assert c1 == c2 == 7  # column G only
        rows |= set(range(r1, r2 + 1))
    return rows


def test_totals_are_formulas_over_the_right_rows(books):
    ws = books["E01"][L.SCORE_SHEET]
    for row in LAYOUT.rows:
        value = ws[row.score_ref].value
        if row.is_input:
            assert value is None
            continue
        assert isinstance(value, str) and value.startswith("=SUM("), row
        assert _formula_rows(value) == set(row.sum_rows)
    # the chain reaches every input exactly once: total ← level1 ← level2 ← items ← parts
    def leaves(r: int) -> list[int]:
        row = next(x for x in LAYOUT.rows if x.row == r)
        return [r] if row.is_input else [leaf for s in row.sum_rows for leaf in leaves(s)]

    assert sorted(leaves(LAYOUT.total_row.row)) == [r.row for r in LAYOUT.inputs]
    assert ws[f"{L.COL_MAX}{LAYOUT.total_row.row}"].value == 1000
    progress = ws[L.PROGRESS_CELL].value
    counted = re.search(r"COUNT\((.*?)\)", progress).group(1)
    rows = set()
    for ref in counted.split(","):
        _, r1, _, r2 = range_boundaries(ref)
        rows |= set(range(r1, r2 + 1))
    assert rows == {r.row for r in LAYOUT.inputs} and progress.endswith('"/79"')


def test_header_and_rows_carry_the_rubric(books, folder):
    info = sample_info()
    ws = books["E03"][L.SCORE_SHEET]
    assert ws["A1"].value.split("\n")[0] == "质量基础设施“一站式”服务评分表"
    assert ws["C2"].value == info.service_name and ws["C3"].value == info.applicant
    assert ws[L.EXPERT_NAME_CELL].value == "刘卫东"
    assert [ws.cell(L.HEADER_ROW, i + 1).value for i in range(8)] == list(L.HEADERS)
    for row in LAYOUT.rows:
        if row.kind == "item":
            assert ws[f"D{row.row}"].value == row.item.id
            assert ws[f"E{row.row}"].value == row.item.criterion
            assert ws[f"F{row.row}"].value == row.item.max
        elif row.kind == "part":
            assert ws[f"D{row.row}"].value == row.cell.id and row.cell.part.name in ws[f"E{row.row}"].value
    first_l2 = RUBRIC.level2[0]
    assert ws["B5"].value.startswith(first_l2.name)
    assert ws["C5"].value == first_l2.requirement
    assert books["SELF"][L.SCORE_SHEET]["A1"].value.split("\n")[0] == "质量基础设施“一站式”服务自我评价记录"
    assert books["SELF"][L.SCORE_SHEET][L.EXPERT_NAME_CELL].value == info.applicant


def test_identity_sheet_is_very_hidden_signed_and_verifies(books, folder):
    secret = load_secret(folder)
    for expert_id, book in books.items():
        qi = book[L.META_SHEET]
        assert qi.sheet_state == "veryHidden"
        meta = {qi.cell(i + 1, 1).value: qi.cell(i + 1, 2).value for i in range(len(L.META_KEYS))}
        assert list(meta) == list(L.META_KEYS)
        assert meta["expert_id"] == expert_id
        assert meta["kind"] == ("self" if expert_id == "SELF" else "expert")
        assert meta["evaluation_id"] == secret.evaluation_id
        assert meta["rubric_fingerprint"] == RUBRIC.fingerprint
        assert meta["layout_version"] == L.LAYOUT_VERSION
        assert verify(secret.hmac_key, meta, RUBRIC.source_text, meta["signature"])
        forged = dict(meta, expert_id="E09")
        assert not verify(secret.hmac_key, forged, RUBRIC.source_text, meta["signature"])
        assert not verify(new_secret().hmac_key, meta, RUBRIC.source_text, meta["signature"])


def test_conditional_formats_highlight_blanks_and_missing_reasons(books):
    ws = books["E01"][L.SCORE_SHEET]
    rules = {r.type: (str(cf.sqref), r) for cf in ws.conditional_formatting for r in cf.rules}
    blank_ref, blank = rules["containsBlanks"]
    assert _cells(blank_ref) == {r.score_ref for r in LAYOUT.inputs}
    reason_ref, reason = rules["expression"]
    assert _cells(reason_ref) == {r.score_ref for r in LAYOUT.inputs} | {r.note_ref for r in LAYOUT.inputs}
    assert reason.formula == ["AND(ISNUMBER($G5),$G5<$F5,LEN(TRIM($H5))=0)"]
    assert blank.dxf.fill.fgColor.rgb != reason.dxf.fill.fgColor.rgb or \
        blank.dxf.fill.bgColor.rgb != reason.dxf.fill.bgColor.rgb


def test_print_ready(books):
    book = books["E01"]
    ws = book[L.SCORE_SHEET]
    assert ws.page_setup.orientation == "landscape" and str(ws.page_setup.paperSize) == "9"
    assert ws.sheet_properties.pageSetUpPr.fitToPage
    assert ws.page_setup.fitToWidth in (None, 1) and ws.page_setup.fitToHeight == 0
    assert ws.print_title_rows == "$2:$4"
    assert "&P" in ws.oddFooter.center.text and "&N" in ws.oddFooter.center.text
    assert ws.freeze_panes == f"A{L.FIRST_BODY_ROW}"
    assert ws.sheet_view.selection[0].activeCell == LAYOUT.inputs[0].score_ref  # opens on the first score
    # rows tall enough for their wrapped criterion text
    from qi_excel.textfit import WIDTHS, line_count

    for row in LAYOUT.rows:
        if row.kind == "item":
            lines = line_count(row.item.criterion, WIDTHS["E"])
            assert ws.row_dimensions[row.row].height >= lines * 13
    assert book.sheetnames == [L.SCORE_SHEET, L.SUGGESTION_SHEET, L.GUIDE_SHEET, L.META_SHEET]
    assert "改进建议" in " ".join(str(c.value) for c in book[L.GUIDE_SHEET]["B"] if c.value)
    header = book[L.SUGGESTION_SHEET].oddHeader
    assert header.right.text == "评价专家：周立新" and header.left.text == sample_info().service_name
    assert books["SELF"][L.SUGGESTION_SHEET].oddHeader.right.text == f"自评单位：{sample_info().applicant}"


def test_roster_text_is_text_never_a_formula_and_survives_xml():
    info = sample_info()._replace(service_name="=HYPERLINK(\"http://x\") <&> _x0041_",
                               applicant="+SUM(1,2)")
    expert = Expert(1, "@张三&<李>", "教授", "", "", "", "", "组长")
    data = render_score_workbook(RUBRIC, info, expert, new_secret(), ISSUED_AT)
    wb = openpyxl.load_workbook(io.BytesIO(data))
    ws = wb[L.SCORE_SHEET]
    assert ws["C2"].value == info.service_name and ws["C2"].data_type == "s"
    assert ws["C3"].value == "+SUM(1,2)" and ws["C3"].data_type == "s"
    assert ws["G2"].value == "@张三&<李>"
    assert wb[L.META_SHEET]["B4"].value == "@张三&<李>"
    guide = " ".join(str(c.value) for c in wb[L.GUIDE_SHEET]["B"] if c.value)
    assert info.service_name in guide


def test_packages_are_valid_zips_with_expected_parts():
    secret = new_secret()
    a = render_score_workbook(RUBRIC, sample_info(), sample_panel().experts[0], secret, ISSUED_AT)
    b = render_score_workbook(RUBRIC, sample_info(), sample_panel().experts[1], secret, ISSUED_AT)
    for data in (a, b):
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            assert z.testzip() is None
            names = set(z.namelist())
            assert {"[Content_Types].xml", "xl/workbook.xml", "xl/sharedStrings.xml", "docProps/core.xml"} <= names
            assert b"QIPH" not in z.read("xl/sharedStrings.xml")
            assert b"<workbookProtection" in z.read("xl/workbook.xml")
            core = z.read("docProps/core.xml").decode()
            assert "2025-06-10T01:30:00Z" in core
    assert a != b
    # same inputs, same bytes: issuing is reproducible
    assert a == render_score_workbook(RUBRIC, sample_info(), sample_panel().experts[0], secret, ISSUED_AT)


def test_safe_file_part_keeps_names_and_drops_path_tricks():
    assert safe_file_part("周立新") == "周立新"
    assert safe_file_part("../../etc/passwd") == "etcpasswd"
    assert safe_file_part('a\\b:c*?"<>|d') == "abcd"
    assert safe_file_part("阿卜杜·热合曼") == "阿卜杜·热合曼"
    assert len(safe_file_part("长" * 100)) == 24


# ───────────────────────────── pages that hold up in print ─────────────────────────────


def test_indicator_labels_are_in_every_row_not_merged_down(books):
    """A label merged down a block prints once: page 2 would show an empty 一级指标 column."""
    ws = books["E01"][L.SCORE_SHEET]
    merged = [m for m in ws.merged_cells.ranges if m.min_row != m.max_row]
    assert not [m for m in merged if m.min_col <= 2], "一级/二级指标 must not be merged across rows"
    for row in LAYOUT.rows:
        if row.kind in ("item", "part"):
            a, b = ws[f"A{row.row}"].value, ws[f"B{row.row}"].value
            assert a and a.replace("\n", "").startswith(row.item.level1), row.row
            assert b and b.replace("\n", "").startswith(row.item.level2), row.row


def test_labels_break_between_words_not_inside_them():
    from qi_excel.textfit import WIDTHS, label_fits, label_lines

    assert label_lines("服务模式总结和推广", WIDTHS["B"]) == "服务模式总结\n和推广"
    assert label_lines("服务模式总结和推广", 30) == "服务模式总结和推广"
    for l1 in RUBRIC.level1:
        assert "\n" not in label_lines(l1.name, WIDTHS["A"]), l1.name
        for l2 in l1.level2:
            for line in label_lines(l2.name, WIDTHS["B"]).split("\n"):
                assert label_fits(line, WIDTHS["B"]), line
    assert label_lines("甲乙丙丁戊己庚辛壬癸子丑", 8) == "甲乙丙丁戊己庚辛壬癸子丑"  # no good break: left to wrap


def test_printed_criterion_is_at_least_9_pt():
    from qi_excel.textfit import FONT_SIZE, WIDTHS
    from qi_excel.score_sheet import MIN_PRINTED_PT, print_scale

    assert FONT_SIZE * print_scale(WIDTHS.values()) >= MIN_PRINTED_PT


def test_rows_hold_a_90_character_remark(books):
    import math

    from qi_excel.textfit import FONT_SIZE, LINE_HEIGHT, WIDTHS

    ws = books["E01"][L.SCORE_SHEET]
    column_pt = (WIDTHS[L.COL_NOTE] * 7 + 5 - 4) * 0.75  # Excel: 7-pixel characters, 0.75 pt per pixel
    lines = math.ceil(90 * FONT_SIZE / column_pt)  # a Chinese character is one em wide
    for row in LAYOUT.inputs:
        height = ws.row_dimensions[row.row].height
        assert height >= lines * LINE_HEIGHT, (row.row, height)
        assert ws[row.note_ref].font.sz >= 9


def test_page_breaks_keep_each_indicator_with_its_subtotal(books):
    ws = books["E01"][L.SCORE_SHEET]
    breaks = [b.id + 1 for b in ws.row_breaks.brk]  # first row of each new page
    assert breaks, "the sheet spans several pages"
    subtotal_rows = {r.row for r in LAYOUT.rows if r.kind in ("level2_total", "level1_total", "total")}
    for b in breaks:
        assert b not in subtotal_rows, b  # a 小计 never starts a page away from its items
        assert b - 1 in subtotal_rows or LAYOUT.rows[[r.row for r in LAYOUT.rows].index(b)].kind in ("item", "part")


def test_paginate_moves_blocks_whole_unless_a_fifth_of_a_page_would_stay_empty():
    from qi_excel.score_sheet import paginate

    small = [[(1, 30, False), (2, 10, True)], [(3, 30, False), (4, 10, True)]]
    assert paginate(small, 80, 100) == []
    assert paginate(small, 70, 100) == [3]  # the second block moves to page 2 whole
    tall = [(5, 50, False), (6, 50, False), (7, 45, False), (8, 10, True)]
    # taller than a page: split, and its 小计 (sticky) takes its last item along
    assert paginate([*small, tall], 80, 100) == [5, 7]
    # a block of four that fits a page, with 60 % of the page free: filled up, then split
    four = [[(1, 40, False)], [(2, 20, False), (3, 20, False), (4, 20, False), (5, 20, False), (6, 5, True)]]
    assert paginate(four, 100, 100) == [5]
    # with 30 % free it is split too; with only 15 % free it moves whole
    assert paginate([[(1, 70, False)], four[1]], 100, 100) == [3]
    assert paginate([[(1, 85, False)], four[1]], 100, 100) == [2]


def test_the_relocated_item_is_pointed_out(books):
    from qi_excel.score_sheet import placement_notes

    notes = placement_notes(RUBRIC)
    assert [ident for ident, _ in notes] == ["4.2.4"]
    guide = books["E01"][L.GUIDE_SHEET]
    text = "\n".join(str(c.value) for row in guide.iter_rows() for c in row if c.value)
    assert "综合效果" in text and "4.2.4" in text
    assert "4.2.4" in books["E01"][L.SCORE_SHEET]["A1"].value
    assert "填写说明" in books["E01"][L.SCORE_SHEET]["A1"].value


def test_sign_date_prompt_shows_the_date_as_the_cell_does(books):
    ws = books["E01"][L.SCORE_SHEET]
    ref = LAYOUT.sign_date_cell
    prompt = next(dv.prompt for dv in ws.data_validations.dataValidation if ref in str(dv.sqref))
    assert re.search(r"如 \d{4}年[1-9]\d?月[1-9]\d?日", prompt) and "-06-" not in prompt
    assert ws[ref].number_format == 'yyyy"年"m"月"d"日"'  # a typed 2026-6-18 shows as 2026年6月18日


def test_the_relocated_items_input_message_says_where_the_print_has_it():

    cell = RUBRIC.cell("4.2.4")
    message = validation_for(cell, "G1").options["input_message"]
    assert "综合效果" in message and len(message) <= 255
    assert "综合效果" not in validation_for(RUBRIC.cell("4.2.3"), "G1").options["input_message"]
