"""汇总表.xlsx as written: sheets, numbers and formats, text safety, charts, print setup."""

from __future__ import annotations

import random
import re
import subprocess
import zipfile
from xml.etree import ElementTree
from decimal import Decimal as D
from pathlib import Path

import openpyxl
import pytest

from qi_excel import office
from qi_excel.consolidate import Consolidation, ExpertSheet, consolidate
from qi_excel.rubric import shipped_rubric
from qi_excel.summary import allowed_text, write_summary

HYPERLINK = '=HYPERLINK("http://x","y")'
NAMES = ["周立新", "陈晓岚", "刘卫东", "王芳", "李建国", "赵敏", "孙浩然"]


def _panel(with_self: bool = True) -> list[ExpertSheet]:
    rubric = shipped_rubric()
    rng = random.Random(5)
    sheets = []
    for k, name in enumerate(NAMES):
        scores = {c.id: rng.choice(c.allowed.values()[-3:]) for c in rubric.score_cells}
        remarks = {"2.4.1.3": "制度未发布"}
        if k == 3:
            scores["1.1.1"] = 0  # 1.1.1 becomes divergent whatever the others gave
            remarks["1.1.1"] = HYPERLINK
        suggestions = [(HYPERLINK, "+1.1")] if k == 0 else [(f"{name}：加强档案管理", "2.8")]
        sheets.append(ExpertSheet(f"E{k + 1:02d}", name, scores, remarks, tuple(suggestions)))
    if with_self:
        sheets.append(ExpertSheet("SELF", "申报单位", {c.id: c.max for c in rubric.score_cells}, kind="self"))
    return sheets


@pytest.fixture(scope="module")
def result() -> Consolidation:
    return consolidate(shipped_rubric(), _panel(), created_at="2024-05-20T16:00:00+08:00",
                       service_name="长沙县质量基础设施“一站式”服务中心", applicant="长沙县市场监督管理局")


@pytest.fixture(scope="module")
def path(result, tmp_path_factory) -> Path:
    return write_summary(result, tmp_path_factory.mktemp("summary") / "汇总表.xlsx", shipped_rubric())


@pytest.fixture(scope="module")
def book(path):
    return openpyxl.load_workbook(path)


def _sheet_xml(path: Path, name: str) -> str:
    """The raw XML of sheet ``name`` (looked up through workbook.xml and its rels)."""
    with zipfile.ZipFile(path) as z:
        wb = z.read("xl/workbook.xml").decode()
        rels = z.read("xl/_rels/workbook.xml.rels").decode()
        rid = re.search(rf'<sheet name="{name}" sheetId="\d+" r:id="(rId\d+)"', wb).group(1)
        target = re.search(rf'Id="{rid}"[^>]*Target="([^"]+)"', rels) or re.search(
            rf'Target="([^"]+)"[^>]*Id="{rid}"', rels)
        return z.read("xl/" + target.group(1)).decode()


def _rows(ws):
    return [[c.value for c in row] for row in ws.iter_rows()]


def _find(ws, text: str) -> tuple[int, int]:
    for row in ws.iter_rows():
        for c in row:
            if c.value == text:
                return c.row, c.column
    raise AssertionError(f"{text!r} not in {ws.title}")


def test_all_sheets_present(book):
    assert book.sheetnames == ["总分", "明细", "分歧", "专家", "失分", "改进建议", "自评对比", "一致性"]


def test_no_self_sheet_without_self_evaluation(tmp_path):
    c = consolidate(shipped_rubric(), _panel(with_self=False))
    wb = openpyxl.load_workbook(write_summary(c, tmp_path / "汇总表.xlsx"))
    assert "自评对比" not in wb.sheetnames and len(wb.sheetnames) == 7  # with 一致性 (issue 14)


def test_total_sheet_numbers_formats_and_rule(book, result):
    ws = book["总分"]
    r, _ = _find(ws, "总分")
    total = ws.cell(r, 4)
    assert total.data_type == "n" and f"{total.value:.2f}" == str(result.total)
    assert total.number_format == "0.00"
    assert ws.cell(r, 5).number_format == "0.00%"
    assert f"{ws.cell(r, 5).value * 100:.2f}" == str(result.rate)
    # the four first-level rows just above the total row, then the level-2 table
    for k, s in enumerate(result.level1):
        row = r - len(result.level1) + k
        assert ws.cell(row, 1).value == s.name and ws.cell(row, 3).value == s.max
        assert f"{ws.cell(row, 4).value:.2f}" == str(s.score)
    l2_header, _ = _find(ws, "二级指标")
    for k, s in enumerate(result.level2):
        row = l2_header + 1 + k
        assert ws.cell(row, 2).value == s.name
        assert f"{ws.cell(row, 4).value:.2f}" == str(s.score)
        assert f"{ws.cell(row, 5).value * 100:.2f}" == str(s.rate)
    # what is printed adds up: the level-2 column sums to the printed total exactly
    printed = sum(D(f"{ws.cell(l2_header + 1 + k, 4).value:.2f}") for k in range(len(result.level2)))
    assert printed == result.total
    notes = " ".join(str(v) for row in _rows(ws) for v in row if isinstance(v, str))
    assert "四舍五入" in notes and "逐级相加完全一致" in notes and "长沙县质量基础设施" in notes


def test_detail_sheet_every_cell_every_expert(book, result):
    ws = book["明细"]
    hr, _ = _find(ws, "编号")
    header = [c.value for c in ws[hr]]
    assert header[3:10] == NAMES and header[10:15] == ["平均", "最低", "最高", "极差", "专家组得分"]
    by_id = {row[0]: row for row in _rows(ws)[hr:] if row[0]}
    for cell in result.cells:
        row = by_id[cell.id]
        assert row[3:10] == list(cell.scores)
        assert (row[11], row[12], row[13]) == (min(cell.scores), max(cell.scores), cell.high - cell.low)
        assert f"{row[14]:.2f}" == str(cell.score) and f"{row[10]:.2f}" == str(cell.mean)
    item = by_id["2.4.1"]  # an item with parts: each expert's sum of parts
    assert item[3:10] == list(result.item_score("2.4.1").scores)
    assert ws.freeze_panes == f"D{hr + 1}"


def test_divergence_lists_scores_and_remarks_side_by_side(book, result):
    assert "1.1.1" in result.divergent
    ws = book["分歧"]
    rows = _rows(ws)
    r, _ = _find(ws, "1.1.1")
    block = rows[r: r + len(NAMES)]  # below the row with the criterion
    assert [b[5] for b in block] == NAMES
    assert [b[6] for b in block] == list(result.item_score("1.1.1").scores)
    assert block[3][7] == HYPERLINK


def test_expert_text_is_text_never_a_formula(book, path):
    assert book["分歧"].cell(*_find(book["分歧"], HYPERLINK)).data_type == "s"
    assert book["改进建议"].cell(*_find(book["改进建议"], HYPERLINK)).data_type == "s"
    for name in ("总分", "明细", "分歧", "专家", "失分", "改进建议", "自评对比"):
        xml = _sheet_xml(path, name)
        assert "<f>" not in xml and "<f " not in xml, name  # the workbook holds values only
    # raw XML: the cells holding the remark are shared-string cells (t="s"), not formulas
    with zipfile.ZipFile(path) as z:
        sst = ElementTree.fromstring(z.read("xl/sharedStrings.xml"))
    ns = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    texts = ["".join(t.text or "" for t in si.iter(ns + "t")) for si in sst.iter(ns + "si")]
    index = texts.index(HYPERLINK)
    for name in ("分歧", "改进建议"):
        cells = re.findall(rf'<c r="[A-Z]+\d+"(?: s="\d+")?( t="\w+")?><v>{index}</v></c>', _sheet_xml(path, name))
        assert cells and set(cells) == {' t="s"'}, name


def test_experts_lost_suggestions_self(book, result):
    ws = book["专家"]
    r, _ = _find(ws, "E01")
    assert ws.cell(r, 2).value == "周立新"
    assert ws.cell(r, 7).value == float(result.experts[0].total)
    lost = _rows(book["失分"])
    hr, _ = _find(book["失分"], "序号")
    listed = [row[1] for row in lost[hr:] if isinstance(row[0], int)]
    assert listed == [p.item_id for p in result.lost]
    values = [row[5] for row in lost[hr:] if isinstance(row[0], int)]
    assert values == sorted(values, reverse=True)
    remarks = next(row[6] for row in lost[hr:] if row[1] == "2.4.1")
    assert "周立新：平台服务机构管理：制度未发布" in remarks
    sugg = _rows(book["改进建议"])
    assert any(row[1] == "周立新" and row[2] == HYPERLINK and row[3] == "+1.1" for row in sugg)
    assert sum(1 for row in sugg if isinstance(row[0], int)) == 7
    self_rows = {row[0]: row for row in _rows(book["自评对比"]) if row[0]}
    assert self_rows["1"][3] == 100 and f"{self_rows['1'][4]:.2f}" == str(result.level1[0].score)


def test_native_bar_and_radar_charts(path):
    with zipfile.ZipFile(path) as z:
        charts = sorted(n for n in z.namelist() if re.fullmatch(r"xl/charts/chart\d+\.xml", n))
        xml = [z.read(n).decode() for n in charts]
        drawing_rels = [n for n in z.namelist() if n.startswith("xl/worksheets/_rels/")]
    assert len(charts) == 3  # the third is 一致性's leniency chart (issue 14)
    bar = next(x for x in xml if "<c:barChart>" in x and "总分!" in x)
    radar = next(x for x in xml if "<c:radarChart>" in x)
    assert "一级指标得分率" in bar and "总分!$E$" in bar
    assert "二级指标得分率" in radar and "总分!$B$" in radar
    assert drawing_rels  # the charts hang off a sheet's drawing


def test_print_ready(path, book):
    for name in book.sheetnames:
        xml = _sheet_xml(path, name)
        assert 'paperSize="9"' in xml and 'fitToHeight="0"' in xml and 'fitToPage="1"' in xml, name
        assert "<oddFooter>" in xml and "&amp;P" in xml, name
        assert "草稿" not in xml, name
    assert 'orientation="landscape"' in _sheet_xml(path, "明细")
    assert 'orientation="portrait"' in _sheet_xml(path, "总分")
    with zipfile.ZipFile(path) as z:
        wb = z.read("xl/workbook.xml").decode()
    assert wb.count("_xlnm.Print_Titles") >= 6  # the header row repeats on every list sheet
    assert book["失分"].freeze_panes is not None


def test_draft_marked_everywhere(tmp_path):
    c = consolidate(shipped_rubric(), _panel(with_self=False)[:3], draft=True)
    path = write_summary(c, tmp_path / "汇总表.xlsx")
    wb = openpyxl.load_workbook(path)
    for ws in wb.worksheets:
        assert ws["A1"].value.startswith("【草稿】"), ws.title
        assert "草稿" in _sheet_xml(path, ws.title).split("<oddHeader>", 1)[1], ws.title


@pytest.mark.office
@pytest.mark.skipif(office.soffice_path() is None, reason="LibreOffice (soffice) 未安装")
def test_pdf_of_total_sheet_shows_the_numbers(path, result, tmp_path):
    pdf = office.convert(path, "pdf", tmp_path)
    first = subprocess.run(["pdftotext", "-layout", "-f", "1", "-l", "1", str(pdf), "-"],
                           capture_output=True, text=True, check=True).stdout
    assert "总分" in first and str(result.total) in first
    assert f"{result.level1[0].rate}%" in first
    second = subprocess.run(["pdftotext", "-f", "2", "-l", "2", str(pdf), "-"],
                            capture_output=True, text=True, check=True).stdout
    assert "一级指标得分率" in second and "二级指标得分率" in second


def _long_remark_result(remark: str) -> Consolidation:
    sheets = _panel(with_self=False)
    first = sheets[0]
    sheets[0] = ExpertSheet(first.expert_id, first.name, first.scores, {**first.remarks, "1.1.1": remark},
                            ((remark, "1.1"),))
    return consolidate(shipped_rubric(), sheets)


def test_remark_beyond_excel_cell_limit_is_cut_with_a_visible_note(tmp_path):
    remark = "=" + "甲" * 39_999  # 40,000 characters; also looks like a formula
    path = write_summary(_long_remark_result(remark), tmp_path / "汇总表.xlsx")
    with zipfile.ZipFile(path) as z:
        sst = ElementTree.fromstring(z.read("xl/sharedStrings.xml"))
    ns = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    texts = ["".join(t.text or "" for t in si.iter(ns + "t")) for si in sst.iter(ns + "si")]
    cut = [t for t in texts if t.startswith("=甲甲")]
    assert cut, "the long remark is missing"
    for text in cut:
        assert len(text.encode("utf-16-le")) // 2 <= 32767
        assert text.endswith("全文见专家本人的评分工作簿】") and "超出 Excel 单元格" in text
    for name in ("分歧", "失分", "改进建议"):
        assert "<f>" not in _sheet_xml(path, name)


def _part_remarks_summary(tmp_path) -> Path:
    """Every expert remarks on every part of 2.4.1 (12 parts): 84 lines for one item."""
    rubric = shipped_rubric()
    sheets = []
    for k, name in enumerate(NAMES):
        scores = {c.id: c.allowed.values()[-1] for c in rubric.score_cells}
        scores["2.4.1.1"] = 0
        remarks = {p.id: f"{name}对{p.name}的意见" for p in rubric.item("2.4.1").parts}
        sheets.append(ExpertSheet(f"E{k + 1:02d}", name, scores, remarks))
    return write_summary(consolidate(rubric, sheets), tmp_path / "汇总表.xlsx")


def test_rows_never_exceed_excel_maximum_height(tmp_path):
    path = _part_remarks_summary(tmp_path)
    for name in ("明细", "分歧", "专家", "失分", "改进建议", "总分"):
        heights = [float(h) for h in re.findall(r'<row r="\d+"[^>]* ht="([\d.]+)"', _sheet_xml(path, name))]
        assert heights and max(heights) <= 409.5, (name, max(heights))


def test_lost_sheet_has_one_row_per_expert_remark(tmp_path):
    rubric = shipped_rubric()
    path = _part_remarks_summary(tmp_path)
    ws = openpyxl.load_workbook(path)["失分"]
    r, _ = _find(ws, "2.4.1")
    column = [ws.cell(r + k, 7).value for k in range(len(NAMES))]
    assert [text.split("：", 1)[0] for text in column] == NAMES
    assert all(text.count("\n") == len(rubric.item("2.4.1").parts) - 1 for text in column)
    # 编号 and 评分项 on every row: a continuation page still says which item the remarks are about
    assert [ws.cell(r + k, 2).value for k in range(len(NAMES))] == ["2.4.1"] * len(NAMES)
    assert len({ws.cell(r + k, 3).value for k in range(len(NAMES))}) == 1
    assert not [m for m in ws.merged_cells.ranges if m.min_row != m.max_row]


def test_notes_say_how_divergence_is_judged_for_items_with_parts(book):
    for name in ("分歧", "明细"):
        text = " ".join(str(v) for row in _rows(book[name])[:6] for v in row if isinstance(v, str))
        assert "2.4.1、4.3.1、4.3.5" in text and "分项之和" in text, name


@pytest.mark.parametrize("decimals", [0, 3])
def test_number_formats_follow_decimals(tmp_path, decimals):
    c = consolidate(shipped_rubric(), _panel(), decimals=decimals)
    wb = openpyxl.load_workbook(write_summary(c, tmp_path / "汇总表.xlsx"))
    ws = wb["总分"]
    r, _ = _find(ws, "总分")
    expected = "0." + "0" * decimals if decimals else "0"
    assert ws.cell(r, 4).number_format == expected
    assert ws.cell(r, 5).number_format == expected + "%"
    assert wb["明细"]["A1"].value  # every sheet still written


def test_divergence_shows_criterion_bands_and_a_column_for_the_outcome(book, result):
    ws = book["分歧"]
    hr, _ = _find(ws, "编号")
    assert ws.cell(hr, 9).value == "内部沟通结果"
    rubric = shipped_rubric()
    for item_id in result.divergent:
        r, _ = _find(ws, item_id)
        text = ws.cell(r, 2).value
        assert text.startswith("评分标准：" + rubric.item(item_id).criterion), item_id
        assert text.endswith(allowed_text(rubric.item(item_id))), item_id
        outcome = [str(m) for m in ws.merged_cells.ranges if m.min_col == 9 and m.min_row == r]
        assert outcome == [f"I{r}:I{r + len(NAMES)}"], item_id  # one box per item, left blank
        assert ws.cell(r, 9).value is None
    assert allowed_text(rubric.item("1.1.1")) == "允许分值：0、5~9、10（满分 10 分）"
    assert allowed_text(rubric.item("2.4.1")).startswith("允许分值：按 12 个分项逐项打分，每项 ")


def test_lost_sheet_flows_without_forced_page_breaks(path, book):
    assert "<rowBreaks" not in _sheet_xml(path, "失分")
    ws = book["失分"]
    hr, _ = _find(ws, "序号")
    listed = [row for row in _rows(ws)[hr:] if row[1]]
    assert all(row[2] for row in listed)  # every row names its item


def test_rule_explanation_is_on_the_total_sheet(book, result):
    text = " ".join(str(v) for row in _rows(book["总分"]) for v in row if isinstance(v, str))
    assert result.rule_text() in text and "逐级相加" in text


def test_dates_in_the_summary_read_as_chinese_dates(book, path):
    text = " ".join(str(v) for row in _rows(book["总分"])[:4] for v in row if isinstance(v, str))
    assert "2024年5月20日 16:00" in text and "2024-05-20" not in text
    assert "生成于 2024年5月20日" in _sheet_xml(path, "失分")
