"""The papers of the evaluation procedure besides application and report.

Clause 6.3 申请材料审查记录, 7.1 评价计划, 8.1/8.4 首次/末次会议签到表 and 8.4.2 持续改进承诺书
are real papers an office files for every evaluation. Like the report they are editable Word
templates (``docx_templates/``, built by ``build_procedure_templates.py``) filled from the data
already in the evaluation folder; this module only computes the values (pure ``*_context``
functions) and hands them to ``docx_render.render_template``, which checks an organizer's edited
template and renders it safely.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .decimals import fmt_decimal
from .docx_render import (
    HANDWRITTEN_DATE,
    NOT_GIVEN,
    _pdf,
    chinese_date,
    clean_text,
    or_dash,
    render_template,
    shipped_template,
)
from .errors import QiError
from .project import CONSOLIDATION_FILE, LEADER, MEMBER, PROJECT_FILE, EvaluationInfo, Panel

if TYPE_CHECKING:
    from .consolidate import Consolidation
    from .excuse import Excusal
    from .review import MaterialReview

REVIEW_FILE = "申请材料审查记录.docx"
PLAN_FILE = "评价计划.docx"
FIRST_SIGNIN_FILE = "首次会议签到表.docx"
LAST_SIGNIN_FILE = "末次会议签到表.docx"
PLEDGE_FILE = "持续改进承诺书.docx"

# (file, what it is) in the order of the procedure; templates carry the same names
PROCEDURE_DOCUMENTS: tuple[tuple[str, str], ...] = (
    (REVIEW_FILE, "申请材料审查记录（规范 6.3 条）"),
    (PLAN_FILE, "评价计划（规范 7.1 条）"),
    (FIRST_SIGNIN_FILE, "首次会议签到表（规范 8.1 条）"),
    (LAST_SIGNIN_FILE, "末次会议签到表（规范 8.4 条）"),
    (PLEDGE_FILE, "持续改进承诺书（规范 8.4.2 条）"),
)
PROCEDURE_TEMPLATES = tuple(name for name, _ in PROCEDURE_DOCUMENTS)

REVIEW_REQUIRED = frozenset({"materials"})
PLAN_REQUIRED = frozenset({"experts", "schedule"})
SIGNIN_REQUIRED = frozenset({"experts"})
PLEDGE_REQUIRED = frozenset({"suggestions"})

MEETINGS = {"first": ("首次会议", FIRST_SIGNIN_FILE), "last": ("末次会议", LAST_SIGNIN_FILE)}
APPLICANT_SIGNIN_ROWS = 5
OTHER_SIGNIN_ROWS = 2
MAX_PLEDGE_SUGGESTIONS = 6
STANDARD = "《质量基础设施“一站式”服务评价规范》"
BLANK_SIGNER = "　　　　　　"

# ───────────────────────────── values (pure) ─────────────────────────────

_WHEN = re.compile(
    r"^\s*((?:\d{4}-\d{1,2}-\d{1,2}|\d{4}年\d{1,2}月\d{1,2}日)"
    r"(?:\s*(?:上午|下午|晚上)?\s*\d{1,2}[:：]\d{2}(?:\s*[—\-–~～至到]+\s*\d{1,2}[:：]\d{2})?)?)\s*(.*)$",
    re.DOTALL,
)


def split_when_where(text: str) -> tuple[str, str]:
    """``2025-06-18 09:00 服务中心三楼会议室`` → (``2025年6月18日 09:00``, ``服务中心三楼会议室``).

    基本信息 keeps time and place of each meeting in one cell, as people write them; the plan
    and the sign-in sheets print them in two columns. Text without a leading date is all
    "time" (the organizer wrote something else, it is shown as written).
    """
    text = clean_text(text).strip()
    if not text:
        return NOT_GIVEN, NOT_GIVEN
    m = _WHEN.match(text)
    if not m:
        return text, NOT_GIVEN
    return chinese_date(m.group(1)), (m.group(2).strip() or NOT_GIVEN)


def _experts(panel: Panel) -> list[dict[str, Any]]:
    return [
        {"number": e.number, "name": clean_text(e.name), "title": clean_text(e.title) or NOT_GIVEN,
         "employer": clean_text(e.employer) or NOT_GIVEN, "field": clean_text(e.field) or NOT_GIVEN,
         "role": LEADER if e.role == LEADER else MEMBER}
        for e in sorted(panel.experts, key=lambda e: e.number)
    ]


def review_context(info: EvaluationInfo, review: MaterialReview) -> dict[str, Any]:
    from .review import CONCLUSION_FIX, CONCLUSION_OK, human_date

    conclusion = review.conclusion
    if conclusion == CONCLUSION_OK:
        text = "符合规范 6.2 条要求，按照评价程序实施评价。"
    elif conclusion == CONCLUSION_FIX:
        text = "需整改：不符合规范 6.2 条要求，在规定期限内整改后方可实施评价。"
    else:
        text = "尚未作出审查结论。" if not conclusion else clean_text(conclusion)
    return {
        "service_name": or_dash(info.service_name),
        "applicant": or_dash(info.applicant),
        "application_date": chinese_date(info.application_date),
        "organizer": or_dash(info.organizer),
        "materials": [
            {"key": m.key, "name": m.name, "submitted": m.submitted or "未填写", "remark": clean_text(m.remark)}
            for m in review.materials
        ],
        "conclusion": conclusion,
        "conclusion_text": text,
        "deadline": human_date(review.deadline) if review.deadline else NOT_GIVEN,
        "opinion": or_dash(review.opinion),
        "reviewer": clean_text(review.reviewer).strip() or BLANK_SIGNER,
        "review_date": human_date(review.review_date) if review.review_date else HANDWRITTEN_DATE,
    }


_STAGES = (
    ("首次会议", "first_meeting",
     "专家组长主持，介绍参会人员，说明评价相关事宜、评价程序及要求，宣读评价纪律；听取服务平台负责人汇报，交流和质询（8.1 条）"),
    ("现场考察", "site_visit",
     "实地考察，观察、交谈、查阅资料和记录，确认申请材料和汇报材料的真实性、符合性；按附录 A 量化打分，现场记录改进建议和问题（8.2 条）"),
    ("内部沟通", "internal_meeting",
     "专家组就评价发现、打分情况内部沟通，形成评价结论意见，与服务平台负责人沟通；出具评价报告并签字确认（8.3 条）"),
    ("末次会议", "last_meeting",
     "专家组长主持，通报评价情况，提出改进建议；服务平台负责人对持续改进做出承诺（8.4 条）"),
)

PREPARATIONS = (
    "申请材料原件：评价申请表、自我评价记录、工作总结、相关制度、规划及实施方案等（规范 6.2 条）；",
    "首次会议汇报材料：服务平台建设、服务开展、服务模式创新和综合效果情况（约 20 分钟）；",
    "按评价表（规范附录 A）逐项准备的佐证资料和服务记录、台账，按指标编号分类整理，供现场查阅；",
    "现场考察路线及服务对象企业的联系安排，熟悉情况的陪同人员；",
    "会议室、投影设备，以及专家组内部沟通使用的独立房间。",
)

DISCIPLINE = (
    "专家组成员客观公正、独立评分，不受任何单位和个人干扰（规范 4.3 条）；",
    "与申报单位存在利益冲突的专家应主动申明并回避；",
    "对评价中知悉的申报单位资料、评分和评价情况严格保密，不得泄露、复制或挪作他用；",
    "评分以相关文件、记录、陈述及现场事实为依据，扣分须写明理由（规范 4.1 条）；",
    "遵守廉洁自律规定，不接受申报单位的宴请、礼品、礼金和有偿服务；",
    "评价期间的材料和评分表按规定交回评价组织，不得自行留存。",
)


def plan_context(info: EvaluationInfo, panel: Panel) -> dict[str, Any]:
    service, applicant = or_dash(info.service_name), or_dash(info.applicant)
    leader = next((e for e in panel.experts if e.role == LEADER), None)
    schedule = []
    for stage, attr, what in _STAGES:
        when, where = split_when_where(getattr(info, attr))
        if attr == "internal_meeting" and when == NOT_GIVEN:
            when = "现场考察后、末次会议前"
        schedule.append({"stage": stage, "when": when.replace(" ", "\n", 1), "where": where, "what": what})
    return {
        "service_name": service,
        "applicant": applicant,
        "address": or_dash(info.address),
        "head": or_dash(info.head),
        "contact": (f"{clean_text(info.contact)}（{clean_text(info.contact_phone)}）"
                    if info.contact and info.contact_phone else or_dash(info.contact)),
        "organizer": or_dash(info.organizer),
        "evaluation_date": chinese_date(info.evaluation_date),
        "purpose": (
            f"依据{STANDARD}，对{service}（申报单位：{applicant}）的建设和运行情况进行评价："
            "对照评价表逐项量化打分，确认申请材料和汇报材料的真实性、符合性，评价其是否达到建设预期目标，"
            "总结经验、发现问题、提出改进建议，促进质量基础设施“一站式”服务持续改进。"
        ),
        "panel_text": (
            f"专家组由 {len(panel.experts)} 名专家组成，均具有高级专业技术职称或相应职务（规范 7.2 条）"
            + (f"，{clean_text(leader.name)}任组长。" if leader else "。")
        ),
        "experts": _experts(panel),
        "schedule": schedule,
        "preparations": list(PREPARATIONS),
        "discipline": list(DISCIPLINE),
        "plan_date": HANDWRITTEN_DATE,
    }


def signin_context(info: EvaluationInfo, panel: Panel, meeting: str,
                   excused: Sequence[Excusal] = ()) -> dict[str, Any]:
    """A member excused by the organizer does not take part (like the report's signature
    table): not pre-printed for signing, named in the note with the reason."""
    label, _ = MEETINGS[meeting]
    when, where = split_when_where(info.first_meeting if meeting == "first" else info.last_meeting)
    leader = next((e for e in panel.experts if e.role == LEADER), None)
    away = {x.expert_id for x in excused}
    present = [e for e in sorted(panel.experts, key=lambda e: e.number) if e.expert_id not in away]
    experts = [{**row, "number": i} for i, row in enumerate(_experts(Panel(tuple(present))), start=1)]
    n = len(experts)
    note = "注：请本人签名并填写签到时间；申报单位参会人员应包括服务平台负责人。"
    if excused:
        note += "专家组成员" + "、".join(f"{clean_text(x.expert)}（{clean_text(x.reason)}）" for x in excused) + "请假，不参加评价。"
    return {
        "service_name": or_dash(info.service_name),
        "applicant": or_dash(info.applicant),
        "meeting": label,
        "meeting_when": when,
        "meeting_where": where,
        "chair": f"{clean_text(leader.name)}（专家组组长）" if leader else NOT_GIVEN,
        "experts": experts,
        "applicant_rows": list(range(n + 1, n + 1 + APPLICANT_SIGNIN_ROWS)),
        "other_rows": list(range(n + 1 + APPLICANT_SIGNIN_ROWS, n + 1 + APPLICANT_SIGNIN_ROWS + OTHER_SIGNIN_ROWS)),
        "note": note,
    }


def pledge_suggestions(folder: Path, cons: Consolidation) -> list[str]:
    """The improvement suggestions in the panel's own words: section 三、改进建议 of
    专家组意见.docx, which the report copies verbatim; the data's draft while there is none."""
    from .evaluation import evaluation_rubric
    from .opinion import OPINION_FILE, draft_opinion, read_opinion

    path = folder / OPINION_FILE
    opinion = read_opinion(path) if path.is_file() else draft_opinion(cons, evaluation_rubric(folder))
    return list(opinion.suggestions)


def pledge_context(info: EvaluationInfo, cons: Consolidation, suggestions: list[str]) -> dict[str, Any]:
    service = or_dash(info.service_name)
    shown = suggestions[:MAX_PLEDGE_SUGGESTIONS]
    rest = len(suggestions) - len(shown)
    note = f"以上为评价报告所列改进建议的前 {len(shown)} 条，其余 {rest} 条见评价报告，同样纳入整改。" if rest > 0 else ""
    day = chinese_date(info.evaluation_date, blank="")
    return {
        "service_name": service,
        "applicant": or_dash(info.applicant),
        "organizer": or_dash(info.organizer) if info.organizer else "评价组织",
        "opening": (
            (f"{day}，" if day else "")
            + f"专家组依据{STANDARD}对{service}进行了评价，评价总分 {fmt_decimal(cons.total, cons.decimals)} 分"
            f"（满分 {cons.max_total} 分）。本单位已知悉末次会议通报的评价情况和专家组提出的改进建议，"
            "现就质量基础设施“一站式”服务持续改进工作作出如下承诺（规范 8.4.2 条）。"
        ),
        "suggestions": shown,
        "suggestions_note": note,
        "promises": [
            "针对上述改进建议逐条制定整改计划，明确责任部门、责任人和完成时限，按期落实；",
            "持续完善服务制度、服务流程和服务记录，确保服务过程规范、可追溯；",
            "定期对照评价表（规范附录 A）开展自我评价，及时发现问题并持续改进；",
            "按评价组织的要求报告整改和持续改进情况，接受评价组织和社会各方监督。",
        ],
        "sign_date": HANDWRITTEN_DATE,
    }


# ───────────────────────────── folder operations ─────────────────────────────


def _render(folder: Path, name: str, context: dict[str, Any], required: frozenset[str],
            template: str | Path | None, pdf: bool) -> list[Path]:
    source = Path(template) if template else shipped_template(name)
    target = render_template(source, context, required, folder / name)
    return [target] + (_pdf(target) if pdf else [])


def write_review(folder: str | Path, *, template: str | Path | None = None, pdf: bool = False) -> list[Path]:
    """申请材料审查记录.docx from the sheet 申请材料审查 of 评价项目.xlsx."""
    from .evaluation import read_project
    from .review import REVIEW_SHEET

    folder = Path(folder)
    project = read_project(folder)
    if project.review is None:
        raise QiError(f"{PROJECT_FILE} 中没有“{REVIEW_SHEET}”工作表，无法生成审查记录。"
                      f"请把新建评价目录中 {PROJECT_FILE} 的该工作表复制过来并填写。")
    return _render(folder, REVIEW_FILE, review_context(project.info, project.review), REVIEW_REQUIRED, template, pdf)


def write_plan(folder: str | Path, *, template: str | Path | None = None, pdf: bool = False) -> list[Path]:
    """评价计划.docx (7.1) from 基本信息 and 专家组."""
    from .evaluation import load_project

    folder = Path(folder)
    info, panel = load_project(folder)
    return _render(folder, PLAN_FILE, plan_context(info, panel), PLAN_REQUIRED, template, pdf)


def write_signin(folder: str | Path, meetings: Sequence[str] = ("first", "last"), *,
                 template: str | Path | None = None, pdf: bool = False) -> list[Path]:
    """首次会议签到表.docx and/or 末次会议签到表.docx with the panel pre-printed."""
    from .evaluation import load_project

    if template and len(meetings) != 1:
        raise QiError("使用 --template 时请用 --meeting 指定一个会议（首次会议或末次会议）。")
    from .excuse import folder_excusals

    folder = Path(folder)
    info, panel = load_project(folder)
    excused = folder_excusals(folder, panel)
    out: list[Path] = []
    for meeting in meetings:
        _, name = MEETINGS[meeting]
        out += _render(folder, name, signin_context(info, panel, meeting, excused), SIGNIN_REQUIRED, template, pdf)
    return out


def write_pledge(folder: str | Path, *, template: str | Path | None = None, pdf: bool = False) -> list[Path]:
    """持续改进承诺书.docx quoting the consolidation's improvement suggestions."""
    from .consolidation_step import load_consolidation
    from .evaluation import load_project

    folder = Path(folder)
    if not (folder / CONSOLIDATION_FILE).is_file():
        raise QiError("还没有汇总结果，承诺书无法引用评价报告的改进建议：请先运行 qi-excel consolidate（以及 qi-excel report）。")
    cons = load_consolidation(folder)
    if cons.draft:
        raise QiError("当前汇总结果是草稿（专家评分未全部回收或人数不足），改进建议尚未确定，不能生成持续改进承诺书。"
                      "请补齐专家评分后重新运行 qi-excel consolidate。")
    info, _panel = load_project(folder)
    return _render(folder, PLEDGE_FILE, pledge_context(info, cons, pledge_suggestions(folder, cons)), PLEDGE_REQUIRED, template, pdf)


WHAT = ("review", "plan", "signin", "pledge")


def write_documents(folder: str | Path, what: Sequence[str] = WHAT, *, pdf: bool = False) -> list[Path]:
    """Several procedure papers in one go (the demo and ``qi-excel documents``)."""
    writers = {"review": write_review, "plan": write_plan, "signin": write_signin, "pledge": write_pledge}
    out: list[Path] = []
    for key in what:
        out += writers[key](folder, pdf=pdf)
    return out
