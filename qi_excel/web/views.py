"""What the templates need, in words and shapes: presentation only.

Scores, checks and documents come from the handle; this module only says which step is next,
what an organizer should do about each expert, and where the chart's bars go.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException

from .. import evaluation as ev
from .. import review as rv
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
    def blank(cls) -> NewForm:
        return cls(roster=[{"number": str(i)} for i in range(1, ROSTER_ROWS + 1)])

    @classmethod
    def from_request(cls, form: MultiDict[str, str]) -> NewForm:
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


@dataclass
class ReviewForm:
    """The application-material review (clause 6.3) as typed on the page.

    The same fields as the sheet 申请材料审查 of 评价项目.xlsx (the labels come from
    ``review.py``); the gate itself is the library's (``MaterialReview.gate_problems``).
    """

    submitted: dict[str, str] = field(default_factory=dict)  # "a" .. "e" -> 是 / 否 / ""
    remarks: dict[str, str] = field(default_factory=dict)
    conclusion: str = ""
    deadline: str = ""
    opinion: str = ""
    reviewer: str = ""
    review_date: str = ""

    materials = tuple((key[0], key, name) for key, name in rv.MATERIALS)
    submitted_choices = rv.SUBMITTED_CHOICES
    conclusions = rv.CONCLUSION_CHOICES

    @classmethod
    def from_request(cls, form: MultiDict[str, str]) -> ReviewForm:
        letters = [letter for letter, _, _ in cls.materials]
        return cls(
            submitted={k: form.get(f"material_{k}", "").strip() for k in letters},
            remarks={k: form.get(f"remark_{k}", "").strip() for k in letters},
            conclusion=form.get("review_conclusion", "").strip(),
            deadline=form.get("review_deadline", "").strip(),
            opinion=form.get("review_opinion", "").strip(),
            reviewer=form.get("review_reviewer", "").strip(),
            review_date=form.get("review_date", "").strip(),
        )

    @classmethod
    def from_review(cls, review: rv.MaterialReview | None) -> ReviewForm:
        if review is None:
            return cls()
        return cls(
            submitted={m.key[0]: m.submitted for m in review.materials},
            remarks={m.key[0]: m.remark for m in review.materials},
            conclusion=review.conclusion, deadline=review.deadline, opinion=review.opinion,
            reviewer=review.reviewer, review_date=review.review_date,
        )

    @property
    def empty(self) -> bool:
        """Nothing typed: the review is left for later (``issue`` refuses until it is recorded)."""
        return not any([*self.submitted.values(), *self.remarks.values(), self.conclusion, self.deadline,
                        self.opinion, self.reviewer, self.review_date])

    def review(self) -> rv.MaterialReview:
        """The typed review; refuses what the sheet's drop-down lists would not accept."""
        materials = []
        for letter, key, name in self.materials:
            submitted = self.submitted.get(letter, "")
            if submitted and submitted not in rv.SUBMITTED_CHOICES:
                raise QiError(f"申请材料 {key} {name}的“是否提交”只能选“是”或“否”。")
            remark = self.remarks.get(letter, "")
            _no_formula(remark, f"申请材料 {key} 的备注")
            _no_long(remark, f"申请材料 {key} 的备注", 200)
            materials.append(rv.MaterialCheck(key, name, submitted, remark))
        if self.conclusion and self.conclusion not in rv.CONCLUSION_CHOICES:
            raise QiError("审查结论只能选“符合”或“需整改”。")
        if self.conclusion == rv.CONCLUSION_FIX and not self.deadline:
            raise QiError("审查结论为“需整改”时请填写整改期限。")
        for text, label in ((self.opinion, "审查意见"), (self.reviewer, "审查人")):
            _no_formula(text, label)
            _no_long(text, label, 1000)
        return rv.MaterialReview(
            tuple(materials), conclusion=self.conclusion, deadline=_iso_date(self.deadline, "整改期限"),
            opinion=self.opinion, reviewer=self.reviewer, review_date=_iso_date(self.review_date, "审查日期"),
        )


def _iso_date(text: str, label: str) -> str:
    """A date typed or picked on the page, as the ISO date the workbook stores ("" when blank)."""
    if not text:
        return ""
    import datetime

    try:
        return datetime.date.fromisoformat(rv.date_text(text)).isoformat()
    except ValueError:
        raise QiError(f"{label}“{text}”不是有效的日期，请按 2026-12-01 的格式填写或从日历中选择。") from None


def _no_long(text: str, label: str, limit: int) -> None:
    if len(text) > limit:
        raise QiError(f"{label}太长（{len(text)} 字），请不超过 {limit} 字。")


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
        return "wait", f"已发放，尚未交回。可生成催办邮件{mail}；确实不能参加的，登记请假并写明原因。"
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


def _excusals(evaluation: Evaluation) -> dict[str, Any]:
    """Members excused from the panel (the command's record and the 专家组 sheet's column)."""
    from ..excuse import folder_excusals

    return {x.expert_id: x for x in folder_excusals(evaluation.path, evaluation.panel)}


def _status_rows(evaluation: Evaluation) -> list[dict[str, Any]]:
    excused = _excusals(evaluation)
    rows = []
    for person in evaluation.status():
        css, action = next_action(person)
        excusal = excused.get(person.expert_id) if person.expert_id != ev.SELF_ID else None
        if excusal is not None:
            css, action = "excused", f"已登记请假，不计入评分，评价报告和档案写明原因：{excusal.reason}"
        rows.append({"p": person, "css": css, "action": action, "excusal": excusal,
                     "state": "已请假" if excusal is not None else person.state,
                     "self": person.expert_id == ev.SELF_ID,
                     "findings": [split_cell(f) for f in person.findings]})
    return rows


def reminder_files(evaluation: Evaluation) -> list[Path]:
    """The mail drafts ``remind`` left in 催办/ (only files directly inside it)."""
    from ..remind import REMIND_DIR

    folder = evaluation.path / REMIND_DIR
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix == ".eml" and p.is_file() and not p.is_symlink())


def _file_time(path: Path) -> str:
    """When a file was written, as the organizer reads dates (a stale draft is seen as such)."""
    from datetime import datetime

    from ..dates import human_time

    return human_time(datetime.fromtimestamp(path.stat().st_mtime).astimezone())


def _opinion_state(evaluation: Evaluation) -> dict[str, Any]:
    from ..opinion import NEW_DRAFT_FILE, OPINION_FILE, is_edited

    exists = (evaluation.path / OPINION_FILE).is_file()
    return {"exists": exists, "edited": exists and is_edited(evaluation.path),
            "new_draft": (evaluation.path / NEW_DRAFT_FILE).is_file(), "file": OPINION_FILE,
            "new_file": NEW_DRAFT_FILE}


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
            status = _status_rows(evaluation)
        except QiError as err:
            problems.append(str(err))
    review = project.review if project is not None else None
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
    files.update({f"{key}_pdf": (evaluation.path / name).with_suffix(".pdf").is_file()
                  for key, (name, _) in downloads.items() if name.endswith(".docx")})
    archives = evaluation.archives()
    members = [s for s in status if not s["self"]]
    return {
        "e": evaluation, "name": evaluation.path.name, "info": info, "stage": evaluation.stage,
        "stage_class": STAGE_CLASSES.get(evaluation.stage, "s0"),
        "roster_errors": errors, "roster_warnings": warnings, "problems": problems,
        "steps": steps, "next_step": next_step, "status": status,
        "accepted": sum(1 for s in members if s["p"].accepted and s["excusal"] is None),
        "excused": sum(1 for s in members if s["excusal"] is not None),
        "panel_size": len(project.experts) if project is not None else 0,
        "issued": issued, "has_experts_issued": any(r.kind == "expert" for r in evaluation.issued),
        "cons": _consolidation(cons) if cons is not None else None,
        "methods": METHOD_CHOICES, "files": files, "archive": archives[-1].name if archives else "",
        "verdicts": None,
        "review": review, "review_form": ReviewForm.from_review(review),
        "review_problems": review.gate_problems() if review is not None else None,
        "reminders": [{"name": p.name, "time": _file_time(p)} for p in reminder_files(evaluation)],
        "opinion": _opinion_state(evaluation),
    }


# ───────────────────────────── 操作记录 ─────────────────────────────


COMMAND_LABELS = {
    "new": "建立评价", "issue": "发放工作簿", "collect": "回收检查", "consolidate": "汇总", "application": "生成评价申请表",
    "report": "生成评价报告", "archive": "归档", "export": "导出评分数据", "excuse": "登记请假", "remind": "生成催办邮件",
    "review": "生成审查记录", "plan": "生成评价计划", "signin": "生成签到表", "pledge": "生成承诺书", "demo": "演示",
}


def command_label(command: str, options: Any) -> str:
    """What an operation was, in the organizer's words (the command name stays beside it)."""
    if command == "ui" and isinstance(options, dict) and isinstance(options.get("操作"), str):
        return f"{options['操作']}（网页）"
    if command == "excuse" and isinstance(options, dict) and options.get("undo"):
        return "撤销请假"
    if command == "issue" and isinstance(options, dict) and options.get("self_eval"):
        return "发放自我评价记录表"
    return COMMAND_LABELS.get(command, command)


def _option_text(options: Any) -> str:
    import json

    if not isinstance(options, dict):
        return ""
    return "；".join(f"{k}={json.dumps(v, ensure_ascii=False) if not isinstance(v, str) else v}"
                    for k, v in options.items() if k != "folder" and v not in (None, False, [], "", ()))


def _written_text(files: Any) -> list[str]:
    """The files an organizer knows (the program's own records under .qi/ are in 操作记录.xlsx)."""
    if not isinstance(files, list):
        return []
    return [f"{f.get('path')}" + ("（已删除）" if f.get("sha256") is None else "") for f in files
            if isinstance(f, dict) and not str(f.get("path", "")).startswith(".qi/")]


def _result_text(command: str, result: str) -> str:
    if command == "collect" and result.startswith("完成（退出码"):
        return "完成（有文件被拒收）"
    return result


def log_rows(lines: list[str]) -> list[dict[str, Any]]:
    """The folder's log (``.qi/audit.jsonl``) as table rows, newest first."""
    import json

    rows = []
    for n, line in enumerate(lines, start=1):
        try:
            rec = json.loads(line)
        except ValueError:
            rec = None
        if not isinstance(rec, dict):
            rows.append({"seq": n, "time": "", "command": "", "label": "", "options": "", "user": "", "result": "（记录已损坏，无法读取）",
                         "written": []})
            continue
        from ..dates import human_time

        rows.append({"seq": rec.get("seq", n), "time": human_time(str(rec.get("time", ""))),
                     "command": str(rec.get("command", "")),
                     "label": command_label(str(rec.get("command", "")), rec.get("options")),
                     "options": _option_text(rec.get("options")),
                     "user": str(rec.get("user", "")),
                     "result": _result_text(str(rec.get("command", "")), str(rec.get("result", ""))),
                     "written": _written_text(rec.get("written"))})
    return rows[::-1]
