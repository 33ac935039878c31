"""The score workbook each expert receives (and the applicant's self-evaluation record).

Everything that depends only on the rubric is rendered once with XlsxWriter into a
template whose expert- and evaluation-specific strings are placeholders in the shared
strings table. Issuing a workbook then only rewrites ``xl/sharedStrings.xml`` and
``docProps/core.xml`` and reassembles the package from pre-compressed parts, which keeps a
panel of seven well under the time an organizer notices. The layout itself comes from
``layout.py``, the contract the reader of returned workbooks checks against.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import math
import re
import struct
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Sequence
from html import escape as _html_escape

from . import layout as L
from .evaluation import (
    ISSUE_DIR, PROJECT_FILE, SELF_ID, EvaluationInfo, Expert, IssuedRecord, Secret, is_email, raise_panel_problems,
    evaluation_rubric, load_issued, load_secret, read_project, save_issued,
)
from .errors import QiError
from .lock import locked
from .errors import os_error_text
from .fileio import write_bytes_atomic
from .identity import sign
from .rubric import Rubric, ScoreCell, collapse_runs

KIND_EXPERT = "expert"
KIND_SELF = "self"

# Value sets up to this size get a dropdown list; larger ones are typed and checked by formula.
DROPDOWN_MAX_VALUES = 12
_DV_LIMIT = 255  # characters: list source and input message
_DV_TITLE_LIMIT = 32

# Column widths of 评分表 (Excel character units) and body font size
WIDTHS = {"A": 8, "B": 10, "C": 20, "D": 8, "E": 58, "F": 6, "G": 7, "H": 30}
FONT = "宋体"
HEAD_FONT = "黑体"
FONT_SIZE = 10
LINE_HEIGHT = 14.0  # points per wrapped line at FONT_SIZE (CJK fonts run taller than Latin)

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


def text_width(text: str) -> int:
    """Width in Excel character units: CJK and full-width characters count two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WFA" else 1 for ch in text)


def line_count(text: str, width: float) -> int:
    usable = max(width - 1.5, 1)
    return sum(max(1, math.ceil(text_width(part) / usable)) for part in text.split("\n"))


def row_height(lines: int) -> float:
    return round(lines * LINE_HEIGHT + 5, 1)


def safe_file_part(text: str, limit: int = 24) -> str:
    """Letters, digits and a few joiners only: a roster cell must never steer a path."""
    kept = "".join(ch for ch in text if unicodedata.category(ch)[0] in "LN" or ch in "·-_")
    return kept[:limit]


def _refs(rows: Iterable[int], col: str = L.COL_SCORE, last_col: str | None = None) -> list[str]:
    end = last_col or col
    return [f"{col}{a}" if a == b and end == col else f"{col}{a}:{end}{b}" for a, b in collapse_runs(rows)]


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


_INVALID_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_ESCAPE_LIKE = re.compile(r"_(x[0-9A-Fa-f]{4}_)")


def escape(text: str) -> str:
    """XML text escaping (& < >), as xml.sax.saxutils.escape, whose import pulls in urllib and
    http.client: a third of ``collect``'s start-up, which writes 检查报告.xlsx through this module."""
    return _html_escape(text, quote=False)


def _sst_text(value: str) -> str:
    """Escape for a shared string: XML, and literal ``_xHHHH_`` that Excel would decode."""
    return escape(_ESCAPE_LIKE.sub(r"_x005F_\1", _INVALID_XML.sub("", value)))


# ───────────────────────────── validation rules per score cell ─────────────────────────────


@dataclass(frozen=True)
class Validation:
    """How one score cell is validated; ``options`` is what XlsxWriter's data_validation takes."""

    kind: str  # "list", "whole", "custom"
    options: dict[str, Any] = field(hash=False, compare=False)


def custom_formula(ref: str, ranges: Sequence[tuple[int, int]]) -> str:
    terms = [f"{ref}={lo}" if lo == hi else f"AND({ref}>={lo},{ref}<={hi})" for lo, hi in ranges]
    return f"AND(ISNUMBER({ref}),{ref}=INT({ref}),OR({','.join(terms)}))"


def validation_for(cell: ScoreCell, ref: str) -> Validation:
    allowed = cell.allowed
    described = allowed.describe()
    values = allowed.values()
    source = [str(v) for v in values]
    if allowed.is_contiguous():
        kind = "whole"
        rule: dict[str, Any] = {"validate": "integer", "criteria": "between",
                                "minimum": allowed.low, "maximum": allowed.high}
        how = "请输入整数"
    elif len(values) <= DROPDOWN_MAX_VALUES and len(",".join(source)) <= _DV_LIMIT:
        kind = "list"
        rule = {"validate": "list", "source": source}
        how = "可从下拉列表选择，或直接输入"
    else:
        kind = "custom"
        rule = {"validate": "custom", "value": "=" + custom_formula(ref, allowed.ranges)}
        how = "请输入整数"
    what = f"{cell.item.level2} 第{cell.item.number}项" + (f"（{cell.part.name}）" if cell.part else "")
    message = f"{what}\n允许分值：{described}（{how}）。"
    if cell.item.explain:
        message += f"\n对照：{cell.item.explain}"
    message += "\n低于满分请在“扣分说明/备注”写明理由。"
    rule.update({
        "ignore_blank": True,
        "input_title": _clip(f"{cell.id} 满分 {cell.max} 分", _DV_TITLE_LIMIT),
        "input_message": _clip(message, _DV_LIMIT),
        "error_type": "stop",
        "error_title": "分值不符合评分标准",
        "error_message": _clip(f"{cell.id}（{what}）只能填写：{described}，满分 {cell.max} 分。请重新输入。", _DV_LIMIT),
    })
    return Validation(kind, rule)


# ───────────────────────────── rendering the template ─────────────────────────────

_META_TOKENS = {key: _token(key) for key in L.META_KEYS}
_INFO_TOKENS = {"service_name": _token("service_name"), "applicant": _token("applicant"),
                "organizer": _token("organizer")}


@dataclass(frozen=True)
class _Texts:
    """Wording that differs between an expert's score sheet and the self-evaluation record."""

    title: str
    person_label: str  # F2
    sign_label: str
    suggestion_header: str
    suggestion_title: str
    guide: tuple[str, ...]


def _texts(kind: str) -> _Texts:
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
        self.title = wb.add_format({"font_name": HEAD_FONT, "font_size": 16, "align": "center", "valign": "vcenter"})
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
        self.note_in = add(align="left", locked=False, font_size=9)
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


def _print_setup(ws: Any, repeat: tuple[int, int] | None) -> None:
    ws.set_landscape()
    ws.set_paper(9)  # A4
    ws.fit_to_pages(1, 0)
    ws.set_margins(left=0.4, right=0.4, top=0.5, bottom=0.6)
    ws.set_footer('&C&"宋体"&9第 &P 页 / 共 &N 页', {"margin": 0.25})
    if repeat:
        ws.repeat_rows(*repeat)


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
    for col, width in WIDTHS.items():
        ws.set_column(f"{col}:{col}", width)
    col = {c: i for i, c in enumerate(L.COLUMNS)}
    S, N, E, D, F = col[L.COL_SCORE], col[L.COL_NOTE], col[L.COL_CRITERION], col[L.COL_ID], col[L.COL_MAX]

    ws.set_row(L.TITLE_ROW - 1, 32)
    _merge_text(ws, L.TITLE_ROW - 1, 0, L.TITLE_ROW - 1, 7, texts.title, fm.title)
    r2, r3 = L.INFO_ROWS
    for r, label, token, person, value in (
        (r2, "服务名称", _INFO_TOKENS["service_name"], texts.person_label, None),
        (r3, "申报单位", _INFO_TOKENS["applicant"], "填写进度", None),
    ):
        ws.set_row(r - 1, 22)
        ws.merge_range(f"A{r}:B{r}", label, fm.info_label)
        ws.merge_range(f"C{r}:E{r}", token, fm.info_value)
        ws.write_string(f"F{r}", person, fm.info_label)
    ws.merge_range(f"{L.EXPERT_NAME_CELL}:H{r2}", _META_TOKENS["expert_name"], fm.info_strong)
    inputs = lay.inputs
    count_refs = ",".join(_refs(r.row for r in inputs))
    n_inputs = len(inputs)
    ws.merge_range(f"{L.PROGRESS_CELL}:H{r3}", "", fm.progress)
    ws.write_formula(L.PROGRESS_CELL, f'="已填 "&COUNT({count_refs})&"/{n_inputs}"', fm.progress, f"已填 0/{n_inputs}")
    ws.set_row(L.HEADER_ROW - 1, 24)
    for i, h in enumerate(L.HEADERS):
        ws.write_string(L.HEADER_ROW - 1, i, h, fm.head)

    heights: dict[int, float] = {}

    def need(row: int, lines: int) -> None:
        heights[row] = max(heights.get(row, 0), row_height(lines))

    for r in lay.rows:
        i = r.row - 1
        if r.kind == "item":
            assert r.item is not None
            ws.write_string(i, D, r.item.id, fm.center)
            ws.write_string(i, E, r.item.criterion, fm.text)
            ws.write_number(i, F, r.max, fm.center)
            need(r.row, line_count(r.item.criterion, WIDTHS[L.COL_CRITERION]))
            if r.cell is None:  # item with parts: its score is their sum
                ws.write_formula(i, S, f"=SUM({','.join(_refs(r.sum_rows))})", fm.score_sum, 0)
                ws.write_blank(i, N, None, fm.note_off)
        elif r.kind == "part":
            assert r.cell is not None and r.cell.part is not None
            number = r.cell.id.rsplit(".", 1)[1]
            ws.write_string(i, D, r.cell.id, fm.center)
            ws.write_string(i, E, f"（{number}）{r.cell.part.name}", fm.part_name)
            ws.write_number(i, F, r.max, fm.center)
            need(r.row, 1)
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
                ws.merge_range(i, col["B"], i, col["C"], "", label_fmt)
            elif r.kind == "total":
                ws.merge_range(i, col["A"], i, col["C"], "", label_fmt)
            need(r.row, 1)
            heights[r.row] = max(heights[r.row], 22 if r.kind == "total" else 18)
        if r.cell is not None:
            ws.write_blank(i, S, None, fm.score_in)
            ws.write_blank(i, N, None, fm.note_in)
            v = validation_for(r.cell, r.score_ref)
            ws.data_validation(r.score_ref, v.options)
            wb.define_name(L.score_name(r.cell.id), f"='{L.SCORE_SHEET}'!${L.COL_SCORE}${r.row}")
            wb.define_name(L.note_name(r.cell.id), f"='{L.SCORE_SHEET}'!${L.COL_NOTE}${r.row}")
        elif r.kind == "item":
            assert r.item is not None
            wb.define_name(L.score_name(r.item.id), f"='{L.SCORE_SHEET}'!${L.COL_SCORE}${r.row}")

    # merged indicator cells; their text must fit into the rows they span
    def merged(col_letter: str, first: int, last: int, text: str, fmt: Any) -> None:
        c = col[col_letter]
        if first == last:
            ws.write_string(first - 1, c, text, fmt)
        else:
            _merge_text(ws, first - 1, c, last - 1, c, text, fmt)
        short = row_height(line_count(text, WIDTHS[col_letter])) - sum(heights[r] for r in range(first, last + 1))
        if short > 0:
            heights[first] += short

    for l1 in rubric.level1:
        for l2 in l1.level2:
            rows = [r.row for r in lay.rows if r.item is not None and r.item.level2 == l2.name
                    and r.item.level1 == l1.name]
            first, last = min(rows), lay.row_for(l2.id).row
            merged("B", first, last, f"{l2.name}\n（{l2.points} 分）", fm.level2)
            merged("C", first, last, l2.requirement, fm.text)
    for l1 in rubric.level1:
        first_l1 = min(r.row for r in lay.rows if r.item is not None and r.item.level1 == l1.name)
        merged("A", first_l1, lay.row_for(l1.id).row, f"{l1.name}\n（{l1.points} 分）", fm.level1)
    for row, h in heights.items():
        ws.set_row(row - 1, h)

    # signature line
    sr = lay.sign_row
    ws.set_row(sr - 2, 12)
    ws.set_row(sr - 1, 30)
    ws.write_string(f"A{sr}", texts.sign_label, fm.sign_label)
    ws.merge_range(f"{lay.signature_cell}:D{sr}", "", fm.sign_in)
    ws.write_string(f"F{sr}", "日期", fm.sign_label)
    ws.merge_range(f"{lay.sign_date_cell}:H{sr}", "", fm.date_in)
    ws.data_validation(lay.sign_date_cell, {
        "validate": "any", "input_title": "签名日期", "input_message": "请填写签名日期，如 2025-06-18。"})

    wb.define_name(L.NAME_EXPERT, f"='{L.SCORE_SHEET}'!${L.EXPERT_NAME_CELL[0]}${L.EXPERT_NAME_CELL[1:]}")
    wb.define_name(L.NAME_PROGRESS, f"='{L.SCORE_SHEET}'!${L.PROGRESS_CELL[0]}${L.PROGRESS_CELL[1:]}")
    sig_c, sig_r = lay.signature_cell[0], lay.signature_cell[1:]
    date_c, date_r = lay.sign_date_cell[0], lay.sign_date_cell[1:]
    wb.define_name(L.NAME_SIGNATURE, f"='{L.SCORE_SHEET}'!${sig_c}${sig_r}")
    wb.define_name(L.NAME_SIGN_DATE, f"='{L.SCORE_SHEET}'!${date_c}${date_r}")
    wb.define_name(L.NAME_TOTAL, f"='{L.SCORE_SHEET}'!${L.COL_SCORE}${lay.total_row.row}")

    # conditional formats: unscored cells, and scores below the maximum without a reason
    input_rows = [r.row for r in inputs]
    ws.conditional_format(f"G{input_rows[0]}", {
        "type": "blanks", "format": fm.blank_fill, "multi_range": " ".join(_refs(input_rows))})
    first = input_rows[0]
    ws.conditional_format(f"G{first}", {
        "type": "formula",
        "criteria": f"=AND(ISNUMBER($G{first}),$G{first}<$F{first},LEN(TRIM($H{first}))=0)",
        "format": fm.reason_fill,
        "multi_range": " ".join(_refs(input_rows, "G", "H")),
    })

    ws.freeze_panes(L.FIRST_BODY_ROW - 1, 0)
    ws.set_selection(inputs[0].score_ref)  # opens on the first score cell, its input message showing
    ws.print_area(0, 0, lay.last_row - 1, len(L.COLUMNS) - 1)
    _print_setup(ws, (L.INFO_ROWS[0] - 1, L.HEADER_ROW - 1))
    ws.protect(_TEMPLATE_PASSWORD, _PROTECT)


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


def _guide_sheet(wb: Any, fm: _Formats, texts: _Texts) -> None:
    ws = wb.add_worksheet(L.GUIDE_SHEET)
    ws.hide_gridlines(2)
    ws.set_column("A:A", 4)
    ws.set_column("B:B", 110)
    ws.set_row(0, 30)
    ws.write_string(0, 1, "填写说明", fm.guide_title)
    for i, line in enumerate(texts.guide, start=1):
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
def _template(rubric: Rubric, kind: str) -> _Template:
    import xlsxwriter

    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True})
    fm = _Formats(wb)
    texts = _texts(kind)
    _score_sheet(wb, fm, rubric, texts)
    _suggestion_sheet(wb, fm, texts)
    _guide_sheet(wb, fm, texts)
    _meta_sheet(wb, fm)
    wb.close()
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as z:
        return _Template(tuple(_Part(i.filename, z.read(i)) for i in z.infolist()))


# ───────────────────────────── assembling a package ─────────────────────────────


@dataclass(frozen=True)
class _Packed:
    name: bytes
    crc: int
    size: int
    data: bytes  # raw deflate


def _pack(name: str, data: bytes) -> _Packed:
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return _Packed(name.encode("ascii"), zlib.crc32(data), len(data), c.compress(data) + c.flush())


def _zip(entries: Sequence[_Packed], when: datetime.datetime) -> bytes:
    """A plain deflated zip from pre-compressed entries (zipfile cannot take raw deflate)."""
    t = (when.hour << 11) | (when.minute << 5) | (when.second // 2)
    d = ((max(when.year, 1980) - 1980) << 9) | (when.month << 5) | when.day
    out = bytearray()
    central = bytearray()
    for e in entries:
        offset = len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, t, d, e.crc, len(e.data), e.size, len(e.name), 0)
        out += e.name
        out += e.data
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, t, d, e.crc, len(e.data), e.size,
                               len(e.name), 0, 0, 0, 0, 0, offset)
        central += e.name
    cd_offset = len(out)
    out += central
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(central), cd_offset, 0)
    return bytes(out)


_SST = "xl/sharedStrings.xml"
_SUGGESTION_PART = "xl/worksheets/sheet2.xml"  # 改进建议: its page header names the expert
_CORE = "docProps/core.xml"
_WORKBOOK = "xl/workbook.xml"


@dataclass(frozen=True)
class _Prepared:
    """A template with one evaluation's password applied, static parts compressed once."""

    order: tuple[str, ...]
    static: dict[str, _Packed] = field(hash=False, compare=False)
    sst: str = ""
    suggestion: str = ""


@lru_cache(maxsize=16)
def _prepared(rubric: Rubric, kind: str, password: str) -> _Prepared:
    template = _template(rubric, kind)
    old = f'password="{legacy_password_hash(_TEMPLATE_PASSWORD)}"'.encode()
    new = f'password="{legacy_password_hash(password)}"'.encode()
    static: dict[str, _Packed] = {}
    sst = suggestion = ""
    for part in template.parts:
        data = part.data
        if part.name == _SST:
            sst = data.decode("utf-8")
            continue
        if part.name == _CORE:
            continue
        if part.name.startswith("xl/worksheets/sheet"):
            data = data.replace(old, new)
            if part.name == _SUGGESTION_PART:
                suggestion = data.decode("utf-8")
                continue
        elif part.name == _WORKBOOK:
            protection = (f'<workbookProtection workbookPassword="{legacy_password_hash(password)}" '
                          'lockStructure="1"/>').encode()
            data = data.replace(b"<bookViews>", protection + b"<bookViews>", 1)
        static[part.name] = _pack(part.name, data)
    return _Prepared(tuple(p.name for p in template.parts), static, sst, suggestion)


def _core_xml(title: str, creator: str, when: datetime.datetime) -> bytes:
    stamp = when.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
        'xmlns:dcmitype="http://purl.org/dc/dcmitype/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f"<dc:title>{escape(title)}</dc:title><dc:creator>{escape(creator)}</dc:creator>"
        f"<cp:lastModifiedBy>{escape(creator)}</cp:lastModifiedBy>"
        f'<dcterms:created xsi:type="dcterms:W3CDTF">{stamp}</dcterms:created>'
        f'<dcterms:modified xsi:type="dcterms:W3CDTF">{stamp}</dcterms:modified>'
        "</cp:coreProperties>"
    ).encode("utf-8")


_TOKEN_RE = re.compile(r"<t>QIPH([a-z_]+)QIPH</t>|QIPH([a-z_]+)QIPH")


def _fill(sst: str, values: dict[str, str]) -> str:
    def repl(m: re.Match[str]) -> str:
        if m.group(1) is not None:
            return f'<t xml:space="preserve">{_sst_text(values[m.group(1)])}</t>'
        return _sst_text(values[m.group(2)])

    return _TOKEN_RE.sub(repl, sst)


_HEADER_TOKEN_RE = re.compile(r"QIPH([a-z_]+)QIPH")


HEADER_VALUE_LIMIT = 80  # characters of one value in a page header (Excel's whole header: 255)


def header_value(text: str, limit: int = HEADER_VALUE_LIMIT) -> str:
    """A value as it may go into a page header: ``&`` doubled (it starts a header code there),
    and shortened with "…" so header codes, title and two values stay within Excel's 255
    characters (a longer header makes Excel "repair" the file)."""
    text = " ".join(_INVALID_XML.sub("", text).split())
    if len(text.replace("&", "&&")) <= limit:
        return text.replace("&", "&&")
    out = ""
    for ch in text:
        piece = "&&" if ch == "&" else ch
        if len(out) + len(piece) > limit - 1:
            break
        out += piece
    return out + "…"


def _fill_header(xml: str, values: dict[str, str]) -> str:
    """Tokens inside a page header (see ``header_value``)."""
    return _HEADER_TOKEN_RE.sub(lambda m: escape(header_value(values[m.group(1)])), xml)


def identity_meta(rubric: Rubric, info: EvaluationInfo, expert: Expert | None, secret: Secret,
                  issued_at: str) -> dict[str, str]:
    """The _qi values, signed: what ties a returned file to this evaluation and person."""
    meta = {
        "kind": KIND_SELF if expert is None else KIND_EXPERT,
        "evaluation_id": secret.evaluation_id,
        "expert_id": SELF_ID if expert is None else expert.expert_id,
        "expert_name": info.applicant if expert is None else expert.name,
        "rubric_fingerprint": rubric.fingerprint,
        "issued_at": issued_at,
        "layout_version": L.LAYOUT_VERSION,
    }
    meta["signature"] = sign(secret.hmac_key, meta, rubric.source_text)
    return meta


def render_score_workbook(rubric: Rubric, info: EvaluationInfo, expert: Expert | None, secret: Secret,
                          issued_at: str) -> bytes:
    """The .xlsx bytes for one expert (``expert=None``: the applicant's self-evaluation)."""
    kind = KIND_SELF if expert is None else KIND_EXPERT
    try:
        when = datetime.datetime.fromisoformat(issued_at)
    except ValueError:
        raise QiError(f"发放时间“{issued_at}”不是 ISO 8601 格式。") from None
    prepared = _prepared(rubric, kind, secret.password)
    values = identity_meta(rubric, info, expert, secret, issued_at)
    values.update(service_name=info.service_name, applicant=info.applicant,
                  organizer=info.organizer or "评价组织")
    sst = _pack(_SST, _fill(prepared.sst, values).encode("utf-8"))
    texts = _texts(kind)
    core = _pack(_CORE, _core_xml(f"{texts.title}（{values['expert_name']}）", info.organizer or "qi-excel", when))
    dynamic = {_SST: sst, _CORE: core}
    if prepared.suggestion:
        dynamic[_SUGGESTION_PART] = _pack(_SUGGESTION_PART, _fill_header(prepared.suggestion, values).encode("utf-8"))
    entries = [dynamic.get(n) or prepared.static[n] for n in prepared.order]
    return _zip(entries, when)


# ───────────────────────────── issuing into the folder ─────────────────────────────


@dataclass(frozen=True)
class IssueResult:
    folder: Path
    issued_at: str
    records: tuple[IssuedRecord, ...]
    eml_files: tuple[str, ...]
    accepted_warnings: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "folder": str(self.folder),
            "issued_at": self.issued_at,
            "workbooks": [
                {"expert_id": r.expert_id, "name": r.name, "kind": r.kind, "file": r.file, "sha256": r.sha256}
                for r in self.records
            ],
            "eml": list(self.eml_files),
            "accepted_warnings": list(self.accepted_warnings),
        }


def workbook_file_name(expert: Expert | None, info: EvaluationInfo) -> str:
    if expert is None:
        return f"自我评价记录-{safe_file_part(info.applicant) or '申报单位'}.xlsx"
    return f"{expert.number:02d}-{safe_file_part(expert.name) or expert.expert_id}-评分表.xlsx"


def now_iso() -> str:
    return datetime.datetime.now().astimezone().replace(microsecond=0).isoformat()


@locked("issue")
def issue_workbooks(folder: str | Path, *, self_eval: bool = False, eml: bool = False,
                    accept_titles: bool = False, rubric: Rubric | None = None,
                    issued_at: str | None = None) -> IssueResult:
    """Write every expert's workbook (or, with ``self_eval``, the self-evaluation record).

    Everything is checked and rendered in memory first: a bad roster writes nothing.
    """
    from .eml import expert_eml, self_eml

    root = Path(folder)
    secret = load_secret(root)
    project = read_project(root)
    info = project.info
    rubric = rubric or evaluation_rubric(root)
    issued_at = issued_at or now_iso()
    accepted: tuple[str, ...] = ()
    targets: list[Expert | None]
    if self_eval:
        targets = [None]  # clause 6.1 comes before the panel exists: no roster checks
        if eml:
            label, address = ("联系人邮箱", info.contact_email) if info.contact_email else ("负责人邮箱", info.head_email)
            if not address:
                raise QiError(f"{PROJECT_FILE} 基本信息中没有联系人邮箱或负责人邮箱，无法生成自评表邮件草稿。")
            if not is_email(address):
                raise QiError(f"{PROJECT_FILE} 基本信息中的{label}“{address}”格式不正确，无法生成自评表邮件草稿；"
                              "未写入任何文件。")
    else:
        if project.errors:
            raise_panel_problems(project.errors, PROJECT_FILE)
        if project.warnings and not accept_titles:
            lines = "\n".join(f"  {p.text}" for p in project.warnings)
            raise QiError(f"{PROJECT_FILE} 的专家组名单需要确认：\n{lines}\n"
                          "确认无误后请加 --accept-titles 重新发放；未写入任何文件。")
        accepted = tuple(p.text for p in project.warnings)
        if eml:
            missing = [f"第 {row} 行 {e.name}" for e, row in zip(project.experts, project.rows) if not e.email]
            if missing:
                raise QiError(f"{PROJECT_FILE} 专家组中以下专家没有邮箱，无法生成邮件草稿：{'、'.join(missing)}。"
                              "未写入任何文件。")
        targets = list(project.experts)

    from .folder_state import bind_evaluation

    bind_evaluation(root, info, evaluation_rubric(root), secret)  # the key now belongs to this service and applicant

    outputs: list[tuple[str, bytes]] = []
    records: list[IssuedRecord] = []
    eml_files: list[str] = []
    for expert in targets:
        data = render_score_workbook(rubric, info, expert, secret, issued_at)
        name = workbook_file_name(expert, info)
        rel = f"{ISSUE_DIR}/{name}"
        outputs.append((rel, data))
        records.append(IssuedRecord(
            expert_id=SELF_ID if expert is None else expert.expert_id,
            name=info.applicant if expert is None else expert.name,
            file=rel,
            kind=KIND_SELF if expert is None else KIND_EXPERT,
            issued_at=issued_at,
            sha256=hashlib.sha256(data).hexdigest(),
        ))
        if eml:
            message = self_eml(info, name, data) if expert is None else expert_eml(info, expert, name, data)
            rel_eml = f"{ISSUE_DIR}/{Path(name).stem}.eml"
            outputs.append((rel_eml, message))
            eml_files.append(rel_eml)

    # A workbook written is a workbook issued: if a later file cannot be written (open in Excel,
    # a folder in the way, disk full), what did go out is still recorded so collect recognises it.
    history = load_issued(root)
    by_file = {r.file: r for r in records}
    done: list[IssuedRecord] = []
    try:
        for rel, data in outputs:
            try:
                write_bytes_atomic(root / rel, data)
            except OSError as exc:
                raise QiError(f"无法写入 {root / rel}：{os_error_text(exc)}。请关闭占用该文件的程序或检查磁盘后重新发放。"
                              + (f"已写入 {len(done)} 个工作簿，并已记录。" if done else "")) from None
            except QiError as exc:
                raise QiError(str(exc) + (f"已写入 {len(done)} 个工作簿，并已记录。" if done else "")) from None
            if rel in by_file:
                done.append(by_file[rel])
    finally:
        if done:
            save_issued(root, [*history, *done])
    return IssueResult(root, issued_at, tuple(records), tuple(eml_files), accepted)
