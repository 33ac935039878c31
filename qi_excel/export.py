"""Every score each expert typed, one row per expert × score cell, for whoever audits the panel.

Review systems hand auditors "long" data (one row per reviewer and question) because it sorts,
filters and pivots without knowing the form's layout. The rows come from the accepted
workbooks themselves (the collector's current return per expert, plus the self-evaluation,
marked as such), never from the consolidated averages.

The CSV is UTF-8 with a byte-order mark so Excel and WPS open it without mojibake. A CSV has
no cell types, so text that a spreadsheet would take for a formula (= + - @, tab, CR) is
prefixed with an apostrophe as OWASP recommends; the .xlsx writes every text as a string
and needs no such prefix.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import QiError
from .fileio import write_bytes_atomic

FORMATS = ("csv", "xlsx")
KIND_EXPERT = "专家"
KIND_SELF = "自评"
HEADERS = ("评价编号", "类型", "专家编号", "专家", "一级指标", "二级指标", "评分项", "打分格", "分值", "得分",
           "扣分说明")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class ExportRow:
    evaluation_id: str
    kind: str  # 专家 / 自评
    expert_id: str
    expert: str
    level1: str
    level2: str
    item_id: str
    cell_id: str  # the part id for parts
    max: int
    score: int
    remark: str  # the remark on this cell's row (an item with parts has its remarks on the parts)

    def values(self) -> tuple[str | int, ...]:
        return (self.evaluation_id, self.kind, self.expert_id, self.expert, self.level1, self.level2, self.item_id,
                self.cell_id, self.max, self.score, self.remark)


def neutralise(text: str) -> str:
    """A CSV text cell that no spreadsheet will run as a formula (OWASP CSV injection)."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def export_rows(folder: str | Path) -> list[ExportRow]:
    """The rows of the counted experts (id order), then the self-evaluation when collected."""
    from . import evaluation as ev
    from .collect import load_accepted

    root = Path(folder)
    if not root.is_dir():
        raise QiError(f"评价目录 {root} 不存在。")
    secret = ev.load_secret(root)
    rubric = ev.evaluation_rubric(root)
    if not (root / ev.LEDGER_FILE).is_file():
        raise QiError(f"{root} 还没有回收任何评分表：请先运行 qi-excel collect。")
    workbooks = load_accepted(root)
    if not workbooks:
        raise QiError(f"{root} 还没有已接收的评分表，没有可导出的数据。")
    levels = {item.id: (l1.name, l2.name) for l1 in rubric.level1 for l2 in l1.level2 for item in l2.items}
    rows: list[ExportRow] = []
    for rw in workbooks:
        scores = rw.int_scores()
        is_self = rw.kind == "self"
        for cell in rubric.score_cells:
            item = cell.item
            rows.append(ExportRow(
                evaluation_id=secret.evaluation_id,
                kind=KIND_SELF if is_self else KIND_EXPERT,
                expert_id=rw.expert_id,
                expert=rw.expert_name or rw.expert_id,
                level1=levels[item.id][0],
                level2=levels[item.id][1],
                item_id=item.id,
                cell_id=cell.id,
                max=cell.max,
                score=scores[cell.id],
                remark=rw.remarks.get(cell.id, ""),
            ))
    return rows


def render_csv(rows: Sequence[ExportRow]) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADERS)
    for row in rows:
        writer.writerow([neutralise(v) if isinstance(v, str) else v for v in row.values()])
    return b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8")


def render_xlsx(rows: Sequence[ExportRow]) -> bytes:
    import xlsxwriter

    buffer = io.BytesIO()
    wb = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
                                      "strings_to_numbers": False})
    wb.set_properties({"title": "专家评分原始数据", "comments": "由 qi-excel export 生成：每位专家每个打分格一行。"})
    ws = wb.add_worksheet("评分数据")
    header = wb.add_format({"bold": True, "font_name": "宋体", "bg_color": "#D9E1F2", "border": 1, "text_wrap": True,
                            "valign": "vcenter", "align": "center"})
    text = wb.add_format({"font_name": "宋体", "valign": "top"})
    number = wb.add_format({"font_name": "宋体", "valign": "top", "num_format": "0"})
    widths = (20, 6, 9, 10, 12, 14, 9, 10, 6, 6, 40)
    for i, w in enumerate(widths):
        ws.set_column(i, i, w)
    for col, h in enumerate(HEADERS):
        ws.write_string(0, col, h, header)
    for r, row in enumerate(rows, start=1):
        for col, value in enumerate(row.values()):
            if isinstance(value, int):
                ws.write_number(r, col, value, number)
            else:
                ws.write_string(r, col, value, text)
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, len(rows), len(HEADERS) - 1)
    wb.close()
    return buffer.getvalue()


def export_folder(folder: str | Path, *, fmt: str | None = None, output: str | Path | None = None) -> tuple[Path, int]:
    """Write the long table (default ``评分数据.csv`` in the folder); returns (path, rows).

    Without ``fmt`` the format follows the output's suffix (.xlsx or .csv), else CSV.
    """
    if fmt is None:
        fmt = "xlsx" if output and str(output).lower().endswith(".xlsx") else "csv"
    if fmt not in FORMATS:
        raise QiError(f"导出格式“{fmt}”无效，可选：{'、'.join(FORMATS)}。")
    rows = export_rows(folder)
    target = Path(output) if output else Path(folder) / f"评分数据.{fmt}"
    data = render_csv(rows) if fmt == "csv" else render_xlsx(rows)
    return write_bytes_atomic(target, data), len(rows)
