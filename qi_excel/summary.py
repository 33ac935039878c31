"""汇总表.xlsx: the consolidation as a workbook the panel discusses and the organizer files.

Everything shown is a value taken from a ``Consolidation`` (no formulas), so the workbook
prints the same numbers in Excel, WPS and LibreOffice without recalculation, and the numbers
that must add up (see ``Consolidation.rule_text``) do so on paper. Text from experts is
written with ``write_string`` only: a remark that looks like a formula stays a remark.
"""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from .consolidate import Consolidation
from .decimals import percent_text, plain_number
from .dates import human_date, human_time
from .fileio import write_bytes_atomic
from .textfit import line_count as lines_needed
from .xlsx_print import a4_one_page_wide

if TYPE_CHECKING:
    from .rubric import Rubric

TITLE = "质量基础设施“一站式”服务评价汇总表"
FONT = "宋体"
LINE_PT = 16.5  # one line of 11-pt CJK text with leading (measured in LibreOffice with Noto CJK)
ROW_PT = 18.0  # every row's default height: room for CJK glyphs in all three spreadsheet programs
MAX_ROW_PT = 409.0  # Excel's largest row height (409.5 pt); a taller row is cut, not grown
MAX_CELL_UNITS = 32767  # Excel's cell limit, counted in UTF-16 code units
A4_PT = (595.0, 842.0)
MARGIN_IN = (0.5, 0.75)  # left/right, top/bottom

def parts_spread_note(c: Consolidation) -> str:
    """How a divergence flag is decided for an item with parts, in the sheets' notes.

    The panel discusses items, and an item's score is the sum of its parts, so the flag is on
    the spread of each expert's item total; disagreement on single parts that cancels out in
    the total is still visible line by line in 明细.
    """
    with_parts = sorted({cell.item_id for cell in c.cells if cell.id != cell.item_id})
    if not with_parts:
        return ""
    return (
        f"有分项的评分项（{'、'.join(with_parts)}）按各专家的分项之和（即该专家给本项的得分）计算极差、判断分歧；"
        f"各分项自身的极差列在“{SHEET_DETAIL}”表中，供参考。"
    )


SHEET_TOTAL = "总分"
SHEET_DETAIL = "明细"
SHEET_DIVERGENCE = "分歧"
SHEET_EXPERTS = "专家"
SHEET_LOST = "失分"
SHEET_SUGGESTIONS = "改进建议"
SHEET_SELF = "自评对比"


def _utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def cell_text(text: str) -> str:
    """Text that fits one Excel cell; a cut says so in the cell itself.

    XlsxWriter would silently drop everything past 32,767 characters, so a reader could take
    a cut remark for the whole of it. Past the limit the text ends with a note pointing to
    the expert's own workbook, which keeps the full remark.
    """
    if _utf16_units(text) <= MAX_CELL_UNITS:
        return text
    note = "……【以下 {} 字超出 Excel 单元格 32767 字的上限，未显示；全文见专家本人的评分工作簿】"
    room = MAX_CELL_UNITS - _utf16_units(note.format(len(text)))
    kept, used = [], 0
    for ch in text:
        used += 2 if ord(ch) > 0xFFFF else 1
        if used > room:
            break
        kept.append(ch)
    return "".join(kept) + note.format(len(text) - len(kept))


class _Writer:
    """Formats and small helpers shared by every sheet of the summary workbook."""

    def __init__(self, c: Consolidation, workbook: Any, rubric: "Rubric | None" = None) -> None:
        self.c = c
        self.rubric = rubric
        self.wb = workbook
        d = c.decimals
        score_fmt = "0." + "0" * d if d else "0"
        rate_fmt = score_fmt + "%"
        base = {"font_name": FONT, "font_size": 11, "valign": "vcenter"}
        cell = {**base, "border": 1}

        def fmt(**kw: Any) -> Any:
            return workbook.add_format({**cell, **kw})

        self.title = workbook.add_format({**base, "bold": True, "font_size": 16, "align": "center"})
        self.info = workbook.add_format({**base, "text_wrap": True})
        self.note = workbook.add_format({**base, "font_size": 10, "text_wrap": True, "valign": "top"})
        self.section = workbook.add_format({**base, "bold": True, "font_size": 12})
        self.header = fmt(bold=True, align="center", text_wrap=True, bg_color="#D9E1F2")
        self.text = fmt(text_wrap=True, indent=1)
        self.center = fmt(align="center", text_wrap=True)
        self.bold_text = fmt(bold=True, text_wrap=True, indent=1, bg_color="#F2F2F2")
        self.int = fmt(num_format="0", align="center")
        self.bold_int = fmt(num_format="0", align="center", bold=True, bg_color="#F2F2F2")
        self.score = fmt(num_format=score_fmt, align="center")
        self.bold_score = fmt(num_format=score_fmt, align="center", bold=True, bg_color="#F2F2F2")
        self.signed = fmt(num_format="+" + score_fmt + ";-" + score_fmt + ";" + score_fmt, align="center")
        self.rate = fmt(num_format=rate_fmt, align="center")
        self.bold_rate = fmt(num_format=rate_fmt, align="center", bold=True, bg_color="#F2F2F2")
        self.flag = fmt(align="center", font_color="#C00000", bold=True, text_wrap=True)
        self.flag_int = fmt(num_format="0", align="center", font_color="#C00000", bold=True, bg_color="#FCE4D6")
        self.blank = fmt()
        self.bold_blank = fmt(bg_color="#F2F2F2")
        self.l1_text = fmt(bold=True, text_wrap=True, indent=1, bg_color="#D9D9D9")
        self.l1_int = fmt(num_format="0", align="center", bold=True, bg_color="#D9D9D9")
        self.l1_score = fmt(num_format=score_fmt, align="center", bold=True, bg_color="#D9D9D9")
        self.rate_label_format = rate_fmt
        self.criterion = fmt(text_wrap=True, indent=1, font_size=10, bg_color="#F7F7F7", valign="top")
        self.outcome = fmt(text_wrap=True, valign="top")
        self._cell = cell
        self._score_fmt = score_fmt
        self._grouped: dict[tuple[str, bool, bool, bool], Any] = {}
        self.heights: dict[str, dict[int, float]] = {}
        self.landscape: dict[str, bool] = {}
        self.widths: dict[str, Sequence[float]] = {}

    # -- cells -------------------------------------------------------------------------

    def put(self, ws: Any, row: int, col: int, value: Any, fmt: Any) -> None:
        """Numbers as numbers, text always as text (never a formula), None as a bordered blank."""
        if value is None:
            ws.write_blank(row, col, None, fmt)
        elif isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
            ws.write_number(row, col, float(value), fmt)
        else:
            ws.write_string(row, col, cell_text(str(value)), fmt)

    def merge(self, ws: Any, r1: int, c1: int, r2: int, c2: int, value: Any, fmt: Any) -> None:
        if (r1, c1) == (r2, c2):
            self.put(ws, r1, c1, value, fmt)
            return
        ws.merge_range(r1, c1, r2, c2, "", fmt)
        self.put(ws, r1, c1, value, fmt)

    def rate_value(self, rate: Decimal) -> float:
        return float(rate / 100)

    def grouped(self, kind: str, *, first: bool, top: bool, bottom: bool) -> Any:
        """A cell of a block of rows that belong to one item: horizontal borders only where
        the block starts and ends; on rows below the first, a repeated label is grey so that a
        continuation page still names its item without the page looking noisy."""
        key = (kind, first, top, bottom)
        if key not in self._grouped:
            spec: dict[str, Any] = {**self._cell, "top": 1 if top else 0, "bottom": 1 if bottom else 0,
                                    "left": 1, "right": 1, "text_wrap": True}
            spec.pop("border")
            looks: dict[str, dict[str, Any]] = {
                "text": {"indent": 1}, "center": {"align": "center"},
                "int": {"num_format": "0", "align": "center"},
                "score": {"num_format": self._score_fmt, "align": "center"},
                "flag_int": {"num_format": "0", "align": "center", "font_color": "#C00000", "bold": True,
                             "bg_color": "#FCE4D6"},
            }
            spec.update(looks[kind])
            if not first:
                spec["font_color"] = "#7F7F7F"
            self._grouped[key] = self.wb.add_format(spec)
        return self._grouped[key]

    # -- sheet furniture ---------------------------------------------------------------

    def sheet(self, name: str, widths: Sequence[float], *, landscape: bool) -> Any:
        ws = self.wb.add_worksheet(name)
        for i, w in enumerate(widths):
            ws.set_column(i, i, w)
        ws.set_default_row(ROW_PT)
        self.heights[name] = {}
        self.landscape[name] = landscape
        self.widths[name] = widths
        a4_one_page_wide(ws, landscape=landscape)
        ws.set_margins(left=MARGIN_IN[0], right=MARGIN_IN[0], top=MARGIN_IN[1], bottom=MARGIN_IN[1])
        ws.center_horizontally()
        footer_title = TITLE + ("（草稿）" if self.c.draft else "")
        ws.set_footer(f"&L&8{footer_title} · &A&C&8第 &P 页，共 &N 页&R&8生成于 {human_date(self.c.created_at)}")
        if self.c.draft:
            ws.set_header('&C&"宋体,Bold"&14&KC00000草稿 — 专家人数不足或结果未定，仅供讨论')
        ws.hide_gridlines(2)
        return ws

    def heading(self, ws: Any, last_col: int, subtitle: str, widths: Sequence[float]) -> int:
        """Title and the identification line; returns the next free row."""
        prefix = "【草稿】" if self.c.draft else ""
        self.set_height(ws, 0, 30)
        self.merge(ws, 0, 0, 0, last_col, f"{prefix}{TITLE} — {subtitle}", self.title)
        who = []
        if self.c.service_name:
            who.append(f"服务名称：{self.c.service_name}")
        if self.c.applicant:
            who.append(f"申报单位：{self.c.applicant}")
        how = f"专家 {len(self.c.experts)} 人    汇总方法：{self.c.method_label}"
        if self.c.created_at:
            how += f"    生成时间：{human_time(self.c.created_at, local=False)}"
        lines = ["    ".join(who), how] if who else [how]
        return self.notes(ws, 1, last_col, lines, widths, fmt=self.info)

    def notes(self, ws: Any, row: int, last_col: int, lines: Sequence[str], widths: Sequence[float],
              fmt: Any = None) -> int:
        width = sum(widths[: last_col + 1])
        for line in lines:
            # notes are set in 10 pt: about 10 % more text per line than the 11-pt estimate
            self.set_height(ws, row, max(ROW_PT, LINE_PT * lines_needed(line, width * 1.05) + 3))
            self.merge(ws, row, 0, row, last_col, line, fmt or self.note)
            row += 1
        return row

    def fit_row(self, ws: Any, row: int, cells: Sequence[tuple[str, float]]) -> None:
        """Give a row of wrapped text the height it needs: XlsxWriter cannot autofit."""
        n = max((lines_needed(t, w) for t, w in cells), default=1)
        if n > 1:
            self.set_height(ws, row, max(ROW_PT, LINE_PT * n + 4))

    def set_height(self, ws: Any, row: int, height: float) -> None:
        height = min(height, MAX_ROW_PT)
        ws.set_row(row, height)
        self.heights[ws.name][row] = height

    def height(self, ws: Any, row: int) -> float:
        return self.heights[ws.name].get(row, ROW_PT)

    def paginate(self, ws: Any, header_row: int, groups: Sequence[tuple[int, int]]) -> None:
        """Break pages between groups of rows (one item and its experts) rather than inside one.

        The printable height is estimated from A4, the margins and the fit-to-width scale; the
        estimate errs towards breaking early, which costs some white space, never a split group.
        """
        landscape = self.landscape[ws.name]
        page_w, page_h = (A4_PT[1], A4_PT[0]) if landscape else A4_PT
        sheet_pt = sum(int(w * 7 + 0.5) + 5 for w in self.widths[ws.name]) * 0.75
        scale = min(1.0, (page_w - 2 * 72 * MARGIN_IN[0]) / sheet_pt)
        capacity = (page_h - 2 * 72 * MARGIN_IN[1]) / scale * 0.9
        repeat = self.height(ws, header_row)
        y = sum(self.height(ws, r) for r in range(header_row + 1))
        breaks = []
        for first, last in groups:
            h = sum(self.height(ws, r) for r in range(first, last + 1))
            if y + h > capacity and y > repeat:
                breaks.append(first)
                y = repeat
            if y + h <= capacity:
                y += h
                continue
            # a group taller than a page: break between its own rows rather than not at all
            for r in range(first, last + 1):
                rh = self.height(ws, r)
                if y + rh > capacity and y > repeat:
                    breaks.append(r)
                    y = repeat
                y += rh
        if breaks:
            ws.set_h_pagebreaks(breaks)


# ───────────────────────────── sheets ─────────────────────────────


def _total_sheet(w: _Writer) -> None:
    c = w.c
    widths = (16, 26, 10, 12, 12)
    ws = w.sheet(SHEET_TOTAL, widths, landscape=False)
    row = w.heading(ws, 4, "总分", widths)
    row += 1
    w.merge(ws, row, 0, row, 4, "一、一级指标", w.section)
    row += 1
    w.merge(ws, row, 0, row, 1, "一级指标", w.header)
    for col, text in enumerate(("分值", "得分", "得分率"), start=2):
        w.put(ws, row, col, text, w.header)
    row += 1
    l1_first = row
    for s in c.level1:
        w.merge(ws, row, 0, row, 1, s.name, w.text)
        w.put(ws, row, 2, s.max, w.int)
        w.put(ws, row, 3, s.score, w.score)
        w.put(ws, row, 4, w.rate_value(s.rate), w.rate)
        row += 1
    l1_last = row - 1
    w.merge(ws, row, 0, row, 1, "总分", w.bold_text)
    w.put(ws, row, 2, c.max_total, w.bold_int)
    w.put(ws, row, 3, c.total, w.bold_score)
    w.put(ws, row, 4, w.rate_value(c.rate), w.bold_rate)
    row += 2

    w.merge(ws, row, 0, row, 4, "二、二级指标", w.section)
    row += 1
    for col, text in enumerate(("一级指标", "二级指标", "分值", "得分", "得分率")):
        w.put(ws, row, col, text, w.header)
    row += 1
    l2_first = row
    for l1 in c.level1:
        members = [s for s in c.level2 if s.parent == l1.id]
        w.merge(ws, row, 0, row + len(members) - 1, 0, l1.name, w.center)
        for s in members:
            w.put(ws, row, 1, s.name, w.text)
            w.put(ws, row, 2, s.max, w.int)
            w.put(ws, row, 3, s.score, w.score)
            w.put(ws, row, 4, w.rate_value(s.rate), w.rate)
            row += 1
    l2_last = row - 1
    row += 1

    lines = ["说明：", c.rule_text()]
    if c.divergent:
        lines.append(
            f"评分分歧：{len(c.divergent)} 个评分项的专家评分极差超过该项分值的 {percent_text(c.spread_share)}，"
            f"见“{SHEET_DIVERGENCE}”表（{('、'.join(c.divergent))}）。"
        )
    else:
        lines.append(f"评分分歧：没有评分项的专家评分极差超过该项分值的 {percent_text(c.spread_share)}。")
    if c.self_total is not None:
        lines.append(f"申请方自评总分 {plain_number(c.self_total)} 分，未计入专家组得分，对比见“{SHEET_SELF}”表。")
    row = w.notes(ws, row, 4, lines, widths)

    # charts on their own page below the tables
    row += 1
    ws.set_h_pagebreaks([row])
    _total_charts(w, ws, row, (l1_first, l1_last), (l2_first, l2_last))
    ws.print_area(0, 0, row + 42, 4)


def _total_charts(w: _Writer, ws: Any, row: int, l1_rows: tuple[int, int], l2_rows: tuple[int, int]) -> None:
    """The first-level rates as columns and the second-level rates as a radar, from ``row``."""
    l1_first, l1_last = l1_rows
    l2_first, l2_last = l2_rows
    bar = w.wb.add_chart({"type": "column"})
    bar.add_series({
        "name": "得分率",
        "categories": [SHEET_TOTAL, l1_first, 0, l1_last, 0],
        "values": [SHEET_TOTAL, l1_first, 4, l1_last, 4],
        "fill": {"color": "#4472C4"},
        "data_labels": {"value": True, "num_format": w.rate_label_format, "font": {"name": FONT, "size": 9}},
        "gap": 80,
    })
    _style_chart(bar, "一级指标得分率")
    bar.set_y_axis({"min": 0, "max": 1, "num_format": "0%", "major_gridlines": {"visible": True},
                    "num_font": {"name": FONT, "size": 9}})
    bar.set_x_axis({"num_font": {"name": FONT, "size": 10}})
    bar.set_size({"width": 540, "height": 300})
    ws.insert_chart(row, 0, bar, {"x_offset": 8, "y_offset": 10})

    radar = w.wb.add_chart({"type": "radar", "subtype": "with_markers"})
    radar.add_series({
        "name": "得分率",
        "categories": [SHEET_TOTAL, l2_first, 1, l2_last, 1],
        "values": [SHEET_TOTAL, l2_first, 4, l2_last, 4],
        "line": {"color": "#C00000", "width": 1.75},
        "marker": {"type": "circle", "size": 4, "fill": {"color": "#C00000"}, "border": {"color": "#C00000"}},
    })
    _style_chart(radar, "二级指标得分率")
    radar.set_y_axis({"min": 0, "max": 1, "major_unit": 0.25, "num_format": "0%",
                      "num_font": {"name": FONT, "size": 8}})
    radar.set_x_axis({"num_font": {"name": FONT, "size": 9}})
    radar.set_size({"width": 540, "height": 470})
    ws.insert_chart(row + 17, 0, radar, {"x_offset": 8, "y_offset": 10})


def _style_chart(chart: Any, title: str) -> None:
    chart.set_title({"name": title, "name_font": {"name": FONT, "size": 12, "bold": True}})
    chart.set_legend({"none": True})
    chart.set_chartarea({"border": {"none": True}})


def _detail_sheet(w: _Writer) -> None:
    c = w.c
    n = len(c.experts)
    has_self = c.self_total is not None
    tail = ["平均", "最低", "最高", "极差", "专家组得分"] + (["自评"] if has_self else [])
    widths = [9, 30, 6] + [8] * n + [8, 6, 6, 6, 10] + ([6] if has_self else [])
    last = len(widths) - 1
    ws = w.sheet(SHEET_DETAIL, widths, landscape=True)
    row = w.heading(ws, last, "评分明细", widths)
    row = w.notes(ws, row, last, [
        f"每个打分格的各专家评分；平均、最低、最高、极差（最高−最低）按打分格计算，专家组得分按{c.method_label}计算并四舍五入。"
        "有分项的评分项先列本项（各专家为分项之和，专家组得分为各分项专家组得分之和），再列各分项。"
        f"极差超过该项分值 {percent_text(c.spread_share)} 的评分项以红色标出。{parts_spread_note(c)}",
    ], widths)
    header_row = row
    headers = ["编号", "评分项", "分值"] + [e.name for e in c.experts] + tail
    for col, text in enumerate(headers):
        w.put(ws, row, col, text, w.header)
    w.fit_row(ws, row, [(h, widths[i]) for i, h in enumerate(headers)])
    row += 1
    cells_of: dict[str, list[Any]] = {}
    for cell in c.cells:
        cells_of.setdefault(cell.item_id, []).append(cell)
    stats_col = 3 + n
    for item in c.item_scores:
        parts = cells_of[item.id]
        has_parts = not (len(parts) == 1 and parts[0].id == item.id)
        spread_fmt = w.flag_int if item.divergent else (w.bold_int if has_parts else w.int)
        if has_parts:
            w.put(ws, row, 0, item.id, w.bold_text)
            w.put(ws, row, 1, item.label, w.bold_text)
            w.put(ws, row, 2, item.max, w.bold_int)
            for k, v in enumerate(item.scores):
                w.put(ws, row, 3 + k, v, w.bold_int)
            w.put(ws, row, stats_col, None, w.bold_blank)
            w.put(ws, row, stats_col + 1, min(item.scores), w.bold_int)
            w.put(ws, row, stats_col + 2, max(item.scores), w.bold_int)
            w.put(ws, row, stats_col + 3, item.spread, spread_fmt)
            w.put(ws, row, stats_col + 4, item.score, w.bold_score)
            if has_self:
                w.put(ws, row, stats_col + 5, item.self_score, w.bold_int)
            row += 1
        for cell in parts:
            label = cell.label.split("（", 1)[1].rstrip("）") if has_parts else cell.label
            w.put(ws, row, 0, cell.id, w.text)
            w.put(ws, row, 1, ("    " + label) if has_parts else label, w.text)
            w.put(ws, row, 2, cell.max, w.int)
            for k, v in enumerate(cell.scores):
                w.put(ws, row, 3 + k, v, w.int)
            w.put(ws, row, stats_col, cell.mean, w.score)
            w.put(ws, row, stats_col + 1, cell.low, w.int)
            w.put(ws, row, stats_col + 2, cell.high, w.int)
            w.put(ws, row, stats_col + 3, cell.spread, w.int if has_parts else spread_fmt)
            w.put(ws, row, stats_col + 4, cell.score, w.score)
            if has_self:
                w.put(ws, row, stats_col + 5, cell.self_score, w.int)
            row += 1
    w.merge(ws, row, 0, row, 1, "总分", w.bold_text)
    w.put(ws, row, 2, c.max_total, w.bold_int)
    for k, e in enumerate(c.experts):
        w.put(ws, row, 3 + k, e.total, w.bold_int)
    for col in range(stats_col, stats_col + 4):
        w.put(ws, row, col, None, w.bold_blank)
    w.put(ws, row, stats_col + 4, c.total, w.bold_score)
    if has_self:
        w.put(ws, row, stats_col + 5, c.self_total, w.bold_int)
    ws.freeze_panes(header_row + 1, 3)
    ws.repeat_rows(header_row)


def allowed_text(item: Any) -> str:
    """The values an item allows, in the words of the workbook's input messages."""
    if not item.parts:
        return f"允许分值：{item.allowed.describe()}（满分 {item.max} 分）"
    kinds = {p.allowed.describe() for p in item.parts}
    if len(kinds) == 1:
        return (f"允许分值：按 {len(item.parts)} 个分项逐项打分，每项 {kinds.pop()}，"
                f"本项为各分项之和（满分 {item.max} 分）")
    listed = "；".join(f"{p.name} {p.allowed.describe()}" for p in item.parts)
    return f"允许分值：按分项逐项打分（{listed}），本项为各分项之和（满分 {item.max} 分）"


def _divergence_sheet(w: _Writer) -> None:
    c = w.c
    widths = (8, 20, 6, 6, 10, 10, 6, 44, 28)
    last = len(widths) - 1
    ws = w.sheet(SHEET_DIVERGENCE, widths, landscape=True)
    row = w.heading(ws, last, "评分分歧", widths)
    row = w.notes(ws, row, last, [
        f"供专家组内部沟通（规范 8.3.1）：下列评分项的专家评分极差（最高分−最低分）超过该项分值的 "
        f"{percent_text(c.spread_share)}，逐一列出评分标准、允许分值、各位专家的评分和扣分说明；"
        f"沟通后的结论（维持、修改及理由）请填写在“内部沟通结果”栏。{parts_spread_note(c)}",
    ], widths)
    header_row = row
    for col, text in enumerate(("编号", "评分项", "分值", "极差", "专家组得分", "专家", "评分", "扣分说明/备注",
                                "内部沟通结果")):
        w.put(ws, row, col, text, w.header)
    row += 1
    flagged = [i for i in c.item_scores if i.divergent]
    groups: list[tuple[int, int]] = []
    if not flagged:
        w.merge(ws, row, 0, row, last, "没有分歧评分项。", w.text)
        row += 1
    for item in flagged:
        first = row
        rubric_item = w.rubric.item(item.id) if w.rubric is not None else None
        if rubric_item is not None:  # what the item asks for and allows, above the experts' scores
            text = f"评分标准：{rubric_item.criterion}\n{allowed_text(rubric_item)}"
            w.put(ws, row, 0, item.id, w.grouped("center", first=True, top=True, bottom=False))
            w.merge(ws, row, 1, row, last - 1, text, w.criterion)
            w.fit_row(ws, row, [(text, sum(widths[1:last]))])
            row += 1
        outliers = _outliers(item.scores)
        n = len(c.experts)
        for j, (e, score, remark) in enumerate(zip(c.experts, item.scores, item.remarks)):
            lead = j == 0
            edges = {"first": lead, "top": row == first, "bottom": j == n - 1}
            g = {kind: w.grouped(kind, **edges) for kind in ("center", "int", "score")}.__getitem__
            # the id stands out once per item: on the criterion row when there is one
            w.put(ws, row, 0, item.id, w.grouped("center", first=lead and rubric_item is None, top=edges["top"],
                                                 bottom=edges["bottom"]))
            w.put(ws, row, 1, item.label, g("center"))
            w.put(ws, row, 2, item.max if lead else None, g("int"))
            w.put(ws, row, 3, item.spread if lead else None,
                  w.grouped("flag_int", first=True, top=edges["top"], bottom=edges["bottom"]) if lead else g("int"))
            w.put(ws, row, 4, item.score if lead else None, g("score"))
            w.put(ws, row, 5, e.name, w.center)
            w.put(ws, row, 6, score, w.flag_int if score in outliers else w.int)
            w.put(ws, row, 7, remark, w.text)
            w.fit_row(ws, row, [(remark, widths[7])])
            row += 1
        w.merge(ws, first, last, row - 1, last, None, w.outcome)  # for the panel to fill in
        groups.append((first, row - 1))
    row += 1
    w.merge(ws, row, 0, row, last, "总分偏离较大的专家", w.section)
    row += 1
    row = w.notes(ws, row, last, [
        f"专家总分与其他专家平均总分相差超过 {plain_number(c.deviation_threshold)} 分的列于此处；全部专家见“{SHEET_EXPERTS}”表。",
    ], widths)
    flagged_experts = [e for e in c.experts if e.flagged]
    if not flagged_experts:
        w.merge(ws, row, 0, row, last, "没有总分偏离较大的专家。", w.text)
    for e in flagged_experts:
        w.merge(ws, row, 0, row, 1, e.name, w.text)
        w.merge(ws, row, 2, row, 4, f"总分 {plain_number(e.total)}", w.center)
        w.merge(ws, row, 5, row, 7, f"比其他专家平均总分{'高' if e.deviation > 0 else '低'} {plain_number(abs(e.deviation))} 分",
                w.text)
        row += 1
    w.paginate(ws, header_row, groups)
    ws.freeze_panes(header_row + 1, 0)
    ws.repeat_rows(header_row)


def _outliers(scores: Sequence[int]) -> set[int]:
    """The extreme scores held by a minority of the panel: who to ask first in the discussion."""
    out = set()
    for value in (min(scores), max(scores)):
        if scores.count(value) * 2 < len(scores):
            out.add(value)
    return out


def _experts_sheet(w: _Writer) -> None:
    c = w.c
    widths = [6, 12] + [11] * len(c.level1) + [9, 12, 10, 18]
    last = len(widths) - 1
    ws = w.sheet(SHEET_EXPERTS, widths, landscape=True)
    row = w.heading(ws, last, "专家评分", widths)
    row = w.notes(ws, row, last, [
        f"各位专家的一级指标小计和总分（专家本人评分，整数）。偏离 = 该专家总分 − 其他专家平均总分（四舍五入）；"
        f"偏离超过 ±{plain_number(c.deviation_threshold)} 分的，提示专家组内部沟通。",
    ], widths)
    header_row = row
    headers = ["编号", "姓名"] + [f"{s.name}\n（{s.max}分）" for s in c.level1] + [
        f"总分\n（{c.max_total}分）", "其他专家\n平均总分", "偏离", "提示"]
    for col, text in enumerate(headers):
        w.put(ws, row, col, text, w.header)
    w.fit_row(ws, row, [(h, widths[i]) for i, h in enumerate(headers)])
    row += 1
    n1 = len(c.level1)
    for e in c.experts:
        w.put(ws, row, 0, e.expert_id, w.center)
        w.put(ws, row, 1, e.name, w.center)
        for k, s in enumerate(c.level1):
            w.put(ws, row, 2 + k, e.level1.get(s.id), w.int)
        w.put(ws, row, 2 + n1, e.total, w.int)
        w.put(ws, row, 3 + n1, e.total - e.deviation, w.score)
        w.put(ws, row, 4 + n1, e.deviation, w.signed)
        w.put(ws, row, 5 + n1, "偏离较大，请沟通" if e.flagged else "", w.flag if e.flagged else w.center)
        row += 1
    w.merge(ws, row, 0, row, 1, "专家组得分", w.bold_text)
    for k, s in enumerate(c.level1):
        w.put(ws, row, 2 + k, s.score, w.bold_score)
    w.put(ws, row, 2 + n1, c.total, w.bold_score)
    for col in range(3 + n1, 6 + n1):
        w.put(ws, row, col, None, w.bold_blank)
    ws.freeze_panes(header_row + 1, 2)
    ws.repeat_rows(header_row)


def _lost_sheet(w: _Writer) -> None:
    c = w.c
    widths = (6, 9, 22, 6, 10, 8, 70)
    last = len(widths) - 1
    ws = w.sheet(SHEET_LOST, widths, landscape=True)
    row = w.heading(ws, last, "失分分析", widths)
    row = w.notes(ws, row, last, [
        "失分 = 分值 − 专家组得分，按失分从大到小排列（失分相同的按评价表顺序），附各位专家的扣分说明（每位专家一行），作为提出改进建议的依据。",
    ], widths)
    header_row = row
    for col, text in enumerate(("序号", "编号", "评分项", "分值", "专家组得分", "失分", "专家扣分说明")):
        w.put(ws, row, col, text, w.header)
    row += 1
    # No manual page breaks: an item with seven remarks may run onto the next page, and there
    # its 编号 and 评分项 are repeated (grey) on every row, the header row on every page.
    for k, p in enumerate(c.lost, start=1):
        # one row per expert's remark: an item with parts collects a remark per part from
        # every expert, far more than one cell (at most 409 pt high) can show or print
        remarks = [f"{name}：{text}" for name, text in p.remarks] or [""]
        for j, remark in enumerate(remarks):
            first, top, bottom = j == 0, j == 0, j == len(remarks) - 1
            g = {kind: w.grouped(kind, first=first, top=top, bottom=bottom)
                 for kind in ("int", "center", "text", "score")}.__getitem__
            w.put(ws, row, 0, k if first else None, g("int"))
            w.put(ws, row, 1, p.item_id, g("center"))
            w.put(ws, row, 2, p.label, g("text"))
            w.put(ws, row, 3, p.max if first else None, g("int"))
            w.put(ws, row, 4, p.score if first else None, g("score"))
            w.put(ws, row, 5, p.lost if first else None, g("score"))
            w.put(ws, row, 6, remark, w.text)
            w.fit_row(ws, row, [(remark, widths[6]), (p.label, widths[2])])
            row += 1
    w.merge(ws, row, 0, row, 2, "合计", w.bold_text)
    w.put(ws, row, 3, c.max_total, w.bold_int)
    w.put(ws, row, 4, c.total, w.bold_score)
    w.put(ws, row, 5, sum((p.lost for p in c.lost), Decimal(0)), w.bold_score)
    w.put(ws, row, 6, None, w.bold_blank)
    ws.freeze_panes(header_row + 1, 0)
    ws.repeat_rows(header_row)


def _suggestions_sheet(w: _Writer) -> None:
    c = w.c
    widths = (6, 12, 70, 16)
    last = len(widths) - 1
    ws = w.sheet(SHEET_SUGGESTIONS, widths, landscape=False)
    row = w.heading(ws, last, "改进建议", widths)
    row = w.notes(ws, row, last, [
        "各位专家在评分工作簿“改进建议”表中填写的评价发现和改进建议，按专家顺序汇总，原文照录，供编写评价报告使用。",
    ], widths)
    header_row = row
    for col, text in enumerate(("序号", "专家", "评价发现 / 改进建议", "相关指标")):
        w.put(ws, row, col, text, w.header)
    row += 1
    if not c.suggestions:
        w.merge(ws, row, 0, row, last, "专家未填写改进建议。", w.text)
    for k, s in enumerate(c.suggestions, start=1):
        w.put(ws, row, 0, k, w.int)
        w.put(ws, row, 1, s.expert_name, w.center)
        w.put(ws, row, 2, s.text, w.text)
        w.put(ws, row, 3, s.ref, w.text)
        w.fit_row(ws, row, [(s.text, widths[2]), (s.ref, widths[3])])
        row += 1
    w.paginate(ws, header_row, [(r, r) for r in range(header_row + 1, row)])
    ws.freeze_panes(header_row + 1, 0)
    ws.repeat_rows(header_row)


def _self_sheet(w: _Writer) -> None:
    c = w.c
    widths = (9, 30, 8, 10, 12, 12)
    last = len(widths) - 1
    ws = w.sheet(SHEET_SELF, widths, landscape=False)
    row = w.heading(ws, last, "自评对比", widths)
    row = w.notes(ws, row, last, [
        f"申请方自评得分（{c.self_name or '申请方'}）与专家组得分对比。自评得分不计入专家组得分。"
        "差值 = 自评得分 − 专家组得分，正数表示自评高于专家组。",
    ], widths)
    header_row = row
    for col, text in enumerate(("编号", "指标 / 评分项", "分值", "自评得分", "专家组得分", "差值")):
        w.put(ws, row, col, text, w.header)
    row += 1

    def line(ident: str, label: str, maximum: int, own: Any, panel: Decimal, level: int) -> None:
        nonlocal row
        t, i, s = ((w.l1_text, w.l1_int, w.l1_score), (w.bold_text, w.bold_int, w.bold_score),
                   (w.text, w.int, w.score))[level]
        w.put(ws, row, 0, ident, t)
        w.put(ws, row, 1, label, t)
        w.put(ws, row, 2, maximum, i)
        w.put(ws, row, 3, own, i)
        w.put(ws, row, 4, panel, s)
        w.put(ws, row, 5, None if own is None else Decimal(own) - panel, w.signed)
        row += 1

    for l1 in c.level1:
        line(l1.id, l1.name, l1.max, l1.self_score, l1.score, 0)
        for l2 in (s for s in c.level2 if s.parent == l1.id):
            line(l2.id, l2.name, l2.max, l2.self_score, l2.score, 1)
            for item in (i for i in c.item_scores if i.level2_id == l2.id):
                line(item.id, "    " + item.label, item.max, item.self_score, item.score, 2)
    line("", "总分", c.max_total, c.self_total, c.total, 0)
    ws.freeze_panes(header_row + 1, 0)
    ws.repeat_rows(header_row)


def render_summary(c: Consolidation, rubric: "Rubric | None" = None) -> bytes:
    """The 汇总表 workbook as bytes; with ``rubric``, 分歧 shows each item's criterion and bands."""
    import xlsxwriter

    buffer = io.BytesIO()
    wb = xlsxwriter.Workbook(buffer, {"in_memory": True})
    wb.set_properties({
        "title": TITLE + ("（草稿）" if c.draft else ""),
        "subject": c.service_name or c.rubric_title,
        "comments": c.rule_text(),
    })
    w = _Writer(c, wb, rubric)
    _total_sheet(w)
    _detail_sheet(w)
    _divergence_sheet(w)
    _experts_sheet(w)
    _lost_sheet(w)
    _suggestions_sheet(w)
    if c.self_total is not None:
        _self_sheet(w)
    _agreement_sheet(w)  # issue 14: panel agreement and leniency
    wb.close()
    return buffer.getvalue()


def write_summary(c: Consolidation, target: str | Path, rubric: "Rubric | None" = None) -> Path:
    return write_bytes_atomic(target, render_summary(c, rubric))


# ───────────────────────────── 一致性 (issue 14) ─────────────────────────────

SHEET_AGREEMENT = "一致性"


def _agreement_sheet(w: _Writer) -> None:
    """Panel agreement (ICC, Kendall's W) and each expert's leniency, in plain Chinese."""
    from . import agreement as ag

    c = w.c
    a = ag.panel_agreement(c)
    widths = (8, 22, 12, 12, 44)
    last = len(widths) - 1
    ws = w.sheet(SHEET_AGREEMENT, widths, landscape=False)
    value_fmt = w.wb.add_format({"font_name": FONT, "font_size": 11, "valign": "vcenter", "border": 1,
                                 "num_format": "0.0000", "align": "center"})
    lean_fmt = w.wb.add_format({"font_name": FONT, "font_size": 11, "valign": "vcenter", "border": 1,
                                "num_format": "+0.00;-0.00;0.00", "align": "center"})
    row = w.heading(ws, last, "专家组一致性与宽严程度", widths)
    row += 1
    w.merge(ws, row, 0, row, last, "一、专家组评分的一致性", w.section)
    row += 1
    w.merge(ws, row, 0, row, 1, "指标", w.header)
    for col, text in enumerate(("数值", "判断", "含义"), start=2):
        w.put(ws, row, col, text, w.header)
    row += 1
    figures = (
        ("组内相关系数 ICC(2,1)", a.icc, ag.icc_reading(a.icc.value),
         "各位专家给同一评分项的得分率是否相同。1 表示完全相同；接近 0 表示专家之间的分歧和评分项本身的高低差别一样大，看不出一致。"),
        ("肯德尔和谐系数 W", a.kendall_w, ag.w_reading(a.kendall_w.value),
         "各位专家对评分项“谁做得好、谁做得差”的排序是否一致（只看先后，不看分数高低）。1 表示排序完全一致，0 表示毫无关联。"),
    )
    for name, fig, reading, meaning in figures:
        w.merge(ws, row, 0, row, 1, name, w.text)
        if fig.value is None:
            w.put(ws, row, 2, "—", w.center)
        else:
            w.put(ws, row, 2, fig.value, value_fmt)
        w.put(ws, row, 3, reading, w.flag if reading == "偏低" else w.center)
        text = meaning if fig.value is not None else f"{meaning}本次无法计算：{fig.reason}"
        w.put(ws, row, 4, text, w.text)
        w.fit_row(ws, row, [(text, widths[4])])
        row += 1
    row += 1
    lines = [
        "怎么看：",
        f"计算依据为 {a.experts} 位计入汇总的专家对 {a.items} 个评分项的得分率（得分 ÷ 分值；有分项的评分项按各分项之和）。"
        "两个系数均按四舍五入保留 4 位小数。",
        f"组内相关系数（ICC，Shrout 与 Fleiss 1979 年提出的双向随机、绝对一致、单个评分者模型）：低于 {ag.ICC_LOW} 为偏低，"
        f"{ag.ICC_LOW}～{ag.ICC_GOOD} 为中等，{ag.ICC_GOOD} 及以上为良好。偏低说明专家对同一项的打分差别较大，"
        "宜在内部沟通（规范 8.3）时对照“分歧”表逐项核对评分依据。",
        f"肯德尔和谐系数（W，并列时取平均名次并作并列校正）：低于 {ag.W_LOW} 为偏低，{ag.W_LOW}～{ag.W_GOOD} 为中等，"
        f"{ag.W_GOOD} 及以上为良好。当多数评分项都得满分时，排序的差别很小，W 可能偏低而并不表示专家意见分散。",
    ]
    row = w.notes(ws, row, last, lines, widths)
    row += 1

    w.merge(ws, row, 0, row, last, "二、各位专家的宽严程度", w.section)
    row += 1
    header_row = row
    for col, text in enumerate(("编号", "姓名", "总分", "宽严度\n（百分点）", "提示")):
        w.put(ws, row, col, text, w.header)
    w.fit_row(ws, row, [("宽严度\n（百分点）", widths[3])])
    row += 1
    first = row
    for e in a.leniency:
        w.put(ws, row, 0, e.expert_id, w.center)
        w.put(ws, row, 1, e.expert, w.center)
        w.put(ws, row, 2, e.total, w.int)
        w.put(ws, row, 3, e.leniency if e.leniency is not None else "—", lean_fmt if e.leniency is not None else w.center)
        hint = ag.leniency_reading(e.leniency)
        w.put(ws, row, 4, hint, w.flag if hint else w.center)
        row += 1
    last_row = row - 1
    row += 1
    row = w.notes(ws, row, last, [
        "宽严度 = 对每个评分项，用该专家的得分率减去其他专家的平均得分率，再对全部评分项取平均，以百分点表示"
        "（四舍五入保留 2 位小数）。正数表示该专家总体打分偏宽，负数表示偏严，接近 0 表示与其他专家相当。"
        f"绝对值超过 {ag.LENIENCY_NOTE} 个百分点的标为“明显偏宽/偏严”，供内部沟通参考，不影响专家组得分。",
    ], widths)
    ws.repeat_rows(header_row)
    if a.leniency and all(e.leniency is not None for e in a.leniency):
        _leniency_chart(w, ws, row, (first, last_row), len(a.leniency))


def _leniency_chart(w: _Writer, ws: Any, row: int, rows: tuple[int, int], experts: int) -> None:
    """Each expert's leniency as a bar, below the table (``rows``: its first and last data row)."""
    first, last_row = rows
    chart = w.wb.add_chart({"type": "bar"})
    chart.add_series({
        "name": "宽严度（百分点）",
        "categories": [SHEET_AGREEMENT, first, 1, last_row, 1],
        "values": [SHEET_AGREEMENT, first, 3, last_row, 3],
        "fill": {"color": "#4472C4"},
        "invert_if_negative": False,
        "gap": 60,  # no data labels: some LibreOffice versions add the names to them; the table has the values
    })
    _style_chart(chart, "各位专家的宽严度（百分点，正为偏宽、负为偏严）")
    chart.set_x_axis({"num_format": "0.0", "major_gridlines": {"visible": True},
                      "num_font": {"name": FONT, "size": 9}})
    chart.set_y_axis({"reverse": True, "num_font": {"name": FONT, "size": 10}, "label_position": "low"})
    chart.set_size({"width": 620, "height": max(220, 40 * experts + 80)})
    ws.insert_chart(row + 1, 0, chart, {"x_offset": 8, "y_offset": 4})
