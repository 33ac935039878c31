"""评价台账: one register of every evaluation folder under a root, and each expert's evaluations.

An office runs many evaluations a year with overlapping experts; it needs to see at a glance
where each one stands, who sat on which panel, and whether the same expert keeps evaluating
the same applicant. The scan reads only what each folder's records already say (``.qi``
state, the ledger, the consolidation record) and 评价项目.xlsx through a small read-only
package reader (``xlsx_read``) rather than openpyxl, so two hundred folders take a second or two. A broken
or half-made folder becomes a row with its problem; it never stops the scan.
"""

from __future__ import annotations

import io
import json
import os
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from . import evaluation as ev
from .dates import day_text
from .errors import QiError
from .fileio import write_bytes_atomic
from .xlsx_print import a4_one_page_wide
from .xlsx_read import open_book

REGISTER_FILE = "评价台账.xlsx"
STAGES = ("建立", "已发放", "回收中", "已汇总", "已出报告", "已归档")
STAGE_BROKEN = "有问题"
MAX_DEPTH = 6


# ───────────────────────────── one folder ─────────────────────────────


@dataclass(frozen=True)
class PanelSeat:
    name: str
    employer: str
    title: str
    role: str


@dataclass(frozen=True)
class EvaluationEntry:
    folder: str  # relative to the root
    evaluation_id: str = ""
    service: str = ""
    applicant: str = ""
    dates: str = ""  # 评价日期 as people read it
    stage: str = STAGE_BROKEN
    panel_size: int | None = None
    accepted: int | None = None
    method: str = ""
    total: Decimal | None = None
    decimals: int = 2
    draft: bool = False
    report_date: str = ""
    archive: str = ""
    problems: tuple[str, ...] = ()
    panel: tuple[PanelSeat, ...] = field(default_factory=tuple)


def date_text(value: str) -> str:
    """'2025-06-18' (or '2025-06-18 09:00 …') → '2025年6月18日'; anything else unchanged."""
    m = re.match(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?", value.strip())
    if not m:
        return value.strip()
    return f"{int(m.group(1))}年{int(m.group(2))}月{int(m.group(3))}日"


def _day(ts: float) -> str:
    return day_text(date.fromtimestamp(ts))


def scan_folder(folder: Path, root: Path) -> EvaluationEntry:
    """Everything the register shows about one folder; problems are collected, never raised."""
    from . import collect
    from .consolidate import METHODS

    rel = folder.relative_to(root).as_posix() if folder != root else "."
    problems: list[str] = []
    data: dict[str, Any] = {}

    try:
        data["evaluation_id"] = ev.load_secret(folder).evaluation_id
    except QiError as err:
        problems.append(str(err))

    project = folder / ev.PROJECT_FILE
    if project.is_file():
        try:
            book = open_book(project)
        except Exception:  # noqa: BLE001 - any failure to parse means "not a usable workbook"
            problems.append(f"{ev.PROJECT_FILE} 不是有效的 Excel 工作簿，无法读取。")
        else:
            try:
                info = ev.read_info(book)
                data.update(service=info.service_name, applicant=info.applicant,
                            dates=date_text(info.evaluation_date or info.first_meeting))
            except QiError as err:
                problems.append(str(err))
            try:
                experts, rows, roster = ev.read_panel(book)
                data["panel_size"] = len(experts)
                data["panel"] = tuple(PanelSeat(e.name, e.employer, e.title, e.role) for e in experts)
                errors = [p for p in roster + ev.check_panel(experts, rows) if p.severity == "error"]
                if errors:
                    problems.append(f"专家组名单有 {len(errors)} 处问题：{errors[0].text}")
            except QiError as err:
                problems.append(str(err))
    else:
        problems.append(f"缺少 {ev.PROJECT_FILE}。")

    stage = "建立"
    try:
        if ev.load_issued(folder):
            stage = "已发放"
    except QiError as err:
        problems.append(str(err))
    if (folder / ev.LEDGER_FILE).is_file():
        try:
            ledger = collect._load_ledger(folder)
            entries = ledger["entries"]
            statuses = collect._resolve_statuses(entries)
            accepted = {e.get("expert_id") for e in entries
                        if statuses.get(e["sha256"]) == "accepted" and (e.get("kind") or "expert") == "expert"}
            data["accepted"] = len(accepted)
            if entries:
                stage = "回收中"
        except (QiError, KeyError, TypeError, AttributeError) as err:
            problems.append(str(err) if isinstance(err, QiError) else f"{ev.LEDGER_FILE} 已损坏。")
    consolidation = folder / ev.CONSOLIDATION_FILE
    if consolidation.is_file():
        try:
            c = json.loads(consolidation.read_text(encoding="utf-8"))
            data.update(method=METHODS.get(c["method"], str(c["method"])), total=Decimal(c["total"]),
                        decimals=int(c["decimals"]), draft=bool(c["draft"]))
            stage = "已汇总"
        except (OSError, ValueError, KeyError, TypeError, ArithmeticError):
            problems.append(f"汇总结果 {ev.CONSOLIDATION_FILE} 已损坏。")
    report = folder / ev.REPORT_FILE
    if report.is_file():
        data["report_date"] = _day(report.stat().st_mtime)
        stage = "已出报告"
    archives = sorted(p.name for p in folder.glob("评价档案-*.zip"))
    if archives:
        data["archive"] = archives[-1]
        stage = "已归档"
    if "evaluation_id" not in data and "service" not in data:
        stage = STAGE_BROKEN
    return EvaluationEntry(folder=rel, stage=stage, problems=tuple(problems), **data)


# ───────────────────────────── the root ─────────────────────────────


def _is_evaluation(path: Path) -> bool:
    return (path / ev.PROJECT_FILE).is_file() or (path / ev.STATE_DIR).is_dir()


def find_evaluations(root: Path) -> list[Path]:
    """Evaluation folders under ``root`` (not inside one another), in name order."""
    if _is_evaluation(root):
        return [root]
    found: list[Path] = []
    for dirpath, dirnames, _ in os.walk(root):
        here = Path(dirpath)
        depth = len(here.relative_to(root).parts)
        keep = []
        for name in sorted(dirnames):
            if name.startswith("."):
                continue
            sub = here / name
            if _is_evaluation(sub):
                found.append(sub)
            elif depth + 1 < MAX_DEPTH:
                keep.append(name)
        dirnames[:] = keep
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


@dataclass(frozen=True)
class Register:
    root: Path
    entries: tuple[EvaluationEntry, ...]

    @property
    def broken(self) -> tuple[EvaluationEntry, ...]:
        return tuple(e for e in self.entries if e.problems)


def build_register(root: str | Path) -> Register:
    base = Path(root)
    if not base.is_dir():
        raise QiError(f"文件夹 {base} 不存在。")
    return Register(base, tuple(scan_folder(f, base) for f in find_evaluations(base)))


def render_register(reg: Register) -> bytes:
    import xlsxwriter

    buffer = io.BytesIO()
    wb = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
                                      "strings_to_numbers": False})
    wb.set_properties({"title": "评价台账", "comments": f"由 qi-excel register 扫描 {reg.root} 生成。"})
    fm = _formats(wb)
    _ledger_sheet(wb, fm, reg)
    _experts_sheet(wb, fm, reg)
    wb.close()
    return buffer.getvalue()


def _formats(wb: Any) -> dict[str, Any]:
    base = {"font_name": "宋体", "font_size": 10, "valign": "top", "text_wrap": True, "border": 1}
    fm: dict[str, Any] = {
        "title": wb.add_format({"font_name": "宋体", "font_size": 14, "bold": True}),
        "header": wb.add_format({**base, "bold": True, "bg_color": "#D9E1F2", "align": "center", "valign": "vcenter"}),
        "text": wb.add_format(base),
        "center": wb.add_format({**base, "align": "center"}),
        "flag": wb.add_format({**base, "font_color": "#C00000"}),
        "integer": wb.add_format({**base, "num_format": "0", "align": "center"}),
    }
    fm["totals"] = {d: wb.add_format({**base, "num_format": "0." + "0" * d if d else "0", "align": "center"})
                    for d in range(5)}
    return fm


def _put(ws: Any, r: int, c: int, value: Any, fmt: Any) -> None:
    if value is None or value == "":
        ws.write_blank(r, c, None, fmt)
    elif isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        ws.write_number(r, c, float(value), fmt)
    else:
        ws.write_string(r, c, str(value)[:32000], fmt)


def _sheet_head(ws: Any, fm: dict[str, Any], heading: str, headers: tuple[str, ...],
                widths: tuple[float, ...]) -> None:
    for i, w in enumerate(widths):
        ws.set_column(i, i, w)
    ws.merge_range(0, 0, 0, len(headers) - 1, "", fm["title"])
    ws.write_string(0, 0, heading, fm["title"])
    for col, h in enumerate(headers):
        ws.write_string(1, col, h, fm["header"])


def _ledger_sheet(wb: Any, fm: dict[str, Any], reg: Register) -> None:
    """台账: one row per evaluation folder."""
    ws = wb.add_worksheet("台账")
    headers: tuple[str, ...] = ("序号", "评价目录", "评价编号", "服务名称", "申报单位", "评价日期", "阶段", "专家组人数",
               "已接收评分表", "汇总方法", "总分", "报告日期", "档案文件", "问题")
    widths: tuple[float, ...] = (5, 18, 20, 28, 28, 14, 8, 7, 8, 14, 9, 14, 26, 40)
    _sheet_head(ws, fm, f"评价台账（共 {len(reg.entries)} 项评价）", headers, widths)
    totals = fm["totals"]
    for r, e in enumerate(reg.entries, start=2):
        stage = e.stage + ("（草稿）" if e.draft and e.stage == "已汇总" else "")
        values: tuple[Any, ...] = (r - 1, e.folder, e.evaluation_id, e.service, e.applicant, e.dates, stage, e.panel_size,
                  e.accepted, e.method, e.total, e.report_date, e.archive, "\n".join(e.problems))
        for col, v in enumerate(values):
            fmt = fm["text"]
            if col in (0, 7, 8):
                fmt = fm["integer"]
            elif col == 10:
                fmt = totals.get(e.decimals, totals[2])
            elif col == 6:
                fmt = fm["center"]
            elif col == 13 and e.problems:
                fmt = fm["flag"]
            _put(ws, r, col, v, fmt)
    ws.freeze_panes(2, 2)
    ws.autofilter(1, 0, 1 + len(reg.entries), len(headers) - 1)
    a4_one_page_wide(ws, repeat=(1,))


def _experts_sheet(wb: Any, fm: dict[str, Any], reg: Register) -> None:
    """专家: every seat on every panel, with a hint when an expert keeps meeting the same applicant."""
    es = wb.add_worksheet("专家")
    seats = [(seat, e) for e in reg.entries for seat in e.panel if seat.name]
    count_by_name: dict[str, int] = {}
    count_by_pair: dict[tuple[str, str], int] = {}
    for seat, e in seats:
        count_by_name[seat.name] = count_by_name.get(seat.name, 0) + 1
        if e.applicant:
            key = (seat.name, e.applicant)
            count_by_pair[key] = count_by_pair.get(key, 0) + 1
    seats.sort(key=lambda se: (se[0].name, se[1].dates, se[1].folder))
    headers = ("专家", "工作单位", "职称", "角色", "参评次数", "评价目录", "评价编号", "服务名称", "申报单位", "评价日期",
               "阶段", "与该申报单位")
    widths = (10, 24, 14, 6, 7, 18, 20, 28, 28, 14, 8, 22)
    _sheet_head(es, fm, "专家参评情况（同一专家多次评价同一申报单位的，在最后一列提示）", headers, widths)
    for r, (seat, e) in enumerate(seats, start=2):
        pair = count_by_pair.get((seat.name, e.applicant), 0)
        note = f"共 {pair} 次评价该单位，请注意轮换" if pair > 1 else ""
        values = (seat.name, seat.employer, seat.title, seat.role, count_by_name[seat.name], e.folder, e.evaluation_id,
                  e.service, e.applicant, e.dates, e.stage, note)
        for col, v in enumerate(values):
            _put(es, r, col, v, fm["integer"] if col == 4 else (fm["flag"] if col == 11 and note else fm["text"]))
    if pair_note := [k for k, v in count_by_pair.items() if v > 1]:
        es.write_string(len(seats) + 3, 0, f"重复组合：{len(pair_note)} 对专家与申报单位不止一次同在一次评价中。")
    es.freeze_panes(2, 1)
    es.autofilter(1, 0, 1 + len(seats), len(headers) - 1)
    a4_one_page_wide(es, repeat=(1,))


def write_register(root: str | Path, output: str | Path | None = None) -> tuple[Path, Register]:
    reg = build_register(root)
    target = Path(output) if output else Path(root) / REGISTER_FILE
    return write_bytes_atomic(target, render_register(reg)), reg
