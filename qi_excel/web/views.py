"""What the templates need, in words and shapes: presentation only.

Scores, checks and documents come from the handle; this module only says which step is next,
what an organizer should do about each expert, and where the chart's bars go.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Mapping

from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException

from .. import evaluation as ev
from ..consolidate import METHODS
from ..errors import QiError
from ..handle import Evaluation, Summary
from .uploads import split_cell

METHOD_CHOICES = METHODS
STAGE_CLASSES = {"建立": "s0", "已发放": "s1", "回收中": "s2", "已汇总": "s3", "已出报告": "s4", "已归档": "s5"}
ROSTER_ROWS = 7
_MULTILINE = {"goals", "self_summary", "address"}


def broken_summary(path: Path, message: str) -> Summary:
    return Summary(path.name, "", "", "", "建立", 0, 0, None, None, False, problem=message)


def http_message(err: HTTPException) -> str:
    if err.code == 404:
        return err.description if err.description and "URL" not in err.description else "页面不存在。"
    if err.code == 413:
        return "上传的内容太大（一次最多 120 MB），未处理；请分批上传。"
    if err.code == 405:
        return "不支持这种请求方式。"
    if err.code == 403:
        return err.description if err.description and "permission" not in err.description else "无权访问。"
    if err.code == 400:
        return "请求无效，请刷新页面后重试。"
    return f"请求未完成（{err.code}）。"


# ───────────────────────────── 新建评价 ─────────────────────────────


@dataclass
class NewForm:
    """The 新建评价 form as typed (kept when a rule refuses it, so nothing is retyped)."""

    folder: str = ""
    info: dict[str, str] = field(default_factory=dict)
    roster: list[dict[str, str]] = field(default_factory=list)

    fields = ev.INFO_FIELDS
    columns = ev.PANEL_COLUMNS
    multiline = _MULTILINE

    @classmethod
    def blank(cls) -> "NewForm":
        return cls(roster=[{"number": str(i)} for i in range(1, ROSTER_ROWS + 1)])

    @classmethod
    def from_request(cls, form: MultiDict[str, str]) -> "NewForm":
        info = {attr: form.get(attr, "").strip() for _, attr, _, _ in ev.INFO_FIELDS}
        lists = {attr: form.getlist(f"expert_{attr}") for _, attr in ev.PANEL_COLUMNS}
        count = min(max((len(v) for v in lists.values()), default=0), ev.MAX_EXPERTS)
        roster = []
        for i in range(count):
            row = {attr: (values[i].strip() if i < len(values) else "") for attr, values in lists.items()}
            roster.append(row)
        return cls(form.get("folder", "").strip(), info, roster)

    def project(self) -> tuple[ev.EvaluationInfo, ev.Panel]:
        """The typed 基本信息 and roster; the rules are applied by ``Evaluation.new``."""
        for label, attr, _, _ in ev.INFO_FIELDS:
            _no_formula(self.info.get(attr, ""), label)
        info = ev.EvaluationInfo(**{attr: self.info.get(attr, "") for _, attr, _, _ in ev.INFO_FIELDS})
        experts = []
        for i, row in enumerate(self.roster, 1):
            if not any(v for k, v in row.items() if k != "number"):
                continue  # a blank roster line, as in the workbook
            for text, attr in ev.PANEL_COLUMNS[1:]:
                _no_formula(row.get(attr, ""), f"专家组第 {i} 行的{text}")
            try:
                number = int(row.get("number") or i)
            except ValueError:
                raise QiError(f"专家组第 {i} 行的序号“{row.get('number')}”不是整数。") from None
            experts.append(ev.Expert(
                number=number, name=row.get("name", ""), title=row.get("title", ""),
                employer=row.get("employer", ""), field=row.get("field", ""), phone=row.get("phone", ""),
                email=row.get("email", ""), role=row.get("role", "") or ev.MEMBER,
            ))
        return info, ev.Panel(tuple(experts))


def _no_formula(text: str, label: str) -> None:
    # 评价项目.xlsx is written with openpyxl, which would store "=..." as a formula.
    if text.startswith("="):
        raise QiError(f"{label}不能以“=”开头。")


# ───────────────────────────── 评价页 ─────────────────────────────


def next_action(person: Any) -> tuple[str, str]:
    """(css class, what the organizer does next) for one line of ``status``."""
    if person.accepted:
        warnings = [f for f in person.findings if f.severity == "warning"]
        if warnings:
            return "ok", f"已接收。有 {len(warnings)} 项提醒，可查看检查报告，无需退回。"
        return "ok", "已接收，无需处理。"
    if person.returned:
        errors = [f for f in person.findings if f.severity == "error"]
        first = errors[0] if errors else None
        where = f"（{first.cell}）" if first and first.cell and first.cell not in first.message else ""
        reason = f"：{first.message}{where}" if first else ""
        more = f" 另有 {len(errors) - 1} 项。" if len(errors) > 1 else ""
        return "bad", f"已拒收。把问题转发给专家，请其修改后重新发送{reason}{more}"
    if person.issued:
        mail = f"（{person.email}）" if person.email else ""
        return "wait", f"已发放，尚未交回。可发邮件催办{mail}。"
    return "todo", "尚未发放：请先生成评分工作簿。"


def _axis(low: Decimal, high: Decimal, maximum: int) -> tuple[int, int, int]:
    """A readable axis around the totals: bars of 850 and 880 out of 1000 look alike from 0."""
    span = high - low
    step = 10 if span <= 40 else 20 if span <= 100 else 50 if span <= 250 else 100
    lo = max(0, int((low - step) // step) * step)
    hi = min(maximum, int(-(-(high + step) // step)) * step)
    return lo, max(hi, lo + step), step


def _chart(cons: Any) -> dict[str, Any]:
    """Horizontal bars of each expert's total against the panel's total (inline SVG)."""
    label_w, bar_w, row_h, top = 110, 460, 30, 28
    totals = [e.total for e in cons.experts] + [cons.total]
    lo, hi, step = _axis(min(totals), max(totals), cons.max_total or 1)
    scale = Decimal(bar_w) / Decimal(hi - lo)

    def x(value: Decimal) -> int:
        return label_w + int(((value - lo) * scale).to_integral_value())

    bars = []
    for i, e in enumerate(cons.experts):
        bars.append({"y": top + i * row_h, "width": max(x(e.total) - label_w, 1), "label": e.name,
                     "value": str(e.total), "flagged": e.flagged})
    height = top + len(bars) * row_h + 10
    ticks = [{"x": x(Decimal(v)), "text": str(v)} for v in range(lo, hi + 1, step)]
    return {"bars": bars, "label_w": label_w, "bar_w": bar_w, "height": height, "width": label_w + bar_w + 70,
            "value_x": label_w + bar_w + 12, "panel_x": x(cons.total), "panel_total": str(cons.total),
            "ticks": ticks, "row_h": row_h, "from": lo}


def _consolidation(cons: Any) -> dict[str, Any]:
    level2 = {s.id: [] for s in cons.level1}  # type: dict[str, list[Any]]
    for s in cons.level2:
        level2.setdefault(s.parent, []).append(s)
    divergent = [cons.item_score(i) for i in cons.divergent]
    names = [e.name for e in cons.experts]
    return {"c": cons, "level2": level2, "divergent": divergent, "names": names, "chart": _chart(cons)}


def evaluation_context(evaluation: Evaluation, downloads: Mapping[str, tuple[str, str]]) -> dict[str, Any]:
    problems: list[str] = []
    try:
        project = evaluation.project
        info = project.info
        errors = [p.text for p in project.errors]
        warnings = [p.text for p in project.warnings]
    except QiError as err:
        project, info, errors, warnings = None, None, [], []
        problems.append(str(err))
    status: list[dict[str, Any]] = []
    if project is not None and not errors:
        try:
            for person in evaluation.status():
                css, action = next_action(person)
                status.append({"p": person, "css": css, "action": action,
                               "findings": [split_cell(f) for f in person.findings]})
        except QiError as err:
            problems.append(str(err))
    steps = evaluation.steps()
    next_step = next((s.number for s in steps if not s.done and not s.optional), None)
    issued: list[dict[str, Any]] = []
    for i, record in enumerate(evaluation.latest_issued()):
        kinds = [p.suffix[1:] for p in evaluation.issued_paths(record)]
        issued.append({"index": i, "r": record, "kinds": kinds})
    try:
        cons = evaluation.consolidation
    except QiError as err:
        cons = None
        problems.append(str(err))
    files = {key: (evaluation.path / name).is_file() for key, (name, _) in downloads.items()}
    archives = evaluation.archives()
    return {
        "e": evaluation, "name": evaluation.path.name, "info": info, "stage": evaluation.stage,
        "stage_class": STAGE_CLASSES.get(evaluation.stage, "s0"),
        "roster_errors": errors, "roster_warnings": warnings, "problems": problems,
        "steps": steps, "next_step": next_step, "status": status,
        "accepted": sum(1 for s in status if s["p"].accepted and s["p"].expert_id != ev.SELF_ID),
        "panel_size": len(project.experts) if project is not None else 0,
        "issued": issued, "has_experts_issued": any(r.kind == "expert" for r in evaluation.issued),
        "cons": _consolidation(cons) if cons is not None else None,
        "methods": METHOD_CHOICES, "files": files, "archive": archives[-1].name if archives else "",
        "verdicts": None,
    }
