"""Rendering the score workbook's template with XlsxWriter: the 评分表, 改进建议, 填写说明 and
_qi sheets, laid out from ``layout.py``, with placeholder tokens where the expert- and
evaluation-specific strings go (``score_package`` fills them in per expert).

Everything here depends only on the rubric and the kind of workbook, so it is rendered once
per rubric and cached.
"""

from __future__ import annotations

import io
import math
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterable, Sequence

from . import layout as L
from .project import KIND_EXPERT, KIND_SELF, Kind
from .rubric import Rubric, collapse_runs
from .score_validation import _moved_from_print, validation_for
from .xlsx_print import a4_one_page_wide
from .textfit import FONT_SIZE, WIDTHS, column_pixels, label_lines, line_count, row_height, text_width


FONT = "宋体"
HEAD_FONT = "黑体"
NOTE_CHARS = 90  # a 扣分说明 of this many Chinese characters is fully visible on screen and paper
MIN_PRINTED_PT = 9  # criterion text is never printed smaller than this
LABEL_GREY = "#7F7F7F"  # indicator labels repeated on the rows below the first of a block

# Printing (A4 landscape, fit to one page wide): what the page holds, in points and pixels
PAGE_WIDTH_IN, PAGE_HEIGHT_IN = 11.69, 8.27
MARGIN_LR_IN, MARGIN_TOP_IN, MARGIN_BOTTOM_IN = 0.3, 0.4, 0.5
PAGE_FILL = 0.97  # manual page breaks leave this share of a page's height used at most
SPLIT_ROOM = 0.2  # a block is split rather than moved when more than this share of a page is free
# (labels repeat on every row, so a split block stays readable; rows are tall, so moving a
# block whole would leave pages half empty)
TITLE_ROW_HEIGHT = 50.0  # the title and a one-line hint below it
INFO_ROW_HEIGHT = 22.0
HEADER_ROW_HEIGHT = 24.0

_TEMPLATE_PASSWORD = "qi-excel-template"


def _token(name: str) -> str:
    return f"QIPH{name}QIPH"


# ───────────────────────────── small helpers ─────────────────────────────


def legacy_password_hash(password: str) -> str:
    """The 16-bit hash Excel keeps for sheet/workbook protection (ECMA-376 Part 4, 14.7.1)."""
    digest = 0
    for char in password[::-1]:
        digest = ((digest >> 14) & 0x01) | ((digest << 1) & 0x7FFF)
        digest ^= ord(char)
    digest = ((digest >> 14) & 0x01) | ((digest << 1) & 0x7FFF)
    digest ^= len(password)
    digest ^= 0xCE4B
    return f"{digest:X}"


def print_scale(widths: Iterable[float]) -> float:
    """The scale "fit to one page wide" gives on A4 landscape (whole percent, as Excel rounds down)."""
    printable = (PAGE_WIDTH_IN - 2 * MARGIN_LR_IN) * 96
    pixels = sum(column_pixels(w) for w in widths)
    return min(100, math.floor(100 * printable / pixels)) / 100


def note_row_lines() -> int:
    """Lines a row needs so that a remark of NOTE_CHARS Chinese characters is fully visible.

    Each character is one em (FONT_SIZE pt); a line holds what fits the column's pixels.
    """
    per_line = max(1, int((column_pixels(WIDTHS[L.COL_NOTE]) - 4) // (FONT_SIZE * 4 / 3)))
    return math.ceil(NOTE_CHARS / per_line)


def paginate(blocks: Sequence[Sequence[tuple[int, float, bool]]], first_page: float, page: float) -> list[int]:
    """Rows before which a manual page break goes: never inside a block that fits on a page.

    ``blocks`` are runs of (row, height, sticky) that belong together (a second-level
    indicator's items and its 小计). A block moves to the next page whole unless it is taller
    than a page or that would leave more than SPLIT_ROOM of the page empty; a split never
    comes before a sticky row (a 小计, 合计 or 总分 row stays with the item above it), and the
    labels repeated on every row name the block on the next page.
    """
    breaks: list[int] = []
    capacity, used = first_page, 0.0
    for block in blocks:
        height = sum(h for _, h, _ in block)
        if used + height <= capacity:
            used += height
            continue
        if height <= page and used > 0 and capacity - used < page * SPLIT_ROOM:
            breaks.append(block[0][0])  # the whole block on the next page
            capacity, used = page, height
            continue
        # taller than a page, or more than half a page would stay empty: split the block
        on_page: list[tuple[int, float, bool]] = []  # rows of this block on the current page
        for entry in block:
            if used > 0 and used + entry[1] > capacity:
                candidates = [*on_page, entry]
                k = len(on_page)
                while k > 0 and candidates[k][2]:  # a sticky row takes the row above along
                    k -= 1
                if k > 0 or used > sum(h for _, h, _ in on_page):  # never before a page's first row
                    breaks.append(candidates[k][0])
                    on_page = on_page[k:]
                    capacity, used = page, sum(h for _, h, _ in on_page)
            on_page.append(entry)
            used += entry[1]
    return breaks


def _refs(rows: Iterable[int], col: str = L.COL_SCORE, last_col: str | None = None) -> list[str]:
    end = last_col or col
    return [f"{col}{a}" if a == b and end == col else f"{col}{a}:{end}{b}" for a, b in collapse_runs(rows)]


# ───────────────────────────── rendering the template ─────────────────────────────

_META_TOKENS = {key: _token(key) for key in L.META_KEYS}
_INFO_TOKENS = {"service_name": _token("service_name"), "applicant": _token("applicant"),
                "organizer": _token("organizer")}


def placement_notes(rubric: Rubric) -> tuple[tuple[str, str], ...]:
    """(item id, note) where this table places an item differently from the printed standard.

    The published table A.1 prints “统计和分析” inside 综合效果; by the points it belongs to
    服务模式总结和推广 (erratum E2 in rubric.toml). An expert reading the paper standard
    beside the workbook must not look for it in the wrong place.
    """
    notes = []
    for item in rubric.items:
        if _moved_from_print(item):
            notes.append((item.id, f"“统计和分析”一项在规范表A.1 印刷版中排在“综合效果”栏内，按分值应属"
                                   f"“{item.level2}”，本表列为 {item.id}（{item.level2}第{item.number}项）。"))
    return tuple(notes)


def score_sheet_hint(rubric: Rubric) -> str:
    """The one line above the table: where the instructions are, and any placement note."""
    hint = "填写前请阅读“填写说明”工作表：只填蓝色“得分”列和“扣分说明/备注”列，表末签名并填写日期。"
    notes = placement_notes(rubric)
    if notes:
        hint += f"注意：{notes[0][0]}“统计和分析”与规范印刷版位置不同，见填写说明。"
    return hint


@dataclass(frozen=True)
class _Texts:
    """Wording that differs between an expert's score sheet and the self-evaluation record."""

    title: str
    person_label: str  # F2
    sign_label: str
    suggestion_header: str
    suggestion_title: str
    guide: tuple[str, ...]


def _texts(kind: Kind) -> _Texts:
    common_tail = (
        "只需填写“得分”列（蓝色粗体）和“扣分说明/备注”列，以及表末的签名和日期；其余单元格已锁定，无法修改。",
        "选中得分单元格时会提示该项的允许分值（有分档对照的还会显示对照说明）；不在允许范围内的分值无法输入。"
        "分值少的项可从下拉列表选择。",
        "有分项的评分项（制度建设第1项按12项制度、综合效果第1项和第5项按8项服务内容）逐项打分，本项得分自动合计。",
        "黄色底色表示尚未打分；橙色底色表示得分低于满分但未填写扣分说明，请写明理由。表头“填写进度”显示已填格数。",
        "二级指标小计、一级指标合计和总分由公式自动计算，无需填写。",
    )
    if kind == KIND_SELF:
        return _Texts(
            title="质量基础设施“一站式”服务自我评价记录",
            person_label="自评单位",
            sign_label="负责人签名",
            suggestion_header="自查发现 / 改进措施",
            suggestion_title="自查发现和改进措施",
            guide=(
                f"本工作簿是{_INFO_TOKENS['service_name']}的自我评价记录（规范 6.1 条），"
                "请对照评价表（规范附录A 表A.1，总分 1000 分）逐项自评。",
                *common_tail,
                "自查发现的问题和改进措施请填写在“改进建议”工作表。",
                "填写完毕后由负责人在评分表末尾签名并填写日期，保存后随评价申请材料报送评价组织。"
                "请勿插入或删除行列，也不要另存为其他格式（如 .xls、.et）。",
                "可使用 Microsoft Excel、WPS 表格或 LibreOffice Calc 填写。",
            ),
        )
    return _Texts(
        title="质量基础设施“一站式”服务评分表",
        person_label="评价专家",
        sign_label="专家签名",
        suggestion_header="评价发现 / 改进建议",
        suggestion_title="评价发现和改进建议（现场记录）",
        guide=(
            f"本工作簿用于{_INFO_TOKENS['service_name']}评价的专家现场打分"
            "（规范 8.2.2 条，评价表见规范附录A 表A.1，总分 1000 分），仅供您本人填写。",
            *common_tail,
            "现场记录的评价发现、问题和改进建议请填写在“改进建议”工作表（规范 8.2.3 条），每行一条，可注明相关指标编号。",
            "评分表末尾有专家承诺（保密、独立评分、与申报单位无利益冲突），阅读后请在其下的确认格中选择“同意”；"
            "未确认承诺的评分表不能接收。",
            "填写完毕后请在评分表末尾签名并填写日期，保存后发回评价组织"
            f"（{_INFO_TOKENS['organizer']}）。请勿插入或删除行列，也不要另存为其他格式（如 .xls、.et）。",
            "可使用 Microsoft Excel、WPS 表格或 LibreOffice Calc 填写。",
        ),
    )


@dataclass(frozen=True)
class _Part:
    name: str
    data: bytes  # uncompressed


@dataclass(frozen=True)
class _Template:
    """The XlsxWriter package for one rubric and kind, placeholders still in place."""

    parts: tuple[_Part, ...]


class _Formats:
    def __init__(self, wb: Any) -> None:
        base = {"font_name": FONT, "font_size": FONT_SIZE, "valign": "vcenter", "text_wrap": True, "border": 1}
        add = lambda **kw: wb.add_format({**base, **kw})  # noqa: E731
        self.title = wb.add_format({"font_name": HEAD_FONT, "font_size": 16, "align": "center", "valign": "vcenter",
                                    "text_wrap": True})
        self.title_big = wb.add_format({"font_name": HEAD_FONT, "font_size": 16})
        self.info_label = add(bold=True, align="center", bg_color="#F2F2F2")
        self.info_value = add(align="left")
        self.info_strong = add(align="left", bold=True, font_size=11)
        self.head = add(font_name=HEAD_FONT, bold=True, align="center", bg_color="#D9E1F2")
        self.level1 = add(bold=True, align="center")
        self.level2 = add(align="center")
        self.text = add(align="left")
        self.center = add(align="center")
        self.part_name = add(align="left", indent=1)
        self.score_in = add(align="center", bold=True, font_color="#1F4E79", locked=False, font_size=11)
        self.score_sum = add(align="center", bold=True, bg_color="#F2F2F2", num_format="0")
        self.note_in = add(align="left", locked=False)
        self.text_repeat = add(align="left", font_color=LABEL_GREY)
        self.hint = wb.add_format({"font_name": FONT, "font_size": 10, "font_color": "#404040"})
        self._wb, self._base = wb, base
        self._labels: dict[tuple[int, bool, bool, bool], Any] = {}
        self.note_off = add(bg_color="#F2F2F2")
        self.sub_label = add(bold=True, align="right", bg_color="#F2F2F2")
        self.sub_value = add(bold=True, align="center", bg_color="#F2F2F2", num_format="0")
        self.l1_label = add(bold=True, align="right", bg_color="#DDEBF7")
        self.l1_value = add(bold=True, align="center", bg_color="#DDEBF7", num_format="0")
        self.total_label = add(bold=True, align="right", bg_color="#BDD7EE", font_size=11)
        self.total_value = add(bold=True, align="center", bg_color="#BDD7EE", font_size=11, num_format="0")
        self.progress = add(align="left", bold=True, font_color="#1F4E79")
        self.sign_label = wb.add_format({"font_name": FONT, "font_size": 11, "bold": True, "align": "right",
                                         "valign": "vcenter"})
        self.sign_in = wb.add_format({"font_name": FONT, "font_size": 11, "align": "center", "valign": "vcenter",
                                      "bottom": 1, "locked": False})
        self.date_in = wb.add_format({"font_name": FONT, "font_size": 11, "align": "center", "valign": "vcenter",
                                      "bottom": 1, "locked": False, "num_format": "yyyy\"年\"m\"月\"d\"日\""})
        self.blank_fill = wb.add_format({"bg_color": "#FFF2CC"})
        self.reason_fill = wb.add_format({"bg_color": "#F8CBAD"})
        self.guide_title = wb.add_format({"font_name": HEAD_FONT, "font_size": 14, "valign": "vcenter"})
        self.guide = wb.add_format({"font_name": FONT, "font_size": 11, "valign": "top", "text_wrap": True})
        self.plain = wb.add_format({"font_name": FONT, "font_size": FONT_SIZE})

    def label(self, level: int, strong: bool, top: bool, bottom: bool) -> Any:
        """An indicator label cell: bold (一级) or plain (二级) on a block's first row, grey
        on the rows below; horizontal borders only where the block starts and ends."""
        key = (level, strong, top, bottom)
        if key not in self._labels:
            fmt: dict[str, Any] = {**self._base, "align": "center", "top": 1 if top else 0,
                                   "bottom": 1 if bottom else 0}
            fmt.pop("border")
            fmt.update(left=1, right=1)
            if strong:
                fmt["bold"] = level == 1
            else:
                fmt["font_color"] = LABEL_GREY
            self._labels[key] = self._wb.add_format(fmt)
        return self._labels[key]


def _print_setup(ws: Any, repeat: tuple[int, int] | None) -> None:
    a4_one_page_wide(ws, repeat=repeat)
    ws.set_margins(left=MARGIN_LR_IN, right=MARGIN_LR_IN, top=MARGIN_TOP_IN, bottom=MARGIN_BOTTOM_IN)
    ws.set_footer('&C&"宋体"&9第 &P 页 / 共 &N 页', {"margin": 0.25})


_PROTECT = {"select_locked_cells": True, "select_unlocked_cells": True, "format_rows": True,
            "format_columns": True}


def _merge_text(ws: Any, r1: int, c1: int, r2: int, c2: int, text: str, fmt: Any) -> None:
    """A merged range holding ``text`` as text: ``merge_range`` would turn ``=1+1 小计`` (a custom
    rubric's name) into a formula, as XlsxWriter's ``write`` does."""
    ws.merge_range(r1, c1, r2, c2, "", fmt)
    ws.write_string(r1, c1, text, fmt)


def _score_sheet(wb: Any, fm: _Formats, rubric: Rubric, texts: _Texts) -> None:
    lay = L.score_sheet_layout(rubric)
    ws = wb.add_worksheet(L.SCORE_SHEET)
    ws.activate()
    for letter, width in WIDTHS.items():
        ws.set_column(f"{letter}:{letter}", width)
    _score_head(ws, fm, rubric, texts, lay)
    heights = _score_rows(wb, ws, fm, lay)
    breaks = _indicator_columns(ws, fm, rubric, lay, heights, title_height=TITLE_ROW_HEIGHT)
    for row, h in heights.items():
        ws.set_row(row - 1, h)
    ws.set_h_pagebreaks([b - 1 for b in breaks])
    _score_signature(wb, ws, fm, texts, lay)
    _score_highlights(ws, fm, [r.row for r in lay.inputs])
    ws.freeze_panes(L.FIRST_BODY_ROW - 1, 0)
    ws.set_selection(lay.inputs[0].score_ref)  # opens on the first score cell, its input message showing
    ws.print_area(0, 0, lay.last_row - 1, len(L.COLUMNS) - 1)
    _print_setup(ws, (L.INFO_ROWS[0] - 1, L.HEADER_ROW - 1))
    ws.protect(_TEMPLATE_PASSWORD, _PROTECT)


def _score_head(ws: Any, fm: _Formats, rubric: Rubric, texts: _Texts, lay: L.SheetLayout) -> None:
    """Title with its hint, the two info rows (placeholders filled per expert) and the header."""
    title_height = TITLE_ROW_HEIGHT
    ws.set_row(L.TITLE_ROW - 1, title_height)
    ws.merge_range(f"A{L.TITLE_ROW}:H{L.TITLE_ROW}", "", fm.title)
    ws.write_rich_string(f"A{L.TITLE_ROW}", fm.title_big, texts.title, fm.hint, "\n" + score_sheet_hint(rubric),
                         fm.title)
    r2, r3 = L.INFO_ROWS
    for r, label, token, person, _value in (
        (r2, "服务名称", _INFO_TOKENS["service_name"], texts.person_label, None),
        (r3, "申报单位", _INFO_TOKENS["applicant"], "填写进度", None),
    ):
        ws.set_row(r - 1, INFO_ROW_HEIGHT)
        ws.merge_range(f"A{r}:B{r}", label, fm.info_label)
        ws.merge_range(f"C{r}:E{r}", token, fm.info_value)
        ws.write_string(f"F{r}", person, fm.info_label)
    ws.merge_range(f"{L.EXPERT_NAME_CELL}:H{r2}", _META_TOKENS["expert_name"], fm.info_strong)
    inputs = lay.inputs
    count_refs = ",".join(_refs(r.row for r in inputs))
    n_inputs = len(inputs)
    ws.merge_range(f"{L.PROGRESS_CELL}:H{r3}", "", fm.progress)
    ws.write_formula(L.PROGRESS_CELL, f'="已填 "&COUNT({count_refs})&"/{n_inputs}"', fm.progress, f"已填 0/{n_inputs}")
    ws.set_row(L.HEADER_ROW - 1, HEADER_ROW_HEIGHT)
    for i, h in enumerate(L.HEADERS):
        ws.write_string(L.HEADER_ROW - 1, i, h, fm.head)


def _score_rows(wb: Any, ws: Any, fm: _Formats, lay: L.SheetLayout) -> dict[int, float]:
    """Item, part and total rows with their inputs, validation and names; returns row heights."""
    index = {c: i for i, c in enumerate(L.COLUMNS)}  # column letter → 0-based column
    S, N, E, D, F = (index[c] for c in (L.COL_SCORE, L.COL_NOTE, L.COL_CRITERION, L.COL_ID, L.COL_MAX))
    heights: dict[int, float] = {}

    def need(row: int, lines: int) -> None:
        heights[row] = max(heights.get(row, 0), row_height(lines))

    note_lines = note_row_lines()
    label_rows = 3  # a bold indicator label: its name (at most two lines) and its points
    for r in lay.rows:
        i = r.row - 1
        if r.kind == "item":
            assert r.item is not None
            ws.write_string(i, D, r.item.id, fm.center)
            ws.write_string(i, E, r.item.criterion, fm.text)
            ws.write_number(i, F, r.max, fm.center)
            need(r.row, max(label_rows, line_count(r.item.criterion, WIDTHS[L.COL_CRITERION])))
            if r.cell is None:  # item with parts: its score is their sum
                ws.write_formula(i, S, f"=SUM({','.join(_refs(r.sum_rows))})", fm.score_sum, 0)
                ws.write_blank(i, N, None, fm.note_off)
        elif r.kind == "part":
            assert r.cell is not None and r.cell.part is not None
            number = r.cell.id.rsplit(".", 1)[1]
            ws.write_string(i, D, r.cell.id, fm.center)
            ws.write_string(i, E, f"（{number}）{r.cell.part.name}", fm.part_name)
            ws.write_number(i, F, r.max, fm.center)
            need(r.row, label_rows)
        else:
            label_fmt, value_fmt = {
                "level2_total": (fm.sub_label, fm.sub_value),
                "level1_total": (fm.l1_label, fm.l1_value),
                "total": (fm.total_label, fm.total_value),
            }[r.kind]
            _merge_text(ws, i, D, i, E, r.label, label_fmt)  # rubric text: never a formula
            ws.write_number(i, F, r.max, value_fmt)
            cached = 0
            ws.write_formula(i, S, f"=SUM({','.join(_refs(r.sum_rows))})", value_fmt, cached)
            ws.write_blank(i, N, None, value_fmt)
            if r.kind == "level1_total":
                ws.merge_range(i, index["B"], i, index["C"], "", label_fmt)
            elif r.kind == "total":
                ws.merge_range(i, index["A"], i, index["C"], "", label_fmt)
            need(r.row, 1)
            heights[r.row] = max(heights[r.row], 22 if r.kind == "total" else 18)
        if r.cell is not None:
            need(r.row, note_lines)  # room for the remark an expert types (rows do not grow by themselves)
            ws.write_blank(i, S, None, fm.score_in)
            ws.write_blank(i, N, None, fm.note_in)
            v = validation_for(r.cell, r.score_ref)
            ws.data_validation(r.score_ref, v.options)
            wb.define_name(L.score_name(r.cell.id), f"='{L.SCORE_SHEET}'!${L.COL_SCORE}${r.row}")
            wb.define_name(L.note_name(r.cell.id), f"='{L.SCORE_SHEET}'!${L.COL_NOTE}${r.row}")
        elif r.kind == "item":
            assert r.item is not None
            wb.define_name(L.score_name(r.item.id), f"='{L.SCORE_SHEET}'!${L.COL_SCORE}${r.row}")
    return heights


def _score_signature(wb: Any, ws: Any, fm: _Formats, texts: _Texts, lay: L.SheetLayout) -> None:
    """The signature line, and the defined names the reader finds the sheet's key cells by."""
    sr = lay.sign_row
    ws.set_row(sr - 2, 12)
    ws.set_row(sr - 1, 30)
    ws.write_string(f"A{sr}", texts.sign_label, fm.sign_label)
    ws.merge_range(f"{lay.signature_cell}:D{sr}", "", fm.sign_in)
    ws.write_string(f"F{sr}", "日期", fm.sign_label)
    ws.merge_range(f"{lay.sign_date_cell}:H{sr}", "", fm.date_in)
    ws.data_validation(lay.sign_date_cell, {
        "validate": "any", "input_title": "签名日期",
        "input_message": "请填写签名日期，如 2026年6月18日（也可输入 2026-6-18，显示为 2026年6月18日）。"})

    wb.define_name(L.NAME_EXPERT, f"='{L.SCORE_SHEET}'!${L.EXPERT_NAME_CELL[0]}${L.EXPERT_NAME_CELL[1:]}")
    wb.define_name(L.NAME_PROGRESS, f"='{L.SCORE_SHEET}'!${L.PROGRESS_CELL[0]}${L.PROGRESS_CELL[1:]}")
    sig_c, sig_r = lay.signature_cell[0], lay.signature_cell[1:]
    date_c, date_r = lay.sign_date_cell[0], lay.sign_date_cell[1:]
    wb.define_name(L.NAME_SIGNATURE, f"='{L.SCORE_SHEET}'!${sig_c}${sig_r}")
    wb.define_name(L.NAME_SIGN_DATE, f"='{L.SCORE_SHEET}'!${date_c}${date_r}")
    wb.define_name(L.NAME_TOTAL, f"='{L.SCORE_SHEET}'!${L.COL_SCORE}${lay.total_row.row}")


def _score_highlights(ws: Any, fm: _Formats, input_rows: list[int]) -> None:
    """Conditional formats: unscored cells, and scores below the maximum without a reason."""
    ws.conditional_format(f"G{input_rows[0]}", {
        "type": "blanks", "format": fm.blank_fill, "multi_range": " ".join(_refs(input_rows))})
    first = input_rows[0]
    ws.conditional_format(f"G{first}", {
        "type": "formula",
        "criteria": f"=AND(ISNUMBER($G{first}),$G{first}<$F{first},LEN(TRIM($H{first}))=0)",
        "format": fm.reason_fill,
        "multi_range": " ".join(_refs(input_rows, "G", "H")),
    })


def _blocks(rubric: Rubric, lay: L.SheetLayout, heights: dict[int, float]) -> list[list[tuple[int, float, bool]]]:
    """Rows that should print on one page: each second-level indicator's items with its 小计;
    the 合计 and 总分 rows stay with the block before them."""
    blocks: list[list[tuple[int, float, bool]]] = []
    for l1 in rubric.level1:
        for l2 in l1.level2:
            first = min(r.row for r in lay.rows if r.item is not None and r.item.level1 == l1.name
                        and r.item.level2 == l2.name)
            blocks.append([(n, heights[n], n == lay.row_for(l2.id).row)
                           for n in range(first, lay.row_for(l2.id).row + 1)])
        blocks[-1].append((lay.row_for(l1.id).row, heights[lay.row_for(l1.id).row], True))
    blocks[-1].append((lay.total_row.row, heights[lay.total_row.row], True))
    return blocks


def page_capacity(title_height: float) -> tuple[float, float]:
    """Heights (sheet points) of body rows that fit on the first and on later printed pages."""
    scale = print_scale(WIDTHS.values())
    page = (PAGE_HEIGHT_IN - MARGIN_TOP_IN - MARGIN_BOTTOM_IN) * 72 / scale
    repeated = 2 * INFO_ROW_HEIGHT + HEADER_ROW_HEIGHT
    later = (page - repeated) * PAGE_FILL
    return later - title_height, later


def _chunks(rows: Sequence[int], breaks: Sequence[int]) -> list[list[int]]:
    """``rows`` split where a page break falls between them."""
    out: list[list[int]] = []
    for n in rows:
        if not out or n in breaks:
            out.append([])
        out[-1].append(n)
    return out


def _indicator_columns(ws: Any, fm: _Formats, rubric: Rubric, lay: L.SheetLayout, heights: dict[int, float],
                       *, title_height: float) -> list[int]:
    """一级指标/二级指标 in every row, 内容要求 once per page, and the page breaks they follow.

    A label merged down a block prints once, so a page that starts inside the block shows an
    empty column; here each row carries its label (bold with the points on the first row of a
    block on a page, grey below), and 内容要求 is merged per block and page. Page breaks fall
    between second-level indicators wherever a block fits on a page.
    """
    col = {c: i for i, c in enumerate(L.COLUMNS)}
    first_page, page = page_capacity(title_height)
    breaks: list[int] = []
    for _ in range(3):  # a requirement may need a taller first row, which may move a break
        breaks = paginate(_blocks(rubric, lay, heights), first_page, page)
        grown = False
        for l1 in rubric.level1:
            for l2 in l1.level2:
                rows = [n for n in range(min(r.row for r in lay.rows if r.item is not None
                                             and r.item.level1 == l1.name and r.item.level2 == l2.name),
                                         lay.row_for(l2.id).row + 1)]
                for chunk in _chunks(rows, breaks):
                    short = (row_height(line_count(l2.requirement, WIDTHS[L.COL_REQUIREMENT]))
                             - sum(heights[n] for n in chunk))
                    if short > 0:
                        heights[chunk[0]] += short
                        grown = True
        if not grown:
            break
    by_row = {r.row: r for r in lay.rows}

    def labels(c: str, rows: list[int], strong: str, repeat: str, level: int) -> None:
        for chunk in _chunks(rows, breaks):
            first_label = next((n for n in chunk if by_row[n].kind in ("item", "part")), None)
            for n in chunk:
                top, bottom = n == chunk[0], n == chunk[-1]
                if by_row[n].kind not in ("item", "part"):
                    text, fmt = "", fm.label(level, False, top, bottom)
                elif n == first_label:
                    text, fmt = strong, fm.label(level, True, top, bottom)
                else:
                    text, fmt = repeat, fm.label(level, False, top, bottom)
                ws.write_string(n - 1, col[c], text, fmt)

    for l1 in rubric.level1:
        l1_rows = [r.row for r in lay.rows if r.item is not None and r.item.level1 == l1.name]
        last_l1 = lay.row_for(l1.id).row
        rows_l1 = [n for n in range(min(l1_rows), last_l1) if by_row[n].kind != "level1_total"]
        name1 = label_lines(l1.name, WIDTHS[L.COL_LEVEL1])
        labels(L.COL_LEVEL1, rows_l1, f"{name1}\n（{l1.points} 分）", l1.name, 1)
        ws.write_blank(last_l1 - 1, col[L.COL_LEVEL1], None, fm.l1_label)
        for l2 in l1.level2:
            first = min(r.row for r in lay.rows if r.item is not None and r.item.level1 == l1.name
                        and r.item.level2 == l2.name)
            rows = list(range(first, lay.row_for(l2.id).row + 1))
            name2 = label_lines(l2.name, WIDTHS[L.COL_LEVEL2])
            labels(L.COL_LEVEL2, rows, f"{name2}\n（{l2.points} 分）", l2.name, 2)
            for k, chunk in enumerate(_chunks(rows, breaks)):
                text = l2.requirement if k == 0 else f"（续）{l2.requirement}"
                fmt = fm.text if k == 0 else fm.text_repeat
                if len(chunk) == 1:
                    ws.write_string(chunk[0] - 1, col[L.COL_REQUIREMENT], text, fmt)
                else:
                    _merge_text(ws, chunk[0] - 1, col[L.COL_REQUIREMENT], chunk[-1] - 1, col[L.COL_REQUIREMENT],
                                text, fmt)
    return breaks


def _suggestion_sheet(wb: Any, fm: _Formats, texts: _Texts) -> None:
    ws = wb.add_worksheet(L.SUGGESTION_SHEET)
    ws.set_column("A:A", 6)
    ws.set_column(f"{L.SUGGESTION_TEXT_COL}:{L.SUGGESTION_TEXT_COL}", 100)
    ws.set_column(f"{L.SUGGESTION_REF_COL}:{L.SUGGESTION_REF_COL}", 16)
    header = (L.SUGGESTION_COLUMNS[0], texts.suggestion_header, L.SUGGESTION_COLUMNS[2])
    ws.set_row(L.SUGGESTION_FIRST_ROW - 2, 24)
    for c, h in enumerate(header):
        ws.write_string(L.SUGGESTION_FIRST_ROW - 2, c, h, fm.head)
    first = L.SUGGESTION_FIRST_ROW
    last = first + L.SUGGESTION_ROW_COUNT - 1
    for r in range(first, last + 1):
        ws.write_number(r - 1, 0, r - first + 1, fm.center)
        ws.write_blank(r - 1, 1, None, fm.note_in)
        ws.write_blank(r - 1, 2, None, fm.note_in)
        ws.set_row(r - 1, 36)
    ws.data_validation(f"{L.SUGGESTION_REF_COL}{first}:{L.SUGGESTION_REF_COL}{last}", {
        "validate": "any", "input_title": "相关指标（可不填）",
        "input_message": "填写相关评分项或指标的编号，如 2.4.1 或 3.4。"})
    ws.freeze_panes(L.SUGGESTION_FIRST_ROW - 1, 0)
    _print_setup(ws, (L.SUGGESTION_FIRST_ROW - 2, L.SUGGESTION_FIRST_ROW - 2))
    # who wrote these notes, on every printed page (tokens filled per workbook, see _fill_header)
    ws.set_header(
        f'&L&"宋体"&9{_INFO_TOKENS["service_name"]}&C&"黑体"&12{texts.suggestion_title}'
        f'&R&"宋体"&9{texts.person_label}：{_META_TOKENS["expert_name"]}',
        {"margin": 0.25},
    )
    ws.protect(_TEMPLATE_PASSWORD, _PROTECT)


def _guide_sheet(wb: Any, fm: _Formats, texts: _Texts, rubric: Rubric) -> None:
    ws = wb.add_worksheet(L.GUIDE_SHEET)
    ws.hide_gridlines(2)
    ws.set_column("A:A", 4)
    ws.set_column("B:B", 110)
    ws.set_row(0, 30)
    ws.write_string(0, 1, "填写说明", fm.guide_title)
    lines = (*texts.guide, *(note for _, note in placement_notes(rubric)))
    for i, line in enumerate(lines, start=1):
        ws.write_number(i, 0, i, fm.guide)
        ws.write_string(i, 1, line, fm.guide)
        width = text_width(line.replace(_INFO_TOKENS["service_name"], "长沙县质量基础设施“一站式”服务"))
        ws.set_row(i, row_height(max(1, math.ceil(width / 105))) + 4)
    _print_setup(ws, None)
    ws.protect(_TEMPLATE_PASSWORD, _PROTECT)


def _meta_sheet(wb: Any, fm: _Formats) -> None:
    ws = wb.add_worksheet(L.META_SHEET)
    ws.set_column("A:A", 20)
    ws.set_column("B:B", 70)
    for i, key in enumerate(L.META_KEYS):
        ws.write_string(i, 0, key, fm.plain)
        ws.write_string(i, 1, _META_TOKENS[key], fm.plain)
    ws.very_hidden()
    ws.protect(_TEMPLATE_PASSWORD, _PROTECT)


@lru_cache(maxsize=4)
def _template(rubric: Rubric, kind: Kind) -> _Template:
    import xlsxwriter

    buf = io.BytesIO()
    # The default font sets the width unit of every column: 宋体 10 measures as Calibri 11 in Excel
    # and WPS (7-pixel digits) and is what an office suite without Calibri also has at hand.
    wb = xlsxwriter.Workbook(buf, {"in_memory": True,
                                   "default_format_properties": {"font_name": FONT, "font_size": FONT_SIZE}})
    fm = _Formats(wb)
    texts = _texts(kind)
    _score_sheet(wb, fm, rubric, texts)
    if kind == KIND_EXPERT:
        _commitment_block(wb, wb.get_worksheet_by_name(L.SCORE_SHEET), rubric)
    _suggestion_sheet(wb, fm, texts)
    _guide_sheet(wb, fm, texts, rubric)
    _meta_sheet(wb, fm)
    wb.close()
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as z:
        return _Template(tuple(_Part(i.filename, z.read(i)) for i in z.infolist()))


# ───────────────────────────── experts' commitment block ─────────────────────────────

COMMITMENT_TEXT = (
    "专家承诺：本人自愿担任本次评价的专家，承诺遵守评价纪律：\n"
    "1．保密：对评价中知悉的申报单位资料、评分和评价情况严格保密，不泄露、不复制、不挪作他用；\n"
    "2．独立评分：依据评价表（规范附录A）和现场事实客观公正、独立打分（规范 4.3 条），不受任何单位或个人影响；\n"
    f"3．无利益冲突：本人与申报单位（{_INFO_TOKENS['applicant']}）不存在任职、投资、近三年咨询服务、亲属关系等利益冲突；"
    "如有，不参与打分并立即告知评价组织。"
)
COMMITMENT_LABEL = f"本人已阅读并遵守以上承诺（请在右侧从下拉列表选择“{L.COMMITMENT_VALUE}”）"


def _commitment_block(wb: Any, ws: Any, rubric: Rubric) -> None:
    """The experts' commitment under the signature line (clauses 4.3, 8.1.1 宣读评价纪律).

    Only the confirm cell is unlocked; it accepts exactly 同意, and the reader checks it
    through the defined name ``commitment`` (layout.commitment_cell).
    """
    lay = L.score_sheet_layout(rubric)
    text_row, confirm_row = L.commitment_rows(lay)
    base = {"font_name": FONT, "font_size": 10, "valign": "vcenter", "text_wrap": True, "border": 1}
    text_fmt = wb.add_format({**base, "align": "left", "bg_color": "#F2F2F2"})
    label_fmt = wb.add_format({**base, "bold": True, "align": "right"})
    input_fmt = wb.add_format({**base, "font_size": 11, "bold": True, "align": "center", "locked": False,
                               "font_color": "#1F4E79", "bg_color": "#FFF2CC"})
    width = sum(WIDTHS.values())
    shown = COMMITMENT_TEXT.replace(_INFO_TOKENS["applicant"], "长沙县质量基础设施“一站式”服务中心（示例）")
    ws.set_row(text_row - 2, 12)  # the gap row is written, so readers that count rows stay aligned
    ws.set_row(text_row - 1, row_height(line_count(shown, width)) + 6)
    ws.merge_range(f"A{text_row}:H{text_row}", COMMITMENT_TEXT, text_fmt)
    ws.set_row(confirm_row - 1, 26)
    ws.merge_range(f"A{confirm_row}:F{confirm_row}", COMMITMENT_LABEL, label_fmt)
    ref = L.commitment_cell(lay)
    ws.merge_range(f"{ref}:{L.COL_NOTE}{confirm_row}", "", input_fmt)
    ws.data_validation(ref, {
        "validate": "list", "source": [L.COMMITMENT_VALUE], "ignore_blank": True,
        "input_title": "专家承诺确认",
        "input_message": f"阅读上方承诺后选择“{L.COMMITMENT_VALUE}”。未确认承诺的评分表不能接收。",
        "error_type": "stop", "error_title": "只能选择“同意”",
        "error_message": f"此格只能填写“{L.COMMITMENT_VALUE}”。如不能作出承诺，请不要打分并告知评价组织。",
    })
    wb.define_name(L.NAME_COMMITMENT, f"='{L.SCORE_SHEET}'!${L.COMMITMENT_COL}${confirm_row}")
    ws.print_area(0, 0, confirm_row - 1, len(L.COLUMNS) - 1)


