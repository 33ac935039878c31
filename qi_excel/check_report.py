"""检查报告.xlsx: every finding of every returned file, one row each, ready to filter and print.

The organizer works from this sheet: filter by expert or by 拒收, copy a message into an
e-mail. Everything an expert wrote reaches it only as text (a shared string), so a remark
that starts with ``=`` can never turn into a formula here. The file carries a fixed
creation time and is only replaced when its content changes, so re-running collect over the
same files leaves it untouched.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from .fileio import write_bytes_if_changed
from .findings import SEVERITY_LABEL, Finding, finding_name
from .ledger import STATUS_LABEL
from .textfit import line_count, row_height
from .xlsx_table import Sheet, Style, to_xlsx

if TYPE_CHECKING:
    from .collect import ExpertStatus
    from .ledger import LedgerEntry

_HEADERS = ("序号", "专家编号", "专家", "文件", "状态", "级别", "问题类型", "单元格", "问题说明（可直接转发给专家）")
_WIDTHS = (5, 8, 12, 30, 8, 6, 14, 13, 62)


def path_shortener(folder: Path) -> Callable[[str], str]:
    """A function that shows paths inside ``folder`` relative to it, as the organizer sees them.

    Messages may carry the folder as given on the command line (relative, ``评价``) or as
    an absolute path; the absolute form is replaced first, and the relative form only where
    a path starts, never inside a longer path that merely contains the same names.
    """
    sep = re.escape(os.sep)
    forms = {str(folder.resolve()), os.path.abspath(folder)}
    if not folder.is_absolute():
        forms.add(str(folder))
    pattern = re.compile(
        r"(?<![\w/\\.\-])(?:" + "|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True)) + r")" + sep
    )
    return lambda value: pattern.sub("", value)


_FIXED_TIME = datetime(2000, 1, 1)

_STATUS_HEADERS = ("专家编号", "专家", "邮箱", "是否发放", "交回文件数", "状态", "使用的文件", "待处理的问题")
_STATUS_WIDTHS = (9, 14, 26, 9, 10, 24, 40, 70)


def write_check_report(
    path: Path,
    rows: Sequence[tuple[LedgerEntry, str, tuple[Finding, ...]]],
    people: Sequence[ExpertStatus],
) -> Path:
    """Write ``path`` from ledger entries (entry, status, findings) and the panel status.

    An unchanged report is left as it is (its file time too), so re-running collect over
    the same files changes nothing on disk: the writer's bytes are deterministic.
    """
    return write_bytes_if_changed(path, render_check_report(rows, people, path.parent))


def render_check_report(
    rows: Sequence[tuple[LedgerEntry, str, tuple[Finding, ...]]],
    people: Sequence[ExpertStatus],
    folder: Path,
) -> bytes:
    """The report's bytes; paths inside ``folder`` (where it is written) are shown relative to it.

    Written with the small table writer (xlsx_table), not XlsxWriter: collect writes this file
    on every run, and importing XlsxWriter alone cost more than the rest of the report.
    """
    latest = max((e.first_seen or "" for e, _, _ in rows), default="")
    try:
        created = datetime.fromisoformat(latest).replace(tzinfo=None) if latest else _FIXED_TIME
    except ValueError:
        created = _FIXED_TIME
    shown = path_shortener(folder)
    results = _results_sheet(rows, shown)
    sent_as = {e.stored: shown(e.label or (e.sources[0] if e.sources else "")) for e, _, _ in rows if e.stored}
    status = _status_sheet(people, sent_as, shown)
    return to_xlsx([results, status], title="回收检查报告", author="qi-excel", created=created)


class _Formats:
    """The cell formats both sheets share."""

    text = Style(valign="top", wrap=True, boxed=True)
    head = text._replace(bold=True, fill="DDEBF7", halign="center", valign="center")
    error = text._replace(color="C00000", bold=True)
    warning = text._replace(color="9C5700")
    ok = text._replace(color="006100")
    title = Style(size=14, bold=True)


def _fit(sheet: Sheet, row: int, texts: Sequence[str], widths: Sequence[float]) -> None:
    lines = max(line_count(t, w) for t, w in zip(texts, widths))
    if lines > 1:
        sheet.set_row_height(row, row_height(lines))


def _titled_sheet(name: str, widths: Sequence[float], title: str, headers: Sequence[str]) -> Sheet:
    """A sheet with its title in row 1 and the column headers in row 2 (both sheets' layout)."""
    ws = Sheet(name, tuple(widths))
    ws.write(0, 0, title, _Formats.title)
    for c, h in enumerate(headers):
        ws.write(1, c, h, _Formats.head)
    return ws


def _results_sheet(rows: Sequence[tuple[LedgerEntry, str, tuple[Finding, ...]]], shown: Callable[[str], str]) -> Sheet:
    """检查结果: one row per finding (one row for a file without any)."""
    fmt = _Formats
    text = fmt.text
    ws = _titled_sheet("检查结果", _WIDTHS, "回收检查报告：每行一个问题；“拒收”的文件须退回专家修改后重新发送", _HEADERS)
    r = 2
    for entry, status, found in rows:
        label = shown(entry.label or (entry.sources[0] if entry.sources else ""))
        items: list[Finding | None] = list(found) or [None]
        for f in items:
            ws.write(r, 0, r - 1, text)
            ws.write(r, 1, entry.expert_id or "", text)
            ws.write(r, 2, entry.expert_name or "", text)
            ws.write(r, 3, label, text)
            ws.write(r, 4, STATUS_LABEL.get(status, status), fmt.error if status == "rejected" else text)
            if f is None:
                ws.write(r, 5, "—", fmt.ok)
                ws.write(r, 6, "", text)
                ws.write(r, 7, "", text)
                ws.write(r, 8, "检查通过，已接收。" if status == "accepted" else "", fmt.ok)
            else:
                ws.write(r, 5, SEVERITY_LABEL[f.severity], fmt.error if f.severity == "error" else fmt.warning)
                ws.write(r, 6, finding_name(f.code), text)
                ws.write(r, 7, f.cell or "", text)
                ws.write(r, 8, shown(f.message), text)
            _fit(ws, r, (label, shown(f.message) if f else "", entry.expert_name or ""),
                 (_WIDTHS[3], _WIDTHS[8], _WIDTHS[2]))
            r += 1
    ws.filter = (1, 0, max(r - 1, 1), len(_HEADERS) - 1)
    _print_setup(ws)
    return ws


def _status_sheet(people: Sequence[ExpertStatus], sent_as: Mapping[str, str], shown: Callable[[str], str]) -> Sheet:
    """专家进度: one row per panel member, what to chase."""
    fmt = _Formats
    text = fmt.text
    st = _titled_sheet("专家进度", _STATUS_WIDTHS, "专家交回情况：状态不是“已接收”的专家需要联系", _STATUS_HEADERS)
    for i, p in enumerate(people, 2):
        errors = [f for f in p.findings if f.severity == "error"] if not p.accepted else list(p.findings)
        todo = "\n".join(f"{SEVERITY_LABEL[f.severity]}：{f.message}" for f in errors[:5])
        if len(errors) > 5:
            todo += f"\n……另有 {len(errors) - 5} 项，见“检查结果”"
        st.write(i, 0, p.expert_id, text)
        st.write(i, 1, p.name, text)
        st.write(i, 2, p.email, text)
        st.write(i, 3, "是" if p.issued else "否", text)
        st.write(i, 4, p.returned, text)
        st.write(i, 5, p.state, fmt.ok if p.accepted else fmt.error)
        used = sent_as.get(p.stored or "", "") if p.stored else ""  # the file as sent, not its stored copy
        st.write(i, 6, used, text)
        todo = shown(todo)
        st.write(i, 7, todo, text)
        _fit(st, i, (used, todo, p.name), (_STATUS_WIDTHS[6], _STATUS_WIDTHS[7], _STATUS_WIDTHS[1]))
    st.filter = (1, 0, max(len(people) + 1, 1), len(_STATUS_HEADERS) - 1)
    _print_setup(st)
    return st


def _print_setup(ws: Sheet) -> None:
    """Title and header rows stay on screen and on every printed page; A4 landscape, one page wide."""
    ws.frozen_rows = 2
    ws.title_rows = (0, 1)
    ws.landscape = True
    ws.fit_width = True
    ws.margins = (0.4, 0.4, 0.6, 0.6)
    ws.footer = "&C第 &P 页，共 &N 页"

