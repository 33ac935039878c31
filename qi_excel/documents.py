"""The official Word documents: Appendix B 评价申请表 and Appendix C 评价报告.

They are filed and signed, and organizers re-word them, so the layout lives in editable
templates (``docx_templates/``, filled by docxtpl) and this module only supplies values.
Because an organizer's edited template is untrusted input, it is checked before rendering:
every placeholder it uses must be one this module fills (a typo would otherwise print as an
empty cell in a signed document), and the parts a template cannot do without (the report's
signature rows, the score table) must be there. Expert text is escaped by docxtpl, so a
remark such as ``<w:p>`` or ``=HYPERLINK(...)`` prints literally.

A template is also code: every document is rendered by ``render_template`` only, which
refuses what a document template has no use for (see ``template_guard``: calls, ``{% set %}``,
imports, underscore attributes, external links and fetching fields) and renders in jinja2's
sandbox. A new document needs only its template, its context and its required names.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import QiError
from .lock import locked
from .project import (
    ACCEPTED_DIR,
    APPLICATION_FILE,
    CONSOLIDATION_FILE,
    PROJECT_FILE,
    REPORT_FILE,
    LEADER,
    SELF_ID,
    EvaluationInfo,
    Panel,
)
from .decimals import fmt_decimal, fmt_points
from .docx_render import (
    HANDWRITTEN_DATE,
    NOT_GIVEN,
    WATERMARK_TEXT,
    _pdf,
    chinese_date,
    clean_text,
    or_dash,
    render_template,
    rendered_records,
    shipped_template,
)
from .fileio import atomic_path

if TYPE_CHECKING:  # imported lazily at run time: docx and the consolidation are heavy
    from .consolidate import Consolidation
    from .opinion import Opinion

APPLICATION_TEMPLATE = APPLICATION_FILE  # 评价申请表.docx
REPORT_TEMPLATE = REPORT_FILE  # 评价报告.docx
DRAFT_REPORT_FILE = "评价报告（草稿）.docx"
DRAFT_MARK = "\n（草稿）"  # on its own line under the title


# What a template cannot do without; any other placeholder may be deleted by the organizer.
APPLICATION_REQUIRED = frozenset({"service_name", "applicant"})
REPORT_REQUIRED = frozenset({"service_name", "applicant", "total", "level1", "experts"})


# ───────────────────────────── values (pure) ─────────────────────────────



@dataclass(frozen=True)
class SelfScore:
    """The applicant's self-evaluation total and where it came from (for the CLI to say)."""

    total: Decimal | None
    source: str  # "consolidation", "workbook" or "" (none collected)


def application_context(info: EvaluationInfo, self_score: SelfScore) -> dict[str, Any]:
    return {
        "service_name": or_dash(info.service_name),
        "applicant": or_dash(info.applicant),
        "application_date": chinese_date(info.application_date, blank=HANDWRITTEN_DATE),
        "address": or_dash(info.address),
        "head": or_dash(info.head),
        "head_phone": or_dash(info.head_phone),
        "head_email": or_dash(info.head_email),
        "contact": or_dash(info.contact),
        "contact_phone": or_dash(info.contact_phone),
        "contact_email": or_dash(info.contact_email),
        "self_score": f"{fmt_points(self_score.total)} 分" if self_score.total is not None else NOT_GIVEN,
        "goals": clean_text(info.goals).strip(),
        "self_summary": clean_text(info.self_summary).strip(),
    }


def _date_part(stamp: str) -> str:
    m = re.match(r"\d{4}-\d{1,2}-\d{1,2}", stamp or "")
    return m.group(0) if m else ""


INTERNAL_MEETING_FALLBACK = "现场考察后、末次会议前"


def internal_meeting(info: EvaluationInfo, cons: "Consolidation") -> str:
    """When 内部沟通 (8.3) took place.

    The organizer's 基本信息 row 内部沟通 wins. When it is blank, the consolidation (the
    discussion's result) gives the date if it falls between the site visit and the last
    meeting; a consolidation re-run later must not print a date after the 末次会议, so then
    the report states the order of the procedure instead.
    """
    own = clean_text(info.internal_meeting).strip()
    if own:
        return chinese_date(own)
    day = _date_part(cons.created_at)
    start, end = _date_part(info.site_visit), _date_part(info.last_meeting)
    if day and start and end and _iso(start) <= _iso(day) <= _iso(end):
        return chinese_date(day)
    return INTERNAL_MEETING_FALLBACK


def _iso(day: str) -> tuple[int, ...]:
    return tuple(int(x) for x in day.split("-"))


def method_note(cons: "Consolidation") -> str:
    """How the panel score was formed, in one sentence for a reader of the report."""
    d = cons.decimals
    places = f"保留 {d} 位小数" if d else "取整数"
    return (f"注：各打分格的专家组得分取 {len(cons.experts)} 名专家评分的{cons.method_label}，"
            f"四舍五入{places}；各级指标得分和总分为其所含评分项得分之和。")


def _because(reason: str) -> str:
    text = clean_text(reason).strip().rstrip("。；;，,")
    return text if text.startswith(("因", "由于")) else "因" + text


def excused_sentence(cons: "Consolidation") -> str:
    """Who was excused and why, as the report states it (empty when nobody was)."""
    if not cons.excused:
        return ""
    who = "；".join(f"{clean_text(x.expert)}{_because(x.reason)}" for x in cons.excused)
    return (f"专家组成员{who}，未参加本次评价，其评分不计入评价结果；"
            f"实到 {len(cons.experts)} 名专家参加评价并在评价报告上签字。")


def _indicator_row(s: Any, places: int) -> dict[str, Any]:
    return {"id": s.id, "name": s.name, "max": s.max, "score": fmt_decimal(s.score, places),
            "rate": fmt_decimal(s.rate, places)}


def report_context(info: EvaluationInfo, panel: Panel, cons: "Consolidation", opinion: "Opinion | None" = None,
                   *, draft: bool = False) -> dict[str, Any]:
    """The report's values; ``opinion`` (专家组意见.docx's text) fills 五 and 六 verbatim.

    Without ``opinion`` the draft prepared from the data is used (tests, previews).
    """
    places = cons.decimals
    level1_names = {s.id: s.name for s in cons.level1}
    service = or_dash(info.service_name)
    applicant = or_dash(info.applicant)
    organizer = clean_text(info.organizer).strip()
    total = fmt_decimal(cons.total, places)
    rate = fmt_decimal(cons.rate, places)
    if opinion is None:
        from .opinion import draft_opinion

        opinion = draft_opinion(cons)
    self_score = (
        f"{fmt_points(cons.self_total)} 分" if cons.self_total is not None else "未提交自查评分表"
    )
    process_text = (
        f"{organizer + '组织' if organizer else ''}专家组对{applicant}承担的{service}进行了评价，"
        "按照首次会议、现场考察、内部沟通、末次会议的程序实施，各阶段情况如下。"
    )
    level1 = [_indicator_row(s, places) for s in cons.level1]
    level2 = [dict(_indicator_row(s, places), parent=s.parent, level1=level1_names.get(s.parent, ""))
              for s in cons.level2]
    return {
        "draft_mark": DRAFT_MARK if draft else "",
        "service_name": service,
        "applicant": applicant,
        "address": or_dash(info.address),
        "head": or_dash(info.head),
        "contact": or_dash(info.contact),
        "organizer": organizer,
        "evaluation_date": chinese_date(info.evaluation_date),
        "first_meeting": chinese_date(info.first_meeting),
        "site_visit": chinese_date(info.site_visit),
        "internal_meeting": internal_meeting(info, cons),
        "last_meeting": chinese_date(info.last_meeting),
        "panel_text": _panel_text(panel, cons),
        "self_score": self_score,
        "process_text": process_text,
        "excused_text": excused_sentence(cons),
        "score_text": _score_text(cons, total, rate),
        "rule_text": method_note(cons),
        # level1 rows carry their own level2 rows (for a table grouped by first-level
        # indicator); the flat level2 list is there for templates that want one loop.
        "level1": [dict(row, level2=[r for r in level2 if r["parent"] == row["id"]]) for row in level1],
        "level2": level2,
        "max_total": cons.max_total,
        "total": total,
        "total_rate": rate,
        **_opinion_fields(opinion),
        **_signature_fields(panel, cons),
    }


def _panel_text(panel: Panel, cons: "Consolidation") -> str:
    """专家组: its size, who came, the leader, and who was excused and why."""
    leader = next((e for e in panel.experts if e.role == LEADER), None)
    panel_text = f"共 {len(panel.experts)} 人"
    if cons.excused:
        panel_text += f"，实到 {len(cons.experts)} 人"
    if leader is not None:
        panel_text += f"，组长 {clean_text(leader.name)}"
    if cons.excused:
        panel_text += "；" + "；".join(f"{clean_text(x.expert)}请假（{clean_text(x.reason).rstrip('。')}）"
                                      for x in cons.excused)
    return panel_text


def _score_text(cons: "Consolidation", total: str, rate: str) -> str:
    score_text = (
        f"{'实到的 ' if cons.excused else '专家组 '}{len(cons.experts)} 名专家按照附录 A 独立量化打分，各打分格的专家组得分取"
        f"{cons.method_label}。评价总得分为 {total} 分（满分 {cons.max_total} 分），得分率 {rate}%"
    )
    if cons.self_total is not None:
        score_text += f"；申请方自查得分 {fmt_points(cons.self_total)} 分"
    return score_text + "。各一级、二级指标得分见表1、表2。"


def _opinion_fields(opinion: "Opinion") -> dict[str, Any]:
    """五、专家组意见 (一)(二)(三) and 六、评价结论: 专家组意见.docx paragraph for paragraph."""
    return {
        "highlights": [clean_text(t) for t in opinion.highlights],
        "problems": [clean_text(t) for t in opinion.problems],
        "problems_note": "",  # kept for templates exported by earlier versions
        "suggestions": [clean_text(t) for t in opinion.suggestions],
        "conclusions": [clean_text(t) for t in opinion.conclusion],
        "conclusion": "\n".join(clean_text(t) for t in opinion.conclusion),  # earlier templates
    }


def _signature_fields(panel: Panel, cons: "Consolidation") -> dict[str, Any]:
    """The signature table lists the members who took part (excused members do not sign)."""
    excused_ids = {x.expert_id for x in cons.excused}
    return {
        "experts": [
            {"number": e.number, "name": clean_text(e.name), "title": clean_text(e.title),
             "employer": clean_text(e.employer), "role": clean_text(e.role)}
            for e in sorted(panel.experts, key=lambda e: e.number) if e.expert_id not in excused_ids
        ],
        "signature_note": (
            "未参加评价、不在本表签字的专家：" + "；".join(
                f"{clean_text(x.expert)}（{clean_text(x.reason).rstrip('。')}）" for x in cons.excused) + "。"
            if cons.excused else ""
        ),
    }


def roster_change(panel: Panel, cons: "Consolidation") -> str:
    """Why ``panel`` (评价项目.xlsx now) no longer matches the roster ``cons`` was made from, or "".

    The report takes 共 N 人 and the signature rows from the roster but 实到 and the scores'
    expert count from the consolidation; a member added or removed in between would make
    the report contradict itself.
    """
    ids = {e.expert_id for e in panel.experts}
    gone = [f"{e.name}（{e.expert_id}）" for e in cons.experts if e.expert_id not in ids]
    gone += [f"{clean_text(x.expert)}（{x.expert_id}）" for x in cons.excused if x.expert_id not in ids]
    if not gone and (not cons.members or cons.members == len(ids)):
        return ""
    detail = f"汇总时 {cons.panel_members} 人，现在 {len(ids)} 人" + (
        f"；名单中已没有{'、'.join(gone)}" if gone else "")
    return (f"{PROJECT_FILE} 的专家组名单在上次汇总之后改动过（{detail}），评价报告中的人数和签字表会与汇总结果不一致。"
            "请重新运行 qi-excel consolidate 后再生成评价报告。")


# ───────────────────────────── folder operations ─────────────────────────────


def self_score(folder: Path) -> SelfScore:
    """The self-evaluation total: the consolidation's if there is one, else the workbook's sum."""
    folder = Path(folder)
    if (folder / CONSOLIDATION_FILE).is_file():
        from .consolidation_step import load_consolidation

        cons = load_consolidation(folder)
        if cons.self_total is not None:
            return SelfScore(Decimal(cons.self_total), "consolidation")
    if (folder / ACCEPTED_DIR).is_dir():
        from .collect import load_accepted

        for wb in load_accepted(folder):
            if wb.kind == "self" or wb.expert_id == SELF_ID:
                return SelfScore(Decimal(sum(wb.int_scores().values())), "workbook")
    return SelfScore(None, "")


NO_SELF_EVALUATION = ("注意：尚未回收申请方的自我评价记录表，申请表中“自查得分”一栏为“—”。"
                      "请发放自评表（qi-excel issue --self）并回收（qi-excel collect）后重新生成。")


@dataclass(frozen=True)
class Written:
    """Files a document command wrote, and what the organizer should be told about them."""

    paths: tuple[Path, ...]
    notes: tuple[str, ...] = ()


@locked("application")
def make_application(folder: str | Path, *, template: str | Path | None = None, pdf: bool = False) -> Written:
    """评价申请表.docx (and .pdf), with a note when no self-evaluation was collected."""
    from .evaluation import load_project

    folder = Path(folder)
    info, _panel = load_project(folder)
    score = self_score(folder)
    context = application_context(info, score)
    source = Path(template) if template else shipped_template(APPLICATION_TEMPLATE)
    target = render_template(source, context, APPLICATION_REQUIRED, folder / APPLICATION_FILE)
    notes = () if score.total is not None else (NO_SELF_EVALUATION,)
    return Written(tuple([target] + (_pdf(target) if pdf else [])), notes)


def write_application(folder: str | Path, *, template: str | Path | None = None, pdf: bool = False) -> list[Path]:
    """评价申请表.docx (and .pdf) from 评价项目.xlsx and the collected self-evaluation."""
    return list(make_application(folder, template=template, pdf=pdf).paths)


NEW_REPORT_FILE = "评价报告（新生成）.docx"


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def _report_recorded(folder: Path) -> str:
    """The SHA-256 ``render_template`` noted when it last wrote 评价报告.docx ("" if never)."""
    return rendered_records(folder).get(REPORT_FILE, {}).get("sha256", "")


@locked("report")
def make_report(folder: str | Path, *, template: str | Path | None = None, pdf: bool = False,
                draft: bool = False) -> Written:
    """评价报告.docx from the consolidation and 专家组意见.docx.

    A draft consolidation only with ``draft=True``. An 评价报告.docx someone edited after we
    wrote it (its SHA-256 differs from the one recorded) is kept, and the new report goes
    beside it, so a re-run never silently discards the panel's corrections.
    """
    from .consolidation_step import load_consolidation
    from .evaluation import load_project
    from .opinion import OPINION_FILE, opinion_for_report

    folder = Path(folder)
    cons = load_consolidation(folder)
    if cons.draft and not draft:
        raise QiError(
            "当前汇总结果是草稿（专家评分未全部回收或人数不足），不能据此出具正式评价报告。"
            "请补齐专家评分或登记请假（qi-excel excuse）后重新汇总；如只需预览，请加 --draft 生成带“草稿”水印的报告。"
        )
    info, panel = load_project(folder)
    roster_changed = roster_change(panel, cons)
    if roster_changed:
        raise QiError(roster_changed)
    opinion, notes = opinion_for_report(folder, cons)
    context = report_context(info, panel, cons, opinion, draft=draft)
    source = Path(template) if template else shipped_template(REPORT_TEMPLATE)
    notes = list(notes)
    if draft:
        target = folder / DRAFT_REPORT_FILE
    else:
        target = folder / REPORT_FILE
        if target.is_file() and _sha256(target) != _report_recorded(folder):
            kept = target
            target = folder / NEW_REPORT_FILE
            notes.append(f"{kept.name} 在上次生成后被修改过，未覆盖；新生成的报告另存为 {target.name}，请对照后自行取舍。")
    render_template(source, context, REPORT_REQUIRED, target, watermark=WATERMARK_TEXT if draft else None)
    notes.insert(0, f"“五、专家组意见”和“六、评价结论”取自 {OPINION_FILE}（逐段原样写入）。")
    return Written(tuple([target] + (_pdf(target) if pdf else [])), tuple(notes))


def write_report(folder: str | Path, *, template: str | Path | None = None, pdf: bool = False,
                 draft: bool = False) -> list[Path]:
    """评价报告.docx (see ``make_report``); the paths written."""
    return list(make_report(folder, template=template, pdf=pdf, draft=draft).paths)


def export_templates(dest: str | Path) -> list[Path]:
    """Copy the shipped templates out for editing; never overwrite an organizer's edits."""
    from .procedure import PROCEDURE_TEMPLATES

    dest = Path(dest)
    names = (APPLICATION_TEMPLATE, REPORT_TEMPLATE, *PROCEDURE_TEMPLATES)
    existing = [n for n in names if (dest / n).exists()]
    if existing:
        raise QiError(f"{dest} 中已有 {'、'.join(existing)}，为免覆盖已修改的模板，未导出。请换一个文件夹或先移走这些文件。")
    written = []
    for name in names:
        source = shipped_template(name)
        with atomic_path(dest / name) as tmp:
            shutil.copyfile(source, tmp)
        written.append(dest / name)
    return written
